//! Waiting for a job to finish, as a sans-IO state machine shared by every job of both
//! platforms (the Batch API, the SQL API v3's jobs, imports): [`Waiter`] says what to do next ([`Step`]) and what
//! a read's outcome means ([`Waiter::fetched`]); the sync and async clients only send
//! the reads and sleep, with their own clock and sleep.

use std::time::Duration;

use crate::{Error, JobFailure};

/// A job document a [`Waiter`] can wait for.
pub trait WaitedJob {
    /// The job's id as the document gives it (may be empty).
    fn job_id(&self) -> &str;

    /// Whether the job's status can no longer change.
    fn is_finished(&self) -> bool;

    /// For a finished job: `Ok` when it succeeded, else [`Error::JobFailed`] for job
    /// `job_id` with its status and reason.
    fn outcome(&self, job_id: &str) -> Result<(), Error>;
}

/// [`Error::JobFailed`] for a job that ended with `status`: the document's id, or
/// the id waited for when the document has none.
pub fn job_failed(
    document_id: &str,
    waited_id: &str,
    status: &dyn std::fmt::Display,
    reason: Option<&str>,
) -> Error {
    let job_id = if document_id.is_empty() {
        waited_id
    } else {
        document_id
    };
    Error::JobFailed(JobFailure::new(
        job_id,
        status.to_string(),
        reason.map(str::to_owned),
    ))
}

/// How a [`Waiter`] polls: an interval that starts at `initial_interval` and is
/// multiplied by `multiplier` after each poll up to `max_interval`, for at most
/// `timeout` in all.
///
/// The defaults: 1 s growing by 1.5 up to 10 s, for at most one hour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitOptions {
    timeout: Duration,
    initial_interval: Duration,
    max_interval: Duration,
    multiplier: f64,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(3600),
            initial_interval: Duration::from_secs(1),
            max_interval: Duration::from_secs(10),
            multiplier: 1.5,
        }
    }
}

impl WaitOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The longest wait in all; past it, waiting fails with [`Error::WaitTimeout`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The first pause between two polls.
    pub fn with_initial_interval(mut self, interval: Duration) -> Self {
        self.initial_interval = interval;
        self
    }

    /// The longest pause between two polls.
    pub fn with_max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }

    /// How much the pause grows after each poll (values below 1 are read as 1).
    pub fn with_multiplier(mut self, multiplier: f64) -> Self {
        self.multiplier = multiplier;
        self
    }

    /// The longest wait in all.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

/// What the caller of [`Waiter::poll`] does next.
#[derive(Debug, Clone, PartialEq)]
pub enum Step<J> {
    /// Read the job and hand the outcome to [`Waiter::fetched`].
    Fetch,
    /// Sleep this long, then poll again.
    Sleep(Duration),
    /// The job finished successfully.
    Done(Box<J>),
}

/// Decides when to read a job again and when to stop, without doing any I/O.
///
/// Time is what the caller says it is: each call takes `now`, the time elapsed since
/// waiting began, so a test drives it with a fake clock.
///
/// ```
/// use std::time::Duration;
/// use carto_core::Error;
/// use carto_core::wait::{Step, WaitOptions, WaitedJob, Waiter};
///
/// #[derive(Debug, PartialEq)]
/// struct Job(&'static str);
///
/// impl WaitedJob for Job {
///     fn job_id(&self) -> &str { "4f2d" }
///     fn is_finished(&self) -> bool { self.0 == "done" }
///     fn outcome(&self, _: &str) -> Result<(), Error> { Ok(()) }
/// }
///
/// let mut waiter = Waiter::<Job>::new("4f2d", WaitOptions::new());
/// assert_eq!(waiter.poll(Duration::ZERO)?, Step::Fetch);
/// waiter.fetched(Ok(Job("running")))?;
/// assert_eq!(waiter.poll(Duration::from_millis(20))?, Step::Sleep(Duration::from_secs(1)));
/// # Ok::<(), Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Waiter<J> {
    job_id: String,
    options: WaitOptions,
    interval: Duration,
    /// The job read last and not yet looked at by `poll`.
    fresh: Option<J>,
    /// The last read was refused by the rate limiter: wait at least this long.
    deferred: Option<Duration>,
    /// When the next read is due (`None`: at once).
    next_fetch: Option<Duration>,
}

impl<J: WaitedJob> Waiter<J> {
    /// Waits for job `job_id`; the first [`poll`](Self::poll) asks for a read.
    pub fn new(job_id: impl Into<String>, options: WaitOptions) -> Self {
        Self {
            job_id: job_id.into(),
            interval: options.initial_interval,
            options,
            fresh: None,
            deferred: None,
            next_fetch: None,
        }
    }

    /// Waits for a job already read (for example the one `create` returned): the first
    /// [`poll`](Self::poll) looks at it before asking for a read.
    pub fn with_job(job: J, options: WaitOptions) -> Self {
        let mut waiter = Self::new(job.job_id().to_owned(), options);
        waiter.fresh = Some(job);
        waiter
    }

    /// The job id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// Hands over the outcome of the read asked for by [`Step::Fetch`]: a job read
    /// is looked at by the next [`poll`](Self::poll); a read refused by CARTO's rate
    /// limiter ([`Error::is_rate_limited`], a 429) is retried after its `Retry-After`
    /// (see [`rate_limited`](Self::rate_limited)); any other error ends the wait and is
    /// returned.
    pub fn fetched(&mut self, result: Result<J, Error>) -> Result<(), Error> {
        match result {
            Ok(job) => {
                self.update(job);
                Ok(())
            }
            Err(err) if err.is_rate_limited() => {
                self.rate_limited(err.retry_after());
                Ok(())
            }
            Err(err) => Err(err),
        }
    }

    /// Hands over the job just read.
    pub fn update(&mut self, job: J) {
        self.fresh = Some(job);
    }

    /// The read was refused by CARTO's rate limiter (a 429 with `Retry-After`): the next
    /// [`poll`](Self::poll) sleeps for `retry_after` (at least the current interval)
    /// before reading again, within the timeout. A read is idempotent, so retrying it
    /// is safe.
    pub fn rate_limited(&mut self, retry_after: Option<Duration>) {
        self.deferred = Some(retry_after.unwrap_or(Duration::ZERO).max(self.interval));
    }

    /// What to do next, `now` being the time elapsed since waiting began.
    ///
    /// Errors: [`Error::JobFailed`] when the job ended other than successfully (see
    /// [`WaitedJob::outcome`]); [`Error::WaitTimeout`] when it has not finished by the
    /// timeout (the job is read one last time at the deadline).
    pub fn poll(&mut self, now: Duration) -> Result<Step<J>, Error> {
        let deadline = self.options.timeout;
        if let Some(pause) = self.deferred.take() {
            if now >= deadline {
                return Err(Error::WaitTimeout(deadline));
            }
            let due = (now + pause).min(deadline);
            self.next_fetch = Some(due);
            return Ok(Step::Sleep(due - now));
        }
        if let Some(job) = self.fresh.take() {
            if job.is_finished() {
                job.outcome(&self.job_id)?;
                return Ok(Step::Done(Box::new(job)));
            }
            if now >= deadline {
                return Err(Error::WaitTimeout(deadline));
            }
            let pause = self.interval;
            self.interval = grow(self.interval, &self.options);
            let due = (now + pause).min(deadline);
            self.next_fetch = Some(due);
            return Ok(Step::Sleep(due - now));
        }
        match self.next_fetch {
            Some(due) if now < due => Ok(Step::Sleep(due - now)),
            _ => Ok(Step::Fetch),
        }
    }
}

fn grow(interval: Duration, options: &WaitOptions) -> Duration {
    let factor = options.multiplier.max(1.0);
    let next = interval.as_secs_f64() * factor;
    let max = options.max_interval.max(options.initial_interval);
    if next.is_finite() && next < max.as_secs_f64() {
        Duration::from_secs_f64(next)
    } else {
        max
    }
}

/// Runs `waiter` to its end, blocking: reads the job with `fetch`, sleeps with `sleep`,
/// `clock` being the time elapsed since waiting began. The one loop of every blocking
/// job client.
pub fn wait_blocking<J: WaitedJob>(
    mut waiter: Waiter<J>,
    mut fetch: impl FnMut(&str) -> Result<J, Error>,
    mut clock: impl FnMut() -> Duration,
    mut sleep: impl FnMut(Duration),
) -> Result<J, Error> {
    loop {
        match waiter.poll(clock())? {
            Step::Fetch => {
                let job = fetch(waiter.job_id());
                waiter.fetched(job)?;
            }
            Step::Sleep(pause) => sleep(pause),
            Step::Done(job) => return Ok(*job),
        }
    }
}

/// The async [`wait_blocking`]: `sleep` is any runtime's timer.
pub async fn wait_async<J, S, F>(
    mut waiter: Waiter<J>,
    fetch: impl AsyncFn(&str) -> Result<J, Error>,
    mut clock: impl FnMut() -> Duration,
    mut sleep: S,
) -> Result<J, Error>
where
    J: WaitedJob,
    S: FnMut(Duration) -> F,
    F: std::future::Future<Output = ()>,
{
    loop {
        match waiter.poll(clock())? {
            Step::Fetch => {
                let job = fetch(waiter.job_id()).await;
                waiter.fetched(job)?;
            }
            Step::Sleep(pause) => sleep(pause).await,
            Step::Done(job) => return Ok(*job),
        }
    }
}
