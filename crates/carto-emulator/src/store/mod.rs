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
//!
//! One module per concern: [`records`] (what a user and a key are), [`registry`] (opening
//! the registry, the cache, connections), [`provision`] (creating users), [`keys`] (the key
//! lifecycle), [`probes`] (permission checks of requested grants), [`grants_json`] (grants as
//! CARTO presents them), [`tables`] (public tables) and [`reconcile`] (startup repair).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use tokio_postgres::Client;

use crate::pg::PgServer;

mod grants_json;
mod keys;
mod probes;
mod provision;
mod reconcile;
mod records;
mod registry;
mod tables;

pub(crate) use self::keys::key_type_rank;
pub(crate) use self::provision::validate_name;
pub(crate) use self::records::{KeyError, KeyRecord, UserRecord};

/// Users and keys, in PostgreSQL and cached.
pub(crate) struct Store {
    server: Arc<PgServer>,
    users: RwLock<BTreeMap<String, Arc<UserRecord>>>,
    keys: RwLock<HashMap<String, Vec<KeyRecord>>>,
    clients: Mutex<HashMap<String, Arc<Client>>>,
    write: tokio::sync::Mutex<()>,
}
