//! The SQL API v3 of CARTO 3 (`/v3/sql/...`), sans-IO: synchronous queries on a
//! connection and jobs.
//!
//! - [`Query`]: `GET|POST /v3/sql/{connection}/query`, GET while the URL fits in
//!   [`DEFAULT_MAX_URL_LENGTH`] characters, POST above; rows typed with serde
//!   ([`QueryResponse`], with CARTO's `schema` types [`FieldType`] and the warehouse's
//!   [`QueryMeta`]); [`QueryParameters`] in the style of each [`Warehouse`].
//! - [`CreateJob`], [`GetJob`], [`CancelJob`], [`ListJobs`]: jobs, with the open
//!   [`JobStatus`]; [`JobWaiter`] waits for one (the Batch API's pacing).
//!
//! Each is an [`ApiEndpoint`](carto_core::carto3::ApiEndpoint) built with an
//! [`ApiContext`](carto_core::carto3::ApiContext).
//!
//! ```
//! use carto_core::carto3::{AccessToken, ApiBaseUrl, ApiContext, ApiEndpoint};
//! use carto_sql::v3::{Query, QueryParameters, Warehouse};
//!
//! let ctx = ApiContext::new(ApiBaseUrl::default()).with_access_token(&AccessToken::new("eyJ..."))?;
//! let query = Query::new("carto_dw", "SELECT * FROM t WHERE city = @city")
//!     .params(QueryParameters::named([("city", "Madrid")]))
//!     .warehouse(Warehouse::BigQuery);
//! let request = query.to_request(&ctx)?;
//! assert_eq!(request.method(), http::Method::GET);
//! # Ok::<(), carto_core::Error>(())
//! ```

#[cfg(feature = "arrow")]
mod arrow;
mod client;
mod jobs;
mod params;
mod query;
mod response;
mod rows;

pub use crate::wait::WaitOptions;
#[cfg(feature = "arrow")]
pub use arrow::ArrowAnswer;
pub use client::{AsyncSqlClient, QueryRowStream, QueryRows, SqlApi, SqlClient};
pub use jobs::{CancelJob, CreateJob, GetJob, Job, JobStatus, JobWaiter, ListJobs, WaitStep};
pub use params::{ParamStyle, QueryParameters, Warehouse};
pub use query::{
    API_VERSION, DEFAULT_MAX_URL_LENGTH, Query, QueryMethod, QueryOptions, query_error,
};
pub use response::{FieldType, QueryMeta, QueryResponse, Row, SchemaField};
pub use rows::{QueryRowDecoder, QueryTail};
