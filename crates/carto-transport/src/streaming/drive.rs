//! The drivers of streamed calls: [`send_streaming`] and [`send_collect`] (blocking),
//! [`send_streaming_async`] and [`send_collect_async`]. Each attempt is an [`Opening`]
//! (send the head, sort the answer's head, read a failed one's body) run by the attempt
//! machine's shells; a collected call reads the whole body inside its attempt, so a
//! body that breaks off is one more failed attempt.

use std::io::Read;

use carto_core::Error;
use carto_core::operation::SendContext;
use carto_core::retry::Stop;
use futures_util::StreamExt;

use super::decoded::{CHUNK, Collected, Decoded, DecodedStream};
use super::endpoint::{BodyDecoder, StreamingEndpoint, request};
use super::error_body::Head;
use crate::attempt::Attempts;
use crate::body::{AsyncBody, AsyncUpload, Body, ByteStream, ResponseReader, Upload};
use crate::drive::{AsyncExchange, Exchange, drive, drive_async};
use crate::error::TransportError;
use crate::trace::Trace;
use crate::transport::{AsyncTransport, Transport};

/// Sends `endpoint` through the blocking `transport`, its body read from `upload` as it
/// is sent when the endpoint asks for one ([`RequestBody::Upload`](crate::RequestBody::Upload)), and returns its
/// response body as it arrives, decoded by the endpoint's decoder.
///
/// Traced like [`send`](crate::send) (method, path, status, duration to the head;
/// never the query string nor a header). A non-2xx status is CARTO's error, read from
/// at most [`MAX_ERROR_BODY`](crate::MAX_ERROR_BODY) bytes of the body. Retried like `send`, on what comes
/// before a 2xx head only: a rate-limited upload is sent again only when the
/// [`Upload`] can be rebuilt; once a 2xx head arrived, nothing is sent again.
pub fn send_streaming<T, C, E>(
    transport: &T,
    ctx: &C,
    endpoint: &E,
    upload: Option<Upload>,
) -> Result<Decoded<E::Decoder>, Error>
where
    T: Transport + ?Sized,
    C: SendContext + ?Sized,
    E: StreamingEndpoint<C> + ?Sized,
{
    let replayable = upload.as_ref().is_none_or(Upload::is_replayable);
    let attempts = Attempts::new(ctx, endpoint.is_idempotent(), replayable);
    drive(
        transport,
        attempts,
        Opening::new(transport, ctx, endpoint, upload, false),
    )
}

/// Sends `endpoint` through the blocking `transport` and reads its whole response body
/// through the endpoint's decoder as it arrives: every item, and the decoder that saw
/// the end of the body (for what it learnt besides its items).
///
/// The buffered form of [`send_streaming`], for a result wanted whole (a typed query's
/// rows) without ever holding its whole body: only the decoded items and one chunk are
/// in memory. It keeps what a buffered [`send`](crate::send) promises: the request is
/// marked [`WholeBody`](crate::WholeBody), so the transport's whole-request timeout covers the body too,
/// and since no item was handed out before the end, a failure while the body is read
/// (a dropped connection, a timeout) is retried like one before the head, from
/// scratch, for an idempotent endpoint only. A decode error, or an error the body
/// itself carries, is returned as it is.
pub fn send_collect<T, C, E>(
    transport: &T,
    ctx: &C,
    endpoint: &E,
) -> Result<Collected<E::Decoder>, Error>
where
    T: Transport + ?Sized,
    C: SendContext + ?Sized,
    E: StreamingEndpoint<C> + ?Sized,
{
    let attempts = Attempts::new(ctx, endpoint.is_idempotent(), true);
    let opening =
        Opening::<_, _, _, Upload, ResponseReader>::new(transport, ctx, endpoint, None, true);
    drive(transport, attempts, Collect(opening))
}

/// The async [`send_streaming`]: the same request, retries and trace, the upload
/// streamed from an [`AsyncUpload`] and the response body a [`DecodedStream`].
pub async fn send_streaming_async<T, C, E>(
    transport: &T,
    ctx: &C,
    endpoint: &E,
    upload: Option<AsyncUpload>,
) -> Result<DecodedStream<E::Decoder>, Error>
where
    T: AsyncTransport + ?Sized,
    C: SendContext + ?Sized,
    E: StreamingEndpoint<C> + ?Sized,
{
    let replayable = upload.as_ref().is_none_or(AsyncUpload::is_replayable);
    let attempts = Attempts::new(ctx, endpoint.is_idempotent(), replayable);
    let opening = Opening::new(transport, ctx, endpoint, upload, false);
    drive_async(transport, attempts, opening).await
}

/// The async [`send_collect`]: the whole body read through the endpoint's decoder as it
/// arrives, under the whole-request timeout, a failure while reading it retried from
/// scratch for an idempotent endpoint.
pub async fn send_collect_async<T, C, E>(
    transport: &T,
    ctx: &C,
    endpoint: &E,
) -> Result<Collected<E::Decoder>, Error>
where
    T: AsyncTransport + ?Sized,
    C: SendContext + ?Sized,
    E: StreamingEndpoint<C> + ?Sized,
    E::Decoder: Unpin,
{
    let attempts = Attempts::new(ctx, endpoint.is_idempotent(), true);
    let opening =
        Opening::<_, _, _, AsyncUpload, ByteStream>::new(transport, ctx, endpoint, None, true);
    drive_async(transport, attempts, Collect(opening)).await
}

/// One streamed call's attempts up to a 2xx head: `U` is the upload, `B` the body of a
/// failed answer while its error is read.
struct Opening<'a, T: ?Sized, C: ?Sized, E: ?Sized, U, B> {
    transport: &'a T,
    ctx: &'a C,
    endpoint: &'a E,
    upload: Option<U>,
    /// The request is marked [`WholeBody`](super::WholeBody).
    whole: bool,
    failed_body: Option<B>,
    buf: Vec<u8>,
}

impl<'a, T: ?Sized, C: ?Sized, E: StreamingEndpoint<C> + ?Sized, U, B> Opening<'a, T, C, E, U, B> {
    fn new(transport: &'a T, ctx: &'a C, endpoint: &'a E, upload: Option<U>, whole: bool) -> Self {
        Self {
            transport,
            ctx,
            endpoint,
            upload,
            whole,
            failed_body: None,
            buf: Vec::new(),
        }
    }

    /// Reports what the attempt gave: the decoder and head of a 2xx answer with its
    /// body, else nothing (the machine reads a failed head's body, or decides).
    fn answered(
        &mut self,
        attempts: &mut Attempts,
        trace: Trace,
        result: Result<http::Response<B>, TransportError>,
    ) -> Result<Option<(http::response::Parts, B, E::Decoder)>, Error> {
        trace.finish(result.as_ref().map(http::Response::status));
        attempts.sent(trace);
        match result {
            Ok(response) => {
                let (head, body) = response.into_parts();
                match Head::parse(head) {
                    Head::Success(head) => {
                        let decoder = self.endpoint.decoder(&head)?;
                        Ok(Some((head, body, decoder)))
                    }
                    Head::Failure(error) => {
                        self.failed_body = Some(body);
                        attempts.failed_head(error);
                        Ok(None)
                    }
                }
            }
            Err(err) => {
                attempts.failed(err);
                Ok(None)
            }
        }
    }
}

impl<T, C, E> Exchange for Opening<'_, T, C, E, Upload, ResponseReader>
where
    T: Transport + ?Sized,
    C: SendContext + ?Sized,
    E: StreamingEndpoint<C> + ?Sized,
{
    type Answer = Decoded<E::Decoder>;

    fn send(&mut self, attempts: &mut Attempts) -> Result<Option<Self::Answer>, Error> {
        let body = match self.upload.as_mut() {
            Some(upload) => Some(upload.next_body(attempts.may_retry())?),
            None => None,
        };
        let request = request(self.endpoint, self.ctx, body, Body::Bytes, self.whole)?;
        let trace = Trace::start(&request);
        let result = self.transport.send_streaming(request);
        let answer = self.answered(attempts, trace, result)?;
        Ok(answer.map(|(head, reader, decoder)| Decoded::new(head, reader, decoder)))
    }

    fn read_error_body(&mut self, room: usize, attempts: &mut Attempts) -> Result<(), Error> {
        let Some(reader) = self.failed_body.as_mut() else {
            attempts.error_body(None);
            return Ok(());
        };
        if self.buf.is_empty() {
            self.buf = vec![0; room.min(CHUNK)];
        }
        let want = room.min(self.buf.len());
        match reader.read(&mut self.buf[..want]) {
            Ok(0) => attempts.error_body(None),
            Ok(n) => attempts.error_body(Some(&self.buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(TransportError::from_io(e).into()),
        }
        Ok(())
    }

    fn finish(self, attempts: Attempts, stop: Stop) -> Result<Self::Answer, Error> {
        Err(attempts.into_error(stop))
    }
}

impl<T, C, E> AsyncExchange for Opening<'_, T, C, E, AsyncUpload, ByteStream>
where
    T: AsyncTransport + ?Sized,
    C: SendContext + ?Sized,
    E: StreamingEndpoint<C> + ?Sized,
{
    type Answer = DecodedStream<E::Decoder>;

    async fn send(&mut self, attempts: &mut Attempts) -> Result<Option<Self::Answer>, Error> {
        let body = match self.upload.as_mut() {
            Some(upload) => Some(upload.next_body().await?),
            None => None,
        };
        let request = request(self.endpoint, self.ctx, body, AsyncBody::from, self.whole)?;
        let trace = Trace::start(&request);
        let result = self.transport.send_streaming(request).await;
        let answer = self.answered(attempts, trace, result)?;
        Ok(answer.map(|(head, body, decoder)| DecodedStream::new(head, body, decoder)))
    }

    async fn read_error_body(&mut self, attempts: &mut Attempts) -> Result<(), Error> {
        match self.failed_body.as_mut() {
            Some(body) => match body.next().await {
                Some(chunk) => attempts.error_body(Some(&chunk?)),
                None => attempts.error_body(None),
            },
            None => attempts.error_body(None),
        }
        Ok(())
    }

    fn finish(self, attempts: Attempts, stop: Stop) -> Result<Self::Answer, Error> {
        Err(attempts.into_error(stop))
    }
}

/// A collected call: each attempt opens the body and reads it whole through the
/// decoder; a transport failure while reading it is one more failed attempt.
struct Collect<X>(X);

/// What reading a whole body gave: its items and decoder, or nothing when the machine
/// is to decide about a broken body.
fn collected<D: BodyDecoder>(
    attempts: &mut Attempts,
    read: Result<Vec<D::Item>, Error>,
    decoder: impl FnOnce() -> D,
) -> Result<Option<Collected<D>>, Error> {
    match read {
        Ok(items) => Ok(Some((items, decoder()))),
        Err(failure) => attempts.body_failed(failure).map(|()| None),
    }
}

impl<X, D> Exchange for Collect<X>
where
    X: Exchange<Answer = Decoded<D>>,
    D: BodyDecoder,
{
    type Answer = Collected<D>;

    fn send(&mut self, attempts: &mut Attempts) -> Result<Option<Self::Answer>, Error> {
        let Some(mut decoded) = self.0.send(attempts)? else {
            return Ok(None);
        };
        let read = decoded.by_ref().collect::<Result<Vec<_>, _>>();
        collected(attempts, read, || decoded.into_decoder())
    }

    fn read_error_body(&mut self, room: usize, attempts: &mut Attempts) -> Result<(), Error> {
        self.0.read_error_body(room, attempts)
    }

    fn finish(self, attempts: Attempts, stop: Stop) -> Result<Self::Answer, Error> {
        Err(attempts.into_error(stop))
    }
}

impl<X, D> AsyncExchange for Collect<X>
where
    X: AsyncExchange<Answer = DecodedStream<D>>,
    D: BodyDecoder + Unpin,
{
    type Answer = Collected<D>;

    async fn send(&mut self, attempts: &mut Attempts) -> Result<Option<Self::Answer>, Error> {
        let Some(mut decoded) = self.0.send(attempts).await? else {
            return Ok(None);
        };
        let mut items = Vec::new();
        let read = loop {
            match decoded.next().await {
                Some(Ok(item)) => items.push(item),
                Some(Err(err)) => break Err(err),
                None => break Ok(items),
            }
        };
        collected(attempts, read, || decoded.into_decoder())
    }

    async fn read_error_body(&mut self, attempts: &mut Attempts) -> Result<(), Error> {
        self.0.read_error_body(attempts).await
    }

    fn finish(self, attempts: Attempts, stop: Stop) -> Result<Self::Answer, Error> {
        Err(attempts.into_error(stop))
    }
}
