//! Incremental decoding of a JSON result as its bytes arrive: the rows one by one,
//! then the rest of the document (time, fields, total_rows, a late `error`).
//!
//! [`RowSplitter`] is a small byte-level scanner that cuts the `"rows":[...]` array of
//! the document into its elements and keeps everything else (the "envelope", small)
//! aside; [`RowDecoder`] decodes each element into `T`. Neither does I/O: the sync and
//! async clients feed them chunks as the transport delivers them, so a result far
//! larger than memory is decoded with only one row (and one chunk) held at a time.

use std::collections::VecDeque;
use std::ops::Range;

use carto_core::{DecodeError, Error};
use http::StatusCode;
use serde::de::DeserializeOwned;

use carto_transport::BodyDecoder;

use crate::response::{SqlSummary, decode_sql_parts, decode_summary};

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

    /// Scans the envelope up to the opening bracket of the rows array: `Some(i)` once the
    /// array opened, `chunk[i..]` being its first bytes, read by the caller ([`RowDecoder`]
    /// decodes the rows itself, then hands the rest back from the closing bracket on).
    pub(crate) fn push_envelope(&mut self, chunk: &[u8]) -> Result<Option<usize>, &'static str> {
        if let Some(e) = self.error {
            return Err(e);
        }
        for (i, &b) in chunk.iter().enumerate() {
            match self.mode {
                Mode::Rows => return Ok(Some(i)),
                Mode::Envelope => self.envelope_byte(b),
                Mode::Done if b.is_ascii_whitespace() => {}
                Mode::Done => self.error = Some("data after the end of the JSON document"),
            }
            if let Some(e) = self.error {
                return Err(e);
            }
        }
        Ok((self.mode == Mode::Rows).then_some(chunk.len()))
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
        // The scan state lives in locals (registers) and is stored back on the way out.
        let (mut depth, mut in_string, mut escape) = (self.depth, self.in_string, self.escape);
        // Bytes from `run` to `i` belong to the row being scanned and are not copied yet.
        let mut run = i;
        let n = chunk.len();
        while i < n {
            if escape {
                // The byte after a backslash, perhaps the first of this chunk.
                escape = false;
                i += 1;
                continue;
            }
            if in_string {
                let Some(at) = quote_or_backslash(&chunk[i..]) else {
                    i = n;
                    break;
                };
                i += at;
                if chunk[i] == b'\\' {
                    escape = true;
                } else {
                    in_string = false;
                }
                i += 1;
                continue;
            }
            // Numbers, literals and the like need nothing: jump over them.
            while i < n && !STOP[usize::from(chunk[i])] {
                i += 1;
            }
            let Some(&b) = chunk.get(i) else {
                break;
            };
            match b {
                b'"' => in_string = true,
                b'{' | b'[' => depth += 1,
                b',' | b']' if depth == 2 => {
                    self.buf.extend_from_slice(&chunk[run..i]);
                    self.flush_row();
                    i += 1;
                    run = i;
                    if b == b']' {
                        depth = 1;
                        self.mode = Mode::Envelope;
                        self.envelope.push(b);
                        break;
                    }
                    continue;
                }
                b'}' if depth <= 2 => {
                    // A closing brace where a row or the array's end belongs.
                    self.error = Some("malformed rows array: unbalanced `}`");
                    i = n;
                    break;
                }
                b'}' | b']' => depth -= 1,
                _ if depth == 2 => {
                    // Whitespace between elements: not part of a row.
                    self.buf.extend_from_slice(&chunk[run..i]);
                    i += 1;
                    run = i;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        if run < i {
            self.buf.extend_from_slice(&chunk[run..i]);
        }
        (self.depth, self.in_string, self.escape) = (depth, in_string, escape);
        i
    }

    fn flush_row(&mut self) {
        if self.buf.len() > self.row_start {
            self.rows.push_back(self.row_start..self.buf.len());
            self.row_start = self.buf.len();
        }
    }
}

/// The bytes the scan of the rows looks at outside strings: quotes, brackets, braces,
/// commas and whitespace.
const STOP: [bool; 256] = {
    let mut stop = [false; 256];
    let mut i = 0;
    let bytes = b"\"{}[], \t\n\r";
    while i < bytes.len() {
        stop[bytes[i] as usize] = true;
        i += 1;
    }
    stop
};

/// Where the next `"` or `\` is. Most strings of a result are short (keys, names, codes):
/// a plain loop over the first bytes, then `memchr2` for long ones.
fn quote_or_backslash(s: &[u8]) -> Option<usize> {
    let head = s.len().min(32);
    match s[..head].iter().position(|&b| b == b'"' || b == b'\\') {
        Some(at) => Some(at),
        None => memchr::memchr2(b'"', b'\\', &s[head..]).map(|at| at + head),
    }
}

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
    depth: u32,
    in_string: bool,
    escape: bool,
    /// The bytes of the row scanned so far.
    scanned: usize,
}

impl RowEnd {
    /// Scans the row (`row` starts with its first byte) from where it stopped: whether
    /// its end has arrived.
    fn complete(&mut self, row: &[u8]) -> bool {
        let start = self.scanned;
        self.scanned = row.len();
        for &b in &row[start.min(row.len())..] {
            if self.escape {
                self.escape = false;
            } else if self.in_string {
                match b {
                    b'\\' => self.escape = true,
                    b'"' => {
                        self.in_string = false;
                        if self.depth == 0 {
                            return true;
                        }
                    }
                    _ => {}
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => {
                        self.depth = self.depth.saturating_sub(1);
                        if self.depth == 0 {
                            return true;
                        }
                    }
                    _ => {}
                }
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

/// The most bytes of a buffered query's body held before its rows decode as they arrive
/// (a [`WholeRows`] switches to a [`RowDecoder`] beyond it).
const SMALL_BODY: usize = 32 * 1024;

/// The decoder of a buffered query's body (read whole before its rows are handed out):
/// a small body is kept and decoded in one pass at its end (the buffered path,
/// `decode_sql`); once the body outgrows [`SMALL_BODY`], what was kept and the rest go
/// through a [`RowDecoder::whole`], so a large result is never held as text, only as
/// rows. Both give the same rows, summary and errors.
#[derive(Debug)]
pub(crate) enum WholeRows<T> {
    /// The body so far, under [`SMALL_BODY`]; then its rows and summary.
    Small {
        status: StatusCode,
        body: Vec<u8>,
        rows: std::vec::IntoIter<T>,
        summary: Option<SqlSummary>,
    },
    /// The body outgrew [`SMALL_BODY`] (boxed: the decoder is large, a small body common).
    Large(Box<RowDecoder<T>>),
}

// Never pinned through, as `RowDecoder`.
impl<T> Unpin for WholeRows<T> {}

impl<T: DeserializeOwned> WholeRows<T> {
    /// A decoder for a response with `status`.
    pub(crate) fn new(status: StatusCode) -> Self {
        Self::Small {
            status,
            body: Vec::new(),
            rows: Vec::new().into_iter(),
            summary: None,
        }
    }

    /// Takes the summary of a finished body.
    pub(crate) fn take_summary(&mut self) -> Option<SqlSummary> {
        match self {
            Self::Small { summary, .. } => summary.take(),
            Self::Large(decoder) => decoder.take_summary(),
        }
    }
}

impl<T: DeserializeOwned> BodyDecoder for WholeRows<T> {
    type Item = T;

    fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        match self {
            Self::Small { body, .. } if body.len() + chunk.len() <= SMALL_BODY => {
                body.extend_from_slice(chunk);
                Ok(())
            }
            Self::Small { status, body, .. } => {
                let mut decoder = Box::new(RowDecoder::whole(*status));
                decoder.push(&std::mem::take(body))?;
                decoder.push(chunk)?;
                *self = Self::Large(decoder);
                Ok(())
            }
            Self::Large(decoder) => decoder.push(chunk),
        }
    }

    fn next_item(&mut self) -> Option<Result<T, Error>> {
        match self {
            Self::Small { rows, .. } => rows.next().map(Ok),
            Self::Large(decoder) => decoder.next_row(),
        }
    }

    fn finish(&mut self) -> Result<(), Error> {
        match self {
            Self::Small {
                status,
                body,
                rows,
                summary,
            } => {
                let (decoded, rest) = decode_sql_parts::<T>(*status, body)?;
                *body = Vec::new();
                *rows = decoded.into_iter();
                *summary = Some(rest);
                Ok(())
            }
            Self::Large(decoder) => BodyDecoder::finish(&mut **decoder),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Row {
        n: i64,
    }

    /// A document with `rows` and a `pad` member of `pad` bytes before them.
    fn document(rows: &str, pad: usize) -> Vec<u8> {
        let pad = "p".repeat(pad);
        format!(r#"{{"pad":"{pad}","rows":[{rows}],"time":0.5,"total_rows":2}}"#).into_bytes()
    }

    /// Feeds `body` in chunks of `chunk` bytes: the rows, and the end.
    fn decode(body: &[u8], chunk: usize) -> (Vec<Row>, Result<SqlSummary, Error>, bool) {
        let mut decoder = WholeRows::<Row>::new(StatusCode::OK);
        let mut rows = Vec::new();
        let mut end = Ok(());
        for piece in body.chunks(chunk) {
            end = decoder.push(piece);
            if end.is_err() {
                break;
            }
        }
        let end = end.and_then(|()| decoder.finish());
        while let Some(row) = decoder.next_item() {
            rows.push(row.expect("a decoded row"));
        }
        let large = matches!(decoder, WholeRows::Large(_));
        let summary = end.map(|()| decoder.take_summary().expect("a summary"));
        (rows, summary, large)
    }

    #[test]
    fn small_and_large_bodies_give_the_same_rows_and_summary() {
        for pad in [
            0,
            SMALL_BODY - 60,
            SMALL_BODY - 20,
            SMALL_BODY,
            2 * SMALL_BODY,
        ] {
            let body = document(r#"{"n":1},{"n":2}"#, pad);
            for chunk in [1, 7, 4096, SMALL_BODY, body.len()] {
                let (rows, summary, large) = decode(&body, chunk);
                assert_eq!(large, body.len() > SMALL_BODY, "pad {pad}, chunk {chunk}");
                assert_eq!(rows, vec![Row { n: 1 }, Row { n: 2 }]);
                let summary = summary.expect("a summary");
                assert_eq!((summary.time, summary.total_rows), (Some(0.5), 2));
            }
        }
    }

    #[test]
    fn small_and_large_bodies_name_the_same_failed_row() {
        for pad in [0, 2 * SMALL_BODY] {
            let body = document(r#"{"n":1},{"n":"two"}"#, pad);
            for chunk in [5, 4096] {
                // (Rows before the failed one may come out: `send_collect` drops them.)
                let (_, end, _) = decode(&body, chunk);
                match end {
                    Err(Error::Decode(e)) => assert_eq!(e.path(), "rows[1].n", "pad {pad}"),
                    other => panic!("pad {pad}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn small_and_large_bodies_end_with_the_error_they_carry() {
        for pad in [0, 2 * SMALL_BODY] {
            let pad = "p".repeat(pad);
            let body =
                format!(r#"{{"pad":"{pad}","rows":[{{"n":"x"}}],"error":["late failure"]}}"#);
            let (_, end, _) = decode(body.as_bytes(), 1000);
            match end {
                Err(Error::Api(api)) => assert!(api.to_string().contains("late failure")),
                other => panic!("{other:?}"),
            }
        }
    }
}
