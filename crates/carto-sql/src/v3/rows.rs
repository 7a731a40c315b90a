//! A SQL API v3 answer decoded as it arrives: the rows one by one, then `schema` and
//! `meta` once the body ended ([`QueryRowDecoder`], sans-IO, on the v2 [`RowSplitter`]).

use std::marker::PhantomData;

use carto_core::carto3::ApiContext;
use carto_core::{DecodeError, Error, HttpRequest};
use carto_transport::{BodyDecoder, RequestBody, StreamingEndpoint};
use http::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::query::Query;
use super::response::{QueryMeta, SchemaField};
use crate::rows::RowSplitter;

/// What a v3 answer says besides its rows: the columns and the warehouse's `meta`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct QueryTail {
    /// The columns, in order.
    #[serde(default, alias = "SCHEMA")]
    pub schema: Vec<SchemaField>,
    /// What the warehouse said about the run.
    #[serde(default, alias = "META")]
    pub meta: Option<QueryMeta>,
}

/// Decodes a v3 query answer chunk by chunk: each complete element of `rows` becomes a
/// `T` as soon as it arrived; at the end, the rest of the document is [`QueryTail`].
/// Only the rows not yet taken and the row being read are held.
#[derive(Debug)]
pub struct QueryRowDecoder<T> {
    status: StatusCode,
    splitter: RowSplitter,
    taken: usize,
    tail: Option<QueryTail>,
    failed: Option<Error>,
    rows: PhantomData<fn() -> T>,
}

impl<T> QueryRowDecoder<T> {
    /// A decoder at the start of the body of a response of `status`.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            splitter: RowSplitter::new(),
            taken: 0,
            tail: None,
            failed: None,
            rows: PhantomData,
        }
    }

    /// `schema` and `meta`, once the whole body was read.
    pub fn tail(&self) -> Option<&QueryTail> {
        self.tail.as_ref()
    }
}

impl<T> Unpin for QueryRowDecoder<T> {}

impl<T> QueryRowDecoder<T> {
    fn error(&self, path: String, message: String, body: &[u8]) -> Error {
        Error::Decode(Box::new(DecodeError::new(self.status, path, message, body)))
    }

    fn malformed(&self, what: &str) -> Error {
        let message = format!("the SQL API v3 answer is not a JSON document of rows: {what}");
        self.error(String::new(), message, &[])
    }
}

impl<T: DeserializeOwned> BodyDecoder for QueryRowDecoder<T> {
    type Item = T;

    fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.splitter.push(chunk).map_err(|e| self.malformed(e))
    }

    fn next_item(&mut self) -> Option<Result<T, Error>> {
        if let Some(row) = self.splitter.next_row() {
            let path = format!("rows[{}]", self.taken);
            self.taken += 1;
            return Some(
                serde_json::from_slice(&row).map_err(|e| self.error(path, e.to_string(), &row)),
            );
        }
        self.failed.take().map(Err)
    }

    fn finish(&mut self) -> Result<(), Error> {
        let Some(envelope) = self.splitter.envelope() else {
            return Err(self.malformed("the body ended before the document did"));
        };
        match serde_json::from_slice::<QueryTail>(envelope) {
            Ok(tail) => self.tail = Some(tail),
            Err(e) => {
                let envelope = envelope.to_vec();
                self.failed = Some(self.error("schema".into(), e.to_string(), &envelope));
            }
        }
        Ok(())
    }
}

/// A [`Query`] sent for its rows as they arrive.
pub(crate) struct Streamed<'a, T>(pub(crate) &'a Query<T>);

impl<T: DeserializeOwned> StreamingEndpoint<ApiContext> for Streamed<'_, T> {
    type Decoder = QueryRowDecoder<T>;

    fn to_request(&self, ctx: &ApiContext) -> Result<http::Request<RequestBody>, Error> {
        let request: HttpRequest = carto_core::carto3::ApiEndpoint::to_request(self.0, ctx)?;
        Ok(request.map(RequestBody::Bytes))
    }

    fn decoder(&self, head: &http::response::Parts) -> Result<Self::Decoder, Error> {
        Ok(QueryRowDecoder::new(head.status))
    }

    fn is_idempotent(&self) -> bool {
        carto_core::carto3::ApiEndpoint::is_idempotent(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn decode(body: &[u8], chunk: usize) -> (Vec<Result<Value, Error>>, Option<QueryTail>) {
        let mut decoder = QueryRowDecoder::<Value>::new(StatusCode::OK);
        let mut out = Vec::new();
        for piece in body.chunks(chunk) {
            decoder.push(piece).unwrap();
            out.extend(std::iter::from_fn(|| decoder.next_item()));
        }
        decoder.finish().unwrap();
        out.extend(std::iter::from_fn(|| decoder.next_item()));
        (out, decoder.tail)
    }

    #[test]
    fn rows_then_schema_and_meta_whatever_the_chunking() {
        let body = br#"{"rows":[{"a":1},{"a":"x]},{"}],"schema":[{"name":"a","type":"number"}],"meta":{"cacheHit":true}}"#;
        for chunk in [1, 3, 7, body.len()] {
            let (rows, tail) = decode(body, chunk);
            let rows: Vec<Value> = rows.into_iter().map(Result::unwrap).collect();
            assert_eq!(rows, [json!({"a": 1}), json!({"a": "x]},{"})]);
            let tail = tail.unwrap();
            assert_eq!(tail.schema[0].name, "a");
            assert_eq!(tail.meta.unwrap().cache_hit, Some(true));
        }
    }

    #[test]
    fn a_body_cut_short_is_an_error() {
        let mut decoder = QueryRowDecoder::<Value>::new(StatusCode::OK);
        decoder.push(br#"{"rows":[{"a":1}"#).unwrap();
        assert!(decoder.next_item().is_none());
        assert!(matches!(decoder.finish(), Err(Error::Decode(_))));
    }

    #[test]
    fn a_row_of_the_wrong_type_is_a_decode_error_and_the_rest_goes_on() {
        let mut decoder = QueryRowDecoder::<u32>::new(StatusCode::OK);
        decoder.push(br#"{"rows":["x",2],"schema":[]}"#).unwrap();
        assert!(matches!(decoder.next_item(), Some(Err(Error::Decode(_)))));
        assert_eq!(decoder.next_item().unwrap().unwrap(), 2);
        decoder.finish().unwrap();
        assert!(decoder.tail().unwrap().schema.is_empty());
    }
}
