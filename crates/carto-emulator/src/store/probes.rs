//! Checks that the owner may hand out what a new key's grants ask for.

use tokio_postgres::Client;

use super::Store;
use super::grants_json::is_system_schema;
use super::records::{KeyError, UserRecord};
use crate::grants::RequestedGrants;

/// The table privileges of which a table grant without permissions needs one.
const ANY_TABLE_PRIVILEGE: [&str; 7] = [
    "select",
    "insert",
    "update",
    "delete",
    "truncate",
    "references",
    "trigger",
];

impl Store {
    pub(super) async fn user_has_table_permissions(
        &self,
        db: &Client,
        user: &UserRecord,
        req: &RequestedGrants,
    ) -> Result<bool, KeyError> {
        for t in &req.tables {
            // Every named table counts, even with no permissions: CARTO refuses a table
            // the user holds no privilege on (or that does not exist) either way.
            if is_system_schema(&t.schema) {
                return Ok(false);
            }
            let any = t.permissions.is_empty();
            let perms: Vec<String> = if any {
                ANY_TABLE_PRIVILEGE
                    .iter()
                    .map(|p| (*p).to_owned())
                    .collect()
            } else {
                t.permissions.clone()
            };
            let row = db
                .query_one(
                    "SELECT c.oid IS NOT NULL AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
                        AND pg_catalog.has_schema_privilege($3::text::name, n.oid, 'USAGE')
                        AND (SELECT CASE WHEN $5 THEN pg_catalog.bool_or(held) ELSE pg_catalog.bool_and(held) END
                             FROM (SELECT pg_catalog.has_table_privilege($3::text::name, c.oid, p) AS held
                                   FROM pg_catalog.unnest($4::text[]) p) held_privileges)
                     FROM (SELECT 1) one
                     LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = $1
                     LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = $2",
                    &[&t.schema, &t.name, &user.owner_role, &perms, &any],
                )
                .await?;
            if !row.get::<_, Option<bool>>(0).unwrap_or(false) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub(super) async fn user_has_schema_permissions(
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
}
