//! What a streamed call is, sans-IO: a [`StreamingEndpoint`] builds the request head
//! ([`RequestBody`] says how its body is sent), reads the head of a successful response
//! and gives the [`BodyDecoder`] its body is fed to.

use bytes::Bytes;
use carto_core::{Error, RequestContext};

/// How a streamed request's body is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// A small body built by the endpoint (a form, or nothing).
    Bytes(Vec<u8>),
    /// The caller's upload, read as it is sent: the driver's `upload` argument.
    Upload,
}

/// A sans-IO decoder of a response body, fed chunk by chunk by a driver.
///
/// The driver calls [`push`](Self::push) with each chunk as it arrives and
/// [`finish`](Self::finish) at the end of the body, and takes the decoded items with
/// [`next_item`](Self::next_item) after each of them until it returns `None`. An
/// `Err` item, or an `Err` from `push` or `finish`, ends the body.
pub trait BodyDecoder {
    /// What the body decodes into (a row, a piece of data, a parsed answer).
    type Item;

    /// Takes the next chunk of the body.
    fn push(&mut self, chunk: &[u8]) -> Result<(), Error>;

    /// The next decoded item, once one is ready.
    fn next_item(&mut self) -> Option<Result<Self::Item, Error>>;

    /// The body ended: the items still held become ready (or the end is an error).
    fn finish(&mut self) -> Result<(), Error>;
}

/// A [`BodyDecoder`] that passes the body on as it comes.
#[derive(Debug, Default)]
pub struct RawBody {
    ready: Option<Bytes>,
}

impl BodyDecoder for RawBody {
    type Item = Bytes;

    fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if !chunk.is_empty() {
            self.ready = Some(Bytes::copy_from_slice(chunk));
        }
        Ok(())
    }

    fn next_item(&mut self) -> Option<Result<Bytes, Error>> {
        self.ready.take().map(Ok)
    }

    fn finish(&mut self) -> Result<(), Error> {
        Ok(())
    }
}

/// A remote operation whose request body may be streamed and whose response body is
/// decoded as it arrives: the streaming counterpart of [`carto_core::Endpoint`].
///
/// `C` is the context the request is built with: a v2 [`RequestContext`] (the default)
/// or a CARTO 3 [`ApiContext`](carto_core::carto3::ApiContext).
///
/// Pure: it builds a request head and reads a response head; the drivers
/// ([`send_streaming`](crate::send_streaming),
/// [`send_streaming_async`](crate::send_streaming_async)) do the I/O.
pub trait StreamingEndpoint<C: ?Sized = RequestContext> {
    /// The decoder of the body of a successful response.
    type Decoder: BodyDecoder;

    /// Builds the request: method, URI, headers, and how its body is sent.
    fn to_request(&self, ctx: &C) -> Result<http::Request<RequestBody>, Error>;

    /// Reads the head of a successful (2xx) response: the decoder of its body.
    /// A failed head never comes here: it is CARTO's error ([`ErrorBody`](crate::ErrorBody)).
    fn decoder(&self, head: &http::response::Parts) -> Result<Self::Decoder, Error>;

    /// Whether sending the request twice has the same effect as once (it decides which
    /// failures are retried, see [`carto_core::retry`]). `false` unless said otherwise.
    fn is_idempotent(&self) -> bool {
        false
    }
}

/// A request extension: the caller reads this streamed request's body to its end at
/// once, as a buffered request's ([`send_collect`](crate::send_collect),
/// [`send_collect_async`](crate::send_collect_async)).
///
/// The transport then applies its whole-request timeout
/// ([`TransportConfig::request_timeout`](crate::TransportConfig::request_timeout)) to
/// the request, head and body, as it does to a buffered [`Transport::send`](crate::Transport::send), instead of
/// only the per-read timeout of a streamed one. [`UreqTransport`](crate::UreqTransport)
/// and [`ReqwestTransport`](crate::ReqwestTransport) honour it; a transport of your own
/// may look for it in [`http::Request::extensions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WholeBody;

/// Builds the request of `endpoint` with `upload` as its body when it sends one.
/// `whole` marks it [`WholeBody`].
pub(crate) fn request<C: ?Sized, E: StreamingEndpoint<C> + ?Sized, B>(
    endpoint: &E,
    ctx: &C,
    upload: Option<B>,
    bytes: impl FnOnce(Vec<u8>) -> B,
    whole: bool,
) -> Result<http::Request<B>, Error> {
    let (parts, body) = endpoint.to_request(ctx)?.into_parts();
    let body = match (body, upload) {
        (RequestBody::Bytes(data), None) => bytes(data),
        (RequestBody::Upload, Some(upload)) => upload,
        (RequestBody::Bytes(_), Some(_)) => {
            return Err(Error::invalid(
                "streamed request body",
                "this endpoint builds its own body and takes no upload",
            ));
        }
        (RequestBody::Upload, None) => {
            return Err(Error::invalid(
                "streamed request body",
                "this endpoint sends an upload and none was given",
            ));
        }
    };
    let mut request = http::Request::from_parts(parts, body);
    if whole {
        request.extensions_mut().insert(WholeBody);
    }
    Ok(request)
}
