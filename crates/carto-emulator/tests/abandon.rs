//! Abandoned requests: a client that closes its connection in the middle of a large SQL API
//! result or COPY TO download must not leave its query running in PostgreSQL, nor hold a
//! database session. Ten 1M-row reads (and ten COPY TO downloads) are abandoned from a raw
//! client after the first bytes; then `SELECT 1` is answered and `pg_stat_activity` shows
//! none of those queries (polled with a generous deadline: a correctness check, not a timing
//! one; `docs/reliability.md` gives the measured times).

use carto_test_support::emulator::http as common;

use std::time::{Duration, Instant};

use carto_emulator::Emulator;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long the emulator and PostgreSQL get to notice and clean up (generous on purpose).
const DEADLINE: Duration = Duration::from_secs(30);

/// When the client goes away.
#[derive(Debug, Clone, Copy)]
enum Leave {
    /// After the response head and this many body bytes.
    After(usize),
    /// Before any byte of the response (the query has not produced a row yet).
    BeforeTheHead,
}

/// Opens a raw HTTP/1.1 connection, sends `GET path`, reads what `leave` says, then closes
/// the socket (the client is gone).
async fn abandon(addr: std::net::SocketAddr, path_and_query: &str, leave: Leave) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req =
        format!("GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: keep-alive\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let min = match leave {
        Leave::After(min) => min,
        Leave::BeforeTheHead => {
            // Long enough for the query to start.
            tokio::time::sleep(Duration::from_millis(500)).await;
            return;
        }
    };
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let started = Instant::now();
    loop {
        let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
            .await
            .expect("the emulator sent nothing for 30 s")
            .unwrap();
        assert!(
            n > 0,
            "the emulator closed first: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]);
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            if got.len() - end - 4 >= min {
                break;
            }
        }
        assert!(started.elapsed() < DEADLINE);
    }
    // Dropping the stream closes it with unread data pending: the kernel answers the
    // emulator's next write with a reset.
    drop(s);
}

/// An emulator with user `alice`, and the path of alice's base URL (`/user/alice`).
async fn start() -> (Emulator, String) {
    let emu = Emulator::builder().user("alice").start().await.unwrap();
    let base = common::base(&emu, "alice");
    let prefix = base.trim_start_matches(&emu.url()).to_owned();
    (emu, prefix)
}

fn encode(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

/// Queries (other than the asking one) whose text holds `marker`.
async fn leftovers(pg: &tokio_postgres::Client, marker: &str) -> Vec<String> {
    let rows = pg
        .query(
            "SELECT coalesce(state, '') || ': ' || left(query, 80) FROM pg_catalog.pg_stat_activity \
             WHERE query LIKE '%' || $1 || '%' AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()",
            &[&marker],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

/// Sessions logged in as `role` that are not idle (running, or inside a transaction): a
/// session returned to the pool or closed is not counted, one still held for an abandoned
/// request is.
async fn sessions_of(pg: &tokio_postgres::Client, role: &str) -> i64 {
    pg.query_one(
        "SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE usename OPERATOR(pg_catalog.=) $1 \
         AND state IS DISTINCT FROM 'idle'",
        &[&role],
    )
    .await
    .unwrap()
    .get(0)
}

/// Abandons ten requests built by `path(i)`, then checks `SELECT 1`, the leftover queries and
/// the role's sessions. Returns how long the cleanup took to be visible.
async fn abandon_ten(
    emu: &Emulator,
    marker: &str,
    leave: Leave,
    path: impl Fn(usize) -> String,
) -> Duration {
    let user = emu.user("alice").unwrap();
    let role = user.public_role().to_owned();
    let base = common::base(emu, "alice");
    let pg = emu.pg().connect_superuser("postgres").await.unwrap();
    let before = sessions_of(&pg, &role).await;

    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let addr = emu.addr();
            let p = path(i);
            tokio::spawn(async move { abandon(addr, &p, leave).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let closed = Instant::now();

    // The emulator answers a small query while (or after) the abandoned ones are stopped.
    let c = common::client();
    let url = format!("{base}/api/v2/sql?q=SELECT%201%20AS%20n");
    let r = tokio::time::timeout(DEADLINE, c.get(&url).send())
        .await
        .expect("SELECT 1 was not answered within 30 s")
        .unwrap();
    assert_eq!(r.status(), 200);
    let select_one = closed.elapsed();
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["rows"],
        serde_json::json!([{"n": 1}])
    );

    // No query of those is left in PostgreSQL, and no session of the role is busy any more
    // (how many idle ones the pool keeps depends on how the cancellations and `SELECT 1` met).
    let cleaned = loop {
        let left = leftovers(&pg, marker).await;
        let sessions = sessions_of(&pg, &role).await;
        if left.is_empty() && sessions <= before {
            break closed.elapsed();
        }
        assert!(
            closed.elapsed() < DEADLINE,
            "after 30 s: {} leftover queries {left:?}, {sessions} busy sessions of the role (before: {before})",
            left.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    eprintln!(
        "{marker}: SELECT 1 answered after {select_one:?}, queries and sessions gone after {cleaned:?}"
    );
    cleaned
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_sql_reads_are_cancelled_and_free_their_sessions() {
    let (emu, prefix) = start().await;
    for format in ["json", "csv"] {
        let marker = format!("abandon_sql_{format}");
        abandon_ten(&emu, &marker, Leave::After(64 * 1024), |i| {
            let q = format!(
                "SELECT g AS {marker}, repeat('x', 64) AS pad FROM generate_series(1, 1000000) g WHERE g > {i}"
            );
            format!("{prefix}/api/v2/sql?format={format}&q={}", encode(&q))
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_copy_to_downloads_are_cancelled_and_free_their_sessions() {
    let (emu, prefix) = start().await;
    let marker = "abandon_copy_to";
    abandon_ten(&emu, marker, Leave::After(64 * 1024), |i| {
        let q = format!(
            "COPY (SELECT g AS {marker}, repeat('x', 64) FROM generate_series(1, 1000000) g WHERE g > {i}) TO STDOUT"
        );
        format!("{prefix}/api/v2/sql/copyto?q={}", encode(&q))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_slow_reads_are_cancelled_between_rows() {
    let (emu, prefix) = start().await;
    let marker = "abandon_slow";
    abandon_ten(&emu, marker, Leave::After(0), |i| {
        let q = format!(
            "SELECT g AS {marker}, pg_sleep(0.01) FROM generate_series(1, 1000000) g WHERE g > {i}"
        );
        format!("{prefix}/api/v2/sql?q={}", encode(&q))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_abandoned_before_the_first_row_are_cancelled() {
    let (emu, prefix) = start().await;
    // The first row comes after 120 s: only a cancellation ends these within the deadline.
    let marker = "abandon_before_head";
    abandon_ten(&emu, marker, Leave::BeforeTheHead, |i| {
        let q = format!(
            "SELECT g AS {marker} FROM (SELECT pg_sleep(120)) s, generate_series(1, 1000000) g WHERE g > {i}"
        );
        format!("{prefix}/api/v2/sql?q={}", encode(&q))
    })
    .await;
    let marker = "abandon_copy_before_head";
    abandon_ten(&emu, marker, Leave::BeforeTheHead, |i| {
        let q = format!(
            "COPY (SELECT g AS {marker} FROM (SELECT pg_sleep(120)) s, generate_series(1, 1000000) g WHERE g > {i}) TO STDOUT"
        );
        format!("{prefix}/api/v2/sql/copyto?q={}", encode(&q))
    })
    .await;
}

/// Starts a chunked COPY FROM upload of `rows` rows on a raw connection, without its last
/// chunk; dropping the stream is the client dying mid-upload.
async fn start_upload(addr: std::net::SocketAddr, path_and_query: &str, rows: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nTransfer-Encoding: chunked\r\nContent-Type: text/csv\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    let chunk: String = (0..rows).map(|i| format!("{i}\n")).collect();
    s.write_all(format!("{:x}\r\n{chunk}\r\n", chunk.len()).as_bytes())
        .await
        .unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_copy_from_uploads_are_aborted() {
    let (emu, prefix) = start().await;
    let master = common::master(&emu, "alice");
    let c = common::client();
    let base = common::base(&emu, "alice");
    let sql = |q: &str| {
        c.post(format!("{base}/api/v2/sql"))
            .basic_auth("alice", Some(&master))
            .json(&serde_json::json!({ "q": q }))
            .send()
    };
    let r = sql("CREATE TABLE abandon_copy_from (x int)").await.unwrap();
    assert_eq!(r.status(), 200);
    let pg = emu.pg().connect_superuser("postgres").await.unwrap();
    let q = encode("COPY abandon_copy_from (x) FROM STDIN");
    let path = format!("{prefix}/api/v2/sql/copyfrom?q={q}&api_key={master}");
    let mut uploads = Vec::new();
    for _ in 0..10 {
        uploads.push(start_upload(emu.addr(), &path, 10_000).await);
    }
    // The ten COPYs are running in PostgreSQL...
    let marker = "abandon_copy_from (x) FROM STDIN";
    let started = Instant::now();
    while leftovers(&pg, marker).await.len() < 10 {
        assert!(started.elapsed() < DEADLINE, "the uploads did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let running = started.elapsed();
    // ... when their clients die.
    drop(uploads);
    let closed = Instant::now();
    let cleaned = loop {
        let left = leftovers(&pg, marker).await;
        if left.is_empty() {
            break closed.elapsed();
        }
        assert!(
            closed.elapsed() < DEADLINE,
            "after 30 s: leftover uploads {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Nothing of the interrupted uploads was kept.
    let r = sql("SELECT count(*) AS n FROM abandon_copy_from")
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["rows"], serde_json::json!([{"n": 0}]));
    eprintln!(
        "abandon_copy_from: 10 uploads running after {running:?}, gone {cleaned:?} after their clients, 0 rows kept"
    );
}
