//! HTTP messages for endpoint tests with no server: a stable rendering of a request for
//! golden snapshots, and a JSON response to parse.

use carto_core::{HttpRequest, HttpResponse};

/// The whole request as text: method and URI, the headers sorted (a sensitive value marked
/// `(sensitive)`), a blank line, the body. Tests use fake tokens, so nothing secret is shown.
pub fn render_request(req: &HttpRequest) -> String {
    let mut headers: Vec<String> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            let sensitive = if v.is_sensitive() { " (sensitive)" } else { "" };
            format!("{k}: {}{sensitive}", v.to_str().unwrap())
        })
        .collect();
    headers.sort();
    format!(
        "{} {}\n{}\n\n{}",
        req.method(),
        req.uri(),
        headers.join("\n"),
        String::from_utf8_lossy(req.body())
    )
}

/// A response with `status`, `Content-Type: application/json; charset=utf-8` and `body`.
pub fn json_response(status: u16, body: &[u8]) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(body.to_vec())
        .unwrap()
}
