//! The sync entry point, [`Client`] (`carto::blocking::Client`): the same methods as
//! [`carto::Client`](crate::Client), blocking the calling thread. Never use it inside an
//! async runtime.

pub use crate::client::Blocking;
use crate::client::CartoClient;

/// The blocking CARTO client: SQL API, Auth API, `/me` and the Data Observatory
/// token, for one account and key.
///
/// With the `ureq` feature (default), `Client::new(credentials)` sends through
/// ureq; [`Client::with_transport`](CartoClient::with_transport) takes any
/// [`Transport`](carto_transport::Transport). Cloning is cheap and shares the transport
/// (its connection pool). `Debug` never shows the token.
#[cfg(feature = "ureq")]
pub type Client<T = carto_transport::UreqTransport> = CartoClient<T, Blocking>;
/// The blocking CARTO client: SQL API, Auth API, `/me` and the Data Observatory
/// token, for one account and key, over any [`Transport`](carto_transport::Transport).
/// `Debug` never shows the token.
#[cfg(not(feature = "ureq"))]
pub type Client<T> = CartoClient<T, Blocking>;
