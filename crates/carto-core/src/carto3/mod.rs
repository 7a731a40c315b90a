//! CARTO 3, the cloud-native platform: API base URLs, Bearer tokens, OAuth
//! machine-to-machine credentials with a sans-IO token cache, carto-auth's files, and
//! the request context of CARTO 3 endpoints. No I/O besides reading and writing
//! credentials files.
//!
//! A client drives a [`TokenCache`] and sends [`ApiEndpoint`]s:
//!
//! ```
//! use std::time::SystemTime;
//! use carto_core::carto3::{ApiBaseUrl, ApiContext, TokenCache, TokenOrRequest, TokenSource};
//!
//! let cache = TokenCache::new(TokenSource::token("eyJ...")?);
//! let TokenOrRequest::Token(token) = cache.token_or_request(SystemTime::now())? else {
//!     unreachable!("a fixed token needs no request");
//! };
//! let ctx = ApiContext::new(ApiBaseUrl::default()).with_access_token(&token)?;
//! let request = ctx.request(http::Method::GET, &["v3", "sql", "jobs"]).build()?;
//! assert_eq!(request.uri().path(), "/v3/sql/jobs");
//! # Ok::<(), carto_core::Error>(())
//! ```

pub mod api_base_url;
pub mod context;
pub mod credentials;
pub mod secret;
pub mod token_cache;
pub mod token_file;

pub use api_base_url::{
    ApiBaseUrl, ApiBaseUrlError, ApiBaseUrlKind, AuthUrl, DEFAULT_API_BASE_URL, DEFAULT_AUTH_URL,
};
pub use context::{ApiContext, ApiEndpoint, ApiRequestBuilder};
pub use credentials::{ApiCredentials, ClientCredentials, TokenSource};
pub use secret::{AccessToken, ClientSecret};
pub use token_cache::{DEFAULT_REFRESH_MARGIN, TokenCache, TokenOrRequest, TokenRequest};
pub use token_file::{TokenFile, TokenFileMode};
