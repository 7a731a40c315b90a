//! Shared by the examples: where the account comes from, and the demo table.
//!
//! With `CARTO_API_KEY` and `CARTO_BASE_URL` (or `CARTO_USERNAME`) in the environment,
//! the examples talk to that account (most need its master key). Otherwise each one
//! starts a local CARTO emulator with a user `alice` and uses her master key.
#![allow(dead_code)]

use std::error::Error;

use carto::Credentials;
use carto_emulator::{BlockingEmulator, Emulator};

/// What examples return.
pub type Result<T = ()> = std::result::Result<T, Box<dyn Error>>;

/// The user the emulator serves.
pub const USER: &str = "alice";

/// An account to talk to: the environment's, or an in-process emulator's.
pub struct Account {
    /// Credentials with the master key (or the key of the environment).
    pub credentials: Credentials,
    /// The emulator, kept running as long as the account is used.
    pub emulator: Option<BlockingEmulator>,
}

impl Account {
    /// Whether the SQL of the account has PostGIS (always assumed for a real account).
    pub fn has_postgis(&self) -> bool {
        self.emulator.as_ref().is_none_or(|e| e.has_postgis(USER))
    }
}

/// An async account: the emulator runs on the caller's tokio runtime.
pub struct AsyncAccount {
    /// Credentials with the master key (or the key of the environment).
    pub credentials: Credentials,
    /// The emulator, kept running as long as the account is used.
    pub emulator: Option<Emulator>,
}

fn env_given() -> bool {
    std::env::var_os("CARTO_API_KEY").is_some()
        && (std::env::var_os("CARTO_BASE_URL").is_some()
            || std::env::var_os("CARTO_USERNAME").is_some())
}

/// The environment's account, or a fresh emulator (sync code).
pub fn account() -> Result<Account> {
    if env_given() {
        let credentials = Credentials::from_env()?;
        println!("Using the account at {}", credentials.base_url());
        return Ok(Account {
            credentials,
            emulator: None,
        });
    }
    let emulator = Emulator::builder().user(USER).start_blocking()?;
    let credentials = emulator
        .credentials(USER)
        .ok_or("the emulator has no alice")?;
    println!(
        "Started a local CARTO emulator at {}",
        credentials.base_url()
    );
    Ok(Account {
        credentials,
        emulator: Some(emulator),
    })
}

/// The environment's account, or a fresh emulator on the current runtime (async code).
pub async fn account_async() -> Result<AsyncAccount> {
    if env_given() {
        let credentials = Credentials::from_env()?;
        println!("Using the account at {}", credentials.base_url());
        return Ok(AsyncAccount {
            credentials,
            emulator: None,
        });
    }
    let emulator = Emulator::builder().user(USER).start().await?;
    let credentials = emulator
        .credentials(USER)
        .ok_or("the emulator has no alice")?;
    println!(
        "Started a local CARTO emulator at {}",
        credentials.base_url()
    );
    Ok(AsyncAccount {
        credentials,
        emulator: Some(emulator),
    })
}

/// A CARTO 3 account to talk to: the environment's, or an emulator's.
pub struct Carto3Account {
    /// Its credentials (a token, or M2M client credentials).
    pub credentials: carto::carto3::ApiCredentials,
    /// The connection the examples query.
    pub connection: String,
    /// The emulator, kept running as long as the account is used.
    pub emulator: Option<BlockingEmulator>,
}

/// The environment's CARTO 3 account (`CARTO_API_BASE_URL` with `CARTO_API_TOKEN` or
/// `CARTO_M2M_CLIENT_ID` and `CARTO_M2M_CLIENT_SECRET`; the connection in
/// `CARTO_CONNECTION`, `carto_dw` by default), or a fresh emulator's (sync code; an async
/// example may call it before it starts its runtime).
pub fn carto3_account() -> Result<Carto3Account> {
    if std::env::var_os("CARTO_API_BASE_URL").is_some() {
        let credentials = carto::carto3::ApiCredentials::from_env()?;
        println!(
            "Using the CARTO 3 account at {}",
            credentials.base_url().as_str()
        );
        let connection =
            std::env::var("CARTO_CONNECTION").unwrap_or_else(|_| "carto_dw".to_owned());
        return Ok(Carto3Account {
            credentials,
            connection,
            emulator: None,
        });
    }
    let emulator = Emulator::builder().user(USER).start_blocking()?;
    let account = emulator
        .user(USER)
        .ok_or("the emulator has no alice")?
        .carto3()
        .clone();
    println!(
        "Started a local CARTO emulator at {}",
        account.api_base_url()
    );
    Ok(Carto3Account {
        credentials: account.credentials()?,
        connection: account.connection().to_owned(),
        emulator: Some(emulator),
    })
}

/// Creates the demo `tornadoes` table: 300 tornadoes over the last six years.
pub const CREATE_TORNADOES: &str = "CREATE TABLE IF NOT EXISTS tornadoes (
    cartodb_id serial PRIMARY KEY,
    yr int NOT NULL,
    state text NOT NULL,
    magnitude int NOT NULL
)";

/// Fills `tornadoes` when it is empty.
pub const FILL_TORNADOES: &str = "INSERT INTO tornadoes (yr, state, magnitude)
    SELECT extract(year FROM now())::int - (i % 6),
           (ARRAY['TX', 'OK', 'KS', 'NE', 'IA'])[1 + i % 5],
           i % 5
    FROM generate_series(1, 300) i
    WHERE NOT EXISTS (SELECT 1 FROM tornadoes)";

/// A name unique to this run, so examples can run again against a real account.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix} {nanos:08x}")
}
