//! The emulator's error type.

use std::path::PathBuf;

/// Why the emulator (or its PostgreSQL) could not do something.
///
/// Messages never contain a password or an API key token.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A PostgreSQL program is not installed where the emulator looks for it.
    #[error(
        "PostgreSQL program `{program}` not found on PATH, under /usr/lib/postgresql/*/bin or /usr/local/pgsql/bin; install the `postgresql` package (for example `apt-get install postgresql`) or pass --database-url to use an existing server"
    )]
    PostgresMissing {
        /// The program that was looked for (`initdb`, `pg_ctl`, `postgres`).
        program: &'static str,
    },
    /// Running as root, but the unprivileged `postgres` system user does not exist.
    #[error(
        "running as root, and PostgreSQL refuses to run as root: create the `postgres` system user (the `postgresql` package does) or run the emulator as a normal user"
    )]
    NoPostgresUser,
    /// A PostgreSQL program failed.
    #[error("{program} failed: {message}")]
    Command {
        /// The program.
        program: String,
        /// What it said (its output, or the server log).
        message: String,
    },
    /// A file system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A database statement or connection failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// The emulator was given invalid settings (a bad user name, a bad URL...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An account cannot be made or removed (a bad or taken name, an unknown user...).
    #[error(transparent)]
    Account(#[from] crate::store::AccountError),
    /// Any other failure.
    #[error("{0}")]
    Other(String),
}

impl EmulatorError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
