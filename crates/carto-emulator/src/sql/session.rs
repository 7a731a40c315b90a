//! Request identity: who runs a request's SQL and where ([`SqlSession`]), and the session
//! settings it logs in with.

use std::fmt;
use std::time::Duration;

use carto_core::models::ApiKeyType;

use crate::ident::quote_ident;

/// Who runs a request's SQL and where: the database login of the API key's role.
#[derive(Clone)]
pub struct SqlSession {
    /// The CARTO user of the request URL.
    pub username: String,
    /// The user's database.
    pub database: String,
    /// The user's schema (`public` for individual users, the username in organizations);
    /// first in the session's `search_path`, before `public`.
    pub schema: String,
    /// The PostgreSQL role the session logs in as.
    pub role: String,
    /// The role's password (never printed).
    pub password: String,
    /// The type of the key behind the request: its authorization level (§8).
    /// [`ApiKeyType::Master`] has full access, system tables included; any other type
    /// (the Default public key, also used when a request carries no key, and regular
    /// keys) runs behind the system-table guard.
    pub level: ApiKeyType,
    /// `statement_timeout` for the request's SQL; `None` keeps the role's own setting.
    pub statement_timeout: Option<Duration>,
}

impl fmt::Debug for SqlSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlSession")
            .field("username", &self.username)
            .field("database", &self.database)
            .field("schema", &self.schema)
            .field("role", &self.role)
            .field("password", &"<redacted>")
            .field("level", &self.level)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// The session settings of `session`'s requests, as startup parameters: `search_path` (see
/// [`search_path`]), `standard_conforming_strings` (the statement splitter, and so
/// the system-table guard, reads strings as PostgreSQL does with it on) and the key type's
/// `statement_timeout` (none: the role's own).
pub(super) fn session_options(session: &SqlSession) -> Vec<(String, String)> {
    let path: Vec<String> = search_path(&session.schema)
        .into_iter()
        .map(|s| path_element(&s))
        .collect();
    let mut options = vec![
        ("search_path".to_string(), path.join(", ")),
        ("standard_conforming_strings".to_string(), "on".to_string()),
    ];
    if let Some(t) = session.statement_timeout {
        options.push(("statement_timeout".to_string(), t.as_millis().to_string()));
    }
    options
}

/// The `search_path` of a user's SQL sessions, as CARTO sets it: the user's schema, then
/// `cartodb` (CARTO's functions, which users call unqualified), then `public` (PostGIS).
pub(crate) fn search_path(schema: &str) -> Vec<String> {
    let mut path = vec![
        schema.to_string(),
        crate::cartodb::CARTODB_SCHEMA.to_string(),
    ];
    if schema != "public" {
        path.push("public".to_string());
    }
    path
}

/// A schema name as an element of a `search_path` value: as it is when PostgreSQL would show
/// it so (lower-case letters, digits and `_`, not starting with a digit), else quoted. The
/// value is read as a list of identifiers either way; this keeps `current_setting` as a
/// `SET search_path TO ...` would show it.
fn path_element(schema: &str) -> String {
    let plain = schema
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        schema.to_string()
    } else {
        quote_ident(schema)
    }
}

/// The settings a session logged in with, as one comparable text.
pub(super) fn settings_key(options: &[(String, String)]) -> String {
    let mut key = String::with_capacity(options.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (k, v) in options {
        key.push_str(k);
        key.push('=');
        key.push_str(v);
        key.push(';');
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_path_elements_are_quoted_only_when_needed() {
        assert_eq!(path_element("public"), "public");
        assert_eq!(path_element("alice_2"), "alice_2");
        assert_eq!(path_element("my-org"), "\"my-org\"");
        assert_eq!(path_element("Alice"), "\"Alice\"");
        assert_eq!(path_element("2x"), "\"2x\"");
        assert_eq!(path_element("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn session_debug_hides_the_password() {
        let s = SqlSession {
            username: "alice".into(),
            database: "db".into(),
            schema: "public".into(),
            role: "r".into(),
            password: "canary-pass-123".into(),
            level: ApiKeyType::Regular,
            statement_timeout: None,
        };
        assert!(!format!("{s:?}").contains("canary-pass-123"));
    }
}
