//! carto: a Rust SDK for CARTO's platform APIs, sync or async.
//!
//! - [`Client`] (async, on reqwest by default) and [`blocking::Client`] (sync, on ureq by
//!   default) give, for one account and API key:
//!   - [`sql()`](Client::sql): the SQL API: typed rows, GeoJSON, CSV and other formats,
//!     results streamed row by row ([`sql`] module);
//!   - [`batch()`](Client::batch) and [`copy()`](Client::copy): the Batch API (SQL jobs
//!     run in the background) and the COPY API (bulk loads and exports, streamed);
//!   - [`api_keys()`](Client::api_keys): the Auth API: create, get, list, delete and
//!     regenerate API keys with fine-grained grants ([`api_keys`] module);
//!   - [`me()`](Client::me), [`do_token()`](Client::do_token) and
//!     [`gcloud_credentials()`](Client::gcloud_credentials).
//! - [`Credentials`]: a username, an API key and the account's base URL, from code, a
//!   cartoframes `creds.json`, the environment, or the process default.
//!
//! # Quickstart (sync)
//!
//! ```no_run
//! use carto::models::{NewApiKey, TablePermission};
//! use carto::{Credentials, blocking::Client};
//!
//! #[derive(serde::Deserialize)]
//! struct Tornado {
//!     cartodb_id: i64,
//!     yr: i32,
//! }
//!
//! fn main() -> Result<(), carto::Error> {
//!     // CARTO_BASE_URL=https://alice.carto.com CARTO_API_KEY=<master key>
//!     let client = Client::new(Credentials::from_env()?)?;
//!     let result = client
//!         .sql()
//!         .query::<Tornado>("SELECT cartodb_id, yr FROM tornadoes WHERE yr = 2023")?;
//!     println!("{} tornadoes", result.total_rows);
//!
//!     let key = client.api_keys().create(
//!         NewApiKey::builder("tornado reader")
//!             .table("public", "tornadoes", [TablePermission::Select])
//!             .build()?,
//!     )?;
//!     let reader = client.with_token(key.token.clone());
//!     let counted = reader
//!         .sql()
//!         .query::<serde_json::Value>("SELECT count(*) AS n FROM tornadoes")?;
//!     println!("the reader sees {} tornadoes", counted.rows[0]["n"]);
//!     client.api_keys().delete(&key.name)?;
//!     Ok(())
//! }
//! ```
//!
//! # Quickstart (async)
//!
//! ```no_run
//! use carto::{Client, Credentials, ListOptions};
//! use futures_util::StreamExt;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), carto::Error> {
//!     let client = Client::new(Credentials::from_file("creds.json")?)?;
//!     let rows = client
//!         .sql()
//!         .query::<serde_json::Value>("SELECT * FROM tornadoes LIMIT 5")
//!         .await?;
//!     println!("{:?}", rows.rows);
//!     let mut keys = client.api_keys().list_with(&ListOptions::regular());
//!     while let Some(key) = keys.next().await {
//!         println!("{}", key?.name);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Choosing a backend
//!
//! Both clients always compile; the features `ureq` and `reqwest` (both on by default)
//! only add the default transports.
//!
//! - [`blocking::Client`] sends through **ureq**: sync programs, CLIs, scripts. Never call
//!   it from inside an async runtime (it would block a runtime thread for the whole
//!   request); from async code use [`Client`], or `tokio::task::spawn_blocking`.
//! - [`Client`] sends through **reqwest** on tokio.
//! - Any other HTTP stack: implement [`Transport`] or [`AsyncTransport`] (one method
//!   each) and use `with_transport`. [`transport::transport_fn`] and
//!   [`transport::async_transport_fn`] turn a closure into a transport, for tests.
//!
//! Timeouts and TLS go in [`ClientOptions::transport`] ([`TransportConfig`]): an extra
//! root CA for an on-premise install with its own CA, and, as an explicit and loudly
//! named last resort, `danger_accept_invalid_certs`.
//!
//! # Testing your code
//!
//! With the `test-util` feature, `carto::test_util::MockTransport` answers queued responses
//! and records requests, for unit tests of code that uses either client. For tests that
//! need a real server, the `carto-emulator` crate runs CARTO's APIs on a local
//! PostgreSQL.
//!
//! # Security
//!
//! - The API key is a [`Token`]: its `Debug` is redacted and it has no `Display`. The
//!   `Debug` of credentials, clients and errors never shows it, and neither do error
//!   messages nor the request traces (method and path only).
//! - By default the key travels in the HTTP Basic `Authorization` header, marked
//!   sensitive. [`AuthPlacement::QueryParam`] puts it in the URL, where proxies and
//!   servers log it: opt in knowingly.
//! - `https` is required unless plain `http` is allowed explicitly
//!   ([`BaseUrl::parse_allow_http`], `allow_non_secure` in `creds.json`), for a local
//!   emulator.
//! - [`Credentials::save`] writes `creds.json` readable by its owner only (Unix).
//! - The master key can do everything; give programs a regular key with only the grants
//!   they need ([`models::NewApiKey::builder`]).

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod account;
pub mod blocking;
pub mod carto3;
mod client;
mod options;
#[cfg(feature = "test-util")]
pub mod test_util;

pub use account::GcloudCredentials;
pub use carto_core::models::{GetDoToken, GetMe};
pub use carto3::Carto3Client;
pub use client::{Async, CartoClient, Client, DefaultTransport};
pub use options::ClientOptions;

pub use carto_apikeys as api_keys;
pub use carto_apikeys::{ListOptions, ListOrder};
pub use carto_core::models;
pub use carto_core::retry;
pub use carto_core::{
    ApiError, AuthPlacement, BaseUrl, BaseUrlError, Credentials, CredentialsFailure, DecodeError,
    Endpoint, Error, InvalidInput, JobFailure, RateLimit, RequestContext, RetryPolicy, Token,
    TransportErrorKind, TransportFailure,
};
pub use carto_imports as imports;
pub use carto_maps as maps;
pub use carto_sql as sql;
/// Results as Arrow record batches and batches loaded into tables (feature `arrow`).
#[cfg(feature = "arrow")]
pub use carto_sql::arrow;
pub use carto_sql::{
    CopyFromOptions, CopyToOptions, Format, JobQuery, QueryOptions, SqlResponse, SqlSummary,
    Validation, WaitOptions,
};
pub use carto_transport as transport;
pub use carto_transport::{AsyncTransport, Transport, TransportConfig};

/// The credentials [`Client::from_default`] uses: the process default
/// ([`Credentials::set_default`]), else the default cartoframes `creds.json`
/// ([`Credentials::default_file_path`]).
pub fn default_credentials() -> Result<Credentials, Error> {
    match Credentials::default_credentials() {
        Some(credentials) => Ok(credentials),
        None => Credentials::from_default_file(),
    }
}

/// The README's Rust examples, compiled by `cargo test --doc` so they stay true.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
