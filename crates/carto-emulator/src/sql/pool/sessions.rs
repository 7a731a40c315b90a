//! Idle sessions kept per (database, role), and the session bounds of [`super::limits`].
//!
//! An idle session keeps the [`Permits`] it was opened with, so idle sessions count against
//! the bounds. When a new session is needed and a bound is reached, idle sessions are closed
//! first (the role's own for the per-role bound, the user's for the per-user bound, anyone's
//! for the global bound); only then does the request wait, up to the queue timeout. A session
//! given back while a request waits on one of its bounds is closed instead of pooled.
//!
//! Up to the per-role bound of sessions are kept idle per (database, role), so a role's
//! concurrent requests reuse logged-in sessions instead of logging in afresh. A request that
//! finds none idle while some of its role's sessions are in use (often just being reset after
//! the previous request) queues for one of them ([`Pool::take_or_wait`]): a session given back
//! goes straight to the first request queued for its (database, role). Below the role's bound
//! the request waits only a little before it opens a new session; at the bound, where a new
//! session could only be had by closing one of the role's own, it keeps waiting for one given
//! back (up to the queue timeout), so a busy role reuses its sessions instead of closing and
//! logging them in again.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::limits::{Exhausted, Held, Limit, Permits, SessionLimits};
use crate::sql::wire::PgConn;

/// (database, role).
type Key = (String, String);

/// An idle session and the permits it holds.
#[derive(Debug)]
struct Idle<C> {
    conn: C,
    permits: Permits,
}

#[derive(Debug)]
struct Inner<C> {
    idle: HashMap<Key, Vec<Idle<C>>>,
    /// Bumped by `forget`: sessions checked out before it are not taken back.
    generations: HashMap<String, u64>,
    /// The per-role bounds.
    roles: HashMap<String, Arc<Limit>>,
    /// The per-user bounds (by CARTO username: the users of an organization share a
    /// database, not a bound).
    users: HashMap<String, Arc<Limit>>,
    /// Requests queued for a session of a (database, role), first come first served.
    waiters: HashMap<Key, VecDeque<oneshot::Sender<Idle<C>>>>,
}

impl<C> Default for Inner<C> {
    fn default() -> Self {
        Self {
            idle: HashMap::new(),
            generations: HashMap::new(),
            roles: HashMap::new(),
            users: HashMap::new(),
            waiters: HashMap::new(),
        }
    }
}

impl<C> Inner<C> {
    /// Whether sessions of `role` are checked out (they hold permits but are not idle), and
    /// whether they fill the role's bound (`per_role`).
    fn in_use(&self, role: &str, per_role: usize) -> (bool, bool) {
        let Some(limit) = self.roles.get(role) else {
            return (false, false);
        };
        let held = per_role.saturating_sub(limit.available());
        let idle: usize = self
            .idle
            .iter()
            .filter(|((_, r), _)| r == role)
            .map(|(_, v)| v.len())
            .sum();
        (held > idle, limit.available() == 0)
    }

    /// An idle session of `key` and its ticket, if any.
    fn pop_idle(&mut self, key: &Key) -> Option<(C, Ticket)> {
        let generation = self.generations.get(&key.1).copied().unwrap_or(0);
        let Idle { conn, permits } = self.idle.get_mut(key)?.pop()?;
        Some((
            conn,
            Ticket {
                key: key.clone(),
                generation,
                permits: Some(permits),
            },
        ))
    }

    /// A ticket without permits (for a session still to be opened).
    fn empty_ticket(&self, key: Key) -> Ticket {
        Ticket {
            generation: self.generations.get(&key.1).copied().unwrap_or(0),
            key,
            permits: None,
        }
    }

    /// Closes one idle session whose key and permits pass `which`; `false` when there is
    /// none.
    fn evict_one(&mut self, which: &impl Fn(&Key, &Permits) -> bool) -> bool {
        // The key with the most idle sessions loses one (the sessions of a key, one role, all
        // hold permits of the same bounds).
        let victim = self
            .idle
            .iter_mut()
            .filter(|(k, v)| v.first().is_some_and(|i| which(k, &i.permits)))
            .max_by_key(|(_, v)| v.len())
            .and_then(|(_, v)| v.pop());
        // Dropping the session closes it and releases its permits.
        victim.is_some()
    }
}

/// A small pool of logged-in sessions, keyed by database and login role, with the session
/// bounds. Generic over the session type for the tests.
#[derive(Debug)]
pub(crate) struct Pool<C = PgConn> {
    inner: Mutex<Inner<C>>,
    limits: SessionLimits,
    global: Arc<Limit>,
}

impl<C> Default for Pool<C> {
    fn default() -> Self {
        Self::new(SessionLimits::default())
    }
}

/// A checked-out session's ticket back into the pool; it carries the session's permits (none
/// yet before [`Pool::reserve`] for a fresh session).
#[derive(Debug)]
pub(crate) struct Ticket {
    key: Key,
    generation: u64,
    permits: Option<Permits>,
}

impl Ticket {
    /// The (database, role) of the session.
    pub(crate) fn key(&self) -> (&str, &str) {
        (&self.key.0, &self.key.1)
    }
}

impl<C> Pool<C> {
    /// An empty pool with these bounds.
    pub(crate) fn new(limits: SessionLimits) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            global: Limit::new(limits.global),
            limits,
        }
    }

    /// The bounds.
    pub(crate) fn limits(&self) -> SessionLimits {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<C>> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// An idle session for `role` on `database`, if any, and the ticket to give it back
    /// (holding the idle session's permits).
    #[cfg(test)]
    pub(crate) fn take(&self, database: &str, role: &str) -> (Option<C>, Ticket) {
        let key = (database.to_string(), role.to_string());
        let mut inner = self.lock();
        match inner.pop_idle(&key) {
            Some((conn, ticket)) => (Some(conn), ticket),
            None => (None, inner.empty_ticket(key)),
        }
    }

    /// An idle session for `role` on `database` and the ticket to give it back; when none is
    /// idle while sessions of the role are in use, queues for the next one given back: up to
    /// `wait` while the role may still open a session of its own, up to the queue timeout
    /// while its sessions fill its bound (looking again every `wait` whether one was closed,
    /// which frees a permit). `None` (and a ticket without permits) when a new session is to
    /// be opened.
    pub(crate) async fn take_or_wait(
        &self,
        database: &str,
        role: &str,
        wait: Duration,
    ) -> (Option<C>, Ticket) {
        let key = (database.to_string(), role.to_string());
        let deadline = tokio::time::Instant::now() + self.limits.queue_timeout;
        loop {
            let (mut rx, at_bound) = {
                let mut inner = self.lock();
                if let Some((conn, ticket)) = inner.pop_idle(&key) {
                    return (Some(conn), ticket);
                }
                let (in_use, at_bound) = inner.in_use(role, self.limits.per_role);
                if !in_use {
                    return (None, inner.empty_ticket(key));
                }
                let (tx, rx) = oneshot::channel();
                let queue = inner.waiters.entry(key.clone()).or_default();
                // Requests that stopped waiting leave closed senders behind.
                queue.retain(|w| !w.is_closed());
                queue.push_back(tx);
                (rx, at_bound)
            };
            let until = deadline.min(tokio::time::Instant::now() + wait);
            let handed = match tokio::time::timeout_at(until, &mut rx).await {
                Ok(handed) => handed.ok(),
                Err(_) => {
                    // A session may have been handed over just as the wait ended.
                    rx.close();
                    rx.try_recv().ok()
                }
            };
            let inner = self.lock();
            if let Some(Idle { conn, permits }) = handed {
                let mut ticket = inner.empty_ticket(key);
                ticket.permits = Some(permits);
                return (Some(conn), ticket);
            }
            if !at_bound || tokio::time::Instant::now() >= deadline {
                return (None, inner.empty_ticket(key));
            }
        }
    }

    /// Makes sure `ticket` holds permits for a session (call it before opening a fresh one):
    /// closes idle sessions to free them when a bound is reached, then waits up to the queue
    /// timeout. `Err` when the bounds stay exhausted.
    /// `user` is the CARTO user the role belongs to (its per-user bound).
    pub(crate) async fn reserve(&self, ticket: &mut Ticket, user: &str) -> Result<(), Exhausted> {
        if ticket.permits.is_some() {
            return Ok(());
        }
        let deadline = tokio::time::Instant::now() + self.limits.queue_timeout;
        let role = ticket.key.1.clone();
        let (role_limit, user_limit) = {
            let mut inner = self.lock();
            let per_role = self.limits.per_role;
            let per_user = self.limits.per_user;
            let r = inner
                .roles
                .entry(role.clone())
                .or_insert_with(|| Limit::new(per_role))
                .clone();
            let u = inner
                .users
                .entry(user.to_owned())
                .or_insert_with(|| Limit::new(per_user))
                .clone();
            (r, u)
        };
        // Always in this order (role, user, global), so waiters cannot deadlock.
        let role_held = self
            .acquire(&role_limit, deadline, |k: &Key, _: &Permits| k.1 == role)
            .await?;
        let user_held = self
            .acquire(&user_limit, deadline, |_: &Key, p: &Permits| {
                p.user.is_of(&user_limit)
            })
            .await?;
        let global_held = self
            .acquire(&self.global, deadline, |_: &Key, _: &Permits| true)
            .await?;
        ticket.permits = Some(Permits {
            role: role_held,
            user: user_held,
            global: global_held,
        });
        Ok(())
    }

    /// A permit of `limit`: a free one, else one freed by closing idle sessions that pass
    /// `evictable` (they all hold a permit of `limit`), else the first released before
    /// `deadline`.
    async fn acquire(
        &self,
        limit: &Arc<Limit>,
        deadline: tokio::time::Instant,
        evictable: impl Fn(&Key, &Permits) -> bool,
    ) -> Result<Held, Exhausted> {
        let waiter = {
            let mut inner = self.lock();
            loop {
                if let Some(held) = limit.try_acquire() {
                    return Ok(held);
                }
                if !inner.evict_one(&evictable) {
                    break;
                }
            }
            // Registered under the lock: a session given back from now on is closed, not
            // pooled, while this request waits.
            limit.wait()
        };
        waiter.acquire(deadline).await
    }

    /// Gives a clean session back (closed when the role was forgotten meanwhile, when a
    /// request waits on one of its bounds, or when the role already has as many idle sessions
    /// as its bound allows).
    pub(crate) fn put(&self, ticket: Ticket, conn: C) {
        let Some(permits) = ticket.permits else {
            return;
        };
        let mut inner = self.lock();
        let current = inner.generations.get(&ticket.key.1).copied().unwrap_or(0);
        if current != ticket.generation || permits.contended() {
            return;
        }
        let mut idle = Idle { conn, permits };
        if let Some(queue) = inner.waiters.get_mut(&ticket.key) {
            while let Some(waiter) = queue.pop_front() {
                match waiter.send(idle) {
                    Ok(()) => return,
                    // That request stopped waiting.
                    Err(back) => idle = back,
                }
            }
        }
        let list = inner.idle.entry(ticket.key).or_default();
        if list.len() < self.limits.per_role {
            list.push(idle);
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// A fake session that counts how many are open.
    #[derive(Debug)]
    struct Conn(Arc<std::sync::atomic::AtomicUsize>);

    impl Conn {
        fn open(counter: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Conn(counter.clone())
        }
    }

    impl Drop for Conn {
        fn drop(&mut self) {
            self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn limits(per_role: usize, per_user: usize, global: usize, timeout_ms: u64) -> SessionLimits {
        SessionLimits {
            per_role,
            per_user,
            global,
            queue_timeout: Duration::from_millis(timeout_ms),
        }
    }

    /// A fresh session for `role` on `db` (a user's own database, named after it), with its
    /// ticket.
    async fn open(
        pool: &Pool<Conn>,
        counter: &Arc<std::sync::atomic::AtomicUsize>,
        db: &str,
        role: &str,
    ) -> Result<(Conn, Ticket), Exhausted> {
        open_as(pool, counter, db, db, role).await
    }

    /// A fresh session for `role` of `user` on `db`, with its ticket.
    async fn open_as(
        pool: &Pool<Conn>,
        counter: &Arc<std::sync::atomic::AtomicUsize>,
        db: &str,
        user: &str,
        role: &str,
    ) -> Result<(Conn, Ticket), Exhausted> {
        let (idle, mut ticket) = pool.take(db, role);
        if let Some(c) = idle {
            return Ok((c, ticket));
        }
        pool.reserve(&mut ticket, user).await?;
        Ok((Conn::open(counter), ticket))
    }

    fn open_count(counter: &Arc<std::sync::atomic::AtomicUsize>) -> usize {
        counter.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[tokio::test]
    async fn per_role_bound_then_queue_timeout() {
        let pool = Pool::<Conn>::new(limits(2, 10, 10, 50));
        let n = Arc::default();
        let a = open(&pool, &n, "db", "r").await.expect("first");
        let b = open(&pool, &n, "db", "r").await.expect("second");
        assert_eq!(open(&pool, &n, "db", "r").await.err(), Some(Exhausted));
        // Another role of the same user is not bound by this role's sessions.
        let other = open(&pool, &n, "db", "r2").await.expect("other role");
        assert_eq!(open_count(&n), 3);
        // A session closed frees its permits.
        drop(a);
        let c = open(&pool, &n, "db", "r").await.expect("after a close");
        drop((b, c, other));
        assert_eq!(open_count(&n), 0);
        assert_eq!(pool.global.available(), 10);
    }

    #[tokio::test]
    async fn idle_sessions_hold_their_permits() {
        let pool = Pool::<Conn>::new(limits(2, 10, 10, 50));
        let n = Arc::default();
        let (c, t) = open(&pool, &n, "db", "r").await.expect("first");
        pool.put(t, c);
        assert_eq!(pool.idle_count("r"), 1);
        assert_eq!(
            pool.global.available(),
            9,
            "the idle session keeps its permit"
        );
        // Taking the idle session reuses its permits: no new one is taken.
        let (c, t) = open(&pool, &n, "db", "r").await.expect("reuse");
        assert_eq!(pool.global.available(), 9);
        assert_eq!(open_count(&n), 1);
        pool.put(t, c);
        pool.forget("r");
        assert_eq!(open_count(&n), 0);
        assert_eq!(pool.global.available(), 10, "forget releases the permits");
    }

    #[tokio::test]
    async fn per_user_bound_evicts_the_users_idle_sessions() {
        let pool = Pool::<Conn>::new(limits(5, 2, 10, 50));
        let n = Arc::default();
        // Two idle sessions of role r1 fill alice's bound.
        let s1 = open(&pool, &n, "alice", "r1").await.expect("1");
        let s2 = open(&pool, &n, "alice", "r1").await.expect("2");
        // Bob's idle session must survive.
        let b = open(&pool, &n, "bob", "rb").await.expect("bob");
        for (c, t) in [s1, s2, b] {
            pool.put(t, c);
        }
        assert_eq!(pool.idle_count("r1"), 2);
        // A session of another role of alice closes one of r1's idle sessions.
        let (c, t) = open(&pool, &n, "alice", "r2").await.expect("evicts");
        assert_eq!(pool.idle_count("r1"), 1);
        assert_eq!(pool.idle_count("rb"), 1);
        assert_eq!(open_count(&n), 3);
        // r1 can still reuse its remaining idle session (and its permits).
        let (c1, t1) = open(&pool, &n, "alice", "r1").await.expect("idle reuse");
        // Now both are in use: the next one waits and times out.
        assert_eq!(open(&pool, &n, "alice", "r3").await.err(), Some(Exhausted));
        drop((c, t, c1, t1));
    }

    #[tokio::test]
    async fn users_of_one_database_have_bounds_of_their_own() {
        let pool = Pool::<Conn>::new(limits(5, 2, 10, 50));
        let n = Arc::default();
        // Two sessions in use fill alice's bound in the organization's database...
        let a1 = open_as(&pool, &n, "org_db", "alice", "ra")
            .await
            .expect("1");
        let a2 = open_as(&pool, &n, "org_db", "alice", "ra")
            .await
            .expect("2");
        assert_eq!(
            open_as(&pool, &n, "org_db", "alice", "ra2").await.err(),
            Some(Exhausted)
        );
        // ...not bob's, in the same database.
        let b1 = open_as(&pool, &n, "org_db", "bob", "rb")
            .await
            .expect("bob 1");
        let b2 = open_as(&pool, &n, "org_db", "bob", "rb")
            .await
            .expect("bob 2");
        // Bob's idle sessions are not closed for alice either.
        pool.put(b1.1, b1.0);
        assert_eq!(
            open_as(&pool, &n, "org_db", "alice", "ra3").await.err(),
            Some(Exhausted)
        );
        assert_eq!(pool.idle_count("rb"), 1);
        drop((a1, a2, b2));
    }

    #[tokio::test]
    async fn global_bound_evicts_anyones_idle_sessions() {
        let pool = Pool::<Conn>::new(limits(5, 5, 2, 50));
        let n = Arc::default();
        let a = open(&pool, &n, "alice", "ra").await.expect("alice");
        let b = open(&pool, &n, "bob", "rb").await.expect("bob");
        pool.put(a.1, a.0);
        // Carol finds the global bound reached and closes alice's idle session.
        let c = open(&pool, &n, "carol", "rc").await.expect("carol");
        assert_eq!(pool.idle_count("ra"), 0);
        assert_eq!(open_count(&n), 2);
        // No idle session left: the next one times out.
        assert_eq!(open(&pool, &n, "dave", "rd").await.err(), Some(Exhausted));
        drop((b, c));
        assert_eq!(pool.global.available(), 2);
    }

    #[tokio::test]
    async fn a_session_given_back_while_someone_waits_is_closed() {
        let pool = Arc::new(Pool::<Conn>::new(limits(1, 5, 5, 5_000)));
        let n: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let (c, t) = open(&pool, &n, "db", "r").await.expect("first");
        // A waiter on another database for the same role (so it cannot take the idle one).
        let waiter = {
            let (pool, n) = (pool.clone(), n.clone());
            tokio::spawn(async move { open(&pool, &n, "db2", "r").await.map(|_| ()) })
        };
        while !pool.lock().roles["r"].contended() {
            tokio::task::yield_now().await;
        }
        pool.put(t, c);
        assert_eq!(pool.idle_count("r"), 0, "closed, not pooled");
        assert_eq!(waiter.await.expect("task"), Ok(()));
    }

    #[tokio::test]
    async fn waiting_requests_get_released_permits_in_time() {
        let pool = Arc::new(Pool::<Conn>::new(limits(1, 5, 5, 5_000)));
        let n: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let first = open(&pool, &n, "db", "r").await.expect("first");
        let waiter = {
            let (pool, n) = (pool.clone(), n.clone());
            tokio::spawn(async move { open(&pool, &n, "db", "r").await.map(|_| ()) })
        };
        while !pool.lock().roles["r"].contended() {
            tokio::task::yield_now().await;
        }
        drop(first);
        assert_eq!(waiter.await.expect("task"), Ok(()));
        assert_eq!(open_count(&n), 0);
    }

    #[tokio::test]
    async fn up_to_the_role_bound_stays_idle() {
        let pool = Pool::<Conn>::new(limits(16, 32, 32, 50));
        let n = Arc::default();
        let mut sessions = Vec::new();
        for _ in 0..16 {
            sessions.push(open(&pool, &n, "db", "r").await.expect("session"));
        }
        for (c, t) in sessions {
            pool.put(t, c);
        }
        assert_eq!(pool.idle_count("r"), 16);
        assert_eq!(open_count(&n), 16);
    }

    #[tokio::test]
    async fn take_or_wait_gets_a_session_given_back_meanwhile() {
        let pool = Arc::new(Pool::<Conn>::new(limits(4, 8, 8, 50)));
        let n: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        // Nothing in use: no wait.
        let (none, _) = pool.take_or_wait("db", "r", Duration::from_secs(60)).await;
        assert!(none.is_none());
        let (c, t) = open(&pool, &n, "db", "r").await.expect("first");
        let giver = {
            let pool = pool.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                pool.put(t, c);
            })
        };
        let (got, ticket) = pool.take_or_wait("db", "r", Duration::from_secs(60)).await;
        assert!(got.is_some(), "the session given back is reused");
        assert!(ticket.permits.is_some());
        giver.await.expect("task");
        assert_eq!(open_count(&n), 1);
        // In use and never given back: the wait ends at its bound.
        let (_held, _held_ticket) = (got, ticket);
        let (none, _) = pool
            .take_or_wait("db", "r", Duration::from_millis(10))
            .await;
        assert!(none.is_none());
    }

    #[tokio::test]
    async fn at_the_role_bound_a_waiter_gets_the_session_given_back_not_a_new_one() {
        let pool = Arc::new(Pool::<Conn>::new(limits(2, 8, 8, 5_000)));
        let n: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let a = open(&pool, &n, "db", "r").await.expect("first");
        let b = open(&pool, &n, "db", "r").await.expect("second");
        // Both sessions in use: the role is at its bound. Given back well after the short
        // wait, the session still goes to the queued request, not to the idle list.
        let giver = {
            let pool = pool.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                pool.put(a.1, a.0);
            })
        };
        let (got, ticket) = pool.take_or_wait("db", "r", Duration::from_millis(5)).await;
        giver.await.expect("task");
        assert!(got.is_some(), "handed over");
        assert!(ticket.permits.is_some());
        assert_eq!(pool.idle_count("r"), 0);
        assert_eq!(open_count(&n), 2, "no session closed, none opened");
        // A session of the role closed meanwhile frees a permit: the waiter stops waiting
        // and may open a new one.
        let closer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            drop(b);
        });
        let (none, ticket2) = pool.take_or_wait("db", "r", Duration::from_millis(5)).await;
        closer.await.expect("task");
        assert!(none.is_none());
        assert!(ticket2.permits.is_none());
        let mut ticket2 = ticket2;
        pool.reserve(&mut ticket2, "db")
            .await
            .expect("the freed permit");
        drop((got, ticket));
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_does_not_swallow_the_session() {
        let pool = Arc::new(Pool::<Conn>::new(limits(4, 8, 8, 50)));
        let n: Arc<std::sync::atomic::AtomicUsize> = Arc::default();
        let (c, t) = open(&pool, &n, "db", "r").await.expect("first");
        // Below the bound: the wait is short and ends with nothing.
        let (none, _) = pool.take_or_wait("db", "r", Duration::from_millis(5)).await;
        assert!(none.is_none());
        // Its queue entry is dead: the session given back now is pooled.
        pool.put(t, c);
        assert_eq!(pool.idle_count("r"), 1);
        assert_eq!(open_count(&n), 1);
    }

    #[test]
    fn put_without_permits_closes() {
        let pool = Pool::<Conn>::default();
        let n = Arc::default();
        let (none, t) = pool.take("db", "r");
        assert!(none.is_none());
        pool.put(t, Conn::open(&n));
        assert_eq!(pool.idle_count("r"), 0);
        assert_eq!(open_count(&n), 0);
    }
}
