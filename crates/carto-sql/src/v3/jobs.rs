//! SQL API v3 jobs: `POST /v3/sql/{connection}/job`, `GET` and `DELETE
//! /v3/sql/{connection}/job/{id}`, `GET /v3/sql/jobs`, and waiting for a job.
//!
//! CARTO does not document the job document. The shape read here: `jobId` (also `id`
//! or `job_id`), `status`, optional `externalId`, every other member kept in
//! [`Job::other`]. Jobs return no rows: a job writes its result to a table.

use carto_core::carto3::{ApiContext, ApiEndpoint};
use carto_core::endpoint::{check_status, decode_json};
use carto_core::{Error, HttpRequest, HttpResponse};
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::params::{QueryParameters, Warehouse};
use crate::wait::{Step, WaitedJob, Waiter, job_failed};

/// The status of a SQL API v3 job. CARTO does not document the names: `pending`,
/// `running`, `done`, `failed` and `cancelled` are read (case-insensitively, with the
/// synonyms `queued`, `success`/`succeeded`/`completed`, `failure`/`error`,
/// `canceled`), anything else is kept as [`JobStatus::Other`] and taken as not
/// finished.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Queued, not started.
    Pending,
    /// Running now.
    Running,
    /// Finished successfully.
    Done,
    /// Finished with an error.
    Failed,
    /// Cancelled.
    Cancelled,
    /// A status this crate does not know, as sent.
    Other(String),
}

impl JobStatus {
    /// Parses a status as the server writes it.
    pub fn parse(text: &str) -> Self {
        match text.to_ascii_lowercase().as_str() {
            "pending" | "queued" | "created" => Self::Pending,
            "running" => Self::Running,
            "done" | "success" | "succeeded" | "completed" => Self::Done,
            "failed" | "failure" | "error" => Self::Failed,
            "cancelled" | "canceled" => Self::Cancelled,
            _ => Self::Other(text.to_owned()),
        }
    }

    /// The status's name (`done`, ...; an unknown one as sent).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Other(s) => s,
        }
    }

    /// Whether the status can no longer change: done, failed or cancelled.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Cancelled)
    }
}

crate::text_enum::text_enum!(JobStatus);

/// A SQL API v3 job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The job's id.
    #[serde(rename = "jobId", alias = "id", alias = "job_id")]
    pub job_id: String,
    /// Its status.
    pub status: JobStatus,
    /// The warehouse's id of the job, when given.
    #[serde(
        rename = "externalId",
        alias = "external_id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<String>,
    /// Every other member, as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Job {
    /// Why the job failed, from the first of `error`, `errorMessage`, `failedReason`,
    /// `failed_reason`, `message` that is a string (or an `error` object's `message`).
    pub fn failure_reason(&self) -> Option<&str> {
        [
            "error",
            "errorMessage",
            "failedReason",
            "failed_reason",
            "message",
        ]
        .iter()
        .find_map(|k| match self.other.get(*k)? {
            Value::String(s) => Some(s.as_str()),
            Value::Object(o) => o.get("message").and_then(Value::as_str),
            _ => None,
        })
    }
}

impl WaitedJob for Job {
    fn job_id(&self) -> &str {
        &self.job_id
    }

    fn is_finished(&self) -> bool {
        self.status.is_final()
    }

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

/// Decides when to read a SQL API v3 job again and when to stop, without doing any
/// I/O (see [`Waiter`]; the same pacing as the Batch API's).
pub type JobWaiter = Waiter<Job>;

/// What the caller of [`Waiter::poll`] does next for a v3 job.
pub type WaitStep = Step<Job>;

fn check_connection(connection: &str) -> Result<(), Error> {
    if connection.trim().is_empty() {
        return Err(Error::invalid("connection", "the connection name is empty"));
    }
    Ok(())
}

fn check_job_id(job_id: &str) -> Result<(), Error> {
    if job_id.trim().is_empty() {
        return Err(Error::invalid("job id", "the job id is empty"));
    }
    Ok(())
}

/// `POST /v3/sql/{connection}/job`: starts a job running `query` (with its
/// parameters); answers the job. Not retried on failures where the server may have
/// acted.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateJob {
    connection: String,
    query: String,
    params: Option<QueryParameters>,
    warehouse: Option<Warehouse>,
}

#[derive(Serialize)]
struct CreateBody<'a> {
    query: &'a str,
    #[serde(rename = "queryParameters", skip_serializing_if = "Option::is_none")]
    query_parameters: Option<&'a QueryParameters>,
}

impl CreateJob {
    /// A job running `query` on `connection`.
    pub fn new(connection: impl Into<String>, query: impl Into<String>) -> Self {
        Self {
            connection: connection.into(),
            query: query.into(),
            params: None,
            warehouse: None,
        }
    }

    /// The values of the query's placeholders.
    pub fn params(mut self, params: QueryParameters) -> Self {
        self.params = Some(params);
        self
    }

    /// The connection's warehouse: the parameters are checked against its style.
    pub fn warehouse(mut self, warehouse: Warehouse) -> Self {
        self.warehouse = Some(warehouse);
        self
    }
}

impl ApiEndpoint for CreateJob {
    type Output = Job;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        check_connection(&self.connection)?;
        if self.query.trim().is_empty() {
            return Err(Error::invalid("SQL query", "the query is empty"));
        }
        if let (Some(params), Some(warehouse)) = (&self.params, self.warehouse) {
            params.check_style(warehouse.param_style())?;
        }
        let body = CreateBody {
            query: &self.query,
            query_parameters: self.params.as_ref(),
        };
        ctx.request(Method::POST, &["v3", "sql", &self.connection, "job"])
            .json(&body)?
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Job, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }
}

/// `GET /v3/sql/{connection}/job/{id}`: reads a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetJob {
    /// The connection the job runs on.
    pub connection: String,
    /// The job's id.
    pub job_id: String,
}

impl GetJob {
    /// Job `job_id` of `connection`.
    pub fn new(connection: impl Into<String>, job_id: impl Into<String>) -> Self {
        Self {
            connection: connection.into(),
            job_id: job_id.into(),
        }
    }
}

impl ApiEndpoint for GetJob {
    type Output = Job;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        check_connection(&self.connection)?;
        check_job_id(&self.job_id)?;
        ctx.request(
            Method::GET,
            &["v3", "sql", &self.connection, "job", &self.job_id],
        )
        .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Job, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `DELETE /v3/sql/{connection}/job/{id}`: cancels a job. Answers the job when the
/// server sends it back (the body is not documented), else `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelJob {
    /// The connection the job runs on.
    pub connection: String,
    /// The job's id.
    pub job_id: String,
}

impl CancelJob {
    /// Job `job_id` of `connection`.
    pub fn new(connection: impl Into<String>, job_id: impl Into<String>) -> Self {
        Self {
            connection: connection.into(),
            job_id: job_id.into(),
        }
    }
}

impl ApiEndpoint for CancelJob {
    type Output = Option<Job>;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        check_connection(&self.connection)?;
        check_job_id(&self.job_id)?;
        ctx.request(
            Method::DELETE,
            &["v3", "sql", &self.connection, "job", &self.job_id],
        )
        .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Option<Job>, Error> {
        check_status(&response)?;
        Ok(serde_json::from_slice(response.body()).ok())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `GET /v3/sql/jobs`: the account's jobs. The list's shape is not documented: a JSON
/// array of jobs, or an object holding it under `jobs`, `data`, `results` or `items`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListJobs;

#[derive(Deserialize)]
#[serde(untagged)]
enum JobList {
    Bare(Vec<Job>),
    Wrapped {
        #[serde(alias = "data", alias = "results", alias = "items")]
        jobs: Vec<Job>,
    },
}

impl ApiEndpoint for ListJobs {
    type Output = Vec<Job>;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &["v3", "sql", "jobs"]).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Vec<Job>, Error> {
        check_status(&response)?;
        let list: JobList = decode_json(response.status(), response.body())?;
        Ok(match list {
            JobList::Bare(jobs) | JobList::Wrapped { jobs } => jobs,
        })
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}
