//! [`RowSplitter`]: cuts a SQL API JSON document into its row elements and its envelope.

use std::collections::VecDeque;
use std::ops::Range;

use super::scan::{self, JsonScan};

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
    scan: JsonScan,
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
            scan: JsonScan::default(),
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
        self.scan_chunk(chunk, false).map(|_| ())
    }

    /// Scans the envelope up to the opening bracket of the rows array: `Some(i)` once the
    /// array opened, `chunk[i..]` being its first bytes, read by the caller ([`RowDecoder`]
    /// decodes the rows itself, then hands the rest back from the closing bracket on).
    ///
    /// [`RowDecoder`]: super::RowDecoder
    pub(crate) fn push_envelope(&mut self, chunk: &[u8]) -> Result<Option<usize>, &'static str> {
        self.scan_chunk(chunk, true)
    }

    /// Scans `chunk`; with `until_rows`, stops where the rows array opened (`Some(i)`).
    fn scan_chunk(
        &mut self,
        chunk: &[u8],
        until_rows: bool,
    ) -> Result<Option<usize>, &'static str> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let mut i = 0;
        while i < chunk.len() {
            i = match self.mode {
                Mode::Rows if until_rows => return Ok(Some(i)),
                Mode::Rows => self.scan_rows(chunk, i),
                Mode::Envelope => self.scan_envelope(chunk, i),
                Mode::Done => {
                    if !chunk[i..].iter().all(u8::is_ascii_whitespace) {
                        self.error = Some("data after the end of the JSON document");
                    }
                    chunk.len()
                }
            };
            if let Some(e) = self.error {
                return Err(e);
            }
        }
        Ok((until_rows && self.mode == Mode::Rows).then_some(chunk.len()))
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

    /// Scans the envelope from `chunk[i]` on, keeping it without the whitespace between
    /// its members; returns where it stopped (the end of the chunk, or just after the
    /// rows array's opening bracket or the document's closing brace).
    fn scan_envelope(&mut self, chunk: &[u8], mut i: usize) -> usize {
        let n = chunk.len();
        while i < n {
            if self.scan.depth == 0 {
                // Before the document: whitespace, then its opening brace.
                match chunk[i] {
                    b'{' => {
                        self.scan.depth = 1;
                        self.envelope.push(b'{');
                    }
                    b if b.is_ascii_whitespace() => {}
                    _ => {
                        self.error = Some("the response is not a JSON object");
                        return n;
                    }
                }
                i += 1;
                continue;
            }
            let found = self.scan.next(chunk, i, &scan::ENVELOPE);
            // The bytes passed over: inside a string, or a number or literal.
            let run = &chunk[i..found.unwrap_or(n)];
            self.envelope.extend_from_slice(run);
            if self.capturing_key {
                self.key.extend_from_slice(run);
            }
            let Some(at) = found else {
                return n;
            };
            i = at + 1;
            let (b, depth) = (chunk[at], self.scan.depth);
            match b {
                // The end of a string, then the start of a key of the document.
                b'"' if !self.scan.in_string() => self.capturing_key = false,
                b'"' if depth == 1 && !self.after_colon => {
                    self.capturing_key = true;
                    self.key.clear();
                }
                b':' if depth == 1 => self.after_colon = true,
                b',' if depth == 1 => self.after_colon = false,
                b'[' if depth == 2 && self.after_colon && self.key == b"rows" => {
                    self.envelope.push(b);
                    self.mode = Mode::Rows;
                    return i;
                }
                b'}' | b']' if depth == 0 => {
                    self.envelope.push(b);
                    self.mode = Mode::Done;
                    return i;
                }
                _ if b.is_ascii_whitespace() && depth <= 1 => continue,
                _ => {}
            }
            self.envelope.push(b);
        }
        n
    }

    /// Scans the rows array from `chunk[i]` on, copying row bytes in runs; returns where it
    /// stopped (the end of the chunk, or just after the array's closing bracket).
    fn scan_rows(&mut self, chunk: &[u8], mut i: usize) -> usize {
        // The scan state lives in a local (registers) and is stored back on the way out.
        let mut scan = self.scan;
        // Bytes from `run` to `i` belong to the row being scanned and are not copied yet.
        let mut run = i;
        let n = chunk.len();
        loop {
            let Some(at) = scan.next(chunk, i, &scan::ROWS) else {
                i = n;
                break;
            };
            i = at + 1;
            match chunk[at] {
                // A row ends at a comma between rows, or at the array's closing bracket.
                b @ (b',' | b']') if scan.depth == 2 - u32::from(b == b']') => {
                    self.buf.extend_from_slice(&chunk[run..at]);
                    self.flush_row();
                    run = i;
                    if b == b']' {
                        self.mode = Mode::Envelope;
                        self.envelope.push(b);
                        break;
                    }
                }
                b'}' if scan.depth <= 1 => {
                    // A closing brace where a row or the array's end belongs.
                    self.error = Some("malformed rows array: unbalanced `}`");
                    i = n;
                    break;
                }
                b if b.is_ascii_whitespace() && scan.depth == 2 => {
                    // Whitespace between elements: not part of a row.
                    self.buf.extend_from_slice(&chunk[run..at]);
                    run = i;
                }
                _ => {}
            }
        }
        if run < i {
            self.buf.extend_from_slice(&chunk[run..i]);
        }
        self.scan = scan;
        i
    }

    fn flush_row(&mut self) {
        if self.buf.len() > self.row_start {
            self.rows.push_back(self.row_start..self.buf.len());
            self.row_start = self.buf.len();
        }
    }
}
