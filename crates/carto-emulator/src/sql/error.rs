//! SQL API error bodies and the status mapping of §4.4.

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::sql::answer::{AnswerBody, SqlAnswer};

use crate::sql::value::write_json_str;
use crate::sql::wire::DbError;

/// The message CARTO sends for a statement timeout.
pub(crate) const TIMEOUT_MESSAGE: &str = "You are over platform's limits: SQL query timeout error. Refactor your query before running again or contact CARTO support for more details.";

/// The message CARTO sends when a user is over its request rate or concurrency limits.
pub(crate) const RATE_LIMIT_MESSAGE: &str =
    "You are over platform's limits. Please contact us to know more details";

/// An SQL API error: `{"error":[message],"context"?,"detail"?,"hint"?}` with a status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) context: Option<String>,
    pub(crate) detail: Option<String>,
    pub(crate) hint: Option<String>,
    /// Seconds for a `Retry-After` header.
    pub(crate) retry_after: Option<u32>,
}

impl ApiError {
    /// An error with a status and a message only.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            context: None,
            detail: None,
            hint: None,
            retry_after: None,
        }
    }

    /// 400 with a message.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// The 500 CARTO answers when the database cannot be reached.
    pub(crate) fn cannot_connect() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot connect to the database",
        )
    }

    /// The 429 of a statement timeout.
    pub(crate) fn timeout() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: TIMEOUT_MESSAGE.to_string(),
            context: Some("limit".to_string()),
            detail: Some("datasource".to_string()),
            hint: None,
            retry_after: None,
        }
    }

    /// CARTO's rate-limit answer: 429 with `Retry-After: 1`, for a request that got no
    /// database session within the queue timeout.
    pub(crate) fn rate_limited() -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: RATE_LIMIT_MESSAGE.to_string(),
            context: Some("limit".to_string()),
            detail: Some("rate-limit".to_string()),
            hint: None,
            retry_after: Some(1),
        }
    }

    /// The answer to a synchronous CARTO 3 query returning more than `cap` rows.
    pub(crate) fn row_cap(cap: u64) -> Self {
        Self::bad_request(format!(
            "The query returned more than {cap} rows, the maximum number of rows of a synchronous query: run it as a job (POST /v3/sql/{{connection}}/job) that writes its result to a table"
        ))
    }

    /// Maps a PostgreSQL error: timeouts 429, `permission denied` 403, anything else 400 with
    /// PostgreSQL's message, detail and hint.
    pub(crate) fn from_db(e: &DbError) -> Self {
        if is_timeout(&e.message) {
            return Self::timeout();
        }
        if e.code == crate::sql::guard::GUARD_SQLSTATE {
            return Self::new(StatusCode::FORBIDDEN, "system tables are forbidden");
        }
        let status = if e.message.contains("permission denied") {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::BAD_REQUEST
        };
        // An empty detail or hint (as the guard re-raises an error without one) is none.
        let some = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
        Self {
            status,
            message: e.message.clone(),
            context: None,
            detail: some(&e.detail),
            hint: some(&e.hint),
            retry_after: None,
        }
    }

    /// The compact JSON body, keys in CARTO's order.
    pub(crate) fn body_json(&self) -> String {
        let mut s = String::from("{\"error\":[");
        write_json_str(&mut s, &self.message);
        s.push(']');
        for (key, value) in [
            ("context", &self.context),
            ("detail", &self.detail),
            ("hint", &self.hint),
        ] {
            if let Some(v) = value {
                s.push_str(&format!(",\"{key}\":"));
                write_json_str(&mut s, v);
            }
        }
        s.push('}');
        s
    }

    /// The answer; with a JSONP `callback` the status is 200 and the body is wrapped as
    /// Express' `res.jsonp` does. `Retry-After` is sent either way.
    pub(crate) fn into_answer(self, callback: Option<&str>) -> SqlAnswer {
        let json = self.body_json();
        let (status, body, content_type) = match callback.map(sanitize_jsonp_callback) {
            Some(cb) if !cb.is_empty() => (
                StatusCode::OK,
                format!("/**/ typeof {cb} === 'function' && {cb}({json});"),
                "text/javascript; charset=utf-8",
            ),
            _ => (self.status, json, "application/json; charset=utf-8"),
        };
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static("inline"),
        );
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        SqlAnswer::new(status, headers, AnswerBody::Whole(Bytes::from(body)))
    }
}

/// Whether a PostgreSQL message is one of the timeouts the SQL API turns into a 429.
pub(crate) fn is_timeout(message: &str) -> bool {
    message.contains("statement timeout")
        || message.contains("canceling statement due to user request")
        || message.contains("Execution of function interrupted by signal")
}

/// Express' JSONP callback sanitation: keeps `[`, `]`, word characters, `$` and `.`.
pub(crate) fn sanitize_jsonp_callback(cb: &str) -> String {
    cb.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.' | '[' | ']'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(message: &str, detail: Option<&str>, hint: Option<&str>) -> DbError {
        DbError {
            severity: "ERROR".to_string(),
            code: "XX000".to_string(),
            message: message.to_string(),
            detail: detail.map(str::to_string),
            hint: hint.map(str::to_string),
        }
    }

    #[test]
    fn status_mapping() {
        let e = ApiError::from_db(&db("permission denied for table private_table", None, None));
        assert_eq!(e.status, StatusCode::FORBIDDEN);
        assert_eq!(
            e.body_json(),
            r#"{"error":["permission denied for table private_table"]}"#
        );

        let e = ApiError::from_db(&db("syntax error at or near \"and\"", None, None));
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            e.body_json(),
            r#"{"error":["syntax error at or near \"and\""]}"#
        );

        let e = ApiError::from_db(&db(
            "function st_buffer(geometry) does not exist",
            None,
            Some(
                "No function matches the given name and argument types. You might need to add explicit type casts.",
            ),
        ));
        assert_eq!(
            e.body_json(),
            r#"{"error":["function st_buffer(geometry) does not exist"],"hint":"No function matches the given name and argument types. You might need to add explicit type casts."}"#
        );

        let e = ApiError::from_db(&db(
            "duplicate key",
            Some("Key (id)=(1) already exists."),
            None,
        ));
        assert_eq!(
            e.body_json(),
            r#"{"error":["duplicate key"],"detail":"Key (id)=(1) already exists."}"#
        );

        let e = ApiError::from_db(&db(
            "canceling statement due to statement timeout",
            None,
            None,
        ));
        assert_eq!(e.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            e.body_json(),
            r#"{"error":["You are over platform's limits: SQL query timeout error. Refactor your query before running again or contact CARTO support for more details."],"context":"limit","detail":"datasource"}"#
        );
        assert_eq!(
            ApiError::cannot_connect().status,
            StatusCode::INTERNAL_SERVER_ERROR
        );
    }

    #[test]
    fn jsonp_errors_are_200() {
        let r = ApiError::bad_request("x").into_answer(Some("cb<script>"));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
        let r = ApiError::bad_request("x").into_answer(None);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        assert_eq!(r.headers()[header::CONTENT_DISPOSITION], "inline");
        assert_eq!(sanitize_jsonp_callback("cb<script>"), "cbscript");
    }

    #[test]
    fn rate_limited_is_429_with_retry_after() {
        let e = ApiError::rate_limited();
        assert_eq!(
            e.body_json(),
            r#"{"error":["You are over platform's limits. Please contact us to know more details"],"context":"limit","detail":"rate-limit"}"#
        );
        let r = e.clone().into_answer(None);
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/json; charset=utf-8"
        );
        // JSONP: 200, the error wrapped, the header kept.
        let r = e.into_answer(Some("cb"));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert!(
            ApiError::bad_request("x")
                .into_answer(None)
                .headers()
                .get(header::RETRY_AFTER)
                .is_none()
        );
    }
}
