//! The Batch API's job document: [`BatchJob`], [`JobStatus`] and the three shapes of
//! its `query` member ([`JobQueries`]).

use carto_core::models::Timestamp;
use serde::{Deserialize, Deserializer, Serialize};

/// The status of a job, or of one query of a job.
///
/// `cancelled` is CARTO's spelling; `canceled` (which its docs also use) is accepted
/// and read as [`JobStatus::Cancelled`]. A status this crate does not know is kept as
/// [`JobStatus::Other`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Queued, not started (also between the queries of a multi-query job).
    Pending,
    /// Running now.
    Running,
    /// Finished successfully.
    Done,
    /// Finished with an error (`failed_reason` says which).
    Failed,
    /// Cancelled by a `DELETE`.
    Cancelled,
    /// The server lost track of it (for example after a crash while running).
    Unknown,
    /// Not run: a query after a failed one, or a fallback that did not apply.
    Skipped,
    /// A status this crate does not know, as sent.
    Other(String),
}

impl JobStatus {
    /// Parses a status as CARTO writes it.
    pub fn parse(text: &str) -> Self {
        match text {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "done" => Self::Done,
            "failed" => Self::Failed,
            "cancelled" | "canceled" => Self::Cancelled,
            "unknown" => Self::Unknown,
            "skipped" => Self::Skipped,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The status as CARTO writes it.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Unknown => "unknown",
            Self::Skipped => "skipped",
            Self::Other(s) => s,
        }
    }

    /// Whether the status can no longer change: `done`, `failed`, `cancelled`,
    /// `unknown` (CARTO's final statuses) and `skipped` (which has no way out either).
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Self::Done | Self::Failed | Self::Cancelled | Self::Unknown | Self::Skipped
        )
    }

    /// Whether this is `done`.
    pub fn is_done(&self) -> bool {
        *self == Self::Done
    }
}

crate::text_enum::text_enum!(JobStatus);

/// A Batch job as CARTO returns it from create, get and cancel.
///
/// Members the server omits are `None` (or empty); members this crate does not know
/// are kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchJob {
    /// The job id (a UUID). Empty only in documents that leave it out (some of CARTO's
    /// documentation examples).
    #[serde(default)]
    pub job_id: String,
    /// The owner's username.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The job's status.
    pub status: JobStatus,
    /// The SQL of the job, in one of its three shapes.
    pub query: JobQueries,
    /// When the job was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// When the job last changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<Timestamp>,
    /// Why the job failed (PostgreSQL's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_reason: Option<String>,
    /// The status of the job-level fallback (`onsuccess` / `onerror`) of a fallback job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_status: Option<JobStatus>,
    /// Every other member.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl BatchJob {
    /// The failure reason: the job's `failed_reason`, else the first one of its queries.
    pub fn failure_reason(&self) -> Option<&str> {
        self.failed_reason.as_deref().or_else(|| {
            self.query
                .queries()
                .iter()
                .find_map(|q| q.failed_reason.as_deref())
        })
    }
}

/// The `query` member of a job: one SQL text, a list of queries, or the fallback form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum JobQueries {
    /// A single SQL text (it may hold several `;`-separated statements).
    Single(String),
    /// Queries run one after the other, each with its own status.
    Multi(Vec<BatchQuery>),
    /// Queries with `onsuccess` / `onerror` fallbacks.
    Fallback(FallbackQueries),
}

impl JobQueries {
    /// The queries of a multi-query or fallback job (empty for a single SQL text).
    pub fn queries(&self) -> &[BatchQuery] {
        match self {
            Self::Single(_) => &[],
            Self::Multi(queries) => queries,
            Self::Fallback(f) => &f.query,
        }
    }
}

/// The fallback form of a job's `query`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FallbackQueries {
    /// The queries.
    pub query: Vec<BatchQuery>,
    /// Run once every query succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onsuccess: Option<String>,
    /// Run when a query failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onerror: Option<String>,
    /// Every other member.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// One query of a multi-query or fallback job, with its progress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchQuery {
    /// The SQL.
    pub query: String,
    /// Its status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<JobStatus>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_reason: Option<String>,
    /// Run after it succeeded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onsuccess: Option<String>,
    /// Run after it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub onerror: Option<String>,
    /// The status of its fallback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback_status: Option<JobStatus>,
    /// When it started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Timestamp>,
    /// Every other member (`timeout`, `id`, ...).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The object form of [`BatchQuery`] on the wire.
#[derive(Deserialize)]
struct BatchQueryObject {
    query: String,
    #[serde(default)]
    status: Option<JobStatus>,
    #[serde(default)]
    failed_reason: Option<String>,
    #[serde(default)]
    onsuccess: Option<String>,
    #[serde(default)]
    onerror: Option<String>,
    #[serde(default)]
    fallback_status: Option<JobStatus>,
    #[serde(default)]
    started_at: Option<Timestamp>,
    #[serde(default)]
    ended_at: Option<Timestamp>,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum BatchQueryWire {
    Text(String),
    Object(Box<BatchQueryObject>),
}

impl<'de> Deserialize<'de> for BatchQuery {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match BatchQueryWire::deserialize(deserializer)? {
            BatchQueryWire::Text(query) => BatchQuery {
                query,
                status: None,
                failed_reason: None,
                onsuccess: None,
                onerror: None,
                fallback_status: None,
                started_at: None,
                ended_at: None,
                extra: serde_json::Map::new(),
            },
            BatchQueryWire::Object(o) => {
                let o = *o;
                BatchQuery {
                    query: o.query,
                    status: o.status,
                    failed_reason: o.failed_reason,
                    onsuccess: o.onsuccess,
                    onerror: o.onerror,
                    fallback_status: o.fallback_status,
                    started_at: o.started_at,
                    ended_at: o.ended_at,
                    extra: o.extra,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        for s in [
            "pending",
            "running",
            "done",
            "failed",
            "cancelled",
            "unknown",
            "skipped",
        ] {
            assert_eq!(JobStatus::parse(s).as_str(), s);
        }
        assert_eq!(JobStatus::parse("canceled"), JobStatus::Cancelled);
        assert_eq!(
            JobStatus::parse("paused"),
            JobStatus::Other("paused".into())
        );
        assert!(!JobStatus::parse("paused").is_final());
        assert!(!JobStatus::Pending.is_final());
        assert!(!JobStatus::Running.is_final());
        assert!(JobStatus::Cancelled.is_final());
        assert!(JobStatus::Skipped.is_final());
    }

    #[test]
    fn query_item_from_text() {
        let q: Vec<BatchQuery> = serde_json::from_str(
            r#"["SELECT 1", {"query": "SELECT 2", "status": "done", "timeout": 5}]"#,
        )
        .unwrap();
        assert_eq!(q[0].query, "SELECT 1");
        assert_eq!(q[0].status, None);
        assert_eq!(q[1].status, Some(JobStatus::Done));
        assert_eq!(q[1].extra["timeout"], 5);
    }
}
