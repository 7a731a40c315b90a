//! PostgreSQL's CSV output (`COPY ... TO STDOUT WITH (FORMAT csv)`) read into record
//! batches, chunk by chunk.
//!
//! A small reader of PostgreSQL's own dialect rather than a general CSV crate: there a
//! NULL is an unquoted empty field and an empty string is `""`, a difference general
//! readers (the `csv` crate, `arrow-csv`) do not report. Records end with `\n`;
//! quoted fields may hold commas, quotes (`""`) and newlines.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::RecordBatch;
use carto_core::{DecodeError, Error};
use http::StatusCode;

use super::column::Batch;
use super::schema::Layout;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    Start,
    /// In an unquoted field.
    Unquoted,
    /// In a quoted field.
    Quoted,
    /// After a quote in a quoted field: a second quote, a comma or a newline follows.
    QuoteInQuoted,
}

/// Decodes COPY TO CSV output (no header) into batches of the layout.
pub(crate) struct CsvDecoder {
    layout: Arc<Layout>,
    batch: Batch,
    state: State,
    field: Vec<u8>,
    quoted: bool,
    column: usize,
    rows: u64,
    ready: VecDeque<RecordBatch>,
    error: Option<Error>,
    ended: bool,
}

/// What a [`CsvDecoder`] has next.
pub(crate) enum Step {
    /// A batch, or the error that ended the output.
    Item(Result<RecordBatch, Error>),
    /// Nothing until more output is given ([`CsvDecoder::input`]).
    NeedInput,
    /// The end.
    End,
}

impl CsvDecoder {
    pub(crate) fn new(layout: Arc<Layout>, batch_rows: usize) -> Self {
        Self {
            batch: Batch::new(layout.schema.clone(), &layout.kinds, batch_rows),
            layout,
            state: State::Start,
            field: Vec::new(),
            quoted: false,
            column: 0,
            rows: 0,
            ready: VecDeque::new(),
            error: None,
            ended: false,
        }
    }

    /// The next thing to hand on, or whether more output is needed.
    pub(crate) fn step(&mut self) -> Step {
        match self.next_batch() {
            Some(item) => {
                self.ended |= item.is_err();
                Step::Item(item)
            }
            None if self.ended => Step::End,
            None => Step::NeedInput,
        }
    }

    /// The next piece of output: a chunk, the end (`None`), or the failure of the
    /// download.
    pub(crate) fn input(&mut self, chunk: Option<Result<impl AsRef<[u8]>, Error>>) {
        match chunk {
            Some(Ok(chunk)) => self.push(chunk.as_ref()),
            None => {
                self.finish();
                self.ended = true;
            }
            Some(Err(e)) => {
                self.error = Some(e);
                self.ended = true;
            }
        }
    }

    fn fail(&self, why: impl Into<String>) -> Error {
        self.fail_at(why, &self.field)
    }

    /// The error of the current row, quoting `field`.
    fn fail_at(&self, why: impl Into<String>, field: &[u8]) -> Error {
        DecodeError::new(
            StatusCode::OK,
            format!("row {}", self.rows + 1),
            why.into(),
            field,
        )
        .into()
    }

    /// Ends the field gathered in `self.field` (it spanned chunks, or was quoted).
    fn end_field(&mut self) -> Result<(), Error> {
        let mut field = std::mem::take(&mut self.field);
        let result = self.field_done(&field);
        field.clear();
        self.field = field;
        result
    }

    /// Ends a field whose bytes are `field`: its value goes into its column.
    fn field_done(&mut self, field: &[u8]) -> Result<(), Error> {
        let text = if self.quoted || !field.is_empty() {
            Some(
                std::str::from_utf8(field)
                    .map_err(|_| self.fail_at("the field is not UTF-8", field))?,
            )
        } else {
            None
        };
        self.value_done(text)
    }

    /// Ends a field whose value is `text` (`None`: NULL): it goes into its column.
    fn value_done(&mut self, text: Option<&str>) -> Result<(), Error> {
        let ncols = self.layout.kinds.len();
        let raw = text.unwrap_or_default().as_bytes();
        if self.column >= ncols {
            return Err(self.fail_at(format!("more than the {ncols} fields of the schema"), raw));
        }
        if let Err(e) = self.batch.columns[self.column].push_text(text) {
            let name = self.layout.schema.field(self.column).name();
            return Err(self.fail_at(format!("column `{name}`: {e}"), raw));
        }
        self.column += 1;
        self.quoted = false;
        self.state = State::Start;
        Ok(())
    }

    /// A whole record without a quote (`line`, its newline cut off): UTF-8 checked once,
    /// then split at its commas.
    fn line_done(&mut self, line: &[u8]) -> Result<(), Error> {
        match std::str::from_utf8(line) {
            Ok(mut text) => loop {
                match text.as_bytes().iter().position(|&b| b == b',') {
                    Some(n) => {
                        self.value_done(Some(&text[..n]).filter(|v| !v.is_empty()))?;
                        text = &text[n + 1..];
                    }
                    None => {
                        self.value_done(Some(text).filter(|v| !v.is_empty()))?;
                        break self.record_done();
                    }
                }
            },
            // Field by field, to name the one that is not UTF-8.
            Err(_) => {
                for field in line.split(|&b| b == b',') {
                    self.field_done(field)?;
                }
                self.record_done()
            }
        }
    }

    /// Ends a record whose last field just ended.
    fn record_done(&mut self) -> Result<(), Error> {
        let ncols = self.layout.kinds.len();
        if self.column != ncols {
            return Err(self.fail(format!(
                "{} fields where the schema has {ncols}",
                self.column
            )));
        }
        self.column = 0;
        self.rows += 1;
        self.batch.rows += 1;
        if self.batch.is_full() {
            self.ready.extend(self.batch.take());
        }
        Ok(())
    }

    /// Reads `chunk` a run of bytes at a time: an unquoted field up to the next comma or
    /// newline, a quoted one up to the next quote (memchr), each field taken straight
    /// from the chunk unless it spans chunks or holds a doubled quote.
    fn scan(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let mut i = 0;
        while i < chunk.len() {
            let rest = &chunk[i..];
            // The common case: a record starts here and ends in this chunk, no quote in it.
            if self.state == State::Start && self.column == 0 {
                if let Some(n) = memchr::memchr(b'\n', rest) {
                    if memchr::memchr(b'"', &rest[..n]).is_none() {
                        self.line_done(&rest[..n])?;
                        i += n + 1;
                        continue;
                    }
                }
            }
            match self.state {
                State::Start if rest[0] == b'"' => {
                    self.state = State::Quoted;
                    self.quoted = true;
                    i += 1;
                }
                State::Start | State::Unquoted => match memchr::memchr2(b',', b'\n', rest) {
                    Some(n) => {
                        if self.field.is_empty() {
                            self.field_done(&rest[..n])?;
                        } else {
                            self.field.extend_from_slice(&rest[..n]);
                            self.end_field()?;
                        }
                        if rest[n] == b'\n' {
                            self.record_done()?;
                        }
                        i += n + 1;
                    }
                    None => {
                        self.field.extend_from_slice(rest);
                        self.state = State::Unquoted;
                        i = chunk.len();
                    }
                },
                State::Quoted => match memchr::memchr(b'"', rest) {
                    Some(n) => {
                        self.field.extend_from_slice(&rest[..n]);
                        self.state = State::QuoteInQuoted;
                        i += n + 1;
                    }
                    None => {
                        self.field.extend_from_slice(rest);
                        i = chunk.len();
                    }
                },
                State::QuoteInQuoted => {
                    match rest[0] {
                        b'"' => {
                            self.field.push(b'"');
                            self.state = State::Quoted;
                        }
                        b',' => self.end_field()?,
                        b'\n' => {
                            self.end_field()?;
                            self.record_done()?;
                        }
                        _ => return Err(self.fail("a character after a closing quote")),
                    }
                    i += 1;
                }
            }
        }
        Ok(())
    }

    /// Takes the next chunk of output.
    pub(crate) fn push(&mut self, chunk: &[u8]) {
        if self.error.is_none() {
            if let Err(e) = self.scan(chunk) {
                self.error = Some(e);
            }
        }
    }

    /// The output ended: the last batch becomes ready.
    pub(crate) fn finish(&mut self) {
        if self.error.is_some() {
            return;
        }
        if self.state != State::Start || self.column != 0 {
            self.error = Some(self.fail("the output ends inside a row"));
            return;
        }
        self.ready.extend(self.batch.take());
    }

    /// The next full batch, or the error that ended the output.
    pub(crate) fn next_batch(&mut self) -> Option<Result<RecordBatch, Error>> {
        if let Some(batch) = self.ready.pop_front() {
            return Some(Ok(batch));
        }
        self.error.take().map(Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::NumericAs;
    use crate::response::{Field, Fields};
    use arrow_array::{Array, Int32Array, StringArray};

    fn field(pgtype: &str) -> Field {
        Field {
            field_type: "x".into(),
            pgtype: Some(pgtype.into()),
            wkbtype: None,
            dims: None,
            srid: None,
        }
    }

    fn decoder(batch_rows: usize) -> CsvDecoder {
        let fields = Fields(vec![
            ("n".into(), field("int4")),
            ("s".into(), field("text")),
        ]);
        let layout = Layout::new(fields, NumericAs::Utf8).unwrap();
        CsvDecoder::new(Arc::new(layout), batch_rows)
    }

    fn drain(d: &mut CsvDecoder) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        while let Some(b) = d.next_batch() {
            out.push(b.unwrap());
        }
        out
    }

    #[test]
    fn nulls_empty_strings_quotes_and_newlines_across_chunks() {
        let data = b"1,\"\"\n,\n3,\"a,\"\"b\"\"\nc\"\n4,plain\n";
        // Every split point gives the same result.
        for cut in 0..data.len() {
            let mut d = decoder(3);
            d.push(&data[..cut]);
            d.push(&data[cut..]);
            d.finish();
            let batches = drain(&mut d);
            assert_eq!(
                batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(),
                [3, 1]
            );
            let n = batches[0]
                .column(0)
                .as_any()
                .downcast_ref::<Int32Array>()
                .unwrap();
            let s = batches[0]
                .column(1)
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap();
            assert_eq!(n.value(0), 1);
            assert!(n.is_null(1));
            assert!(s.is_valid(0) && s.value(0).is_empty());
            assert!(s.is_null(1));
            assert_eq!(s.value(2), "a,\"b\"\nc");
        }
    }

    #[test]
    fn malformed_output_is_an_error() {
        for bad in [
            &b"1,a,extra\n"[..],
            b"1\n",
            b"x,a\n",
            b"1,\"a\"b\n",
            b"1,\xff\n",
            b"1,\"\xff\"\n",
        ] {
            let mut d = decoder(10);
            d.push(bad);
            d.finish();
            assert!(d.next_batch().unwrap().is_err(), "{bad:?}");
        }
        let mut d = decoder(10);
        d.push(b"1,a");
        d.finish();
        assert!(d.next_batch().unwrap().is_err());
    }

    /// Three text columns.
    fn text_decoder(batch_rows: usize) -> CsvDecoder {
        let fields = Fields(vec![
            ("a".into(), field("text")),
            ("b".into(), field("text")),
            ("c".into(), field("text")),
        ]);
        let layout = Layout::new(fields, NumericAs::Utf8).unwrap();
        CsvDecoder::new(Arc::new(layout), batch_rows)
    }

    /// PostgreSQL's CSV of `rows`: NULL unquoted and empty, a value quoted when it must
    /// be (empty, or holding a comma, quote or newline) or when `quote_all` says so.
    fn csv(rows: &[Vec<Option<String>>], quote_all: bool) -> Vec<u8> {
        let mut out = String::new();
        for row in rows {
            let fields: Vec<String> = row
                .iter()
                .map(|v| match v {
                    None => String::new(),
                    Some(v) if quote_all || v.is_empty() || v.contains([',', '"', '\n']) => {
                        format!("\"{}\"", v.replace('"', "\"\""))
                    }
                    Some(v) => v.clone(),
                })
                .collect();
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        out.into_bytes()
    }

    /// Decodes `data` cut at `cuts`: every value, row by row.
    fn decode_text(data: &[u8], cuts: &[proptest::sample::Index]) -> Vec<Vec<Option<String>>> {
        let mut at: Vec<usize> = cuts.iter().map(|c| c.index(data.len() + 1)).collect();
        at.sort_unstable();
        let mut d = text_decoder(7);
        let mut from = 0;
        for to in at.into_iter().chain([data.len()]) {
            d.push(&data[from..to]);
            from = to;
        }
        d.finish();
        let mut rows = Vec::new();
        for batch in drain(&mut d) {
            let cols: Vec<&StringArray> = (0..3)
                .map(|i| {
                    batch
                        .column(i)
                        .as_any()
                        .downcast_ref::<StringArray>()
                        .unwrap()
                })
                .collect();
            for r in 0..batch.num_rows() {
                rows.push(
                    cols.iter()
                        .map(|c| c.is_valid(r).then(|| c.value(r).to_owned()))
                        .collect(),
                );
            }
        }
        rows
    }

    proptest::proptest! {
        #[test]
        fn any_values_cut_anywhere_decode_as_written(
            rows in proptest::collection::vec(
                proptest::collection::vec(
                    proptest::option::of(proptest::prop_oneof![
                        "[a-z0-9 ]{0,6}",
                        "[,\"\na-z]{0,6}",
                        proptest::prelude::any::<String>(),
                    ]),
                    3,
                ),
                0..20,
            ),
            quote_all in proptest::prelude::any::<bool>(),
            cuts in proptest::collection::vec(proptest::prelude::any::<proptest::sample::Index>(), 0..6),
        ) {
            let data = csv(&rows, quote_all);
            proptest::prop_assert_eq!(decode_text(&data, &cuts), rows);
        }
    }
}
