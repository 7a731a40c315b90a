//! COPY FROM and COPY TO end to end against the in-process emulator (real HTTP, real
//! PostgreSQL), with the sync client on ureq and the async client on reqwest: plain and
//! gzip uploads, a wrong table, a permission-denied upload with a select-only key, an
//! aborted upload leaving no rows, `No rows copied`, and COPY TO of a query longer than
//! 8 KB (sent in the POST body).

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use carto_core::{Credentials, Error, RequestContext};
use carto_emulator::Emulator;
use carto_sql::copy::{AsyncCopyClient, CopyClient, CopyFromOptions, CopyToOptions};
use carto_transport::{AsyncTransport, ReqwestTransport, Transport, UreqTransport};
use http::Method;

const TABLE_SQL: &str = "CREATE TABLE copy_e2e (id int PRIMARY KEY, name text, age int)";
const COPY_IN: &str = "COPY copy_e2e (id, name, age) FROM STDIN WITH (FORMAT csv, HEADER true)";
const COUNT: &str = "COPY (SELECT count(*) FROM copy_e2e) TO STDOUT";

/// `rows` CSV rows with a header, ids from `first`.
fn csv(first: u32, rows: u32) -> String {
    let mut out = String::from("id,name,age\n");
    for i in first..first + rows {
        out.push_str(&format!("{i},name {i},{}\n", i % 100));
    }
    out
}

/// A COPY TO that fails at its 5000th row, after the output started.
const MIDWAY_FAILURE: &str =
    "COPY (SELECT g, 1 / (5000 - g) FROM generate_series(1, 10000) g) TO STDOUT";

fn assert_midway_failure(err: &Error, out: &[u8]) {
    assert_eq!(err.status(), Some(http::StatusCode::OK), "{err:?}");
    assert_eq!(err.api_error().unwrap().message(), "division by zero");
    let text = std::str::from_utf8(out).unwrap();
    assert!(
        text.starts_with("1\t0\n"),
        "{}",
        &text[..20.min(text.len())]
    );
    assert!(!text.contains("error"), "the error is not data");
    assert!(text.is_empty() || text.ends_with('\n'));
}

/// 32 MB of rows, more than any socket buffer holds.
fn big_upload() -> Vec<u8> {
    b"1\n".repeat(16 * 1024 * 1024)
}

/// A COPY TO query longer than 8 KB listing ids.
fn long_query(ids: u32) -> String {
    let list: Vec<String> = (0..ids).map(|i| i.to_string()).collect();
    // The ids, then a comment, make a query over 8 KB (too long for many URL limits).
    let sql = format!(
        "COPY (SELECT id, name FROM copy_e2e WHERE id IN ({}) /* {} */ ORDER BY id) TO STDOUT",
        list.join(", "),
        "padding ".repeat(1024)
    );
    assert!(sql.len() > 8 * 1024, "{} bytes", sql.len());
    sql
}

fn expected_rows(ids: u32) -> String {
    (0..ids).map(|i| format!("{i}\tname {i}\n")).collect()
}

/// Runs SQL through the SQL API (POST form), for setup.
fn sql_sync(transport: &UreqTransport, creds: &Credentials, q: &str) {
    let ctx = RequestContext::new(creds.clone());
    let request = ctx
        .request(Method::POST, &["api", "v2", "sql"])
        .form([("q", q)])
        .build()
        .unwrap();
    let response = transport.send(request).unwrap();
    carto_core::endpoint::check_status(&response).unwrap_or_else(|e| panic!("{q}: {e}"));
}

async fn sql_async(transport: &ReqwestTransport, creds: &Credentials, q: &str) {
    let ctx = RequestContext::new(creds.clone());
    let request = ctx
        .request(Method::POST, &["api", "v2", "sql"])
        .form([("q", q)])
        .build()
        .unwrap();
    let response = transport.send(request).await.unwrap();
    carto_core::endpoint::check_status(&response).unwrap_or_else(|e| panic!("{q}: {e}"));
}

/// The JSON of a regular key allowed only to SELECT from `copy_e2e`.
fn select_only_key() -> serde_json::Value {
    serde_json::json!({
        "name": "copy_e2e_reader",
        "grants": [
            {"type": "apis", "apis": ["sql"]},
            {"type": "database", "tables": [
                {"schema": "public", "name": "copy_e2e", "permissions": ["select"]}
            ]}
        ]
    })
}

fn token_of(body: &[u8]) -> String {
    let key: serde_json::Value = serde_json::from_slice(body).unwrap();
    key["token"].as_str().unwrap().to_owned()
}

/// A source that yields some rows, then fails: the upload is aborted midway.
struct FailingSource {
    sent: bool,
}

impl Read for FailingSource {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.sent {
            return Err(io::Error::other("the source broke"));
        }
        self.sent = true;
        let rows = csv(100_000, 50);
        let n = rows.len().min(buf.len());
        buf[..n].copy_from_slice(&rows.as_bytes()[..n]);
        Ok(n)
    }
}

#[test]
fn sync_copy_against_the_emulator() {
    let emulator = Emulator::builder().user("alice").start_blocking().unwrap();
    let creds = emulator.user("alice").unwrap().credentials();
    let transport = UreqTransport::new();
    sql_sync(&transport, &creds, TABLE_SQL);
    let client = CopyClient::from_credentials(transport.clone(), creds.clone());
    let count = |client: &CopyClient<UreqTransport>| {
        let mut out = String::new();
        client
            .copy_to(COUNT)
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        out.trim().parse::<u64>().unwrap()
    };

    // Plain, then gzip, with progress.
    let plain = csv(0, 1000);
    let loaded = client
        .copy_from(COPY_IN, io::Cursor::new(plain.clone().into_bytes()))
        .unwrap();
    assert_eq!(loaded.total_rows, 1000);
    let moved = Arc::new(AtomicU64::new(0));
    let m = moved.clone();
    let gz = csv(1000, 1000);
    let loaded = client
        .copy_from_with(
            COPY_IN,
            io::Cursor::new(gz.clone().into_bytes()),
            &CopyFromOptions::new()
                .gzip(6)
                .progress(move |n| m.store(n, Ordering::SeqCst)),
        )
        .unwrap();
    assert_eq!(loaded.total_rows, 1000);
    assert_eq!(moved.load(Ordering::SeqCst), gz.len() as u64);
    assert_eq!(count(&client), 2000);

    // From a file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.csv");
    std::fs::write(&path, csv(2000, 10)).unwrap();
    assert_eq!(
        client
            .copy_from_path_with(COPY_IN, &path, &CopyFromOptions::new().gzip(1))
            .unwrap()
            .total_rows,
        10
    );

    // A wrong table.
    let err = client
        .copy_from(
            "COPY copy_e2e_nope (id) FROM STDIN",
            io::Cursor::new(b"1\n".to_vec()),
        )
        .unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST), "{err:?}");
    assert_eq!(
        err.api_error().unwrap().message(),
        "relation \"copy_e2e_nope\" does not exist"
    );

    // A wrong table with a large upload: CARTO's error still comes back, not a broken
    // connection (ureq honours `Expect: 100-continue` and does not send the body).
    let err = client
        .copy_from(
            "COPY copy_e2e_nope (id) FROM STDIN",
            io::Cursor::new(big_upload()),
        )
        .unwrap_err();
    assert_eq!(
        err.api_error().map(|e| e.message()).as_deref(),
        Some("relation \"copy_e2e_nope\" does not exist"),
        "{err:?}"
    );

    // Nothing to copy.
    let err = client
        .copy_from(COPY_IN, io::Cursor::new(b"id,name,age\n".to_vec()))
        .unwrap_err();
    assert_eq!(err.api_error().unwrap().message(), "No rows copied");

    // An aborted upload leaves no rows.
    let err = client
        .copy_from(COPY_IN, FailingSource { sent: false })
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(count(&client), 2010);

    // A select-only key may read but not load.
    let ctx = RequestContext::new(creds.clone());
    let request = ctx
        .request(Method::POST, &["api", "v3", "api_keys"])
        .json(&select_only_key())
        .unwrap()
        .build()
        .unwrap();
    let response = transport.send(request).unwrap();
    assert_eq!(
        response.status(),
        201,
        "{}",
        String::from_utf8_lossy(response.body())
    );
    let reader = CopyClient::from_credentials(
        transport.clone(),
        creds.with_token(token_of(response.body())),
    );
    let err = reader
        .copy_from(COPY_IN, io::Cursor::new(csv(5000, 3).into_bytes()))
        .unwrap_err();
    assert!(err.is_forbidden(), "{err:?}");
    assert!(
        err.api_error()
            .unwrap()
            .message()
            .contains("permission denied"),
        "{err}"
    );
    assert_eq!(count(&reader), 2010);

    // COPY TO of a query over 8 KB, into a file, with a filename.
    let sql = long_query(1500);
    let mut stream = client
        .copy_to_with(&sql, &CopyToOptions::new().filename("first rows.txt"))
        .unwrap();
    assert_eq!(stream.filename(), Some("first rows.txt"));
    let mut out = String::new();
    stream.read_to_string(&mut out).unwrap();
    assert_eq!(out, expected_rows(1500));
    let path = dir.path().join("out.txt");
    let n = client.copy_to_path(&sql, &path).unwrap();
    assert_eq!(n, out.len() as u64);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), out);

    // COPY TO errors.
    let err = client.copy_to("COPY copy_e2e_nope TO STDOUT").unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));

    // A failure after the output started: the rows before it, then the appended error.
    let mut out = Vec::new();
    let err = client.copy_to_writer(MIDWAY_FAILURE, &mut out).unwrap_err();
    assert_midway_failure(&err, &out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_copy_against_the_emulator() {
    let emulator = Emulator::builder().user("alice").start().await.unwrap();
    let creds = emulator.user("alice").unwrap().credentials();
    let transport = ReqwestTransport::new();
    sql_async(&transport, &creds, TABLE_SQL).await;
    let client = AsyncCopyClient::from_credentials(transport.clone(), creds.clone());
    async fn count(client: &AsyncCopyClient<ReqwestTransport>) -> u64 {
        let mut out = Vec::new();
        client.copy_to_writer(COUNT, &mut out).await.unwrap();
        String::from_utf8(out).unwrap().trim().parse().unwrap()
    }

    let loaded = client
        .copy_from(COPY_IN, io::Cursor::new(csv(0, 1000).into_bytes()))
        .await
        .unwrap();
    assert_eq!(loaded.total_rows, 1000);
    let chunks: Vec<io::Result<Bytes>> = csv(1000, 1000)
        .into_bytes()
        .chunks(777)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let loaded = client
        .copy_from_stream_with(
            COPY_IN,
            futures_util::stream::iter(chunks),
            &CopyFromOptions::new().gzip(9),
        )
        .await
        .unwrap();
    assert_eq!(loaded.total_rows, 1000);
    assert_eq!(count(&client).await, 2000);

    let err = client
        .copy_from(
            "COPY copy_e2e_nope (id) FROM STDIN",
            io::Cursor::new(b"1\n".to_vec()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.api_error().unwrap().message(),
        "relation \"copy_e2e_nope\" does not exist"
    );

    // A wrong table with a large upload: hyper sends the body without waiting for
    // `100 Continue`; the emulator reads and discards a refused upload before answering,
    // so the client gets CARTO's error rather than a broken pipe.
    let err = client
        .copy_from(
            "COPY copy_e2e_nope (id) FROM STDIN",
            io::Cursor::new(big_upload()),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.api_error().map(|e| e.message()).as_deref(),
        Some("relation \"copy_e2e_nope\" does not exist"),
        "{err:?}"
    );

    // An aborted upload (the stream fails after some rows) leaves no rows.
    let chunks: Vec<io::Result<Bytes>> = vec![
        Ok(Bytes::from(csv(100_000, 50))),
        Err(io::Error::other("the source broke")),
    ];
    let err = client
        .copy_from_stream(COPY_IN, futures_util::stream::iter(chunks))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
    assert_eq!(count(&client).await, 2000);

    // A select-only key may read but not load.
    let ctx = RequestContext::new(creds.clone());
    let request = ctx
        .request(Method::POST, &["api", "v3", "api_keys"])
        .json(&select_only_key())
        .unwrap()
        .build()
        .unwrap();
    let response = transport.send(request).await.unwrap();
    assert_eq!(response.status(), 201);
    let reader = AsyncCopyClient::from_credentials(
        transport.clone(),
        creds.with_token(token_of(response.body())),
    );
    let err = reader
        .copy_from(COPY_IN, io::Cursor::new(csv(5000, 3).into_bytes()))
        .await
        .unwrap_err();
    assert!(err.is_forbidden(), "{err:?}");
    assert_eq!(count(&reader).await, 2000);

    let mut out = Vec::new();
    let err = client
        .copy_to_writer(MIDWAY_FAILURE, &mut out)
        .await
        .unwrap_err();
    assert_midway_failure(&err, &out);

    // COPY TO of a query over 8 KB, as a stream, with progress.
    let sql = long_query(1200);
    let moved = Arc::new(AtomicU64::new(0));
    let m = moved.clone();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.txt");
    let n = client
        .copy_to_path_with(
            &sql,
            &path,
            &CopyToOptions::new().progress(move |n| m.store(n, Ordering::SeqCst)),
        )
        .await
        .unwrap();
    let expected = expected_rows(1200);
    assert_eq!(n, expected.len() as u64);
    assert_eq!(moved.load(Ordering::SeqCst), n);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
}
