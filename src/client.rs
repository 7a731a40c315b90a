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

/// The async CARTO client: SQL API, Auth API, `/me` and the Data Observatory
/// token, for one account and key.
///
/// With the `reqwest` feature (default), `Client::new(credentials)` sends through
/// reqwest; [`Client::with_transport`] takes any [`AsyncTransport`]. Cloning is
/// cheap and shares the transport (its connection pool). `Debug` never shows the
/// token.
pub struct Client<
    #[cfg(feature = "reqwest")] T = carto_transport::ReqwestTransport,
    #[cfg(not(feature = "reqwest"))] T,
> {
    core: ClientCore<Arc<T>>,
}

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
            core: ClientCore::new(Arc::new(transport), options.context(credentials)),
        }
    }

    /// The same client with another key of the same account (sharing the transport).
    pub fn with_token(&self, token: impl Into<Token>) -> Self {
        self.with_credentials(self.credentials().with_token(token))
    }

    /// The same client with other credentials (sharing the transport and options).
    pub fn with_credentials(&self, credentials: Credentials) -> Self {
        Self {
            core: self.core.with_credentials(credentials),
        }
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        self.core.context().credentials()
    }

    /// The request context every call uses.
    pub fn context(&self) -> &RequestContext {
        self.core.context()
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        self.core.transport()
    }

    /// The shared transport and a copy of the context, for an API client.
    fn parts(&self) -> (Arc<T>, RequestContext) {
        self.core.clone().into_parts()
    }
}

/// Cheap: shares the transport (its connection pool).
impl<T> Clone for Client<T> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
        }
    }
}

/// Shows the request context (never the token), not the transport.
impl<T> fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_debug("Client", f)
    }
}

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
