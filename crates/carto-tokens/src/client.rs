//! [`TokensApi`]: the Tokens API client, blocking ([`TokensClient`], over a
//! [`Transport`]) or async ([`AsyncTokensClient`], over an [`AsyncTransport`]); each
//! operation's two methods side by side.

use std::fmt;
use std::marker::PhantomData;

use carto_core::Error;
use carto_core::carto3::{AccessToken, ApiCredentials, ApiEndpoint};
use carto_transport::{ApiCore, Async, AsyncTransport, Blocking, Mode, Transport};

use crate::endpoints::{CreateToken, DeleteToken, GetToken, ListTokens, UpdateToken};
use crate::models::{ApiAccessToken, NewToken, TokenUpdate};

/// Creates, lists, reads, updates and revokes API access tokens over `T`, blocking or
/// async as `M` says. Use it through its two names, [`TokensClient`] ([`Blocking`]) and
/// [`AsyncTokensClient`] ([`Async`]).
///
/// The Tokens API needs an OAuth access token (a user's, or one fetched with M2M client
/// credentials), not an API access token. `Debug` never shows a token.
pub struct TokensApi<T, M> {
    core: ApiCore<T>,
    mode: PhantomData<fn() -> M>,
}

/// The Tokens API, blocking the calling thread.
pub type TokensClient<T> = TokensApi<T, Blocking>;

/// The Tokens API, asynchronously.
pub type AsyncTokensClient<T> = TokensApi<T, Async>;

impl<T, M: Mode> TokensApi<T, M> {
    /// A client sending through `core`.
    pub fn new(core: ApiCore<T>) -> Self {
        Self {
            core,
            mode: PhantomData,
        }
    }

    /// A client for `credentials`.
    pub fn from_credentials(transport: T, credentials: ApiCredentials) -> Self {
        Self::new(ApiCore::new(transport, credentials))
    }

    /// The core: transport, context and token cache.
    pub fn core(&self) -> &ApiCore<T> {
        &self.core
    }
}

impl<T: Clone, M> Clone for TokensApi<T, M> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            mode: PhantomData,
        }
    }
}

/// Shows the context (never a token), not the transport.
impl<T, M: Mode> fmt::Debug for TokensApi<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core
            .fmt_debug(&format!("{}TokensClient", M::PREFIX), f)
    }
}

impl<T: Transport> TokensApi<T, Blocking> {
    /// Sends any CARTO 3 endpoint with this client's token and parses its answer.
    pub fn send<E: ApiEndpoint + ?Sized>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send(endpoint)
    }

    /// Creates a token; the answer holds the token itself (a secret: store it as one).
    pub fn create(&self, token: &NewToken) -> Result<ApiAccessToken, Error> {
        self.send(&CreateToken(token.clone()))
    }

    /// The tokens of the user.
    pub fn list(&self) -> Result<Vec<ApiAccessToken>, Error> {
        self.send(&ListTokens)
    }

    /// One token.
    pub fn get(&self, token: &AccessToken) -> Result<ApiAccessToken, Error> {
        self.send(&GetToken::new(token.clone()))
    }

    /// Replaces what `update` sets; answers the token when the server sends it back.
    pub fn update(
        &self,
        token: &AccessToken,
        update: &TokenUpdate,
    ) -> Result<Option<ApiAccessToken>, Error> {
        self.send(&UpdateToken::new(token.clone(), update.clone()))
    }

    /// Revokes a token: it stops working at once.
    pub fn delete(&self, token: &AccessToken) -> Result<(), Error> {
        self.send(&DeleteToken::new(token.clone()))
    }
}

impl<T: AsyncTransport> TokensApi<T, Async> {
    /// Sends any CARTO 3 endpoint with this client's token and parses its answer.
    pub async fn send<E: ApiEndpoint + ?Sized>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// Creates a token (see [`TokensClient::create`]).
    pub async fn create(&self, token: &NewToken) -> Result<ApiAccessToken, Error> {
        self.send(&CreateToken(token.clone())).await
    }

    /// The tokens of the user.
    pub async fn list(&self) -> Result<Vec<ApiAccessToken>, Error> {
        self.send(&ListTokens).await
    }

    /// One token.
    pub async fn get(&self, token: &AccessToken) -> Result<ApiAccessToken, Error> {
        self.send(&GetToken::new(token.clone())).await
    }

    /// Replaces what `update` sets (see [`TokensClient::update`]).
    pub async fn update(
        &self,
        token: &AccessToken,
        update: &TokenUpdate,
    ) -> Result<Option<ApiAccessToken>, Error> {
        self.send(&UpdateToken::new(token.clone(), update.clone()))
            .await
    }

    /// Revokes a token: it stops working at once.
    pub async fn delete(&self, token: &AccessToken) -> Result<(), Error> {
        self.send(&DeleteToken::new(token.clone())).await
    }
}
