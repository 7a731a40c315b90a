//! `carto`: a command-line tool for CARTO's Auth API (API keys), SQL, Batch and COPY APIs,
//! built on the carto-rs SDK's blocking client, and the local emulator.
//!
//! `carto --help` documents the commands, the credentials and the exit statuses; the
//! crate README has examples.

// The doc comments of `cli` are the help text clap prints: plain URLs read best there.
#![allow(rustdoc::bare_urls)]

mod account;
mod batch;
mod carto3;
mod cli;
mod config;
mod copy;
mod exit;
mod grants;
mod keys;
mod output;
mod sql;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::exit::{CliError, CliResult};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let config = Config::new(cli.conn, &matches);
    match run(cli.command, &config, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(&config.secrets()),
    }
}

fn run(command: Command, config: &Config, matches: &clap::ArgMatches) -> CliResult {
    match command {
        Command::Keys { command } => keys::run(command, config),
        Command::Sql(args) => sql::run(args, config),
        Command::Copy { command } => copy::run(command, config),
        Command::Batch { command } => batch::run(command, config),
        Command::Carto3(args) => carto3::run(args, config, matches),
        Command::Me { json } => account::me(config, json),
        Command::Creds { command } => account::creds(command, config),
        Command::Completions { shell } => {
            let mut out = std::io::stdout().lock();
            clap_complete::generate(shell, &mut Cli::command(), "carto", &mut out);
            std::io::Write::flush(&mut out).map_err(CliError::stdout)
        }
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => {
            carto_emulator::cli::init_logging();
            carto_emulator::cli::run(args).map_err(CliError::Emulator)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_documents_exit_codes_and_the_api_key_warning() {
        let help = Cli::command().render_long_help().to_string();
        assert!(
            help.contains("Exit status:") && help.contains("11  401"),
            "{help}"
        );
        assert!(help.contains("visible to other users"), "{help}");
    }
}
