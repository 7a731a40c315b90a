//! Upload bodies built as streams over the caller's source: progress counting and gzip
//! compression, sync ([`Read`] adapters) and async ([`Stream`] adapters). Nothing here
//! holds more than one chunk.

use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use carto_transport::{AsyncBody, Body, BodyStream};
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::{Stream, TryStreamExt};

use super::request::ProgressFn;

/// The chunk size used to read sources.
pub(crate) const CHUNK: usize = 64 * 1024;

/// Counts the bytes read through it and reports them to a callback.
pub(crate) struct ProgressReader<R> {
    inner: R,
    count: u64,
    progress: Option<ProgressFn>,
}

impl<R: Read> ProgressReader<R> {
    pub(crate) fn new(inner: R, progress: Option<ProgressFn>) -> Self {
        Self {
            inner,
            count: 0,
            progress,
        }
    }
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            self.count += n as u64;
            if let Some(progress) = &self.progress {
                progress(self.count);
            }
        }
        Ok(n)
    }
}

/// A file uploaded with its length declared (`Content-Length`): the length it had when the
/// upload was set up, and the error when it turns out shorter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KnownLength(pub(crate) u64);

impl KnownLength {
    /// The length of a file from its metadata when it is a regular file (a FIFO or a device has
    /// none, and is sent chunked).
    pub(crate) fn of(metadata: &std::fs::Metadata) -> Option<Self> {
        metadata.is_file().then_some(Self(metadata.len()))
    }

    fn shrank(left: u64) -> io::Error {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "the COPY source file ended {left} bytes short of its size when the upload started"
            ),
        )
    }
}

/// Reads exactly [`KnownLength`] bytes of a source: no more (a file that grew is sent as it
/// was), and an error rather than a short body (a file that shrank).
pub(crate) struct ExactReader<R> {
    inner: R,
    left: u64,
}

impl<R: Read> ExactReader<R> {
    pub(crate) fn new(inner: R, length: KnownLength) -> Self {
        Self {
            inner,
            left: length.0,
        }
    }
}

impl<R: Read> Read for ExactReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 || buf.is_empty() {
            return Ok(0);
        }
        let room = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..room])?;
        if n == 0 {
            return Err(KnownLength::shrank(self.left));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// [`ExactReader`] for a stream of chunks (a file read with tokio).
#[cfg(feature = "tokio")]
pub(crate) struct ExactStream {
    inner: BodyStream,
    left: u64,
}

#[cfg(feature = "tokio")]
impl ExactStream {
    pub(crate) fn new(inner: BodyStream, length: KnownLength) -> Self {
        Self {
            inner,
            left: length.0,
        }
    }
}

#[cfg(feature = "tokio")]
impl Stream for ExactStream {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        match this.inner.as_mut().poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(mut chunk))) => {
                if chunk.len() as u64 > this.left {
                    chunk.truncate(this.left as usize);
                }
                this.left -= chunk.len() as u64;
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(None) => {
                let left = std::mem::take(&mut this.left);
                Poll::Ready(Some(Err(KnownLength::shrank(left))))
            }
        }
    }
}

/// The sync upload body: the source, counted, gzip-compressed as it is read when asked.
pub(crate) fn sync_body<R: Read + Send + 'static>(
    source: R,
    gzip: Option<u32>,
    progress: Option<ProgressFn>,
) -> Body {
    let counted = ProgressReader::new(source, progress);
    match gzip {
        Some(level) => Body::from_reader(flate2::read::GzEncoder::new(
            io::BufReader::with_capacity(CHUNK, counted),
            Compression::new(level),
        )),
        None => Body::from_reader(counted),
    }
}

/// The async upload body: the stream, counted, gzip-compressed as it flows when asked.
pub(crate) fn async_body(
    stream: BodyStream,
    gzip: Option<u32>,
    progress: Option<ProgressFn>,
) -> AsyncBody {
    let counted: BodyStream = match progress {
        Some(progress) => {
            let mut count = 0u64;
            Box::pin(stream.inspect_ok(move |chunk| {
                if !chunk.is_empty() {
                    count += chunk.len() as u64;
                    progress(count);
                }
            }))
        }
        None => stream,
    };
    match gzip {
        Some(level) => AsyncBody::from_stream(GzipStream::new(counted, level)),
        None => AsyncBody::Stream(counted),
    }
}

/// Gzip-compresses a stream of chunks as they come: each input chunk goes through the
/// encoder and whatever compressed bytes it produced are yielded.
pub(crate) struct GzipStream {
    inner: BodyStream,
    encoder: Option<GzEncoder<Vec<u8>>>,
}

impl GzipStream {
    pub(crate) fn new(inner: BodyStream, level: u32) -> Self {
        Self {
            inner,
            encoder: Some(GzEncoder::new(Vec::new(), Compression::new(level))),
        }
    }
}

impl Stream for GzipStream {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            let Some(encoder) = this.encoder.as_mut() else {
                return Poll::Ready(None);
            };
            match this.inner.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Err(e) = encoder.write_all(&chunk) {
                        this.encoder = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                    if !encoder.get_ref().is_empty() {
                        let out = std::mem::take(encoder.get_mut());
                        return Poll::Ready(Some(Ok(Bytes::from(out))));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.encoder = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    let encoder = this.encoder.take().expect("checked above");
                    return Poll::Ready(Some(encoder.finish().map(Bytes::from)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[tokio::test]
    async fn gzip_stream_round_trip() {
        let chunks: Vec<io::Result<Bytes>> = (0..50)
            .map(|i| Ok(Bytes::from(format!("{i}\trow number {i}\n"))))
            .collect();
        let seen = Arc::new(AtomicU64::new(0));
        let s = seen.clone();
        let body = async_body(
            Box::pin(futures_util::stream::iter(chunks)),
            Some(6),
            Some(Arc::new(move |n| s.store(n, Ordering::SeqCst))),
        );
        let AsyncBody::Stream(stream) = body else {
            panic!("not streamed")
        };
        let parts: Vec<Bytes> = stream.map(|c| c.unwrap()).collect::<Vec<_>>().await;
        let compressed: Vec<u8> = parts.concat();
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_string(&mut plain)
            .unwrap();
        let expected: String = (0..50).map(|i| format!("{i}\trow number {i}\n")).collect();
        assert_eq!(plain, expected);
        assert_eq!(seen.load(Ordering::SeqCst), expected.len() as u64);
    }

    #[test]
    fn exact_reader_stops_at_the_length_and_fails_short() {
        let mut longer = ExactReader::new(&b"0123456789"[..], KnownLength(4));
        let mut out = Vec::new();
        longer.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"0123");
        let mut shorter = ExactReader::new(&b"012"[..], KnownLength(5));
        let err = shorter.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("2 bytes short"), "{err}");
    }

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn exact_stream_stops_at_the_length_and_fails_short() {
        let chunks = |n: usize| -> BodyStream {
            Box::pin(futures_util::stream::iter(
                (0..n).map(|_| Ok(Bytes::from_static(b"abc"))),
            ))
        };
        let out: Vec<io::Result<Bytes>> =
            ExactStream::new(chunks(3), KnownLength(7)).collect().await;
        let bytes: Vec<u8> = out.into_iter().flat_map(|c| c.unwrap()).collect();
        assert_eq!(bytes, b"abcabca");
        let out: Vec<io::Result<Bytes>> =
            ExactStream::new(chunks(2), KnownLength(8)).collect().await;
        assert_eq!(out.len(), 3);
        let err = out.into_iter().last().unwrap().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        assert!(err.to_string().contains("2 bytes short"), "{err}");
    }
}
