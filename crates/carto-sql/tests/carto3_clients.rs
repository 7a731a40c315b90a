//! The SQL API v3 clients (blocking and async) over closure transports: the Bearer
//! token, GET and POST, rows buffered and streamed with `schema` and `meta`, jobs from
//! create to done, and the errors a server can give.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use carto_core::Error;
use carto_core::carto3::{ApiBaseUrl, ApiCredentials};
use carto_sql::v3::{
    AsyncSqlClient, FieldType, JobStatus, QueryMethod, QueryOptions, QueryParameters, SqlClient,
    WaitOptions, Warehouse,
};
use carto_test_support::json_response;
use carto_transport::{TransportError, TransportErrorKind, async_transport_fn, transport_fn};
use futures_util::StreamExt;
use http::StatusCode;
use serde::Deserialize;
use serde_json::Value;

const TOKEN: &str = "eyJ-v3-client-token";

fn credentials() -> ApiCredentials {
    let base = ApiBaseUrl::parse("https://gcp-us-east1.api.carto.com").unwrap();
    ApiCredentials::with_token(base, TOKEN).unwrap()
}

fn fixture(name: &str) -> Vec<u8> {
    carto_test_support::fixture(&format!("carto3/{name}")).to_vec()
}

type Seen = Arc<Mutex<Vec<String>>>;

/// A server answering every request with `answer(method path?query, body)`.
fn server(
    answer: impl Fn(&str, &[u8]) -> (u16, Vec<u8>) + Send + Sync + 'static,
) -> (impl carto_transport::Transport, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let transport = transport_fn(move |request| {
        let auth = request.headers()["authorization"].to_str().unwrap();
        assert_eq!(auth, format!("Bearer {TOKEN}"));
        let line = format!("{} {}", request.method(), request.uri());
        let (status, body) = answer(&line, request.body());
        log.lock().unwrap().push(line);
        Ok(json_response(status, &body))
    });
    (transport, seen)
}

#[derive(Debug, Deserialize, PartialEq)]
struct N {
    n: u64,
}

#[test]
fn query_sends_a_get_with_the_bearer_token_and_types_the_rows() {
    let (transport, seen) = server(|_, _| (200, fixture("query-response.json")));
    let sql = SqlClient::from_credentials(transport, credentials(), "carto_dw");
    let answer = sql.query::<N>("SELECT 12345 AS n").unwrap();
    assert_eq!(answer.rows, [N { n: 12345 }]);
    assert_eq!(answer.field_type("n"), Some(&FieldType::Number));
    assert_eq!(answer.meta.unwrap().cache_hit, Some(false));
    let seen = seen.lock().unwrap();
    assert!(
        seen[0]
            .starts_with("GET https://gcp-us-east1.api.carto.com/v3/sql/carto_dw/query?q=SELECT"),
        "{seen:?}"
    );
}

#[test]
fn a_long_query_goes_as_a_post_and_options_force_the_method() {
    let (transport, seen) = server(|line, body| {
        if line.starts_with("POST") {
            let body: Value = serde_json::from_slice(body).unwrap();
            assert!(body["q"].as_str().unwrap().starts_with("SELECT"));
        }
        (200, br#"{"rows":[],"schema":[]}"#.to_vec())
    });
    let sql = SqlClient::from_credentials(transport, credentials(), "carto_dw");
    let long = format!("SELECT '{}'", "x".repeat(8000));
    sql.query::<Value>(&long).unwrap();
    let post = QueryOptions::new().method(QueryMethod::Post);
    sql.query_with::<Value>("SELECT 1", &post).unwrap();
    let methods: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|l| l[..4].to_owned())
        .collect();
    assert_eq!(methods, ["POST", "POST"]);
}

#[test]
fn parameters_are_checked_against_the_warehouse_before_any_request() {
    let (transport, seen) = server(|_, _| (200, fixture("query-response.json")));
    let sql = SqlClient::from_credentials(transport, credentials(), "carto_dw")
        .with_warehouse(Warehouse::BigQuery);
    let positional = QueryOptions::new().params(QueryParameters::positional([1]));
    let err = sql
        .query_with::<Value>("SELECT $1", &positional)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn query_rows_streams_the_rows_then_gives_schema_and_meta() {
    let body = br#"{"rows":[{"n":1},{"n":2},{"n":3}],"schema":[{"name":"n","type":"bigint"}],"meta":{"location":"EU"}}"#;
    let (transport, _) = server(move |_, _| (200, body.to_vec()));
    let sql = SqlClient::from_credentials(transport, credentials(), "carto_dw");
    let mut rows = sql.query_rows::<N>("SELECT n FROM t").unwrap();
    assert!(rows.tail().is_none());
    let got: Vec<u64> = rows.by_ref().map(|r| r.unwrap().n).collect();
    assert_eq!(got, [1, 2, 3]);
    let tail = rows.tail().unwrap();
    assert_eq!(tail.schema[0].field_type, FieldType::Bigint);
    assert_eq!(tail.meta.as_ref().unwrap().location.as_deref(), Some("EU"));
}

#[test]
fn malformed_json_from_the_server_is_a_decode_error() {
    let (transport, _) = server(|_, _| (200, b"{\"rows\":[{\"n\":1},".to_vec()));
    let sql = SqlClient::from_credentials(transport, credentials(), "carto_dw");
    assert!(matches!(sql.query::<N>("SELECT 1"), Err(Error::Decode(_))));
    let rows: Vec<_> = sql.query_rows::<N>("SELECT 1").unwrap().collect();
    assert!(rows[0].is_ok());
    assert!(
        matches!(rows.last(), Some(Err(Error::Decode(_)))),
        "{rows:?}"
    );
}

#[test]
fn carto_errors_keep_status_and_message() {
    let (transport, _) = server(|_, _| (403, fixture("error-403-unauthorized-referer.json")));
    let sql = SqlClient::from_credentials(transport, credentials(), "carto_dw");
    let err = sql.query::<Value>("SELECT 1").unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
    assert!(err.to_string().contains("referer"), "{err}");
    assert!(!format!("{err:?}").contains(TOKEN));
}

#[test]
fn a_dead_server_is_a_transport_error() {
    let transport = transport_fn(|_| Err(TransportError::from_kind(TransportErrorKind::Connect)));
    let credentials = credentials();
    let sql = SqlClient::from_credentials(transport, credentials, "carto_dw");
    let options = QueryOptions::new();
    let err = sql.query_with::<Value>("SELECT 1", &options).unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

/// A job that is pending, then running, then done.
fn job_server() -> (impl carto_transport::Transport, Seen) {
    let polls = Mutex::new(0);
    server(move |line, body| {
        if line.starts_with("POST") {
            let body: Value = serde_json::from_slice(body).unwrap();
            assert_eq!(body["query"], "CREATE TABLE t AS SELECT 1");
            return (200, fixture("job-created.json"));
        }
        let mut polls = polls.lock().unwrap();
        *polls += 1;
        let status = if *polls < 3 { "running" } else { "done" };
        (
            200,
            format!(r#"{{"jobId":"job_7f3a","status":"{status}"}}"#).into_bytes(),
        )
    })
}

#[test]
fn a_job_is_created_and_waited_for() {
    let (transport, seen) = job_server();
    let sql = SqlClient::from_credentials(transport, credentials(), "carto_dw");
    let job = sql.create("CREATE TABLE t AS SELECT 1").unwrap();
    assert_eq!(job.status, JobStatus::Pending);
    // A fake clock that the fake sleep moves on.
    let now = std::cell::Cell::new(Duration::ZERO);
    let options = WaitOptions::new().with_initial_interval(Duration::from_millis(1));
    let done = sql
        .wait_with_clock(
            &job.job_id,
            &options,
            || now.get(),
            |d| now.set(now.get() + d),
        )
        .unwrap();
    assert_eq!(done.status, JobStatus::Done);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(
        seen[1].ends_with("/v3/sql/carto_dw/job/job_7f3a?client=carto-rs-0.1.0")
            || seen[1].contains("/v3/sql/carto_dw/job/job_7f3a")
    );
}

#[test]
fn a_failed_job_is_a_job_failed_error() {
    let (transport, _) = server(|_, _| {
        (
            200,
            br#"{"jobId":"j1","status":"failed","error":"relation \"t\" does not exist"}"#.to_vec(),
        )
    });
    let sql = SqlClient::from_credentials(transport, credentials(), "carto_dw");
    let err = sql.wait_with("j1", &WaitOptions::new()).unwrap_err();
    match err {
        Error::JobFailed(failure) => assert_eq!(failure.status(), "failed"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_async_client_queries_streams_and_waits_the_same_way() {
    let body = br#"{"rows":[{"n":7}],"schema":[{"name":"n","type":"number"}]}"#;
    let transport = async_transport_fn(move |request| {
        let line = format!("{} {}", request.method(), request.uri().path());
        let answer = match line.as_str() {
            "POST /v3/sql/carto_dw/job" => fixture("job-created.json"),
            "GET /v3/sql/carto_dw/job/job_7f3a" => {
                br#"{"jobId":"job_7f3a","status":"done"}"#.to_vec()
            }
            _ => body.to_vec(),
        };
        async move { Ok(json_response(200, &answer)) }
    });
    let sql = AsyncSqlClient::from_credentials(transport, credentials(), "carto_dw");
    assert_eq!(
        sql.query::<N>("SELECT 7 AS n").await.unwrap().rows,
        [N { n: 7 }]
    );
    let mut rows = sql.query_rows::<N>("SELECT 7 AS n").await.unwrap();
    assert_eq!(rows.next().await.unwrap().unwrap(), N { n: 7 });
    assert!(rows.next().await.is_none());
    assert_eq!(rows.tail().unwrap().schema.len(), 1);
    let job = sql
        .create_and_wait_with("CREATE TABLE t AS SELECT 1", &WaitOptions::new())
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Done);
    assert!(!format!("{sql:?}").contains(TOKEN));
}

#[test]
fn over_the_synchronous_limits_both_query_forms_say_to_use_a_job() {
    let body = br#"{"error":"Query timeout: the query exceeded the time limit of 60 seconds"}"#;
    let (transport, _) = server(move |_, _| (504, body.to_vec()));
    let sql = SqlClient::from_credentials(transport, credentials(), "carto_dw");
    let buffered = sql.query::<Value>("SELECT pg_sleep(61)").unwrap_err();
    let streamed = sql.query_rows::<Value>("SELECT pg_sleep(61)").unwrap_err();
    for err in [buffered, streamed] {
        assert!(matches!(err, Error::QueryLimit { .. }), "{err:?}");
    }
}

#[cfg(feature = "arrow")]
#[test]
fn query_arrow_types_the_batches_from_the_schema() {
    let (transport, _) = server(|_, _| (200, fixture("query-response.json")));
    let sql = SqlClient::from_credentials(transport, credentials(), "carto_dw");
    let answer = sql.query_arrow("SELECT 12345 AS n").unwrap();
    assert_eq!(answer.schema.field(0).name(), "n");
    assert_eq!(answer.batches[0].num_rows(), 1);
    assert_eq!(answer.meta.unwrap().location.as_deref(), Some("US"));
}
