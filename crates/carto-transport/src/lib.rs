//! carto-transport: how carto-rs talks HTTP.
//!
//! The clients of carto-rs build requests with the I/O-free [`carto_core::Endpoint`]s
//! and hand them to a transport:
//!
//! - [`Transport`]: blocking, `http::Request<Vec<u8>>` in, `http::Response<Vec<u8>>`
//!   out, plus [`Transport::send_streaming`] for bodies read as they are sent
//!   ([`Body`]) and responses read as they arrive ([`ResponseReader`]).
//! - [`AsyncTransport`]: the same, returning boxed `Send` futures ([`BoxFuture`]), with
//!   [`AsyncBody`] and [`ByteStream`] for streaming.
//!
//! Every HTTP status is a response: a 4xx or 5xx comes back as `Ok` with its body
//! intact, for the endpoint to parse into a CARTO error. `Err` is a [`TransportError`]:
//! no response was received; its [`kind`](TransportError::kind) says why (timeout,
//! connect, TLS, I/O, other).
//!
//! [`send`] and [`send_async`] are the glue the clients use: build an endpoint's
//! request, send it, parse the response, trace it. [`send_streaming`] and
//! [`send_streaming_async`] do the same for a [`StreamingEndpoint`] (a request head, a
//! head parse, a [`BodyDecoder`] fed as the body arrives), with one bounded rule for
//! error bodies ([`ErrorBody`], at most [`MAX_ERROR_BODY`] bytes read) and the same
//! trace. [`ClientCore`] holds what every client holds (the transport and the request
//! context) and sends through them.
//!
//! # Choosing a backend
//!
//! - **Sync code**: [`UreqTransport`] (feature `ureq`), on ureq 3. No runtime needed.
//! - **Async code**: [`ReqwestTransport`] (feature `reqwest`), on reqwest 0.13 and
//!   tokio.
//!
//! Never call a blocking transport inside an async runtime: it blocks a runtime
//! thread for the whole request. From async code use an [`AsyncTransport`], or move
//! the blocking call to `tokio::task::spawn_blocking`.
//!
//! Both backends share a [`TransportConfig`] (connect, request and streaming-read
//! timeouts; extra root certificates; the dangerous opt-out of certificate checks),
//! keep one connection pool per transport, use rustls with the aws-lc-rs provider
//! (post-quantum hybrid key exchange first), trust the operating system's roots, return redirects instead of following them, and have
//! no body size cap. Any other HTTP client can be used by implementing the traits, or
//! with [`transport_fn`] / [`async_transport_fn`].
//!
//! # Example
//!
//! An endpoint sent through a closure transport (what tests do):
//!
//! ```
//! use carto_core::{BaseUrl, Credentials, Endpoint, Error, HttpRequest, HttpResponse, RequestContext};
//! use carto_transport::{send, transport_fn};
//!
//! struct Version;
//!
//! impl Endpoint for Version {
//!     type Output = String;
//!
//!     fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
//!         ctx.request(http::Method::GET, &["api", "v1", "version"]).build()
//!     }
//!
//!     fn parse(&self, response: HttpResponse) -> Result<String, Error> {
//!         carto_core::endpoint::check_status(&response)?;
//!         Ok(String::from_utf8_lossy(response.body()).into_owned())
//!     }
//! }
//!
//! let creds = Credentials::new(BaseUrl::parse("https://alice.carto.com")?, "secret");
//! let ctx = RequestContext::new(creds);
//! let transport = transport_fn(|request| {
//!     assert_eq!(request.uri().path(), "/api/v1/version");
//!     Ok(http::Response::new(b"1.0".to_vec()))
//! });
//! assert_eq!(send(&transport, &ctx, &Version)?, "1.0");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With a real backend (`UreqTransport::new()` in sync code, `ReqwestTransport::new()`
//! and [`send_async`] in async code) the call is the same.
//!
//! # Security
//!
//! [`TransportError`]'s `Display` and `Debug` never contain the URL (which may carry an
//! `api_key` query parameter); traces carry the method and path only, never the query
//! string or headers. [`TransportConfig::danger_accept_invalid_certs`] turns off
//! certificate verification: prefer [`TransportConfig::add_root_certificate_pem`].
//! The backends' own logs (through the `log` crate) are theirs: ureq shows full URLs
//! only at trace level, so keep trace logging of HTTP libraries off in production.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

mod api_core;
mod attempt;
mod body;
mod client;
mod closure;
mod config;
mod drive;
mod error;
mod mode;
#[cfg(feature = "reqwest")]
mod reqwest_transport;
mod send;
mod streaming;
mod trace;
mod transport;
#[cfg(feature = "ureq")]
mod ureq_transport;

pub use api_core::ApiCore;
pub use body::{AsyncBody, AsyncUpload, Body, BodyStream, ByteStream, ResponseReader, Upload};
pub use carto_core::TransportErrorKind;
pub use client::ClientCore;
pub use closure::{AsyncTransportFn, TransportFn, async_transport_fn, transport_fn};
pub use config::TransportConfig;
pub use error::TransportError;
pub use mode::{Async, Blocking, Mode};
#[cfg(feature = "reqwest")]
pub use reqwest_transport::ReqwestTransport;
pub use send::{send, send_async};
pub use streaming::{
    BodyDecoder, Collected, Decoded, DecodedStream, ErrorBody, Head, MAX_ERROR_BODY, RawBody,
    RequestBody, StreamingEndpoint, WholeBody, send_collect, send_collect_async, send_streaming,
    send_streaming_async,
};
pub use transport::{AsyncTransport, BoxFuture, Transport};
#[cfg(feature = "ureq")]
pub use ureq_transport::UreqTransport;
