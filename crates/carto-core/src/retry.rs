//! Retries: whether to send a request again, and after how long.
//!
//! Sans-IO: a driver (carto-transport's `send` family) reports what each attempt gave
//! ([`Outcome`]) with the time elapsed since the first one, and [`Retry`] answers
//! [`Decision::RetryAfter`] (sleep, then send again) or [`Decision::Stop`] (the
//! attempt's outcome is the answer). The clock and the sleep stay with the driver, so the
//! rules are tested on a fake clock.
//!
//! The rules, for every API (SQL, Batch, COPY, Auth):
//!
//! | outcome of an attempt | idempotent request | other requests |
//! |---|---|---|
//! | 2xx, 3xx, any 4xx but 429 | stop | stop |
//! | 429 with `Retry-After` (or `Carto-Rate-Limit-Reset`): the rate limiter, CARTO did not run it | wait that long, retry | wait that long, retry (if the body can be sent again) |
//! | 429 without them, or with `detail: datasource`: the SQL statement timeout | stop | stop |
//! | 502, 503, 504 | back off (or `Retry-After`), retry | stop: it may have acted |
//! | no response: connect failure, timeout, reset | back off, retry | stop: it may have acted |
//! | TLS failure | stop | stop |
//!
//! Backoff is exponential with full jitter (a random pause between zero and
//! `initial_backoff * 2^retries`, capped at `max_backoff`); no wait may end past the
//! policy's time budget, and no request is sent more than `max_attempts` times.

use std::fmt;
use std::time::Duration;

use http::{HeaderMap, StatusCode};

use crate::error::{ApiError, TransportErrorKind};

/// How a client retries: attempts, backoff and a total time budget. On by default
/// ([`RetryPolicy::default`]); [`RetryPolicy::none`] turns retries off.
///
/// ```
/// use std::time::Duration;
/// use carto_core::RetryPolicy;
///
/// let policy = RetryPolicy::new()
///     .with_max_attempts(6)
///     .with_initial_backoff(Duration::from_millis(100))
///     .with_max_backoff(Duration::from_secs(5))
///     .with_budget(Duration::from_secs(30));
/// assert!(policy.is_enabled());
/// assert!(!RetryPolicy::none().is_enabled());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryPolicy {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    budget: Duration,
}

impl RetryPolicy {
    /// The default number of times a request may be sent: 4 (three retries).
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 4;
    /// The default first backoff cap: 250 ms.
    pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(250);
    /// The default largest backoff: 10 s.
    pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
    /// The default time budget, from the first attempt to the end of the last wait: 60 s.
    pub const DEFAULT_BUDGET: Duration = Duration::from_secs(60);

    /// The defaults: 4 attempts, backoff from 250 ms up to 10 s, a 60 s budget.
    pub const fn new() -> Self {
        Self {
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            initial_backoff: Self::DEFAULT_INITIAL_BACKOFF,
            max_backoff: Self::DEFAULT_MAX_BACKOFF,
            budget: Self::DEFAULT_BUDGET,
        }
    }

    /// No retries: every request is sent once.
    pub const fn none() -> Self {
        Self::new().with_max_attempts(1)
    }

    /// How many times a request may be sent in all (at least 1; 1 turns retries off).
    pub const fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = if attempts == 0 { 1 } else { attempts };
        self
    }

    /// The cap of the first backoff; each retry doubles it, up to
    /// [`max_backoff`](Self::with_max_backoff).
    pub const fn with_initial_backoff(mut self, backoff: Duration) -> Self {
        self.initial_backoff = backoff;
        self
    }

    /// The largest pause between two attempts chosen by backoff.
    pub const fn with_max_backoff(mut self, backoff: Duration) -> Self {
        self.max_backoff = backoff;
        self
    }

    /// The total time a call may spend, from its first attempt to the end of its last
    /// wait: a wait that would end later is not made (a `Retry-After` included).
    pub const fn with_budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// Whether a request may be sent more than once.
    pub const fn is_enabled(&self) -> bool {
        self.max_attempts > 1
    }

    /// How many times a request may be sent.
    pub const fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The cap of the first backoff.
    pub const fn initial_backoff(&self) -> Duration {
        self.initial_backoff
    }

    /// The largest backoff.
    pub const fn max_backoff(&self) -> Duration {
        self.max_backoff
    }

    /// The time budget.
    pub const fn budget(&self) -> Duration {
        self.budget
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

/// What one attempt gave.
#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// A response arrived (its body, or for a streamed error its first bytes, is
    /// read only for a 429, to tell the rate limiter from the statement timeout).
    Response {
        /// The status.
        status: StatusCode,
        /// The headers (`Retry-After`, `Carto-Rate-Limit-Reset`).
        headers: &'a HeaderMap,
        /// The body, or what was read of it.
        body: &'a [u8],
    },
    /// No response arrived: the transport failed.
    Failed(TransportErrorKind),
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Sleep this long, then send the request again.
    RetryAfter(Duration),
    /// Do not send it again: the attempt's outcome is the answer.
    Stop(Stop),
}

/// Why a request is not sent again.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The outcome is final: a success, or an error another attempt would not change
    /// (a 4xx, CARTO's statement timeout, a TLS failure).
    Final,
    /// Another attempt could succeed, but the request is not idempotent and the server
    /// may have acted on it (a 5xx, a timeout or a reset after it was sent).
    MayHaveActed,
    /// CARTO did not run it and asked to retry, but its body was read from a reader or
    /// a stream and cannot be sent again.
    BodyNotReplayable,
    /// The policy's attempts are used up.
    AttemptsExhausted {
        /// How many times the request was sent.
        attempts: u32,
    },
    /// The next wait would end past the policy's time budget.
    BudgetExhausted {
        /// The wait that was not made.
        wait: Duration,
    },
}

impl Stop {
    /// Whether another attempt was wanted (everything but [`Stop::Final`]).
    pub fn gave_up(&self) -> bool {
        *self != Stop::Final
    }
}

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Final => f.write_str("final answer"),
            Stop::MayHaveActed => f.write_str(
                "not retried: the request is not idempotent and the server may have acted on it",
            ),
            Stop::BodyNotReplayable => f.write_str(
                "not retried: the request body was read from a reader or a stream and cannot \
                 be sent again (upload from a file path, or bytes, to let the client retry)",
            ),
            Stop::AttemptsExhausted { attempts } => {
                write!(f, "gave up after {attempts} attempts")
            }
            Stop::BudgetExhausted { wait } => write!(
                f,
                "gave up: waiting {:.1} s more would exceed the retry budget",
                wait.as_secs_f64()
            ),
        }
    }
}

/// The retry state of one call: the policy, what the request allows, the attempts made
/// and the jitter source.
#[derive(Debug, Clone)]
pub struct Retry {
    policy: RetryPolicy,
    idempotent: bool,
    replayable: bool,
    attempts: u32,
    rng: fastrand::Rng,
}

impl Retry {
    /// The state of a call under `policy`. `idempotent`: sending it twice has the same
    /// effect as once ([`Endpoint::is_idempotent`](crate::Endpoint::is_idempotent));
    /// `replayable`: its body can be sent again. The jitter is seeded at random.
    pub fn new(policy: RetryPolicy, idempotent: bool, replayable: bool) -> Self {
        Self {
            policy,
            idempotent,
            replayable,
            attempts: 0,
            rng: fastrand::Rng::new(),
        }
    }

    /// The same state with the jitter seeded by `seed` (for reproducible tests).
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.rng = fastrand::Rng::with_seed(seed);
        self
    }

    /// Whether any attempt after the first may happen: the driver keeps a copy of a
    /// rebuildable body only then.
    pub fn may_retry(&self) -> bool {
        self.policy.is_enabled()
    }

    /// Says the body can no longer be sent again (for example its factory failed).
    pub fn set_replayable(&mut self, replayable: bool) {
        self.replayable = replayable;
    }

    /// How many attempts were reported.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Reports an attempt's `outcome`, `elapsed` after the first attempt started, and
    /// says what to do.
    pub fn decide(&mut self, outcome: Outcome<'_>, elapsed: Duration) -> Decision {
        self.attempts += 1;
        let wait = match self.wanted(outcome) {
            Ok(wait) => wait,
            Err(stop) => return Decision::Stop(stop),
        };
        if self.attempts >= self.policy.max_attempts {
            return Decision::Stop(Stop::AttemptsExhausted {
                attempts: self.attempts,
            });
        }
        if elapsed.saturating_add(wait) > self.policy.budget {
            return Decision::Stop(Stop::BudgetExhausted { wait });
        }
        Decision::RetryAfter(wait)
    }

    /// The wait another attempt wants, or why there is none.
    fn wanted(&mut self, outcome: Outcome<'_>) -> Result<Duration, Stop> {
        match outcome {
            Outcome::Response {
                status,
                headers,
                body,
            } => {
                if status == StatusCode::TOO_MANY_REQUESTS {
                    let wait = rate_limit_wait(headers, body).ok_or(Stop::Final)?;
                    return if self.replayable {
                        Ok(wait)
                    } else {
                        Err(Stop::BodyNotReplayable)
                    };
                }
                if !matches!(status.as_u16(), 502..=504) {
                    return Err(Stop::Final);
                }
                let wait = retry_after(headers).unwrap_or_else(|| self.backoff());
                self.only_if_safe(wait)
            }
            Outcome::Failed(TransportErrorKind::Tls) => Err(Stop::Final),
            Outcome::Failed(_) => {
                let wait = self.backoff();
                self.only_if_safe(wait)
            }
        }
    }

    fn only_if_safe(&self, wait: Duration) -> Result<Duration, Stop> {
        match (self.idempotent, self.replayable) {
            (false, _) => Err(Stop::MayHaveActed),
            (true, false) => Err(Stop::BodyNotReplayable),
            (true, true) => Ok(wait),
        }
    }

    /// Full jitter: uniform in `[0, min(max_backoff, initial * 2^retries)]`.
    fn backoff(&mut self) -> Duration {
        let retries = self.attempts.saturating_sub(1).min(31);
        let cap = self
            .policy
            .initial_backoff
            .saturating_mul(1 << retries)
            .min(self.policy.max_backoff);
        let cap_micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(self.rng.u64(0..=cap_micros))
    }
}

/// The wait a 429 of CARTO's rate limiter asks for (`Retry-After`, else
/// `Carto-Rate-Limit-Reset`); `None` for the statement timeout (no such header, or
/// `detail: datasource` in the body).
fn rate_limit_wait(headers: &HeaderMap, body: &[u8]) -> Option<Duration> {
    let wait = retry_after(headers).or_else(|| header_secs(headers, "carto-rate-limit-reset"))?;
    let error = ApiError::from_parts(StatusCode::TOO_MANY_REQUESTS, headers, body);
    (!error.is_statement_timeout()).then_some(wait)
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    header_secs(headers, "retry-after")
}

fn header_secs(headers: &HeaderMap, name: &str) -> Option<Duration> {
    let secs: u64 = headers.get(name)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE_LIMIT_BODY: &[u8] = br#"{"error":["You are over platform's limits. Please contact us to know more details"],"context":"limit","detail":"rate-limit"}"#;
    const TIMEOUT_BODY: &[u8] = br#"{"error":["You are over platform's limits: SQL query timeout error. Refactor your query before running again or contact CARTO support for more details."],"context":"limit","detail":"datasource"}"#;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn respond(retry: &mut Retry, status: u16, h: &HeaderMap, body: &[u8], at: u64) -> Decision {
        let outcome = Outcome::Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: h,
            body,
        };
        retry.decide(outcome, Duration::from_secs(at))
    }

    fn call(idempotent: bool, replayable: bool) -> Retry {
        Retry::new(RetryPolicy::default(), idempotent, replayable).with_seed(7)
    }

    #[test]
    fn success_and_client_errors_are_final() {
        for status in [200, 201, 204, 301, 400, 401, 403, 404, 422, 500] {
            let mut retry = call(true, true);
            let d = respond(&mut retry, status, &HeaderMap::new(), b"", 0);
            assert_eq!(d, Decision::Stop(Stop::Final), "{status}");
        }
    }

    #[test]
    fn rate_limit_waits_retry_after_for_every_request() {
        let h = headers(&[("retry-after", "3")]);
        for idempotent in [true, false] {
            let mut retry = call(idempotent, true);
            let d = respond(&mut retry, 429, &h, RATE_LIMIT_BODY, 0);
            assert_eq!(d, Decision::RetryAfter(Duration::from_secs(3)));
        }
    }

    #[test]
    fn rate_limit_reset_header_is_the_wait_without_retry_after() {
        let h = headers(&[
            ("carto-rate-limit-limit", "2"),
            ("carto-rate-limit-remaining", "0"),
            ("carto-rate-limit-reset", "5"),
        ]);
        let mut retry = call(false, true);
        let d = respond(&mut retry, 429, &h, RATE_LIMIT_BODY, 0);
        assert_eq!(d, Decision::RetryAfter(Duration::from_secs(5)));
    }

    #[test]
    fn statement_timeout_is_never_retried() {
        // No Retry-After: CARTO's statement timeout.
        let mut retry = call(true, true);
        let d = respond(&mut retry, 429, &HeaderMap::new(), TIMEOUT_BODY, 0);
        assert_eq!(d, Decision::Stop(Stop::Final));
        // On a rate-limited endpoint the timeout carries Carto-Rate-Limit-*: the body
        // still says `datasource`.
        let h = headers(&[("carto-rate-limit-reset", "1"), ("retry-after", "1")]);
        let mut retry = call(true, true);
        let d = respond(&mut retry, 429, &h, TIMEOUT_BODY, 0);
        assert_eq!(d, Decision::Stop(Stop::Final));
    }

    #[test]
    fn a_rate_limited_stream_upload_is_not_sent_again() {
        let h = headers(&[("retry-after", "1")]);
        let mut retry = call(false, false);
        let d = respond(&mut retry, 429, &h, RATE_LIMIT_BODY, 0);
        assert_eq!(d, Decision::Stop(Stop::BodyNotReplayable));
        assert!(Stop::BodyNotReplayable.to_string().contains("file path"));
    }

    #[test]
    fn server_errors_back_off_only_for_idempotent_requests() {
        for status in [502, 503, 504] {
            let mut retry = call(true, true);
            match respond(&mut retry, status, &HeaderMap::new(), b"", 0) {
                Decision::RetryAfter(wait) => assert!(wait <= Duration::from_millis(250)),
                other => panic!("{status}: {other:?}"),
            }
            let mut retry = call(false, true);
            let d = respond(&mut retry, status, &HeaderMap::new(), b"", 0);
            assert_eq!(d, Decision::Stop(Stop::MayHaveActed));
        }
        // 503 with Retry-After waits that long.
        let mut retry = call(true, true);
        let d = respond(&mut retry, 503, &headers(&[("retry-after", "2")]), b"", 0);
        assert_eq!(d, Decision::RetryAfter(Duration::from_secs(2)));
    }

    #[test]
    fn transport_failures_retry_idempotent_requests_only() {
        for kind in [
            TransportErrorKind::Connect,
            TransportErrorKind::Timeout,
            TransportErrorKind::Io,
            TransportErrorKind::Other,
        ] {
            let mut retry = call(true, true);
            let d = retry.decide(Outcome::Failed(kind), Duration::ZERO);
            assert!(matches!(d, Decision::RetryAfter(_)), "{kind:?}");
            let mut retry = call(false, true);
            let d = retry.decide(Outcome::Failed(kind), Duration::ZERO);
            assert_eq!(d, Decision::Stop(Stop::MayHaveActed), "{kind:?}");
        }
        let mut retry = call(true, true);
        let d = retry.decide(Outcome::Failed(TransportErrorKind::Tls), Duration::ZERO);
        assert_eq!(d, Decision::Stop(Stop::Final));
    }

    #[test]
    fn attempts_are_bounded() {
        let mut retry =
            Retry::new(RetryPolicy::new().with_max_attempts(3), true, true).with_seed(1);
        let fail = Outcome::Failed(TransportErrorKind::Connect);
        assert!(matches!(
            retry.decide(fail, Duration::ZERO),
            Decision::RetryAfter(_)
        ));
        assert!(matches!(
            retry.decide(fail, Duration::ZERO),
            Decision::RetryAfter(_)
        ));
        assert_eq!(
            retry.decide(fail, Duration::ZERO),
            Decision::Stop(Stop::AttemptsExhausted { attempts: 3 })
        );
        assert_eq!(retry.attempts(), 3);
    }

    #[test]
    fn no_wait_ends_past_the_budget() {
        let policy = RetryPolicy::new().with_budget(Duration::from_secs(10));
        let h = headers(&[("retry-after", "4")]);
        let mut retry = Retry::new(policy, true, true).with_seed(1);
        // On the fake clock: 5 s in, a 4 s wait still fits; 7 s in, it does not.
        assert_eq!(
            respond(&mut retry, 429, &h, RATE_LIMIT_BODY, 5),
            Decision::RetryAfter(Duration::from_secs(4))
        );
        assert_eq!(
            respond(&mut retry, 429, &h, RATE_LIMIT_BODY, 7),
            Decision::Stop(Stop::BudgetExhausted {
                wait: Duration::from_secs(4)
            })
        );
    }

    #[test]
    fn disabled_policy_sends_once() {
        let mut retry = Retry::new(RetryPolicy::none(), true, true).with_seed(1);
        assert!(!retry.may_retry());
        let h = headers(&[("retry-after", "1")]);
        assert_eq!(
            respond(&mut retry, 429, &h, RATE_LIMIT_BODY, 0),
            Decision::Stop(Stop::AttemptsExhausted { attempts: 1 })
        );
        assert_eq!(RetryPolicy::new().with_max_attempts(0).max_attempts(), 1);
    }

    #[test]
    fn backoff_is_full_jitter_doubling_to_the_cap() {
        let policy = RetryPolicy::new()
            .with_max_attempts(50)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_secs(1))
            .with_budget(Duration::from_secs(3600));
        let mut seen_small = false;
        for seed in 0..50 {
            let mut retry = Retry::new(policy, true, true).with_seed(seed);
            for n in 0..12u32 {
                let Decision::RetryAfter(wait) =
                    retry.decide(Outcome::Failed(TransportErrorKind::Io), Duration::ZERO)
                else {
                    panic!("retry {n} stopped")
                };
                let cap = Duration::from_millis(100 * (1 << n.min(10))).min(Duration::from_secs(1));
                assert!(wait <= cap, "retry {n}: {wait:?} > {cap:?}");
                seen_small |= n >= 5 && wait < Duration::from_millis(500);
            }
        }
        // Full jitter: late waits are spread over [0, cap], not pinned to the cap.
        assert!(seen_small);
    }
}
