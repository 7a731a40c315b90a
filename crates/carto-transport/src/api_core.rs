//! [`ApiCore`]: what every CARTO 3 client holds (a transport, an [`ApiContext`] and the
//! token cache), and the calls that put a Bearer token on each request.
//!
//! The token comes from the sans-IO [`TokenCache`]: a fixed token as it is, or a
//! machine-to-machine token fetched from `{auth_url}/oauth/token` when none is cached or
//! the cached one is due for refresh. A 401 on a fetched token drops it, fetches a new
//! one and sends the request once more ([`TokenCache::rejected`] decides); a fixed token
//! is never sent twice for a 401.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use carto_core::carto3::{
    AccessToken, ApiContext, ApiCredentials, ApiEndpoint, TokenCache, TokenOrRequest,
};
use carto_core::operation::{Operation, SendContext};
use carto_core::{Error, HttpRequest, HttpResponse, RetryPolicy};
use http::StatusCode;

use crate::body::{AsyncUpload, Upload};
use crate::send::{send, send_async};
use crate::streaming::{
    Collected, Decoded, DecodedStream, StreamingEndpoint, send_collect, send_collect_async,
    send_streaming, send_streaming_async,
};
use crate::transport::{AsyncTransport, Transport};

/// What every CARTO 3 client is made of: a transport, the [`ApiContext`] its requests
/// are built with (base URL, user agent, retry policy) and the token cache, shared by
/// the clones of the core (a token fetched by one is used by all).
///
/// `Debug` shows the context and the token source, never a token or a secret.
pub struct ApiCore<T> {
    transport: T,
    ctx: ApiContext,
    tokens: Arc<Mutex<TokenCache>>,
}

impl<T> ApiCore<T> {
    /// A core for `credentials`: their base URL and token source.
    pub fn new(transport: T, credentials: ApiCredentials) -> Self {
        let ctx = ApiContext::new(credentials.base_url().clone());
        let cache = TokenCache::new(credentials.token_source().clone());
        Self::with_cache(transport, ctx, cache)
    }

    /// A core with the given context (its token, if any, is replaced on each request)
    /// and token cache (seeded, or with another refresh margin).
    pub fn with_cache(transport: T, ctx: ApiContext, cache: TokenCache) -> Self {
        Self {
            transport,
            ctx,
            tokens: Arc::new(Mutex::new(cache)),
        }
    }

    /// The request context (without the token).
    pub fn context(&self) -> &ApiContext {
        &self.ctx
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The token cache (shared by this core's clones), for a look at the cached token's
    /// expiry or to seed it.
    pub fn tokens(&self) -> MutexGuard<'_, TokenCache> {
        // The cache holds no invariant a panic elsewhere could break halfway.
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Writes the `Debug` of a client named `name` that wraps this core.
    pub fn fmt_debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(name)
            .field("context", &self.ctx)
            .field("tokens", &*self.tokens())
            .finish_non_exhaustive()
    }

    /// The context of one request: this core's with `token`.
    fn signed(&self, token: &AccessToken) -> Result<ApiContext, Error> {
        self.ctx.clone().with_access_token(token)
    }

    /// What to do with a call's `result` sent with `token`: done, or (once per call, on a
    /// 401 the token cache says a new token can cure) send it again.
    fn judge<R>(&self, result: Result<R, Error>, token: &AccessToken, again: &mut bool) -> Next<R> {
        match result {
            Err(err)
                if *again
                    && err.status() == Some(StatusCode::UNAUTHORIZED)
                    && self.tokens().rejected(token) =>
            {
                *again = false;
                Next::Again
            }
            result => Next::Done(result),
        }
    }

    /// The cached token, or the request that fetches one.
    fn token_or_request(&self) -> Result<Result<AccessToken, FetchToken>, Error> {
        Ok(match self.tokens().token_or_request(SystemTime::now())? {
            TokenOrRequest::Token(token) => Ok(token),
            TokenOrRequest::Request(request) => Err(FetchToken(request.into_request())),
        })
    }

    /// Caches the OAuth server's answer.
    fn fetched(&self, response: HttpResponse) -> Result<AccessToken, Error> {
        self.tokens().token_response(response, SystemTime::now())
    }

    fn fetch_context(&self) -> FetchContext {
        FetchContext(self.ctx.retry_policy())
    }
}

enum Next<R> {
    Done(Result<R, Error>),
    Again,
}

impl<T: Transport> ApiCore<T> {
    /// Sends any CARTO 3 endpoint with a Bearer token and parses its answer (retried as
    /// [`send`](crate::send) retries; a 401 on a fetched token is sent once more with a
    /// new one).
    pub fn send<E: ApiEndpoint + ?Sized>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.authorised(|ctx| send(&self.transport, ctx, endpoint))
    }

    /// Sends a streaming CARTO 3 endpoint and returns its body decoded as it arrives
    /// ([`send_streaming`](crate::send_streaming)).
    pub fn send_streaming<E: StreamingEndpoint<ApiContext> + ?Sized>(
        &self,
        endpoint: &E,
        upload: Option<Upload>,
    ) -> Result<Decoded<E::Decoder>, Error> {
        // An upload is read once: a 401 is the answer, not a reason to send it again.
        let mut upload = upload;
        self.authorised(|ctx| send_streaming(&self.transport, ctx, endpoint, upload.take()))
    }

    /// Sends a streaming CARTO 3 endpoint and reads its whole body through its decoder
    /// as it arrives ([`send_collect`](crate::send_collect)).
    pub fn send_collect<E: StreamingEndpoint<ApiContext> + ?Sized>(
        &self,
        endpoint: &E,
    ) -> Result<Collected<E::Decoder>, Error> {
        self.authorised(|ctx| send_collect(&self.transport, ctx, endpoint))
    }

    /// The token to send: cached, or fetched now.
    pub fn access_token(&self) -> Result<AccessToken, Error> {
        match self.token_or_request()? {
            Ok(token) => Ok(token),
            Err(fetch) => self.fetched(send(&self.transport, &self.fetch_context(), &fetch)?),
        }
    }

    fn authorised<R>(
        &self,
        mut call: impl FnMut(&ApiContext) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut again = true;
        loop {
            let token = self.access_token()?;
            let result = call(&self.signed(&token)?);
            if let Next::Done(result) = self.judge(result, &token, &mut again) {
                return result;
            }
        }
    }
}

impl<T: AsyncTransport> ApiCore<T> {
    /// The async [`send`](Self::send).
    pub async fn send_async<E: ApiEndpoint + ?Sized>(
        &self,
        endpoint: &E,
    ) -> Result<E::Output, Error> {
        self.authorised_async(async |ctx| send_async(&self.transport, ctx, endpoint).await)
            .await
    }

    /// The async [`send_streaming`](Self::send_streaming).
    pub async fn send_streaming_async<E: StreamingEndpoint<ApiContext> + ?Sized>(
        &self,
        endpoint: &E,
        upload: Option<AsyncUpload>,
    ) -> Result<DecodedStream<E::Decoder>, Error> {
        let upload = Mutex::new(upload);
        self.authorised_async(async |ctx| {
            let upload = upload.lock().unwrap_or_else(PoisonError::into_inner).take();
            send_streaming_async(&self.transport, ctx, endpoint, upload).await
        })
        .await
    }

    /// The async [`send_collect`](Self::send_collect).
    pub async fn send_collect_async<E>(&self, endpoint: &E) -> Result<Collected<E::Decoder>, Error>
    where
        E: StreamingEndpoint<ApiContext> + ?Sized,
        E::Decoder: Unpin,
    {
        self.authorised_async(async |ctx| send_collect_async(&self.transport, ctx, endpoint).await)
            .await
    }

    /// The async [`access_token`](Self::access_token).
    pub async fn access_token_async(&self) -> Result<AccessToken, Error> {
        match self.token_or_request()? {
            Ok(token) => Ok(token),
            Err(fetch) => {
                let response = send_async(&self.transport, &self.fetch_context(), &fetch).await?;
                self.fetched(response)
            }
        }
    }

    async fn authorised_async<R>(
        &self,
        call: impl AsyncFn(&ApiContext) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let mut again = true;
        loop {
            let token = self.access_token_async().await?;
            let result = call(&self.signed(&token)?).await;
            if let Next::Done(result) = self.judge(result, &token, &mut again) {
                return result;
            }
        }
    }
}

impl<T: Clone> Clone for ApiCore<T> {
    fn clone(&self) -> Self {
        Self {
            transport: self.transport.clone(),
            ctx: self.ctx.clone(),
            tokens: Arc::clone(&self.tokens),
        }
    }
}

impl<T> fmt::Debug for ApiCore<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_debug("ApiCore", f)
    }
}

/// The OAuth token request as an operation, so that it is retried and traced like any
/// other (issuing a token twice is harmless: it is idempotent). Its answer is handed to
/// the token cache whole, error statuses included.
struct FetchToken(HttpRequest);

/// The context of a token request: only the client's retry policy.
struct FetchContext(RetryPolicy);

impl SendContext for FetchContext {
    fn retry_policy(&self) -> RetryPolicy {
        self.0
    }
}

impl Operation<FetchContext> for FetchToken {
    type Output = HttpResponse;

    fn to_request(&self, _: &FetchContext) -> Result<HttpRequest, Error> {
        Ok(self.0.clone())
    }

    fn parse(&self, response: HttpResponse) -> Result<HttpResponse, Error> {
        Ok(response)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}
