//! The one error type of carto-rs, and the parsing of CARTO error bodies.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, StatusCode};

use crate::base_url::BaseUrlError;
use crate::carto3::ApiBaseUrlError;
pub use crate::failure::{CredentialsFailure, InvalidInput, JobFailure, TransportFailure};

/// A boxed error used as the source of transport failures.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of transport failure happened.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportErrorKind {
    /// The connect or the whole request took longer than allowed.
    Timeout,
    /// The connection could not be established (refused, DNS, unreachable).
    Connect,
    /// TLS handshake or certificate verification failed.
    Tls,
    /// Reading or writing the connection failed once established.
    Io,
    /// Anything else the backend reported.
    Other,
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timed out",
            Self::Connect => "connection failed",
            Self::Tls => "TLS failure",
            Self::Io => "I/O failure",
            Self::Other => "transport failure",
        })
    }
}

/// Every error of carto-rs.
///
/// `Display` is one sentence of its own; the underlying cause is reached through
/// [`std::error::Error::source`]. No message ever contains an API key token.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// CARTO answered with an error (a 4xx/5xx status, or a 200 SQL response that
    /// carries an `error` key because the query failed after streaming started).
    #[error("{0}")]
    Api(Box<ApiError>),
    /// The SQL statement ran longer than CARTO allows for this account (a 429 without
    /// `Retry-After`, or the timeout message in a 200 response): sending it again would
    /// time out again, so it is never retried. Long queries belong in the Batch API.
    #[error(
        "the SQL statement ran longer than CARTO allows ({0}); run long queries with the \
         Batch API (`client.batch()`), or make this one faster"
    )]
    StatementTimeout(Box<ApiError>),
    /// The request could not be sent or its response could not be received: its
    /// [`kind`](TransportFailure::kind), the backend's error as its source.
    #[error(transparent)]
    Transport(TransportFailure),
    /// The response was received but could not be decoded.
    #[error("{0}")]
    Decode(Box<DecodeError>),
    /// The input was rejected before any request was sent: [`what`](InvalidInput::what)
    /// and [`why`](InvalidInput::reason).
    #[error(transparent)]
    InvalidInput(InvalidInput),
    /// A base URL could not be parsed or is not one of CARTO's forms.
    #[error("invalid base URL: {0}")]
    BaseUrl(#[from] BaseUrlError),
    /// Credentials could not be loaded or saved: a [`message`](CredentialsFailure::message)
    /// without any secret, the I/O or JSON error behind it as its source.
    #[error(transparent)]
    Credentials(CredentialsFailure),
    /// A batch job ended in a state other than `done`: its
    /// [`job_id`](JobFailure::job_id), [`status`](JobFailure::status) and
    /// [`reason`](JobFailure::reason).
    #[error(transparent)]
    JobFailed(JobFailure),
    /// Waiting for something (a batch job) took longer than the given limit.
    #[error("gave up waiting after {0:?}")]
    WaitTimeout(Duration),
    /// A CARTO 3 API base URL or auth URL could not be parsed or is not one of CARTO
    /// 3's forms.
    #[error("invalid CARTO 3 URL: {0}")]
    ApiBaseUrl(#[from] ApiBaseUrlError),
    /// A synchronous SQL API v3 query went over one of CARTO 3's limits for
    /// synchronous queries (one minute, 200,000 rows). Sending it again would fail
    /// again, so it is never retried: run it as a job, which writes its result to a
    /// table.
    #[error(
        "the query went over CARTO 3's {limit} for synchronous queries ({error}); run it \
         as a SQL API v3 job that writes its result to a table, or make it smaller"
    )]
    QueryLimit {
        /// Which limit.
        limit: QueryLimit,
        /// CARTO's answer.
        error: Box<ApiError>,
    },
}

/// The limits of CARTO 3's synchronous SQL queries.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryLimit {
    /// Synchronous queries time out after one minute.
    Timeout,
    /// Results are capped at 200,000 rows.
    RowCap,
}

impl fmt::Display for QueryLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "one-minute time limit",
            Self::RowCap => "200,000-row cap",
        })
    }
}

impl Error {
    /// An [`Error::InvalidInput`].
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidInput(InvalidInput::new(what, reason))
    }

    /// A transport failure of the given kind.
    pub fn transport(kind: TransportErrorKind, source: impl Into<BoxError>) -> Self {
        Self::Transport(TransportFailure::new(kind, source))
    }

    /// An [`Error::Credentials`] described by `message`, which must not contain a secret.
    pub fn credentials(message: impl Into<String>) -> Self {
        Self::Credentials(CredentialsFailure::new(message))
    }

    /// An [`Error::Credentials`] described by `message` (no secret), caused by `source`.
    pub fn credentials_from(message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Credentials(CredentialsFailure::new(message).with_source(source))
    }

    /// The CARTO error, when this is one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) | Self::StatementTimeout(e) => Some(e),
            Self::QueryLimit { error, .. } => Some(error),
            _ => None,
        }
    }

    /// CARTO's SQL statement timeout ([`Error::StatementTimeout`]).
    pub fn is_statement_timeout(&self) -> bool {
        matches!(self, Self::StatementTimeout(_))
    }

    /// The HTTP status of a CARTO error response.
    pub fn status(&self) -> Option<StatusCode> {
        self.api_error().map(ApiError::status)
    }

    /// The transport failure kind, when this is a transport failure.
    pub fn transport_kind(&self) -> Option<TransportErrorKind> {
        match self {
            Self::Transport(failure) => Some(failure.kind()),
            _ => None,
        }
    }

    /// CARTO's rate limiter refused the request (429 with `Retry-After` or `detail: rate-limit`).
    pub fn is_rate_limited(&self) -> bool {
        self.api_error().is_some_and(ApiError::is_rate_limited)
    }

    /// How long CARTO asked to wait before retrying.
    pub fn retry_after(&self) -> Option<Duration> {
        self.api_error().and_then(ApiError::retry_after)
    }

    /// A timeout: the transport timed out or the SQL statement hit its time limit.
    pub fn is_timeout(&self) -> bool {
        self.transport_kind() == Some(TransportErrorKind::Timeout)
            || self.api_error().is_some_and(ApiError::is_statement_timeout)
    }

    /// 401: the API key is unknown or missing where one is required.
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(StatusCode::UNAUTHORIZED)
    }

    /// 403: the key is known but may not do this.
    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(StatusCode::FORBIDDEN)
    }

    /// 403 `Unauthorized referer`: a CARTO 3 token restricted to other referers.
    pub fn is_unauthorized_referer(&self) -> bool {
        self.api_error()
            .is_some_and(ApiError::is_unauthorized_referer)
    }

    /// Which of CARTO 3's synchronous query limits was hit, if any.
    pub fn query_limit(&self) -> Option<QueryLimit> {
        match self {
            Self::QueryLimit { limit, .. } => Some(*limit),
            _ => None,
        }
    }

    /// 404: the user, the API key or the resource does not exist.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(StatusCode::NOT_FOUND)
    }

    /// 422: CARTO rejected the input (for example a duplicate API key name).
    pub fn is_validation(&self) -> bool {
        self.status() == Some(StatusCode::UNPROCESSABLE_ENTITY)
    }

    /// The input was rejected before any request was sent.
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Self::InvalidInput(_))
    }
}

/// A statement timeout becomes [`Error::StatementTimeout`], any other CARTO error
/// [`Error::Api`].
impl From<ApiError> for Error {
    fn from(value: ApiError) -> Self {
        if value.is_statement_timeout() {
            Self::StatementTimeout(Box::new(value))
        } else {
            Self::Api(Box::new(value))
        }
    }
}

impl From<DecodeError> for Error {
    fn from(value: DecodeError) -> Self {
        Self::Decode(Box::new(value))
    }
}

/// The rate-limit headers CARTO sends on limited endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// `Carto-Rate-Limit-Limit`: requests allowed in a burst.
    pub limit: u64,
    /// `Carto-Rate-Limit-Remaining`: requests left now.
    pub remaining: u64,
    /// `Carto-Rate-Limit-Reset`: seconds until the limit is full again.
    pub reset: Duration,
}

impl RateLimit {
    /// Reads the three `Carto-Rate-Limit-*` headers; `None` unless all three are integers.
    pub fn from_headers(headers: &HeaderMap) -> Option<Self> {
        Some(Self {
            limit: header_u64(headers, "carto-rate-limit-limit")?,
            remaining: header_u64(headers, "carto-rate-limit-remaining")?,
            reset: Duration::from_secs(header_u64(headers, "carto-rate-limit-reset")?),
        })
    }
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// An error answered by CARTO, with everything its body and headers said.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    status: StatusCode,
    messages: Vec<String>,
    context: Option<String>,
    detail: Option<String>,
    hint: Option<String>,
    errors_cause: Option<String>,
    description: Option<String>,
    rate_limit: Option<RateLimit>,
    retry_after: Option<Duration>,
    note: Option<String>,
}

impl ApiError {
    /// Parses an error response: SQL-API style `{"error": [...], "context", "detail", "hint"}`,
    /// Auth-API style `{"errors": string | [..] | {field: msg}, "errors_cause"}`, an empty body,
    /// or a body that is not JSON (its start is kept as the message).
    pub fn from_parts(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        let mut err = ApiError {
            status,
            messages: Vec::new(),
            context: None,
            detail: None,
            hint: None,
            errors_cause: None,
            description: None,
            rate_limit: RateLimit::from_headers(headers),
            retry_after: header_u64(headers, "retry-after").map(Duration::from_secs),
            note: None,
        };
        let trimmed = body.trim_ascii();
        if trimmed.is_empty() {
            return err;
        }
        match serde_json::from_slice::<serde_json::Value>(trimmed) {
            Ok(serde_json::Value::Object(map)) => {
                if let Some(v) = map.get("error") {
                    collect_messages(v, &mut err.messages);
                }
                if let Some(v) = map.get("errors") {
                    collect_messages(v, &mut err.messages);
                }
                let text = |k: &str| map.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                err.context = text("context");
                err.detail = text("detail");
                err.hint = text("hint");
                err.errors_cause = text("errors_cause");
                // CARTO 3 (`description`), OAuth (`error_description`), others (`message`).
                err.description = text("description")
                    .or_else(|| text("error_description"))
                    .or_else(|| text("message"))
                    .filter(|d| !err.messages.contains(d))
                    .map(|d| redact_secrets(&d));
            }
            Ok(other) => collect_messages(&other, &mut err.messages),
            Err(_) => err.messages.push(redact_secrets(&excerpt(trimmed, 200))),
        }
        err
    }

    /// Builds an error from a decoded SQL error document (used for `200` responses that
    /// carry an `error` key).
    pub fn from_sql_error(
        status: StatusCode,
        messages: Vec<String>,
        context: Option<String>,
        detail: Option<String>,
        hint: Option<String>,
    ) -> Self {
        ApiError {
            status,
            messages,
            context,
            detail,
            hint,
            errors_cause: None,
            description: None,
            rate_limit: None,
            retry_after: None,
            note: None,
        }
    }

    /// The same error with a note of the client's (what it did about it, such as
    /// `gave up after 4 attempts`), shown after the message.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// The client's note, if any.
    pub fn note(&self) -> Option<&str> {
        self.note.as_deref()
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The messages of the body (`error` list, or `errors`), possibly empty.
    pub fn messages(&self) -> &[String] {
        &self.messages
    }

    /// The messages joined with `; `, or the status reason when the body had none.
    pub fn message(&self) -> String {
        if self.messages.is_empty() {
            self.status.canonical_reason().unwrap_or("error").to_owned()
        } else {
            self.messages.join("; ")
        }
    }

    /// `context` of a SQL API error (`limit` for rate limits and timeouts).
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// `detail` of a SQL API error (`rate-limit`, `datasource`, or PostgreSQL's detail).
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// `hint` of a SQL API error (PostgreSQL's hint).
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// `errors_cause` of an Auth API error.
    pub fn errors_cause(&self) -> Option<&str> {
        self.errors_cause.as_deref()
    }

    /// `description` of a CARTO 3 error (`error_description` of an OAuth error), when
    /// the body had one besides `error`.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// 403 with `Unauthorized referer`: the CARTO 3 token is restricted to other
    /// `referers` than this request's `Origin`/`Referer`.
    pub fn is_unauthorized_referer(&self) -> bool {
        self.status == StatusCode::FORBIDDEN
            && self
                .messages
                .iter()
                .any(|m| m.eq_ignore_ascii_case("unauthorized referer"))
    }

    /// The `Carto-Rate-Limit-*` headers, when present.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.rate_limit
    }

    /// `Retry-After`, when present and an integer number of seconds.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }

    /// 429 from the rate limiter (not a statement timeout).
    pub fn is_rate_limited(&self) -> bool {
        self.status == StatusCode::TOO_MANY_REQUESTS
            && (self.detail.as_deref() == Some("rate-limit")
                || (self.retry_after.is_some() && self.detail.as_deref() != Some("datasource")))
    }

    /// The SQL statement hit its time limit (429 with `detail: datasource`, or the timeout
    /// message inside a 200 response).
    pub fn is_statement_timeout(&self) -> bool {
        self.detail.as_deref() == Some("datasource")
            || self
                .messages
                .iter()
                .any(|m| m.contains("SQL query timeout error"))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CARTO answered {}: {}",
            self.status.as_u16(),
            self.message()
        )?;
        if let Some(description) = &self.description {
            write!(f, ": {description}")?;
        }
        match &self.note {
            Some(note) => write!(f, " ({note})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

fn collect_messages(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Null => {}
        serde_json::Value::String(s) => out.push(s.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_messages(v, out)),
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let mut inner = Vec::new();
                collect_messages(v, &mut inner);
                out.extend(inner.into_iter().map(|m| format!("{k}: {m}")));
            }
        }
        other => out.push(other.to_string()),
    }
}

/// The start of a body, as text, for error messages.
pub(crate) fn excerpt(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(max)]);
    let mut s = text.into_owned();
    if body.len() > max {
        s.push('…');
    }
    s
}

/// JSON members whose string values are secrets.
const SECRET_KEYS: &[&str] = &["token", "api_key", "map_key", "access_token", "password"];

/// Replaces the string values of secret members (`"token": "..."`) with `<redacted>`;
/// a value cut off by the excerpt is redacted to the end.
fn redact_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while let Some(quote) = rest.find('"') {
        out.push_str(&rest[..=quote]);
        rest = &rest[quote + 1..];
        for key in SECRET_KEYS {
            let Some(after_key) = rest.strip_prefix(key).and_then(|r| r.strip_prefix('"')) else {
                continue;
            };
            let after_colon = after_key.trim_start();
            let Some(after_colon) = after_colon.strip_prefix(':') else {
                continue;
            };
            let Some(value) = after_colon.trim_start().strip_prefix('"') else {
                continue;
            };
            out.push_str(key);
            out.push_str("\":\"<redacted>\"");
            let mut chars = value.char_indices();
            let mut end = value.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    _ => {}
                }
            }
            rest = &value[end..];
            continue 'outer;
        }
    }
    out.push_str(rest);
    out
}

/// A response that could not be decoded into the expected type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    status: StatusCode,
    path: String,
    message: String,
    body_start: String,
}

impl DecodeError {
    /// Records a decode failure at `path` (a JSON path such as `result[2].grants`).
    pub fn new(
        status: StatusCode,
        path: impl Into<String>,
        message: impl Into<String>,
        body: &[u8],
    ) -> Self {
        Self {
            status,
            path: path.into(),
            message: message.into(),
            body_start: redact_secrets(&excerpt(body, 120)),
        }
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// Where in the JSON document decoding failed (`.` for the root).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The decoder's message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The first bytes of the body, as text.
    pub fn body_start(&self) -> &str {
        &self.body_start
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "could not decode the {} response at `{}`: {} (body starts with {:?})",
            self.status.as_u16(),
            self.path,
            self.message,
            self.body_start
        )
    }
}

impl std::error::Error for DecodeError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn sql_error_body() {
        let e = ApiError::from_parts(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"error":["function st_buffer(geometry) does not exist"],"hint":"No function"}"#,
        );
        assert_eq!(
            e.messages(),
            ["function st_buffer(geometry) does not exist"]
        );
        assert_eq!(e.hint(), Some("No function"));
        assert!(!e.is_rate_limited());
    }

    #[test]
    fn auth_error_bodies() {
        let e = ApiError::from_parts(
            StatusCode::NOT_FOUND,
            &HeaderMap::new(),
            br#"{"errors":"API key not found: key1","errors_cause":null}"#,
        );
        assert_eq!(e.message(), "API key not found: key1");
        let e = ApiError::from_parts(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            br#"{"errors":{"callback":"Invalid callback format"}}"#,
        );
        assert_eq!(e.message(), "callback: Invalid callback format");
        let e = ApiError::from_parts(StatusCode::UNAUTHORIZED, &HeaderMap::new(), b"");
        assert_eq!(e.message(), "Unauthorized");
        assert_eq!(e.to_string(), "CARTO answered 401: Unauthorized");
        let e = ApiError::from_parts(
            StatusCode::BAD_GATEWAY,
            &HeaderMap::new(),
            b"<html>bad</html>",
        );
        assert_eq!(e.message(), "<html>bad</html>");
    }

    #[test]
    fn decode_excerpt_redacts_secrets() {
        let body = br#"{"name":"k","token" : "s3cret\"x","api_key":"k2","user":{"password":"p"#;
        let e = DecodeError::new(StatusCode::OK, ".", "bad", body);
        assert_eq!(
            e.body_start(),
            r#"{"name":"k","token":"<redacted>","api_key":"<redacted>","user":{"password":"<redacted>""#
        );
    }

    #[test]
    fn rate_limit_vs_timeout() {
        let h = headers(&[
            ("carto-rate-limit-limit", "2"),
            ("carto-rate-limit-remaining", "0"),
            ("carto-rate-limit-reset", "1"),
            ("retry-after", "1"),
        ]);
        let e = ApiError::from_parts(
            StatusCode::TOO_MANY_REQUESTS,
            &h,
            br#"{"error":["You are over platform's limits. Please contact us to know more details"],"context":"limit","detail":"rate-limit"}"#,
        );
        assert!(e.is_rate_limited());
        assert!(!e.is_statement_timeout());
        assert_eq!(e.retry_after(), Some(Duration::from_secs(1)));
        assert_eq!(e.rate_limit().unwrap().limit, 2);
        let e = ApiError::from_parts(
            StatusCode::TOO_MANY_REQUESTS,
            &HeaderMap::new(),
            br#"{"error":["You are over platform's limits: SQL query timeout error. Refactor your query before running again or contact CARTO support for more details."],"context":"limit","detail":"datasource"}"#,
        );
        assert!(!e.is_rate_limited());
        assert!(Error::from(e).is_timeout());
    }
}
