//! Checkout and login: a session of the request's role from the pool, or a new login set up
//! for it; and its return to the pool after the request, reset.

use std::time::{Duration, Instant};

use super::engine::SqlEngine;
use super::error::ApiError;
use super::fields::SPATIAL_TYPES;
use super::pool::{Lease, Reset, ResetOutcome, Ticket};
use super::role_settings::{TAMPER_CHECK, remove_role_settings, role_settings_reset, tampered};
use super::session::SqlSession;
use super::session::{session_options, settings_key};
use super::wire::{ConnParams, PgConn, Setup, WireError};
use crate::ident::quote_ident;

impl SqlEngine {
    /// A session for `session.role`, set up for the request (search path, timeout), with the
    /// OIDs of the spatial types of its database.
    ///
    /// The session settings travel in the startup message ([`session_options`]), so they are
    /// the session's defaults, which every `DISCARD ALL` brings back: a pooled session (reset
    /// after its last request by [`SqlEngine::give_back`]) is used as it is, with no round
    /// trip; a fresh session reads the type OIDs and looks for role-level settings before the
    /// request. A pooled session logged in with other settings (another statement timeout),
    /// or that looks dead, is closed and replaced by a fresh one.
    pub(super) async fn checkout(&self, session: &SqlSession) -> Result<Lease, ApiError> {
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
/// (at the bound it waits for one given back,
/// [`Pool::take_or_wait`](super::pool::Pool::take_or_wait)).
const REUSE_WAIT: Duration = Duration::from_millis(5);

impl SqlEngine {
    /// Brings a used session back to a clean state and pools it; closes it when it cannot be
    /// reused (or when the role was given role-level settings meanwhile: they are removed).
    /// `used` is the session and the transaction status of the request's last `ReadyForQuery`
    /// (`I` when idle), `None` when the session was lost; `look` whether the reset looks for
    /// role-level settings, when the request claimed it before it ran
    /// ([`TamperChecks::claim`](super::role_settings::TamperChecks::claim); `None`: decided
    /// here).
    ///
    /// The reset ([`Reset`]) is `DISCARD ALL` (settings back to the session's startup ones,
    /// role, temporary tables, prepared statements, cursors, advisory locks, `LISTEN`) and, at
    /// most every [`TAMPER_CHECK_EVERY`](super::role_settings::TAMPER_CHECK_EVERY) per role,
    /// the look for role-level settings. The SQL API sends them behind the request's SQL
    /// ([`PgConn::send_query_then`]); when they failed there (a transaction left open:
    /// `DISCARD ALL` cannot run in one) or were not sent, they run here, after a `ROLLBACK` when
    /// needed. A reset that does not look is followed by a deferred look
    /// ([`SqlEngine::deferred_check`]).
    pub(super) async fn give_back(
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
                ResetOutcome::Clean => {
                    if let Some(setup) = conn.setup.as_mut() {
                        setup.ready = true;
                    }
                    self.pool.put(ticket, conn);
                }
                ResetOutcome::Tampered => {
                    let setup = conn.setup.take();
                    remove_role_settings(&mut conn, setup.as_ref()).await;
                }
                ResetOutcome::Failed => {}
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
    ) -> (ResetOutcome, bool) {
        let mut rollback = status != b'I';
        if conn.queued() > 0 {
            let Ok(results) = conn.read_queued().await else {
                return (ResetOutcome::Failed, false);
            };
            if results.iter().all(Result::is_ok) {
                // `DISCARD ALL`, then the look when it was queued too.
                let looked = results.len() > 1;
                return (ResetOutcome::of(looked, &results), looked);
            }
            // The SQL left a transaction open (or failed in one): roll it back first.
            rollback = true;
        }
        let look = look.unwrap_or_else(|| self.checks.claim((&key.0, &key.1), Instant::now()));
        // `DISCARD ALL` must run outside a transaction, in a `Query` of its own.
        let reset = Reset { rollback, look };
        match conn.pipeline(reset.statements()).await {
            Ok(results) if results.iter().all(Result::is_ok) => {
                (ResetOutcome::of(look, &results), look)
            }
            _ => (ResetOutcome::Failed, false),
        }
    }
}
