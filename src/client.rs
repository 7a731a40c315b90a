//! [`CartoClient`]: the one client type behind [`Client`] (async) and
//! [`blocking::Client`](crate::blocking::Client) (sync).
//!
//! Both are the same struct with a mode marker ([`Blocking`], [`Async`], from
//! carto-transport, shared with the clients of each API), so construction, credentials,
//! the transport and the clients of each API are written once; only the methods that
//! send differ, in one impl block per mode, side by side below.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use carto_apikeys::AuthApi;
use carto_core::models::{DoToken, Me};
use carto_core::{Credentials, Endpoint, Error, RequestContext, Token};
use carto_imports::ImportsApi;
use carto_maps::MapsApi;
use carto_sql::{BatchApi, CopyApi, SqlApi, Validation};
pub use carto_transport::{Async, Blocking, Mode};
use carto_transport::{AsyncTransport, ClientCore, Transport, TransportConfig};

use crate::account::GcloudCredentials;
use crate::options::ClientOptions;
use carto_core::models::{GetDoToken, GetMe};

/// The async CARTO client: SQL API, Auth API, `/me` and the Data Observatory
/// token, for one account and key.
///
/// With the `reqwest` feature (default), `Client::new(credentials)` sends through
/// reqwest; [`Client::with_transport`](CartoClient::with_transport) takes any
/// [`AsyncTransport`]. Cloning is cheap and shares the transport (its connection pool).
/// `Debug` never shows the token.
#[cfg(feature = "reqwest")]
pub type Client<T = carto_transport::ReqwestTransport> = CartoClient<T, Async>;
/// The async CARTO client: SQL API, Auth API, `/me` and the Data Observatory
/// token, for one account and key, over any [`AsyncTransport`]. `Debug` never shows
/// the token.
#[cfg(not(feature = "reqwest"))]
pub type Client<T> = CartoClient<T, Async>;

/// A CARTO client for one account and key, sending through `T`, async or blocking as
/// `M` says. Use it through its two names, [`Client`] ([`Async`]) and
/// [`blocking::Client`](crate::blocking::Client) ([`Blocking`]).
///
/// Cloning is cheap and shares the transport (its connection pool). `Debug` shows the
/// request context, never the token, nor the transport.
pub struct CartoClient<T, M> {
    core: ClientCore<Arc<T>>,
    mode: PhantomData<fn() -> M>,
}

/// A client mode with a default transport: [`Async`] with the `reqwest` feature
/// ([`ReqwestTransport`](carto_transport::ReqwestTransport)), [`Blocking`] with the
/// `ureq` feature ([`UreqTransport`](carto_transport::UreqTransport)). Gives
/// `Client::new` and its siblings. Sealed, as [`Mode`] is.
pub trait DefaultTransport: Mode {
    /// The transport `new` builds.
    type Transport;

    /// Builds that transport from `config`.
    fn build(config: TransportConfig) -> Result<Self::Transport, Error>;
}

#[cfg(feature = "reqwest")]
impl DefaultTransport for Async {
    type Transport = carto_transport::ReqwestTransport;

    fn build(config: TransportConfig) -> Result<Self::Transport, Error> {
        Ok(carto_transport::ReqwestTransport::with_config(config)?)
    }
}

#[cfg(feature = "ureq")]
impl DefaultTransport for Blocking {
    type Transport = carto_transport::UreqTransport;

    fn build(config: TransportConfig) -> Result<Self::Transport, Error> {
        Ok(carto_transport::UreqTransport::with_config(config)?)
    }
}

impl<M: DefaultTransport> CartoClient<M::Transport, M> {
    /// A client for `credentials` on the default transport (reqwest for [`Client`],
    /// ureq for [`blocking::Client`](crate::blocking::Client)), with the default options.
    pub fn new(credentials: Credentials) -> Result<Self, Error> {
        Self::with_options(credentials, ClientOptions::default())
    }

    /// A client for `credentials` on the default transport, with `options` (auth
    /// placement, user agent, timeouts, TLS).
    pub fn with_options(credentials: Credentials, options: ClientOptions) -> Result<Self, Error> {
        let transport = M::build(options.transport.clone())?;
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

impl<T, M> CartoClient<T, M> {
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
        Self::from_core(ClientCore::new(
            Arc::new(transport),
            options.context(credentials),
        ))
    }

    fn from_core(core: ClientCore<Arc<T>>) -> Self {
        Self {
            core,
            mode: PhantomData,
        }
    }

    /// The same client with another key of the same account (sharing the transport).
    pub fn with_token(&self, token: impl Into<Token>) -> Self {
        self.with_credentials(self.credentials().with_token(token))
    }

    /// The same client with other credentials (sharing the transport and options).
    pub fn with_credentials(&self, credentials: Credentials) -> Self {
        Self::from_core(self.core.with_credentials(credentials))
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

    /// The client of one API, sharing the transport and a copy of the context.
    fn api<C>(&self, make: impl FnOnce(Arc<T>, RequestContext) -> C) -> C {
        let (transport, ctx) = self.core.clone().into_parts();
        make(transport, ctx)
    }
}

/// Cheap: shares the transport (its connection pool).
impl<T, M> Clone for CartoClient<T, M> {
    fn clone(&self) -> Self {
        Self::from_core(self.core.clone())
    }
}

/// Shows the request context (never the token), not the transport.
impl<T, M> fmt::Debug for CartoClient<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_debug("Client", f)
    }
}

/// The clients of each API, in the client's mode, sharing its transport and a copy of
/// its context.
impl<T, M: Mode> CartoClient<T, M> {
    /// The SQL API.
    pub fn sql(&self) -> SqlApi<Arc<T>, M> {
        self.api(SqlApi::new)
    }

    /// The Batch API: long-running SQL run by CARTO in the background (master key).
    pub fn batch(&self) -> BatchApi<Arc<T>, M> {
        self.api(BatchApi::new)
    }

    /// The COPY API: bulk loads and exports, streamed both ways.
    pub fn copy(&self) -> CopyApi<Arc<T>, M> {
        self.api(CopyApi::new)
    }

    /// The Auth API (API keys).
    pub fn api_keys(&self) -> AuthApi<Arc<T>, M> {
        self.api(AuthApi::new)
    }

    /// The Import API and sync tables (master key).
    pub fn imports(&self) -> ImportsApi<Arc<T>, M> {
        self.api(|transport, ctx| ImportsApi::new(ClientCore::new(transport, ctx)))
    }

    /// The Maps API: named and anonymous maps, tiles, attributes, static images.
    pub fn maps(&self) -> MapsApi<Arc<T>, M> {
        self.api(|transport, ctx| MapsApi::new(ClientCore::new(transport, ctx)))
    }
}

impl<T: Transport> CartoClient<T, Blocking> {
    /// Sends any endpoint and parses its answer.
    pub fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send(endpoint)
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

impl<T: AsyncTransport> CartoClient<T, Async> {
    /// Sends any endpoint and parses its answer.
    pub async fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// Checks the credentials with one request (`SELECT 1` through the SQL API): valid,
    /// or which of an unknown key, a key without the SQL grant, an unknown user, a base
    /// URL that is not CARTO or an unreachable host it is.
    pub async fn validate(&self) -> Result<Validation, Error> {
        self.sql().validate().await
    }

    /// `GET /api/v3/me`: the user the key belongs to.
    pub async fn me(&self) -> Result<Me, Error> {
        self.send(&GetMe).await
    }

    /// `GET /api/v4/do/token`: the Data Observatory token (master key or a key with the
    /// Data Observatory grant).
    pub async fn do_token(&self) -> Result<DoToken, Error> {
        self.send(&GetDoToken).await
    }

    /// BigQuery credentials for the Data Observatory, from [`do_token`](Self::do_token),
    /// as cartoframes' `get_gcloud_credentials()` returns them.
    pub async fn gcloud_credentials(&self) -> Result<GcloudCredentials, Error> {
        self.do_token().await?.try_into()
    }
}
