//! `carto batch`: the Batch API, with a spinner while waiting on a terminal.

use std::time::{Duration, Instant};

use carto::sql::batch::{BatchJob, JobQueries, JobQuery, JobWaiter, WaitOptions};
use carto::sql::wait::{Step, WaitedJob, Waiter};
use serde_json::Value;

use crate::cli::BatchCommand;
use crate::config::Config;
use crate::exit::{CliError, CliResult};
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
    let status = job.status.to_string();
    let waiter = JobWaiter::with_job(job, wait_options(timeout));
    let follow = ("carto batch status ID", "carto batch cancel ID");
    wait_job(
        waiter,
        Some(status),
        follow,
        |id| batch.get(id),
        |j| j.status.to_string(),
    )
}

/// The pacing of the CLI's job waits: first read after 250 ms, then up to every 5 s,
/// giving up after `timeout` seconds when given.
pub fn wait_options(timeout: Option<u64>) -> WaitOptions {
    let options = WaitOptions::new()
        .with_initial_interval(Duration::from_millis(250))
        .with_max_interval(Duration::from_secs(5));
    match timeout {
        Some(secs) => options.with_timeout(Duration::from_secs(secs)),
        None => options,
    }
}

/// Drives `waiter` (a Batch API or SQL API v3 job) to its end, reading the job with
/// `fetch`; a spinner shows `status` of the last read (drawn only on a terminal).
/// Past the deadline, the error names the `follow` commands (status, cancel).
pub fn wait_job<J: WaitedJob>(
    mut waiter: Waiter<J>,
    status: Option<String>,
    follow: (&'static str, &'static str),
    mut fetch: impl FnMut(&str) -> Result<J, carto::Error>,
    status_of: impl Fn(&J) -> String,
) -> CliResult<J> {
    let id = waiter.job_id().to_owned();
    let label = |s: Option<String>| match s {
        Some(s) => format!("job {id}: {s}"),
        None => format!("job {id}"),
    };
    let bar = spinner(label(status));
    let start = Instant::now();
    let outcome = loop {
        let step = match waiter.poll(start.elapsed()) {
            Ok(step) => step,
            Err(e) => break Err(e),
        };
        match step {
            Step::Fetch => {
                let read = fetch(&id);
                if let Ok(job) = &read {
                    bar.set_message(label(Some(status_of(job))));
                }
                if let Err(e) = waiter.fetched(read) {
                    break Err(e);
                }
            }
            Step::Sleep(pause) => std::thread::sleep(pause),
            Step::Done(job) => break Ok(*job),
        }
    };
    bar.finish_and_clear();
    outcome.map_err(|e| match e {
        carto::Error::WaitTimeout(_) => CliError::StillRunning {
            error: e,
            status: follow.0,
            cancel: follow.1,
        },
        e => e.into(),
    })
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
