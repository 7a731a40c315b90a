//! The Tokens API endpoints with no server: golden requests (insta snapshots), the
//! CARTO 3 payloads of the protocol notes (`carto-test-support/data/carto3/`) as responses, and the
//! builders' checks.

use carto_core::Error;
use carto_core::carto3::{AccessToken, ApiBaseUrl, ApiContext, ApiEndpoint};
use carto_core::endpoint::{Redacted, loggable_path};
use carto_test_support::{json_response as response, render_request as render};
use carto_tokens::endpoints::{CreateToken, DeleteToken, GetToken, ListTokens, UpdateToken};
use carto_tokens::{AllowedApi, ApiAccessToken, Grant, NewToken, Source, TokenUpdate};
use chrono::{TimeZone, Utc};
use http::Method;
use serde_json::Value;

const OAUTH: &str = "eyJ-oauth-fake-0123";
const API_TOKEN: &str =
    "eyJhbGciOiJIUzI1NiJ9.eyJhIjoiYWNfaGR6Zmw4cWsiLCJqdGkiOiI0MjAwOGU2OCJ9.c2lnbmF0dXJl";

fn data(name: &str) -> Vec<u8> {
    carto_test_support::fixture(&format!("carto3/{name}")).to_vec()
}

fn ctx() -> ApiContext {
    ApiContext::new(ApiBaseUrl::parse("https://gcp-us-east1.api.carto.com").unwrap())
        .with_access_token(&AccessToken::new(OAUTH))
        .unwrap()
}

#[test]
fn create_sends_the_documented_body() {
    let token = NewToken::builder()
        .grant("carto_dw", "carto-demo-data.demo_tables.airports")
        .allowed_apis([AllowedApi::Sql, AllowedApi::Maps])
        .build()
        .unwrap();
    let create = CreateToken(token);
    let req = create.to_request(&ctx()).unwrap();
    let body: Value = serde_json::from_slice(req.body()).unwrap();
    let doc: Value = serde_json::from_slice(&data("token-create-request.json")).unwrap();
    assert_eq!(body, doc);
    assert!(!create.is_idempotent());
    // Every kind of source, referers and an expiration date.
    let token = NewToken::builder()
        .grant("carto_dw", "`carto-demo-data`.demo_tables.retail_stores")
        .grant("carto_dw", "carto-demo-data.demo_tables.*")
        .grant(
            "carto_dw",
            "SELECT * FROM `carto-demo-data`.demo_tables.retail_stores WHERE city = @groupcity",
        )
        .referer("https://app.example.com/")
        .referer("https://app.example.com")
        .referer("http://localhost:3000")
        .allowed_apis([AllowedApi::Maps])
        .expiration_date(Utc.with_ymd_and_hms(2027, 1, 31, 12, 0, 0).unwrap())
        .build()
        .unwrap();
    assert!(matches!(token.grants()[0].source, Source::Table(_)));
    assert!(matches!(token.grants()[1].source, Source::Wildcard(_)));
    assert!(matches!(token.grants()[2].source, Source::Query(_)));
    let req = CreateToken(token).to_request(&ctx()).unwrap();
    insta::assert_snapshot!("create", render(&req));
}

#[test]
fn builder_checks() {
    let err = |b: carto_tokens::NewTokenBuilder| b.build().unwrap_err();
    let base = || NewToken::builder().allowed_apis([AllowedApi::Sql]);
    assert!(err(base()).to_string().contains("at least one grant"));
    assert!(
        err(base().grant(" ", "a.b"))
            .to_string()
            .contains("connection")
    );
    assert!(err(base().grant("c", "")).is_invalid_input());
    assert!(
        err(base().grant("c", "airports"))
            .to_string()
            .contains("qualified")
    );
    assert!(err(base().grant("c", "a..b")).is_invalid_input());
    assert!(
        err(base().grant("c", "project.*"))
            .to_string()
            .contains("project.dataset.*")
    );
    assert!(err(base().grant("c", "a.*.c")).is_invalid_input());
    assert!(base().grant("c", "*").build().is_ok());
    assert!(base().grant("c", "public.t").build().is_ok());
    assert!(
        err(base().grant("c", "a.b").referer(" / "))
            .to_string()
            .contains("referer")
    );
    assert!(err(base().grant("c", "a.b").referer("https://a b")).is_invalid_input());
    assert!(
        err(NewToken::builder().grant("c", "a.b"))
            .to_string()
            .contains("at least one API")
    );
    let mixed = NewToken::builder()
        .grant("c", "a.b")
        .allowed_apis([AllowedApi::Imports, AllowedApi::Sql]);
    assert!(err(mixed).to_string().contains("imports"));
    let alone = NewToken::builder()
        .grant("c", "a.b")
        .allowed_apis([AllowedApi::Imports, AllowedApi::Imports]);
    assert_eq!(alone.build().unwrap().allowed_apis(), [AllowedApi::Imports]);
    // Unknown APIs are kept as sent.
    let other = base()
        .grant("c", "a.b")
        .allowed_apis([AllowedApi::parse("mcp")])
        .build()
        .unwrap();
    assert_eq!(
        serde_json::to_value(other.allowed_apis()).unwrap(),
        serde_json::json!(["sql", "mcp"])
    );
    assert_eq!(Grant::new("c", "a.b").unwrap().source.as_str(), "a.b");
}

#[test]
fn read_get_update_delete_golden() {
    let list = ListTokens.to_request(&ctx()).unwrap();
    insta::assert_snapshot!("list", render(&list));
    assert!(ListTokens.is_idempotent());
    let get = GetToken::new(API_TOKEN);
    let req = get.to_request(&ctx()).unwrap();
    assert_eq!(req.method(), Method::GET);
    assert_eq!(req.uri().path(), format!("/v3/tokens/{API_TOKEN}"));
    assert!(get.is_idempotent());
    let update = TokenUpdate::new()
        .referers(["https://b.example.com/"])
        .unwrap()
        .allowed_apis([AllowedApi::Sql])
        .unwrap();
    let req = UpdateToken::new(API_TOKEN, update)
        .to_request(&ctx())
        .unwrap();
    insta::assert_snapshot!("update", render(&req));
    assert!(
        UpdateToken::new(API_TOKEN, TokenUpdate::new())
            .to_request(&ctx())
            .unwrap_err()
            .is_invalid_input()
    );
    assert!(
        TokenUpdate::new()
            .grants(Vec::<(String, String)>::new())
            .is_err()
    );
    assert!(TokenUpdate::new().grants([("c", "x")]).is_err());
    let req = DeleteToken::new(API_TOKEN).to_request(&ctx()).unwrap();
    assert_eq!(req.method(), Method::DELETE);
    assert!(DeleteToken::new(API_TOKEN).is_idempotent());
    assert!(
        DeleteToken::new("")
            .to_request(&ctx())
            .unwrap_err()
            .is_invalid_input()
    );
}

#[test]
fn the_token_in_a_path_stays_out_of_logs_and_debug() {
    let req = DeleteToken::new(API_TOKEN).to_request(&ctx()).unwrap();
    assert_eq!(loggable_path(req.uri()), "/v3/tokens");
    let shown = Redacted(&req).to_string();
    assert!(
        !shown.contains(API_TOKEN) && !shown.contains(OAUTH),
        "{shown}"
    );
    for debug in [
        format!("{:?}", DeleteToken::new(API_TOKEN)),
        format!("{:?}", GetToken::new(API_TOKEN)),
    ] {
        assert!(!debug.contains(API_TOKEN), "{debug}");
    }
}

#[test]
fn token_documents() {
    let token = CreateToken(
        NewToken::builder()
            .grant("carto_dw", "a.b")
            .allowed_apis([AllowedApi::Sql])
            .build()
            .unwrap(),
    )
    .parse(response(200, &data("token-cli.json")))
    .unwrap();
    assert_eq!(token.token.expose_secret(), API_TOKEN);
    assert_eq!(token.id.as_deref(), Some("tok_42008e68"));
    assert_eq!(token.grants[0].connection_name, "carto_dw");
    assert!(token.referers.is_empty() && token.expiration().is_none());
    assert!(!format!("{token:?}").contains(API_TOKEN));
    let body = format!(
        r#"[{{"token":"{API_TOKEN}","allowed_apis":["sql","lds","future"],"expiration_date":"2027-01-31T12:00:00.000Z","createdAt":"2026-01-01"}}]"#
    );
    let list = ListTokens.parse(response(200, body.as_bytes())).unwrap();
    assert_eq!(
        list[0].allowed_apis,
        [
            AllowedApi::Sql,
            AllowedApi::Lds,
            AllowedApi::Other("future".into())
        ]
    );
    assert_eq!(
        list[0].expiration(),
        Some(Utc.with_ymd_and_hms(2027, 1, 31, 12, 0, 0).unwrap())
    );
    assert_eq!(list[0].other["createdAt"], "2026-01-01");
    let wrapped = format!(r#"{{"data":[{{"token":"{API_TOKEN}"}}],"meta":{{"page":1}}}}"#);
    assert_eq!(
        ListTokens
            .parse(response(200, wrapped.as_bytes()))
            .unwrap()
            .len(),
        1
    );
    let got: ApiAccessToken = GetToken::new(API_TOKEN)
        .parse(response(200, &data("token-cli.json")))
        .unwrap();
    assert_eq!(got, token);
    assert_eq!(
        UpdateToken::new(API_TOKEN, TokenUpdate::new())
            .parse(response(204, b""))
            .unwrap(),
        None
    );
    assert!(
        DeleteToken::new(API_TOKEN)
            .parse(response(204, b""))
            .is_ok()
    );
    // A malformed document says where, without quoting the token.
    let bad = format!(r#"{{"token":"{API_TOKEN}","grants":[{{"source":"a.b"}}]}}"#);
    let err = GetToken::new(API_TOKEN)
        .parse(response(200, bad.as_bytes()))
        .unwrap_err();
    let Error::Decode(d) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(d.path(), "grants[0]");
}

#[test]
fn errors() {
    let create = CreateToken(
        NewToken::builder()
            .grant("carto_dx", "a.b")
            .allowed_apis([AllowedApi::Sql])
            .build()
            .unwrap(),
    );
    let err = create
        .parse(response(400, &data("error-400-description.json")))
        .unwrap_err();
    let api = err.api_error().unwrap();
    assert_eq!(api.message(), "Invalid grants");
    assert_eq!(api.description(), Some("connection carto_dx not found"));
    let err = ListTokens
        .parse(response(403, &data("error-403-unauthorized-referer.json")))
        .unwrap_err();
    assert!(err.is_unauthorized_referer());
    assert!(
        GetToken::new(API_TOKEN)
            .parse(response(
                404,
                br#"{"error":"Token not found","status":404}"#
            ))
            .unwrap_err()
            .is_not_found()
    );
}
