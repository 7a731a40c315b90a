//! [`CopyClient`]: COPY FROM and COPY TO over a blocking [`Transport`], streamed both
//! ways.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use bytes::{Buf, Bytes};
use carto_core::{Credentials, Endpoint, Error, RequestContext, TransportErrorKind};
use carto_transport::{ClientCore, Decoded, Transport, TransportError, Upload};

use super::body::{CHUNK, ExactReader, KnownLength, sync_body};
use super::request::{
    CopyFrom, CopyFromOptions, CopyFromResult, CopyTo, CopyToOptions, ProgressFn,
    attachment_filename, create_error, open_error, single, write_error,
};
use super::trailer::TrailerCheck;

/// The COPY API (`/api/v2/sql/copyfrom`, `/api/v2/sql/copyto`), blocking the calling
/// thread. Uploads and downloads are streamed: memory stays flat whatever the size.
///
/// ```no_run
/// use carto_sql::copy::{CopyClient, CopyFromOptions, CopyToOptions};
/// # fn run(transport: impl carto_transport::Transport, creds: carto_core::Credentials) -> Result<(), carto_core::Error> {
/// let copy = CopyClient::from_credentials(transport, creds);
/// let loaded = copy.copy_from_path(
///     "COPY cities (name, population) FROM STDIN WITH (FORMAT csv, HEADER true)",
///     "cities.csv",
///     &CopyFromOptions::new().gzip(1),
/// )?;
/// println!("{} rows in {} s", loaded.total_rows, loaded.time);
/// let bytes = copy.copy_to_path(
///     "COPY cities TO STDOUT WITH (FORMAT csv, HEADER true)",
///     "cities-copy.csv",
///     &CopyToOptions::new().progress(|n| eprint!("\r{n} bytes")),
/// )?;
/// # let _ = bytes;
/// # Ok(()) }
/// ```
///
/// `Debug` never shows the token.
#[derive(Clone)]
pub struct CopyClient<T> {
    core: ClientCore<T>,
}

impl<T: Transport> CopyClient<T> {
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
impl<T> fmt::Debug for CopyClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_debug("CopyClient", f)
    }
}

impl<T: Transport> CopyClient<T> {
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
    pub fn copy_to(&self, sql: &str, options: &CopyToOptions) -> Result<CopyToReader, Error> {
        let endpoint = CopyTo::from_options(sql, options);
        let inner = self.core.send_streaming(&endpoint, None)?;
        Ok(CopyToReader {
            filename: attachment_filename(&inner.head().headers),
            inner,
            pending: Bytes::new(),
            count: 0,
            progress: options.progress_fn(),
        })
    }

    /// Runs `sql` and writes its output into `writer`; returns the number of bytes
    /// written. Write failures are reported as [`Error::Transport`] of kind
    /// [`Io`](TransportErrorKind::Io).
    pub fn copy_to_writer<W: Write + ?Sized>(
        &self,
        sql: &str,
        writer: &mut W,
        options: &CopyToOptions,
    ) -> Result<u64, Error> {
        drain(self.copy_to(sql, options)?, writer)
    }

    /// Runs `sql` and writes its output into the file at `path` (created or
    /// truncated); returns the number of bytes written. On a failure midway, the file
    /// keeps what arrived before it.
    pub fn copy_to_path(
        &self,
        sql: &str,
        path: impl AsRef<Path>,
        options: &CopyToOptions,
    ) -> Result<u64, Error> {
        let path = path.as_ref();
        let reader = self.copy_to(sql, options)?;
        let mut file = io::BufWriter::with_capacity(
            CHUNK,
            File::create(path).map_err(|e| create_error(path, e))?,
        );
        // On a failure midway, dropping the `BufWriter` writes out what it holds.
        drain(reader, &mut file)
    }
}

/// The output of a COPY TO, read as it arrives.
///
/// The last [`HOLD_BACK`](super::HOLD_BACK) bytes are held until the end of the body to
/// detect the error CARTO appends when the query fails after the output started;
/// such an error is not passed on as data: the read that reaches it fails with an
/// `io::Error` whose inner error is the [`Error::Api`] (status 200), which
/// [`CopyToReader::into_error`] takes back out.
pub struct CopyToReader {
    inner: Decoded<TrailerCheck>,
    pending: Bytes,
    count: u64,
    progress: Option<ProgressFn>,
    filename: Option<String>,
}

impl CopyToReader {
    /// The file name of the `Content-Disposition` header, decoded.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The bytes passed on so far.
    pub fn bytes_read(&self) -> u64 {
        self.count
    }

    /// The carto-rs error behind an `io::Error` returned by [`Read::read`]: the
    /// appended CARTO error, or the transport failure.
    pub fn into_error(err: io::Error) -> Error {
        if err.get_ref().is_some_and(|e| e.is::<Error>()) {
            if let Some(inner) = err.into_inner() {
                if let Ok(e) = inner.downcast::<Error>() {
                    return *e;
                }
            }
            return Error::transport(TransportErrorKind::Io, "the COPY TO body failed");
        }
        TransportError::from_io(err).into()
    }

    /// The next chunk of data, `None` at the end.
    pub fn next_chunk(&mut self) -> Result<Option<Bytes>, Error> {
        let chunk = match std::mem::take(&mut self.pending) {
            pending if !pending.is_empty() => pending,
            _ => match self.inner.next().transpose()? {
                Some(chunk) => chunk,
                None => return Ok(None),
            },
        };
        self.advance(chunk.len());
        Ok(Some(chunk))
    }

    fn advance(&mut self, n: usize) {
        self.count += n as u64;
        if let Some(progress) = &self.progress {
            progress(self.count);
        }
    }
}

impl Read for CopyToReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pending.is_empty() {
            match self.inner.next() {
                Some(chunk) => self.pending = chunk.map_err(io::Error::other)?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.advance(n);
        self.advance(n);
        Ok(n)
    }
}

impl fmt::Debug for CopyToReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyToReader")
            .field("filename", &self.filename)
            .field("bytes_read", &self.count)
            .finish_non_exhaustive()
    }
}

/// Writes every chunk of `reader` into `writer`, then flushes it; returns the number
/// of bytes written.
fn drain<W: Write + ?Sized>(mut reader: CopyToReader, writer: &mut W) -> Result<u64, Error> {
    let mut written = 0u64;
    while let Some(chunk) = reader.next_chunk()? {
        writer.write_all(&chunk).map_err(write_error)?;
        written += chunk.len() as u64;
    }
    writer.flush().map_err(write_error)?;
    Ok(written)
}
