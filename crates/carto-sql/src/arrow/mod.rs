//! Results as Apache Arrow record batches, typed from the SQL API's `fields`, and
//! record batches loaded into tables (feature `arrow`).
//!
//! - [`SqlClient::query_arrow`](crate::SqlClient::query_arrow) /
//!   [`AsyncSqlClient::query_arrow`](crate::AsyncSqlClient::query_arrow): a query's
//!   result through the SQL API's JSON, as [`ArrowBatches`] (an iterator) or an
//!   [`ArrowStream`] of [`RecordBatch`]es of [`ArrowOptions::batch_rows`] rows.
//! - [`CopyClient::copy_to_arrow`](crate::CopyClient::copy_to_arrow) /
//!   [`AsyncCopyClient::copy_to_arrow`](crate::AsyncCopyClient::copy_to_arrow): the
//!   same through `COPY (query) TO STDOUT WITH (FORMAT csv)`, the bulk path (exact
//!   numerics and microseconds, less server work per row).
//! - [`CopyClient::copy_from_arrow`](crate::CopyClient::copy_from_arrow) /
//!   [`AsyncCopyClient::copy_from_arrow`](crate::AsyncCopyClient::copy_from_arrow):
//!   batches loaded into a table with `COPY table (columns) FROM STDIN WITH (FORMAT
//!   csv)`, encoded as they are sent.
//! - `to_polars` (feature `polars`): batches as a polars `DataFrame`.
//!
//! # The schema comes first, from a zero-row query
//!
//! The SQL API writes `fields` *after* the rows (`{"rows":[...],"time":..,"fields":..,
//! "total_rows":..}`, CARTO and carto-emulator alike), so a streamed result cannot be
//! typed from its own `fields` without holding every row until the end. Instead the
//! schema is read first with `SELECT * FROM (<query>) AS carto_arrow_schema LIMIT 0`
//! (PostgreSQL plans the query but runs nothing), and the rows are then decoded
//! straight into Arrow builders as they arrive: memory holds one batch, whatever the
//! result's size. The `fields` that end the streamed result are checked against that
//! schema, so a table changed between the two requests is an error, not a wrong
//! column. The query must therefore be usable as a subquery (a `SELECT`, `WITH ...
//! SELECT`, `VALUES` or `TABLE`; a trailing `;` is dropped), and its column names
//! must be distinct.
//!
//! # Types
//!
//! See [`schema_from_fields`] for the mapping. NULLs are kept in every type; a type
//! without a mapping becomes `Utf8`, never a dropped column. A value that does not
//! fit its Arrow type (an infinite date, a `numeric` with more decimal places than the
//! chosen `Decimal128` scale, `NaN` as a decimal, a multidimensional array) is an
//! error naming the row and column, never a silently changed value.
//!
//! Through the JSON path, values are what the SQL API writes: `int8` and `numeric`
//! are JavaScript numbers (exact up to 2^53 and 15-17 significant digits), timestamps
//! have whole seconds. Use `copy_to_arrow` when these matter: PostgreSQL's text
//! output is exact.
//!
//! **Geometries** (`geometry`, `geography`) arrive as hex EWKB and are stored as ISO
//! WKB in a `Binary` column with GeoArrow's `geoarrow.wkb` extension metadata
//! (`{"crs":"EPSG:4326","crs_type":"authority_code"}`, `"edges":"spherical"` for
//! geography) and the SRID in `carto:srid`. A column that declares its SRID
//! (`geometry(Point,4326)`, as CARTO tables do) has it from `fields`; for one that does
//! not (a computed geometry), the SRID of its first non-NULL value is read with one
//! more small query (`SELECT ST_SRID(col) ... LIMIT 1`, as GeoPandas' `read_postgis`
//! takes the first geometry's). A value with another SRID is an error.
//! `copy_from_arrow` writes EWKB with the field's SRID back.

mod client;
pub(crate) mod column;
mod csv;
mod encode;
mod json;
#[cfg(feature = "polars")]
mod polars;
pub(crate) mod schema;
mod text;
mod wkb;

/// The arrow-rs crates of these types, to build and read arrays with the same version.
pub use {arrow_array, arrow_schema};

pub use arrow_array::{RecordBatch, RecordBatchReader};
pub use arrow_schema::{Schema, SchemaRef};
pub use client::{ArrowBatches, ArrowStream};
#[cfg(feature = "polars")]
pub use polars::to_polars;
pub use schema::{
    EXTENSION_METADATA_KEY, EXTENSION_NAME_KEY, PGTYPE_KEY, SRID_KEY, schema_from_fields,
};

use crate::query::QueryOptions;

/// How `numeric` columns are read.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NumericAs {
    /// `Utf8`, the value's text: lossless whatever the precision (the default).
    #[default]
    Utf8,
    /// `Decimal128(precision, scale)`: exact; a value with more decimal places than
    /// `scale` or more digits than `precision` is an error, never rounded.
    Decimal128 {
        /// Total digits, 1 to 38.
        precision: u8,
        /// Digits after the point, 0 to `precision`.
        scale: i8,
    },
    /// `Float64`: approximate, handy for aggregates.
    Float64,
}

/// Options of `query_arrow_with`, `arrow_schema_with` and `copy_to_arrow_with` (the plain
/// forms use the defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrowOptions {
    batch_rows: usize,
    numeric: NumericAs,
    query: QueryOptions,
}

impl Default for ArrowOptions {
    fn default() -> Self {
        Self {
            batch_rows: Self::DEFAULT_BATCH_ROWS,
            numeric: NumericAs::default(),
            query: QueryOptions::default(),
        }
    }
}

impl ArrowOptions {
    /// Rows per batch unless set: 8192.
    pub const DEFAULT_BATCH_ROWS: usize = 8192;

    /// 8192-row batches, `numeric` as text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rows per record batch (at least 1; the last batch may be shorter). Memory holds
    /// about one batch at a time.
    pub fn batch_rows(mut self, rows: usize) -> Self {
        self.batch_rows = rows;
        self
    }

    /// How `numeric` columns are read.
    pub fn numeric(mut self, numeric: NumericAs) -> Self {
        self.numeric = numeric;
        self
    }

    /// SQL API options of `query_arrow` (`skipfields`, `use_get`, ...; the format is
    /// always JSON). `copy_to_arrow` ignores them.
    pub fn query_options(mut self, options: QueryOptions) -> Self {
        self.query = options;
        self
    }

    /// Rows per batch.
    pub fn rows_per_batch(&self) -> usize {
        self.batch_rows
    }

    /// How `numeric` columns are read.
    pub fn numeric_as(&self) -> NumericAs {
        self.numeric
    }

    fn check(&self) -> Result<(), carto_core::Error> {
        if self.batch_rows == 0 {
            return Err(carto_core::Error::invalid(
                "batch_rows",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
