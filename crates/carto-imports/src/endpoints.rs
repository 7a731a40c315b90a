//! The Import API v1 and sync tables as sans-IO endpoints. Every one needs the master
//! key: CARTO answers any other key with a 401 and an empty body.

use std::marker::PhantomData;

use carto_core::endpoint::{check_status, decode_json, expect_status};
use carto_core::{DecodeError, Endpoint, Error, HttpRequest, HttpResponse, RequestContext};
use carto_transport::{BodyDecoder, RequestBody, StreamingEndpoint};
use http::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::models::{Import, ImportOptions, ImportQueued, MIN_SYNC_INTERVAL, Sync};

const IMPORTS: [&str; 3] = ["api", "v1", "imports"];
const SYNCS: [&str; 3] = ["api", "v1", "synchronizations"];

/// The largest answer [`JsonAnswer`] reads (CARTO's are a few KB).
pub const MAX_ANSWER: usize = 1 << 20;

/// A [`BodyDecoder`] reading a small JSON answer whole (at most [`MAX_ANSWER`] bytes).
#[derive(Debug)]
pub struct JsonAnswer<T> {
    status: StatusCode,
    body: Vec<u8>,
    ready: Option<Result<T, Error>>,
    kind: PhantomData<fn() -> T>,
}

impl<T> JsonAnswer<T> {
    /// A decoder of the body of a response of `status`.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            body: Vec::new(),
            ready: None,
            kind: PhantomData,
        }
    }
}

impl<T: DeserializeOwned> BodyDecoder for JsonAnswer<T> {
    type Item = T;

    fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        if self.body.len() + chunk.len() > MAX_ANSWER {
            let message = format!("the answer is over {MAX_ANSWER} bytes");
            return Err(DecodeError::new(self.status, ".", message, &self.body).into());
        }
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    fn next_item(&mut self) -> Option<Result<T, Error>> {
        self.ready.take()
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.ready = Some(decode_json(self.status, &self.body));
        Ok(())
    }
}

/// `POST /api/v1/imports?filename=<name>&<options>` with the file's bytes as the body:
/// CARTO's raw-body upload, streamed (the file is never held whole). The table is named
/// after the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFile {
    /// The file's name (its extension tells CARTO the format).
    pub filename: String,
    /// CARTO's options.
    pub options: ImportOptions,
}

impl ImportFile {
    fn check(&self) -> Result<(), Error> {
        let name = self.filename.trim();
        if name.is_empty() || name.contains(['/', '\\']) || name == "." || name == ".." {
            return Err(Error::invalid(
                "import file name",
                "give the file's own name (with its extension), not a path",
            ));
        }
        Ok(())
    }
}

impl StreamingEndpoint for ImportFile {
    type Decoder = JsonAnswer<ImportQueued>;

    fn to_request(&self, ctx: &RequestContext) -> Result<http::Request<RequestBody>, Error> {
        self.check()?;
        let mut builder = ctx
            .request(Method::POST, &IMPORTS)
            .query("filename", self.filename.clone());
        for (k, v) in self.options.pairs() {
            builder = builder.query(k, v);
        }
        let head = builder.build_head()?;
        let (mut parts, ()) = head.into_parts();
        parts.headers.insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/octet-stream"),
        );
        Ok(http::Request::from_parts(parts, RequestBody::Upload))
    }

    fn decoder(&self, head: &http::response::Parts) -> Result<Self::Decoder, Error> {
        Ok(JsonAnswer::new(head.status))
    }
}

#[derive(Serialize)]
struct UrlBody<'a> {
    url: &'a str,
    #[serde(flatten)]
    options: serde_json::Map<String, Value>,
}

fn options_json(options: &ImportOptions) -> serde_json::Map<String, Value> {
    options
        .pairs()
        .into_iter()
        .map(|(k, v)| {
            let value = match v.as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::String(v),
            };
            (k.to_owned(), value)
        })
        .collect()
}

fn check_url(url: &str) -> Result<(), Error> {
    let ok = ["http://", "https://", "ftp://"]
        .iter()
        .any(|scheme| url.len() > scheme.len() && url.to_ascii_lowercase().starts_with(scheme));
    if !ok {
        return Err(Error::invalid(
            "import URL",
            "CARTO imports http, https and ftp URLs only",
        ));
    }
    Ok(())
}

/// `POST /api/v1/imports` with `{"url": ...}`: CARTO downloads the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportUrl {
    /// The file's URL.
    pub url: String,
    /// CARTO's options.
    pub options: ImportOptions,
}

impl Endpoint for ImportUrl {
    type Output = ImportQueued;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        check_url(&self.url)?;
        let body = UrlBody {
            url: &self.url,
            options: options_json(&self.options),
        };
        ctx.request(Method::POST, &IMPORTS).json(&body)?.build()
    }

    fn parse(&self, response: HttpResponse) -> Result<ImportQueued, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }
}

fn id_path<'a>(base: [&'a str; 3], id: &'a str, what: &'static str) -> Result<Vec<&'a str>, Error> {
    if id.trim().is_empty() {
        return Err(Error::invalid(what, "the id is empty"));
    }
    let mut path = base.to_vec();
    path.push(id);
    Ok(path)
}

/// `GET /api/v1/imports/{id}`: an import's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetImport {
    /// The import's id (`item_queue_id`).
    pub id: String,
}

impl Endpoint for GetImport {
    type Output = Import;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &id_path(IMPORTS, &self.id, "import")?)
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Import, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `GET /api/v1/imports`: the ids of the imports still running (the last 24 hours).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListImports;

#[derive(Deserialize)]
struct ImportIds {
    imports: Vec<String>,
}

impl Endpoint for ListImports {
    type Output = Vec<String>;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &IMPORTS).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Vec<String>, Error> {
        check_status(&response)?;
        Ok(decode_json::<ImportIds>(response.status(), response.body())?.imports)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `POST /api/v1/synchronizations`: a sync table of `url`, imported again every
/// `interval` seconds (at least 900).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSync {
    /// The source.
    pub url: String,
    /// Seconds between runs.
    pub interval: u64,
    /// CARTO's import options.
    pub options: ImportOptions,
}

#[derive(Serialize)]
struct SyncBody<'a> {
    url: &'a str,
    interval: u64,
    #[serde(flatten)]
    options: serde_json::Map<String, Value>,
}

impl Endpoint for CreateSync {
    type Output = Sync;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        check_url(&self.url)?;
        if self.interval < MIN_SYNC_INTERVAL.as_secs() {
            return Err(Error::invalid(
                "sync interval",
                "Sync interval must be at least 15 minutes",
            ));
        }
        let body = SyncBody {
            url: &self.url,
            interval: self.interval,
            options: options_json(&self.options),
        };
        ctx.request(Method::POST, &SYNCS).json(&body)?.build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Sync, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }
}

/// `GET /api/v1/synchronizations/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetSync {
    /// The sync table's id.
    pub id: String,
}

impl Endpoint for GetSync {
    type Output = Sync;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &id_path(SYNCS, &self.id, "sync table")?)
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Sync, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `GET /api/v1/synchronizations`: the user's sync tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListSyncs;

#[derive(Deserialize)]
struct SyncList {
    synchronizations: Vec<Sync>,
}

impl Endpoint for ListSyncs {
    type Output = Vec<Sync>;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &SYNCS).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Vec<Sync>, Error> {
        check_status(&response)?;
        Ok(decode_json::<SyncList>(response.status(), response.body())?.synchronizations)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `PUT /api/v1/synchronizations/{id}/sync_now`: runs a sync now; answers whether it was
/// queued (CARTO waits 15 minutes between runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncNow {
    /// The sync table's id.
    pub id: String,
}

#[derive(Deserialize)]
struct Enqueued {
    enqueued: bool,
}

impl Endpoint for SyncNow {
    type Output = bool;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        let mut path = id_path(SYNCS, &self.id, "sync table")?;
        path.push("sync_now");
        ctx.request(Method::PUT, &path).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<bool, Error> {
        check_status(&response)?;
        Ok(decode_json::<Enqueued>(response.status(), response.body())?.enqueued)
    }
}

/// `DELETE /api/v1/synchronizations/{id}` (204): the table stays, as an ordinary one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteSync {
    /// The sync table's id.
    pub id: String,
}

impl Endpoint for DeleteSync {
    type Output = ();

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::DELETE, &id_path(SYNCS, &self.id, "sync table")?)
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<(), Error> {
        expect_status(&response, StatusCode::NO_CONTENT)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}
