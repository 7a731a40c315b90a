//! Users, organizations and API keys, kept in PostgreSQL.
//!
//! * The registry of users lives in the `carto_emulator` database (table `users`).
//! * Each user database (one per individual user, one per organization) has a schema
//!   `carto_emulator_meta` (closed to every non-superuser) with the table `api_keys`.
//!   A regular key's row is written in the same transaction as its PostgreSQL role and
//!   grants, so a crash leaves either both or neither; a reconciliation pass at startup
//!   removes anything that a foreign process (or an older version) left half-made.
//!
//! Everything is also cached in memory for request routing; PostgreSQL is written
//! first, the cache after.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use carto_core::Token;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_postgres::Client;

use crate::error::EmulatorError;
use crate::geocoder;
use crate::grants::{self, RequestedGrants};
use crate::ident::{qualified, quote_ident, quote_literal};
use crate::pg::PgServer;
use crate::pg::cluster::random_hex;

/// The database holding the user registry.
pub(crate) const REGISTRY_DB: &str = "carto_emulator";
/// The schema, in every user database, holding the API keys.
pub(crate) const META_SCHEMA: &str = "carto_emulator_meta";
/// The role owning the data-service functions and their tables (never a superuser).
pub(crate) const SERVICES_ROLE: &str = "carto_emulator_services";
/// Prefix of the PostgreSQL roles of regular keys.
pub(crate) const KEY_ROLE_PREFIX: &str = "carto_role_";

/// Name of the master key.
pub const MASTER_NAME: &str = "Master";
/// Name of the Default public key.
pub const DEFAULT_NAME: &str = "Default public";

/// The type of an API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// The master key: the user's owner role.
    Master,
    /// The Default public key: the user's public role.
    Default,
    /// A regular key: its own role.
    Regular,
}

impl KeyType {
    /// `master`, `default` or `regular`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Master => "master",
            KeyType::Default => "default",
            KeyType::Regular => "regular",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "master" => Some(KeyType::Master),
            "default" => Some(KeyType::Default),
            "regular" => Some(KeyType::Regular),
            _ => None,
        }
    }

    /// CARTO's list ordering rank (higher first).
    pub(crate) fn rank(self) -> u8 {
        match self {
            KeyType::Master => 3,
            KeyType::Default => 2,
            KeyType::Regular => 1,
        }
    }
}

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
    pub key_type: KeyType,
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
    pub fn apis(&self) -> Vec<String> {
        section(&self.grants, "apis", "apis")
    }

    /// The data services of the key.
    pub fn services(&self) -> Vec<String> {
        section(&self.grants, "dataservices", "services")
    }
}

fn section(grants: &Value, kind: &str, field: &str) -> Vec<String> {
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

/// Test knob: milliseconds the key-creation transaction waits before committing
/// (lets a test kill the emulator mid-creation).
pub(crate) const KEY_CREATION_DELAY_ENV: &str = "CARTO_EMULATOR_KEY_CREATION_DELAY_MS";

/// Users and keys, in PostgreSQL and cached.
pub(crate) struct Store {
    server: Arc<PgServer>,
    users: RwLock<BTreeMap<String, Arc<UserRecord>>>,
    keys: RwLock<HashMap<String, Vec<KeyRecord>>>,
    clients: Mutex<HashMap<String, Arc<Client>>>,
    write: tokio::sync::Mutex<()>,
}

impl Store {
    /// Opens the registry (creating it on first use), loads every known user, and
    /// reconciles key roles with key rows.
    pub async fn open(server: Arc<PgServer>) -> Result<Self, EmulatorError> {
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
            REVOKE ALL ON SCHEMA public FROM PUBLIC;",
        )
        .await?;
        let store = Self {
            server,
            users: RwLock::new(BTreeMap::new()),
            keys: RwLock::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            write: tokio::sync::Mutex::new(()),
        };
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
    pub fn server(&self) -> &PgServer {
        &self.server
    }

    /// A user by name.
    pub fn user(&self, username: &str) -> Option<Arc<UserRecord>> {
        self.users
            .read()
            .expect("users lock")
            .get(username)
            .cloned()
    }

    /// All users, by name.
    pub fn users(&self) -> Vec<Arc<UserRecord>> {
        self.users
            .read()
            .expect("users lock")
            .values()
            .cloned()
            .collect()
    }

    /// The user's keys (cached copy).
    pub fn keys(&self, username: &str) -> Vec<KeyRecord> {
        self.keys
            .read()
            .expect("keys lock")
            .get(username)
            .cloned()
            .unwrap_or_default()
    }

    /// The user's key with this token (constant-time comparisons).
    pub fn key_by_token(&self, username: &str, token: &Token) -> Option<KeyRecord> {
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

    /// The user's key with this name.
    pub fn key_by_name(&self, username: &str, name: &str) -> Option<KeyRecord> {
        self.keys
            .read()
            .expect("keys lock")
            .get(username)?
            .iter()
            .find(|k| k.name == name)
            .cloned()
    }

    /// The user's master key.
    pub fn master_key(&self, username: &str) -> Option<KeyRecord> {
        self.keys
            .read()
            .expect("keys lock")
            .get(username)?
            .iter()
            .find(|k| k.key_type == KeyType::Master)
            .cloned()
    }

    /// A shared superuser connection to a database (reconnects when closed).
    pub async fn client(&self, database: &str) -> Result<Arc<Client>, EmulatorError> {
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

    /// Creates the user (and its organization database) unless it exists; returns it.
    pub async fn ensure_user(
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
                    org_db.unwrap_or_else(|| format!("cartodb_org_{}_db", o.replace('-', "_")))
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

    /// Idempotently creates the user's database, roles, schema, key table, master and
    /// default keys, PostGIS and the geocoder.
    async fn provision(
        &self,
        user: &UserRecord,
        owner_password: &str,
        public_password: &str,
    ) -> Result<(), EmulatorError> {
        let admin = self.server.connect_superuser("postgres").await?;
        create_database_if_missing(&admin, &user.database).await?;
        let mut db = self.server.connect_superuser(&user.database).await?;
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
             REVOKE CREATE ON SCHEMA public FROM PUBLIC;
             ALTER ROLE {owner} RESET ALL;
             ALTER ROLE {public} RESET ALL;
             CREATE SCHEMA IF NOT EXISTS {meta};
             REVOKE ALL ON SCHEMA {meta} FROM PUBLIC;
             CREATE TABLE IF NOT EXISTS {meta}.api_keys (
                 username text NOT NULL,
                 name text NOT NULL,
                 type text NOT NULL CHECK (type IN ('master', 'default', 'regular')),
                 token text NOT NULL,
                 role text NOT NULL,
                 password text NOT NULL,
                 grants jsonb NOT NULL,
                 created_at timestamptz NOT NULL,
                 updated_at timestamptz NOT NULL,
                 PRIMARY KEY (username, name),
                 UNIQUE (username, token)
             );",
            meta = quote_ident(META_SCHEMA),
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
        tx.commit().await?;
        if geocoder::install_postgis(&db).await? {
            geocoder::install(&db).await?;
        }
        Ok(())
    }

    /// Loads a provisioned user and its keys into the cache.
    async fn load_user(&self, mut user: UserRecord) -> Result<(), EmulatorError> {
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
                    key_type: KeyType::parse(r.get(1))?,
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

    /// Removes key rows whose role is gone and key roles that no row references.
    async fn reconcile(&self) -> Result<(), EmulatorError> {
        let users = self.users();
        let mut databases: Vec<String> = users.iter().map(|u| u.database.clone()).collect();
        databases.sort();
        databases.dedup();
        let admin = self.server.connect_superuser("postgres").await?;
        let roles: Vec<String> = admin
            .query(
                "SELECT rolname::text FROM pg_catalog.pg_roles WHERE pg_catalog.starts_with(rolname, $1)",
                &[&KEY_ROLE_PREFIX],
            )
            .await?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        let mut referenced = Vec::new();
        for database in &databases {
            let db = self.client(database).await?;
            let rows = db
                .query(
                    &format!(
                        "DELETE FROM {}.api_keys k WHERE type = 'regular'
                         AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = k.role)
                         RETURNING username",
                        quote_ident(META_SCHEMA)
                    ),
                    &[],
                )
                .await?;
            for r in rows {
                let username: String = r.get(0);
                tracing::warn!("removed a key of `{username}` whose role was missing");
            }
            let rows = db
                .query(
                    &format!("SELECT role FROM {}.api_keys", quote_ident(META_SCHEMA)),
                    &[],
                )
                .await?;
            referenced.extend(rows.into_iter().map(|r| r.get::<_, String>(0)));
        }
        let orphans: Vec<&String> = roles.iter().filter(|r| !referenced.contains(r)).collect();
        for role in orphans {
            let ident = quote_ident(role);
            for database in &databases {
                let owner = users
                    .iter()
                    .find(|u| &u.database == database)
                    .map(|u| u.owner_role.clone())
                    .unwrap_or_else(|| self.server.superuser().to_owned());
                let db = self.client(database).await?;
                db.batch_execute(&format!(
                    "REASSIGN OWNED BY {ident} TO {}; DROP OWNED BY {ident};",
                    quote_ident(&owner)
                ))
                .await?;
            }
            admin
                .batch_execute(&format!("DROP ROLE IF EXISTS {ident}"))
                .await?;
            tracing::warn!("dropped an API key role that no key referenced");
        }
        for user in users {
            self.load_user((*user).clone()).await?;
        }
        Ok(())
    }

    /// Creates a regular key: validation, then role, grants and row in one
    /// transaction.
    pub async fn create_key(
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
            key_type: KeyType::Regular,
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

    async fn user_has_table_permissions(
        &self,
        db: &Client,
        user: &UserRecord,
        req: &RequestedGrants,
    ) -> Result<bool, KeyError> {
        for t in &req.tables {
            if t.permissions.is_empty() {
                continue;
            }
            if is_system_schema(&t.schema) {
                return Ok(false);
            }
            let perms: Vec<String> = t.permissions.clone();
            let row = db
                .query_one(
                    "SELECT c.oid IS NOT NULL AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
                        AND pg_catalog.has_schema_privilege($3::text::name, n.oid, 'USAGE')
                        AND (SELECT pg_catalog.bool_and(pg_catalog.has_table_privilege($3::text::name, c.oid, p)) FROM pg_catalog.unnest($4::text[]) p)
                     FROM (SELECT 1) one
                     LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $1
                     LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = $2",
                    &[&t.schema, &t.name, &user.owner_role, &perms],
                )
                .await?;
            if !row.get::<_, Option<bool>>(0).unwrap_or(false) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    async fn user_has_schema_permissions(
        &self,
        db: &Client,
        user: &UserRecord,
        req: &RequestedGrants,
    ) -> Result<bool, KeyError> {
        for s in &req.schemas {
            if s.permissions.is_empty() {
                continue;
            }
            if is_system_schema(&s.name) {
                return Ok(false);
            }
            let row = db
                .query_one(
                    "SELECT n.oid IS NOT NULL AND pg_catalog.has_schema_privilege($2::text::name, n.oid, 'CREATE')
                     FROM (SELECT 1) one LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $1",
                    &[&s.name, &user.owner_role],
                )
                .await?;
            if !row.get::<_, Option<bool>>(0).unwrap_or(false) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Deletes a regular key: reassigns and drops what it owns, drops its role and its
    /// row, in one transaction.
    pub async fn delete_key(&self, user: &UserRecord, name: &str) -> Result<KeyRecord, KeyError> {
        let _guard = self.write.lock().await;
        let key = self
            .key_by_name(&user.username, name)
            .ok_or_else(|| KeyError::NotFound(name.to_owned()))?;
        if key.key_type != KeyType::Regular {
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
    pub async fn regenerate_key(
        &self,
        user: &UserRecord,
        name: &str,
    ) -> Result<KeyRecord, KeyError> {
        let _guard = self.write.lock().await;
        let key = self
            .key_by_name(&user.username, name)
            .ok_or_else(|| KeyError::NotFound(name.to_owned()))?;
        let token = match key.key_type {
            KeyType::Regular => new_regular_token(),
            KeyType::Master => Token::new(random_hex(20)),
            KeyType::Default => return Err(KeyError::Forbidden),
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

    /// Grants as CARTO presents them (§3.2): re-derived, database grants read back
    /// from PostgreSQL for regular keys.
    pub async fn presented_grants(
        &self,
        user: &UserRecord,
        key: &KeyRecord,
    ) -> Result<Value, EmulatorError> {
        match key.key_type {
            KeyType::Master => Ok(master_grants()),
            KeyType::Default => Ok(default_grants()),
            KeyType::Regular => {
                let db = self.client(&user.database).await?;
                let tables = db
                    .query(
                        "SELECT tp.table_schema::text, tp.table_name::text,
                                pg_catalog.bool_or(pg_catalog.pg_get_userbyid(c.relowner) = $1) AS owner,
                                pg_catalog.array_agg(DISTINCT pg_catalog.lower(tp.privilege_type::text) ORDER BY pg_catalog.lower(tp.privilege_type::text))
                         FROM information_schema.table_privileges tp
                         JOIN pg_catalog.pg_namespace n ON n.nspname = tp.table_schema
                         JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = tp.table_name
                         WHERE tp.grantee = $1
                         GROUP BY 1, 2 ORDER BY 1, 2",
                        &[&key.role],
                    )
                    .await?;
                let tables: Vec<Value> = tables
                    .into_iter()
                    .map(|r| {
                        json!({
                            "schema": r.get::<_, String>(0),
                            "name": r.get::<_, String>(1),
                            "owner": r.get::<_, bool>(2),
                            "permissions": r.get::<_, Vec<String>>(3),
                        })
                    })
                    .collect();
                let schemas = db
                    .query(
                        "SELECT nspname::text,
                                pg_catalog.has_schema_privilege($1::text::name, oid, 'CREATE'),
                                pg_catalog.has_schema_privilege($1::text::name, oid, 'USAGE')
                         FROM pg_catalog.pg_namespace
                         WHERE nspname NOT LIKE 'pg\\_%' AND NOT (nspname = ANY($2))
                         ORDER BY nspname",
                        &[&key.role, &SYSTEM_SCHEMAS.as_slice()],
                    )
                    .await?;
                let schemas: Vec<Value> = schemas
                    .into_iter()
                    .filter_map(|r| {
                        let mut perms = Vec::new();
                        if r.get::<_, bool>(1) {
                            perms.push("create");
                        }
                        if r.get::<_, bool>(2) {
                            perms.push("usage");
                        }
                        (!perms.is_empty())
                            .then(|| json!({"name": r.get::<_, String>(0), "permissions": perms}))
                    })
                    .collect();
                let stored = key.grants.as_array().cloned().unwrap_or_default();
                let find = |kind: &str| {
                    stored
                        .iter()
                        .find(|g| g.get("type").and_then(Value::as_str) == Some(kind))
                };
                let mut out = vec![json!({"type": "apis", "apis": key.apis()})];
                let mut database =
                    json!({"type": "database", "tables": tables, "schemas": schemas});
                if find("database").is_some_and(|d| d.get("table_metadata").is_some()) {
                    database["table_metadata"] = json!([]);
                }
                out.push(database);
                let services = key.services();
                if !services.is_empty() {
                    out.push(json!({"type": "dataservices", "services": services}));
                }
                let datasets: Vec<Value> = find("data-observatory")
                    .and_then(|g| g.get("datasets"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if !datasets.is_empty() {
                    out.push(json!({"type": "data-observatory", "datasets": datasets}));
                }
                Ok(Value::Array(out))
            }
        }
    }

    /// Makes a table of the user public (`GRANT SELECT` to the public role) or private
    /// again (`REVOKE`).
    pub async fn set_table_public(
        &self,
        user: &UserRecord,
        table: &str,
        public: bool,
    ) -> Result<(), EmulatorError> {
        let db = self.client(&user.database).await?;
        let (verb, prep) = if public {
            ("GRANT", "TO")
        } else {
            ("REVOKE", "FROM")
        };
        db.batch_execute(&format!(
            "{verb} SELECT ON TABLE {} {prep} {}",
            qualified(&user.schema, table),
            quote_ident(&user.public_role)
        ))
        .await?;
        Ok(())
    }
}

/// Schemas never offered in grants (CARTO's list plus the emulator's own).
const SYSTEM_SCHEMAS: [&str; 8] = [
    "information_schema",
    crate::sql::guard::GUARD_SCHEMA,
    "cartodb",
    "cdb",
    "cdb_importer",
    "cdb_dataservices_client",
    META_SCHEMA,
    "topology",
];

fn is_system_schema(name: &str) -> bool {
    name.starts_with("pg_") || SYSTEM_SCHEMAS.contains(&name)
}

fn master_grants() -> Value {
    json!([
        {"type": "apis", "apis": ["sql", "maps"]},
        {"type": "database", "tables": [], "schemas": [], "table_metadata": []},
        {"type": "dataservices", "services": ["geocoding", "routing", "isolines", "observatory"]}
    ])
}

fn default_grants() -> Value {
    json!([
        {"type": "apis", "apis": ["sql", "maps"]},
        {"type": "database", "tables": [], "schemas": []}
    ])
}

/// `SecureRandom.urlsafe_base64`: 16 random bytes, 22 characters `[A-Za-z0-9_-]`.
fn new_regular_token() -> Token {
    use base64::Engine as _;
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes[..]);
    Token::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
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

async fn create_database_if_missing(admin: &Client, name: &str) -> Result<(), EmulatorError> {
    let exists = admin
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
            &[&name],
        )
        .await?
        .is_some();
    if !exists {
        match admin
            .batch_execute(&format!(
                "CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0",
                quote_ident(name)
            ))
            .await
        {
            Ok(()) => {}
            // Created concurrently by another emulator on the same server.
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
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

    #[test]
    fn names() {
        assert!(validate_name("user", "alice").is_ok());
        assert!(validate_name("user", "a-b-1").is_ok());
        for bad in ["", "Alice", "a_b", "-a", "a b", "a\"b"] {
            assert!(validate_name("user", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sections_of_grants() {
        let k = KeyRecord {
            username: "u".into(),
            name: "n".into(),
            key_type: KeyType::Regular,
            token: Token::new("t"),
            role: "r".into(),
            password: "p".into(),
            grants: json!([{"type": "apis", "apis": ["sql"]}, {"type": "dataservices", "services": ["geocoding"]}]),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        };
        assert_eq!(k.apis(), vec!["sql"]);
        assert_eq!(k.services(), vec!["geocoding"]);
        assert!(is_system_schema("pg_catalog"));
        assert!(is_system_schema("information_schema"));
        assert!(!is_system_schema("public"));
    }
}
