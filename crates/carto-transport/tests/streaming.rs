//! The streaming road through its public API: the request a `StreamingEndpoint` builds,
//! the head parse, the bounded error body (a huge one is read only up to the cap), the
//! decoder fed chunk by chunk, and the trace of a streamed request (method, path,
//! status; never the query string nor the token), sync and async.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use carto_core::{AuthPlacement, BaseUrl, Credentials, Error, HttpRequest, HttpResponse};
use carto_core::{RequestContext, TransportErrorKind};
use carto_transport::{
    AsyncBody, AsyncTransport, Body, BodyDecoder, BoxFuture, ByteStream, ClientCore, ErrorBody,
    Head, MAX_ERROR_BODY, RawBody, RequestBody, ResponseReader, StreamingEndpoint, Transport,
    TransportError, send_streaming, send_streaming_async,
};
use futures_util::StreamExt;
use http::{Method, StatusCode};

const TOKEN: &str = "TOKEN5d1e0c9a";
const SQL: &str = "SELECT secret_column FROM t";

/// `GET /api/v2/sql?q=...`, its body split into lines.
struct Lines;

/// Splits a body into its `\n`-ended lines as they arrive.
#[derive(Default)]
struct LineDecoder {
    partial: Vec<u8>,
    lines: std::collections::VecDeque<String>,
}

impl BodyDecoder for LineDecoder {
    type Item = String;

    fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        for &b in chunk {
            if b == b'\n' {
                let line = std::mem::take(&mut self.partial);
                self.lines.push_back(String::from_utf8(line).unwrap());
            } else {
                self.partial.push(b);
            }
        }
        Ok(())
    }

    fn next_item(&mut self) -> Option<Result<String, Error>> {
        self.lines.pop_front().map(Ok)
    }

    fn finish(&mut self) -> Result<(), Error> {
        if self.partial.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid("body", "the last line has no newline"))
        }
    }
}

impl StreamingEndpoint for Lines {
    type Decoder = LineDecoder;

    fn to_request(&self, ctx: &RequestContext) -> Result<http::Request<RequestBody>, Error> {
        let request = ctx
            .request(Method::GET, &["api", "v2", "sql"])
            .query("q", SQL)
            .build()?;
        Ok(request.map(RequestBody::Bytes))
    }

    fn decoder(&self, head: &http::response::Parts) -> Result<LineDecoder, Error> {
        assert!(head.status.is_success());
        Ok(LineDecoder::default())
    }
}

/// `POST /api/v1/upload` with the caller's body.
struct Upload;

impl StreamingEndpoint for Upload {
    type Decoder = RawBody;

    fn to_request(&self, ctx: &RequestContext) -> Result<http::Request<RequestBody>, Error> {
        let head = ctx
            .request(Method::POST, &["api", "v1", "upload"])
            .build_head()?;
        Ok(head.map(|()| RequestBody::Upload))
    }

    fn decoder(&self, _head: &http::response::Parts) -> Result<RawBody, Error> {
        Ok(RawBody::default())
    }
}

fn ctx() -> RequestContext {
    let base = BaseUrl::parse("https://carto.example.com/user/alice").unwrap();
    RequestContext::new(Credentials::new(base, TOKEN))
        .with_auth_placement(AuthPlacement::QueryParam)
}

/// A body of `chunks` copies of `chunk`, then the end (with `None`, no end), counting
/// the bytes taken from it.
#[derive(Clone)]
struct Source {
    chunk: Vec<u8>,
    chunks: Option<usize>,
    taken: Arc<AtomicUsize>,
    fail_after: Option<usize>,
}

impl Source {
    fn new(chunk: &[u8], chunks: Option<usize>) -> Self {
        Self {
            chunk: chunk.to_vec(),
            chunks,
            taken: Arc::default(),
            fail_after: None,
        }
    }

    fn taken(&self) -> usize {
        self.taken.load(Ordering::SeqCst)
    }

    /// The next chunk, `None` at the end; `Err` once `fail_after` bytes were taken.
    fn next(&self) -> Option<io::Result<Vec<u8>>> {
        let taken = self.taken();
        if self.fail_after.is_some_and(|n| taken >= n) {
            return Some(Err(io::Error::new(io::ErrorKind::ConnectionReset, "cut")));
        }
        if self.chunks.is_some_and(|n| taken >= n * self.chunk.len()) {
            return None;
        }
        self.taken.fetch_add(self.chunk.len(), Ordering::SeqCst);
        Some(Ok(self.chunk.clone()))
    }
}

impl Read for Source {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // One chunk a read at most, and never more than asked for.
        let Some(chunk) = self.next() else {
            return Ok(0);
        };
        let chunk = chunk?;
        let n = chunk.len().min(buf.len());
        buf[..n].copy_from_slice(&chunk[..n]);
        self.taken.fetch_sub(chunk.len() - n, Ordering::SeqCst);
        Ok(n)
    }
}

/// Answers every streamed request with `status`, the headers and the source as the
/// body, and keeps the requests it saw (their heads, and the bytes of their bodies).
struct Fake {
    status: StatusCode,
    headers: Vec<(&'static str, &'static str)>,
    source: Source,
    seen: Mutex<Vec<(http::request::Parts, Vec<u8>)>>,
}

impl Fake {
    fn new(status: StatusCode, source: Source) -> Self {
        Self {
            status,
            headers: Vec::new(),
            source,
            seen: Mutex::default(),
        }
    }

    fn head(&self) -> http::response::Builder {
        let mut builder = http::Response::builder().status(self.status);
        for (k, v) in &self.headers {
            builder = builder.header(*k, *v);
        }
        builder
    }
}

impl Transport for Fake {
    fn send(&self, _request: HttpRequest) -> Result<HttpResponse, TransportError> {
        unreachable!("streamed requests only")
    }

    fn send_streaming(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseReader>, TransportError> {
        let (parts, body) = request.into_parts();
        let body = body.into_bytes().map_err(TransportError::from_io)?;
        self.seen.lock().unwrap().push((parts, body));
        let reader = ResponseReader::new(self.source.clone());
        Ok(self.head().body(reader).unwrap())
    }
}

impl AsyncTransport for Fake {
    fn send(&self, _request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        unreachable!("streamed requests only")
    }

    fn send_streaming(
        &self,
        request: http::Request<AsyncBody>,
    ) -> BoxFuture<'_, Result<http::Response<ByteStream>, TransportError>> {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = body.into_bytes().await.map_err(TransportError::from_io)?;
            self.seen.lock().unwrap().push((parts, body.to_vec()));
            let source = self.source.clone();
            let stream = futures_util::stream::iter(std::iter::from_fn(move || source.next()))
                .map(|chunk| chunk.map(Bytes::from).map_err(TransportError::from_io));
            Ok(self.head().body(ByteStream::new(stream)).unwrap())
        })
    }
}

#[test]
fn head_parse_sorts_by_status_and_the_error_body_is_capped() {
    let ok = http::Response::builder().status(204).body(()).unwrap();
    assert!(matches!(Head::parse(ok.into_parts().0), Head::Success(h) if h.status == 204));

    let limited = http::Response::builder()
        .status(429)
        .header("retry-after", "7")
        .body(())
        .unwrap();
    let Head::Failure(mut body) = Head::parse(limited.into_parts().0) else {
        panic!("a 429 is a failure");
    };
    assert_eq!(body.room(), MAX_ERROR_BODY);
    body.push(br#"{"error":["You are over platform's limits"]}"#);
    let err = body.into_error();
    assert!(err.is_rate_limited(), "{err:?}");
    assert_eq!(err.retry_after(), Some(std::time::Duration::from_secs(7)));
    assert_eq!(
        err.api_error().unwrap().messages(),
        ["You are over platform's limits"]
    );

    let head = http::Response::builder().status(500).body(()).unwrap();
    let mut body = ErrorBody::with_limit(head.into_parts().0, 10);
    body.push(b"0123456");
    body.push(b"789abcdef");
    assert_eq!(body.bytes(), b"0123456789");
    assert_eq!(body.room(), 0);
    body.push(b"more");
    assert_eq!(body.bytes(), b"0123456789");
    assert_eq!(
        body.into_error().status(),
        Some(StatusCode::INTERNAL_SERVER_ERROR)
    );
}

#[test]
fn a_huge_error_body_is_read_only_up_to_the_cap() {
    // A 10 MB error body: only the cap is read, then the error is CARTO's.
    let source = Source::new(&[b' '; 10_000], Some(1000));
    let fake = Fake::new(StatusCode::BAD_REQUEST, source.clone());
    let err = send_streaming(&fake, &ctx(), &Lines, None).unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    assert_eq!(source.taken(), MAX_ERROR_BODY);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let source = Source::new(&[b' '; 10_000], Some(1000));
    let fake = Fake::new(StatusCode::BAD_REQUEST, source.clone());
    let err = rt
        .block_on(send_streaming_async(&fake, &ctx(), &Lines, None))
        .unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST));
    // Whole chunks are pulled from a stream: no more than the one that crosses the cap.
    assert!(source.taken() >= MAX_ERROR_BODY, "{}", source.taken());
    assert!(
        source.taken() < MAX_ERROR_BODY + 10_000,
        "{}",
        source.taken()
    );
}

#[test]
fn a_small_error_body_becomes_the_api_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let source = Source::new(br#"{"error":["relation \"t\" does not exist"]}"#, Some(1));
    let fake = Fake::new(StatusCode::BAD_REQUEST, source);
    let sync = send_streaming(&fake, &ctx(), &Lines, None).unwrap_err();
    let fake = Fake::new(StatusCode::BAD_REQUEST, fake.source.clone_fresh());
    let not_sync = rt
        .block_on(send_streaming_async(&fake, &ctx(), &Lines, None))
        .unwrap_err();
    for err in [sync, not_sync] {
        assert_eq!(
            err.api_error().unwrap().messages(),
            [r#"relation "t" does not exist"#]
        );
    }
}

impl Source {
    /// The same body from its start.
    fn clone_fresh(&self) -> Self {
        Self {
            taken: Arc::default(),
            ..self.clone()
        }
    }
}

#[test]
fn a_success_body_is_decoded_as_it_arrives() {
    let source = Source::new(b"ab\ncd\n", Some(3));
    let fake = Fake::new(StatusCode::OK, source.clone());
    let mut lines = send_streaming(&fake, &ctx(), &Lines, None).unwrap();
    assert_eq!(lines.head().status, StatusCode::OK);
    assert_eq!(source.taken(), 0, "nothing is read before it is asked for");
    assert_eq!(lines.next().unwrap().unwrap(), "ab");
    assert_eq!(source.taken(), 6, "one chunk read for the first line");
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert_eq!(rest, ["cd", "ab", "cd", "ab", "cd"]);

    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = Fake::new(StatusCode::OK, source.clone_fresh());
    let lines = rt
        .block_on(send_streaming_async(&fake, &ctx(), &Lines, None))
        .unwrap();
    let all: Vec<String> = rt.block_on(lines.map(Result::unwrap).collect());
    assert_eq!(all, ["ab", "cd", "ab", "cd", "ab", "cd"]);

    // The request is the endpoint's: method, path, the query string.
    let seen = fake.seen.lock().unwrap();
    let (head, body) = &seen[0];
    assert_eq!(head.method, Method::GET);
    assert_eq!(head.uri.path(), "/user/alice/api/v2/sql");
    assert!(head.uri.query().unwrap().contains("q=SELECT"));
    assert!(body.is_empty());
}

#[test]
fn a_failure_midway_and_a_bad_end_are_the_last_items() {
    // A transport failure after the first chunk.
    let mut source = Source::new(b"ab\ncd\n", Some(3));
    source.fail_after = Some(6);
    let fake = Fake::new(StatusCode::OK, source);
    let items: Vec<Result<String, Error>> = send_streaming(&fake, &ctx(), &Lines, None)
        .unwrap()
        .collect();
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[1].as_ref().unwrap(), "cd");
    assert_eq!(
        items[2].as_ref().unwrap_err().transport_kind(),
        Some(TransportErrorKind::Io)
    );

    // The decoder refuses the end of the body: that is the last item, after the rows.
    let fake = Fake::new(StatusCode::OK, Source::new(b"ab\ncd", Some(1)));
    let rt = tokio::runtime::Runtime::new().unwrap();
    let items: Vec<Result<String, Error>> = rt.block_on(async {
        send_streaming_async(&fake, &ctx(), &Lines, None)
            .await
            .unwrap()
            .collect()
            .await
    });
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0].as_ref().unwrap(), "ab");
    assert!(items[1].as_ref().unwrap_err().is_invalid_input());
}

#[test]
fn an_upload_replaces_the_body_and_is_required() {
    let fake = Fake::new(StatusCode::OK, Source::new(b"done", Some(1)));
    let core = ClientCore::new(&fake, ctx());
    let answer: Vec<Bytes> = core
        .send_streaming(&Upload, Some(Body::from(b"data".to_vec()).into()))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(answer.concat(), b"done");
    assert_eq!(fake.seen.lock().unwrap()[0].1, b"data");
    assert_eq!(fake.seen.lock().unwrap()[0].0.method, Method::POST);

    let err = core.send_streaming(&Upload, None).unwrap_err();
    assert!(err.is_invalid_input(), "{err:?}");
    let err = core
        .send_streaming(&Lines, Some(Body::from(b"x".to_vec()).into()))
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err:?}");
    assert_eq!(fake.seen.lock().unwrap().len(), 1, "refused before sending");
}

/// Collects what the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn streamed_requests_are_traced_without_query_or_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let rt = tokio::runtime::Runtime::new().unwrap();
    tracing::subscriber::with_default(subscriber, || {
        let fake = Fake::new(StatusCode::OK, Source::new(b"ab\n", Some(1)));
        assert_eq!(
            send_streaming(&fake, &ctx(), &Lines, None).unwrap().count(),
            1
        );
        let fake = Fake::new(StatusCode::FORBIDDEN, Source::new(b"{}", Some(1)));
        rt.block_on(send_streaming_async(&fake, &ctx(), &Lines, None))
            .unwrap_err();
    });
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert_eq!(logged.matches("HTTP request").count(), 2, "{logged}");
    assert!(logged.contains("method=GET"), "{logged}");
    assert!(logged.contains("path=/user/alice/api/v2/sql"), "{logged}");
    assert!(logged.contains("status=200"), "{logged}");
    assert!(logged.contains("status=403"), "{logged}");
    assert!(logged.contains("duration_ms="), "{logged}");
    assert!(
        !logged.contains("secret_column"),
        "the query leaked: {logged}"
    );
    assert!(!logged.contains("SELECT"), "the query leaked: {logged}");
    assert!(!logged.contains(TOKEN), "the token leaked: {logged}");
    assert!(!logged.contains("api_key"), "{logged}");
}
