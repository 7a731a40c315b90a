//! The SQL API v2 data plane (`/api/v2/sql`): runs a request's SQL in a PostgreSQL session
//! logged in as the API key's own role and streams the answer in CARTO's formats.
//!
//! The router resolves the user and the key and builds a [`SqlSession`]; [`SqlEngine::handle`]
//! does everything from the request parameters on: validation (§4.1), the system-table guard
//! for non-master keys (§8), the query, the JSON / GeoJSON / CSV document (§4.3, §12), and the
//! status mapping of errors (§4.4).
//!
//! How a request runs:
//! - the whole `q` goes to PostgreSQL as one simple-protocol `Query` (module `wire`), exactly as
//!   the SQL API sends it: several `;`-separated statements run in order, in PostgreSQL's
//!   implicit transaction, and values arrive as text with each column's type OID and typmod;
//! - the statements are counted with a small lexer (quotes, dollar quotes, comments,
//!   parentheses) so that only the rows of the **last** statement are written; the result of
//!   earlier statements (`SET ...`) is read and dropped; `page`/`rows_per_page` and the GeoJSON
//!   wrapper apply to the last statement;
//! - rows are converted and written as they arrive and sent through a bounded channel to the
//!   response body, so memory stays flat whatever the result size; the status is decided at
//!   the first row: an error before it gives CARTO's error status and body, an error after it
//!   gives 200 with an `error` key at the end of the document;
//! - the session is reset before going back to the pool: `DISCARD ALL` (and the look for
//!   role-level settings when due), sent behind the SQL in the same write, or after a
//!   `ROLLBACK` when the SQL left a transaction open (`SqlEngine::give_back`); the session
//!   settings are startup parameters, so `DISCARD ALL` brings them back.
//!
//! The same engine serves the COPY API ([`SqlEngine::handle_copy_from`],
//! [`SqlEngine::handle_copy_to`], §6) and, once [`SqlEngine::enable_batch`] gave it a registry
//! database, the Batch API ([`SqlEngine::handle_job`], §5).

mod batch;
mod copy;
pub(crate) mod error;
mod fields;
mod format;
pub(crate) mod guard;
mod lexer;
mod limits;
mod params;
mod pool;
mod value;
mod wire;

use std::fmt;
use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::Bytes;
use carto_core::models::ApiKeyType;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use self::error::ApiError;
use self::fields::SPATIAL_TYPES;
use self::format::{Notices, Plan, Summary, Writer};
use self::params::{Format, QueryParams};
use self::pool::{Pool, Ticket};
use self::wire::{ConnParams, DbError, Event, PgConn, Setup, WireError, tag_rows};
use crate::ident::quote_ident;

pub use self::limits::SessionLimits;

/// Who runs a request's SQL and where: the database login of the API key's role.
#[derive(Clone)]
pub struct SqlSession {
    /// The CARTO user of the request URL.
    pub username: String,
    /// The user's database.
    pub database: String,
    /// The user's schema (`public` for individual users, the username in organizations);
    /// first in the session's `search_path`, before `public`.
    pub schema: String,
    /// The PostgreSQL role the session logs in as.
    pub role: String,
    /// The role's password (never printed).
    pub password: String,
    /// The type of the key behind the request: its authorization level (§8).
    /// [`ApiKeyType::Master`] has full access, system tables included; any other type
    /// (the Default public key, also used when a request carries no key, and regular
    /// keys) runs behind the system-table guard.
    pub level: ApiKeyType,
    /// `statement_timeout` for the request's SQL; `None` keeps the role's own setting.
    pub statement_timeout: Option<Duration>,
}

impl fmt::Debug for SqlSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlSession")
            .field("username", &self.username)
            .field("database", &self.database)
            .field("schema", &self.schema)
            .field("role", &self.role)
            .field("password", &"<redacted>")
            .field("level", &self.level)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// Runs SQL API requests against the PostgreSQL server at `host:port`, with per-role pools of
/// logged-in sessions. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqlEngine {
    host: String,
    port: u16,
    socket_dir: Option<std::path::PathBuf>,
    pool: Arc<Pool>,
    copy_from_limit: u64,
    batch: Arc<std::sync::OnceLock<Arc<batch::Batch>>>,
    checks: Arc<TamperChecks>,
    /// The server's superuser, to clean a role whose logins fail (role-level settings).
    superuser: Option<Arc<crate::pg::PgServer>>,
}

/// The marker row of the setup query when the session's role has role-level settings.
const TAMPERED: &str = "carto-emulator: role settings";

/// Size of the chunks sent to the response body.
const CHUNK: usize = 64 * 1024;
/// The first capacity of the output buffer: small answers are written without regrowth.
const FIRST_BUF: usize = 1024;
/// Chunks in flight between the query task and the response body.
const CHANNEL_CHUNKS: usize = 4;

/// What the query task tells the handler before any body byte.
enum Head {
    Error(ApiError),
    Stream,
}

/// A session taken from the pool, ready for the request's SQL.
struct Lease {
    conn: PgConn,
    ticket: Ticket,
    spatial: Vec<(u32, &'static str)>,
}

impl SqlEngine {
    /// An engine for the PostgreSQL server listening on `host:port` (TCP).
    pub fn new(host: String, port: u16) -> Self {
        SqlEngine {
            host,
            port,
            socket_dir: None,
            pool: Arc::new(Pool::default()),
            copy_from_limit: copy::DEFAULT_COPY_FROM_LIMIT,
            batch: Arc::default(),
            checks: Arc::default(),
            superuser: None,
        }
    }

    /// Lets the engine act as `server`'s superuser when a role's logins fail: it then removes
    /// the role's role-level settings (which a key may have given it, e.g. a setting that
    /// makes every login fail) and logs in again. Without it such a role stays locked out
    /// until its settings are removed by hand.
    pub fn with_superuser(mut self, server: Arc<crate::pg::PgServer>) -> Self {
        self.superuser = Some(server);
        self
    }

    /// Logs sessions in through the server's Unix socket in `dir` (the private cluster's
    /// [`PgCluster::socket_dir`](crate::pg::PgCluster::socket_dir)) instead of TCP; `None`
    /// keeps TCP.
    pub fn with_socket_dir(mut self, dir: Option<std::path::PathBuf>) -> Self {
        self.socket_dir = dir;
        self
    }

    /// Closes the idle sessions of `role` (call it before dropping or changing the role); its
    /// sessions in use are closed instead of going back to the pool.
    pub fn forget_role(&self, role: &str) {
        self.pool.forget(role);
    }

    /// Number of idle pooled sessions of `role`.
    pub fn idle_sessions(&self, role: &str) -> usize {
        self.pool.idle_count(role)
    }

    /// Answers one SQL API request. `params` is the query string merged with the body
    /// parameters (body wins), already parsed by the router.
    pub async fn handle(&self, session: SqlSession, params: Map<String, Value>) -> Response {
        let callback = params
            .get("callback")
            .and_then(Value::as_str)
            .map(str::to_string);
        let p = match params::parse(&params) {
            Ok(p) => p,
            Err(e) => return e.into_response(callback.as_deref()),
        };
        // Split once: the role check, the splitter's trust check and the SQL built share it.
        let ranges = lexer::split_statements(&p.q);
        if ranges
            .iter()
            .any(|r| guard::statement_alters_a_role(&p.q[r.clone()]))
        {
            return ApiError::new(StatusCode::FORBIDDEN, "permission denied to alter role")
                .into_response(p.callback.as_deref());
        }
        let guarded = session.level != ApiKeyType::Master;
        if guarded
            && !ranges
                .iter()
                .all(|r| guard::split_is_trusted(&p.q[r.clone()]))
        {
            return ApiError::new(StatusCode::FORBIDDEN, "system tables are forbidden")
                .into_response(p.callback.as_deref());
        }
        let (sql, statements) = build_sql(&p, ranges, guarded);
        let lease = match self.checkout(&session).await {
            Ok(lease) => lease,
            Err(e) => return e.into_response(p.callback.as_deref()),
        };
        let (head_tx, head_rx) = oneshot::channel();
        let (body_tx, body_rx) = mpsc::channel::<Result<Bytes, io::Error>>(CHANNEL_CHUNKS);
        let engine = self.clone();
        // The reset goes behind the SQL in the same write (no round trip of its own), unless
        // the SQL may be a `COPY ... FROM STDIN`: PostgreSQL would read the queued query as
        // part of the copy.
        let look = self.checks.claim(lease.ticket.key(), Instant::now());
        let then = if may_copy(&p.q) {
            Vec::new()
        } else if look {
            vec!["DISCARD ALL", TAMPER_CHECK]
        } else {
            vec!["DISCARD ALL"]
        };
        let job = QueryJob {
            sql,
            then,
            statements,
            format: p.format,
            skipfields: p.skipfields.clone(),
            callback: p.callback.clone(),
        };
        tokio::spawn(async move {
            let Lease {
                conn,
                ticket,
                spatial,
            } = lease;
            let status = job.run(conn, &spatial, head_tx, body_tx).await;
            engine.give_back(&session, ticket, status, Some(look)).await;
        });
        match head_rx.await {
            Ok(Head::Error(e)) => e.into_response(p.callback.as_deref()),
            Ok(Head::Stream) => stream_response(&p, body_rx),
            Err(_) => ApiError::cannot_connect().into_response(p.callback.as_deref()),
        }
    }

    /// A session for `session.role`, set up for the request (search path, timeout), with the
    /// OIDs of the spatial types of its database.
    ///
    /// The session settings travel in the startup message ([`session_options`]), so they are
    /// the session's defaults, which every `DISCARD ALL` brings back: a pooled session (reset
    /// after its last request by [`SqlEngine::give_back`]) is used as it is, with no round
    /// trip; a fresh session reads the type OIDs and looks for role-level settings before the
    /// request. A pooled session logged in with other settings (another statement timeout),
    /// or that looks dead, is closed and replaced by a fresh one.
    async fn checkout(&self, session: &SqlSession) -> Result<Lease, ApiError> {
        let options = session_options(session);
        let settings = settings_key(&options);
        let (idle, mut ticket) = self
            .pool
            .take_or_wait(&session.database, &session.role, REUSE_WAIT)
            .await;
        if let Some(mut conn) = idle {
            let ready = conn
                .setup
                .as_ref()
                .is_some_and(|s| s.ready && s.settings == settings);
            if ready && conn.looks_alive() {
                if let Some(s) = conn.setup.as_mut() {
                    // In use from now on: the request may change anything.
                    s.ready = false;
                    let spatial = s.spatial.clone();
                    return Ok(Lease {
                        conn,
                        ticket,
                        spatial,
                    });
                }
            }
            // Dropped: its permits stay on the ticket for the fresh session.
        }
        let names = SPATIAL_TYPES.map(|t| format!("'{t}'")).join(",");
        let setup = format!(
            "SELECT oid::int8, typname FROM pg_catalog.pg_type WHERE typname OPERATOR(pg_catalog.=) ANY (ARRAY[{names}]::pg_catalog.name[]) AND typtype OPERATOR(pg_catalog.=) 'b';{TAMPER_CHECK}"
        );
        // A session that finds role-level settings removes them and makes way for a clean one;
        // bounded, in case they cannot be removed.
        let mut cleaned = false;
        for _ in 0..3 {
            // Within the session bounds (the permits of a dropped pooled session are reused),
            // else CARTO's 429.
            if self
                .pool
                .reserve(&mut ticket, &session.username)
                .await
                .is_err()
            {
                tracing::warn!(role = %session.role, database = %session.database, "no database session within the queue timeout");
                return Err(ApiError::rate_limited());
            }
            let params = ConnParams {
                host: self.host.clone(),
                port: self.port,
                socket_dir: self.socket_dir.clone(),
                database: session.database.clone(),
                user: session.role.clone(),
                password: session.password.clone(),
                options: options.clone(),
            };
            let mut conn = match PgConn::connect(&params).await {
                Ok(c) => c,
                Err(WireError::Db(e)) if !cleaned => {
                    // The server refused the login: role-level settings can do that (a key
                    // gave the role one that fails every login). Off the hot path: only a
                    // failed login pays for the superuser's look.
                    tracing::warn!(role = %session.role, error = %e.message, "login refused; removing the role's role-level settings");
                    cleaned = true;
                    if self.clean_role_as_superuser(session).await {
                        continue;
                    }
                    return Err(ApiError::cannot_connect());
                }
                Err(e) => {
                    tracing::warn!(role = %session.role, error = %e, "cannot connect to the database");
                    return Err(ApiError::cannot_connect());
                }
            };
            let looked = Instant::now();
            match conn.simple(&setup).await {
                Ok(rows) if tampered(&rows) => {
                    tracing::warn!(role = %session.role, "removing role-level settings a key gave its role");
                    if let Err(e) = conn.simple(&role_settings_reset(&session.database)).await {
                        // Another session may be removing them at the same time.
                        tracing::warn!(role = %session.role, error = %e, "cannot remove role-level settings");
                    }
                    // This session started with the settings: open a clean one.
                }
                Ok(rows) => {
                    self.checks.checked(ticket.key(), looked);
                    let spatial: Vec<(u32, &'static str)> = rows
                        .iter()
                        .filter_map(|r| {
                            let oid = r.first()?.as_deref()?.parse::<u32>().ok()?;
                            let name = r.get(1)?.as_deref()?;
                            let name = SPATIAL_TYPES.iter().find(|t| **t == name)?;
                            Some((oid, *name))
                        })
                        .collect();
                    conn.setup = Some(Setup {
                        settings,
                        spatial: spatial.clone(),
                        ready: false,
                        cleanup: role_settings_reset(&session.database),
                    });
                    return Ok(Lease {
                        conn,
                        ticket,
                        spatial,
                    });
                }
                Err(WireError::Db(e)) => return Err(ApiError::from_db(&e)),
                Err(e) => {
                    tracing::warn!(role = %session.role, error = %e, "database session setup failed");
                    return Err(ApiError::cannot_connect());
                }
            }
        }
        tracing::warn!(role = %session.role, "role-level settings keep coming back");
        Err(ApiError::cannot_connect())
    }
}

impl SqlEngine {
    /// Removes `session.role`'s role-level settings (for all databases and for the session's
    /// own) as the superuser; `false` when the engine has no superuser or it failed.
    async fn clean_role_as_superuser(&self, session: &SqlSession) -> bool {
        let Some(server) = &self.superuser else {
            return false;
        };
        let client = match server.connect_superuser(&session.database).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot connect as the superuser");
                return false;
            }
        };
        let role = quote_ident(&session.role);
        let sql = format!(
            "SET lock_timeout = '{SUPERUSER_LOCK_TIMEOUT_MS}ms'; ALTER ROLE {role} RESET ALL; ALTER ROLE {role} IN DATABASE {} RESET ALL",
            quote_ident(&session.database)
        );
        match client.batch_execute(&sql).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(role = %session.role, error = %e, "cannot remove role-level settings");
                false
            }
        }
    }
}

/// How long the superuser's statements wait for a lock a key's session may hold.
pub(crate) const SUPERUSER_LOCK_TIMEOUT_MS: u64 = 5000;

/// How long a request waits for a session of its role being given back (reset after its
/// previous request) before it logs in a new one, while the role is below its session bound
/// (at the bound it waits for one given back, [`Pool::take_or_wait`]).
const REUSE_WAIT: Duration = Duration::from_millis(5);

/// The session settings of `session`'s requests, as startup parameters: `search_path` (the
/// user's schema, then `public`), `standard_conforming_strings` (the statement splitter, and so
/// the system-table guard, reads strings as PostgreSQL does with it on) and the key type's
/// `statement_timeout` (none: the role's own).
fn session_options(session: &SqlSession) -> Vec<(String, String)> {
    let mut path = vec![path_element(&session.schema)];
    if session.schema != "public" {
        path.push("public".to_string());
    }
    let mut options = vec![
        ("search_path".to_string(), path.join(", ")),
        ("standard_conforming_strings".to_string(), "on".to_string()),
    ];
    if let Some(t) = session.statement_timeout {
        options.push(("statement_timeout".to_string(), t.as_millis().to_string()));
    }
    options
}

/// A schema name as an element of a `search_path` value: as it is when PostgreSQL would show
/// it so (lower-case letters, digits and `_`, not starting with a digit), else quoted. The
/// value is read as a list of identifiers either way; this keeps `current_setting` as a
/// `SET search_path TO ...` would show it.
fn path_element(schema: &str) -> String {
    let plain = schema
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        schema.to_string()
    } else {
        quote_ident(schema)
    }
}

/// The settings a session logged in with, as one comparable text.
fn settings_key(options: &[(String, String)]) -> String {
    let mut key = String::with_capacity(options.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (k, v) in options {
        key.push_str(k);
        key.push('=');
        key.push_str(v);
        key.push(';');
    }
    key
}

/// Role-level settings (`ALTER ROLE CURRENT_USER SET ...`, perhaps from procedural code) would
/// apply to every later session of the role: the emulator sets none, so any found is a key's
/// tampering and is removed. This query answers a [`TAMPERED`] row when the session's role has
/// settings for every database or for the session's own (the only ones its logins would take,
/// and those [`role_settings_reset`] removes; settings for another database apply to no session
/// of the emulator), or when the session itself runs with a value that came from such settings
/// (`pg_settings.source` `user`, `database` or `database user`: it logged in while they were
/// there, and `DISCARD ALL` brings those values back), even if they are gone from the catalog
/// since. It runs in the setup of every new session (before its first request) and in the
/// resets of used ones (after `DISCARD ALL`), at most every [`TAMPER_CHECK_EVERY`] per role,
/// with a deferred run for the resets that skip it.
const TAMPER_CHECK: &str = "SELECT 'carto-emulator: role settings', NULL WHERE EXISTS (SELECT FROM pg_catalog.pg_db_role_setting s \
     WHERE s.setrole OPERATOR(pg_catalog.=) SESSION_USER::pg_catalog.regrole::pg_catalog.oid \
     AND s.setdatabase OPERATOR(pg_catalog.=) ANY (ARRAY[0, (SELECT d.oid FROM pg_catalog.pg_database d \
     WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())]::pg_catalog.oid[])) \
     OR EXISTS (SELECT FROM pg_catalog.pg_settings g WHERE g.source OPERATOR(pg_catalog.=) \
     ANY (ARRAY['user', 'database', 'database user']::pg_catalog.text[]))";

/// Whether the rows of a setup hold the [`TAMPER_CHECK`] marker.
fn tampered(rows: &[Vec<Option<String>>]) -> bool {
    rows.iter()
        .any(|r| r.first().and_then(Option::as_deref) == Some(TAMPERED))
}

/// The statements that remove the session role's role-level settings in `database`.
fn role_settings_reset(database: &str) -> String {
    format!(
        "ALTER ROLE SESSION_USER RESET ALL; ALTER ROLE SESSION_USER IN DATABASE {} RESET ALL",
        quote_ident(database)
    )
}

/// Installs the system-table guard used for non-master keys ([`ApiKeyType::Default`],
/// [`ApiKeyType::Regular`]) in the database `client` is connected to, as a superuser. The
/// emulator does it for every user database; a bare [`SqlEngine`] needs it in each database it
/// serves (without it, non-master requests fail).
pub async fn install_guard(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    guard::install(client).await
}

/// Whether `q` may hold a `COPY` (the word, in any case, anywhere): then nothing is queued
/// behind it, since PostgreSQL would read a queued query as copy data of a `COPY ... FROM
/// STDIN`.
fn may_copy(q: &str) -> bool {
    q.as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"copy"))
}

/// The SQL actually sent and the number of statements it holds. With `guarded` (non-master
/// keys) every statement that may read a relation is preceded by its plan check
/// ([`guard`]).
fn build_sql(p: &QueryParams, statements: Vec<Range<usize>>, guarded: bool) -> (String, usize) {
    let Some(last) = statements.last().cloned() else {
        return (p.q.clone(), 1);
    };
    let stmt = last_statement(p, &p.q[last.clone()]);
    if guarded {
        let tag = guard::dollar_tag(&p.q);
        let mut sql = String::with_capacity(p.q.len() * 2 + 64);
        let mut count = 0;
        let n = statements.len();
        for (i, range) in statements.into_iter().enumerate() {
            let text = if i + 1 == n {
                stmt.as_deref().unwrap_or(&p.q[range])
            } else {
                &p.q[range]
            };
            if let Some(check) = guard::check_sql(&guard::check_for(text), &tag) {
                sql.push_str(&check);
                sql.push_str(";\n");
                count += 1;
            }
            sql.push_str(text);
            sql.push_str(";\n");
            count += 1;
        }
        return (sql, count);
    }
    let sql = match stmt {
        Some(stmt) => format!("{}{stmt}", &p.q[..last.start]),
        None => p.q.clone(),
    };
    (sql, statements.len())
}

/// The last statement wrapped for `page`/`rows_per_page` and GeoJSON, or `None` when it is sent
/// as written.
fn last_statement(p: &QueryParams, last: &str) -> Option<String> {
    let mut stmt = last.to_string();
    let mut wrapped = false;
    if (p.page.is_some() || p.order_by.is_some()) && lexer::is_pageable_select(&stmt) {
        let mut clauses = String::new();
        if let Some((column, desc)) = &p.order_by {
            clauses.push_str(&format!(
                " ORDER BY {} {}",
                quote_ident(column),
                if *desc { "DESC" } else { "ASC" }
            ));
        }
        if let Some((rows, page)) = p.page {
            clauses.push_str(&format!(
                " LIMIT {rows} OFFSET {}",
                rows.saturating_mul(page)
            ));
        }
        stmt = format!("SELECT * FROM (\n{stmt}\n) AS cdbq_1{clauses}");
        wrapped = true;
    }
    if p.format == Format::GeoJson {
        stmt = format!(
            "SELECT *, ST_AsGeoJSON(the_geom, {}) as the_geom FROM (\n{stmt}\n) as foo",
            p.dp
        );
        wrapped = true;
    }
    wrapped.then_some(stmt)
}

/// A response body made of what arrives on `rx`, until its sender is dropped.
fn channel_body(rx: mpsc::Receiver<Result<Bytes, io::Error>>) -> Body {
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}

fn stream_response(p: &QueryParams, body_rx: mpsc::Receiver<Result<Bytes, io::Error>>) -> Response {
    let mut response = Response::new(channel_body(body_rx));
    let headers = response.headers_mut();
    // Room for the SQL API's headers (these two, Vary, the user's and CORS): no regrowth.
    headers.reserve(12);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(p.format.content_type()),
    );
    if let Some(v) = content_disposition(p) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    response
}

/// The Content-Disposition of an answer: `inline` or `attachment`, the file name and the
/// current second as modification date. The last one made is kept per thread and reused
/// while the second and the name are the same (every `SELECT` of a busy client).
fn content_disposition(p: &QueryParams) -> Option<HeaderValue> {
    struct Last {
        second: i64,
        attachment: bool,
        filename: String,
        extension: &'static str,
        value: HeaderValue,
    }
    thread_local! {
        static LAST: std::cell::RefCell<Option<Last>> = const { std::cell::RefCell::new(None) };
    }
    let second = chrono::Utc::now().timestamp();
    let extension = p.format.extension();
    LAST.with(|cell| {
        let mut last = cell.borrow_mut();
        if let Some(l) = last.as_ref() {
            if l.second == second
                && l.attachment == p.attachment
                && l.extension == extension
                && l.filename == p.filename
            {
                return Some(l.value.clone());
            }
        }
        let value = with_http_date(|date| {
            HeaderValue::from_str(&format!(
                "{}; filename={}.{}; modification-date=\"{date}\";",
                if p.attachment { "attachment" } else { "inline" },
                p.filename,
                extension,
            ))
        })
        .ok()?;
        *last = Some(Last {
            second,
            attachment: p.attachment,
            filename: p.filename.clone(),
            extension,
            value: value.clone(),
        });
        Some(value)
    })
}

/// Calls `f` with the current time as an HTTP date (`Tue, 01 Dec 2026 10:00:00 GMT`),
/// formatted at most once a second per thread.
fn with_http_date<T>(f: impl FnOnce(&str) -> T) -> T {
    thread_local! {
        static DATE: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    DATE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != now.timestamp() {
            *cached = (
                now.timestamp(),
                now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            );
        }
        f(&cached.1)
    })
}

/// How often, at most, the resets of one role's sessions look for role-level settings
/// ([`TAMPER_CHECK`]); a reset that comes sooner after the last check leaves it to a check
/// scheduled that long after it ([`SqlEngine::deferred_check`]).
const TAMPER_CHECK_EVERY: Duration = Duration::from_millis(100);

/// The last look for role-level settings of each (database, role), so that the resets of a
/// busy role run it at most every [`TAMPER_CHECK_EVERY`] and every reset is still followed by
/// a look that starts after it.
#[derive(Debug, Default)]
struct TamperChecks(std::sync::Mutex<std::collections::HashMap<(String, String), Checked>>);

#[derive(Debug, Clone, Copy)]
struct Checked {
    /// When the last look started.
    at: Instant,
    /// A deferred look is scheduled or running.
    deferred: bool,
    /// A reset skipped its look while the deferred one was scheduled or running.
    skipped: bool,
}

impl TamperChecks {
    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<(String, String), Checked>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the reset after a request of `key` starting at `now` looks for role-level
    /// settings (its look then counts as started); one that does not calls
    /// [`skipped`](Self::skipped) once the request's SQL is over.
    fn claim(&self, key: (&str, &str), now: Instant) -> bool {
        let mut map = self.lock();
        let key = (key.0.to_string(), key.1.to_string());
        match map.get_mut(&key) {
            Some(c) if now.saturating_duration_since(c.at) < TAMPER_CHECK_EVERY => false,
            Some(c) => {
                c.at = now;
                true
            }
            None => {
                map.insert(
                    key,
                    Checked {
                        at: now,
                        deferred: false,
                        skipped: false,
                    },
                );
                true
            }
        }
    }

    /// A request of `key` is over and its reset did not look: the instant to schedule a
    /// deferred look at, or `None` when one is scheduled or running (it runs again if it
    /// started before this call).
    fn skipped(&self, key: (&str, &str)) -> Option<Instant> {
        let mut map = self.lock();
        let key = (key.0.to_string(), key.1.to_string());
        let now = Instant::now();
        let c = map.entry(key).or_insert(Checked {
            at: now,
            deferred: false,
            skipped: false,
        });
        if c.deferred {
            c.skipped = true;
            return None;
        }
        c.deferred = true;
        Some((c.at + TAMPER_CHECK_EVERY).max(now))
    }

    /// Records a look for `key` started at `at` (a login's setup, or a reset).
    fn checked(&self, key: (&str, &str), at: Instant) {
        let mut map = self.lock();
        let key = (key.0.to_string(), key.1.to_string());
        let c = map.entry(key).or_insert(Checked {
            at,
            deferred: false,
            skipped: false,
        });
        c.at = c.at.max(at);
    }

    /// Forgets the looks of `key`: the next reset of its sessions looks.
    fn forget(&self, key: &(String, String)) {
        self.lock().remove(key);
    }

    /// The deferred look of `key` starts: from now on a skipped reset makes it run again.
    fn deferred_starts(&self, key: &(String, String)) {
        if let Some(c) = self.lock().get_mut(key) {
            c.skipped = false;
        }
    }

    /// The deferred look of `key` ended (`looked` when it ran, started at `started`). `true`
    /// when it must run again: a reset skipped its own look meanwhile, or this one could not
    /// run.
    fn deferred_ends(&self, key: &(String, String), looked: bool, started: Instant) -> bool {
        let mut map = self.lock();
        let Some(c) = map.get_mut(key) else {
            return false;
        };
        if looked {
            c.at = c.at.max(started);
        }
        let again = c.skipped || !looked;
        c.deferred = again;
        again
    }
}

/// How a reset ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reset {
    /// Clean, ready for the next request.
    Clean,
    /// The look found role-level settings.
    Tampered,
    /// A statement failed or the session was lost.
    Failed,
}

impl SqlEngine {
    /// Brings a used session back to a clean state and pools it; closes it when it cannot be
    /// reused (or when the role was given role-level settings meanwhile: they are removed).
    /// `used` is the session and the transaction status of the request's last `ReadyForQuery`
    /// (`I` when idle), `None` when the session was lost; `look` whether the reset looks for
    /// role-level settings, when the request claimed it before it ran
    /// ([`TamperChecks::claim`]; `None`: decided here).
    ///
    /// The reset is `DISCARD ALL` (settings back to the session's startup ones, role,
    /// temporary tables, prepared statements, cursors, advisory locks, `LISTEN`) and, at most
    /// every [`TAMPER_CHECK_EVERY`] per role, the look for role-level settings. The SQL API sends
    /// them behind the request's SQL ([`PgConn::send_query_then`]); when they failed there (a
    /// transaction left open: `DISCARD ALL` cannot run in one) or were not sent, they run here,
    /// after a `ROLLBACK` when needed. A reset that does not look is followed by a deferred
    /// look ([`SqlEngine::deferred_check`]).
    async fn give_back(
        &self,
        session: &SqlSession,
        ticket: Ticket,
        used: Option<(PgConn, u8)>,
        look: Option<bool>,
    ) {
        let key = (ticket.key().0.to_string(), ticket.key().1.to_string());
        let mut looked = false;
        if let Some((mut conn, status)) = used {
            let (outcome, did_look) = self.reset(&key, &mut conn, status, look).await;
            looked = did_look;
            match outcome {
                Reset::Clean => {
                    if let Some(setup) = conn.setup.as_mut() {
                        setup.ready = true;
                    }
                    self.pool.put(ticket, conn);
                }
                Reset::Tampered => {
                    let setup = conn.setup.take();
                    remove_role_settings(&mut conn, setup.as_ref()).await;
                }
                Reset::Failed => {}
            }
        }
        if !looked {
            if let Some(at) = self.checks.skipped((&key.0, &key.1)) {
                let engine = self.clone();
                let session = session.clone();
                tokio::spawn(async move {
                    engine.deferred_check(session, key, at).await;
                });
            }
        }
    }

    /// Resets `conn` (see [`give_back`](Self::give_back)); also says whether it looked for
    /// role-level settings.
    async fn reset(
        &self,
        key: &(String, String),
        conn: &mut PgConn,
        status: u8,
        look: Option<bool>,
    ) -> (Reset, bool) {
        let mut rollback = status != b'I';
        if conn.queued() > 0 {
            let Ok(results) = conn.read_queued().await else {
                return (Reset::Failed, false);
            };
            if results.iter().all(Result::is_ok) {
                // `DISCARD ALL`, then the look when it was queued too.
                let looked = results.len() > 1;
                return (reset_outcome(looked, &results), looked);
            }
            // The SQL left a transaction open (or failed in one): roll it back first.
            rollback = true;
        }
        let look = look.unwrap_or_else(|| self.checks.claim((&key.0, &key.1), Instant::now()));
        let mut sqls = Vec::with_capacity(3);
        // `DISCARD ALL` must run outside a transaction, in a `Query` of its own.
        if rollback {
            sqls.push("ROLLBACK");
        }
        sqls.push("DISCARD ALL");
        if look {
            sqls.push(TAMPER_CHECK);
        }
        match conn.pipeline(&sqls).await {
            Ok(results) if results.iter().all(Result::is_ok) => {
                (reset_outcome(look, &results), look)
            }
            _ => (Reset::Failed, false),
        }
    }

    /// The look for role-level settings that resets skipped: at `at`, on an idle session of
    /// the role or, when none is, on one from [`checkout`](Self::checkout) (a new session
    /// looks in its setup); again while resets skip their look meanwhile, or while no session
    /// can be had (then every [`TAMPER_CHECK_EVERY`], up to the queue timeout, after which the
    /// next reset or login of the role looks itself).
    async fn deferred_check(&self, session: SqlSession, key: (String, String), at: Instant) {
        let mut at = at;
        let mut failures = Duration::ZERO;
        loop {
            tokio::time::sleep_until(at.into()).await;
            self.checks.deferred_starts(&key);
            let started = Instant::now();
            let looked = self.look_for_role_settings(&session).await;
            if !looked {
                failures += TAMPER_CHECK_EVERY;
                if failures > self.pool.limits().queue_timeout {
                    // Give up: the look is due at the next reset or login of the role.
                    self.checks.forget(&key);
                    return;
                }
            }
            if !self.checks.deferred_ends(&key, looked, started) {
                return;
            }
            at = Instant::now() + TAMPER_CHECK_EVERY;
        }
    }

    /// Runs [`TAMPER_CHECK`] on a session of `session`'s role (removing what it finds);
    /// `false` when no session could be had or the look failed.
    async fn look_for_role_settings(&self, session: &SqlSession) -> bool {
        let Ok(Lease {
            mut conn, ticket, ..
        }) = self.checkout(session).await
        else {
            return false;
        };
        match conn.simple(TAMPER_CHECK).await {
            Ok(rows) if tampered(&rows) => {
                let setup = conn.setup.take();
                remove_role_settings(&mut conn, setup.as_ref()).await;
                true
            }
            Ok(_) => {
                // Only a `SELECT` ran since its reset or setup: it is as clean as then.
                if let Some(setup) = conn.setup.as_mut() {
                    setup.ready = true;
                }
                self.pool.put(ticket, conn);
                true
            }
            Err(_) => false,
        }
    }
}

/// The outcome of a reset whose statements all succeeded; the last result is the look's
/// when `looked`.
fn reset_outcome(looked: bool, results: &[Result<Vec<Vec<Option<String>>>, DbError>]) -> Reset {
    let found = looked
        && results
            .last()
            .is_some_and(|r| r.as_ref().is_ok_and(|rows| tampered(rows)));
    if found { Reset::Tampered } else { Reset::Clean }
}

/// Removes the role-level settings of `conn`'s role (the session itself is closed after:
/// it may have started with them).
async fn remove_role_settings(conn: &mut PgConn, setup: Option<&Setup>) {
    tracing::warn!("removing role-level settings a key gave its role");
    if let Some(setup) = setup {
        if let Err(e) = conn.simple(&setup.cleanup).await {
            tracing::warn!(error = %e, "cannot remove role-level settings");
        }
    }
}

/// Resolves when nobody will read a streamed answer any more: before the head is sent, when
/// the handler waiting for it was dropped (hyper drops it when the client disconnects);
/// after, when the response body was dropped.
async fn client_gone<H>(
    head: &mut Option<oneshot::Sender<H>>,
    body: &mpsc::Sender<Result<Bytes, io::Error>>,
) {
    match head {
        Some(h) => h.closed().await,
        None => body.closed().await,
    }
}

/// One request's query, run in a task of its own.
struct QueryJob {
    sql: String,
    /// Queries sent behind `sql` in the same write (the reset), read by the caller.
    then: Vec<&'static str>,
    statements: usize,
    format: Format,
    skipfields: Vec<String>,
    callback: Option<String>,
}

/// The channels to the handler: the head first, then body chunks.
struct Output {
    head: Option<oneshot::Sender<Head>>,
    body: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: String,
}

impl Output {
    fn started(&self) -> bool {
        self.head.is_none()
    }

    fn start(&mut self) {
        if let Some(h) = self.head.take() {
            let _ = h.send(Head::Stream);
        }
    }

    /// Sends the buffer when it is large enough (or `force`); `false` when the client is gone.
    async fn flush(&mut self, force: bool) -> bool {
        let wanted = self.buf.len() >= CHUNK || (force && !self.buf.is_empty());
        if !wanted {
            return true;
        }
        // The next chunk gets room for a full one (plus the row that crosses the size) at
        // once, instead of growing from nothing by doubling.
        let next = String::with_capacity(if force { 0 } else { CHUNK + CHUNK / 8 });
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, next));
        self.body.send(Ok(chunk)).await.is_ok()
    }

    /// Resolves when nobody will read the output any more.
    async fn gone(&mut self) {
        client_gone(&mut self.head, &self.body).await;
    }
}

impl QueryJob {
    /// Runs the query and writes the document; returns the session when it can be reused.
    async fn run(
        self,
        mut conn: PgConn,
        spatial: &[(u32, &'static str)],
        head: oneshot::Sender<Head>,
        body: mpsc::Sender<Result<Bytes, io::Error>>,
    ) -> Option<(PgConn, u8)> {
        let mut out = Output {
            head: Some(head),
            body,
            // Room for a small answer, whole (`SELECT 1`'s is about 200 bytes).
            buf: String::with_capacity(FIRST_BUF),
        };
        let started_at = Instant::now();
        let mut writer = Writer::new(self.format, self.callback.clone());
        let mut completed = 0usize;
        let mut plan: Option<Plan> = None;
        let mut total: u64 = 0;
        let mut error: Option<DbError> = None;
        let mut notices = Notices::default();
        let cancel = conn.cancel_handle();
        match conn.send_query_then(&self.sql, &self.then).await {
            Ok(()) => {}
            Err(WireError::Protocol(_)) => {
                // Nothing was sent: the text cannot travel in a `Query` message (a NUL byte).
                if let Some(h) = out.head.take() {
                    let e =
                        ApiError::bad_request("invalid byte sequence for encoding \"UTF8\": 0x00");
                    let _ = h.send(Head::Error(e));
                }
                return Some((conn, b'I'));
            }
            Err(_) => {
                if let Some(h) = out.head.take() {
                    let _ = h.send(Head::Error(ApiError::cannot_connect()));
                }
                return None;
            }
        }
        let status = loop {
            let event = tokio::select! {
                event = conn.next_event() => event,
                () = out.gone() => {
                    // The client went away: stop the query and drop the session.
                    let _ = cancel.cancel().await;
                    return None;
                }
            };
            let is_last = completed + 1 >= self.statements;
            match event {
                Err(WireError::TooLarge(size)) => {
                    // Refused with a clear error; the session is dropped with its query.
                    let _ = cancel.cancel().await;
                    let message = WireError::too_large_message(size);
                    match out.head.take() {
                        Some(h) => {
                            let _ = h.send(Head::Error(ApiError::bad_request(message)));
                        }
                        None => {
                            let _ = out.flush(true).await;
                            let _ = out.body.send(Err(io::Error::other(message))).await;
                        }
                    }
                    return None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "database session lost during a query");
                    match out.head.take() {
                        Some(h) => {
                            let _ = h.send(Head::Error(ApiError::cannot_connect()));
                        }
                        None => {
                            let _ = out
                                .body
                                .send(Err(io::Error::other("database session lost")))
                                .await;
                        }
                    }
                    return None;
                }
                Ok(Event::RowDescription(cols)) if is_last => {
                    plan = Some(Plan::new(&cols, spatial, self.format, &self.skipfields));
                }
                Ok(Event::DataRow(row)) if is_last => {
                    if let Some(plan) = &plan {
                        writer.row(&mut out.buf, plan, &row);
                        out.start();
                        if !out.flush(false).await {
                            let _ = cancel.cancel().await;
                            return None;
                        }
                    }
                }
                Ok(Event::CommandComplete(tag)) => {
                    completed += 1;
                    if completed >= self.statements {
                        total = tag_rows(&tag);
                    }
                }
                Ok(Event::Notice(n)) => notices.push(&n.severity, n.message),
                Ok(Event::Error(e)) => error = Some(e),
                Ok(Event::CopyInResponse) => {
                    if conn.queued() > 0 {
                        // The server reads the queries queued behind as copy data: the
                        // session's state is unknown. (`may_copy` keeps this from happening.)
                        let _ = cancel.cancel().await;
                        if let Some(h) = out.head.take() {
                            let _ = h.send(Head::Error(ApiError::cannot_connect()));
                        }
                        return None;
                    }
                    if conn
                        .copy_fail("COPY FROM STDIN is not supported here: use the COPY API")
                        .await
                        .is_err()
                    {
                        return None;
                    }
                }
                Ok(Event::Ready(status)) => break status,
                Ok(_) => {}
            }
        };
        let seconds = started_at.elapsed().as_millis() as f64 / 1000.0;
        if let Some(e) = &error {
            if !out.started() {
                if let Some(h) = out.head.take() {
                    let _ = h.send(Head::Error(ApiError::from_db(e)));
                }
                return Some((conn, status));
            }
            if self.format == Format::Csv {
                // A CSV cannot carry an error: cut the transfer so the client sees a failure.
                let _ = out.flush(true).await;
                let _ = out
                    .body
                    .send(Err(io::Error::other(e.message.clone())))
                    .await;
                return Some((conn, status));
            }
        }
        let summary = Summary {
            seconds,
            plan: plan.as_ref(),
            total_rows: if total > 0 { total } else { writer.rows() },
            error: error.as_ref().map(|e| e.message.as_str()),
            notices: &notices,
        };
        writer.finish(&mut out.buf, &summary);
        out.start();
        let _ = out.flush(true).await;
        Some((conn, status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn built(v: Value) -> (String, usize) {
        let p = params::parse(v.as_object().expect("object")).expect("params");
        let statements = lexer::split_statements(&p.q);
        build_sql(&p, statements, false)
    }

    #[test]
    fn sql_is_sent_unchanged_without_wrappers() {
        assert_eq!(
            built(json!({"q": "SET a TO 1; SELECT 2;"})),
            ("SET a TO 1; SELECT 2;".to_string(), 2)
        );
        assert_eq!(
            built(json!({"q": "-- nothing"})),
            ("-- nothing".to_string(), 1)
        );
    }

    #[test]
    fn page_wraps_the_last_select() {
        let (sql, n) =
            built(json!({"q": "SET a TO 1; SELECT * FROM t;", "page": 2, "rows_per_page": 10}));
        assert_eq!(
            sql,
            "SET a TO 1; SELECT * FROM (\nSELECT * FROM t\n) AS cdbq_1 LIMIT 10 OFFSET 20"
        );
        assert_eq!(n, 2);
        let (sql, _) =
            built(json!({"q": "INSERT INTO t VALUES (1)", "page": 0, "rows_per_page": 10}));
        assert_eq!(sql, "INSERT INTO t VALUES (1)");
    }

    #[test]
    fn order_by_wraps_selects_with_a_quoted_column() {
        let (sql, _) =
            built(json!({"q": "SELECT * FROM t", "order_by": "na\"me", "sort_order": "DESC"}));
        assert_eq!(
            sql,
            "SELECT * FROM (\nSELECT * FROM t\n) AS cdbq_1 ORDER BY \"na\"\"me\" DESC"
        );
        let (sql, _) = built(
            json!({"q": "SELECT * FROM t", "order_by": "a", "sort_order": "sideways", "page": 1, "rows_per_page": 5}),
        );
        assert_eq!(
            sql,
            "SELECT * FROM (\nSELECT * FROM t\n) AS cdbq_1 ORDER BY \"a\" ASC LIMIT 5 OFFSET 5"
        );
        let (sql, _) = built(json!({"q": "DELETE FROM t", "order_by": "a"}));
        assert_eq!(sql, "DELETE FROM t");
    }

    #[test]
    fn geojson_wraps_the_last_statement() {
        let (sql, _) = built(json!({"q": "SELECT * FROM t", "format": "geojson", "dp": 3}));
        assert_eq!(
            sql,
            "SELECT *, ST_AsGeoJSON(the_geom, 3) as the_geom FROM (\nSELECT * FROM t\n) as foo"
        );
    }

    #[test]
    fn the_tamper_check_answers_the_marker() {
        assert!(TAMPER_CHECK.starts_with(&format!("SELECT '{TAMPERED}', NULL WHERE")));
        assert!(TAMPER_CHECK.contains("pg_settings") && TAMPER_CHECK.contains("'database user'"));
        assert!(tampered(&[vec![Some(TAMPERED.to_string()), None]]));
        assert!(!tampered(&[vec![
            Some("12345".to_string()),
            Some("geometry".into())
        ]]));
    }

    #[test]
    fn nothing_is_queued_behind_what_may_be_a_copy() {
        assert!(may_copy("COPY t FROM STDIN"));
        assert!(may_copy("select 1; CoPy t from stdin"));
        assert!(may_copy("SELECT 'copy'"));
        assert!(!may_copy("SELECT 1"));
        assert!(!may_copy("SELECT 'cop y'"));
    }

    #[test]
    fn looks_for_role_settings_are_spaced_and_every_skip_is_followed_by_one() {
        let checks = TamperChecks::default();
        let key = ("db", "role");
        let owned = ("db".to_string(), "role".to_string());
        let t0 = Instant::now();
        // The first reset of a role looks; the next ones within the interval skip.
        assert!(checks.claim(key, t0));
        assert!(!checks.claim(key, t0 + Duration::from_millis(10)));
        // The first skip schedules a deferred look one interval after the last look...
        let at = checks.skipped(key).expect("a deferred look");
        assert!(at >= t0 + TAMPER_CHECK_EVERY);
        // ...later skips ride on it.
        assert_eq!(checks.skipped(key), None);
        // A skip after the deferred look started makes it run again; none, and it is done.
        checks.deferred_starts(&owned);
        assert_eq!(checks.skipped(key), None);
        assert!(checks.deferred_ends(&owned, true, Instant::now()));
        checks.deferred_starts(&owned);
        assert!(!checks.deferred_ends(&owned, true, Instant::now()));
        // A deferred look that could not run runs again.
        assert!(checks.skipped(key).is_some());
        checks.deferred_starts(&owned);
        assert!(checks.deferred_ends(&owned, false, Instant::now()));
        // Once an interval went by, a reset looks itself again.
        assert!(checks.claim(key, Instant::now() + TAMPER_CHECK_EVERY * 2));
        // A login's look counts too.
        let other = ("db", "other");
        checks.checked(other, Instant::now());
        assert!(!checks.claim(other, Instant::now()));
    }

    #[test]
    fn search_path_elements_are_quoted_only_when_needed() {
        assert_eq!(path_element("public"), "public");
        assert_eq!(path_element("alice_2"), "alice_2");
        assert_eq!(path_element("my-org"), "\"my-org\"");
        assert_eq!(path_element("Alice"), "\"Alice\"");
        assert_eq!(path_element("2x"), "\"2x\"");
        assert_eq!(path_element("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn the_content_disposition_follows_each_request() {
        let disposition = |v: Value| {
            let p = params::parse(v.as_object().expect("object")).expect("params");
            content_disposition(&p)
                .expect("a header value")
                .to_str()
                .expect("text")
                .to_owned()
        };
        let inline = disposition(json!({"q": "SELECT 1"}));
        assert!(
            inline.starts_with("inline; filename=cartodb-query.json; modification-date=\""),
            "{inline}"
        );
        let named = disposition(json!({"q": "SELECT 1", "filename": "x", "format": "csv"}));
        assert!(named.contains("filename=x.csv;"), "{named}");
        let again = disposition(json!({"q": "SELECT 1"}));
        assert!(
            again.starts_with("inline; filename=cartodb-query.json;"),
            "{again}"
        );
    }

    #[test]
    fn the_http_date_is_the_current_second() {
        let before = chrono::Utc::now().timestamp();
        let date = with_http_date(str::to_owned);
        let after = chrono::Utc::now().timestamp();
        let parsed = chrono::DateTime::parse_from_rfc2822(&date.replace("GMT", "+0000"))
            .expect("an HTTP date")
            .timestamp();
        assert!((before..=after).contains(&parsed), "{date}");
        assert!(date.ends_with(" GMT"), "{date}");
    }

    #[test]
    fn session_debug_hides_the_password() {
        let s = SqlSession {
            username: "alice".into(),
            database: "db".into(),
            schema: "public".into(),
            role: "r".into(),
            password: "canary-pass-123".into(),
            level: ApiKeyType::Regular,
            statement_timeout: None,
        };
        assert!(!format!("{s:?}").contains("canary-pass-123"));
    }
}
