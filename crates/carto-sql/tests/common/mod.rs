//! Helpers shared by the test files: fixtures, a request context with a fake token, a
//! stable request renderer.
#![allow(dead_code)]

use carto_core::{AuthPlacement, BaseUrl, Credentials, HttpRequest, HttpResponse, RequestContext};

pub const FAKE_TOKEN: &str = "fake-token-0123";

pub fn data(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn ctx(auth: AuthPlacement) -> RequestContext {
    let creds = Credentials::new(
        BaseUrl::parse("https://alice.carto.com").unwrap(),
        FAKE_TOKEN,
    );
    RequestContext::new(creds).with_auth_placement(auth)
}

/// A fixture response: the status and headers of `<name>.headers.txt` when it exists,
/// else `status` with a JSON content type.
pub fn fixture_response(name: &str, status: u16) -> HttpResponse {
    let mut builder = http::Response::builder().status(status);
    let headers = format!(
        "{}/tests/data/{}.headers.txt",
        env!("CARGO_MANIFEST_DIR"),
        name.trim_end_matches(".json")
    );
    match std::fs::read_to_string(&headers) {
        Ok(text) => {
            let mut lines = text.lines();
            let status_line = lines.next().unwrap();
            let code: u16 = status_line.split(' ').nth(1).unwrap().parse().unwrap();
            builder = builder.status(code);
            for line in lines {
                let (k, v) = line.split_once(": ").unwrap();
                builder = builder.header(k, v);
            }
        }
        Err(_) => builder = builder.header("content-type", "application/json; charset=utf-8"),
    }
    builder.body(data(name)).unwrap()
}

pub fn response(status: u16, body: &[u8]) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .body(body.to_vec())
        .unwrap()
}

/// A stable rendering of the whole request (the token is a fake one).
pub fn render(req: &HttpRequest) -> String {
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
