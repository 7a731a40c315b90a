//! The HTTP server: user routing (Host's first label, `/user/{user}/`, `/u/{user}/`),
//! request parameters, and the endpoints.

mod auth_api;
mod auth_extract;
pub(crate) mod faults;
mod json_error;
mod log;
mod me;
#[cfg(test)]
mod prop_tests;
mod sql_api;

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use carto_core::models::ApiKeyType;
use serde_json::{Map, Value};

pub(crate) use crate::response::{empty_response, json_response};
use crate::store::{Store, UserRecord};

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
}

/// Largest request body read (COPY is not served here).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Builds the axum router.
pub(crate) fn router(state: Arc<AppState>) -> axum::Router {
    let faults = state.faults.clone();
    axum::Router::new()
        .fallback(dispatch)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(faults, faults::inject))
        .layer(axum::middleware::from_fn(log::log_requests))
}

/// A request with its user resolved.
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

fn unknown_user(user: &str) -> Response {
    sql_error(
        StatusCode::NOT_FOUND,
        &format!(
            "Sorry, we can't find CARTO user '{user}'. Please check that you have entered the correct domain."
        ),
    )
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

async fn dispatch(
    axum::extract::State(state): axum::extract::State<Arc<AppState>>,
    req: axum::extract::Request,
) -> Response {
    let (parts, body) = req.into_parts();
    let uri: Uri = parts.uri;
    let path = uri.path().to_owned();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let is_sql = |rest: &str| sql_kind(rest).is_some();

    // The user: /user/{u}/..., /u/{u}/..., else the Host's first label.
    let mut prefixed = None;
    for prefix in ["/user/", "/u/"] {
        if let Some(after) = path.strip_prefix(prefix) {
            let (u, rest) = after.split_at(after.find('/').unwrap_or(after.len()));
            if !u.is_empty() {
                prefixed = Some((
                    percent_decode(u),
                    rest.to_owned(),
                    format!("{}{}", prefix, u),
                ));
            }
            break;
        }
    }
    let (username, rest, prefix) = match prefixed {
        Some(p) => p,
        None => {
            // An IP address or a single-label name (`localhost`) names no user.
            let hostname = match host.strip_prefix('[') {
                Some(v6) => v6.split(']').next().unwrap_or(""),
                None => host.split(':').next().unwrap_or(""),
            };
            let is_ip = hostname.parse::<std::net::IpAddr>().is_ok();
            match hostname.split_once('.') {
                Some((label, _)) if !label.is_empty() && !is_ip => {
                    (label.to_owned(), path.clone(), String::new())
                }
                _ => {
                    let r = sql_error(
                        StatusCode::BAD_REQUEST,
                        &format!("No username found in hostname '{host}'"),
                    );
                    return if is_sql(&path) { with_cors(r) } else { r };
                }
            }
        }
    };

    let kind = sql_kind(&rest);
    let sql = kind.is_some();
    if sql && parts.method == Method::OPTIONS {
        let mut r = (StatusCode::OK, Body::empty()).into_response();
        r.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        return with_cors(r);
    }
    log::note_user(&username);
    let Some(user) = state.store.user(&username) else {
        // The Auth API authenticates first: an unknown user is a failed authentication.
        if Endpoint::of(&parts.method, &rest).is_some_and(|e| e.is_auth_api()) {
            return empty_response(StatusCode::UNAUTHORIZED);
        }
        let r = unknown_user(&username);
        return if sql { with_cors(r) } else { r };
    };
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let mut ctx = Ctx {
        method: parts.method,
        headers: parts.headers,
        rest,
        base: format!("{}://{host}{prefix}", state.scheme),
        query,
        body: Bytes::new(),
    };
    if kind == Some(SqlKind::CopyFrom) {
        // The upload is streamed into PostgreSQL, never buffered.
        let r = if ctx.method == Method::POST {
            sql_api::copy_from(&state, &user, ctx, body).await
        } else {
            not_found()
        };
        return finish_sql(&user, r);
    }
    ctx.body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let r = sql_error(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
            return if sql { with_cors(r) } else { r };
        }
    };
    match kind {
        Some(SqlKind::Query) => finish_sql(&user, sql_api::handle(&state, &user, ctx).await),
        Some(SqlKind::Job) => finish_sql(&user, sql_api::job(&state, &user, ctx).await),
        Some(SqlKind::CopyTo) => finish_sql(&user, sql_api::copy_to(&state, &user, ctx).await),
        _ => route(&state, &user, ctx).await,
    }
}

/// Which SQL API endpoint a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SqlKind {
    /// `/api/{v}/sql`.
    Query,
    /// `/api/{v}/sql/copyfrom`.
    CopyFrom,
    /// `/api/{v}/sql/copyto`.
    CopyTo,
    /// `/api/{v}/sql/job` and `/api/{v}/sql/job/{id}`.
    Job,
}

fn sql_kind(rest: &str) -> Option<SqlKind> {
    let segs: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match segs.as_slice() {
        ["", "api", _, "sql"] => Some(SqlKind::Query),
        ["", "api", _, "sql", "copyfrom"] => Some(SqlKind::CopyFrom),
        ["", "api", _, "sql", "copyto"] => Some(SqlKind::CopyTo),
        ["", "api", _, "sql", "job"] | ["", "api", _, "sql", "job", _] => Some(SqlKind::Job),
        _ => None,
    }
}

/// CARTO's headers on every SQL API answer: user, user id, CORS.
fn finish_sql(user: &UserRecord, mut r: Response) -> Response {
    const USER: HeaderName = HeaderName::from_static("carto-user");
    const USER_ID: HeaderName = HeaderName::from_static("carto-user-id");
    for (name, value) in [(USER, &user.username), (USER_ID, &user.id)] {
        if let Ok(v) = HeaderValue::from_str(value) {
            r.headers_mut().insert(name, v);
        }
    }
    with_cors(r)
}

fn not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"errors": "Not found", "errors_cause": null}),
    )
}

/// The endpoints other than the SQL API's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Endpoint {
    /// `GET /api/v3/api_keys`.
    ListKeys,
    /// `POST /api/v3/api_keys`.
    CreateKey,
    /// `GET /api/v3/api_keys/{name}`.
    ShowKey(String),
    /// `DELETE /api/v3/api_keys/{name}`.
    DestroyKey(String),
    /// `POST /api/v3/api_keys/{name}/token/regenerate`.
    RegenerateKey(String),
    /// `GET /api/v3/me`.
    Me,
    /// `GET /api/v4/do/token`.
    DoToken,
}

impl Endpoint {
    /// The endpoint of a method and a path below the user's prefix.
    fn of(method: &Method, rest: &str) -> Option<Endpoint> {
        let segs: Vec<String> = rest
            .strip_prefix('/')
            .unwrap_or(rest)
            .split('/')
            .map(percent_decode)
            .collect();
        let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
        let name = |n: &str| n.to_owned();
        Some(match (method, segs.as_slice()) {
            (&Method::GET, ["api", "v3", "api_keys"] | ["api", "v3", "api_keys", ""]) => {
                Endpoint::ListKeys
            }
            (&Method::POST, ["api", "v3", "api_keys"] | ["api", "v3", "api_keys", ""]) => {
                Endpoint::CreateKey
            }
            (&Method::GET, ["api", "v3", "api_keys", n] | ["api", "v3", "api_keys", n, ""]) => {
                Endpoint::ShowKey(name(n))
            }
            (&Method::DELETE, ["api", "v3", "api_keys", n] | ["api", "v3", "api_keys", n, ""]) => {
                Endpoint::DestroyKey(name(n))
            }
            (&Method::POST, ["api", "v3", "api_keys", n, "token", "regenerate"]) => {
                Endpoint::RegenerateKey(name(n))
            }
            (&Method::GET, ["api", "v3", "me"] | ["api", "v3", "me", ""]) => Endpoint::Me,
            (&Method::GET, ["api", "v4", "do", "token"] | ["api", "v4", "do", "token", ""]) => {
                Endpoint::DoToken
            }
            _ => return None,
        })
    }

    /// Whether it is an Auth API endpoint (`/api/v3/api_keys`).
    fn is_auth_api(&self) -> bool {
        !matches!(self, Endpoint::Me | Endpoint::DoToken)
    }
}

async fn route(state: &AppState, user: &UserRecord, ctx: Ctx) -> Response {
    match Endpoint::of(&ctx.method, &ctx.rest) {
        Some(Endpoint::ListKeys) => auth_api::list(state, user, ctx).await,
        Some(Endpoint::CreateKey) => auth_api::create(state, user, ctx).await,
        Some(Endpoint::ShowKey(name)) => auth_api::show(state, user, ctx, &name).await,
        Some(Endpoint::DestroyKey(name)) => auth_api::destroy(state, user, ctx, &name).await,
        Some(Endpoint::RegenerateKey(name)) => auth_api::regenerate(state, user, ctx, &name).await,
        Some(Endpoint::Me) => me::me(state, user, ctx).await,
        Some(Endpoint::DoToken) => me::do_token(state, user, ctx).await,
        None => not_found(),
    }
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
    fn endpoints() {
        let of = |m: Method, p: &str| Endpoint::of(&m, p);
        assert_eq!(
            of(Method::GET, "/api/v3/api_keys"),
            Some(Endpoint::ListKeys)
        );
        assert_eq!(
            of(Method::POST, "/api/v3/api_keys/"),
            Some(Endpoint::CreateKey)
        );
        assert_eq!(
            of(Method::GET, "/api/v3/api_keys/Default%20public"),
            Some(Endpoint::ShowKey("Default public".into()))
        );
        assert_eq!(
            of(Method::DELETE, "/api/v3/api_keys/k/"),
            Some(Endpoint::DestroyKey("k".into()))
        );
        assert_eq!(
            of(Method::POST, "/api/v3/api_keys/k/token/regenerate"),
            Some(Endpoint::RegenerateKey("k".into()))
        );
        assert_eq!(of(Method::PUT, "/api/v3/api_keys/k"), None);
        assert_eq!(of(Method::GET, "/api/v3/me"), Some(Endpoint::Me));
        assert_eq!(
            of(Method::GET, "/api/v4/do/token/"),
            Some(Endpoint::DoToken)
        );
        assert!(of(Method::GET, "/api/v3/api_keys").unwrap().is_auth_api());
        assert!(!Endpoint::Me.is_auth_api());
        assert!(!Endpoint::DoToken.is_auth_api());
    }

    #[test]
    fn sql_paths() {
        assert_eq!(sql_kind("/api/v2/sql"), Some(SqlKind::Query));
        assert_eq!(sql_kind("/api/v1/sql/"), Some(SqlKind::Query));
        assert_eq!(sql_kind("/api/v2/sql/copyfrom"), Some(SqlKind::CopyFrom));
        assert_eq!(sql_kind("/api/v2/sql/copyto"), Some(SqlKind::CopyTo));
        assert_eq!(sql_kind("/api/v2/sql/job"), Some(SqlKind::Job));
        assert_eq!(sql_kind("/api/v2/sql/job/abc"), Some(SqlKind::Job));
        assert_eq!(sql_kind("/api/v2/sql/jobs"), None);
        assert_eq!(sql_kind("/api/v3/api_keys"), None);
    }

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
