//! What a COPY TO returns: [`CopyToReader`] (blocking) and [`CopyToStream`] (async),
//! the output read as it arrives.

use std::fmt;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use carto_core::{Error, TransportErrorKind};
use carto_transport::{Decoded, DecodedStream, TransportError};
#[cfg(feature = "tokio")]
use futures_util::TryStreamExt;
use futures_util::{Stream, StreamExt, ready};
#[cfg(feature = "tokio")]
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use super::request::{ProgressFn, attachment_filename, write_error};
use super::trailer::TrailerCheck;

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
    pub(super) fn new(inner: Decoded<TrailerCheck>, progress: Option<ProgressFn>) -> Self {
        Self {
            filename: attachment_filename(&inner.head().headers),
            inner,
            pending: Bytes::new(),
            count: 0,
            progress,
        }
    }

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
pub(super) fn drain<W: Write + ?Sized>(
    mut reader: CopyToReader,
    writer: &mut W,
) -> Result<u64, Error> {
    let mut written = 0u64;
    while let Some(chunk) = reader.next_chunk()? {
        writer.write_all(&chunk).map_err(write_error)?;
        written += chunk.len() as u64;
    }
    writer.flush().map_err(write_error)?;
    Ok(written)
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
    pub(super) fn new(inner: DecodedStream<TrailerCheck>, progress: Option<ProgressFn>) -> Self {
        Self {
            filename: attachment_filename(&inner.head().headers),
            inner,
            count: 0,
            progress,
        }
    }

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
pub(super) async fn drain_async<W: AsyncWrite + Unpin + ?Sized>(
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
