//! The incremental row decoder over bodies delivered in tiny chunks.

mod common;

use carto_core::Error;
use carto_sql::{RowDecoder, RowSplitter};
use common::data;
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize, PartialEq)]
struct Row {
    id: u64,
    name: String,
    tags: Vec<String>,
    extra: Value,
}

/// A document of `n` rows whose strings hold quotes, brackets, braces, commas and
/// escapes, to trip a naive splitter.
fn synthetic(n: u64, trailer: &str) -> Vec<u8> {
    let mut body = String::from("{\"rows\":[");
    for i in 0..n {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            "{{\"id\":{i},\"name\":\"r\\\"ow],{{ {i}\\\\\",\"tags\":[\"a]\",\"{{b\"],\"extra\":{{\"rows\":[1,[2]],\"s\":\"\\u005d\"}}}}"
        ));
        if i % 7 == 0 {
            body.push_str("\n ");
        }
    }
    body.push_str("],\"time\":0.25,\"fields\":{\"id\":{\"type\":\"number\",\"pgtype\":\"int8\"},\"name\":{\"type\":\"string\",\"pgtype\":\"text\"}},\"total_rows\":");
    body.push_str(&n.to_string());
    body.push_str(trailer);
    body.push('}');
    body.into_bytes()
}

type Decoded<T> = (
    Vec<Result<T, Error>>,
    Option<Result<carto_sql::SqlSummary, Error>>,
);

fn decode_in_chunks<T: serde::de::DeserializeOwned>(body: &[u8], chunk: usize) -> Decoded<T> {
    let mut decoder = RowDecoder::<T>::new(StatusCode::OK);
    let mut items = Vec::new();
    for piece in body.chunks(chunk) {
        if let Err(e) = decoder.push(piece) {
            items.push(Err(e));
            return (items, None);
        }
        while let Some(row) = decoder.next_row() {
            items.push(row);
        }
    }
    (items, Some(decoder.finish()))
}

#[test]
fn many_rows_in_tiny_chunks() {
    let n = 5000;
    let body = synthetic(n, "");
    for chunk in [1, 2, 3, 7, 4096] {
        let (rows, summary) = decode_in_chunks::<Row>(&body, chunk);
        assert_eq!(rows.len() as u64, n, "chunk size {chunk}");
        for (i, row) in rows.into_iter().enumerate() {
            let row = row.unwrap();
            assert_eq!(row.id, i as u64);
            assert_eq!(row.name, format!("r\"ow],{{ {i}\\"));
            assert_eq!(row.tags, ["a]", "{b"]);
            assert_eq!(row.extra["s"], "]");
        }
        let summary = summary.unwrap().unwrap();
        assert_eq!(summary.total_rows, n);
        assert_eq!(summary.time, Some(0.25));
        assert_eq!(summary.fields.names().collect::<Vec<_>>(), ["id", "name"]);
    }
}

#[test]
fn rows_are_available_before_the_document_ends() {
    let body = synthetic(3, "");
    let second = b"{\"id\":1,";
    let cut = body
        .windows(second.len())
        .position(|w| w == second)
        .unwrap()
        + 3;
    let mut decoder = RowDecoder::<Row>::new(StatusCode::OK);
    decoder.push(&body[..cut]).unwrap();
    assert_eq!(decoder.next_row().unwrap().unwrap().id, 0);
    assert!(decoder.next_row().is_none());
    assert!(
        decoder.finish().is_err(),
        "the document is not complete yet"
    );
}

#[test]
fn a_midstream_error_comes_last() {
    let body = synthetic(2, ",\"error\":[\"division by zero\"],\"notices\":[\"n\"]");
    let (rows, summary) = decode_in_chunks::<Row>(&body, 5);
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(Result::is_ok));
    let err = summary.unwrap().unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::OK));
    assert_eq!(err.api_error().unwrap().messages(), ["division by zero"]);
    let (rows, summary) =
        decode_in_chunks::<Value>(&data("query-200-with-midstream-error.json"), 3);
    assert!(rows.is_empty());
    assert!(matches!(summary.unwrap(), Err(Error::Api(_))));
}

#[test]
fn fixtures_decode_incrementally() {
    let (rows, summary) = decode_in_chunks::<Value>(&data("query-ok.json"), 1);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].as_ref().unwrap()["column_b"], 123);
    let summary = summary.unwrap().unwrap();
    assert_eq!(summary.fields.len(), 3);
    let (rows, summary) = decode_in_chunks::<Value>(&data("query-insert-ok.json"), 2);
    assert!(rows.is_empty());
    assert_eq!(summary.unwrap().unwrap().total_rows, 2);
    let (_, summary) = decode_in_chunks::<Value>(&data("notices.json"), 2);
    assert_eq!(summary.unwrap().unwrap().notices, ["hello notice"]);
}

#[test]
fn broken_documents() {
    let (rows, summary) = decode_in_chunks::<Value>(br#"{"rows":[{"a":1},{"a":"#, 4);
    assert_eq!(rows.len(), 1);
    let Err(Error::Decode(d)) = summary.unwrap() else {
        panic!("a cut-off document must be a decode error")
    };
    assert!(d.message().contains("ended early"));
    let (items, _) = decode_in_chunks::<Value>(b"cb({\"rows\":[]})", 4);
    assert!(matches!(items.last(), Some(Err(Error::Decode(_)))));
    let (items, _) = decode_in_chunks::<Value>(b"{\"rows\":[]} x", 4);
    assert!(matches!(items.last(), Some(Err(Error::Decode(_)))));
    let (items, _) = decode_in_chunks::<Row>(br#"{"rows":[{"id":"x"}],"total_rows":1}"#, 4);
    let Some(Err(Error::Decode(d))) = items.first() else {
        panic!("{items:?}")
    };
    assert_eq!(d.path(), "rows[0].id");
}

#[test]
fn splitter_envelope_keeps_everything_but_rows() {
    let mut s = RowSplitter::new();
    s.push(br#" { "time" : 1, "rows" : [ {"a":"]"} , 2 ] , "x": {"rows":[9]} } "#)
        .unwrap();
    assert_eq!(s.next_row().unwrap(), br#"{"a":"]"}"#);
    assert_eq!(s.next_row().unwrap(), b"2");
    assert!(s.next_row().is_none());
    assert!(s.is_complete());
    assert_eq!(
        std::str::from_utf8(s.envelope().unwrap()).unwrap(),
        r#"{"time":1,"rows":[],"x":{"rows":[9]}}"#
    );
}

/// An error's path and message (the excerpt of the body it quotes depends on the cut).
fn what(e: Error) -> String {
    match e {
        Error::Decode(d) => format!("{} {}", d.path(), d.message()),
        other => other.to_string(),
    }
}

/// Decodes `body` cut in two at `at` into `Value` rows and how it ended.
fn cut_in_two(body: &[u8], at: usize) -> (Vec<Value>, Result<u64, String>) {
    let mut decoder = RowDecoder::<Value>::new(StatusCode::OK);
    let mut rows = Vec::new();
    for chunk in [&body[..at], &body[at..]] {
        if let Err(e) = decoder.push(chunk) {
            return (rows, Err(what(e)));
        }
        while let Some(row) = decoder.next_row() {
            match row {
                Ok(row) => rows.push(row),
                Err(e) => return (rows, Err(what(e))),
            }
        }
    }
    let end = decoder.finish().map(|s| s.total_rows).map_err(what);
    (rows, end)
}

#[test]
fn a_row_cut_anywhere_decodes_as_if_whole() {
    // Numbers cut after `-`, `1`, `.`, `e`, `e-`; literals, escapes and a two-byte
    // character cut in their middle; a row decoded from the bytes that end it.
    let doc = "{\"rows\":[{\"a\":-12.5e-3,\"b\":1E+2,\"c\":0},{\"d\":true,\"e\":null,\"f\":\"\\u00e9\\n\u{e9}\"},\n 7,[-0.5],\"x\"],\"total_rows\":5}";
    let whole = cut_in_two(doc.as_bytes(), 0);
    assert_eq!(whole.0.len(), 5, "{whole:?}");
    assert_eq!(whole.0[0]["a"], serde_json::json!(-0.0125));
    assert_eq!(whole.0[1]["f"], "\u{e9}\n\u{e9}");
    assert_eq!(whole.1, Ok(5));
    for at in 0..=doc.len() {
        assert_eq!(cut_in_two(doc.as_bytes(), at), whole, "cut at {at}");
    }

    // A malformed row ends the same wherever the body is cut, with its path.
    let bad = br#"{"rows":[{"a":1},{"a":1.}],"total_rows":2}"#;
    let (rows, end) = cut_in_two(bad, 0);
    assert_eq!(rows.len(), 1);
    let end = end.unwrap_err();
    assert!(end.contains("rows[1]"), "{end}");
    for at in 0..=bad.len() {
        let (cut_rows, cut_end) = cut_in_two(bad, at);
        assert_eq!(cut_end, Err(end.clone()), "cut at {at}");
        assert!(cut_rows.len() <= 1);
    }
}

#[test]
fn a_row_larger_than_many_chunks_decodes() {
    let big = "x".repeat(300_000);
    let body = format!(r#"{{"rows":[{{"s":"{big}"}},{{"s":"y"}}],"total_rows":2}}"#);
    let d = decode_in_chunks::<Value>(body.as_bytes(), 1000);
    let rows: Vec<Value> = d.0.into_iter().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["s"].as_str().map(str::len), Some(300_000));
    assert_eq!(d.1.unwrap().unwrap().total_rows, 2);
}
