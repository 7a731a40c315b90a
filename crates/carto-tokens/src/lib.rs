//! carto-tokens: the Tokens API of CARTO 3 (`/v3/tokens`), sans-IO.
//!
//! API access tokens grant access to sources through connections ([`Grant`]: a
//! qualified table name, a wildcard such as `project.dataset.*`, or a SQL query),
//! optionally only from some referers, for some APIs ([`AllowedApi`]) and until an
//! expiration date. [`NewToken::builder`] checks a token before it is sent;
//! [`endpoints`] holds create, list, get, update and delete as
//! [`ApiEndpoint`](carto_core::carto3::ApiEndpoint)s, and [`TokensClient`] /
//! [`AsyncTokensClient`] send them with a token from an
//! [`ApiCore`](carto_transport::ApiCore) (a fixed token, or M2M credentials).
//!
//! The Tokens API needs an OAuth access token (a user's, or one fetched with M2M
//! client credentials), not an API access token.
//!
//! ```
//! use carto_core::carto3::{AccessToken, ApiBaseUrl, ApiContext, ApiEndpoint};
//! use carto_tokens::endpoints::CreateToken;
//! use carto_tokens::{AllowedApi, NewToken};
//!
//! let token = NewToken::builder()
//!     .grant("carto_dw", "carto-demo-data.demo_tables.airports")
//!     .referer("https://app.example.com/")
//!     .allowed_apis([AllowedApi::Sql, AllowedApi::Maps])
//!     .build()?;
//! assert_eq!(token.referers(), ["https://app.example.com"]);
//! let ctx = ApiContext::new(ApiBaseUrl::default()).with_access_token(&AccessToken::new("eyJ..."))?;
//! let request = CreateToken(token).to_request(&ctx)?;
//! assert_eq!(request.uri().path(), "/v3/tokens");
//! # Ok::<(), carto_core::Error>(())
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
pub mod endpoints;
pub mod models;

pub use client::{AsyncTokensClient, TokensApi, TokensClient};

pub use models::{
    AllowedApi, ApiAccessToken, Grant, NewToken, NewTokenBuilder, Source, TokenUpdate,
};
