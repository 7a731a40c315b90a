//! Where the CARTO 3 credentials come from: `--credentials FILE`, a saved profile, or
//! the flags and `CARTO_*` variables; the connection SQL runs on; and the client.

use std::path::{Path, PathBuf};

use carto::carto3::blocking::Client;
use carto::carto3::{
    AccessToken, ApiBaseUrl, ApiCredentials, AuthUrl, ClientCredentials, TokenSource,
};
use clap::ArgMatches;
use serde_json::{Map, Value};

use super::cli::Carto3ConnArgs;
use crate::config::{Config, Origin, is_carto3_file, profile_path, typed_on_command_line};
use crate::exit::{CliError, CliResult};

/// The members of a CARTO 3 credentials file, as text. carto-auth's
/// `carto_credentials.json` has `api_base_url`, `client_id`, `client_secret`; the
/// emulator adds `auth_url` and `connection`; a token profile has `access_token`.
#[derive(Default, Clone)]
pub struct Parts {
    /// `api_base_url`.
    pub api_base_url: Option<String>,
    /// `auth_url`.
    pub auth_url: Option<String>,
    /// `access_token`: a fixed token.
    pub access_token: Option<String>,
    /// `client_id`.
    pub client_id: Option<String>,
    /// `client_secret`.
    pub client_secret: Option<String>,
    /// `connection`.
    pub connection: Option<String>,
}

const MEMBERS: [&str; 6] = [
    "api_base_url",
    "auth_url",
    "access_token",
    "client_id",
    "client_secret",
    "connection",
];

impl Parts {
    fn slots(&mut self) -> [&mut Option<String>; 6] {
        [
            &mut self.api_base_url,
            &mut self.auth_url,
            &mut self.access_token,
            &mut self.client_id,
            &mut self.client_secret,
            &mut self.connection,
        ]
    }

    /// Reads a credentials file; members that are not text are refused, unknown ones
    /// ignored. The message names the file and the member, never a value.
    pub fn read(path: &Path) -> CliResult<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?;
        let bad = |why: String| CliError::Config(format!("{}: {why}", path.display()));
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&text) else {
            return Err(bad("not a JSON object of CARTO 3 credentials".into()));
        };
        let mut parts = Self::default();
        for (name, slot) in MEMBERS.iter().zip(parts.slots()) {
            match map.get(*name) {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) if s.trim().is_empty() => {}
                Some(Value::String(s)) => *slot = Some(s.trim().to_owned()),
                Some(_) => return Err(bad(format!("`{name}` is not a string"))),
            }
        }
        Ok(parts)
    }

    /// The file `creds save` writes: the members that are set.
    pub fn to_json(&self) -> String {
        let mut copy = self.clone();
        let map: Map<String, Value> = MEMBERS
            .iter()
            .zip(copy.slots())
            .filter_map(|(name, slot)| Some(((*name).to_owned(), Value::String(slot.take()?))))
            .collect();
        serde_json::to_string_pretty(&Value::Object(map)).expect("JSON text") + "\n"
    }

    /// Whether these parts name a token source.
    fn has_source(&self) -> bool {
        self.access_token.is_some() || self.client_id.is_some()
    }

    /// The credentials: a fixed token (`access_token`) wins over M2M client
    /// credentials; the API base URL is CARTO's US region when unset.
    pub fn credentials(&self, allow_http: bool, from: &str) -> CliResult<ApiCredentials> {
        let bad_url = |what: &str, e: carto::carto3::ApiBaseUrlError| {
            CliError::Config(format!("invalid {what} ({from}): {e}"))
        };
        let base_url = match &self.api_base_url {
            Some(url) if allow_http => ApiBaseUrl::parse_allow_http(url),
            Some(url) => ApiBaseUrl::parse(url),
            None => Ok(ApiBaseUrl::default()),
        }
        .map_err(|e| bad_url("API base URL", e))?;
        if let Some(token) = &self.access_token {
            return Ok(ApiCredentials::with_token(base_url, token.as_str())?);
        }
        let (Some(id), Some(secret)) = (&self.client_id, &self.client_secret) else {
            return Err(CliError::Config(match &self.client_id {
                Some(_) => format!(
                    "an M2M client id without its secret ({from}): set CARTO_M2M_CLIENT_SECRET"
                ),
                None => format!(
                    "no CARTO 3 token ({from}): set CARTO_API_TOKEN, or CARTO_M2M_CLIENT_ID and CARTO_M2M_CLIENT_SECRET"
                ),
            }));
        };
        let mut m2m = ClientCredentials::new(id.as_str(), secret.as_str())?;
        if let Some(url) = &self.auth_url {
            let auth = if allow_http {
                AuthUrl::parse_allow_http(url)
            } else {
                AuthUrl::parse(url)
            }
            .map_err(|e| bad_url("auth URL", e))?;
            m2m = m2m.with_auth_url(auth);
        }
        Ok(ApiCredentials::new(base_url, m2m))
    }
}

/// The CARTO 3 settings of a command line.
pub struct Config3<'a> {
    base: &'a Config,
    conn: Carto3ConnArgs,
    /// The client made, so that the token it fetched can be masked out of errors.
    client: std::cell::OnceCell<Client>,
    base_url_typed: bool,
    auth_url_typed: bool,
}

/// The credentials in use, the connection, and where they come from.
pub struct Resolved {
    /// The credentials.
    pub credentials: ApiCredentials,
    /// The connection SQL runs on, if any.
    pub connection: Option<String>,
    /// Where they come from.
    pub origin: Origin,
}

impl<'a> Config3<'a> {
    /// The settings of `conn`, `matches` saying which were typed on the command line.
    pub fn new(base: &'a Config, conn: Carto3ConnArgs, matches: &ArgMatches) -> Self {
        let config = Self {
            base,
            base_url_typed: typed_on_command_line(matches, "api_base_url"),
            auth_url_typed: typed_on_command_line(matches, "auth_url"),
            conn,
            client: std::cell::OnceCell::new(),
        };
        for secret in [&config.conn.api_token, &config.conn.client_secret]
            .into_iter()
            .flatten()
        {
            base.add_secret(secret);
        }
        config
    }

    /// The settings without any command-line source (for tests).
    #[cfg(test)]
    pub fn from_conn(base: &'a Config, conn: Carto3ConnArgs) -> Self {
        Self {
            base,
            conn,
            base_url_typed: false,
            auth_url_typed: false,
            client: std::cell::OnceCell::new(),
        }
    }

    /// The shared settings (profile, retries, timeouts, the secrets to mask).
    pub fn base(&self) -> &Config {
        self.base
    }

    /// What the flags and `CARTO_*` variables give.
    pub fn argument_parts(&self) -> Parts {
        let c = &self.conn;
        let text = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Parts {
            api_base_url: text(&c.api_base_url),
            auth_url: text(&c.auth_url),
            access_token: text(&c.api_token),
            client_id: text(&c.client_id),
            client_secret: text(&c.client_secret),
            connection: text(&c.connection),
        }
    }

    /// The credentials to use (see `carto carto3 --help`).
    pub fn resolve(&self) -> CliResult<Resolved> {
        let args = self.argument_parts();
        let (mut parts, origin) = if let Some(path) = &self.conn.credentials {
            (Parts::read(path)?, Origin::CredentialsFile(path.clone()))
        } else if let Some(name) = self.base.profile() {
            let path = profile_path(name)?;
            if !path.exists() {
                return Err(CliError::Config(format!(
                    "no profile `{name}` (looked for {}); save one with `carto carto3 creds save --profile {name}`",
                    path.display()
                )));
            }
            if !is_carto3_file(&path) {
                return Err(CliError::Config(format!(
                    "profile `{name}` holds credentials of CARTO's legacy platform, not CARTO 3 \
                     (no `api_base_url`); pick a CARTO 3 profile, or give --credentials FILE"
                )));
            }
            let parts = Parts::read(&path)?;
            let origin = Origin::Profile {
                name: name.to_owned(),
                path,
            };
            (parts, origin)
        } else if args.has_source() {
            (args.clone(), Origin::Arguments)
        } else {
            return Err(CliError::Config(
                "no CARTO 3 credentials: give --credentials FILE (CARTO_CREDENTIALS), pick a \
                 saved profile with --profile NAME, or set CARTO_API_TOKEN, or \
                 CARTO_M2M_CLIENT_ID and CARTO_M2M_CLIENT_SECRET"
                    .into(),
            ));
        };
        if origin != Origin::Arguments {
            if self.base_url_typed {
                parts.api_base_url = args.api_base_url;
            }
            if self.auth_url_typed {
                parts.auth_url = args.auth_url;
            }
            if args.connection.is_some() {
                parts.connection = args.connection;
            }
        }
        for secret in [&parts.access_token, &parts.client_secret]
            .into_iter()
            .flatten()
        {
            self.base.add_secret(secret);
        }
        let from = origin.to_string();
        Ok(Resolved {
            credentials: parts.credentials(self.base.allow_http(), &from)?,
            connection: parts.connection,
            origin,
        })
    }

    /// A blocking CARTO 3 client for the credentials in use, and the connection.
    pub fn client(&self) -> CliResult<(Client, Option<String>)> {
        let resolved = self.resolve()?;
        let client = Client::with_options(resolved.credentials, self.base.options()?)?;
        let _ = self.client.set(client.clone());
        Ok((client, resolved.connection))
    }

    /// Adds the M2M token the client fetched, if any, to the secrets masked out of
    /// error messages.
    pub fn mask_fetched_token(&self) {
        if let Some(client) = self.client.get() {
            let token = client
                .core()
                .tokens()
                .unexpired_token(std::time::SystemTime::now());
            if let Some(token) = token {
                self.base.add_secret(token.expose_secret());
            }
        }
    }
}

/// The connection SQL runs on: `--connection`, else the file's, else an error.
pub fn require_connection(connection: Option<String>) -> CliResult<String> {
    connection.ok_or_else(|| {
        CliError::Usage(
            "no connection: give --connection NAME (or CARTO_CONNECTION), or use credentials \
             whose file names one (`connection`)"
                .into(),
        )
    })
}

/// The token source as `creds show` prints it: what kind, and its secret masked.
pub fn describe_source(source: &TokenSource) -> Vec<(&'static str, String)> {
    use crate::output::mask_text;
    match source {
        TokenSource::Fixed(token) => vec![("token", mask_text(token.expose_secret()))],
        TokenSource::ClientCredentials(m2m) => vec![
            ("client id", m2m.client_id().to_owned()),
            ("secret", mask_text(m2m.client_secret().expose_secret())),
            ("auth URL", m2m.auth_url().as_str().to_owned()),
        ],
        _ => vec![("token", "(unknown source)".to_owned())],
    }
}

/// Writes `text` to `path`, readable by its owner only on Unix (parent directories
/// created).
pub fn save_private(path: &Path, text: &str) -> CliResult {
    let err = |e| CliError::io(format!("cannot write {}", path.display()), e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(err)?;
    #[cfg(unix)]
    {
        // An existing file keeps its mode on open: tighten it.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(err)?;
    }
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(err)
}

/// Where `creds save` writes: `--file`, else the profile's file.
pub fn save_path(file: Option<PathBuf>, profile: Option<&str>) -> CliResult<PathBuf> {
    match (file, profile) {
        (Some(file), _) => Ok(file),
        (None, Some(name)) => profile_path(name),
        (None, None) => Err(CliError::Usage(
            "where to? give --profile NAME or --file FILE".into(),
        )),
    }
}

/// A token given on the command line, or read from stdin: `-`, or nothing with stdin
/// not a terminal.
pub fn token_arg(token: Option<String>, base: &Config) -> CliResult<AccessToken> {
    use std::io::IsTerminal;
    let text = match token {
        Some(t) if t != "-" => t,
        Some(_) => crate::sql::read_text(Path::new("-"))?,
        None if !std::io::stdin().is_terminal() => crate::sql::read_text(Path::new("-"))?,
        None => String::new(),
    };
    let text = text.trim();
    if text.is_empty() {
        return Err(CliError::Usage(
            "no token: give TOKEN, or write it on stdin (`-`)".into(),
        ));
    }
    base.add_secret(text);
    Ok(AccessToken::new(text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ConnArgs;

    fn parts(json: &str) -> CliResult<Parts> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, json).unwrap();
        Parts::read(&path)
    }

    #[test]
    fn files_give_credentials() {
        let m2m = parts(
            r#"{"api_base_url":"http://127.0.0.1:9","auth_url":"http://127.0.0.1:9","client_id":"id","client_secret":"s3cret-canary","connection":"carto_dw","extra":1}"#,
        )
        .unwrap();
        assert_eq!(m2m.connection.as_deref(), Some("carto_dw"));
        let creds = m2m.credentials(false, "test").unwrap();
        let TokenSource::ClientCredentials(c) = creds.token_source() else {
            panic!("M2M")
        };
        assert_eq!(c.auth_url().as_str(), "http://127.0.0.1:9");
        assert_eq!(creds.base_url().as_str(), "http://127.0.0.1:9");
        let token =
            parts(r#"{"api_base_url":"https://gcp-us-east1.api.carto.com","access_token":"tok"}"#)
                .unwrap()
                .credentials(false, "test")
                .unwrap();
        assert!(matches!(token.token_source(), TokenSource::Fixed(_)));
        // The round trip of `creds save`.
        let again = parts(&m2m.to_json()).unwrap();
        assert_eq!(again.client_secret.as_deref(), Some("s3cret-canary"));
    }

    #[test]
    fn bad_files_and_parts_are_config_errors() {
        for bad in ["[]", "not json", r#"{"client_id": 5}"#] {
            let e = parts(bad).err().expect(bad);
            assert_eq!(e.exit_code(), crate::exit::code::CONFIG, "{bad}");
        }
        let only_id = parts(r#"{"client_id":"id"}"#).unwrap();
        let e = only_id.credentials(false, "test").err().unwrap();
        assert!(
            e.render(&[]).contains("without its secret"),
            "{}",
            e.render(&[])
        );
        let remote_http = Parts {
            api_base_url: Some("http://example.com".into()),
            access_token: Some("t".into()),
            ..Parts::default()
        };
        assert!(remote_http.credentials(false, "test").is_err());
        assert!(remote_http.credentials(true, "test").is_ok());
    }

    #[test]
    fn arguments_and_secrets() {
        let base = Config::from_conn(ConnArgs::default());
        let conn = Carto3ConnArgs {
            api_token: Some(" tok-canary ".into()),
            connection: Some("c".into()),
            ..Carto3ConnArgs::default()
        };
        let config = Config3::from_conn(&base, conn);
        let resolved = config.resolve().unwrap();
        assert_eq!(resolved.origin, Origin::Arguments);
        assert_eq!(resolved.connection.as_deref(), Some("c"));
        assert_eq!(resolved.credentials.base_url(), &ApiBaseUrl::default());
        assert!(base.secrets().contains(&"tok-canary".to_owned()));
        let none = Config3::from_conn(&base, Carto3ConnArgs::default());
        assert!(none.resolve().is_err());
    }
}
