//! The Tokens API clients (blocking and async) over closure transports: each operation's
//! request and answer, the OAuth token they carry, and the token in a path never shown.

use std::sync::{Arc, Mutex};

use carto_core::Error;
use carto_core::carto3::{AccessToken, ApiBaseUrl, ApiCredentials};
use carto_test_support::json_response;
use carto_tokens::{AllowedApi, AsyncTokensClient, NewToken, TokenUpdate, TokensClient};
use carto_transport::{async_transport_fn, transport_fn};
use http::StatusCode;
use serde_json::Value;

const OAUTH: &str = "eyJ-oauth-client-token";
const CREATED: &str = "eyJhbGciOiJIUzI1NiJ9.eyJhIjoiYWNfeCIsImp0aSI6IjEifQ.c2ln";

fn credentials() -> ApiCredentials {
    let base = ApiBaseUrl::parse("https://gcp-us-east1.api.carto.com").unwrap();
    ApiCredentials::with_token(base, OAUTH).unwrap()
}

fn token_json() -> String {
    format!(
        r#"{{"token":"{CREATED}","id":"tok_1","grants":[{{"connection_name":"carto_dw","source":"public.cities"}}],"referers":[],"allowedApis":["sql"]}}"#
    )
}

/// What the fake server saw: `METHOD path body`.
type Seen = Arc<Mutex<Vec<String>>>;

fn answer(method: &str, path: &str) -> (u16, String) {
    match (method, path) {
        ("POST", "/v3/tokens") => (201, token_json()),
        ("GET", "/v3/tokens") => (200, format!("[{}]", token_json())),
        ("GET", _) if path.ends_with(CREATED) => (200, token_json()),
        ("PATCH", _) => (200, token_json()),
        ("DELETE", _) if path.ends_with(CREATED) => (204, String::new()),
        _ => (404, r#"{"error":"Token not found"}"#.to_owned()),
    }
}

#[test]
fn create_list_get_update_delete_with_the_oauth_token() {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let transport = transport_fn(move |request| {
        assert_eq!(
            request.headers()["authorization"],
            format!("Bearer {OAUTH}").as_str()
        );
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        let body = String::from_utf8(request.body().clone()).unwrap();
        log.lock().unwrap().push(format!("{method} {path} {body}"));
        let (status, body) = answer(&method, &path);
        Ok(json_response(status, body.as_bytes()))
    });
    let tokens = TokensClient::from_credentials(transport, credentials());
    let new = NewToken::builder()
        .grant("carto_dw", "public.cities")
        .allowed_apis([AllowedApi::Sql])
        .build()
        .unwrap();
    let created = tokens.create(&new).unwrap();
    assert_eq!(created.token.expose_secret(), CREATED);
    assert_eq!(created.grants[0].connection_name, "carto_dw");
    assert_eq!(tokens.list().unwrap().len(), 1);
    assert_eq!(
        tokens.get(&created.token).unwrap().id.as_deref(),
        Some("tok_1")
    );
    let update = TokenUpdate::new()
        .referers(["https://app.example.com/"])
        .unwrap();
    assert!(tokens.update(&created.token, &update).unwrap().is_some());
    tokens.delete(&created.token).unwrap();
    let seen = seen.lock().unwrap();
    let requests: Vec<&str> = seen.iter().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(requests, ["POST", "GET", "GET", "PATCH", "DELETE"]);
    let create_body: Value = serde_json::from_str(seen[0].splitn(3, ' ').nth(2).unwrap()).unwrap();
    assert_eq!(create_body["grants"][0]["source"], "public.cities");
    assert!(seen[3].contains("https://app.example.com"), "{seen:?}");
}

#[test]
fn an_unknown_token_is_a_404_error_that_never_shows_the_token() {
    let transport = transport_fn(|request| {
        let (status, body) = answer(request.method().as_str(), request.uri().path());
        Ok(json_response(status, body.as_bytes()))
    });
    let tokens = TokensClient::from_credentials(transport, credentials());
    let unknown = AccessToken::new("eyJ-not-a-token-of-this-account");
    let err = tokens.get(&unknown).unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
    let shown = format!("{err} {err:?} {tokens:?}");
    assert!(!shown.contains("eyJ-not-a-token"), "{shown}");
    assert!(!shown.contains(OAUTH), "{shown}");
}

#[test]
fn a_malformed_answer_is_a_decode_error() {
    let transport = transport_fn(|_| Ok(json_response(200, b"{\"token\":")));
    let tokens = TokensClient::from_credentials(transport, credentials());
    assert!(matches!(tokens.list(), Err(Error::Decode(_))));
}

#[tokio::test]
async fn the_async_client_does_the_same() {
    let transport = async_transport_fn(|request| {
        let (status, body) = answer(request.method().as_str(), request.uri().path());
        async move { Ok(json_response(status, body.as_bytes())) }
    });
    let tokens = AsyncTokensClient::from_credentials(transport, credentials());
    let new = NewToken::builder()
        .grant("carto_dw", "SELECT * FROM cities")
        .allowed_apis([AllowedApi::Maps])
        .build()
        .unwrap();
    let created = tokens.create(&new).await.unwrap();
    assert_eq!(tokens.list().await.unwrap()[0].id.as_deref(), Some("tok_1"));
    assert!(tokens.get(&created.token).await.is_ok());
    tokens.delete(&created.token).await.unwrap();
}
