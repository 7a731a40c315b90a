//! Hostile input, property tests of the request body parsers (JSON, form, multipart), the
//! V8-style JSON error message and the credential extraction (HTTP Basic headers, CARTO's
//! rules for finding the key): no panic on any bytes, round trips of what a client sends.
//!
//! CI runs proptest's default 256 cases per property; a long run is
//! `PROPTEST_CASES=1000000 cargo test -p carto-emulator --lib --release http::prop_tests`.

use axum::http::{HeaderMap, HeaderValue, Method, header};
use base64::Engine as _;
use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Map, Value};

use super::auth_extract::{extract_auth_api, extract_sql, parse_basic_rails, parse_basic_sql};
use super::{Ctx, json_error, map_to_pairs, multipart_boundary, multipart_fields, pairs_to_map};

fn ctx(method: Method, content_type: &str, body: Vec<u8>) -> Ctx {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    Ctx {
        method,
        headers,
        rest: "/api/v2/sql".into(),
        base: "http://localhost/user/alice".into(),
        query: Vec::new(),
        body: Bytes::from(body),
    }
}

fn content_type() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("application/json".to_owned()),
        Just("application/vnd.api+json".to_owned()),
        Just("application/x-www-form-urlencoded; charset=utf-8".to_owned()),
        "(?i:multipart/form-data); (?i:boundary)=\"?[ -~]{0,20}\"?",
        Just("text/plain".to_owned()),
        any::<String>(),
    ]
}

/// Bytes shaped like a multipart body more often than random ones.
fn multipart_like(boundary: String) -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(format!("--{boundary}")),
        Just(format!("--{boundary}--")),
        Just("\r\n".to_owned()),
        Just("\r\n\r\n".to_owned()),
        Just("Content-Disposition: form-data; name=\"q\"".to_owned()),
        Just("; filename=\"f\"".to_owned()),
        Just("name=".to_owned()),
        Just("\"".to_owned()),
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..16).prop_map(|p| p.concat().into_bytes())
}

/// A JSON value as a body parameter may hold.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..3)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A username as the Host's first label gives it.
fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,10}(-[a-z0-9_]{1,8})?"
}

/// A parameter name: a credential's more often than random ones.
fn param_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("api_key".to_owned()),
        Just("map_key".to_owned()),
        "[a-z_]{1,8}"
    ]
}

proptest! {
    #[test]
    fn body_params_never_panic(
        method in prop_oneof![Just(Method::POST), Just(Method::PUT), Just(Method::GET)],
        ct in content_type(),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            json_value().prop_map(|v| v.to_string().into_bytes()),
            multipart_like("XyZ".to_owned()),
        ],
    ) {
        let c = ctx(method.clone(), &ct, body.clone());
        match c.body_params() {
            Ok(params) => {
                if method == Method::GET || body.is_empty() {
                    prop_assert!(params.is_empty());
                }
                // What the credential extraction sees is a subset of the parameters.
                let pairs = map_to_pairs(&params);
                prop_assert!(pairs.len() <= params.len());
                let _ = extract_sql("alice", c.authorization(), &c.query, &pairs);
                let _ = extract_auth_api("alice", c.authorization(), &c.query, &pairs);
            }
            Err(message) => {
                // Only a JSON body can be malformed, and the message is V8's when it has one.
                prop_assert!(serde_json::from_slice::<Value>(&body).is_err());
                prop_assert!(!message.is_empty());
            }
        }
    }

    #[test]
    fn json_objects_round_trip(pairs in prop::collection::vec((any::<String>(), json_value()), 0..6)) {
        let object: Map<String, Value> = pairs.into_iter().collect();
        let c = ctx(Method::POST, "application/json", Value::Object(object.clone()).to_string().into_bytes());
        prop_assert_eq!(c.body_params(), Ok(object));
    }

    #[test]
    fn json_error_messages_never_panic_and_agree_with_serde(body in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        (json_value(), any::<prop::sample::Index>()).prop_map(|(v, at)| {
            let mut b = v.to_string().into_bytes();
            b.truncate(at.index(b.len() + 1));
            b
        }),
    ]) {
        let message = json_error::message(&body);
        if serde_json::from_slice::<Value>(&body).is_ok() {
            prop_assert_eq!(message, None);
        }
    }

    #[test]
    fn forms_round_trip(pairs in prop::collection::vec((any::<String>(), any::<String>()), 0..6)) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let c = ctx(Method::POST, "application/x-www-form-urlencoded", body.into_bytes());
        prop_assert_eq!(c.body_params(), Ok(pairs_to_map(pairs)));
    }

    #[test]
    fn multipart_never_panics(ct in content_type(), body in multipart_like("b".to_owned())) {
        let _ = multipart_boundary(&ct);
        let _ = multipart_fields(&ct, &body);
    }

    #[test]
    fn multipart_fields_round_trip(
        boundary in "[A-Za-z0-9'()+_,./:=?-]{1,40}",
        quoted in any::<bool>(),
        fields in prop::collection::vec(("[A-Za-z0-9_]{1,12}", "[^\r]{0,40}", any::<bool>()), 0..6),
    ) {
        let header = if quoted {
            format!("multipart/form-data; boundary=\"{boundary}\"")
        } else {
            format!("Multipart/Form-Data; BOUNDARY={boundary}")
        };
        prop_assert_eq!(multipart_boundary(&header), Some(boundary.clone()));
        let delimiter = format!("--{boundary}");
        // A value holding the delimiter cannot be sent in this body.
        prop_assume!(fields.iter().all(|(_, v, _)| !v.contains(&delimiter)));
        let mut body = String::new();
        let mut expected = Vec::new();
        for (name, value, is_file) in &fields {
            body.push_str(&format!("{delimiter}\r\nContent-Disposition: form-data; name=\"{name}\""));
            if *is_file {
                body.push_str("; filename=\"data.csv\"\r\nContent-Type: text/csv");
            } else {
                expected.push((name.clone(), value.clone()));
            }
            body.push_str(&format!("\r\n\r\n{value}\r\n"));
        }
        body.push_str(&format!("{delimiter}--\r\n"));
        prop_assert_eq!(multipart_fields(&header, body.as_bytes()), expected.clone());
        let c = ctx(Method::POST, &header, body.into_bytes());
        prop_assert_eq!(c.body_params(), Ok(pairs_to_map(expected)));
    }
}

proptest! {
    #[test]
    fn basic_headers_never_panic(header in prop_oneof![
        any::<String>(),
        "(?i:basic)[ ]{0,3}[A-Za-z0-9+/=_.~-]{0,40}",
    ]) {
        let _ = parse_basic_sql(&header);
        let _ = parse_basic_rails(&header);
    }

    #[test]
    fn basic_headers_round_trip(user in "[^:]{0,20}", pass in any::<String>()) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        let header = format!("Basic {encoded}");
        let sql = parse_basic_sql(&header).ok_or_else(|| TestCaseError::fail("refused"))?;
        prop_assert_eq!(&sql.username, &user);
        prop_assert_eq!(sql.token.expose_secret(), pass.as_str());
        // Rails reads word characters only: the round trip holds when the encoding has no
        // `+`, `/` or `=`.
        if encoded.chars().all(|c| c.is_ascii_alphanumeric()) {
            let rails = parse_basic_rails(&header).ok_or_else(|| TestCaseError::fail("rails refused"))?;
            prop_assert_eq!(&rails.username, &user);
            prop_assert_eq!(rails.token.expose_secret(), pass.as_str());
        }
    }

    #[test]
    fn credential_extraction_never_panics_and_follows_the_rules(
        url_user in label(),
        authorization in prop::option::of(prop_oneof![
            any::<String>(),
            ("[^:]{0,12}", "[ -~]{0,12}").prop_map(|(u, p)| format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
            )),
        ]),
        query in prop::collection::vec((param_name(), "[ -~]{0,12}"), 0..5),
        body in prop::collection::vec((param_name(), "[ -~]{0,12}"), 0..5),
    ) {
        let basic = authorization.as_deref().and_then(parse_basic_sql);
        match extract_sql(&url_user, authorization.as_deref(), &query, &body) {
            Ok(c) => {
                if let Some(b) = &basic {
                    prop_assert_eq!(&b.username, &url_user);
                }
                // The verified token is the last api_key given, body over query.
                let last = |pairs: &[(String, String)]| pairs.iter().rev().find(|(k, _)| k == "api_key").map(|(_, v)| v.clone());
                if let Some(v) = last(&body).or_else(|| last(&query)) {
                    prop_assert_eq!(c.verified_token.as_ref().map(|t| t.expose_secret().to_owned()), (!v.is_empty()).then_some(v));
                }
                prop_assert!(c.role_token.as_ref().is_none_or(|t| !t.expose_secret().is_empty()));
            }
            Err(_) => prop_assert!(basic.is_some_and(|b| b.username != url_user)),
        }
        let rails = authorization.as_deref().and_then(parse_basic_rails);
        match extract_auth_api(&url_user, authorization.as_deref(), &query, &body) {
            Ok(Some(t)) => prop_assert!(rails.is_some() || !t.expose_secret().is_empty()),
            Ok(None) => prop_assert!(rails.is_none()),
            Err(_) => prop_assert!(rails.is_some_and(|b| b.username != url_user)),
        }
    }
}
