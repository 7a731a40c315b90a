//! Creating a user: registry row, database (a copy of the template), roles, schema, master and
//! default keys.

use std::sync::Arc;

use chrono::Utc;

use super::Store;
use super::accounts::{create_database_from_template, org_database, setup_database};
use super::grants_json::{default_grants, master_grants};
use super::records::{DEFAULT_NAME, MASTER_NAME, UserRecord};
use crate::error::EmulatorError;
use crate::ident::{quote_ident, quote_literal};
use crate::names::*;
use crate::pg::cluster::random_hex;

impl Store {
    /// Creates the user (and its organization database) unless it exists; returns it.
    pub(crate) async fn ensure_user(
        &self,
        username: &str,
        org: Option<&str>,
    ) -> Result<Arc<UserRecord>, EmulatorError> {
        validate_name("user", username)?;
        if let Some(o) = org {
            validate_name("organization", o)?;
        }
        let _guard = self.write.lock().await;
        let reg = self.server.connect_superuser(REGISTRY_DB).await?;
        let existing = reg
            .query_opt(
                "SELECT org FROM public.users WHERE username = $1",
                &[&username],
            )
            .await?;
        if let Some(row) = existing {
            let known_org: Option<String> = row.get(0);
            if known_org.as_deref() != org {
                return Err(EmulatorError::Config(format!(
                    "user `{username}` already exists {} in the data directory",
                    match &known_org {
                        Some(o) => format!("in organization `{o}`"),
                        None => "as an individual user".to_owned(),
                    }
                )));
            }
        } else {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let database = match org {
                Some(o) => {
                    let org_db: Option<String> = reg
                        .query_opt(
                            "SELECT database FROM public.users WHERE org = $1 LIMIT 1",
                            &[&o],
                        )
                        .await?
                        .map(|r| r.get(0));
                    org_db.unwrap_or_else(|| org_database(o))
                }
                None => format!("cartodb_user_{id}_db"),
            };
            let schema = if org.is_some() { username } else { "public" };
            reg.execute(
                "INSERT INTO public.users (username, id, org, database, schema, owner_role, owner_password, public_role, public_password)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &username,
                    &id,
                    &org,
                    &database,
                    &schema,
                    &format!("cartodb_user_{id}"),
                    &random_hex(20),
                    &format!("cartodb_publicuser_{id}"),
                    &random_hex(20),
                ],
            )
            .await?;
        }
        if let Some(o) = org {
            self.claim_org(&reg, o, username).await?;
        }
        let row = reg
            .query_one(
                "SELECT username, id, org, database, schema, owner_role, owner_password, public_role, public_password FROM public.users WHERE username = $1",
                &[&username],
            )
            .await?;
        let user = UserRecord {
            username: row.get(0),
            id: row.get(1),
            org: row.get(2),
            database: row.get(3),
            schema: row.get(4),
            owner_role: row.get(5),
            public_role: row.get(7),
            postgis: false,
        };
        let owner_password: String = row.get(6);
        let public_password: String = row.get(8);
        self.provision(&user, &owner_password, &public_password)
            .await?;
        self.load_user(user).await?;
        Ok(self.user(username).expect("user just loaded"))
    }

    /// Idempotently creates the user's database (a copy of the template; an existing one is
    /// brought up to date by [`setup_database`]), roles, schema, and master and default keys.
    pub(super) async fn provision(
        &self,
        user: &UserRecord,
        owner_password: &str,
        public_password: &str,
    ) -> Result<(), EmulatorError> {
        let admin = self.server.connect_superuser("postgres").await?;
        let fresh = if user.org.is_none() {
            self.create_user_database(&admin, &user.database).await?
        } else {
            create_database_from_template(&admin, &user.database).await?
        };
        drop(admin);
        let mut db = self.server.connect_superuser(&user.database).await?;
        if !fresh {
            setup_database(&db).await?;
        }
        let tx = db.transaction().await?;
        let db_ident = quote_ident(&user.database);
        let owner = quote_ident(&user.owner_role);
        let public = quote_ident(&user.public_role);
        let schema = quote_ident(&user.schema);
        for (role, password) in [
            (&user.owner_role, owner_password),
            (&user.public_role, public_password),
        ] {
            let exists = tx
                .query_opt(
                    "SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1",
                    &[role],
                )
                .await?
                .is_some();
            let verb = if exists { "ALTER" } else { "CREATE" };
            tx.batch_execute(&format!(
                "{verb} ROLE {} NOSUPERUSER NOCREATEDB NOCREATEROLE LOGIN PASSWORD {}",
                quote_ident(role),
                quote_literal(password)
            ))
            .await?;
        }
        // No role-level settings (`ALTER ROLE ... SET`): every session of the SQL engine sets
        // its search path itself, and any role setting found is removed as a key's tampering.
        tx.batch_execute(&format!(
            "REVOKE ALL ON DATABASE {db_ident} FROM PUBLIC;
             GRANT CONNECT, TEMPORARY ON DATABASE {db_ident} TO {owner}, {public};
             ALTER ROLE {owner} RESET ALL;
             ALTER ROLE {public} RESET ALL;"
        ))
        .await?;
        if user.org.is_none() {
            tx.batch_execute(&format!("ALTER SCHEMA public OWNER TO {owner}"))
                .await?;
        } else {
            tx.batch_execute(&format!(
                "CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner}"
            ))
            .await?;
        }
        tx.batch_execute(&format!("GRANT USAGE ON SCHEMA {schema} TO {public}"))
            .await?;
        let now = Utc::now();
        let insert = format!(
            "INSERT INTO {}.api_keys (username, name, type, token, role, password, grants, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
             ON CONFLICT (username, name) DO UPDATE SET role = EXCLUDED.role, password = EXCLUDED.password",
            quote_ident(META_SCHEMA)
        );
        tx.execute(
            &insert,
            &[
                &user.username,
                &MASTER_NAME,
                &"master",
                &random_hex(20),
                &user.owner_role,
                &owner_password,
                &master_grants(),
                &now,
            ],
        )
        .await?;
        tx.execute(
            &insert,
            &[
                &user.username,
                &DEFAULT_NAME,
                &"default",
                &carto_core::token::DEFAULT_PUBLIC_TOKEN,
                &user.public_role,
                &public_password,
                &default_grants(),
                &now,
            ],
        )
        .await?;
        crate::sql::guard::install(&tx).await?;
        let refuse = self
            .refuse_key_code
            .load(std::sync::atomic::Ordering::SeqCst);
        crate::sql::guard::refuse_key_code(&tx, &user.public_role, refuse).await?;
        tx.commit().await?;
        // The user's first requests use this session rather than log in again.
        self.clients
            .lock()
            .expect("clients lock")
            .entry(user.database.clone())
            .or_insert_with(|| Arc::new(db));
        Ok(())
    }
}

/// CARTO usernames and organization names: lower-case letters, digits and `-`,
/// starting with a letter or digit, at most 63 characters.
pub(crate) fn validate_name(what: &str, name: &str) -> Result<(), EmulatorError> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.starts_with('-');
    if ok {
        Ok(())
    } else {
        Err(EmulatorError::Config(format!(
            "invalid {what} name `{name}`: use lower-case letters, digits and `-`"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("user", "alice").is_ok());
        assert!(validate_name("user", "a-b-1").is_ok());
        for bad in ["", "Alice", "a_b", "-a", "a b", "a\"b"] {
            assert!(validate_name("user", bad).is_err(), "{bad}");
        }
    }
}
