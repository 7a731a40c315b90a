//! carto-apikeys: the CARTO Auth API v3 (`/api/v3/api_keys`), sync and async.
//!
//! Every operation is a sans-IO [`Endpoint`](carto_core::Endpoint) value in
//! [`endpoints`]; listing all pages is the [`Pager`] state machine. [`ApiKeyManager`]
//! (over a sync [`Transport`](carto_transport::Transport)) and [`AsyncApiKeyManager`]
//! (over an [`AsyncTransport`](carto_transport::AsyncTransport)), the two modes of one
//! [`AuthApi`], are thin drivers with the same method names: `create`, `get`, `list`,
//! `list_page`, `delete`, `regenerate`, `is_valid`.
//!
//! ```no_run
//! # fn main() -> Result<(), carto_core::Error> {
//! use carto_apikeys::{ApiKeyManager, ListOptions};
//! use carto_core::models::{NewApiKey, TablePermission};
//! # fn transport() -> impl carto_transport::Transport + Clone { carto_transport::transport_fn(|_| unreachable!()) }
//! let creds = carto_core::Credentials::from_env()?;
//! let keys = ApiKeyManager::from_credentials(transport(), creds);
//! let key = keys.create(
//!     NewApiKey::builder("reader")
//!         .table("public", "tornadoes", [TablePermission::Select])
//!         .build()?,
//! )?;
//! for key in keys.list_with(&ListOptions::regular()) {
//!     println!("{}", key?.name);
//! }
//! keys.delete(&key.name)?;
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod endpoints;
mod manager;
pub mod pager;

pub use endpoints::{ListOptions, ListOrder};
pub use manager::{ApiKeyManager, ApiKeyStream, ApiKeys, AsyncApiKeyManager, AuthApi};
pub use pager::{Pager, StopReason};
