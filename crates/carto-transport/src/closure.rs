//! Closures as transports: [`transport_fn`] and [`async_transport_fn`], for tests and
//! for adapting another HTTP client.

use std::fmt;
use std::future::Future;

use carto_core::{HttpRequest, HttpResponse};

use crate::error::TransportError;
use crate::transport::{AsyncTransport, BoxFuture, Transport};

/// A [`Transport`] that calls a closure; see [`transport_fn`].
#[derive(Clone)]
pub struct TransportFn<F>(F);

/// Uses a closure as a [`Transport`].
///
/// ```
/// use carto_transport::{Transport, transport_fn};
///
/// let transport = transport_fn(|request: http::Request<Vec<u8>>| {
///     assert_eq!(request.uri().path(), "/api/v2/sql");
///     Ok(http::Response::new(br#"{"rows":[]}"#.to_vec()))
/// });
/// let request = http::Request::get("https://alice.carto.com/api/v2/sql")
///     .body(Vec::new())
///     .unwrap();
/// let response = transport.send(request).unwrap();
/// assert_eq!(response.status(), 200);
/// ```
pub fn transport_fn<F>(f: F) -> TransportFn<F>
where
    F: Fn(HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync,
{
    TransportFn(f)
}

impl<F> Transport for TransportFn<F>
where
    F: Fn(HttpRequest) -> Result<HttpResponse, TransportError> + Send + Sync,
{
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        (self.0)(request)
    }
}

impl<F> fmt::Debug for TransportFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TransportFn(..)")
    }
}

/// An [`AsyncTransport`] that calls a closure returning a future; see
/// [`async_transport_fn`].
#[derive(Clone)]
pub struct AsyncTransportFn<F>(F);

/// Uses a closure returning a `Send` future as an [`AsyncTransport`].
///
/// ```
/// use carto_transport::{AsyncTransport, async_transport_fn};
///
/// let transport = async_transport_fn(|request: http::Request<Vec<u8>>| async move {
///     Ok(http::Response::builder()
///         .status(404)
///         .body(request.uri().path().as_bytes().to_vec())
///         .unwrap())
/// });
/// let request = http::Request::get("https://alice.carto.com/nope")
///     .body(Vec::new())
///     .unwrap();
/// let response = futures_util::FutureExt::now_or_never(transport.send(request))
///     .unwrap()
///     .unwrap();
/// assert_eq!(response.status(), 404);
/// assert_eq!(response.body(), b"/nope");
/// ```
pub fn async_transport_fn<F, Fut>(f: F) -> AsyncTransportFn<F>
where
    F: Fn(HttpRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<HttpResponse, TransportError>> + Send + 'static,
{
    AsyncTransportFn(f)
}

impl<F, Fut> AsyncTransport for AsyncTransportFn<F>
where
    F: Fn(HttpRequest) -> Fut + Send + Sync,
    Fut: Future<Output = Result<HttpResponse, TransportError>> + Send + 'static,
{
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin((self.0)(request))
    }
}

impl<F> fmt::Debug for AsyncTransportFn<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AsyncTransportFn(..)")
    }
}
