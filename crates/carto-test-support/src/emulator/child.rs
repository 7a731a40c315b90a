//! The emulator binary as a child process (for the crash, restart and soak tests): started
//! with `--user alice --write-creds DIR`, its master credentials read back from that directory.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use carto_core::Credentials;
use serde_json::Value;

/// A running emulator; dropping it stops it with SIGTERM (it stops its cluster and exits).
pub struct Proc(pub Child);

impl Proc {
    /// The child's process id.
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.pid()),
                nix::sys::signal::Signal::SIGTERM,
            );
            let _ = self.0.wait();
        }
    }
}

/// Starts the emulator binary `bin` (`env!("CARGO_BIN_EXE_carto-emulator")` in the
/// emulator's tests) with user `alice`, writing credentials to `creds_dir`, with `extra`
/// arguments (`--data-dir DIR`, ...), and waits for alice's credentials.
pub async fn start(bin: &Path, creds_dir: &Path, extra: &[&OsStr]) -> (Proc, Credentials) {
    let _ = std::fs::remove_dir_all(creds_dir);
    let child = Command::new(bin)
        .args(["--user", "alice", "--write-creds"])
        .arg(creds_dir)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut p = Proc(child);
    let file = creds_dir.join("alice.json");
    let started = Instant::now();
    loop {
        if let Ok(c) = Credentials::from_file(&file) {
            return (p, c);
        }
        assert!(p.0.try_wait().unwrap().is_none(), "emulator exited early");
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the emulator did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `kill -9 pid`.
pub fn kill9(pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
}

/// The postmaster's pid and port, from `postmaster.pid`.
pub fn postmaster(data: &Path) -> (i32, u16) {
    let pid = std::fs::read_to_string(data.join("pgdata").join("postmaster.pid")).unwrap();
    let mut lines = pid.lines();
    let pid: i32 = lines.next().unwrap().trim().parse().unwrap();
    let port: u16 = lines.nth(2).unwrap().trim().parse().unwrap();
    (pid, port)
}

/// A superuser connection to database `db` of the kept cluster under `data`.
pub async fn pg(data: &Path, db: &str) -> tokio_postgres::Client {
    let secret: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("superuser.json")).unwrap())
            .unwrap();
    let (_, port) = postmaster(data);
    let (client, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(port)
        .user(secret["user"].as_str().unwrap())
        .password(secret["password"].as_str().unwrap())
        .dbname(db)
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}
