//! Bounds on the PostgreSQL sessions the engine opens: per role, per user and in
//! all, so that one user's flood of requests can neither exhaust the server's
//! `max_connections` nor starve the other users.
//!
//! Every session holds one permit of each of its three bounds ([`Permits`]) for as long as it
//! lives, in use or idle in the pool; the pool ([`super::sessions`]) closes idle sessions to free
//! permits when a new session is needed and a bound is reached, and a request that still gets
//! no permit within the queue timeout is refused with CARTO's rate-limit answer (429).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bounds on the PostgreSQL sessions an [`SqlEngine`](crate::sql::SqlEngine) opens for requests
/// (SQL API and COPY API). Idle pooled sessions count against them.
///
/// A bound of 0 is taken as 1. The global bound must stay below the server's
/// `max_connections` (the private cluster has 200), leaving room for the emulator's own
/// superuser connections and the Batch API's runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Sessions per PostgreSQL role (one API key). Default 16.
    pub per_role: usize,
    /// Sessions per user (all keys of the user; each user of an organization has a bound of
    /// its own). Default 32.
    pub per_user: usize,
    /// Sessions in all. Default 150.
    pub global: usize,
    /// How long a request waits for a session before it is refused with a 429. Default 2 s.
    pub queue_timeout: Duration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            per_role: 16,
            per_user: 32,
            global: 150,
            queue_timeout: Duration::from_secs(2),
        }
    }
}

/// No session could be had within the queue timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exhausted;

/// One bound: a semaphore, and how many requests wait on it.
pub(crate) struct Limit {
    sem: Arc<Semaphore>,
    /// Requests waiting for a permit; a session given back while someone waits on one of
    /// its bounds is closed instead of pooled, so that the waiter gets its permit.
    waiting: AtomicUsize,
}

impl fmt::Debug for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limit")
            .field("available", &self.sem.available_permits())
            .field("waiting", &self.waiting.load(Ordering::Relaxed))
            .finish()
    }
}

impl Limit {
    /// A bound of `n` sessions (at least 1).
    pub(crate) fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            sem: Arc::new(Semaphore::new(n.clamp(1, Semaphore::MAX_PERMITS))),
            waiting: AtomicUsize::new(0),
        })
    }

    /// A permit if one is free now.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<Held> {
        let permit = self.sem.clone().try_acquire_owned().ok()?;
        Some(Held {
            limit: self.clone(),
            _permit: permit,
        })
    }

    /// Registers a waiter; the returned guard unregisters it when dropped. Call it under the
    /// pool's lock, so that a session given back meanwhile sees the waiter.
    pub(crate) fn wait(self: &Arc<Self>) -> Waiter {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        Waiter {
            limit: self.clone(),
        }
    }

    /// Whether requests wait for a permit.
    pub(crate) fn contended(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }

    /// Free permits.
    pub(crate) fn available(&self) -> usize {
        self.sem.available_permits()
    }
}

/// A registered waiter of a [`Limit`].
pub(crate) struct Waiter {
    limit: Arc<Limit>,
}

impl Waiter {
    /// Waits for a permit until `deadline`.
    pub(crate) async fn acquire(self, deadline: tokio::time::Instant) -> Result<Held, Exhausted> {
        let sem = self.limit.sem.clone();
        match tokio::time::timeout_at(deadline, sem.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Held {
                limit: self.limit.clone(),
                _permit: permit,
            }),
            // Timed out (the semaphore is never closed).
            _ => Err(Exhausted),
        }
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.limit.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A permit of one bound, released when dropped.
pub(crate) struct Held {
    limit: Arc<Limit>,
    _permit: OwnedSemaphorePermit,
}

impl Held {
    /// Whether this is a permit of `limit`.
    pub(crate) fn is_of(&self, limit: &Arc<Limit>) -> bool {
        Arc::ptr_eq(&self.limit, limit)
    }
}

/// The permits of one session: its role's, its user's and the global one. Released when the
/// session is closed (the value is dropped with it).
pub(crate) struct Permits {
    pub(crate) role: Held,
    pub(crate) user: Held,
    pub(crate) global: Held,
}

impl Permits {
    /// Whether a request waits on one of these bounds.
    pub(crate) fn contended(&self) -> bool {
        [&self.role, &self.user, &self.global]
            .iter()
            .any(|h| h.limit.contended())
    }
}

impl fmt::Debug for Permits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Permits")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_is_one() {
        let l = Limit::new(0);
        assert_eq!(l.available(), 1);
        let held = l.try_acquire().expect("a permit");
        assert!(l.try_acquire().is_none());
        drop(held);
        assert!(l.try_acquire().is_some());
    }

    #[tokio::test]
    async fn waiter_times_out_then_gets_a_released_permit() {
        let l = Limit::new(1);
        let held = l.try_acquire().expect("a permit");
        let w = l.wait();
        assert!(l.contended());
        let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
        assert_eq!(w.acquire(deadline).await.err(), Some(Exhausted));
        assert!(!l.contended(), "the waiter unregisters itself");

        let w = l.wait();
        let task = tokio::spawn(async move {
            w.acquire(tokio::time::Instant::now() + Duration::from_secs(30))
                .await
                .is_ok()
        });
        tokio::task::yield_now().await;
        drop(held);
        assert!(task.await.expect("task"));
        assert!(!l.contended());
        assert_eq!(l.available(), 1);
    }
}
