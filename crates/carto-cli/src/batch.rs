//! `carto batch`: the Batch API, with a spinner while waiting on a terminal.

use std::time::{Duration, Instant};

use carto::sql::batch::{BatchJob, JobQueries, JobQuery, JobWaiter, WaitOptions, WaitStep};
use serde_json::Value;

use crate::cli::BatchCommand;
use crate::config::Config;
use crate::exit::CliResult;
use crate::output::{fields, print_json, print_line, spinner};

/// Runs a `batch` command.
pub fn run(command: BatchCommand, config: &Config) -> CliResult {
    let client = config.client()?;
    let batch = client.batch();
    match command {
        BatchCommand::Run { queries, wait } => {
            let query = match <[String; 1]>::try_from(queries) {
                Ok([one]) => JobQuery::sql(one),
                Err(many) => JobQuery::multi(many),
            };
            let job = batch.create(query)?;
            if wait.wait {
                let job = wait_for(&batch, job, wait.timeout)?;
                return show(&job, wait.json);
            }
            if wait.json {
                return show(&job, true);
            }
            eprintln!(
                "job {} is {}; follow it with `carto batch status {} --wait`",
                job.job_id, job.status, job.job_id
            );
            print_line(&job.job_id)
        }
        BatchCommand::Status { id, wait } => {
            let job = batch.get(&id)?;
            let job = if wait.wait {
                wait_for(&batch, job, wait.timeout)?
            } else {
                job
            };
            show(&job, wait.json)
        }
        BatchCommand::Cancel { id, json } => show(&batch.cancel(&id)?, json),
    }
}

/// Waits for `job` with the SDK's [`JobWaiter`], the spinner showing its status.
fn wait_for<T: carto::Transport>(
    batch: &carto::sql::BatchClient<T>,
    job: BatchJob,
    timeout: Option<u64>,
) -> CliResult<BatchJob> {
    let mut options = WaitOptions::new()
        .with_initial_interval(Duration::from_millis(250))
        .with_max_interval(Duration::from_secs(5));
    if let Some(secs) = timeout {
        options = options.with_timeout(Duration::from_secs(secs));
    }
    let id = job.job_id.clone();
    let bar = spinner(format!("job {id}: {}", job.status));
    let start = Instant::now();
    let mut waiter = JobWaiter::with_job(job, options);
    let outcome = loop {
        let step = match waiter.poll(start.elapsed()) {
            Ok(step) => step,
            Err(e) => break Err(e),
        };
        match step {
            WaitStep::Fetch => {
                let read = batch.get(&id);
                if let Ok(job) = &read {
                    bar.set_message(format!("job {id}: {}", job.status));
                }
                if let Err(e) = waiter.fetched(read) {
                    break Err(e);
                }
            }
            WaitStep::Sleep(pause) => std::thread::sleep(pause),
            WaitStep::Done(job) => break Ok(*job),
        }
    };
    bar.finish_and_clear();
    Ok(outcome?)
}

/// Prints a job: `label: value` lines, or JSON.
fn show(job: &BatchJob, json: bool) -> CliResult {
    if json {
        return print_json(&serde_json::to_value(job).unwrap_or(Value::Null));
    }
    let mut lines = vec![
        ("job", job.job_id.clone()),
        ("status", job.status.to_string()),
    ];
    if let Some(user) = &job.user {
        lines.push(("user", user.clone()));
    }
    if let Some(t) = &job.created_at {
        lines.push(("created", t.to_string()));
    }
    if let Some(t) = &job.updated_at {
        lines.push(("updated", t.to_string()));
    }
    match &job.query {
        JobQueries::Single(sql) => lines.push(("query", sql.clone())),
        _ => {
            for q in job.query.queries() {
                let status = q.status.as_ref().map(|s| s.to_string()).unwrap_or_default();
                lines.push(("query", format!("[{status}] {}", q.query)));
            }
        }
    }
    if let Some(reason) = job.failure_reason() {
        lines.push(("failed", reason.to_owned()));
    }
    print_line(fields(&lines))
}
