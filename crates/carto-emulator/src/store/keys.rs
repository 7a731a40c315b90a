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
        let _guard = self.user_lock(&user.username).await;
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

    /// Deletes a regular key. The key is refused from the start (out of the cache, its role
    /// unable to log in, its sessions ended, so that no lock of its own stalls the rest); then,
    /// in one transaction, what it owns is neutralised and reassigned to the owner role, its
    /// role and its row are dropped. The superuser waits for no lock longer than
    /// [`SUPERUSER_LOCK_TIMEOUT_MS`](crate::sql::SUPERUSER_LOCK_TIMEOUT_MS); on failure the key
    /// is back as it was.
    pub(crate) async fn delete_key(
        &self,
        user: &UserRecord,
        name: &str,
    ) -> Result<KeyRecord, KeyError> {
        let _guard = self.user_lock(&user.username).await;
        let key = self
            .key_by_name(&user.username, name)
            .ok_or_else(|| KeyError::NotFound(name.to_owned()))?;
        if key.key_type != ApiKeyType::Regular {
            return Err(KeyError::Forbidden);
        }
        self.uncache_key(&user.username, &key.name);
        match self.drop_key_role(user, &key).await {
            Ok(()) => Ok(key),
            Err(e) => {
                self.keys
                    .write()
                    .expect("keys lock")
                    .entry(user.username.clone())
                    .or_default()
                    .push(key);
                Err(e)
            }
        }
    }

    fn uncache_key(&self, username: &str, name: &str) {
        if let Some(keys) = self.keys.write().expect("keys lock").get_mut(username) {
            keys.retain(|k| k.name != name);
        }
    }

    /// The SQL part of [`delete_key`](Self::delete_key).
    async fn drop_key_role(&self, user: &UserRecord, key: &KeyRecord) -> Result<(), KeyError> {
        self.drop_role(user, &key.role, Some(&key.name)).await
    }

    /// Drops a key's (or an API access token's) role: no new login, its sessions ended, then
    /// in one transaction what it owns neutralised and given to the owner role, the role
    /// dropped, and the key's row (`key_name`) deleted. On failure the role may log in again.
    pub(super) async fn drop_role(
        &self,
        user: &UserRecord,
        key_role: &str,
        key_name: Option<&str>,
    ) -> Result<(), KeyError> {
        let role = quote_ident(key_role);
        let mut conn = self.server.connect_superuser(&user.database).await?;
        // No new login, then the key's sessions end (and their locks with them).
        conn.batch_execute(&format!(
            "SET lock_timeout = '{}ms'; ALTER ROLE {role} NOLOGIN",
            crate::sql::SUPERUSER_LOCK_TIMEOUT_MS
        ))
        .await?;
        conn.execute(
            "SELECT pg_catalog.pg_terminate_backend(pid, $2) FROM pg_catalog.pg_stat_activity WHERE usename = $1",
            &[&key_role, &(crate::sql::SUPERUSER_LOCK_TIMEOUT_MS as i64)],
        )
        .await?;
        let result = async {
            let tx = conn.transaction().await?;
            tx.batch_execute(&format!(
                "{neutralise}
                 REASSIGN OWNED BY {role} TO {owner}; DROP OWNED BY {role}; DROP ROLE IF EXISTS {role};",
                neutralise = neutralise_sql(key_role),
                owner = quote_ident(&user.owner_role)
            ))
            .await?;
            if let Some(name) = key_name {
                tx.execute(
                    &format!(
                        "DELETE FROM {}.api_keys WHERE username = $1 AND name = $2",
                        quote_ident(META_SCHEMA)
                    ),
                    &[&user.username, &name],
                )
                .await?;
            }
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            // The key stays: it may log in again.
            let _ = conn
                .batch_execute(&format!("ALTER ROLE {role} LOGIN"))
                .await;
            return Err(e.into());
        }
        Ok(())
    }

    /// Gives a key a new token (regular: 22 url-safe characters; master: 40 hex).
    pub(crate) async fn regenerate_key(
        &self,
        user: &UserRecord,
        name: &str,
    ) -> Result<KeyRecord, KeyError> {
        let _guard = self.user_lock(&user.username).await;
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

/// What a deleted key's objects must lose before they are given to the owner role (in this
/// database), so that none acts with the owner's privileges for anyone else: routines run with
/// their caller's rights (`SECURITY INVOKER`), views with their reader's
/// (`security_invoker`), rules on its relations are dropped (they run as the relation's
/// owner), and every grant on its relations, columns and routines is revoked (`PUBLIC`'s
/// default `EXECUTE` included). Tables, their data, views and routines stay, for the owner.
fn neutralise_sql(role: &str) -> String {
    format!(
        "DO $neutralise$
         DECLARE
             key_oid pg_catalog.oid := pg_catalog.to_regrole({role})::pg_catalog.oid;
             r record;
         BEGIN
             IF key_oid IS NULL THEN
                 RETURN;
             END IF;
             FOR r IN SELECT p.oid::pg_catalog.regprocedure::pg_catalog.text AS obj, p.prokind
                      FROM pg_catalog.pg_proc p WHERE p.proowner OPERATOR(pg_catalog.=) key_oid LOOP
                 IF r.prokind OPERATOR(pg_catalog.<>) 'a' THEN
                     EXECUTE pg_catalog.format('ALTER ROUTINE %s SECURITY INVOKER', r.obj);
                 END IF;
                 EXECUTE pg_catalog.format('REVOKE ALL ON ROUTINE %s FROM PUBLIC', r.obj);
             END LOOP;
             FOR r IN SELECT DISTINCT p.oid::pg_catalog.regprocedure::pg_catalog.text AS obj, a.grantee
                      FROM pg_catalog.pg_proc p CROSS JOIN LATERAL pg_catalog.aclexplode(p.proacl) a
                      WHERE p.proowner OPERATOR(pg_catalog.=) key_oid
                      AND a.grantee OPERATOR(pg_catalog.<>) key_oid AND a.grantee OPERATOR(pg_catalog.<>) 0 LOOP
                 EXECUTE pg_catalog.format('REVOKE ALL ON ROUTINE %s FROM %s', r.obj,
                     r.grantee::pg_catalog.regrole::pg_catalog.text);
             END LOOP;
             FOR r IN SELECT DISTINCT c.oid::pg_catalog.regclass::pg_catalog.text AS obj, c.relkind,
                          CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                               ELSE a.grantee::pg_catalog.regrole::pg_catalog.text END AS grantee
                      FROM pg_catalog.pg_class c CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) a
                      WHERE c.relowner OPERATOR(pg_catalog.=) key_oid
                      AND a.grantee OPERATOR(pg_catalog.<>) key_oid LOOP
                 EXECUTE pg_catalog.format('REVOKE ALL ON %s %s FROM %s',
                     CASE WHEN r.relkind OPERATOR(pg_catalog.=) 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
                     r.obj, r.grantee);
             END LOOP;
             FOR r IN SELECT DISTINCT c.oid::pg_catalog.regclass::pg_catalog.text AS obj,
                          pg_catalog.quote_ident(t.attname) AS col,
                          CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC'
                               ELSE a.grantee::pg_catalog.regrole::pg_catalog.text END AS grantee
                      FROM pg_catalog.pg_class c
                      JOIN pg_catalog.pg_attribute t ON t.attrelid OPERATOR(pg_catalog.=) c.oid
                      CROSS JOIN LATERAL pg_catalog.aclexplode(t.attacl) a
                      WHERE c.relowner OPERATOR(pg_catalog.=) key_oid
                      AND a.grantee OPERATOR(pg_catalog.<>) key_oid LOOP
                 EXECUTE pg_catalog.format('REVOKE ALL (%s) ON TABLE %s FROM %s', r.col, r.obj, r.grantee);
             END LOOP;
             FOR r IN SELECT c.oid::pg_catalog.regclass::pg_catalog.text AS obj
                      FROM pg_catalog.pg_class c
                      WHERE c.relowner OPERATOR(pg_catalog.=) key_oid AND c.relkind OPERATOR(pg_catalog.=) 'v'
                      AND pg_catalog.current_setting('server_version_num')::pg_catalog.int4 OPERATOR(pg_catalog.>=) 150000 LOOP
                 EXECUTE pg_catalog.format('ALTER VIEW %s SET (security_invoker = true)', r.obj);
             END LOOP;
             FOR r IN SELECT pg_catalog.quote_ident(w.rulename) AS rule, c.oid::pg_catalog.regclass::pg_catalog.text AS obj
                      FROM pg_catalog.pg_rewrite w JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) w.ev_class
                      WHERE c.relowner OPERATOR(pg_catalog.=) key_oid
                      AND w.rulename OPERATOR(pg_catalog.<>) '_RETURN' LOOP
                 EXECUTE pg_catalog.format('DROP RULE %s ON %s', r.rule, r.obj);
             END LOOP;
         END
         $neutralise$;",
        role = quote_literal(role)
    )
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
