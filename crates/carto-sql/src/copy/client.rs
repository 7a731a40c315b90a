//! [`CopyApi`]: COPY FROM and COPY TO streamed both ways, blocking ([`CopyClient`],
//! over a [`Transport`]) or async ([`AsyncCopyClient`], over an [`AsyncTransport`]);
//! each operation's two methods side by side.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::path::Path;

use bytes::Bytes;
use carto_core::{Credentials, Endpoint, Error, RequestContext};
use carto_transport::{
    Async, AsyncTransport, AsyncUpload, Blocking, BodyStream, ClientCore, Mode, Transport, Upload,
};
use futures_util::{Stream, StreamExt};
#[cfg(feature = "tokio")]
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

#[cfg(feature = "tokio")]
use super::body::ExactStream;
use super::body::{CHUNK, ExactReader, KnownLength, async_body, sync_body};
#[cfg(feature = "tokio")]
use super::reader::drain_async;
use super::reader::{CopyToReader, CopyToStream, drain};
use super::request::{
    CopyFrom, CopyFromOptions, CopyFromResult, CopyTo, CopyToOptions, create_error, open_error,
    single,
};

/// The COPY API (`/api/v2/sql/copyfrom`, `/api/v2/sql/copyto`) over `T`, blocking or
/// async as `M` says. Use it through its two names, [`CopyClient`] ([`Blocking`]) and
/// [`AsyncCopyClient`] ([`Async`]): the same methods, `async` in the second. Uploads
/// and downloads are streamed: memory stays flat whatever the size.
///
/// `Debug` shows the request context, never the token, nor the transport.
#[derive(Clone)]
pub struct CopyApi<T, M> {
    core: ClientCore<T>,
    mode: PhantomData<fn() -> M>,
}

/// The COPY API, blocking the calling thread ([`CopyApi`] over a [`Transport`]).
///
/// ```no_run
/// use carto_sql::copy::{CopyClient, CopyFromOptions, CopyToOptions};
/// # fn run(transport: impl carto_transport::Transport, creds: carto_core::Credentials) -> Result<(), carto_core::Error> {
/// let copy = CopyClient::from_credentials(transport, creds);
/// let loaded = copy.copy_from_path_with(
///     "COPY cities (name, population) FROM STDIN WITH (FORMAT csv, HEADER true)",
///     "cities.csv",
///     &CopyFromOptions::new().gzip(1),
/// )?;
/// println!("{} rows in {:?}", loaded.total_rows, loaded.time);
/// let bytes = copy.copy_to_path_with(
///     "COPY cities TO STDOUT WITH (FORMAT csv, HEADER true)",
///     "cities-copy.csv",
///     &CopyToOptions::new().progress(|n| eprint!("\r{n} bytes")),
/// )?;
/// # let _ = bytes;
/// # Ok(()) }
/// ```
///
pub type CopyClient<T> = CopyApi<T, Blocking>;

/// The COPY API from async code ([`CopyApi`] over an [`AsyncTransport`]).
///
/// ```no_run
/// use carto_sql::copy::{AsyncCopyClient, CopyFromOptions};
/// # async fn run(transport: impl carto_transport::AsyncTransport, creds: carto_core::Credentials) -> Result<(), carto_core::Error> {
/// let copy = AsyncCopyClient::from_credentials(transport, creds);
/// let file = tokio::fs::File::open("cities.csv").await.expect("file");
/// let loaded = copy
///     .copy_from_with(
///         "COPY cities (name, population) FROM STDIN WITH (FORMAT csv, HEADER true)",
///         file,
///         &CopyFromOptions::new().gzip(1),
///     )
///     .await?;
/// let mut out: Vec<u8> = Vec::new();
/// copy.copy_to_writer("COPY cities TO STDOUT", &mut out).await?;
/// # let _ = loaded;
/// # Ok(()) }
/// ```
///
pub type AsyncCopyClient<T> = CopyApi<T, Async>;

impl<T, M: Mode> CopyApi<T, M> {
    /// A client sending through `transport` with the given request context.
    pub fn new(transport: T, ctx: RequestContext) -> Self {
        Self {
            core: ClientCore::new(transport, ctx),
            mode: PhantomData,
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
impl<T, M: Mode> fmt::Debug for CopyApi<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_client::<M>("CopyClient", f)
    }
}

impl<T: Transport> CopyApi<T, Blocking> {
    /// Sends any endpoint and parses its answer.
    pub fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send(endpoint)
    }

    /// Runs `sql` (`COPY ... FROM STDIN ...`) with the bytes of `source` as its data,
    /// read and sent as they come (chunked), gzip-compressed on the way when
    /// `options` asks.
    ///
    /// A source that fails midway aborts the upload; CARTO then rolls the COPY back and
    /// no row is loaded.
    pub fn copy_from<R: Read + Send + 'static>(
        &self,
        sql: &str,
        source: R,
    ) -> Result<CopyFromResult, Error> {
        self.copy_from_with(sql, source, &Default::default())
    }

    /// [`copy_from`](Self::copy_from) with options.
    pub fn copy_from_with<R: Read + Send + 'static>(
        &self,
        sql: &str,
        source: R,
        options: &CopyFromOptions,
    ) -> Result<CopyFromResult, Error> {
        let body = sync_body(source, options.gzip_level(), options.progress_fn());
        self.upload(CopyFrom::from_options(sql, options), Upload::once(body))
    }

    /// [`copy_from`](Self::copy_from) with the content of the file at `path`.
    ///
    /// The file is opened again for each attempt, so an upload CARTO's rate limiter
    /// refused (429 with `Retry-After`) is sent again after the wait; the progress
    /// callback then counts from zero again.
    ///
    /// Uncompressed, a regular file is sent with its length (`Content-Length`, no chunk
    /// framing): the bytes it has when the call starts. A file that shrinks meanwhile
    /// fails the upload (and CARTO loads none of it).
    pub fn copy_from_path(
        &self,
        sql: &str,
        path: impl AsRef<Path>,
    ) -> Result<CopyFromResult, Error> {
        self.copy_from_path_with(sql, path, &Default::default())
    }

    /// [`copy_from_path`](Self::copy_from_path) with options.
    pub fn copy_from_path_with(
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
            let metadata = std::fs::metadata(&path).map_err(|e| open_error(&path, e))?;
            length = KnownLength::of(&metadata);
        }
        if let Some(KnownLength(n)) = length {
            endpoint = endpoint.content_length(n);
        }
        let upload = Upload::rebuild(move || {
            let file = File::open(&path).map_err(|e| open_error(&path, e))?;
            Ok(match length {
                Some(length) => sync_body(ExactReader::new(file, length), None, progress.clone()),
                None => sync_body(file, gzip, progress.clone()),
            })
        });
        self.upload(endpoint, upload)
    }

    fn upload(&self, endpoint: CopyFrom, upload: Upload) -> Result<CopyFromResult, Error> {
        single(self.core.send_streaming(&endpoint, Some(upload))?.next())
    }

    /// Runs `sql` (`COPY ... TO STDOUT ...`) and returns its output as a reader, read as
    /// it arrives. A failure of the server after the output started shows as a read
    /// error wrapping an [`Error::Api`] (see [`CopyToReader`]).
    pub fn copy_to(&self, sql: &str) -> Result<CopyToReader, Error> {
        self.copy_to_with(sql, &Default::default())
    }

    /// [`copy_to`](Self::copy_to) with options.
    pub fn copy_to_with(&self, sql: &str, options: &CopyToOptions) -> Result<CopyToReader, Error> {
        let endpoint = CopyTo::from_options(sql, options);
        let inner = self.core.send_streaming(&endpoint, None)?;
        Ok(CopyToReader::new(inner, options.progress_fn()))
    }

    /// Runs `sql` and writes its output into `writer`; returns the number of bytes
    /// written. Write failures are reported as [`Error::Transport`] of kind
    /// [`Io`](carto_core::TransportErrorKind::Io).
    pub fn copy_to_writer<W: Write + ?Sized>(
        &self,
        sql: &str,
        writer: &mut W,
    ) -> Result<u64, Error> {
        self.copy_to_writer_with(sql, writer, &Default::default())
    }

    /// [`copy_to_writer`](Self::copy_to_writer) with options.
    pub fn copy_to_writer_with<W: Write + ?Sized>(
        &self,
        sql: &str,
        writer: &mut W,
        options: &CopyToOptions,
    ) -> Result<u64, Error> {
        drain(self.copy_to_with(sql, options)?, writer)
    }

    /// Runs `sql` and writes its output into the file at `path` (created or
    /// truncated); returns the number of bytes written. On a failure midway, the file
    /// keeps what arrived before it.
    pub fn copy_to_path(&self, sql: &str, path: impl AsRef<Path>) -> Result<u64, Error> {
        self.copy_to_path_with(sql, path, &Default::default())
    }

    /// [`copy_to_path`](Self::copy_to_path) with options.
    pub fn copy_to_path_with(
        &self,
        sql: &str,
        path: impl AsRef<Path>,
        options: &CopyToOptions,
    ) -> Result<u64, Error> {
        let path = path.as_ref();
        let reader = self.copy_to_with(sql, options)?;
        let mut file = io::BufWriter::with_capacity(
            CHUNK,
            File::create(path).map_err(|e| create_error(path, e))?,
        );
        // On a failure midway, dropping the `BufWriter` writes out what it holds.
        drain(reader, &mut file)
    }
}

impl<T: AsyncTransport> CopyApi<T, Async> {
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
    ) -> Result<CopyFromResult, Error> {
        self.copy_from_with(sql, source, &Default::default()).await
    }

    /// [`copy_from`](Self::copy_from) with options.
    #[cfg(feature = "tokio")]
    pub async fn copy_from_with<R: AsyncRead + Send + 'static>(
        &self,
        sql: &str,
        source: R,
        options: &CopyFromOptions,
    ) -> Result<CopyFromResult, Error> {
        let stream = tokio_util::io::ReaderStream::with_capacity(source, CHUNK);
        self.copy_from_stream_with(sql, stream, options).await
    }

    /// [`copy_from`](Self::copy_from) with the data as a stream of chunks; an `Err`
    /// item aborts the upload (CARTO rolls the COPY back).
    pub async fn copy_from_stream<S>(&self, sql: &str, stream: S) -> Result<CopyFromResult, Error>
    where
        S: Stream<Item = Result<Bytes, io::Error>> + Send + 'static,
    {
        self.copy_from_stream_with(sql, stream, &Default::default())
            .await
    }

    /// [`copy_from_stream`](Self::copy_from_stream) with options.
    pub async fn copy_from_stream_with<S>(
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
    ) -> Result<CopyFromResult, Error> {
        self.copy_from_path_with(sql, path, &Default::default())
            .await
    }

    /// [`copy_from_path`](Self::copy_from_path) with options.
    #[cfg(feature = "tokio")]
    pub async fn copy_from_path_with(
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
    pub async fn copy_to(&self, sql: &str) -> Result<CopyToStream, Error> {
        self.copy_to_with(sql, &Default::default()).await
    }

    /// [`copy_to`](Self::copy_to) with options.
    pub async fn copy_to_with(
        &self,
        sql: &str,
        options: &CopyToOptions,
    ) -> Result<CopyToStream, Error> {
        let endpoint = CopyTo::from_options(sql, options);
        let inner = self.core.send_streaming_async(&endpoint, None).await?;
        Ok(CopyToStream::new(inner, options.progress_fn()))
    }

    /// Runs `sql` and writes its output into `writer`; returns the number of bytes
    /// written. Write failures are reported as [`Error::Transport`] of kind
    /// [`Io`](carto_core::TransportErrorKind::Io). Feature `tokio`.
    #[cfg(feature = "tokio")]
    pub async fn copy_to_writer<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        sql: &str,
        writer: &mut W,
    ) -> Result<u64, Error> {
        self.copy_to_writer_with(sql, writer, &Default::default())
            .await
    }

    /// [`copy_to_writer`](Self::copy_to_writer) with options.
    #[cfg(feature = "tokio")]
    pub async fn copy_to_writer_with<W: AsyncWrite + Unpin + ?Sized>(
        &self,
        sql: &str,
        writer: &mut W,
        options: &CopyToOptions,
    ) -> Result<u64, Error> {
        let stream = self.copy_to_with(sql, options).await?;
        drain_async(stream, writer).await
    }

    /// Runs `sql` and writes its output into the file at `path` (created or
    /// truncated); returns the number of bytes written. On a failure midway, the file
    /// keeps what arrived before it. Feature `tokio`.
    #[cfg(feature = "tokio")]
    pub async fn copy_to_path(&self, sql: &str, path: impl AsRef<Path>) -> Result<u64, Error> {
        self.copy_to_path_with(sql, path, &Default::default()).await
    }

    /// [`copy_to_path`](Self::copy_to_path) with options.
    #[cfg(feature = "tokio")]
    pub async fn copy_to_path_with(
        &self,
        sql: &str,
        path: impl AsRef<Path>,
        options: &CopyToOptions,
    ) -> Result<u64, Error> {
        let path = path.as_ref();
        let stream = self.copy_to_with(sql, options).await?;
        let file = tokio::fs::File::create(path)
            .await
            .map_err(|e| create_error(path, e))?;
        let mut file = tokio::io::BufWriter::with_capacity(CHUNK, file);
        let result = drain_async(stream, &mut file).await;
        if result.is_err() {
            // Keep what arrived before the failure in the file.
            let _ = file.flush().await;
        }
        result
    }
}
