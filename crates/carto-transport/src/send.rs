//! The glue the clients use for buffered calls: build an operation's request (a v2
//! [`Endpoint`](carto_core::Endpoint) or a CARTO 3 [`ApiEndpoint`](carto_core::carto3::ApiEndpoint)),
//! send it, parse the response, and trace it; retried by the attempt machine.

use carto_core::operation::{Operation, SendContext};
use carto_core::retry::{Outcome, Stop};
use carto_core::{Error, HttpRequest, HttpResponse};

use crate::attempt::{Attempts, noted};
use crate::drive::{AsyncExchange, Exchange, drive, drive_async};
use crate::error::TransportError;
use crate::trace::Trace;
use crate::transport::{AsyncTransport, Transport};

/// Builds `endpoint`'s request with `ctx` (a v2 [`RequestContext`](carto_core::RequestContext)
/// or a CARTO 3 [`ApiContext`](carto_core::carto3::ApiContext)), sends it through `transport` and parses the
/// response, retrying as the context's [`RetryPolicy`](carto_core::RetryPolicy) and the
/// endpoint's idempotency allow (see [`carto_core::retry`]); waits go through
/// [`Transport::sleep`].
///
/// Each attempt is traced at debug level (target `carto_transport`) with its method,
/// path (never the query string nor a header), status and duration in milliseconds,
/// and each retry with the attempt number and the wait.
pub fn send<T, C, E>(transport: &T, ctx: &C, endpoint: &E) -> Result<E::Output, Error>
where
    T: Transport + ?Sized,
    C: SendContext + ?Sized,
    E: Operation<C> + ?Sized,
{
    drive(
        transport,
        attempts(ctx, endpoint),
        Buffered::new(transport, ctx, endpoint),
    )
}

/// The async [`send`]: builds `endpoint`'s request with `ctx`, sends it through
/// `transport` and parses the response, retried and traced the same way; waits go
/// through [`AsyncTransport::sleep`] (no timer, no retry that needs a wait).
pub async fn send_async<T, C, E>(transport: &T, ctx: &C, endpoint: &E) -> Result<E::Output, Error>
where
    T: AsyncTransport + ?Sized,
    C: SendContext + ?Sized,
    E: Operation<C> + ?Sized,
{
    let exchange = Buffered::new(transport, ctx, endpoint);
    drive_async(transport, attempts(ctx, endpoint), exchange).await
}

fn attempts<C: SendContext + ?Sized, E: Operation<C> + ?Sized>(ctx: &C, endpoint: &E) -> Attempts {
    Attempts::new(ctx, endpoint.is_idempotent(), true)
}

/// A buffered call: each attempt sends the endpoint's request whole and gets its
/// response whole; the last one is parsed.
struct Buffered<'a, T: ?Sized, C: ?Sized, E: ?Sized> {
    transport: &'a T,
    ctx: &'a C,
    endpoint: &'a E,
    last: Option<Result<HttpResponse, TransportError>>,
}

impl<'a, T: ?Sized, C: ?Sized, E: Operation<C> + ?Sized> Buffered<'a, T, C, E> {
    fn new(transport: &'a T, ctx: &'a C, endpoint: &'a E) -> Self {
        Self {
            transport,
            ctx,
            endpoint,
            last: None,
        }
    }

    /// The request of the next attempt, and its trace.
    fn request(&self) -> Result<(HttpRequest, Trace), Error> {
        let request = self.endpoint.to_request(self.ctx)?;
        let trace = Trace::start(&request);
        Ok((request, trace))
    }

    /// Reports what the attempt gave to `attempts` and keeps it.
    fn record(
        &mut self,
        attempts: &mut Attempts,
        trace: Trace,
        result: Result<HttpResponse, TransportError>,
    ) {
        trace.finish(result.as_ref().map(http::Response::status));
        attempts.sent(trace);
        attempts.report(match &result {
            Ok(response) => Outcome::Response {
                status: response.status(),
                headers: response.headers(),
                body: response.body(),
            },
            Err(err) => Outcome::Failed(err.kind()),
        });
        self.last = Some(result);
    }

    /// The last attempt's response parsed (and why it was not sent again, on an error).
    fn parse(self, attempts: Attempts, stop: Stop) -> Result<E::Output, Error> {
        match self.last {
            Some(result) => noted(self.endpoint.parse(result?), stop),
            None => Err(attempts.into_error(stop)),
        }
    }
}

impl<T: Transport + ?Sized, C: ?Sized, E: Operation<C> + ?Sized> Exchange
    for Buffered<'_, T, C, E>
{
    type Answer = E::Output;

    fn send(&mut self, attempts: &mut Attempts) -> Result<Option<E::Output>, Error> {
        let (request, trace) = self.request()?;
        let result = self.transport.send(request);
        self.record(attempts, trace, result);
        Ok(None)
    }

    fn finish(self, attempts: Attempts, stop: Stop) -> Result<E::Output, Error> {
        self.parse(attempts, stop)
    }
}

impl<T: AsyncTransport + ?Sized, C: ?Sized, E: Operation<C> + ?Sized> AsyncExchange
    for Buffered<'_, T, C, E>
{
    type Answer = E::Output;

    async fn send(&mut self, attempts: &mut Attempts) -> Result<Option<E::Output>, Error> {
        let (request, trace) = self.request()?;
        let result = self.transport.send(request).await;
        self.record(attempts, trace, result);
        Ok(None)
    }

    fn finish(self, attempts: Attempts, stop: Stop) -> Result<E::Output, Error> {
        self.parse(attempts, stop)
    }
}
