//! The `test-util` feature: `MockTransport` with both clients.
#![cfg(feature = "test-util")]

use carto::models::NewApiKey;
use carto::test_util::MockTransport;
use carto::{
    BaseUrl, Client, ClientOptions, Credentials, RetryPolicy, TransportErrorKind, blocking,
};

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
    // Retries off: every reply answers one call.
    let options = ClientOptions::new().retry(RetryPolicy::none());
    let client = blocking::Client::with_transport_and_options(creds(), mock.clone(), &options);
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

#[test]
fn the_mock_records_retry_waits_instead_of_sleeping() {
    let mock = MockTransport::new();
    mock.push_failure(TransportErrorKind::Connect)
        .push_json(503, serde_json::json!({"error": ["unavailable"]}))
        .push_json(200, serde_json::json!({"config": {"user_name": "alice"}, "user_data": {"id": "1", "username": "alice"}}));
    let client = blocking::Client::with_transport(creds(), mock.clone());
    // GET /me is idempotent: a failed connection and a 503 are retried.
    let me = client.me().unwrap();
    assert_eq!(me.config.user_name, "alice");
    assert_eq!(mock.requests().len(), 3);
    assert_eq!(mock.sleeps().len(), 2);
    // Creating a key is not: a 503 is the answer, and says why it was not retried.
    mock.push_json(503, serde_json::json!({"error": ["unavailable"]}));
    let err = client
        .api_keys()
        .create(NewApiKey::builder("k").build().unwrap())
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert!(err.to_string().contains("not retried"), "{err}");
    assert_eq!(mock.requests().len(), 4);
    assert_eq!(mock.sleeps().len(), 2);
}

#[tokio::test]
async fn the_async_client_retries_rate_limits_on_the_mock() {
    let mock = MockTransport::new();
    let limited = http::Response::builder()
        .status(429)
        .header("retry-after", "2")
        .body(br#"{"error":["You are over platform's limits. Please contact us to know more details"],"context":"limit","detail":"rate-limit"}"#.to_vec())
        .unwrap();
    mock.push_response(limited).push_json(
        200,
        serde_json::json!({"rows": [{"n": 1}], "total_rows": 1}),
    );
    let client = Client::with_transport(creds(), mock.clone());
    let rows = client
        .sql()
        .query::<serde_json::Value>("insert into t values (1) returning 1 as n")
        .await
        .unwrap();
    assert_eq!(rows.rows[0]["n"], 1);
    assert_eq!(mock.sleeps(), [std::time::Duration::from_secs(2)]);
}
