//! The buffered `sql().query` decodes its rows as the body arrives, and keeps the buffered
//! path's promises. Against a scripted raw HTTP server, for both clients (sync on ureq,
//! async on reqwest):
//!
//! - the whole-request timeout covers the body: a body that trickles in, each wait far
//!   shorter than the read timeout, is cut at the request timeout (while `query_rows`,
//!   streamed, reads it to its end);
//! - a `read_only` query whose body dies midway is sent again and succeeds; any other
//!   query is sent once and fails;
//! - a row that does not decode names its JSON path, the error a document ends with wins
//!   over such a row, and a failed status is CARTO's error.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use carto::{
    BaseUrl, ClientOptions, Credentials, Error, QueryOptions, RetryPolicy, TransportConfig,
    TransportErrorKind,
};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::common;
use common::read_request;

const DOC: &str = r#"{"rows":[{"n":1,"name":"a"},{"n":2,"name":"b"},{"n":3,"name":"c"}],"time":0.002,"fields":{"n":{"type":"number","pgtype":"int4"},"name":{"type":"string","pgtype":"text"}},"total_rows":3,"notices":["hello"]}"#;

#[derive(Debug, Deserialize, PartialEq)]
struct Row {
    n: i64,
    name: String,
}

/// What the server does with one connection.
#[derive(Debug, Clone, Copy)]
enum Script {
    /// `Content-Length: 100000`, the first half of [`DOC`], then close.
    CutMidBody,
    /// This status and body, whole.
    Answer(u16, &'static str),
    /// [`DOC`] in chunks of 16 bytes, 150 ms apart (about 2 s in all).
    Trickle,
}

/// A server playing `scripts` in turn, one per connection (the last one for the rest).
struct Server {
    addr: SocketAddr,
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn start(scripts: Vec<Script>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let requests = Arc::new(AtomicUsize::new(0));
        let counted = requests.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let script = scripts[counted.load(Ordering::SeqCst).min(scripts.len() - 1)];
                let counted = counted.clone();
                thread::spawn(move || play(stream, script, &counted));
            }
        });
        Self { addr, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn credentials(&self) -> Credentials {
        let base = BaseUrl::parse_allow_http(&format!("http://{}/user/alice", self.addr))
            .expect("base url");
        Credentials::new(base, "not-a-real-key")
    }
}

fn play(mut s: TcpStream, script: Script, requests: &AtomicUsize) {
    if !read_request(&mut s) {
        return;
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let _ = match script {
        Script::CutMidBody => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n";
            s.write_all(format!("{head}{}", &DOC[..DOC.len() / 2]).as_bytes())
        }
        Script::Answer(status, body) => s.write_all(
            format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        ),
        Script::Trickle => {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            let mut result = s.write_all(head.as_bytes());
            for piece in DOC.as_bytes().chunks(16) {
                thread::sleep(Duration::from_millis(150));
                let mut chunk = format!("{:x}\r\n", piece.len()).into_bytes();
                chunk.extend_from_slice(piece);
                chunk.extend_from_slice(b"\r\n");
                result = result.and_then(|()| s.write_all(&chunk));
            }
            result.and_then(|()| s.write_all(b"0\r\n\r\n"))
        }
    };
    // Dropping the stream closes the connection.
}

/// A 1 s whole-request timeout, a read timeout far above the trickle's waits.
fn options() -> ClientOptions {
    ClientOptions::new().transport(
        TransportConfig::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_request_timeout(Duration::from_secs(1))
            .with_read_timeout(Duration::from_secs(20)),
    )
}

fn blocking(server: &Server) -> carto::blocking::Client {
    carto::blocking::Client::with_options(server.credentials(), options()).expect("client")
}

fn asynchronous(server: &Server) -> carto::Client {
    carto::Client::with_options(server.credentials(), options()).expect("client")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

const SQL: &str = "SELECT n, name FROM t";

fn read_only() -> QueryOptions {
    QueryOptions::new().read_only(true)
}

fn assert_timeout(err: &Error) {
    assert!(
        matches!(
            err,
            Error::Transport(t) if t.kind() == TransportErrorKind::Timeout
        ),
        "{err:?}"
    );
}

fn assert_doc(response: &carto::sql::SqlResponse<Row>) {
    let names: Vec<&str> = response.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "b", "c"]);
    assert_eq!(response.rows[2].n, 3);
    assert_eq!(response.total_rows, 3);
    assert_eq!(response.time, Some(Duration::from_secs_f64(0.002)));
    assert_eq!(response.notices, ["hello"]);
    assert_eq!(response.fields.names().collect::<Vec<_>>(), ["n", "name"]);
}

#[test]
fn the_whole_request_timeout_covers_a_slow_body() {
    // Buffered: cut at 1 s, though no wait reaches the read timeout; a timeout of a
    // query that may write is not retried.
    let server = Server::start(vec![Script::Trickle]);
    let err = blocking(&server).sql().query::<Row>(SQL).unwrap_err();
    assert_timeout(&err);
    assert_eq!(server.requests(), 1);
    let server = Server::start(vec![Script::Trickle]);
    let err = runtime()
        .block_on(asynchronous(&server).sql().query::<Row>(SQL))
        .unwrap_err();
    assert_timeout(&err);
    assert_eq!(server.requests(), 1);

    // Streamed, the same body is read to its end: only each wait is bounded.
    let server = Server::start(vec![Script::Trickle]);
    let rows: Vec<Row> = blocking(&server)
        .sql()
        .query_rows::<Row>(SQL)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 3);
    let rows: Vec<Row> = runtime().block_on(async {
        let client = asynchronous(&server);
        let stream = client.sql().query_rows::<Row>(SQL).await.unwrap();
        stream.map(Result::unwrap).collect().await
    });
    assert_eq!(rows.len(), 3);
}

#[test]
fn a_read_only_query_whose_body_dies_midway_is_sent_again() {
    let script = || vec![Script::CutMidBody, Script::Answer(200, DOC)];

    let server = Server::start(script());
    let response = blocking(&server)
        .sql()
        .query_with::<Row>(SQL, &read_only())
        .unwrap();
    assert_doc(&response);
    assert_eq!(server.requests(), 2);

    let server = Server::start(script());
    let response = runtime()
        .block_on(
            asynchronous(&server)
                .sql()
                .query_with::<Row>(SQL, &read_only()),
        )
        .unwrap();
    assert_doc(&response);
    assert_eq!(server.requests(), 2);

    // A query that may write is never sent twice once the server may have run it.
    let server = Server::start(script());
    let err = blocking(&server).sql().query::<Row>(SQL).unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(server.requests(), 1);
    let server = Server::start(script());
    let err = runtime()
        .block_on(asynchronous(&server).sql().query::<Row>(SQL))
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(server.requests(), 1);

    // Retries off: the read_only query is sent once too.
    let server = Server::start(script());
    let client = carto::blocking::Client::with_options(
        server.credentials(),
        options().retry(RetryPolicy::none()),
    )
    .unwrap();
    let err = client
        .sql()
        .query_with::<Row>(SQL, &read_only())
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(server.requests(), 1);
}

/// The error both clients give for a server answering `status` and `body`.
fn both_errors(status: u16, body: &'static str) -> [Error; 2] {
    let server = Server::start(vec![Script::Answer(status, body)]);
    let sync = blocking(&server).sql().query::<Row>(SQL).unwrap_err();
    let asynchronous = runtime()
        .block_on(asynchronous(&server).sql().query::<Row>(SQL))
        .unwrap_err();
    [sync, asynchronous]
}

#[test]
fn decode_errors_keep_their_json_path_and_carto_errors_come_first() {
    let bad_row = r#"{"rows":[{"n":1,"name":"a"},{"n":2,"name":7}],"total_rows":2}"#;
    for err in both_errors(200, bad_row) {
        let Error::Decode(d) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(d.path(), "rows[1].name");
        assert!(d.message().contains("expected a string"), "{d}");
    }

    // Malformed JSON inside a row.
    let malformed = r#"{"rows":[{"n":1,"name":"a"},{"n":2,"name":"b",}],"total_rows":2}"#;
    for err in both_errors(200, malformed) {
        assert!(matches!(err, Error::Decode(_)), "{err:?}");
    }

    // A query that failed after its first rows: CARTO's error, even though a row did not
    // decode before it.
    let failed = r#"{"rows":[{"n":"x","name":"a"}],"error":["division by zero"]}"#;
    for err in both_errors(200, failed) {
        let Error::Api(api) = &err else {
            panic!("{err:?}")
        };
        assert_eq!(api.status().as_u16(), 200);
        assert!(api.to_string().contains("division by zero"), "{api}");
    }

    // A failed status is CARTO's error.
    let relation = r#"{"error":["relation \"t\" does not exist"]}"#;
    for err in both_errors(400, relation) {
        assert_eq!(err.status().map(|s| s.as_u16()), Some(400), "{err:?}");
        assert!(err.to_string().contains("does not exist"), "{err}");
    }

    // A cut-off document.
    let cut = r#"{"rows":[{"n":1,"name":"a"}"#;
    for err in both_errors(200, cut) {
        assert!(matches!(err, Error::Decode(_)), "{err:?}");
    }
}
