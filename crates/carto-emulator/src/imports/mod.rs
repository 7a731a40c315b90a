//! CARTO's Import API v1 on the emulator: import jobs and their engine.
//!
//! A job is created by `POST /api/v1/imports` ([`crate::http`]) once its file is on disk (a
//! temporary file of the emulator), then runs in a tokio task through CARTO's states
//! `pending` → `uploading` → `unpacking` → `importing` → `complete`/`failure`. Files are read
//! natively: CSV/TSV ([`csv`]) and GeoJSON ([`geojson`]) are parsed by the emulator, written
//! row by row to a temporary file in PostgreSQL's COPY text format (never held whole in
//! memory), then loaded, typed and cartodbfied in the user's schema with the master key's
//! role ([`crate::store`]). Any other format fails with CARTO's 1002.
//!
//! The jobs live in memory (they go with the emulator), as CARTO's stay for a day.

pub(crate) mod csv;
pub(crate) mod errors;
pub(crate) mod geojson;
pub(crate) mod names;
mod rows;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

pub(crate) use self::rows::{ColumnType, Loaded};
use crate::store::{Privacy, Store, UserRecord};

/// CARTO's limit of imports running at once per user.
pub(crate) const MAX_CONCURRENT_IMPORTS: usize = 3;

/// The largest file an import reads (CARTO's free plan: 150 MB); larger ones fail with 6666.
pub(crate) const MAX_IMPORT_BYTES: u64 = 150 * 1024 * 1024;

/// CARTO's state of an import job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JobState {
    Pending,
    Uploading,
    Unpacking,
    Importing,
    Complete,
    Failure,
}

impl JobState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::Uploading => "uploading",
            JobState::Unpacking => "unpacking",
            JobState::Importing => "importing",
            JobState::Complete => "complete",
            JobState::Failure => "failure",
        }
    }

    pub(crate) fn is_final(self) -> bool {
        matches!(self, JobState::Complete | JobState::Failure)
    }
}

/// `collision_strategy`: what to do when the table name is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Collision {
    /// Another name: `name_1`, `name_2`, ...
    Rename,
    /// Leave the existing table (the job completes with 1022).
    Skip,
    /// Drop the existing table and load in its place.
    Overwrite,
}

/// The options of an import, as CARTO parses them (§3.2).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ImportOptions {
    pub type_guessing: bool,
    pub quoted_fields_guessing: bool,
    /// Accepted and shown; the emulator has no geocoder for content, so it changes nothing.
    pub content_guessing: bool,
    pub create_vis: bool,
    pub privacy: Privacy,
    pub collision: Collision,
}

impl ImportOptions {
    /// CARTO's parsing of the request's parameters; `Err` is the creation error's message.
    pub(crate) fn parse(params: &Map<String, Value>) -> Result<ImportOptions, String> {
        let text = |k: &str| {
            params.get(k).and_then(|v| match v {
                Value::String(s) => Some(s.clone()),
                Value::Bool(b) => Some(b.to_string()),
                Value::Null => None,
                other => Some(other.to_string()),
            })
        };
        let privacy = match text("privacy") {
            None => Privacy::Private,
            Some(p) => Privacy::parse(&p).ok_or_else(|| {
                format!(
                    "Unknown value '{p}' for 'privacy'. Allowed values are: private, public and link"
                )
            })?,
        };
        let collision = match text("collision_strategy").as_deref() {
            None | Some("") => Collision::Rename,
            Some("skip") => Collision::Skip,
            Some("overwrite") => Collision::Overwrite,
            Some(_) => return Err("Invalid collision strategy".to_owned()),
        };
        Ok(ImportOptions {
            type_guessing: text("type_guessing").as_deref() != Some("false"),
            quoted_fields_guessing: text("quoted_fields_guessing").as_deref() != Some("false"),
            content_guessing: text("content_guessing").as_deref() == Some("true"),
            create_vis: text("create_vis").as_deref() == Some("true"),
            privacy,
            collision,
        })
    }
}

/// Where a job's data comes from.
#[derive(Debug)]
pub(crate) enum Source {
    /// An uploaded file, kept on disk until the job ends.
    File {
        file: tempfile::NamedTempFile,
        name: String,
    },
    /// Nothing (carto-python's empty job): fails with 1002.
    Nothing,
    /// The upload failed already (too large: 6666, ...).
    Failed { name: String, code: i64 },
}

/// One import job.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub id: String,
    pub username: String,
    pub user_id: String,
    pub data_type: &'static str,
    pub display_name: String,
    pub original_url: String,
    pub options: ImportOptions,
    pub state: JobState,
    pub error_code: Option<i64>,
    pub table_name: Option<String>,
    pub table_id: Option<String>,
    pub tables_created_count: Option<u64>,
    pub created_at: DateTime<Utc>,
}

impl Job {
    /// The job as CARTO's data import presenter shows it, in its key order (§4.1).
    pub(crate) fn to_json(&self) -> Value {
        let mut doc = json!({
            "id": self.id,
            "user_id": self.user_id,
            "table_id": self.table_id,
            "data_type": self.data_type,
            "table_name": self.table_name,
            "state": self.state.as_str(),
            "error_code": self.error_code,
            "queue_id": self.id,
            "tables_created_count": self.tables_created_count,
            "synchronization_id": null,
            "type_guessing": self.options.type_guessing,
            "quoted_fields_guessing": self.options.quoted_fields_guessing,
            "content_guessing": self.options.content_guessing,
            "create_visualization": self.options.create_vis,
            "visualization_id": null,
            "user_defined_limits": "{\"twitter_credits_limit\":0}",
            "get_error_text": self.error_text(),
            "display_name": self.display_name,
        });
        if let Value::Object(m) = &mut doc {
            if self.state.is_final() {
                m.insert(
                    "success".into(),
                    Value::Bool(self.state == JobState::Complete),
                );
            }
            m.insert("original_url".into(), json!(self.original_url));
            m.insert("warnings".into(), Value::Null);
            m.insert("is_raster".into(), Value::Bool(false));
            if self.state == JobState::Complete {
                m.insert("any_table_raster".into(), Value::Bool(false));
                m.insert("derived_visualization_id".into(), Value::Null);
            }
        }
        doc
    }

    fn error_text(&self) -> Value {
        match (self.state, self.error_code) {
            (_, Some(code)) => errors::text(code),
            (JobState::Failure, None) => errors::text(errors::UNKNOWN),
            _ => Value::Null,
        }
    }
}

/// Why a job failed: CARTO's error code (the message goes to the emulator's log only).
#[derive(Debug)]
pub(crate) struct ImportFailure {
    pub code: i64,
    pub detail: String,
}

impl ImportFailure {
    pub(crate) fn new(code: i64, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

/// The jobs of every user.
#[derive(Debug, Default)]
pub(crate) struct Imports {
    jobs: Mutex<HashMap<String, Job>>,
    /// Uploads being received, per user: they hold a slot too.
    uploads: Mutex<HashMap<String, usize>>,
}

/// A slot held while an upload is received (released on drop).
pub(crate) struct UploadSlot {
    imports: Arc<Imports>,
    username: String,
}

impl Drop for UploadSlot {
    fn drop(&mut self) {
        let mut uploads = self.imports.uploads.lock().expect("uploads lock");
        if let Some(n) = uploads.get_mut(&self.username) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Imports {
    /// Takes one of the user's import slots (jobs not final and uploads in progress count),
    /// `None` when all [`MAX_CONCURRENT_IMPORTS`] are taken.
    pub(crate) fn take_slot(self: &Arc<Self>, username: &str) -> Option<UploadSlot> {
        let jobs = self.jobs.lock().expect("jobs lock");
        let mut uploads = self.uploads.lock().expect("uploads lock");
        let running = jobs
            .values()
            .filter(|j| j.username == username && !j.state.is_final())
            .count();
        let uploading = uploads.entry(username.to_owned()).or_default();
        if running + *uploading >= MAX_CONCURRENT_IMPORTS {
            return None;
        }
        *uploading += 1;
        Some(UploadSlot {
            imports: self.clone(),
            username: username.to_owned(),
        })
    }

    /// A job by id, if it is `username`'s.
    pub(crate) fn get(&self, username: &str, id: &str) -> Option<Job> {
        self.jobs
            .lock()
            .expect("jobs lock")
            .get(id)
            .filter(|j| j.username == username)
            .cloned()
    }

    /// The user's jobs not yet final, newest first.
    pub(crate) fn pending(&self, username: &str) -> Vec<String> {
        let jobs = self.jobs.lock().expect("jobs lock");
        let mut open: Vec<&Job> = jobs
            .values()
            .filter(|j| j.username == username && !j.state.is_final())
            .collect();
        open.sort_by_key(|j| std::cmp::Reverse(j.created_at));
        open.into_iter().map(|j| j.id.clone()).collect()
    }

    fn update(&self, id: &str, f: impl FnOnce(&mut Job)) {
        if let Some(job) = self.jobs.lock().expect("jobs lock").get_mut(id) {
            f(job);
        }
    }

    /// Creates a job for `source` (its slot passes to the job) and runs it in the background.
    pub(crate) fn start(
        self: &Arc<Self>,
        store: Arc<Store>,
        user: UserRecord,
        options: ImportOptions,
        source: Source,
        slot: UploadSlot,
    ) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let display_name = match &source {
            Source::File { name, .. } | Source::Failed { name, .. } => name.clone(),
            Source::Nothing => id.clone(),
        };
        let job = Job {
            id: id.clone(),
            username: user.username.clone(),
            user_id: user.id.clone(),
            data_type: "file",
            display_name,
            original_url: String::new(),
            options,
            state: JobState::Pending,
            error_code: None,
            table_name: None,
            table_id: None,
            tables_created_count: None,
            created_at: Utc::now(),
        };
        // The job holds the slot from here (it is not final): the upload's is released.
        self.jobs.lock().expect("jobs lock").insert(id.clone(), job);
        drop(slot);
        let imports = self.clone();
        let job_id = id.clone();
        tokio::spawn(async move {
            let outcome = imports.run(&store, &user, &job_id, options, source).await;
            imports.update(&job_id, |job| match outcome {
                Ok(Some(table)) => {
                    job.state = JobState::Complete;
                    job.table_id = Some(table.id);
                    job.table_name = Some(table.name);
                    job.tables_created_count = Some(1);
                }
                Ok(None) => {
                    job.state = JobState::Complete;
                    job.error_code = Some(errors::ALL_SKIPPED);
                    job.tables_created_count = Some(0);
                }
                Err(failure) => {
                    tracing::info!(
                        import = %job_id,
                        code = failure.code,
                        "import failed: {}",
                        failure.detail
                    );
                    job.state = JobState::Failure;
                    job.error_code = Some(failure.code);
                }
            });
        });
        id
    }

    async fn run(
        &self,
        store: &Store,
        user: &UserRecord,
        id: &str,
        options: ImportOptions,
        source: Source,
    ) -> Result<Option<crate::store::ImportedTable>, ImportFailure> {
        self.update(id, |j| j.state = JobState::Uploading);
        let (file, name) = match source {
            Source::File { file, name } => (file, name),
            Source::Nothing => {
                return Err(ImportFailure::new(
                    errors::UNSUPPORTED,
                    "no file, URL or query",
                ));
            }
            Source::Failed { code, .. } => {
                return Err(ImportFailure::new(code, "the upload failed"));
            }
        };
        self.update(id, |j| j.state = JobState::Unpacking);
        let format = Format::of(&name)
            .ok_or_else(|| ImportFailure::new(errors::UNSUPPORTED, "unsupported extension"))?;
        let path: PathBuf = file.path().to_owned();
        self.update(id, |j| j.state = JobState::Importing);
        let loaded = tokio::task::spawn_blocking(move || format.read(&path, options))
            .await
            .map_err(|e| ImportFailure::new(errors::UNKNOWN, e.to_string()))??;
        drop(file);
        let base = names::table_name(&name);
        store.import_table(user, &base, &loaded, options).await
    }
}

/// A format the emulator reads natively.
#[derive(Debug, Clone, Copy)]
enum Format {
    Csv(Option<u8>),
    GeoJson,
}

impl Format {
    /// The format from the file name's extension (any case).
    fn of(name: &str) -> Option<Format> {
        let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "txt" => Some(Format::Csv(None)),
            "tsv" => Some(Format::Csv(Some(b'\t'))),
            "geojson" | "json" => Some(Format::GeoJson),
            _ => None,
        }
    }

    fn read(self, path: &std::path::Path, options: ImportOptions) -> Result<Loaded, ImportFailure> {
        match self {
            Format::Csv(delimiter) => csv::read(path, delimiter, options),
            Format::GeoJson => geojson::read(path, options),
        }
    }
}
