//! The `carto-emulator` binary: a local CARTO server on a real PostgreSQL.
//!
//! `carto-emulator --user alice --org acme:bob,carol --write-creds ./creds` prints each
//! user's base URLs and master key, writes `./creds/<user>.json` (cartoframes format)
//! and serves until Ctrl-C. The flags and the loop are [`carto_emulator::cli`], shared
//! with `carto emulator`.

use clap::Parser;

/// A local CARTO server (Auth API v3, SQL API v2, /api/v3/me, DO token) on a real
/// PostgreSQL, for tests and development.
#[derive(Debug, Parser)]
#[command(name = "carto-emulator", version)]
struct Cli {
    #[command(flatten)]
    args: carto_emulator::cli::EmulatorArgs,
}

fn main() -> std::process::ExitCode {
    carto_emulator::cli::init_logging();
    match carto_emulator::cli::run(Cli::parse().args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carto-emulator: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
