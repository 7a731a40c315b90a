//! The incremental row decoder over bodies delivered in tiny chunks.

use std::time::Duration;

use crate::common;

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
        assert_eq!(summary.time, Some(Duration::from_secs_f64(0.25)));
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

/// Every value serde_json decodes with care: the bounds of i64 and u64, floats down to
/// the smallest subnormal, escapes and surrogate pairs, `null` into an `Option`, a raw
/// value kept as written.
#[derive(Debug, Deserialize)]
struct Tricky {
    big: i64,
    small: i64,
    unsigned: u64,
    f: f64,
    tiny: f64,
    s: String,
    o: Option<i32>,
    raw: Box<serde_json::value::RawValue>,
}

fn tricky_key(t: &Tricky) -> String {
    format!(
        "{} {} {} {:e} {:e} {:?} {:?} {}",
        t.big,
        t.small,
        t.unsigned,
        t.f,
        t.tiny,
        t.s,
        t.o,
        t.raw.get()
    )
}

/// What the buffered `JsonQuery::parse` (the whole document through serde_json) gives.
fn whole_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<Vec<T>, String> {
    use carto_core::Endpoint;
    let response = http::Response::builder()
        .status(200)
        .body(body.to_vec())
        .unwrap();
    carto_sql::Query::new("q")
        .json::<T>()
        .parse(response)
        .map(|r| r.rows)
        .map_err(what)
}

/// The rows through the streaming decoder, the body cut in two at `at`.
fn streamed<T: serde::de::DeserializeOwned>(body: &[u8], at: usize) -> Result<Vec<T>, String> {
    let mut decoder = RowDecoder::<T>::new(StatusCode::OK);
    let mut rows = Vec::new();
    for chunk in [&body[..at], &body[at..]] {
        decoder.push(chunk).map_err(what)?;
        while let Some(row) = decoder.next_row() {
            rows.push(row.map_err(what)?);
        }
    }
    decoder.finish().map_err(what)?;
    Ok(rows)
}

#[test]
fn values_decode_as_serde_json_decodes_the_whole_body() {
    let doc = r#"{"rows":[{"big":9223372036854775807,"small":-9223372036854775808,"unsigned":18446744073709551615,"f":0.1,"tiny":5e-324,"s":"\ud83d\ude00 \u00e9 é \"q\" \\ \/","o":null,"raw":{"a":[1,2.50,"x"]}},{"big":0,"small":-1,"unsigned":0,"f":1.7976931348623157e308,"tiny":2.2250738585072014E-308,"s":"","o":7,"raw":  "s" }],"total_rows":2}"#;
    let whole: Vec<String> = whole_body::<Tricky>(doc.as_bytes())
        .unwrap()
        .iter()
        .map(tricky_key)
        .collect();
    assert_eq!(whole.len(), 2);
    for at in 0..=doc.len() {
        let rows: Vec<String> = streamed::<Tricky>(doc.as_bytes(), at)
            .unwrap()
            .iter()
            .map(tricky_key)
            .collect();
        assert_eq!(rows, whole, "cut at {at}");
    }

    // Out of bounds: the same error at the same path as the whole body's.
    for bad in [
        r#"{"rows":[{"big":9223372036854775808}],"total_rows":1}"#,
        r#"{"rows":[{"big":1,"small":-9223372036854775809}],"total_rows":1}"#,
        r#"{"rows":[{"big":1,"small":1,"unsigned":-1}],"total_rows":1}"#,
        r#"{"rows":[{"big":1,"small":1,"unsigned":1,"f":1e400}],"total_rows":1}"#,
        r#"{"rows":[{"big":1,"small":1,"unsigned":1,"f":1,"tiny":1,"s":"\ud800"}],"total_rows":1}"#,
    ] {
        let whole = whole_body::<Tricky>(bad.as_bytes()).unwrap_err();
        assert!(whole.starts_with("rows[0]."), "{whole}");
        let path = whole.split(' ').next().unwrap();
        for at in 0..=bad.len() {
            let err = streamed::<Tricky>(bad.as_bytes(), at).unwrap_err();
            assert!(err.starts_with(path), "cut at {at}: {err} / {whole}");
        }
    }

    // serde_json::Value rows: big numbers, a duplicate key (the last one wins, in the
    // first one's place), key order kept.
    let values =
        r#"{"rows":[{"z":1,"a":123456789012345678901234567890,"z":2,"n":-0.0}],"total_rows":1}"#;
    let whole = whole_body::<Value>(values.as_bytes()).unwrap();
    for at in 0..=values.len() {
        let rows = streamed::<Value>(values.as_bytes(), at).unwrap();
        assert_eq!(rows, whole, "cut at {at}");
        assert_eq!(
            serde_json::to_string(&rows).unwrap(),
            serde_json::to_string(&whole).unwrap()
        );
    }
}
