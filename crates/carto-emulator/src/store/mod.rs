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
//! the registry, the cache, connections), [`provision`] (creating users), [`accounts`] (the
//! template database, users made and removed at run time, organization owners), [`keys`] (the key
//! lifecycle), [`probes`] (permission checks of requested grants), [`grants_json`] (grants as
//! CARTO presents them), [`tables`] (public tables), [`datasets`] (the datasets endpoints'
//! records), [`tokens`] (the roles of CARTO 3's API access tokens) and [`reconcile`]
//! (startup repair).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};

use tokio_postgres::Client;

use crate::pg::PgServer;

mod accounts;
mod datasets;
mod grants_json;
mod imports;
mod keys;
mod probes;
mod provision;
mod reconcile;
mod records;
mod registry;
mod tables;
mod tokens;

pub use self::accounts::AccountError;
pub(crate) use self::accounts::{AccountFailure, check_name, setup_version};
pub(crate) use self::datasets::{Dataset, DatasetError, Privacy, sanitize_table_name};
pub(crate) use self::imports::ImportedTable;
pub(crate) use self::keys::key_type_rank;
pub(crate) use self::provision::validate_name;
pub(crate) use self::records::{KeyError, KeyRecord, UserRecord};

/// Users and keys, in PostgreSQL and cached.
pub(crate) struct Store {
    server: Arc<PgServer>,
    users: RwLock<BTreeMap<String, Arc<UserRecord>>>,
    keys: RwLock<HashMap<String, Vec<KeyRecord>>>,
    clients: Mutex<HashMap<String, Arc<Client>>>,
    /// Held while users are created.
    write: tokio::sync::Mutex<()>,
    /// One lock per user, held while that user's keys change: a stalled change of one user's
    /// keys never holds up another user's.
    user_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Whether key roles may create functions, procedures, operators, triggers and rules
    /// (an event trigger refuses them when not).
    refuse_key_code: std::sync::atomic::AtomicBool,
    /// Databases copied from the template ahead of need, for the next individual users
    /// (see `accounts`), and whether more are being made.
    spares: Mutex<Vec<String>>,
    refilling: std::sync::atomic::AtomicBool,
    /// Whether spare databases are made (throwaway clusters only: nothing is left in a kept
    /// cluster or someone else's server).
    spares_wanted: std::sync::atomic::AtomicBool,
}

impl Store {
    /// The lock of `username`'s keys.
    async fn user_lock(&self, username: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = self
            .user_locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(username.to_owned())
            .or_default()
            .clone();
        lock.lock_owned().await
    }

    /// Makes key roles unable to create functions, procedures, operators, triggers and rules
    /// in the users' databases provisioned from now on (see [`EmulatorBuilder::refuse_key_code`](crate::EmulatorBuilder::refuse_key_code)).
    pub(crate) fn set_refuse_key_code(&self, refuse: bool) {
        self.refuse_key_code
            .store(refuse, std::sync::atomic::Ordering::SeqCst);
    }
}
