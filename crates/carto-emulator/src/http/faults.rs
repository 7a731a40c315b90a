//! Fault injection: the emulator answers chosen requests with a failure instead of (or
//! after) serving them, so clients' retries and error handling can be tested, the SDK's
//! and its users' own.
//!
//! A [`FaultRule`] says which requests (method, API path) and how many of them get a
//! [`Fault`]; rules are given to the builder ([`EmulatorBuilder::fault`]), to a running
//! emulator ([`Emulator::inject_fault`]) or on the command line (`--fault`). The first
//! matching rule with requests left is used, and spent once its count is.
//!
//! Dropping a connection needs the socket: every connection is wrapped in a [`Killable`]
//! stream whose kill switch reaches the middleware as connection info; once killed, the
//! stream refuses to write, so the client gets no response at all and the connection
//! closes.
//!
//! [`EmulatorBuilder::fault`]: crate::EmulatorBuilder::fault
//! [`Emulator::inject_fault`]: crate::Emulator::inject_fault

use std::fmt;
use std::io;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::sql::error::ApiError;

/// A failure played for a request.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// CARTO's rate limiter: 429 with `Retry-After`, the `Carto-Rate-Limit-*` headers
    /// and its body. The request is not run.
    RateLimited {
        /// Seconds in `Retry-After` and `Carto-Rate-Limit-Reset`.
        retry_after: u32,
    },
    /// CARTO's statement timeout: 429 without `Retry-After`, its body
    /// (`detail: datasource`). The request is not run.
    StatementTimeout,
    /// This status (for example 502, 503 or 504) with a short JSON error body. The
    /// request is not run.
    Status(u16),
    /// The connection is closed without an answer; the request is not run.
    Drop,
    /// The request is run (a key is created, a job queued...), then the connection is
    /// closed without an answer: the client cannot know it acted.
    DropAfter,
    /// The request is served after this pause: a slow server.
    Delay(Duration),
}

/// Which requests get a [`Fault`], and how many of them.
///
/// ```
/// use carto_emulator::{Fault, FaultRule};
///
/// let rule = FaultRule::new("/api/v3/api_keys", Fault::DropAfter).method("POST");
/// assert_eq!(rule, "POST /api/v3/api_keys=drop-after".parse().unwrap());
/// let rule: FaultRule = "/api/v2/sql=rate-limit:1*3".parse().unwrap();
/// assert_eq!(rule.remaining(), 3);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    method: Option<Method>,
    path: String,
    fault: Fault,
    times: usize,
}

impl FaultRule {
    /// The next request to `path` gets `fault`. `path` is the API path after the user
    /// (`/api/v2/sql`, `/api/v3/api_keys`, `/api/v2/sql/copyfrom`), matched as a prefix
    /// at a `/` boundary (`/api/v2/sql` also matches `/api/v2/sql/job/ID`); `/` or an
    /// empty path matches every request.
    pub fn new(path: impl Into<String>, fault: Fault) -> Self {
        Self {
            method: None,
            path: path.into().trim_end_matches('/').to_owned(),
            fault,
            times: 1,
        }
    }

    /// Only requests with this method (`GET`, `POST`, ...).
    ///
    /// # Panics
    /// If `method` is not a valid HTTP method token.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(Method::from_bytes(method.as_bytes()).expect("an HTTP method"));
        self
    }

    /// The next `times` matching requests get the fault (default 1).
    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }

    /// The fault.
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// How many matching requests will still get it.
    pub fn remaining(&self) -> usize {
        self.times
    }

    fn matches(&self, method: &Method, path: &str) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        self.path.is_empty()
            || path == self.path
            || path
                .strip_prefix(self.path.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
    }
}

/// An invalid `--fault` rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid fault rule {rule:?}: {reason} (expected `[METHOD ]PATH=FAULT[*N]`, FAULT one of \
     rate-limit:SECS, statement-timeout, status:CODE, drop, drop-after, delay:MS)"
)]
pub struct FaultRuleError {
    rule: String,
    reason: &'static str,
}

/// `[METHOD ]PATH=FAULT[*N]`, e.g. `POST /api/v3/api_keys=drop-after`,
/// `/api/v2/sql=rate-limit:1*3`, `/api/v2/sql=status:503*2`, `/=delay:2000`.
impl FromStr for FaultRule {
    type Err = FaultRuleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| FaultRuleError {
            rule: s.to_owned(),
            reason,
        };
        let (target, fault) = s.rsplit_once('=').ok_or_else(|| err("no `=`"))?;
        let (fault, times) = match fault.split_once('*') {
            Some((fault, n)) => (fault, n.trim().parse().map_err(|_| err("bad count"))?),
            None => (fault, 1),
        };
        let (name, arg) = match fault.trim().split_once(':') {
            Some((name, arg)) => (name, Some(arg.trim())),
            None => (fault.trim(), None),
        };
        let number = |arg: Option<&str>| -> Result<u64, FaultRuleError> {
            arg.ok_or_else(|| err("missing number"))?
                .parse()
                .map_err(|_| err("bad number"))
        };
        let fault = match name {
            "rate-limit" => Fault::RateLimited {
                retry_after: u32::try_from(number(arg)?).map_err(|_| err("bad number"))?,
            },
            "statement-timeout" => Fault::StatementTimeout,
            "status" => {
                let code = number(arg)?;
                if !(400..=599).contains(&code) {
                    return Err(err("status must be 400 to 599"));
                }
                Fault::Status(code as u16)
            }
            "drop" => Fault::Drop,
            "drop-after" => Fault::DropAfter,
            "delay" => Fault::Delay(Duration::from_millis(number(arg)?)),
            _ => return Err(err("unknown fault")),
        };
        let target = target.trim();
        let (method, path) = match target.split_once(' ') {
            Some((method, path)) => (Some(method), path.trim()),
            None => (None, target),
        };
        if !(path.is_empty() || path.starts_with('/')) {
            return Err(err("the path must start with `/`"));
        }
        let mut rule = FaultRule::new(path, fault).times(times);
        if let Some(method) = method {
            rule.method =
                Some(Method::from_bytes(method.as_bytes()).map_err(|_| err("bad method"))?);
        }
        Ok(rule)
    }
}

/// The rules of a running emulator.
#[derive(Debug, Default)]
pub(crate) struct Faults(Mutex<Vec<FaultRule>>);

impl Faults {
    pub(crate) fn new(rules: Vec<FaultRule>) -> Self {
        Self(Mutex::new(rules))
    }

    pub(crate) fn add(&self, rule: FaultRule) {
        self.lock().push(rule);
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<FaultRule>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spends one request of the first rule matching, and gives its fault.
    fn take(&self, method: &Method, path: &str) -> Option<Fault> {
        let mut rules = self.lock();
        let index = rules
            .iter()
            .position(|r| r.times > 0 && r.matches(method, path))?;
        let rule = &mut rules[index];
        rule.times -= 1;
        let fault = rule.fault;
        if rule.times == 0 {
            rules.remove(index);
        }
        Some(fault)
    }
}

/// The API path of a request: its path without the `/user/{name}` or `/u/{name}` prefix.
fn api_path(path: &str) -> &str {
    for prefix in ["/user/", "/u/"] {
        if let Some(rest) = path.strip_prefix(prefix) {
            return rest.find('/').map_or("", |i| &rest[i..]);
        }
    }
    path
}

/// The middleware: plays the fault of the first matching rule, else serves.
pub(crate) async fn inject(
    State(faults): State<Arc<Faults>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(fault) = faults.take(request.method(), api_path(request.uri().path())) else {
        return next.run(request).await;
    };
    let kill = request
        .extensions()
        .get::<ConnectInfo<KillSwitch>>()
        .map(|info| info.0.clone());
    match fault {
        Fault::RateLimited { retry_after } => {
            let mut error = ApiError::rate_limited();
            error.retry_after = Some(retry_after);
            let mut response = super::sql_api::answer_response(error.into_answer(None));
            let headers = response.headers_mut();
            for (name, value) in [
                ("carto-rate-limit-limit", 1),
                ("carto-rate-limit-remaining", 0),
                ("carto-rate-limit-reset", retry_after),
            ] {
                headers.insert(name, HeaderValue::from(value));
            }
            response
        }
        Fault::StatementTimeout => {
            super::sql_api::answer_response(ApiError::timeout().into_answer(None))
        }
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let message = status.canonical_reason().unwrap_or("injected fault");
            super::sql_api::answer_response(ApiError::new(status, message).into_answer(None))
        }
        Fault::Delay(pause) => {
            tokio::time::sleep(pause).await;
            next.run(request).await
        }
        Fault::Drop | Fault::DropAfter => {
            let Some(kill) = kill else {
                // Served without connection info (not through the emulator's listener).
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "cannot drop this connection",
                )
                    .into_response();
            };
            let response = if fault == Fault::DropAfter {
                next.run(request).await
            } else {
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            };
            kill.kill();
            response
        }
    }
}

/// The kill switch of one connection, given to each of its requests.
#[derive(Clone, Default)]
pub(crate) struct KillSwitch(Arc<AtomicBool>);

impl KillSwitch {
    fn kill(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn killed(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for KillSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KillSwitch").field(&self.killed()).finish()
    }
}

impl<L: Listener> axum::extract::connect_info::Connected<IncomingStream<'_, KillableListener<L>>>
    for KillSwitch
{
    fn connect_info(stream: IncomingStream<'_, KillableListener<L>>) -> Self {
        stream.io().switch.clone()
    }
}

/// A connection whose writes fail once its [`KillSwitch`] is thrown, so the server
/// closes it without answering.
pub(crate) struct Killable<S> {
    inner: S,
    switch: KillSwitch,
}

fn killed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by a fault rule",
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Killable<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.switch.killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Killable<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.switch.killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.switch.killed() {
            return Poll::Ready(Err(killed()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A listener whose connections are [`Killable`].
pub(crate) struct KillableListener<L>(pub(crate) L);

impl<L: Listener> Listener for KillableListener<L> {
    type Io = Killable<L::Io>;
    type Addr = L::Addr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (inner, addr) = self.0.accept().await;
        let io = Killable {
            inner,
            switch: KillSwitch::default(),
        };
        (io, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_match() {
        let rule: FaultRule = "POST /api/v3/api_keys=drop-after*2".parse().unwrap();
        assert_eq!(
            rule,
            FaultRule::new("/api/v3/api_keys", Fault::DropAfter)
                .method("POST")
                .times(2)
        );
        assert!(rule.matches(&Method::POST, "/api/v3/api_keys"));
        assert!(!rule.matches(&Method::GET, "/api/v3/api_keys"));
        assert!(!rule.matches(&Method::POST, "/api/v3/api_keys_other"));
        let rule: FaultRule = "/api/v2/sql=status:503".parse().unwrap();
        assert!(rule.matches(&Method::GET, "/api/v2/sql"));
        assert!(rule.matches(&Method::POST, "/api/v2/sql/job/abc"));
        assert!(!rule.matches(&Method::POST, "/api/v2/sqlx"));
        let all: FaultRule = "=delay:5".parse().unwrap();
        assert_eq!(all.fault(), Fault::Delay(Duration::from_millis(5)));
        assert!(all.matches(&Method::GET, "/anything"));
        assert_eq!(
            "/api/v2/sql=rate-limit:2"
                .parse::<FaultRule>()
                .unwrap()
                .fault(),
            Fault::RateLimited { retry_after: 2 }
        );
        assert_eq!(
            "/=statement-timeout".parse::<FaultRule>().unwrap().fault(),
            Fault::StatementTimeout
        );
    }

    #[test]
    fn bad_rules_say_why() {
        for (rule, why) in [
            ("/api/v2/sql", "no `=`"),
            ("/api/v2/sql=explode", "unknown fault"),
            ("/api/v2/sql=status:200", "status must be 400 to 599"),
            ("/api/v2/sql=status:abc", "bad number"),
            ("/api/v2/sql=rate-limit", "missing number"),
            ("/api/v2/sql=drop*x", "bad count"),
            ("api/v2/sql=drop", "the path must start with `/`"),
            ("P@ST /api=drop", "bad method"),
        ] {
            let err = rule.parse::<FaultRule>().unwrap_err();
            assert!(err.to_string().contains(why), "{rule}: {err}");
        }
    }

    #[test]
    fn rules_are_spent_in_order() {
        let faults = Faults::new(vec![
            FaultRule::new("/api/v2/sql", Fault::Status(503)).times(2),
            FaultRule::new("/", Fault::Drop),
        ]);
        assert_eq!(
            faults.take(&Method::GET, "/api/v2/sql"),
            Some(Fault::Status(503))
        );
        assert_eq!(faults.take(&Method::GET, "/api/v3/me"), Some(Fault::Drop));
        assert_eq!(faults.take(&Method::GET, "/api/v3/me"), None);
        assert_eq!(
            faults.take(&Method::GET, "/api/v2/sql"),
            Some(Fault::Status(503))
        );
        assert_eq!(faults.take(&Method::GET, "/api/v2/sql"), None);
        faults.add(FaultRule::new("/", Fault::Drop));
        faults.clear();
        assert_eq!(faults.take(&Method::GET, "/"), None);
    }

    #[test]
    fn api_paths_drop_the_user_prefix() {
        assert_eq!(api_path("/user/alice/api/v2/sql"), "/api/v2/sql");
        assert_eq!(api_path("/u/bob/api/v3/me"), "/api/v3/me");
        assert_eq!(api_path("/api/v2/sql"), "/api/v2/sql");
        assert_eq!(api_path("/user/alice"), "");
    }
}
