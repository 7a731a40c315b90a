//! [`Client`]: the async entry point.

use std::fmt;
use std::sync::Arc;

use carto_apikeys::AsyncApiKeyManager;
use carto_core::models::{DoToken, Me};
use carto_core::{Credentials, Endpoint, Error, RequestContext, Token};
use carto_sql::{AsyncBatchClient, AsyncCopyClient, AsyncSqlClient};
use carto_transport::{AsyncTransport, ClientCore};

use crate::account::{GcloudCredentials, GetDoToken, GetMe};
use crate::options::ClientOptions;

macro_rules! client_struct {
    ($($default:tt)*) => {
        /// The async CARTO client: SQL API, Auth API, `/me` and the Data Observatory
        /// token, for one account and key.
        ///
        /// With the `reqwest` feature (default), `Client::new(credentials)` sends through
        /// reqwest; [`Client::with_transport`] takes any [`AsyncTransport`]. Cloning is
        /// cheap and shares the transport (its connection pool). `Debug` never shows the
        /// token.
        pub struct Client<T $($default)*> {
            core: ClientCore<Arc<T>>,
        }
    };
}

#[cfg(feature = "reqwest")]
client_struct!(= carto_transport::ReqwestTransport);
#[cfg(not(feature = "reqwest"))]
client_struct!();

crate::shared::facade_client!("reqwest", ReqwestTransport, AsyncTransport);

impl<T: AsyncTransport> Client<T> {
    /// The SQL API.
    pub fn sql(&self) -> AsyncSqlClient<Arc<T>> {
        let (transport, ctx) = self.parts();
        AsyncSqlClient::new(transport, ctx)
    }

    /// The Batch API: long-running SQL run by CARTO in the background (master key).
    pub fn batch(&self) -> AsyncBatchClient<Arc<T>> {
        let (transport, ctx) = self.parts();
        AsyncBatchClient::new(transport, ctx)
    }

    /// The COPY API: bulk loads and exports, streamed both ways.
    pub fn copy(&self) -> AsyncCopyClient<Arc<T>> {
        let (transport, ctx) = self.parts();
        AsyncCopyClient::new(transport, ctx)
    }

    /// The Auth API (API keys).
    pub fn api_keys(&self) -> AsyncApiKeyManager<Arc<T>> {
        let (transport, ctx) = self.parts();
        AsyncApiKeyManager::new(transport, ctx)
    }

    /// Sends any endpoint and parses its answer.
    pub async fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// `GET /api/v3/me`: the user the key belongs to.
    pub async fn me(&self) -> Result<Me, Error> {
        self.send(&GetMe).await
    }

    /// `GET /api/v4/do/token`: the Data Observatory token.
    pub async fn do_token(&self) -> Result<DoToken, Error> {
        self.send(&GetDoToken).await
    }

    /// The BigQuery project and access token of the Data Observatory, as cartoframes'
    /// `get_gcloud_credentials()` gives them.
    pub async fn gcloud_credentials(&self) -> Result<GcloudCredentials, Error> {
        self.do_token().await?.try_into()
    }
}
