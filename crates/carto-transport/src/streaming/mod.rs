//! The streaming road: a sans-IO [`StreamingEndpoint`] (a request head, a head parser
//! and a [`BodyDecoder`]), the [`ErrorBody`] rule for failed heads, and the drivers
//! [`send_streaming`] / [`send_collect`] (blocking) and [`send_streaming_async`] /
//! [`send_collect_async`] that do the I/O.
//!
//! A driver builds the endpoint's request, sends it (traced like every request, see
//! [`send`](crate::send)), and looks at the head: a non-2xx status reads at most
//! [`MAX_ERROR_BODY`] bytes of the body and becomes CARTO's error
//! ([`Error::Api`](carto_core::Error::Api)); a 2xx status asks the endpoint for the
//! decoder of its body, which the returned [`Decoded`] (an iterator) or
//! [`DecodedStream`] (a stream) feeds chunk by chunk as the body arrives. Whether and
//! when to send again is the attempt machine's call, as for buffered requests.
//!
//! - `endpoint.rs`: what a streamed call is ([`StreamingEndpoint`], [`RequestBody`],
//!   [`BodyDecoder`], [`RawBody`], [`WholeBody`]);
//! - `error_body.rs`: a failed head and its capped body ([`Head`], [`ErrorBody`]);
//! - `decoded.rs`: a body decoded as it arrives ([`Decoded`], [`DecodedStream`]);
//! - `drive.rs`: the four drivers.

mod decoded;
mod drive;
mod endpoint;
mod error_body;

pub use decoded::{Collected, Decoded, DecodedStream};
pub use drive::{send_collect, send_collect_async, send_streaming, send_streaming_async};
pub use endpoint::{BodyDecoder, RawBody, RequestBody, StreamingEndpoint, WholeBody};
pub use error_body::{ErrorBody, Head, MAX_ERROR_BODY};
