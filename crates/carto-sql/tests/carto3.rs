//! The SQL API v3 endpoints with no server: golden requests (insta snapshots), the
//! CARTO 3 payloads of the protocol notes (`carto-test-support/data/carto3/`) as responses, the
//! GET/POST switch, parameter styles, limit errors, and the job waiter.

use std::time::Duration;

use carto_core::carto3::{AccessToken, ApiBaseUrl, ApiContext, ApiEndpoint};
use carto_core::{Error, HttpRequest, QueryLimit};
use carto_sql::v3::{
    CancelJob, CreateJob, FieldType, GetJob, Job, JobStatus, JobWaiter, ListJobs, Query,
    QueryMethod, QueryParameters, WaitOptions, WaitStep, Warehouse,
};
use carto_test_support::{json_response as response, render_request as render};
use http::Method;
use serde_json::{Value, json};

const FAKE_TOKEN: &str = "eyJ-fake-token-0123";

fn data(name: &str) -> Vec<u8> {
    carto_test_support::fixture(&format!("carto3/{name}")).to_vec()
}

fn json_data(name: &str) -> Value {
    serde_json::from_slice(&data(name)).unwrap()
}

fn ctx() -> ApiContext {
    ApiContext::new(ApiBaseUrl::default())
        .with_access_token(&AccessToken::new(FAKE_TOKEN))
        .unwrap()
}

fn body_json(req: &HttpRequest) -> Value {
    serde_json::from_slice(req.body()).unwrap()
}

fn query_pairs(req: &HttpRequest) -> Vec<(String, String)> {
    url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

#[test]
fn query_get_golden() {
    let q = Query::new("carto_dw", "SELECT * FROM t WHERE city = @city")
        .params(QueryParameters::named([("city", "Madrid")]))
        .warehouse(Warehouse::BigQuery);
    let req = q.to_request(&ctx()).unwrap();
    insta::assert_snapshot!("query_get", render(&req));
    assert!(req.headers()["authorization"].is_sensitive());
    assert!(q.is_idempotent());
}

#[test]
fn query_post_carries_the_documented_body() {
    // The agent-skills POST body: named parameters as an object.
    let doc = json_data("query-post-request.json");
    let params = QueryParameters::Named(doc["queryParameters"].as_object().unwrap().clone());
    let q = Query::new("carto_dw", doc["q"].as_str().unwrap())
        .params(params)
        .warehouse(Warehouse::BigQuery)
        .method(QueryMethod::Post);
    let req = q.to_request(&ctx()).unwrap();
    insta::assert_snapshot!("query_post", render(&req));
    let mut body = body_json(&req);
    assert_eq!(body["v"], "3.4");
    assert_eq!(body["client"], carto_core::endpoint::DEFAULT_CLIENT_ID);
    let map = body.as_object_mut().unwrap();
    map.remove("v");
    map.remove("client");
    assert_eq!(body, doc);
    assert_eq!(
        req.uri().query(),
        None,
        "a POST carries only the endpoint URL"
    );
    // A POST query is retried only when marked read-only.
    assert!(!q.is_idempotent());
    assert!(q.clone().read_only(true).is_idempotent());
}

#[test]
fn postgres_parameters_are_a_dollar_array() {
    let doc = json_data("query-postgres-params.json");
    let q = Query::new("pg", doc["q"].as_str().unwrap())
        .params(QueryParameters::positional([
            json!(100000),
            json!("Supermarket"),
        ]))
        .warehouse(Warehouse::Postgres);
    let req = q
        .clone()
        .method(QueryMethod::Post)
        .to_request(&ctx())
        .unwrap();
    let mut body = body_json(&req);
    body.as_object_mut()
        .unwrap()
        .retain(|k, _| k == "q" || k == "queryParameters");
    assert_eq!(body, doc);
    let get = q.to_request(&ctx()).unwrap();
    let pairs = query_pairs(&get);
    assert!(pairs.contains(&("queryParameters".into(), r#"[100000,"Supermarket"]"#.into())));
    // The wrong shape for the warehouse is refused before any request.
    let bad = Query::new("pg", "SELECT $1")
        .params(QueryParameters::named([("a", 1)]))
        .warehouse(Warehouse::Redshift);
    assert!(bad.to_request(&ctx()).unwrap_err().is_invalid_input());
    let bad = Query::new("sf", "SELECT :1")
        .params(QueryParameters::named([("a", 1)]))
        .warehouse(Warehouse::Snowflake);
    assert!(bad.to_request(&ctx()).unwrap_err().is_invalid_input());
    let ok = Query::new("sf", "SELECT :1")
        .params(QueryParameters::positional([1]))
        .warehouse(Warehouse::Snowflake);
    assert!(ok.to_request(&ctx()).is_ok());
}

#[test]
fn get_switches_to_post_just_above_the_url_limit() {
    let c = ctx();
    // Find the GET URL length of a query, then put the limit exactly there.
    let sql = format!("SELECT '{}'", "x".repeat(100));
    let get = Query::new("conn", &sql).to_request(&c).unwrap();
    let len = get.uri().to_string().len();
    let at = Query::new("conn", &sql)
        .max_url_length(len)
        .to_request(&c)
        .unwrap();
    assert_eq!(at.method(), Method::GET);
    let below = Query::new("conn", &sql)
        .max_url_length(len - 1)
        .to_request(&c)
        .unwrap();
    assert_eq!(below.method(), Method::POST);
    assert_eq!(body_json(&below)["q"], sql.as_str());
    // The default limit: 7,000 characters.
    let long = format!("SELECT '{}'", "y".repeat(7_000));
    assert_eq!(
        Query::new("conn", &long).to_request(&c).unwrap().method(),
        Method::POST
    );
    assert!(!Query::new("conn", &long).is_idempotent());
    let short = Query::new("conn", "SELECT 1");
    assert_eq!(short.to_request(&c).unwrap().method(), Method::GET);
    assert!(short.is_idempotent());
    // Forced GET stays GET.
    let forced = Query::new("conn", &long).method(QueryMethod::Get);
    assert_eq!(forced.to_request(&c).unwrap().method(), Method::GET);
    assert!(forced.is_idempotent());
}

#[test]
fn empty_inputs_are_refused() {
    assert!(
        Query::new(" ", "SELECT 1")
            .to_request(&ctx())
            .unwrap_err()
            .is_invalid_input()
    );
    assert!(
        Query::new("c", "")
            .to_request(&ctx())
            .unwrap_err()
            .is_invalid_input()
    );
    assert!(
        CreateJob::new("c", " ")
            .to_request(&ctx())
            .unwrap_err()
            .is_invalid_input()
    );
    assert!(
        GetJob::new("c", "")
            .to_request(&ctx())
            .unwrap_err()
            .is_invalid_input()
    );
    assert!(
        CancelJob::new("", "j")
            .to_request(&ctx())
            .unwrap_err()
            .is_invalid_input()
    );
}

#[test]
fn query_response_is_typed() {
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct N {
        n: i64,
    }
    let q = Query::new("carto_dw", "SELECT 12345 AS n").rows::<N>();
    let out = q
        .parse(response(200, &data("query-response.json")))
        .unwrap();
    assert_eq!(out.rows, [N { n: 12345 }]);
    assert_eq!(out.field_type("n"), Some(&FieldType::Number));
    let meta = out.meta.unwrap();
    assert_eq!(meta.cache_hit, Some(false));
    assert_eq!(meta.location.as_deref(), Some("US"));
    assert_eq!(meta.total_bytes_processed, Some(json!("0")));
    // Untyped rows, the whole vocabulary and an unknown type, upper-case members.
    let types = [
        "number",
        "bigint",
        "string",
        "geometry",
        "timestamp",
        "object",
        "boolean",
        "variant",
        "unknown",
        "raster",
    ];
    let schema: Vec<Value> = types
        .iter()
        .map(|t| json!({"name": t, "type": t}))
        .collect();
    let body = json!({"ROWS": [{"a": 1}], "SCHEMA": schema});
    let out = Query::new("c", "SELECT 1")
        .parse(response(200, body.to_string().as_bytes()))
        .unwrap();
    assert_eq!(out.rows[0]["a"], 1);
    assert_eq!(out.schema[1].field_type, FieldType::Bigint);
    assert_eq!(out.schema[8].field_type, FieldType::Unknown);
    assert_eq!(out.schema[9].field_type, FieldType::Other("raster".into()));
    assert_eq!(out.schema[9].field_type.to_string(), "raster");
    assert!(out.meta.is_none());
    // A row that does not fit the type says where.
    let err = Query::new("c", "x")
        .rows::<N>()
        .parse(response(200, br#"{"rows":[{"n":"a"}]}"#))
        .unwrap_err();
    let Error::Decode(d) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(d.path(), "rows[0].n");
}

#[test]
fn carto3_error_bodies() {
    let q = Query::new("c", "SELECT 1");
    let err = q
        .parse(response(401, &data("error-401-token-not-defined.json")))
        .unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(err.api_error().unwrap().message(), "Token not defined");
    let err = q
        .parse(response(403, &data("error-403-unauthorized-referer.json")))
        .unwrap_err();
    assert!(err.is_forbidden() && err.is_unauthorized_referer());
    let err = q
        .parse(response(403, &data("error-403-permissions.json")))
        .unwrap_err();
    assert!(err.is_forbidden() && !err.is_unauthorized_referer());
    assert!(
        err.to_string()
            .contains("permissions to read this resource")
    );
    let err = q
        .parse(response(400, &data("error-400-model-hint.json")))
        .unwrap_err();
    assert_eq!(
        err.api_error().unwrap().hint(),
        Some("Perhaps you meant to reference the column \"t.y\"")
    );
    let err = q
        .parse(response(
            404,
            br#"{"error":"Connection not found","description":"no connection named c"}"#,
        ))
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.api_error().unwrap().description(),
        Some("no connection named c")
    );
    assert!(
        err.to_string()
            .contains("Connection not found: no connection named c"),
        "{err}"
    );
    // The raw body is kept when it is not JSON.
    let err = q
        .parse(response(502, b"<html>bad gateway</html>"))
        .unwrap_err();
    assert_eq!(
        err.api_error().unwrap().message(),
        "<html>bad gateway</html>"
    );
}

#[test]
fn limits_say_to_use_a_job() {
    let q = Query::new("c", "SELECT * FROM huge");
    let cases: [(u16, &[u8], QueryLimit); 4] = [
        (504, b"", QueryLimit::Timeout),
        (
            400,
            br#"{"error":"Query timeout: the query ran longer than 60 seconds"}"#,
            QueryLimit::Timeout,
        ),
        (
            400,
            br#"{"error":"The query returned more than 200000 rows"}"#,
            QueryLimit::RowCap,
        ),
        (
            413,
            br#"{"error":"Result too large","description":"maximum number of rows is 200,000"}"#,
            QueryLimit::RowCap,
        ),
    ];
    for (status, body, limit) in cases {
        let err = q.parse(response(status, body)).unwrap_err();
        assert_eq!(err.query_limit(), Some(limit), "{status}");
        assert_eq!(err.status().map(|s| s.as_u16()), Some(status));
        assert!(err.to_string().contains("job"), "{err}");
    }
    // A rate limit is not a timeout.
    let rate = http::Response::builder()
        .status(429)
        .header("retry-after", "2")
        .body(br#"{"error":"Too many requests, timeout 2s"}"#.to_vec())
        .unwrap();
    let err = q.parse(rate).unwrap_err();
    assert!(err.query_limit().is_none() && err.is_rate_limited());
    let plain = q
        .parse(response(
            400,
            br#"{"error":"syntax error at or near \"SELEC\""}"#,
        ))
        .unwrap_err();
    assert!(plain.query_limit().is_none());
}

#[test]
fn job_endpoints_golden() {
    let doc = json_data("job-create-request.json");
    let create = CreateJob::new("your_connection", doc["query"].as_str().unwrap())
        .params(QueryParameters::Named(
            doc["queryParameters"].as_object().unwrap().clone(),
        ))
        .warehouse(Warehouse::BigQuery);
    let req = create.to_request(&ctx()).unwrap();
    insta::assert_snapshot!("job_create", render(&req));
    assert_eq!(body_json(&req), doc);
    assert!(!create.is_idempotent());
    let get = GetJob::new("my conn", "job/7f3a");
    let req = get.to_request(&ctx()).unwrap();
    insta::assert_snapshot!("job_get", render(&req));
    assert!(get.is_idempotent());
    let cancel = CancelJob::new("pg", "job_7f3a");
    let req = cancel.to_request(&ctx()).unwrap();
    assert_eq!(req.method(), Method::DELETE);
    assert_eq!(req.uri().path(), "/v3/sql/pg/job/job_7f3a");
    assert!(cancel.is_idempotent());
    let req = ListJobs.to_request(&ctx()).unwrap();
    insta::assert_snapshot!("job_list", render(&req));
}

#[test]
fn job_documents() {
    let job = CreateJob::new("c", "CALL p()")
        .parse(response(201, &data("job-created.json")))
        .unwrap();
    assert_eq!(job.job_id, "job_7f3a");
    assert_eq!(job.status, JobStatus::Pending);
    assert_eq!(job.external_id.as_deref(), Some("bquxjob_1a2b3c"));
    let got = GetJob::new("c", "j")
        .parse(response(
            200,
            br#"{"id":"j","status":"RUNNING","startedAt":"2026-01-01T00:00:00Z"}"#,
        ))
        .unwrap();
    assert_eq!(got.status, JobStatus::Running);
    assert_eq!(got.other["startedAt"], "2026-01-01T00:00:00Z");
    for (text, status) in [
        ("success", JobStatus::Done),
        ("canceled", JobStatus::Cancelled),
        ("failure", JobStatus::Failed),
        ("queued", JobStatus::Pending),
    ] {
        assert_eq!(JobStatus::parse(text), status);
    }
    let odd = JobStatus::parse("Paused");
    assert_eq!(odd, JobStatus::Other("Paused".into()));
    assert!(!odd.is_final());
    assert_eq!(serde_json::to_value(&odd).unwrap(), "Paused");
    // Cancel answers the job when it is sent back, nothing otherwise.
    assert!(
        CancelJob::new("c", "j")
            .parse(response(204, b""))
            .unwrap()
            .is_none()
    );
    let back = CancelJob::new("c", "j")
        .parse(response(200, br#"{"jobId":"j","status":"cancelled"}"#))
        .unwrap();
    assert_eq!(back.unwrap().status, JobStatus::Cancelled);
    // Lists, bare or wrapped.
    let list = br#"[{"jobId":"a","status":"done"},{"jobId":"b","status":"failed","error":"boom"}]"#;
    let jobs = ListJobs.parse(response(200, list)).unwrap();
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[1].failure_reason(), Some("boom"));
    let wrapped = br#"{"data":[{"jobId":"a","status":"done"}],"total":1}"#;
    assert_eq!(ListJobs.parse(response(200, wrapped)).unwrap().len(), 1);
    assert!(
        ListJobs
            .parse(response(401, &data("error-401-token-not-defined.json")))
            .unwrap_err()
            .is_unauthorized()
    );
}

fn job(status: &str) -> Job {
    serde_json::from_value(
        json!({"jobId": "j1", "status": status, "error": {"message": "relation missing"}}),
    )
    .unwrap()
}

#[test]
fn waiting_for_a_job() {
    let options = WaitOptions::new()
        .with_initial_interval(Duration::from_secs(1))
        .with_max_interval(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(10));
    let mut waiter = JobWaiter::new("j1", options);
    assert_eq!(waiter.poll(Duration::ZERO).unwrap(), WaitStep::Fetch);
    waiter.fetched(Ok(job("running"))).unwrap();
    assert_eq!(
        waiter.poll(Duration::ZERO).unwrap(),
        WaitStep::Sleep(Duration::from_secs(1))
    );
    assert_eq!(
        waiter.poll(Duration::from_secs(1)).unwrap(),
        WaitStep::Fetch
    );
    waiter.fetched(Ok(job("done"))).unwrap();
    let WaitStep::Done(done) = waiter.poll(Duration::from_secs(1)).unwrap() else {
        panic!()
    };
    assert_eq!(done.status, JobStatus::Done);

    let mut failing = JobWaiter::with_job(job("failed"), options);
    let err = failing.poll(Duration::ZERO).unwrap_err();
    let Error::JobFailed(failure) = &err else {
        panic!("{err:?}")
    };
    let (job_id, status, reason) = (
        failure.job_id().to_owned(),
        failure.status().to_owned(),
        failure.reason().map(str::to_owned),
    );
    assert_eq!((job_id.as_str(), status.as_str()), ("j1", "failed"));
    assert_eq!(reason.as_deref(), Some("relation missing"));

    // An unknown status keeps the waiter polling until the deadline.
    let mut odd = JobWaiter::with_job(job("paused"), options);
    assert!(matches!(
        odd.poll(Duration::ZERO).unwrap(),
        WaitStep::Sleep(_)
    ));
    odd.fetched(Ok(job("paused"))).unwrap();
    assert!(matches!(
        odd.poll(Duration::from_secs(10)).unwrap_err(),
        Error::WaitTimeout(_)
    ));
}
