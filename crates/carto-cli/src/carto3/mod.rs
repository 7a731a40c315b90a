//! `carto carto3`: the CARTO 3 platform (SQL API v3 queries and jobs, the Tokens API,
//! and CARTO 3 credentials), built on `carto::carto3::blocking::Client`.

pub mod cli;
mod config;
mod sql;
mod tokens;

use clap::ArgMatches;

use self::cli::{Carto3Args, Carto3Command, Creds3Command};
use self::config::{Config3, Parts, describe_source, save_path, save_private};
use crate::config::Config;
use crate::exit::{CliError, CliResult};
use crate::output::{fields, mask_text, print_line};

/// Runs a `carto3` command.
pub fn run(args: Carto3Args, config: &Config, matches: &ArgMatches) -> CliResult {
    let config = Config3::new(config, args.conn, matches);
    let result = match args.command {
        Carto3Command::Sql { command } => sql::run(command, &config),
        Carto3Command::Tokens { command } => tokens::run(command, &config),
        Carto3Command::Creds { command } => creds(command, &config),
    };
    if result.is_err() {
        config.mask_fetched_token();
    }
    result
}

/// Runs a `carto3 creds` command.
fn creds(command: Creds3Command, config: &Config3<'_>) -> CliResult {
    match command {
        Creds3Command::Save { file } => {
            let parts = config.argument_parts();
            // Checked as they will be read back.
            let creds = parts.credentials(config.base().allow_http(), "to save")?;
            let path = save_path(file, config.base().profile())?;
            let parts = Parts {
                api_base_url: Some(creds.base_url().as_str().to_owned()),
                ..parts
            };
            save_private(&path, &parts.to_json())?;
            let what = match (&parts.access_token, &parts.client_id) {
                (Some(token), _) => format!("token {}", mask_text(token)),
                (None, Some(id)) => format!("M2M client {id}"),
                (None, None) => unreachable!("credentials() needs a token source"),
            };
            print_line(format!(
                "saved the CARTO 3 credentials of {} ({what}) to {}",
                creds.base_url().as_str(),
                path.display()
            ))
        }
        Creds3Command::Show => {
            let resolved = config.resolve()?;
            let mut lines = vec![(
                "API base URL",
                resolved.credentials.base_url().as_str().to_owned(),
            )];
            lines.extend(describe_source(resolved.credentials.token_source()));
            lines.push((
                "connection",
                resolved.connection.unwrap_or_else(|| "(none)".into()),
            ));
            lines.push(("from", resolved.origin.to_string()));
            print_line(fields(&lines))
        }
    }
}

/// A usage error for JSON text that is not the parameters of a query.
fn parse_params(text: &str) -> CliResult<carto::carto3::QueryParameters> {
    use carto::carto3::QueryParameters;
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Array(values)) => Ok(QueryParameters::Positional(values)),
        Ok(serde_json::Value::Object(map)) => Ok(QueryParameters::Named(map)),
        _ => Err(CliError::Usage(
            "--params takes a JSON array (for $1 or :1) or a JSON object (for @name)".into(),
        )),
    }
}
