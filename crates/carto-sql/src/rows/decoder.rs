//! [`RowDecoder`]: the rows of a streamed JSON result decoded into `T` as they arrive,
//! then the summary or the error the document ends with.

use std::collections::VecDeque;

use carto_core::{DecodeError, Error};
use http::StatusCode;
use serde::de::DeserializeOwned;

use carto_transport::BodyDecoder;

use super::RowSplitter;
use super::scan::{self, JsonScan};
use crate::response::{SqlSummary, decode_summary};

/// Where a [`RowDecoder`] stands in its document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the rows array: the splitter reads the envelope.
    Envelope,
    /// Inside the rows array: rows are decoded straight from the bytes.
    Rows,
    /// After the rows array, or skipping the rows after one failed (read whole): the
    /// splitter reads the rest.
    Splitter,
    /// A row failed (streamed): nothing more is read.
    Failed,
}

/// Decodes a streamed SQL API JSON document: rows into `T` one at a time, then the
/// summary, or the error the document ends with.
///
/// Inside the rows array each row is decoded straight from the bytes received, by
/// serde_json (one pass: the parser itself finds where a row ends, a row cut by the end
/// of a chunk is decoded again once the next one arrived); the envelope around the
/// array goes through a [`RowSplitter`]. A row that does not decode is decoded again
/// through `serde_path_to_error` for its JSON path (`rows[3].name`).
///
/// It is also the [`BodyDecoder`] of a streamed [`JsonQuery`](crate::JsonQuery): its
/// items are the rows, and the summary is kept ([`summary`](Self::summary)).
pub struct RowDecoder<T> {
    splitter: RowSplitter,
    status: StatusCode,
    phase: Phase,
    /// The bytes of the rows array not decoded yet, from `pos` (Phase::Rows).
    buf: Vec<u8>,
    pos: usize,
    /// Just after `[` or `,`: a row comes next (else a `,` or the `]`).
    expect_row: bool,
    /// No row yet (`]` may close the array at once).
    first: bool,
    /// A row already larger than [`LONG_ROW`] and still incomplete: its end is looked for
    /// byte by byte as chunks arrive, and it is parsed once, when whole (linear in its
    /// size, not quadratic).
    long: Option<RowEnd>,
    /// Rows decoded, not handed out yet (at most a chunk's worth).
    ready: VecDeque<T>,
    /// The error that comes after the ready rows.
    error: Option<Error>,
    decoded: u64,
    summary: Option<SqlSummary>,
    /// Read whole (a buffered query): a row that does not decode is kept here while the
    /// rest of the body is read, since an `error` at its end comes first.
    whole: bool,
    failed: Option<Error>,
}

// Never pinned through: the rows it holds are moved out, not borrowed.
impl<T> Unpin for RowDecoder<T> {}

impl<T> std::fmt::Debug for RowDecoder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RowDecoder")
            .field("status", &self.status)
            .field("decoded", &self.decoded)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> RowDecoder<T> {
    /// A decoder for a response with `status` (used in errors).
    pub fn new(status: StatusCode) -> Self {
        Self {
            splitter: RowSplitter::new(),
            status,
            phase: Phase::Envelope,
            buf: Vec::new(),
            pos: 0,
            expect_row: true,
            first: true,
            long: None,
            ready: VecDeque::new(),
            error: None,
            decoded: 0,
            summary: None,
            whole: false,
            failed: None,
        }
    }

    /// A decoder for a document read whole before its rows are handed out (the buffered
    /// query): as [`decode_sql`](crate::response) decides, the `error` the document ends
    /// with wins over a row that did not decode, which is then reported by
    /// [`finish`](Self::finish) (the rows after it are scanned, not decoded).
    pub(crate) fn whole(status: StatusCode) -> Self {
        Self {
            whole: true,
            ..Self::new(status)
        }
    }

    /// Takes the summary a finished [`BodyDecoder`] kept.
    pub(crate) fn take_summary(&mut self) -> Option<SqlSummary> {
        self.summary.take()
    }

    /// Feeds the next chunk of the body.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let status = self.status;
        let malformed = |e: &'static str| Error::from(DecodeError::new(status, ".", e, chunk));
        match self.phase {
            Phase::Envelope => {
                if let Some(at) = self.splitter.push_envelope(chunk).map_err(malformed)? {
                    self.phase = Phase::Rows;
                    self.buf.extend_from_slice(&chunk[at..]);
                    self.decode_rows();
                }
            }
            Phase::Rows => {
                if self.pos > 0 {
                    self.buf.drain(..self.pos);
                    self.pos = 0;
                }
                self.buf.extend_from_slice(chunk);
                let whole = match &mut self.long {
                    Some(end) => end.complete(&self.buf),
                    None => true,
                };
                if whole {
                    self.long = None;
                    self.decode_rows();
                }
            }
            Phase::Splitter => {
                self.splitter.push(chunk).map_err(malformed)?;
                self.skip_rows();
            }
            Phase::Failed => {}
        }
        Ok(())
    }

    /// Decodes the next complete row, if one has arrived.
    pub fn next_row(&mut self) -> Option<Result<T, Error>> {
        match self.ready.pop_front() {
            Some(row) => Some(Ok(row)),
            None => self.error.take().map(Err),
        }
    }

    /// Drops the rows the splitter cut after a failed row (read whole).
    fn skip_rows(&mut self) {
        while self.splitter.with_next_row(|_| ()).is_some() {}
    }

    /// Decodes every complete row of `buf` from `pos`, up to one cut by the end of the
    /// bytes received, the end of the array, or an error.
    fn decode_rows(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        let bytes = &buf[self.pos..];
        // UTF-8 is checked once for the whole chunk (serde_json's `from_slice` would check
        // each string). A character cut by the end of the chunk waits for the next one.
        let (text, invalid) = match std::str::from_utf8(bytes) {
            Ok(text) => (text, false),
            Err(e) => {
                let valid = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default();
                (valid, e.error_len().is_some())
            }
        };
        let mut i = 0;
        let end = loop {
            i += text[i..]
                .bytes()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(text.len() - i);
            let Some(b) = text.as_bytes().get(i).copied() else {
                break if invalid { Err(i) } else { Ok(i) };
            };
            if !self.expect_row {
                match b {
                    b',' => {
                        self.expect_row = true;
                        i += 1;
                    }
                    b']' => break self.end_rows(&bytes[i..]).map(|()| bytes.len()),
                    _ => {
                        let e = "malformed rows array: expected `,` or `]` after a row";
                        break self.fail(
                            DecodeError::new(self.status, ".", e, &bytes[i..]),
                            &bytes[i..],
                        );
                    }
                }
                continue;
            }
            if b == b']' && self.first {
                break self.end_rows(&bytes[i..]).map(|()| bytes.len());
            }
            let mut rows = serde_json::Deserializer::from_str(&text[i..]).into_iter::<T>();
            match rows.next() {
                // A row that ends with the bytes received may go on (a number): wait.
                Some(Ok(row)) if i + rows.byte_offset() < text.len() => {
                    i += rows.byte_offset();
                    self.ready.push_back(row);
                    self.decoded += 1;
                    self.expect_row = false;
                    self.first = false;
                }
                Some(Ok(_)) if invalid => break Err(i),
                Some(Ok(_)) => break Ok(i),
                Some(Err(e)) if !invalid && cut_short(&e, &text[i..]) => {
                    if bytes.len() - i > LONG_ROW {
                        self.long = Some(RowEnd::default());
                    }
                    break Ok(i);
                }
                Some(Err(first)) => {
                    let error = row_error::<T>(self.status, self.decoded, &text[i..], &first);
                    break self.fail(error, &bytes[i..]);
                }
                None => break Ok(i),
            }
        };
        match end {
            Ok(end) => self.pos += end,
            Err(at) => {
                let e = DecodeError::new(self.status, ".", "the body is not UTF-8", &bytes[at..]);
                let _ = self.fail(e, &bytes[at..]);
            }
        }
        self.buf = buf;
        if self.phase != Phase::Rows {
            self.buf = Vec::new();
            self.pos = 0;
        }
    }

    /// The array's closing bracket, at `rest[0]`: the splitter reads the rest.
    fn end_rows(&mut self, rest: &[u8]) -> Result<(), usize> {
        self.phase = Phase::Splitter;
        if let Err(e) = self.splitter.push(rest) {
            self.error = Some(DecodeError::new(self.status, ".", e, rest).into());
            self.phase = Phase::Failed;
        }
        Ok(())
    }

    /// A row (at `rest[0]`) did not decode: the error ends a streamed body; read whole,
    /// it is kept while the splitter scans the rest for the trailer's `error`.
    fn fail(&mut self, error: DecodeError, rest: &[u8]) -> Result<usize, usize> {
        if self.whole {
            self.failed = Some(error.into());
            self.phase = Phase::Splitter;
            if self.splitter.push(rest).is_err() {
                // The document is malformed too: the row's error is the answer.
                self.phase = Phase::Failed;
                self.error = self.failed.take();
            }
            self.skip_rows();
        } else {
            self.error = Some(error.into());
            self.phase = Phase::Failed;
        }
        Ok(rest.len())
    }

    /// Rows decoded so far.
    pub fn rows_decoded(&self) -> u64 {
        self.decoded
    }

    /// The summary, once the body ended well as a [`BodyDecoder`].
    pub fn summary(&self) -> Option<&SqlSummary> {
        self.summary.as_ref()
    }

    /// At the end of the body: the summary, or the `error` the document carried (an
    /// [`Error::Api`] with the response status, 200), or a decode error for a cut-off
    /// document.
    pub fn finish(&mut self) -> Result<SqlSummary, Error> {
        if self.phase == Phase::Rows && self.pos < self.buf.len() {
            // A large row that waited for more bytes than came: decode what there is.
            self.decode_rows();
        }
        if let Some(err) = self.error.take() {
            return Err(err);
        }
        let summary = match self.splitter.envelope() {
            Some(envelope) if self.phase != Phase::Rows => decode_summary(self.status, envelope),
            _ => {
                Err(DecodeError::new(self.status, ".", "the JSON document ended early", b"").into())
            }
        };
        match (summary, self.failed.take()) {
            // The server's own error (a query that failed after its first rows) wins.
            (Err(err), _) if !matches!(err, Error::Decode(_)) => Err(err),
            (_, Some(row)) => Err(row),
            (summary, None) => summary,
        }
    }
}

/// Rows longer than this, still incomplete, wait for their end before being parsed again.
const LONG_ROW: usize = 64 * 1024;

/// Finds where a long row ends, scanning each of its bytes once as they arrive.
#[derive(Debug, Default)]
struct RowEnd {
    scan: JsonScan,
    /// The bytes of the row scanned so far.
    scanned: usize,
}

impl RowEnd {
    /// Scans the row (`row` starts with its first byte) from where it stopped: whether
    /// its end has arrived.
    fn complete(&mut self, row: &[u8]) -> bool {
        let mut i = self.scanned.min(row.len());
        self.scanned = row.len();
        while let Some(at) = self.scan.next(row, i, &scan::VALUE) {
            i = at + 1;
            // The end of a string, or of an object or array, at the row's own level.
            let ended = row[at] != b'"' || !self.scan.in_string();
            if ended && self.scan.depth == 0 {
                return true;
            }
        }
        false
    }
}

/// Whether a row's parse failed only for want of the bytes still to come: at the end of
/// the text, or at its last bytes (`1.` then the end is an invalid number until the next
/// digit arrives). Such a row is decoded again with more bytes; at the end of the body
/// the document is cut short anyway.
fn cut_short(error: &serde_json::Error, text: &str) -> bool {
    if error.is_eof() {
        return true;
    }
    // serde_json's line (1-based) and column (bytes after the line's start).
    let line_start = match error.line() {
        0 | 1 => 0,
        line => text
            .bytes()
            .enumerate()
            .filter(|&(_, b)| b == b'\n')
            .nth(line - 2)
            .map_or(text.len(), |(at, _)| at + 1),
    };
    line_start + error.column() + 2 >= text.len()
}

/// The error of the row at the start of `text` (row number `index`) that did not decode
/// (`first`): decoded again through `serde_path_to_error` for its JSON path.
fn row_error<T: DeserializeOwned>(
    status: StatusCode,
    index: u64,
    text: &str,
    first: &serde_json::Error,
) -> DecodeError {
    let de = &mut serde_json::Deserializer::from_str(text);
    let (path, message) = match serde_path_to_error::deserialize::<_, T>(de) {
        Err(e) => (e.path().to_string(), e.into_inner().to_string()),
        // What follows the row is wrong (`1x`): the first error, at the row.
        Ok(_) => (".".to_owned(), first.to_string()),
    };
    let path = if path == "." {
        format!("rows[{index}]")
    } else {
        format!("rows[{index}].{path}")
    };
    DecodeError::new(status, path, message, text.as_bytes())
}

impl<T: DeserializeOwned> BodyDecoder for RowDecoder<T> {
    type Item = T;

    fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        RowDecoder::push(self, chunk)
    }

    fn next_item(&mut self) -> Option<Result<T, Error>> {
        self.next_row()
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.summary = Some(RowDecoder::finish(self)?);
        Ok(())
    }
}
