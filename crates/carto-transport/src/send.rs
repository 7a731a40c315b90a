//! The glue the clients use: build an [`Endpoint`]'s request, send it, parse the
//! response, and trace it.

use std::time::{Duration, Instant};

use carto_core::endpoint::loggable_path;
use carto_core::retry::{Decision, Outcome, Retry, Stop};
use carto_core::{Endpoint, Error, HttpResponse, RequestContext};

use crate::error::TransportError;
use crate::transport::{AsyncTransport, Transport};

/// Builds `endpoint`'s request with `ctx`, sends it through `transport` and parses the
/// response, retrying as the context's [`RetryPolicy`](carto_core::RetryPolicy) and the
/// endpoint's idempotency allow (see [`carto_core::retry`]); waits go through
/// [`Transport::sleep`].
///
/// Each attempt is traced at debug level (target `carto_transport`) with its method,
/// path (never the query string nor a header), status and duration in milliseconds,
/// and each retry with the attempt number and the wait.
pub fn send<T, E>(transport: &T, ctx: &RequestContext, endpoint: &E) -> Result<E::Output, Error>
where
    T: Transport + ?Sized,
    E: Endpoint,
{
    let mut retry = Retry::new(ctx.retry_policy(), endpoint.is_idempotent(), true);
    let start = Instant::now();
    loop {
        let request = endpoint.to_request(ctx)?;
        let trace = Trace::start(&request);
        let result = transport.send(request);
        trace.finish(result.as_ref().map(http::Response::status));
        let decision = retry.decide(outcome(&result), start.elapsed());
        if let Err(stop) = pause(transport, &trace, retry.attempts(), decision) {
            return noted(endpoint.parse(result?), stop);
        }
    }
}

/// The async [`send`]: builds `endpoint`'s request with `ctx`, sends it through
/// `transport` and parses the response, retried and traced the same way; waits go
/// through [`AsyncTransport::sleep`] (no timer, no retry that needs a wait).
pub async fn send_async<T, E>(
    transport: &T,
    ctx: &RequestContext,
    endpoint: &E,
) -> Result<E::Output, Error>
where
    T: AsyncTransport + ?Sized,
    E: Endpoint,
{
    let mut retry = Retry::new(ctx.retry_policy(), endpoint.is_idempotent(), true);
    let start = Instant::now();
    loop {
        let request = endpoint.to_request(ctx)?;
        let trace = Trace::start(&request);
        let result = transport.send(request).await;
        trace.finish(result.as_ref().map(http::Response::status));
        let decision = retry.decide(outcome(&result), start.elapsed());
        if let Err(stop) = pause_async(transport, &trace, retry.attempts(), decision).await {
            return noted(endpoint.parse(result?), stop);
        }
    }
}

/// Sleeps the wait `decision` asks for through `transport`: `Ok` to send again,
/// `Err` with why not.
pub(crate) fn pause<T: Transport + ?Sized>(
    transport: &T,
    trace: &Trace,
    attempts: u32,
    decision: Decision,
) -> Result<(), Stop> {
    match decision {
        Decision::RetryAfter(wait) => {
            trace.retry(attempts, wait);
            transport.sleep(wait);
            Ok(())
        }
        Decision::Stop(stop) => Err(stop),
    }
}

/// The async [`pause`]; a transport without a timer answers at once.
pub(crate) async fn pause_async<T: AsyncTransport + ?Sized>(
    transport: &T,
    trace: &Trace,
    attempts: u32,
    decision: Decision,
) -> Result<(), Stop> {
    match decision {
        Decision::RetryAfter(wait) => {
            let sleep = transport.sleep(wait).ok_or(Stop::Final)?;
            trace.retry(attempts, wait);
            sleep.await;
            Ok(())
        }
        Decision::Stop(stop) => Err(stop),
    }
}

/// What a buffered attempt gave, for [`Retry::decide`].
fn outcome(result: &Result<HttpResponse, TransportError>) -> Outcome<'_> {
    match result {
        Ok(response) => Outcome::Response {
            status: response.status(),
            headers: response.headers(),
            body: response.body(),
        },
        Err(err) => Outcome::Failed(err.kind()),
    }
}

/// Adds why the client stopped retrying to a CARTO error it gives back (`gave up
/// after 4 attempts`, `not retried: ...`); other results pass unchanged.
pub(crate) fn noted<O>(result: Result<O, Error>, stop: Stop) -> Result<O, Error> {
    match result {
        Err(Error::Api(api)) if stop.gave_up() => {
            Err(Error::Api(Box::new(api.with_note(stop.to_string()))))
        }
        Err(Error::Transport { kind, source }) if stop.gave_up() => {
            tracing::debug!(target: "carto_transport", error = %kind, "{stop}");
            Err(Error::Transport { kind, source })
        }
        other => other,
    }
}

/// What is logged of one request.
pub(crate) struct Trace {
    method: http::Method,
    path: String,
    start: Instant,
}

impl Trace {
    pub(crate) fn start<B>(request: &http::Request<B>) -> Self {
        Self {
            method: request.method().clone(),
            path: loggable_path(request.uri()).to_owned(),
            start: Instant::now(),
        }
    }

    /// Logs that the request is sent again after `wait` (`attempts` made so far).
    pub(crate) fn retry(&self, attempts: u32, wait: Duration) {
        tracing::debug!(
            target: "carto_transport",
            method = %self.method,
            path = %self.path,
            attempts,
            wait_ms = wait.as_millis() as u64,
            "retrying HTTP request"
        );
    }

    pub(crate) fn finish(&self, result: Result<http::StatusCode, &TransportError>) {
        let duration_ms = self.start.elapsed().as_millis() as u64;
        match result {
            Ok(status) => tracing::debug!(
                target: "carto_transport",
                method = %self.method,
                path = %self.path,
                status = status.as_u16(),
                duration_ms,
                "HTTP request"
            ),
            Err(err) => tracing::debug!(
                target: "carto_transport",
                method = %self.method,
                path = %self.path,
                error = %err.kind(),
                duration_ms,
                "HTTP request failed"
            ),
        }
    }
}
