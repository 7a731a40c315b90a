//! carto-sql: the CARTO SQL API v2 (`/api/v2/sql`), sync and async.
//!
//! Each kind of query is a sans-IO [`Endpoint`](carto_core::Endpoint) built from a
//! [`Query`]: [`JsonQuery`] (typed rows, [`SqlResponse<T>`]), [`GeoJsonQuery`]
//! ([`FeatureCollection`]) and [`ExportQuery`] (CSV and other formats as bytes).
//! [`RowDecoder`] decodes a JSON result row by row as its bytes arrive.
//!
//! [`SqlClient`] (sync, over a [`Transport`](carto_transport::Transport)) and
//! [`AsyncSqlClient`] (async, over an [`AsyncTransport`](carto_transport::AsyncTransport)),
//! the two modes of one [`SqlApi`], drive them with the same method names: `query`,
//! `execute`, `geojson`, `export`, `export_reader` / `export_stream`, `query_rows`, each
//! in a plain form and a `_with(..., &options)` form taking [`QueryOptions`].
//!
//! The [`batch`] module holds the Batch API ([`BatchClient`], [`AsyncBatchClient`]: create,
//! get, cancel and wait for jobs) and the [`copy`] module the COPY API ([`CopyClient`],
//! [`AsyncCopyClient`]: streamed bulk loads and exports).
//!
//! ```no_run
//! # fn main() -> Result<(), carto_core::Error> {
//! use carto_sql::SqlClient;
//! # fn transport() -> impl carto_transport::Transport { carto_transport::transport_fn(|_| unreachable!()) }
//! #[derive(serde::Deserialize)]
//! struct Tornado { cartodb_id: i64, yr: i32 }
//!
//! let sql = SqlClient::from_credentials(transport(), carto_core::Credentials::from_env()?);
//! let result = sql.query::<Tornado>("SELECT cartodb_id, yr FROM tornadoes LIMIT 10")?;
//! println!("{} rows in {:?}", result.total_rows, result.time);
//! for row in sql.query_rows::<Tornado>("SELECT cartodb_id, yr FROM tornadoes")? {
//!     let row = row?;
//!     println!("{} {}", row.cartodb_id, row.yr);
//! }
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "arrow")]
pub mod arrow;
pub mod batch;
mod client;
pub mod copy;
#[cfg(feature = "geo")]
pub mod geo;
pub mod geojson;
pub mod query;
pub mod response;
pub mod rows;
mod seconds;
mod text_enum;
pub mod v3;
pub mod validate;
/// Waiting for jobs (the Batch API's and the SQL API v3's): carto-core's sans-IO waiter.
pub use carto_core::wait;

pub use self::geojson::{Feature, FeatureCollection, Geometry};
pub use client::{AsyncSqlClient, RowStream, Rows, SqlApi, SqlClient};
pub use query::{
    ExportQuery, Format, GeoJsonQuery, JsonQuery, MAX_GET_QUERY_LEN, Query, QueryOptions,
};
pub use response::{Field, Fields, SqlResponse, SqlSummary};
pub use rows::{RowDecoder, RowSplitter};
pub use validate::{Validate, Validation};

pub use batch::{
    AsyncBatchClient, BatchApi, BatchClient, BatchJob, JobQuery, JobStatus, WaitOptions,
};
pub use copy::{
    AsyncCopyClient, CopyApi, CopyClient, CopyFromOptions, CopyFromResult, CopyToOptions,
};
