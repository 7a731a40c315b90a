//! Where the credentials come from: `--profile`, the connection flags and `CARTO_*`
//! variables, or cartoframes' default `creds.json`; and the client built from them.

use std::cell::{OnceCell, RefCell};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use carto::blocking::Client;
use carto::{BaseUrl, ClientOptions, Credentials, RetryPolicy, TransportConfig};
use clap::ArgMatches;
use clap::parser::ValueSource;

use crate::cli::ConnArgs;
use crate::exit::{CliError, CliResult};

/// Overrides the directory of the CLI's configuration (profiles live in its `profiles/`).
pub const ENV_CONFIG_DIR: &str = "CARTO_CONFIG_DIR";

/// Where the credentials in use come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `--profile NAME`: a saved profile file.
    Profile {
        /// The profile's name.
        name: String,
        /// Its file.
        path: PathBuf,
    },
    /// `--base-url`/`--username`/`--api-key` or `CARTO_*`.
    Arguments,
    /// cartoframes' default `creds.json`.
    DefaultFile(PathBuf),
    /// `--credentials FILE` (CARTO 3): a carto-auth `carto_credentials.json`.
    CredentialsFile(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Profile { name, path } => write!(f, "profile {name} ({})", path.display()),
            Self::Arguments => f.write_str("command line and CARTO_* environment variables"),
            Self::DefaultFile(path) => write!(f, "cartoframes default file ({})", path.display()),
            Self::CredentialsFile(path) => write!(f, "credentials file {}", path.display()),
        }
    }
}

/// The connection settings, with which of them were typed on the command line (those
/// override a profile; environment variables do not).
pub struct Config {
    conn: ConnArgs,
    base_url_on_command_line: bool,
    api_key_on_command_line: bool,
    resolved: OnceCell<(Credentials, Origin)>,
    /// Other secrets in use (CARTO 3 tokens and client secrets), masked out of errors.
    secrets: RefCell<Vec<String>>,
}

/// Whether argument `id` was typed on the command line (not taken from the
/// environment or a default), on the command or any of its subcommands.
pub fn typed_on_command_line(matches: &ArgMatches, id: &str) -> bool {
    // Global arguments are recorded on the subcommand that was given them too.
    let mut m = Some(matches);
    while let Some(current) = m {
        if current
            .try_get_raw(id)
            .is_ok_and(|_| current.value_source(id) == Some(ValueSource::CommandLine))
        {
            return true;
        }
        m = current.subcommand().map(|(_, sub)| sub);
    }
    false
}

impl Config {
    /// The settings of a parsed command line.
    pub fn new(conn: ConnArgs, matches: &ArgMatches) -> Self {
        Self {
            base_url_on_command_line: typed_on_command_line(matches, "base_url"),
            api_key_on_command_line: typed_on_command_line(matches, "api_key"),
            conn,
            resolved: OnceCell::new(),
            secrets: RefCell::new(Vec::new()),
        }
    }

    /// Settings without any command-line source (for tests).
    #[cfg(test)]
    pub fn from_conn(conn: ConnArgs) -> Self {
        Self {
            conn,
            base_url_on_command_line: false,
            api_key_on_command_line: false,
            resolved: OnceCell::new(),
            secrets: RefCell::new(Vec::new()),
        }
    }

    /// The profile asked for.
    pub fn profile(&self) -> Option<&str> {
        self.conn.profile.as_deref()
    }

    /// Whether plain-http URLs are allowed (`--allow-http`).
    pub fn allow_http(&self) -> bool {
        self.conn.allow_http
    }

    /// The credentials the connection flags and `CARTO_*` variables give, if they give
    /// a base URL or a username.
    pub fn argument_credentials(&self) -> CliResult<Option<Credentials>> {
        let c = &self.conn;
        if c.base_url.is_none() && c.username.is_none() {
            return Ok(None);
        }
        let allow = c.allow_http.then(|| "1".to_owned());
        // The names `Credentials::from_vars` looks up (those of `Credentials::from_env`).
        let lookup = |name: &str| match name {
            "CARTO_BASE_URL" => c.base_url.clone(),
            "CARTO_USERNAME" => c.username.clone(),
            "CARTO_API_KEY" => c.api_key.clone(),
            "CARTO_ALLOW_NON_SECURE" => allow.clone(),
            _ => None,
        };
        Ok(Some(Credentials::from_vars(lookup)?))
    }

    /// The credentials to use, and where they come from (see `carto --help`).
    pub fn credentials(&self) -> CliResult<&(Credentials, Origin)> {
        if let Some(r) = self.resolved.get() {
            return Ok(r);
        }
        let r = self.resolve()?;
        Ok(self.resolved.get_or_init(|| r))
    }

    fn resolve(&self) -> CliResult<(Credentials, Origin)> {
        if let Some(name) = self.profile() {
            let path = profile_path(name)?;
            if !path.exists() {
                return Err(CliError::Config(format!(
                    "no profile `{name}` (looked for {}); save one with `carto creds save --profile {name}`",
                    path.display()
                )));
            }
            if is_carto3_file(&path) {
                return Err(CliError::Config(format!(
                    "profile `{name}` holds CARTO 3 credentials: use it with `carto carto3 ...`"
                )));
            }
            let mut creds = Credentials::from_file(&path)?;
            if self.base_url_on_command_line {
                if let Some(url) = &self.conn.base_url {
                    creds = Credentials::new(self.parse_base_url(url)?, creds.token().clone());
                }
            }
            if self.api_key_on_command_line {
                if let Some(key) = &self.conn.api_key {
                    creds = creds.with_token(key.as_str());
                }
            }
            return Ok((
                creds,
                Origin::Profile {
                    name: name.to_owned(),
                    path,
                },
            ));
        }
        if let Some(creds) = self.argument_credentials()? {
            return Ok((creds, Origin::Arguments));
        }
        let path = Credentials::default_file_path()?;
        if path.exists() {
            let mut creds = Credentials::from_file(&path)?;
            if let Some(key) = &self.conn.api_key {
                creds = creds.with_token(key.as_str());
            }
            return Ok((creds, Origin::DefaultFile(path)));
        }
        Err(CliError::Config(
            "no credentials: set CARTO_BASE_URL (or CARTO_USERNAME) and CARTO_API_KEY, \
             pick a saved profile with --profile NAME, or save some with `carto creds save`"
                .into(),
        ))
    }

    fn parse_base_url(&self, url: &str) -> CliResult<BaseUrl> {
        Ok(if self.conn.allow_http {
            BaseUrl::parse_allow_http(url)?
        } else {
            BaseUrl::parse(url)?
        })
    }

    /// The secrets in use, once known: masked out of every error message.
    pub fn secrets(&self) -> Vec<String> {
        let mut all = self.secrets.borrow().clone();
        match self.resolved.get() {
            Some((c, _)) if c.token().is_default_public() => {}
            Some((c, _)) => all.push(c.token().expose_secret().to_owned()),
            None => all.extend(self.conn.api_key.clone()),
        }
        all
    }

    /// Adds a secret to mask out of error messages.
    pub fn add_secret(&self, secret: &str) {
        if !secret.is_empty() {
            self.secrets.borrow_mut().push(secret.to_owned());
        }
    }

    /// A blocking client for the credentials in use.
    pub fn client(&self) -> CliResult<Client> {
        let (creds, _) = self.credentials()?;
        Ok(Client::with_options(creds.clone(), self.options()?)?)
    }

    /// The client options of the connection flags: timeouts, CA certificate, retries.
    pub fn options(&self) -> CliResult<ClientOptions> {
        let mut transport = TransportConfig::new();
        if let Some(secs) = self.conn.request_timeout {
            transport = transport.with_request_timeout(Duration::from_secs(secs));
        }
        if let Some(path) = &self.conn.ca_cert {
            let pem = std::fs::read(path)
                .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?;
            transport = transport.add_root_certificate_pem(pem);
        }
        let retry = RetryPolicy::new().with_max_attempts(self.conn.retries.saturating_add(1));
        Ok(ClientOptions::new()
            .user_agent(concat!("carto-cli/", env!("CARGO_PKG_VERSION")))
            .transport(transport)
            .retry(retry))
    }
}

/// The directory of the CLI's configuration: `$CARTO_CONFIG_DIR`, else `carto` in the
/// user configuration directory (`$XDG_CONFIG_HOME` or `~/.config` on Linux,
/// `~/Library/Application Support` on macOS, `%APPDATA%` on Windows).
pub fn config_dir() -> CliResult<PathBuf> {
    if let Some(dir) = std::env::var_os(ENV_CONFIG_DIR).filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    dirs::config_dir().map(|d| d.join("carto")).ok_or_else(|| {
        CliError::Config(format!(
            "no user configuration directory on this system: set {ENV_CONFIG_DIR}"
        ))
    })
}

/// The file of profile `name`: `<config dir>/profiles/<name>.json`.
pub fn profile_path(name: &str) -> CliResult<PathBuf> {
    check_profile_name(name)?;
    Ok(config_dir()?.join("profiles").join(format!("{name}.json")))
}

/// The saved profiles, sorted.
pub fn profile_names() -> CliResult<Vec<String>> {
    let dir = config_dir()?.join("profiles");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CliError::io(format!("cannot read {}", dir.display()), e)),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let stem = name.strip_suffix(".json")?;
            check_profile_name(stem).ok().map(|()| stem.to_owned())
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Whether the JSON file at `path` holds CARTO 3 credentials (an `api_base_url`
/// member) rather than cartoframes' (`username`, `base_url`).
pub fn is_carto3_file(path: &std::path::Path) -> bool {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .is_some_and(|v| v.get("api_base_url").is_some())
}

fn check_profile_name(name: &str) -> CliResult<()> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(CliError::Config(format!(
            "bad profile name `{name}`: use letters, digits, `-`, `_` and `.`, starting with a letter or digit"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_names_are_checked() {
        assert!(check_profile_name("dev").is_ok());
        assert!(check_profile_name("acme-prod_2.eu").is_ok());
        for bad in ["", ".hidden", "../x", "a/b", "a b"] {
            assert!(check_profile_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn arguments_make_credentials() {
        let conn = ConnArgs {
            base_url: Some("http://127.0.0.1:9/user/alice".into()),
            api_key: Some("k-canary".into()),
            allow_http: true,
            ..ConnArgs::default()
        };
        let config = Config::from_conn(conn.clone());
        let creds = config.argument_credentials().unwrap().unwrap();
        assert_eq!(creds.username(), "alice");
        assert_eq!(creds.token().expose_secret(), "k-canary");
        let refused = Config::from_conn(ConnArgs {
            allow_http: false,
            ..conn
        });
        assert!(
            refused.argument_credentials().is_err(),
            "http needs --allow-http"
        );
        let cloud = Config::from_conn(ConnArgs {
            username: Some("bob".into()),
            ..ConnArgs::default()
        });
        let creds = cloud.argument_credentials().unwrap().unwrap();
        assert_eq!(creds.base_url().as_str(), "https://bob.carto.com");
        assert!(creds.token().is_default_public());
    }
}
