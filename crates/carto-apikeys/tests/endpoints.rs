//! Golden requests (insta snapshots) of every Auth API endpoint, and the upstream
//! fixtures as responses.

use carto_apikeys::endpoints::{
    CreateApiKey, DeleteApiKey, GetApiKey, ListApiKeys, RegenerateToken, ValidateToken,
};
use carto_apikeys::{ListOptions, ListOrder};
use carto_core::models::{Api, ApiKeyType, NewApiKey, Service, TablePermission};
use carto_core::{AuthPlacement, BaseUrl, Credentials, Endpoint, Error, RequestContext};
use carto_test_support::{json_response as response, render_request as render};
use http::StatusCode;

const FAKE_TOKEN: &str = "fake-token-0123";

fn data(name: &str) -> Vec<u8> {
    carto_test_support::fixture(&format!("auth-api/{name}")).to_vec()
}

fn ctx(auth: AuthPlacement) -> RequestContext {
    let creds = Credentials::new(
        BaseUrl::parse("https://carto.example.com/user/alice").unwrap(),
        FAKE_TOKEN,
    );
    RequestContext::new(creds).with_auth_placement(auth)
}

fn new_key() -> NewApiKey {
    NewApiKey::builder("MyTableApi")
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
        .unwrap()
}

#[test]
fn create_request_matches_the_upstream_body() {
    let req = CreateApiKey(new_key())
        .to_request(&ctx(AuthPlacement::BasicHeader))
        .unwrap();
    let sent: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
    let upstream: serde_json::Value = serde_json::from_slice(&data("create-request.json")).unwrap();
    assert_eq!(sent, upstream);
    insta::assert_snapshot!("create_basic", render(&req));
    let req = CreateApiKey(new_key())
        .to_request(&ctx(AuthPlacement::BodyField))
        .unwrap();
    insta::assert_snapshot!("create_body_field", render(&req));
}

#[test]
fn get_escapes_the_name_as_one_segment() {
    let req = GetApiKey::new("my key/with ñ?&#")
        .to_request(&ctx(AuthPlacement::QueryParam))
        .unwrap();
    insta::assert_snapshot!("get_query_param", render(&req));
    assert_eq!(
        req.uri().path(),
        "/user/alice/api/v3/api_keys/my%20key%2Fwith%20%C3%B1%3F&%23"
    );
    let err = GetApiKey::new("")
        .to_request(&ctx(AuthPlacement::BasicHeader))
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
}

#[test]
fn delete_regenerate_list_validate_requests() {
    let basic = ctx(AuthPlacement::BasicHeader);
    insta::assert_snapshot!(
        "delete_basic",
        render(
            &DeleteApiKey::new("Default public")
                .to_request(&basic)
                .unwrap()
        )
    );
    insta::assert_snapshot!(
        "regenerate_basic",
        render(&RegenerateToken::new("k 1").to_request(&basic).unwrap())
    );
    let options = ListOptions::new()
        .types([ApiKeyType::Regular, ApiKeyType::Master, ApiKeyType::Regular])
        .per_page(2)
        .order(ListOrder::Name);
    insta::assert_snapshot!(
        "list_page_3",
        render(&ListApiKeys::new(&options, 3).to_request(&basic).unwrap())
    );
    insta::assert_snapshot!(
        "list_default",
        render(
            &ListApiKeys::new(&ListOptions::new(), 1)
                .to_request(&basic)
                .unwrap()
        )
    );
    insta::assert_snapshot!(
        "validate_other_token",
        render(
            &ValidateToken::new("candidate-token")
                .to_request(&ctx(AuthPlacement::QueryParam))
                .unwrap()
        )
    );
}

#[test]
fn list_rejects_bad_paging_before_any_request() {
    let basic = ctx(AuthPlacement::BasicHeader);
    let e = ListApiKeys::new(&ListOptions::new(), 0)
        .to_request(&basic)
        .unwrap_err();
    assert!(e.is_invalid_input());
    let e = ListApiKeys::new(&ListOptions::new().per_page(0), 1)
        .to_request(&basic)
        .unwrap_err();
    assert!(e.to_string().contains("per_page"), "{e}");
    let e = ValidateToken::new("").to_request(&basic).unwrap_err();
    assert!(e.is_invalid_input());
}

#[test]
fn responses_from_upstream_fixtures() {
    let key = CreateApiKey(new_key())
        .parse(response(201, &data("api-key-regular.json")))
        .unwrap();
    assert_eq!(key.name, "MyTableApi");
    assert_eq!(key.token.expose_secret(), "moLv8B-kotcjUL-uxMhbGg");
    let key = GetApiKey::new("MyTableApi")
        .parse(response(200, &data("api-key-regular.json")))
        .unwrap();
    assert!(
        key.grants
            .allows_table("public", "my_table", TablePermission::Insert)
    );
    let key = RegenerateToken::new("MyTableApi")
        .parse(response(200, &data("api-key-regular.json")))
        .unwrap();
    assert_eq!(key.key_type, ApiKeyType::Regular);
    let page = ListApiKeys::new(&ListOptions::new(), 1)
        .parse(response(200, &data("api-key-list-page.json")))
        .unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.result[2].name, "Default public");
    DeleteApiKey::new("k").parse(response(204, b"")).unwrap();
    DeleteApiKey::new("k")
        .parse(response(200, &data("api-key-regular.json")))
        .unwrap();
}

#[test]
fn error_fixtures_become_typed_errors() {
    let err = GetApiKey::new("key1")
        .parse(response(404, &data("error-404-not-found.json")))
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        "CARTO answered 404: API key not found: key1"
    );
    let err = CreateApiKey(new_key())
        .parse(response(422, &data("error-422-duplicate-name.json")))
        .unwrap_err();
    assert!(err.is_validation());
    assert_eq!(
        err.api_error().unwrap().message(),
        "Validation failed: Name has already been taken"
    );
    let err = DeleteApiKey::new("Master")
        .parse(response(
            403,
            br#"{"errors":"You don't have permission to access that resource","errors_cause":null}"#,
        ))
        .unwrap_err();
    assert!(err.is_forbidden());
    let err = RegenerateToken::new("k")
        .parse(response(401, b""))
        .unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    let err = GetApiKey::new("k")
        .parse(response(200, br#"{"name":"k","type":"regular"}"#))
        .unwrap_err();
    let Error::Decode(decode) = &err else {
        panic!("{err:?}")
    };
    assert!(decode.message().contains("token"), "{decode}");
}

#[test]
fn validate_token_outcomes() {
    let list = data("api-key-list-page.json");
    assert!(
        ValidateToken::new("moLv8B-kotcjUL-uxMhbGg")
            .parse(response(200, &list))
            .unwrap()
    );
    assert!(
        !ValidateToken::new("other")
            .parse(response(200, &list))
            .unwrap()
    );
    assert!(!ValidateToken::new("x").parse(response(401, b"")).unwrap());
    assert!(!ValidateToken::new("x").parse(response(403, b"")).unwrap());
    let err = ValidateToken::new("x")
        .parse(response(
            404,
            br#"{"error":["Sorry, we can't find CARTO user 'x'."]}"#,
        ))
        .unwrap_err();
    assert!(err.is_not_found());
}

#[test]
fn idempotency() {
    assert!(GetApiKey::new("k").is_idempotent());
    assert!(DeleteApiKey::new("k").is_idempotent());
    assert!(ListApiKeys::new(&ListOptions::new(), 1).is_idempotent());
    assert!(!CreateApiKey(new_key()).is_idempotent());
    assert!(!RegenerateToken::new("k").is_idempotent());
}
