//! CARTO 3's tenant-wide routes: `POST /oauth/token` (client credentials), the Tokens API
//! (`/v3/tokens`) and the SQL API v3 (`/v3/sql/{connection}/query|job`, `/v3/sql/jobs`).
//!
//! The account comes from the Bearer token (or `access_token`), never from the path or the
//! Host. An OAuth token acts as the account (its master role); an API access token runs as
//! its own PostgreSQL role, behind the system-table guard, after its referers and allowed
//! APIs are checked.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use carto_core::models::ApiKeyType;
use carto_tokens::{AllowedApi, Grant, NewToken, TokenUpdate};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::{AppState, Ctx, json_response, log};
use crate::carto3::sources::{self, SourceError};
use crate::carto3::{ApiToken, Principal, Refused, referer};
use crate::sql::{AnswerBody, SqlAnswer, SqlSession};
use crate::store::{KeyError, UserRecord};

type Shared = Arc<AppState>;

/// CARTO 3's error body: `{"error", "description"?, "status"}`.
fn error(status: StatusCode, message: &str, description: Option<&str>) -> Response {
    let mut body = json!({"error": message, "status": status.as_u16()});
    if let Some(d) = description {
        body["description"] = json!(d);
    }
    json_response(status, &body)
}

/// An OAuth error body, as Auth0 writes them.
fn oauth_error(status: StatusCode, code: &str, description: &str) -> Response {
    json_response(
        status,
        &json!({"error": code, "error_description": description}),
    )
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r
}

/// `POST /oauth/token`: the client-credentials grant (form or JSON body).
pub(super) async fn oauth_token(State(state): State<Shared>, ctx: Ctx) -> Response {
    let Ok(params) = ctx.body_params() else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "The request body could not be read",
        );
    };
    let get = |k: &str| params.get(k).and_then(Value::as_str);
    let r = match get("grant_type") {
        None => oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: grant_type",
        ),
        Some("client_credentials") => match (get("client_id"), get("client_secret")) {
            (None, _) => oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Missing required parameter: client_id",
            ),
            (Some(_), None) => oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "Client authentication failed",
            ),
            (Some(id), Some(secret)) => {
                let account = state
                    .carto3
                    .client(id, secret)
                    .filter(|a| state.store.user(&a.username).is_some());
                match (account, get("audience")) {
                    (None, _) => oauth_error(
                        StatusCode::UNAUTHORIZED,
                        "invalid_client",
                        "Client authentication failed",
                    ),
                    (Some(_), Some(aud)) if aud != crate::carto3::AUDIENCE => oauth_error(
                        StatusCode::FORBIDDEN,
                        "access_denied",
                        &format!("Service not found: {aud}"),
                    ),
                    (Some(account), _) => {
                        log::note_user(&account.username);
                        let token = state.carto3.oauth_token(&account, Utc::now());
                        json_response(
                            StatusCode::OK,
                            &json!({
                                "access_token": token,
                                "expires_in": state.carto3.oauth_lifetime.as_secs(),
                                "token_type": "Bearer",
                            }),
                        )
                    }
                }
            }
        },
        Some(other) => oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("Unsupported grant type: {other}"),
        ),
    };
    no_store(r)
}

/// The Bearer token of a request: `Authorization: Bearer ...`, else `access_token`.
fn bearer(ctx: &Ctx) -> Option<&str> {
    if let Some(h) = ctx.authorization() {
        if let Some((scheme, rest)) = h.trim().split_once(' ') {
            if scheme.eq_ignore_ascii_case("bearer") {
                return Some(rest.trim());
            }
        }
    }
    ctx.query
        .iter()
        .rev()
        .find(|(k, _)| k == "access_token")
        .map(|(_, v)| v.as_str())
}

/// The principal of a request and its user, or CARTO's 401.
fn authenticate(state: &AppState, ctx: &Ctx) -> Result<(Principal, Arc<UserRecord>), Response> {
    let token = bearer(ctx)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "Token not defined", None))?;
    let principal = state
        .carto3
        .principal(token, Utc::now())
        .map_err(|r| match r {
            Refused::Invalid => error(StatusCode::UNAUTHORIZED, "Invalid token", None),
            Refused::Expired => error(StatusCode::UNAUTHORIZED, "Token expired", None),
        })?;
    let user = state
        .store
        .user(principal.username())
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "Invalid token", None))?;
    log::note_user(&user.username);
    Ok((principal, user))
}

/// The user of a request with an OAuth token (the Tokens API and jobs need one): `what` is
/// named in the 403 an API access token gets.
fn account_only(state: &AppState, ctx: &Ctx, what: &str) -> Result<Arc<UserRecord>, Response> {
    let (principal, user) = authenticate(state, ctx)?;
    match principal {
        Principal::Account(_) => Ok(user),
        Principal::Token(_) => Err(error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            Some(&format!(
                "{what} needs an OAuth access token, not an API access token"
            )),
        )),
    }
}

/// An API access token's referers and allowed APIs, checked for a request to `api`.
fn check_use(token: &ApiToken, ctx: &Ctx, api: &str) -> Result<(), Response> {
    let header = |name| ctx.headers.get(name).and_then(|v| v.to_str().ok());
    if !referer::allowed(
        &token.referers,
        header(header::ORIGIN),
        header(header::REFERER),
    ) {
        return Err(json_response(
            StatusCode::FORBIDDEN,
            &json!({"error": "Unauthorized referer"}),
        ));
    }
    if !token.allows(api) {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Forbidden",
            Some(&format!("this token does not allow the {api} API")),
        ));
    }
    Ok(())
}

/// The account's connection is the one of the path: else 403 for an API access token
/// (`token`), as CARTO answers a token used on another connection, 404 for the account.
fn check_connection(user: &UserRecord, connection: &str, token: bool) -> Result<(), Response> {
    if crate::carto3::connection_name(&user.username) == connection {
        return Ok(());
    }
    Err(if token {
        error(
            StatusCode::FORBIDDEN,
            "You don't have permissions to read this resource",
            None,
        )
    } else {
        error(
            StatusCode::NOT_FOUND,
            "Connection not found",
            Some(&format!("this account has no connection `{connection}`")),
        )
    })
}

/// A session as the account's master role.
fn master_session(
    state: &AppState,
    user: &UserRecord,
    level: ApiKeyType,
) -> Result<SqlSession, Response> {
    let (role, password) = state
        .store
        .master_login(&user.username)
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "Invalid token", None))?;
    Ok(SqlSession {
        username: user.username.clone(),
        database: user.database.clone(),
        schema: user.schema.clone(),
        role,
        password,
        level,
        statement_timeout: Some(state.carto3.query_timeout),
    })
}

/// `q` and `queryParameters` of a query: the query string of a GET, the JSON body of a POST.
fn query_params(ctx: &Ctx, q_name: &str) -> Result<(String, Option<Value>), Response> {
    let bad = |m: &str| error(StatusCode::BAD_REQUEST, m, None);
    let (q, params) = if ctx.method == Method::GET {
        let get = |k: &str| {
            ctx.query
                .iter()
                .rev()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
        };
        let params = match get("queryParameters") {
            None => None,
            Some(text) if text.trim().is_empty() => None,
            Some(text) => Some(
                serde_json::from_str::<Value>(&text)
                    .map_err(|_| bad("queryParameters is not valid JSON"))?,
            ),
        };
        (get(q_name), params)
    } else {
        let body = ctx
            .body_params()
            .map_err(|_| bad("the body is not valid JSON"))?;
        let params = match body.get("queryParameters") {
            // A JSON text, as the GET form sends it, is read too.
            Some(Value::String(text)) => Some(
                serde_json::from_str::<Value>(text)
                    .map_err(|_| bad("queryParameters is not valid JSON"))?,
            ),
            other => other.cloned(),
        };
        (
            body.get(q_name).and_then(Value::as_str).map(str::to_owned),
            params,
        )
    };
    match q {
        Some(q) if !q.trim().is_empty() => Ok((q, params)),
        _ => Err(bad(&format!("Missing parameter: {q_name}"))),
    }
}

/// `GET|POST /v3/sql/{connection}/query`.
pub(super) async fn sql_query(
    State(state): State<Shared>,
    Path(connection): Path<String>,
    ctx: Ctx,
) -> Response {
    match run_query(&state, &connection, &ctx).await {
        Ok(r) | Err(r) => r,
    }
}

async fn run_query(state: &AppState, connection: &str, ctx: &Ctx) -> Result<Response, Response> {
    let (principal, user) = authenticate(state, ctx)?;
    if let Principal::Token(t) = &principal {
        check_use(t, ctx, "sql")?;
    }
    check_connection(&user, connection, matches!(principal, Principal::Token(_)))?;
    let (q, params) = query_params(ctx, "q")?;
    let bind = |text: &str| {
        sources::bind(text, params.as_ref()).map_err(|m| error(StatusCode::BAD_REQUEST, &m, None))
    };
    let (session, sql) = match &principal {
        Principal::Account(_) => (master_session(state, &user, ApiKeyType::Master)?, bind(&q)?),
        Principal::Token(t) => {
            let normalised = sources::normalise(&q);
            match t.queries.iter().find(|g| g.normalised == normalised) {
                // A granted query: its own text, run read-only as the account, guarded.
                Some(granted) => (
                    master_session(state, &user, ApiKeyType::Regular)?,
                    format!("SET TRANSACTION READ ONLY;\n{}", bind(&granted.text)?),
                ),
                None => (
                    SqlSession {
                        username: user.username.clone(),
                        database: user.database.clone(),
                        schema: user.schema.clone(),
                        role: t.role.clone(),
                        password: t.password.clone(),
                        level: ApiKeyType::Regular,
                        statement_timeout: Some(state.carto3.query_timeout),
                    },
                    bind(&q)?,
                ),
            }
        }
    };
    let answer = state
        .sql
        .handle_carto3(session, sql, state.carto3.row_cap)
        .await;
    Ok(v3_answer(state, answer, connection))
}

/// The SQL engine's answer in CARTO 3's terms: the document as it is, an error as
/// `{"error","description"?,"status"}` (a statement timeout as a 400 that says to use a job).
fn v3_answer(state: &AppState, answer: SqlAnswer, connection: &str) -> Response {
    let (status, mut headers, body) = answer.into_parts();
    headers.remove(header::CONTENT_DISPOSITION);
    if status.is_success() {
        let mut r = super::sql_api::answer_response(SqlAnswer::new(status, headers, body));
        r.headers_mut()
            .insert(header::VARY, HeaderValue::from_static("Authorization"));
        return r;
    }
    let doc: Value = match &body {
        AnswerBody::Whole(bytes) => serde_json::from_slice(bytes).unwrap_or(Value::Null),
        AnswerBody::Streamed(_) => Value::Null,
    };
    let message = doc["error"][0]
        .as_str()
        .or_else(|| doc["error"].as_str())
        .unwrap_or("The query failed")
        .to_owned();
    let description = doc["detail"].as_str().or_else(|| doc["hint"].as_str());
    if status == StatusCode::TOO_MANY_REQUESTS && message == crate::sql::error::TIMEOUT_MESSAGE {
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "Query timeout: a synchronous query may run {} seconds at most",
                state.carto3.query_timeout.as_secs_f64()
            ),
            Some(&format!(
                "run it as a job (POST /v3/sql/{connection}/job) that writes its result to a table"
            )),
        );
    }
    let mut r = error(status, &message, description);
    if let Some(v) = headers.get(header::RETRY_AFTER) {
        r.headers_mut().insert(header::RETRY_AFTER, v.clone());
    }
    r
}

/// A Batch job as a CARTO 3 job: `jobId`, `status`, `query`, dates, `error` when it failed.
fn job_json(doc: &Value, connection: &str) -> Value {
    let mut m = Map::new();
    m.insert("jobId".into(), doc["job_id"].clone());
    m.insert("status".into(), doc["status"].clone());
    m.insert("connectionName".into(), json!(connection));
    m.insert("query".into(), doc["query"].clone());
    m.insert("createdAt".into(), doc["created_at"].clone());
    m.insert("updatedAt".into(), doc["updated_at"].clone());
    if let Some(reason) = doc.get("failed_reason") {
        m.insert("error".into(), reason.clone());
    }
    Value::Object(m)
}

/// A Batch answer as a job (or a list of jobs) or a CARTO 3 error.
async fn job_answer(state: &AppState, answer: SqlAnswer, connection: &str) -> Response {
    let (status, headers, body) = answer.into_parts();
    let bytes = match body {
        AnswerBody::Whole(b) => b,
        AnswerBody::Streamed(_) => {
            return error(StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer", None);
        }
    };
    if !status.is_success() {
        return v3_answer(
            state,
            SqlAnswer::new(status, headers, AnswerBody::Whole(bytes)),
            connection,
        );
    }
    let doc: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let out = match &doc {
        Value::Array(jobs) => Value::Array(jobs.iter().map(|j| job_json(j, connection)).collect()),
        one => job_json(one, connection),
    };
    json_response(status, &out)
}

/// `POST /v3/sql/{connection}/job` (and the GET form with `query`): creates a job.
pub(super) async fn job_create(
    State(state): State<Shared>,
    Path(connection): Path<String>,
    ctx: Ctx,
) -> Response {
    let r = async {
        let user = account_only(&state, &ctx, "A job")?;
        check_connection(&user, &connection, false)?;
        let (query, params) = query_params(&ctx, "query")?;
        let query = sources::bind(&query, params.as_ref())
            .map_err(|m| error(StatusCode::BAD_REQUEST, &m, None))?;
        let session = master_session(&state, &user, ApiKeyType::Master)?;
        let mut body = Map::new();
        body.insert("query".into(), Value::String(query));
        let answer = state
            .sql
            .handle_job(session, &Method::POST, None, body)
            .await;
        Ok::<_, Response>(job_answer(&state, answer, &connection).await)
    };
    match r.await {
        Ok(r) | Err(r) => r,
    }
}

/// `GET|DELETE /v3/sql/{connection}/job/{id}`: reads or cancels a job.
pub(super) async fn job_one(
    State(state): State<Shared>,
    Path((connection, id)): Path<(String, String)>,
    ctx: Ctx,
) -> Response {
    let r = async {
        let user = account_only(&state, &ctx, "A job")?;
        check_connection(&user, &connection, false)?;
        let session = master_session(&state, &user, ApiKeyType::Master)?;
        let answer = state
            .sql
            .handle_job(session, &ctx.method, Some(&id), Map::new())
            .await;
        let (status, headers, body) = answer.into_parts();
        // The Batch API says 400 `Job with id ... not found`: CARTO 3 says 404.
        let status = if status == StatusCode::BAD_REQUEST {
            StatusCode::NOT_FOUND
        } else {
            status
        };
        Ok::<_, Response>(
            job_answer(&state, SqlAnswer::new(status, headers, body), &connection).await,
        )
    };
    match r.await {
        Ok(r) | Err(r) => r,
    }
}

/// `GET /v3/sql/jobs`: the account's jobs, newest first.
pub(super) async fn jobs_list(State(state): State<Shared>, ctx: Ctx) -> Response {
    let r = async {
        let user = account_only(&state, &ctx, "A job")?;
        let connection = state.carto3.account(&user).connection;
        let session = master_session(&state, &user, ApiKeyType::Master)?;
        let answer = state.sql.list_jobs(&session).await;
        Ok::<_, Response>(job_answer(&state, answer, &connection).await)
    };
    match r.await {
        Ok(r) | Err(r) => r,
    }
}

/// The JSON body of a Tokens API request, as an object.
fn json_body(ctx: &Ctx) -> Result<Map<String, Value>, Response> {
    match serde_json::from_slice::<Value>(&ctx.body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "Bad request",
            Some("the body must be a JSON object"),
        )),
    }
}

fn bad_request(description: impl std::fmt::Display) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "Bad request",
        Some(&description.to_string()),
    )
}

/// `grants` of a request body as `(connection, source)` pairs.
fn grant_pairs(v: &Value) -> Result<Vec<(String, String)>, Response> {
    let items = v
        .as_array()
        .ok_or_else(|| bad_request("grants must be an array"))?;
    items
        .iter()
        .map(
            |g| match (g["connection_name"].as_str(), g["source"].as_str()) {
                (Some(c), Some(s)) => Ok((c.to_owned(), s.to_owned())),
                _ => Err(bad_request(
                    "each grant needs a connection_name and a source (strings)",
                )),
            },
        )
        .collect()
}

fn string_list(v: &Value, what: &str) -> Result<Vec<String>, Response> {
    v.as_array()
        .and_then(|a| {
            a.iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .ok_or_else(|| bad_request(format!("{what} must be an array of strings")))
}

/// The error of a grant that cannot be made.
fn source_error(e: SourceError) -> Response {
    match e {
        SourceError::Connection(c) => error(
            StatusCode::NOT_FOUND,
            "Connection not found",
            Some(&format!("this account has no connection `{c}`")),
        ),
        SourceError::Invalid(m) => bad_request(m),
    }
}

fn key_error(e: KeyError) -> Response {
    match e {
        KeyError::Database(m) => bad_request(m),
        KeyError::Validation(v) => bad_request(v.join(", ")),
        other => {
            tracing::warn!(error = ?other, "API access token role");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal error",
                Some("the token's role could not be changed"),
            )
        }
    }
}

/// What `grants` name in `user`'s database (checked as the account's own role).
async fn resolve_grants(
    state: &AppState,
    user: &UserRecord,
    grants: &[Grant],
) -> Result<sources::Resolved, Response> {
    let pairs: Vec<(String, String)> = grants
        .iter()
        .map(|g| (g.connection_name.clone(), g.source.to_string()))
        .collect();
    let connection = state.carto3.account(user).connection;
    let db = state
        .store
        .client(&user.database)
        .await
        .map_err(|e| key_error(KeyError::Internal(e)))?;
    sources::resolve(&db, user, &connection, &pairs)
        .await
        .map_err(source_error)
}

/// `POST /v3/tokens`.
pub(super) async fn tokens_create(State(state): State<Shared>, ctx: Ctx) -> Response {
    let r = async {
        let user = account_only(&state, &ctx, "The Tokens API")?;
        let body = json_body(&ctx)?;
        let mut b = NewToken::builder();
        for (c, s) in grant_pairs(body.get("grants").unwrap_or(&Value::Null))? {
            b = b.grant(c, s);
        }
        if let Some(r) = body.get("referers").filter(|v| !v.is_null()) {
            for r in string_list(r, "referers")? {
                b = b.referer(r);
            }
        }
        let apis = match body.get("allowed_apis") {
            Some(v) => string_list(v, "allowed_apis")?,
            None => Vec::new(),
        };
        b = b.allowed_apis(apis.iter().map(|a| AllowedApi::parse(a)));
        let now = Utc::now();
        if let Some(v) = body.get("expiration_date").filter(|v| !v.is_null()) {
            let date = v
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .ok_or_else(|| {
                    bad_request("expiration_date must be an ISO 8601 date-time with a time zone")
                })?
                .with_timezone(&Utc);
            if date <= now {
                return Err(bad_request("expiration_date is in the past"));
            }
            b = b.expiration_date(date);
        }
        let new = b.build().map_err(bad_request)?;
        let account = state.carto3.account(&user);
        // One creation at a time per emulator: the count below cannot be overtaken.
        let _creating = state.carto3.creating.lock().await;
        if state.carto3.count_of(&user.username) >= state.carto3.max_tokens {
            return Err(error(
                StatusCode::FORBIDDEN,
                "Quota exceeded",
                Some(&format!(
                    "an account has at most {} API access tokens on this emulator: delete some first",
                    state.carto3.max_tokens
                )),
            ));
        }
        let resolved = resolve_grants(&state, &user, new.grants()).await?;
        let (role, password) = state
            .store
            .create_token_role(&user, &resolved)
            .await
            .map_err(key_error)?;
        let (token, jti) = state.carto3.new_api_token(&account);
        let t = ApiToken {
            jti,
            username: user.username.clone(),
            token,
            grants: new.grants().to_vec(),
            referers: new.referers().to_vec(),
            allowed_apis: new.allowed_apis().to_vec(),
            expiration: new.expiration_date(),
            role,
            password,
            queries: resolved.queries,
            created_at: now,
            updated_at: now,
        };
        let doc = t.to_json();
        state.carto3.put(t);
        Ok::<_, Response>(json_response(StatusCode::CREATED, &doc))
    };
    match r.await {
        Ok(r) | Err(r) => no_store(r),
    }
}

/// `GET /v3/tokens`.
pub(super) async fn tokens_list(State(state): State<Shared>, ctx: Ctx) -> Response {
    let r = (|| {
        let user = account_only(&state, &ctx, "The Tokens API")?;
        let list: Vec<Value> = state
            .carto3
            .tokens_of(&user.username)
            .iter()
            .map(ApiToken::to_json)
            .collect();
        Ok::<_, Response>(json_response(StatusCode::OK, &Value::Array(list)))
    })();
    match r {
        Ok(r) | Err(r) => no_store(r),
    }
}

/// The account's token named in the path, or 404.
fn named(
    state: &AppState,
    ctx: &Ctx,
    token: &str,
) -> Result<(Arc<UserRecord>, ApiToken), Response> {
    let user = account_only(state, ctx, "The Tokens API")?;
    let t = state
        .carto3
        .token_named(&user.username, token)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "Token not found", None))?;
    Ok((user, t))
}

/// `GET /v3/tokens/{token}`.
pub(super) async fn tokens_get(
    State(state): State<Shared>,
    Path(token): Path<String>,
    ctx: Ctx,
) -> Response {
    match named(&state, &ctx, &token) {
        Ok((_, t)) => no_store(json_response(StatusCode::OK, &t.to_json())),
        Err(r) => r,
    }
}

/// `PATCH /v3/tokens/{token}`: replaces the members given (`grants`, `referers`,
/// `allowed_apis`; the expiration date is set at creation only).
pub(super) async fn tokens_update(
    State(state): State<Shared>,
    Path(token): Path<String>,
    ctx: Ctx,
) -> Response {
    let r = async {
        let (user, mut t) = named(&state, &ctx, &token)?;
        let body = json_body(&ctx)?;
        if body.contains_key("expiration_date") {
            return Err(bad_request("expiration_date is set at creation only"));
        }
        let mut update = TokenUpdate::new();
        if let Some(g) = body.get("grants") {
            update = update.grants(grant_pairs(g)?).map_err(bad_request)?;
        }
        if let Some(r) = body.get("referers") {
            update = update
                .referers(string_list(r, "referers")?)
                .map_err(bad_request)?;
        }
        if let Some(a) = body.get("allowed_apis") {
            let apis = string_list(a, "allowed_apis")?;
            update = update
                .allowed_apis(apis.iter().map(|a| AllowedApi::parse(a)))
                .map_err(bad_request)?;
        }
        if update.is_empty() {
            return Err(bad_request(
                "nothing to update: give grants, referers or allowed_apis",
            ));
        }
        // The update as checked and normalised by carto-tokens.
        let checked = serde_json::to_value(&update).unwrap_or(Value::Null);
        if let Some(g) = checked.get("grants") {
            let grants: Vec<Grant> = serde_json::from_value(g.clone()).unwrap_or_default();
            let resolved = resolve_grants(&state, &user, &grants).await?;
            state
                .store
                .regrant_token_role(&user, &t.role, &resolved)
                .await
                .map_err(key_error)?;
            t.grants = grants;
            t.queries = resolved.queries;
        }
        if let Some(r) = checked.get("referers") {
            t.referers = serde_json::from_value(r.clone()).unwrap_or_default();
        }
        if let Some(a) = checked.get("allowed_apis") {
            t.allowed_apis = serde_json::from_value(a.clone()).unwrap_or_default();
        }
        t.updated_at = Utc::now();
        let doc = t.to_json();
        // Still there (not deleted meanwhile): replaced.
        if state.carto3.token_named(&user.username, &token).is_some() {
            state.carto3.put(t);
        }
        Ok::<_, Response>(json_response(StatusCode::OK, &doc))
    };
    match r.await {
        Ok(r) | Err(r) => no_store(r),
    }
}

/// `DELETE /v3/tokens/{token}`: refused at once, then its role dropped.
pub(super) async fn tokens_delete(
    State(state): State<Shared>,
    Path(token): Path<String>,
    ctx: Ctx,
) -> Response {
    let r = async {
        let (user, t) = named(&state, &ctx, &token)?;
        let t = state
            .carto3
            .remove(&t.jti)
            .ok_or_else(|| error(StatusCode::NOT_FOUND, "Token not found", None))?;
        state.sql.forget_role(&t.role);
        if let Err(e) = state.store.drop_token_role(&user, &t.role).await {
            // The token stays (its role still exists).
            state.carto3.put(t);
            return Err(key_error(e));
        }
        Ok::<_, Response>(super::empty_response(StatusCode::NO_CONTENT))
    };
    match r.await {
        Ok(r) | Err(r) => r,
    }
}
