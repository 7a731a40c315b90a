//! The [`Transport`] (sync) and [`AsyncTransport`] (async) traits.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use carto_core::{HttpRequest, HttpResponse};

use crate::body::{AsyncBody, Body, ByteStream, ResponseReader};
use crate::error::TransportError;

/// A boxed, `Send` future, as [`AsyncTransport`] returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Sends HTTP requests and blocks until their response arrives.
///
/// Every status is a response: 4xx and 5xx come back as `Ok` with their body intact;
/// `Err` means no response was received. Never call a blocking transport from inside
/// an async runtime: use an [`AsyncTransport`] there.
pub trait Transport: Send + Sync {
    /// Sends a buffered request and reads the whole response body.
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError>;

    /// Sends a request whose body may be read as it is sent, and returns the response
    /// as soon as its head arrives, its body to be read as it comes.
    ///
    /// The default buffers the request body, calls [`send`](Transport::send) and serves
    /// the buffered response body; backends override it to stream both ways.
    fn send_streaming(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseReader>, TransportError> {
        let (parts, body) = request.into_parts();
        let body = body.into_bytes().map_err(TransportError::from_io)?;
        let response = self.send(http::Request::from_parts(parts, body))?;
        Ok(response.map(ResponseReader::from_bytes))
    }

    /// Waits `duration` before a retry. The default is `std::thread::sleep`; a test
    /// double may record the wait instead.
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// Sends HTTP requests from async code; the futures are `Send`.
///
/// Every status is a response: 4xx and 5xx come back as `Ok` with their body intact;
/// `Err` means no response was received.
pub trait AsyncTransport: Send + Sync {
    /// Sends a buffered request and reads the whole response body.
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;

    /// Sends a request whose body may be streamed, and returns the response as soon as
    /// its head arrives, its body to be read as it comes.
    ///
    /// The default collects the request body, calls [`send`](AsyncTransport::send) and
    /// serves the buffered response body; backends override it to stream both ways.
    fn send_streaming(
        &self,
        request: http::Request<AsyncBody>,
    ) -> BoxFuture<'_, Result<http::Response<ByteStream>, TransportError>> {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body.into_bytes().await.map_err(TransportError::from_io)?;
            let response = self
                .send(http::Request::from_parts(parts, body.into()))
                .await?;
            Ok(response.map(ByteStream::from_bytes))
        })
    }

    /// A future that waits `duration` before a retry, or `None` when this transport has
    /// no timer: then no retry that needs a wait is made.
    ///
    /// The default uses tokio's timer with the `tokio` feature (on with `reqwest`), and
    /// is `None` without it. A transport on another runtime returns that runtime's
    /// sleep; a test double may record the wait and return a ready future.
    fn sleep(&self, duration: Duration) -> Option<BoxFuture<'static, ()>> {
        #[cfg(feature = "tokio")]
        {
            Some(Box::pin(tokio::time::sleep(duration)))
        }
        #[cfg(not(feature = "tokio"))]
        {
            let _ = duration;
            None
        }
    }
}

macro_rules! forward_sync {
    ($($ty:ty),*) => {$(
        impl<T: Transport + ?Sized> Transport for $ty {
            fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
                (**self).send(request)
            }

            fn send_streaming(
                &self,
                request: http::Request<Body>,
            ) -> Result<http::Response<ResponseReader>, TransportError> {
                (**self).send_streaming(request)
            }

            fn sleep(&self, duration: Duration) {
                (**self).sleep(duration)
            }
        }
    )*};
}

macro_rules! forward_async {
    ($($ty:ty),*) => {$(
        impl<T: AsyncTransport + ?Sized> AsyncTransport for $ty {
            fn send(
                &self,
                request: HttpRequest,
            ) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
                (**self).send(request)
            }

            fn send_streaming(
                &self,
                request: http::Request<AsyncBody>,
            ) -> BoxFuture<'_, Result<http::Response<ByteStream>, TransportError>> {
                (**self).send_streaming(request)
            }

            fn sleep(&self, duration: Duration) -> Option<BoxFuture<'static, ()>> {
                (**self).sleep(duration)
            }
        }
    )*};
}

forward_sync!(&T, Box<T>, Arc<T>);
forward_async!(&T, Box<T>, Arc<T>);
