//! [`AuthApi`]: the Auth API client, blocking ([`ApiKeyManager`], over a [`Transport`])
//! or async ([`AsyncApiKeyManager`], over an [`AsyncTransport`]); each operation's two
//! methods side by side.

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;

use carto_core::models::{ApiKey, ApiKeyPage, NewApiKey};
use carto_core::{Credentials, Endpoint, Error, RequestContext, Token};
use carto_transport::{Async, AsyncTransport, Blocking, ClientCore, Mode, Transport};
use futures_util::Stream;

use crate::endpoints::{
    CreateApiKey, DeleteApiKey, GetApiKey, ListApiKeys, ListOptions, RegenerateToken, ValidateToken,
};
use crate::pager::Pager;

/// Manages the API keys of an account (Auth API v3) over `T`, blocking or async as `M`
/// says. Use it through its two names, [`ApiKeyManager`] ([`Blocking`]) and
/// [`AsyncApiKeyManager`] ([`Async`]): the same methods, `async` in the second.
///
/// Creating, deleting and regenerating keys needs the master key; any key may list and
/// get itself. `Debug` shows the request context, never the token, nor the transport.
#[derive(Clone)]
pub struct AuthApi<T, M> {
    core: ClientCore<T>,
    mode: PhantomData<fn() -> M>,
}

/// Manages the API keys of an account, blocking the calling thread ([`AuthApi`] over a
/// [`Transport`]).
pub type ApiKeyManager<T> = AuthApi<T, Blocking>;

/// Manages the API keys of an account, asynchronously ([`AuthApi`] over an
/// [`AsyncTransport`]).
pub type AsyncApiKeyManager<T> = AuthApi<T, Async>;

/// The keys of a listing as a stream ([`AsyncApiKeyManager::list`]).
pub type ApiKeyStream<'a> = Pin<Box<dyn Stream<Item = Result<ApiKey, Error>> + Send + 'a>>;

impl<T, M: Mode> AuthApi<T, M> {
    /// A manager sending through `transport` with the given request context.
    pub fn new(transport: T, ctx: RequestContext) -> Self {
        Self {
            core: ClientCore::new(transport, ctx),
            mode: PhantomData,
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
impl<T, M: Mode> fmt::Debug for AuthApi<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_client::<M>("ApiKeyManager", f)
    }
}

impl<T: Transport> AuthApi<T, Blocking> {
    /// Sends any endpoint and parses its answer.
    pub fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send(endpoint)
    }

    /// Creates a regular key from a [`NewApiKey`] (see [`NewApiKey::builder`]) and returns
    /// it with its token.
    pub fn create(&self, key: NewApiKey) -> Result<ApiKey, Error> {
        self.send(&CreateApiKey(key))
    }

    /// The key named `name` (404 when there is none, or when a non-master key asks for
    /// another key).
    pub fn get(&self, name: &str) -> Result<ApiKey, Error> {
        self.send(&GetApiKey::new(name))
    }

    /// Every key the key may see, as a lazy iterator that requests one page at a time.
    /// After an error it yields nothing more. The iterator owns a clone of the manager
    /// (transports are cheap to clone), so it does not borrow `self`.
    pub fn list(&self) -> ApiKeys<T>
    where
        T: Clone,
    {
        self.list_with(&Default::default())
    }

    /// [`list`](Self::list) of the keys matching `options`.
    pub fn list_with(&self, options: &ListOptions) -> ApiKeys<T>
    where
        T: Clone,
    {
        ApiKeys {
            manager: self.clone(),
            pager: Pager::new(options.clone()),
            buffer: VecDeque::new(),
        }
    }

    /// One page (from 1) of the listing of every key.
    pub fn list_page(&self, page: u32) -> Result<ApiKeyPage, Error> {
        self.list_page_with(page, &Default::default())
    }

    /// [`list_page`](Self::list_page) of the listing `options` describes.
    pub fn list_page_with(&self, page: u32, options: &ListOptions) -> Result<ApiKeyPage, Error> {
        self.send(&ListApiKeys::new(options, page))
    }

    /// Deletes the regular key named `name`.
    pub fn delete(&self, name: &str) -> Result<(), Error> {
        self.send(&DeleteApiKey::new(name))
    }

    /// Gives the key named `name` a new token and returns the key with it.
    pub fn regenerate(&self, name: &str) -> Result<ApiKey, Error> {
        self.send(&RegenerateToken::new(name))
    }

    /// Whether `token` is a valid key of this account.
    pub fn is_valid(&self, token: impl Into<Token>) -> Result<bool, Error> {
        self.send(&ValidateToken::new(token))
    }
}

impl<T: AsyncTransport> AuthApi<T, Async> {
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

    /// Every key the key may see, as a lazy stream that requests one page at a time.
    /// After an error it yields nothing more. The stream owns a clone of the manager
    /// (transports are cheap to clone), so it does not borrow `self`.
    pub fn list<'a>(&self) -> ApiKeyStream<'a>
    where
        T: Clone + 'a,
    {
        self.list_with(&Default::default())
    }

    /// [`list`](Self::list) of the keys matching `options`.
    pub fn list_with<'a>(&self, options: &ListOptions) -> ApiKeyStream<'a>
    where
        T: Clone + 'a,
    {
        let state = (
            self.clone(),
            Pager::new(options.clone()),
            VecDeque::<ApiKey>::new(),
        );
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

    /// One page (from 1) of the listing of every key.
    pub async fn list_page(&self, page: u32) -> Result<ApiKeyPage, Error> {
        self.list_page_with(page, &Default::default()).await
    }

    /// [`list_page`](Self::list_page) of the listing `options` describes.
    pub async fn list_page_with(
        &self,
        page: u32,
        options: &ListOptions,
    ) -> Result<ApiKeyPage, Error> {
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

/// The keys of a listing, fetched one page at a time ([`ApiKeyManager::list`]).
pub struct ApiKeys<T> {
    manager: ApiKeyManager<T>,
    pager: Pager,
    buffer: VecDeque<ApiKey>,
}

impl<T: Transport> Iterator for ApiKeys<T> {
    type Item = Result<ApiKey, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(key) = self.buffer.pop_front() {
                return Some(Ok(key));
            }
            let request = self.pager.next_request()?;
            match self.manager.send(&request) {
                Ok(page) => self.buffer.extend(self.pager.handle(page)),
                Err(e) => {
                    self.pager.abort();
                    return Some(Err(e));
                }
            }
        }
    }
}

impl<T: Transport> std::iter::FusedIterator for ApiKeys<T> {}

impl<T> fmt::Debug for ApiKeys<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeys")
            .field("pager", &self.pager)
            .field("buffered", &self.buffer.len())
            .finish()
    }
}
