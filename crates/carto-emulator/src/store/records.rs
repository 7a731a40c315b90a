//! What a user and an API key are, and why a key operation fails.

use carto_core::Token;
use carto_core::models::ApiKeyType;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::error::EmulatorError;

/// Name of the master key.
pub const MASTER_NAME: &str = "Master";
/// Name of the Default public key.
pub const DEFAULT_NAME: &str = "Default public";

/// A user of the emulator and where its data lives.
#[derive(Clone)]
pub(crate) struct UserRecord {
    pub username: String,
    pub id: String,
    pub org: Option<String>,
    pub database: String,
    pub schema: String,
    pub owner_role: String,
    pub public_role: String,
    pub postgis: bool,
}

/// An API key (any type) with its database login.
#[derive(Clone)]
pub(crate) struct KeyRecord {
    pub username: String,
    pub name: String,
    pub key_type: ApiKeyType,
    pub token: Token,
    pub role: String,
    pub password: String,
    /// The grants as requested (regular keys) or the fixed grants (master, default).
    pub grants: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl KeyRecord {
    /// The `apis` of the key.
    pub(crate) fn apis(&self) -> Vec<String> {
        section(&self.grants, "apis", "apis")
    }

    /// Whether the key grants `api` (as [`apis`](Self::apis) does, without copying them).
    pub(crate) fn has_api(&self, api: &str) -> bool {
        self.grants
            .as_array()
            .into_iter()
            .flatten()
            .filter(|g| g.get("type").and_then(Value::as_str) == Some("apis"))
            .filter_map(|g| g.get("apis").and_then(Value::as_array))
            .flatten()
            .any(|v| v.as_str() == Some(api))
    }

    /// The data services of the key.
    pub(crate) fn services(&self) -> Vec<String> {
        section(&self.grants, "dataservices", "services")
    }
}

pub(super) fn section(grants: &Value, kind: &str, field: &str) -> Vec<String> {
    grants
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g.get("type").and_then(Value::as_str) == Some(kind))
        .flat_map(|g| {
            g.get(field)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Why a key operation failed, in CARTO's terms.
#[derive(Debug)]
pub(crate) enum KeyError {
    /// 422 `Validation failed: ...`.
    Validation(Vec<String>),
    /// 404 `API key not found: <name>`.
    NotFound(String),
    /// 403 `You don't have permission to access that resource`.
    Forbidden,
    /// 422 with a PostgreSQL message (a relation vanished between checks, ...).
    Database(String),
    /// 422 with a message of CARTO's raised after validation (not `Validation failed: ...`).
    Unprocessable(&'static str),
    /// Anything else (500).
    Internal(EmulatorError),
}

impl From<EmulatorError> for KeyError {
    fn from(e: EmulatorError) -> Self {
        KeyError::Internal(e)
    }
}

impl From<tokio_postgres::Error> for KeyError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => KeyError::Database(db.message().to_owned()),
            None => KeyError::Internal(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sections_of_grants() {
        let k = KeyRecord {
            username: "u".into(),
            name: "n".into(),
            key_type: ApiKeyType::Regular,
            token: Token::new("t"),
            role: "r".into(),
            password: "p".into(),
            grants: json!([{"type": "apis", "apis": ["sql"]}, {"type": "dataservices", "services": ["geocoding"]}]),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        assert_eq!(k.apis(), vec!["sql"]);
        assert!(k.has_api("sql"));
        assert!(!k.has_api("maps"));
        assert!(!k.has_api("geocoding"));
        assert_eq!(k.services(), vec!["geocoding"]);
    }
}
