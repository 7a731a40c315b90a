//! A streamed response body decoded as it arrives: [`Decoded`] (an iterator, over a
//! blocking [`ResponseReader`]) and [`DecodedStream`] (a stream, over a [`ByteStream`]),
//! both feeding the endpoint's [`BodyDecoder`] chunk by chunk.
//!
//! ```text
//!   Reading --(decoder has an item)--> hand it out
//!      |  \--(decoder wants bytes)--> read a chunk, push it
//!      +--(end of body: finish)--> Draining --(no more items)--> Done
//!      +--(error item, or push/finish/read failed)--> Done
//! ```

use std::fmt;
use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll};

use carto_core::Error;
use futures_util::{Stream, StreamExt};

use super::endpoint::BodyDecoder;
use crate::body::{ByteStream, ResponseReader};
use crate::error::TransportError;

/// What [`send_collect`](crate::send_collect) and
/// [`send_collect_async`](crate::send_collect_async) read: every item of the body, and
/// the decoder that saw its end.
pub type Collected<D> = (Vec<<D as BodyDecoder>::Item>, D);

/// The largest read of a blocking body.
pub(crate) const CHUNK: usize = 64 * 1024;

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

/// A streamed response body decoded as it is read ([`send_streaming`](crate::send_streaming)): an iterator of
/// the decoder's items. An `Err` item is the last.
pub struct Decoded<D> {
    head: http::response::Parts,
    reader: ResponseReader,
    decoder: D,
    buf: Vec<u8>,
    state: State,
}

impl<D> Decoded<D> {
    pub(crate) fn new(head: http::response::Parts, reader: ResponseReader, decoder: D) -> Self {
        Self {
            head,
            reader,
            decoder,
            buf: Vec::new(),
            state: State::Reading,
        }
    }

    /// The decoder, taken out (once the body is read).
    pub(crate) fn into_decoder(self) -> D {
        self.decoder
    }

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

/// A streamed response body decoded as it arrives ([`send_streaming_async`](crate::send_streaming_async)): a stream
/// of the decoder's items. An `Err` item is the last.
pub struct DecodedStream<D> {
    head: http::response::Parts,
    body: ByteStream,
    decoder: D,
    state: State,
}

impl<D> DecodedStream<D> {
    pub(crate) fn new(head: http::response::Parts, body: ByteStream, decoder: D) -> Self {
        Self {
            head,
            body,
            decoder,
            state: State::Reading,
        }
    }

    /// The decoder, taken out (once the body is read).
    pub(crate) fn into_decoder(self) -> D {
        self.decoder
    }

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
