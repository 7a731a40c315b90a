//! Where the PostgreSQL programs are (`initdb`, `pg_ctl`, `postgres`), the account they run as
//! when the process is root, and how they are run.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::error::EmulatorError;

/// Extra directories searched for the PostgreSQL programs, after `PATH`.
const FALLBACK_DIRS: &[&str] = &["/usr/local/pgsql/bin"];

/// Where the PostgreSQL programs are.
#[derive(Debug, Clone)]
pub(super) struct Binaries {
    pub(super) initdb: PathBuf,
    pub(super) pg_ctl: PathBuf,
}

impl Binaries {
    pub(super) fn find() -> Result<Self, EmulatorError> {
        let initdb = find_program("initdb")?;
        let pg_ctl = find_program("pg_ctl")?;
        // `pg_ctl` starts `postgres` from its own directory or PATH; check it is there
        // so the error names the missing program.
        find_program("postgres")?;
        Ok(Self { initdb, pg_ctl })
    }
}

/// Searches `PATH`, then `/usr/lib/postgresql/*/bin` (newest version first), then
/// `/usr/local/pgsql/bin`.
pub(super) fn find_program(program: &'static str) -> Result<PathBuf, EmulatorError> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let v = e.file_name().to_str()?.parse::<u32>().ok()?;
                Some((v, e.path().join("bin")))
            })
            .collect();
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        dirs.extend(versions.into_iter().map(|(_, p)| p));
    }
    dirs.extend(FALLBACK_DIRS.iter().map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
        .ok_or(EmulatorError::PostgresMissing { program })
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// The unprivileged account the PostgreSQL programs run as when we are root.
#[derive(Debug, Clone, Copy)]
pub(super) struct RunAs {
    pub(super) uid: nix::unistd::Uid,
    pub(super) gid: nix::unistd::Gid,
}

impl RunAs {
    /// `None` for a normal user; the `postgres` system user when running as root.
    pub(super) fn detect() -> Result<Option<Self>, EmulatorError> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        let user = nix::unistd::User::from_name("postgres")
            .map_err(|e| EmulatorError::Other(format!("cannot look up user `postgres`: {e}")))?
            .ok_or(EmulatorError::NoPostgresUser)?;
        Ok(Some(Self {
            uid: user.uid,
            gid: user.gid,
        }))
    }

    pub(super) fn chown(self, path: &Path) -> Result<(), EmulatorError> {
        nix::unistd::chown(path, Some(self.uid), Some(self.gid))
            .map_err(|e| EmulatorError::io("cannot give to the postgres user", path, e.into()))
    }
}

pub(super) fn run(cmd: &mut Command, run_as: Option<RunAs>) -> Result<Output, EmulatorError> {
    cmd.stdin(Stdio::null())
        .env("LC_ALL", "C")
        .env_remove("PGDATA");
    if let Some(r) = run_as {
        cmd.uid(r.uid.as_raw()).gid(r.gid.as_raw());
    }
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.output()
        .map_err(|e| EmulatorError::io("cannot run", program, e))
}

pub(super) fn check(program: &str, out: Output) -> Result<Output, EmulatorError> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(EmulatorError::Command {
            program: program.into(),
            message: output_text(&out),
        })
    }
}

pub(super) fn output_text(out: &Output) -> String {
    let mut s = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !stdout.trim().is_empty() {
        s.push('\n');
        s.push_str(stdout.trim());
    }
    s
}

pub(super) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_or_names_the_package() {
        match find_program("initdb") {
            Ok(p) => assert!(p.ends_with("initdb")),
            Err(e) => assert!(e.to_string().contains("postgresql")),
        }
        let err = find_program("surely-not-a-postgres-program").unwrap_err();
        assert!(err.to_string().contains("install the `postgresql` package"));
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(tail("a\nb\nc", 2), "b\nc");
        assert_eq!(tail("a", 5), "a");
    }
}
