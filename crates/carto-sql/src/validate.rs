//! Checking credentials with one request: [`Validate`] runs `SELECT 1` through the SQL API
//! and tells apart what can be wrong ([`Validation`]).

use carto_core::{
    ApiError, Endpoint, Error, HttpRequest, HttpResponse, RequestContext, TransportErrorKind,
};
use http::{Method, StatusCode, header};

/// What a credentials check found ([`SqlClient::validate`](crate::SqlClient::validate)).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// The key works: the SQL API ran `SELECT 1` with it.
    Valid,
    /// CARTO does not know this key (401): revoked, regenerated or mistyped.
    InvalidKey,
    /// The key exists but was not granted the SQL API (403 `forbidden`).
    NoSqlGrant,
    /// There is no CARTO user at this base URL (404 from the user's host): a wrong
    /// username or domain.
    UnknownUser,
    /// The base URL answered, but not as CARTO does (an HTML page, another service):
    /// a wrong base URL.
    NotCarto {
        /// The status it answered with.
        status: u16,
    },
    /// The host could not be reached (DNS, refused, unreachable, timed out).
    Unreachable(TransportErrorKind),
}

impl Validation {
    /// Whether the credentials work.
    pub fn is_valid(&self) -> bool {
        *self == Validation::Valid
    }

    /// Turns the result of sending [`Validate`] into the finding: a connection failure
    /// or a timeout is [`Validation::Unreachable`]; other errors stay errors (a TLS
    /// failure, a rate limit, a 5xx).
    pub fn from_result(result: Result<Validation, Error>) -> Result<Validation, Error> {
        match result {
            Err(err) => match err.transport_kind() {
                Some(kind @ (TransportErrorKind::Connect | TransportErrorKind::Timeout)) => {
                    Ok(Validation::Unreachable(kind))
                }
                _ => Err(err),
            },
            ok => ok,
        }
    }
}

/// `GET /api/v2/sql?q=SELECT 1`, answered as a [`Validation`]. Idempotent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Validate;

impl Endpoint for Validate {
    type Output = Validation;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &["api", "v2", "sql"])
            .query("q", "SELECT 1")
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Validation, Error> {
        let status = response.status();
        let json = is_json(&response);
        let error = || ApiError::from_parts(status, response.headers(), response.body());
        Ok(match status {
            StatusCode::OK if json => Validation::Valid,
            StatusCode::UNAUTHORIZED => Validation::InvalidKey,
            StatusCode::FORBIDDEN if json => {
                let error = error();
                if error
                    .messages()
                    .iter()
                    .any(|m| m.eq_ignore_ascii_case("forbidden"))
                {
                    Validation::NoSqlGrant
                } else {
                    return Err(error.into());
                }
            }
            StatusCode::NOT_FOUND if json => Validation::UnknownUser,
            _ if !json => Validation::NotCarto {
                status: status.as_u16(),
            },
            _ => return Err(error().into()),
        })
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// Whether the response says it is JSON (CARTO's APIs always do), or its body looks
/// like a JSON object when it names no type.
fn is_json(response: &HttpResponse) -> bool {
    match response.headers().get(header::CONTENT_TYPE) {
        Some(value) => value
            .to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("json")),
        None => response.body().trim_ascii_start().starts_with(b"{"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, content_type: Option<&str>, body: &str) -> Result<Validation, Error> {
        let mut builder = http::Response::builder().status(status);
        if let Some(ct) = content_type {
            builder = builder.header(header::CONTENT_TYPE, ct);
        }
        Validate.parse(builder.body(body.as_bytes().to_vec()).unwrap())
    }

    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    #[test]
    fn each_answer_is_told_apart() {
        let ok = r#"{"rows":[{"?column?":1}],"time":0.001,"fields":{},"total_rows":1}"#;
        assert_eq!(answer(200, JSON, ok).unwrap(), Validation::Valid);
        assert_eq!(answer(401, None, "").unwrap(), Validation::InvalidKey);
        assert_eq!(
            answer(403, JSON, r#"{"error":["forbidden"]}"#).unwrap(),
            Validation::NoSqlGrant
        );
        assert_eq!(
            answer(403, JSON, r#"{"error":["Forbidden"]}"#).unwrap(),
            Validation::NoSqlGrant
        );
        assert!(
            answer(403, JSON, r#"{"error":["permission denied"]}"#)
                .unwrap_err()
                .is_forbidden()
        );
        assert_eq!(
            answer(
                404,
                JSON,
                r#"{"error":["Sorry, we can't find CARTO user 'x'."]}"#
            )
            .unwrap(),
            Validation::UnknownUser
        );
        assert_eq!(
            answer(200, Some("text/html"), "<html>welcome</html>").unwrap(),
            Validation::NotCarto { status: 200 }
        );
        assert_eq!(
            answer(404, Some("text/html"), "<h1>Not Found</h1>").unwrap(),
            Validation::NotCarto { status: 404 }
        );
        assert!(answer(500, JSON, r#"{"error":["boom"]}"#).is_err());
    }

    #[test]
    fn connection_failures_are_unreachable() {
        let refused = Error::transport(TransportErrorKind::Connect, "refused");
        assert_eq!(
            Validation::from_result(Err(refused)).unwrap(),
            Validation::Unreachable(TransportErrorKind::Connect)
        );
        let tls = Error::transport(TransportErrorKind::Tls, "bad certificate");
        assert!(Validation::from_result(Err(tls)).is_err());
        assert!(
            Validation::from_result(Ok(Validation::Valid))
                .unwrap()
                .is_valid()
        );
    }
}
