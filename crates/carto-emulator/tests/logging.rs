//! Request logging: one `info` line per request (method, path without the query string,
//! user, key type, status, duration), SQL text only at `debug`, and never a token, wherever
//! the request carried it (query string, Basic auth, JSON body).

use carto_test_support::emulator::http as common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use carto_emulator::Emulator;
use common::{client, send};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// Everything the subscriber writes, shared with the test.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// (method, path, key, status) of each request sent, in order.
#[derive(Default)]
struct Sent(Vec<(Method, String, &'static str, u16)>);

impl Sent {
    /// Sends a request, checks its status and records what its log line should say.
    #[allow(clippy::too_many_arguments)]
    async fn send(
        &mut self,
        c: &reqwest::Client,
        method: Method,
        url: &str,
        basic: Option<(&str, &str)>,
        body: Option<&serde_json::Value>,
        status: u16,
        key: &'static str,
    ) -> common::Reply {
        let r = send(c, method.clone(), url, basic, body).await;
        assert_eq!(
            r.status,
            StatusCode::from_u16(status).unwrap(),
            "{}",
            r.text
        );
        let path = reqwest::Url::parse(url).unwrap().path().to_owned();
        self.0.push((method, path, key, status));
        r
    }
}

// One test in this file: the subscriber is global (the server's tasks run on other threads).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_line_per_request_and_no_token() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let emu = Emulator::builder().user("alice").start().await.unwrap();
    let c = client();
    let base = common::base(&emu, "alice");
    let master = common::master(&emu, "alice");
    let before = buffer.text().len();

    let nobody = base.replace("/user/alice", "/user/nobody");
    let mut log = Sent::default();
    // A token in the query string.
    let url = format!("{base}/api/v3/api_keys?api_key={master}");
    log.send(&c, Method::GET, &url, None, None, 200, "master")
        .await;
    let url = format!("{base}/api/v2/sql?q=SELECT+1&api_key={master}");
    log.send(&c, Method::GET, &url, None, None, 200, "master")
        .await;
    // A token in Basic auth; a new regular key, whose token is in the answer.
    let grants = json!({"name": "logged", "grants": [{"type": "apis", "apis": ["sql"]}]});
    let url = format!("{base}/api/v3/api_keys");
    let basic = Some(("alice", master.as_str()));
    let r = log
        .send(&c, Method::POST, &url, basic, Some(&grants), 201, "master")
        .await;
    let regular = r.json()["token"].as_str().unwrap().to_owned();
    // A token in a JSON body.
    let body = json!({"q": "SELECT 2 AS logged_sql", "api_key": regular});
    let url = format!("{base}/api/v2/sql");
    log.send(&c, Method::POST, &url, None, Some(&body), 200, "regular")
        .await;
    // No key: the Default public key's access.
    let url = format!("{base}/api/v2/sql?q=SELECT+3");
    log.send(&c, Method::GET, &url, None, None, 200, "none")
        .await;
    // Refused: a wrong token, an unknown user.
    let url = format!("{base}/api/v3/api_keys?api_key=wrong-token-xyz");
    log.send(&c, Method::GET, &url, None, None, 401, "none")
        .await;
    let url = format!("{nobody}/api/v2/sql?q=SELECT+1&api_key={master}");
    let basic = Some(("nobody", "basic-secret-xyz"));
    log.send(&c, Method::GET, &url, basic, None, 404, "none")
        .await;
    let expected = log.0;

    let text = buffer.text()[before..].to_owned();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("carto_emulator::request"))
        .collect();
    assert_eq!(lines.len(), expected.len(), "{text}");
    // And nothing else at info or above.
    let info_or_above = text
        .lines()
        .filter(|l| {
            [" INFO ", " WARN ", " ERROR "]
                .iter()
                .any(|lv| l.contains(lv))
        })
        .count();
    assert_eq!(info_or_above, expected.len(), "{text}");
    for (line, (method, path, key, status)) in lines.iter().zip(&expected) {
        assert!(line.contains(" INFO "), "{line}");
        let user = path.split('/').nth(2).unwrap();
        for part in [
            format!("method={method} "),
            format!("path={path} "),
            format!("user={user} "),
            format!("key={key} "),
            format!("status={status} "),
            "duration_ms=".to_owned(),
        ] {
            assert!(line.contains(&part), "{part:?} not in {line}");
        }
        assert!(!line.contains("SELECT"), "SQL at info: {line}");
    }
    // SQL text at debug only.
    assert!(
        text.lines()
            .any(|l| l.contains(" DEBUG ") && l.contains("logged_sql")),
        "{text}"
    );
    // No secret anywhere, at any level.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{master}"));
    for secret in [
        master.as_str(),
        regular.as_str(),
        "wrong-token-xyz",
        "basic-secret-xyz",
        basic.as_str(),
        "api_key=",
    ] {
        assert!(!text.contains(secret), "{secret:?} logged:\n{text}");
    }

    // CARTO 3: the client secret, the OAuth token and an API access token (in a body, in a
    // `/v3/tokens/{token}` path, in `access_token=`) are never logged either.
    let before = buffer.text().len();
    let a = emu.user("alice").unwrap().carto3().clone();
    let r = common::post_form(
        &c,
        &format!("{}/oauth/token", a.auth_url()),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", a.client_id()),
            ("client_secret", a.client_secret().expose_secret()),
        ],
    )
    .await;
    let oauth = r.json()["access_token"].as_str().unwrap().to_owned();
    let root = emu.url();
    let conn = a.connection();
    let r = c
        .post(format!("{root}/v3/sql/{conn}/query"))
        .bearer_auth(&oauth)
        .json(&json!({"q": "CREATE TABLE t3 (x int)"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .post(format!("{root}/v3/tokens"))
        .bearer_auth(&oauth)
        .json(&json!({"grants": [{"connection_name": conn, "source": "public.t3"}], "allowed_apis": ["sql"]}))
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = r.json().await.unwrap();
    let jwt = doc["token"].as_str().unwrap().to_owned();
    let r = c
        .get(format!("{root}/v3/tokens/{jwt}"))
        .bearer_auth(&oauth)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!(
            "{root}/v3/sql/{conn}/query?q=SELECT+1&access_token={jwt}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = buffer.text()[before..].to_owned();
    assert!(text.contains("path=/v3/tokens "), "{text}");
    for secret in [
        a.client_secret().expose_secret(),
        oauth.as_str(),
        jwt.as_str(),
        "access_token=",
    ] {
        assert!(!text.contains(secret), "{secret:?} logged:\n{text}");
    }
    drop(emu);
}
