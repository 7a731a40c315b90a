//! Temporary stand-in for the SQL data plane (module `sql`, branch `emusql`) until it
//! is merged: same interface, answers 503.

use std::time::Duration;

/// Authorization level of a SQL request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyLevel {
    /// Master key.
    Master,
    /// Default public key or no key.
    Default,
    /// Regular key.
    Regular,
}

/// Who runs a SQL request and how.
#[derive(Debug, Clone)]
pub struct SqlSession {
    /// The user.
    pub username: String,
    /// The user's database.
    pub database: String,
    /// The user's schema.
    pub schema: String,
    /// The key's role.
    pub role: String,
    /// The key's role password.
    pub password: String,
    /// The authorization level.
    pub level: KeyLevel,
    /// The statement timeout.
    pub statement_timeout: Option<Duration>,
}

/// The SQL engine.
#[derive(Debug)]
pub struct SqlEngine;

impl SqlEngine {
    /// A new engine.
    pub fn new(_host: String, _port: u16) -> Self {
        SqlEngine
    }

    /// Runs a request.
    pub async fn handle(
        &self,
        _session: SqlSession,
        _params: serde_json::Map<String, serde_json::Value>,
    ) -> axum::response::Response {
        crate::http::sql_error(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "SQL API not available in this build",
        )
    }

    /// Forgets pooled connections of a role.
    pub fn forget_role(&self, _role: &str) {}
}
