//! Request logging: one `info` line per request, at target `carto_emulator::request`,
//! written by [`log_requests`], a middleware around the router.
//!
//! The line holds the method, the path without its query string (where tokens travel as
//! `api_key=` or `access_token=`) and without the token of a `/v3/tokens/{token}` path, the user, the type of the key that authenticated the request (`none`
//! without one), the status and the time until the response head, e.g.
//!
//! ```text
//! INFO carto_emulator::request: request method=POST path=/user/alice/api/v2/sql user=alice key=master status=200 duration_ms=4
//! ```
//!
//! Nothing of the query string, the headers or the body is logged, so neither a token nor
//! a password is; SQL text is logged at `debug` only (target `carto_emulator::sql`).
//! Handlers report the user and the key through [`note_user`] and [`note_key`], which
//! write into a task-local record of the request being served.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use carto_core::models::ApiKeyType;

/// The target of the request lines.
pub(crate) const REQUEST_TARGET: &str = "carto_emulator::request";

/// What the handlers learn about a request.
#[derive(Default)]
struct Noted {
    user: Option<String>,
    key: Option<ApiKeyType>,
}

tokio::task_local! {
    static NOTED: Arc<Mutex<Noted>>;
}

fn with_noted(f: impl FnOnce(&mut Noted)) {
    // Outside a request (unit tests of handlers) there is nothing to note into.
    let _ = NOTED.try_with(|n| f(&mut n.lock().expect("request log lock")));
}

/// Records the user the request is for.
pub(crate) fn note_user(username: &str) {
    with_noted(|n| n.user = Some(username.to_owned()));
}

/// Records the type of the key that authenticated the request.
pub(crate) fn note_key(key_type: ApiKeyType) {
    with_noted(|n| n.key = Some(key_type));
}

/// A name as it is when it is made of letters, digits, `-`, `_` and `.` only (every valid
/// username is), else quoted, so that a name from a URL cannot forge a log line.
fn plain(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

/// The middleware: runs the request and logs its line.
pub(crate) async fn log_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    // CARTO 3's Tokens API names a token by the token itself: cut from the path.
    let path = carto_core::endpoint::loggable_path(req.uri()).to_owned();
    let noted = Arc::new(Mutex::new(Noted::default()));
    let response = NOTED.scope(noted.clone(), next.run(req)).await;
    let duration_ms = started.elapsed().as_millis() as u64;
    let noted = noted.lock().expect("request log lock");
    tracing::info!(
        target: REQUEST_TARGET,
        method = %method,
        path = %path,
        user = %noted.user.as_deref().map_or_else(|| "-".into(), plain),
        key = %noted.key.map_or("none", |k| k.as_str()),
        status = response.status().as_u16(),
        duration_ms,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_forge_lines() {
        assert_eq!(plain("alice"), "alice");
        assert_eq!(plain("a\nINFO x"), "\"a\\nINFO x\"");
        assert_eq!(plain(""), "\"\"");
    }
}
