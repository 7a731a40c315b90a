//! The SQL API's JSON document decoded into record batches as it arrives.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

use arrow_array::RecordBatch;
use carto_core::{DecodeError, Error, RequestContext};
use carto_transport::{BodyDecoder, RequestBody, StreamingEndpoint};
use http::StatusCode;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::column::Batch;
use super::schema::Layout;
use crate::query::Query;
use crate::response::{SqlSummary, decode_summary};
use crate::rows::RowSplitter;

/// A JSON query whose rows are decoded into record batches of a known layout
/// ([`ArrowDecoder`]): the streamed `JsonQuery` of `query_arrow`.
#[derive(Debug, Clone)]
pub(crate) struct ArrowQuery {
    pub(crate) query: Query,
    pub(crate) layout: Arc<Layout>,
    pub(crate) batch_rows: usize,
}

impl StreamingEndpoint for ArrowQuery {
    type Decoder = ArrowDecoder;

    fn to_request(&self, ctx: &RequestContext) -> Result<http::Request<RequestBody>, Error> {
        Ok(self.query.to_request(ctx, None)?.map(RequestBody::Bytes))
    }

    fn decoder(&self, head: &http::response::Parts) -> Result<ArrowDecoder, Error> {
        Ok(ArrowDecoder::new(
            head.status,
            self.layout.clone(),
            self.batch_rows,
        ))
    }
}

/// Decodes a streamed SQL API JSON document into record batches of `batch_rows` rows:
/// [`RowSplitter`] cuts out each row, which is appended to the column builders; a full
/// batch becomes an item. At the end, the trailer's `error` is the last item, and its
/// `fields` must match the layout.
pub(crate) struct ArrowDecoder {
    splitter: RowSplitter,
    status: StatusCode,
    layout: Arc<Layout>,
    batch: Batch,
    seen: Vec<bool>,
    decoded: u64,
    ready: VecDeque<RecordBatch>,
    error: Option<Error>,
    /// An error was found: nothing more is decoded (the columns may be uneven).
    failed: bool,
    summary: Option<SqlSummary>,
}

impl fmt::Debug for ArrowDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrowDecoder")
            .field("status", &self.status)
            .field("rows_decoded", &self.decoded)
            .finish_non_exhaustive()
    }
}

impl ArrowDecoder {
    pub(crate) fn new(status: StatusCode, layout: Arc<Layout>, batch_rows: usize) -> Self {
        let batch = Batch::new(layout.schema.clone(), &layout.kinds, batch_rows);
        Self {
            splitter: RowSplitter::new(),
            status,
            seen: vec![false; layout.kinds.len()],
            layout,
            batch,
            decoded: 0,
            ready: VecDeque::new(),
            error: None,
            failed: false,
            summary: None,
        }
    }

    pub(crate) fn summary(&self) -> Option<&SqlSummary> {
        self.summary.as_ref()
    }

    /// Keeps `error` as the last item; the batches already full go before it.
    fn fail(&mut self, error: Error) {
        self.error = Some(error);
        self.failed = true;
    }

    fn row(&mut self, raw: &[u8]) -> Result<(), Error> {
        let index = self.decoded;
        self.decoded += 1;
        self.seen.iter_mut().for_each(|s| *s = false);
        let mut de = serde_json::Deserializer::from_slice(raw);
        let visitor = RowVisitor {
            layout: &self.layout,
            batch: &mut self.batch,
            seen: &mut self.seen,
        };
        let result = de.deserialize_map(visitor).and_then(|()| de.end());
        let (seen, columns) = (&self.seen, &mut self.batch.columns);
        let mut fill = || -> Result<(), String> {
            for (column, _) in columns.iter_mut().zip(seen).filter(|(_, seen)| !**seen) {
                column.push_null()?;
            }
            Ok(())
        };
        let result = result.map_err(|e| e.to_string()).and_then(|()| fill());
        result.map_err(|e| {
            Error::from(DecodeError::new(
                self.status,
                format!("rows[{index}]"),
                e,
                raw,
            ))
        })?;
        self.batch.rows += 1;
        if self.batch.is_full() {
            self.ready.extend(self.batch.take());
        }
        Ok(())
    }
}

struct RowVisitor<'a> {
    layout: &'a Layout,
    batch: &'a mut Batch,
    seen: &'a mut [bool],
}

struct KeySeed<'a>(&'a Layout);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed<'_> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a column name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<usize, E> {
        self.0
            .fields
            .names()
            .position(|n| n == name)
            .ok_or_else(|| E::custom(format!("column `{name}` is not in the schema")))
    }
}

impl<'de> Visitor<'de> for RowVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        use serde::de::Error as _;
        while let Some(i) = map.next_key_seed(KeySeed(self.layout))? {
            let name = &self.layout.fields.0[i].0;
            if std::mem::replace(&mut self.seen[i], true) {
                return Err(A::Error::custom(format!("column `{name}` appears twice")));
            }
            let raw: &RawValue = map.next_value()?;
            self.batch.columns[i]
                .push_json(raw)
                .map_err(|e| A::Error::custom(format!("column `{name}`: {e}")))?;
        }
        Ok(())
    }
}

impl BodyDecoder for ArrowDecoder {
    type Item = RecordBatch;

    fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if self.failed {
            return Ok(());
        }
        if let Err(e) = self.splitter.push(chunk) {
            self.fail(DecodeError::new(self.status, ".", e, chunk).into());
            return Ok(());
        }
        while let Some(raw) = self.splitter.next_row() {
            if let Err(e) = self.row(&raw) {
                self.fail(e);
                break;
            }
        }
        Ok(())
    }

    fn next_item(&mut self) -> Option<Result<RecordBatch, Error>> {
        if let Some(batch) = self.ready.pop_front() {
            return Some(Ok(batch));
        }
        self.error.take().map(Err)
    }

    fn finish(&mut self) -> Result<(), Error> {
        if self.failed {
            return Ok(());
        }
        let summary = match self.splitter.envelope() {
            Some(envelope) => decode_summary(self.status, envelope),
            None => {
                Err(DecodeError::new(self.status, ".", "the JSON document ended early", b"").into())
            }
        };
        let checked = summary.and_then(|s| self.layout.check(&s.fields).map(|()| s));
        match checked {
            Ok(summary) => {
                self.summary = Some(summary);
                self.ready.extend(self.batch.take());
            }
            Err(e) => self.fail(e),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrow::NumericAs;
    use crate::response::{Field, Fields};

    fn decoder(batch_rows: usize) -> ArrowDecoder {
        let field = Field {
            field_type: "number".into(),
            pgtype: Some("int4".into()),
            wkbtype: None,
            dims: None,
            srid: None,
        };
        let layout = Layout::new(Fields(vec![("n".into(), field)]), NumericAs::Utf8).unwrap();
        ArrowDecoder::new(StatusCode::OK, Arc::new(layout), batch_rows)
    }

    fn run(body: &str, batch_rows: usize) -> Vec<Result<usize, String>> {
        let mut d = decoder(batch_rows);
        let mut out = Vec::new();
        // One byte at a time: batch boundaries never depend on chunk boundaries.
        for b in body.as_bytes().chunks(1) {
            d.push(b).unwrap();
            while let Some(item) = d.next_item() {
                out.push(item.map(|b| b.num_rows()).map_err(|e| e.to_string()));
            }
        }
        d.finish().unwrap();
        while let Some(item) = d.next_item() {
            out.push(item.map(|b| b.num_rows()).map_err(|e| e.to_string()));
        }
        out
    }

    const FIELDS: &str = r#""fields":{"n":{"type":"number","pgtype":"int4"}},"total_rows":3}"#;

    #[test]
    fn batches_and_the_trailer() {
        let body = format!(r#"{{"rows":[{{"n":1}},{{"n":null}},{{}}],"time":0.1,{FIELDS}"#);
        assert_eq!(run(&body, 2), [Ok(2), Ok(1)]);
        let other = r#"{"rows":[{"n":1}],"fields":{"m":{"type":"number","pgtype":"int4"}}}"#;
        let items = run(other, 2);
        assert!(
            matches!(&items[..], [Err(e)] if e.contains("differ")),
            "{items:?}"
        );
    }

    #[test]
    fn a_bad_value_ends_the_batches_without_a_panic() {
        let body = format!(r#"{{"rows":[{{"n":1}},{{"n":2}},{{"n":"x"}},{{"n":4}}],{FIELDS}"#);
        let items = run(&body, 2);
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0], Ok(2));
        let err = items[1].as_ref().unwrap_err();
        assert!(
            err.contains("rows[2]") && err.contains("column `n`"),
            "{err}"
        );
    }
}
