//! CARTO's table model in every user database: the functions of CARTO's `cartodb`
//! PostgreSQL extension that clients call (`CDB_CartodbfyTable`, `CDB_LatLng`,
//! `CDB_TransformToWebmercator`, `CDB_UserTables`, `CDB_QueryTablesText`, ...), written for the
//! emulator from their documented behaviour, in the schema `cartodb` (which the SQL sessions
//! have on their `search_path`, as on CARTO), and the dataset records of the datasets
//! endpoints.
//!
//! The SQL lives in `sql/cartodb_*.sql`. Every function is owned by the non-superuser
//! services role, pins `search_path = pg_catalog, pg_temp` and qualifies every name it uses,
//! so nothing a key plants in a user schema is ever resolved by it; all run with the
//! caller's rights (`CDB_CartodbfyTable` changes only tables the caller owns), except
//! `cartodb._cdb_public_roles()`, which names the roles of the Default public keys and nothing
//! else. Without PostGIS the geometry functions are stand-ins that fail with
//! `<function> needs PostGIS, which is not installed in this database`.

use tokio_postgres::GenericClient;

use crate::ident::quote_ident;
use crate::names::{META_SCHEMA, SERVICES_ROLE};

/// The functions that need no PostGIS.
const BASE_SQL: &str = include_str!("../sql/cartodb_base.sql");
/// The geometry functions and `CDB_CartodbfyTable`, on PostGIS.
const GEO_SQL: &str = include_str!("../sql/cartodb_geo.sql");
/// Their stand-ins without PostGIS.
const NOGEO_SQL: &str = include_str!("../sql/cartodb_nogeo.sql");

/// The schema of CARTO's functions in every user database.
pub(crate) const CARTODB_SCHEMA: &str = "cartodb";

/// The table of dataset records (id, privacy as CARTO names it) in the key schema.
pub(crate) const DATASETS_TABLE: &str = "datasets";

/// Installs (or replaces) CARTO's functions and the dataset records in the database `db` is
/// connected to, as a superuser: the geometry ones when PostGIS is installed there, their
/// stand-ins otherwise. Needs the key schema and its `api_keys` table (made by provisioning)
/// and the services role. Idempotent; the one setup step of a user database's table model
/// (it may run on a template database: it reads nothing of a particular user).
pub(crate) async fn install(db: &impl GenericClient) -> Result<(), tokio_postgres::Error> {
    let meta = quote_ident(META_SCHEMA);
    let services = quote_ident(SERVICES_ROLE);
    let fill = |sql: &str| {
        sql.replace("@meta_text@", META_SCHEMA)
            .replace("@meta@", &meta)
            .replace("@services@", &services)
    };
    let postgis = db
        .query_opt(
            "SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'postgis'",
            &[],
        )
        .await?
        .is_some();
    db.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {meta}.{datasets} (
             id uuid PRIMARY KEY,
             schema_name name NOT NULL,
             table_name name NOT NULL,
             table_oid oid NOT NULL,
             privacy text NOT NULL CHECK (privacy IN ('private', 'public', 'link')),
             created_at timestamptz NOT NULL DEFAULT now(),
             updated_at timestamptz NOT NULL DEFAULT now(),
             UNIQUE (schema_name, table_name)
         );",
        datasets = quote_ident(DATASETS_TABLE),
    ))
    .await?;
    db.batch_execute(&fill(BASE_SQL)).await?;
    db.batch_execute(&fill(if postgis { GEO_SQL } else { NOGEO_SQL }))
        .await?;
    // Every function of the schema: owned by the services role, its search path pinned
    // (unless it pins its own, or runs the caller's query text with the caller's path).
    db.batch_execute(&format!(
        "DO $do$
         DECLARE
             f record;
         BEGIN
             FOR f IN SELECT p.oid::pg_catalog.regprocedure AS sig, p.proname, p.proconfig
                        FROM pg_catalog.pg_proc p
                       WHERE p.pronamespace OPERATOR(pg_catalog.=) {schema}::pg_catalog.regnamespace LOOP
                 EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO {services_ident}', f.sig);
                 IF f.proconfig IS NULL AND f.proname OPERATOR(pg_catalog.<>) ALL ({unpinned}) THEN
                     EXECUTE pg_catalog.format('ALTER FUNCTION %s SET search_path = pg_catalog, pg_temp', f.sig);
                 END IF;
             END LOOP;
         END
         $do$;
         ALTER SCHEMA {schema_ident} OWNER TO {services};",
        schema = crate::ident::quote_literal(CARTODB_SCHEMA),
        schema_ident = quote_ident(CARTODB_SCHEMA),
        services_ident = services.replace('\'', "''"),
        unpinned = "ARRAY['cdb_querytablestext', 'cdb_querytables', 'cdb_estimaterowcount']::pg_catalog.name[]",
    ))
    .await?;
    Ok(())
}
