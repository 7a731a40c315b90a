//! One conformance suite, run against every backend on local servers.

use crate::common;

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use carto_transport::{
    AsyncBody, AsyncTransport, Body, ReqwestTransport, Transport, TransportConfig, TransportError,
    TransportErrorKind, UreqTransport,
};
use futures_util::StreamExt;
use http::{HeaderValue, Method, StatusCode};

use common::{digest_of, pattern};

type HttpResponse = http::Response<Vec<u8>>;

/// What a streaming download saw.
struct Download {
    status: StatusCode,
    body: Vec<u8>,
    /// How many reads (sync) or chunks (async) the body took.
    pieces: usize,
}

/// A backend under test, driven from async test code.
trait Harness: Sized + Send + Sync + 'static {
    fn with_config(config: TransportConfig) -> Result<Self, TransportError>;

    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<HttpResponse, TransportError>;

    /// Streams `chunks` as the request body (chunked), reads the whole response.
    async fn upload(
        &self,
        head: http::Request<()>,
        chunks: Vec<Bytes>,
    ) -> Result<HttpResponse, TransportError>;

    /// Sends with `send_streaming` and reads the response body piece by piece.
    async fn download(&self, head: http::Request<()>) -> Result<Download, TransportError>;
}

struct Ureq(Arc<UreqTransport>);

/// A reader that yields the chunks one read at a time.
struct ChunkReader {
    chunks: std::vec::IntoIter<Bytes>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.next() {
                Some(c) => self.current = c,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

impl Harness for Ureq {
    fn with_config(config: TransportConfig) -> Result<Self, TransportError> {
        Ok(Self(Arc::new(UreqTransport::with_config(config)?)))
    }

    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<HttpResponse, TransportError> {
        let t = self.0.clone();
        tokio::task::spawn_blocking(move || t.send(request))
            .await
            .unwrap()
    }

    async fn upload(
        &self,
        head: http::Request<()>,
        chunks: Vec<Bytes>,
    ) -> Result<HttpResponse, TransportError> {
        let t = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let reader = ChunkReader {
                chunks: chunks.into_iter(),
                current: Bytes::new(),
            };
            let response = t.send_streaming(head.map(|()| Body::from_reader(reader)))?;
            let (parts, body) = response.into_parts();
            Ok(http::Response::from_parts(parts, body.into_bytes()?))
        })
        .await
        .unwrap()
    }

    async fn download(&self, head: http::Request<()>) -> Result<Download, TransportError> {
        let t = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let response = t.send_streaming(head.map(|()| Body::empty()))?;
            let status = response.status();
            let mut reader = response.into_body();
            let mut body = Vec::new();
            let mut pieces = 0;
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = reader.read(&mut buf).map_err(TransportError::from_io)?;
                if n == 0 {
                    break;
                }
                pieces += 1;
                body.extend_from_slice(&buf[..n]);
            }
            Ok(Download {
                status,
                body,
                pieces,
            })
        })
        .await
        .unwrap()
    }
}

struct Reqwest(ReqwestTransport);

impl Harness for Reqwest {
    fn with_config(config: TransportConfig) -> Result<Self, TransportError> {
        Ok(Self(ReqwestTransport::with_config(config)?))
    }

    async fn send(&self, request: http::Request<Vec<u8>>) -> Result<HttpResponse, TransportError> {
        self.0.send(request).await
    }

    async fn upload(
        &self,
        head: http::Request<()>,
        chunks: Vec<Bytes>,
    ) -> Result<HttpResponse, TransportError> {
        let stream = futures_util::stream::iter(chunks.into_iter().map(Ok));
        let response = self
            .0
            .send_streaming(head.map(|()| AsyncBody::from_stream(stream)))
            .await?;
        let (parts, body) = response.into_parts();
        Ok(http::Response::from_parts(parts, body.into_bytes().await?))
    }

    async fn download(&self, head: http::Request<()>) -> Result<Download, TransportError> {
        let response = self
            .0
            .send_streaming(head.map(|()| AsyncBody::empty()))
            .await?;
        let status = response.status();
        let mut stream = response.into_body();
        let mut body = Vec::new();
        let mut pieces = 0;
        while let Some(chunk) = stream.next().await {
            pieces += 1;
            body.extend_from_slice(&chunk?);
        }
        Ok(Download {
            status,
            body,
            pieces,
        })
    }
}

fn request(method: Method, url: &str) -> http::request::Builder {
    http::Request::builder().method(method).uri(url)
}

fn default<H: Harness>() -> H {
    H::with_config(TransportConfig::default()).unwrap()
}

fn short_timeouts() -> TransportConfig {
    TransportConfig::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_request_timeout(Duration::from_millis(300))
        .with_read_timeout(Duration::from_millis(300))
}

async fn every_method<H: Harness>() {
    let base = common::serve_http().await;
    let t: H = default();
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
    ] {
        let with_body = matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
        let body = if with_body {
            format!("body of {method}").into_bytes()
        } else {
            Vec::new()
        };
        let req = request(method.clone(), &format!("{base}/echo"))
            .body(body.clone())
            .unwrap();
        let response = t.send(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{method}");
        assert_eq!(response.headers()["x-method"], method.as_str());
        if method == Method::HEAD {
            assert!(response.body().is_empty());
        } else {
            assert_eq!(response.body(), &body, "{method}");
        }
    }
}

async fn headers_both_ways<H: Harness>() {
    let base = common::serve_http().await;
    let t: H = default();
    let mut req = request(Method::GET, &format!("{base}/echo"))
        .body(Vec::new())
        .unwrap();
    req.headers_mut()
        .append("x-req", HeaderValue::from_static("first"));
    req.headers_mut()
        .append("x-req", HeaderValue::from_static("second"));
    let response = t.send(req).await.unwrap();
    assert_eq!(response.headers()["x-seen"], "first,second");
    let multi: Vec<_> = response.headers().get_all("x-multi").iter().collect();
    assert_eq!(multi, ["one", "two"]);
}

async fn error_statuses_are_responses<H: Harness>() {
    let base = common::serve_http().await;
    let t: H = default();
    for code in [400u16, 401, 403, 404, 422, 429, 500, 502, 503] {
        let req = request(Method::POST, &format!("{base}/status/{code}"))
            .body(b"{}".to_vec())
            .unwrap();
        let response = t.send(req).await.unwrap();
        assert_eq!(response.status().as_u16(), code);
        assert_eq!(response.headers()["x-error"], "yes");
        assert_eq!(
            response.body(),
            format!(r#"{{"error":["boom {code}"]}}"#).as_bytes()
        );
    }
}

async fn redirects_are_returned<H: Harness>() {
    let base = common::serve_http().await;
    let t: H = default();
    let req = request(Method::GET, &format!("{base}/redirect"))
        .body(Vec::new())
        .unwrap();
    let response = t.send(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()["location"], "/echo");
}

const OVER_10_MB: usize = 10 * 1024 * 1024 + 12_345;

async fn large_response_body<H: Harness>() {
    let base = common::serve_http().await;
    let t: H = default();
    let req = request(Method::GET, &format!("{base}/big/{OVER_10_MB}"))
        .body(Vec::new())
        .unwrap();
    let response = t.send(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body().len(), OVER_10_MB);
    assert!(response.body() == &pattern(OVER_10_MB));
}

async fn large_request_body<H: Harness>() {
    let base = common::serve_http().await;
    let t: H = default();
    let data = pattern(OVER_10_MB);
    let expected = digest_of(&data);
    let req = request(Method::POST, &format!("{base}/digest"))
        .body(data)
        .unwrap();
    let response = t.send(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(String::from_utf8(response.into_body()).unwrap(), expected);
}

async fn streaming_upload<H: Harness>() {
    let base = common::serve_http().await;
    let t: H = default();
    let data = pattern(3 * 1024 * 1024 + 7);
    let expected = digest_of(&data);
    let chunks: Vec<Bytes> = data.chunks(100_000).map(Bytes::copy_from_slice).collect();
    let head = request(Method::POST, &format!("{base}/digest"))
        .header("content-type", "text/csv")
        .body(())
        .unwrap();
    let response = t.upload(head, chunks.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-framing"], "chunked");
    assert_eq!(String::from_utf8(response.into_body()).unwrap(), expected);
    // With a Content-Length, the stream is sent with it instead of chunked.
    let head = request(Method::PUT, &format!("{base}/digest"))
        .header("content-length", data.len())
        .body(())
        .unwrap();
    let response = t.upload(head, chunks).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-framing"], "length");
    assert_eq!(String::from_utf8(response.into_body()).unwrap(), expected);
}

async fn streaming_download<H: Harness>() {
    let base = common::serve_http().await;
    let t: H = default();
    let n = 5 * 1024 * 1024 + 3;
    let head = request(Method::GET, &format!("{base}/stream/{n}"))
        .body(())
        .unwrap();
    let download = t.download(head).await.unwrap();
    assert_eq!(download.status, StatusCode::OK);
    assert!(download.body == pattern(n));
    assert!(download.pieces > 1, "read in {} pieces", download.pieces);
    // Error statuses stream too.
    let head = request(Method::GET, &format!("{base}/status/404"))
        .body(())
        .unwrap();
    let download = t.download(head).await.unwrap();
    assert_eq!(download.status, StatusCode::NOT_FOUND);
    assert_eq!(download.body, br#"{"error":["boom 404"]}"#);
}

async fn connection_refused<H: Harness>() {
    let url = common::refused_url().await;
    let t: H = default();
    let req = request(Method::GET, &format!("{url}/echo"))
        .body(Vec::new())
        .unwrap();
    let err = t.send(req).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Connect, "{err:?}");
}

async fn silent_server_times_out<H: Harness>() {
    let url = common::silent_url().await;
    let t = H::with_config(short_timeouts()).unwrap();
    let req = request(Method::GET, &format!("{url}/echo"))
        .body(Vec::new())
        .unwrap();
    let err = t.send(req).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Timeout, "{err:?}");
    let head = request(Method::GET, &format!("{url}/echo"))
        .body(())
        .unwrap();
    let err = t.download(head).await.err().unwrap();
    assert_eq!(err.kind(), TransportErrorKind::Timeout, "{err:?}");
}

async fn tls_self_signed_is_refused_by_default<H: Harness>() {
    let server = common::serve_tls().await;
    let t: H = default();
    let req = request(Method::GET, &format!("{}/echo", server.url))
        .body(Vec::new())
        .unwrap();
    let err = t.send(req).await.unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Tls, "{err:?}");
}

async fn tls_extra_root_is_trusted<H: Harness>() {
    let server = common::serve_tls().await;
    let t = H::with_config(TransportConfig::new().add_root_certificate_pem(server.ca_pem.clone()))
        .unwrap();
    let req = request(Method::PUT, &format!("{}/echo", server.url))
        .body(b"over tls".to_vec())
        .unwrap();
    let response = t.send(req).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), b"over tls");
    // The key exchange is the post-quantum hybrid, offered first by the client.
    assert_eq!(server.key_exchanges(), [rustls::NamedGroup::X25519MLKEM768]);
}

async fn tls_danger_accept_invalid_certs<H: Harness>() {
    let server = common::serve_tls().await;
    let t = H::with_config(TransportConfig::new().danger_accept_invalid_certs(true)).unwrap();
    let req = request(Method::GET, &format!("{}/status/418", server.url))
        .body(Vec::new())
        .unwrap();
    let response = t.send(req).await.unwrap();
    assert_eq!(response.status().as_u16(), 418);
}

async fn bad_extra_root_is_rejected<H: Harness>() {
    let config = TransportConfig::new().add_root_certificate_pem(b"not a certificate".to_vec());
    let err = H::with_config(config).err().unwrap();
    assert_eq!(err.kind(), TransportErrorKind::Tls);
}

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod ureq_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test::<super::Ureq>().await;
                }
            )*
        }
        mod reqwest_backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test::<super::Reqwest>().await;
                }
            )*
        }
    };
}

conformance!(
    every_method,
    headers_both_ways,
    error_statuses_are_responses,
    redirects_are_returned,
    large_response_body,
    large_request_body,
    streaming_upload,
    streaming_download,
    connection_refused,
    silent_server_times_out,
    tls_self_signed_is_refused_by_default,
    tls_extra_root_is_trusted,
    tls_danger_accept_invalid_certs,
    bad_extra_root_is_rejected,
);

#[tokio::test]
async fn byte_stream_as_async_read() {
    use tokio::io::AsyncReadExt;
    let base = common::serve_http().await;
    let t = ReqwestTransport::new();
    let n = 1024 * 1024 + 1;
    let head = request(Method::GET, &format!("{base}/stream/{n}"))
        .body(AsyncBody::empty())
        .unwrap();
    let response = t.send_streaming(head).await.unwrap();
    let mut reader = response.into_body().into_async_read();
    let mut body = Vec::new();
    reader.read_to_end(&mut body).await.unwrap();
    assert!(body == pattern(n));
}

#[tokio::test]
async fn async_body_from_async_read() {
    let base = common::serve_http().await;
    let t = ReqwestTransport::new();
    let data = pattern(200_000);
    let expected = digest_of(&data);
    let head = request(Method::POST, &format!("{base}/digest"))
        .body(AsyncBody::from_async_read(std::io::Cursor::new(data)))
        .unwrap();
    let response = t.send_streaming(head).await.unwrap();
    let body = response.into_body().into_bytes().await.unwrap();
    assert_eq!(String::from_utf8(body).unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_agent_and_from_client_keep_statuses_as_responses() {
    let base = common::serve_http().await;
    // A default ureq agent turns 4xx into errors; the transport must not.
    let ureq_t = Arc::new(UreqTransport::from_agent(ureq::Agent::new_with_defaults()));
    let url = format!("{base}/status/404");
    let u = url.clone();
    let response = tokio::task::spawn_blocking(move || {
        ureq_t.send(http::Request::get(u).body(Vec::new()).unwrap())
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.body(), br#"{"error":["boom 404"]}"#);

    // A client built by hand needs a rustls provider installed by its builder.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let reqwest_t = ReqwestTransport::from_client(reqwest::Client::new());
    let response = reqwest_t
        .send(http::Request::get(url).body(Vec::new()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}
