//! The streaming road: a sans-IO [`StreamingEndpoint`] (a request head, a head parser
//! and a [`BodyDecoder`]), the [`ErrorBody`] rule for failed heads, and the two drivers
//! [`send_streaming`] (blocking) and [`send_streaming_async`] (async) that do the I/O.
//!
//! A driver builds the endpoint's request, sends it (traced like every request, see
//! [`send`](crate::send)), and looks at the head: a non-2xx status reads at most
//! [`MAX_ERROR_BODY`] bytes of the body and becomes CARTO's error
//! ([`Error::Api`](carto_core::Error::Api)); a 2xx status asks the endpoint for the
//! decoder of its body, which the returned [`Decoded`] (an iterator) or
//! [`DecodedStream`] (a stream) feeds chunk by chunk as the body arrives.

use std::fmt;
use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use carto_core::{ApiError, Error, RequestContext};
use futures_util::{Stream, StreamExt};

use std::time::Instant;

use carto_core::retry::{Decision, Outcome, Retry};

use crate::body::{AsyncBody, AsyncUpload, Body, ByteStream, ResponseReader, Upload};
use crate::error::TransportError;
use crate::send::{Trace, noted, pause, pause_async};
use crate::transport::{AsyncTransport, Transport};

/// The most bytes read of the body of a failed (non-2xx) streamed response before it
/// is parsed as CARTO's error; the rest is not read.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

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
/// Pure: it builds a request head and reads a response head; the drivers
/// ([`send_streaming`], [`send_streaming_async`]) do the I/O.
pub trait StreamingEndpoint {
    /// The decoder of the body of a successful response.
    type Decoder: BodyDecoder;

    /// Builds the request: method, URI, headers, and how its body is sent.
    fn to_request(&self, ctx: &RequestContext) -> Result<http::Request<RequestBody>, Error>;

    /// Reads the head of a successful (2xx) response: the decoder of its body.
    /// A failed head never comes here: it is CARTO's error ([`ErrorBody`]).
    fn decoder(&self, head: &http::response::Parts) -> Result<Self::Decoder, Error>;

    /// Whether sending the request twice has the same effect as once (it decides which
    /// failures are retried, see [`carto_core::retry`]). `false` unless said otherwise.
    fn is_idempotent(&self) -> bool {
        false
    }
}

/// The head of a streamed response, parsed: go on with the body, or read the error.
#[derive(Debug)]
pub enum Head {
    /// A 2xx status: the body is the endpoint's to decode.
    Success(http::response::Parts),
    /// Any other status: the body is CARTO's error, read up to a cap.
    Failure(ErrorBody),
}

impl Head {
    /// Sorts a response head by its status.
    pub fn parse(head: http::response::Parts) -> Self {
        if head.status.is_success() {
            Self::Success(head)
        } else {
            Self::Failure(ErrorBody::new(head))
        }
    }
}

/// The one rule for the body of a failed streamed response: at most
/// [`MAX_ERROR_BODY`] bytes of it are kept, then parsed as CARTO's error JSON (with the
/// status and the rate-limit headers of the head).
#[derive(Debug)]
pub struct ErrorBody {
    head: http::response::Parts,
    data: Vec<u8>,
    limit: usize,
}

impl ErrorBody {
    /// An error body for `head`, capped at [`MAX_ERROR_BODY`].
    pub fn new(head: http::response::Parts) -> Self {
        Self::with_limit(head, MAX_ERROR_BODY)
    }

    /// An error body for `head`, capped at `limit` bytes.
    pub fn with_limit(head: http::response::Parts, limit: usize) -> Self {
        Self {
            head,
            data: Vec::new(),
            limit,
        }
    }

    /// How many more bytes it takes (0 once the cap is reached: stop reading).
    pub fn room(&self) -> usize {
        self.limit - self.data.len()
    }

    /// Takes the next chunk, keeping what fits under the cap.
    pub fn push(&mut self, chunk: &[u8]) {
        let n = chunk.len().min(self.room());
        self.data.extend_from_slice(&chunk[..n]);
    }

    /// The bytes kept so far.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The error the head and the kept bytes make.
    pub fn into_error(self) -> Error {
        ApiError::from_parts(self.head.status, &self.head.headers, &self.data).into()
    }
}

/// Builds the request of `endpoint` with `upload` as its body when it sends one.
fn request<E: StreamingEndpoint + ?Sized, B>(
    endpoint: &E,
    ctx: &RequestContext,
    upload: Option<B>,
    bytes: impl FnOnce(Vec<u8>) -> B,
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
    Ok(http::Request::from_parts(parts, body))
}

/// Sends `endpoint` through the blocking `transport`, its body read from `upload` as it
/// is sent when the endpoint asks for one ([`RequestBody::Upload`]), and returns its
/// response body as it arrives, decoded by the endpoint's decoder.
///
/// Traced like [`send`](crate::send) (method, path, status, duration to the head;
/// never the query string nor a header). A non-2xx status is CARTO's error, read from
/// at most [`MAX_ERROR_BODY`] bytes of the body. Retried like `send`, on what comes
/// before a 2xx head only: a rate-limited upload is sent again only when the
/// [`Upload`] can be rebuilt; once a 2xx head arrived, nothing is sent again.
pub fn send_streaming<T, E>(
    transport: &T,
    ctx: &RequestContext,
    endpoint: &E,
    upload: Option<Upload>,
) -> Result<Decoded<E::Decoder>, Error>
where
    T: Transport + ?Sized,
    E: StreamingEndpoint + ?Sized,
{
    let replayable = upload.as_ref().is_none_or(Upload::is_replayable);
    let mut attempts = Attempts::new(ctx, endpoint, replayable);
    open(transport, ctx, endpoint, upload, &mut attempts, false).map(|(decoded, _)| decoded)
}

/// Sends `endpoint` through the blocking `transport` and reads its whole response body
/// through the endpoint's decoder as it arrives: every item, and the decoder that saw
/// the end of the body (for what it learnt besides its items).
///
/// The buffered form of [`send_streaming`], for a result wanted whole (a typed query's
/// rows) without ever holding its whole body: only the decoded items and one chunk are
/// in memory. It keeps what a buffered [`send`](crate::send) promises: the request is
/// marked [`WholeBody`], so the transport's whole-request timeout covers the body too,
/// and since no item was handed out before the end, a failure while the body is read
/// (a dropped connection, a timeout) is retried like one before the head, from
/// scratch, for an idempotent endpoint only. A decode error, or an error the body
/// itself carries, is returned as it is.
pub fn send_collect<T, E>(
    transport: &T,
    ctx: &RequestContext,
    endpoint: &E,
) -> Result<Collected<E::Decoder>, Error>
where
    T: Transport + ?Sized,
    E: StreamingEndpoint + ?Sized,
{
    let mut attempts = Attempts::new(ctx, endpoint, true);
    loop {
        let (mut decoded, trace) = open(transport, ctx, endpoint, None, &mut attempts, true)?;
        let mut items = Vec::new();
        let failure = loop {
            match decoded.next() {
                Some(Ok(item)) => items.push(item),
                Some(Err(err)) => break err,
                None => return Ok((items, decoded.decoder)),
            }
        };
        drop(items);
        let (decision, failure) = attempts.after_body(failure)?;
        if let Err(stop) = pause(transport, &trace, attempts.retry.attempts(), decision) {
            return noted(Err(failure), stop);
        }
    }
}

/// What [`send_collect`] and [`send_collect_async`] read: every item of the body, and
/// the decoder that saw its end.
pub type Collected<D> = (Vec<<D as BodyDecoder>::Item>, D);

/// The retry state of one call: the decisions so far and when the first attempt left.
struct Attempts {
    retry: Retry,
    start: Instant,
}

impl Attempts {
    fn new<E: StreamingEndpoint + ?Sized>(
        ctx: &RequestContext,
        endpoint: &E,
        replayable: bool,
    ) -> Self {
        Self {
            retry: Retry::new(ctx.retry_policy(), endpoint.is_idempotent(), replayable),
            start: Instant::now(),
        }
    }

    fn decide(&mut self, outcome: Outcome<'_>) -> Decision {
        self.retry.decide(outcome, self.start.elapsed())
    }

    /// Reading a collected body failed: what to do about it when the transport failed
    /// (the body is read again from scratch, or not, as for a failure before the head);
    /// any other error (a decode error, CARTO's error in the body) is the answer, `Err`.
    fn after_body(&mut self, failure: Error) -> Result<(Decision, Error), Error> {
        match failure {
            Error::Transport { kind, .. } => {
                tracing::debug!(target: "carto_transport", error = %kind, "reading the body failed");
                Ok((self.decide(Outcome::Failed(kind)), failure))
            }
            other => Err(other),
        }
    }
}

/// Sends until a 2xx head arrives (retrying what `attempts` allows), and returns its
/// body to decode, with the trace of the attempt that got it. `whole` marks the request
/// [`WholeBody`].
fn open<T, E>(
    transport: &T,
    ctx: &RequestContext,
    endpoint: &E,
    mut upload: Option<Upload>,
    attempts: &mut Attempts,
    whole: bool,
) -> Result<(Decoded<E::Decoder>, Trace), Error>
where
    T: Transport + ?Sized,
    E: StreamingEndpoint + ?Sized,
{
    loop {
        let body = match upload.as_mut() {
            Some(upload) => Some(upload.next_body(attempts.retry.may_retry())?),
            None => None,
        };
        let mut request = request(endpoint, ctx, body, Body::Bytes)?;
        if whole {
            request.extensions_mut().insert(WholeBody);
        }
        let trace = Trace::start(&request);
        let result = transport.send_streaming(request);
        trace.finish(result.as_ref().map(http::Response::status));
        let failure = match result {
            Ok(response) => {
                let (head, mut reader) = response.into_parts();
                let mut error = match Head::parse(head) {
                    Head::Success(head) => {
                        let decoded = Decoded {
                            decoder: endpoint.decoder(&head)?,
                            head,
                            reader,
                            buf: Vec::new(),
                            state: State::Reading,
                        };
                        return Ok((decoded, trace));
                    }
                    Head::Failure(error) => error,
                };
                read_error_body(&mut reader, &mut error)?;
                Err(error)
            }
            Err(err) => Ok(err),
        };
        let decision = attempts.decide(attempt_outcome(&failure));
        if let Err(stop) = pause(transport, &trace, attempts.retry.attempts(), decision) {
            return noted(Err(attempt_error(failure)), stop);
        }
    }
}

/// A request extension: the caller reads this streamed request's body to its end at
/// once, as a buffered request's ([`send_collect`], [`send_collect_async`]).
///
/// The transport then applies its whole-request timeout
/// ([`TransportConfig::request_timeout`](crate::TransportConfig::request_timeout)) to
/// the request, head and body, as it does to a buffered [`Transport::send`], instead of
/// only the per-read timeout of a streamed one. [`UreqTransport`](crate::UreqTransport)
/// and [`ReqwestTransport`](crate::ReqwestTransport) honour it; a transport of your own
/// may look for it in [`http::Request::extensions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WholeBody;

/// Reads at most the error body's room from `reader`.
fn read_error_body(reader: &mut ResponseReader, error: &mut ErrorBody) -> Result<(), Error> {
    let mut buf = vec![0; error.room().min(CHUNK)];
    while error.room() > 0 {
        let want = error.room().min(buf.len());
        match reader.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => error.push(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(TransportError::from_io(e).into()),
        }
    }
    Ok(())
}

/// What a streamed attempt that did not succeed gave: no response (`Ok`, the transport
/// error), or CARTO's error (`Err`, head and bounded body).
type Failure = Result<TransportError, ErrorBody>;

fn attempt_outcome(failure: &Failure) -> Outcome<'_> {
    match failure {
        Ok(err) => Outcome::Failed(err.kind()),
        Err(error) => Outcome::Response {
            status: error.head.status,
            headers: &error.head.headers,
            body: error.bytes(),
        },
    }
}

fn attempt_error(failure: Failure) -> Error {
    match failure {
        Ok(err) => err.into(),
        Err(error) => error.into_error(),
    }
}

/// The async [`send_streaming`]: the same request, retries and trace, the upload
/// streamed from an [`AsyncUpload`] and the response body a [`DecodedStream`].
pub async fn send_streaming_async<T, E>(
    transport: &T,
    ctx: &RequestContext,
    endpoint: &E,
    upload: Option<AsyncUpload>,
) -> Result<DecodedStream<E::Decoder>, Error>
where
    T: AsyncTransport + ?Sized,
    E: StreamingEndpoint + ?Sized,
{
    let replayable = upload.as_ref().is_none_or(AsyncUpload::is_replayable);
    let mut attempts = Attempts::new(ctx, endpoint, replayable);
    let (decoded, _) = open_async(transport, ctx, endpoint, upload, &mut attempts, false).await?;
    Ok(decoded)
}

/// The async [`send_collect`]: the whole body read through the endpoint's decoder as it
/// arrives, under the whole-request timeout, a failure while reading it retried from
/// scratch for an idempotent endpoint.
pub async fn send_collect_async<T, E>(
    transport: &T,
    ctx: &RequestContext,
    endpoint: &E,
) -> Result<Collected<E::Decoder>, Error>
where
    T: AsyncTransport + ?Sized,
    E: StreamingEndpoint + ?Sized,
    E::Decoder: Unpin,
{
    let mut attempts = Attempts::new(ctx, endpoint, true);
    loop {
        let (mut decoded, trace) =
            open_async(transport, ctx, endpoint, None, &mut attempts, true).await?;
        let mut items = Vec::new();
        let failure = loop {
            match decoded.next().await {
                Some(Ok(item)) => items.push(item),
                Some(Err(err)) => break err,
                None => return Ok((items, decoded.decoder)),
            }
        };
        drop(items);
        let (decision, failure) = attempts.after_body(failure)?;
        let paused = pause_async(transport, &trace, attempts.retry.attempts(), decision).await;
        if let Err(stop) = paused {
            return noted(Err(failure), stop);
        }
    }
}

/// The async [`open`].
async fn open_async<T, E>(
    transport: &T,
    ctx: &RequestContext,
    endpoint: &E,
    mut upload: Option<AsyncUpload>,
    attempts: &mut Attempts,
    whole: bool,
) -> Result<(DecodedStream<E::Decoder>, Trace), Error>
where
    T: AsyncTransport + ?Sized,
    E: StreamingEndpoint + ?Sized,
{
    loop {
        let body = match upload.as_mut() {
            Some(upload) => Some(upload.next_body().await?),
            None => None,
        };
        let mut request = request(endpoint, ctx, body, AsyncBody::from)?;
        if whole {
            request.extensions_mut().insert(WholeBody);
        }
        let trace = Trace::start(&request);
        let result = transport.send_streaming(request).await;
        trace.finish(result.as_ref().map(http::Response::status));
        let failure = match result {
            Ok(response) => {
                let (head, mut body) = response.into_parts();
                let mut error = match Head::parse(head) {
                    Head::Success(head) => {
                        let decoded = DecodedStream {
                            decoder: endpoint.decoder(&head)?,
                            head,
                            body,
                            state: State::Reading,
                        };
                        return Ok((decoded, trace));
                    }
                    Head::Failure(error) => error,
                };
                while error.room() > 0 {
                    match body.next().await {
                        Some(chunk) => error.push(&chunk?),
                        None => break,
                    }
                }
                Err(error)
            }
            Err(err) => Ok(err),
        };
        let decision = attempts.decide(attempt_outcome(&failure));
        let paused = pause_async(transport, &trace, attempts.retry.attempts(), decision).await;
        if let Err(stop) = paused {
            return noted(Err(attempt_error(failure)), stop);
        }
    }
}

/// The largest read of a blocking body.
const CHUNK: usize = 64 * 1024;

/// The first read of a blocking body; each read that fills the buffer doubles it, up to
/// [`CHUNK`] (a small answer does not pay for a large buffer).
const FIRST_CHUNK: usize = 2 * 1024;

/// Where a decoded body stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// More of the body to read.
    Reading,
    /// The body ended and the decoder finished: its last items are drained.
    Draining,
    /// Nothing more.
    Done,
}

/// What a driver does next with one decoded body, whatever its I/O.
enum Step<I> {
    /// An item to hand out.
    Item(Result<I, Error>),
    /// Nothing more.
    End,
    /// Read the next chunk.
    Read,
}

/// Takes the decoder's next item, or says to read (or that the body is over).
fn step<D: BodyDecoder>(decoder: &mut D, state: &mut State) -> Step<D::Item> {
    if *state == State::Done {
        return Step::End;
    }
    match decoder.next_item() {
        Some(item) => {
            if item.is_err() {
                *state = State::Done;
            }
            Step::Item(item)
        }
        None if *state == State::Draining => {
            *state = State::Done;
            Step::End
        }
        None => Step::Read,
    }
}

/// Feeds what a read gave (a chunk, the end of the body, or a failure) to the decoder;
/// `Some` is an error item that ends the body.
fn feed<D: BodyDecoder>(
    decoder: &mut D,
    state: &mut State,
    read: Result<Option<&[u8]>, TransportError>,
) -> Option<Error> {
    let result = match read {
        Ok(Some(chunk)) => decoder.push(chunk),
        Ok(None) => {
            *state = State::Draining;
            decoder.finish()
        }
        Err(e) => Err(e.into()),
    };
    result.err().inspect(|_| *state = State::Done)
}

/// A streamed response body decoded as it is read ([`send_streaming`]): an iterator of
/// the decoder's items. An `Err` item is the last.
pub struct Decoded<D> {
    head: http::response::Parts,
    reader: ResponseReader,
    decoder: D,
    buf: Vec<u8>,
    state: State,
}

impl<D> Decoded<D> {
    /// The head of the response (status, headers).
    pub fn head(&self) -> &http::response::Parts {
        &self.head
    }

    /// The decoder (for what it learnt besides its items).
    pub fn decoder(&self) -> &D {
        &self.decoder
    }

    /// The body not decoded, as it arrives: only what was not read yet.
    pub fn into_reader(self) -> ResponseReader {
        self.reader
    }
}

impl<D: BodyDecoder> Iterator for Decoded<D> {
    type Item = Result<D::Item, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match step(&mut self.decoder, &mut self.state) {
                Step::Item(item) => return Some(item),
                Step::End => return None,
                Step::Read => {}
            }
            if self.buf.is_empty() {
                self.buf = vec![0; FIRST_CHUNK];
            }
            let read = match self.reader.read(&mut self.buf) {
                Ok(0) => Ok(None),
                Ok(n) => {
                    // A read that fills the buffer: the body is large, read more at once.
                    if n == self.buf.len() && n < CHUNK {
                        self.buf.resize(n * 2, 0);
                    }
                    Ok(Some(&self.buf[..n]))
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => Err(TransportError::from_io(e)),
            };
            if let Some(err) = feed(&mut self.decoder, &mut self.state, read) {
                return Some(Err(err));
            }
        }
    }
}

impl<D: BodyDecoder> std::iter::FusedIterator for Decoded<D> {}

impl<D> fmt::Debug for Decoded<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoded")
            .field("status", &self.head.status)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// A streamed response body decoded as it arrives ([`send_streaming_async`]): a stream
/// of the decoder's items. An `Err` item is the last.
pub struct DecodedStream<D> {
    head: http::response::Parts,
    body: ByteStream,
    decoder: D,
    state: State,
}

impl<D> DecodedStream<D> {
    /// The head of the response (status, headers).
    pub fn head(&self) -> &http::response::Parts {
        &self.head
    }

    /// The decoder (for what it learnt besides its items).
    pub fn decoder(&self) -> &D {
        &self.decoder
    }

    /// The body not decoded, as it arrives: only what was not read yet.
    pub fn into_stream(self) -> ByteStream {
        self.body
    }
}

impl<D: BodyDecoder + Unpin> Stream for DecodedStream<D> {
    type Item = Result<D::Item, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match step(&mut this.decoder, &mut this.state) {
                Step::Item(item) => return Poll::Ready(Some(item)),
                Step::End => return Poll::Ready(None),
                Step::Read => {}
            }
            let (decoder, state) = (&mut this.decoder, &mut this.state);
            let failed = match this.body.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => feed(decoder, state, Ok(Some(&chunk))),
                Poll::Ready(Some(Err(e))) => feed(decoder, state, Err(e)),
                Poll::Ready(None) => feed(decoder, state, Ok(None)),
            };
            if let Some(err) = failed {
                return Poll::Ready(Some(Err(err)));
            }
        }
    }
}

impl<D> fmt::Debug for DecodedStream<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodedStream")
            .field("status", &self.head.status)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}
