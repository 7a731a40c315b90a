//! Role-level settings hygiene: a key may give its own role settings (`ALTER ROLE
//! CURRENT_USER SET ...`) that every later session of the role would take; the engine looks
//! for them (at login, and in the resets, spaced per role) and removes them.

use std::time::{Duration, Instant};

use super::engine::SqlEngine;
use super::pool::Lease;
use super::session::SqlSession;
use super::wire::{PgConn, Setup};
use crate::ident::quote_ident;

/// The marker row of the setup query when the session's role has role-level settings.
pub(crate) const TAMPERED: &str = "carto-emulator: role settings";

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
pub(crate) const TAMPER_CHECK: &str = "SELECT 'carto-emulator: role settings', NULL WHERE EXISTS (SELECT FROM pg_catalog.pg_db_role_setting s \
     WHERE s.setrole OPERATOR(pg_catalog.=) SESSION_USER::pg_catalog.regrole::pg_catalog.oid \
     AND s.setdatabase OPERATOR(pg_catalog.=) ANY (ARRAY[0, (SELECT d.oid FROM pg_catalog.pg_database d \
     WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())]::pg_catalog.oid[])) \
     OR EXISTS (SELECT FROM pg_catalog.pg_settings g WHERE g.source OPERATOR(pg_catalog.=) \
     ANY (ARRAY['user', 'database', 'database user']::pg_catalog.text[]))";

/// Whether the rows of a setup hold the [`TAMPER_CHECK`] marker.
pub(crate) fn tampered(rows: &[Vec<Option<String>>]) -> bool {
    rows.iter()
        .any(|r| r.first().and_then(Option::as_deref) == Some(TAMPERED))
}

/// The statements that remove the session role's role-level settings in `database`.
pub(super) fn role_settings_reset(database: &str) -> String {
    format!(
        "ALTER ROLE SESSION_USER RESET ALL; ALTER ROLE SESSION_USER IN DATABASE {} RESET ALL",
        quote_ident(database)
    )
}

/// How often, at most, the resets of one role's sessions look for role-level settings
/// ([`TAMPER_CHECK`]); a reset that comes sooner after the last check leaves it to a check
/// scheduled that long after it ([`SqlEngine::deferred_check`]).
pub(super) const TAMPER_CHECK_EVERY: Duration = Duration::from_millis(100);

/// The last look for role-level settings of each (database, role), so that the resets of a
/// busy role run it at most every [`TAMPER_CHECK_EVERY`] and every reset is still followed by
/// a look that starts after it.
#[derive(Debug, Default)]
pub(super) struct TamperChecks(
    std::sync::Mutex<std::collections::HashMap<(String, String), Checked>>,
);

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
    pub(super) fn claim(&self, key: (&str, &str), now: Instant) -> bool {
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
    pub(super) fn skipped(&self, key: (&str, &str)) -> Option<Instant> {
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
    pub(super) fn checked(&self, key: (&str, &str), at: Instant) {
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
    pub(super) fn forget(&self, key: &(String, String)) {
        self.lock().remove(key);
    }

    /// The deferred look of `key` starts: from now on a skipped reset makes it run again.
    pub(super) fn deferred_starts(&self, key: &(String, String)) {
        if let Some(c) = self.lock().get_mut(key) {
            c.skipped = false;
        }
    }

    /// The deferred look of `key` ended (`looked` when it ran, started at `started`). `true`
    /// when it must run again: a reset skipped its own look meanwhile, or this one could not
    /// run.
    pub(super) fn deferred_ends(
        &self,
        key: &(String, String),
        looked: bool,
        started: Instant,
    ) -> bool {
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

/// Removes the role-level settings of `conn`'s role (the session itself is closed after:
/// it may have started with them).
pub(super) async fn remove_role_settings(conn: &mut PgConn, setup: Option<&Setup>) {
    tracing::warn!("removing role-level settings a key gave its role");
    if let Some(setup) = setup {
        if let Err(e) = conn.simple(&setup.cleanup).await {
            tracing::warn!(error = %e, "cannot remove role-level settings");
        }
    }
}

impl SqlEngine {
    /// The look for role-level settings that resets skipped: at `at`, on an idle session of
    /// the role or, when none is, on one from [`checkout`](Self::checkout) (a new session
    /// looks in its setup); again while resets skip their look meanwhile, or while no session
    /// can be had (then every [`TAMPER_CHECK_EVERY`], up to the queue timeout, after which the
    /// next reset or login of the role looks itself).
    pub(super) async fn deferred_check(
        &self,
        session: SqlSession,
        key: (String, String),
        at: Instant,
    ) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
