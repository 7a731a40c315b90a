//! Request and response bodies for streaming calls: [`Body`] and [`ResponseReader`]
//! (sync), [`AsyncBody`] and [`ByteStream`] (async).

use std::fmt;
use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};

use crate::error::TransportError;

/// A request body for [`Transport::send_streaming`](crate::Transport::send_streaming):
/// bytes in memory, or a reader sent as it is read (chunked, unless the request has a
/// `Content-Length`).
pub enum Body {
    /// A buffered body. Can be sent again.
    Bytes(Vec<u8>),
    /// A body read as it is sent. Can be sent only once.
    Reader(Box<dyn Read + Send>),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Self::Bytes(Vec::new())
    }

    /// A body read from `reader` as it is sent.
    pub fn from_reader(reader: impl Read + Send + 'static) -> Self {
        Self::Reader(Box::new(reader))
    }

    /// Whether the body is in memory (and so may be sent again).
    pub fn is_buffered(&self) -> bool {
        matches!(self, Self::Bytes(_))
    }

    /// Reads the whole body into memory.
    pub fn into_bytes(self) -> io::Result<Vec<u8>> {
        match self {
            Self::Bytes(data) => Ok(data),
            Self::Reader(mut reader) => {
                let mut data = Vec::new();
                reader.read_to_end(&mut data)?;
                Ok(data)
            }
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Self::empty()
    }
}

impl From<Vec<u8>> for Body {
    fn from(value: Vec<u8>) -> Self {
        Self::Bytes(value)
    }
}

impl From<&'static [u8]> for Body {
    fn from(value: &'static [u8]) -> Self {
        Self::Bytes(value.to_vec())
    }
}

impl From<String> for Body {
    fn from(value: String) -> Self {
        Self::Bytes(value.into_bytes())
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(data) => write!(f, "Body::Bytes({} bytes)", data.len()),
            Self::Reader(_) => f.write_str("Body::Reader(..)"),
        }
    }
}

/// A response body read as it arrives, from
/// [`Transport::send_streaming`](crate::Transport::send_streaming).
///
/// Read errors are `io::Error`s; those from the transport wrap a [`TransportError`]
/// (see [`TransportError::from_io`]).
pub struct ResponseReader(Box<dyn Read + Send>);

impl ResponseReader {
    /// Wraps a reader.
    pub fn new(reader: impl Read + Send + 'static) -> Self {
        Self(Box::new(reader))
    }

    /// A reader over bytes already in memory.
    pub fn from_bytes(data: Vec<u8>) -> Self {
        Self::new(io::Cursor::new(data))
    }

    /// Reads the rest of the body into memory.
    pub fn into_bytes(mut self) -> Result<Vec<u8>, TransportError> {
        let mut data = Vec::new();
        self.0
            .read_to_end(&mut data)
            .map_err(TransportError::from_io)?;
        Ok(data)
    }
}

impl Read for ResponseReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl fmt::Debug for ResponseReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ResponseReader(..)")
    }
}

/// A stream of body chunks as an [`AsyncBody`] takes it.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, io::Error>> + Send>>;

/// A request body for
/// [`AsyncTransport::send_streaming`](crate::AsyncTransport::send_streaming): bytes in
/// memory, or a stream of chunks sent as they come.
pub enum AsyncBody {
    /// A buffered body. Can be sent again.
    Bytes(Bytes),
    /// A body streamed as it is sent. Can be sent only once.
    Stream(BodyStream),
}

impl AsyncBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self::Bytes(Bytes::new())
    }

    /// A body sent as `stream` yields its chunks.
    pub fn from_stream(
        stream: impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static,
    ) -> Self {
        Self::Stream(Box::pin(stream))
    }

    /// A body read from a tokio `AsyncRead` as it is sent (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub fn from_async_read(reader: impl tokio::io::AsyncRead + Send + 'static) -> Self {
        Self::from_stream(tokio_util::io::ReaderStream::new(reader))
    }

    /// Whether the body is in memory (and so may be sent again).
    pub fn is_buffered(&self) -> bool {
        matches!(self, Self::Bytes(_))
    }

    /// Collects the whole body into memory.
    pub async fn into_bytes(self) -> io::Result<Bytes> {
        match self {
            Self::Bytes(data) => Ok(data),
            Self::Stream(stream) => {
                let chunks: Vec<Bytes> = stream.try_collect().await?;
                let mut data = Vec::with_capacity(chunks.iter().map(Bytes::len).sum());
                chunks.iter().for_each(|c| data.extend_from_slice(c));
                Ok(data.into())
            }
        }
    }
}

impl Default for AsyncBody {
    fn default() -> Self {
        Self::empty()
    }
}

impl From<Vec<u8>> for AsyncBody {
    fn from(value: Vec<u8>) -> Self {
        Self::Bytes(value.into())
    }
}

impl From<Bytes> for AsyncBody {
    fn from(value: Bytes) -> Self {
        Self::Bytes(value)
    }
}

impl From<String> for AsyncBody {
    fn from(value: String) -> Self {
        Self::Bytes(value.into())
    }
}

impl From<&'static [u8]> for AsyncBody {
    fn from(value: &'static [u8]) -> Self {
        Self::Bytes(Bytes::from_static(value))
    }
}

impl fmt::Debug for AsyncBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(data) => write!(f, "AsyncBody::Bytes({} bytes)", data.len()),
            Self::Stream(_) => f.write_str("AsyncBody::Stream(..)"),
        }
    }
}

/// A response body as a stream of chunks, from
/// [`AsyncTransport::send_streaming`](crate::AsyncTransport::send_streaming).
pub struct ByteStream(Pin<Box<dyn Stream<Item = Result<Bytes, TransportError>> + Send>>);

impl ByteStream {
    /// Wraps a stream.
    pub fn new(stream: impl Stream<Item = Result<Bytes, TransportError>> + Send + 'static) -> Self {
        Self(Box::pin(stream))
    }

    /// A stream of one chunk already in memory (none when it is empty).
    pub fn from_bytes(data: impl Into<Bytes>) -> Self {
        let data = data.into();
        let chunk = (!data.is_empty()).then_some(Ok(data));
        Self::new(futures_util::stream::iter(chunk))
    }

    /// Collects the rest of the body into memory.
    pub async fn into_bytes(mut self) -> Result<Vec<u8>, TransportError> {
        let mut data = Vec::new();
        while let Some(chunk) = self.next().await {
            data.extend_from_slice(&chunk?);
        }
        Ok(data)
    }

    /// The body as a tokio `AsyncRead` (errors become `io::Error`s that wrap the
    /// [`TransportError`]; feature `tokio`).
    #[cfg(feature = "tokio")]
    pub fn into_async_read(self) -> impl tokio::io::AsyncRead + Send + Unpin {
        tokio_util::io::StreamReader::new(self.map_err(io::Error::from))
    }
}

impl Stream for ByteStream {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.as_mut().poll_next(cx)
    }
}

impl fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ByteStream(..)")
    }
}

/// The body of a sync streaming upload, and whether it can be built again for a retry.
///
/// CARTO may answer a rate-limited upload with 429 and `Retry-After` before running it;
/// the client sends it again only when it can rebuild the body: an upload of
/// [bytes](Body::Bytes) or one made by a [factory](Upload::rebuild) (for example one
/// that reopens a file). An upload [from a reader](Upload::once) is sent once.
pub struct Upload(UploadSource);

enum UploadSource {
    Once(Option<Body>),
    Rebuild(Box<dyn FnMut() -> Result<Body, carto_core::Error> + Send>),
}

impl Upload {
    /// An upload of `body`, sent once unless it is [`Body::Bytes`].
    pub fn once(body: Body) -> Self {
        Self(UploadSource::Once(Some(body)))
    }

    /// An upload built by `make` for each attempt (it opens its source again).
    pub fn rebuild(make: impl FnMut() -> Result<Body, carto_core::Error> + Send + 'static) -> Self {
        Self(UploadSource::Rebuild(Box::new(make)))
    }

    /// Whether the body can be sent again.
    pub fn is_replayable(&self) -> bool {
        match &self.0 {
            UploadSource::Once(body) => body.as_ref().is_some_and(Body::is_buffered),
            UploadSource::Rebuild(_) => true,
        }
    }

    /// The body of the next attempt; `keep` keeps what a later attempt needs.
    pub(crate) fn next_body(&mut self, keep: bool) -> Result<Body, carto_core::Error> {
        match &mut self.0 {
            UploadSource::Rebuild(make) => make(),
            UploadSource::Once(slot) => take_once(slot, keep, |body| match body {
                Body::Bytes(data) => Some(Body::Bytes(data.clone())),
                Body::Reader(_) => None,
            }),
        }
    }
}

impl From<Body> for Upload {
    fn from(body: Body) -> Self {
        Self::once(body)
    }
}

impl fmt::Debug for Upload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            UploadSource::Once(body) => f.debug_tuple("Upload::Once").field(body).finish(),
            UploadSource::Rebuild(_) => f.write_str("Upload::Rebuild(..)"),
        }
    }
}

/// Takes the body of a once-only upload, leaving a copy when `keep` and the body can be
/// copied (`copy` gives it: bytes, not a reader or a stream).
fn take_once<B>(
    slot: &mut Option<B>,
    keep: bool,
    copy: impl Fn(&B) -> Option<B>,
) -> Result<B, carto_core::Error> {
    let body = slot.take().ok_or_else(|| {
        carto_core::Error::invalid(
            "streamed request body",
            "the upload was already sent and cannot be sent again",
        )
    })?;
    if keep {
        *slot = copy(&body);
    }
    Ok(body)
}

/// A boxed factory of async upload bodies, as [`AsyncUpload::rebuild`] takes.
type AsyncBodyFactory = Box<
    dyn FnMut() -> crate::transport::BoxFuture<'static, Result<AsyncBody, carto_core::Error>>
        + Send,
>;

/// The body of an async streaming upload, and whether it can be built again for a retry
/// (see [`Upload`]).
pub struct AsyncUpload(AsyncUploadSource);

enum AsyncUploadSource {
    Once(Option<AsyncBody>),
    Rebuild(AsyncBodyFactory),
}

impl AsyncUpload {
    /// An upload of `body`, sent once unless it is [`AsyncBody::Bytes`].
    pub fn once(body: AsyncBody) -> Self {
        Self(AsyncUploadSource::Once(Some(body)))
    }

    /// An upload built by `make` for each attempt (it opens its source again).
    pub fn rebuild<F, Fut>(mut make: F) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<AsyncBody, carto_core::Error>> + Send + 'static,
    {
        Self(AsyncUploadSource::Rebuild(Box::new(move || {
            Box::pin(make())
        })))
    }

    /// Whether the body can be sent again.
    pub fn is_replayable(&self) -> bool {
        match &self.0 {
            AsyncUploadSource::Once(body) => body.as_ref().is_some_and(AsyncBody::is_buffered),
            AsyncUploadSource::Rebuild(_) => true,
        }
    }

    /// The body of the next attempt (a cheap clone of buffered bytes).
    pub(crate) async fn next_body(&mut self) -> Result<AsyncBody, carto_core::Error> {
        match &mut self.0 {
            AsyncUploadSource::Rebuild(make) => make().await,
            AsyncUploadSource::Once(slot) => take_once(slot, true, |body| match body {
                AsyncBody::Bytes(data) => Some(AsyncBody::Bytes(data.clone())),
                AsyncBody::Stream(_) => None,
            }),
        }
    }
}

impl From<AsyncBody> for AsyncUpload {
    fn from(body: AsyncBody) -> Self {
        Self::once(body)
    }
}

impl fmt::Debug for AsyncUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            AsyncUploadSource::Once(Some(AsyncBody::Bytes(b))) => {
                write!(f, "AsyncUpload::Once({} bytes)", b.len())
            }
            AsyncUploadSource::Once(_) => f.write_str("AsyncUpload::Once(..)"),
            AsyncUploadSource::Rebuild(_) => f.write_str("AsyncUpload::Rebuild(..)"),
        }
    }
}
