//! The command line, as clap derive types.

use std::path::PathBuf;

use carto::models::{Service, TableGrant};
use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::exit::EXIT_CODES_HELP;
use crate::grants::{parse_schema_grant, parse_table_grant, service_parser};

/// carto: CARTO's Auth API (API keys), SQL, Batch and COPY APIs, and CARTO 3's SQL and
/// Tokens APIs, from the command line.
#[derive(Parser)]
#[command(name = "carto", version, after_help = EXIT_CODES_HELP, max_term_width = 100)]
pub struct Cli {
    /// Connection settings.
    #[command(flatten)]
    pub conn: ConnArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Who to talk to and with which key (see "Credentials" below).
#[derive(Args, Clone, Default)]
#[command(next_help_heading = "Connection")]
pub struct ConnArgs {
    /// Use the credentials saved as NAME (`carto creds save --profile NAME`).
    #[arg(long, global = true, env = "CARTO_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// The account's base URL: https://USER.carto.com, https://ORG.carto.com/u/USER, or
    /// an on-premise URL.
    #[arg(long, global = true, env = "CARTO_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// A CARTO cloud username (base URL https://USER.carto.com), when no base URL is set.
    #[arg(long, global = true, env = "CARTO_USERNAME", value_name = "USER")]
    pub username: Option<String>,
    /// The API key. Prefer the CARTO_API_KEY variable or a saved profile: a command line
    /// is visible to other users of the machine (ps) and kept in shell history.
    #[arg(
        long,
        global = true,
        env = "CARTO_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub api_key: Option<String>,
    /// Allow a plain-http base URL (a local emulator).
    #[arg(
        long,
        global = true,
        env = "CARTO_ALLOW_NON_SECURE",
        action = ArgAction::SetTrue,
        value_parser = BoolishValueParser::new()
    )]
    pub allow_http: bool,
    /// Also trust this PEM certificate (an on-premise install with its own CA).
    #[arg(long, global = true, env = "CARTO_CA_CERT", value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,
    /// Limit of a whole request, in seconds (streamed SQL and COPY are limited per read).
    #[arg(long, global = true, value_name = "SECS")]
    pub request_timeout: Option<u64>,
    /// How many times a request may be sent again: after CARTO's rate limit (429 with
    /// Retry-After) for any request, after a 5xx or a failed connection only for requests
    /// that cannot act twice. 0 turns retries off.
    #[arg(
        long,
        global = true,
        env = "CARTO_RETRIES",
        value_name = "N",
        default_value_t = 3
    )]
    pub retries: u32,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Create, list, show, regenerate and delete API keys (Auth API; master key).
    Keys {
        /// The keys command.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Run SQL: an aligned table, JSON, CSV, GeoJSON and the SQL API's other formats.
    Sql(SqlArgs),
    /// Bulk loads and exports with the COPY API.
    Copy {
        /// The COPY command.
        #[command(subcommand)]
        command: CopyCommand,
    },
    /// Run SQL in the background with the Batch API (master key).
    Batch {
        /// The batch command.
        #[command(subcommand)]
        command: BatchCommand,
    },
    /// CARTO 3: SQL API v3 queries and jobs, API access tokens, CARTO 3 credentials.
    Carto3(crate::carto3::cli::Carto3Args),
    /// The user the API key belongs to (`/api/v3/me`).
    Me {
        /// Print JSON (secret members left out).
        #[arg(long)]
        json: bool,
    },
    /// Save or show credentials (cartoframes `creds.json` files).
    Creds {
        /// The creds command.
        #[command(subcommand)]
        command: CredsCommand,
    },
    /// Print a shell completion script: `carto completions bash > ~/.local/share/bash-completion/completions/carto`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Start a local CARTO server (carto-emulator) on a private PostgreSQL.
    #[cfg(feature = "emulator")]
    Emulator(carto_emulator::cli::EmulatorArgs),
}

/// `carto keys ...`.
#[derive(Subcommand)]
pub enum KeysCommand {
    /// Create a regular key with the grants given (SQL and Maps APIs unless told otherwise).
    Create {
        /// The key's name.
        name: String,
        /// Print the new key's token (on stdout, alone; the summary goes to stderr).
        #[arg(long)]
        show_token: bool,
        /// Print the key as JSON (its token masked unless --show-token).
        #[arg(long)]
        json: bool,
        /// The grants (last: their help heading applies to what follows).
        #[command(flatten)]
        grants: GrantArgs,
    },
    /// List keys (tokens masked).
    List {
        /// Only keys of this type (repeatable; default: all).
        #[arg(long = "type", value_enum, value_name = "TYPE")]
        types: Vec<KeyType>,
        /// Print JSON (tokens masked).
        #[arg(long)]
        json: bool,
    },
    /// Show one key and its grants (token masked).
    Show {
        /// The key's name.
        name: String,
        /// Print JSON (token masked).
        #[arg(long)]
        json: bool,
    },
    /// Give a key a new token; the old one stops working at once.
    Regenerate {
        /// The key's name.
        name: String,
        /// Print the new token (on stdout, alone).
        #[arg(long)]
        show_token: bool,
    },
    /// Delete a key.
    Delete {
        /// The key's name.
        name: String,
    },
}

/// A key type, for `keys list --type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyType {
    /// Keys created with grants.
    Regular,
    /// The master key.
    Master,
    /// The Default public key.
    Default,
}

/// The grants of `keys create`, one flag per grant `NewApiKey::builder` supports.
#[derive(Args, Clone, Default)]
#[command(next_help_heading = "Grants")]
pub struct GrantArgs {
    /// Grant the SQL API (with Batch and COPY). Without --sql, --maps or --do: SQL and Maps.
    #[arg(long)]
    pub sql: bool,
    /// Grant the Maps API.
    #[arg(long)]
    pub maps: bool,
    /// Grant the Data Observatory API.
    #[arg(long = "do")]
    pub data_observatory: bool,
    /// Grant no API at all.
    #[arg(long, conflicts_with_all = ["sql", "maps", "data_observatory"])]
    pub no_apis: bool,
    /// Grant permissions on a table: select, insert, update, delete (repeatable).
    #[arg(long = "table", value_name = "SCHEMA.TABLE:PERMS", value_parser = parse_table_grant)]
    pub tables: Vec<TableGrant>,
    /// Grant CREATE on a schema (repeatable).
    #[arg(long = "schema", value_name = "SCHEMA:create", value_parser = parse_schema_grant)]
    pub schemas: Vec<String>,
    /// Grant a data service (repeatable, or comma-separated).
    #[arg(long = "service", value_name = "SERVICE", value_delimiter = ',', value_parser = service_parser())]
    pub services: Vec<Service>,
    /// Grant reading the user profile.
    #[arg(long)]
    pub user_profile: bool,
    /// Grant the table metadata.
    #[arg(long)]
    pub table_metadata: bool,
    /// Grant a Data Observatory dataset (repeatable).
    #[arg(long = "dataset", value_name = "ID")]
    pub datasets: Vec<String>,
}

/// `carto sql`.
#[derive(Args)]
#[command(
    after_help = "The query comes from QUERY, from --file, or from stdin (QUERY `-`, \
or no QUERY with stdin not a terminal). `table` (the default), `json` and `ndjson` read \
the rows as they arrive (the table holds them all to align them); the other formats \
are CARTO's own output, streamed as is."
)]
pub struct SqlArgs {
    /// The SQL; `-` reads it from stdin.
    #[arg(conflicts_with = "file")]
    pub query: Option<String>,
    /// Read the SQL from this file.
    #[arg(long, short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    /// Write the output to FILE instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Leave these columns out (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
    pub skip_fields: Vec<String>,
    /// Decimal places of coordinates (geojson, topojson, svg).
    #[arg(long, value_name = "N")]
    pub dp: Option<u32>,
    /// The download name CARTO gives the file (`filename`).
    #[arg(long, value_name = "NAME")]
    pub filename: Option<String>,
}

/// An output format of `carto sql`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// An aligned table.
    Table,
    /// The SQL API's JSON document (`rows`, `time`, `fields`, `total_rows`), streamed.
    Json,
    /// One JSON object per row and line.
    Ndjson,
    /// CSV with a header line.
    Csv,
    /// A GeoJSON FeatureCollection (needs a `the_geom` column).
    Geojson,
    /// TopoJSON.
    Topojson,
    /// SVG.
    Svg,
    /// KML.
    Kml,
    /// A zipped shapefile (binary).
    Shp,
    /// A SpatiaLite database (binary).
    Spatialite,
    /// A GeoPackage (binary).
    Gpkg,
    /// Binary arrays.
    Arraybuffer,
}

impl OutputFormat {
    /// CARTO's format, for the formats streamed as CARTO writes them.
    pub fn export(self) -> Option<carto::Format> {
        Some(match self {
            Self::Table | Self::Json | Self::Ndjson => return None,
            Self::Csv => carto::Format::Csv,
            Self::Geojson => carto::Format::GeoJson,
            Self::Topojson => carto::Format::TopoJson,
            Self::Svg => carto::Format::Svg,
            Self::Kml => carto::Format::Kml,
            Self::Shp => carto::Format::Shp,
            Self::Spatialite => carto::Format::Spatialite,
            Self::Gpkg => carto::Format::Gpkg,
            Self::Arraybuffer => carto::Format::ArrayBuffer,
        })
    }

    /// Whether the output is binary (not for a terminal).
    pub fn is_binary(self) -> bool {
        matches!(
            self,
            Self::Shp | Self::Spatialite | Self::Gpkg | Self::Arraybuffer
        )
    }
}

/// `carto copy ...`.
#[derive(Subcommand)]
pub enum CopyCommand {
    /// Load FILE (`-`: stdin) into TABLE with `COPY ... FROM STDIN`.
    From {
        /// The table: TABLE or SCHEMA.TABLE, taken literally (case-sensitive).
        table: String,
        /// The data file; `-` reads stdin.
        file: PathBuf,
        /// The columns the data holds, in order (comma-separated).
        #[arg(long, value_delimiter = ',', value_name = "COLUMNS")]
        columns: Vec<String>,
        /// Compress the upload with gzip as it is sent (LEVEL 0-9, default 1).
        #[arg(long, value_name = "LEVEL", num_args = 0..=1, default_missing_value = "1",
              value_parser = clap::value_parser!(u32).range(0..=9))]
        gzip: Option<u32>,
        /// The data format.
        #[command(flatten)]
        format: CopyFormatArgs,
    },
    /// Export the result of QUERY (a SELECT, or a whole `COPY ... TO STDOUT`) into FILE
    /// (`-`: stdout).
    To {
        /// A SELECT (wrapped in `COPY (...) TO STDOUT`), or a `COPY ... TO STDOUT` statement.
        query: String,
        /// The output file; `-` writes stdout.
        file: PathBuf,
        /// The data format (for a SELECT).
        #[command(flatten)]
        format: CopyFormatArgs,
    },
}

/// The data format of a COPY the CLI writes.
#[derive(Args, Clone)]
pub struct CopyFormatArgs {
    /// PostgreSQL COPY format.
    #[arg(long, value_enum, default_value_t = CopyFormat::Csv)]
    pub format: CopyFormat,
    /// CSV without a header line.
    #[arg(long)]
    pub no_header: bool,
    /// The field delimiter (default: `,` for csv, tab for text).
    #[arg(long, value_name = "CHAR")]
    pub delimiter: Option<char>,
}

/// A COPY format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CopyFormat {
    /// CSV.
    Csv,
    /// PostgreSQL's text format (tab-separated, `\N` for NULL).
    Text,
    /// PostgreSQL's binary format.
    Binary,
}

/// `carto batch ...`.
#[derive(Subcommand)]
pub enum BatchCommand {
    /// Create a job running the queries one after the other; prints its id.
    Run {
        /// The queries, run in order (a failure skips the rest).
        #[arg(required = true, value_name = "QUERY")]
        queries: Vec<String>,
        /// Waiting and output.
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Show a job.
    Status {
        /// The job id.
        id: String,
        /// Waiting and output.
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Cancel a job (a running query is stopped).
    Cancel {
        /// The job id.
        id: String,
        /// Print the job as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Waiting for a batch job, and how to print it.
#[derive(Args, Clone, Copy)]
pub struct WaitArgs {
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

/// `carto creds ...`.
#[derive(Subcommand)]
pub enum CredsCommand {
    /// Save the credentials given by --base-url/--username/--api-key or CARTO_* as the
    /// profile --profile NAME, or as FILE, or as cartoframes' default creds.json.
    Save {
        /// Write this file instead (whatever --profile says).
        #[arg(long, value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Show the credentials in use and where they come from (token masked).
    Show,
    /// List the saved profiles.
    Profiles,
}
