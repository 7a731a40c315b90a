//! Requests to an emulator's HTTP API from a test: a client, a whole reply, Basic auth.

use reqwest::{Method, StatusCode};
use serde_json::Value;

/// The base URL of `user` of `emu`, without its trailing slash.
pub fn base(emu: &carto_emulator::Emulator, user: &str) -> String {
    emu.user(user).unwrap().base_url().as_str().to_owned()
}

/// The master key of `user` of `emu`.
pub fn master(emu: &carto_emulator::Emulator, user: &str) -> String {
    emu.master_key(user).unwrap().expose_secret().to_owned()
}

/// An HTTP client (plain http; the rustls provider is installed for reqwest's sake).
pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

/// A response: status, headers and body (JSON when it parses).
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub text: String,
}

impl Reply {
    /// Reads a response whole.
    pub async fn read(r: reqwest::Response) -> Reply {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        Reply {
            status,
            headers,
            text,
        }
    }

    /// The body as JSON; panics showing it when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

/// Sends a request with Basic auth (`user`, `token`) when given.
pub async fn send(
    c: &reqwest::Client,
    method: Method,
    url: &str,
    basic: Option<(&str, &str)>,
    json: Option<&Value>,
) -> Reply {
    let mut rb = c.request(method, url);
    if let Some((u, t)) = basic {
        rb = rb.basic_auth(u, Some(t));
    }
    if let Some(j) = json {
        rb = rb
            .header("content-type", "application/json")
            .body(j.to_string());
    }
    Reply::read(rb.send().await.unwrap()).await
}

/// Sends a form-encoded POST.
pub async fn post_form(c: &reqwest::Client, url: &str, form: &[(&str, &str)]) -> Reply {
    let body: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let r = c
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    Reply::read(r).await
}

/// The keys of a JSON object, in order.
pub fn keys(v: &Value) -> Vec<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

/// A CARTO 3 OAuth access token from M2M client credentials: `POST {auth_url}/oauth/token`
/// (the client-credentials grant, as carto-auth sends it); panics unless it is a 200.
pub async fn m2m_token(
    c: &reqwest::Client,
    auth_url: &str,
    client_id: &str,
    client_secret: &str,
) -> String {
    let r = post_form(
        c,
        &format!("{auth_url}/oauth/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("audience", "carto-cloud-native-api"),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

/// Asserts that `doc` is a `<user>.carto3.json` document: exactly the keys `api_base_url`,
/// `auth_url`, `client_id`, `client_secret` and `connection`, each a non-empty string.
pub fn assert_carto3_credentials(doc: &Value) {
    let mut names = keys(doc);
    names.sort();
    assert_eq!(
        names,
        [
            "api_base_url",
            "auth_url",
            "client_id",
            "client_secret",
            "connection"
        ]
    );
    for name in &names {
        assert!(
            doc[name].as_str().is_some_and(|v| !v.is_empty()),
            "{name} is not a non-empty string"
        );
    }
}
