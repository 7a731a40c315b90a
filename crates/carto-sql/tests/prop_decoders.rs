//! Hostile input, property tests of the SQL API response decoders and the COPY TO trailer
//! check, through their public APIs:
//!
//! - the streaming `RowDecoder`, fed as the transport's driver feeds it (push a chunk, drain
//!   the rows, `finish` at the end), gives the same rows and the same end (summary, CARTO
//!   error, or decode error) for any chunking of the same bytes;
//! - on SQL API documents it agrees with the buffered decoder (`JsonQuery::parse`);
//! - so does `SqlClient::query`, which decodes the rows as the body arrives, whatever the
//!   chunking, on documents and on documents cut short;
//! - `TrailerCheck` passes on every byte but an appended error, whatever the chunking, and
//!   finds the error CARTO appends to a COPY TO body.
//!
//! CI runs proptest's default 256 cases per property; a long run is
//! `PROPTEST_CASES=1000000 cargo test -p carto-sql --test prop_decoders --release`.

use carto_core::{BaseUrl, Credentials, Endpoint, Error, HttpRequest, HttpResponse};
use carto_sql::copy::TrailerCheck;
use carto_sql::{Query, RowDecoder, SqlClient, SqlResponse, SqlSummary};
use carto_test_support::read::ChunkReader;
use carto_transport::{BodyDecoder, ResponseReader, Transport, TransportError};
use http::StatusCode;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Map, Value, json};

/// How a body ended.
#[derive(Debug, Clone, PartialEq)]
enum End {
    /// The document ended well with this summary.
    Summary(SqlSummary),
    /// CARTO's error (`{"error": [...]}`) with its message.
    Api(String),
    /// The bytes are not a SQL API document (the message quotes the chunk: not compared).
    Decode,
}

fn end_of(e: Error) -> End {
    match e {
        Error::Api(api) => End::Api(api.to_string()),
        Error::Decode(_) => End::Decode,
        other => panic!("a decoder gave an error that is neither Api nor Decode: {other:?}"),
    }
}

/// `body` cut at `cuts` (positions, sorted; equal cuts give empty chunks).
fn chunks<'a>(body: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(body.len() + 1)).collect();
    at.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in at {
        out.push(&body[start..cut]);
        start = cut;
    }
    out.push(&body[start..]);
    out
}

/// Decodes `body` chunk by chunk as `send_streaming` does.
fn stream(body: &[u8], cuts: &[Index]) -> (Vec<Value>, End) {
    let mut decoder = RowDecoder::<Value>::new(StatusCode::OK);
    let mut rows = Vec::new();
    for chunk in chunks(body, cuts) {
        if let Err(e) = decoder.push(chunk) {
            return (rows, end_of(e));
        }
        while let Some(row) = decoder.next_row() {
            match row {
                Ok(row) => rows.push(row),
                Err(e) => return (rows, end_of(e)),
            }
        }
    }
    let end = match decoder.finish() {
        Ok(summary) => End::Summary(summary),
        Err(e) => end_of(e),
    };
    (rows, end)
}

/// Decodes `body` whole, as `SqlClient::query` does.
fn buffered(body: &[u8]) -> (Vec<Value>, End) {
    let endpoint = Query::new("SELECT 1").json::<Value>();
    let response = http::Response::builder()
        .status(StatusCode::OK)
        .body(body.to_vec())
        .expect("response");
    ended(endpoint.parse(response))
}

/// The rows and end of a whole response.
fn ended(result: Result<SqlResponse<Value>, Error>) -> (Vec<Value>, End) {
    match result {
        Ok(r) => {
            let summary = SqlSummary {
                time: r.time,
                fields: r.fields,
                total_rows: r.total_rows,
                notices: r.notices,
                warnings: r.warnings,
                infos: r.infos,
            };
            (r.rows, End::Summary(summary))
        }
        Err(e) => (Vec::new(), end_of(e)),
    }
}

/// Serves one body, cut in the given chunks, to `send_streaming` (one chunk per read).
struct ChunkedTransport(Vec<Vec<u8>>);

impl Transport for ChunkedTransport {
    fn send(&self, _: HttpRequest) -> Result<HttpResponse, TransportError> {
        panic!("the buffered query goes through send_streaming");
    }

    fn send_streaming(
        &self,
        _: http::Request<carto_transport::Body>,
    ) -> Result<http::Response<ResponseReader>, TransportError> {
        // An empty read is the end of the body: the reader skips empty chunks.
        let reader = ChunkReader::new(self.0.iter().cloned());
        Ok(http::Response::new(ResponseReader::new(reader)))
    }
}

/// Decodes `body` cut at `cuts` through `SqlClient::query` (decoded as it arrives).
fn whole(body: &[u8], cuts: &[Index]) -> (Vec<Value>, End) {
    let chunks = chunks(body, cuts).into_iter().map(<[u8]>::to_vec).collect();
    let credentials = Credentials::new(BaseUrl::parse("https://alice.carto.com").unwrap(), "k");
    let client = SqlClient::from_credentials(ChunkedTransport(chunks), credentials);
    ended(client.query::<Value>("SELECT 1"))
}

/// An arbitrary JSON value, nested a few levels, strings with quotes, escapes and brackets.
fn json_value() -> impl Strategy<Value = Value> {
    let text = prop_oneof![any::<String>(), r#"[\[\]{}",:\\ a-z]{0,12}"#];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        text.prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z\"\\\\{}\\[\\]]{0,6}", inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A row: a JSON object.
fn row() -> impl Strategy<Value = Value> {
    prop::collection::vec(("[a-z_\"]{1,8}", json_value()), 0..5)
        .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>()))
}

/// A SQL API JSON document as the SQL API writes it (rows first, then `time`, `fields`,
/// `total_rows`, notices, and perhaps the `error` of a query that failed mid-stream),
/// compact or pretty-printed.
fn document() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(row(), 0..12),
        prop::option::of(0.0f64..100.0),
        prop::collection::vec("[a-z_]{1,6}", 0..3),
        any::<u32>(),
        prop::collection::vec("[ -~]{0,16}", 0..2),
        prop::option::of("[ -~]{1,24}"),
        any::<bool>(),
        // A long member beside the rows (one document in four): near 32 KiB, the size at
        // which the buffered query stops holding the body and decodes it as it arrives.
        prop_oneof![3 => Just(0usize), 1 => 31_500..33_500usize],
    )
        .prop_map(
            |(rows, time, columns, total, notices, error, pretty, pad)| {
                let mut doc = Map::new();
                if pad > 0 {
                    doc.insert("pad".into(), json!("p".repeat(pad)));
                }
                doc.insert("rows".into(), Value::Array(rows));
                if let Some(t) = time {
                    doc.insert("time".into(), json!(t));
                }
                let fields: Map<String, Value> = columns
                    .into_iter()
                    .map(|c| (c, json!({"type": "number", "pgtype": "int4"})))
                    .collect();
                doc.insert("fields".into(), Value::Object(fields));
                doc.insert("total_rows".into(), json!(total));
                if !notices.is_empty() {
                    doc.insert("notices".into(), json!(notices));
                }
                if let Some(e) = error {
                    doc.insert("error".into(), json!([e]));
                }
                let doc = Value::Object(doc);
                if pretty {
                    serde_json::to_vec_pretty(&doc)
                } else {
                    serde_json::to_vec(&doc)
                }
                .expect("serialize")
            },
        )
}

/// A document cut short (a server that died mid-body).
fn truncated_document() -> impl Strategy<Value = Vec<u8>> {
    (document(), any::<Index>()).prop_map(|(mut doc, at)| {
        doc.truncate(at.index(doc.len()));
        doc
    })
}

/// A document cut short, or with a byte changed, inserted or removed: almost a document.
fn damaged_document() -> impl Strategy<Value = Vec<u8>> {
    (document(), any::<Index>(), 0..4u8, any::<u8>()).prop_map(|(mut doc, at, how, byte)| {
        let i = at.index(doc.len());
        match how {
            0 => doc.truncate(i),
            1 => doc[i] = byte,
            2 => doc.insert(i, byte),
            _ => {
                doc.remove(i);
            }
        }
        doc
    })
}

fn cuts() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..24)
}

/// Decodes `doc` whole and cut at `a` and at `b`: a well-ended document gives the same rows
/// and summary whatever the chunking; an error ends every chunking (the rows before it may
/// differ in number: an error inside a chunk stops the rows that chunk completed). Returns
/// how it ended.
fn same_end_for_any_chunking(doc: &[u8], a: &[Index], b: &[Index]) -> Result<End, TestCaseError> {
    let (rows_a, end_a) = stream(doc, a);
    let (rows_b, end_b) = stream(doc, b);
    let (rows_whole, end_whole) = stream(doc, &[]);
    prop_assert_eq!(&end_a, &end_whole);
    prop_assert_eq!(&end_b, &end_whole);
    if matches!(end_whole, End::Summary(_)) {
        prop_assert_eq!(&rows_a, &rows_whole);
        prop_assert_eq!(&rows_b, &rows_whole);
    } else {
        prop_assert!(one_prefixes_the_other(&rows_a, &rows_b));
    }
    Ok(end_whole)
}

/// Whether `a` is a prefix of `b` or `b` of `a`.
fn one_prefixes_the_other(a: &[Value], b: &[Value]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// The bytes a `TrailerCheck` passes on for `body` cut at `cuts`, and its error's message.
fn trailer(body: &[u8], cuts: &[Index]) -> (Vec<u8>, Option<String>) {
    let mut check = TrailerCheck::new();
    let mut out = Vec::new();
    let mut error = None;
    let mut drain = |check: &mut TrailerCheck, out: &mut Vec<u8>| {
        while let Some(item) = check.next_item() {
            match item {
                Ok(piece) => out.extend_from_slice(&piece),
                Err(Error::Api(e)) => error = Some(e.to_string()),
                Err(e) => panic!("unexpected error {e:?}"),
            }
        }
    };
    for chunk in chunks(body, cuts) {
        check.push(chunk).expect("push never fails");
        drain(&mut check, &mut out);
    }
    check.finish().expect("finish never fails");
    drain(&mut check, &mut out);
    (out, error)
}

/// COPY output: text rows ending in a newline, up to a few hundred KiB (past the 64 KiB
/// pieces the check passes on).
fn copy_data() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec(any::<u8>(), 0..2048), 0..160usize).prop_map(|(pattern, times)| {
        let mut data = pattern.repeat(times);
        data.push(b'\n');
        data
    })
}

/// The crate's regressions stay in one place, `proptest-regressions/` (as the unit tests').
fn regressions() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "proptest-regressions/tests/prop_decoders.txt",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(regressions())]

    #[test]
    fn documents_decode_the_same_for_any_chunking(doc in document(), a in cuts(), b in cuts()) {
        let whole = stream(&doc, &[]);
        prop_assert_eq!(&stream(&doc, &a), &whole);
        prop_assert_eq!(&stream(&doc, &b), &whole);
        prop_assert!(!matches!(whole.1, End::Decode), "a valid document failed: {:?}", whole);
    }

    #[test]
    fn streamed_and_buffered_decoders_agree_on_documents(doc in document(), a in cuts()) {
        let (rows, end) = stream(&doc, &a);
        let (buffered_rows, buffered_end) = buffered(&doc);
        prop_assert_eq!(&end, &buffered_end);
        if matches!(end, End::Summary(_)) {
            prop_assert_eq!(rows, buffered_rows);
        }
    }

    #[test]
    fn the_buffered_query_decodes_as_it_arrives_as_the_whole_body_decodes(
        doc in document(),
        a in cuts(),
    ) {
        let (rows, end) = whole(&doc, &a);
        let (buffered_rows, buffered_end) = buffered(&doc);
        prop_assert_eq!(&end, &buffered_end);
        prop_assert_eq!(rows, if matches!(end, End::Summary(_)) { buffered_rows } else { Vec::new() });
    }

    #[test]
    fn the_buffered_query_fails_on_a_truncated_document_as_the_whole_body_does(
        doc in truncated_document(),
        a in cuts(),
    ) {
        let (_, end) = whole(&doc, &a);
        let (_, buffered_end) = buffered(&doc);
        prop_assert_eq!(&end, &buffered_end);
    }

    #[test]
    fn truncated_documents_end_the_same_for_any_chunking(doc in truncated_document(), a in cuts(), b in cuts()) {
        let end = same_end_for_any_chunking(&doc, &a, &b)?;
        // Cut short, a document never ends well (it would have been cut after its brace).
        let closed = doc.ends_with(b"}");
        prop_assert!(closed || !matches!(end, End::Summary(_)));
    }

    #[test]
    fn trailer_check_passes_every_byte_of_data(data in copy_data(), a in cuts()) {
        let (out, error) = trailer(&data, &a);
        prop_assert!(error.is_none());
        prop_assert!(out == data, "{} bytes out of {}", out.len(), data.len());
    }

    #[test]
    fn trailer_check_finds_the_appended_error_for_any_chunking(
        data in copy_data(),
        message in "[ -~]{1,64}",
        a in cuts(),
    ) {
        let mut body = data.clone();
        body.extend_from_slice(json!({"error": [message]}).to_string().as_bytes());
        let (out, error) = trailer(&body, &a);
        prop_assert!(out == data, "{} bytes out of {}", out.len(), data.len());
        let error = error.ok_or_else(|| TestCaseError::fail("the appended error was not found"))?;
        prop_assert!(error.contains(message.trim()), "{error} / {message}");
    }

    #[test]
    fn trailer_check_loses_no_byte_of_any_body(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            (copy_data(), "[ -~{}\\[\\]\":]{0,64}").prop_map(|(mut d, tail)| { d.extend_from_slice(tail.as_bytes()); d }),
        ],
        a in cuts(),
        b in cuts(),
    ) {
        let (out_a, error_a) = trailer(&body, &a);
        let (out_b, error_b) = trailer(&body, &b);
        prop_assert!(out_a == out_b);
        prop_assert_eq!(&error_a, &error_b);
        prop_assert!(body.starts_with(&out_a));
        if error_a.is_none() {
            prop_assert!(out_a == body);
        } else {
            // Only the appended object is held back, and it is the whole rest.
            let rest: Value = serde_json::from_slice(&body[out_a.len()..])
                .map_err(|e| TestCaseError::fail(format!("held back a non-JSON tail: {e}")))?;
            prop_assert!(rest.get("error").is_some());
        }
    }
}

// Arbitrary bytes, and documents with a byte changed, inserted or removed (a stray closing
// bracket inside the rows, which once made the `RowSplitter` underflow its depth on
// `{"rows":[}}}`; see `docs/reliability.md`): a decode error, the same for any chunking.
proptest! {
    #![proptest_config(regressions())]

    #[test]
    fn damaged_documents_end_the_same_for_any_chunking(doc in damaged_document(), a in cuts(), b in cuts()) {
        same_end_for_any_chunking(&doc, &a, &b)?;
    }

    #[test]
    fn any_bytes_end_the_same_for_any_chunking(
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            (document(), "[\\]}{\\[,\"]{1,4}", any::<Index>()).prop_map(|(mut d, junk, at)| {
                let i = at.index(d.len() + 1);
                d.splice(i..i, junk.bytes());
                d
            }),
            Just(br#"{"rows":[}}}"#.to_vec()),
        ],
        a in cuts(),
        b in cuts(),
    ) {
        same_end_for_any_chunking(&body, &a, &b)?;
    }
}
