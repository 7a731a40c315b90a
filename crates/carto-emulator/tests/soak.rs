//! Soak: the emulator binary serves 16 concurrent clients (SQL reads as the master key and
//! without a key, writes, API key creation / use / deletion, COPY FROM and COPY TO, batch
//! jobs) for a while. Checked: no error other than the emulator's own 429 with
//! `Retry-After`; the emulator's RSS at the end within 20% of its RSS after the warm-up; and
//! the PostgreSQL sessions back to the pool's idle bound (at most 4 per role, none for a
//! deleted key's role) once the load stops.
//!
//! `soak_10_seconds` runs in CI; the full run is
//! `cargo test -p carto-emulator --test soak -- --ignored --nocapture` (60 s, or
//! `CARTO_SOAK_SECS`).

use carto_test_support::emulator::child as proc_common;
use carto_test_support::emulator::http as common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carto_core::Credentials;
use reqwest::StatusCode;
use serde_json::{Value, json};

const CLIENTS: usize = 16;
/// The pool keeps at most the per-role session bound idle per (database, role) (16 by
/// default; the soak runs with the defaults or lower bounds).
fn idle_bound() -> i64 {
    carto_emulator::SessionLimits::default().per_role as i64
}
const DEADLINE: Duration = Duration::from_secs(60);

/// The process's resident set size in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// What the load saw, per operation.
#[derive(Default)]
struct Tally {
    ok: BTreeMap<&'static str, u64>,
    rate_limited: u64,
    unexpected: Vec<String>,
}

/// A response: fine, CARTO's 429 with `Retry-After`, or an unexpected answer.
enum Outcome {
    Ok(Value),
    RateLimited,
    Unexpected(String),
}

async fn outcome(r: reqwest::Result<reqwest::Response>, want: StatusCode) -> Outcome {
    let r = match r {
        Ok(r) => r,
        Err(e) => return Outcome::Unexpected(format!("transport: {e}")),
    };
    let status = r.status();
    let retry_after = r.headers().contains_key("retry-after");
    let text = r.text().await.unwrap_or_default();
    if status == StatusCode::TOO_MANY_REQUESTS && retry_after {
        return Outcome::RateLimited;
    }
    if status != want {
        return Outcome::Unexpected(format!("{status}: {}", &text[..text.len().min(200)]));
    }
    Outcome::Ok(serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn encode(q: &str) -> String {
    url::form_urlencoded::byte_serialize(q.as_bytes()).collect()
}

struct Load {
    c: reqwest::Client,
    creds: Credentials,
    tally: Arc<Mutex<Tally>>,
}

impl Load {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.creds.base_url().as_str())
    }

    fn master(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        rb.basic_auth("alice", Some(self.creds.token().expose_secret()))
    }

    /// Records `o` under `op`; returns its JSON when it went well.
    fn record(&self, op: &'static str, o: Outcome) -> Option<Value> {
        let mut t = self.tally.lock().unwrap();
        match o {
            Outcome::Ok(v) => {
                *t.ok.entry(op).or_default() += 1;
                Some(v)
            }
            Outcome::RateLimited => {
                t.rate_limited += 1;
                None
            }
            Outcome::Unexpected(e) => {
                t.unexpected.push(format!("{op}: {e}"));
                None
            }
        }
    }

    fn check(&self, op: &'static str, ok: bool, what: String) {
        if !ok {
            self.tally
                .lock()
                .unwrap()
                .unexpected
                .push(format!("{op}: {what}"));
        }
    }

    async fn sql(&self, q: &str, master: bool) -> Outcome {
        let rb = self
            .c
            .post(self.url("/api/v2/sql"))
            .json(&json!({ "q": q }));
        let rb = if master { self.master(rb) } else { rb };
        outcome(rb.send().await, StatusCode::OK).await
    }

    /// One round of client `n`'s operation.
    async fn round(&self, n: usize, i: u64) {
        match n % 6 {
            0 => {
                let o = self
                    .sql(
                        "SELECT g, md5(g::text) AS h FROM generate_series(1, 2000) g",
                        true,
                    )
                    .await;
                if let Some(v) = self.record("read", o) {
                    self.check("read", v["total_rows"] == 2000, v["total_rows"].to_string());
                }
            }
            1 => {
                let o = self.sql("SELECT 1 AS n", false).await;
                if let Some(v) = self.record("public read", o) {
                    self.check("public read", v["rows"] == json!([{"n": 1}]), v.to_string());
                }
            }
            2 => {
                let q = format!(
                    "INSERT INTO soak (w, i) SELECT {n}, g FROM generate_series(1, 50) g; DELETE FROM soak WHERE w = {n} AND i <= 25"
                );
                let o = self.sql(&q, true).await;
                self.record("write", o);
            }
            3 => {
                let name = format!("soak_{n}_{i}");
                let body = json!({"name": name, "grants": [{"type": "apis", "apis": ["sql"]},
                    {"type": "database", "tables": [{"schema": "public", "name": "soak", "permissions": ["select"]}]}]});
                let rb = self.master(self.c.post(self.url("/api/v3/api_keys")).json(&body));
                let Some(key) = self.record(
                    "key create",
                    outcome(rb.send().await, StatusCode::CREATED).await,
                ) else {
                    return;
                };
                let token = key["token"].as_str().unwrap_or_default().to_owned();
                let rb = self
                    .c
                    .post(self.url("/api/v2/sql"))
                    .basic_auth("alice", Some(&token))
                    .json(&json!({"q": "SELECT count(*) AS n FROM soak"}));
                self.record("key use", outcome(rb.send().await, StatusCode::OK).await);
                let rb = self.master(self.c.delete(self.url(&format!("/api/v3/api_keys/{name}"))));
                self.record(
                    "key delete",
                    outcome(rb.send().await, StatusCode::NO_CONTENT).await,
                );
            }
            4 => {
                let csv: String = (1..=100).map(|k| format!("{n},{k}\n")).collect();
                let q = "COPY soak_copy (w, i) FROM STDIN WITH (FORMAT csv)";
                let rb = self
                    .master(
                        self.c
                            .post(self.url(&format!("/api/v2/sql/copyfrom?q={}", encode(q)))),
                    )
                    .body(csv);
                let copied =
                    self.record("copy from", outcome(rb.send().await, StatusCode::OK).await);
                if let Some(v) = &copied {
                    self.check("copy from", v["total_rows"] == 100, v.to_string());
                }
                let q = format!(
                    "COPY (SELECT w, i FROM soak_copy WHERE w = {n} LIMIT 100) TO STDOUT WITH (FORMAT csv)"
                );
                let rb = self.master(
                    self.c
                        .get(self.url(&format!("/api/v2/sql/copyto?q={}", encode(&q)))),
                );
                // At least the 100 rows just copied (a refused cleanup may have left more).
                if let (Some(_), Some(Value::String(text))) = (
                    copied,
                    self.record("copy to", outcome(rb.send().await, StatusCode::OK).await),
                ) {
                    self.check(
                        "copy to",
                        text.lines().count() == 100,
                        format!("{} lines", text.lines().count()),
                    );
                }
                let o = self
                    .sql(&format!("DELETE FROM soak_copy WHERE w = {n}"), true)
                    .await;
                self.record("copy cleanup", o);
            }
            _ => {
                let rb =
                    self.master(self.c.post(self.url("/api/v2/sql/job")).json(
                        &json!({"query": format!("INSERT INTO soak (w, i) VALUES ({n}, {i})")}),
                    ));
                let Some(job) = self.record(
                    "job create",
                    outcome(rb.send().await, StatusCode::CREATED).await,
                ) else {
                    return;
                };
                let id = job["job_id"].as_str().unwrap_or_default().to_owned();
                let started = Instant::now();
                loop {
                    let rb = self.master(self.c.get(self.url(&format!("/api/v2/sql/job/{id}"))));
                    let Some(job) =
                        self.record("job read", outcome(rb.send().await, StatusCode::OK).await)
                    else {
                        return;
                    };
                    match job["status"].as_str() {
                        Some("done") => break,
                        Some("pending" | "running") if started.elapsed() < DEADLINE => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        other => {
                            self.check("job", false, format!("status {other:?}: {job}"));
                            return;
                        }
                    }
                }
            }
        }
    }
}

/// Runs the load for `duration` against the emulator started with `extra` arguments;
/// `limited`: the arguments set session bounds the load must hit (429s expected).
async fn soak(duration: Duration, extra: &[&str], limited: bool) {
    let dir = tempfile::tempdir().unwrap();
    let creds_dir = dir.path().join("creds");
    let extra: Vec<&std::ffi::OsStr> = extra.iter().map(std::ffi::OsStr::new).collect();
    let (emu, creds) = proc_common::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_carto-emulator")),
        &creds_dir,
        &extra,
    )
    .await;
    let pid = emu.0.id();
    let load = Arc::new(Load {
        c: common::client(),
        creds,
        tally: Arc::default(),
    });
    let o = load
        .sql(
            "CREATE TABLE soak (w int, i int); CREATE TABLE soak_copy (w int, i int)",
            true,
        )
        .await;
    assert!(
        load.record("setup", o).is_some(),
        "{:?}",
        load.tally.lock().unwrap().unexpected
    );

    let start = Instant::now();
    let warm_up = duration / 4;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let load = load.clone();
            tokio::spawn(async move {
                let mut i = 0;
                while start.elapsed() < duration {
                    load.round(n, i).await;
                    i += 1;
                }
            })
        })
        .collect();
    tokio::time::sleep(warm_up).await;
    let rss_warm = rss_kib(pid);
    for c in clients {
        tokio::time::timeout(duration + DEADLINE, c)
            .await
            .expect("a client hung")
            .unwrap();
    }
    let loaded = start.elapsed();
    let rss_end = rss_kib(pid);

    // Sessions back to the pool's bound: at most the per-role bound per role in alice's database,
    // none for the (deleted) key roles.
    let admin_creds = load.creds.clone();
    let q = "SELECT usename::text, count(*)::int AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid() GROUP BY 1";
    let started = Instant::now();
    let sessions = loop {
        let r = load
            .c
            .post(format!("{}/api/v2/sql", admin_creds.base_url().as_str()))
            .basic_auth("alice", Some(admin_creds.token().expose_secret()))
            .json(&json!({ "q": q }))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        let rows = v["rows"].as_array().cloned().unwrap_or_default();
        let bounded = rows.iter().all(|r| {
            let role = r["usename"].as_str().unwrap_or_default();
            let n = r["n"].as_i64().unwrap_or(i64::MAX);
            n <= idle_bound() && !role.starts_with("carto_role_")
        });
        if bounded {
            break rows;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "sessions after the load: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    let tally = load.tally.lock().unwrap();
    let total: u64 = tally.ok.values().sum();
    eprintln!(
        "soak: {CLIENTS} clients for {loaded:?}: {total} operations ok {:?}, {} rate-limited (429 + Retry-After), {} unexpected",
        tally.ok,
        tally.rate_limited,
        tally.unexpected.len()
    );
    eprintln!(
        "soak: emulator RSS {rss_warm} KiB after the warm-up ({warm_up:?}), {rss_end} KiB at the end; sessions after: {sessions:?}"
    );
    assert!(
        tally.unexpected.is_empty(),
        "unexpected answers: {:?}",
        &tally.unexpected[..tally.unexpected.len().min(20)]
    );
    for op in [
        "read",
        "public read",
        "write",
        "key create",
        "key use",
        "key delete",
        "copy from",
        "copy to",
        "job create",
    ] {
        assert!(
            tally.ok.get(op).copied().unwrap_or(0) > 0,
            "no {op} went through"
        );
    }
    if limited {
        assert!(
            tally.rate_limited > 0,
            "the session bounds were never reached"
        );
    }
    assert!(
        rss_end * 10 <= rss_warm * 12,
        "RSS grew from {rss_warm} KiB to {rss_end} KiB"
    );
    drop(emu);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_10_seconds() {
    soak(Duration::from_secs(10), &[], false).await;
}

/// The same load with session bounds it must hit: every refused request is CARTO's 429 with
/// `Retry-After`, nothing else fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_10_seconds_over_the_session_bounds() {
    let bounds = [
        "--max-sessions-per-role",
        "2",
        "--max-sessions-per-user",
        "3",
        "--session-queue-timeout-ms",
        "50",
    ];
    soak(Duration::from_secs(10), &bounds, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a 60 s soak: cargo test -p carto-emulator --test soak -- --ignored --nocapture"]
async fn soak_long() {
    let secs = std::env::var("CARTO_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    soak(Duration::from_secs(secs), &[], false).await;
}
