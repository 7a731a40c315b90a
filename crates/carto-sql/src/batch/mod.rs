//! The Batch SQL API (`/api/v2/sql/job`): long-running SQL run by CARTO in the
//! background, as the user's master role.
//!
//! - [`JobQuery`]: what a job runs, in CARTO's three forms (one SQL text, a list of
//!   queries, queries with `onsuccess` / `onerror` fallbacks and per-query timeouts).
//! - [`BatchJob`], [`JobStatus`], [`JobQueries`]: the job document.
//! - [`CreateJob`], [`GetJob`], [`CancelJob`]: the endpoints, sans-IO.
//! - [`JobWaiter`]: when to read the job again, what a refused read means and when to
//!   stop, sans-IO ([`WaitStep`]), with
//!   [`WaitOptions`] (backoff from 1 s up to a cap, bounded by a timeout).
//! - [`BatchClient`] (sync) and [`AsyncBatchClient`] (async), the two modes of one
//!   [`BatchApi`]: `create`, `get`, `cancel`, `wait`, `create_and_wait`.
//!
//! Waiting fails with [`Error::JobFailed`](carto_core::Error::JobFailed) when the job
//! ends `failed`, `cancelled`, `unknown` or `skipped` (the official Python SDK misses
//! `cancelled`, which it spells `canceled`), and with
//! [`Error::WaitTimeout`](carto_core::Error::WaitTimeout) past the timeout. CARTO has
//! no endpoint listing jobs, keeps finished jobs for about two hours, and answers an
//! unknown id with a 400.

mod client;
mod endpoint;
mod model;
mod query;
mod waiter;

pub use client::{AsyncBatchClient, BatchApi, BatchClient};
pub use endpoint::{CancelJob, CreateJob, GetJob, MAX_PAYLOAD_LEN};
pub use model::{BatchJob, BatchQuery, FallbackQueries, JobQueries, JobStatus};
pub use query::{FallbackJob, FallbackQuery, JobQuery};
pub use waiter::{JobWaiter, WaitOptions, WaitStep};
