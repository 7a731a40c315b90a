//! Batch jobs (async, on the reqwest transport): a multi-query job that builds a table,
//! a job with fallbacks, and a failing job whose error carries the failure reason.
//!
//! With `CARTO_API_KEY` (a master key) and `CARTO_BASE_URL` in the environment it
//! talks to that account; otherwise it starts a local CARTO emulator with a user
//! `alice`.
//!
//! ```text
//! cargo run --example batch_jobs
//! ```

use std::error::Error;
use std::time::Duration;

use carto::sql::batch::FallbackQuery;
use carto::{Client, Credentials, JobQuery, WaitOptions};
use carto_emulator::Emulator;

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut _emulator = None;
    let credentials = if std::env::var_os("CARTO_API_KEY").is_some()
        && std::env::var_os("CARTO_BASE_URL").is_some()
    {
        Credentials::from_env()?
    } else {
        let emulator = Emulator::builder().user("alice").start().await?;
        let credentials = emulator.user("alice").ok_or("no user alice")?.credentials();
        println!(
            "Started a local CARTO emulator at {}",
            credentials.base_url()
        );
        _emulator = Some(emulator);
        credentials
    };
    let batch = Client::new(credentials)?.batch();
    let wait = WaitOptions::new()
        .with_initial_interval(Duration::from_millis(200))
        .with_timeout(Duration::from_secs(120));

    // Several queries, run one after the other in the background.
    let job = batch
        .create(JobQuery::multi([
            "DROP TABLE IF EXISTS batch_example",
            "CREATE TABLE batch_example AS SELECT g AS id, md5(g::text) AS hash FROM generate_series(1, 200000) g",
            "CREATE INDEX ON batch_example (hash)",
            "ANALYZE batch_example",
        ]))
        .await?;
    println!("created job {} ({})", job.job_id, job.status);
    let job = batch.wait_with(&job.job_id, &wait).await?;
    println!("job {} is {}", job.job_id, job.status);
    for q in job.query.queries() {
        let status = q.status.as_ref().map(|s| s.as_str()).unwrap_or("?");
        println!("  [{status}] {}", q.query);
    }

    // Fallbacks: record the outcome of the job in a log table.
    batch
        .create_and_wait_with(
            "CREATE TABLE IF NOT EXISTS batch_log (job text, outcome text)",
            &wait,
        )
        .await?;
    let job = batch
        .create_and_wait_with(
            JobQuery::fallback([FallbackQuery::new(
                "UPDATE batch_example SET hash = upper(hash) WHERE id <= 1000",
            )
            .timeout(Duration::from_secs(60))])
            .onsuccess("INSERT INTO batch_log VALUES ('<%= job_id %>', 'ok')")
            .onerror("INSERT INTO batch_log VALUES ('<%= job_id %>', '<%= error_message %>')"),
            &wait,
        )
        .await?;
    println!(
        "fallback job {} is {} (fallback {})",
        job.job_id,
        job.status,
        job.fallback_status
            .as_ref()
            .map(|s| s.as_str())
            .unwrap_or("-")
    );

    // A failing job: waiting returns a typed error with CARTO's reason.
    match batch
        .create_and_wait_with("UPDATE batch_example_missing SET id = 0", &wait)
        .await
    {
        Err(carto::Error::JobFailed(failure)) => println!(
            "job {} ended {}: {}",
            failure.job_id(),
            failure.status(),
            failure.reason().unwrap_or("no reason given")
        ),
        other => return Err(format!("expected a failed job, got {other:?}").into()),
    }
    Ok(())
}
