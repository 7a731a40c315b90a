//! CARTO 3, SQL API v3 jobs: run a statement in the background (no one-minute limit),
//! wait for it with backoff, list the account's jobs; async, on tokio.
//!
//! `cargo run --example carto3_jobs` starts an in-process CARTO emulator; with
//! `CARTO_API_BASE_URL` and credentials (see `carto3_query`) it runs against that account.

mod common;

use std::time::Duration;

use carto::WaitOptions;
use carto::carto3::{Client, JobStatus};

fn main() -> common::Result {
    // The emulator of the examples is a blocking one: start it before the runtime.
    let account = common::carto3_account()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // The emulator (blocking) is dropped here, outside the runtime.
    runtime.block_on(run(&account))
}

async fn run(account: &common::Carto3Account) -> common::Result {
    let carto = Client::new(account.credentials.clone())?;
    let sql = carto.sql(&account.connection);

    let wait = WaitOptions::new()
        .with_initial_interval(Duration::from_millis(100))
        .with_timeout(Duration::from_secs(120));
    let job = sql
        .create_and_wait_with(
            "DROP TABLE IF EXISTS squares;
             CREATE TABLE squares AS SELECT g AS n, g::bigint * g AS square FROM generate_series(1, 100000) g",
            &wait,
        )
        .await?;
    println!("job {} is {}", job.job_id, job.status);
    assert_eq!(job.status, JobStatus::Done);

    let count = sql
        .query::<serde_json::Value>("SELECT count(*) AS n FROM squares")
        .await?;
    println!("squares has {} rows", count.rows[0]["n"]);

    for job in sql.jobs().await? {
        println!("listed: {} {}", job.job_id, job.status);
    }
    Ok(())
}
