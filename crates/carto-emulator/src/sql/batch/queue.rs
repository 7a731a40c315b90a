//! Creating and cancelling jobs, and the per-user queues and their workers.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Batch;
use super::model::{CANCELLED, Job, JobQuery, MAX_QUEUED, PENDING, can_transition, now_text};
use super::store::{COLUMNS, job_from_row, storage_error};
use crate::sql::SqlSession;
use crate::sql::error::ApiError;
use crate::sql::wire::{CancelHandle, ConnParams};

/// Credentials a job runs with.
pub(super) struct JobLogin {
    pub(super) params: ConnParams,
    pub(super) schema: String,
}

impl Batch {
    pub(super) async fn create(
        self: &Arc<Self>,
        session: &SqlSession,
        body: &Map<String, Value>,
    ) -> Result<Job, ApiError> {
        let query = JobQuery::parse(body.get("query"))?;
        let queued: i64 = self
            .registry
            .query_one(
                "SELECT count(*) FROM public.batch_jobs WHERE username = $1 AND status = 'pending'",
                &[&session.username],
            )
            .await
            .map_err(|e| storage_error(&e))?
            .get(0);
        if queued >= MAX_QUEUED {
            return Err(ApiError::bad_request(format!(
                "Failed to create job. Max number of jobs ({MAX_QUEUED}) queued reached"
            )));
        }
        let now = now_text();
        let job = Job {
            job_id: uuid::Uuid::new_v4().to_string(),
            user: session.username.clone(),
            status: PENDING.to_string(),
            fallback_status: query.has_job_fallback().then(|| PENDING.to_string()),
            query,
            created_at: now.clone(),
            updated_at: now,
            failed_reason: None,
        };
        self.registry
            .execute(
                "INSERT INTO public.batch_jobs (job_id, username, status, kind, query, created_at, updated_at, fallback_status,
                                         db_name, db_schema, db_role, db_password)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                &[
                    &job.job_id,
                    &job.user,
                    &job.status,
                    &job.query.kind(),
                    &job.query.to_json().to_string(),
                    &job.created_at,
                    &job.updated_at,
                    &job.fallback_status,
                    &session.database,
                    &session.schema,
                    &session.role,
                    &session.password,
                ],
            )
            .await
            .map_err(|e| storage_error(&e))?;
        self.ensure_worker(&job.user).await;
        Ok(job)
    }

    pub(super) async fn cancel(&self, user: &str, job_id: &str) -> Result<Job, ApiError> {
        let Some(mut job) = self.load(user, job_id).await? else {
            return Err(ApiError::bad_request(format!(
                "Job with id {job_id} not found"
            )));
        };
        if !can_transition(&job.status, CANCELLED) {
            // CARTO's fallback jobs word it differently.
            let message = match job.query {
                JobQuery::Fallback(_) => format!("Cannot set status to {CANCELLED}"),
                _ => format!("Cannot set status from {} to {CANCELLED}", job.status),
            };
            return Err(ApiError::bad_request(message));
        }
        job.status = CANCELLED.to_string();
        job.updated_at = now_text();
        self.registry
            .execute(
                "UPDATE public.batch_jobs SET status = 'cancelled', updated_at = $2, finished_at = now() WHERE job_id = $1",
                &[&job.job_id, &job.updated_at],
            )
            .await
            .map_err(|e| storage_error(&e))?;
        // A cancel request only stops a query that is running at that moment: repeat it until
        // the runner has let go of the job (it may be connecting or between statements).
        for _ in 0..100 {
            let handle = self.running_handle(job_id);
            let Some(h) = handle else { break };
            let _ = h.cancel().await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Ok(job)
    }

    pub(super) fn running_handle(&self, job_id: &str) -> Option<CancelHandle> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(job_id)
            .cloned()
    }

    /// Starts the worker of `user`'s queue unless one is running.
    pub(super) async fn ensure_worker(self: &Arc<Self>, user: &str) {
        let mut workers = self.workers.lock().await;
        if workers.insert(user.to_string()) {
            let batch = self.clone();
            let user = user.to_string();
            tokio::spawn(async move { batch.work(user).await });
        }
    }

    /// Starts the workers of every queue with pending jobs (after a restart).
    pub(super) async fn resume(self: &Arc<Self>) -> Result<(), tokio_postgres::Error> {
        let rows = self
            .registry
            .query(
                "SELECT DISTINCT username FROM public.batch_jobs WHERE status = 'pending'",
                &[],
            )
            .await?;
        for row in rows {
            let user: String = row.get(0);
            self.ensure_worker(&user).await;
        }
        Ok(())
    }

    pub(super) async fn next_pending(&self, user: &str) -> Option<(Job, JobLogin)> {
        let row = self
            .registry
            .query_opt(
                &format!(
                    "SELECT {COLUMNS}, db_name, db_schema, db_role, db_password FROM public.batch_jobs
                     WHERE username = $1 AND status = 'pending' ORDER BY seq LIMIT 1"
                ),
                &[&user],
            )
            .await
            .ok()??;
        let login = JobLogin {
            params: ConnParams {
                host: self.host.clone(),
                port: self.port,
                socket_dir: self.socket_dir.clone(),
                database: row.get(9),
                user: row.get(11),
                password: row.get(12),
                options: Vec::new(),
            },
            schema: row.get(10),
        };
        Some((job_from_row(&row), login))
    }

    pub(super) async fn work(self: Arc<Self>, user: String) {
        loop {
            let next = self.next_pending(&user).await;
            let Some((job, login)) = next else {
                let mut workers = self.workers.lock().await;
                if self.next_pending(&user).await.is_none() {
                    workers.remove(&user);
                    return;
                }
                continue;
            };
            self.run(job, login).await;
        }
    }
}
