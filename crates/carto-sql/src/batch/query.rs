//! What a new job runs: [`JobQuery`], in the three forms the Batch API accepts.

use std::time::Duration;

use carto_core::Error;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

/// The SQL of a new job: one text, a list of queries, or the fallback form.
///
/// ```
/// use std::time::Duration;
/// use carto_sql::batch::{FallbackQuery, JobQuery};
///
/// let single = JobQuery::sql("UPDATE airports SET type = 'international'");
/// let multi = JobQuery::multi(["CREATE TABLE t (a int)", "INSERT INTO t VALUES (1)"]);
/// let fallback = JobQuery::fallback([
///     FallbackQuery::new("UPDATE nasdaq SET price = '$101.00' WHERE company = 'CARTO'")
///         .onerror("UPDATE market_status SET status = 'outdated'")
///         .timeout(Duration::from_secs(60)),
/// ])
/// .onsuccess("UPDATE market_status SET status = 'updated', updated_at = NOW()");
/// # let _ = (single, multi, fallback);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobQuery {
    /// One SQL text (it may hold several `;`-separated statements).
    Single(String),
    /// Queries run one after the other; the job stops at the first failure.
    Multi(Vec<String>),
    /// Queries with fallbacks.
    Fallback(FallbackJob),
}

impl JobQuery {
    /// A job running one SQL text.
    pub fn sql(sql: impl Into<String>) -> Self {
        Self::Single(sql.into())
    }

    /// A job running `queries` in order.
    pub fn multi<I, S>(queries: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Multi(queries.into_iter().map(Into::into).collect())
    }

    /// A fallback job running `queries` in order; add job-level fallbacks with
    /// [`FallbackJob::onsuccess`] / [`FallbackJob::onerror`].
    pub fn fallback(queries: impl IntoIterator<Item = FallbackQuery>) -> FallbackJob {
        FallbackJob {
            queries: queries.into_iter().collect(),
            onsuccess: None,
            onerror: None,
        }
    }

    /// Rejects what CARTO would reject: an empty SQL text or an empty list.
    pub fn validate(&self) -> Result<(), Error> {
        let empty = |s: &str| s.trim().is_empty();
        let bad = match self {
            Self::Single(sql) => empty(sql),
            Self::Multi(queries) => queries.is_empty() || queries.iter().any(|q| empty(q)),
            Self::Fallback(job) => {
                job.queries.is_empty() || job.queries.iter().any(|q| empty(&q.query))
            }
        };
        if bad {
            Err(Error::invalid(
                "batch job query",
                "a job needs at least one query and no query may be empty",
            ))
        } else {
            Ok(())
        }
    }
}

impl From<&str> for JobQuery {
    fn from(value: &str) -> Self {
        Self::sql(value)
    }
}

impl From<String> for JobQuery {
    fn from(value: String) -> Self {
        Self::sql(value)
    }
}

impl From<Vec<String>> for JobQuery {
    fn from(value: Vec<String>) -> Self {
        Self::Multi(value)
    }
}

impl From<FallbackJob> for JobQuery {
    fn from(value: FallbackJob) -> Self {
        Self::Fallback(value)
    }
}

impl Serialize for JobQuery {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Single(sql) => serializer.serialize_str(sql),
            Self::Multi(queries) => queries.serialize(serializer),
            Self::Fallback(job) => job.serialize(serializer),
        }
    }
}

/// The fallback form of a job: queries, each with optional `onsuccess` / `onerror` and
/// timeout, and job-level `onsuccess` / `onerror`.
///
/// Fallback SQL may use the templates `<%= job_id %>` and `<%= error_message %>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackJob {
    queries: Vec<FallbackQuery>,
    onsuccess: Option<String>,
    onerror: Option<String>,
}

impl FallbackJob {
    /// Adds a query.
    pub fn query(mut self, query: FallbackQuery) -> Self {
        self.queries.push(query);
        self
    }

    /// SQL run once every query succeeded.
    pub fn onsuccess(mut self, sql: impl Into<String>) -> Self {
        self.onsuccess = Some(sql.into());
        self
    }

    /// SQL run when a query failed.
    pub fn onerror(mut self, sql: impl Into<String>) -> Self {
        self.onerror = Some(sql.into());
        self
    }

    /// The queries.
    pub fn queries(&self) -> &[FallbackQuery] {
        &self.queries
    }
}

impl Serialize for FallbackJob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = 1 + usize::from(self.onsuccess.is_some()) + usize::from(self.onerror.is_some());
        let mut map = serializer.serialize_map(Some(len))?;
        map.serialize_entry("query", &self.queries)?;
        if let Some(sql) = &self.onsuccess {
            map.serialize_entry("onsuccess", sql)?;
        }
        if let Some(sql) = &self.onerror {
            map.serialize_entry("onerror", sql)?;
        }
        map.end()
    }
}

/// One query of a fallback job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FallbackQuery {
    query: String,
    onsuccess: Option<String>,
    onerror: Option<String>,
    timeout: Option<Duration>,
}

impl FallbackQuery {
    /// A query running `sql`.
    pub fn new(sql: impl Into<String>) -> Self {
        Self {
            query: sql.into(),
            onsuccess: None,
            onerror: None,
            timeout: None,
        }
    }

    /// SQL run after this query succeeded.
    pub fn onsuccess(mut self, sql: impl Into<String>) -> Self {
        self.onsuccess = Some(sql.into());
        self
    }

    /// SQL run after this query failed.
    pub fn onerror(mut self, sql: impl Into<String>) -> Self {
        self.onerror = Some(sql.into());
        self
    }

    /// This query's time limit (sent in whole milliseconds; the server also applies
    /// its own limit, and the smaller one wins).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The SQL.
    pub fn sql(&self) -> &str {
        &self.query
    }
}

impl Serialize for FallbackQuery {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("query", &self.query)?;
        if let Some(sql) = &self.onsuccess {
            map.serialize_entry("onsuccess", sql)?;
        }
        if let Some(sql) = &self.onerror {
            map.serialize_entry("onerror", sql)?;
        }
        if let Some(timeout) = self.timeout {
            let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            map.serialize_entry("timeout", &ms)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_forms() {
        let json = |q: &JobQuery| serde_json::to_string(q).unwrap();
        assert_eq!(json(&JobQuery::sql("SELECT 1")), r#""SELECT 1""#);
        assert_eq!(
            json(&JobQuery::multi(["SELECT 1", "SELECT 2"])),
            r#"["SELECT 1","SELECT 2"]"#
        );
        let f: JobQuery = JobQuery::fallback([FallbackQuery::new("SELECT 1")
            .onerror("SELECT 2")
            .timeout(Duration::from_millis(1500))])
        .query(FallbackQuery::new("SELECT 3").onsuccess("SELECT 4"))
        .onerror("SELECT 5")
        .into();
        assert_eq!(
            json(&f),
            r#"{"query":[{"query":"SELECT 1","onerror":"SELECT 2","timeout":1500},{"query":"SELECT 3","onsuccess":"SELECT 4"}],"onerror":"SELECT 5"}"#
        );
    }

    #[test]
    fn validation() {
        assert!(JobQuery::sql("  ").validate().is_err());
        assert!(JobQuery::multi(Vec::<String>::new()).validate().is_err());
        assert!(JobQuery::multi(["SELECT 1", ""]).validate().is_err());
        let empty: JobQuery = JobQuery::fallback([]).into();
        assert!(empty.validate().is_err());
        assert!(JobQuery::sql("SELECT 1").validate().is_ok());
    }
}
