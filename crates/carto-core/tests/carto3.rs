//! CARTO 3 through carto-core's public API: a canary secret run through the whole M2M
//! flow and every CARTO 3 error shape never shows up in Debug, Display or errors; the
//! error bodies of the protocol notes.

use std::time::{Duration, SystemTime};

use carto_core::carto3::{
    ApiBaseUrl, ApiContext, ApiCredentials, AuthUrl, ClientCredentials, TokenCache, TokenFile,
    TokenOrRequest, TokenSource,
};
use carto_core::{ApiError, Error, Redacted};
use http::{HeaderMap, StatusCode};

const SECRET: &str = "m2m-secret-CANARY-5f1e";
const TOKEN: &str = "eyJ-access-CANARY-77aa";

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains("CANARY"), "{what} leaks a secret: {text}");
}

#[test]
fn the_m2m_flow_never_shows_its_secrets() {
    let m2m = ClientCredentials::new("client-1", SECRET)
        .unwrap()
        .with_auth_url(AuthUrl::parse("http://127.0.0.1:9").unwrap());
    let creds = ApiCredentials::new(
        ApiBaseUrl::parse("http://127.0.0.1:9").unwrap(),
        m2m.clone(),
    );
    assert_clean("credentials", &format!("{creds:?}"));
    let mut cache = TokenCache::new(TokenSource::from(m2m));
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let TokenOrRequest::Request(request) = cache.token_or_request(now).unwrap() else {
        panic!()
    };
    assert_clean("token request", &format!("{request:?}"));
    assert_clean(
        "redacted token request",
        &Redacted(request.request()).to_string(),
    );
    let answer =
        format!(r#"{{"access_token":"{TOKEN}","expires_in":86400,"token_type":"Bearer"}}"#);
    let token = cache
        .token_response(http::Response::new(answer.into_bytes()), now)
        .unwrap();
    assert_clean("cache", &format!("{cache:?} {token:?}"));
    let ctx = ApiContext::new(creds.base_url().clone())
        .with_access_token(&token)
        .unwrap();
    assert_clean("context", &format!("{ctx:?}"));
    let req = ctx
        .request(http::Method::GET, &["v3", "sql", "jobs"])
        .build()
        .unwrap();
    assert_clean("redacted request", &Redacted(&req).to_string());
    assert_clean(
        "token file",
        &format!("{:?}", TokenFile::new("u", token, now)),
    );
    // Token answers that fail, one of them echoing the secret and the token back.
    for (status, body) in [
        (
            200,
            format!(r#"{{"access_token":"{TOKEN}","expires_in":"soon"}}"#),
        ),
        (200, format!("not json {TOKEN}")),
        (
            401,
            format!(
                r#"{{"error":"access_denied","error_description":"bad secret","client_secret":"{SECRET}","access_token":"{TOKEN}"}}"#
            ),
        ),
        (
            500,
            format!("<html>{{\"access_token\": \"{TOKEN}\"}}</html>"),
        ),
    ] {
        let mut response = http::Response::new(body.into_bytes());
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        let err = cache.token_response(response, now).unwrap_err();
        assert_clean("token error", &format!("{err} {err:?}"));
    }
}

fn api(status: u16, body: &str) -> ApiError {
    ApiError::from_parts(
        StatusCode::from_u16(status).unwrap(),
        &HeaderMap::new(),
        body.as_bytes(),
    )
}

#[test]
fn carto3_error_bodies() {
    let e = api(401, r#"{"error":"Token not defined","status":401}"#);
    assert_eq!(e.message(), "Token not defined");
    assert_eq!(e.description(), None);
    let e = api(403, r#"{"error":"Unauthorized referer"}"#);
    assert!(e.is_unauthorized_referer());
    let err = Error::from(e);
    assert!(err.is_forbidden() && err.is_unauthorized_referer());
    let e = api(
        400,
        r#"{"error":"Invalid grants","description":"unknown connection"}"#,
    );
    assert_eq!(e.description(), Some("unknown connection"));
    assert_eq!(
        e.to_string(),
        "CARTO answered 400: Invalid grants: unknown connection"
    );
    // TerriaJS's wider shape: `message` is read as the description.
    let e = api(
        404,
        r#"{"error":"Not found","message":"Map not found","connection_name":"c"}"#,
    );
    assert_eq!(e.description(), Some("Map not found"));
    // The widget model API's shape.
    let e = api(
        400,
        r#"{"error":["Missing columns a"],"hint":"check the source"}"#,
    );
    assert_eq!(
        (e.message().as_str(), e.hint()),
        ("Missing columns a", Some("check the source"))
    );
    let e = api(429, r#"{"error":"Too many import jobs"}"#);
    assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
    // A bare 401 keeps the status and says so.
    let e = api(401, "");
    assert_eq!(e.message(), "Unauthorized");
}

#[test]
fn api_base_url_errors_convert() {
    let err: Error = ApiBaseUrl::parse("https://alice.carto.com")
        .unwrap_err()
        .into();
    assert!(err.to_string().contains("legacy"), "{err}");
}
