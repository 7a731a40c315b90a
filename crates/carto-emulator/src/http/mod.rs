//! The HTTP server: the user resolved once ([`tenant`]: Host's first label, `/user/{user}/`,
//! `/u/{user}/`), a route table of handlers ([`routes`]), request parameters ([`Ctx`]), and
//! the endpoints.

mod auth_api;
mod auth_extract;
mod carto3;
mod datasets;
pub(crate) mod faults;
mod imports;
mod json_error;
mod log;
mod maps_api;
mod me;
mod org_users;
#[cfg(test)]
mod prop_tests;
mod routes;
mod sql_api;
mod tenant;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use carto_core::models::ApiKeyType;
use serde_json::{Map, Value};

pub(crate) use crate::response::{empty_response, json_response};
use crate::store::Store;

/// Statement timeouts per key type (`None`: no timeout). By default the Default public key
/// (and requests without a key) has [`DEFAULT_PUBLIC_STATEMENT_TIMEOUT`], as CARTO gives its
/// public role a statement timeout; the master and regular keys have none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatementTimeouts {
    /// For the master key.
    pub master: Option<Duration>,
    /// For the Default public key (and requests without a key).
    pub default: Option<Duration>,
    /// For regular keys.
    pub regular: Option<Duration>,
}

/// The Default public key's statement timeout unless set otherwise: CARTO's for an individual
/// plan. It also bounds what one anonymous request can write to temporary tables (which go
/// with the request's session reset).
pub const DEFAULT_PUBLIC_STATEMENT_TIMEOUT: Duration = Duration::from_secs(15);

impl Default for StatementTimeouts {
    fn default() -> Self {
        Self {
            master: None,
            default: Some(DEFAULT_PUBLIC_STATEMENT_TIMEOUT),
            regular: None,
        }
    }
}

impl StatementTimeouts {
    /// The timeout of keys of this type (the Default public key's for a type it does not
    /// know).
    pub fn of(&self, key_type: ApiKeyType) -> Option<Duration> {
        match key_type {
            ApiKeyType::Master => self.master,
            ApiKeyType::Regular => self.regular,
            _ => self.default,
        }
    }

    /// Sets the timeout of keys of this type (a type it does not know: the Default public
    /// key's).
    pub fn set(&mut self, key_type: ApiKeyType, timeout: Option<Duration>) {
        match key_type {
            ApiKeyType::Master => self.master = timeout,
            ApiKeyType::Regular => self.regular = timeout,
            _ => self.default = timeout,
        }
    }
}

/// Shared state of the server.
pub(crate) struct AppState {
    pub store: Arc<Store>,
    pub timeouts: StatementTimeouts,
    pub sql: Arc<crate::sql::SqlEngine>,
    /// `http` or `https`: the scheme of absolute links.
    pub scheme: &'static str,
    /// The fault rules to play ([`faults`]).
    pub faults: Arc<faults::Faults>,
    /// The Maps API's templates and layergroups ([`maps_api`]).
    pub maps: crate::maps::MapsState,
    /// CARTO 3's accounts and tokens.
    pub carto3: Arc<crate::carto3::Carto3>,
    /// The Import API's jobs.
    pub imports: Arc<crate::imports::Imports>,
}

/// Largest request body read (COPY is not served here).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Builds the axum router.
pub(crate) fn router(state: Arc<AppState>) -> axum::Router {
    let faults = state.faults.clone();
    routes::router(state.clone())
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(faults, faults::inject))
        .layer(axum::middleware::from_fn(log::log_requests))
}

/// A request below its user's prefix: method, headers, path, query and the body read whole.
pub(crate) struct Ctx {
    pub method: Method,
    pub headers: HeaderMap,
    /// The path after the user prefix, e.g. `/api/v3/api_keys`.
    pub rest: String,
    /// `http://{host}{/user/x prefix}`: the base of absolute links.
    pub base: String,
    pub query: Vec<(String, String)>,
    pub body: Bytes,
}

impl Ctx {
    /// The request's head, with an empty body.
    pub fn head(parts: Parts) -> Ctx {
        let query = parts
            .uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        Ctx {
            base: tenant::base(&parts),
            rest: parts.uri.path().to_owned(),
            method: parts.method,
            headers: parts.headers,
            query,
            body: Bytes::new(),
        }
    }

    /// The `Authorization` header, if it is valid UTF-8.
    pub fn authorization(&self) -> Option<&str> {
        self.headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
    }

    /// The `Content-Type` header as sent (empty when missing or not UTF-8).
    fn raw_content_type(&self) -> &str {
        self.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The `Content-Type` header lower-cased, for comparing media types.
    fn content_type(&self) -> String {
        self.raw_content_type().to_ascii_lowercase()
    }

    /// The body as parameters: a JSON object, or form fields. `Err` for malformed
    /// JSON. GET and HEAD bodies are ignored.
    pub fn body_params(&self) -> Result<Map<String, Value>, String> {
        if self.method == Method::GET || self.method == Method::HEAD || self.body.is_empty() {
            return Ok(Map::new());
        }
        let ct = self.content_type();
        if ct.starts_with("application/json") || ct.ends_with("+json") {
            match serde_json::from_slice::<Value>(&self.body) {
                Ok(Value::Object(m)) => Ok(m),
                Ok(_) => Ok(Map::new()),
                Err(e) => Err(json_error::message(&self.body).unwrap_or_else(|| e.to_string())),
            }
        } else if ct.starts_with("application/x-www-form-urlencoded") {
            Ok(pairs_to_map(
                url::form_urlencoded::parse(&self.body)
                    .into_owned()
                    .collect(),
            ))
        } else if ct.starts_with("multipart/form-data") {
            // The boundary is case-sensitive: read it from the header as sent.
            Ok(pairs_to_map(multipart_fields(
                self.raw_content_type(),
                &self.body,
            )))
        } else {
            Ok(Map::new())
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for Ctx {
    type Rejection = Response;

    /// Reads the body whole, up to [`MAX_BODY`] (beyond: the SQL API's 413).
    async fn from_request(request: Request, _: &S) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let mut ctx = Ctx::head(parts);
        ctx.body = axum::body::to_bytes(body, MAX_BODY)
            .await
            .map_err(|_| sql_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"))?;
        Ok(ctx)
    }
}

/// Parameters as JSON: the last value of a repeated name wins.
pub(crate) fn pairs_to_map(pairs: Vec<(String, String)>) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k, Value::String(v));
    }
    m
}

/// Top-level body parameters as `(name, text)` pairs (strings and numbers), for
/// credential extraction.
pub(crate) fn map_to_pairs(m: &Map<String, Value>) -> Vec<(String, String)> {
    m.iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k.clone(), s.clone())),
            Value::Number(n) => Some((k.clone(), n.to_string())),
            _ => None,
        })
        .collect()
}

/// The `boundary` parameter of a `multipart/*` Content-Type, as sent: the parameter name is
/// compared case-insensitively, the value keeps its case and loses its quotes.
fn multipart_boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    let media = parts.next()?.trim();
    if !media
        .get(..10)
        .is_some_and(|m| m.eq_ignore_ascii_case("multipart/"))
    {
        return None;
    }
    parts.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// The text fields of a `multipart/form-data` body (files are skipped); `content_type` is
/// the header as sent (the boundary is case-sensitive).
fn multipart_fields(content_type: &str, body: &[u8]) -> Vec<(String, String)> {
    let Some(boundary) = multipart_boundary(content_type) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    let mut out = Vec::new();
    for part in text.split(&delimiter).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or("");
        if disposition.contains("filename=") {
            continue;
        }
        let Some(name) = disposition.split(';').map(str::trim).find_map(|p| {
            p.strip_prefix("name=")
                .map(|n| n.trim_matches('"').to_owned())
        }) else {
            continue;
        };
        out.push((name, value.strip_suffix("\r\n").unwrap_or(value).to_owned()));
    }
    out
}

/// SQL-API-style error body `{"error":[msg]}`.
pub(crate) fn sql_error(status: StatusCode, message: &str) -> Response {
    json_response(status, &serde_json::json!({ "error": [message] }))
}

/// Adds CARTO's CORS headers (§4.5).
pub(crate) fn with_cors(mut r: Response) -> Response {
    let h = r.headers_mut();
    for name in [
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
    ] {
        h.insert(name, HeaderValue::from_static("*"));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart() {
        let body = "--XX\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\nSELECT 1\r\n--XX\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nbin\r\n--XX\r\nContent-Disposition: form-data; name=\"api_key\"\r\n\r\nk\r\n--XX--\r\n";
        let fields = multipart_fields("multipart/form-data; boundary=XX", body.as_bytes());
        assert_eq!(
            fields,
            vec![
                ("q".to_owned(), "SELECT 1".to_owned()),
                ("api_key".to_owned(), "k".to_owned())
            ]
        );
    }

    #[test]
    fn multipart_boundary_keeps_its_case() {
        let body = "------WebKitFormBoundaryAbC\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\nSELECT 1\r\n------WebKitFormBoundaryAbC--\r\n";
        for ct in [
            "multipart/form-data; boundary=----WebKitFormBoundaryAbC",
            "Multipart/Form-Data; Boundary=\"----WebKitFormBoundaryAbC\"",
            "multipart/form-data;charset=utf-8;BOUNDARY= ----WebKitFormBoundaryAbC ",
        ] {
            assert_eq!(
                multipart_fields(ct, body.as_bytes()),
                vec![("q".to_owned(), "SELECT 1".to_owned())],
                "{ct}"
            );
        }
        // A boundary that differs only by case is another boundary.
        assert!(
            multipart_fields(
                "multipart/form-data; boundary=----webkitformboundaryabc",
                body.as_bytes()
            )
            .is_empty()
        );
        assert_eq!(multipart_boundary("text/plain; boundary=x"), None);
        assert_eq!(multipart_boundary("multipart/form-data"), None);
        assert_eq!(
            multipart_boundary("multipart/form-data; boundary=\"a=b\""),
            Some("a=b".to_owned())
        );
    }
}
