//! The user of a request, resolved once in front of the user's route table.
//!
//! [`resolve`] is a middleware around the user's routes: it finds the user in the path
//! (`/user/{user}/...`, `/u/{user}/...`) or else in the Host's first label (`{user}.host`),
//! looks them up, puts a [`Tenant`] in the request's extensions and hands the route table
//! the path below the user's prefix (`/api/v2/sql`), so one table serves the three forms.
//!
//! Handlers take the user through an extractor that answers a missing or unknown user the
//! way its API does: [`User`] (SQL API, `/me`, unknown paths) with the SQL API's 404,
//! [`KeyOwner`] (Auth API, which authenticates first) with Rails' empty 401. Both answer a
//! Host that names no user (an IP address, `localhost`) with the SQL API's 400.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{AppState, empty_response, log, sql_error};
use crate::store::UserRecord;

/// Who a request is for, as [`resolve`] found it.
#[derive(Clone)]
pub(crate) enum Tenant {
    /// No user in the path, and a Host that names none.
    Missing {
        /// The Host as sent.
        host: String,
    },
    /// A user named by the path or the Host.
    Named {
        /// The name, percent-decoded.
        name: String,
        /// `{scheme}://{host}{/user/x prefix}`: the base of absolute links.
        base: String,
        /// The user, `None` when there is no such user.
        record: Option<Arc<UserRecord>>,
    },
}

/// Where a request's path names its user: the name, the path below the prefix, the
/// prefix as sent (empty when the Host names the user).
#[derive(Debug, PartialEq, Eq)]
struct Located {
    name: String,
    rest: String,
    prefix: String,
}

/// The user of a path and Host: `/user/{u}/...`, `/u/{u}/...`, else the Host's first label.
/// `None` when neither names one (an IP address or a single-label Host names no user).
fn locate(host: &str, path: &str) -> Option<Located> {
    for prefix in ["/user/", "/u/"] {
        if let Some(after) = path.strip_prefix(prefix) {
            let (name, rest) = after.split_at(after.find('/').unwrap_or(after.len()));
            if !name.is_empty() {
                return Some(Located {
                    name: percent_decode(name),
                    rest: rest.to_owned(),
                    prefix: format!("{prefix}{name}"),
                });
            }
            break;
        }
    }
    let hostname = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    if hostname.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    match hostname.split_once('.') {
        Some((label, _)) if !label.is_empty() => Some(Located {
            name: label.to_owned(),
            rest: path.to_owned(),
            prefix: String::new(),
        }),
        _ => None,
    }
}

/// A path segment percent-decoded (invalid UTF-8 replaced).
pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// `uri` with another path, its query kept.
fn with_path(uri: &Uri, path: &str) -> Option<Uri> {
    let path = if path.is_empty() { "/" } else { path };
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(path_and_query.parse().ok()?);
    Uri::from_parts(parts).ok()
}

/// The middleware: resolves the user, then serves the path below the user's prefix.
pub(crate) async fn resolve(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let tenant = match locate(&host, request.uri().path()) {
        Some(Located { name, rest, prefix }) => {
            if let Some(uri) = with_path(request.uri(), &rest) {
                *request.uri_mut() = uri;
            }
            Tenant::Named {
                record: state.store.user(&name),
                base: format!("{}://{host}{prefix}", state.scheme),
                name,
            }
        }
        None => Tenant::Missing { host },
    };
    request.extensions_mut().insert(tenant);
    let mut response = next.run(request).await;
    // axum names a path's methods in `Allow` when it answers another one; CARTO's 404 for
    // a method a path does not serve names none.
    response.headers_mut().remove(header::ALLOW);
    response
}

/// The SQL API's answer to a Host that names no user.
fn no_user(host: &str) -> Response {
    sql_error(
        StatusCode::BAD_REQUEST,
        &format!("No username found in hostname '{host}'"),
    )
}

/// The SQL API's answer to a user that does not exist.
fn unknown_user(name: &str) -> Response {
    sql_error(
        StatusCode::NOT_FOUND,
        &format!(
            "Sorry, we can't find CARTO user '{name}'. Please check that you have entered the correct domain."
        ),
    )
}

fn tenant(parts: &Parts) -> Tenant {
    parts
        .extensions
        .get::<Tenant>()
        .cloned()
        .unwrap_or(Tenant::Missing {
            host: String::new(),
        })
}

/// The user of the request, noted in the request log; `unknown` answers a name with no user.
fn known(parts: &Parts, unknown: fn(&str) -> Response) -> Result<User, Response> {
    match tenant(parts) {
        Tenant::Missing { host } => Err(no_user(&host)),
        Tenant::Named { name, record, .. } => {
            log::note_user(&name);
            record
                .map(|record| User { record })
                .ok_or_else(|| unknown(&name))
        }
    }
}

/// The request names a user (who may not exist); nothing is looked up or noted.
pub(crate) struct Named;

impl<S: Send + Sync> FromRequestParts<S> for Named {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        match tenant(parts) {
            Tenant::Missing { host } => Err(no_user(&host)),
            Tenant::Named { .. } => Ok(Named),
        }
    }
}

/// The user of the request; an unknown user gets the SQL API's 404.
pub(crate) struct User {
    record: Arc<UserRecord>,
}

impl Deref for User {
    type Target = UserRecord;

    fn deref(&self) -> &UserRecord {
        &self.record
    }
}

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        known(parts, unknown_user)
    }
}

/// The user whose API keys the Auth API serves; an unknown user is a failed
/// authentication (Rails' empty 401).
pub(crate) struct KeyOwner(User);

impl Deref for KeyOwner {
    type Target = UserRecord;

    fn deref(&self) -> &UserRecord {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for KeyOwner {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        known(parts, |_| empty_response(StatusCode::UNAUTHORIZED)).map(KeyOwner)
    }
}

/// The base of absolute links of the request (empty without a user).
pub(crate) fn base(parts: &Parts) -> String {
    match parts.extensions.get::<Tenant>() {
        Some(Tenant::Named { base, .. }) => base.clone(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn located(name: &str, rest: &str, prefix: &str) -> Option<Located> {
        Some(Located {
            name: name.into(),
            rest: rest.into(),
            prefix: prefix.into(),
        })
    }

    #[test]
    fn users_in_paths_and_hosts() {
        let host = "localhost:8080";
        assert_eq!(
            locate(host, "/user/alice/api/v2/sql"),
            located("alice", "/api/v2/sql", "/user/alice")
        );
        assert_eq!(
            locate(host, "/u/a%20b/api/v3/me"),
            located("a b", "/api/v3/me", "/u/a%20b")
        );
        assert_eq!(
            locate(host, "/user/alice"),
            located("alice", "", "/user/alice")
        );
        // The path wins over the Host.
        assert_eq!(
            locate("bob.localhost", "/user/alice/x"),
            located("alice", "/x", "/user/alice")
        );
        assert_eq!(
            locate("alice.localhost:8080", "/api/v2/sql"),
            located("alice", "/api/v2/sql", "")
        );
        // An empty name in the path: the Host's.
        assert_eq!(
            locate("alice.localhost", "/user//api"),
            located("alice", "/user//api", "")
        );
        for host in ["localhost:8080", "127.0.0.1:8080", "[::1]:8080", "", ".x"] {
            assert_eq!(locate(host, "/api/v2/sql"), None, "{host}");
        }
    }

    #[test]
    fn paths_keep_their_query() {
        let uri: Uri = "/user/alice/api/v2/sql?q=SELECT+1".parse().unwrap();
        assert_eq!(
            with_path(&uri, "/api/v2/sql").unwrap(),
            "/api/v2/sql?q=SELECT+1"
        );
        let uri: Uri = "http://h/user/alice".parse().unwrap();
        assert_eq!(with_path(&uri, "").unwrap(), "http://h/");
    }
}
