//! The COPY and Batch APIs routed by the emulator (streamed upload, key roles decide;
//! jobs for the master key only), and the
//! emulator served over HTTPS with a generated certificate authority.

use carto_test_support::emulator::http as common;

use carto_emulator::Emulator;
use carto_emulator::tls::TlsMode;
use common::{client, send};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_from_and_to_through_the_router() {
    let emu = Emulator::builder().user("alice").start().await.unwrap();
    let c = client();
    let base = common::base(&emu, "alice");
    let master = common::master(&emu, "alice");
    let r = send(
        &c,
        Method::POST,
        &format!("{base}/api/v2/sql"),
        Some(("alice", &master)),
        Some(&json!({"q": "CREATE TABLE c (id int, name text)"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Upload as a streamed body, credentials in the query string.
    let chunks: Vec<Result<&'static str, std::io::Error>> =
        vec![Ok("id,name\n1,one\n"), Ok("2,two\n")];
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let q = "COPY c (id, name) FROM STDIN WITH (FORMAT csv, HEADER true)";
    let url = format!(
        "{base}/api/v2/sql/copyfrom?api_key={master}&q={}",
        percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC)
    );
    let r = c.post(&url).body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["total_rows"], 2);

    // The Default public key may not write.
    let url = format!(
        "{base}/api/v2/sql/copyfrom?q={}",
        percent_encoding::utf8_percent_encode(q, percent_encoding::NON_ALPHANUMERIC)
    );
    let r = c
        .post(&url)
        .body("id,name\n3,three\n")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // Download.
    let r = send(&c, Method::GET, &format!("{base}/api/v2/sql/copyto?q=COPY+(SELECT+*+FROM+c+ORDER+BY+id)+TO+STDOUT+WITH+(FORMAT+csv)&filename=out.csv"), Some(("alice", &master)), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.text, "1,one\n2,two\n");
    assert_eq!(
        r.headers["content-disposition"],
        "attachment; filename=out.csv"
    );
    // Unknown key on COPY: 401.
    let r = send(
        &c,
        Method::GET,
        &format!("{base}/api/v2/sql/copyto?q=COPY+c+TO+STDOUT&api_key=wadus"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_with_a_generated_authority() {
    let emu = Emulator::builder()
        .user("alice")
        .tls(TlsMode::SelfSigned)
        .start()
        .await
        .unwrap();
    let pem = emu.ca_pem().expect("a CA to trust");
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let c = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let user = emu.user("alice").unwrap();
    assert!(user.base_url().is_secure());
    assert!(emu.url().starts_with("https://127.0.0.1:"));
    let base = user.base_url().as_str().trim_end_matches('/').to_owned();
    let master = emu.master_key("alice").unwrap().expose_secret().to_owned();
    let r = send(
        &c,
        Method::GET,
        &format!("{base}/api/v3/api_keys"),
        Some(("alice", &master)),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(
        r.json()["_links"]["first"]["href"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    // A client that does not trust the authority fails the handshake.
    let r = client().get(format!("{base}/api/v3/api_keys")).send().await;
    assert!(r.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_jobs_through_the_router() {
    let emu = Emulator::builder().user("alice").start().await.unwrap();
    let c = client();
    let base = common::base(&emu, "alice");
    let master = common::master(&emu, "alice");
    let url = format!("{base}/api/v2/sql/job");
    let r = send(
        &c,
        Method::POST,
        &url,
        Some(("alice", &master)),
        Some(&json!({"query": "CREATE TABLE j AS SELECT 42 AS x"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json()["job_id"].as_str().unwrap().to_owned();
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    loop {
        let r = send(
            &c,
            Method::GET,
            &format!("{url}/{id}"),
            Some(("alice", &master)),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        match r.json()["status"].as_str().unwrap() {
            "done" => break,
            "pending" | "running" => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
            other => panic!("job ended {other}: {}", r.text),
        }
    }
    let r = send(
        &c,
        Method::POST,
        &format!("{base}/api/v2/sql"),
        Some(("alice", &master)),
        Some(&json!({"q": "SELECT x FROM j"})),
    )
    .await;
    assert_eq!(r.json()["rows"], json!([{"x": 42}]));
    // Only the master key: others get 403, unknown keys 401.
    let r = send(
        &c,
        Method::POST,
        &url,
        Some(("alice", "default_public")),
        Some(&json!({"query": "SELECT 1"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json(), json!({"error": ["permission denied"]}));
    let r = send(
        &c,
        Method::GET,
        &format!("{url}/{id}"),
        Some(("alice", "wadus")),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = send(
        &c,
        Method::GET,
        &format!("{url}/nope"),
        Some(("alice", &master)),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.json(), json!({"error": ["Job with id nope not found"]}));
}
