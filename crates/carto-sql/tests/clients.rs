//! The sync and async SQL clients over fake transports: fixtures as responses, and the
//! streaming row iterator over a large generated body delivered in tiny chunks.

use std::time::Duration;

use crate::common;

use std::io::Read;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use carto_core::{BaseUrl, Credentials, Error, HttpRequest, HttpResponse};
use carto_sql::{AsyncSqlClient, Format, QueryOptions, SqlClient};
use carto_transport::{
    AsyncBody, AsyncTransport, Body, BoxFuture, ByteStream, ResponseReader, Transport,
    TransportError, async_transport_fn, transport_fn,
};
use common::fixture_response;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;

const CANARY: &str = "canary-9f2b6a4c-token";

fn creds() -> Credentials {
    Credentials::new(BaseUrl::parse("https://alice.carto.com").unwrap(), CANARY)
}

/// Serves a fixture chosen by the SQL text.
fn by_sql(req: HttpRequest) -> Result<HttpResponse, TransportError> {
    let form = String::from_utf8(req.body().clone()).unwrap();
    let query = req.uri().query().unwrap_or("").to_owned();
    let all = format!("{form}&{query}");
    let q: String = url::form_urlencoded::parse(all.as_bytes())
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    Ok(match q.as_str() {
        "ok" => fixture_response("query-ok.json", 200),
        "insert" => fixture_response("query-insert-ok.json", 200),
        "geo" => fixture_response("geojson-ok.json", 200),
        "midstream" => fixture_response("query-200-with-midstream-error.json", 200),
        "slow" => fixture_response("error-429-timeout.json", 429),
        "csv" => http::Response::new(b"a,b\r\n1,2\r\n".to_vec()),
        _ => fixture_response("error-400.json", 400),
    })
}

#[derive(Debug, Deserialize)]
struct Row {
    column_a: String,
    column_b: i64,
}

#[test]
fn sync_client_over_fixtures() {
    let sql = SqlClient::from_credentials(transport_fn(by_sql), creds());
    let resp = sql.query::<Row>("ok").unwrap();
    assert_eq!(
        (resp.rows[0].column_a.as_str(), resp.rows[0].column_b),
        ("A", 123)
    );
    assert_eq!(sql.query::<Value>("insert").unwrap().total_rows, 2);
    let err = sql.query::<Value>("midstream").unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(200));
    let err = sql.query::<Value>("slow").unwrap_err();
    assert!(err.is_timeout());
    let err = sql.query::<Value>("broken").unwrap_err();
    assert!(err.to_string().contains("syntax error"));
    let fc = sql.geojson("geo").unwrap();
    assert_eq!(
        fc.features[0]
            .property("cartodb_id")
            .and_then(Value::as_i64),
        Some(1)
    );
    let csv = sql.export("csv", Format::Csv).unwrap();
    assert_eq!(csv, b"a,b\r\n1,2\r\n");
    let mut text = String::new();
    sql.export_reader_with("csv", Format::Csv, &QueryOptions::new().use_get(true))
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "a,b\r\n1,2\r\n");
    let err = sql.export_reader("broken", Format::Csv).unwrap_err();
    assert!(err.to_string().contains("syntax error"));
    let rows: Vec<_> = sql.query_rows::<Value>("midstream").unwrap().collect();
    assert_eq!(rows.len(), 1);
    assert!(matches!(&rows[0], Err(Error::Api(_))));
    assert!(!format!("{sql:?}").contains(CANARY));
}

#[tokio::test]
async fn async_client_over_fixtures() {
    let sql = AsyncSqlClient::from_credentials(
        async_transport_fn(|req| async move { by_sql(req) }),
        creds(),
    );
    let resp = sql.query::<Row>("ok").await.unwrap();
    assert_eq!(resp.rows[0].column_b, 123);
    assert_eq!(resp.fields.len(), 3);
    let err = sql.query::<Value>("midstream").await.unwrap_err();
    assert_eq!(err.api_error().unwrap().messages(), ["division by zero"]);
    assert!(sql.query::<Value>("slow").await.unwrap_err().is_timeout());
    let fc = sql.geojson("geo").await.unwrap();
    assert_eq!(fc.features.len(), 1);
    let csv = sql
        .export_stream("csv", Format::Csv)
        .await
        .unwrap()
        .into_bytes()
        .await
        .unwrap();
    assert_eq!(csv, b"a,b\r\n1,2\r\n");
    assert_eq!(sql.export("csv", Format::Csv).await.unwrap(), csv);
    let mut rows = sql.query_rows::<Row>("ok").await.unwrap();
    assert_eq!(rows.next().await.unwrap().unwrap().column_a, "A");
    assert!(rows.next().await.is_none());
    assert_eq!(rows.summary().unwrap().total_rows, 1);
    let err = sql.query_rows::<Row>("broken").await.unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(400));
}

/// A result document generated on the fly: `rows` rows, then a trailer; read in pieces
/// of 1 to 5 bytes. Never held in memory as a whole.
struct Generated {
    next_row: u64,
    rows: u64,
    trailer: &'static str,
    pending: Vec<u8>,
    pos: usize,
    piece: usize,
    finished: bool,
}

impl Generated {
    fn new(rows: u64, trailer: &'static str) -> Self {
        Self {
            next_row: 0,
            rows,
            trailer,
            pending: b"{\"rows\":[".to_vec(),
            pos: 0,
            piece: 0,
            finished: false,
        }
    }

    fn refill(&mut self) -> bool {
        if self.finished {
            return false;
        }
        self.pos = 0;
        self.pending.clear();
        if self.next_row < self.rows {
            let i = self.next_row;
            let sep = if i == 0 { "" } else { "," };
            self.pending = format!(
                "{sep}{{\"id\":{i},\"name\":\"row \\\"{i}\\\" [],{{}}\",\"v\":[{i},{{\"k\":\"}}\"}}]}}"
            )
            .into_bytes();
            self.next_row += 1;
        } else {
            self.pending = format!(
                "],\"time\":0.5,\"fields\":{{\"id\":{{\"type\":\"number\",\"pgtype\":\"int8\"}}}},\"total_rows\":{}{}}}",
                self.rows, self.trailer
            )
            .into_bytes();
            self.finished = true;
        }
        true
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.pos == self.pending.len() && !self.refill() {
            return Ok(0);
        }
        self.piece = self.piece % 5 + 1;
        let n = self.piece.min(buf.len()).min(self.pending.len() - self.pos);
        buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A transport whose streaming answers are generated bodies; it records the requests.
struct Streaming {
    rows: u64,
    trailer: &'static str,
    seen: Mutex<Vec<String>>,
}

impl Transport for Streaming {
    fn send(&self, _: HttpRequest) -> Result<HttpResponse, TransportError> {
        panic!("query_rows must stream")
    }

    fn send_streaming(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseReader>, TransportError> {
        self.seen.lock().unwrap().push(request.method().to_string());
        Ok(http::Response::new(ResponseReader::new(Generated::new(
            self.rows,
            self.trailer,
        ))))
    }
}

impl AsyncTransport for Streaming {
    fn send(&self, _: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        panic!("query_rows must stream")
    }

    fn send_streaming(
        &self,
        request: http::Request<AsyncBody>,
    ) -> BoxFuture<'_, Result<http::Response<ByteStream>, TransportError>> {
        self.seen.lock().unwrap().push(request.method().to_string());
        let mut generated = Generated::new(self.rows, self.trailer);
        let chunks = futures_util::stream::iter(std::iter::from_fn(move || {
            let mut buf = [0u8; 8];
            match generated.read(&mut buf).unwrap() {
                0 => None,
                n => Some(Ok::<_, TransportError>(Bytes::copy_from_slice(&buf[..n]))),
            }
        }));
        Box::pin(async move { Ok(http::Response::new(ByteStream::new(chunks))) })
    }
}

#[derive(Debug, Deserialize)]
struct GenRow {
    id: u64,
    name: String,
    v: (u64, Value),
}

const MANY: u64 = 200_000;

#[test]
fn sync_rows_stream_a_large_body_in_tiny_chunks() {
    let transport = Streaming {
        rows: MANY,
        trailer: ",\"notices\":[\"done\"]",
        seen: Mutex::new(Vec::new()),
    };
    let sql = SqlClient::from_credentials(&transport, creds());
    let mut rows = sql.query_rows::<GenRow>("select * from big").unwrap();
    let mut count = 0;
    for row in rows.by_ref() {
        let row = row.unwrap();
        assert_eq!(row.id, count);
        assert_eq!(row.v.0, count);
        assert_eq!(row.v.1["k"], "}");
        if count == 7 {
            assert_eq!(row.name, "row \"7\" [],{}");
        }
        count += 1;
    }
    assert_eq!(count, MANY);
    let summary = rows.summary().unwrap();
    assert_eq!(
        (summary.total_rows, summary.time),
        (MANY, Some(Duration::from_secs_f64(0.5)))
    );
    assert_eq!(summary.notices, ["done"]);
    assert_eq!(*transport.seen.lock().unwrap(), ["POST"]);
}

#[test]
fn sync_rows_report_a_midstream_error_last() {
    let transport = Streaming {
        rows: 1000,
        trailer: ",\"error\":[\"division by zero\"]",
        seen: Mutex::new(Vec::new()),
    };
    let sql = SqlClient::from_credentials(Arc::new(transport), creds());
    let items: Vec<_> = sql
        .query_rows_with::<GenRow>("select", &QueryOptions::new().use_get(true))
        .unwrap()
        .collect();
    assert_eq!(items.len(), 1001);
    assert!(items[..1000].iter().all(Result::is_ok));
    let err = items[1000].as_ref().unwrap_err();
    assert_eq!(err.api_error().unwrap().messages(), ["division by zero"]);
    assert_eq!(*sql.transport().seen.lock().unwrap(), ["GET"]);
}

#[tokio::test]
async fn async_rows_stream_a_large_body_in_tiny_chunks() {
    let transport = Streaming {
        rows: MANY,
        trailer: ",\"error\":[\"canceling statement due to statement timeout\"]",
        seen: Mutex::new(Vec::new()),
    };
    let sql = AsyncSqlClient::from_credentials(transport, creds());
    let mut rows = sql.query_rows::<GenRow>("select * from big").await.unwrap();
    let mut count = 0;
    let mut last_err = None;
    while let Some(item) = rows.next().await {
        match item {
            Ok(row) => {
                assert_eq!(row.id, count);
                count += 1;
            }
            Err(e) => last_err = Some(e),
        }
    }
    assert_eq!(count, MANY);
    let err = last_err.expect("the trailer error is the last item");
    assert_eq!(err.status().map(|s| s.as_u16()), Some(200));
    assert!(rows.summary().is_none());
}

/// What a request carried besides its SQL: its method and its parameters (form body and
/// query string), sorted.
type Sent = (String, Vec<(String, String)>);

fn sent(req: &HttpRequest) -> Sent {
    let form = String::from_utf8(req.body().clone()).unwrap();
    let all = format!("{form}&{}", req.uri().query().unwrap_or(""));
    let mut params: Vec<(String, String)> = url::form_urlencoded::parse(all.as_bytes())
        .into_owned()
        .filter(|(k, _)| k != "q")
        .collect();
    params.sort();
    (req.method().to_string(), params)
}

fn options_given() -> QueryOptions {
    QueryOptions::new()
        .use_get(true)
        .dp(3)
        .skipfields(["the_geom"])
}

/// Of `seen` (six requests by the `_with` forms with default options, six with
/// [`options_given`], six by the plain forms): the plain forms sent what the `_with`
/// forms sent with default options (a POST without options), and the `_with` forms
/// sent the options they were given.
fn assert_plain_is_with_defaults(seen: &[Sent]) {
    assert_eq!(seen.len(), 18);
    let (defaults, given, plain) = (&seen[..6], &seen[6..12], &seen[12..]);
    assert_eq!(plain, defaults);
    for (method, params) in plain {
        assert_eq!(method, "POST");
        let keys: Vec<&str> = params.iter().map(|(k, _)| k.as_str()).collect();
        assert!(
            !keys.contains(&"dp") && !keys.contains(&"skipfields"),
            "{keys:?}"
        );
    }
    for (method, params) in given {
        assert_eq!(method, "GET");
        assert!(params.contains(&("dp".into(), "3".into())), "{params:?}");
        assert!(params.contains(&("skipfields".into(), "the_geom".into())));
    }
}

#[test]
fn sync_plain_forms_are_the_with_forms_with_default_options() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let transport = transport_fn(move |req| {
        log.lock().unwrap().push(sent(&req));
        by_sql(req)
    });
    let sql = SqlClient::from_credentials(transport, creds());
    for options in [&QueryOptions::default(), &options_given()] {
        sql.geojson_with("geo", options).unwrap();
        sql.export_with("csv", Format::Csv, options).unwrap();
        let mut reader = sql.export_reader_with("csv", Format::Csv, options).unwrap();
        reader.read_to_end(&mut Vec::new()).unwrap();
        let rows = sql.query_rows_with::<Row>("ok", options).unwrap();
        assert_eq!(rows.map(Result::unwrap).count(), 1);
        sql.query_with::<Row>("ok", options).unwrap();
        sql.execute_with("insert", options).unwrap();
    }
    sql.geojson("geo").unwrap();
    sql.export("csv", Format::Csv).unwrap();
    let mut reader = sql.export_reader("csv", Format::Csv).unwrap();
    reader.read_to_end(&mut Vec::new()).unwrap();
    let rows = sql.query_rows::<Row>("ok").unwrap();
    assert_eq!(rows.map(Result::unwrap).count(), 1);
    sql.query::<Row>("ok").unwrap();
    sql.execute("insert").unwrap();
    assert_plain_is_with_defaults(&seen.lock().unwrap());
}

#[tokio::test]
async fn async_plain_forms_are_the_with_forms_with_default_options() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let transport = async_transport_fn(move |req| {
        log.lock().unwrap().push(sent(&req));
        async move { by_sql(req) }
    });
    let sql = AsyncSqlClient::from_credentials(transport, creds());
    for options in [&QueryOptions::default(), &options_given()] {
        sql.geojson_with("geo", options).await.unwrap();
        sql.export_with("csv", Format::Csv, options).await.unwrap();
        let stream = sql.export_stream_with("csv", Format::Csv, options).await;
        assert_eq!(
            stream.unwrap().into_bytes().await.unwrap(),
            b"a,b\r\n1,2\r\n"[..]
        );
        let rows = sql.query_rows_with::<Row>("ok", options).await.unwrap();
        assert_eq!(rows.map(Result::unwrap).count().await, 1);
        sql.query_with::<Row>("ok", options).await.unwrap();
        sql.execute_with("insert", options).await.unwrap();
    }
    sql.geojson("geo").await.unwrap();
    sql.export("csv", Format::Csv).await.unwrap();
    let stream = sql.export_stream("csv", Format::Csv).await.unwrap();
    assert_eq!(stream.into_bytes().await.unwrap(), b"a,b\r\n1,2\r\n"[..]);
    let rows = sql.query_rows::<Row>("ok").await.unwrap();
    assert_eq!(rows.map(Result::unwrap).count().await, 1);
    sql.query::<Row>("ok").await.unwrap();
    sql.execute("insert").await.unwrap();
    assert_plain_is_with_defaults(&seen.lock().unwrap());
}
