//! The Batch SQL API (§5): `POST /api/v2/sql/job`, `GET` and `DELETE /api/v2/sql/job/{id}`.
//!
//! Jobs are rows of a `batch_jobs` table in the registry database given to
//! [`SqlEngine::enable_batch`], so a restart keeps them; pending jobs run after a restart and
//! jobs that were running when the emulator died are marked `unknown`. Each user has one
//! queue, worked by one background task at a time, oldest job first. A job runs in a session
//! logged in as the master role captured when it was created, its SQL prefixed with
//! `/* <job_id> */`; cancelling a running job sends PostgreSQL a cancel request, so the query
//! really stops.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Map, Value, json};

use super::error::ApiError;
use super::wire::{CancelHandle, ConnParams, PgConn, WireError};
use super::{KeyLevel, SqlEngine, SqlSession, quote_ident};

/// Largest accepted body (`JSON.stringify(req.body).length`).
const MAX_PAYLOAD: usize = 16_384;
/// Queued (pending) jobs allowed per user.
const MAX_QUEUED: i64 = 64;
/// Finished jobs are forgotten after this many seconds.
const FINISHED_TTL_SECS: i64 = 2 * 3600;

/// Job and query statuses.
const PENDING: &str = "pending";
const RUNNING: &str = "running";
const DONE: &str = "done";
const FAILED: &str = "failed";
const CANCELLED: &str = "cancelled";
const UNKNOWN: &str = "unknown";
const SKIPPED: &str = "skipped";

fn is_final(status: &str) -> bool {
    matches!(status, DONE | FAILED | CANCELLED | UNKNOWN)
}

/// CARTO's valid status transitions.
fn can_transition(from: &str, to: &str) -> bool {
    match from {
        PENDING => matches!(to, RUNNING | CANCELLED | UNKNOWN | SKIPPED),
        RUNNING => matches!(to, DONE | FAILED | CANCELLED | PENDING | UNKNOWN),
        _ => false,
    }
}

fn now_text() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// What a job runs.
#[derive(Debug, Clone, PartialEq)]
enum JobQuery {
    /// One SQL text.
    Simple(String),
    /// Several SQL texts with a status each.
    Multi(Vec<Value>),
    /// Queries with `onsuccess` / `onerror` fallbacks, and job-level fallbacks.
    Fallback(Value),
}

impl JobQuery {
    /// Parses the `query` body parameter, with CARTO's messages.
    fn parse(v: Option<&Value>) -> Result<JobQuery, ApiError> {
        let invalid = || ApiError::bad_request("You must indicate a valid SQL");
        let no_class = || ApiError::bad_request("there is no job class for the provided query");
        match v {
            None | Some(Value::Null) => Err(invalid()),
            Some(Value::String(s)) if s.trim().is_empty() => Err(invalid()),
            Some(Value::String(s)) => Ok(JobQuery::Simple(s.clone())),
            Some(Value::Array(items)) if items.is_empty() => Err(invalid()),
            Some(Value::Array(items)) => {
                if items
                    .iter()
                    .all(|i| i.as_str().is_some_and(|s| !s.trim().is_empty()))
                {
                    Ok(JobQuery::Multi(
                        items
                            .iter()
                            .map(|q| json!({"query": q, "status": PENDING}))
                            .collect(),
                    ))
                } else {
                    Err(no_class())
                }
            }
            Some(Value::Object(obj)) => {
                let Some(Value::Array(queries)) = obj.get("query") else {
                    return Err(no_class());
                };
                if queries.is_empty() {
                    return Err(invalid());
                }
                let mut out = Vec::new();
                for q in queries {
                    let Some(item) = q.as_object() else {
                        return Err(no_class());
                    };
                    if !item.get("query").is_some_and(Value::is_string) {
                        return Err(no_class());
                    }
                    let mut item = item.clone();
                    item.insert("status".into(), json!(PENDING));
                    if item.contains_key("onsuccess") || item.contains_key("onerror") {
                        item.insert("fallback_status".into(), json!(PENDING));
                    }
                    out.push(Value::Object(item));
                }
                let mut doc = Map::new();
                doc.insert("query".into(), Value::Array(out));
                for k in ["onsuccess", "onerror"] {
                    if let Some(v) = obj.get(k) {
                        doc.insert(k.into(), v.clone());
                    }
                }
                Ok(JobQuery::Fallback(Value::Object(doc)))
            }
            Some(_) => Err(no_class()),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            JobQuery::Simple(s) => Value::String(s.clone()),
            JobQuery::Multi(items) => Value::Array(items.clone()),
            JobQuery::Fallback(doc) => doc.clone(),
        }
    }

    fn from_stored(kind: &str, text: &str) -> JobQuery {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        match (kind, v) {
            ("multi", Value::Array(items)) => JobQuery::Multi(items),
            ("fallback", doc) => JobQuery::Fallback(doc),
            (_, Value::String(s)) => JobQuery::Simple(s),
            (_, other) => JobQuery::Simple(other.to_string()),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            JobQuery::Simple(_) => "simple",
            JobQuery::Multi(_) => "multi",
            JobQuery::Fallback(_) => "fallback",
        }
    }

    /// Whether the job has job-level fallbacks (and so a job-level `fallback_status`).
    fn has_job_fallback(&self) -> bool {
        matches!(self, JobQuery::Fallback(doc) if doc.get("onsuccess").is_some() || doc.get("onerror").is_some())
    }
}

/// A job as stored.
#[derive(Debug, Clone)]
struct Job {
    job_id: String,
    user: String,
    status: String,
    query: JobQuery,
    created_at: String,
    updated_at: String,
    failed_reason: Option<String>,
    fallback_status: Option<String>,
}

impl Job {
    /// The JSON of `POST` (201): `user, query, job_id, created_at, updated_at, status`.
    fn created_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("user".into(), json!(self.user));
        m.insert("query".into(), self.query.to_json());
        m.insert("job_id".into(), json!(self.job_id));
        m.insert("created_at".into(), json!(self.created_at));
        m.insert("updated_at".into(), json!(self.updated_at));
        m.insert("status".into(), json!(self.status));
        if let Some(f) = &self.fallback_status {
            m.insert("fallback_status".into(), json!(f));
        }
        Value::Object(m)
    }

    /// The JSON of `GET` / `DELETE`: `user, status, query, created_at, updated_at,
    /// [failed_reason,] [fallback_status,] job_id`.
    fn read_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("user".into(), json!(self.user));
        m.insert("status".into(), json!(self.status));
        m.insert("query".into(), self.query.to_json());
        m.insert("created_at".into(), json!(self.created_at));
        m.insert("updated_at".into(), json!(self.updated_at));
        if let Some(r) = &self.failed_reason {
            m.insert("failed_reason".into(), json!(r));
        }
        if let Some(f) = &self.fallback_status {
            m.insert("fallback_status".into(), json!(f));
        }
        m.insert("job_id".into(), json!(self.job_id));
        Value::Object(m)
    }
}

/// The batch service: the job table and the per-user workers.
pub(crate) struct Batch {
    registry: tokio_postgres::Client,
    host: String,
    port: u16,
    socket_dir: Option<std::path::PathBuf>,
    /// Users whose queue has a worker.
    workers: tokio::sync::Mutex<HashSet<String>>,
    /// Running jobs and how to cancel them.
    running: Mutex<HashMap<String, CancelHandle>>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("host", &self.host)
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

const COLUMNS: &str =
    "job_id, username, status, kind, query, created_at, updated_at, failed_reason, fallback_status";

fn job_from_row(row: &tokio_postgres::Row) -> Job {
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

fn json_response(status: StatusCode, v: &Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    r
}

fn storage_error(e: &tokio_postgres::Error) -> ApiError {
    tracing::warn!(error = %e, "batch job storage failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "cannot connect to the database",
    )
}

/// Credentials a job runs with.
struct JobLogin {
    params: ConnParams,
    schema: String,
}

impl Batch {
    async fn open(
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
        // Jobs that were running when the previous process died cannot be resumed.
        registry
            .execute(
                "UPDATE public.batch_jobs SET status = 'unknown', updated_at = $1, finished_at = now() WHERE status = 'running'",
                &[&now_text()],
            )
            .await?;
        Ok(Batch {
            registry,
            host,
            port,
            socket_dir,
            workers: tokio::sync::Mutex::new(HashSet::new()),
            running: Mutex::new(HashMap::new()),
        })
    }

    async fn load(&self, user: &str, job_id: &str) -> Result<Option<Job>, ApiError> {
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

    async fn save(&self, job: &Job) -> Result<(), tokio_postgres::Error> {
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

    async fn status_of(&self, job_id: &str) -> Option<String> {
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

    async fn create(
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

    async fn cancel(&self, user: &str, job_id: &str) -> Result<Job, ApiError> {
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

    fn running_handle(&self, job_id: &str) -> Option<CancelHandle> {
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(job_id)
            .cloned()
    }

    /// Starts the worker of `user`'s queue unless one is running.
    async fn ensure_worker(self: &Arc<Self>, user: &str) {
        let mut workers = self.workers.lock().await;
        if workers.insert(user.to_string()) {
            let batch = self.clone();
            let user = user.to_string();
            tokio::spawn(async move { batch.work(user).await });
        }
    }

    /// Starts the workers of every queue with pending jobs (after a restart).
    async fn resume(self: &Arc<Self>) -> Result<(), tokio_postgres::Error> {
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

    async fn next_pending(&self, user: &str) -> Option<(Job, JobLogin)> {
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
            },
            schema: row.get(10),
        };
        Some((job_from_row(&row), login))
    }

    async fn work(self: Arc<Self>, user: String) {
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

    /// Runs one job to its end.
    async fn run(&self, mut job: Job, login: JobLogin) {
        let claimed = self
            .registry
            .execute(
                "UPDATE public.batch_jobs SET status = 'running', updated_at = $2 WHERE job_id = $1 AND status = 'pending'",
                &[&job.job_id, &now_text()],
            )
            .await;
        match claimed {
            Ok(1) => {}
            // Cancelled meanwhile.
            Ok(_) => return,
            Err(e) => {
                // The registry is unreachable: do not spin on the same job.
                tracing::warn!(error = %e, "batch job cannot be claimed");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                return;
            }
        }
        job.status = RUNNING.to_string();
        // Outside the engine's session bounds (`SessionLimits`): a job runs with the master
        // key only, and one job at a time per user, so this adds at most one session per user.
        let mut conn = match PgConn::connect(&login.params).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "batch job cannot connect");
                job.status = FAILED.to_string();
                job.failed_reason = Some("cannot connect to the database".to_string());
                job.updated_at = now_text();
                let _ = self.save(&job).await;
                return;
            }
        };
        let mut path = vec![quote_ident(&login.schema)];
        if login.schema != "public" {
            path.push("public".into());
        }
        let _ = conn
            .simple(&format!("SET search_path TO {}", path.join(", ")))
            .await;
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(job.job_id.clone(), conn.cancel_handle());
        let id = job.job_id.clone();
        let outcome = self.run_queries(&mut job, &mut conn).await;
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&id);
        if self.status_of(&id).await.as_deref() == Some(CANCELLED) {
            // The interrupted query of a multi-query or fallback job is cancelled too.
            let mut query = job.query.to_json();
            let items = match &mut query {
                Value::Array(items) => Some(items),
                Value::Object(doc) => doc.get_mut("query").and_then(Value::as_array_mut),
                _ => None,
            };
            if let Some(items) = items {
                for item in items.iter_mut().filter(|i| i["status"] == RUNNING) {
                    item["status"] = json!(CANCELLED);
                }
                let _ = self
                    .registry
                    .execute(
                        "UPDATE public.batch_jobs SET query = $2 WHERE job_id = $1",
                        &[&id, &query.to_string()],
                    )
                    .await;
            }
            return;
        }
        match outcome {
            Ok(()) => job.status = DONE.to_string(),
            Err(reason) => {
                job.status = FAILED.to_string();
                job.failed_reason = Some(reason);
            }
        }
        job.updated_at = now_text();
        let _ = self.save(&job).await;
    }

    /// Runs one SQL text of a job; `Err` carries PostgreSQL's message.
    async fn exec(
        &self,
        job_id: &str,
        conn: &mut PgConn,
        sql: &str,
        timeout_ms: Option<u64>,
    ) -> Result<(), String> {
        let timeout = timeout_ms.map_or(0, |t| t);
        let _ = conn
            .simple(&format!("SET statement_timeout TO {timeout}"))
            .await;
        match conn.execute(&format!("/* {job_id} */ {sql}")).await {
            Ok(_) => Ok(()),
            Err(WireError::Db(e)) => Err(e.message),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn run_queries(&self, job: &mut Job, conn: &mut PgConn) -> Result<(), String> {
        let id = job.job_id.clone();
        match job.query.clone() {
            JobQuery::Simple(sql) => {
                if self.status_of(&id).await.as_deref() == Some(CANCELLED) {
                    return Err(CANCELLED.to_string());
                }
                self.exec(&id, conn, &sql, None).await
            }
            JobQuery::Multi(mut items) => {
                let mut result = Ok(());
                for i in 0..items.len() {
                    if self.status_of(&id).await.as_deref() == Some(CANCELLED) {
                        return Err(CANCELLED.to_string());
                    }
                    let sql = items[i]["query"].as_str().unwrap_or_default().to_string();
                    items[i]["status"] = json!(RUNNING);
                    job.query = JobQuery::Multi(items.clone());
                    job.updated_at = now_text();
                    let _ = self.save(job).await;
                    match self.exec(&id, conn, &sql, None).await {
                        Ok(()) => items[i]["status"] = json!(DONE),
                        Err(_) if self.status_of(&id).await.as_deref() == Some(CANCELLED) => {
                            items[i]["status"] = json!(CANCELLED);
                            job.query = JobQuery::Multi(items);
                            return Err(CANCELLED.to_string());
                        }
                        Err(reason) => {
                            items[i]["status"] = json!(FAILED);
                            items[i]["failed_reason"] = json!(reason);
                            result = Err(reason);
                        }
                    }
                    job.query = JobQuery::Multi(items.clone());
                    if result.is_err() {
                        break;
                    }
                    if i + 1 < items.len() {
                        // Like CARTO, the job is pending again between its queries.
                        job.status = PENDING.to_string();
                        job.updated_at = now_text();
                        let _ = self.save(job).await;
                        job.status = RUNNING.to_string();
                    }
                }
                result
            }
            JobQuery::Fallback(mut doc) => {
                let count = doc["query"].as_array().map_or(0, Vec::len);
                let mut first_error: Option<String> = None;
                for i in 0..count {
                    if self.status_of(&id).await.as_deref() == Some(CANCELLED) {
                        return Err(CANCELLED.to_string());
                    }
                    let item = doc["query"][i].clone();
                    if first_error.is_some() {
                        doc["query"][i]["status"] = json!(SKIPPED);
                        if item.get("fallback_status").is_some() {
                            doc["query"][i]["fallback_status"] = json!(SKIPPED);
                        }
                        continue;
                    }
                    let sql = item["query"].as_str().unwrap_or_default().to_string();
                    doc["query"][i]["status"] = json!(RUNNING);
                    doc["query"][i]["started_at"] = json!(now_text());
                    job.query = JobQuery::Fallback(doc.clone());
                    job.updated_at = now_text();
                    let _ = self.save(job).await;
                    let result = self.exec(&id, conn, &sql, item["timeout"].as_u64()).await;
                    if result.is_err() && self.status_of(&id).await.as_deref() == Some(CANCELLED) {
                        doc["query"][i]["status"] = json!(CANCELLED);
                        job.query = JobQuery::Fallback(doc);
                        return Err(CANCELLED.to_string());
                    }
                    doc["query"][i]["ended_at"] = json!(now_text());
                    let (status, fallback) = match &result {
                        Ok(()) => (DONE, item.get("onsuccess").and_then(Value::as_str)),
                        Err(reason) => {
                            doc["query"][i]["failed_reason"] = json!(reason);
                            first_error = Some(reason.clone());
                            (FAILED, item.get("onerror").and_then(Value::as_str))
                        }
                    };
                    doc["query"][i]["status"] = json!(status);
                    if item.get("fallback_status").is_some() {
                        let fb = match fallback {
                            None => SKIPPED,
                            Some(sql) => {
                                let sql =
                                    template(sql, &id, result.as_ref().err().map(String::as_str));
                                if self.exec(&id, conn, &sql, None).await.is_ok() {
                                    DONE
                                } else {
                                    FAILED
                                }
                            }
                        };
                        doc["query"][i]["fallback_status"] = json!(fb);
                    }
                    job.query = JobQuery::Fallback(doc.clone());
                }
                if job.fallback_status.is_some() {
                    let fallback = match &first_error {
                        None => doc.get("onsuccess").and_then(Value::as_str),
                        Some(_) => doc.get("onerror").and_then(Value::as_str),
                    };
                    let fb = match fallback {
                        None => SKIPPED,
                        Some(sql) => {
                            let sql = template(sql, &id, first_error.as_deref());
                            if self.exec(&id, conn, &sql, None).await.is_ok() {
                                DONE
                            } else {
                                FAILED
                            }
                        }
                    };
                    job.fallback_status = Some(fb.to_string());
                }
                job.query = JobQuery::Fallback(doc);
                match first_error {
                    Some(e) => Err(e),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Fills `<%= job_id %>` and `<%= error_message %>` in a fallback query.
fn template(sql: &str, job_id: &str, error: Option<&str>) -> String {
    sql.replace("<%= job_id %>", job_id).replace(
        "<%= error_message %>",
        &error.unwrap_or("").replace('\'', "''"),
    )
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
    ) -> Response {
        if *method == Method::POST && job_id.is_none() {
            let size = Value::Object(body.clone()).to_string().len();
            if size > MAX_PAYLOAD {
                return ApiError::bad_request(format!(
                    "Your payload is too large: {size} bytes. Max size allowed is {MAX_PAYLOAD} bytes (16kb). Are you trying to import data?. Please, check out import api http://docs.cartodb.com/cartodb-platform/import-api/"
                ))
                .into_response(None);
            }
        }
        if session.level != KeyLevel::Master {
            return ApiError::new(StatusCode::FORBIDDEN, "permission denied").into_response(None);
        }
        let Some(batch) = self.batch.get() else {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the Batch API is not enabled",
            )
            .into_response(None);
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
            Ok((status, doc)) => json_response(status, &doc),
            Err(e) => e.into_response(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_queries_parse_like_carto() {
        let p = |v: Value| JobQuery::parse(Some(&v));
        assert_eq!(
            p(json!("SELECT 1")).unwrap(),
            JobQuery::Simple("SELECT 1".into())
        );
        assert_eq!(
            p(json!(["SELECT 1", "SELECT 2"])).unwrap().to_json(),
            json!([{"query": "SELECT 1", "status": "pending"}, {"query": "SELECT 2", "status": "pending"}])
        );
        let fb = p(json!({"query": [{"query": "SELECT 1", "onerror": "SELECT 2"}, {"query": "SELECT 3"}], "onsuccess": "SELECT 4"}))
            .unwrap();
        assert_eq!(
            fb.to_json(),
            json!({"query": [{"query": "SELECT 1", "onerror": "SELECT 2", "status": "pending", "fallback_status": "pending"},
                              {"query": "SELECT 3", "status": "pending"}], "onsuccess": "SELECT 4"})
        );
        assert!(fb.has_job_fallback());
        for bad in [json!(""), json!([]), Value::Null] {
            assert_eq!(p(bad).unwrap_err().message, "You must indicate a valid SQL");
        }
        assert_eq!(
            JobQuery::parse(None).unwrap_err().message,
            "You must indicate a valid SQL"
        );
        for bad in [
            json!(1),
            json!([1]),
            json!({"query": "x"}),
            json!({"query": [1]}),
        ] {
            assert_eq!(
                p(bad).unwrap_err().message,
                "there is no job class for the provided query"
            );
        }
    }

    #[test]
    fn transitions() {
        assert!(can_transition(PENDING, CANCELLED));
        assert!(can_transition(RUNNING, CANCELLED));
        assert!(!can_transition(DONE, CANCELLED));
        assert!(!can_transition(CANCELLED, CANCELLED));
        assert!(is_final(UNKNOWN) && !is_final(PENDING));
    }

    #[test]
    fn templates() {
        assert_eq!(
            template(
                "INSERT INTO log VALUES ('<%= job_id %>', '<%= error_message %>')",
                "j1",
                Some("it's bad")
            ),
            "INSERT INTO log VALUES ('j1', 'it''s bad')"
        );
    }

    #[test]
    fn key_orders() {
        let job = Job {
            job_id: "id".into(),
            user: "u".into(),
            status: FAILED.into(),
            query: JobQuery::Simple("q".into()),
            created_at: "c".into(),
            updated_at: "d".into(),
            failed_reason: Some("r".into()),
            fallback_status: None,
        };
        let keys = |v: Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(job.created_json()),
            [
                "user",
                "query",
                "job_id",
                "created_at",
                "updated_at",
                "status"
            ]
        );
        assert_eq!(
            keys(job.read_json()),
            [
                "user",
                "status",
                "query",
                "created_at",
                "updated_at",
                "failed_reason",
                "job_id"
            ]
        );
    }
}
