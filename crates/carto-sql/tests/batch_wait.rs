//! The job waiter with a fake clock: the sans-IO state machine alone, then driven by
//! the sync and async clients over fake transports with an injected clock and sleep.

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carto_core::{BaseUrl, Credentials, Error, HttpRequest, HttpResponse, RequestContext};
use carto_sql::batch::{AsyncBatchClient, BatchClient, BatchJob, JobWaiter, WaitOptions, WaitStep};
use carto_transport::{Transport, async_transport_fn, transport_fn};

fn ctx() -> RequestContext {
    RequestContext::new(Credentials::new(
        BaseUrl::parse("https://alice.carto.com").unwrap(),
        "fake-token",
    ))
}

fn job_json(status: &str, extra: &str) -> String {
    format!(
        r#"{{"user":"alice","status":"{status}","query":"SELECT 1","created_at":"2026-01-01T00:00:00.000Z","updated_at":"2026-01-01T00:00:01.000Z"{extra},"job_id":"j1"}}"#
    )
}

fn job(status: &str) -> BatchJob {
    serde_json::from_str(&job_json(status, "")).unwrap()
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Runs a waiter against a scripted sequence of statuses with a fake clock where each
/// read takes `read_time`; returns the outcome and the sleeps asked for.
fn run(
    statuses: &[&str],
    options: WaitOptions,
    read_time: Duration,
) -> (Result<BatchJob, Error>, Vec<Duration>) {
    let mut script: VecDeque<BatchJob> = statuses.iter().map(|s| job(s)).collect();
    let mut waiter = JobWaiter::new("j1", options);
    let mut now = Duration::ZERO;
    let mut sleeps = Vec::new();
    loop {
        match waiter.poll(now) {
            Ok(WaitStep::Fetch) => {
                now += read_time;
                let next = if script.len() > 1 {
                    script.pop_front().unwrap()
                } else {
                    script.front().unwrap().clone()
                };
                waiter.fetched(Ok(next)).unwrap();
            }
            Ok(WaitStep::Sleep(d)) => {
                assert!(!d.is_zero(), "a zero sleep would spin");
                sleeps.push(d);
                now += d;
            }
            Ok(WaitStep::Done(job)) => return (Ok(*job), sleeps),
            Err(e) => return (Err(e), sleeps),
        }
    }
}

#[test]
fn done_after_pending_and_running() {
    let (result, sleeps) = run(
        &["pending", "running", "running", "done"],
        WaitOptions::new(),
        Duration::ZERO,
    );
    assert_eq!(result.unwrap().status.as_str(), "done");
    assert_eq!(sleeps, [secs(1.0), secs(1.5), secs(2.25)]);
}

#[test]
fn backoff_grows_to_the_cap() {
    let options = WaitOptions::new()
        .with_initial_interval(secs(1.0))
        .with_multiplier(2.0)
        .with_max_interval(secs(5.0))
        .with_timeout(Duration::from_secs(1000));
    let mut statuses = vec!["running"; 8];
    statuses.push("done");
    let (result, sleeps) = run(&statuses, options, Duration::ZERO);
    assert!(result.is_ok());
    assert_eq!(sleeps, [1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0].map(secs));
}

#[test]
fn failed_job_carries_its_reason() {
    let mut waiter = JobWaiter::new("j1", WaitOptions::new());
    assert_eq!(waiter.poll(Duration::ZERO).unwrap(), WaitStep::Fetch);
    let failed: BatchJob = serde_json::from_str(&job_json(
        "failed",
        r#","failed_reason":"relation \"nope\" does not exist""#,
    ))
    .unwrap();
    waiter.update(failed);
    match waiter.poll(Duration::ZERO).unwrap_err() {
        Error::JobFailed(failure) => {
            let (job_id, status, reason) = (
                failure.job_id().to_owned(),
                failure.status().to_owned(),
                failure.reason().map(str::to_owned),
            );
            assert_eq!(job_id, "j1");
            assert_eq!(status, "failed");
            assert_eq!(reason.as_deref(), Some("relation \"nope\" does not exist"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn failed_multi_query_job_takes_the_query_reason() {
    let failed: BatchJob = serde_json::from_str(
        r#"{"job_id":"j2","status":"failed","query":[{"query":"SELECT 1","status":"done"},
            {"query":"SELECT * FROM nope","status":"failed","failed_reason":"relation \"nope\" does not exist"}]}"#,
    )
    .unwrap();
    let mut waiter = JobWaiter::with_job(failed, WaitOptions::new());
    let err = waiter.poll(Duration::ZERO).unwrap_err();
    assert_eq!(
        err.to_string(),
        "batch job j2 ended with status failed: relation \"nope\" does not exist"
    );
}

#[test]
fn cancelled_and_unknown_fail() {
    for status in ["cancelled", "canceled", "unknown", "skipped"] {
        let (result, _) = run(&["running", status], WaitOptions::new(), Duration::ZERO);
        match result.unwrap_err() {
            Error::JobFailed(failure) => {
                let (s, reason) = (
                    failure.status().to_owned(),
                    failure.reason().map(str::to_owned),
                );
                let expected = if status == "canceled" {
                    "cancelled"
                } else {
                    status
                };
                assert_eq!(s, expected);
                assert_eq!(reason, None);
            }
            other => panic!("{status}: {other:?}"),
        }
    }
}

#[test]
fn timeout_after_a_last_read_at_the_deadline() {
    let options = WaitOptions::new()
        .with_timeout(secs(10.0))
        .with_initial_interval(secs(4.0))
        .with_multiplier(1.0);
    let reads = Cell::new(0);
    let mut waiter = JobWaiter::new("j1", options);
    let mut now = Duration::ZERO;
    let mut sleeps = Vec::new();
    let err = loop {
        match waiter.poll(now) {
            Ok(WaitStep::Fetch) => {
                reads.set(reads.get() + 1);
                waiter.update(job("running"));
            }
            Ok(WaitStep::Sleep(d)) => {
                sleeps.push(d);
                now += d;
            }
            Ok(WaitStep::Done(_)) => panic!("never done"),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, Error::WaitTimeout(d) if d == secs(10.0)),
        "{err:?}"
    );
    // Reads at 0, 4, 8 and at the deadline (10), the last sleep cut to fit.
    assert_eq!(sleeps, [secs(4.0), secs(4.0), secs(2.0)]);
    assert_eq!(reads.get(), 4);
}

#[test]
fn slow_reads_count_against_the_timeout() {
    let options = WaitOptions::new().with_timeout(secs(5.0));
    let (result, sleeps) = run(&["running"], options, secs(3.0));
    assert!(matches!(result, Err(Error::WaitTimeout(_))));
    // Read (0-3 s), sleep 1 s, read (4-7 s): past the deadline.
    assert_eq!(sleeps, [secs(1.0)]);
}

#[test]
fn a_final_job_in_hand_is_not_read_again() {
    let mut waiter = JobWaiter::with_job(job("done"), WaitOptions::new());
    assert!(matches!(waiter.poll(Duration::ZERO), Ok(WaitStep::Done(_))));
    let mut waiter = JobWaiter::with_job(job("pending"), WaitOptions::new());
    assert_eq!(
        waiter.poll(Duration::ZERO).unwrap(),
        WaitStep::Sleep(secs(1.0))
    );
    // Polled early (a spurious wake-up): sleep for the rest only.
    assert_eq!(
        waiter.poll(secs(0.25)).unwrap(),
        WaitStep::Sleep(secs(0.75))
    );
    assert_eq!(waiter.poll(secs(1.0)).unwrap(), WaitStep::Fetch);
}

fn ok(body: String) -> HttpResponse {
    http::Response::builder()
        .status(200)
        .body(body.into_bytes())
        .unwrap()
}

/// Waits for job `j1` on a fake clock that only the sleeps move: the outcome, the
/// pauses and the time on the clock at the end.
fn wait_on_fake_clock<T: Transport>(
    client: &BatchClient<T>,
    options: WaitOptions,
) -> (Result<BatchJob, Error>, Vec<Duration>, Duration) {
    let now = Cell::new(Duration::ZERO);
    let mut slept = Vec::new();
    let job = client.wait_with_clock(
        "j1",
        &options,
        || now.get(),
        |d| {
            slept.push(d);
            now.set(now.get() + d);
        },
    );
    (job, slept, now.get())
}

#[test]
fn sync_client_waits_with_injected_clock_and_sleep() {
    let statuses = Mutex::new(VecDeque::from(["pending", "running", "done"]));
    let client = BatchClient::new(
        transport_fn(|req: HttpRequest| {
            assert_eq!(req.uri().path(), "/api/v2/sql/job/j1");
            let s = statuses.lock().unwrap().pop_front().unwrap();
            Ok(ok(job_json(s, "")))
        }),
        ctx(),
    );
    let (job, slept, _) = wait_on_fake_clock(&client, WaitOptions::new());
    let job = job.unwrap();
    assert!(job.status.is_done());
    assert_eq!(slept, [secs(1.0), secs(1.5)]);

    // A job that never finishes hits the timeout, with no real sleeping.
    let client = BatchClient::new(transport_fn(|_| Ok(ok(job_json("running", "")))), ctx());
    let (job, _, now) = wait_on_fake_clock(
        &client,
        WaitOptions::new().with_timeout(Duration::from_secs(600)),
    );
    let err = job.unwrap_err();
    assert!(matches!(err, Error::WaitTimeout(_)));
    assert_eq!(now, Duration::from_secs(600));
}

#[test]
fn rate_limited_reads_are_retried_after_retry_after() {
    // The waiter's own rule, with the transport-level retries off (with them on, the
    // 429 is retried inside `send` and the waiter never sees it).
    let calls = Mutex::new(0);
    let client = BatchClient::new(
        transport_fn(|_req: HttpRequest| {
            let mut n = calls.lock().unwrap();
            *n += 1;
            Ok(match *n {
                1 => http::Response::builder()
                    .status(429)
                    .header("retry-after", "5")
                    .header("carto-rate-limit-limit", "2")
                    .header("carto-rate-limit-remaining", "0")
                    .header("carto-rate-limit-reset", "5")
                    .body(
                        br#"{"error":["You are over platform's limits. Please contact us to know more details"],"context":"limit","detail":"rate-limit"}"#
                            .to_vec(),
                    )
                    .unwrap(),
                2 => ok(job_json("running", "")),
                _ => ok(job_json("done", "")),
            })
        }),
        ctx().with_retry_policy(carto_core::RetryPolicy::none()),
    );
    let (job, slept, _) = wait_on_fake_clock(&client, WaitOptions::new());
    let job = job.unwrap();
    assert!(job.status.is_done());
    assert_eq!(slept, [secs(5.0), secs(1.0)]);
    assert_eq!(*calls.lock().unwrap(), 3);

    // Other errors end the wait at once.
    let client = BatchClient::new(
        transport_fn(|_| {
            Ok(http::Response::builder()
                .status(400)
                .body(br#"{"error":["Job with id j1 not found"]}"#.to_vec())
                .unwrap())
        }),
        ctx(),
    );
    let err = client
        .wait_with_clock(
            "j1",
            &WaitOptions::new(),
            || Duration::ZERO,
            |_| panic!("no sleep"),
        )
        .unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));
}

#[test]
fn rate_limit_respects_the_timeout() {
    let mut waiter = JobWaiter::new("j1", WaitOptions::new().with_timeout(secs(3.0)));
    assert_eq!(waiter.poll(Duration::ZERO).unwrap(), WaitStep::Fetch);
    waiter.rate_limited(Some(secs(60.0)));
    assert_eq!(
        waiter.poll(Duration::ZERO).unwrap(),
        WaitStep::Sleep(secs(3.0))
    );
    assert_eq!(waiter.poll(secs(3.0)).unwrap(), WaitStep::Fetch);
    waiter.rate_limited(None);
    assert!(matches!(waiter.poll(secs(3.0)), Err(Error::WaitTimeout(_))));
}

#[test]
fn sync_create_and_wait_with_real_sleep() {
    let reads = Mutex::new(0);
    let client = BatchClient::new(
        transport_fn(|req: HttpRequest| {
            Ok(match req.method().as_str() {
                "POST" => http::Response::builder()
                    .status(201)
                    .body(job_json("pending", "").into_bytes())
                    .unwrap(),
                _ => {
                    let mut n = reads.lock().unwrap();
                    *n += 1;
                    ok(job_json(if *n < 2 { "running" } else { "done" }, ""))
                }
            })
        }),
        ctx(),
    );
    let options = WaitOptions::new().with_initial_interval(Duration::from_millis(1));
    let job = client.create_and_wait_with("SELECT 1", &options).unwrap();
    assert!(job.status.is_done());
    assert_eq!(*reads.lock().unwrap(), 2);
}

#[tokio::test]
async fn async_client_waits_with_injected_sleep_and_fails_typed() {
    let statuses = Arc::new(Mutex::new(VecDeque::from(["running", "failed"])));
    let client = AsyncBatchClient::new(
        async_transport_fn(move |_req: HttpRequest| {
            let s = statuses.lock().unwrap().pop_front().unwrap();
            async move {
                Ok(ok(job_json(
                    s,
                    r#","failed_reason":"canceling statement due to statement timeout""#,
                )))
            }
        }),
        ctx(),
    );
    let now = Arc::new(Mutex::new(Duration::ZERO));
    let clock = now.clone();
    let err = client
        .wait_with_clock(
            "j1",
            &WaitOptions::new(),
            move || *clock.lock().unwrap(),
            |d| {
                let now = now.clone();
                async move {
                    *now.lock().unwrap() += d;
                }
            },
        )
        .await
        .unwrap_err();
    match err {
        Error::JobFailed(failure) => assert_eq!(
            failure.reason(),
            Some("canceling statement due to statement timeout")
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn async_create_and_wait_with_tokio_sleep() {
    let reads = Arc::new(Mutex::new(0));
    let client = AsyncBatchClient::new(
        async_transport_fn(move |req: HttpRequest| {
            let reads = reads.clone();
            async move {
                Ok(match req.method().as_str() {
                    "POST" => http::Response::builder()
                        .status(201)
                        .body(job_json("pending", "").into_bytes())
                        .unwrap(),
                    _ => {
                        let mut n = reads.lock().unwrap();
                        *n += 1;
                        ok(job_json(if *n < 3 { "running" } else { "done" }, ""))
                    }
                })
            }
        }),
        ctx(),
    );
    let options = WaitOptions::new().with_initial_interval(Duration::from_millis(1));
    let job = client
        .create_and_wait_with("SELECT 1", &options)
        .await
        .unwrap();
    assert!(job.status.is_done());
}

#[test]
fn fetched_decides_on_rate_limits_sans_io() {
    use carto_core::Endpoint;
    use carto_sql::batch::GetJob;

    let refused = GetJob::new("j1").parse(
        http::Response::builder()
            .status(429)
            .header("retry-after", "5")
            .body(br#"{"error":["You are over platform's limits"]}"#.to_vec())
            .unwrap(),
    );
    assert!(refused.as_ref().unwrap_err().is_rate_limited());
    let mut waiter = JobWaiter::new("j1", WaitOptions::new());
    assert_eq!(waiter.poll(Duration::ZERO).unwrap(), WaitStep::Fetch);
    // A refused read is no error: the waiter sleeps for Retry-After, then reads again.
    waiter.fetched(refused).unwrap();
    assert_eq!(
        waiter.poll(Duration::ZERO).unwrap(),
        WaitStep::Sleep(secs(5.0))
    );
    assert_eq!(waiter.poll(secs(5.0)).unwrap(), WaitStep::Fetch);
    waiter.fetched(Ok(job("done"))).unwrap();
    assert!(matches!(waiter.poll(secs(5.0)), Ok(WaitStep::Done(_))));

    // Any other failed read ends the wait with its error.
    let missing = GetJob::new("j1").parse(
        http::Response::builder()
            .status(400)
            .body(br#"{"error":["Job with id j1 not found"]}"#.to_vec())
            .unwrap(),
    );
    let mut waiter = JobWaiter::new("j1", WaitOptions::new());
    assert_eq!(waiter.poll(Duration::ZERO).unwrap(), WaitStep::Fetch);
    let err = waiter.fetched(missing).unwrap_err();
    assert_eq!(err.status(), Some(http::StatusCode::BAD_REQUEST));
}
