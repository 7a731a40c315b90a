//! JSON responses: the one way the handlers (Auth API, `/me`, SQL API, Batch, COPY) build
//! an `application/json; charset=utf-8` answer.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;

/// A response with this status, body and `Content-Type: application/json; charset=utf-8`.
pub(crate) fn json_body(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut r = Response::new(body.into());
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

/// `body` serialized, as JSON.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    json_body(status, body.to_string())
}

/// An empty response with a JSON content type (Rails' `head :status`).
pub(crate) fn empty_response(status: StatusCode) -> Response {
    json_body(status, Body::empty())
}
