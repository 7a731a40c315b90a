//! CARTO's Import API v1: `POST /api/v1/imports` (a multipart `file` or `filename` part, or
//! the raw body with `?filename=`), `GET /api/v1/imports/{id}`, `GET /api/v1/imports`.
//! Master key only: any other key, or none, gets Rails' 401 with an empty body. The work
//! runs in the background ([`crate::imports`]); the POST answers the job's id at once.

use std::io::Write;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use carto_core::models::ApiKeyType;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};

use super::auth_api::{authenticate, rails_params};
use super::tenant::KeyOwner;
use super::{AppState, Ctx, empty_response, json_response, multipart_boundary};
use crate::imports::{ImportOptions, MAX_IMPORT_BYTES, Source, UploadSlot, errors};
use crate::store::UserRecord;

/// The largest multipart or form request read (multipart bodies are read whole; raw bodies
/// are streamed to disk up to [`MAX_IMPORT_BYTES`]).
const MAX_FORM_BODY: usize = 64 * 1024 * 1024;

/// CARTO's creation error: `{"errors":{"imports": message}}`.
fn imports_error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({"errors": {"imports": message}}))
}

/// Authenticates with the master key (`Err`: the empty 401).
fn admit(state: &AppState, user: &UserRecord, ctx: &Ctx) -> Result<(), Response> {
    let key = authenticate(state, user, ctx)?;
    if key.key_type != ApiKeyType::Master {
        return Err(empty_response(StatusCode::UNAUTHORIZED));
    }
    Ok(())
}

/// Whether the body is parameters (JSON, a form, multipart) rather than the file itself.
fn body_is_params(ctx: &Ctx) -> bool {
    let ct = ctx.content_type();
    ct.starts_with("application/json")
        || ct.ends_with("+json")
        || ct.starts_with("application/x-www-form-urlencoded")
        || ct.starts_with("multipart/form-data")
}

/// The file's own name: the last segment of what the client sent (a path is never used
/// as one: uploads go to the emulator's temporary files).
fn file_name(sent: &str) -> String {
    sent.rsplit(['/', '\\'])
        .next()
        .unwrap_or(sent)
        .trim()
        .to_owned()
}

/// `POST /api/v1/imports`.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    user: KeyOwner,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let mut ctx = Ctx::head(parts);
    let raw = !body_is_params(&ctx);
    let mut body = Some(body);
    if !raw {
        match axum::body::to_bytes(body.take().expect("body"), MAX_FORM_BODY).await {
            Ok(bytes) => ctx.body = bytes,
            Err(_) => {
                return imports_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The request body is too large: send the file as the raw body with ?filename=",
                );
            }
        }
    }
    if let Err(r) = admit(&state, &user, &ctx) {
        return r;
    }
    let params = match rails_params(&ctx) {
        Ok(p) => p,
        Err(_) => {
            return imports_error(StatusCode::BAD_REQUEST, "Invalid JSON in the request body");
        }
    };
    let options = match ImportOptions::parse(&params) {
        Ok(o) => o,
        Err(msg) => return imports_error(StatusCode::BAD_REQUEST, &msg),
    };
    let Some(slot) = state.imports.take_slot(&user.username) else {
        return imports_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "We're sorry but you're already using your allowed {} import slots",
                crate::imports::MAX_CONCURRENT_IMPORTS
            ),
        );
    };
    let filename = text(&params, "filename").map(|f| file_name(&f));
    let source = if raw {
        match filename {
            Some(name) if !name.is_empty() => {
                stream_to_file(body.take().expect("body"), name).await
            }
            _ => Source::Nothing,
        }
    } else {
        match multipart_file(&ctx) {
            Some((name, bytes)) => save(&name, bytes),
            None => Source::Nothing,
        }
    };
    start(&state, &user, options, source, slot)
}

fn start(
    state: &AppState,
    user: &UserRecord,
    options: ImportOptions,
    source: Source,
    slot: UploadSlot,
) -> Response {
    let id = state
        .imports
        .start(state.store.clone(), user.clone(), options, source, slot);
    json_response(
        StatusCode::OK,
        &json!({"item_queue_id": id, "success": true}),
    )
}

fn text(params: &Map<String, Value>, key: &str) -> Option<String> {
    params.get(key).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        _ => None,
    })
}

/// The raw body written to a temporary file, up to [`MAX_IMPORT_BYTES`] (beyond: 6666).
async fn stream_to_file(body: axum::body::Body, name: String) -> Source {
    let failed = |code| Source::Failed {
        name: name.clone(),
        code,
    };
    let Ok(file) = tempfile::NamedTempFile::new() else {
        return failed(errors::UNKNOWN);
    };
    let mut out = std::io::BufWriter::new(file);
    let mut stream = body.into_data_stream();
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return failed(errors::UNKNOWN);
        };
        total += chunk.len() as u64;
        if total > MAX_IMPORT_BYTES {
            return failed(errors::TOO_BIG);
        }
        if out.write_all(&chunk).is_err() {
            return failed(errors::UNKNOWN);
        }
    }
    match out.into_inner() {
        Ok(file) => Source::File { file, name },
        Err(_) => failed(errors::UNKNOWN),
    }
}

/// A file part of the request written to a temporary file.
fn save(name: &str, bytes: &[u8]) -> Source {
    let written = tempfile::NamedTempFile::new().and_then(|mut f| {
        f.write_all(bytes)?;
        f.flush()?;
        Ok(f)
    });
    match written {
        Ok(file) => Source::File {
            file,
            name: name.to_owned(),
        },
        Err(_) => Source::Failed {
            name: name.to_owned(),
            code: errors::UNKNOWN,
        },
    }
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    (from..=haystack.len() - needle.len()).find(|&i| haystack[i..].starts_with(needle))
}

/// The first part named `file` or `filename` with a file name: the name and the bytes.
fn multipart_file(ctx: &Ctx) -> Option<(String, &[u8])> {
    let boundary = multipart_boundary(ctx.raw_content_type())?;
    let body = &ctx.body[..];
    let delimiter = format!("\r\n--{boundary}");
    // The first delimiter may start the body without the line break before it.
    let mut at = find(body, &delimiter.as_bytes()[2..], 0)? + delimiter.len() - 2;
    loop {
        if body[at..].starts_with(b"--") {
            return None;
        }
        let head_start = at + 2;
        let head_end = find(body, b"\r\n\r\n", head_start)?;
        let head = String::from_utf8_lossy(&body[head_start..head_end]);
        let content = head_end + 4;
        let end = find(body, delimiter.as_bytes(), content)?;
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or("");
        let param = |key: &str| {
            disposition.split(';').map(str::trim).find_map(|p| {
                p.strip_prefix(key)
                    .and_then(|v| v.strip_prefix('='))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        if let (Some(name), Some(filename)) = (param("name"), param("filename")) {
            if name == "file" || name == "filename" {
                return Some((file_name(&filename), &body[content..end]));
            }
        }
        at = end + delimiter.len();
    }
}

/// `GET /api/v1/imports/{id}`: the job as CARTO presents it; 404 empty for an id that is
/// not one of the user's.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    user: KeyOwner,
    Path(id): Path<String>,
    ctx: Ctx,
) -> Response {
    if let Err(r) = admit(&state, &user, &ctx) {
        return r;
    }
    match state.imports.get(&user.username, &id) {
        Some(job) => json_response(StatusCode::OK, &job.to_json()),
        None => empty_response(StatusCode::NOT_FOUND),
    }
}

/// `GET /api/v1/imports`: the user's imports not yet final, newest first.
pub(crate) async fn index(
    State(state): State<Arc<AppState>>,
    user: KeyOwner,
    ctx: Ctx,
) -> Response {
    if let Err(r) = admit(&state, &user, &ctx) {
        return r;
    }
    json_response(
        StatusCode::OK,
        &json!({"imports": state.imports.pending(&user.username), "success": true}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_lose_their_paths() {
        assert_eq!(file_name("../../etc/passwd.csv"), "passwd.csv");
        assert_eq!(file_name("C:\\x\\a.csv"), "a.csv");
    }
}
