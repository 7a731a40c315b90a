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
        DecodeError::new(
            StatusCode::OK,
            format!("row {}", self.rows + 1),
            why.into(),
            &self.field,
        )
        .into()
    }

    fn end_field(&mut self) -> Result<(), Error> {
        let ncols = self.layout.kinds.len();
        if self.column >= ncols {
            return Err(self.fail(format!("more than the {ncols} fields of the schema")));
        }
        let text = if self.quoted || !self.field.is_empty() {
            Some(
                std::str::from_utf8(&self.field)
                    .map_err(|_| self.fail("the field is not UTF-8"))?,
            )
        } else {
            None
        };
        let name = self.layout.schema.field(self.column).name();
        self.batch.columns[self.column]
            .push_text(text)
            .map_err(|e| self.fail(format!("column `{name}`: {e}")))?;
        self.column += 1;
        self.field.clear();
        self.quoted = false;
        self.state = State::Start;
        Ok(())
    }

    fn end_record(&mut self) -> Result<(), Error> {
        self.end_field()?;
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

    fn scan(&mut self, chunk: &[u8]) -> Result<(), Error> {
        for &b in chunk {
            match (self.state, b) {
                (State::Start, b'"') => {
                    self.state = State::Quoted;
                    self.quoted = true;
                }
                (State::Start | State::Unquoted | State::QuoteInQuoted, b',') => {
                    self.end_field()?
                }
                (State::Start | State::Unquoted | State::QuoteInQuoted, b'\n') => {
                    self.end_record()?
                }
                (State::Start | State::Unquoted, _) => {
                    self.state = State::Unquoted;
                    self.field.push(b);
                }
                (State::Quoted, b'"') => self.state = State::QuoteInQuoted,
                (State::Quoted, _) => self.field.push(b),
                (State::QuoteInQuoted, b'"') => {
                    self.field.push(b'"');
                    self.state = State::Quoted;
                }
                (State::QuoteInQuoted, _) => {
                    return Err(self.fail("a character after a closing quote"));
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
        for bad in [&b"1,a,extra\n"[..], b"1\n", b"x,a\n", b"1,\"a\"b\n"] {
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
}
