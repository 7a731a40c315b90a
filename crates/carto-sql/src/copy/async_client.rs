//! [`AsyncCopyClient`]: COPY FROM and COPY TO over an [`AsyncTransport`], streamed both
//! ways.

use std::fmt;
use std::io;
#[cfg(feature = "tokio")]
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use carto_core::{Credentials, Endpoint, Error, RequestContext};
use carto_transport::{AsyncTransport, AsyncUpload, BodyStream, ClientCore, DecodedStream};
#[cfg(feature = "tokio")]
use futures_util::TryStreamExt;
use futures_util::{Stream, StreamExt, ready};
#[cfg(feature = "tokio")]
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::body::async_body;
#[cfg(feature = "tokio")]
use super::body::{CHUNK, ExactStream, KnownLength};
use super::request::{
    CopyFrom, CopyFromOptions, CopyFromResult, CopyTo, CopyToOptions, ProgressFn,
    attachment_filename, single,
};
#[cfg(feature = "tokio")]
use super::request::{create_error, open_error, write_error};
use super::trailer::TrailerCheck;

/// The COPY API (`/api/v2/sql/copyfrom`, `/api/v2/sql/copyto`) from async code, with
/// the same methods as [`CopyClient`](super::CopyClient). Uploads and downloads are
/// streamed: memory stays flat whatever the size.
///
/// ```no_run
/// use carto_sql::copy::{AsyncCopyClient, CopyFromOptions, CopyToOptions};
/// # async fn run(transport: impl carto_transport::AsyncTransport, creds: carto_core::Credentials) -> Result<(), carto_core::Error> {
/// let copy = AsyncCopyClient::from_credentials(transport, creds);
/// let file = tokio::fs::File::open("cities.csv").await.expect("file");
/// let loaded = copy
///     .copy_from(
///         "COPY cities (name, population) FROM STDIN WITH (FORMAT csv, HEADER true)",
///         file,
///         &CopyFromOptions::new().gzip(1),
///     )
///     .await?;
/// let mut out: Vec<u8> = Vec::new();
/// copy.copy_to_writer("COPY cities TO STDOUT", &mut out, &CopyToOptions::new())
///     .await?;
/// # let _ = loaded;
/// # Ok(()) }
/// ```
///
/// `Debug` never shows the token.
#[derive(Clone)]
pub struct AsyncCopyClient<T> {
    core: ClientCore<T>,
}

impl<T: AsyncTransport> AsyncCopyClient<T> {
    /// A client sending through `transport` with the given request context.
    pub fn new(transport: T, ctx: RequestContext) -> Self {
        Self {
            core: ClientCore::new(transport, ctx),
        }
    }

    /// A client for `credentials`, with the key in the Basic header.
    pub fn from_credentials(transport: T, credentials: Credentials) -> Self {
        Self::new(transport, RequestContext::new(credentials))
    }

    /// The request context (credentials, auth placement, user agent).
    pub fn context(&self) -> &RequestContext {
        self.core.context()
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        self.core.transport()
    }
}

/// Shows the request context (never the token), not the transport.
impl<T> fmt::Debug for AsyncCopyClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_debug("AsyncCopyClient", f)
    }
}

impl<T: AsyncTransport> AsyncCopyClient<T> {
    /// Sends any endpoint and parses its answer.
    pub async fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// Runs `sql` (`COPY ... FROM STDIN ...`) with the bytes of `source` as its data,
    /// read and sent as they come (chunked), gzip-compressed on the way when `options`
    /// asks (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn copy_from<R: AsyncRead + Send + 'static>(
        &self,
        sql: &str,
        source: R,
        options: &CopyFromOptions,
    ) -> Result<CopyFromResult, Error> {
        let stream = tokio_util::io::ReaderStream::with_capacity(source, CHUNK);
        self.copy_from_stream(sql, stream, options).await
    }

    /// [`copy_from`](Self::copy_from) with the data as a stream of chunks; an `Err`
    /// item aborts the upload (CARTO rolls the COPY back).
    pub async fn copy_from_stream<S>(
        &self,
        sql: &str,
        stream: S,
        options: &CopyFromOptions,
    ) -> Result<CopyFromResult, Error>
    where
        S: Stream<Item = Result<Bytes, io::Error>> + Send + 'static,
    {
        let stream: BodyStream = Box::pin(stream);
        let body = async_body(stream, options.gzip_level(), options.progress_fn());
        self.upload(
            CopyFrom::from_options(sql, options),
            AsyncUpload::once(body),
        )
        .await
    }

    async fn upload(
        &self,
        endpoint: CopyFrom,
        upload: AsyncUpload,
    ) -> Result<CopyFromResult, Error> {
        let mut answer = self
            .core
            .send_streaming_async(&endpoint, Some(upload))
            .await?;
        single(answer.next().await)
    }

    /// [`copy_from`](Self::copy_from) with the content of the file at `path` (feature
    /// `tokio`).
    ///
    /// The file is opened again for each attempt, so an upload CARTO's rate limiter
    /// refused (429 with `Retry-After`) is sent again after the wait; the progress
    /// callback then counts from zero again.
    ///
    /// Uncompressed, a regular file is sent with its length (`Content-Length`, no chunk
    /// framing): the bytes it has when the call starts. A file that shrinks meanwhile
    /// fails the upload (and CARTO loads none of it).
    #[cfg(feature = "tokio")]
    pub async fn copy_from_path(
        &self,
        sql: &str,
        path: impl AsRef<Path>,
        options: &CopyFromOptions,
    ) -> Result<CopyFromResult, Error> {
        let path = path.as_ref().to_path_buf();
        let (gzip, progress) = (options.gzip_level(), options.progress_fn());
        let mut endpoint = CopyFrom::from_options(sql, options);
        let mut length = None;
        if gzip.is_none() {
            let metadata = tokio::fs::metadata(&path)
                .await
                .map_err(|e| open_error(&path, e))?;
            length = KnownLength::of(&metadata);
        }
        if let Some(KnownLength(n)) = length {
            endpoint = endpoint.content_length(n);
        }
        let upload = AsyncUpload::rebuild(move || {
            let (path, progress) = (path.clone(), progress.clone());
            async move {
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| open_error(&path, e))?;
                let stream: BodyStream =
                    Box::pin(tokio_util::io::ReaderStream::with_capacity(file, CHUNK));
                Ok(match length {
                    Some(length) => {
                        async_body(Box::pin(ExactStream::new(stream, length)), None, progress)
                    }
                    None => async_body(stream, gzip, progress),
                })
            }
        });
        self.upload(endpoint, upload).await
    }

    /// Runs `sql` (`COPY ... TO STDOUT ...`) and returns its output as a stream of
    /// chunks, as they arrive (see [`CopyToStream`] for a failure after the output
    /// started).
    pub async fn copy_to(&self, sql: &str, options: &CopyToOptions) -> Result<CopyToStream, Error> {
        let endpoint = CopyTo::from_options(sql, options);
        let inner = self.core.send_streaming_async(&endpoint, None).await?;
        Ok(CopyToStream {
            filename: attachment_filename(&inner.head().headers),
            inner,
            count: 0,
            progress: options.progress_fn(),
        })
    }

    /// Runs `sql` and writes its output into `writer`; returns the number of bytes
    /// written. Write failures are reported as [`Error::Transport`] of kind
    /// [`Io`](carto_core::TransportErrorKind::Io). Feature `tokio`.
    #[cfg(feature = "tokio")]
    pub async fn copy_to_writer<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        sql: &str,
        writer: &mut W,
        options: &CopyToOptions,
    ) -> Result<u64, Error> {
        let stream = self.copy_to(sql, options).await?;
        drain(stream, writer).await
    }

    /// Runs `sql` and writes its output into the file at `path` (created or
    /// truncated); returns the number of bytes written. On a failure midway, the file
    /// keeps what arrived before it. Feature `tokio`.
    #[cfg(feature = "tokio")]
    pub async fn copy_to_path(
        &self,
        sql: &str,
        path: impl AsRef<Path>,
        options: &CopyToOptions,
    ) -> Result<u64, Error> {
        let path = path.as_ref();
        let stream = self.copy_to(sql, options).await?;
        let file = tokio::fs::File::create(path)
            .await
            .map_err(|e| create_error(path, e))?;
        let mut file = tokio::io::BufWriter::with_capacity(CHUNK, file);
        let result = drain(stream, &mut file).await;
        if result.is_err() {
            // Keep what arrived before the failure in the file.
            let _ = file.flush().await;
        }
        result
    }
}

/// The output of a COPY TO as a stream of chunks, as they arrive.
///
/// The last [`HOLD_BACK`](super::HOLD_BACK) bytes are held until the end of the body to
/// detect the error CARTO appends when the query fails after the output started;
/// such an error is not passed on as data but ends the stream with an [`Error::Api`]
/// (status 200).
pub struct CopyToStream {
    inner: DecodedStream<TrailerCheck>,
    count: u64,
    progress: Option<ProgressFn>,
    filename: Option<String>,
}

impl CopyToStream {
    /// The file name of the `Content-Disposition` header, decoded.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The bytes passed on so far.
    pub fn bytes_read(&self) -> u64 {
        self.count
    }

    /// The stream as a tokio `AsyncRead`; errors become `io::Error`s wrapping the
    /// [`Error`]. Feature `tokio`.
    #[cfg(feature = "tokio")]
    pub fn into_async_read(self) -> impl AsyncRead + Send + Unpin {
        tokio_util::io::StreamReader::new(self.map_err(io::Error::other))
    }
}

impl Stream for CopyToStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let item = ready!(this.inner.poll_next_unpin(cx));
        if let Some(Ok(chunk)) = &item {
            this.count += chunk.len() as u64;
            if let Some(progress) = &this.progress {
                progress(this.count);
            }
        }
        Poll::Ready(item)
    }
}

impl fmt::Debug for CopyToStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyToStream")
            .field("filename", &self.filename)
            .field("bytes_read", &self.count)
            .finish_non_exhaustive()
    }
}

/// Writes every chunk of `stream` into `writer`, then flushes it; returns the number
/// of bytes written.
#[cfg(feature = "tokio")]
async fn drain<W: AsyncWrite + Unpin + ?Sized>(
    mut stream: CopyToStream,
    writer: &mut W,
) -> Result<u64, Error> {
    let mut written = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        writer.write_all(&chunk).await.map_err(write_error)?;
        written += chunk.len() as u64;
    }
    writer.flush().await.map_err(write_error)?;
    Ok(written)
}
