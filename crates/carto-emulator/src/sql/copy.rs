//! The COPY API (§6): `POST /api/v2/sql/copyfrom` and `GET|POST /api/v2/sql/copyto`.
//!
//! Both run `COPY` in a session logged in as the key's role, so PostgreSQL's privileges decide
//! (a select-only key gets `permission denied`, 403). Data flows through without being
//! buffered: upload chunks become `CopyData` messages as they arrive (gunzipped on the fly),
//! and `COPY TO` output is sent to the response body as PostgreSQL produces it.

use std::io::{self, Write};
use std::time::Instant;

use bytes::Bytes;
use flate2::write::GzDecoder;
use futures_util::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use super::answer::SqlAnswer;
use super::engine::SqlEngine;
use super::error::ApiError;
use super::pool::Lease;
use super::session::SqlSession;
use super::stream::{CHANNEL_CHUNKS, CHUNK, client_gone};
use super::value::write_js_number;
use super::wire::{DbError, Event, PgConn, tag_rows};

/// `encodeURIComponent` leaves these unescaped.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// CARTO's default `copy_from_max_post_size` (2 GB).
pub(crate) const DEFAULT_COPY_FROM_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

/// The `q` of a COPY request, validated as CARTO does.
fn copy_sql(params: &Map<String, Value>) -> Result<String, ApiError> {
    let q = match params.get("q") {
        Some(Value::String(q)) if !q.is_empty() => q.clone(),
        _ => return Err(ApiError::bad_request("SQL is missing")),
    };
    if !q.to_uppercase().starts_with("COPY ") {
        return Err(ApiError::bad_request("SQL must start with COPY"));
    }
    if q.contains('\0') {
        return Err(ApiError::bad_request(
            "invalid byte sequence for encoding \"UTF8\": 0x00",
        ));
    }
    if super::guard::alters_a_role(&q) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "permission denied to alter role",
        ));
    }
    Ok(q)
}

/// Human size for the size-limit message (`2 GB`).
fn size_text(bytes: u64) -> String {
    const GB: u64 = 1024 * 1024 * 1024;
    const MB: u64 = 1024 * 1024;
    if bytes % GB == 0 {
        format!("{} GB", bytes / GB)
    } else if bytes % MB == 0 {
        format!("{} MB", bytes / MB)
    } else {
        format!("{bytes} bytes")
    }
}

/// How much of a gzip upload is inflated at once.
const GUNZIP_SLICE: usize = 4 * 1024;

/// The refusal of a gzip upload whose inflated size is over `limit`.
fn inflated_too_large(limit: u64) -> ApiError {
    ApiError::bad_request(format!(
        "COPY FROM maximum size of {} exceeded once decompressed",
        size_text(limit)
    ))
}

/// Streaming gunzip of the upload.
struct Gunzip {
    decoder: GzDecoder<Vec<u8>>,
    seen: usize,
}

impl Gunzip {
    fn new() -> Self {
        Gunzip {
            decoder: GzDecoder::new(Vec::new()),
            seen: 0,
        }
    }

    fn error(e: &io::Error) -> ApiError {
        ApiError::bad_request(format!("Error while gunzipping: {e}"))
    }

    fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, ApiError> {
        // zlib's wording for input that is not gzip at all.
        let magic = [0x1f, 0x8b];
        for (i, b) in chunk
            .iter()
            .enumerate()
            .take(2usize.saturating_sub(self.seen))
        {
            if *b != magic[self.seen + i] {
                return Err(ApiError::bad_request(
                    "Error while gunzipping: incorrect header check",
                ));
            }
        }
        self.seen += chunk.len();
        self.decoder.write_all(chunk).map_err(|e| Self::error(&e))?;
        Ok(std::mem::take(self.decoder.get_mut()))
    }

    fn finish(&mut self) -> Result<Vec<u8>, ApiError> {
        self.decoder.try_finish().map_err(|e| Self::error(&e))?;
        Ok(std::mem::take(self.decoder.get_mut()))
    }
}

/// What happened while the upload was being copied.
enum Upload {
    /// The body ended and `CopyDone` was sent.
    Done,
    /// The server reported an error during the copy.
    Server(DbError),
    /// The upload was refused (gzip, size) or broken; `CopyFail` was sent.
    Refused(ApiError),
    /// The session failed.
    Lost,
}

/// How much of a refused upload is read and thrown away so that the client, still
/// sending, receives the error response instead of a reset connection.
const DISCARD_LIMIT: u64 = 256 * 1024 * 1024;

/// Reads and drops the rest of an upload the server already refused (up to
/// [`DISCARD_LIMIT`]; past it the connection is simply closed after the answer).
async fn discard_upload<S, E>(mut stream: S)
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut seen: u64 = 0;
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len() as u64;
        if seen > DISCARD_LIMIT {
            break;
        }
    }
}

/// Reads the rest of a query cycle: the last command's row count, the first error, and the
/// final transaction status (`None` when the session is lost).
async fn drain(conn: &mut PgConn) -> (u64, Option<DbError>, Option<u8>) {
    let mut rows = 0;
    let mut error = None;
    loop {
        match conn.next_event().await {
            Ok(Event::CommandComplete(tag)) => rows = tag_rows(&tag),
            Ok(Event::Error(e)) => error = error.or(Some(e)),
            Ok(Event::CopyInResponse) => {
                if conn.copy_fail("unexpected COPY FROM STDIN").await.is_err() {
                    return (rows, error, None);
                }
            }
            Ok(Event::Ready(status)) => return (rows, error, Some(status)),
            Ok(_) => {}
            Err(_) => return (rows, error, None),
        }
    }
}

impl SqlEngine {
    /// Sets the largest upload `COPY FROM` accepts (CARTO: 2 GB, counted on the bytes as
    /// sent, compressed or not). A gzip upload is also refused once it inflates past it
    /// (stricter than CARTO, which does not bound what a gzip body inflates to).
    pub fn with_copy_from_limit(mut self, bytes: u64) -> Self {
        self.copy_from_limit = bytes;
        self
    }

    /// Answers `POST /api/v2/sql/copyfrom`: `params` are the query-string parameters (`q`),
    /// `headers` the request headers (`Content-Encoding: gzip` is honoured) and `body` the
    /// raw data, streamed into PostgreSQL. A body that fails mid-way (client gone) aborts the
    /// COPY, so no partial rows are left.
    pub async fn handle_copy_from<S, E>(
        &self,
        session: SqlSession,
        params: Map<String, Value>,
        headers: &HeaderMap,
        body: S,
    ) -> SqlAnswer
    where
        S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
    {
        let q = match copy_sql(&params) {
            Ok(q) => q,
            Err(e) => return e.into_answer(None),
        };
        let gzip = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("gzip"));
        let Lease {
            mut conn, ticket, ..
        } = match self.checkout(&session).await {
            Ok(lease) => lease,
            Err(e) => return e.into_answer(None),
        };
        let started = Instant::now();
        if conn.send_query(&q).await.is_err() {
            return ApiError::cannot_connect().into_answer(None);
        }
        // Up to CopyInResponse (or the error that replaces it).
        loop {
            match conn.next_event().await {
                Ok(Event::CopyInResponse) => break,
                Ok(Event::Error(e)) => {
                    let (_, _, status) = drain(&mut conn).await;
                    self.give_back(&session, ticket, status.map(|s| (conn, s)), None)
                        .await;
                    discard_upload(body).await;
                    return ApiError::from_db(&e).into_answer(None);
                }
                Ok(Event::Ready(status)) => {
                    self.give_back(&session, ticket, Some((conn, status)), None)
                        .await;
                    discard_upload(body).await;
                    return ApiError::bad_request("COPY FROM must read FROM STDIN")
                        .into_answer(None);
                }
                Ok(_) => {}
                Err(_) => return ApiError::cannot_connect().into_answer(None),
            }
        }
        let mut stream = body;
        let mut gunzip = gzip.then(Gunzip::new);
        let mut received: u64 = 0;
        let mut inflated: u64 = 0;
        let outcome = loop {
            let next = tokio::select! {
                event = conn.next_event() => Err(event),
                chunk = stream.next() => Ok(chunk),
            };
            match next {
                Err(Ok(Event::Error(e))) => break Upload::Server(e),
                Err(Ok(_)) => continue,
                Err(Err(_)) => break Upload::Lost,
                Ok(None) => {
                    let tail = match gunzip.as_mut().map(Gunzip::finish) {
                        Some(Err(e)) => {
                            let _ = conn.copy_fail(&e.message).await;
                            break Upload::Refused(e);
                        }
                        Some(Ok(tail)) => tail,
                        None => Vec::new(),
                    };
                    inflated += tail.len() as u64;
                    if inflated > self.copy_from_limit {
                        let e = inflated_too_large(self.copy_from_limit);
                        let _ = conn.copy_fail(&e.message).await;
                        break Upload::Refused(e);
                    }
                    if !tail.is_empty() && conn.copy_data(Bytes::from(tail)).await.is_err() {
                        break Upload::Lost;
                    }
                    match conn.copy_done().await {
                        Ok(()) => break Upload::Done,
                        Err(_) => break Upload::Lost,
                    }
                }
                Ok(Some(Err(_))) => {
                    // The client went away mid-upload: abort, nothing is kept.
                    let _ = conn.copy_fail("the client aborted the upload").await;
                    break Upload::Refused(ApiError::bad_request("the upload was interrupted"));
                }
                Ok(Some(Ok(chunk))) => {
                    received += chunk.len() as u64;
                    if received > self.copy_from_limit {
                        let e = ApiError::bad_request(format!(
                            "COPY FROM maximum POST size of {} exceeded",
                            size_text(self.copy_from_limit)
                        ));
                        let _ = conn.copy_fail(&e.message).await;
                        break Upload::Refused(e);
                    }
                    let Some(g) = gunzip.as_mut() else {
                        if !chunk.is_empty() && conn.copy_data(chunk).await.is_err() {
                            break Upload::Lost;
                        }
                        continue;
                    };
                    // Inflated a slice at a time: what one slice gives is bounded (deflate
                    // inflates at most about 1000 times), and so is the total.
                    let mut failed = None;
                    for piece in chunk.chunks(GUNZIP_SLICE) {
                        let data = match g.push(piece) {
                            Ok(d) => d,
                            Err(e) => {
                                failed = Some(Upload::Refused(e));
                                break;
                            }
                        };
                        inflated += data.len() as u64;
                        if inflated > self.copy_from_limit {
                            failed =
                                Some(Upload::Refused(inflated_too_large(self.copy_from_limit)));
                            break;
                        }
                        if !data.is_empty() && conn.copy_data(Bytes::from(data)).await.is_err() {
                            failed = Some(Upload::Lost);
                            break;
                        }
                    }
                    match failed {
                        Some(Upload::Refused(e)) => {
                            let _ = conn.copy_fail(&e.message).await;
                            break Upload::Refused(e);
                        }
                        Some(other) => break other,
                        None => {}
                    }
                }
            }
        };
        if matches!(outcome, Upload::Lost) {
            return ApiError::cannot_connect().into_answer(None);
        }
        if matches!(outcome, Upload::Server(_)) {
            // A row was refused mid-upload: read what the client is still sending, so it
            // gets this answer instead of a broken pipe.
            discard_upload(stream).await;
        }
        let (rows, error, status) = drain(&mut conn).await;
        self.give_back(&session, ticket, status.map(|s| (conn, s)), None)
            .await;
        let seconds = started.elapsed().as_millis() as f64 / 1000.0;
        match outcome {
            Upload::Refused(e) => e.into_answer(None),
            Upload::Server(e) => ApiError::from_db(&e).into_answer(None),
            _ => match error {
                Some(e) => ApiError::from_db(&e).into_answer(None),
                None if rows == 0 => ApiError::bad_request("No rows copied").into_answer(None),
                None => {
                    let mut body = String::from("{\"time\":");
                    write_js_number(&mut body, seconds);
                    body.push_str(&format!(",\"total_rows\":{rows}}}"));
                    SqlAnswer::json(StatusCode::OK, body)
                }
            },
        }
    }

    /// Answers `GET|POST /api/v2/sql/copyto`: `params` are the query string merged with the
    /// body parameters (`q`, `filename`); the COPY output is streamed as PostgreSQL sends it.
    /// An error after the first byte is appended to the body as CARTO's JSON error object.
    pub async fn handle_copy_to(
        &self,
        session: SqlSession,
        params: Map<String, Value>,
    ) -> SqlAnswer {
        let q = match copy_sql(&params) {
            Ok(q) => q,
            Err(e) => return e.into_answer(None),
        };
        let filename = match params.get("filename") {
            Some(Value::String(f)) if !f.is_empty() => f.clone(),
            _ => "carto-sql-copyto.dmp".to_string(),
        };
        let Lease { conn, ticket, .. } = match self.checkout(&session).await {
            Ok(lease) => lease,
            Err(e) => return e.into_answer(None),
        };
        let (head_tx, head_rx) = oneshot::channel::<Result<(), ApiError>>();
        let (body_tx, body_rx) = mpsc::channel::<Result<Bytes, io::Error>>(CHANNEL_CHUNKS);
        let engine = self.clone();
        tokio::spawn(async move {
            let used = copy_out(conn, &q, head_tx, body_tx).await;
            engine.give_back(&session, ticket, used, None).await;
        });
        match head_rx.await {
            Ok(Ok(())) => {
                let mut headers = HeaderMap::new();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/octet-stream"),
                );
                let disposition = format!(
                    "attachment; filename={}",
                    utf8_percent_encode(&filename, URI_COMPONENT)
                );
                if let Ok(v) = HeaderValue::from_str(&disposition) {
                    headers.insert(header::CONTENT_DISPOSITION, v);
                }
                SqlAnswer::chunks(headers, body_rx)
            }
            Ok(Err(e)) => e.into_answer(None),
            Err(_) => ApiError::cannot_connect().into_answer(None),
        }
    }
}

/// Runs a `COPY ... TO STDOUT` and forwards its data; returns the session when reusable.
async fn copy_out(
    mut conn: PgConn,
    q: &str,
    head: oneshot::Sender<Result<(), ApiError>>,
    body: mpsc::Sender<Result<Bytes, io::Error>>,
) -> Option<(PgConn, u8)> {
    let cancel = conn.cancel_handle();
    let mut head = Some(head);
    if conn.send_query(q).await.is_err() {
        if let Some(h) = head.take() {
            let _ = h.send(Err(ApiError::cannot_connect()));
        }
        return None;
    }
    let mut error: Option<DbError> = None;
    let mut pending = bytes::BytesMut::new();
    let status = loop {
        let event = tokio::select! {
            event = conn.next_event() => event,
            // PostgreSQL does not flush its CopyOutResponse: a COPY whose query is slow to
            // give its first row has no head yet, and a client that leaves then is seen by
            // the handler being dropped.
            () = client_gone(&mut head, &body) => {
                let _ = cancel.cancel().await;
                return None;
            }
        };
        match event {
            Ok(Event::CopyOutResponse) => {
                if let Some(h) = head.take() {
                    let _ = h.send(Ok(()));
                }
            }
            Ok(Event::CopyData(data)) => {
                // PostgreSQL sends one CopyData message per row: gather rows into pieces
                // of about 64 KiB so a client is not woken up once per row.
                pending.extend_from_slice(&data);
                if pending.len() >= CHUNK && body.send(Ok(pending.split().freeze())).await.is_err()
                {
                    let _ = cancel.cancel().await;
                    return None;
                }
            }
            Ok(Event::CopyInResponse) => {
                if conn
                    .copy_fail("COPY FROM STDIN is not supported by copyto")
                    .await
                    .is_err()
                {
                    return None;
                }
            }
            Ok(Event::Error(e)) => error = error.or(Some(e)),
            Ok(Event::Ready(status)) => break status,
            Ok(_) => {}
            Err(_) => {
                match head.take() {
                    Some(h) => {
                        let _ = h.send(Err(ApiError::cannot_connect()));
                    }
                    None => {
                        if !pending.is_empty() {
                            let _ = body.send(Ok(pending.split().freeze())).await;
                        }
                        let _ = body
                            .send(Err(io::Error::other("database session lost")))
                            .await;
                    }
                }
                return None;
            }
        }
    };
    if !pending.is_empty() && body.send(Ok(pending.freeze())).await.is_err() {
        return None;
    }
    match (head.take(), error) {
        (Some(h), Some(e)) => {
            let _ = h.send(Err(ApiError::from_db(&e)));
        }
        (Some(h), None) => {
            let _ = h.send(Err(ApiError::bad_request("COPY TO must write TO STDOUT")));
        }
        (None, Some(e)) => {
            let _ = body
                .send(Ok(Bytes::from(ApiError::from_db(&e).body_json())))
                .await;
        }
        (None, None) => {}
    }
    Some((conn, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_queries_are_validated() {
        let p = |v: Value| copy_sql(v.as_object().unwrap());
        assert_eq!(
            p(serde_json::json!({})).unwrap_err().message,
            "SQL is missing"
        );
        assert_eq!(
            p(serde_json::json!({"q": "COPY t TO STDOUT; ALTER ROLE CURRENT_USER PASSWORD 'x'"}))
                .unwrap_err()
                .message,
            "permission denied to alter role"
        );
        assert_eq!(
            p(serde_json::json!({"q": "SELECT 1"})).unwrap_err().message,
            "SQL must start with COPY"
        );
        assert_eq!(
            p(serde_json::json!({"q": " COPY t FROM STDIN"}))
                .unwrap_err()
                .message,
            "SQL must start with COPY"
        );
        assert!(p(serde_json::json!({"q": "copy t FROM STDIN"})).is_ok());
    }

    #[test]
    fn gunzip_streams_and_reports_bad_headers() {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"1,a\n2,b\n").unwrap();
        let gz = enc.finish().unwrap();
        let mut g = Gunzip::new();
        let mut out = Vec::new();
        for part in gz.chunks(3) {
            out.extend(g.push(part).unwrap());
        }
        out.extend(g.finish().unwrap());
        assert_eq!(out, b"1,a\n2,b\n");
        let e = Gunzip::new().push(b"plain text").unwrap_err();
        assert_eq!(e.message, "Error while gunzipping: incorrect header check");
    }

    #[test]
    fn sizes_and_filenames() {
        assert_eq!(size_text(DEFAULT_COPY_FROM_LIMIT), "2 GB");
        assert_eq!(size_text(1024 * 1024), "1 MB");
        assert_eq!(size_text(100), "100 bytes");
        assert_eq!(
            utf8_percent_encode("/tmp/output.dmp", URI_COMPONENT).to_string(),
            "%2Ftmp%2Foutput.dmp"
        );
    }
}
