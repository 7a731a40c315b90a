//! COPY clients over fake streaming transports: request shapes, gzip, progress, long
//! COPY TO queries in the body, error mapping, the appended error. No server.

use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use carto_core::{
    AuthPlacement, BaseUrl, Credentials, Error, HttpRequest, HttpResponse, RequestContext,
};
use carto_sql::copy::{
    AsyncCopyClient, CopyClient, CopyFromOptions, CopyToOptions, MAX_GET_QUERY_LEN,
};
use carto_transport::{
    AsyncBody, AsyncTransport, Body, BoxFuture, ByteStream, ResponseReader, Transport,
    TransportError,
};
use futures_util::StreamExt;

const TOKEN: &str = "fake-copy-token";

fn data(path: &str) -> Vec<u8> {
    carto_test_support::fixture(path).to_vec()
}

fn ctx() -> RequestContext {
    RequestContext::new(Credentials::new(
        BaseUrl::parse("https://alice.carto.com").unwrap(),
        TOKEN,
    ))
}

/// What the fake server saw of one request.
#[derive(Debug, Clone, Default)]
struct Seen {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    /// The body as received (compressed if it was).
    body: Vec<u8>,
    streamed: bool,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn plain_body(&self) -> Vec<u8> {
        if self.header("content-encoding") == Some("gzip") {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&self.body[..])
                .read_to_end(&mut out)
                .unwrap();
            out
        } else {
            self.body.clone()
        }
    }
}

fn seen_head<B>(req: &http::Request<B>) -> Seen {
    Seen {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        query: url_pairs(req.uri().query().unwrap_or("")),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_owned()))
            .collect(),
        ..Seen::default()
    }
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

type Reply = Arc<dyn Fn(&Seen) -> (u16, Vec<(&'static str, String)>, Vec<u8>) + Send + Sync>;

/// A sync transport that records each streamed request and answers with `reply`.
#[derive(Clone)]
struct FakeSync {
    seen: Arc<Mutex<Vec<Seen>>>,
    reply: Reply,
}

impl FakeSync {
    fn new(
        reply: impl Fn(&Seen) -> (u16, Vec<(&'static str, String)>, Vec<u8>) + Send + Sync + 'static,
    ) -> Self {
        Self {
            seen: Arc::default(),
            reply: Arc::new(reply),
        }
    }

    fn last(&self) -> Seen {
        self.seen.lock().unwrap().last().cloned().unwrap()
    }
}

fn build_response<B>(
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: B,
) -> http::Response<B> {
    let mut b = http::Response::builder().status(status);
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.body(body).unwrap()
}

impl Transport for FakeSync {
    fn send(&self, _: HttpRequest) -> Result<HttpResponse, TransportError> {
        panic!("COPY must use send_streaming")
    }

    fn send_streaming(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseReader>, TransportError> {
        let mut seen = seen_head(&request);
        let (_, body) = request.into_parts();
        seen.streamed = !body.is_buffered();
        seen.body = body.into_bytes().map_err(TransportError::from_io)?;
        let (status, headers, out) = (self.reply)(&seen);
        self.seen.lock().unwrap().push(seen);
        Ok(build_response(
            status,
            headers,
            ResponseReader::from_bytes(out),
        ))
    }
}

/// The async twin of [`FakeSync`]; the response body comes in 1000-byte chunks.
#[derive(Clone)]
struct FakeAsync(FakeSync);

impl AsyncTransport for FakeAsync {
    fn send(&self, _: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        panic!("COPY must use send_streaming")
    }

    fn send_streaming(
        &self,
        request: http::Request<AsyncBody>,
    ) -> BoxFuture<'_, Result<http::Response<ByteStream>, TransportError>> {
        Box::pin(async move {
            let mut seen = seen_head(&request);
            let (_, body) = request.into_parts();
            seen.streamed = !body.is_buffered();
            seen.body = body
                .into_bytes()
                .await
                .map_err(TransportError::from_io)?
                .to_vec();
            let (status, headers, out) = (self.0.reply)(&seen);
            self.0.seen.lock().unwrap().push(seen);
            let chunks: Vec<Result<Bytes, TransportError>> = out
                .chunks(1000)
                .map(|c| Ok(Bytes::copy_from_slice(c)))
                .collect();
            Ok(build_response(
                status,
                headers,
                ByteStream::new(futures_util::stream::iter(chunks)),
            ))
        })
    }
}

fn copyfrom_ok(_: &Seen) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
    (200, vec![], data("copy/copyfrom-ok.json"))
}

const COPY_FROM: &str =
    "COPY copy_endpoints_test (the_geom, name, age) FROM STDIN WITH (FORMAT csv, HEADER true)";

#[test]
fn copy_from_plain_request_shape() {
    let fake = FakeSync::new(copyfrom_ok);
    let client = CopyClient::new(fake.clone(), ctx());
    let csv = data("copy/copyfrom-request.csv");
    let result = client
        .copy_from(COPY_FROM, io::Cursor::new(csv.clone()))
        .unwrap();
    assert_eq!(result.total_rows, 10);
    assert!((result.time.unwrap().as_secs_f64() - 0.046).abs() < 1e-9);
    let seen = fake.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.path, "/api/v2/sql/copyfrom");
    assert_eq!(seen.param("q"), Some(COPY_FROM));
    assert_eq!(seen.param("api_key"), None);
    assert_eq!(
        seen.header("content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(seen.header("content-encoding"), None);
    assert_eq!(seen.header("content-length"), None);
    assert_eq!(seen.header("expect"), Some("100-continue"));
    assert!(seen.header("authorization").unwrap().starts_with("Basic "));
    assert!(seen.streamed, "the upload must be a streamed body");
    assert_eq!(seen.body, csv);
}

#[test]
fn copy_from_gzip_round_trip_and_progress() {
    let fake = FakeSync::new(copyfrom_ok);
    let client = CopyClient::new(fake.clone(), ctx());
    let rows: String = (0..20_000)
        .map(|i| format!("{i},name {i},{}\n", i % 90))
        .collect();
    let progress = Arc::new(Mutex::new(Vec::new()));
    let p = progress.clone();
    let options = CopyFromOptions::new()
        .gzip(6)
        .progress(move |n| p.lock().unwrap().push(n));
    client
        .copy_from_with(
            COPY_FROM,
            io::Cursor::new(rows.clone().into_bytes()),
            &options,
        )
        .unwrap();
    let seen = fake.last();
    assert_eq!(seen.header("content-encoding"), Some("gzip"));
    assert!(
        seen.body.len() < rows.len() / 3,
        "compressed: {}",
        seen.body.len()
    );
    assert_eq!(seen.plain_body(), rows.as_bytes());
    let progress = progress.lock().unwrap();
    assert_eq!(*progress.last().unwrap(), rows.len() as u64);
    assert!(progress.len() > 1, "progress reported along the way");
    assert!(progress.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn copy_from_key_in_query_when_asked_and_path_source() {
    let fake = FakeSync::new(copyfrom_ok);
    let client = CopyClient::new(
        fake.clone(),
        ctx().with_auth_placement(AuthPlacement::BodyField),
    );
    client
        .copy_from_path(
            COPY_FROM,
            carto_test_support::fixture_path("copy/copyfrom-request.csv"),
        )
        .unwrap();
    let seen = fake.last();
    assert_eq!(seen.param("api_key"), Some(TOKEN));
    assert_eq!(seen.body, data("copy/copyfrom-request.csv"));
    let err = client
        .copy_from_path(COPY_FROM, "/nonexistent/file.csv")
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err:?}");
}

#[test]
fn checks_before_sending() {
    let client = CopyClient::new(FakeSync::new(|_| panic!("nothing may be sent")), ctx());
    for sql in ["SELECT 1", " COPY t FROM STDIN", "COPYt FROM STDIN", ""] {
        let err = client.copy_from(sql, io::empty()).unwrap_err();
        assert!(err.is_invalid_input(), "{sql}: {err:?}");
        let err = client.copy_to(sql).unwrap_err();
        assert!(err.is_invalid_input(), "{sql}: {err:?}");
    }
    let err = client
        .copy_from_with(
            "COPY t FROM STDIN",
            io::empty(),
            &CopyFromOptions::new().gzip(10),
        )
        .unwrap_err();
    assert!(err.is_invalid_input());
}

#[test]
fn copy_from_errors_are_api_errors() {
    let client = CopyClient::new(
        FakeSync::new(|_| (400, vec![], data("copy/copyfrom-error-relation.json"))),
        ctx(),
    );
    let err = client
        .copy_from(
            "COPY unexisting_table FROM STDIN",
            io::Cursor::new(b"1\n".to_vec()),
        )
        .unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));
    assert_eq!(
        err.api_error().unwrap().message(),
        "relation \"unexisting_table\" does not exist"
    );
    let client = CopyClient::new(
        FakeSync::new(|_| (400, vec![], data("copy/copyfrom-error-gzip.json"))),
        ctx(),
    );
    let err = client
        .copy_from("COPY t FROM STDIN", io::Cursor::new(b"x".to_vec()))
        .unwrap_err();
    assert!(err.to_string().contains("incorrect header check"), "{err}");
}

fn copyto_reply(seen: &Seen) -> (u16, Vec<(&'static str, String)>, Vec<u8>) {
    assert_eq!(seen.path, "/api/v2/sql/copyto");
    let name = if seen.method == "GET" {
        seen.param("filename").map(str::to_owned)
    } else {
        url_pairs(std::str::from_utf8(&seen.body).unwrap())
            .into_iter()
            .find(|(k, _)| k == "filename")
            .map(|(_, v)| v)
    };
    let name = name.unwrap_or_else(|| "carto-sql-copyto.dmp".into());
    let encoded = percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
        .to_string()
        .replace("%2E", ".");
    (
        200,
        vec![
            ("content-type", "application/octet-stream".into()),
            (
                "content-disposition",
                format!("attachment; filename={encoded}"),
            ),
        ],
        data("copy/copyto-output.txt"),
    )
}

#[test]
fn copy_to_short_query_in_the_url() {
    let fake = FakeSync::new(copyto_reply);
    let client = CopyClient::new(fake.clone(), ctx());
    let sql = "COPY copy_endpoints_test TO STDOUT";
    let mut reader = client
        .copy_to_with(sql, &CopyToOptions::new().filename("/tmp/output.dmp"))
        .unwrap();
    assert_eq!(reader.filename(), Some("/tmp/output.dmp"));
    let mut out = Vec::new();
    reader.read_to_end(&mut out).unwrap();
    assert_eq!(out, data("copy/copyto-output.txt"));
    assert_eq!(reader.bytes_read(), out.len() as u64);
    let seen = fake.last();
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.param("q"), Some(sql));
    assert_eq!(seen.param("filename"), Some("/tmp/output.dmp"));
    assert!(seen.body.is_empty());
}

#[test]
fn copy_to_long_query_in_the_body() {
    let fake = FakeSync::new(copyto_reply);
    let client = CopyClient::new(fake.clone(), ctx());
    let list: Vec<String> = (0..400).map(|i| i.to_string()).collect();
    let sql = format!(
        "COPY (SELECT * FROM copy_endpoints_test WHERE cartodb_id IN ({})) TO STDOUT",
        list.join(",")
    );
    assert!(sql.len() > MAX_GET_QUERY_LEN);
    let mut out = Vec::new();
    let n = client
        .copy_to_writer_with(&sql, &mut out, &CopyToOptions::new().filename("x y.csv"))
        .unwrap();
    assert_eq!(n, out.len() as u64);
    let seen = fake.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.param("q"), None, "the query is not in the URL");
    assert!(seen.query.iter().all(|(k, _)| k != "q"));
    assert_eq!(
        seen.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let form = url_pairs(std::str::from_utf8(&seen.body).unwrap());
    assert_eq!(form[0], ("q".to_owned(), sql.clone()));
    assert_eq!(form[1], ("filename".to_owned(), "x y.csv".to_owned()));

    // Exactly at the limit stays a GET.
    let at_limit = format!("COPY t TO STDOUT {}", "-".repeat(MAX_GET_QUERY_LEN - 17));
    assert_eq!(at_limit.len(), MAX_GET_QUERY_LEN);
    client.copy_to_writer(&at_limit, &mut io::sink()).unwrap();
    assert_eq!(fake.last().method, "GET");
}

#[test]
fn copy_to_progress_and_path() {
    let fake = FakeSync::new(copyto_reply);
    let client = CopyClient::new(fake, ctx());
    let last = Arc::new(AtomicU64::new(0));
    let l = last.clone();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.txt");
    let n = client
        .copy_to_path_with(
            "COPY t TO STDOUT",
            &path,
            &CopyToOptions::new().progress(move |n| l.store(n, Ordering::SeqCst)),
        )
        .unwrap();
    let expected = data("copy/copyto-output.txt");
    assert_eq!(n, expected.len() as u64);
    assert_eq!(last.load(Ordering::SeqCst), expected.len() as u64);
    assert_eq!(std::fs::read(&path).unwrap(), expected);
}

#[test]
fn copy_to_error_status_and_appended_error() {
    let client = CopyClient::new(
        FakeSync::new(|_| {
            (
                400,
                vec![],
                br#"{"error":["relation \"x\" does not exist"]}"#.to_vec(),
            )
        }),
        ctx(),
    );
    let err = client.copy_to("COPY x TO STDOUT").unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));
    assert_eq!(
        err.api_error().unwrap().message(),
        "relation \"x\" does not exist"
    );

    let rows: String = (0..3000).map(|i| format!("{i}\trow\n")).collect();
    let appended = format!(
        "{rows}{}",
        r#"{"error":["canceling statement due to statement timeout"]}"#
    );
    let fake = FakeSync::new(move |_| (200, vec![], appended.clone().into_bytes()));
    let client = CopyClient::new(fake.clone(), ctx());
    let mut out = Vec::new();
    let err = client
        .copy_to_writer("COPY t TO STDOUT", &mut out)
        .unwrap_err();
    assert_eq!(
        out,
        rows.as_bytes(),
        "the data before the error is kept, the error is not data"
    );
    assert_eq!(err.status(), Some(http::StatusCode::OK));
    assert_eq!(
        err.api_error().unwrap().message(),
        "canceling statement due to statement timeout"
    );
    // Through the Read interface the error is an io::Error carrying the same Error.
    let mut reader = client.copy_to("COPY t TO STDOUT").unwrap();
    let mut out = Vec::new();
    let io_err = reader.read_to_end(&mut out).unwrap_err();
    let err = carto_sql::copy::CopyToReader::into_error(io_err);
    assert!(matches!(err, Error::Api(_)), "{err:?}");
    assert_eq!(out, rows.as_bytes());
}

#[tokio::test]
async fn async_copy_from_gzip_stream_and_reader() {
    let fake = FakeAsync(FakeSync::new(copyfrom_ok));
    let client = AsyncCopyClient::new(fake.clone(), ctx());
    let chunks: Vec<io::Result<Bytes>> = (0..500)
        .map(|i| Ok(Bytes::from(format!("{i},n{i},{i}\n"))))
        .collect();
    let expected: String = (0..500).map(|i| format!("{i},n{i},{i}\n")).collect();
    let last = Arc::new(AtomicU64::new(0));
    let l = last.clone();
    let result = client
        .copy_from_stream_with(
            COPY_FROM,
            futures_util::stream::iter(chunks),
            &CopyFromOptions::new()
                .gzip(1)
                .progress(move |n| l.store(n, Ordering::SeqCst)),
        )
        .await
        .unwrap();
    assert_eq!(result.total_rows, 10);
    let seen = fake.0.last();
    assert!(seen.streamed);
    assert_eq!(seen.header("content-encoding"), Some("gzip"));
    assert_eq!(seen.param("q"), Some(COPY_FROM));
    assert_eq!(seen.plain_body(), expected.as_bytes());
    assert_eq!(last.load(Ordering::SeqCst), expected.len() as u64);

    let csv = data("copy/copyfrom-request.csv");
    client
        .copy_from(COPY_FROM, io::Cursor::new(csv.clone()))
        .await
        .unwrap();
    let seen = fake.0.last();
    assert_eq!(seen.header("content-encoding"), None);
    assert_eq!(seen.body, csv);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.csv");
    std::fs::write(&path, &csv).unwrap();
    client
        .copy_from_path_with(COPY_FROM, &path, &CopyFromOptions::new().gzip(9))
        .await
        .unwrap();
    assert_eq!(fake.0.last().plain_body(), csv);
}

#[tokio::test]
async fn async_copy_to_stream_writer_and_errors() {
    let fake = FakeAsync(FakeSync::new(copyto_reply));
    let client = AsyncCopyClient::new(fake.clone(), ctx());
    let mut stream = client
        .copy_to_with(
            "COPY t TO STDOUT",
            &CopyToOptions::new().filename("/tmp/output.dmp"),
        )
        .await
        .unwrap();
    assert_eq!(stream.filename(), Some("/tmp/output.dmp"));
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(out, data("copy/copyto-output.txt"));

    let long = format!("COPY (SELECT '{}') TO STDOUT", "z".repeat(2000));
    let mut out = Vec::new();
    client.copy_to_writer(&long, &mut out).await.unwrap();
    let seen = fake.0.last();
    assert_eq!(seen.method, "POST");
    assert_eq!(seen.param("q"), None);

    let stream = client.copy_to("COPY t TO STDOUT").await.unwrap();
    let mut read = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream.into_async_read(), &mut read)
        .await
        .unwrap();
    assert_eq!(read, data("copy/copyto-output.txt"));

    let rows: String = (0..3000).map(|i| format!("{i}\trow\n")).collect();
    let appended = format!("{rows}{}", r#"{"error":["division by zero"]}"#);
    let client = AsyncCopyClient::new(
        FakeAsync(FakeSync::new(move |_| {
            (200, vec![], appended.clone().into_bytes())
        })),
        ctx(),
    );
    let dir = tempfile::tempdir().unwrap();
    let err = client
        .copy_to_path("COPY t TO STDOUT", dir.path().join("o"))
        .await
        .unwrap_err();
    assert_eq!(err.api_error().unwrap().message(), "division by zero");
    assert_eq!(
        std::fs::read(dir.path().join("o")).unwrap(),
        rows.as_bytes()
    );

    let client = AsyncCopyClient::new(
        FakeAsync(FakeSync::new(|_| {
            (
                403,
                vec![],
                br#"{"error":["permission denied for table t"]}"#.to_vec(),
            )
        })),
        ctx(),
    );
    let err = client.copy_to("COPY t TO STDOUT").await.unwrap_err();
    assert!(err.is_forbidden());
    let err = client
        .copy_from("COPY t FROM STDIN", io::Cursor::new(b"1\n".to_vec()))
        .await
        .unwrap_err();
    assert!(err.is_forbidden());
}
