//! The glue the clients use: build an [`Endpoint`]'s request, send it, parse the
//! response, and trace it.

use std::time::Instant;

use carto_core::endpoint::loggable_path;
use carto_core::{Endpoint, Error, RequestContext};

use crate::error::TransportError;
use crate::transport::{AsyncTransport, Transport};

/// Builds `endpoint`'s request with `ctx`, sends it through `transport` and parses the
/// response.
///
/// Each request is traced at debug level (target `carto_transport`) with its method,
/// path (never the query string nor a header), status and duration in milliseconds.
pub fn send<T, E>(transport: &T, ctx: &RequestContext, endpoint: &E) -> Result<E::Output, Error>
where
    T: Transport + ?Sized,
    E: Endpoint,
{
    let request = endpoint.to_request(ctx)?;
    let trace = Trace::start(&request);
    let result = transport.send(request);
    trace.finish(result.as_ref().map(http::Response::status));
    endpoint.parse(result?)
}

/// The async [`send`]: builds `endpoint`'s request with `ctx`, sends it through
/// `transport` and parses the response, traced the same way.
pub async fn send_async<T, E>(
    transport: &T,
    ctx: &RequestContext,
    endpoint: &E,
) -> Result<E::Output, Error>
where
    T: AsyncTransport + ?Sized,
    E: Endpoint,
{
    let request = endpoint.to_request(ctx)?;
    let trace = Trace::start(&request);
    let result = transport.send(request).await;
    trace.finish(result.as_ref().map(http::Response::status));
    endpoint.parse(result?)
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

    pub(crate) fn finish(self, result: Result<http::StatusCode, &TransportError>) {
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
