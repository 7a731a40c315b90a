//! [`BatchApi`]: the Batch endpoints and the [`JobWaiter`] driven over a transport,
//! blocking ([`BatchClient`]) or async ([`AsyncBatchClient`]); each operation's two
//! methods side by side.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use carto_core::{Credentials, Endpoint, Error, RequestContext};
use carto_transport::{Async, AsyncTransport, Blocking, ClientCore, Mode, Transport};

use super::endpoint::{CancelJob, CreateJob, GetJob};
use super::model::BatchJob;
use super::query::JobQuery;
use super::waiter::{JobWaiter, WaitOptions};
use crate::wait::{wait_async, wait_blocking};

/// The Batch SQL API (`/api/v2/sql/job`) over `T`, blocking or async as `M` says. Use
/// it through its two names, [`BatchClient`] ([`Blocking`]) and [`AsyncBatchClient`]
/// ([`Async`]): the same methods, `async` in the second. Needs the master key.
///
/// `Debug` shows the request context, never the token, nor the transport.
#[derive(Clone)]
pub struct BatchApi<T, M> {
    core: ClientCore<T>,
    mode: PhantomData<fn() -> M>,
}

/// The Batch SQL API, blocking the calling thread ([`BatchApi`] over a [`Transport`]).
///
/// ```no_run
/// use carto_sql::batch::{BatchClient, JobQuery, WaitOptions};
/// # fn run(transport: impl carto_transport::Transport, creds: carto_core::Credentials) -> Result<(), carto_core::Error> {
/// let batch = BatchClient::from_credentials(transport, creds);
/// let job = batch.create_and_wait_with(
///     JobQuery::multi(["CREATE TABLE t (a int)", "INSERT INTO t VALUES (1)"]),
///     &WaitOptions::new(),
/// )?;
/// println!("job {} is {}", job.job_id, job.status);
/// # Ok(()) }
/// ```
pub type BatchClient<T> = BatchApi<T, Blocking>;

/// The Batch SQL API from async code ([`BatchApi`] over an [`AsyncTransport`]).
///
/// ```no_run
/// use carto_sql::batch::{AsyncBatchClient, JobQuery, WaitOptions};
/// # async fn run(transport: impl carto_transport::AsyncTransport, creds: carto_core::Credentials) -> Result<(), carto_core::Error> {
/// let batch = AsyncBatchClient::from_credentials(transport, creds);
/// let job = batch.create("UPDATE airports SET type = 'international'").await?;
/// let job = batch.wait_with(&job.job_id, &WaitOptions::new()).await?;
/// println!("job {} is {}", job.job_id, job.status);
/// # Ok(()) }
/// ```
pub type AsyncBatchClient<T> = BatchApi<T, Async>;

impl<T, M: Mode> BatchApi<T, M> {
    /// A client sending through `transport` with the given request context.
    pub fn new(transport: T, ctx: RequestContext) -> Self {
        Self {
            core: ClientCore::new(transport, ctx),
            mode: PhantomData,
        }
    }

    /// A client for `credentials`, with the key in the Basic header.
    pub fn from_credentials(transport: T, credentials: Credentials) -> Self {
        Self::new(transport, RequestContext::new(credentials))
    }

    /// The request context (credentials, auth placement, user agent).
    pub fn context(&self) -> &RequestContext {
        self.core.context()
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        self.core.transport()
    }
}

/// Shows the request context (never the token), not the transport.
impl<T, M: Mode> fmt::Debug for BatchApi<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_client::<M>("BatchClient", f)
    }
}

impl<T: Transport> BatchApi<T, Blocking> {
    /// Sends any endpoint and parses its answer.
    pub fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send(endpoint)
    }

    /// Creates a job; it is queued and runs in the background.
    pub fn create(&self, query: impl Into<JobQuery>) -> Result<BatchJob, Error> {
        self.send(&CreateJob::new(query))
    }

    /// Reads a job.
    pub fn get(&self, job_id: &str) -> Result<BatchJob, Error> {
        self.send(&GetJob::new(job_id))
    }

    /// Cancels a job (a running query is stopped) and returns it.
    pub fn cancel(&self, job_id: &str) -> Result<BatchJob, Error> {
        self.send(&CancelJob::new(job_id))
    }

    /// Polls the job until it finishes with the default pacing ([`WaitOptions::new`]),
    /// sleeping with `std::thread::sleep`; see [`JobWaiter::poll`] for the errors. A read
    /// refused by the rate limiter is retried after its `Retry-After`, within the timeout.
    pub fn wait(&self, job_id: &str) -> Result<BatchJob, Error> {
        self.wait_with(job_id, &WaitOptions::default())
    }

    /// [`wait`](Self::wait) with options (pacing, timeout).
    pub fn wait_with(&self, job_id: &str, options: &WaitOptions) -> Result<BatchJob, Error> {
        let start = Instant::now();
        let clock = move || start.elapsed();
        self.wait_with_clock(job_id, options, clock, std::thread::sleep)
    }

    /// [`wait_with`](Self::wait_with) with your clock (the time elapsed since the wait
    /// began) and your sleep.
    pub fn wait_with_clock(
        &self,
        job_id: &str,
        options: &WaitOptions,
        clock: impl FnMut() -> Duration,
        sleep: impl FnMut(Duration),
    ) -> Result<BatchJob, Error> {
        self.drive(JobWaiter::new(job_id, *options), clock, sleep)
    }

    /// Creates a job and waits for it with the default pacing; see [`JobWaiter::poll`]
    /// for the errors.
    pub fn create_and_wait(&self, query: impl Into<JobQuery>) -> Result<BatchJob, Error> {
        self.create_and_wait_with(query, &WaitOptions::default())
    }

    /// [`create_and_wait`](Self::create_and_wait) with options.
    pub fn create_and_wait_with(
        &self,
        query: impl Into<JobQuery>,
        options: &WaitOptions,
    ) -> Result<BatchJob, Error> {
        let start = Instant::now();
        let job = self.create(query)?;
        self.drive(
            JobWaiter::with_job(job, *options),
            move || start.elapsed(),
            std::thread::sleep,
        )
    }

    fn drive(
        &self,
        waiter: JobWaiter,
        clock: impl FnMut() -> Duration,
        sleep: impl FnMut(Duration),
    ) -> Result<BatchJob, Error> {
        wait_blocking(waiter, |id| self.get(id), clock, sleep)
    }
}

impl<T: AsyncTransport> BatchApi<T, Async> {
    /// Sends any endpoint and parses its answer.
    pub async fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// Creates a job; it is queued and runs in the background.
    pub async fn create(&self, query: impl Into<JobQuery>) -> Result<BatchJob, Error> {
        self.send(&CreateJob::new(query)).await
    }

    /// Reads a job.
    pub async fn get(&self, job_id: &str) -> Result<BatchJob, Error> {
        self.send(&GetJob::new(job_id)).await
    }

    /// Cancels a job (a running query is stopped) and returns it.
    pub async fn cancel(&self, job_id: &str) -> Result<BatchJob, Error> {
        self.send(&CancelJob::new(job_id)).await
    }

    /// Polls the job until it finishes with the default pacing, sleeping with
    /// `tokio::time::sleep` (so it needs a tokio runtime with time enabled); see
    /// [`JobWaiter::poll`] for the errors. Feature `tokio` (on with `reqwest`); without it,
    /// use [`wait_with_clock`](Self::wait_with_clock) and your runtime's timer.
    #[cfg(feature = "tokio")]
    pub async fn wait(&self, job_id: &str) -> Result<BatchJob, Error> {
        self.wait_with(job_id, &WaitOptions::default()).await
    }

    /// [`wait`](Self::wait) with options (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn wait_with(&self, job_id: &str, options: &WaitOptions) -> Result<BatchJob, Error> {
        let start = Instant::now();
        let clock = move || start.elapsed();
        self.wait_with_clock(job_id, options, clock, tokio::time::sleep)
            .await
    }

    /// [`wait_with`](Self::wait_with) with your clock (the time elapsed since the wait
    /// began) and your sleep (any runtime's timer).
    pub async fn wait_with_clock<S, F>(
        &self,
        job_id: &str,
        options: &WaitOptions,
        clock: impl FnMut() -> Duration,
        sleep: S,
    ) -> Result<BatchJob, Error>
    where
        S: FnMut(Duration) -> F,
        F: Future<Output = ()>,
    {
        self.drive(JobWaiter::new(job_id, *options), clock, sleep)
            .await
    }

    /// Creates a job and waits for it with the default pacing, sleeping with
    /// `tokio::time::sleep`; see [`JobWaiter::poll`] for the errors. Feature `tokio`.
    #[cfg(feature = "tokio")]
    pub async fn create_and_wait(&self, query: impl Into<JobQuery>) -> Result<BatchJob, Error> {
        self.create_and_wait_with(query, &WaitOptions::default())
            .await
    }

    /// [`create_and_wait`](Self::create_and_wait) with options (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn create_and_wait_with(
        &self,
        query: impl Into<JobQuery>,
        options: &WaitOptions,
    ) -> Result<BatchJob, Error> {
        let start = Instant::now();
        let job = self.create(query).await?;
        self.drive(
            JobWaiter::with_job(job, *options),
            move || start.elapsed(),
            tokio::time::sleep,
        )
        .await
    }

    async fn drive<S, F>(
        &self,
        waiter: JobWaiter,
        clock: impl FnMut() -> Duration,
        sleep: S,
    ) -> Result<BatchJob, Error>
    where
        S: FnMut(Duration) -> F,
        F: Future<Output = ()>,
    {
        wait_async(waiter, async |id| self.get(id).await, clock, sleep).await
    }
}
