//! The command line of `carto carto3 ...`, as clap derive types.

use std::path::PathBuf;

use clap::{Args, Subcommand};

/// The help after `carto carto3 --help`: where the credentials come from.
pub const CARTO3_HELP: &str = "\
CARTO 3 credentials, first match wins: --credentials FILE (or CARTO_CREDENTIALS), a
carto-auth carto_credentials.json such as the emulator's USER.carto3.json; else --profile
NAME (or CARTO_PROFILE), a CARTO 3 profile saved with `carto carto3 creds save --profile
NAME`; else --api-token (CARTO_API_TOKEN), or --client-id (CARTO_M2M_CLIENT_ID) with
CARTO_M2M_CLIENT_SECRET, with --api-base-url (CARTO_API_BASE_URL, default
https://gcp-us-east1.api.carto.com) and --auth-url (CARTO_AUTH_URL, default
https://auth.carto.com; M2M tokens come from AUTH_URL/oauth/token). --api-base-url and
--auth-url typed on the command line override a file's. --connection (CARTO_CONNECTION)
names the connection SQL runs on; it defaults to the file's `connection` member.
Prefer the variables or a saved profile to --api-token and --client-secret: a command
line is visible to other users (ps) and kept in shell history. No command prints a token
or a secret unless asked with --show-token.";

/// `carto carto3`: the CARTO 3 platform.
#[derive(Args)]
#[command(after_help = CARTO3_HELP)]
pub struct Carto3Args {
    /// CARTO 3 credentials.
    #[command(flatten)]
    pub conn: Carto3ConnArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Carto3Command,
}

/// Who to talk to on CARTO 3 and with which token (see "CARTO 3 credentials" below).
#[derive(Args, Clone, Default)]
#[command(next_help_heading = "CARTO 3 connection")]
pub struct Carto3ConnArgs {
    /// A carto-auth `carto_credentials.json` (`api_base_url`, `client_id`,
    /// `client_secret`, optional `auth_url` and `connection`), or a file `carto carto3
    /// creds save` wrote.
    #[arg(long, global = true, env = "CARTO_CREDENTIALS", value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// The API base URL: https://REGION.api.carto.com, or a tenant's https://HOST/api.
    #[arg(long, global = true, env = "CARTO_API_BASE_URL", value_name = "URL")]
    pub api_base_url: Option<String>,
    /// The OAuth server of M2M tokens (default https://auth.carto.com).
    #[arg(long, global = true, env = "CARTO_AUTH_URL", value_name = "URL")]
    pub auth_url: Option<String>,
    /// An API access token or OAuth token. Prefer the CARTO_API_TOKEN variable: a
    /// command line is visible to other users of the machine (ps).
    #[arg(
        long,
        global = true,
        env = "CARTO_API_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub api_token: Option<String>,
    /// An M2M OAuth client id (its secret in CARTO_M2M_CLIENT_SECRET).
    #[arg(long, global = true, env = "CARTO_M2M_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// The M2M client secret. Prefer the CARTO_M2M_CLIENT_SECRET variable: a command
    /// line is visible to other users of the machine (ps).
    #[arg(
        long,
        global = true,
        env = "CARTO_M2M_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<String>,
    /// The connection SQL runs on (default: the credentials file's `connection`).
    #[arg(long, global = true, env = "CARTO_CONNECTION", value_name = "NAME")]
    pub connection: Option<String>,
}

/// `carto carto3 ...`.
#[derive(Subcommand)]
pub enum Carto3Command {
    /// The SQL API v3: queries and jobs on a connection.
    Sql {
        /// The sql command.
        #[command(subcommand)]
        command: Sql3Command,
    },
    /// The Tokens API: API access tokens (needs an OAuth token: M2M credentials).
    Tokens {
        /// The tokens command.
        #[command(subcommand)]
        command: TokensCommand,
    },
    /// Save or show CARTO 3 credentials.
    Creds {
        /// The creds command.
        #[command(subcommand)]
        command: Creds3Command,
    },
}

/// `carto carto3 sql ...`.
#[derive(Subcommand)]
pub enum Sql3Command {
    /// Run a synchronous query (at most one minute and 200,000 rows: use a job above).
    Query(QueryArgs),
    /// Jobs: queries that run in the background with no time or row limit.
    Job {
        /// The job command.
        #[command(subcommand)]
        command: JobCommand,
    },
}

/// `carto carto3 sql query`.
#[derive(Args)]
pub struct QueryArgs {
    /// The SQL; `-` reads it from stdin.
    #[arg(conflicts_with = "file")]
    pub query: Option<String>,
    /// Read the SQL from this file.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The query's parameters as JSON: an array for `$1`/`:1`, an object for `@name`.
    #[arg(long, value_name = "JSON")]
    pub params: Option<String>,
    /// Send the query as a POST (never cached by CARTO); by default a GET while the
    /// URL fits in 7,000 characters.
    #[arg(long)]
    pub post: bool,
    /// The query changes nothing: a POST may be sent again after a failure.
    #[arg(long)]
    pub read_only: bool,
    /// Print `{"rows", "schema", "meta"}` as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `carto carto3 sql job ...`.
#[derive(Subcommand)]
pub enum JobCommand {
    /// Start a job running QUERY; prints its id (or waits with --wait).
    Create {
        /// The SQL.
        query: String,
        /// The query's parameters as JSON: an array for `$1`/`:1`, an object for `@name`.
        #[arg(long, value_name = "JSON")]
        params: Option<String>,
        /// Waiting and output.
        #[command(flatten)]
        wait: JobWaitArgs,
    },
    /// Show a job.
    Get {
        /// The job id.
        id: String,
        /// Waiting and output.
        #[command(flatten)]
        wait: JobWaitArgs,
    },
    /// Wait for a job to finish (a spinner on a terminal).
    Wait {
        /// The job id.
        id: String,
        /// Give up after SECS seconds (the job keeps running).
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
        /// Print the job as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a job.
    Cancel {
        /// The job id.
        id: String,
        /// Print the job as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the account's jobs.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Waiting for a SQL API v3 job, and how to print it.
#[derive(Args, Clone, Copy)]
pub struct JobWaitArgs {
    /// Wait for the job to finish (a spinner on a terminal).
    #[arg(long)]
    pub wait: bool,
    /// With --wait, give up after SECS seconds (the job keeps running).
    #[arg(long, value_name = "SECS", requires = "wait")]
    pub timeout: Option<u64>,
    /// Print the job as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The token a `tokens get|update|delete` acts on.
#[derive(Args, Clone)]
pub struct TokenArg {
    /// The token; `-` or nothing reads it from stdin (better: a command line is visible
    /// to other users of the machine).
    #[arg(value_name = "TOKEN")]
    pub token: Option<String>,
}

/// `carto carto3 tokens ...`.
#[derive(Subcommand)]
pub enum TokensCommand {
    /// Create an API access token.
    Create {
        /// A grant: CONNECTION:SOURCE, where SOURCE is a qualified table name, a
        /// wildcard (`project.dataset.*`) or a SQL query (repeatable).
        #[arg(long = "grant", value_name = "CONNECTION:SOURCE", required = true, value_parser = parse_grant)]
        grants: Vec<(String, String)>,
        /// Allow requests from this referer only (repeatable; none: any).
        #[arg(long = "referer", value_name = "URL")]
        referers: Vec<String>,
        /// An API the token may be used with (repeatable or comma-separated; `imports`
        /// only alone).
        #[arg(long = "api", value_name = "API", value_delimiter = ',', required = true,
              value_parser = ["sql", "maps", "imports", "lds"])]
        apis: Vec<String>,
        /// When the token stops working: YYYY-MM-DD (midnight UTC) or an RFC 3339 time.
        #[arg(long, value_name = "DATE", value_parser = parse_date)]
        expires: Option<chrono::DateTime<chrono::Utc>>,
        /// Print the new token (on stdout, alone; the summary goes to stderr).
        #[arg(long)]
        show_token: bool,
        /// Print the token as JSON (the token masked unless --show-token).
        #[arg(long)]
        json: bool,
    },
    /// List the tokens (masked unless --show-tokens).
    List {
        /// Print JSON (tokens masked unless --show-tokens).
        #[arg(long)]
        json: bool,
        /// Print the tokens themselves (secrets: anyone holding one can use it).
        #[arg(long)]
        show_tokens: bool,
    },
    /// Show a token (masked).
    Get {
        /// The token.
        #[command(flatten)]
        token: TokenArg,
        /// Print JSON (token masked).
        #[arg(long)]
        json: bool,
    },
    /// Replace a token's grants, referers or APIs.
    Update {
        /// The token.
        #[command(flatten)]
        token: TokenArg,
        /// The new grants, CONNECTION:SOURCE (repeatable).
        #[arg(long = "grant", value_name = "CONNECTION:SOURCE", value_parser = parse_grant)]
        grants: Vec<(String, String)>,
        /// The new referers (repeatable).
        #[arg(long = "referer", value_name = "URL", conflicts_with = "no_referers")]
        referers: Vec<String>,
        /// Allow every referer.
        #[arg(long)]
        no_referers: bool,
        /// The new APIs (repeatable or comma-separated).
        #[arg(long = "api", value_name = "API", value_delimiter = ',',
              value_parser = ["sql", "maps", "imports", "lds"])]
        apis: Vec<String>,
        /// Print JSON (token masked).
        #[arg(long)]
        json: bool,
    },
    /// Delete a token: it stops working at once.
    Delete {
        /// The token.
        #[command(flatten)]
        token: TokenArg,
    },
}

/// `carto carto3 creds ...`.
#[derive(Subcommand)]
pub enum Creds3Command {
    /// Save the credentials given by the flags or CARTO_* variables (and --connection)
    /// as the profile --profile NAME, or as FILE (readable by its owner only).
    Save {
        /// Write this file instead (whatever --profile says).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Show the credentials in use and where they come from (secrets masked).
    Show,
}

/// `CONNECTION:SOURCE`: the connection is what comes before the first `:`.
fn parse_grant(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((c, s)) if !c.trim().is_empty() && !s.trim().is_empty() => {
            Ok((c.trim().to_owned(), s.trim().to_owned()))
        }
        _ => Err("expected CONNECTION:SOURCE, such as carto_dw:project.dataset.table".into()),
    }
}

/// `YYYY-MM-DD` (midnight UTC) or an RFC 3339 date-time.
fn parse_date(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let text = text.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| "expected YYYY-MM-DD or an RFC 3339 time (2027-01-31T12:00:00Z)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<Carto3Args, String> {
        let mut argv = vec!["carto", "carto3"];
        argv.extend_from_slice(args);
        match Cli::try_parse_from(argv)
            .map_err(|e| e.to_string())?
            .command
        {
            Command::Carto3(args) => Ok(args),
            _ => Err("not carto3".into()),
        }
    }

    #[test]
    fn commands_parse() {
        let a = parse(&[
            "--connection",
            "c",
            "sql",
            "query",
            "SELECT 1",
            "--json",
            "--post",
        ])
        .unwrap();
        assert_eq!(a.conn.connection.as_deref(), Some("c"));
        let Carto3Command::Sql {
            command: Sql3Command::Query(q),
        } = a.command
        else {
            panic!("sql query")
        };
        assert!(q.json && q.post && !q.read_only);
        assert_eq!(q.query.as_deref(), Some("SELECT 1"));
        // Connection flags are global below `carto3`.
        let a = parse(&[
            "sql",
            "job",
            "wait",
            "j1",
            "--timeout",
            "5",
            "--connection",
            "d",
        ])
        .unwrap();
        assert_eq!(a.conn.connection.as_deref(), Some("d"));
        let Carto3Command::Sql {
            command:
                Sql3Command::Job {
                    command: JobCommand::Wait { id, timeout, json },
                },
        } = a.command
        else {
            panic!("job wait")
        };
        assert_eq!((id.as_str(), timeout, json), ("j1", Some(5), false));
        let a = parse(&[
            "tokens",
            "create",
            "--grant",
            "c:p.d.t",
            "--grant",
            "c:p.d.*",
            "--api",
            "sql,maps",
            "--referer",
            "https://a",
            "--expires",
            "2027-01-31",
        ])
        .unwrap();
        let Carto3Command::Tokens {
            command:
                TokensCommand::Create {
                    grants,
                    apis,
                    referers,
                    expires,
                    ..
                },
        } = a.command
        else {
            panic!("tokens create")
        };
        assert_eq!(grants.len(), 2);
        assert_eq!(apis, ["sql", "maps"]);
        assert_eq!(referers, ["https://a"]);
        assert!(expires.is_some());
        let a = parse(&["tokens", "delete"]).unwrap();
        assert!(matches!(
            a.command,
            Carto3Command::Tokens {
                command: TokensCommand::Delete {
                    token: TokenArg { token: None }
                }
            }
        ));
    }

    #[test]
    fn bad_command_lines_are_refused() {
        for bad in [
            &["sql", "query", "q", "--file", "f"][..],
            &["sql", "job", "create"],
            &["sql", "job", "get", "j", "--timeout", "1"],
            &["tokens", "create", "--api", "sql"],
            &["tokens", "create", "--grant", "c:a.b"],
            &["tokens", "create", "--grant", "c:a.b", "--api", "teleport"],
            &["tokens", "update", "t", "--referer", "r", "--no-referers"],
            &["creds", "save", "--json"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn grants_and_dates_parse() {
        assert_eq!(
            parse_grant("carto_dw:SELECT a:b FROM t").unwrap(),
            ("carto_dw".to_owned(), "SELECT a:b FROM t".to_owned())
        );
        for bad in ["carto_dw", ":t", "c:", ""] {
            assert!(parse_grant(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_date("2027-01-31").unwrap().to_rfc3339(),
            "2027-01-31T00:00:00+00:00"
        );
        assert_eq!(
            parse_date("2027-01-31T12:00:00+02:00")
                .unwrap()
                .to_rfc3339(),
            "2027-01-31T10:00:00+00:00"
        );
        for bad in ["tomorrow", "2027-02-30", "31/01/2027"] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }
}
