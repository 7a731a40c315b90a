//! The Batch SQL API (§5): `POST /api/v2/sql/job`, `GET` and `DELETE /api/v2/sql/job/{id}`.
//!
//! Jobs are rows of a `batch_jobs` table in the registry database given to
//! [`SqlEngine::enable_batch`], so a restart keeps them; pending jobs run after a restart and
//! jobs that were running when the emulator died are marked `unknown`. Each user has one
//! queue, worked by one background task at a time, oldest job first. A job runs in a session
//! logged in as the master role captured when it was created, its SQL prefixed with
//! `/* <job_id> */`; cancelling a running job sends PostgreSQL a cancel request, so the query
//! really stops.
//!
//! [`model`]: jobs, their queries and statuses; [`store`]: the `batch_jobs` table;
//! [`queue`]: creating, cancelling and queueing jobs, one worker per user; [`runner`]:
//! running a job's queries. This module holds the service and its HTTP entry points.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use carto_core::models::ApiKeyType;
use http::{Method, StatusCode};
use serde_json::{Map, Value};

mod model;
mod queue;
mod runner;
mod store;

use self::model::MAX_PAYLOAD;
use crate::sql::error::ApiError;
use crate::sql::wire::CancelHandle;
use crate::sql::{SqlAnswer, SqlEngine, SqlSession};

/// The batch service: the job table and the per-user workers.
pub(crate) struct Batch {
    pub(super) registry: tokio_postgres::Client,
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) socket_dir: Option<std::path::PathBuf>,
    /// Users whose queue has a worker.
    pub(super) workers: tokio::sync::Mutex<HashSet<String>>,
    /// Running jobs and how to cancel them.
    pub(super) running: Mutex<HashMap<String, CancelHandle>>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl SqlEngine {
    /// Enables the Batch API with jobs kept in table `batch_jobs` of the database `registry`
    /// is connected to (created if missing), and starts the queues with pending jobs.
    /// Without it, job requests answer 500.
    pub async fn enable_batch(
        &self,
        registry: tokio_postgres::Client,
    ) -> Result<(), tokio_postgres::Error> {
        let batch = Arc::new(
            Batch::open(
                registry,
                self.host.clone(),
                self.port,
                self.socket_dir.clone(),
            )
            .await?,
        );
        batch.resume().await?;
        let _ = self.batch.set(batch);
        Ok(())
    }

    /// The batch service for `session`: the master key only (403 `permission denied`), once
    /// enabled (500 before).
    fn batch_for(&self, session: &SqlSession) -> Result<&Arc<Batch>, ApiError> {
        if session.level != ApiKeyType::Master {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "permission denied"));
        }
        self.batch.get().ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the Batch API is not enabled",
            )
        })
    }

    /// The user's jobs as the Batch API's `GET` documents, newest first (at most 100): the
    /// master key only, as every Batch request.
    pub(crate) async fn list_jobs(&self, session: &SqlSession) -> SqlAnswer {
        let batch = match self.batch_for(session) {
            Ok(b) => b,
            Err(e) => return e.into_answer(None),
        };
        match batch.list(&session.username, 100).await {
            Ok(jobs) => SqlAnswer::json(
                StatusCode::OK,
                Value::Array(jobs.iter().map(model::Job::read_json).collect()).to_string(),
            ),
            Err(e) => e.into_answer(None),
        }
    }

    /// Answers the Batch API: `POST .../sql/job` (`job_id` `None`) creates a job from the
    /// `query` of `body` (the request's body parameters), `GET .../sql/job/{id}` reads one and
    /// `DELETE .../sql/job/{id}` cancels it. Only the master key may use it (403
    /// `permission denied` otherwise); other methods answer 404.
    pub async fn handle_job(
        &self,
        session: SqlSession,
        method: &Method,
        job_id: Option<&str>,
        body: Map<String, Value>,
    ) -> SqlAnswer {
        if *method == Method::POST && job_id.is_none() {
            let size = Value::Object(body.clone()).to_string().len();
            if size > MAX_PAYLOAD {
                return ApiError::bad_request(format!(
                    "Your payload is too large: {size} bytes. Max size allowed is {MAX_PAYLOAD} bytes (16kb). Are you trying to import data?. Please, check out import api http://docs.cartodb.com/cartodb-platform/import-api/"
                ))
                .into_answer(None);
            }
        }
        let batch = match self.batch_for(&session) {
            Ok(b) => b,
            Err(e) => return e.into_answer(None),
        };
        let result = match (method, job_id) {
            (&Method::POST, None) => batch
                .create(&session, &body)
                .await
                .map(|j| (StatusCode::CREATED, j.created_json())),
            (&Method::GET, Some(id)) => match batch.load(&session.username, id).await {
                Ok(Some(job)) => Ok((StatusCode::OK, job.read_json())),
                Ok(None) => Err(ApiError::bad_request(format!("Job with id {id} not found"))),
                Err(e) => Err(e),
            },
            (&Method::DELETE, Some(id)) => batch
                .cancel(&session.username, id)
                .await
                .map(|j| (StatusCode::OK, j.read_json())),
            _ => Err(ApiError::new(StatusCode::NOT_FOUND, "Not Found")),
        };
        match result {
            Ok((status, doc)) => SqlAnswer::json(status, doc.to_string()),
            Err(e) => e.into_answer(None),
        }
    }
}
