//! Throwaway clusters made fast and left nowhere.
//!
//! * The cluster cache: an initialised cluster (after `initdb`, with the emulator's registry and
//!   template database, no user) kept per machine in the user's cache directory, copied instead
//!   of running `initdb` again. Its entry is named by the PostgreSQL version, the PostGIS
//!   version, the emulator's [`SCHEMA_VERSION`](crate::SCHEMA_VERSION) and a fingerprint of the
//!   sources of its database setup: a change of any of them misses the cache, and the next save removes the entries of other versions. An entry
//!   is written under a temporary name and renamed into place (atomic): two processes starting
//!   at once with an empty cache both build one, one rename wins, and no reader ever sees half
//!   an entry.
//! * Leftovers: a throwaway cluster's directory holds the id of the process that made it; a
//!   start finds the directories whose process is gone (killed before it could stop its
//!   cluster), stops their server and removes them.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::binaries::{RunAs, find_program, run};
use crate::error::EmulatorError;

/// Prefix of a throwaway cluster's directory (in the system's temporary directory).
pub(super) const TEMP_PREFIX: &str = "carto-emulator-pg-";
/// File, in a throwaway cluster's directory, holding the id of the process that owns it.
const OWNER_FILE: &str = "owner.pid";
/// Variable naming the cache directory (default: `$XDG_CACHE_HOME/carto-emulator`, else
/// `$HOME/.cache/carto-emulator`); `off` turns the cache off.
pub const CACHE_DIR_VAR: &str = "CARTO_EMULATOR_CACHE_DIR";

/// Writes the owner file of a throwaway cluster's directory.
pub(super) fn claim(root: &Path) -> Result<(), EmulatorError> {
    let path = root.join(OWNER_FILE);
    fs::write(&path, std::process::id().to_string())
        .map_err(|e| EmulatorError::io("cannot write", &path, e))
}

/// Stops and removes the throwaway clusters whose owner process is gone. Best effort: what
/// cannot be removed now is tried again at the next start.
pub(super) fn sweep() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(TEMP_PREFIX) {
            continue;
        }
        let root = entry.path();
        // No owner file: being made right now by another process (or not ours).
        let Some(owner) = read_pid(&root.join(OWNER_FILE)) else {
            continue;
        };
        if alive(owner) {
            continue;
        }
        if let Some(postmaster) = read_pid(&root.join("pgdata").join("postmaster.pid")) {
            stop_postmaster(postmaster);
        }
        tracing::info!(
            "removing a cluster left by a killed process: {}",
            root.display()
        );
        let _ = fs::remove_dir_all(&root);
    }
}

fn read_pid(path: &Path) -> Option<i32> {
    fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

fn alive(pid: i32) -> bool {
    // Signal 0: only whether the process exists (EPERM: it does, someone else's).
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// PostgreSQL's immediate shutdown (SIGQUIT), then SIGKILL if it is still there after 5 s.
fn stop_postmaster(pid: i32) {
    use nix::sys::signal::{Signal, kill};
    let pid = nix::unistd::Pid::from_raw(pid);
    if kill(pid, Signal::SIGQUIT).is_err() {
        return;
    }
    for _ in 0..100 {
        if !alive(pid.as_raw()) {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = kill(pid, Signal::SIGKILL);
}

/// The machine's cluster cache, for this PostgreSQL, PostGIS and emulator.
#[derive(Debug, Clone)]
pub(crate) struct ClusterCache {
    dir: PathBuf,
    key: String,
}

impl ClusterCache {
    /// The cache for the PostgreSQL programs found, or `None` when it is off
    /// ([`CACHE_DIR_VAR`]`=off`), there is no cache directory, or the versions cannot be told.
    pub(super) fn for_machine(run_as: Option<RunAs>) -> Option<Self> {
        let dir = match std::env::var_os(CACHE_DIR_VAR) {
            Some(v) if v == "off" => return None,
            Some(v) => PathBuf::from(v),
            None => std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?
                .join("carto-emulator"),
        };
        Self::in_dir(dir, run_as)
    }

    /// The cache in `dir` for the PostgreSQL programs found (`None` if the versions cannot be
    /// told).
    pub(super) fn in_dir(dir: PathBuf, run_as: Option<RunAs>) -> Option<Self> {
        let postgres = find_program("postgres").ok()?;
        let out = run(Command::new(&postgres).arg("--version"), run_as).ok()?;
        let pg = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let pg_config = find_program("pg_config").ok()?;
        let out = run(Command::new(&pg_config).arg("--sharedir"), None).ok()?;
        let share = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        let postgis = postgis_version(&share.join("extension").join("postgis.control"));
        Some(Self::new(dir, &pg, postgis.as_deref()))
    }

    /// The cache in `dir` for these versions.
    pub(crate) fn new(dir: PathBuf, postgres: &str, postgis: Option<&str>) -> Self {
        Self {
            dir,
            key: cache_key(postgres, postgis, &crate::store::setup_version()),
        }
    }

    /// The cached cluster's directory (holding `pgdata` and `superuser.json`), if there is one.
    pub(crate) fn lookup(&self) -> Option<PathBuf> {
        let entry = self.dir.join(&self.key);
        entry
            .join("pgdata")
            .join("PG_VERSION")
            .exists()
            .then_some(entry)
    }

    /// Saves `files` (a stopped cluster's `pgdata` and its superuser file) as this cache's
    /// entry, unless another process saved one first; removes entries of other versions.
    pub(crate) fn save(&self, pgdata: &Path, secret: &[u8]) -> Result<(), EmulatorError> {
        fs::create_dir_all(&self.dir)
            .map_err(|e| EmulatorError::io("cannot create", &self.dir, e))?;
        set_private(&self.dir)?;
        let temp = tempfile::Builder::new()
            .prefix(".building-")
            .tempdir_in(&self.dir)
            .map_err(|e| EmulatorError::io("cannot create", &self.dir, e))?;
        copy_tree(pgdata, &temp.path().join("pgdata"), None)?;
        let _ = fs::remove_file(temp.path().join("pgdata").join("postmaster.pid"));
        let secret_path = temp.path().join(super::cluster::SECRET_FILE);
        super::cluster::write_private(&secret_path, secret)?;
        let target = self.dir.join(&self.key);
        let built = temp.keep();
        if fs::rename(&built, &target).is_err() {
            // Another process saved it first (a non-empty directory is never replaced).
            let _ = fs::remove_dir_all(&built);
        }
        if let Ok(entries) = fs::read_dir(&self.dir) {
            for e in entries.filter_map(Result::ok) {
                let name = e.file_name().to_string_lossy().into_owned();
                if name != self.key && !name.starts_with(".building-") {
                    let _ = fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(())
    }
}

/// The name of a cache entry: every version that makes a cluster different.
pub(crate) fn cache_key(postgres: &str, postgis: Option<&str>, schema: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!(
        "cluster-{}-postgis-{}-schema-{}",
        clean(postgres),
        postgis.map_or_else(|| "none".to_owned(), clean),
        clean(schema)
    )
}

/// `default_version` of an extension control file.
fn postgis_version(control: &Path) -> Option<String> {
    let text = fs::read_to_string(control).ok()?;
    text.lines().find_map(|l| {
        let (k, v) = l.split_once('=')?;
        (k.trim() == "default_version").then(|| v.trim().trim_matches('\'').to_owned())
    })
}

fn set_private(dir: &Path) -> Result<(), EmulatorError> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| EmulatorError::io("cannot set permissions of", dir, e))
}

/// Copies a directory tree (modes kept), giving everything to `owner` when set.
pub(super) fn copy_tree(from: &Path, to: &Path, owner: Option<RunAs>) -> Result<(), EmulatorError> {
    fs::create_dir(to).map_err(|e| EmulatorError::io("cannot create", to, e))?;
    let mode = fs::metadata(from)
        .map_err(|e| EmulatorError::io("cannot inspect", from, e))?
        .permissions();
    fs::set_permissions(to, mode)
        .map_err(|e| EmulatorError::io("cannot set permissions of", to, e))?;
    if let Some(r) = owner {
        r.chown(to)?;
    }
    for entry in fs::read_dir(from).map_err(|e| EmulatorError::io("cannot read", from, e))? {
        let entry = entry.map_err(|e| EmulatorError::io("cannot read", from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .map_err(|e| EmulatorError::io("cannot inspect", &src, e))?;
        if kind.is_dir() {
            copy_tree(&src, &dst, owner)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst).map_err(|e| EmulatorError::io("cannot copy", &src, e))?;
            if let Some(r) = owner {
                r.chown(&dst)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_cluster(dir: &Path) -> PathBuf {
        let pgdata = dir.join("made");
        fs::create_dir_all(pgdata.join("base")).unwrap();
        fs::write(pgdata.join("PG_VERSION"), "15\n").unwrap();
        fs::write(pgdata.join("base").join("1"), "data").unwrap();
        fs::write(pgdata.join("postmaster.pid"), "1").unwrap();
        pgdata
    }

    #[test]
    fn the_key_changes_with_every_version() {
        let pg = "postgres (PostgreSQL) 15.14";
        let base = cache_key(pg, Some("3.3.2"), "1-ab");
        for other in [
            cache_key("postgres (PostgreSQL) 15.15", Some("3.3.2"), "1-ab"),
            cache_key(pg, Some("3.4.0"), "1-ab"),
            cache_key(pg, None, "1-ab"),
            cache_key(pg, Some("3.3.2"), "2-ab"),
            cache_key(pg, Some("3.3.2"), "1-cd"),
        ] {
            assert_ne!(base, other);
        }
        assert!(!base.contains(['/', ' ', '(']), "{base}");
    }

    #[test]
    fn a_saved_cluster_is_found_by_its_versions_only_and_replaces_others() {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("cache");
        let pgdata = fake_cluster(dir.path());
        let old = ClusterCache::new(cache_dir.clone(), "pg 15.14", Some("3.3.2"));
        assert!(old.lookup().is_none());
        old.save(&pgdata, b"{}").unwrap();
        let entry = old.lookup().expect("saved");
        assert_eq!(
            fs::read_to_string(entry.join("pgdata/base/1")).unwrap(),
            "data"
        );
        assert!(!entry.join("pgdata/postmaster.pid").exists());
        // PostgreSQL upgraded, or PostGIS: a miss, and the next save drops the old entry.
        for new in [
            ClusterCache::new(cache_dir.clone(), "pg 15.15", Some("3.3.2")),
            ClusterCache::new(cache_dir.clone(), "pg 15.14", Some("3.4.0")),
        ] {
            assert!(new.lookup().is_none());
        }
        let new = ClusterCache::new(cache_dir.clone(), "pg 15.14", Some("3.4.0"));
        new.save(&pgdata, b"{}").unwrap();
        assert!(new.lookup().is_some());
        assert!(old.lookup().is_none(), "the stale entry is removed");
        // A second save (another process, same versions) keeps the first entry whole.
        new.save(&pgdata, b"{}").unwrap();
        let names: Vec<_> = fs::read_dir(&cache_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn leftovers_of_dead_processes_are_removed_and_live_ones_kept() {
        // A process that is gone: a child that has exited and been reaped.
        let mut child = Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let make = |pid: u32| {
            let dir = tempfile::Builder::new()
                .prefix(TEMP_PREFIX)
                .tempdir()
                .unwrap()
                .keep();
            fs::write(dir.join(OWNER_FILE), pid.to_string()).unwrap();
            dir
        };
        let gone = make(dead);
        let mine = make(std::process::id());
        let unclaimed = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempdir()
            .unwrap();
        sweep();
        assert!(!gone.exists(), "left by a dead process");
        assert!(mine.exists(), "a live process's cluster stays");
        assert!(unclaimed.path().exists(), "a directory being made stays");
        fs::remove_dir_all(mine).unwrap();
    }
}
