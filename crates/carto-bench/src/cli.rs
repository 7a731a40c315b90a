//! The command line: the comparisons to run and the hidden child commands.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "carto-rs benchmarks: SDK vs Python SDK, bare HTTP clients, pgbench, curl")]
pub struct Args {
    /// Runs of each measurement (the median is shown).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Rows of the large result.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: u64,
    /// Sequential `SELECT 1` requests per run of the per-request comparison.
    #[arg(long, default_value_t = 2000)]
    pub requests: usize,
    /// Seconds of each wrk / pgbench run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Virtual environment for the Python SDK (created and filled with `pip` when missing).
    #[arg(long, default_value = "target/carto-bench-venv")]
    pub venv: PathBuf,
    /// Skip the Python SDK.
    #[arg(long)]
    pub no_python: bool,
    /// Run only these comparisons (repeatable; all when not given).
    #[arg(long, value_enum)]
    pub only: Vec<Section>,
    #[command(subcommand)]
    pub child: Option<ChildCmd>,
}

/// The four comparisons, for `--only`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Section {
    /// 1. the typed decode of the large result.
    Decode,
    /// 2. sequential `SELECT 1` requests against the bare HTTP clients.
    Requests,
    /// 3. the emulator against pgbench and psql.
    Emulator,
    /// 4. COPY against curl.
    Copy,
    /// 5. the emulator as a test fixture: fresh accounts, cold starts, parallel tests.
    Accounts,
}

/// What the child processes of the bench do.
#[derive(Subcommand)]
pub enum ChildCmd {
    /// Starts an emulator, prints its [`Served`](carto_test_support::emulator::served::Served) line, serves until stdin closes.
    #[command(hide = true)]
    Serve,
    /// Decodes `sql` with the SDK (`buffered` or `streaming` rows, `arrow-json` or
    /// `arrow-copy` record batches), or measures a floor of that
    /// decode (`read`: the body received by a bare ureq agent and dropped; `parse`: only
    /// serde_json decoding the body, already in memory), and prints a [`Measured`](crate::decode::Measured) line.
    #[command(hide = true)]
    Decode {
        mode: String,
        url: String,
        token: String,
        sql: String,
    },
    /// Serves a fixed answer ([`FixedAnswer`](crate::emulator::FixedAnswer), as JSON) to every request with a bare axum
    /// server, prints its address, serves until stdin closes: the HTTP ceiling of the
    /// emulator's SQL API.
    #[command(hide = true)]
    ServeFixed { answer: String },
}
