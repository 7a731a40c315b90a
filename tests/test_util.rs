//! The `test-util` feature: `MockTransport` with both clients.
#![cfg(feature = "test-util")]

use carto::models::NewApiKey;
use carto::test_util::MockTransport;
use carto::{BaseUrl, Client, Credentials, TransportErrorKind, blocking};

fn creds() -> Credentials {
    Credentials::new(BaseUrl::parse("https://alice.carto.com").unwrap(), "k")
}

#[test]
fn blocking_client_with_the_mock() {
    let mock = MockTransport::new();
    mock.push_sql_rows(serde_json::json!([{"a": 1}, {"a": 2}]))
        .push_sql_error(403, "permission denied for table t")
        .push_auth_error(422, "Validation failed: Name has already been taken")
        .push_failure(TransportErrorKind::Timeout);
    let client = blocking::Client::with_transport(creds(), mock.clone());
    let ok = client.sql().query::<serde_json::Value>("select a").unwrap();
    assert_eq!(ok.total_rows, 2);
    assert!(
        client
            .sql()
            .query::<serde_json::Value>("insert")
            .unwrap_err()
            .is_forbidden()
    );
    let err = client
        .api_keys()
        .create(NewApiKey::builder("k").build().unwrap())
        .unwrap_err();
    assert!(err.is_validation());
    assert!(client.me().unwrap_err().is_timeout());
    assert_eq!(mock.remaining(), 0);
    let err = client.me().unwrap_err();
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(source, "MockTransport: no response queued");
    let sent = mock.requests();
    assert_eq!(sent.len(), 5);
    assert_eq!(MockTransport::form(&sent[1])["q"], "insert");
    assert_eq!(sent[2].uri().path(), "/api/v3/api_keys");
    assert_eq!(MockTransport::query(&sent[3])["client"], "carto-rs-0.1.0");
    assert_eq!(
        format!("{mock:?}"),
        "MockTransport { queued: 0, received: 5 }"
    );
}

#[tokio::test]
async fn async_client_with_the_mock() {
    let mock = MockTransport::new();
    mock.push_json(
        200,
        serde_json::json!({"rows": [{"n": 7}], "total_rows": 1}),
    );
    let client = Client::with_transport(creds(), mock.clone());
    let rows = client
        .sql()
        .query::<serde_json::Value>("select 7 as n")
        .await
        .unwrap();
    assert_eq!(rows.rows[0]["n"], 7);
    assert_eq!(mock.requests()[0].method(), "POST");
}
