//! 100 MB through COPY FROM and COPY TO, both clients, over fake transports that
//! produce and consume the bodies lazily: the bytes all arrive, and the peak of heap
//! memory allocated during the transfer stays far below the size moved (a counting
//! global allocator measures it).

use std::io::{self, Read, Write};

use bytes::Bytes;
use carto_core::{BaseUrl, Credentials, HttpRequest, HttpResponse, RequestContext};
use carto_sql::copy::{AsyncCopyClient, CopyClient, CopyFromOptions};
use carto_transport::{
    AsyncBody, AsyncTransport, Body, BoxFuture, ByteStream, ResponseReader, Transport,
    TransportError,
};
use futures_util::StreamExt;

use carto_test_support::alloc::peak_during;

const SIZE: u64 = 100 * 1024 * 1024;
/// Far below the 100 MB moved: a few chunks, the gzip state, the runtime's buffers.
const FLAT: usize = 8 * 1024 * 1024;
const ROW: &[u8] = b"123456\tsome text in a row\t2026-01-01 00:00:00+00\n";

/// `len` bytes of COPY text rows, made as they are read.
struct LazyRows {
    left: u64,
    pos: usize,
}

impl LazyRows {
    fn new(len: u64) -> Self {
        Self { left: len, pos: 0 }
    }
}

impl Read for LazyRows {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for b in &mut buf[..n] {
            *b = ROW[self.pos];
            self.pos = (self.pos + 1) % ROW.len();
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn ctx() -> RequestContext {
    RequestContext::new(Credentials::new(
        BaseUrl::parse("https://alice.carto.com").unwrap(),
        "fake-token",
    ))
}

/// Counts the bytes written to it.
#[derive(Default)]
struct CountingSink(u64);

impl Write for CountingSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Answers COPY FROM by counting the (decompressed) bytes of the streamed upload,
/// reported as `total_rows`; answers COPY TO with [`SIZE`] lazily made bytes.
struct LazyServer;

fn count_answer(count: u64) -> Vec<u8> {
    format!(r#"{{"time":0.5,"total_rows":{count}}}"#).into_bytes()
}

impl Transport for LazyServer {
    fn send(&self, _: HttpRequest) -> Result<HttpResponse, TransportError> {
        panic!("COPY must stream")
    }

    fn send_streaming(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseReader>, TransportError> {
        let (parts, body) = request.into_parts();
        if parts.uri.path().ends_with("copyto") {
            return Ok(http::Response::new(ResponseReader::new(LazyRows::new(
                SIZE,
            ))));
        }
        let Body::Reader(reader) = body else {
            panic!("the upload was buffered")
        };
        let gzip = parts.headers.contains_key("content-encoding");
        let mut reader: Box<dyn Read> = if gzip {
            Box::new(flate2::read::GzDecoder::new(reader))
        } else {
            reader
        };
        let count =
            io::copy(&mut reader, &mut CountingSink::default()).map_err(TransportError::from_io)?;
        Ok(http::Response::new(ResponseReader::from_bytes(
            count_answer(count),
        )))
    }
}

impl AsyncTransport for LazyServer {
    fn send(&self, _: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        panic!("COPY must stream")
    }

    fn send_streaming(
        &self,
        request: http::Request<AsyncBody>,
    ) -> BoxFuture<'_, Result<http::Response<ByteStream>, TransportError>> {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            if parts.uri.path().ends_with("copyto") {
                let chunks = futures_util::stream::unfold(LazyRows::new(SIZE), |mut rows| async {
                    let mut buf = vec![0; 64 * 1024];
                    let n = rows.read(&mut buf).unwrap();
                    (n > 0).then(|| {
                        buf.truncate(n);
                        (Ok(Bytes::from(buf)), rows)
                    })
                });
                return Ok(http::Response::new(ByteStream::new(chunks)));
            }
            let AsyncBody::Stream(mut stream) = body else {
                panic!("the upload was buffered")
            };
            let gzip = parts.headers.contains_key("content-encoding");
            let mut decoder = flate2::write::GzDecoder::new(CountingSink::default());
            let mut plain = CountingSink::default();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(TransportError::from_io)?;
                if gzip {
                    decoder.write_all(&chunk).unwrap();
                } else {
                    plain.write_all(&chunk).unwrap();
                }
            }
            let count = if gzip {
                decoder.finish().unwrap().0
            } else {
                plain.0
            };
            Ok(http::Response::new(ByteStream::from_bytes(count_answer(
                count,
            ))))
        })
    }
}

#[test]
fn sync_copy_from_100_mb_plain_and_gzip_stays_flat() {
    let _serial = carto_test_support::alloc::serial();
    let client = CopyClient::new(LazyServer, ctx());
    for options in [CopyFromOptions::new(), CopyFromOptions::new().gzip(1)] {
        let (result, peak) = peak_during(|| {
            client
                .copy_from_with("COPY t FROM STDIN", LazyRows::new(SIZE), &options)
                .unwrap()
        });
        assert_eq!(result.total_rows, SIZE, "{options:?}");
        assert!(peak < FLAT, "{options:?}: peak {peak} bytes");
    }
}

#[test]
fn sync_copy_to_100_mb_stays_flat() {
    let _serial = carto_test_support::alloc::serial();
    let client = CopyClient::new(LazyServer, ctx());
    let (written, peak) = peak_during(|| {
        let mut sink = CountingSink::default();
        let n = client
            .copy_to_writer("COPY t TO STDOUT", &mut sink)
            .unwrap();
        assert_eq!(n, sink.0);
        n
    });
    assert_eq!(written, SIZE);
    assert!(peak < FLAT, "peak {peak} bytes");

    // Through the reader interface too.
    let (read, peak) = peak_during(|| {
        let mut reader = client.copy_to("COPY t TO STDOUT").unwrap();
        io::copy(&mut reader, &mut CountingSink::default()).unwrap()
    });
    assert_eq!(read, SIZE);
    assert!(peak < FLAT, "peak {peak} bytes");
}

#[test]
fn async_copy_100_mb_both_ways_stays_flat() {
    let _serial = carto_test_support::alloc::serial();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let client = AsyncCopyClient::new(LazyServer, ctx());
    for options in [CopyFromOptions::new(), CopyFromOptions::new().gzip(1)] {
        let (result, peak) = peak_during(|| {
            runtime.block_on(async {
                let source = futures_util::stream::unfold(LazyRows::new(SIZE), |mut rows| async {
                    let mut buf = vec![0; 64 * 1024];
                    let n = rows.read(&mut buf).unwrap();
                    (n > 0).then(|| {
                        buf.truncate(n);
                        (Ok(Bytes::from(buf)), rows)
                    })
                });
                client
                    .copy_from_stream_with("COPY t FROM STDIN", source, &options)
                    .await
                    .unwrap()
            })
        });
        assert_eq!(result.total_rows, SIZE, "{options:?}");
        assert!(peak < FLAT, "{options:?}: peak {peak} bytes");
    }
    let (written, peak) = peak_during(|| {
        runtime.block_on(async {
            let mut sink = tokio::io::sink();
            client
                .copy_to_writer("COPY t TO STDOUT", &mut sink)
                .await
                .unwrap()
        })
    });
    assert_eq!(written, SIZE);
    assert!(peak < FLAT, "peak {peak} bytes");
}
