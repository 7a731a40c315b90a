//! What the Import API and sync tables take and answer.

use std::fmt;
use std::time::Duration;

use carto_core::Error;
use carto_core::wait::{WaitedJob, job_failed};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Who may read an imported table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Privacy {
    /// The owner's keys only.
    Private,
    /// Anyone, the Default public key included, and listed.
    Public,
    /// Anyone with the link.
    Link,
}

impl Privacy {
    /// CARTO's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Private => "private",
            Self::Public => "public",
            Self::Link => "link",
        }
    }
}

/// What to do when the table name is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CollisionStrategy {
    /// Keep the existing table and import nothing.
    Skip,
    /// Replace the existing table.
    Overwrite,
}

impl CollisionStrategy {
    /// CARTO's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Skip => "skip",
            Self::Overwrite => "overwrite",
        }
    }
}

/// CARTO's import options. Unset ones take CARTO's defaults (type and quoted-field
/// guessing on, content guessing off, the account's default privacy, a new name when the
/// table exists).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportOptions {
    type_guessing: Option<bool>,
    quoted_fields_guessing: Option<bool>,
    content_guessing: Option<bool>,
    create_vis: Option<bool>,
    privacy: Option<Privacy>,
    collision_strategy: Option<CollisionStrategy>,
}

impl ImportOptions {
    /// CARTO's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether column types are guessed from the values (else every column is text).
    pub fn type_guessing(mut self, on: bool) -> Self {
        self.type_guessing = Some(on);
        self
    }

    /// Whether quoted numbers and booleans are guessed too.
    pub fn quoted_fields_guessing(mut self, on: bool) -> Self {
        self.quoted_fields_guessing = Some(on);
        self
    }

    /// Whether countries, cities and IP addresses are recognised and geocoded.
    pub fn content_guessing(mut self, on: bool) -> Self {
        self.content_guessing = Some(on);
        self
    }

    /// Whether a map is created with the table.
    pub fn create_vis(mut self, on: bool) -> Self {
        self.create_vis = Some(on);
        self
    }

    /// The new table's privacy.
    pub fn privacy(mut self, privacy: Privacy) -> Self {
        self.privacy = Some(privacy);
        self
    }

    /// What to do when the name is taken.
    pub fn collision_strategy(mut self, strategy: CollisionStrategy) -> Self {
        self.collision_strategy = Some(strategy);
        self
    }

    /// The options as query or body pairs, in CARTO's names.
    pub fn pairs(&self) -> Vec<(&'static str, String)> {
        let flags = [
            ("type_guessing", self.type_guessing),
            ("quoted_fields_guessing", self.quoted_fields_guessing),
            ("content_guessing", self.content_guessing),
            ("create_vis", self.create_vis),
        ];
        let mut out: Vec<(&'static str, String)> = flags
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v.to_string())))
            .collect();
        out.extend(self.privacy.map(|p| ("privacy", p.as_str().to_owned())));
        out.extend(
            self.collision_strategy
                .map(|c| ("collision_strategy", c.as_str().to_owned())),
        );
        out
    }
}

/// What a created import answers: the job to follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportQueued {
    /// The import's id.
    pub item_queue_id: String,
    /// Whether CARTO accepted it.
    #[serde(default)]
    pub success: bool,
}

/// The state of an import (open: CARTO's states are not all documented).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImportState {
    /// Waiting for its file.
    Enqueued,
    /// Waiting for a worker.
    Pending,
    /// Fetching its file.
    Uploading,
    /// Unpacking an archive.
    Unpacking,
    /// Loading.
    Importing,
    /// Guessing content.
    Guessing,
    /// Geocoding guessed content.
    Geocoding,
    /// Done (check [`Import::success`] and [`Import::error_code`]).
    Complete,
    /// Failed: [`Import::error_code`] and [`Import::error_text`] say why.
    Failure,
    /// Stuck: a final state.
    Stuck,
    /// A state this crate does not know, as sent (not final).
    Other(String),
}

impl ImportState {
    /// The state from its name.
    pub fn parse(text: &str) -> Self {
        match text {
            "enqueued" => Self::Enqueued,
            "pending" => Self::Pending,
            "uploading" => Self::Uploading,
            "unpacking" => Self::Unpacking,
            "importing" => Self::Importing,
            "guessing" => Self::Guessing,
            "geocoding" => Self::Geocoding,
            "complete" => Self::Complete,
            "failure" => Self::Failure,
            "stuck" => Self::Stuck,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The state's name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Enqueued => "enqueued",
            Self::Pending => "pending",
            Self::Uploading => "uploading",
            Self::Unpacking => "unpacking",
            Self::Importing => "importing",
            Self::Guessing => "guessing",
            Self::Geocoding => "geocoding",
            Self::Complete => "complete",
            Self::Failure => "failure",
            Self::Stuck => "stuck",
            Self::Other(other) => other,
        }
    }

    /// Whether the state can no longer change.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Complete | Self::Failure | Self::Stuck)
    }
}

impl fmt::Display for ImportState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ImportState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ImportState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(deserializer)?))
    }
}

/// CARTO's text for an import's error code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorText {
    /// The short title (`Unsupported/Unrecognized file type`).
    pub title: String,
    /// What to do about it.
    #[serde(default)]
    pub what_about: String,
    /// Whose fault: `user`, `cartodb` or `external`.
    #[serde(default)]
    pub source: String,
}

/// An import as `GET /api/v1/imports/{id}` shows it. The members this crate reads are
/// typed; every other one is in [`Import::other`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Import {
    /// Its id.
    pub id: String,
    /// Its state.
    pub state: ImportState,
    /// CARTO's error code, when it failed (or 1022: every table existed and was skipped).
    #[serde(default)]
    pub error_code: Option<i64>,
    /// CARTO's text for the error code.
    #[serde(default, rename = "get_error_text")]
    pub error_text: Option<ErrorText>,
    /// The table made, once complete.
    #[serde(default)]
    pub table_name: Option<String>,
    /// How many tables it made.
    #[serde(default)]
    pub tables_created_count: Option<u64>,
    /// The file's or URL's name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// `file`, `url`, `query`, ...
    #[serde(default)]
    pub data_type: Option<String>,
    /// Present once the state is final.
    #[serde(default)]
    pub success: Option<bool>,
    /// The sync table it belongs to.
    #[serde(default)]
    pub synchronization_id: Option<String>,
    /// Every other member, as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl WaitedJob for Import {
    fn job_id(&self) -> &str {
        &self.id
    }

    fn is_finished(&self) -> bool {
        self.state.is_final()
    }

    /// Succeeded: complete, `success` not false, and no error code.
    fn outcome(&self, job_id: &str) -> Result<(), Error> {
        let ok = self.state == ImportState::Complete
            && self.success != Some(false)
            && self.error_code.is_none();
        if ok {
            return Ok(());
        }
        let reason = match (&self.error_text, self.error_code) {
            (Some(text), Some(code)) => Some(format!("{code}: {}", text.title)),
            (Some(text), None) => Some(text.title.clone()),
            (None, Some(code)) => Some(format!("error code {code}")),
            (None, None) => None,
        };
        Err(job_failed(&self.id, job_id, &self.state, reason.as_deref()))
    }
}

/// The import a sync table started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncImport {
    /// The import's endpoint.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The import's id.
    pub item_queue_id: String,
}

/// A sync table: a URL imported again every `interval` seconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sync {
    /// Its id.
    pub id: String,
    /// The table's name (set after the first run).
    #[serde(default)]
    pub name: Option<String>,
    /// Seconds between runs (at least 900).
    pub interval: u64,
    /// The source.
    pub url: String,
    /// `created`, `queued`, `syncing`, `success`, `failure`.
    pub state: String,
    /// The last failure's code.
    #[serde(default)]
    pub error_code: Option<i64>,
    /// The last failure's message.
    #[serde(default)]
    pub error_message: Option<String>,
    /// The import it started (on creation).
    #[serde(default)]
    pub data_import: Option<SyncImport>,
    /// Every other member, as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The shortest sync interval CARTO accepts.
pub const MIN_SYNC_INTERVAL: Duration = Duration::from_secs(900);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_documented_failure_reads_and_fails_with_its_text() {
        let doc = json!({
            "id": "029a6053-b2fb-43dd-baa6-805d679c404f", "user_id": "u", "table_id": null,
            "data_type": "url", "table_name": null, "state": "failure", "error_code": 1002,
            "queue_id": "029a", "tables_created_count": null, "synchronization_id": null,
            "type_guessing": true, "quoted_fields_guessing": true, "content_guessing": false,
            "create_visualization": false, "visualization_id": null,
            "user_defined_limits": "{\"twitter_credits_limit\":0}",
            "get_error_text": {"title": "Unsupported/Unrecognized file type", "what_about": "Should we support this filetype?", "source": "user"},
            "display_name": "shapefile_streets.cpg", "success": false, "warnings": null, "is_raster": false
        });
        let import: Import = serde_json::from_value(doc).unwrap();
        assert!(import.is_finished());
        let err = import.outcome("x").unwrap_err();
        assert!(
            err.to_string()
                .contains("1002: Unsupported/Unrecognized file type"),
            "{err}"
        );
    }

    #[test]
    fn in_progress_states_are_not_final_and_skips_are_not_successes() {
        for state in ["pending", "uploading", "geocoding", "brand-new"] {
            assert!(!ImportState::parse(state).is_final(), "{state}");
        }
        let skipped: Import = serde_json::from_value(json!({
            "id": "i", "state": "complete", "error_code": 1022, "success": true}))
        .unwrap();
        assert!(skipped.outcome("i").is_err());
        let done: Import = serde_json::from_value(json!({
            "id": "i", "state": "complete", "success": true, "table_name": "t"}))
        .unwrap();
        assert!(done.outcome("i").is_ok());
    }

    #[test]
    fn options_use_carto_names() {
        let pairs = ImportOptions::new()
            .type_guessing(false)
            .privacy(Privacy::Link)
            .collision_strategy(CollisionStrategy::Overwrite)
            .pairs();
        assert_eq!(
            pairs,
            [
                ("type_guessing", "false".to_owned()),
                ("privacy", "link".to_owned()),
                ("collision_strategy", "overwrite".to_owned())
            ]
        );
    }
}
