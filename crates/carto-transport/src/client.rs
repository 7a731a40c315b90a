//! [`ClientCore`]: the transport and request context every carto-rs client holds.

use std::fmt;

use carto_core::{Credentials, Endpoint, Error, RequestContext};

use crate::body::{AsyncUpload, Upload};
use crate::mode::Mode;
use crate::send::{send, send_async};
use crate::streaming::{
    Collected, Decoded, DecodedStream, StreamingEndpoint, send_collect, send_collect_async,
    send_streaming, send_streaming_async,
};
use crate::transport::{AsyncTransport, Transport};

/// What every carto-rs client is made of: a transport and the [`RequestContext`] its
/// requests are built with. The SQL, Batch, COPY and API key clients wrap one.
///
/// `Debug` shows the context (which never shows the token), not the transport.
pub struct ClientCore<T> {
    transport: T,
    ctx: RequestContext,
}

impl<T> ClientCore<T> {
    /// A core sending through `transport` with the given request context.
    pub fn new(transport: T, ctx: RequestContext) -> Self {
        Self { transport, ctx }
    }

    /// A core for `credentials`, with the key in the Basic header.
    pub fn from_credentials(transport: T, credentials: Credentials) -> Self {
        Self::new(transport, RequestContext::new(credentials))
    }

    /// The request context.
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport and the request context, taken apart.
    pub fn into_parts(self) -> (T, RequestContext) {
        (self.transport, self.ctx)
    }

    /// The same core with other credentials (a clone of the transport, the same
    /// auth placement and user agent).
    pub fn with_credentials(&self, credentials: Credentials) -> Self
    where
        T: Clone,
    {
        Self::new(
            self.transport.clone(),
            self.ctx.clone().with_credentials(credentials),
        )
    }

    /// Writes the `Debug` of a client named `name` that wraps this core: its context
    /// and nothing else.
    pub fn fmt_debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("context", &self.ctx)
            .finish_non_exhaustive()
    }

    /// [`fmt_debug`](Self::fmt_debug) for a client of mode `M`: `name` with the mode's
    /// prefix (`SqlClient`, `AsyncSqlClient`).
    pub fn fmt_client<M: Mode>(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_debug(&format!("{}{name}", M::PREFIX), f)
    }
}

impl<T: Transport> ClientCore<T> {
    /// Sends any endpoint through the blocking transport and parses its answer
    /// ([`send`](crate::send)).
    pub fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        send(&self.transport, &self.ctx, endpoint)
    }

    /// Sends a streaming endpoint through the blocking transport and returns its body
    /// decoded as it arrives ([`send_streaming`](crate::send_streaming)).
    pub fn send_streaming<E: StreamingEndpoint + ?Sized>(
        &self,
        endpoint: &E,
        upload: Option<Upload>,
    ) -> Result<Decoded<E::Decoder>, Error> {
        send_streaming(&self.transport, &self.ctx, endpoint, upload)
    }

    /// Sends a streaming endpoint through the blocking transport and reads its whole
    /// body through its decoder as it arrives ([`send_collect`](crate::send_collect)).
    pub fn send_collect<E: StreamingEndpoint + ?Sized>(
        &self,
        endpoint: &E,
    ) -> Result<Collected<E::Decoder>, Error> {
        send_collect(&self.transport, &self.ctx, endpoint)
    }
}

impl<T: AsyncTransport> ClientCore<T> {
    /// Sends any endpoint through the async transport and parses its answer
    /// ([`send_async`](crate::send_async)).
    pub async fn send_async<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        send_async(&self.transport, &self.ctx, endpoint).await
    }

    /// Sends a streaming endpoint through the async transport and returns its body
    /// decoded as it arrives ([`send_streaming_async`](crate::send_streaming_async)).
    pub async fn send_streaming_async<E: StreamingEndpoint + ?Sized>(
        &self,
        endpoint: &E,
        upload: Option<AsyncUpload>,
    ) -> Result<DecodedStream<E::Decoder>, Error> {
        send_streaming_async(&self.transport, &self.ctx, endpoint, upload).await
    }

    /// Sends a streaming endpoint through the async transport and reads its whole body
    /// through its decoder as it arrives ([`send_collect_async`](crate::send_collect_async)).
    pub async fn send_collect_async<E>(&self, endpoint: &E) -> Result<Collected<E::Decoder>, Error>
    where
        E: StreamingEndpoint + ?Sized,
        E::Decoder: Unpin,
    {
        send_collect_async(&self.transport, &self.ctx, endpoint).await
    }
}

impl<T: Clone> Clone for ClientCore<T> {
    fn clone(&self) -> Self {
        Self::new(self.transport.clone(), self.ctx.clone())
    }
}

impl<T> fmt::Debug for ClientCore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_debug("ClientCore", f)
    }
}
