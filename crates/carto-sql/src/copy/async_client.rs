//! [`AsyncCopyClient`]: COPY FROM and COPY TO over an [`AsyncTransport`], streamed both
//! ways.

use std::fmt;
use std::io;
#[cfg(feature = "tokio")]
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use carto_core::Error;
use carto_core::endpoint::loggable_path;
use carto_transport::{AsyncBody, AsyncTransport, BodyStream, ByteStream, ClientCore};
#[cfg(feature = "tokio")]
use futures_util::TryStreamExt;
use futures_util::{Stream, StreamExt};
#[cfg(feature = "tokio")]
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

#[cfg(feature = "tokio")]
use super::body::CHUNK;
use super::body::async_body;
use super::request::{
    CopyFrom, CopyFromOptions, CopyFromResult, CopyTo, CopyToOptions, MAX_ERROR_BODY, ProgressFn,
    attachment_filename, head_error, trace,
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
pub struct AsyncCopyClient<T> {
    core: ClientCore<T>,
}

carto_transport::__client_core_methods!(AsyncCopyClient, AsyncTransport, "client");

impl<T: AsyncTransport> AsyncCopyClient<T> {
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
        let endpoint = CopyFrom::from_options(sql, options);
        let head = endpoint.to_request_head(self.core.context())?;
        let stream: BodyStream = Box::pin(stream);
        let body = async_body(stream, options.gzip_level(), options.progress_fn());
        let (parts, ()) = head.into_parts();
        let response = self.stream(http::Request::from_parts(parts, body)).await?;
        let (parts, body) = response.into_parts();
        let data = read_limited(body, MAX_ERROR_BODY).await?;
        endpoint.parse(http::Response::from_parts(parts, data))
    }

    /// [`copy_from`](Self::copy_from) with the content of the file at `path` (feature
    /// `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn copy_from_path(
        &self,
        sql: &str,
        path: impl AsRef<Path>,
        options: &CopyFromOptions,
    ) -> Result<CopyFromResult, Error> {
        let path = path.as_ref();
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| open_error(path, e))?;
        self.copy_from(sql, file, options).await
    }

    /// Runs `sql` (`COPY ... TO STDOUT ...`) and returns its output as a stream of
    /// chunks, as they arrive (see [`CopyToStream`] for a failure after the output
    /// started).
    pub async fn copy_to(&self, sql: &str, options: &CopyToOptions) -> Result<CopyToStream, Error> {
        let request = CopyTo::from_options(sql, options).to_request(self.core.context())?;
        let response = self.stream(request.map(AsyncBody::from)).await?;
        let (parts, body) = response.into_parts();
        if !parts.status.is_success() {
            let data = read_limited(body, MAX_ERROR_BODY).await?;
            return Err(head_error(&parts, &data));
        }
        Ok(CopyToStream {
            filename: attachment_filename(&parts.headers),
            inner: body,
            check: TrailerCheck::new(),
            error: None,
            done: false,
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

    async fn stream(
        &self,
        request: http::Request<AsyncBody>,
    ) -> Result<http::Response<ByteStream>, Error> {
        let method = request.method().clone();
        let path = loggable_path(request.uri()).to_owned();
        let result = self.core.transport().send_streaming(request).await;
        trace(
            &method,
            &path,
            result.as_ref().map(|r| r.status()).map_err(|e| e.kind()),
        );
        Ok(result?)
    }
}

/// The output of a COPY TO as a stream of chunks, as they arrive.
///
/// The last [`HOLD_BACK`](super::HOLD_BACK) bytes are held until the end of the body to
/// detect the error CARTO appends when the query fails after the output started;
/// such an error is not passed on as data but ends the stream with an [`Error::Api`]
/// (status 200).
pub struct CopyToStream {
    inner: ByteStream,
    check: TrailerCheck,
    error: Option<Error>,
    done: bool,
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

    fn emit(&mut self, chunk: Bytes) -> Poll<Option<Result<Bytes, Error>>> {
        self.count += chunk.len() as u64;
        if let Some(progress) = &self.progress {
            progress(self.count);
        }
        Poll::Ready(Some(Ok(chunk)))
    }
}

impl Stream for CopyToStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(err) = this.error.take() {
                return Poll::Ready(Some(Err(err)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match this.inner.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(ready) = this.check.push(&chunk) {
                        return this.emit(ready);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    let (rest, error) = this.check.finish();
                    this.error = error.map(Error::from);
                    if !rest.is_empty() {
                        return this.emit(rest);
                    }
                }
            }
        }
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

/// Reads at most `limit` bytes of a (small) response body.
async fn read_limited(mut body: ByteStream, limit: usize) -> Result<Vec<u8>, Error> {
    let mut data = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        let room = limit - data.len();
        data.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if data.len() >= limit {
            break;
        }
    }
    Ok(data)
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
