//! Names of the emulator's own databases, schemas and roles, shared by the store, the
//! geocoder and the SQL guard.

/// The database holding the user registry.
pub(crate) const REGISTRY_DB: &str = "carto_emulator";
/// The schema, in every user database, holding the API keys.
pub(crate) const META_SCHEMA: &str = "carto_emulator_meta";
/// The role owning the data-service functions and their tables (never a superuser).
pub(crate) const SERVICES_ROLE: &str = "carto_emulator_services";
/// Prefix of the PostgreSQL roles of regular keys.
pub(crate) const KEY_ROLE_PREFIX: &str = "carto_role_";
/// The database every new user database is copied from (`CREATE DATABASE ... TEMPLATE`): it
/// holds what each user database has before its user is added (see `store::accounts`).
pub(crate) const TEMPLATE_DB: &str = "carto_emulator_template";

/// The version of what the emulator puts in a cluster before any user: the registry and the
/// template database's contents. Bump it whenever `setup_database` or the registry changes, so
/// that templates of kept clusters are rebuilt and cached clusters are not reused.
pub const SCHEMA_VERSION: u32 = 1;
