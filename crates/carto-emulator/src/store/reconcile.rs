//! Startup repair: key rows without a role and key roles without a row.

use super::Store;
use crate::error::EmulatorError;
use crate::ident::quote_ident;
use crate::names::*;

impl Store {
    /// Removes key rows whose role is gone and key roles that no row references.
    pub(super) async fn reconcile(&self) -> Result<(), EmulatorError> {
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
}
