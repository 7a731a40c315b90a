//! [`WholeRows`]: the decoder of a buffered query's body, one serde pass over a small body,
//! the [`RowDecoder`] over a large one.

use carto_core::Error;
use http::StatusCode;
use serde::de::DeserializeOwned;

use carto_transport::BodyDecoder;

use super::RowDecoder;
use crate::response::{SqlSummary, decode_sql_parts};

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
    use std::time::Duration;

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
                assert_eq!(
                    (summary.time, summary.total_rows),
                    (Some(Duration::from_secs_f64(0.5)), 2)
                );
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
