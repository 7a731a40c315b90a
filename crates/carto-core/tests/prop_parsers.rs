//! Hostile input, property tests: `BaseUrl` parsing and creds.json reading never panic on
//! any input, fail with a typed error, never repeat a token in an error message, and
//! round-trip what they accept.
//!
//! CI runs proptest's default 256 cases per property; a long run is
//! `PROPTEST_CASES=1000000 cargo test -p carto-core --test prop_parsers --release`.

use carto_core::{BaseUrl, BaseUrlKind, Credentials, Error};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};

/// A DNS label that the URL parser keeps as written (lower case, no `xn--`).
fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,10}(-[a-z0-9_]{1,8})?".prop_filter("www is stripped", |l| l != "www")
}

/// A CARTO username as it may appear in a URL path.
fn path_user() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,63}"
}

/// A valid base URL: its text, the username it designates and its kind.
fn valid_base_url() -> impl Strategy<Value = (String, String, BaseUrlKind)> {
    let domain = prop::collection::vec(label(), 1..3).prop_map(|l| l.join("."));
    // 443 is https's default port: the URL parser drops it, so the text would change.
    let port = prop::option::of((1u16..).prop_filter("default port", |p| *p != 443));
    let slash = any::<bool>();
    (0..3u8, label(), path_user(), domain, port, slash).prop_map(
        |(form, host_user, user, domain, port, slash)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let slash = if slash { "/" } else { "" };
            match form {
                0 => (
                    format!("https://{host_user}.{domain}{port}{slash}"),
                    host_user,
                    BaseUrlKind::Cloud,
                ),
                1 => (
                    format!("https://{domain}{port}/user/{user}{slash}"),
                    user,
                    BaseUrlKind::OnPremise,
                ),
                _ => (
                    format!("https://{host_user}.{domain}{port}/u/{user}{slash}"),
                    user,
                    BaseUrlKind::Organization { org: host_user },
                ),
            }
        },
    )
}

/// Text that looks like a URL more often than random strings do.
fn url_like() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("https://".to_owned()),
        Just("http://".to_owned()),
        Just("ftp://".to_owned()),
        Just("/user/".to_owned()),
        Just("/u/".to_owned()),
        Just("www.".to_owned()),
        Just("@".to_owned()),
        Just(":".to_owned()),
        Just("?api_key=".to_owned()),
        Just("#".to_owned()),
        Just("%2F".to_owned()),
        Just("%".to_owned()),
        Just(".".to_owned()),
        Just("/".to_owned()),
        Just("[::1]".to_owned()),
        "[a-z0-9]{1,8}",
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
}

/// An arbitrary JSON value, nested a few levels.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        url_like().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A creds.json object whose fields are each absent, of the right type or of any type.
fn creds_object() -> impl Strategy<Value = Value> {
    let field = |valid: BoxedStrategy<Value>| {
        prop_oneof![
            2 => Just(None),
            4 => valid.prop_map(Some),
            1 => json_value().prop_map(Some),
        ]
    };
    (
        field(label().prop_map(Value::String).boxed()),
        field("[ -~]{0,40}".prop_map(Value::String).boxed()),
        field(
            prop_oneof![
                valid_base_url().prop_map(|(u, _, _)| Value::String(u)),
                url_like().prop_map(Value::String),
            ]
            .boxed(),
        ),
        field(any::<bool>().prop_map(Value::Bool).boxed()),
    )
        .prop_map(|(username, api_key, base_url, allow)| {
            let mut m = Map::new();
            for (k, v) in [
                ("username", username),
                ("api_key", api_key),
                ("base_url", base_url),
                ("allow_non_secure", allow),
            ] {
                if let Some(v) = v {
                    m.insert(k.to_owned(), v);
                }
            }
            Value::Object(m)
        })
}

fn is_typed_credentials_error(e: &Error) -> bool {
    matches!(
        e,
        Error::Credentials(_) | Error::BaseUrl(_) | Error::InvalidInput(_)
    )
}

/// Reading back what `to_json` wrote gives the same credentials.
fn assert_round_trip(c: &Credentials) -> Result<(), TestCaseError> {
    let again = Credentials::from_json(&c.to_json())
        .map_err(|e| TestCaseError::fail(format!("to_json output refused: {e}")))?;
    prop_assert_eq!(again.base_url(), c.base_url());
    prop_assert_eq!(again.username(), c.username());
    prop_assert_eq!(again.token().expose_secret(), c.token().expose_secret());
    Ok(())
}

/// The crate's regressions stay in one place, `proptest-regressions/` (as the unit tests').
fn regressions() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/tests/prop_parsers.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(regressions())]

    #[test]
    fn base_url_never_panics_and_round_trips(input in prop_oneof![url_like(), any::<String>()]) {
        for (parsed, allow_http) in [(BaseUrl::parse(&input), false), (BaseUrl::parse_allow_http(&input), true)] {
            match parsed {
                Ok(b) => {
                    let again = if allow_http { BaseUrl::parse_allow_http(b.as_str()) } else { BaseUrl::parse(b.as_str()) };
                    prop_assert_eq!(again.as_ref(), Ok(&b), "{}", b.as_str());
                    prop_assert!(!b.as_str().ends_with('/'));
                    prop_assert!(!b.username().is_empty() && b.username().len() <= 63);
                }
                Err(e) => {
                    // A typed error whose message repeats no query string or user info.
                    let msg = e.to_string();
                    prop_assert!(!msg.contains("api_key="), "{msg}");
                    let converted: Error = e.into();
                    prop_assert!(matches!(converted, Error::BaseUrl(_)));
                }
            }
        }
    }

    #[test]
    fn valid_base_urls_parse_to_their_user(case in valid_base_url()) {
        let (text, user, kind) = case;
        let b = BaseUrl::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(b.username(), user.as_str());
        prop_assert_eq!(b.kind(), &kind);
        prop_assert!(b.is_secure());
        prop_assert_eq!(b.as_str(), text.trim_end_matches('/'));
        prop_assert_eq!(BaseUrl::parse(b.as_str()), Ok(b.clone()));
        // http needs the explicit opt-in.
        let http = text.replacen("https://", "http://", 1);
        prop_assert!(BaseUrl::parse(&http).is_err());
        prop_assert_eq!(BaseUrl::parse_allow_http(&http).map(|h| h.username().to_owned()), Ok(user));
    }

    #[test]
    fn credentials_json_never_panics(text in prop_oneof![
        any::<String>(),
        json_value().prop_map(|v| v.to_string()),
        creds_object().prop_map(|v| v.to_string()),
    ]) {
        match Credentials::from_json(&text) {
            Ok(c) => assert_round_trip(&c)?,
            Err(e) => prop_assert!(is_typed_credentials_error(&e), "{e:?}"),
        }
    }

    #[test]
    fn credentials_errors_never_show_the_token(
        obj in creds_object(),
        secret in "[a-z0-9]{12}",
    ) {
        let token = format!("canary-{secret}");
        let mut obj = obj;
        obj.as_object_mut().expect("object").insert("api_key".into(), Value::String(token.clone()));
        match Credentials::from_json(&obj.to_string()) {
            Ok(c) => {
                prop_assert_eq!(c.token().expose_secret(), token.as_str());
                let debug = format!("{c:?}");
                prop_assert!(!debug.contains(&token));
                assert_round_trip(&c)?;
            }
            Err(e) => {
                let (shown, debug) = (e.to_string(), format!("{e:?}"));
                prop_assert!(!shown.contains(&token), "{}", shown);
                prop_assert!(!debug.contains(&token), "{}", debug);
            }
        }
    }

    #[test]
    fn credentials_files_of_any_bytes_give_a_typed_error_or_credentials(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            creds_object().prop_map(|v| v.to_string().into_bytes()),
        ],
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("creds.json");
        std::fs::write(&path, &bytes).expect("write");
        match Credentials::from_file(&path) {
            Ok(c) => {
                let text = std::str::from_utf8(&bytes).expect("accepted bytes are UTF-8");
                let direct = Credentials::from_json(text).expect("from_json agrees");
                prop_assert_eq!(direct.base_url(), c.base_url());
                assert_round_trip(&c)?;
            }
            Err(e) => prop_assert!(is_typed_credentials_error(&e), "{e:?}"),
        }
    }

    #[test]
    fn valid_creds_objects_are_read(user in label(), token in "[A-Za-z0-9_-]{1,40}") {
        let c = Credentials::from_json(&json!({"username": user, "api_key": token}).to_string())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(c.username(), user.as_str());
        prop_assert_eq!(c.token().expose_secret(), token.as_str());
        prop_assert_eq!(c.base_url().kind(), &BaseUrlKind::Cloud);
        assert_round_trip(&c)?;
    }
}
