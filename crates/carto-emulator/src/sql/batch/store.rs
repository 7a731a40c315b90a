//! The `batch_jobs` table: opening it, loading and saving jobs.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use http::StatusCode;

use super::Batch;
use super::model::{FINISHED_TTL_SECS, Job, JobQuery, UNKNOWN, is_final, now_text};
use crate::sql::error::ApiError;

pub(super) const COLUMNS: &str =
    "job_id, username, status, kind, query, created_at, updated_at, failed_reason, fallback_status";

/// The `failed_reason` of a job that was running when the emulator stopped.
const INTERRUPTED: &str = "the job was running when the emulator stopped";

pub(super) fn job_from_row(row: &tokio_postgres::Row) -> Job {
    let kind: String = row.get(3);
    let query: String = row.get(4);
    Job {
        job_id: row.get(0),
        user: row.get(1),
        status: row.get(2),
        query: JobQuery::from_stored(&kind, &query),
        created_at: row.get(5),
        updated_at: row.get(6),
        failed_reason: row.get(7),
        fallback_status: row.get(8),
    }
}

pub(super) fn storage_error(e: &tokio_postgres::Error) -> ApiError {
    tracing::warn!(error = %e, "batch job storage failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "cannot connect to the database",
    )
}

impl Batch {
    pub(super) async fn open(
        registry: tokio_postgres::Client,
        host: String,
        port: u16,
        socket_dir: Option<std::path::PathBuf>,
    ) -> Result<Batch, tokio_postgres::Error> {
        registry
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS public.batch_jobs (
                    seq bigserial,
                    job_id text PRIMARY KEY,
                    username text NOT NULL,
                    status text NOT NULL,
                    kind text NOT NULL,
                    query text NOT NULL,
                    created_at text NOT NULL,
                    updated_at text NOT NULL,
                    finished_at timestamptz,
                    failed_reason text,
                    fallback_status text,
                    db_name text NOT NULL,
                    db_schema text NOT NULL,
                    db_role text NOT NULL,
                    db_password text NOT NULL
                );
                CREATE INDEX IF NOT EXISTS batch_jobs_queue ON public.batch_jobs (username, status, seq);",
            )
            .await?;
        // Jobs that were running when the previous process died cannot be resumed: they end
        // `unknown` (CARTO's final status for them), and so does the query that was running.
        let running = registry
            .query(
                &format!("SELECT {COLUMNS} FROM public.batch_jobs WHERE status = 'running'"),
                &[],
            )
            .await?;
        for row in &running {
            let mut job = job_from_row(row);
            job.query.settle_running(UNKNOWN);
            registry
                .execute(
                    "UPDATE public.batch_jobs SET status = 'unknown', query = $2, updated_at = $3,
                            failed_reason = coalesce(failed_reason, $4), finished_at = now()
                     WHERE job_id = $1 AND status = 'running'",
                    &[
                        &job.job_id,
                        &job.query.to_json().to_string(),
                        &now_text(),
                        &INTERRUPTED,
                    ],
                )
                .await?;
        }
        Ok(Batch {
            registry,
            host,
            port,
            socket_dir,
            workers: tokio::sync::Mutex::new(HashSet::new()),
            running: Mutex::new(HashMap::new()),
        })
    }

    pub(super) async fn load(&self, user: &str, job_id: &str) -> Result<Option<Job>, ApiError> {
        // Finished jobs expire (CARTO keeps them 2 h in redis).
        self.registry
            .execute(
                &format!(
                    "DELETE FROM public.batch_jobs WHERE finished_at < now() - interval '{FINISHED_TTL_SECS} seconds'"
                ),
                &[],
            )
            .await
            .map_err(|e| storage_error(&e))?;
        let row = self
            .registry
            .query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM public.batch_jobs WHERE job_id = $1 AND username = $2"
                ),
                &[&job_id, &user],
            )
            .await
            .map_err(|e| storage_error(&e))?;
        Ok(row.as_ref().map(job_from_row))
    }

    /// The user's jobs kept so far, newest first (at most `limit`).
    pub(super) async fn list(&self, user: &str, limit: i64) -> Result<Vec<Job>, ApiError> {
        let rows = self
            .registry
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM public.batch_jobs WHERE username = $1
                     AND (finished_at IS NULL OR finished_at >= now() - interval '{FINISHED_TTL_SECS} seconds')
                     ORDER BY created_at DESC, job_id LIMIT $2"
                ),
                &[&user, &limit],
            )
            .await
            .map_err(|e| storage_error(&e))?;
        Ok(rows.iter().map(job_from_row).collect())
    }

    pub(super) async fn save(&self, job: &Job) -> Result<(), tokio_postgres::Error> {
        let finished = is_final(&job.status);
        self.registry
            .execute(
                "UPDATE public.batch_jobs SET status = $2, query = $3, updated_at = $4, failed_reason = $5,
                        fallback_status = $6, finished_at = CASE WHEN $7 THEN now() ELSE NULL END
                 WHERE job_id = $1 AND status <> 'cancelled'",
                &[
                    &job.job_id,
                    &job.status,
                    &job.query.to_json().to_string(),
                    &job.updated_at,
                    &job.failed_reason,
                    &job.fallback_status,
                    &finished,
                ],
            )
            .await?;
        Ok(())
    }

    pub(super) async fn status_of(&self, job_id: &str) -> Option<String> {
        self.registry
            .query_opt(
                "SELECT status FROM public.batch_jobs WHERE job_id = $1",
                &[&job_id],
            )
            .await
            .ok()
            .flatten()
            .map(|r| r.get(0))
    }
}
