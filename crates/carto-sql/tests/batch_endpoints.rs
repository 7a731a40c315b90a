//! Batch API endpoints and models against CARTO's upstream payloads, with fake
//! transports: no server.

use std::sync::Mutex;

use carto_core::{
    AuthPlacement, BaseUrl, Credentials, Endpoint, Error, HttpRequest, HttpResponse, RequestContext,
};
use carto_sql::batch::{
    AsyncBatchClient, BatchClient, BatchJob, CreateJob, FallbackQuery, JobQueries, JobQuery,
    JobStatus, MAX_PAYLOAD_LEN,
};
use carto_transport::{async_transport_fn, transport_fn};

const FAKE_TOKEN: &str = "fake-token-0123";

fn data(path: &str) -> Vec<u8> {
    carto_test_support::fixture(path).to_vec()
}

fn job(path: &str) -> BatchJob {
    serde_json::from_slice(&data(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn ctx() -> RequestContext {
    let creds = Credentials::new(
        BaseUrl::parse("https://alice.carto.com").unwrap(),
        FAKE_TOKEN,
    );
    RequestContext::new(creds).with_client_id(None)
}

fn response(status: u16, body: Vec<u8>) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .body(body)
        .unwrap()
}

/// A request as a snapshot: method, URL, headers (sorted) and body.
fn show(request: &HttpRequest) -> String {
    let mut headers: Vec<String> = request
        .headers()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
        .collect();
    headers.sort();
    let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
    format!(
        "{} {}\n{}\n\n{}",
        request.method(),
        request.uri(),
        headers.join("\n"),
        serde_json::to_string_pretty(&body).unwrap()
    )
}

#[test]
fn every_job_fixture_parses() {
    let pending = job("batch/job-pending.json");
    assert_eq!(pending.job_id, "de305d54-75b4-431b-adb2-eb6b9e546014");
    assert_eq!(pending.user.as_deref(), Some("cartofante"));
    assert_eq!(pending.status, JobStatus::Pending);
    assert!(!pending.status.is_final());
    assert_eq!(
        pending.query,
        JobQueries::Single("UPDATE airports SET type = 'international'".into())
    );
    assert_eq!(
        pending.created_at.unwrap().to_utc().to_rfc3339(),
        "2015-12-15T07:36:25+00:00"
    );

    let done = job("batch/job-done.json");
    assert_eq!(done.status, JobStatus::Done);
    assert_eq!(done.job_id, "bd07b045-262f-432e-a7a1-82dba2cbbbb4");
    assert_eq!(
        done.updated_at.unwrap().to_utc().timestamp_millis() % 1000,
        786
    );

    let cancelled = job("batch/job-cancelled.json");
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    assert!(cancelled.status.is_final());

    let multi = job("batch/job-multi-query.json");
    let JobQueries::Multi(queries) = &multi.query else {
        panic!("not multi: {:?}", multi.query)
    };
    assert_eq!(queries.len(), 3);
    assert_eq!(queries[1].query, "DROP TABLE airports");
    assert!(queries.iter().all(|q| q.status == Some(JobStatus::Pending)));

    let failed = job("batch/job-failed.json");
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.fallback_status, Some(JobStatus::Done));
    assert_eq!(failed.job_id, "");
    let JobQueries::Fallback(f) = &failed.query else {
        panic!("not fallback")
    };
    assert_eq!(
        f.onerror.as_deref(),
        Some("SELECT * FROM untitle_table_4 limit 1")
    );
    assert_eq!(f.query[0].status, Some(JobStatus::Failed));
    assert_eq!(
        failed.failure_reason(),
        Some("relation \"nonexistent_table\" does not exist")
    );

    let fallback = job("batch/job-fallback.json");
    let JobQueries::Fallback(f) = &fallback.query else {
        panic!("not fallback")
    };
    assert_eq!(f.query.len(), 2);
    assert_eq!(f.query[1].fallback_status, Some(JobStatus::Done));
    assert_eq!(
        f.query[0].onsuccess.as_deref(),
        Some("SELECT * FROM untitle_table_4 limit 2")
    );
    assert_eq!(
        f.onsuccess.as_deref(),
        Some("SELECT * FROM untitle_table_4 limit 5")
    );
    assert_eq!(fallback.failure_reason(), None);
}

#[test]
fn unknown_members_and_canceled_spelling_are_tolerated() {
    let job: BatchJob = serde_json::from_str(
        r#"{"job_id":"x","status":"canceled","query":"SELECT 1","host":"db1","port":5432,
            "created_at":"2015-12-15T07:36:25.123Z"}"#,
    )
    .unwrap();
    assert_eq!(job.status, JobStatus::Cancelled);
    assert_eq!(job.extra["host"], "db1");
    assert_eq!(job.extra["port"], 5432);
}

#[test]
fn creation_bodies() {
    let single = CreateJob::new("UPDATE airports SET type = 'international'")
        .to_request(&ctx())
        .unwrap();
    insta::assert_snapshot!("create_single", show(&single));
    let expected: serde_json::Value =
        serde_json::from_slice(&data("batch/create-request.json")).unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(single.body()).unwrap(),
        expected
    );

    let multi = CreateJob::new(JobQuery::multi([
        "CREATE TABLE world_airports AS SELECT 1 AS a",
        "DROP TABLE airports",
    ]))
    .to_request(&ctx())
    .unwrap();
    insta::assert_snapshot!("create_multi", show(&multi));

    let fallback = CreateJob::new(
        JobQuery::fallback([
            FallbackQuery::new("UPDATE nasdaq SET price = '$101.00' WHERE company = 'CARTO'"),
            FallbackQuery::new("UPDATE down_jones SET price = '$100.00' WHERE company = 'Esri'"),
        ])
        .onsuccess("UPDATE market_status SET status = 'updated', updated_at = NOW()")
        .onerror("UPDATE market_status SET status = 'outdated'"),
    )
    .to_request(&ctx())
    .unwrap();
    let expected: serde_json::Value =
        serde_json::from_slice(&data("batch/create-request-fallback.json")).unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(fallback.body()).unwrap(),
        expected
    );

    let per_query = CreateJob::new(
        JobQuery::fallback([FallbackQuery::new("SELECT pg_sleep(1)")
            .onsuccess("INSERT INTO log VALUES ('<%= job_id %>', 'ok')")
            .onerror("INSERT INTO log VALUES ('<%= job_id %>', '<%= error_message %>')")
            .timeout(std::time::Duration::from_secs(30))])
        .onerror("SELECT 1"),
    )
    .to_request(&ctx())
    .unwrap();
    insta::assert_snapshot!("create_fallback", show(&per_query));
}

#[test]
fn key_in_body_goes_into_the_json() {
    let ctx = ctx().with_auth_placement(AuthPlacement::BodyField);
    let request = CreateJob::new("SELECT 1").to_request(&ctx).unwrap();
    let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
    assert_eq!(body["api_key"], FAKE_TOKEN);
    assert!(request.headers().get("authorization").is_none());
}

#[test]
fn payload_over_16_kb_is_refused_before_sending() {
    let client = BatchClient::new(transport_fn(|_| panic!("nothing may be sent")), ctx());
    // The body is {"query":"<sql>"}: 12 bytes around the SQL.
    let sql = format!("SELECT '{}'", "x".repeat(MAX_PAYLOAD_LEN));
    let err = client.create(sql.as_str()).unwrap_err();
    assert!(err.is_invalid_input(), "{err:?}");
    assert!(err.to_string().contains("16384"), "{err}");

    let err = client
        .create(JobQuery::multi(Vec::<String>::new()))
        .unwrap_err();
    assert!(err.is_invalid_input());
    let err = client.get("").unwrap_err();
    assert!(err.is_invalid_input());

    // Just under the limit passes (counted in UTF-16 units, as CARTO counts).
    let fits = "é".repeat(MAX_PAYLOAD_LEN - 12);
    let request = CreateJob::new(fits.as_str()).to_request(&ctx()).unwrap();
    assert!(request.body().len() > MAX_PAYLOAD_LEN);
}

#[test]
fn sync_client_paths_and_errors() {
    let seen = Mutex::new(Vec::new());
    let client = BatchClient::new(
        transport_fn(|req: HttpRequest| {
            seen.lock()
                .unwrap()
                .push(format!("{} {}", req.method(), req.uri().path()));
            Ok(match (req.method().as_str(), req.uri().path()) {
                ("POST", "/api/v2/sql/job") => response(201, data("batch/job-pending.json")),
                ("GET", "/api/v2/sql/job/irrelevantJob") => {
                    response(400, data("batch/error-not-found.json"))
                }
                ("GET", _) => response(200, data("batch/job-done.json")),
                ("DELETE", "/api/v2/sql/job/done-job") => {
                    response(400, data("batch/error-cancel-done.json"))
                }
                ("DELETE", _) => response(200, data("batch/job-cancelled.json")),
                other => panic!("unexpected {other:?}"),
            })
        }),
        ctx(),
    );
    let created = client
        .create("UPDATE airports SET type = 'international'")
        .unwrap();
    assert_eq!(created.status, JobStatus::Pending);
    assert_eq!(client.get(&created.job_id).unwrap().status, JobStatus::Done);
    assert_eq!(
        client.cancel(&created.job_id).unwrap().status,
        JobStatus::Cancelled
    );

    let err = client.get("irrelevantJob").unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));
    assert_eq!(
        err.api_error().unwrap().messages(),
        ["Job with id irrelevantJob not found"]
    );
    let err = client.cancel("done-job").unwrap_err();
    assert!(matches!(err, Error::Api(_)));
    assert_eq!(
        err.api_error().unwrap().message(),
        "Cannot set status from done to cancelled"
    );
    assert_eq!(
        seen.into_inner().unwrap(),
        [
            "POST /api/v2/sql/job",
            "GET /api/v2/sql/job/de305d54-75b4-431b-adb2-eb6b9e546014",
            "DELETE /api/v2/sql/job/de305d54-75b4-431b-adb2-eb6b9e546014",
            "GET /api/v2/sql/job/irrelevantJob",
            "DELETE /api/v2/sql/job/done-job",
        ]
    );
}

#[test]
fn permission_denied_is_forbidden() {
    let client = BatchClient::new(
        transport_fn(|_| Ok(response(403, data("batch/error-permission-denied.json")))),
        ctx(),
    );
    let err = client.create("SELECT 1").unwrap_err();
    assert!(err.is_forbidden());
    assert_eq!(err.api_error().unwrap().message(), "permission denied");
    let client = BatchClient::new(
        transport_fn(|_| Ok(response(400, data("batch/error-missing-query.json")))),
        ctx(),
    );
    let err = client.get("x").unwrap_err();
    assert_eq!(
        err.api_error().unwrap().message(),
        "You must indicate a valid SQL"
    );
}

#[tokio::test]
async fn async_client_paths_and_errors() {
    let client = AsyncBatchClient::new(
        async_transport_fn(|req: HttpRequest| async move {
            Ok(match req.method().as_str() {
                "POST" => {
                    let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
                    assert_eq!(body["query"][1], "SELECT 2");
                    response(201, data("batch/job-multi-query.json"))
                }
                "GET" => response(200, data("batch/job-done.json")),
                _ => response(400, data("batch/error-cancel-done.json")),
            })
        }),
        ctx(),
    );
    let job = client
        .create(JobQuery::multi(["SELECT 1", "SELECT 2"]))
        .await
        .unwrap();
    assert_eq!(job.query.queries().len(), 3);
    assert_eq!(client.get("x").await.unwrap().status, JobStatus::Done);
    let err = client.cancel("x").await.unwrap_err();
    assert_eq!(
        err.api_error().unwrap().message(),
        "Cannot set status from done to cancelled"
    );
}

#[test]
fn debug_hides_the_token() {
    let client = BatchClient::new(transport_fn(|_| panic!()), ctx());
    let shown = format!("{client:?}");
    assert!(!shown.contains(FAKE_TOKEN), "{shown}");
}
