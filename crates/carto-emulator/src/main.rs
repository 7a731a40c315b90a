//! The `carto-emulator` binary: a local CARTO server on a real PostgreSQL.
//!
//! `carto-emulator --user alice --org acme:bob,carol --write-creds ./creds` prints each
//! user's base URLs and master key, writes `./creds/<user>.json` (cartoframes format)
//! and serves until Ctrl-C.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use carto_emulator::tls::TlsMode;
use carto_emulator::{ApiKeyType, Emulator};
use clap::Parser;

/// A local CARTO server (Auth API v3, SQL API v2, /api/v3/me, DO token) on a real
/// PostgreSQL, for tests and development.
#[derive(Debug, Parser)]
#[command(name = "carto-emulator", version)]
struct Args {
    /// An individual user (repeatable).
    #[arg(long = "user", value_name = "NAME")]
    users: Vec<String>,
    /// An organization and its users, `ORG:USER,USER` (repeatable).
    #[arg(long = "org", value_name = "ORG:USERS")]
    orgs: Vec<String>,
    /// Port to listen on (0: a free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Keep the PostgreSQL cluster in DIR (reused on restart).
    #[arg(long, value_name = "DIR", conflicts_with = "database_url")]
    data_dir: Option<PathBuf>,
    /// Use an existing PostgreSQL server (a superuser URL) instead of a private cluster.
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// Write a cartoframes-style `DIR/<user>.json` credentials file per user.
    #[arg(long, value_name = "DIR")]
    write_creds: Option<PathBuf>,
    /// Serve HTTPS with a generated certificate authority (see --write-ca).
    #[arg(long, conflicts_with_all = ["tls_cert", "tls_key"])]
    tls: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// With HTTPS, write the certificate clients should trust to FILE.
    #[arg(long, value_name = "FILE")]
    write_ca: Option<PathBuf>,
    /// Statement timeout of the master key, in milliseconds.
    #[arg(long, value_name = "MS")]
    master_timeout_ms: Option<u64>,
    /// Statement timeout of the Default public key, in milliseconds.
    #[arg(long, value_name = "MS")]
    public_timeout_ms: Option<u64>,
    /// Statement timeout of regular keys, in milliseconds.
    #[arg(long, value_name = "MS")]
    regular_timeout_ms: Option<u64>,
    /// Most PostgreSQL sessions per role (API key), in use or idle [default: 16].
    #[arg(long, value_name = "N")]
    max_sessions_per_role: Option<usize>,
    /// Most PostgreSQL sessions per user (database), in use or idle [default: 32].
    #[arg(long, value_name = "N")]
    max_sessions_per_user: Option<usize>,
    /// How long a request waits for a PostgreSQL session before a 429, in milliseconds
    /// [default: 2000].
    #[arg(long, value_name = "MS")]
    session_queue_timeout_ms: Option<u64>,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CARTO_EMULATOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("carto-emulator: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn builder(args: &Args) -> Result<carto_emulator::EmulatorBuilder, String> {
    let mut b = Emulator::builder().bind(args.bind).port(args.port);
    for u in &args.users {
        b = b.user(u.clone());
    }
    for spec in &args.orgs {
        let (org, users) = spec
            .split_once(':')
            .ok_or_else(|| format!("--org `{spec}`: expected ORG:USER,USER"))?;
        let users: Vec<String> = users
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
            .collect();
        if users.is_empty() {
            return Err(format!("--org `{spec}`: no users"));
        }
        b = b.org(org, users);
    }
    if args.users.is_empty() && args.orgs.is_empty() && args.data_dir.is_none() {
        return Err("give at least one --user or --org (or a --data-dir with users)".into());
    }
    if let Some(d) = &args.data_dir {
        b = b.data_dir(d.clone());
    }
    if let Some(u) = &args.database_url {
        b = b.database_url(u.clone());
    }
    if args.tls {
        b = b.tls(TlsMode::SelfSigned);
    } else if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        b = b.tls(TlsMode::Files {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    for (kind, ms) in [
        (ApiKeyType::Master, args.master_timeout_ms),
        (ApiKeyType::Default, args.public_timeout_ms),
        (ApiKeyType::Regular, args.regular_timeout_ms),
    ] {
        if let Some(ms) = ms {
            b = b.statement_timeout(kind, Some(Duration::from_millis(ms)));
        }
    }
    if let Some(n) = args.max_sessions_per_role {
        b = b.max_sessions_per_role(n);
    }
    if let Some(n) = args.max_sessions_per_user {
        b = b.max_sessions_per_user(n);
    }
    if let Some(ms) = args.session_queue_timeout_ms {
        b = b.session_queue_timeout(Duration::from_millis(ms));
    }
    Ok(b)
}

fn run(args: Args) -> Result<(), String> {
    let b = builder(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let emulator = b.start().await.map_err(|e| e.to_string())?;
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
            std::fs::write(path, pem)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            println!("wrote {}", path.display());
        }
        if let Some(dir) = &args.write_creds {
            for user in emulator.users() {
                let creds = emulator
                    .credentials(user.username())
                    .ok_or_else(|| format!("no credentials for {}", user.username()))?;
                let path = dir.join(format!("{}.json", user.username()));
                creds.save(&path).map_err(|e| e.to_string())?;
                println!("wrote {}", path.display());
            }
        }
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        // Stop on Ctrl-C or SIGTERM, so the private cluster is stopped and removed.
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| e.to_string())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(|e| e.to_string())?,
            _ = term.recv() => {}
        }
        eprintln!("carto-emulator: stopping");
        drop(emulator);
        Ok::<(), String>(())
    })
}
