//! [`ClientOptions`]: how a client identifies itself, where the key travels, and the
//! transport's timeouts and TLS settings.

use carto_core::carto3::{ApiBaseUrl, ApiContext};
use carto_core::endpoint::{DEFAULT_CLIENT_ID, DEFAULT_USER_AGENT};
use carto_core::{AuthPlacement, Credentials, RequestContext, RetryPolicy};
use carto_transport::TransportConfig;

/// Options of [`Client`](crate::Client) and [`blocking::Client`](crate::blocking::Client).
///
/// ```
/// use carto::{AuthPlacement, ClientOptions, TransportConfig};
/// use std::time::Duration;
///
/// let options = ClientOptions::new()
///     .auth_placement(AuthPlacement::BasicHeader)
///     .user_agent("my-app/1.0")
///     .transport(TransportConfig::new().with_request_timeout(Duration::from_secs(30)));
/// # let _ = options;
/// ```
#[derive(Clone)]
pub struct ClientOptions {
    pub(crate) auth: AuthPlacement,
    pub(crate) user_agent: String,
    pub(crate) client_id: Option<String>,
    pub(crate) transport: TransportConfig,
    pub(crate) retry: RetryPolicy,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientOptions {
    /// The defaults: the key in the Basic header, `User-Agent: carto-rs/<version>`,
    /// `client=carto-rs-<version>`, the transport defaults.
    pub fn new() -> Self {
        Self {
            auth: AuthPlacement::default(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            client_id: Some(DEFAULT_CLIENT_ID.to_owned()),
            transport: TransportConfig::default(),
            retry: RetryPolicy::default(),
        }
    }

    /// Where the API key travels. The Basic header (default) keeps it out of URLs;
    /// [`AuthPlacement::QueryParam`] and [`AuthPlacement::BodyField`] are for servers
    /// that need them.
    pub fn auth_placement(mut self, auth: AuthPlacement) -> Self {
        self.auth = auth;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The `client` query parameter CARTO logs (`None` stops sending it).
    pub fn client_id(mut self, client_id: Option<String>) -> Self {
        self.client_id = client_id;
        self
    }

    /// Timeouts and TLS settings (extra root certificates, the dangerous opt-out of
    /// certificate checks) of the default transport. Ignored when you bring your own
    /// transport.
    pub fn transport(mut self, config: TransportConfig) -> Self {
        self.transport = config;
        self
    }

    /// How requests are retried: on by default ([`RetryPolicy::default`]: CARTO's rate
    /// limits honoured for every call, 502/503/504 and failed connections retried for
    /// idempotent calls only); [`RetryPolicy::none`] sends every request once. The
    /// rules are in [`carto_core::retry`].
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The CARTO 3 context of `base_url` with these options (the auth placement does
    /// not apply: CARTO 3 takes a Bearer token).
    pub(crate) fn api_context(&self, base_url: ApiBaseUrl) -> ApiContext {
        ApiContext::new(base_url)
            .with_retry_policy(self.retry)
            .with_user_agent(&self.user_agent)
            .with_client_id(self.client_id.clone())
    }

    pub(crate) fn context(&self, credentials: Credentials) -> RequestContext {
        RequestContext::new(credentials)
            .with_retry_policy(self.retry)
            .with_auth_placement(self.auth)
            .with_user_agent(self.user_agent.clone())
            .with_client_id(self.client_id.clone())
    }
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("auth", &self.auth)
            .field("user_agent", &self.user_agent)
            .field("client_id", &self.client_id)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}
