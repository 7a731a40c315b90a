//! A canary token never shows in the Debug or Display of clients, credentials, options,
//! errors (and their sources), nor in anything traced while the clients work.

use carto::models::NewApiKey;
use carto::{AuthPlacement, BaseUrl, Client, ClientOptions, Credentials, Error, blocking};
use carto_core::{HttpRequest, HttpResponse};
use carto_test_support::trace::{self, Captured};
use carto_transport::{TransportError, TransportErrorKind, async_transport_fn, transport_fn};
use futures_util::StreamExt;

const CANARY: &str = "CANARY-d41d8cd9-token";

fn creds() -> Credentials {
    Credentials::new(BaseUrl::parse("https://alice.carto.com").unwrap(), CANARY)
}

fn assert_clean(what: &str, text: &str) {
    trace::assert_clean(CANARY, what, text);
}

fn assert_error_clean(err: &Error) {
    trace::assert_error_clean(CANARY, "error", err);
}

/// Every kind of failure, by path; it checks that the key did travel.
fn failing(req: HttpRequest) -> Result<HttpResponse, TransportError> {
    let travelled = req.headers().get("authorization").is_some()
        || req.uri().query().unwrap_or("").contains(CANARY)
        || String::from_utf8_lossy(req.body()).contains(CANARY);
    assert!(
        travelled,
        "the canary must be sent for this test to mean anything"
    );
    let path = req.uri().path().to_owned();
    let (status, body): (u16, Vec<u8>) = if path.ends_with("/sql") {
        (
            400,
            br#"{"error":["syntax error at or near \"x\""]}"#.to_vec(),
        )
    } else if path.ends_with("/me") {
        (200, b"{not json".to_vec())
    } else if path.ends_with("/token") {
        return Err(TransportError::from_kind(TransportErrorKind::Timeout));
    } else if path.ends_with("/regenerate") {
        (401, Vec::new())
    } else {
        (
            404,
            br#"{"errors":"API key not found: x","errors_cause":null}"#.to_vec(),
        )
    };
    Ok(http::Response::builder().status(status).body(body).unwrap())
}

#[test]
fn blocking_client_leaks_nothing() {
    let out = Captured::default();
    tracing::subscriber::with_default(out.subscriber(), || {
        for auth in [
            AuthPlacement::BasicHeader,
            AuthPlacement::QueryParam,
            AuthPlacement::BodyField,
        ] {
            let options = ClientOptions::new().auth_placement(auth);
            assert_clean("options", &format!("{options:?}"));
            let client = blocking::Client::with_transport_and_options(
                creds(),
                transport_fn(failing),
                &options,
            );
            assert_clean("client", &format!("{client:?}"));
            assert_clean("sql client", &format!("{:?}", client.sql()));
            assert_clean("key manager", &format!("{:?}", client.api_keys()));
            assert_clean("credentials", &format!("{:?}", client.credentials()));
            let mut errors = vec![
                client.me().unwrap_err(),
                client.do_token().unwrap_err(),
                client.gcloud_credentials().unwrap_err(),
                client.api_keys().get("x").unwrap_err(),
                client.api_keys().regenerate("x").unwrap_err(),
                client
                    .api_keys()
                    .create(NewApiKey::builder("k").build().unwrap())
                    .unwrap_err(),
                client.api_keys().list().next().unwrap().unwrap_err(),
                client
                    .sql()
                    .query::<serde_json::Value>("select 1")
                    .unwrap_err(),
                client
                    .sql()
                    .query_rows::<serde_json::Value>("select 1")
                    .unwrap_err(),
            ];
            errors.push(client.api_keys().is_valid(CANARY).unwrap_err());
            for err in &errors {
                assert_error_clean(err);
            }
        }
    });
    let logs = out.text();
    assert!(
        logs.contains("/api/v3/api_keys"),
        "requests are traced: {logs}"
    );
    assert_clean("traces", &logs);
}

#[test]
fn async_client_leaks_nothing() {
    let out = Captured::default();
    let _guard = tracing::subscriber::set_default(out.subscriber());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = Client::with_transport_and_options(
            creds(),
            async_transport_fn(|req| async move { failing(req) }),
            &ClientOptions::new().auth_placement(AuthPlacement::QueryParam),
        );
        assert_clean("client", &format!("{client:?}"));
        let errors = vec![
            client.me().await.unwrap_err(),
            client.gcloud_credentials().await.unwrap_err(),
            client.api_keys().get("x").await.unwrap_err(),
            client.api_keys().list().next().await.unwrap().unwrap_err(),
            client
                .sql()
                .query::<serde_json::Value>("select 1")
                .await
                .unwrap_err(),
        ];
        for err in &errors {
            assert_error_clean(err);
        }
    });
    let logs = out.text();
    assert!(logs.contains("/api/v2/sql"), "requests are traced: {logs}");
    assert_clean("traces", &logs);
}
