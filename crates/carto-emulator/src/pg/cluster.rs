//! A private PostgreSQL cluster started from the binaries on the machine
//! (`initdb`, `pg_ctl`, `postgres`, found by the `binaries` module).
//!
//! The cluster listens on `127.0.0.1` on a free port and on a Unix socket in a private
//! directory (mode 0700). Its `pg_hba.conf`, written at every start, accepts over TCP only the
//! superuser, with its generated `scram-sha-256` password; every other role (the users' owner
//! and public roles, the API key roles) logs in only through the private socket, where the
//! emulator is the only possible client. So a key role that changes its own password
//! (`ALTER ROLE CURRENT_USER PASSWORD ...`) neither locks the emulator out nor gains a
//! direct login.
//! When the process runs as root, the PostgreSQL programs run as the unprivileged
//! `postgres` system user (PostgreSQL refuses to run as root).

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use super::binaries::{Binaries, RunAs, check, output_text, run, tail};
use super::server::{Address, connect};
use crate::error::EmulatorError;

/// Name of the superuser created in a private cluster.
pub const SUPERUSER: &str = "carto_emulator";

/// File in a kept data directory holding the superuser's name and password.
pub(super) const SECRET_FILE: &str = "superuser.json";
/// Sub-directory of the data directory holding the PostgreSQL cluster.
const PGDATA: &str = "pgdata";
/// Server log, inside the cluster directory.
const LOG_FILE: &str = "emulator-postgres.log";
/// Sub-directory of the data directory holding the server's Unix socket.
const SOCKET_DIR: &str = "socket";
/// Longest socket directory path used in place (a socket path has at most 107 bytes, and
/// `/.s.PGSQL.<port>` follows it).
const MAX_SOCKET_DIR_LEN: usize = 80;

/// The socket directory of a cluster rooted at `root`: `root/socket` when its path is short
/// enough, else a new temporary directory (returned to be kept alive). Mode 0700, owned by the
/// account PostgreSQL runs as.
fn socket_dir(
    root: &Path,
    run_as: Option<RunAs>,
) -> Result<(PathBuf, Option<tempfile::TempDir>), EmulatorError> {
    let in_place = root.join(SOCKET_DIR);
    let usable = |p: &Path| {
        let text = p.to_string_lossy();
        text.len() <= MAX_SOCKET_DIR_LEN && !text.contains(char::is_whitespace)
    };
    let (dir, temp) = if usable(&in_place) {
        match fs::create_dir(&in_place) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(EmulatorError::io("cannot create", &in_place, e)),
        }
        (in_place, None)
    } else {
        let temp = tempfile::Builder::new()
            .prefix("carto-emulator-sock-")
            .tempdir_in("/tmp")
            .map_err(|e| EmulatorError::io("cannot create", "/tmp", e))?;
        (temp.path().to_path_buf(), Some(temp))
    };
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| EmulatorError::io("cannot set permissions of", &dir, e))?;
    if let Some(r) = run_as {
        r.chown(&dir)?;
    }
    Ok((dir, temp))
}

/// Checks that the `postgres` user can traverse every directory down to `dir`.
fn check_reachable(dir: &Path, r: RunAs) -> Result<(), EmulatorError> {
    use std::os::unix::fs::MetadataExt;
    for d in dir.ancestors() {
        let meta = fs::metadata(d).map_err(|e| EmulatorError::io("cannot inspect", d, e))?;
        let mode = meta.mode();
        let ok = if meta.uid() == r.uid.as_raw() {
            mode & 0o100 != 0
        } else if meta.gid() == r.gid.as_raw() {
            mode & 0o010 != 0
        } else {
            mode & 0o001 != 0
        };
        if !ok {
            return Err(EmulatorError::Config(format!(
                "the `postgres` system user (PostgreSQL runs as it because this process is root) cannot enter {}: choose a data directory outside it (not under /root) or make it traversable (chmod o+x)",
                d.display()
            )));
        }
    }
    Ok(())
}

/// The superuser's credentials, kept in a data directory between runs.
#[derive(Clone, Serialize, Deserialize)]
struct Secret {
    user: String,
    password: String,
}

/// A private PostgreSQL cluster run by the emulator.
///
/// Dropping it stops the server (`pg_ctl stop -m fast`) and, for a temporary cluster,
/// removes its directory.
pub struct PgCluster {
    bins: Binaries,
    run_as: Option<RunAs>,
    pgdata: PathBuf,
    port: u16,
    socket_dir: PathBuf,
    secret: Secret,
    running: bool,
    /// Copied from the machine's cluster cache.
    from_cache: bool,
    /// The cache to save this cluster to (a throwaway cluster made by `initdb` while the
    /// cache was on).
    cache_miss: Option<super::reuse::ClusterCache>,
    // Declared last: removed after the server stopped.
    _socket_temp: Option<tempfile::TempDir>,
    _temp: Option<tempfile::TempDir>,
}

impl fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgCluster")
            .field("pgdata", &self.pgdata)
            .field("port", &self.port)
            .field("superuser", &self.secret.user)
            .field("temporary", &self._temp.is_some())
            .finish_non_exhaustive()
    }
}

impl PgCluster {
    /// Creates and starts a throwaway cluster in a new temporary directory, removed
    /// when the returned value is dropped.
    ///
    /// The cluster is a copy of the machine's cached one when there is one for this
    /// PostgreSQL, PostGIS and emulator (in `$XDG_CACHE_HOME/carto-emulator`, else
    /// `~/.cache/carto-emulator`; the variable
    /// [`CACHE_DIR_VAR`](super::reuse::CACHE_DIR_VAR) names another directory, or `off`).
    /// Throwaway clusters left by killed processes are removed first.
    pub fn start_temporary() -> Result<Self, EmulatorError> {
        Self::start_temporary_cached(None)
    }

    /// [`start_temporary`](Self::start_temporary) with the cache chosen: `Some(None)` for no
    /// cache, `Some(Some(dir))` for the cache in `dir`, `None` for the machine's.
    pub fn start_temporary_cached(cache: Option<Option<&Path>>) -> Result<Self, EmulatorError> {
        let bins = Binaries::find()?;
        let run_as = RunAs::detect()?;
        super::reuse::sweep();
        let temp = tempfile::Builder::new()
            .prefix(super::reuse::TEMP_PREFIX)
            .tempdir()
            .map_err(|e| EmulatorError::io("cannot create", std::env::temp_dir(), e))?;
        let root = temp.path().to_path_buf();
        super::reuse::claim(&root)?;
        if let Some(r) = run_as {
            r.chown(&root)?;
        }
        let cache = match cache {
            None => super::reuse::ClusterCache::for_machine(run_as),
            Some(None) => None,
            Some(Some(dir)) => super::reuse::ClusterCache::in_dir(dir.to_path_buf(), run_as),
        };
        let cached = cache.as_ref().and_then(|c| c.lookup());
        if let Some(entry) = &cached {
            super::reuse::copy_tree(&entry.join(PGDATA), &root.join(PGDATA), run_as)?;
            let secret = fs::read(entry.join(SECRET_FILE))
                .map_err(|e| EmulatorError::io("cannot read", entry.join(SECRET_FILE), e))?;
            write_private(&root.join(SECRET_FILE), &secret)?;
        }
        let mut cluster = Self::init_and_start(bins, run_as, &root, true)?;
        cluster._temp = Some(temp);
        cluster.from_cache = cached.is_some();
        if cached.is_none() {
            cluster.cache_miss = cache;
        }
        Ok(cluster)
    }

    /// Whether this cluster was copied from the machine's cluster cache.
    pub fn is_from_cache(&self) -> bool {
        self.from_cache
    }

    /// Saves this cluster (stopped for the copy, then started again on a new port) to the
    /// machine's cache, when it is a throwaway cluster made while the cache missed; the
    /// emulator does it once its registry and template database are made, before any user.
    pub(crate) fn save_to_cache(&mut self) -> Result<bool, EmulatorError> {
        let Some(cache) = self.cache_miss.take() else {
            return Ok(false);
        };
        self.stop();
        let secret = serde_json::to_string(&self.secret).expect("secret serializes");
        let saved = cache.save(&self.pgdata, secret.as_bytes());
        self.start()?;
        saved.map(|()| true)
    }

    /// Starts the cluster kept in `data_dir`, creating it on first use. A cluster left
    /// running by a killed emulator is stopped and started again.
    ///
    /// When running as root, `data_dir` must be reachable by the `postgres` system
    /// user (not under `/root`).
    pub fn start_in(data_dir: &Path) -> Result<Self, EmulatorError> {
        let bins = Binaries::find()?;
        let run_as = RunAs::detect()?;
        fs::create_dir_all(data_dir)
            .map_err(|e| EmulatorError::io("cannot create", data_dir, e))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(|e| EmulatorError::io("cannot resolve", data_dir, e))?;
        if let Some(r) = run_as {
            check_reachable(&data_dir, r)?;
        }
        Self::init_and_start(bins, run_as, &data_dir, false)
    }

    fn init_and_start(
        bins: Binaries,
        run_as: Option<RunAs>,
        root: &Path,
        throwaway: bool,
    ) -> Result<Self, EmulatorError> {
        let pgdata = root.join(PGDATA);
        let secret_path = root.join(SECRET_FILE);
        let initialized = pgdata.join("PG_VERSION").exists();
        let secret = if initialized {
            let text = fs::read_to_string(&secret_path)
                .map_err(|e| EmulatorError::io("cannot read", &secret_path, e))?;
            serde_json::from_str(&text).map_err(|e| {
                EmulatorError::Config(format!("{} is malformed: {e}", secret_path.display()))
            })?
        } else {
            let secret = Secret {
                user: SUPERUSER.to_owned(),
                password: random_hex(20),
            };
            // Remove a half-made cluster (killed during initdb).
            if pgdata.exists() {
                fs::remove_dir_all(&pgdata)
                    .map_err(|e| EmulatorError::io("cannot remove", &pgdata, e))?;
            }
            fs::create_dir(&pgdata).map_err(|e| EmulatorError::io("cannot create", &pgdata, e))?;
            fs::set_permissions(&pgdata, fs::Permissions::from_mode(0o700))
                .map_err(|e| EmulatorError::io("cannot set permissions of", &pgdata, e))?;
            if let Some(r) = run_as {
                r.chown(&pgdata)?;
            }
            let pwfile = root.join("initdb-password");
            write_private(&pwfile, secret.password.as_bytes())?;
            if let Some(r) = run_as {
                r.chown(&pwfile)?;
            }
            let out = run(
                Command::new(&bins.initdb)
                    .arg("-D")
                    .arg(&pgdata)
                    .arg("-U")
                    .arg(&secret.user)
                    .arg("--pwfile")
                    .arg(&pwfile)
                    .args([
                        "--auth-local=scram-sha-256",
                        "--auth-host=scram-sha-256",
                        "--encoding=UTF8",
                        "--locale=C",
                        "--no-instructions",
                    ])
                    // A throwaway cluster's WAL in 1 MB segments, not 16: less to write, and
                    // less to copy from the cluster cache.
                    .args(throwaway.then_some("--wal-segsize=1"))
                    .current_dir(root),
                run_as,
            );
            let _ = fs::remove_file(&pwfile);
            check("initdb", out?)?;
            let mut conf = String::from(
                "\n# carto-emulator\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\npassword_encryption = 'scram-sha-256'\nmax_connections = 200\ntimezone = 'UTC'\n# statements may carry role passwords: never copy them into the server log\nlog_min_error_statement = panic\n",
            );
            if throwaway {
                conf.push_str(
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmin_wal_size = 2MB\n",
                );
            }
            let conf_path = pgdata.join("postgresql.conf");
            fs::OpenOptions::new()
                .append(true)
                .open(&conf_path)
                .and_then(|mut f| f.write_all(conf.as_bytes()))
                .map_err(|e| EmulatorError::io("cannot write", &conf_path, e))?;
            if !throwaway {
                write_private(
                    &secret_path,
                    serde_json::to_string(&secret)
                        .expect("secret serializes")
                        .as_bytes(),
                )?;
            }
            secret
        };
        let (socket_dir, socket_temp) = socket_dir(root, run_as)?;
        let mut cluster = Self {
            bins,
            run_as,
            pgdata,
            port: 0,
            socket_dir,
            secret,
            running: false,
            from_cache: false,
            cache_miss: None,
            _socket_temp: socket_temp,
            _temp: None,
        };
        if initialized {
            // A server left behind by a killed emulator: stop it (it may be on any port).
            cluster.stop_quietly();
        }
        cluster.start()?;
        Ok(cluster)
    }

    fn start(&mut self) -> Result<(), EmulatorError> {
        self.write_hba()?;
        let log = self.pgdata.join(LOG_FILE);
        let mut last_error = None;
        // The free port is found by binding and releasing it; another process may grab
        // it in between, so try a few times.
        // Started again (after a copy to the cache): on the same port, which the emulator's
        // connections know.
        let again = std::mem::take(&mut self.port);
        for attempt in 0..5 {
            let port = if again != 0 && attempt == 0 {
                again
            } else if again != 0 {
                return Err(last_error
                    .unwrap_or_else(|| EmulatorError::Other("pg_ctl start failed".into())));
            } else {
                free_port()?
            };
            let out = run(
                Command::new(&self.bins.pg_ctl)
                    .arg("start")
                    .arg("-D")
                    .arg(&self.pgdata)
                    .arg("-l")
                    .arg(&log)
                    .args(["-w", "-t", "60", "-o"])
                    .arg(format!(
                        "-p {port} -k {} -c listen_addresses=127.0.0.1",
                        self.socket_dir.display()
                    ))
                    .current_dir(&self.pgdata),
                self.run_as,
            )?;
            if out.status.success() {
                self.port = port;
                self.running = true;
                return Ok(());
            }
            let log_tail = fs::read_to_string(&log)
                .map(|t| tail(&t, 20))
                .unwrap_or_default();
            last_error = Some(EmulatorError::Command {
                program: "pg_ctl start".into(),
                message: format!("{}\n{log_tail}", output_text(&out)),
            });
            if !log_tail.contains("could not bind") && !log_tail.contains("in use") {
                break;
            }
        }
        Err(last_error.unwrap_or_else(|| EmulatorError::Other("pg_ctl start failed".into())))
    }

    /// Writes `pg_hba.conf` (at every start, so a cluster kept by an older version gets the
    /// same rules): the superuser over TCP with its password; any role through the private
    /// socket; nothing else.
    fn write_hba(&self) -> Result<(), EmulatorError> {
        let hba = format!(
            "# Written by carto-emulator at every start; changes are lost.\n\
             # Only the emulator can reach the socket (its directory has mode 0700): it logs in as\n\
             # the users' and API keys' roles there, whatever password a role gave itself.\n\
             local all all trust\n\
             # Over TCP, only the superuser, with its generated password.\n\
             host all {user} 127.0.0.1/32 scram-sha-256\n\
             host all all 0.0.0.0/0 reject\n\
             host all all ::/0 reject\n",
            user = self.secret.user
        );
        let path = self.pgdata.join("pg_hba.conf");
        fs::write(&path, hba).map_err(|e| EmulatorError::io("cannot write", &path, e))?;
        if let Some(r) = self.run_as {
            r.chown(&path)?;
        }
        Ok(())
    }

    fn stop_quietly(&mut self) {
        if let Ok(out) = run(
            Command::new(&self.bins.pg_ctl)
                .arg("stop")
                .arg("-D")
                .arg(&self.pgdata)
                .args(["-m", "fast", "-w", "-t", "60"])
                .current_dir(&self.pgdata),
            self.run_as,
        ) {
            if !out.status.success() && self.running {
                tracing::warn!("pg_ctl stop failed: {}", output_text(&out));
            }
        }
        self.running = false;
    }

    /// Stops the server now (also done on drop).
    pub fn stop(&mut self) {
        if self.running {
            self.stop_quietly();
        }
    }

    /// The host the server listens on (`127.0.0.1`).
    pub fn host(&self) -> &str {
        "127.0.0.1"
    }

    /// The TCP port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's name.
    pub fn superuser(&self) -> &str {
        &self.secret.user
    }

    /// The private directory of the server's Unix socket (`.s.PGSQL.<port>`), the only way
    /// in for roles other than the superuser.
    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    /// The superuser's password.
    pub fn superuser_password(&self) -> &str {
        &self.secret.password
    }

    /// The cluster directory (PostgreSQL's `PGDATA`).
    pub fn pgdata(&self) -> &Path {
        &self.pgdata
    }

    /// Connects to database `db` as the superuser; the connection task is spawned on
    /// the current tokio runtime.
    pub async fn connect_superuser(
        &self,
        db: &str,
    ) -> Result<tokio_postgres::Client, EmulatorError> {
        connect(
            Address::Tcp(self.host()),
            self.port,
            &self.secret.user,
            &self.secret.password,
            db,
            None,
        )
        .await
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> Result<u16, EmulatorError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| EmulatorError::io("cannot bind", "127.0.0.1:0", e))?;
    let port = listener
        .local_addr()
        .map_err(|e| EmulatorError::io("cannot bind", "127.0.0.1:0", e))?
        .port();
    Ok(port)
}

pub(super) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), EmulatorError> {
    let _ = fs::remove_file(path);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| EmulatorError::io("cannot write", path, e))
}

/// `n` random bytes as lower-case hex.
pub(crate) fn random_hex(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes[..]);
    hex::encode(bytes)
}
