//! Loading an import's rows into the user's schema, as the master key could with SQL: one
//! transaction with the user's owner role creates the table (all text), streams the rows in
//! with COPY, types the columns as guessed, makes `the_geom` (GeoJSON geometries, or points
//! from longitude/latitude columns), cartodbfies it, then applies the import's privacy as
//! the datasets endpoints do. Every name is quoted; no value is ever part of SQL text.

use bytes::Bytes;
use futures_util::SinkExt;
use tokio::io::AsyncReadExt;

use super::Store;
use super::records::UserRecord;
use crate::ident::{qualified, quote_ident};
use crate::imports::{Collision, ColumnType, ImportFailure, ImportOptions, Loaded, errors, names};
use crate::store::Privacy;

/// The table an import made.
#[derive(Debug, Clone)]
pub(crate) struct ImportedTable {
    /// Its dataset id.
    pub id: String,
    /// Its name.
    pub name: String,
}

fn unknown(e: impl std::fmt::Display) -> ImportFailure {
    ImportFailure::new(errors::UNKNOWN, e.to_string())
}

/// A PostgreSQL refusal as CARTO's code: 2011 for a bad `cartodb_id`, `code` otherwise.
fn refused(code: i64) -> impl Fn(tokio_postgres::Error) -> ImportFailure {
    move |e| match e.as_db_error() {
        Some(db) if db.message().contains("invalid cartodb_id") => {
            ImportFailure::new(errors::INVALID_CARTODB_ID, db.message())
        }
        Some(db) => ImportFailure::new(code, db.message()),
        None => unknown(e),
    }
}

impl Store {
    /// Loads `loaded` as a new table named after `base` (§9.1's collisions); `None` when
    /// the name was taken and `collision_strategy` is `skip`.
    pub(crate) async fn import_table(
        &self,
        user: &UserRecord,
        base: &str,
        loaded: &Loaded,
        options: ImportOptions,
    ) -> Result<Option<ImportedTable>, ImportFailure> {
        let has_geometry = loaded
            .columns
            .iter()
            .any(|(_, t)| *t == ColumnType::GeoJson);
        if has_geometry && !user.postgis {
            return Err(ImportFailure::new(
                errors::UNSUPPORTED,
                "geometries need PostGIS, which this emulator's PostgreSQL lacks",
            ));
        }
        let mut db = self
            .server
            .connect_superuser(&user.database)
            .await
            .map_err(unknown)?;
        let tx = db.transaction().await.map_err(unknown)?;
        tx.batch_execute(&format!("SET LOCAL ROLE {}", quote_ident(&user.owner_role)))
            .await
            .map_err(unknown)?;
        // Every relation name of the schema (tables, sequences and indexes share them).
        let taken: Vec<String> = tx
            .query(
                "SELECT c.relname::text FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
                  WHERE n.nspname OPERATOR(pg_catalog.=) $1",
                &[&user.schema],
            )
            .await
            .map_err(unknown)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let name = if !taken.iter().any(|t| t == base) {
            base.to_owned()
        } else {
            match options.collision {
                Collision::Skip => return Ok(None),
                Collision::Overwrite => {
                    tx.batch_execute(&format!("DROP TABLE {}", qualified(&user.schema, base)))
                        .await
                        .map_err(refused(errors::UNABLE_TO_LOAD))?;
                    base.to_owned()
                }
                Collision::Rename => (1..10_000)
                    .map(|n| names::alternative(base, n))
                    .find(|c| !taken.contains(c))
                    .ok_or_else(|| ImportFailure::new(errors::UNKNOWN, "no free table name"))?,
            }
        };
        let table = qualified(&user.schema, &name);
        let columns: Vec<String> = loaded.columns.iter().map(|(c, _)| quote_ident(c)).collect();
        tx.batch_execute(&format!(
            "CREATE TABLE {table} ({})",
            columns
                .iter()
                .map(|c| format!("{c} text"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .await
        .map_err(refused(errors::UNABLE_TO_LOAD))?;
        // The rows, streamed from their file.
        let sink = tx
            .copy_in(&format!("COPY {table} ({}) FROM STDIN", columns.join(", ")))
            .await
            .map_err(refused(errors::UNABLE_TO_LOAD))?;
        let mut sink = std::pin::pin!(sink);
        let mut file = tokio::fs::File::open(loaded.rows.path())
            .await
            .map_err(unknown)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = file.read(&mut buf).await.map_err(unknown)?;
            if n == 0 {
                break;
            }
            sink.send(Bytes::copy_from_slice(&buf[..n]))
                .await
                .map_err(refused(errors::UNABLE_TO_LOAD))?;
        }
        sink.as_mut()
            .finish()
            .await
            .map_err(refused(errors::UNABLE_TO_LOAD))?;
        // The guessed types.
        let alters: Vec<String> = loaded
            .columns
            .iter()
            .filter(|(_, t)| !matches!(t, ColumnType::Text | ColumnType::GeoJson))
            .map(|(c, t)| {
                let c = quote_ident(c);
                format!(
                    "ALTER COLUMN {c} TYPE {ty} USING pg_catalog.btrim({c})::{ty}",
                    ty = t.sql()
                )
            })
            .collect();
        if !alters.is_empty() {
            tx.batch_execute(&format!("ALTER TABLE {table} {}", alters.join(", ")))
                .await
                .map_err(refused(errors::UNABLE_TO_LOAD))?;
        }
        if user.postgis {
            self.georeference(&tx, &table, loaded).await?;
            tx.query_one(
                "SELECT cartodb.CDB_CartodbfyTable($1::text, $2::text::regclass)::text",
                &[&user.schema, &table],
            )
            .await
            .map_err(refused(errors::UNABLE_TO_LOAD))?;
        } else {
            // No PostGIS: the key alone (the geometry columns need it).
            tx.batch_execute(&format!(
                "ALTER TABLE {table} ADD COLUMN cartodb_id serial PRIMARY KEY"
            ))
            .await
            .map_err(refused(errors::UNABLE_TO_LOAD))?;
        }
        tx.commit().await.map_err(refused(errors::UNABLE_TO_LOAD))?;
        let dataset = self.dataset(user, &name).await.map_err(unknown)?;
        if options.privacy != Privacy::Private {
            self.set_dataset_privacy(user, &dataset, options.privacy)
                .await
                .map_err(unknown)?;
        }
        Ok(Some(ImportedTable {
            id: dataset.id,
            name,
        }))
    }

    /// `the_geom`: the GeoJSON column converted in place, else a point from the longitude
    /// and latitude columns.
    async fn georeference(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        table: &str,
        loaded: &Loaded,
    ) -> Result<(), ImportFailure> {
        if let Some((geojson, _)) = loaded
            .columns
            .iter()
            .find(|(_, t)| *t == ColumnType::GeoJson)
        {
            let c = quote_ident(geojson);
            tx.batch_execute(&format!(
                "ALTER TABLE {table} ALTER COLUMN {c} TYPE public.geometry(Geometry, 4326)
                     USING public.ST_SetSRID(public.ST_GeomFromGeoJSON({c}), 4326)"
            ))
            .await
            .map_err(refused(errors::INVALID_GEOJSON))?;
            if geojson != "the_geom" {
                tx.batch_execute(&format!(
                    "ALTER TABLE {table} RENAME COLUMN {c} TO the_geom"
                ))
                .await
                .map_err(refused(errors::UNABLE_TO_LOAD))?;
            }
        } else if let Some((lon, lat)) = &loaded.lon_lat {
            if loaded.columns.iter().any(|(c, _)| c == "the_geom") {
                return Ok(());
            }
            // A generated column, then a plain one: one rewrite, rows kept in order.
            tx.batch_execute(&format!(
                "ALTER TABLE {table} ADD COLUMN the_geom public.geometry(Geometry, 4326)
                     GENERATED ALWAYS AS (public.ST_SetSRID(public.ST_MakePoint(
                         {lon}::float8, {lat}::float8), 4326)) STORED;
                 ALTER TABLE {table} ALTER COLUMN the_geom DROP EXPRESSION",
                lon = quote_ident(lon),
                lat = quote_ident(lat),
            ))
            .await
            .map_err(refused(errors::UNABLE_TO_LOAD))?;
        }
        Ok(())
    }
}
