//! carto-imports: the Import API v1 and sync tables of CARTO's legacy platform.
//!
//! An import is a job: [`ImportsClient::import_file`] uploads a file (streamed from disk,
//! opened again when the upload is retried) or [`ImportsClient::import_url`] has CARTO
//! download one; CARTO answers an id at once, and [`ImportsClient::wait`] follows the
//! import through CARTO's states ([`ImportState`]) to its table, or to
//! [`Error::JobFailed`](carto_core::Error::JobFailed) with CARTO's error code and title.
//! Sync tables ([`Sync`]) import a URL again every interval. Every operation needs the
//! master key. [`endpoints`] holds them as sans-IO endpoints.
//!
//! ```no_run
//! use carto_core::{BaseUrl, Credentials};
//! use carto_imports::{ImportOptions, ImportsClient, Privacy};
//!
//! # fn run(transport: impl carto_transport::Transport) -> Result<(), carto_core::Error> {
//! let credentials = Credentials::new(BaseUrl::parse("https://alice.carto.com")?, "master-key");
//! let imports = ImportsClient::from_credentials(transport, credentials);
//! let queued = imports.import_file_with("stations.csv", &ImportOptions::new().privacy(Privacy::Link))?;
//! let done = imports.wait(&queued.item_queue_id)?;
//! println!("table {:?}", done.table_name);
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
pub mod endpoints;
mod models;

pub use client::{AsyncImportsClient, ImportsApi, ImportsClient};
pub use models::{
    CollisionStrategy, ErrorText, Import, ImportOptions, ImportQueued, ImportState,
    MIN_SYNC_INTERVAL, Privacy, Sync, SyncImport,
};
