//! [`CopyClient`]: COPY FROM and COPY TO over a blocking [`Transport`], streamed both
//! ways.

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use bytes::{Buf, Bytes};
use carto_core::endpoint::loggable_path;
use carto_core::{Error, TransportErrorKind};
use carto_transport::{Body, ClientCore, ResponseReader, Transport, TransportError};

use super::body::{CHUNK, sync_body};
use super::request::{
    CopyFrom, CopyFromOptions, CopyFromResult, CopyTo, CopyToOptions, MAX_ERROR_BODY, ProgressFn,
    attachment_filename, create_error, head_error, open_error, trace, write_error,
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
pub struct CopyClient<T> {
    core: ClientCore<T>,
}

carto_transport::__client_core_methods!(CopyClient, Transport, "client");

impl<T: Transport> CopyClient<T> {
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
        let endpoint = CopyFrom::from_options(sql, options);
        let head = endpoint.to_request_head(self.core.context())?;
        let body = sync_body(source, options.gzip_level(), options.progress_fn());
        let (parts, ()) = head.into_parts();
        let response = self.stream(http::Request::from_parts(parts, body))?;
        let (parts, reader) = response.into_parts();
        let data = read_limited(reader, MAX_ERROR_BODY)?;
        endpoint.parse(http::Response::from_parts(parts, data))
    }

    /// [`copy_from`](Self::copy_from) with the content of the file at `path`.
    pub fn copy_from_path(
        &self,
        sql: &str,
        path: impl AsRef<Path>,
        options: &CopyFromOptions,
    ) -> Result<CopyFromResult, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| open_error(path, e))?;
        self.copy_from(sql, file, options)
    }

    /// Runs `sql` (`COPY ... TO STDOUT ...`) and returns its output as a reader, read as
    /// it arrives. A failure of the server after the output started shows as a read
    /// error wrapping an [`Error::Api`] (see [`CopyToReader`]).
    pub fn copy_to(&self, sql: &str, options: &CopyToOptions) -> Result<CopyToReader, Error> {
        let request = CopyTo::from_options(sql, options).to_request(self.core.context())?;
        let response = self.stream(request.map(Body::from))?;
        let (parts, reader) = response.into_parts();
        if !parts.status.is_success() {
            let body = read_limited(reader, MAX_ERROR_BODY)?;
            return Err(head_error(&parts, &body));
        }
        Ok(CopyToReader {
            filename: attachment_filename(&parts.headers),
            inner: reader,
            check: TrailerCheck::new(),
            pending: Bytes::new(),
            error: None,
            done: false,
            count: 0,
            progress: options.progress_fn(),
            buf: vec![0; CHUNK],
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

    fn stream(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseReader>, Error> {
        let method = request.method().clone();
        let path = loggable_path(request.uri()).to_owned();
        let result = self.core.transport().send_streaming(request);
        trace(
            &method,
            &path,
            result.as_ref().map(|r| r.status()).map_err(|e| e.kind()),
        );
        Ok(result?)
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
    inner: ResponseReader,
    check: TrailerCheck,
    pending: Bytes,
    error: Option<Error>,
    done: bool,
    count: u64,
    progress: Option<ProgressFn>,
    filename: Option<String>,
    buf: Vec<u8>,
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
        loop {
            if !self.pending.is_empty() {
                let chunk = std::mem::take(&mut self.pending);
                self.advance(chunk.len());
                return Ok(Some(chunk));
            }
            if let Some(err) = self.error.take() {
                return Err(err);
            }
            if self.done {
                return Ok(None);
            }
            self.fill()?;
        }
    }

    /// Reads the next piece of the body into `pending` (or ends it).
    fn fill(&mut self) -> Result<(), Error> {
        let n = loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.done = true;
                    return Err(TransportError::from_io(e).into());
                }
            }
        };
        if n == 0 {
            let (rest, error) = self.check.finish();
            self.pending = rest;
            self.error = error.map(Error::from);
            self.done = true;
        } else if let Some(ready) = self.check.push(&self.buf[..n]) {
            self.pending = ready;
        }
        Ok(())
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
        loop {
            if !self.pending.is_empty() {
                let n = buf.len().min(self.pending.len());
                buf[..n].copy_from_slice(&self.pending[..n]);
                self.pending.advance(n);
                self.advance(n);
                return Ok(n);
            }
            if let Some(err) = self.error.take() {
                return Err(io::Error::other(err));
            }
            if self.done {
                return Ok(0);
            }
            self.fill().map_err(io::Error::other)?;
        }
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

/// Reads at most `limit` bytes of a (small) response body.
fn read_limited(reader: ResponseReader, limit: usize) -> Result<Vec<u8>, Error> {
    let mut data = Vec::new();
    reader
        .take(limit as u64)
        .read_to_end(&mut data)
        .map_err(TransportError::from_io)?;
    Ok(data)
}
