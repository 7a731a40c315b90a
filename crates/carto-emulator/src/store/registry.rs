//! Opening the registry, the in-memory cache of users and keys, shared connections.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use carto_core::Token;
use carto_core::models::ApiKeyType;
use tokio_postgres::Client;

use super::Store;
use super::records::{KeyRecord, UserRecord};
use crate::error::EmulatorError;
use crate::ident::quote_ident;
use crate::names::*;
use crate::pg::PgServer;

impl Store {
    /// Opens the registry (creating it on first use), loads every known user, and
    /// reconciles key roles with key rows.
    pub(crate) async fn open(server: Arc<PgServer>) -> Result<Self, EmulatorError> {
        let admin = server.connect_superuser("postgres").await?;
        create_database_if_missing(&admin, REGISTRY_DB).await?;
        // Only the emulator's superuser ever connects to the registry; the data services run
        // as a role of their own, never as a superuser.
        admin
            .batch_execute(&format!(
                "REVOKE ALL ON DATABASE {} FROM PUBLIC;
                 DO $do$ BEGIN
                     CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
                 EXCEPTION WHEN duplicate_object THEN NULL;
                 END $do$;",
                quote_ident(REGISTRY_DB),
                quote_ident(SERVICES_ROLE),
            ))
            .await?;
        let reg = server.connect_superuser(REGISTRY_DB).await?;
        reg.batch_execute(
            "CREATE TABLE IF NOT EXISTS public.users (
                username text PRIMARY KEY,
                id text NOT NULL UNIQUE,
                org text,
                database text NOT NULL,
                schema text NOT NULL,
                owner_role text NOT NULL,
                owner_password text NOT NULL,
                public_role text NOT NULL,
                public_password text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE IF NOT EXISTS public.orgs (
                name text PRIMARY KEY,
                owner text NOT NULL
            );
            REVOKE ALL ON SCHEMA public FROM PUBLIC;",
        )
        .await?;
        let store = Self {
            server,
            users: RwLock::new(BTreeMap::new()),
            keys: RwLock::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            write: tokio::sync::Mutex::new(()),
            user_locks: Mutex::new(HashMap::new()),
            refuse_key_code: std::sync::atomic::AtomicBool::new(false),
            spares: Mutex::new(Vec::new()),
            refilling: std::sync::atomic::AtomicBool::new(false),
            spares_wanted: std::sync::atomic::AtomicBool::new(false),
        };
        super::accounts::ensure_template(&store, &admin, &reg).await?;
        super::accounts::drop_old_spares(&admin).await?;
        let rows = reg
            .query(
                "SELECT username, id, org, database, schema, owner_role, public_role FROM public.users ORDER BY username",
                &[],
            )
            .await?;
        for row in rows {
            let user = UserRecord {
                username: row.get(0),
                id: row.get(1),
                org: row.get(2),
                database: row.get(3),
                schema: row.get(4),
                owner_role: row.get(5),
                public_role: row.get(6),
                postgis: false,
            };
            let db_exists = admin
                .query_opt(
                    "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
                    &[&user.database],
                )
                .await?
                .is_some();
            if !db_exists {
                // Registered but never provisioned (killed in between): provisioned
                // again when configured.
                continue;
            }
            store.load_user(user).await?;
        }
        store.reconcile().await?;
        Ok(store)
    }

    /// The PostgreSQL server.
    pub(crate) fn server(&self) -> &PgServer {
        &self.server
    }

    /// A user by name.
    pub(crate) fn user(&self, username: &str) -> Option<Arc<UserRecord>> {
        self.users
            .read()
            .expect("users lock")
            .get(username)
            .cloned()
    }

    /// All users, by name.
    pub(crate) fn users(&self) -> Vec<Arc<UserRecord>> {
        self.users
            .read()
            .expect("users lock")
            .values()
            .cloned()
            .collect()
    }

    /// The user's keys (cached copy).
    pub(crate) fn keys(&self, username: &str) -> Vec<KeyRecord> {
        self.keys
            .read()
            .expect("keys lock")
            .get(username)
            .cloned()
            .unwrap_or_default()
    }

    /// The user's key with this token (constant-time comparisons).
    pub(crate) fn key_by_token(&self, username: &str, token: &Token) -> Option<KeyRecord> {
        let keys = self.keys.read().expect("keys lock");
        let mut found = None;
        for k in keys.get(username).into_iter().flatten() {
            // Compare with every key, keep the match: no early exit on a hit.
            if &k.token == token {
                found = Some(k.clone());
            }
        }
        found
    }

    /// What the SQL API needs of the user's key with this token, read under the cache's lock
    /// without copying the key (constant-time comparisons, as [`key_by_token`]): a key
    /// revoked or regenerated is gone from the cache, so it stops working at once.
    ///
    /// [`key_by_token`]: Self::key_by_token
    pub(crate) fn with_key_by_token<T>(
        &self,
        username: &str,
        token: &Token,
        f: impl FnOnce(&KeyRecord) -> T,
    ) -> Option<T> {
        let keys = self.keys.read().expect("keys lock");
        let mut found = None;
        for k in keys.get(username).into_iter().flatten() {
            // Compare with every key, keep the match: no early exit on a hit.
            if &k.token == token {
                found = Some(k);
            }
        }
        found.map(f)
    }

    /// Whether the user has a master key.
    pub(crate) fn has_master_key(&self, username: &str) -> bool {
        self.keys
            .read()
            .expect("keys lock")
            .get(username)
            .is_some_and(|keys| keys.iter().any(|k| k.key_type == ApiKeyType::Master))
    }

    /// The user's key with this name.
    pub(crate) fn key_by_name(&self, username: &str, name: &str) -> Option<KeyRecord> {
        self.keys
            .read()
            .expect("keys lock")
            .get(username)?
            .iter()
            .find(|k| k.name == name)
            .cloned()
    }

    /// The role and password of the user's master key (without copying the rest of it).
    pub(crate) fn master_login(&self, username: &str) -> Option<(String, String)> {
        self.keys
            .read()
            .expect("keys lock")
            .get(username)?
            .iter()
            .find(|k| k.key_type == ApiKeyType::Master)
            .map(|k| (k.role.clone(), k.password.clone()))
    }

    /// The user's master key.
    pub(crate) fn master_key(&self, username: &str) -> Option<KeyRecord> {
        self.keys
            .read()
            .expect("keys lock")
            .get(username)?
            .iter()
            .find(|k| k.key_type == ApiKeyType::Master)
            .cloned()
    }

    /// A shared superuser connection to a database (reconnects when closed).
    pub(crate) async fn client(&self, database: &str) -> Result<Arc<Client>, EmulatorError> {
        if let Some(c) = self.clients.lock().expect("clients lock").get(database) {
            if !c.is_closed() {
                return Ok(c.clone());
            }
        }
        let c = Arc::new(self.server.connect_superuser(database).await?);
        self.clients
            .lock()
            .expect("clients lock")
            .insert(database.to_owned(), c.clone());
        Ok(c)
    }

    /// Loads a provisioned user and its keys into the cache.
    pub(super) async fn load_user(&self, mut user: UserRecord) -> Result<(), EmulatorError> {
        let db = self.client(&user.database).await?;
        user.postgis = db
            .query_opt(
                "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'postgis'",
                &[],
            )
            .await?
            .is_some();
        let rows = db
            .query(
                &format!(
                    "SELECT name, type, token, role, password, grants, created_at, updated_at
                     FROM {}.api_keys WHERE username = $1",
                    quote_ident(META_SCHEMA)
                ),
                &[&user.username],
            )
            .await?;
        let keys = rows
            .into_iter()
            .filter_map(|r| {
                Some(KeyRecord {
                    username: user.username.clone(),
                    name: r.get(0),
                    key_type: r.get::<_, &str>(1).parse::<ApiKeyType>().ok()?,
                    token: Token::new(r.get::<_, String>(2)),
                    role: r.get(3),
                    password: r.get(4),
                    grants: r.get(5),
                    created_at: r.get(6),
                    updated_at: r.get(7),
                })
            })
            .collect();
        self.keys
            .write()
            .expect("keys lock")
            .insert(user.username.clone(), keys);
        self.users
            .write()
            .expect("users lock")
            .insert(user.username.clone(), Arc::new(user));
        Ok(())
    }
}

pub(super) async fn create_database_if_missing(
    admin: &Client,
    name: &str,
) -> Result<(), EmulatorError> {
    create_database(admin, name, "ENCODING 'UTF8' TEMPLATE template0")
        .await
        .map(drop)
}

/// Makes database `name` (`how`: its `TEMPLATE` and other options) unless it exists; `false`
/// when it did (made meanwhile by another emulator on the same server included).
pub(super) async fn create_database(
    admin: &Client,
    name: &str,
    how: &str,
) -> Result<bool, EmulatorError> {
    let exists = admin
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
            &[&name],
        )
        .await?
        .is_some();
    if exists {
        return Ok(false);
    }
    match admin
        .batch_execute(&format!("CREATE DATABASE {} {how}", quote_ident(name)))
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}
