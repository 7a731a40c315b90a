//! The emulator binary as a child process (for the crash and soak tests): started with
//! `--user alice --write-creds DIR`, its master credentials read back from that directory.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use carto_core::Credentials;

/// A running emulator; dropping it stops it with SIGTERM (it stops its cluster and exits).
pub struct Proc(pub Child);

impl Proc {
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

/// Starts the emulator with user `alice`, writing credentials to `creds_dir`, with `extra`
/// arguments (`--data-dir DIR`, ...), and waits for alice's credentials.
pub async fn start(creds_dir: &Path, extra: &[&OsStr]) -> (Proc, Credentials) {
    let _ = std::fs::remove_dir_all(creds_dir);
    let child = Command::new(env!("CARGO_BIN_EXE_carto-emulator"))
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
