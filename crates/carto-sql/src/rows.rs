//! Incremental decoding of a JSON result as its bytes arrive: the rows one by one,
//! then the rest of the document (time, fields, total_rows, a late `error`).
//!
//! [`RowSplitter`] is a small byte-level scanner that cuts the `"rows":[...]` array of
//! the document into its elements and keeps everything else (the "envelope", small)
//! aside; [`RowDecoder`] decodes each element into `T`. Neither does I/O: the sync and
//! async clients feed them chunks as the transport delivers them, so a result far
//! larger than memory is decoded with only one row (and one chunk) held at a time.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::ops::Range;

use carto_core::{DecodeError, Error};
use http::StatusCode;
use serde::de::DeserializeOwned;

use carto_transport::BodyDecoder;

use crate::response::{SqlSummary, decode_summary};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Outside the rows array.
    Envelope,
    /// Inside the rows array.
    Rows,
    /// After the closing brace of the document.
    Done,
}

/// Cuts a SQL API JSON document into its row elements and its envelope, chunk by chunk.
#[derive(Debug, Clone)]
pub struct RowSplitter {
    mode: Mode,
    depth: u32,
    in_string: bool,
    escape: bool,
    capturing_key: bool,
    key: Vec<u8>,
    after_colon: bool,
    envelope: Vec<u8>,
    /// The complete rows not yet taken, then the row being scanned (from `row_start`).
    buf: Vec<u8>,
    /// Where the row being scanned starts in `buf`.
    row_start: usize,
    /// The complete rows in `buf`.
    rows: VecDeque<Range<usize>>,
    error: Option<&'static str>,
}

impl Default for RowSplitter {
    fn default() -> Self {
        Self::new()
    }
}

impl RowSplitter {
    /// A splitter at the start of a document.
    pub fn new() -> Self {
        Self {
            mode: Mode::Envelope,
            depth: 0,
            in_string: false,
            escape: false,
            capturing_key: false,
            key: Vec::new(),
            after_colon: false,
            envelope: Vec::new(),
            buf: Vec::new(),
            row_start: 0,
            rows: VecDeque::new(),
            error: None,
        }
    }

    /// Scans the next chunk of the document. Complete rows become available from
    /// [`next_row`](Self::next_row).
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), &'static str> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut i = 0;
        while i < chunk.len() {
            match self.mode {
                Mode::Rows => i = self.scan_rows(chunk, i),
                Mode::Envelope => {
                    self.envelope_byte(chunk[i]);
                    i += 1;
                }
                Mode::Done => {
                    if !chunk[i].is_ascii_whitespace() {
                        self.error = Some("data after the end of the JSON document");
                    }
                    i += 1;
                }
            }
            if let Some(e) = self.error {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The next complete row element, as raw JSON.
    pub fn next_row(&mut self) -> Option<Vec<u8>> {
        self.with_next_row(<[u8]>::to_vec)
    }

    /// Calls `f` with the next complete row element (raw JSON), without copying it.
    pub(crate) fn with_next_row<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let range = self.rows.pop_front()?;
        let out = f(&self.buf[range]);
        if self.rows.is_empty() {
            // Every complete row was taken: only the row being scanned is kept.
            self.buf.drain(..self.row_start);
            self.row_start = 0;
        }
        Some(out)
    }

    /// Whether the document's closing brace was seen.
    pub fn is_complete(&self) -> bool {
        self.mode == Mode::Done
    }

    /// The document without its rows (`"rows":[]`), once it is complete.
    pub fn envelope(&self) -> Option<&[u8]> {
        self.is_complete().then_some(self.envelope.as_slice())
    }

    fn string_byte(&mut self, b: u8) -> bool {
        // Returns true when the byte ended the string.
        if self.escape {
            self.escape = false;
        } else if b == b'\\' {
            self.escape = true;
        } else if b == b'"' {
            self.in_string = false;
            return true;
        }
        false
    }

    fn envelope_byte(&mut self, b: u8) {
        if self.in_string {
            self.envelope.push(b);
            let ended = self.string_byte(b);
            if self.capturing_key {
                if ended {
                    self.capturing_key = false;
                } else {
                    self.key.push(b);
                }
            }
            return;
        }
        if self.depth == 0 && !b.is_ascii_whitespace() && b != b'{' {
            self.error = Some("the response is not a JSON object");
            return;
        }
        match b {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 && !self.after_colon {
                    self.capturing_key = true;
                    self.key.clear();
                }
            }
            b':' if self.depth == 1 => self.after_colon = true,
            b',' if self.depth == 1 => self.after_colon = false,
            b'[' if self.depth == 1 && self.after_colon && self.key == b"rows" => {
                self.envelope.push(b);
                self.depth = 2;
                self.mode = Mode::Rows;
                return;
            }
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    self.envelope.push(b);
                    self.mode = Mode::Done;
                    return;
                }
            }
            _ => {}
        }
        if !(b.is_ascii_whitespace() && self.depth <= 1) {
            self.envelope.push(b);
        }
    }

    /// Scans the rows array from `chunk[i]` on, copying row bytes in runs; returns where it
    /// stopped (the end of the chunk, or just after the array's closing bracket).
    fn scan_rows(&mut self, chunk: &[u8], mut i: usize) -> usize {
        // Bytes from `run` to `i` belong to the row being scanned and are not copied yet.
        let mut run = i;
        while i < chunk.len() {
            if self.in_string {
                if self.escape {
                    // An escape cut by the end of the previous chunk: its byte is this one.
                    self.escape = false;
                    i += 1;
                    continue;
                }
                // Jump to the next quote or backslash.
                let Some(at) = memchr::memchr2(b'"', b'\\', &chunk[i..]) else {
                    i = chunk.len();
                    break;
                };
                i += at;
                match chunk[i] {
                    b'\\' => {
                        // The escaped byte may be the next chunk's first.
                        if i + 1 < chunk.len() {
                            i += 2;
                        } else {
                            self.escape = true;
                            i += 1;
                        }
                    }
                    _ => {
                        self.in_string = false;
                        i += 1;
                    }
                }
                continue;
            }
            let b = chunk[i];
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b',' | b']' if self.depth == 2 => {
                    self.buf.extend_from_slice(&chunk[run..i]);
                    self.flush_row();
                    i += 1;
                    run = i;
                    if b == b']' {
                        self.depth = 1;
                        self.mode = Mode::Envelope;
                        self.envelope.push(b);
                        return i;
                    }
                    continue;
                }
                b'}' if self.depth <= 2 => {
                    // A closing brace where a row or the array's end belongs.
                    self.error = Some("malformed rows array: unbalanced `}`");
                    self.buf.extend_from_slice(&chunk[run..i]);
                    return chunk.len();
                }
                b'}' | b']' => self.depth -= 1,
                _ if self.depth == 2 && b.is_ascii_whitespace() => {
                    // Between elements: not part of a row.
                    self.buf.extend_from_slice(&chunk[run..i]);
                    i += 1;
                    run = i;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        self.buf.extend_from_slice(&chunk[run..i]);
        i
    }

    fn flush_row(&mut self) {
        if self.buf.len() > self.row_start {
            self.rows.push_back(self.row_start..self.buf.len());
            self.row_start = self.buf.len();
        }
    }
}

/// Decodes a streamed SQL API JSON document: rows into `T` one at a time, then the
/// summary, or the error the document ends with.
///
/// It is also the [`BodyDecoder`] of a streamed [`JsonQuery`](crate::JsonQuery): its
/// items are the rows, and the summary is kept ([`summary`](Self::summary)).
pub struct RowDecoder<T> {
    splitter: RowSplitter,
    status: StatusCode,
    decoded: u64,
    summary: Option<SqlSummary>,
    /// Read whole (a buffered query): a row that does not decode is kept here while the
    /// rest of the body is read, since an `error` at its end comes first.
    whole: bool,
    failed: Option<Error>,
    rows: PhantomData<fn() -> T>,
}

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
            decoded: 0,
            summary: None,
            whole: false,
            failed: None,
            rows: PhantomData,
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
        self.splitter
            .push(chunk)
            .map_err(|e| DecodeError::new(self.status, ".", e, chunk).into())
    }

    /// Decodes the next complete row, if one has arrived.
    pub fn next_row(&mut self) -> Option<Result<T, Error>> {
        if self.failed.is_some() {
            // Read whole and a row failed: the rest is only scanned, for the trailer.
            while self.splitter.with_next_row(|_| ()).is_some() {}
            return None;
        }
        let row = self.decode_next()?;
        match row {
            Err(err) if self.whole => {
                self.failed = Some(err);
                self.next_row()
            }
            row => Some(row),
        }
    }

    fn decode_next(&mut self) -> Option<Result<T, Error>> {
        let index = self.decoded;
        let status = self.status;
        let decoded = self.splitter.with_next_row(|raw| {
            // Fast first; the JSON path is looked for only when the row did not decode.
            serde_json::from_slice(raw).map_err(|first| {
                let de = &mut serde_json::Deserializer::from_slice(raw);
                let (path, message) = match serde_path_to_error::deserialize::<_, T>(de) {
                    Err(e) => (e.path().to_string(), e.into_inner().to_string()),
                    // Not expected (both decode the same way); keep the first error's place.
                    Ok(_) => (".".to_owned(), first.to_string()),
                };
                let path = if path == "." {
                    format!("rows[{index}]")
                } else {
                    format!("rows[{index}].{path}")
                };
                DecodeError::new(status, path, message, raw).into()
            })
        })?;
        self.decoded += 1;
        Some(decoded)
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
        let summary = match self.splitter.envelope() {
            Some(envelope) => decode_summary(self.status, envelope),
            None => {
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
