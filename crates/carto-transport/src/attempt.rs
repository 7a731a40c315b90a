//! The attempt machine: the one place that decides, for every request carto-rs sends
//! (buffered or streamed), whether to send it again, after how long, and what the
//! answer is. Sans-IO: it is told what each attempt gave and says what to do next; the
//! drivers in `drive.rs` do the I/O, one blocking and one async.
//!
//! ```text
//!          +--------------------------- Sleep(d) <----------------+
//!          v                                                      |
//!   --> Send --(response or transport failure: decide)----------->+
//!          |                                                      |
//!          +--(streamed head, not 2xx)--> ReadErrorBody(room) --(end or cap: decide)
//!          |                                                      |
//!          +--(2xx streamed head: the driver's answer)            v
//!                                                              Done(stop)
//! ```
//!
//! A decision ([`Retry::decide`]) is either a wait (`Sleep`, then `Send` again) or a
//! [`Stop`] (`Done`): the last attempt's result is the answer, and when the machine
//! gave up on a failure that another attempt could have mended, the error says why
//! ([`noted`]).

use std::time::{Duration, Instant};

use carto_core::operation::SendContext;
use carto_core::retry::{Decision, Outcome, Retry, Stop};
use carto_core::{Error, TransportErrorKind};

use crate::error::TransportError;
use crate::streaming::ErrorBody;
use crate::trace::Trace;

/// What the driver does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Build the request and send it.
    Send,
    /// Read at most this many more bytes of the failed response's body and hand them
    /// to [`Attempts::error_body`] (`None`: the body ended).
    ReadErrorBody(usize),
    /// Wait this long ([`Attempts::slept`] afterwards), then send again.
    Sleep(Duration),
    /// No more attempts: the last one's result is the answer.
    Done(Stop),
}

/// How the last attempt failed, kept until the machine decides.
enum Failure {
    /// No response: the transport failed (or a collected body broke off).
    Transport(Error),
    /// CARTO's error: a failed head and what was read of its body.
    Api(ErrorBody),
}

/// The state of one call's attempts: the retry decisions so far, the clock of the
/// first attempt, the trace of the last one, and what to do next.
pub(crate) struct Attempts {
    retry: Retry,
    start: Instant,
    step: Step,
    failure: Option<Failure>,
    trace: Option<Trace>,
}

impl Attempts {
    /// The attempts of a call under `ctx`'s retry policy: `idempotent` as the endpoint
    /// says, `replayable` when its body can be sent again.
    pub(crate) fn new<C: SendContext + ?Sized>(
        ctx: &C,
        idempotent: bool,
        replayable: bool,
    ) -> Self {
        Self {
            retry: Retry::new(ctx.retry_policy(), idempotent, replayable),
            start: Instant::now(),
            step: Step::Send,
            failure: None,
            trace: None,
        }
    }

    /// What to do next.
    pub(crate) fn step(&self) -> Step {
        self.step
    }

    /// Whether any attempt after the first may happen (a rebuildable body is kept for
    /// it only then).
    pub(crate) fn may_retry(&self) -> bool {
        self.retry.may_retry()
    }

    /// An attempt was sent; `trace` is what is logged of it.
    pub(crate) fn sent(&mut self, trace: Trace) {
        self.trace = Some(trace);
    }

    /// Logs the retry the machine asks for (with the last attempt's method and path).
    pub(crate) fn trace_retry(&self, wait: Duration) {
        if let Some(trace) = &self.trace {
            trace.retry(self.retry.attempts(), wait);
        }
    }

    /// A whole response or a transport failure of a buffered attempt: decide.
    pub(crate) fn report(&mut self, outcome: Outcome<'_>) {
        let decision = self.retry.decide(outcome, self.start.elapsed());
        self.decided(decision);
    }

    fn decided(&mut self, decision: Decision) {
        self.step = match decision {
            Decision::RetryAfter(wait) => Step::Sleep(wait),
            Decision::Stop(stop) => Step::Done(stop),
        };
    }

    /// The transport failed before a response of a streamed attempt: decide.
    pub(crate) fn failed(&mut self, err: TransportError) {
        self.report(Outcome::Failed(err.kind()));
        self.failure = Some(Failure::Transport(err.into()));
    }

    /// A streamed attempt got a head that is not 2xx ([`Head::Failure`](crate::Head)):
    /// read its body, up to the cap.
    pub(crate) fn failed_head(&mut self, error: ErrorBody) {
        self.failure = Some(Failure::Api(error));
        self.error_body(Some(&[]));
    }

    /// The next bytes of the failed head's body (`None`: the end); at the end or the
    /// cap, decide.
    pub(crate) fn error_body(&mut self, chunk: Option<&[u8]>) {
        let Some(Failure::Api(error)) = &mut self.failure else {
            return;
        };
        if let Some(chunk) = chunk {
            error.push(chunk);
        }
        if chunk.is_some() && error.room() > 0 {
            self.step = Step::ReadErrorBody(error.room());
            return;
        }
        let decision = self.retry.decide(error.outcome(), self.start.elapsed());
        self.decided(decision);
    }

    /// Reading a collected body failed: a transport failure is decided as one before
    /// the head (the body is read again from scratch, or not); any other error (a
    /// decode error, CARTO's error in the body) is the answer, `Err`.
    pub(crate) fn body_failed(&mut self, failure: Error) -> Result<(), Error> {
        match failure {
            Error::Transport(ref transport) => {
                let kind = transport.kind();
                tracing::debug!(target: "carto_transport", error = %kind, "reading the body failed");
                self.report(Outcome::Failed(kind));
                self.failure = Some(Failure::Transport(failure));
                Ok(())
            }
            other => Err(other),
        }
    }

    /// The wait was made: send again.
    pub(crate) fn slept(&mut self) {
        self.step = Step::Send;
    }

    /// No wait can be made (an async transport without a timer): stop here.
    pub(crate) fn cannot_sleep(&mut self) {
        self.step = Step::Done(Stop::Final);
    }

    /// The error of the last attempt, with why it was not sent again.
    pub(crate) fn into_error(self, stop: Stop) -> Error {
        let error = match self.failure {
            Some(Failure::Transport(err)) => err,
            Some(Failure::Api(error)) => error.into_error(),
            None => Error::transport(TransportErrorKind::Other, "no attempt was made"),
        };
        note(error, stop)
    }
}

/// Adds why the client stopped retrying to a CARTO error it gives back (`gave up
/// after 4 attempts`, `not retried: ...`); other results pass unchanged.
pub(crate) fn noted<O>(result: Result<O, Error>, stop: Stop) -> Result<O, Error> {
    result.map_err(|error| note(error, stop))
}

/// [`noted`] for an error.
fn note(error: Error, stop: Stop) -> Error {
    match error {
        Error::Api(api) if stop.gave_up() => Error::Api(Box::new(api.with_note(stop.to_string()))),
        Error::Transport(failure) if stop.gave_up() => {
            tracing::debug!(target: "carto_transport", error = %failure.kind(), "{stop}");
            Error::Transport(failure)
        }
        other => other,
    }
}
