//! CARTO 3: [`Client`] (async) and [`blocking::Client`] (sync), one client type for the
//! platform every new CARTO account is on, beside the legacy platform's
//! [`carto::Client`](crate::Client).
//!
//! A client holds the API base URL (`https://gcp-us-east1.api.carto.com`, a tenant's
//! `https://.../api`, or the emulator's) and a token source: a fixed Bearer token (an API
//! access token or an OAuth token, `CARTO_API_TOKEN`), or machine-to-machine client
//! credentials whose token is fetched from `{auth_url}/oauth/token`, cached, refreshed
//! before it expires and fetched again once after a 401. Clones share the transport and
//! the token.
//!
//! ```no_run
//! use carto::carto3::{ApiCredentials, blocking::Client};
//!
//! # fn main() -> Result<(), carto::Error> {
//! // CARTO_API_BASE_URL plus CARTO_API_TOKEN, or CARTO_M2M_CLIENT_ID and
//! // CARTO_M2M_CLIENT_SECRET (and CARTO_AUTH_URL for a tenant or the emulator).
//! let carto = Client::new(ApiCredentials::from_env()?)?;
//! let sql = carto.sql("carto_dw");
//! let answer = sql.query::<serde_json::Value>("SELECT 1 AS one")?;
//! println!("{:?} {:?}", answer.rows, answer.schema);
//! let job = sql.create_and_wait_with("CREATE TABLE t AS SELECT 1 AS one", &Default::default())?;
//! println!("job {} {}", job.job_id, job.status);
//! for token in carto.tokens().list()? {
//!     println!("{:?} {:?}", token.id, token.grants);
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;
use std::sync::Arc;

use carto_core::Error;
pub use carto_core::carto3::{
    AccessToken, ApiBaseUrl, ApiBaseUrlError, ApiContext, ApiCredentials, ApiEndpoint, AuthUrl,
    ClientCredentials, ClientSecret, TokenCache, TokenFile, TokenSource,
};
pub use carto_maps::v3::{MapSource, SourceInstance, TileJson};
pub use carto_sql::v3 as sql;
pub use carto_sql::v3::{Job, JobStatus, QueryOptions, QueryParameters, QueryResponse, Warehouse};
pub use carto_tokens as tokens;
pub use carto_tokens::{AllowedApi, ApiAccessToken, NewToken, TokenUpdate};
use carto_transport::{ApiCore, Async, AsyncTransport, Blocking, Mode, Transport};

use crate::client::DefaultTransport;
use crate::options::ClientOptions;

/// A CARTO 3 client sending through `T`, async or blocking as `M` says. Use it through
/// its two names, [`Client`] ([`Async`]) and [`blocking::Client`] ([`Blocking`]).
///
/// Cloning is cheap: the clone shares the transport (its connection pool) and the token
/// cache. `Debug` shows the context and the token source, never a token or a secret.
pub struct Carto3Client<T, M> {
    core: ApiCore<Arc<T>>,
    mode: PhantomData<fn() -> M>,
}

/// The async CARTO 3 client (reqwest by default).
#[cfg(feature = "reqwest")]
pub type Client<T = carto_transport::ReqwestTransport> = Carto3Client<T, Async>;
/// The async CARTO 3 client over any [`AsyncTransport`].
#[cfg(not(feature = "reqwest"))]
pub type Client<T> = Carto3Client<T, Async>;

/// The blocking CARTO 3 client.
pub mod blocking {
    pub use carto_transport::Blocking;

    use super::Carto3Client;

    /// The blocking CARTO 3 client (ureq by default). Never use it inside an async
    /// runtime.
    #[cfg(feature = "ureq")]
    pub type Client<T = carto_transport::UreqTransport> = Carto3Client<T, Blocking>;
    /// The blocking CARTO 3 client over any [`Transport`](carto_transport::Transport).
    #[cfg(not(feature = "ureq"))]
    pub type Client<T> = Carto3Client<T, Blocking>;
}

impl<M: DefaultTransport> Carto3Client<M::Transport, M> {
    /// A client for `credentials` on the default transport, with the default options.
    pub fn new(credentials: ApiCredentials) -> Result<Self, Error> {
        Self::with_options(credentials, ClientOptions::default())
    }

    /// A client for `credentials` on the default transport, with `options` (user agent,
    /// `client` parameter, retries, timeouts, TLS; the auth placement does not apply).
    pub fn with_options(
        credentials: ApiCredentials,
        options: ClientOptions,
    ) -> Result<Self, Error> {
        let transport = M::build(options.transport.clone())?;
        Ok(Self::with_transport_and_options(
            credentials,
            transport,
            &options,
        ))
    }

    /// A client for the credentials of the environment ([`ApiCredentials::from_env`]:
    /// `CARTO_API_BASE_URL`, then `CARTO_API_TOKEN` or `CARTO_M2M_CLIENT_ID` and
    /// `CARTO_M2M_CLIENT_SECRET`, and `CARTO_AUTH_URL`).
    pub fn from_env() -> Result<Self, Error> {
        Self::new(ApiCredentials::from_env()?)
    }

    /// A client for a carto-auth `carto_credentials.json` (`api_base_url`, `client_id`,
    /// `client_secret`, and `auth_url` when it is not CARTO's), such as the emulator's
    /// `<user>.carto3.json`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::new(ApiCredentials::from_carto_auth_file(path)?)
    }
}

impl<T, M> Carto3Client<T, M> {
    /// A client for `credentials` sending through `transport`, with the default options.
    pub fn with_transport(credentials: ApiCredentials, transport: T) -> Self {
        Self::with_transport_and_options(credentials, transport, &ClientOptions::default())
    }

    /// A client for `credentials` sending through `transport`, with `options` (its
    /// transport settings are not used).
    pub fn with_transport_and_options(
        credentials: ApiCredentials,
        transport: T,
        options: &ClientOptions,
    ) -> Self {
        let ctx = options.api_context(credentials.base_url().clone());
        let cache = TokenCache::new(credentials.token_source().clone())
            .with_user_agent(options.user_agent.clone());
        Self {
            core: ApiCore::with_cache(Arc::new(transport), ctx, cache),
            mode: PhantomData,
        }
    }

    /// The core: the transport, the context (base URL, user agent, retries) and the
    /// token cache.
    pub fn core(&self) -> &ApiCore<Arc<T>> {
        &self.core
    }

    /// The API base URL.
    pub fn base_url(&self) -> &ApiBaseUrl {
        self.core.context().base_url()
    }
}

impl<T, M: Mode> Carto3Client<T, M> {
    /// The SQL API v3 on `connection` (a connection's name in the CARTO workspace, such
    /// as `carto_dw`).
    pub fn sql(&self, connection: impl Into<String>) -> sql::SqlApi<Arc<T>, M> {
        sql::SqlApi::new(self.core.clone(), connection)
    }

    /// Map sources (`/v3/maps`): a table or a query as TileJSON and MVT tiles, and
    /// column stats.
    pub fn maps(&self) -> carto_maps::v3::SourcesApi<Arc<T>, M> {
        carto_maps::v3::SourcesApi::new(self.core.clone())
    }

    /// The Tokens API (needs an OAuth token: M2M credentials or a user's token).
    pub fn tokens(&self) -> tokens::TokensApi<Arc<T>, M> {
        tokens::TokensApi::new(self.core.clone())
    }
}

impl<T: Transport> Carto3Client<T, Blocking> {
    /// Sends any CARTO 3 endpoint with this client's token and parses its answer.
    pub fn send<E: ApiEndpoint + ?Sized>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send(endpoint)
    }

    /// The Bearer token requests carry now (fetched if none is cached), for another
    /// client (deck.gl, @carto/api-client) to use. A secret: never log it.
    pub fn access_token(&self) -> Result<AccessToken, Error> {
        self.core.access_token()
    }
}

impl<T: AsyncTransport> Carto3Client<T, Async> {
    /// Sends any CARTO 3 endpoint with this client's token and parses its answer.
    pub async fn send<E: ApiEndpoint + ?Sized>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// The Bearer token requests carry now (see [`blocking::Client::access_token`]).
    pub async fn access_token(&self) -> Result<AccessToken, Error> {
        self.core.access_token_async().await
    }
}

impl<T, M> Clone for Carto3Client<T, M> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            mode: PhantomData,
        }
    }
}

/// Shows the context and the token source, never a token or a secret.
impl<T, M: Mode> fmt::Debug for Carto3Client<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core
            .fmt_debug(&format!("{}Carto3Client", M::PREFIX), f)
    }
}
