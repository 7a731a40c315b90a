//! Crash: with `--data-dir`, `kill -9` of the emulator (and, separately, of its PostgreSQL
//! postmaster) in the middle of concurrent key creations and deletions and running batch
//! jobs, then a restart. Afterwards every key the API reported created (and not reported
//! deleted) exists with a working token, no key reported deleted is back, every key role
//! has its key row and every key row its role, and no job is left `running` (the job that
//! was running is `unknown`, CARTO's final status for it; the pending ones run).

use carto_test_support::emulator::child as proc_common;
use carto_test_support::emulator::http as common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carto_core::Credentials;
use proc_common::{Proc, kill9, pg, postmaster};
use reqwest::StatusCode;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(120);

/// A temporary directory the `postgres` system user can traverse (when root).
fn data_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if nix::unistd::geteuid().is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// The emulator on the data directory `data`.
async fn start(data: &Path, creds_dir: &Path) -> (Proc, Credentials) {
    proc_common::start(
        Path::new(env!("CARGO_BIN_EXE_carto-emulator")),
        creds_dir,
        &[OsStr::new("--data-dir"), data.as_os_str()],
    )
    .await
}

/// Starts the emulator on a new data directory under `root` and runs `setup` as the master
/// key.
async fn start_with(root: &Path, c: &reqwest::Client, setup: &str) -> (Proc, Credentials) {
    let (p, creds) = start(&root.join("data"), &root.join("creds")).await;
    let (s, v) = master_json(
        c,
        &creds,
        reqwest::Method::POST,
        "/api/v2/sql",
        Some(json!({ "q": setup })),
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::OK, "{v}");
    (p, creds)
}

/// Superuser connections to the emulator's registry and to alice's database.
async fn registry_and_user_db(data: &Path) -> (tokio_postgres::Client, tokio_postgres::Client) {
    let registry = pg(data, "carto_emulator").await;
    let db: String = registry
        .query_one("SELECT database FROM users WHERE username = 'alice'", &[])
        .await
        .unwrap()
        .get(0);
    let userdb = pg(data, &db).await;
    (registry, userdb)
}

/// The first column of `sql`'s rows.
async fn strings(client: &tokio_postgres::Client, sql: &str) -> Vec<String> {
    client
        .query(sql, &[])
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect()
}

fn url(creds: &Credentials, path: &str) -> String {
    format!("{}{path}", creds.base_url().as_str())
}

async fn master_json(
    c: &reqwest::Client,
    creds: &Credentials,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> reqwest::Result<(StatusCode, Value)> {
    let mut rb = c
        .request(method, url(creds, path))
        .basic_auth(creds.username(), Some(creds.token().expose_secret()));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await?;
    let status = r.status();
    let text = r.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

/// What the API reported during the load: key name to token for created keys, and the
/// names reported deleted.
#[derive(Default)]
struct Reported {
    created: BTreeMap<String, String>,
    deleted: Vec<String>,
}

/// How many keys are reported created before the kill: `CARTO_CRASH_KEYS`, default 60 (the
/// long run of `docs/reliability.md` uses 750: about 1,000 key operations).
fn kill_after() -> usize {
    std::env::var("CARTO_CRASH_KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60)
}

/// Which process dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    Emulator,
    Postmaster,
}

async fn crash_and_restart(victim: Victim) {
    let root = data_root();
    let data: PathBuf = root.path().join("data");
    let creds_dir = root.path().join("creds");
    let c = common::client();
    let (p, creds) = start_with(
        root.path(),
        &c,
        "CREATE TABLE t (x int); INSERT INTO t VALUES (1)",
    )
    .await;

    // Batch jobs: the first runs (and sleeps), the others wait in the user's queue.
    let mut jobs = Vec::new();
    for q in [
        "SELECT pg_sleep(300)",
        "INSERT INTO t VALUES (2)",
        "INSERT INTO t VALUES (3)",
    ] {
        let (s, job) = master_json(
            &c,
            &creds,
            reqwest::Method::POST,
            "/api/v2/sql/job",
            Some(json!({ "query": q })),
        )
        .await
        .unwrap();
        assert_eq!(s, StatusCode::CREATED, "{job}");
        jobs.push(job["job_id"].as_str().unwrap().to_owned());
    }
    let started = Instant::now();
    loop {
        let (_, job) = master_json(
            &c,
            &creds,
            reqwest::Method::GET,
            &format!("/api/v2/sql/job/{}", jobs[0]),
            None,
        )
        .await
        .unwrap();
        if job["status"] == "running" {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the job never ran: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 16 clients create keys (and delete every third one they made) until the crash.
    let reported = Arc::new(Mutex::new(Reported::default()));
    let workers: Vec<_> = (0..16)
        .map(|w| {
            let (c, creds, reported) = (c.clone(), creds.clone(), reported.clone());
            tokio::spawn(async move {
                for i in 0.. {
                    let name = format!("k{w}_{i}");
                    let body = json!({"name": name, "grants": [{"type": "apis", "apis": ["sql"]},
                        {"type": "database", "tables": [{"schema": "public", "name": "t", "permissions": ["select"]}]}]});
                    let Ok((s, key)) = master_json(&c, &creds, reqwest::Method::POST, "/api/v3/api_keys", Some(body)).await else {
                        return;
                    };
                    if s != StatusCode::CREATED {
                        return;
                    }
                    let token = key["token"].as_str().unwrap().to_owned();
                    reported.lock().unwrap().created.insert(name.clone(), token);
                    if i % 3 == 2 {
                        let path = format!("/api/v3/api_keys/{name}");
                        let Ok((s, _)) = master_json(&c, &creds, reqwest::Method::DELETE, &path, None).await else {
                            return;
                        };
                        if s.is_success() {
                            reported.lock().unwrap().deleted.push(name);
                        } else {
                            return;
                        }
                    }
                }
            })
        })
        .collect();
    // Let the load run until some keys exist, then kill.
    let started = Instant::now();
    while reported.lock().unwrap().created.len() < kill_after() {
        assert!(
            started.elapsed() < DEADLINE,
            "the key load made no progress"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    match victim {
        Victim::Emulator => {
            let mut p = p;
            kill9(p.pid());
            p.0.wait().unwrap();
        }
        Victim::Postmaster => {
            let (pid, _) = postmaster(&data);
            kill9(pid);
            // The emulator's requests now fail; the keys still being made are refused.
            tokio::time::sleep(Duration::from_millis(500)).await;
            drop(p);
        }
    }
    for w in workers {
        let _ = tokio::time::timeout(DEADLINE, w)
            .await
            .expect("a worker hung");
    }
    let reported = std::mem::take(&mut *reported.lock().unwrap());
    eprintln!(
        "{victim:?} killed after {:?} of load: {} keys reported created, {} reported deleted",
        started.elapsed(),
        reported.created.len(),
        reported.deleted.len()
    );

    // Restart on the same data directory.
    let (_p, creds) = start(&data, &creds_dir).await;
    let (s, list) = master_json(
        &c,
        &creds,
        reqwest::Method::GET,
        "/api/v3/api_keys?per_page=1000",
        None,
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::OK, "{list}");
    let listed: Vec<String> = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .filter(|n| n.starts_with('k'))
        .collect();
    for name in &reported.deleted {
        assert!(!listed.contains(name), "{name} was reported deleted");
    }
    let mut checked = 0;
    for (name, token) in &reported.created {
        if reported.deleted.contains(name) {
            continue;
        }
        assert!(listed.contains(name), "{name} was reported created");
        let key = creds.with_token(token.as_str());
        let r = c
            .post(url(&key, "/api/v2/sql"))
            .basic_auth("alice", Some(token))
            .json(&json!({"q": "SELECT count(*) AS n FROM t"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            StatusCode::OK,
            "the token of {name} does not work"
        );
        checked += 1;
    }

    // Roles and key rows match one to one.
    let (_, userdb) = registry_and_user_db(&data).await;
    let mut key_roles = strings(
        &userdb,
        "SELECT role FROM carto_emulator_meta.api_keys WHERE type = 'regular'",
    )
    .await;
    let mut roles = strings(
        &userdb,
        "SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'carto\\_role\\_%'",
    )
    .await;
    key_roles.sort();
    roles.sort();
    assert_eq!(
        key_roles, roles,
        "a role without a key or a key without a role"
    );
    assert_eq!(key_roles.len(), listed.len());

    // No job is left running: the one that ran is `unknown`, the pending ones run.
    let started = Instant::now();
    let statuses = loop {
        let mut statuses = Vec::new();
        for id in &jobs {
            let (_, job) = master_json(
                &c,
                &creds,
                reqwest::Method::GET,
                &format!("/api/v2/sql/job/{id}"),
                None,
            )
            .await
            .unwrap();
            statuses.push(job["status"].as_str().unwrap_or("?").to_owned());
        }
        if statuses[1..].iter().all(|s| s == "done") {
            break statuses;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "jobs after restart: {statuses:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(statuses[0], "unknown", "{statuses:?}");
    eprintln!(
        "{victim:?}: after restart {checked} keys work, {} roles match their rows, jobs {statuses:?}",
        roles.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_emulator_during_key_operations_and_jobs() {
    crash_and_restart(Victim::Emulator).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_postgresql_during_key_operations_and_jobs() {
    crash_and_restart(Victim::Postmaster).await;
}

/// The job's status and its queries' statuses.
async fn job_statuses(c: &reqwest::Client, creds: &Credentials, id: &str) -> (String, Vec<String>) {
    let (_, job) = master_json(
        c,
        creds,
        reqwest::Method::GET,
        &format!("/api/v2/sql/job/{id}"),
        None,
    )
    .await
    .unwrap();
    let items = job["query"]
        .as_array()
        .map(|q| {
            q.iter()
                .map(|i| i["status"].as_str().unwrap_or("?").to_owned())
                .collect()
        })
        .unwrap_or_default();
    (job["status"].as_str().unwrap_or("?").to_owned(), items)
}

async fn count_of(c: &reqwest::Client, creds: &Credentials, x: i32) -> Value {
    let (_, v) = master_json(
        c,
        creds,
        reqwest::Method::POST,
        "/api/v2/sql",
        Some(json!({ "q": format!("SELECT count(*) AS n FROM t WHERE x = {x}") })),
    )
    .await
    .unwrap();
    v["rows"][0]["n"].clone()
}

/// A multi-query job killed in its second query: after a restart the job and that query
/// are `unknown` (no query left `running`), the first query's effect is there once, the
/// third never ran. A multi-query job is `pending` between its queries (as on CARTO): one
/// caught there by the kill resumes after its done queries instead of running them again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_query_jobs_after_kill_9() {
    let root = data_root();
    let data: PathBuf = root.path().join("data");
    let creds_dir = root.path().join("creds");
    let c = common::client();
    let (mut p, creds) = start_with(root.path(), &c, "CREATE TABLE t (x int)").await;
    let (s, job) = master_json(
        &c,
        &creds,
        reqwest::Method::POST,
        "/api/v2/sql/job",
        Some(json!({"query": [
            "INSERT INTO t VALUES (10)",
            "SELECT pg_sleep(300)",
            "INSERT INTO t VALUES (11)"
        ]})),
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::CREATED, "{job}");
    let killed = job["job_id"].as_str().unwrap().to_owned();
    let started = Instant::now();
    while job_statuses(&c, &creds, &killed)
        .await
        .1
        .get(1)
        .map(String::as_str)
        != Some("running")
    {
        assert!(started.elapsed() < DEADLINE, "the second query never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A second job, queued behind the first: put it, emulator dead, where a kill between
    // its queries leaves it (pending, its first query done and committed).
    let (s, job) = master_json(
        &c,
        &creds,
        reqwest::Method::POST,
        "/api/v2/sql/job",
        Some(json!({"query": ["INSERT INTO t VALUES (20)", "INSERT INTO t VALUES (21)"]})),
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::CREATED, "{job}");
    let between = job["job_id"].as_str().unwrap().to_owned();
    kill9(p.pid());
    p.0.wait().unwrap();
    {
        let (registry, userdb) = registry_and_user_db(&data).await;
        userdb
            .batch_execute("INSERT INTO public.t VALUES (20)")
            .await
            .unwrap();
        let query = json!([
            {"query": "INSERT INTO t VALUES (20)", "status": "done"},
            {"query": "INSERT INTO t VALUES (21)", "status": "pending"}
        ]);
        registry
            .execute(
                "UPDATE public.batch_jobs SET query = $2 WHERE job_id = $1 AND status = 'pending'",
                &[&between, &query.to_string()],
            )
            .await
            .unwrap();
    }

    let (_p, creds) = start(&data, &creds_dir).await;
    let started = Instant::now();
    loop {
        let (status, _) = job_statuses(&c, &creds, &between).await;
        if status == "done" {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the resumed job is {status}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, items) = job_statuses(&c, &creds, &killed).await;
    assert_eq!(status, "unknown");
    assert_eq!(
        items,
        ["done", "unknown", "pending"],
        "no query left running"
    );
    let (_, job) = master_json(
        &c,
        &creds,
        reqwest::Method::GET,
        &format!("/api/v2/sql/job/{killed}"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        job["failed_reason"], "the job was running when the emulator stopped",
        "{job}"
    );
    let (_, items) = job_statuses(&c, &creds, &between).await;
    assert_eq!(items, ["done", "done"]);
    assert_eq!(count_of(&c, &creds, 10).await, json!(1));
    assert_eq!(count_of(&c, &creds, 11).await, json!(0));
    assert_eq!(
        count_of(&c, &creds, 20).await,
        json!(1),
        "a done query ran again"
    );
    assert_eq!(count_of(&c, &creds, 21).await, json!(1));
}
