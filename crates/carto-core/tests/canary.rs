//! A canary token must never appear in Debug or Display output of credentials, tokens,
//! request contexts, logged requests, or any error kind carto-core produces.

use carto_core::models::{ApiKey, NewApiKey};
use carto_core::{
    ApiError, AuthPlacement, BaseUrl, Credentials, Error, Redacted, RequestContext, Token,
    TransportErrorKind,
};
use http::{HeaderMap, Method, StatusCode};

const CANARY: &str = "CANARY-4f1c2b9e-token";

fn assert_clean(what: &str, text: &str) {
    assert!(!text.contains(CANARY), "{what} leaks the token: {text}");
}

fn assert_error_clean(what: &str, err: &Error) {
    assert_clean(what, &err.to_string());
    assert_clean(what, &format!("{err:?}"));
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        assert_clean(what, &s.to_string());
        assert_clean(what, &format!("{s:?}"));
        source = s.source();
    }
}

fn creds() -> Credentials {
    Credentials::new(BaseUrl::parse("https://alice.carto.com").unwrap(), CANARY)
}

#[test]
fn tokens_credentials_and_contexts() {
    assert_clean("Token", &format!("{:?}", Token::new(CANARY)));
    assert_clean("Credentials", &format!("{:?}", creds()));
    for auth in [
        AuthPlacement::BasicHeader,
        AuthPlacement::QueryParam,
        AuthPlacement::BodyField,
    ] {
        let ctx = RequestContext::new(creds()).with_auth_placement(auth);
        assert_clean("RequestContext", &format!("{ctx:?}"));
        let req = ctx
            .request(Method::POST, &["api", "v2", "sql"])
            .form([("q", "select 1")])
            .build()
            .unwrap();
        assert_clean("Redacted request", &Redacted(&req).to_string());
        let req = ctx
            .request(Method::POST, &["api", "v3", "api_keys"])
            .json(&NewApiKey::builder("k").build().unwrap())
            .unwrap()
            .build()
            .unwrap();
        assert_clean("Redacted request", &Redacted(&req).to_string());
        // The secret does travel: the check above is not vacuous.
        let raw = format!("{:?}{}", req.uri(), String::from_utf8_lossy(req.body()));
        let in_header = req.headers().get(http::header::AUTHORIZATION).is_some();
        assert!(raw.contains(CANARY) || in_header);
    }
}

#[test]
fn models() {
    let json = format!(
        r#"{{"name":"k","type":"regular","token":"{CANARY}","grants":[],"created_at":"2018-02-14 13:23:12 +0000","updated_at":"2018-02-14 13:23:12 UTC"}}"#
    );
    let key: ApiKey = serde_json::from_str(&json).unwrap();
    assert_clean("ApiKey", &format!("{key:?}"));
}

#[test]
fn every_error_kind() {
    let errors: Vec<(&str, Error)> = vec![
        (
            "base url with query",
            BaseUrl::parse(&format!("https://a.carto.com/?api_key={CANARY}"))
                .unwrap_err()
                .into(),
        ),
        (
            "base url with user info",
            BaseUrl::parse(&format!("https://alice:{CANARY}@a.carto.com"))
                .unwrap_err()
                .into(),
        ),
        (
            "unparsable base url",
            BaseUrl::parse(&format!("https:// {CANARY}"))
                .unwrap_err()
                .into(),
        ),
        (
            "malformed creds json",
            Credentials::from_json(&format!(
                r#"{{"api_key":"{CANARY}","base_url":"https://x"}}"#
            ))
            .unwrap_err(),
        ),
        (
            "insecure creds json",
            Credentials::from_json(&format!(
                r#"{{"api_key":"{CANARY}","base_url":"http://a.carto.com"}}"#
            ))
            .unwrap_err(),
        ),
        (
            "creds file missing",
            Credentials::from_file(std::env::temp_dir().join("carto-rs-missing/creds.json"))
                .unwrap_err(),
        ),
        (
            "api error",
            ApiError::from_parts(StatusCode::UNAUTHORIZED, &HeaderMap::new(), b"").into(),
        ),
        (
            "transport",
            Error::transport(TransportErrorKind::Timeout, "timed out"),
        ),
        (
            "invalid input",
            NewApiKey::builder("Master").build().unwrap_err(),
        ),
        (
            "decode",
            carto_core::endpoint::decode_json::<ApiKey>(
                StatusCode::OK,
                format!(r#"{{"token":"{CANARY}","name":5}}"#).as_bytes(),
            )
            .unwrap_err(),
        ),
    ];
    for (what, err) in &errors {
        assert_error_clean(what, err);
    }
}
