//! The Batch API end to end against the in-process emulator (real HTTP, real
//! PostgreSQL), with the sync client on ureq and the async client on reqwest: the three
//! job forms, failure reasons, cancel of a running job, CARTO's errors.

use std::time::{Duration, Instant};

use carto_core::{Credentials, Error, RequestContext};
use carto_emulator::Emulator;
use carto_sql::batch::{
    AsyncBatchClient, BatchClient, FallbackQuery, JobQueries, JobQuery, JobStatus, WaitOptions,
};
use carto_transport::{AsyncTransport, ReqwestTransport, Transport, UreqTransport};
use http::Method;

fn quick() -> WaitOptions {
    WaitOptions::new()
        .with_initial_interval(Duration::from_millis(50))
        .with_max_interval(Duration::from_millis(500))
        .with_timeout(Duration::from_secs(60))
}

fn sql_request(creds: &Credentials, q: &str) -> http::Request<Vec<u8>> {
    RequestContext::new(creds.clone())
        .request(Method::POST, &["api", "v2", "sql"])
        .form([("q", q)])
        .build()
        .unwrap()
}

/// The single value of a one-row, one-column query, through the SQL API.
fn value_of(response: &http::Response<Vec<u8>>) -> serde_json::Value {
    carto_core::endpoint::check_status(response).unwrap();
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    let row = body["rows"][0].as_object().unwrap().clone();
    row.into_iter().next().unwrap().1
}

fn assert_failed(err: &Error, expected_status: &str, reason_contains: Option<&str>) {
    match err {
        Error::JobFailed(failure) => {
            let (status, reason) = (failure.status(), failure.reason());
            assert_eq!(status, expected_status, "{err}");
            if let Some(text) = reason_contains {
                assert!(reason.is_some_and(|r| r.contains(text)), "{err}");
            }
        }
        other => panic!("expected a failed job, got {other:?}"),
    }
}

#[test]
fn sync_batch_against_the_emulator() {
    let emulator = Emulator::builder().user("alice").start_blocking().unwrap();
    let creds = emulator.user("alice").unwrap().credentials();
    let transport = UreqTransport::new();
    let batch = BatchClient::from_credentials(transport.clone(), creds.clone());
    let query = |q: &str| value_of(&transport.send(sql_request(&creds, q)).unwrap());

    // One SQL text.
    let job = batch
        .create_and_wait_with(
            "CREATE TABLE jobs_e2e (id int, note text); INSERT INTO jobs_e2e VALUES (1, 'single')",
            &quick(),
        )
        .unwrap();
    assert_eq!(job.status, JobStatus::Done);
    assert_eq!(job.user.as_deref(), Some("alice"));
    assert!(!job.job_id.is_empty());

    // A list of queries.
    let job = batch
        .create_and_wait_with(
            JobQuery::multi([
                "INSERT INTO jobs_e2e VALUES (2, 'multi')",
                "INSERT INTO jobs_e2e VALUES (3, 'multi')",
            ]),
            &quick(),
        )
        .unwrap();
    let JobQueries::Multi(queries) = &job.query else {
        panic!("{:?}", job.query)
    };
    assert!(queries.iter().all(|q| q.status == Some(JobStatus::Done)));
    assert_eq!(query("SELECT count(*) FROM jobs_e2e"), 3);

    // The fallback form: the failing query's onerror and the job's onerror run.
    let err = batch
        .create_and_wait_with(
            JobQuery::fallback([
                FallbackQuery::new("INSERT INTO jobs_e2e VALUES (4, 'fallback')")
                    .onsuccess("INSERT INTO jobs_e2e VALUES (5, 'onsuccess')"),
                FallbackQuery::new("SELECT * FROM jobs_e2e_nope")
                    .onerror("INSERT INTO jobs_e2e VALUES (6, 'query onerror')")
                    .timeout(Duration::from_secs(30)),
            ])
            .onerror("INSERT INTO jobs_e2e VALUES (7, 'job onerror')"),
            &quick(),
        )
        .unwrap_err();
    assert_failed(
        &err,
        "failed",
        Some("relation \"jobs_e2e_nope\" does not exist"),
    );
    let Error::JobFailed(failure) = &err else {
        unreachable!()
    };
    let job_id = failure.job_id();
    let job = batch.get(job_id).unwrap();
    let JobQueries::Fallback(f) = &job.query else {
        panic!("{:?}", job.query)
    };
    assert_eq!(f.query[0].status, Some(JobStatus::Done));
    assert_eq!(f.query[1].status, Some(JobStatus::Failed));
    assert_eq!(job.fallback_status, Some(JobStatus::Done));
    assert_eq!(
        query("SELECT string_agg(id::text, ',' ORDER BY id) FROM jobs_e2e WHERE id > 3"),
        "4,5,6,7"
    );

    // A failure reason of a single query.
    let err = batch
        .create_and_wait_with("UPDATE jobs_e2e_nope SET a = 1", &quick())
        .unwrap_err();
    assert_failed(
        &err,
        "failed",
        Some("relation \"jobs_e2e_nope\" does not exist"),
    );

    // Cancel a running job: it stops and waiting reports it cancelled.
    let job = batch.create("SELECT pg_sleep(30)").unwrap();
    let start = Instant::now();
    while batch.get(&job.job_id).unwrap().status != JobStatus::Running {
        assert!(start.elapsed() < Duration::from_secs(30), "never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cancelled = batch.cancel(&job.job_id).unwrap();
    assert_eq!(cancelled.status, JobStatus::Cancelled);
    let err = batch.wait_with(&job.job_id, &quick()).unwrap_err();
    assert_failed(&err, "cancelled", None);
    // The backend query was stopped (give PostgreSQL a moment to act on the cancel).
    let start = Instant::now();
    while query(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' \
         AND query LIKE '%pg_sleep(30)%' AND query NOT LIKE '%pg_stat_activity%'",
    ) != 0
    {
        assert!(start.elapsed() < Duration::from_secs(10), "still running");
        std::thread::sleep(Duration::from_millis(50));
    }

    // A finished job cannot be cancelled; an unknown id is a 400.
    let done = batch.create_and_wait_with("SELECT 1", &quick()).unwrap();
    let err = batch.cancel(&done.job_id).unwrap_err();
    assert_eq!(
        err.api_error().unwrap().message(),
        "Cannot set status from done to cancelled"
    );
    let err = batch
        .get("00000000-0000-4000-8000-000000000000")
        .unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));

    // Only the master key may use the Batch API.
    let public = BatchClient::from_credentials(
        transport.clone(),
        emulator.user("alice").unwrap().default_public_credentials(),
    );
    let err = public.create("SELECT 1").unwrap_err();
    assert!(err.is_forbidden(), "{err:?}");
    assert_eq!(err.api_error().unwrap().message(), "permission denied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_batch_against_the_emulator() {
    let emulator = Emulator::builder().user("alice").start().await.unwrap();
    let creds = emulator.user("alice").unwrap().credentials();
    let transport = ReqwestTransport::new();
    let batch = AsyncBatchClient::from_credentials(transport.clone(), creds.clone());

    let job = batch
        .create_and_wait_with("CREATE TABLE jobs_e2e (id int)", &quick())
        .await
        .unwrap();
    assert!(job.status.is_done());
    let job = batch
        .create_and_wait_with(
            JobQuery::multi([
                "INSERT INTO jobs_e2e VALUES (1)",
                "INSERT INTO jobs_e2e VALUES ('not a number')",
                "INSERT INTO jobs_e2e VALUES (3)",
            ]),
            &quick(),
        )
        .await
        .unwrap_err();
    assert_failed(
        &job,
        "failed",
        Some("invalid input syntax for type integer"),
    );
    let response = transport
        .send(sql_request(&creds, "SELECT count(*) FROM jobs_e2e"))
        .await
        .unwrap();
    assert_eq!(value_of(&response), 1);

    let job = batch
        .create_and_wait_with(
            JobQuery::fallback([FallbackQuery::new("INSERT INTO jobs_e2e VALUES (10)")])
                .onsuccess("INSERT INTO jobs_e2e VALUES (11)"),
            &quick(),
        )
        .await
        .unwrap();
    assert_eq!(job.fallback_status, Some(JobStatus::Done));

    let job = batch.create("SELECT pg_sleep(30)").await.unwrap();
    let start = Instant::now();
    while batch.get(&job.job_id).await.unwrap().status != JobStatus::Running {
        assert!(start.elapsed() < Duration::from_secs(30), "never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        batch.cancel(&job.job_id).await.unwrap().status,
        JobStatus::Cancelled
    );
    let err = batch.wait_with(&job.job_id, &quick()).await.unwrap_err();
    assert_failed(&err, "cancelled", None);
    let err = batch.cancel(&job.job_id).await.unwrap_err();
    assert_eq!(
        err.api_error().unwrap().message(),
        "Cannot set status from cancelled to cancelled"
    );

    let public = AsyncBatchClient::from_credentials(
        transport.clone(),
        emulator.user("alice").unwrap().default_public_credentials(),
    );
    assert!(public.get(&job.job_id).await.unwrap_err().is_forbidden());
}
