//! A PostgreSQL server the emulator works on (its private cluster, or an existing one given by
//! URL) and the privileged sessions it opens on it.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::cluster::PgCluster;
use crate::error::EmulatorError;

/// A PostgreSQL server the emulator works on: its own private cluster, or an existing
/// server given by URL (with a superuser).
#[derive(Debug)]
pub struct PgServer {
    host: String,
    port: u16,
    user: String,
    password: String,
    socket_dir: Option<PathBuf>,
    cluster: std::sync::Mutex<Option<PgCluster>>,
}

impl PgServer {
    /// An existing server, from a URL such as
    /// `postgres://user:password@host:5432/postgres` (the user must be a superuser), or with a
    /// Unix socket directory as host (`postgres://user@%2Frun%2Fpostgresql:5432/postgres`).
    pub fn from_url(url: &str) -> Result<Self, EmulatorError> {
        let config = tokio_postgres::Config::from_str(url).map_err(|_| {
            EmulatorError::Config(
                "the database URL is not a valid PostgreSQL connection URL".into(),
            )
        })?;
        let (host, socket_dir) = match config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => (h.clone(), None),
            Some(tokio_postgres::config::Host::Unix(dir)) => {
                ("127.0.0.1".to_owned(), Some(dir.clone()))
            }
            None => {
                return Err(EmulatorError::Config(
                    "the database URL must name a host".into(),
                ));
            }
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config
            .get_user()
            .ok_or_else(|| EmulatorError::Config("the database URL must name a user".into()))?
            .to_owned();
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        Ok(Self {
            host,
            port,
            user,
            password,
            socket_dir,
            cluster: std::sync::Mutex::new(None),
        })
    }

    /// A server backed by a private cluster (which is stopped when this is dropped).
    pub fn from_cluster(cluster: PgCluster) -> Self {
        Self {
            host: cluster.host().to_owned(),
            port: cluster.port(),
            user: cluster.superuser().to_owned(),
            password: cluster.superuser_password().to_owned(),
            socket_dir: Some(cluster.socket_dir().to_path_buf()),
            cluster: std::sync::Mutex::new(Some(cluster)),
        }
    }

    /// The server's host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's name.
    pub fn superuser(&self) -> &str {
        &self.user
    }

    /// The superuser's password.
    pub fn superuser_password(&self) -> &str {
        &self.password
    }

    /// The private cluster's socket directory (`None` for an existing server, reached by TCP
    /// with passwords).
    pub fn socket_dir(&self) -> Option<&Path> {
        self.socket_dir.as_deref()
    }

    /// Whether this is a private cluster run by the emulator (still running).
    pub fn is_private_cluster(&self) -> bool {
        self.cluster.lock().map(|c| c.is_some()).unwrap_or(false)
    }

    /// The private cluster's directory (`PGDATA`), if any.
    pub fn pgdata(&self) -> Option<PathBuf> {
        self.cluster
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|c| c.pgdata().to_path_buf()))
    }

    /// Whether the private cluster was copied from the machine's cluster cache (see
    /// [`PgCluster::start_temporary`]).
    pub fn is_from_cache(&self) -> bool {
        self.cluster
            .lock()
            .ok()
            .is_some_and(|c| c.as_ref().is_some_and(PgCluster::is_from_cache))
    }

    /// Saves the private throwaway cluster to the machine's cache when it missed (blocking:
    /// the server stops for the copy).
    pub(crate) fn save_to_cache(&self) -> Result<bool, EmulatorError> {
        match self.cluster.lock() {
            Ok(mut c) => match c.as_mut() {
                Some(cluster) => cluster.save_to_cache(),
                None => Ok(false),
            },
            Err(_) => Ok(false),
        }
    }

    /// Stops the private cluster now (removing it if temporary); nothing for an
    /// existing server. Also done on drop.
    pub fn stop_cluster(&self) {
        let cluster = self.cluster.lock().ok().and_then(|mut c| c.take());
        drop(cluster);
    }

    /// Connects to database `db` as the superuser; the connection task is spawned on
    /// the current tokio runtime.
    ///
    /// This is the emulator's privileged session: its `search_path` is pinned to
    /// `pg_catalog, pg_temp` when it logs in, so no function, operator or table that an API key
    /// planted in a user schema can ever be resolved by it; every other name it uses is
    /// schema-qualified.
    pub async fn connect_superuser(
        &self,
        db: &str,
    ) -> Result<tokio_postgres::Client, EmulatorError> {
        connect(
            self.address(),
            self.port,
            &self.user,
            &self.password,
            db,
            Some(PRIVILEGED_SEARCH_PATH),
        )
        .await
    }

    fn address(&self) -> Address<'_> {
        match &self.socket_dir {
            Some(dir) => Address::Socket(dir),
            None => Address::Tcp(&self.host),
        }
    }

    /// Connects to database `db` as `user` with `password` (its `search_path` pinned like the
    /// superuser's).
    pub async fn connect_as(
        &self,
        user: &str,
        password: &str,
        db: &str,
    ) -> Result<tokio_postgres::Client, EmulatorError> {
        connect(
            self.address(),
            self.port,
            user,
            password,
            db,
            Some(PRIVILEGED_SEARCH_PATH),
        )
        .await
    }
}

/// The `search_path` of every session the emulator opens with privileges.
const PRIVILEGED_SEARCH_PATH: &str = "pg_catalog,pg_temp";

/// Where a session connects.
#[derive(Clone, Copy)]
pub(super) enum Address<'a> {
    Tcp(&'a str),
    Socket(&'a Path),
}

pub(super) async fn connect(
    address: Address<'_>,
    port: u16,
    user: &str,
    password: &str,
    db: &str,
    search_path: Option<&str>,
) -> Result<tokio_postgres::Client, EmulatorError> {
    let mut config = tokio_postgres::Config::new();
    match address {
        Address::Tcp(host) => config.host(host),
        Address::Socket(dir) => config.host_path(dir),
    };
    config
        .port(port)
        .user(user)
        .password(password)
        .dbname(db)
        .application_name("carto-emulator");
    if let Some(path) = search_path {
        // A connection option: set before any statement runs, and not something a statement
        // of the session can forget to do.
        config.options(format!("-c search_path={path}"));
    }
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("PostgreSQL connection closed: {e}");
        }
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_url_reads_parts() {
        let s = PgServer::from_url("postgres://admin:pw@db.example:6543/postgres").unwrap();
        assert_eq!(s.host(), "db.example");
        assert_eq!(s.port(), 6543);
        assert_eq!(s.superuser(), "admin");
        assert_eq!(s.superuser_password(), "pw");
        assert!(!s.is_private_cluster());
        let err = PgServer::from_url("not a url at all ::").unwrap_err();
        assert!(matches!(err, EmulatorError::Config(_)));
    }
}
