//! The sync entry point, [`Client`] (`carto::blocking::Client`): the same methods as
//! [`carto::Client`](crate::Client), blocking the calling thread. Never use it inside an
//! async runtime.

use std::fmt;
use std::sync::Arc;

use carto_apikeys::ApiKeyManager;
use carto_core::models::{DoToken, Me};
use carto_core::{Credentials, Endpoint, Error, RequestContext, Token};
use carto_sql::{BatchClient, CopyClient, SqlClient};
use carto_transport::{ClientCore, Transport};

use crate::account::{GcloudCredentials, GetDoToken, GetMe};
use crate::options::ClientOptions;

macro_rules! client_struct {
    ($($default:tt)*) => {
        /// The blocking CARTO client: SQL API, Auth API, `/me` and the Data Observatory
        /// token, for one account and key.
        ///
        /// With the `ureq` feature (default), `Client::new(credentials)` sends through
        /// ureq; [`Client::with_transport`] takes any [`Transport`]. Cloning is
        /// cheap and shares the transport (its connection pool). `Debug` never shows the
        /// token.
        pub struct Client<T $($default)*> {
            core: ClientCore<Arc<T>>,
        }
    };
}

#[cfg(feature = "ureq")]
client_struct!(= carto_transport::UreqTransport);
#[cfg(not(feature = "ureq"))]
client_struct!();

crate::shared::facade_client!("ureq", UreqTransport, Transport);

impl<T: Transport> Client<T> {
    /// The SQL API.
    pub fn sql(&self) -> SqlClient<Arc<T>> {
        let (transport, ctx) = self.parts();
        SqlClient::new(transport, ctx)
    }

    /// The Batch API: long-running SQL run by CARTO in the background (master key).
    pub fn batch(&self) -> BatchClient<Arc<T>> {
        let (transport, ctx) = self.parts();
        BatchClient::new(transport, ctx)
    }

    /// The COPY API: bulk loads and exports, streamed both ways.
    pub fn copy(&self) -> CopyClient<Arc<T>> {
        let (transport, ctx) = self.parts();
        CopyClient::new(transport, ctx)
    }

    /// The Auth API (API keys).
    pub fn api_keys(&self) -> ApiKeyManager<Arc<T>> {
        let (transport, ctx) = self.parts();
        ApiKeyManager::new(transport, ctx)
    }

    /// Sends any endpoint and parses its answer.
    pub fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send(endpoint)
    }

    /// `GET /api/v3/me`: the user the key belongs to.
    pub fn me(&self) -> Result<Me, Error> {
        self.send(&GetMe)
    }

    /// `GET /api/v4/do/token`: the Data Observatory token.
    pub fn do_token(&self) -> Result<DoToken, Error> {
        self.send(&GetDoToken)
    }

    /// The BigQuery project and access token of the Data Observatory, as cartoframes'
    /// `get_gcloud_credentials()` gives them.
    pub fn gcloud_credentials(&self) -> Result<GcloudCredentials, Error> {
        self.do_token()?.try_into()
    }
}
