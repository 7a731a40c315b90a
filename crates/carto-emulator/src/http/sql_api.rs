//! SQL API v2 front: credentials (§2.1), the session's role, parameters; the query
//! itself runs in [`crate::sql`].

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use carto_core::models::ApiKeyType;
use serde_json::{Map, Value};

use super::{AppState, Ctx, map_to_pairs, pairs_to_map, sql_error};
use crate::sql::{AnswerBody, SqlAnswer, SqlSession};
use crate::store::UserRecord;

/// Handles `/api/{v}/sql`.
pub(crate) async fn handle(state: &AppState, user: &UserRecord, ctx: Ctx) -> Response {
    let (session, params) = match prepare(state, user, &ctx) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut r = answer_response(state.sql.handle(session, params).await);
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Authorization"));
    r
}

/// Handles `POST /api/{v}/sql/copyfrom`: parameters from the query string only, the
/// body streamed into `COPY ... FROM STDIN`.
pub(crate) async fn copy_from(
    state: &AppState,
    user: &UserRecord,
    ctx: Ctx,
    body: axum::body::Body,
) -> Response {
    let (session, params) = match prepare(state, user, &ctx) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut r = answer_response(
        state
            .sql
            .handle_copy_from(session, params, &ctx.headers, body.into_data_stream())
            .await,
    );
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Authorization"));
    r
}

/// Handles `GET|POST /api/{v}/sql/copyto`.
pub(crate) async fn copy_to(state: &AppState, user: &UserRecord, ctx: Ctx) -> Response {
    let (session, params) = match prepare(state, user, &ctx) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let mut r = answer_response(state.sql.handle_copy_to(session, params).await);
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Authorization"));
    r
}

/// Handles the Batch API: `POST /api/{v}/sql/job`, `GET|DELETE /api/{v}/sql/job/{id}`.
pub(crate) async fn job(state: &AppState, user: &UserRecord, ctx: Ctx) -> Response {
    let (session, _) = match prepare(state, user, &ctx) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let body = ctx.body_params().unwrap_or_default();
    let segs: Vec<&str> = ctx.rest.trim_end_matches('/').split('/').collect();
    let job_id = segs.get(5).map(|s| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    });
    let mut r = answer_response(
        state
            .sql
            .handle_job(session, &ctx.method, job_id.as_deref(), body)
            .await,
    );
    r.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("Authorization"));
    r
}

/// The response of an answer of the SQL engine: a whole body as it is, a streamed one as
/// the engine sends its chunks.
pub(crate) fn answer_response(answer: SqlAnswer) -> Response {
    let (status, headers, body) = answer.into_parts();
    let body = match body {
        AnswerBody::Whole(bytes) => Body::from(bytes),
        AnswerBody::Streamed(chunks) => Body::from_stream(chunks),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// Resolves the credentials and parameters of a SQL API request into a session.
pub(crate) fn prepare(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
) -> Result<(SqlSession, Map<String, Value>), Response> {
    let body = ctx
        .body_params()
        .map_err(|msg| sql_error(StatusCode::BAD_REQUEST, &msg))?;
    let creds = super::auth_extract::extract_sql(
        &user.username,
        ctx.authorization(),
        &ctx.query,
        &map_to_pairs(&body),
    )
    .map_err(|_| sql_error(StatusCode::FORBIDDEN, "permission denied"))?;
    let unauthorized = || sql_error(StatusCode::UNAUTHORIZED, "Unauthorized");
    // Authorization level: the verified (last) token; none means anonymous.
    let level = match &creds.verified_token {
        Some(token) => {
            let (key_type, sql) = state
                .store
                .with_key_by_token(&user.username, token, |key| {
                    (key.key_type, key.has_api("sql"))
                })
                .ok_or_else(unauthorized)?;
            super::log::note_key(key_type);
            if !sql {
                return Err(sql_error(StatusCode::FORBIDDEN, "forbidden"));
            }
            key_type
        }
        None => ApiKeyType::Default,
    };
    // Connection: the first token found, or the Default public key.
    let (role_type, role, password) = state
        .store
        .with_key_by_token(&user.username, &creds.role_token_or_default(), |key| {
            (key.key_type, key.role.clone(), key.password.clone())
        })
        .ok_or_else(unauthorized)?;
    if !state.store.has_master_key(&user.username) {
        return Err(unauthorized());
    }
    let timeout = state.timeouts.of(role_type);
    let mut params = pairs_to_map(ctx.query.clone());
    for (k, v) in body {
        params.insert(k, v);
    }
    if let Some(q) = params.get("q").and_then(Value::as_str) {
        tracing::debug!(target: "carto_emulator::sql", sql = q, "SQL");
    }
    let session = SqlSession {
        username: user.username.clone(),
        database: user.database.clone(),
        schema: user.schema.clone(),
        role,
        password,
        level,
        statement_timeout: timeout,
    };
    Ok((session, params))
}
