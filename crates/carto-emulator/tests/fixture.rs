//! `testing::TestAccount`: a fresh account per test on one emulator shared by this binary (a
//! binary of its own: the shared emulator lives as long as the process), sync and async tests
//! in parallel, an account dropped when its test panics, nothing left when the binary exits.

use std::process::Command;

use carto_emulator::testing::TestAccount;
use carto_test_support::emulator::http::{self as common, Reply};
use reqwest::StatusCode;
use serde_json::json;

/// The variable that makes a run of this binary the child of `nothing_is_left_after_exit`.
const CHILD: &str = "CARTO_FIXTURE_CHILD";

async fn sql(account: &TestAccount, q: &str) -> Reply {
    let url = format!("{}/api/v2/sql", account.base_url().as_str());
    let key = account.master_key().expose_secret().to_owned();
    common::post_form(&common::client(), &url, &[("q", q), ("api_key", &key)]).await
}

/// Writes the same table as every other test, its own rows, and reads back only them.
async fn own_rows(account: &TestAccount) {
    let me = account.username().to_owned();
    let r = sql(
        account,
        &format!(
            "CREATE TABLE shared_name (who text); INSERT INTO shared_name VALUES ('{me}'), ('{me}')"
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = sql(
        account,
        "SELECT who, count(*) AS n FROM shared_name GROUP BY who",
    )
    .await;
    assert_eq!(r.json()["rows"], json!([{"who": me, "n": 2}]));
}

macro_rules! async_tests {
    ($($name:ident),*) => {$(
        #[tokio::test]
        async fn $name() {
            let account = TestAccount::new_async().await;
            own_rows(&account).await;
        }
    )*};
}
async_tests!(async_a, async_b, async_c);

macro_rules! sync_tests {
    ($($name:ident),*) => {$(
        #[test]
        fn $name() {
            let account = TestAccount::new();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(own_rows(&account));
        }
    )*};
}
sync_tests!(sync_a, sync_b, sync_c);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_distinct_and_go_on_drop() {
    let a = TestAccount::new_async().await;
    let b = TestAccount::new_async().await;
    assert_ne!(a.username(), b.username());
    assert_ne!(a.master_key(), b.master_key());
    let emulator = a.emulator();
    let name = b.username().to_owned();
    assert!(emulator.account(&name).is_some());
    drop(b);
    assert!(emulator.account(&name).is_none());
    let r = sql(&a, "SELECT 1 AS one").await;
    assert_eq!(r.status, StatusCode::OK);
}

#[test]
fn a_panicking_tests_account_is_dropped() {
    let name = std::sync::Mutex::new(String::new());
    let outcome = std::panic::catch_unwind(|| {
        let account = TestAccount::new();
        *name.lock().unwrap() = account.username().to_owned();
        panic!("the test fails");
    });
    assert!(outcome.is_err());
    let name = name.into_inner().unwrap();
    assert!(!name.is_empty());
    let emulator = TestAccount::new().emulator();
    assert!(emulator.account(&name).is_none(), "{name} is gone");
}

/// Run as a child: makes an account, prints the cluster directory, then exits (or, with
/// `hang`, waits to be killed).
#[test]
fn child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let account = TestAccount::new();
    let pgdata = account.emulator().pg().pgdata().unwrap();
    let cached = account.emulator().pg().is_from_cache();
    println!("\nPGDATA={} CACHED={cached}", pgdata.display());
    if mode == "hang" {
        use std::io::Write as _;
        std::io::stdout().flush().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(600));
    }
}

fn spawn_child(mode: &str) -> std::process::Child {
    spawn_child_with(mode, None)
}

fn spawn_child_with(mode: &str, cache: Option<&std::path::Path>) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    if let Some(dir) = cache {
        cmd.env(carto_emulator::pg::reuse::CACHE_DIR_VAR, dir);
    }
    cmd.args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn read_pgdata(child: &mut std::process::Child) -> std::path::PathBuf {
    read_child(child).0
}

/// The child's cluster directory and whether it came from the cache.
fn read_child(child: &mut std::process::Child) -> (std::path::PathBuf, bool) {
    use std::io::BufRead as _;
    let out = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(out).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        // After the harness's `test child ... `, on the same line.
        if let Some((_, p)) = line.split_once("PGDATA=") {
            // The rest of the child's output is read, so that it never writes to a closed pipe.
            std::thread::spawn(move || lines.for_each(drop));
            let (path, cached) = p.trim().split_once(" CACHED=").unwrap();
            return (path.into(), cached == "true");
        }
    }
    panic!("the child printed no PGDATA");
}

#[test]
fn nothing_is_left_after_exit_or_kill() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    // A binary that ends: its cluster and directory are gone.
    let mut child = spawn_child("exit");
    let pgdata = read_pgdata(&mut child);
    assert!(child.wait().unwrap().success());
    let root = pgdata.parent().unwrap().to_path_buf();
    assert!(!root.exists(), "{} left after exit", root.display());
    // A binary killed: its cluster stays until the next start removes it.
    let mut child = spawn_child("hang");
    let pgdata = read_pgdata(&mut child);
    let root = pgdata.parent().unwrap().to_path_buf();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(root.exists());
    let postmaster: i32 = std::fs::read_to_string(pgdata.join("postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let next = carto_emulator::PgCluster::start_temporary().unwrap();
    assert!(
        !root.exists(),
        "{} removed by the next start",
        root.display()
    );
    let gone = nix::sys::signal::kill(nix::unistd::Pid::from_raw(postmaster), None).is_err();
    assert!(gone, "the killed run's server is stopped");
    drop(next);
}

#[test]
fn two_processes_starting_with_an_empty_cache_at_once() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let cache = tempfile::tempdir().unwrap();
    let mut first = spawn_child_with("exit", Some(cache.path()));
    let mut second = spawn_child_with("exit", Some(cache.path()));
    let (_, first_cached) = read_child(&mut first);
    let (_, second_cached) = read_child(&mut second);
    assert!(first.wait().unwrap().success() && second.wait().unwrap().success());
    assert!(!first_cached && !second_cached, "the cache was empty");
    let entries: Vec<String> = std::fs::read_dir(cache.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "one whole entry, nothing half made: {entries:?}"
    );
    let mut third = spawn_child_with("exit", Some(cache.path()));
    let (_, third_cached) = read_child(&mut third);
    assert!(third.wait().unwrap().success());
    assert!(third_cached, "the next start copies the cached cluster");
}
