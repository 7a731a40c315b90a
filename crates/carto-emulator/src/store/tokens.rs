//! The PostgreSQL roles of CARTO 3's API access tokens: one role per token with only its
//! grants (`CONNECT` on the database, `USAGE` on the schemas and `SELECT` on the relations its
//! sources name), made, changed and dropped as regular keys' roles are (the same prefix, so
//! the startup reconciliation drops the roles of an earlier run, whose tokens died with its
//! signing key).

use tokio_postgres::Transaction;

use super::Store;
use super::records::{KeyError, UserRecord};
use crate::carto3::sources::Resolved;
use crate::ident::{quote_ident, quote_literal};
use crate::names::KEY_ROLE_PREFIX;
use crate::pg::cluster::random_hex;

impl Store {
    /// Creates the role of a new token of `user` with `grants`; returns its name and password.
    pub(crate) async fn create_token_role(
        &self,
        user: &UserRecord,
        grants: &Resolved,
    ) -> Result<(String, String), KeyError> {
        let _guard = self.user_lock(&user.username).await;
        let role = format!("{KEY_ROLE_PREFIX}{}", random_hex(16));
        let password = random_hex(20);
        let mut conn = self.server.connect_superuser(&user.database).await?;
        let tx = conn.transaction().await?;
        tx.batch_execute(&format!(
            "CREATE ROLE {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT LOGIN PASSWORD {}",
            quote_ident(&role),
            quote_literal(&password),
        ))
        .await?;
        grant(&tx, user, &role, grants).await?;
        tx.commit().await?;
        Ok((role, password))
    }

    /// Replaces the grants of a token's role by `grants`, in one transaction.
    pub(crate) async fn regrant_token_role(
        &self,
        user: &UserRecord,
        role: &str,
        grants: &Resolved,
    ) -> Result<(), KeyError> {
        let _guard = self.user_lock(&user.username).await;
        let mut conn = self.server.connect_superuser(&user.database).await?;
        let tx = conn.transaction().await?;
        // The role owns nothing (it may create nothing): this revokes its privileges.
        tx.batch_execute(&format!("DROP OWNED BY {}", quote_ident(role)))
            .await?;
        grant(&tx, user, role, grants).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Drops a token's role (its sessions ended first).
    pub(crate) async fn drop_token_role(
        &self,
        user: &UserRecord,
        role: &str,
    ) -> Result<(), KeyError> {
        let _guard = self.user_lock(&user.username).await;
        self.drop_role(user, role, None).await
    }
}

async fn grant(
    tx: &Transaction<'_>,
    user: &UserRecord,
    role: &str,
    grants: &Resolved,
) -> Result<(), KeyError> {
    let role = quote_ident(role);
    let mut sql = format!(
        "GRANT CONNECT ON DATABASE {} TO {role};",
        quote_ident(&user.database)
    );
    for schema in &grants.schemas {
        sql.push_str(&format!("GRANT USAGE ON SCHEMA {schema} TO {role};"));
    }
    for table in &grants.tables {
        sql.push_str(&format!("GRANT SELECT ON TABLE {table} TO {role};"));
    }
    tx.batch_execute(&sql).await?;
    Ok(())
}
