//! Accounts made while the emulator runs: the template database every user database is copied
//! from, the organizations' owners, creating and removing users.
//!
//! Every user database starts as a copy of [`TEMPLATE_DB`], made once per cluster by
//! [`setup_database`] (the key table, the SQL guard, PostGIS and the geocoder). A new account
//! is then a `CREATE DATABASE ... TEMPLATE` (or, in an organization that has one, a schema in
//! its database) plus its two roles and two keys.

use std::sync::Arc;

use tokio_postgres::Client;

use super::Store;
use super::records::UserRecord;
use crate::error::EmulatorError;
use crate::ident::{quote_ident, quote_literal};
use crate::names::*;
use crate::pg::cluster::random_hex;

/// The sources of what [`setup_database`] puts in a database: a change to any of them (a new
/// SQL function called from here included) makes templates and cached clusters stale, even if
/// [`SCHEMA_VERSION`] was not bumped.
const SETUP_SOURCES: &[&str] = &[
    include_str!("accounts.rs"),
    include_str!("registry.rs"),
    include_str!("../geocoder.rs"),
    include_str!("../sql/guard.rs"),
    include_str!("../cartodb.rs"),
    include_str!("../../sql/cartodb_base.sql"),
    include_str!("../../sql/cartodb_geo.sql"),
    include_str!("../../sql/cartodb_nogeo.sql"),
];

/// [`SCHEMA_VERSION`] and a fingerprint of [`SETUP_SOURCES`]: what a template database and a
/// cached cluster are made of.
pub(crate) fn setup_version() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    SETUP_SOURCES.hash(&mut h);
    format!("{SCHEMA_VERSION}-{:016x}", h.finish())
}

/// What the template database's comment says when it is up to date.
fn template_stamp() -> String {
    format!("carto-emulator schema {}", setup_version())
}

/// The lock (`pg_advisory_lock`, on the registry) held while the template is made, so that two
/// emulators on one server never make it at once.
const TEMPLATE_LOCK: i64 = 0x6361_7274_6f5f_7431;

/// Everything a user database holds before its user is added, in the database `db` is
/// connected to, as a superuser: the schema of API keys (closed to every other role), the SQL
/// guard, PostGIS with the geocoder when PostGIS is installed on the server, and CARTO's
/// table-model functions. Idempotent.
///
/// Run once on the template, which every new user database copies: what is added here is in
/// every account made afterwards. Databases made before are brought up to date by it too.
pub(crate) async fn setup_database(db: &Client) -> Result<(), EmulatorError> {
    db.batch_execute(&format!(
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC;
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
    crate::sql::guard::install(db).await?;
    if crate::geocoder::install_postgis(db).await? {
        crate::geocoder::install(db).await?;
    }
    crate::cartodb::install(db).await?;
    Ok(())
}

/// Makes the template database unless an up-to-date one exists (a stale one, from another
/// [`SCHEMA_VERSION`], is made again).
pub(super) async fn ensure_template(
    store: &Store,
    admin: &Client,
    registry: &Client,
) -> Result<(), EmulatorError> {
    registry
        .execute("SELECT pg_catalog.pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
        .await?;
    let result = make_template(store, admin).await;
    registry
        .execute(
            "SELECT pg_catalog.pg_advisory_unlock($1)",
            &[&TEMPLATE_LOCK],
        )
        .await?;
    result
}

async fn make_template(store: &Store, admin: &Client) -> Result<(), EmulatorError> {
    let stamp: Option<Option<String>> = admin
        .query_opt(
            "SELECT pg_catalog.shobj_description(oid, 'pg_database') FROM pg_catalog.pg_database WHERE datname = $1",
            &[&TEMPLATE_DB],
        )
        .await?
        .map(|r| r.get(0));
    let ident = quote_ident(TEMPLATE_DB);
    match stamp {
        Some(Some(s)) if s == template_stamp() => return Ok(()),
        Some(_) => {
            admin
                .batch_execute(&format!("DROP DATABASE {ident} WITH (FORCE)"))
                .await?
        }
        None => {}
    }
    admin
        .batch_execute(&format!(
            "CREATE DATABASE {ident} ENCODING 'UTF8' TEMPLATE template0"
        ))
        .await?;
    let db = store.server.connect_superuser(TEMPLATE_DB).await?;
    setup_database(&db).await?;
    drop(db);
    // No session may stay in the template: a copy waits for none. The stamp goes last: a
    // template half made (killed meanwhile) has none and is made again.
    admin
        .batch_execute(&format!(
            "REVOKE ALL ON DATABASE {ident} FROM PUBLIC;
             ALTER DATABASE {ident} ALLOW_CONNECTIONS false;
             COMMENT ON DATABASE {ident} IS {}",
            quote_literal(&template_stamp())
        ))
        .await?;
    Ok(())
}

/// How many databases copied from the template are kept ready for the next individual users.
const SPARES: usize = 3;
/// Prefix of the names of those databases.
const SPARE_PREFIX: &str = "carto_emulator_spare_";
/// Prefix of the name of a spare database being made.
const MAKING_PREFIX: &str = "carto_emulator_making_";

/// Drops the spare databases a previous run left (made from a template that may have changed
/// since).
pub(super) async fn drop_old_spares(admin: &Client) -> Result<(), EmulatorError> {
    let names: Vec<String> = admin
        .query(
            "SELECT datname::text FROM pg_catalog.pg_database
             WHERE pg_catalog.starts_with(datname, $1) OR pg_catalog.starts_with(datname, $2)",
            &[&SPARE_PREFIX, &MAKING_PREFIX],
        )
        .await?
        .into_iter()
        .map(|r| r.get(0))
        .collect();
    for name in names {
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote_ident(&name)
            ))
            .await?;
    }
    Ok(())
}

impl Store {
    /// Makes spare databases from now on (for a throwaway cluster).
    pub(crate) fn want_spares(self: &Arc<Self>) {
        self.spares_wanted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.refill_spares();
    }

    /// Makes spare databases in the background until there are [`SPARES`] (once at a time),
    /// when they are wanted.
    pub(crate) fn refill_spares(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        if !self.spares_wanted.load(Ordering::SeqCst) || self.refilling.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            let made = async {
                let admin = store.server.connect_superuser("postgres").await?;
                while store.spares.lock().expect("spares lock").len() < SPARES {
                    // Made under another name, closed, then named a spare: a spare is never
                    // open to `PUBLIC`, not even for a moment.
                    let id = uuid::Uuid::new_v4().simple().to_string();
                    let (making, name) = (
                        format!("{MAKING_PREFIX}{id}"),
                        format!("{SPARE_PREFIX}{id}"),
                    );
                    if create_database_from_template(&admin, &making).await? {
                        admin
                            .batch_execute(&format!(
                                "REVOKE ALL ON DATABASE {m} FROM PUBLIC;
                                 ALTER DATABASE {m} RENAME TO {n}",
                                m = quote_ident(&making),
                                n = quote_ident(&name),
                            ))
                            .await?;
                        store.spares.lock().expect("spares lock").push(name);
                    }
                }
                Ok::<_, EmulatorError>(())
            }
            .await;
            if let Err(e) = made {
                tracing::debug!("spare databases not made: {e}");
            }
            store.refilling.store(false, Ordering::SeqCst);
        });
    }

    /// Makes database `name` for a user: a spare renamed when there is one, else a copy of the
    /// template. `false` when it already existed.
    pub(super) async fn create_user_database(
        &self,
        admin: &Client,
        name: &str,
    ) -> Result<bool, EmulatorError> {
        let spare = self.spares.lock().expect("spares lock").pop();
        if let Some(spare) = spare {
            let renamed = admin
                .batch_execute(&format!(
                    "ALTER DATABASE {} RENAME TO {}",
                    quote_ident(&spare),
                    quote_ident(name)
                ))
                .await;
            match renamed {
                Ok(()) => return Ok(true),
                Err(e) => {
                    tracing::debug!("spare database not used: {e}");
                    let _ = admin
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote_ident(&spare)))
                        .await;
                }
            }
        }
        create_database_from_template(admin, name).await
    }
}

/// Makes database `name` as a copy of the template. `false` when it already existed.
pub(super) async fn create_database_from_template(
    admin: &Client,
    name: &str,
) -> Result<bool, EmulatorError> {
    let how = format!("TEMPLATE {} STRATEGY FILE_COPY", quote_ident(TEMPLATE_DB));
    super::registry::create_database(admin, name, &how).await
}

/// Why an account cannot be made or removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The user or organization name is not one CARTO accepts.
    #[error(
        "invalid {what} name `{name}`: use lower-case letters, digits and `-` (at most 63, not starting with `-`)"
    )]
    InvalidName {
        /// `user` or `organization`.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// A user with this name exists (usernames are unique across organizations).
    #[error("user `{0}` already exists")]
    UserExists(String),
    /// An organization with this name exists.
    #[error("organization `{0}` already exists")]
    OrgExists(String),
    /// No user with this name.
    #[error("no user `{0}`")]
    NoSuchUser(String),
    /// No organization with this name.
    #[error("no organization `{0}`")]
    NoSuchOrg(String),
    /// An organization needs at least one user, its owner.
    #[error("organization `{0}` needs at least one user (its owner)")]
    EmptyOrg(String),
    /// The owner of an organization leaves last (remove the organization instead).
    #[error(
        "`{user}` owns organization `{org}`, which has other users: remove them first, or the organization"
    )]
    OwnerHasMembers {
        /// The owner.
        user: String,
        /// The organization.
        org: String,
    },
}

pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), AccountError> {
    super::validate_name(what, name).map_err(|_| AccountError::InvalidName {
        what,
        name: name.to_owned(),
    })
}

/// Creating or removing an account failed: refused ([`AccountError`]) or PostgreSQL failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AccountFailure {
    #[error(transparent)]
    Refused(#[from] AccountError),
    #[error(transparent)]
    Failed(#[from] EmulatorError),
}

impl From<tokio_postgres::Error> for AccountFailure {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl From<AccountFailure> for EmulatorError {
    fn from(e: AccountFailure) -> Self {
        match e {
            AccountFailure::Refused(e) => EmulatorError::Account(e),
            AccountFailure::Failed(e) => e,
        }
    }
}

/// The PostgreSQL roles an account leaves behind: its owner and public roles, its keys' roles.
#[derive(Debug, Clone)]
pub(crate) struct Removed {
    pub roles: Vec<String>,
}

impl Store {
    /// The owner of organization `org` (its first user), if the organization exists.
    pub(crate) async fn org_owner(&self, org: &str) -> Result<Option<String>, EmulatorError> {
        let reg = self.client(REGISTRY_DB).await?;
        Ok(reg
            .query_opt("SELECT owner FROM public.orgs WHERE name = $1", &[&org])
            .await?
            .map(|r| r.get(0)))
    }

    /// Records `owner` as the owner of `org` unless it has one.
    pub(super) async fn claim_org(
        &self,
        reg: &Client,
        org: &str,
        owner: &str,
    ) -> Result<(), EmulatorError> {
        reg.execute(
            "INSERT INTO public.orgs (name, owner) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&org, &owner],
        )
        .await?;
        Ok(())
    }

    /// Makes a new user, individual or (with `org`) in organization `org`, which must exist
    /// unless `new_org`: then it must not, and the user is its owner.
    pub(crate) async fn create_account(
        self: &Arc<Self>,
        username: &str,
        org: Option<&str>,
        new_org: bool,
    ) -> Result<Arc<UserRecord>, AccountFailure> {
        check_name("user", username)?;
        if let Some(o) = org {
            check_name("organization", o)?;
        }
        // One organization's users are made one at a time (they share a database); individual
        // users in parallel.
        let _org_guard = match org {
            Some(o) => Some(self.user_lock(&format!("\0org:{o}")).await),
            None => None,
        };
        let reg = self.client(REGISTRY_DB).await?;
        let database = match org {
            Some(o) => {
                let owner = self.org_owner(o).await?;
                match (owner.is_some(), new_org) {
                    (true, true) => return Err(AccountError::OrgExists(o.to_owned()).into()),
                    (false, false) => return Err(AccountError::NoSuchOrg(o.to_owned()).into()),
                    _ => {}
                }
                org_database(o)
            }
            None => String::new(),
        };
        let id = uuid::Uuid::new_v4().simple().to_string();
        let database = if org.is_some() {
            database
        } else {
            format!("cartodb_user_{id}_db")
        };
        let owner_password = random_hex(20);
        let public_password = random_hex(20);
        let inserted = reg
            .execute(
                "INSERT INTO public.users (username, id, org, database, schema, owner_role, owner_password, public_role, public_password)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (username) DO NOTHING",
                &[
                    &username,
                    &id,
                    &org,
                    &database,
                    &if org.is_some() { username } else { "public" },
                    &format!("cartodb_user_{id}"),
                    &owner_password,
                    &format!("cartodb_publicuser_{id}"),
                    &public_password,
                ],
            )
            .await?;
        if inserted == 0 {
            return Err(AccountError::UserExists(username.to_owned()).into());
        }
        let user = UserRecord {
            username: username.to_owned(),
            id: id.clone(),
            org: org.map(str::to_owned),
            database,
            schema: if org.is_some() { username } else { "public" }.to_owned(),
            owner_role: format!("cartodb_user_{id}"),
            public_role: format!("cartodb_publicuser_{id}"),
            postgis: false,
        };
        let made = async {
            self.provision(&user, &owner_password, &public_password)
                .await?;
            if let Some(o) = org {
                self.claim_org(&reg, o, username).await?;
            }
            self.load_user(user.clone()).await
        }
        .await;
        if let Err(e) = made {
            // Leave nothing half made: the registry row, the database or schema, the roles.
            self.users.write().expect("users lock").remove(username);
            self.keys.write().expect("keys lock").remove(username);
            let _ = reg
                .execute("DELETE FROM public.users WHERE username = $1", &[&username])
                .await;
            let _ = self.drop_account(&user, &[]).await;
            return Err(e.into());
        }
        if org.is_none() {
            self.refill_spares();
        }
        Ok(self.user(username).expect("user just loaded"))
    }

    /// Removes user `username`: its database (individual users, or the last user of an
    /// organization) or its schema, its roles and keys. An organization's owner can only be
    /// removed last.
    pub(crate) async fn remove_account(&self, username: &str) -> Result<Removed, AccountFailure> {
        let user = self
            .user(username)
            .ok_or_else(|| AccountError::NoSuchUser(username.to_owned()))?;
        let _org_guard = match &user.org {
            Some(o) => Some(self.user_lock(&format!("\0org:{o}")).await),
            None => None,
        };
        let _keys_guard = self.user_lock(username).await;
        let reg = self.client(REGISTRY_DB).await?;
        if let Some(org) = &user.org {
            let others: i64 = reg
                .query_one(
                    "SELECT count(*) FROM public.users WHERE org = $1 AND username <> $2",
                    &[org, &username],
                )
                .await?
                .get(0);
            if others > 0 && self.org_owner(org).await?.as_deref() == Some(username) {
                return Err(AccountError::OwnerHasMembers {
                    user: username.to_owned(),
                    org: org.clone(),
                }
                .into());
            }
        }
        // Gone from the cache first: no request finds the user from now on.
        let keys = self.keys.write().expect("keys lock").remove(username);
        self.users.write().expect("users lock").remove(username);
        let key_roles: Vec<String> = keys
            .unwrap_or_default()
            .into_iter()
            .map(|k| k.role)
            .filter(|r| r != &user.owner_role && r != &user.public_role)
            .collect();
        reg.execute("DELETE FROM public.users WHERE username = $1", &[&username])
            .await?;
        if let Some(org) = &user.org {
            reg.execute(
                "DELETE FROM public.orgs WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM public.users WHERE org = $1)",
                &[org],
            )
            .await?;
        }
        self.drop_account(&user, &key_roles).await?;
        self.user_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(username);
        let mut roles = key_roles;
        roles.push(user.owner_role.clone());
        roles.push(user.public_role.clone());
        Ok(Removed { roles })
    }

    /// The SQL part of removing an account (its registry row is gone or never made).
    async fn drop_account(
        &self,
        user: &UserRecord,
        key_roles: &[String],
    ) -> Result<(), EmulatorError> {
        let admin = self.server.connect_superuser("postgres").await?;
        let mut roles: Vec<String> = key_roles.to_vec();
        roles.push(user.owner_role.clone());
        roles.push(user.public_role.clone());
        if user.org.is_none() {
            // Roles of the user's CARTO 3 tokens too: key-prefixed roles that may connect to
            // the user's own database (closed to `PUBLIC`).
            let tokens = admin
                .query(
                    "SELECT r.rolname::text FROM pg_catalog.pg_roles r, pg_catalog.pg_database d
                     WHERE d.datname = $1 AND pg_catalog.starts_with(r.rolname, $2)
                       AND pg_catalog.has_database_privilege(r.oid, d.oid, 'CONNECT')",
                    &[&user.database, &KEY_ROLE_PREFIX],
                )
                .await?;
            for row in tokens {
                let role: String = row.get(0);
                if !roles.contains(&role) {
                    roles.push(role);
                }
            }
        }
        let existing: Vec<String> = admin
            .query(
                "SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname = ANY($1)",
                &[&roles],
            )
            .await?
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        for role in &existing {
            admin
                .batch_execute(&format!("ALTER ROLE {} NOLOGIN", quote_ident(role)))
                .await?;
        }
        admin
            .execute(
                "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE usename = ANY($1)",
                &[&existing],
            )
            .await?;
        let db_left = match &user.org {
            None => false,
            Some(org) => {
                let reg = self.client(REGISTRY_DB).await?;
                reg.query_opt("SELECT 1 FROM public.users WHERE org = $1 LIMIT 1", &[org])
                    .await?
                    .is_some()
            }
        };
        if db_left {
            let db = self.server.connect_superuser(&user.database).await?;
            let mut sql = format!(
                "DROP SCHEMA IF EXISTS {} CASCADE;",
                quote_ident(&user.schema)
            );
            for role in &existing {
                sql.push_str(&format!("DROP OWNED BY {};", quote_ident(role)));
            }
            db.batch_execute(&sql).await?;
            db.execute(
                &format!(
                    "DELETE FROM {}.api_keys WHERE username = $1",
                    quote_ident(META_SCHEMA)
                ),
                &[&user.username],
            )
            .await?;
        } else {
            self.clients
                .lock()
                .expect("clients lock")
                .remove(&user.database);
            admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    quote_ident(&user.database)
                ))
                .await?;
        }
        for role in &existing {
            admin
                .batch_execute(&format!("DROP ROLE IF EXISTS {}", quote_ident(role)))
                .await?;
        }
        Ok(())
    }

    /// The users of organization `org`, owner first.
    pub(crate) async fn org_users(&self, org: &str) -> Result<Vec<String>, EmulatorError> {
        let reg = self.client(REGISTRY_DB).await?;
        let rows = reg
            .query(
                "SELECT u.username FROM public.users u LEFT JOIN public.orgs o ON o.name = u.org
                 WHERE u.org = $1 ORDER BY (o.owner = u.username) DESC, u.created_at, u.username",
                &[&org],
            )
            .await?;
        Ok(rows.into_iter().map(|r| r.get(0)).collect())
    }
}

/// The database of organization `org`.
pub(super) fn org_database(org: &str) -> String {
    format!("cartodb_org_{}_db", org.replace('-', "_"))
}
