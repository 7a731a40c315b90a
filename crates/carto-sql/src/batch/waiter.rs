//! Waiting for a Batch API job: the shared sans-IO [`Waiter`](crate::wait::Waiter) over
//! [`BatchJob`]s.

use carto_core::Error;

use super::model::{BatchJob, JobStatus};
use crate::wait::{Step, WaitedJob, Waiter, job_failed};

pub use crate::wait::WaitOptions;

/// Decides when to read a Batch API job again and when to stop, without doing any I/O
/// (see [`Waiter`]).
pub type JobWaiter = Waiter<BatchJob>;

/// What the caller of [`Waiter::poll`] does next: read the job
/// (`GET /api/v2/sql/job/{id}`), sleep, or take the finished job.
pub type WaitStep = Step<BatchJob>;

impl WaitedJob for BatchJob {
    fn job_id(&self) -> &str {
        &self.job_id
    }

    fn is_finished(&self) -> bool {
        self.status.is_final()
    }

    /// `done` succeeded; `failed`, `cancelled`, `unknown` and `skipped` fail with the
    /// job's `failed_reason`.
    fn outcome(&self, job_id: &str) -> Result<(), Error> {
        if self.status == JobStatus::Done {
            return Ok(());
        }
        Err(job_failed(
            &self.job_id,
            job_id,
            &self.status,
            self.failure_reason(),
        ))
    }
}
