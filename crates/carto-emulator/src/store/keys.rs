//! The lifecycle of regular keys (create, delete) and new tokens for any key.

use carto_core::Token;
use carto_core::models::{ApiKeyType, NewApiKey};
use chrono::Utc;
use serde_json::Value;

use super::Store;
use super::records::{DEFAULT_NAME, KeyError, KeyRecord, MASTER_NAME, UserRecord};
use crate::grants::{self};
use crate::ident::{qualified, quote_ident, quote_literal};
use crate::names::*;
use crate::pg::cluster::random_hex;

/// Test knob: milliseconds the key-creation transaction waits before committing
/// (lets a test kill the emulator mid-creation).
pub(crate) const KEY_CREATION_DELAY_ENV: &str = "CARTO_EMULATOR_KEY_CREATION_DELAY_MS";

/// CARTO's list ordering rank of a key type (higher first).
pub(crate) fn key_type_rank(t: ApiKeyType) -> u8 {
    match t {
        ApiKeyType::Master => 3,
        ApiKeyType::Regular => 1,
        _ => 2,
    }
}

impl Store {
    /// Creates a regular key: validation, then role, grants and row in one
    /// transaction.
    pub(crate) async fn create_key(
        &self,
        user: &UserRecord,
        name: Option<&Value>,
        grants: Option<&Value>,
    ) -> Result<KeyRecord, KeyError> {
        let _guard = self.write.lock().await;
        let name_text = match name {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => String::new(),
        };
        let mut errors = Vec::new();
        if name_text.trim().is_empty() {
            errors.push("Name can't be blank".to_owned());
        } else if self.key_by_name(&user.username, &name_text).is_some() {
            errors.push("Name has already been taken".to_owned());
        }
        // CARTO's `name` column is `varchar(255)`: said the way Rails' length validator says it.
        if name_text.chars().count() > NewApiKey::MAX_NAME_CHARS {
            errors.push(format!(
                "Name is too long (maximum is {} characters)",
                NewApiKey::MAX_NAME_CHARS
            ));
        }
        let parsed = grants::validate(grants, &mut errors);
        if name_text == MASTER_NAME || name_text == DEFAULT_NAME {
            errors.push("Name api_key name cannot be Master nor Default public".to_owned());
        }
        let db = self.client(&user.database).await?;
        if let Some(req) = &parsed {
            if !self.user_has_table_permissions(&db, user, req).await? {
                errors.push("Grants can only grant table permissions you have".to_owned());
            }
            if !self.user_has_schema_permissions(&db, user, req).await? {
                errors.push("Grants can only grant schema permissions you have".to_owned());
            }
        }
        if !errors.is_empty() {
            return Err(KeyError::Validation(errors));
        }
        let req = parsed.expect("grants valid when no error");
        if req.lacks_apis_array() {
            return Err(KeyError::Unprocessable(grants::APIS_ARRAY_NEEDED));
        }
        let role = format!("{KEY_ROLE_PREFIX}{}", random_hex(16));
        let password = random_hex(20);
        let token = new_regular_token();
        let now = Utc::now();
        let role_ident = quote_ident(&role);
        let mut conn = self.server.connect_superuser(&user.database).await?;
        let tx = conn.transaction().await?;
        tx.batch_execute(&format!(
            "CREATE ROLE {role_ident} NOSUPERUSER NOCREATEDB NOCREATEROLE LOGIN PASSWORD {pw};
             GRANT {public} TO {role_ident};
             GRANT {role_ident} TO {owner};",
            pw = quote_literal(&password),
            public = quote_ident(&user.public_role),
            owner = quote_ident(&user.owner_role),
        ))
        .await?;
        for t in &req.tables {
            if t.permissions.is_empty() {
                continue;
            }
            let table = qualified(&t.schema, &t.name);
            let perms: Vec<String> = t.permissions.iter().map(|p| p.to_uppercase()).collect();
            tx.batch_execute(&format!(
                "GRANT {} ON TABLE {table} TO {role_ident}; GRANT USAGE ON SCHEMA {} TO {role_ident};",
                perms.join(", "),
                quote_ident(&t.schema)
            ))
            .await?;
            let seqs = tx
                .query(
                    "SELECT n.nspname::text, s.relname::text FROM pg_catalog.pg_depend d
                     JOIN pg_catalog.pg_class s ON s.oid = d.objid AND s.relkind = 'S'
                     JOIN pg_catalog.pg_namespace n ON n.oid = s.relnamespace
                     WHERE d.refobjid = pg_catalog.to_regclass($1) AND d.deptype IN ('a', 'i')",
                    &[&table],
                )
                .await?;
            for s in seqs {
                tx.batch_execute(&format!(
                    "GRANT USAGE, SELECT ON SEQUENCE {} TO {role_ident}",
                    qualified(s.get(0), s.get(1))
                ))
                .await?;
            }
        }
        for s in &req.schemas {
            if s.permissions.iter().any(|p| p == "create") {
                tx.batch_execute(&format!(
                    "GRANT CREATE ON SCHEMA {} TO {role_ident}",
                    quote_ident(&s.name)
                ))
                .await?;
            }
        }
        tx.execute(
            &format!(
                "INSERT INTO {}.api_keys (username, name, type, token, role, password, grants, created_at, updated_at)
                 VALUES ($1, $2, 'regular', $3, $4, $5, $6, $7, $7)",
                quote_ident(META_SCHEMA)
            ),
            &[
                &user.username,
                &name_text,
                &token.expose_secret(),
                &role,
                &password,
                &req.stored,
                &now,
            ],
        )
        .await?;
        if let Some(ms) = std::env::var(KEY_CREATION_DELAY_ENV)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
        {
            tx.execute("SELECT pg_catalog.pg_sleep($1)", &[&(ms / 1000.0)])
                .await?;
        }
        tx.commit().await?;
        let key = KeyRecord {
            username: user.username.clone(),
            name: name_text,
            key_type: ApiKeyType::Regular,
            token,
            role,
            password,
            grants: req.stored,
            created_at: now,
            updated_at: now,
        };
        self.keys
            .write()
            .expect("keys lock")
            .entry(user.username.clone())
            .or_default()
            .push(key.clone());
        Ok(key)
    }

    /// Deletes a regular key: reassigns and drops what it owns, drops its role and its
    /// row, in one transaction.
    pub(crate) async fn delete_key(
        &self,
        user: &UserRecord,
        name: &str,
    ) -> Result<KeyRecord, KeyError> {
        let _guard = self.write.lock().await;
        let key = self
            .key_by_name(&user.username, name)
            .ok_or_else(|| KeyError::NotFound(name.to_owned()))?;
        if key.key_type != ApiKeyType::Regular {
            return Err(KeyError::Forbidden);
        }
        let role = quote_ident(&key.role);
        let mut conn = self.server.connect_superuser(&user.database).await?;
        let tx = conn.transaction().await?;
        tx.batch_execute(&format!(
            "REASSIGN OWNED BY {role} TO {owner}; DROP OWNED BY {role}; DROP ROLE IF EXISTS {role};",
            owner = quote_ident(&user.owner_role)
        ))
        .await?;
        tx.execute(
            &format!(
                "DELETE FROM {}.api_keys WHERE username = $1 AND name = $2",
                quote_ident(META_SCHEMA)
            ),
            &[&user.username, &key.name],
        )
        .await?;
        tx.commit().await?;
        // Close sessions still logged in as the dropped role.
        let _ = conn
            .execute(
                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE usename = $1",
                &[&key.role],
            )
            .await;
        if let Some(keys) = self
            .keys
            .write()
            .expect("keys lock")
            .get_mut(&user.username)
        {
            keys.retain(|k| k.name != key.name);
        }
        Ok(key)
    }

    /// Gives a key a new token (regular: 22 url-safe characters; master: 40 hex).
    pub(crate) async fn regenerate_key(
        &self,
        user: &UserRecord,
        name: &str,
    ) -> Result<KeyRecord, KeyError> {
        let _guard = self.write.lock().await;
        let key = self
            .key_by_name(&user.username, name)
            .ok_or_else(|| KeyError::NotFound(name.to_owned()))?;
        let token = match key.key_type {
            ApiKeyType::Regular => new_regular_token(),
            ApiKeyType::Master => Token::new(random_hex(20)),
            _ => return Err(KeyError::Forbidden),
        };
        let now = Utc::now();
        let db = self.client(&user.database).await?;
        db.execute(
            &format!(
                "UPDATE {}.api_keys SET token = $3, updated_at = $4 WHERE username = $1 AND name = $2",
                quote_ident(META_SCHEMA)
            ),
            &[&user.username, &key.name, &token.expose_secret(), &now],
        )
        .await?;
        let mut keys = self.keys.write().expect("keys lock");
        let entry = keys
            .get_mut(&user.username)
            .and_then(|ks| ks.iter_mut().find(|k| k.name == key.name))
            .ok_or_else(|| KeyError::NotFound(name.to_owned()))?;
        entry.token = token;
        entry.updated_at = now;
        Ok(entry.clone())
    }
}

/// `SecureRandom.urlsafe_base64`: 16 random bytes, 22 characters `[A-Za-z0-9_-]`.
pub(super) fn new_regular_token() -> Token {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes[..]);
    Token::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_tokens_look_like_carto_ones() {
        let t = new_regular_token();
        assert_eq!(t.expose_secret().len(), 22);
        assert!(
            t.expose_secret()
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(t, new_regular_token());
    }
}
