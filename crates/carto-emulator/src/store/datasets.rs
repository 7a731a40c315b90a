//! A user's datasets: the ordinary tables of the user's schema, each with a record (an id,
//! CARTO's privacy) in `carto_emulator_meta.datasets`, kept in step with the tables however
//! they were made (SQL, COPY, cartodbfy) whenever the datasets are read. A dataset's
//! `updated_at` is the later of its record's change and its last write (`track_updates`).
//!
//! Privacy lives in PostgreSQL's grants, as on CARTO: a public or link dataset is one the
//! user's public role (the Default public key's) may `SELECT`; the record only tells public
//! from link. Renames and deletions run as the user's owner role, so they do what the
//! master key could do with SQL, nothing more.

use chrono::{DateTime, Utc};

use super::Store;
use super::records::UserRecord;
use crate::cartodb::DATASETS_TABLE;
use crate::error::EmulatorError;
use crate::ident::{qualified, quote_ident};
use crate::names::META_SCHEMA;

/// CARTO's dataset privacy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Privacy {
    /// Only the user's own keys (and regular keys granted it) read it.
    Private,
    /// Readable by anyone with the Default public key, and listed publicly.
    Public,
    /// Readable by anyone with the Default public key.
    Link,
}

impl Privacy {
    /// The stored, lower-case name.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Privacy::Private => "private",
            Privacy::Public => "public",
            Privacy::Link => "link",
        }
    }

    /// CARTO's case-insensitive `private`, `public` or `link`.
    pub(crate) fn parse(s: &str) -> Option<Privacy> {
        match s.to_ascii_lowercase().as_str() {
            "private" => Some(Privacy::Private),
            "public" => Some(Privacy::Public),
            "link" => Some(Privacy::Link),
            _ => None,
        }
    }

    /// Whether the public role reads the table.
    pub(crate) fn readable_by_public(self) -> bool {
        self != Privacy::Private
    }
}

/// A dataset of a user.
#[derive(Debug, Clone)]
pub(crate) struct Dataset {
    pub id: String,
    pub name: String,
    pub privacy: Privacy,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The planner's row estimate (0 for a table never analyzed).
    pub row_count: i64,
    /// Bytes on disk, indexes included.
    pub size: i64,
}

/// Why a dataset operation failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DatasetError {
    /// No dataset of the user has that id or name.
    #[error("Visualization does not exist")]
    NotFound,
    /// A bad request (a bad name, a name in use, a PostgreSQL refusal).
    #[error("{0}")]
    Invalid(String),
    /// The emulator failed.
    #[error(transparent)]
    Internal(#[from] EmulatorError),
}

impl From<tokio_postgres::Error> for DatasetError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => DatasetError::Invalid(db.message().to_owned()),
            None => DatasetError::Internal(e.into()),
        }
    }
}

/// CARTO's table name for a requested one: lower case, characters outside `[a-z0-9_]` as
/// `_` (repeated ones collapsed), `table_` before a name that does not start with a letter,
/// at most 63 bytes; blank: `untitled_table`.
pub(crate) fn sanitize_table_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().to_lowercase().chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '_'
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    if out.is_empty() {
        return "untitled_table".to_owned();
    }
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out = format!("table_{out}");
    }
    out.truncate(63);
    out
}

/// The tables that are not datasets, here as on CARTO.
const NOT_DATASETS: &[&str] = &[
    "spatial_ref_sys",
    "cdb_tablemetadata",
    "cdb_analysis_catalog",
    "cdb_conf",
];

impl Store {
    /// The user's datasets, most recently updated first, their records brought in step with
    /// the tables first.
    pub(crate) async fn datasets(&self, user: &UserRecord) -> Result<Vec<Dataset>, EmulatorError> {
        let mut db = self.server.connect_superuser(&user.database).await?;
        let tx = db.transaction().await?;
        let meta = format!(
            "{}.{}",
            quote_ident(META_SCHEMA),
            quote_ident(DATASETS_TABLE)
        );
        // One caller at a time per database: records are matched to tables, then written.
        tx.execute(
            &format!("LOCK TABLE {meta} IN SHARE ROW EXCLUSIVE MODE"),
            &[],
        )
        .await?;
        let tables = tx
            .query(
                "SELECT c.oid, c.relname::text, pg_catalog.has_table_privilege($2, c.oid, 'SELECT'),
                        GREATEST(c.reltuples, 0)::int8, pg_catalog.pg_total_relation_size(c.oid)
                   FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                  WHERE n.nspname OPERATOR(pg_catalog.=) $1 AND c.relkind OPERATOR(pg_catalog.=) ANY ('{r,p}')
                    AND NOT c.relispartition AND c.relname::text OPERATOR(pg_catalog.<>) ALL ($3)",
                &[&user.schema, &user.public_role, &NOT_DATASETS],
            )
            .await?;
        let records = tx
            .query(
                &format!(
                    "SELECT id::text, table_name::text, table_oid, privacy FROM {meta} WHERE schema_name = $1"
                ),
                &[&user.schema],
            )
            .await?;
        let mut kept: Vec<String> = Vec::new();
        for t in &tables {
            let (oid, name, readable): (u32, String, bool) = (t.get(0), t.get(1), t.get(2));
            // By name, else by oid (renamed with SQL).
            let record = records
                .iter()
                .find(|r| r.get::<_, String>(1) == name)
                .or_else(|| records.iter().find(|r| r.get::<_, u32>(2) == oid));
            let privacy = |stored: Option<&str>| match (readable, stored) {
                (false, _) => "private",
                (true, Some("link")) => "link",
                (true, _) => "public",
            };
            match record {
                Some(r) => {
                    let id: String = r.get(0);
                    tx.execute(
                        &format!(
                            "UPDATE {meta} SET table_name = $2, table_oid = $3,
                                 privacy = $4,
                                 updated_at = CASE WHEN table_name = $2 AND privacy = $4 THEN updated_at ELSE now() END
                             WHERE id = $1::text::uuid"
                        ),
                        &[&id, &name, &oid, &privacy(Some(r.get::<_, &str>(3)))],
                    )
                    .await?;
                    kept.push(id);
                }
                None => {
                    let id = uuid::Uuid::new_v4().to_string();
                    tx.execute(
                        &format!(
                            "INSERT INTO {meta} (id, schema_name, table_name, table_oid, privacy, updated_at)
                             VALUES ($1::text::uuid, $2, $3, $4, $5, COALESCE(
                                 (SELECT m.updated_at FROM cartodb.cdb_tablemetadata m WHERE m.tabname::oid = $4),
                                 now()))"
                        ),
                        &[&id, &user.schema, &name, &oid, &privacy(None)],
                    )
                    .await?;
                    kept.push(id);
                }
            }
        }
        tx.execute(
            &format!("DELETE FROM {meta} WHERE schema_name = $1 AND id::text <> ALL ($2)"),
            &[&user.schema, &kept],
        )
        .await?;
        let rows = tx
            .query(
                &format!(
                    "SELECT d.id::text, d.table_name::text, d.privacy, d.created_at,
                            GREATEST(d.updated_at, m.updated_at) AS updated, d.table_oid
                       FROM {meta} d
                       LEFT JOIN cartodb.cdb_tablemetadata m ON m.tabname::oid = d.table_oid
                      WHERE d.schema_name = $1 ORDER BY updated DESC, d.table_name"
                ),
                &[&user.schema],
            )
            .await?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let oid: u32 = r.get(5);
                let stats = tables.iter().find(|t| t.get::<_, u32>(0) == oid);
                Dataset {
                    id: r.get(0),
                    name: r.get(1),
                    privacy: Privacy::parse(r.get(2)).unwrap_or(Privacy::Private),
                    created_at: r.get(3),
                    updated_at: r.get(4),
                    row_count: stats.map_or(0, |t| t.get(3)),
                    size: stats.map_or(0, |t| t.get(4)),
                }
            })
            .collect())
    }

    /// The dataset whose id or table name is `id_or_name`.
    pub(crate) async fn dataset(
        &self,
        user: &UserRecord,
        id_or_name: &str,
    ) -> Result<Dataset, DatasetError> {
        let name = id_or_name
            .strip_prefix(&format!("{}.", user.schema))
            .unwrap_or(id_or_name);
        self.datasets(user)
            .await?
            .into_iter()
            .find(|d| d.id == id_or_name || d.name == name)
            .ok_or(DatasetError::NotFound)
    }

    /// Sets a dataset's privacy: grants or revokes `SELECT` to the user's public role, then
    /// records public or link.
    pub(crate) async fn set_dataset_privacy(
        &self,
        user: &UserRecord,
        dataset: &Dataset,
        privacy: Privacy,
    ) -> Result<(), DatasetError> {
        self.as_owner(
            user,
            &format!(
                "{} SELECT ON TABLE {} {} {}",
                if privacy.readable_by_public() {
                    "GRANT"
                } else {
                    "REVOKE"
                },
                qualified(&user.schema, &dataset.name),
                if privacy.readable_by_public() {
                    "TO"
                } else {
                    "FROM"
                },
                quote_ident(&user.public_role)
            ),
        )
        .await?;
        self.touch_dataset(user, dataset, None, Some(privacy)).await
    }

    /// Renames a dataset's table (the name sanitized as CARTO does).
    pub(crate) async fn rename_dataset(
        &self,
        user: &UserRecord,
        dataset: &Dataset,
        new_name: &str,
    ) -> Result<String, DatasetError> {
        let name = sanitize_table_name(new_name);
        if name == dataset.name {
            return Ok(name);
        }
        if self.datasets(user).await?.iter().any(|d| d.name == name) {
            return Err(DatasetError::Invalid(format!(
                "Table name {name} is already in use"
            )));
        }
        self.as_owner(
            user,
            &format!(
                "ALTER TABLE {} RENAME TO {}",
                qualified(&user.schema, &dataset.name),
                quote_ident(&name)
            ),
        )
        .await?;
        self.touch_dataset(user, dataset, Some(&name), None).await?;
        Ok(name)
    }

    /// Drops a dataset's table.
    pub(crate) async fn delete_dataset(
        &self,
        user: &UserRecord,
        dataset: &Dataset,
    ) -> Result<(), DatasetError> {
        self.as_owner(
            user,
            &format!("DROP TABLE {}", qualified(&user.schema, &dataset.name)),
        )
        .await?;
        let db = self.client(&user.database).await?;
        db.execute(
            &format!(
                "DELETE FROM {}.{} WHERE id = $1::text::uuid",
                quote_ident(META_SCHEMA),
                quote_ident(DATASETS_TABLE)
            ),
            &[&dataset.id],
        )
        .await?;
        Ok(())
    }

    /// Runs one statement with the user's owner role (the master key's privileges).
    async fn as_owner(&self, user: &UserRecord, statement: &str) -> Result<(), DatasetError> {
        let mut db = self.server.connect_superuser(&user.database).await?;
        let tx = db.transaction().await?;
        tx.batch_execute(&format!("SET LOCAL ROLE {}", quote_ident(&user.owner_role)))
            .await?;
        tx.batch_execute(statement).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn touch_dataset(
        &self,
        user: &UserRecord,
        dataset: &Dataset,
        name: Option<&str>,
        privacy: Option<Privacy>,
    ) -> Result<(), DatasetError> {
        let db = self.client(&user.database).await?;
        db.execute(
            &format!(
                "UPDATE {}.{} SET table_name = COALESCE($2, table_name),
                     privacy = COALESCE($3, privacy), updated_at = now()
                 WHERE id = $1::text::uuid",
                quote_ident(META_SCHEMA),
                quote_ident(DATASETS_TABLE)
            ),
            &[&dataset.id, &name, &privacy.map(Privacy::as_str)],
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_as_carto_makes_them() {
        assert_eq!(sanitize_table_name("Prism Tour"), "prism_tour");
        assert_eq!(sanitize_table_name("2 items"), "table_2_items");
        assert_eq!(sanitize_table_name("a--b\"; DROP"), "a_b_drop");
        assert_eq!(sanitize_table_name("   "), "untitled_table");
        assert_eq!(sanitize_table_name(&"x".repeat(80)).len(), 63);
    }

    #[test]
    fn privacy_names() {
        for p in [Privacy::Private, Privacy::Public, Privacy::Link] {
            assert_eq!(Privacy::parse(&p.as_str().to_uppercase()), Some(p));
        }
        assert_eq!(Privacy::parse("secret"), None);
        assert!(!Privacy::Private.readable_by_public());
        assert!(Privacy::Link.readable_by_public());
    }
}
