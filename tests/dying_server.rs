//! Clients under a dying server: a raw TCP server that closes mid-body, sends a truncated
//! chunk, stalls forever after the response head, or answers an HTML page. Every client
//! (sync on ureq, async on reqwest) and every call (buffered `query`, streamed
//! `query_rows`, COPY TO) returns a typed `carto::Error` within its timeouts; a watchdog
//! fails the test if one takes more than 30 s (a hang).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use carto::{BaseUrl, ClientOptions, Credentials, Error, TransportConfig};
use futures_util::StreamExt;
use serde_json::Value;

use crate::common;
use common::read_request;

/// What the server does after reading a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Death {
    /// `Content-Length: 100000`, 40 bytes of a document, then close.
    CloseMidBody,
    /// A chunked body whose chunk announces 1024 bytes and sends 30, then close.
    TruncatedChunk,
    /// The head and one chunk, then nothing, the connection kept open.
    StallAfterHead,
    /// A `502` HTML page, as a proxy in front of a dead server answers.
    HtmlBadGateway,
    /// A `200` HTML page (a captive portal, a misconfigured proxy).
    HtmlOk,
}

const DEATHS: [Death; 5] = [
    Death::CloseMidBody,
    Death::TruncatedChunk,
    Death::StallAfterHead,
    Death::HtmlBadGateway,
    Death::HtmlOk,
];

const HTML: &str =
    "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>";

fn serve(mut s: TcpStream, death: Death) {
    if !read_request(&mut s) {
        return;
    }
    let doc = br#"{"rows":[{"a":1},{"a":2},{"a":3},{"a":"#;
    let _ = match death {
        Death::CloseMidBody => {
            let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n".to_vec();
            r.extend_from_slice(doc);
            s.write_all(&r)
        }
        Death::TruncatedChunk => {
            let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n".to_vec();
            r.extend_from_slice(doc);
            s.write_all(&r)
        }
        Death::StallAfterHead => {
            let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            r.extend_from_slice(format!("{:x}\r\n", doc.len()).as_bytes());
            r.extend_from_slice(doc);
            r.extend_from_slice(b"\r\n");
            let _ = s.write_all(&r);
            // Hold the connection open, silent, until the client gives up.
            let mut sink = [0u8; 1024];
            while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
            Ok(())
        }
        Death::HtmlBadGateway | Death::HtmlOk => {
            let status = if death == Death::HtmlOk {
                "200 OK"
            } else {
                "502 Bad Gateway"
            };
            s.write_all(
                format!(
                    "HTTP/1.1 {status}\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{HTML}",
                    HTML.len()
                )
                .as_bytes(),
            )
        }
    };
    // Dropping the stream closes the connection.
}

/// A server that dies in the same way on every connection, for the whole test.
fn dying_server(death: Death) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    thread::spawn(move || {
        for s in listener.incoming().flatten() {
            thread::spawn(move || serve(s, death));
        }
    });
    addr
}

fn credentials(addr: SocketAddr) -> Credentials {
    let base = BaseUrl::parse_allow_http(&format!("http://{addr}/user/alice")).expect("base url");
    Credentials::new(base, "not-a-real-key")
}

/// Short timeouts, so a stalled server costs seconds.
fn options() -> ClientOptions {
    ClientOptions::new().transport(
        TransportConfig::new()
            .with_connect_timeout(Duration::from_secs(2))
            .with_request_timeout(Duration::from_secs(4))
            .with_read_timeout(Duration::from_secs(2)),
    )
}

/// Runs `f` on a thread; fails the test if it has not returned after 30 s.
fn watchdog<T: Send + 'static>(what: String, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{what}: no answer after 30 s (hang)"))
}

/// The calls checked, each reduced to its first error (`None`: it ended well, a bug).
#[derive(Debug, Clone, Copy)]
enum Call {
    Query,
    QueryRows,
    CopyTo,
}

const CALLS: [Call; 3] = [Call::Query, Call::QueryRows, Call::CopyTo];

const SQL: &str = "SELECT a FROM t";
const COPY_SQL: &str = "COPY t TO STDOUT";

fn sync_call(addr: SocketAddr, call: Call) -> Option<Error> {
    let client = carto::blocking::Client::with_options(credentials(addr), options()).ok()?;
    match call {
        Call::Query => client.sql().query::<Value>(SQL).err(),
        Call::QueryRows => match client.sql().query_rows::<Value>(SQL) {
            Err(e) => Some(e),
            Ok(rows) => rows.into_iter().find_map(Result::err),
        },
        Call::CopyTo => match client.copy().copy_to(COPY_SQL) {
            Err(e) => Some(e),
            Ok(mut reader) => {
                let mut sink = Vec::new();
                let e = reader.read_to_end(&mut sink).err()?;
                // The reader's io::Error wraps the typed error.
                Some(
                    e.into_inner()
                        .and_then(|inner| inner.downcast::<Error>().ok())
                        .map(|b| *b)
                        .unwrap_or_else(|| panic!("COPY TO read error is not a carto::Error")),
                )
            }
        },
    }
}

async fn async_call(addr: SocketAddr, call: Call) -> Option<Error> {
    let client = carto::Client::with_options(credentials(addr), options()).ok()?;
    match call {
        Call::Query => client.sql().query::<Value>(SQL).await.err(),
        Call::QueryRows => match client.sql().query_rows::<Value>(SQL).await {
            Err(e) => Some(e),
            Ok(mut rows) => {
                while let Some(row) = rows.next().await {
                    if let Err(e) = row {
                        return Some(e);
                    }
                }
                None
            }
        },
        Call::CopyTo => match client.copy().copy_to(COPY_SQL).await {
            Err(e) => Some(e),
            Ok(mut stream) => {
                while let Some(chunk) = stream.next().await {
                    if let Err(e) = chunk {
                        return Some(e);
                    }
                }
                None
            }
        },
    }
}

/// Checks the error a call gave for `death`; returns a line for the test's output.
fn check(backend: &str, death: Death, call: Call, error: Option<Error>, took: Duration) -> String {
    let line = format!("{backend} {call:?} vs {death:?}: {took:?}");
    match (death, call, error) {
        // COPY TO passes a 200 body through as data: an HTML page is data there.
        (Death::HtmlOk, Call::CopyTo, None) => format!("{line}: HTML passed through as data"),
        (_, _, None) => panic!("{line}: ended without an error"),
        (death, _, Some(e)) => {
            match death {
                Death::StallAfterHead => assert!(e.is_timeout(), "{line}: {e:?}"),
                Death::HtmlBadGateway => {
                    assert!(
                        matches!(&e, Error::Api(api) if api.status() == 502),
                        "{line}: {e:?}"
                    )
                }
                Death::HtmlOk => assert!(matches!(e, Error::Decode(_)), "{line}: {e:?}"),
                Death::CloseMidBody | Death::TruncatedChunk => assert!(
                    matches!(e, Error::Transport(_) | Error::Decode(_)),
                    "{line}: {e:?}"
                ),
            }
            format!("{line}: {e}")
        }
    }
}

#[test]
fn sync_clients_fail_typed_and_never_hang() {
    for death in DEATHS {
        let addr = dying_server(death);
        for call in CALLS {
            let started = Instant::now();
            let error = watchdog(format!("ureq {call:?} vs {death:?}"), move || {
                sync_call(addr, call)
            });
            eprintln!("{}", check("ureq", death, call, error, started.elapsed()));
        }
    }
}

#[test]
fn async_clients_fail_typed_and_never_hang() {
    for death in DEATHS {
        let addr = dying_server(death);
        for call in CALLS {
            let started = Instant::now();
            let error = watchdog(format!("reqwest {call:?} vs {death:?}"), move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime")
                    .block_on(async_call(addr, call))
            });
            eprintln!(
                "{}",
                check("reqwest", death, call, error, started.elapsed())
            );
        }
    }
}
