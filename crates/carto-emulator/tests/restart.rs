//! Persistence: a restart on the same data directory has every user, key, token and
//! table back; an emulator killed (SIGKILL) during key creation restarts consistent
//! (no key without its role, no role without its key).

use carto_test_support::emulator::child as proc_common;
use carto_test_support::emulator::http as common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use carto_core::Credentials;
use carto_emulator::Emulator;
use common::{client, send};
use proc_common::pg;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A temporary directory the `postgres` system user can traverse (when root).
fn data_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    if nix::unistd::geteuid().is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

/// The URL of `path` (starting with `/`) under the user's base URL.
fn user_url(creds: &Credentials, path: &str) -> String {
    format!("{}{path}", creds.base_url().as_str())
}

async fn sql(c: &reqwest::Client, creds: &Credentials, q: &str) -> (StatusCode, Value) {
    let url = user_url(creds, "/api/v2/sql");
    let r = send(
        c,
        Method::POST,
        &url,
        Some((creds.username(), creds.token().expose_secret())),
        Some(&json!({ "q": q })),
    )
    .await;
    let v = serde_json::from_str(&r.text).unwrap_or(Value::Null);
    (r.status, v)
}

async fn create_key(
    c: &reqwest::Client,
    creds: &Credentials,
    name: &str,
) -> reqwest::Result<reqwest::Response> {
    let url = user_url(creds, "/api/v3/api_keys");
    c.post(url)
        .basic_auth(creds.username(), Some(creds.token().expose_secret()))
        .json(&json!({"name": name, "grants": [{"type": "apis", "apis": ["sql"]},
            {"type": "database", "tables": [{"schema": "public", "name": "t", "permissions": ["select"]}]}]}))
        .send()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_on_the_same_data_dir_keeps_everything() {
    let root = data_root();
    let data = root.path().join("data");
    let c = client();
    let (master, key_token) = {
        let emu = Emulator::builder()
            .user("alice")
            .org("acme", ["bob"])
            .data_dir(&data)
            .start()
            .await
            .unwrap();
        let creds = emu.credentials("alice").unwrap();
        let (s, _) = sql(
            &c,
            &creds,
            "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2)",
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let r = create_key(&c, &creds, "reader").await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let key: Value = r.json().await.unwrap();
        // Regenerate the master key: the new one must survive the restart.
        let url = user_url(&creds, "/api/v3/api_keys/Master/token/regenerate");
        let r = send(
            &c,
            Method::POST,
            &url,
            Some(("alice", creds.token().expose_secret())),
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::OK);
        (
            r.json()["token"].as_str().unwrap().to_owned(),
            key["token"].as_str().unwrap().to_owned(),
        )
    };
    // Restart with no users configured: those of the data directory are served.
    let emu = Emulator::builder().data_dir(&data).start().await.unwrap();
    let names: Vec<&str> = emu.users().iter().map(|u| u.username()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(emu.user("bob").unwrap().org(), Some("acme"));
    assert_eq!(emu.master_key("alice").unwrap().expose_secret(), master);
    let creds = emu.credentials("alice").unwrap();
    let (s, v) = sql(&c, &creds, "SELECT sum(x) AS s FROM t").await;
    assert_eq!((s, v["rows"][0]["s"].clone()), (StatusCode::OK, json!(3)));
    let reader = creds.with_token(key_token.as_str());
    let (s, v) = sql(&c, &reader, "SELECT count(*) AS n FROM t").await;
    assert_eq!((s, v["rows"][0]["n"].clone()), (StatusCode::OK, json!(2)));
    let url = user_url(&creds, "/api/v3/api_keys/reader");
    let r = send(&c, Method::GET, &url, Some(("alice", &master)), None).await;
    assert_eq!(
        r.json()["grants"][1]["tables"][0]["permissions"],
        json!(["select"])
    );
    // Asking for the user with another organization is refused.
    drop(emu);
    let err = Emulator::builder()
        .org("other", ["alice"])
        .data_dir(&data)
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
}

struct Proc(Child);

impl Drop for Proc {
    /// SIGTERM: the emulator stops its cluster and exits.
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0.id() as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = self.0.wait();
        }
    }
}

fn spawn_emulator(data: &Path, creds_dir: &Path, delay_ms: Option<u64>) -> Proc {
    let _ = std::fs::remove_dir_all(creds_dir);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_carto-emulator"));
    cmd.args(["--user", "alice", "--data-dir"])
        .arg(data)
        .arg("--write-creds")
        .arg(creds_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(ms) = delay_ms {
        cmd.env("CARTO_EMULATOR_KEY_CREATION_DELAY_MS", ms.to_string());
    }
    Proc(cmd.spawn().unwrap())
}

async fn wait_creds(p: &mut Proc, creds_dir: &Path) -> Credentials {
    let file = creds_dir.join("alice.json");
    loop {
        if let Ok(c) = Credentials::from_file(&file) {
            return c;
        }
        assert!(p.0.try_wait().unwrap().is_none(), "emulator exited early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn kill9(p: &mut Proc) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(p.0.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    p.0.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_key_creation_leaves_no_half_made_key() {
    let root = data_root();
    let data: PathBuf = root.path().join("data");
    let creds_dir = root.path().join("creds");
    let c = client();

    // 1. A key made normally, then the emulator is killed (its cluster survives it).
    let mut p = spawn_emulator(&data, &creds_dir, None);
    let creds = wait_creds(&mut p, &creds_dir).await;
    let (s, _) = sql(
        &c,
        &creds,
        "CREATE TABLE t (x int); INSERT INTO t VALUES (1)",
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let r = create_key(&c, &creds, "kept").await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let kept: Value = r.json().await.unwrap();
    kill9(&mut p);

    // 2. Restart (the orphaned cluster is taken over) with key creation slowed down,
    //    and kill the emulator while the creation transaction is open.
    let mut p = spawn_emulator(&data, &creds_dir, Some(120_000));
    let creds = wait_creds(&mut p, &creds_dir).await;
    let pending = {
        let c = c.clone();
        let creds = creds.clone();
        tokio::spawn(async move { create_key(&c, &creds, "doomed").await })
    };
    let admin = pg(&data, "postgres").await;
    loop {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_catalog.pg_sleep%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The role exists inside the open transaction only.
    kill9(&mut p);
    assert!(
        pending.await.unwrap().is_err(),
        "the request died with the emulator"
    );
    // Also plant what a foreign process could leave behind: a key role without a key
    // and a key row without a role. The startup reconciliation removes both.
    admin
        .batch_execute("CREATE ROLE carto_role_0123456789abcdef0123456789abcdef LOGIN")
        .await
        .unwrap();
    let registry = pg(&data, "carto_emulator").await;
    let db: String = registry
        .query_one("SELECT database FROM users WHERE username = 'alice'", &[])
        .await
        .unwrap()
        .get(0);
    let userdb = pg(&data, &db).await;
    userdb
        .batch_execute(
            "INSERT INTO carto_emulator_meta.api_keys (username, name, type, token, role, password, grants, created_at, updated_at)
             VALUES ('alice', 'ghost', 'regular', 'ghosttoken', 'carto_role_ffffffffffffffffffffffffffffffff', 'x', '[]', now(), now())",
        )
        .await
        .unwrap();
    drop((admin, registry, userdb));

    // 3. Restart: consistent.
    let mut p = spawn_emulator(&data, &creds_dir, None);
    let creds = wait_creds(&mut p, &creds_dir).await;
    let url = user_url(&creds, "/api/v3/api_keys");
    let r = send(
        &c,
        Method::GET,
        &url,
        Some(("alice", creds.token().expose_secret())),
        None,
    )
    .await;
    let names: Vec<String> = r.json()["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Master", "Default public", "kept"]);
    let kept_creds = creds.with_token(kept["token"].as_str().unwrap());
    let (s, v) = sql(&c, &kept_creds, "SELECT x FROM t").await;
    assert_eq!((s, v["rows"].clone()), (StatusCode::OK, json!([{"x": 1}])));

    let registry = pg(&data, "carto_emulator").await;
    let db: String = registry
        .query_one("SELECT database FROM users WHERE username = 'alice'", &[])
        .await
        .unwrap()
        .get(0);
    let userdb = pg(&data, &db).await;
    let key_roles: Vec<String> = userdb
        .query(
            "SELECT role FROM carto_emulator_meta.api_keys WHERE type = 'regular'",
            &[],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    let pg_roles: Vec<String> = userdb
        .query(
            "SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'carto\\_role\\_%'",
            &[],
        )
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(key_roles.len(), 1);
    assert_eq!(
        pg_roles, key_roles,
        "every key has its role and every role its key"
    );
    drop((registry, userdb));
    drop(p);
    // SIGTERM stopped the cluster.
    assert!(!data.join("pgdata").join("postmaster.pid").exists());
}

/// `DIR/alice.carto3.json`, once written whole.
async fn carto3_creds(p: &mut Proc, creds_dir: &Path) -> Value {
    let file = creds_dir.join("alice.carto3.json");
    loop {
        if let Some(v) = std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        {
            return v;
        }
        assert!(p.0.try_wait().unwrap().is_none(), "emulator exited early");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An OAuth token from a `<user>.carto3.json` document.
async fn m2m(c: &reqwest::Client, creds: &Value) -> String {
    common::m2m_token(
        c,
        creds["auth_url"].as_str().unwrap(),
        creds["client_id"].as_str().unwrap(),
        creds["client_secret"].as_str().unwrap(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carto3_credentials_files_and_tokens_across_a_restart() {
    let root = data_root();
    let data: PathBuf = root.path().join("data");
    let creds_dir = root.path().join("creds");
    let c = client();
    let v3 =
        |creds: &Value, path: &str| format!("{}{path}", creds["api_base_url"].as_str().unwrap());

    let mut p = spawn_emulator(&data, &creds_dir, None);
    let creds = carto3_creds(&mut p, &creds_dir).await;
    common::assert_carto3_credentials(&creds);
    let conn = creds["connection"].as_str().unwrap().to_owned();
    let oauth = m2m(&c, &creds).await;
    let query = |token: String, q: &'static str| {
        let c = c.clone();
        let url = v3(&creds, &format!("/v3/sql/{conn}/query"));
        async move {
            let r = c
                .post(url)
                .bearer_auth(token)
                .json(&json!({"q": q}))
                .send()
                .await
                .unwrap();
            common::Reply::read(r).await
        }
    };
    let r = query(
        oauth.clone(),
        "CREATE TABLE t3 (x int); INSERT INTO t3 VALUES (3)",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = c
        .post(v3(&creds, "/v3/tokens"))
        .bearer_auth(&oauth)
        .json(&json!({"grants": [{"connection_name": conn, "source": "public.t3"}], "allowed_apis": ["sql"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = query(token.clone(), "SELECT x FROM t3").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    drop(p);

    // A new run: a new signing key and new client secrets; the old token and its role are
    // gone, the table stays.
    let mut p = spawn_emulator(&data, &creds_dir, None);
    let again = carto3_creds(&mut p, &creds_dir).await;
    assert_ne!(again["client_secret"], creds["client_secret"]);
    assert_eq!(again["connection"], creds["connection"]);
    let creds = again;
    let url = v3(&creds, &format!("/v3/sql/{conn}/query"));
    let r = c
        .post(&url)
        .bearer_auth(&token)
        .json(&json!({"q": "SELECT x FROM t3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let oauth = m2m(&c, &creds).await;
    let r = c
        .post(&url)
        .bearer_auth(&oauth)
        .json(&json!({"q": "SELECT (SELECT count(*) FROM pg_roles WHERE rolname LIKE 'carto\\_role\\_%') AS roles, (SELECT x FROM t3) AS x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["rows"], json!([{"roles": 0, "x": 3}]));
    drop(p);
}
