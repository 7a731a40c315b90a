//! Running a job: its session, its queries, fallbacks and status updates.

use serde_json::{Value, json};

use super::Batch;
use super::model::{
    CANCELLED, DONE, FAILED, Job, JobQuery, PENDING, RUNNING, SKIPPED, now_text, template,
};
use super::queue::JobLogin;
use crate::ident::quote_ident;
use crate::sql::wire::{PgConn, WireError};

impl Batch {
    /// Runs one job to its end.
    pub(super) async fn run(&self, mut job: Job, login: JobLogin) {
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
        let path: Vec<String> = crate::sql::session::search_path(&login.schema)
            .iter()
            .map(|s| quote_ident(s))
            .collect();
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
            if !matches!(job.query, JobQuery::Simple(_)) {
                job.query.settle_running(CANCELLED);
                let _ = self
                    .registry
                    .execute(
                        "UPDATE public.batch_jobs SET query = $2 WHERE job_id = $1",
                        &[&id, &job.query.to_json().to_string()],
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
    pub(super) async fn exec(
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

    pub(super) async fn run_queries(&self, job: &mut Job, conn: &mut PgConn) -> Result<(), String> {
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
                    // A job the previous process stopped between two queries (it is
                    // `pending` there) resumes after the queries it already ran.
                    if items[i]["status"] == DONE {
                        continue;
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
