//! The sync entry point, [`Client`] (`carto::blocking::Client`): the same methods as
//! [`carto::Client`](crate::Client), blocking the calling thread. Never use it inside an
//! async runtime.

use std::sync::Arc;

use carto_apikeys::ApiKeyManager;
use carto_core::models::{DoToken, Me};
use carto_core::{Endpoint, Error};
use carto_sql::{BatchClient, CopyClient, SqlClient, Validation};
use carto_transport::Transport;

use crate::account::{GcloudCredentials, GetDoToken, GetMe};
pub use crate::client::Blocking;
use crate::client::CartoClient;

/// The blocking CARTO client: SQL API, Auth API, `/me` and the Data Observatory
/// token, for one account and key.
///
/// With the `ureq` feature (default), `Client::new(credentials)` sends through
/// ureq; [`Client::with_transport`](CartoClient::with_transport) takes any
/// [`Transport`]. Cloning is cheap and shares the transport (its connection pool).
/// `Debug` never shows the token.
#[cfg(feature = "ureq")]
pub type Client<T = carto_transport::UreqTransport> = CartoClient<T, Blocking>;
/// The blocking CARTO client: SQL API, Auth API, `/me` and the Data Observatory
/// token, for one account and key, over any [`Transport`]. `Debug` never shows the
/// token.
#[cfg(not(feature = "ureq"))]
pub type Client<T> = CartoClient<T, Blocking>;

impl<T: Transport> CartoClient<T, Blocking> {
    /// The SQL API.
    pub fn sql(&self) -> SqlClient<Arc<T>> {
        self.api(SqlClient::new)
    }

    /// The Batch API: long-running SQL run by CARTO in the background (master key).
    pub fn batch(&self) -> BatchClient<Arc<T>> {
        self.api(BatchClient::new)
    }

    /// The COPY API: bulk loads and exports, streamed both ways.
    pub fn copy(&self) -> CopyClient<Arc<T>> {
        self.api(CopyClient::new)
    }

    /// The Auth API (API keys).
    pub fn api_keys(&self) -> ApiKeyManager<Arc<T>> {
        self.api(ApiKeyManager::new)
    }

    /// Sends any endpoint and parses its answer.
    pub fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core().send(endpoint)
    }

    /// Checks the credentials with one request (`SELECT 1` through the SQL API): valid,
    /// or which of an unknown key, a key without the SQL grant, an unknown user, a base
    /// URL that is not CARTO or an unreachable host it is.
    pub fn validate(&self) -> Result<Validation, Error> {
        self.sql().validate()
    }

    /// `GET /api/v3/me`: the user the key belongs to.
    pub fn me(&self) -> Result<Me, Error> {
        self.send(&GetMe)
    }

    /// `GET /api/v4/do/token`: the Data Observatory token (master key or a key with the
    /// Data Observatory grant).
    pub fn do_token(&self) -> Result<DoToken, Error> {
        self.send(&GetDoToken)
    }

    /// BigQuery credentials for the Data Observatory, from [`do_token`](Self::do_token),
    /// as cartoframes' `get_gcloud_credentials()` returns them.
    pub fn gcloud_credentials(&self) -> Result<GcloudCredentials, Error> {
        self.do_token()?.try_into()
    }
}
