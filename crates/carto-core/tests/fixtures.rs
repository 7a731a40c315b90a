//! Every upstream fixture of this layer parses into carto-core's models, and round-trips
//! where the wire allows.

use carto_core::models::{
    Api, ApiKey, ApiKeyPage, ApiKeyType, DoToken, Me, NewApiKey, SchemaPermission, Service,
    TablePermission,
};
use carto_core::{ApiError, RateLimit};
use http::{HeaderMap, StatusCode};
use serde_json::Value;

fn data(path: &str) -> String {
    carto_test_support::fixture_str(path).to_owned()
}

fn roundtrip<T: serde::Serialize + serde::de::DeserializeOwned>(path: &str) -> T {
    let text = data(path);
    let parsed: T = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    let original: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        serde_json::to_value(&parsed).unwrap(),
        original,
        "{path} does not round-trip"
    );
    parsed
}

#[test]
fn api_key_regular() {
    let key: ApiKey = roundtrip("auth-api/api-key-regular.json");
    assert_eq!(key.name, "MyTableApi");
    assert_eq!(key.key_type, ApiKeyType::Regular);
    assert_eq!(key.token.expose_secret(), "moLv8B-kotcjUL-uxMhbGg");
    assert_eq!(key.user.as_ref().unwrap().username, "amartin");
    assert_eq!(key.grants.apis(), [Api::Maps]);
    assert!(
        key.grants
            .allows_table("public", "my_table", TablePermission::Update)
    );
    assert_eq!(
        key.grants.schemas()[0].permissions,
        [SchemaPermission::Create]
    );
    assert_eq!(
        key.grants.services(),
        [Service::Geocoding, Service::Observatory]
    );
    assert_eq!(key.created_at.to_string(), "2018-02-14 13:23:12 +0000");
}

#[test]
fn api_key_list_page() {
    let page: ApiKeyPage = roundtrip("auth-api/api-key-list-page.json");
    assert_eq!((page.total, page.count, page.result.len()), (3, 3, 3));
    let types: Vec<_> = page.result.iter().map(|k| k.key_type).collect();
    assert_eq!(
        types,
        [ApiKeyType::Master, ApiKeyType::Regular, ApiKeyType::Default]
    );
    assert!(page.result[2].token.is_default_public());
    assert!(page.links.first.is_some() && page.links.last.is_some());
    assert!(page.links.next.is_none());
}

#[test]
fn create_requests() {
    let req: NewApiKey = roundtrip("auth-api/create-request.json");
    let rebuilt = NewApiKey::builder("MyTableApi")
        .apis([Api::Maps])
        .table(
            "public",
            "my_table",
            [
                TablePermission::Select,
                TablePermission::Update,
                TablePermission::Insert,
            ],
        )
        .schema_create("public")
        .table_metadata()
        .services([Service::Geocoding, Service::Observatory])
        .build()
        .unwrap();
    assert_eq!(rebuilt, req);
    let empty: NewApiKey = roundtrip("auth-api/create-request-empty-apis.json");
    assert_eq!(empty, NewApiKey::builder("wadus").apis([]).build().unwrap());
    let dobs: NewApiKey = roundtrip("auth-api/create-request-data-observatory.json");
    assert_eq!(dobs.grants.datasets().len(), 1);
}

#[test]
fn me_and_do_token() {
    let me: Me = serde_json::from_str(&data("me/me.json")).unwrap();
    assert_eq!(me.config.user_name, "user");
    assert_eq!(me.user_data.id, "user1");
    assert_eq!(me.user_data.username, "username");
    let token: DoToken = serde_json::from_str(&data("do/token-spec-stub.json")).unwrap();
    assert_eq!(token.access_token, "tokenuco");
    assert!(!format!("{token:?}").contains("tokenuco"));
}

fn headers(path: &str) -> (StatusCode, HeaderMap) {
    let text = data(path);
    let mut lines = text.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let mut map = HeaderMap::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (k, v) = line.split_once(':').unwrap();
        map.append(
            http::HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
            v.trim().parse().unwrap(),
        );
    }
    (StatusCode::from_u16(status).unwrap(), map)
}

#[test]
fn every_error_body_parses() {
    let cases: &[(&str, u16, &str)] = &[
        (
            "auth-api/error-404-not-found.json",
            404,
            "API key not found: key1",
        ),
        (
            "auth-api/error-422-duplicate-name.json",
            422,
            "Validation failed: Name has already been taken",
        ),
        (
            "sql-api/error-400-hint.json",
            400,
            "function st_buffer(geometry) does not exist",
        ),
        (
            "sql-api/error-404-unknown-user.json",
            404,
            "Sorry, we can't find CARTO user 'vizzualinot'. Please check that you have entered the correct domain.",
        ),
        (
            "sql-api/error-400-missing-q.json",
            400,
            "You must indicate a sql query",
        ),
        (
            "sql-api/error-400.json",
            400,
            "syntax error at or near \"and\"",
        ),
        (
            "sql-api/error-400-invalid-format.json",
            400,
            "Invalid format: unknown",
        ),
        ("sql-api/error-401-unauthorized.json", 401, "Unauthorized"),
        (
            "sql-api/error-403-permission-denied.json",
            403,
            "permission denied",
        ),
        (
            "sql-api/error-403-system-tables.json",
            403,
            "system tables are forbidden",
        ),
        (
            "sql-api/query-200-with-midstream-error.json",
            200,
            "division by zero",
        ),
        ("do/error-500-central.json", 500, "boom"),
        (
            "batch/error-cancel-done.json",
            400,
            "Cannot set status from done to cancelled",
        ),
        (
            "batch/error-missing-query.json",
            400,
            "You must indicate a valid SQL",
        ),
        (
            "batch/error-not-found.json",
            400,
            "Job with id irrelevantJob not found",
        ),
        (
            "batch/error-permission-denied.json",
            403,
            "permission denied",
        ),
        (
            "copy/copyfrom-error-gzip.json",
            400,
            "Error while gunzipping: incorrect header check",
        ),
        (
            "copy/copyfrom-error-relation.json",
            400,
            "relation \"unexisting_table\" does not exist",
        ),
    ];
    for (path, status, message) in cases {
        let status = StatusCode::from_u16(*status).unwrap();
        let e = ApiError::from_parts(status, &HeaderMap::new(), data(path).as_bytes());
        assert_eq!(e.message(), *message, "{path}");
    }
    let hint = ApiError::from_parts(
        StatusCode::BAD_REQUEST,
        &HeaderMap::new(),
        data("sql-api/error-400-hint.json").as_bytes(),
    );
    assert!(hint.hint().unwrap().starts_with("No function matches"));
}

#[test]
fn rate_limit_and_timeout_fixtures() {
    let (status, h) = headers("sql-api/error-429-rate-limit.headers.txt");
    let e = ApiError::from_parts(
        status,
        &h,
        data("sql-api/error-429-rate-limit.json").as_bytes(),
    );
    assert!(e.is_rate_limited());
    assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(1)));
    assert_eq!(e.rate_limit().unwrap().limit, 2);
    let (status, h) = headers("sql-api/error-429-timeout.headers.txt");
    let e = ApiError::from_parts(
        status,
        &h,
        data("sql-api/error-429-timeout.json").as_bytes(),
    );
    assert!(e.is_statement_timeout() && !e.is_rate_limited());
    let (_, h) = headers("sql-api/rate-limit-allowed.headers.txt");
    assert_eq!(RateLimit::from_headers(&h).unwrap().remaining, 1);
    for path in [
        "sql-api/error-400.headers.txt",
        "sql-api/error-404-unknown-user.headers.txt",
        "sql-api/error-400-invalid-format.headers.txt",
        "sql-api/query-200-with-midstream-error.headers.txt",
        "batch/job-pending.headers.txt",
        "copy/copyto-endpoints-test-prefix.headers.txt",
    ] {
        let (status, h) = headers(path);
        assert!(RateLimit::from_headers(&h).is_none(), "{path}: {status}");
    }
}
