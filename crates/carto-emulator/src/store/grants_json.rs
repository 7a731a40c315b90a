//! Grants as CARTO presents them: the fixed grants of the master and default keys, a
//! regular key's grants read back from PostgreSQL.

use carto_core::models::ApiKeyType;
use serde_json::{Value, json};

use super::Store;
use super::records::{KeyRecord, UserRecord};
use crate::error::EmulatorError;
use crate::names::*;

impl Store {
    /// Grants as CARTO presents them (§3.2): re-derived, database grants read back
    /// from PostgreSQL for regular keys.
    pub(crate) async fn presented_grants(
        &self,
        user: &UserRecord,
        key: &KeyRecord,
    ) -> Result<Value, EmulatorError> {
        match key.key_type {
            ApiKeyType::Master => Ok(master_grants()),
            ApiKeyType::Regular => {
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
            // `Default public` (and any type a later carto-core adds): the fixed grants.
            _ => Ok(default_grants()),
        }
    }
}

/// Schemas never offered in grants (CARTO's list plus the emulator's own).
pub(super) const SYSTEM_SCHEMAS: [&str; 8] = [
    "information_schema",
    crate::sql::guard::GUARD_SCHEMA,
    "cartodb",
    "cdb",
    "cdb_importer",
    "cdb_dataservices_client",
    META_SCHEMA,
    "topology",
];

pub(super) fn is_system_schema(name: &str) -> bool {
    name.starts_with("pg_") || SYSTEM_SCHEMAS.contains(&name)
}

/// The master key's grants as presented: its stored grants carry no `database` section,
/// so the presented one is empty and has no `table_metadata`.
pub(super) fn master_grants() -> Value {
    json!([
        {"type": "apis", "apis": ["sql", "maps"]},
        {"type": "database", "tables": [], "schemas": []},
        {"type": "dataservices", "services": ["geocoding", "routing", "isolines", "observatory"]}
    ])
}

pub(super) fn default_grants() -> Value {
    json!([
        {"type": "apis", "apis": ["sql", "maps"]},
        {"type": "database", "tables": [], "schemas": []}
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_schemas() {
        assert!(is_system_schema("pg_catalog"));
        assert!(is_system_schema("information_schema"));
        assert!(!is_system_schema("public"));
    }
}
