//! Helpers shared by the test files: fixtures, a request context with a fake token, a
//! stable request renderer.
#![allow(dead_code)]

use carto_core::{AuthPlacement, BaseUrl, Credentials, HttpResponse, RequestContext};
pub use carto_test_support::render_request as render;

pub const FAKE_TOKEN: &str = "fake-token-0123";

/// SQL API fixture `name` (under `sql-api/`).
pub fn data(name: &str) -> Vec<u8> {
    carto_test_support::fixture(&format!("sql-api/{name}")).to_vec()
}

pub fn ctx(auth: AuthPlacement) -> RequestContext {
    let creds = Credentials::new(
        BaseUrl::parse("https://alice.carto.com").unwrap(),
        FAKE_TOKEN,
    );
    RequestContext::new(creds).with_auth_placement(auth)
}

/// SQL API fixture `name` as a response (with its upstream headers when it has them).
pub fn fixture_response(name: &str, status: u16) -> HttpResponse {
    carto_test_support::fixture_response(&format!("sql-api/{name}"), status)
}

pub fn response(status: u16, body: &[u8]) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .body(body.to_vec())
        .unwrap()
}
