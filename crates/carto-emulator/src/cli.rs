//! The command line of the emulator, shared by the `carto-emulator` binary and the
//! `carto emulator` subcommand of the `carto` tool: [`EmulatorArgs`] (the flags, a
//! `clap::Args` to flatten into any command) and [`run`] (start, print the users, serve
//! until Ctrl-C or SIGTERM).
//!
//! ```no_run
//! use clap::Parser;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     emulator: carto_emulator::cli::EmulatorArgs,
//! }
//!
//! # fn main() -> Result<(), carto_emulator::EmulatorError> {
//! carto_emulator::cli::run(Cli::parse().emulator)
//! # }
//! ```

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::tls::TlsMode;
use crate::{ApiKeyType, Emulator, EmulatorBuilder, EmulatorError};

/// The flags of the emulator: users and organizations, address, PostgreSQL, TLS,
/// statement timeouts and session limits.
#[derive(Debug, Clone, clap::Args)]
pub struct EmulatorArgs {
    /// An individual user (repeatable).
    #[arg(long = "user", value_name = "NAME")]
    pub users: Vec<String>,
    /// An organization and its users, `ORG:USER,USER` (repeatable).
    #[arg(long = "org", value_name = "ORG:USERS")]
    pub orgs: Vec<String>,
    /// Port to listen on (0: a free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// Keep the PostgreSQL cluster in DIR (reused on restart).
    #[arg(long, value_name = "DIR", conflicts_with = "database_url")]
    pub data_dir: Option<PathBuf>,
    /// Use an existing PostgreSQL server (a superuser URL) instead of a private cluster.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// Write a cartoframes-style `DIR/<user>.json` credentials file per user, and CARTO 3's
    /// `DIR/<user>.carto3.json` (`api_base_url`, `auth_url`, `client_id`, `client_secret`,
    /// `connection`).
    #[arg(long, value_name = "DIR")]
    pub write_creds: Option<PathBuf>,
    /// Serve HTTPS with a generated certificate authority (see --write-ca).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With HTTPS, write the certificate clients should trust to FILE.
    #[arg(long, value_name = "FILE")]
    pub write_ca: Option<PathBuf>,
    /// Statement timeout of the master key, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub master_timeout_ms: Option<u64>,
    /// Statement timeout of the Default public key (and requests without a key), in
    /// milliseconds [default: 15000; 0: none].
    #[arg(long, value_name = "MS")]
    pub public_timeout_ms: Option<u64>,
    /// Statement timeout of regular keys, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub regular_timeout_ms: Option<u64>,
    /// Most PostgreSQL sessions per role (API key), in use or idle [default: 16].
    #[arg(long, value_name = "N")]
    pub max_sessions_per_role: Option<usize>,
    /// Most PostgreSQL sessions per user (database), in use or idle [default: 32].
    #[arg(long, value_name = "N")]
    pub max_sessions_per_user: Option<usize>,
    /// How long a request waits for a PostgreSQL session before a 429, in milliseconds
    /// [default: 2000].
    #[arg(long, value_name = "MS")]
    pub session_queue_timeout_ms: Option<u64>,
    /// Plays a failure on matching requests, for tests of clients (repeatable):
    /// `[METHOD ]PATH=FAULT[*N]` with FAULT one of `rate-limit:SECS` (429 with
    /// Retry-After), `statement-timeout`, `status:CODE`, `drop` (close without answering),
    /// `drop-after` (run the request, then close), `delay:MS`; PATH is the API path after
    /// the user, e.g. `POST /api/v3/api_keys=drop-after` or `/api/v2/sql=rate-limit:1*3`.
    #[arg(long = "fault", value_name = "RULE")]
    pub faults: Vec<crate::FaultRule>,
    /// Refuses CREATE FUNCTION/PROCEDURE/AGGREGATE/OPERATOR/TRIGGER/RULE to every key but
    /// the master, so no key plants code that runs when the master uses its objects (CARTO
    /// allows them; off by default).
    #[arg(long)]
    pub refuse_key_code: bool,
    /// Lifetime of CARTO 3's OAuth access tokens (`POST /oauth/token`), in seconds
    /// [default: 86400].
    #[arg(long, value_name = "SECS")]
    pub oauth_token_lifetime: Option<u64>,
    /// Most CARTO 3 API access tokens per account [default: 1000].
    #[arg(long, value_name = "N")]
    pub max_api_tokens: Option<usize>,
}

impl EmulatorArgs {
    /// The builder these flags describe; fails on a malformed `--org` or when no user
    /// is given (and no `--data-dir` could hold some).
    pub fn builder(&self) -> Result<EmulatorBuilder, EmulatorError> {
        let mut b = Emulator::builder().bind(self.bind).port(self.port);
        for u in &self.users {
            b = b.user(u.clone());
        }
        for spec in &self.orgs {
            let (org, users) = spec.split_once(':').ok_or_else(|| {
                EmulatorError::Config(format!("--org `{spec}`: expected ORG:USER,USER"))
            })?;
            let users: Vec<String> = users
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect();
            if users.is_empty() {
                return Err(EmulatorError::Config(format!("--org `{spec}`: no users")));
            }
            b = b.org(org, users);
        }
        if self.users.is_empty() && self.orgs.is_empty() && self.data_dir.is_none() {
            return Err(EmulatorError::Config(
                "give at least one --user or --org (or a --data-dir with users)".into(),
            ));
        }
        if let Some(d) = &self.data_dir {
            b = b.data_dir(d.clone());
        }
        if let Some(u) = &self.database_url {
            b = b.database_url(u.clone());
        }
        if self.tls {
            b = b.tls(TlsMode::SelfSigned);
        } else if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            b = b.tls(TlsMode::Files {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        for (kind, ms) in [
            (ApiKeyType::Master, self.master_timeout_ms),
            (ApiKeyType::Default, self.public_timeout_ms),
            (ApiKeyType::Regular, self.regular_timeout_ms),
        ] {
            if let Some(ms) = ms {
                b = b.statement_timeout(kind, Some(Duration::from_millis(ms)));
            }
        }
        if let Some(n) = self.max_sessions_per_role {
            b = b.max_sessions_per_role(n);
        }
        if let Some(n) = self.max_sessions_per_user {
            b = b.max_sessions_per_user(n);
        }
        if let Some(ms) = self.session_queue_timeout_ms {
            b = b.session_queue_timeout(Duration::from_millis(ms));
        }
        for rule in &self.faults {
            b = b.fault(rule.clone());
        }
        b = b.refuse_key_code(self.refuse_key_code);
        if let Some(secs) = self.oauth_token_lifetime {
            b = b.oauth_token_lifetime(Duration::from_secs(secs));
        }
        if let Some(n) = self.max_api_tokens {
            b = b.max_api_tokens(n);
        }
        Ok(b)
    }
}

/// Logs to stderr at the level of `CARTO_EMULATOR_LOG` (an `EnvFilter`, default `warn`).
/// Does nothing when the process already has a global subscriber.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CARTO_EMULATOR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Starts the emulator `args` describe on a tokio runtime of its own, prints each
/// user's base URLs and master key on stdout (the local test keys are this command's
/// output), writes the files asked for (`--write-ca`, `--write-creds`), then serves
/// until Ctrl-C or SIGTERM, when the private cluster is stopped and removed.
pub fn run(args: EmulatorArgs) -> Result<(), EmulatorError> {
    let b = args.builder()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| EmulatorError::Other(format!("cannot start a tokio runtime: {e}")))?;
    runtime.block_on(async move {
        let emulator = b.start().await?;
        println!("carto-emulator listening on {}", emulator.url());
        for user in emulator.users() {
            println!();
            match user.org() {
                Some(org) => println!("user {} (organization {org})", user.username()),
                None => println!("user {}", user.username()),
            }
            println!("  base URL:   {}", user.base_url().as_str());
            println!("  host URL:   {}", user.host_base_url());
            // Printing the master key is this program's purpose: it is a local test key.
            println!("  master key: {}", user.master_key().expose_secret());
        }
        if let (Some(path), Some(pem)) = (&args.write_ca, emulator.ca_pem()) {
            std::fs::write(path, pem).map_err(|e| EmulatorError::io("cannot write", path, e))?;
            println!("wrote {}", path.display());
        }
        if let Some(dir) = &args.write_creds {
            for user in emulator.users() {
                let path = dir.join(format!("{}.json", user.username()));
                let creds = emulator.credentials(user.username()).ok_or_else(|| {
                    EmulatorError::Other(format!("no credentials for {}", user.username()))
                })?;
                creds
                    .save(&path)
                    .map_err(|e| EmulatorError::Other(e.to_string()))?;
                println!("wrote {}", path.display());
                let path = dir.join(format!("{}.carto3.json", user.username()));
                let text = serde_json::to_string_pretty(&user.carto3().to_json())
                    .map_err(|e| EmulatorError::Other(e.to_string()))?;
                // Written aside, then renamed: a reader never sees half a file.
                let partial = path.with_extension("json.partial");
                std::fs::write(&partial, text + "\n")
                    .and_then(|()| std::fs::rename(&partial, &path))
                    .map_err(|e| EmulatorError::io("cannot write", &path, e))?;
                println!("wrote {}", path.display());
            }
        }
        let _ = std::io::stdout().flush();
        // Stop on Ctrl-C or SIGTERM, so the private cluster is stopped and removed.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| EmulatorError::Other(format!("cannot watch SIGTERM: {e}")))?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => {
                r.map_err(|e| EmulatorError::Other(format!("cannot watch Ctrl-C: {e}")))?
            }
            _ = term.recv() => {}
        }
        eprintln!("carto-emulator: stopping");
        drop(emulator);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: EmulatorArgs,
    }

    fn parse(argv: &[&str]) -> EmulatorArgs {
        Cli::try_parse_from(std::iter::once("emu").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn flags_build_or_fail_clearly() {
        let args = parse(&["--user", "alice", "--org", "acme:bob, carol", "--port", "0"]);
        assert_eq!(args.users, ["alice"]);
        assert!(args.builder().is_ok());
        let err = parse(&["--org", "acme"]).builder().unwrap_err().to_string();
        assert!(err.contains("expected ORG:USER,USER"), "{err}");
        let err = parse(&["--org", "acme: ,"])
            .builder()
            .unwrap_err()
            .to_string();
        assert!(err.contains("no users"), "{err}");
        let err = parse(&[]).builder().unwrap_err().to_string();
        assert!(err.contains("at least one --user"), "{err}");
        let args = parse(&[
            "--user",
            "alice",
            "--fault",
            "POST /api/v3/api_keys=drop-after",
            "--fault",
            "/api/v2/sql=rate-limit:1*3",
        ]);
        assert_eq!(args.faults.len(), 2);
        assert!(!args.refuse_key_code);
        assert!(parse(&["--user", "a", "--refuse-key-code"]).refuse_key_code);
        let c3 = parse(&[
            "--user",
            "a",
            "--oauth-token-lifetime",
            "5",
            "--max-api-tokens",
            "3",
        ]);
        assert_eq!(c3.oauth_token_lifetime, Some(5));
        assert_eq!(c3.max_api_tokens, Some(3));
        assert!(c3.builder().is_ok());
        assert_eq!(args.faults[1].remaining(), 3);
        let bad = Cli::try_parse_from(["emu", "--user", "a", "--fault", "/api=explode"]);
        let err = bad.err().expect("a bad rule is refused").to_string();
        assert!(err.contains("unknown fault"), "{err}");
        assert!(
            Cli::try_parse_from(["emu", "--tls", "--tls-cert", "c", "--tls-key", "k"]).is_err()
        );
    }
}
