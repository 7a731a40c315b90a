//! The engine: its configuration and the SQL API's request, from the parameters to the
//! answer (validation, the system-table guard's checks, the SQL sent, the streamed document).

use std::io;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use carto_core::models::ApiKeyType;
use http::StatusCode;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use super::answer::SqlAnswer;
use super::error::ApiError;
use super::pool::{Lease, Pool, Reset, SessionLimits};
use super::rewrite::{build_sql, may_copy};
use super::role_settings::TamperChecks;
use super::session::SqlSession;
use super::stream::{CHANNEL_CHUNKS, Head, QueryJob};
use super::{batch, copy, guard, lexer, params};

/// Runs SQL API requests against the PostgreSQL server at `host:port`, with per-role pools of
/// logged-in sessions. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SqlEngine {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) socket_dir: Option<std::path::PathBuf>,
    pub(super) pool: Arc<Pool>,
    pub(super) copy_from_limit: u64,
    pub(super) batch: Arc<std::sync::OnceLock<Arc<batch::Batch>>>,
    pub(super) checks: Arc<TamperChecks>,
    /// The server's superuser, to clean a role whose logins fail (role-level settings).
    pub(super) superuser: Option<Arc<crate::pg::PgServer>>,
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
    pub async fn handle(&self, session: SqlSession, params: Map<String, Value>) -> SqlAnswer {
        let callback = params
            .get("callback")
            .and_then(Value::as_str)
            .map(str::to_string);
        let p = match params::parse(&params) {
            Ok(p) => p,
            Err(e) => return e.into_answer(callback.as_deref()),
        };
        self.run(session, p, None).await
    }

    /// Answers a CARTO 3 synchronous query (`/v3/sql/{connection}/query`): `q` (its
    /// parameters already in it), the document `{"rows","schema","meta"}` written whole once
    /// the query ended, at most `row_cap` rows (one more cancels the query and answers 400).
    /// Errors have the SQL API's bodies; the v3 routes reshape them.
    pub(crate) async fn handle_carto3(
        &self,
        session: SqlSession,
        q: String,
        row_cap: u64,
    ) -> SqlAnswer {
        let mut params = Map::new();
        params.insert("q".to_owned(), Value::String(q));
        let mut p = match params::parse(&params) {
            Ok(p) => p,
            Err(e) => return e.into_answer(None),
        };
        p.format = params::Format::Carto3;
        self.run(session, p, Some(row_cap)).await
    }

    /// Runs a request's parsed parameters.
    async fn run(
        &self,
        session: SqlSession,
        p: params::QueryParams,
        row_cap: Option<u64>,
    ) -> SqlAnswer {
        // Split once: the role check, the splitter's trust check and the SQL built share it.
        let ranges = lexer::split_statements(&p.q);
        if ranges
            .iter()
            .any(|r| guard::statement_alters_a_role(&p.q[r.clone()]))
        {
            return ApiError::new(StatusCode::FORBIDDEN, "permission denied to alter role")
                .into_answer(p.callback.as_deref());
        }
        let guarded = session.level != ApiKeyType::Master;
        if guarded
            && !ranges
                .iter()
                .all(|r| guard::split_is_trusted(&p.q[r.clone()]))
        {
            return ApiError::new(StatusCode::FORBIDDEN, "system tables are forbidden")
                .into_answer(p.callback.as_deref());
        }
        let (sql, statements) = build_sql(&p, ranges, guarded);
        let lease = match self.checkout(&session).await {
            Ok(lease) => lease,
            Err(e) => return e.into_answer(p.callback.as_deref()),
        };
        let (head_tx, head_rx) = oneshot::channel();
        let (body_tx, body_rx) = mpsc::channel::<Result<Bytes, io::Error>>(CHANNEL_CHUNKS);
        let engine = self.clone();
        // The reset goes behind the SQL in the same write (no round trip of its own), unless
        // the SQL may be a `COPY ... FROM STDIN`: PostgreSQL would read the queued query as
        // part of the copy.
        let look = self.checks.claim(lease.ticket.key(), Instant::now());
        let then = if may_copy(&p.q) {
            &[]
        } else {
            Reset {
                rollback: false,
                look,
            }
            .statements()
        };
        let job = QueryJob {
            sql,
            then,
            statements,
            format: p.format,
            skipfields: p.skipfields.clone(),
            callback: p.callback.clone(),
            row_cap,
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
            Ok(Head::Error(e)) => e.into_answer(p.callback.as_deref()),
            Ok(Head::Stream) => SqlAnswer::streamed(&p, body_rx),
            Err(_) => ApiError::cannot_connect().into_answer(p.callback.as_deref()),
        }
    }

    /// Sets the bounds on the sessions the engine opens (default [`SessionLimits::default`]).
    /// Call it before serving requests: sessions pooled so far are closed.
    ///
    /// The Batch API's runner is not bound by them: it opens one session per running job, and
    /// runs at most one job per user at a time.
    pub fn with_session_limits(mut self, limits: SessionLimits) -> Self {
        self.pool = Arc::new(Pool::new(limits));
        self
    }

    /// The bounds on the sessions the engine opens.
    pub fn session_limits(&self) -> SessionLimits {
        self.pool.limits()
    }
}

/// Installs the system-table guard used for non-master keys ([`ApiKeyType::Default`],
/// [`ApiKeyType::Regular`]) in the database `client` is connected to, as a superuser. The
/// emulator does it for every user database; a bare [`SqlEngine`] needs it in each database it
/// serves (without it, non-master requests fail).
pub async fn install_guard(client: &tokio_postgres::Client) -> Result<(), tokio_postgres::Error> {
    guard::install(client).await
}
