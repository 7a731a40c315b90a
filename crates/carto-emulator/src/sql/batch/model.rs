//! A job, its queries and its statuses, and how CARTO shows them.

use chrono::Utc;
use serde_json::{Map, Value, json};

use crate::sql::error::ApiError;

/// Largest accepted body (`JSON.stringify(req.body).length`).
pub(super) const MAX_PAYLOAD: usize = 16_384;
/// Queued (pending) jobs allowed per user.
pub(super) const MAX_QUEUED: i64 = 64;
/// Finished jobs are forgotten after this many seconds.
pub(super) const FINISHED_TTL_SECS: i64 = 2 * 3600;

/// Job and query statuses.
pub(super) const PENDING: &str = "pending";
pub(super) const RUNNING: &str = "running";
pub(super) const DONE: &str = "done";
pub(super) const FAILED: &str = "failed";
pub(super) const CANCELLED: &str = "cancelled";
pub(super) const UNKNOWN: &str = "unknown";
pub(super) const SKIPPED: &str = "skipped";

pub(super) fn is_final(status: &str) -> bool {
    matches!(status, DONE | FAILED | CANCELLED | UNKNOWN)
}

/// CARTO's valid status transitions.
pub(super) fn can_transition(from: &str, to: &str) -> bool {
    match from {
        PENDING => matches!(to, RUNNING | CANCELLED | UNKNOWN | SKIPPED),
        RUNNING => matches!(to, DONE | FAILED | CANCELLED | PENDING | UNKNOWN),
        _ => false,
    }
}

pub(super) fn now_text() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// What a job runs.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum JobQuery {
    /// One SQL text.
    Simple(String),
    /// Several SQL texts with a status each.
    Multi(Vec<Value>),
    /// Queries with `onsuccess` / `onerror` fallbacks, and job-level fallbacks.
    Fallback(Value),
}

impl JobQuery {
    /// Parses the `query` body parameter, with CARTO's messages.
    pub(super) fn parse(v: Option<&Value>) -> Result<JobQuery, ApiError> {
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

    pub(super) fn to_json(&self) -> Value {
        match self {
            JobQuery::Simple(s) => Value::String(s.clone()),
            JobQuery::Multi(items) => Value::Array(items.clone()),
            JobQuery::Fallback(doc) => doc.clone(),
        }
    }

    /// Gives the queries of a multi-query or fallback job that are `running` the status
    /// `status` (the job was cancelled, or the process running it died).
    pub(super) fn settle_running(&mut self, status: &str) {
        let items = match self {
            JobQuery::Simple(_) => return,
            JobQuery::Multi(items) => items,
            JobQuery::Fallback(doc) => match doc.get_mut("query").and_then(Value::as_array_mut) {
                Some(items) => items,
                None => return,
            },
        };
        for item in items.iter_mut().filter(|i| i["status"] == RUNNING) {
            item["status"] = json!(status);
        }
    }

    pub(super) fn from_stored(kind: &str, text: &str) -> JobQuery {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        match (kind, v) {
            ("multi", Value::Array(items)) => JobQuery::Multi(items),
            ("fallback", doc) => JobQuery::Fallback(doc),
            (_, Value::String(s)) => JobQuery::Simple(s),
            (_, other) => JobQuery::Simple(other.to_string()),
        }
    }

    pub(super) fn kind(&self) -> &'static str {
        match self {
            JobQuery::Simple(_) => "simple",
            JobQuery::Multi(_) => "multi",
            JobQuery::Fallback(_) => "fallback",
        }
    }

    /// Whether the job has job-level fallbacks (and so a job-level `fallback_status`).
    pub(super) fn has_job_fallback(&self) -> bool {
        matches!(self, JobQuery::Fallback(doc) if doc.get("onsuccess").is_some() || doc.get("onerror").is_some())
    }
}

/// A job as stored.
#[derive(Debug, Clone)]
pub(super) struct Job {
    pub(super) job_id: String,
    pub(super) user: String,
    pub(super) status: String,
    pub(super) query: JobQuery,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    pub(super) failed_reason: Option<String>,
    pub(super) fallback_status: Option<String>,
}

impl Job {
    /// The JSON of `POST` (201): `user, query, job_id, created_at, updated_at, status`.
    pub(super) fn created_json(&self) -> Value {
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
    pub(super) fn read_json(&self) -> Value {
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

/// Fills `<%= job_id %>` and `<%= error_message %>` in a fallback query.
pub(super) fn template(sql: &str, job_id: &str, error: Option<&str>) -> String {
    sql.replace("<%= job_id %>", job_id).replace(
        "<%= error_message %>",
        &error.unwrap_or("").replace('\'', "''"),
    )
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
