//! carto-core: the I/O-free heart of carto-rs.
//!
//! Credentials and base URLs, API key and grant models, where the key travels, CARTO's
//! error bodies, and the [`Endpoint`] trait that every remote operation implements as a
//! pure request builder plus a pure response parser. No HTTP client, no runtime, no I/O
//! besides reading and writing credentials files.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod base_url;
pub mod carto3;
pub mod credentials;
pub mod endpoint;
pub mod error;
mod failure;
pub mod ident;
pub mod models;
pub mod operation;
pub mod retry;
pub mod token;
pub mod wait;

pub use base_url::{BaseUrl, BaseUrlError, BaseUrlKind};
pub use credentials::Credentials;
pub use endpoint::{
    AuthPlacement, Endpoint, HttpRequest, HttpResponse, Redacted, RequestBuilder, RequestContext,
};
pub use error::{
    ApiError, BoxError, CredentialsFailure, DecodeError, Error, InvalidInput, JobFailure,
    QueryLimit, RateLimit, TransportErrorKind, TransportFailure,
};
pub use ident::{quote_ident, quote_literal};
pub use operation::{Operation, SendContext};
pub use retry::RetryPolicy;
pub use token::Token;
