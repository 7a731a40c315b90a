//! [`AsyncApiKeyManager`]: the async Auth API client over any [`AsyncTransport`].

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;

use carto_core::models::{ApiKey, ApiKeyPage, NewApiKey};
use carto_core::{Credentials, Endpoint, Error, RequestContext, Token};
use carto_transport::{AsyncTransport, ClientCore};
use futures_util::Stream;

use crate::endpoints::{
    CreateApiKey, DeleteApiKey, GetApiKey, ListApiKeys, ListOptions, RegenerateToken, ValidateToken,
};
use crate::pager::Pager;

/// The keys of a listing as a stream ([`AsyncApiKeyManager::list`]).
pub type ApiKeyStream<'a> = Pin<Box<dyn Stream<Item = Result<ApiKey, Error>> + Send + 'a>>;

/// Manages the API keys of an account (Auth API v3), asynchronously. Same methods as
/// [`ApiKeyManager`](crate::ApiKeyManager).
#[derive(Clone)]
pub struct AsyncApiKeyManager<T> {
    core: ClientCore<T>,
}

impl<T: AsyncTransport> AsyncApiKeyManager<T> {
    /// A manager sending through `transport` with the given request context.
    pub fn new(transport: T, ctx: RequestContext) -> Self {
        Self {
            core: ClientCore::new(transport, ctx),
        }
    }

    /// A manager for `credentials`, with the key in the Basic header.
    pub fn from_credentials(transport: T, credentials: Credentials) -> Self {
        Self::new(transport, RequestContext::new(credentials))
    }

    /// The request context (credentials, auth placement, user agent).
    pub fn context(&self) -> &RequestContext {
        self.core.context()
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        self.core.transport()
    }
}

/// Shows the request context (never the token), not the transport.
impl<T> fmt::Debug for AsyncApiKeyManager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_debug("AsyncApiKeyManager", f)
    }
}

impl<T: AsyncTransport> AsyncApiKeyManager<T> {
    /// Sends any endpoint and parses its answer.
    pub async fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// Creates a regular key and returns it with its token.
    pub async fn create(&self, key: NewApiKey) -> Result<ApiKey, Error> {
        self.send(&CreateApiKey(key)).await
    }

    /// The key named `name`.
    pub async fn get(&self, name: &str) -> Result<ApiKey, Error> {
        self.send(&GetApiKey::new(name)).await
    }

    /// Every key matching `options`, as a lazy stream that requests one page at a time.
    /// After an error it yields nothing more. The stream owns a clone of the manager
    /// (transports are cheap to clone), so it does not borrow `self`.
    pub fn list<'a>(&self, options: ListOptions) -> ApiKeyStream<'a>
    where
        T: Clone + 'a,
    {
        let state = (self.clone(), Pager::new(options), VecDeque::<ApiKey>::new());
        Box::pin(futures_util::stream::unfold(
            state,
            |(manager, mut pager, mut buffer)| async move {
                loop {
                    if let Some(key) = buffer.pop_front() {
                        return Some((Ok(key), (manager, pager, buffer)));
                    }
                    let request = pager.next_request()?;
                    match manager.send(&request).await {
                        Ok(page) => buffer.extend(pager.handle(page)),
                        Err(e) => {
                            pager.abort();
                            return Some((Err(e), (manager, pager, buffer)));
                        }
                    }
                }
            },
        ))
    }

    /// One page (from 1) of the listing `options` describes.
    pub async fn list_page(&self, options: &ListOptions, page: u32) -> Result<ApiKeyPage, Error> {
        self.send(&ListApiKeys::new(options, page)).await
    }

    /// Deletes the regular key named `name`.
    pub async fn delete(&self, name: &str) -> Result<(), Error> {
        self.send(&DeleteApiKey::new(name)).await
    }

    /// Gives the key named `name` a new token and returns the key with it.
    pub async fn regenerate(&self, name: &str) -> Result<ApiKey, Error> {
        self.send(&RegenerateToken::new(name)).await
    }

    /// Whether `token` is a valid key of this account.
    pub async fn is_valid(&self, token: impl Into<Token>) -> Result<bool, Error> {
        self.send(&ValidateToken::new(token)).await
    }
}
