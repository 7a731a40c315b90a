//! Idle sessions kept per (database, role).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::sql::wire::PgConn;

/// How many idle sessions are kept per (database, role).
const MAX_IDLE: usize = 4;

type Key = (String, String);

#[derive(Debug, Default)]
struct Inner {
    idle: HashMap<Key, Vec<PgConn>>,
    /// Bumped by `forget`: sessions checked out before it are not taken back.
    generations: HashMap<String, u64>,
}

/// A small pool of logged-in sessions, keyed by database and login role.
#[derive(Debug, Default)]
pub(crate) struct Pool {
    inner: Mutex<Inner>,
}

/// A checked-out session's ticket back into the pool.
#[derive(Debug, Clone)]
pub(crate) struct Ticket {
    key: Key,
    generation: u64,
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle session for `role` on `database`, if any, and the ticket to give it back.
    pub(crate) fn take(&self, database: &str, role: &str) -> (Option<PgConn>, Ticket) {
        let mut inner = self.lock();
        let generation = inner.generations.get(role).copied().unwrap_or(0);
        let key = (database.to_string(), role.to_string());
        let conn = inner.idle.get_mut(&key).and_then(Vec::pop);
        (conn, Ticket { key, generation })
    }

    /// Gives a clean session back (dropped when the role was forgotten meanwhile or the pool is
    /// full).
    pub(crate) fn put(&self, ticket: Ticket, conn: PgConn) {
        let mut inner = self.lock();
        let current = inner.generations.get(&ticket.key.1).copied().unwrap_or(0);
        if current != ticket.generation {
            return;
        }
        let list = inner.idle.entry(ticket.key).or_default();
        if list.len() < MAX_IDLE {
            list.push(conn);
        }
    }

    /// Closes the idle sessions of `role` and refuses those still in use when they come back.
    pub(crate) fn forget(&self, role: &str) {
        let mut inner = self.lock();
        *inner.generations.entry(role.to_string()).or_insert(0) += 1;
        inner.idle.retain(|(_, r), _| r != role);
    }

    /// Number of idle sessions for a role (all databases).
    pub(crate) fn idle_count(&self, role: &str) -> usize {
        self.lock()
            .idle
            .iter()
            .filter(|((_, r), _)| r == role)
            .map(|(_, v)| v.len())
            .sum()
    }
}
