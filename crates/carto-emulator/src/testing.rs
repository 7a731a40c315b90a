//! A fresh CARTO account per test, on one emulator shared by the whole test binary (feature
//! `testing`), in the spirit of `#[sqlx::test]`'s database per test.
//!
//! [`TestAccount::new`] (synchronous tests) or [`TestAccount::new_async`] (async tests, any
//! runtime flavour) gives the test an individual user of its own, with a unique name; the
//! account (its database, roles and keys) is removed when the value is dropped, also when the
//! test panics. Tests of one binary run in parallel, each in its own account: they may create
//! the same table names and never see each other's rows.
//!
//! The emulator starts on first use, on a runtime of its own, with a throwaway cluster
//! (copied from the machine's cluster cache when there is one, see
//! [`PgCluster::start_temporary`](crate::PgCluster::start_temporary)), and stops when the test
//! binary exits: nothing is left behind (a binary killed before it could stop is cleaned up by
//! the next start).
//!
//! ```no_run
//! use carto_emulator::testing::TestAccount;
//!
//! #[test]
//! fn counts_rows() {
//!     let account = TestAccount::new();
//!     let credentials = account.credentials(); // master key, ready for the SDK
//!     # let _ = credentials;
//! }
//!
//! #[tokio::test]
//! async fn counts_rows_async() {
//!     let account = TestAccount::new_async().await;
//!     # let _ = account;
//! }
//! ```

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::emulator::{BlockingEmulator, EmulatedUser};
use crate::{Emulator, EmulatorError};

/// The emulator shared by the test binary.
static SHARED: OnceLock<Result<BlockingEmulator, String>> = OnceLock::new();

/// Numbers the accounts of this process (with the process id, they name the accounts).
static NEXT: AtomicU64 = AtomicU64::new(0);

/// The shared emulator, started on first use. Started on a thread of its own: the caller may
/// be inside an async runtime, where starting another is refused.
fn shared() -> &'static BlockingEmulator {
    let started = SHARED.get_or_init(|| {
        let started = std::thread::spawn(|| Emulator::builder().start_blocking())
            .join()
            .map_err(|_| "the emulator's start panicked".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string()));
        if started.is_ok() {
            stop_at_exit();
        }
        started
    });
    match started {
        Ok(emulator) => emulator,
        Err(e) => panic!("carto-emulator: the shared test emulator could not start: {e}"),
    }
}

/// Stops the shared emulator's cluster (removing it) when the process exits: statics are
/// never dropped, so this is done by an `atexit` handler.
fn stop_at_exit() {
    extern "C" fn stop() {
        if let Some(Ok(emulator)) = SHARED.get() {
            emulator.pg().stop_cluster();
        }
    }
    #[allow(unsafe_code)]
    // SAFETY: `atexit` is the C library's, given a function that takes nothing and
    // never unwinds (`stop_cluster` catches its own failures).
    unsafe {
        unsafe extern "C" {
            fn atexit(f: extern "C" fn()) -> std::ffi::c_int;
        }
        atexit(stop);
    }
}

/// Runs `f` on the shared emulator's runtime and waits for it, from any thread (inside an
/// async runtime or not).
fn run_blocking<T: Send + 'static>(f: impl std::future::Future<Output = T> + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    shared().runtime_handle().spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv()
        .expect("the shared emulator's runtime dropped a task")
}

/// A fresh individual account on the test binary's shared emulator, removed on drop.
/// Dereferences to its [`EmulatedUser`] (credentials, base URL, keys).
#[derive(Debug)]
pub struct TestAccount {
    user: EmulatedUser,
}

impl TestAccount {
    /// A fresh account, for a synchronous test. Panics when the emulator cannot start or the
    /// account cannot be made (the test cannot go on without it).
    pub fn new() -> Self {
        Self::try_new().unwrap_or_else(|e| panic!("carto-emulator: no test account: {e}"))
    }

    /// A fresh account, or why not.
    pub fn try_new() -> Result<Self, EmulatorError> {
        let name = next_name();
        let emulator: &'static Emulator = shared();
        let user = run_blocking(async move { emulator.create_user(&name).await })?;
        Ok(Self { user })
    }

    /// A fresh account, for an async test (any runtime). Panics as [`TestAccount::new`].
    pub async fn new_async() -> Self {
        Self::try_new_async()
            .await
            .unwrap_or_else(|e| panic!("carto-emulator: no test account: {e}"))
    }

    /// A fresh account for an async test, or why not.
    pub async fn try_new_async() -> Result<Self, EmulatorError> {
        let name = next_name();
        // Starting the emulator blocks: not on the test's runtime threads.
        let emulator: &'static Emulator = match SHARED.get() {
            Some(_) => shared(),
            None => std::thread::spawn(|| -> &'static Emulator { shared() })
                .join()
                .map_err(|_| {
                    EmulatorError::Other("the shared test emulator could not start".into())
                })?,
        };
        let user = shared()
            .runtime_handle()
            .spawn(async move { emulator.create_user(&name).await })
            .await
            .map_err(|e| EmulatorError::Other(format!("making the test account failed: {e}")))??;
        Ok(Self { user })
    }

    /// The emulator the account is on (shared by every test of the binary).
    pub fn emulator(&self) -> &'static Emulator {
        shared()
    }

    /// The account's user.
    pub fn user(&self) -> &EmulatedUser {
        &self.user
    }
}

impl Default for TestAccount {
    fn default() -> Self {
        Self::new()
    }
}

impl std::ops::Deref for TestAccount {
    type Target = EmulatedUser;

    fn deref(&self) -> &EmulatedUser {
        &self.user
    }
}

impl Drop for TestAccount {
    fn drop(&mut self) {
        let name = self.user.username().to_owned();
        let emulator: &'static Emulator = shared();
        if let Err(e) = run_blocking(async move { emulator.remove_user(&name).await }) {
            // A drop cannot fail; a panic here would abort a test already unwinding.
            tracing::warn!("carto-emulator: test account not removed: {e}");
        }
    }
}

/// A name no other account of this emulator has: `test-<pid>-<n>`.
fn next_name() -> String {
    format!(
        "test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}
