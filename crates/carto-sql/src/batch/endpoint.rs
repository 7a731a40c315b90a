//! The Batch API endpoints as sans-IO values: [`CreateJob`], [`GetJob`], [`CancelJob`].

use carto_core::endpoint::parse_json;
use carto_core::{Endpoint, Error, HttpRequest, HttpResponse, RequestContext};
use http::Method;
use serde::Serialize;

use super::model::BatchJob;
use super::query::JobQuery;

/// The largest request body CARTO accepts on job creation, counted as JavaScript's
/// `JSON.stringify(body).length` (UTF-16 code units), `api_key` included.
pub const MAX_PAYLOAD_LEN: usize = 16 * 1024;

const JOB_PATH: [&str; 4] = ["api", "v2", "sql", "job"];

/// `POST /api/v2/sql/job` with `{"query": ...}`: creates a job (CARTO answers 201).
///
/// The request is refused before sending, with [`Error::InvalidInput`], when a query
/// is empty or when the body exceeds [`MAX_PAYLOAD_LEN`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateJob {
    query: JobQuery,
}

impl CreateJob {
    /// Creates a job running `query`.
    pub fn new(query: impl Into<JobQuery>) -> Self {
        Self {
            query: query.into(),
        }
    }

    /// The job's SQL.
    pub fn query(&self) -> &JobQuery {
        &self.query
    }
}

#[derive(Serialize)]
struct CreateBody<'a> {
    query: &'a JobQuery,
}

impl Endpoint for CreateJob {
    type Output = BatchJob;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        self.query.validate()?;
        let request = ctx
            .request(Method::POST, &JOB_PATH)
            .json(&CreateBody { query: &self.query })?
            .build()?;
        let len = payload_len(request.body());
        if len > MAX_PAYLOAD_LEN {
            return Err(Error::invalid(
                "batch job",
                format!(
                    "the payload is {len} bytes; CARTO accepts at most {MAX_PAYLOAD_LEN} bytes \
                     (use the COPY API to load data)"
                ),
            ));
        }
        Ok(request)
    }

    fn parse(&self, response: HttpResponse) -> Result<BatchJob, Error> {
        parse_json(&response)
    }
}

/// The length JavaScript gives the body text (UTF-16 code units).
fn payload_len(body: &[u8]) -> usize {
    match std::str::from_utf8(body) {
        Ok(text) => text.encode_utf16().count(),
        Err(_) => body.len(),
    }
}

/// `GET /api/v2/sql/job/{job_id}`: reads a job. An unknown id is a 400 `Job with id ...
/// not found` [`Error::Api`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetJob {
    job_id: String,
}

impl GetJob {
    /// Reads job `job_id`.
    pub fn new(job_id: impl Into<String>) -> Self {
        Self {
            job_id: job_id.into(),
        }
    }
}

impl Endpoint for GetJob {
    type Output = BatchJob;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        job_request(ctx, Method::GET, &self.job_id)
    }

    fn parse(&self, response: HttpResponse) -> Result<BatchJob, Error> {
        parse_json(&response)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `DELETE /api/v2/sql/job/{job_id}`: cancels a job and returns it with status
/// `cancelled`. A finished job cannot be cancelled: CARTO's 400 (`Cannot set status
/// from done to cancelled`) stays an [`Error::Api`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelJob {
    job_id: String,
}

impl CancelJob {
    /// Cancels job `job_id`.
    pub fn new(job_id: impl Into<String>) -> Self {
        Self {
            job_id: job_id.into(),
        }
    }
}

impl Endpoint for CancelJob {
    type Output = BatchJob;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        job_request(ctx, Method::DELETE, &self.job_id)
    }

    fn parse(&self, response: HttpResponse) -> Result<BatchJob, Error> {
        parse_json(&response)
    }

    /// Cancelling twice leaves the job cancelled, as once.
    fn is_idempotent(&self) -> bool {
        true
    }
}

fn job_request(ctx: &RequestContext, method: Method, job_id: &str) -> Result<HttpRequest, Error> {
    if job_id.trim().is_empty() {
        return Err(Error::invalid("batch job id", "the job id is empty"));
    }
    let [a, b, c, d] = JOB_PATH;
    ctx.request(method, &[a, b, c, d, job_id]).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16_length() {
        assert_eq!(payload_len("aé😀".as_bytes()), 4);
        assert_eq!(payload_len(&[0xff, 0xfe]), 2);
    }
}
