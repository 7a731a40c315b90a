//! [`SqlApi`]: the SQL API v3 client on one connection, blocking ([`SqlClient`], over a
//! [`Transport`]) or async ([`AsyncSqlClient`], over an [`AsyncTransport`]); each
//! operation's two methods side by side.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use carto_core::Error;
use carto_core::carto3::{ApiCredentials, ApiEndpoint};
use carto_transport::{
    ApiCore, Async, AsyncTransport, Blocking, Decoded, DecodedStream, Mode, Transport,
};
use futures_util::Stream;
use serde::de::DeserializeOwned;

use super::jobs::{CancelJob, CreateJob, GetJob, Job, JobWaiter, ListJobs};
use super::params::Warehouse;
use super::query::{Query, QueryOptions, query_error};
use super::response::QueryResponse;
use super::rows::{QueryRowDecoder, QueryTail, Streamed};
use crate::wait::{WaitOptions, wait_async, wait_blocking};

/// Runs SQL on one CARTO 3 connection through the SQL API v3, over `T`, blocking or
/// async as `M` says. Use it through its two names, [`SqlClient`] ([`Blocking`]) and
/// [`AsyncSqlClient`] ([`Async`]): the same methods, `async` in the second.
///
/// Every request carries a Bearer token from the core's token source (a fixed token,
/// or machine-to-machine credentials whose token is fetched, cached and refreshed).
/// `Debug` shows the context and the connection, never a token.
pub struct SqlApi<T, M> {
    core: ApiCore<T>,
    connection: String,
    warehouse: Option<Warehouse>,
    mode: PhantomData<fn() -> M>,
}

/// The SQL API v3 on one connection, blocking the calling thread.
pub type SqlClient<T> = SqlApi<T, Blocking>;

/// The SQL API v3 on one connection, asynchronously.
pub type AsyncSqlClient<T> = SqlApi<T, Async>;

impl<T, M: Mode> SqlApi<T, M> {
    /// A client of `connection` sending through `core`.
    pub fn new(core: ApiCore<T>, connection: impl Into<String>) -> Self {
        Self {
            core,
            connection: connection.into(),
            warehouse: None,
            mode: PhantomData,
        }
    }

    /// A client of `connection` for `credentials`.
    pub fn from_credentials(
        transport: T,
        credentials: ApiCredentials,
        connection: impl Into<String>,
    ) -> Self {
        Self::new(ApiCore::new(transport, credentials), connection)
    }

    /// The same client, its query parameters checked against `warehouse`'s style
    /// (`$1` arrays, `:1` arrays, `@name` objects) before any request.
    pub fn with_warehouse(mut self, warehouse: Warehouse) -> Self {
        self.warehouse = Some(warehouse);
        self
    }

    /// The connection the queries run on.
    pub fn connection(&self) -> &str {
        &self.connection
    }

    /// The core: transport, context and token cache.
    pub fn core(&self) -> &ApiCore<T> {
        &self.core
    }

    /// The query `sql` on this client's connection, as `options` say.
    pub fn query_of<R>(&self, sql: &str, options: &QueryOptions) -> Query<R> {
        let query = Query::new(self.connection.as_str(), sql).options(options);
        match self.warehouse {
            Some(warehouse) => query.warehouse(warehouse).rows(),
            None => query.rows(),
        }
    }

    fn create_job(&self, sql: &str, options: &QueryOptions) -> CreateJob {
        let job = CreateJob::new(self.connection.as_str(), sql);
        let job = match options.parameters() {
            Some(params) => job.params(params.clone()),
            None => job,
        };
        match self.warehouse {
            Some(warehouse) => job.warehouse(warehouse),
            None => job,
        }
    }

    fn get_job(&self, job_id: &str) -> GetJob {
        GetJob::new(self.connection.as_str(), job_id)
    }

    fn cancel_job(&self, job_id: &str) -> CancelJob {
        CancelJob::new(self.connection.as_str(), job_id)
    }
}

impl<T: Clone, M> Clone for SqlApi<T, M> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            connection: self.connection.clone(),
            warehouse: self.warehouse,
            mode: PhantomData,
        }
    }
}

/// Shows the context and the connection (never a token), not the transport.
impl<T, M: Mode> fmt::Debug for SqlApi<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct(&format!("{}SqlClient", M::PREFIX))
            .field("connection", &self.connection)
            .field("core", &self.core)
            .finish()
    }
}

impl<T: Transport> SqlApi<T, Blocking> {
    /// Sends any CARTO 3 endpoint with this client's token and parses its answer.
    pub fn send<E: ApiEndpoint + ?Sized>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send(endpoint)
    }

    /// Runs `sql` and decodes its rows into `R`, with `schema` and `meta`. Sent as a GET
    /// (cacheable by CARTO) while the URL fits in 7,000 characters, as a POST above.
    /// Over CARTO's synchronous limits (one minute, 200,000 rows) the error is
    /// [`Error::QueryLimit`]: run a job instead ([`create_and_wait`](Self::create_and_wait)).
    pub fn query<R: DeserializeOwned>(&self, sql: &str) -> Result<QueryResponse<R>, Error> {
        self.query_with(sql, &QueryOptions::new())
    }

    /// [`query`](Self::query) with options (parameters, method, read-only).
    pub fn query_with<R: DeserializeOwned>(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<QueryResponse<R>, Error> {
        self.send(&self.query_of::<R>(sql, options))
    }

    /// Runs `sql` and decodes its rows one by one as they arrive, so a result larger
    /// than memory can be walked; `schema` and `meta` are read after the last row
    /// ([`QueryRows::tail`]).
    pub fn query_rows<R: DeserializeOwned>(&self, sql: &str) -> Result<QueryRows<R>, Error> {
        self.query_rows_with(sql, &QueryOptions::new())
    }

    /// [`query_rows`](Self::query_rows) with options.
    pub fn query_rows_with<R: DeserializeOwned>(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<QueryRows<R>, Error> {
        let query = self.query_of::<R>(sql, options);
        let decoded = self.core.send_streaming(&Streamed(&query), None);
        Ok(QueryRows(decoded.map_err(limit_error)?))
    }

    /// Runs `sql` and returns its rows as Arrow record batches typed from CARTO's
    /// `schema` (feature `arrow`; see [`ArrowAnswer`](super::ArrowAnswer) for the types).
    #[cfg(feature = "arrow")]
    pub fn query_arrow(&self, sql: &str) -> Result<super::ArrowAnswer, Error> {
        self.query_arrow_with(
            sql,
            &QueryOptions::new(),
            &crate::arrow::ArrowOptions::new(),
        )
    }

    /// [`query_arrow`](Self::query_arrow) with the query's options and the batches'
    /// (`batch_rows`; the numeric options do not apply: `number` is a float).
    #[cfg(feature = "arrow")]
    pub fn query_arrow_with(
        &self,
        sql: &str,
        options: &QueryOptions,
        arrow: &crate::arrow::ArrowOptions,
    ) -> Result<super::ArrowAnswer, Error> {
        let answer = self.send(&self.query_of::<super::arrow::RawRow>(sql, options))?;
        super::arrow::to_arrow(answer, arrow)
    }

    /// Starts a job running `sql`; it runs in the background, with no time or row
    /// limit.
    pub fn create(&self, sql: &str) -> Result<Job, Error> {
        self.create_with(sql, &QueryOptions::new())
    }

    /// [`create`](Self::create) with options (only the parameters apply to a job).
    pub fn create_with(&self, sql: &str, options: &QueryOptions) -> Result<Job, Error> {
        self.send(&self.create_job(sql, options))
    }

    /// Reads a job.
    pub fn get(&self, job_id: &str) -> Result<Job, Error> {
        self.send(&self.get_job(job_id))
    }

    /// Cancels a job; answers the job when the server sends it back.
    pub fn cancel(&self, job_id: &str) -> Result<Option<Job>, Error> {
        self.send(&self.cancel_job(job_id))
    }

    /// The account's jobs.
    pub fn jobs(&self) -> Result<Vec<Job>, Error> {
        self.send(&ListJobs)
    }

    /// Polls the job until it finishes with the default pacing (the Batch API's,
    /// [`WaitOptions::new`]), sleeping with `std::thread::sleep`; [`Error::JobFailed`]
    /// when it failed or was cancelled, [`Error::WaitTimeout`] past the deadline.
    pub fn wait(&self, job_id: &str) -> Result<Job, Error> {
        self.wait_with(job_id, &WaitOptions::default())
    }

    /// [`wait`](Self::wait) with options (pacing, timeout).
    pub fn wait_with(&self, job_id: &str, options: &WaitOptions) -> Result<Job, Error> {
        self.wait_with_clock(job_id, options, clock(), std::thread::sleep)
    }

    /// [`wait_with`](Self::wait_with) with your clock (the time elapsed since the wait
    /// began) and your sleep.
    pub fn wait_with_clock(
        &self,
        job_id: &str,
        options: &WaitOptions,
        clock: impl FnMut() -> Duration,
        sleep: impl FnMut(Duration),
    ) -> Result<Job, Error> {
        let waiter = JobWaiter::new(job_id, *options);
        wait_blocking(waiter, |id| self.get(id), clock, sleep)
    }

    /// Starts a job and waits for it with the default pacing.
    pub fn create_and_wait(&self, sql: &str) -> Result<Job, Error> {
        self.create_and_wait_with(sql, &WaitOptions::default())
    }

    /// [`create_and_wait`](Self::create_and_wait) with options.
    pub fn create_and_wait_with(&self, sql: &str, options: &WaitOptions) -> Result<Job, Error> {
        let clock = clock();
        let job = self.create(sql)?;
        let waiter = JobWaiter::with_job(job, *options);
        wait_blocking(waiter, |id| self.get(id), clock, std::thread::sleep)
    }
}

impl<T: AsyncTransport> SqlApi<T, Async> {
    /// Sends any CARTO 3 endpoint with this client's token and parses its answer.
    pub async fn send<E: ApiEndpoint + ?Sized>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// Runs `sql` and decodes its rows into `R` (see [`SqlClient::query`]).
    pub async fn query<R: DeserializeOwned>(&self, sql: &str) -> Result<QueryResponse<R>, Error> {
        self.query_with(sql, &QueryOptions::new()).await
    }

    /// [`query`](Self::query) with options.
    pub async fn query_with<R: DeserializeOwned>(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<QueryResponse<R>, Error> {
        self.send(&self.query_of::<R>(sql, options)).await
    }

    /// Runs `sql` and decodes its rows one by one as they arrive (see
    /// [`SqlClient::query_rows`]).
    pub async fn query_rows<R: DeserializeOwned>(
        &self,
        sql: &str,
    ) -> Result<QueryRowStream<R>, Error> {
        self.query_rows_with(sql, &QueryOptions::new()).await
    }

    /// [`query_rows`](Self::query_rows) with options.
    pub async fn query_rows_with<R: DeserializeOwned>(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<QueryRowStream<R>, Error> {
        let query = self.query_of::<R>(sql, options);
        let stream = self
            .core
            .send_streaming_async(&Streamed(&query), None)
            .await;
        Ok(QueryRowStream(stream.map_err(limit_error)?))
    }

    /// Runs `sql` and returns its rows as Arrow record batches (see
    /// [`SqlClient::query_arrow`]).
    #[cfg(feature = "arrow")]
    pub async fn query_arrow(&self, sql: &str) -> Result<super::ArrowAnswer, Error> {
        let options = crate::arrow::ArrowOptions::new();
        self.query_arrow_with(sql, &QueryOptions::new(), &options)
            .await
    }

    /// [`query_arrow`](Self::query_arrow) with the query's options and the batches'.
    #[cfg(feature = "arrow")]
    pub async fn query_arrow_with(
        &self,
        sql: &str,
        options: &QueryOptions,
        arrow: &crate::arrow::ArrowOptions,
    ) -> Result<super::ArrowAnswer, Error> {
        let query = self.query_of::<super::arrow::RawRow>(sql, options);
        super::arrow::to_arrow(self.send(&query).await?, arrow)
    }

    /// Starts a job running `sql`.
    pub async fn create(&self, sql: &str) -> Result<Job, Error> {
        self.create_with(sql, &QueryOptions::new()).await
    }

    /// [`create`](Self::create) with options (only the parameters apply to a job).
    pub async fn create_with(&self, sql: &str, options: &QueryOptions) -> Result<Job, Error> {
        self.send(&self.create_job(sql, options)).await
    }

    /// Reads a job.
    pub async fn get(&self, job_id: &str) -> Result<Job, Error> {
        self.send(&self.get_job(job_id)).await
    }

    /// Cancels a job; answers the job when the server sends it back.
    pub async fn cancel(&self, job_id: &str) -> Result<Option<Job>, Error> {
        self.send(&self.cancel_job(job_id)).await
    }

    /// The account's jobs.
    pub async fn jobs(&self) -> Result<Vec<Job>, Error> {
        self.send(&ListJobs).await
    }

    /// Polls the job until it finishes with the default pacing, sleeping with
    /// `tokio::time::sleep` (feature `tokio`); see [`SqlClient::wait`].
    #[cfg(feature = "tokio")]
    pub async fn wait(&self, job_id: &str) -> Result<Job, Error> {
        self.wait_with(job_id, &WaitOptions::default()).await
    }

    /// [`wait`](Self::wait) with options (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn wait_with(&self, job_id: &str, options: &WaitOptions) -> Result<Job, Error> {
        self.wait_with_clock(job_id, options, clock(), tokio::time::sleep)
            .await
    }

    /// [`wait_with`](Self::wait_with) with your clock and your sleep (any runtime's
    /// timer).
    pub async fn wait_with_clock<S, F>(
        &self,
        job_id: &str,
        options: &WaitOptions,
        clock: impl FnMut() -> Duration,
        sleep: S,
    ) -> Result<Job, Error>
    where
        S: FnMut(Duration) -> F,
        F: Future<Output = ()>,
    {
        let waiter = JobWaiter::new(job_id, *options);
        wait_async(waiter, async |id| self.get(id).await, clock, sleep).await
    }

    /// Starts a job and waits for it with the default pacing (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn create_and_wait(&self, sql: &str) -> Result<Job, Error> {
        self.create_and_wait_with(sql, &WaitOptions::default())
            .await
    }

    /// [`create_and_wait`](Self::create_and_wait) with options (feature `tokio`).
    #[cfg(feature = "tokio")]
    pub async fn create_and_wait_with(
        &self,
        sql: &str,
        options: &WaitOptions,
    ) -> Result<Job, Error> {
        let clock = clock();
        let job = self.create(sql).await?;
        let waiter = JobWaiter::with_job(job, *options);
        wait_async(
            waiter,
            async |id| self.get(id).await,
            clock,
            tokio::time::sleep,
        )
        .await
    }
}

/// A streamed query's CARTO error as the buffered one's: [`Error::QueryLimit`] for the
/// synchronous limits.
fn limit_error(err: Error) -> Error {
    match err {
        Error::Api(api) => query_error(*api),
        other => other,
    }
}

/// The time elapsed since now.
fn clock() -> impl FnMut() -> Duration {
    let start = Instant::now();
    move || start.elapsed()
}

/// The rows of a v3 answer, decoded as they arrive ([`SqlClient::query_rows`]).
pub struct QueryRows<R>(Decoded<QueryRowDecoder<R>>);

impl<R> QueryRows<R> {
    /// `schema` and `meta`, once every row was read.
    pub fn tail(&self) -> Option<&QueryTail> {
        self.0.decoder().tail()
    }
}

impl<R: DeserializeOwned> Iterator for QueryRows<R> {
    type Item = Result<R, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

impl<R> fmt::Debug for QueryRows<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("QueryRows").field(&self.0).finish()
    }
}

/// The rows of a v3 answer, decoded as they arrive ([`AsyncSqlClient::query_rows`]).
pub struct QueryRowStream<R>(DecodedStream<QueryRowDecoder<R>>);

impl<R> QueryRowStream<R> {
    /// `schema` and `meta`, once every row was read.
    pub fn tail(&self) -> Option<&QueryTail> {
        self.0.decoder().tail()
    }
}

impl<R: DeserializeOwned> Stream for QueryRowStream<R> {
    type Item = Result<R, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx)
    }
}

impl<R> fmt::Debug for QueryRowStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("QueryRowStream").field(&self.0).finish()
    }
}
