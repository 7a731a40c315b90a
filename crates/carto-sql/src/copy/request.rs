//! The COPY endpoints as sans-IO values: [`CopyFrom`] builds the head of an upload and
//! parses its answer; [`CopyTo`] builds a download request and reads its head. The
//! bodies are the caller's streams: this module never touches them.

use std::fmt;
use std::io;
use std::path::Path;
use std::sync::Arc;

use carto_core::endpoint::{decode_json, parse_json};
use carto_core::{
    DecodeError, Error, HttpRequest, HttpResponse, RequestContext, TransportErrorKind,
};
use carto_transport::{BodyDecoder, MAX_ERROR_BODY, RequestBody, StreamingEndpoint};
use http::header::{CONTENT_DISPOSITION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, EXPECT};
use http::{HeaderMap, HeaderValue, Method};
use serde::{Deserialize, Serialize};

use super::trailer::TrailerCheck;

/// Queries longer than this many bytes are sent by COPY TO in a POST form body rather
/// than in the URL (the official Python SDK keeps them in the URL even when it POSTs,
/// which breaks on long queries).
pub const MAX_GET_QUERY_LEN: usize = 1024;

/// A progress callback: called with the number of bytes moved so far.
pub type ProgressFn = Arc<dyn Fn(u64) + Send + Sync>;

/// What a COPY FROM loaded: `{"time": 0.046, "total_rows": 10}`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CopyFromResult {
    /// How long the server spent, when it said.
    #[serde(default, with = "crate::seconds")]
    pub time: Option<std::time::Duration>,
    /// Rows copied.
    pub total_rows: u64,
}

/// Rejects a COPY query the server would reject: it must start with `COPY ` (any
/// case, no leading whitespace), as CARTO checks with `q.toUpperCase().startsWith('COPY ')`.
pub fn check_copy_sql(sql: &str) -> Result<(), Error> {
    let ok = sql
        .as_bytes()
        .get(..5)
        .is_some_and(|head| head.eq_ignore_ascii_case(b"COPY "));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "COPY query",
            "the SQL must start with `COPY ` (no leading whitespace), as CARTO requires",
        ))
    }
}

/// Options of a COPY FROM upload: gzip compression and a progress callback.
#[derive(Clone, Default)]
pub struct CopyFromOptions {
    gzip: Option<u32>,
    progress: Option<ProgressFn>,
}

impl CopyFromOptions {
    /// No compression, no progress callback.
    pub fn new() -> Self {
        Self::default()
    }

    /// Compresses the upload with gzip at `level` (0 to 9; 1 is fast, 9 is small) as it
    /// is sent, with `Content-Encoding: gzip`.
    pub fn gzip(mut self, level: u32) -> Self {
        self.gzip = Some(level);
        self
    }

    /// Calls `progress` with the number of bytes read from the source so far
    /// (uncompressed), after each read.
    pub fn progress(mut self, progress: impl Fn(u64) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    /// The gzip level, when compressing.
    pub fn gzip_level(&self) -> Option<u32> {
        self.gzip
    }

    pub(crate) fn progress_fn(&self) -> Option<ProgressFn> {
        self.progress.clone()
    }
}

impl fmt::Debug for CopyFromOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyFromOptions")
            .field("gzip", &self.gzip)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// Options of a COPY TO download: the `filename` parameter and a progress callback.
#[derive(Clone, Default)]
pub struct CopyToOptions {
    filename: Option<String>,
    progress: Option<ProgressFn>,
}

impl CopyToOptions {
    /// No filename, no progress callback.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `filename` parameter: the name CARTO puts in `Content-Disposition`
    /// (default `carto-sql-copyto.dmp`).
    pub fn filename(mut self, filename: impl Into<String>) -> Self {
        self.filename = Some(filename.into());
        self
    }

    /// Calls `progress` with the number of bytes received so far, after each chunk.
    pub fn progress(mut self, progress: impl Fn(u64) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(progress));
        self
    }

    pub(crate) fn progress_fn(&self) -> Option<ProgressFn> {
        self.progress.clone()
    }
}

impl fmt::Debug for CopyToOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CopyToOptions")
            .field("filename", &self.filename)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// `POST /api/v2/sql/copyfrom?q=COPY ... FROM STDIN ...` with the data as a streamed
/// body (`Content-Type: application/octet-stream`, chunked unless its
/// [length](Self::content_length) is declared, `Content-Encoding: gzip` when compressed,
/// `Expect: 100-continue`). `q` stays in the query string: CARTO reads it only there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFrom {
    sql: String,
    gzip: Option<u32>,
    length: Option<u64>,
}

impl CopyFrom {
    /// An upload running `sql`.
    pub fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            gzip: None,
            length: None,
        }
    }

    /// Declares a gzip-compressed body (the caller compresses).
    pub fn gzip(mut self, level: u32) -> Self {
        self.gzip = Some(level);
        self
    }

    /// Declares the length in bytes of the body as sent (compressed, if it is): it then
    /// travels with `Content-Length` instead of chunked, which spares the server the
    /// chunk framing. The body must be exactly that long.
    pub fn content_length(mut self, length: u64) -> Self {
        self.length = Some(length);
        self
    }

    pub(crate) fn from_options(sql: &str, options: &CopyFromOptions) -> Self {
        Self {
            sql: sql.to_owned(),
            gzip: options.gzip_level(),
            length: None,
        }
    }

    /// Builds the request head; the caller supplies the body.
    pub fn to_request_head(&self, ctx: &RequestContext) -> Result<http::Request<()>, Error> {
        check_copy_sql(&self.sql)?;
        if let Some(level) = self.gzip {
            if level > 9 {
                return Err(Error::invalid(
                    "gzip level",
                    format!("{level} is not a level from 0 to 9"),
                ));
            }
        }
        let mut builder = ctx
            .request(Method::POST, &["api", "v2", "sql", "copyfrom"])
            .query("q", self.sql.as_str())
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            )
            // A server that rejects the COPY before reading data (unknown table, no
            // permission) can say so before the upload starts, instead of closing the
            // connection under it. Backends without support send the body at once.
            .header(EXPECT, HeaderValue::from_static("100-continue"));
        if self.gzip.is_some() {
            builder = builder.header(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
        if let Some(length) = self.length {
            builder = builder.header(CONTENT_LENGTH, HeaderValue::from(length));
        }
        builder.build_head()
    }

    /// Parses the answer: the [`CopyFromResult`], or CARTO's error.
    pub fn parse(&self, response: HttpResponse) -> Result<CopyFromResult, Error> {
        parse_json(&response)
    }
}

/// `GET /api/v2/sql/copyto?q=COPY ... TO STDOUT ...`, or a POST with `q` in a form body
/// when the query is longer than [`MAX_GET_QUERY_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyTo {
    sql: String,
    filename: Option<String>,
}

impl CopyTo {
    /// A download running `sql`.
    pub fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            filename: None,
        }
    }

    /// Sets the `filename` parameter.
    pub fn filename(mut self, filename: Option<String>) -> Self {
        self.filename = filename;
        self
    }

    pub(crate) fn from_options(sql: &str, options: &CopyToOptions) -> Self {
        Self::new(sql).filename(options.filename.clone())
    }

    /// Builds the request (its body, if any, is the small form).
    pub fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        check_copy_sql(&self.sql)?;
        let path = ["api", "v2", "sql", "copyto"];
        if self.sql.len() > MAX_GET_QUERY_LEN {
            let mut form = vec![("q", self.sql.as_str())];
            if let Some(name) = &self.filename {
                form.push(("filename", name.as_str()));
            }
            ctx.request(Method::POST, &path).form(form).build()
        } else {
            ctx.request(Method::GET, &path)
                .query("q", self.sql.as_str())
                .query_opt("filename", self.filename.as_deref())
                .build()
        }
    }
}

/// Streamed, the upload is the caller's ([`RequestBody::Upload`]) and the answer is
/// read whole (at most [`MAX_ERROR_BODY`] bytes) into a [`CopyFromResult`].
impl StreamingEndpoint for CopyFrom {
    type Decoder = CopyFromAnswer;

    fn to_request(&self, ctx: &RequestContext) -> Result<http::Request<RequestBody>, Error> {
        Ok(self.to_request_head(ctx)?.map(|()| RequestBody::Upload))
    }

    fn decoder(&self, head: &http::response::Parts) -> Result<CopyFromAnswer, Error> {
        Ok(CopyFromAnswer {
            status: head.status,
            data: Vec::new(),
            result: None,
        })
    }
}

/// The [`BodyDecoder`] of a COPY FROM answer: one item, the [`CopyFromResult`] its JSON
/// body (at most [`MAX_ERROR_BODY`] bytes are kept) decodes into.
#[derive(Debug)]
pub struct CopyFromAnswer {
    status: http::StatusCode,
    data: Vec<u8>,
    result: Option<CopyFromResult>,
}

impl BodyDecoder for CopyFromAnswer {
    type Item = CopyFromResult;

    fn push(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let room = MAX_ERROR_BODY - self.data.len();
        self.data.extend_from_slice(&chunk[..chunk.len().min(room)]);
        Ok(())
    }

    fn next_item(&mut self) -> Option<Result<CopyFromResult, Error>> {
        self.result.take().map(Ok)
    }

    fn finish(&mut self) -> Result<(), Error> {
        self.result = Some(decode_json(self.status, &self.data)?);
        Ok(())
    }
}

/// The one item of a streamed answer (a [`CopyFromAnswer`]), or the error of an answer
/// that ended with none.
pub(crate) fn single<T>(item: Option<Result<T, Error>>) -> Result<T, Error> {
    item.unwrap_or_else(|| {
        Err(DecodeError::new(http::StatusCode::OK, ".", "the answer is empty", b"").into())
    })
}

/// Streamed, the body is passed on as it arrives, its last [`HOLD_BACK`](super::HOLD_BACK)
/// bytes checked for an appended error ([`TrailerCheck`]).
impl StreamingEndpoint for CopyTo {
    type Decoder = TrailerCheck;

    fn to_request(&self, ctx: &RequestContext) -> Result<http::Request<RequestBody>, Error> {
        Ok(CopyTo::to_request(self, ctx)?.map(RequestBody::Bytes))
    }

    fn decoder(&self, _head: &http::response::Parts) -> Result<TrailerCheck, Error> {
        Ok(TrailerCheck::new())
    }
}

/// The file name of a `Content-Disposition: attachment; filename=...` header
/// (percent-decoded, as CARTO encodes it with `encodeURIComponent`).
pub fn attachment_filename(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_DISPOSITION)?.to_str().ok()?;
    value.split(';').find_map(|part| {
        let (key, raw) = part.trim().split_once('=')?;
        if !key.trim().eq_ignore_ascii_case("filename") {
            return None;
        }
        let raw = raw.trim().trim_matches('"');
        Some(
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .into_owned(),
        )
    })
}

/// The error of a COPY source file that cannot be opened.
pub(crate) fn open_error(path: &Path, err: io::Error) -> Error {
    Error::invalid(
        "COPY source file",
        format!("cannot open {}: {err}", path.display()),
    )
}

/// The error of a COPY destination file that cannot be created.
pub(crate) fn create_error(path: &Path, err: io::Error) -> Error {
    Error::invalid(
        "COPY destination file",
        format!("cannot create {}: {err}", path.display()),
    )
}

/// A failure to write COPY TO output where the caller asked.
pub(crate) fn write_error(err: io::Error) -> Error {
    Error::transport(TransportErrorKind::Io, err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_prefix() {
        assert!(check_copy_sql("COPY t FROM STDIN").is_ok());
        assert!(check_copy_sql("copy t to stdout").is_ok());
        assert!(check_copy_sql(" COPY t FROM STDIN").is_err());
        assert!(check_copy_sql("SELECT 1").is_err());
        assert!(check_copy_sql("COPY").is_err());
        assert!(check_copy_sql("COPYt").is_err());
        assert!(check_copy_sql("").is_err());
    }

    #[test]
    fn filename_header() {
        let mut h = HeaderMap::new();
        h.insert(
            CONTENT_DISPOSITION,
            HeaderValue::from_static("attachment; filename=%2Ftmp%2Foutput.dmp"),
        );
        assert_eq!(attachment_filename(&h).as_deref(), Some("/tmp/output.dmp"));
        assert_eq!(attachment_filename(&HeaderMap::new()), None);
    }
}
