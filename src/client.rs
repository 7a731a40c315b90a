//! [`Client`]: the async entry point.

use std::fmt;
use std::sync::Arc;

use carto_apikeys::AsyncApiKeyManager;
use carto_core::models::{DoToken, Me};
use carto_core::{Credentials, Endpoint, Error, RequestContext, Token};
use carto_sql::{AsyncBatchClient, AsyncCopyClient, AsyncSqlClient};
use carto_transport::AsyncTransport;

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
            transport: Arc<T>,
            ctx: RequestContext,
        }
    };
}

#[cfg(feature = "reqwest")]
client_struct!(= carto_transport::ReqwestTransport);
#[cfg(not(feature = "reqwest"))]
client_struct!();

#[cfg(feature = "reqwest")]
impl Client<carto_transport::ReqwestTransport> {
    /// A client for `credentials` on reqwest, with the default options.
    pub fn new(credentials: Credentials) -> Result<Self, Error> {
        Self::with_options(credentials, ClientOptions::default())
    }

    /// A client for `credentials` on reqwest, with `options` (auth placement, user
    /// agent, timeouts, TLS).
    pub fn with_options(credentials: Credentials, options: ClientOptions) -> Result<Self, Error> {
        let transport = carto_transport::ReqwestTransport::with_config(options.transport.clone())?;
        Ok(Self::with_transport_and_options(
            credentials,
            transport,
            &options,
        ))
    }

    /// A client for the credentials of the environment (`CARTO_BASE_URL` or
    /// `CARTO_USERNAME`, `CARTO_API_KEY`; see [`Credentials::from_env`]).
    pub fn from_env() -> Result<Self, Error> {
        Self::new(Credentials::from_env()?)
    }

    /// A client for the process default credentials ([`Credentials::set_default`]),
    /// else those of the default `creds.json` ([`Credentials::default_file_path`]).
    pub fn from_default() -> Result<Self, Error> {
        Self::new(crate::default_credentials()?)
    }
}

impl<T: AsyncTransport> Client<T> {
    /// A client for `credentials` sending through `transport`, with the default options
    /// (the key in the Basic header).
    pub fn with_transport(credentials: Credentials, transport: T) -> Self {
        Self::with_transport_and_options(credentials, transport, &ClientOptions::default())
    }

    /// A client for `credentials` sending through `transport`, with `options` (its
    /// transport settings are not used).
    pub fn with_transport_and_options(
        credentials: Credentials,
        transport: T,
        options: &ClientOptions,
    ) -> Self {
        Self {
            transport: Arc::new(transport),
            ctx: options.context(credentials),
        }
    }

    /// The same client with another key of the same account (sharing the transport).
    pub fn with_token(&self, token: impl Into<Token>) -> Self {
        self.with_credentials(self.ctx.credentials().with_token(token))
    }

    /// The same client with other credentials (sharing the transport and options).
    pub fn with_credentials(&self, credentials: Credentials) -> Self {
        Self {
            transport: self.transport.clone(),
            ctx: self.ctx.clone().with_credentials(credentials),
        }
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        self.ctx.credentials()
    }

    /// The request context every call uses.
    pub fn context(&self) -> &RequestContext {
        &self.ctx
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The SQL API.
    pub fn sql(&self) -> AsyncSqlClient<Arc<T>> {
        AsyncSqlClient::new(self.transport.clone(), self.ctx.clone())
    }

    /// The Batch API: long-running SQL run by CARTO in the background (master key).
    pub fn batch(&self) -> AsyncBatchClient<Arc<T>> {
        AsyncBatchClient::new(self.transport.clone(), self.ctx.clone())
    }

    /// The COPY API: bulk loads and exports, streamed both ways.
    pub fn copy(&self) -> AsyncCopyClient<Arc<T>> {
        AsyncCopyClient::new(self.transport.clone(), self.ctx.clone())
    }

    /// The Auth API (API keys).
    pub fn api_keys(&self) -> AsyncApiKeyManager<Arc<T>> {
        AsyncApiKeyManager::new(self.transport.clone(), self.ctx.clone())
    }

    /// Sends any endpoint and parses its answer.
    pub async fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        carto_transport::send_async(&*self.transport, &self.ctx, endpoint).await
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

impl<T> Clone for Client<T> {
    fn clone(&self) -> Self {
        Self {
            transport: self.transport.clone(),
            ctx: self.ctx.clone(),
        }
    }
}

impl<T> fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("context", &self.ctx)
            .finish_non_exhaustive()
    }
}
