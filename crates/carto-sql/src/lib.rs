//! carto-sql: the CARTO SQL API v2 (`/api/v2/sql`), sync and async.
//!
//! Each kind of query is a sans-IO [`Endpoint`](carto_core::Endpoint) built from a
//! [`Query`]: [`JsonQuery`] (typed rows, [`SqlResponse<T>`]), [`GeoJsonQuery`]
//! ([`FeatureCollection`]) and [`ExportQuery`] (CSV and other formats as bytes).
//! [`RowDecoder`] decodes a JSON result row by row as its bytes arrive.

pub mod geojson;
pub mod query;
pub mod response;
pub mod rows;

pub use geojson::{Feature, FeatureCollection, Geometry};
pub use query::{ExportQuery, Format, GeoJsonQuery, JsonQuery, MAX_GET_QUERY_LEN, Query, QueryOptions};
pub use response::{Field, Fields, SqlResponse, SqlSummary};
pub use rows::{RowDecoder, RowSplitter};
