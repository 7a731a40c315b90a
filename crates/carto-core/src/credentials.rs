//! Credentials: username, API key token and base URL; cartoframes `creds.json` files,
//! environment variables and a process-wide default.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use serde::{Deserialize, Serialize};

use crate::base_url::BaseUrl;
use crate::error::Error;
use crate::token::Token;

/// Environment variable holding the username.
pub const ENV_USERNAME: &str = "CARTO_USERNAME";
/// Environment variable holding the API key token.
pub const ENV_API_KEY: &str = "CARTO_API_KEY";
/// Environment variable holding the base URL.
pub const ENV_BASE_URL: &str = "CARTO_BASE_URL";
/// Environment variable that allows a plain-http base URL (`1`/`true`).
pub const ENV_ALLOW_NON_SECURE: &str = "CARTO_ALLOW_NON_SECURE";

static DEFAULT: RwLock<Option<Credentials>> = RwLock::new(None);

/// Who talks to CARTO: a username, an API key token and the base URL of the account.
///
/// `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    token: Token,
    base_url: BaseUrl,
}

impl Credentials {
    /// Credentials for a base URL; the username is the one the URL designates.
    pub fn new(base_url: BaseUrl, token: impl Into<Token>) -> Self {
        Self {
            token: token.into(),
            base_url,
        }
    }

    /// Credentials of a cloud user: `https://{username}.carto.com`.
    pub fn cloud(username: &str, token: impl Into<Token>) -> Result<Self, Error> {
        Ok(Self::new(BaseUrl::cloud(username)?, token))
    }

    /// Credentials from a base URL text (https only).
    pub fn from_base_url(base_url: &str, token: impl Into<Token>) -> Result<Self, Error> {
        Ok(Self::new(BaseUrl::parse(base_url)?, token))
    }

    /// The Default public key of the account at `base_url` (token `default_public`).
    pub fn default_public(base_url: BaseUrl) -> Self {
        Self::new(base_url, Token::default_public())
    }

    /// The same account with another token.
    pub fn with_token(&self, token: impl Into<Token>) -> Self {
        Self::new(self.base_url.clone(), token)
    }

    /// The username (from the base URL).
    pub fn username(&self) -> &str {
        self.base_url.username()
    }

    /// The API key token.
    pub fn token(&self) -> &Token {
        &self.token
    }

    /// The base URL.
    pub fn base_url(&self) -> &BaseUrl {
        &self.base_url
    }

    /// Reads the cartoframes `creds.json` format:
    /// `{"username", "api_key", "base_url", "allow_non_secure"}`.
    ///
    /// `base_url` wins over `username`; a missing `api_key` means the Default public key;
    /// an `http` base URL needs `allow_non_secure: true`.
    pub fn from_json(json: &str) -> Result<Self, Error> {
        let file: CredsFile = serde_json::from_str(json)
            .map_err(|e| Error::credentials_from("malformed credentials JSON", e))?;
        file.into_credentials()
    }

    /// The cartoframes `creds.json` representation.
    pub fn to_json(&self) -> String {
        let file = CredsFile {
            username: Some(self.username().to_owned()),
            api_key: Some(self.token.clone()),
            base_url: Some(self.base_url.as_str().to_owned()),
            allow_non_secure: !self.base_url.is_secure(),
        };
        serde_json::to_string(&file).expect("credentials serialize")
    }

    /// Loads a cartoframes `creds.json` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::from_json(&read_credentials_file(path.as_ref())?)
    }

    /// Loads the default cartoframes file, [`Credentials::default_file_path`].
    pub fn from_default_file() -> Result<Self, Error> {
        Self::from_file(Self::default_file_path()?)
    }

    /// Writes a cartoframes `creds.json` file, readable by its owner only on Unix.
    /// Parent directories are created.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        save_private(path.as_ref(), "credentials file", self.to_json().as_bytes())
    }

    /// Writes the default cartoframes file.
    pub fn save_default(&self) -> Result<PathBuf, Error> {
        let path = Self::default_file_path()?;
        self.save(&path)?;
        Ok(path)
    }

    /// Where cartoframes keeps its credentials: `<user config dir>/cartoframes/creds.json`
    /// (`$XDG_CONFIG_HOME` or `~/.config` on Linux).
    pub fn default_file_path() -> Result<PathBuf, Error> {
        dirs::config_dir()
            .map(|d| d.join("cartoframes").join("creds.json"))
            .ok_or(Error::credentials(
                "no user configuration directory on this system",
            ))
    }

    /// Reads `CARTO_BASE_URL` (or `CARTO_USERNAME` for a cloud account) and
    /// `CARTO_API_KEY` (the Default public key when unset); `CARTO_ALLOW_NON_SECURE=1`
    /// allows an http base URL.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Credentials::from_env`] over any variable lookup (for tests and custom sources).
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let allow = non_empty(ENV_ALLOW_NON_SECURE).is_some_and(|v| {
            matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes")
        });
        CredsFile {
            username: non_empty(ENV_USERNAME),
            api_key: non_empty(ENV_API_KEY).map(Token::from),
            base_url: non_empty(ENV_BASE_URL),
            allow_non_secure: allow,
        }
        .into_credentials()
        .map_err(|e| match e {
            Error::Credentials(failure) if !failure.has_source() => Error::credentials(format!(
                "set {ENV_BASE_URL} or {ENV_USERNAME} (and {ENV_API_KEY})"
            )),
            other => other,
        })
    }

    /// Sets the process-wide default credentials.
    pub fn set_default(credentials: Credentials) {
        *DEFAULT.write().unwrap_or_else(|e| e.into_inner()) = Some(credentials);
    }

    /// The process-wide default credentials, if set.
    pub fn default_credentials() -> Option<Credentials> {
        DEFAULT.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Clears the process-wide default.
    pub fn unset_default() {
        *DEFAULT.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username())
            .field("base_url", &self.base_url.as_str())
            .field("token", &self.token)
            .finish()
    }
}

/// The cartoframes `creds.json` document.
#[derive(Serialize, Deserialize)]
struct CredsFile {
    username: Option<String>,
    api_key: Option<Token>,
    base_url: Option<String>,
    #[serde(default)]
    allow_non_secure: bool,
}

impl CredsFile {
    fn into_credentials(self) -> Result<Credentials, Error> {
        let token = self.api_key.unwrap_or_else(Token::default_public);
        let base_url = match (self.base_url, self.username) {
            (Some(url), _) if self.allow_non_secure => BaseUrl::parse_allow_http(&url)?,
            (Some(url), _) => BaseUrl::parse(&url)?,
            (None, Some(user)) => BaseUrl::cloud(&user)?,
            (None, None) => {
                return Err(Error::credentials(
                    "credentials need a `base_url` or a `username`",
                ));
            }
        };
        Ok(Credentials::new(base_url, token))
    }
}

/// Reads a credentials file, with an error that names it.
pub(crate) fn read_credentials_file(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::credentials_from(
            format!("cannot read credentials file {}", path.display()),
            e,
        )
    })
}

/// Writes `bytes` to the `what` (`credentials file`, ...) at `path`, readable by its owner
/// only on Unix; parent directories are created. The error names the file.
pub(crate) fn save_private(path: &Path, what: &str, bytes: &[u8]) -> Result<(), Error> {
    let io_err = |e: std::io::Error| {
        Error::credentials_from(format!("cannot write {what} {}", path.display()), e)
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io_err)?;
    }
    write_private(path, bytes).map_err(io_err)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its mode on open: tighten it.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creds_json_roundtrip_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/creds.json");
        let c = Credentials::from_base_url("https://acme.carto.com/u/bob", "tok-canary").unwrap();
        c.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let back = Credentials::from_file(&path).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.username(), "bob");
        assert!(!format!("{back:?}").contains("tok-canary"));
    }

    #[test]
    fn creds_json_forms() {
        let c = Credentials::from_json(r#"{"username":"alice","api_key":"k"}"#).unwrap();
        assert_eq!(c.base_url().as_str(), "https://alice.carto.com");
        let c = Credentials::from_json(r#"{"base_url":"https://alice.carto.com/"}"#).unwrap();
        assert!(c.token().is_default_public());
        assert!(Credentials::from_json(r#"{"base_url":"http://127.0.0.1:1/user/a"}"#).is_err());
        let c = Credentials::from_json(
            r#"{"base_url":"http://127.0.0.1:1/user/a","allow_non_secure":true}"#,
        )
        .unwrap();
        assert_eq!(c.username(), "a");
        assert!(c.to_json().contains("\"allow_non_secure\":true"));
        assert!(Credentials::from_json("{}").is_err());
        assert!(Credentials::from_json("nope").is_err());
    }

    #[test]
    fn env_vars() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c =
            Credentials::from_vars(vars(&[(ENV_USERNAME, "alice"), (ENV_API_KEY, "k")])).unwrap();
        assert_eq!(c.base_url().as_str(), "https://alice.carto.com");
        let e = Credentials::from_vars(vars(&[])).unwrap_err();
        assert!(e.to_string().contains(ENV_BASE_URL));
        let c = Credentials::from_vars(vars(&[
            (ENV_BASE_URL, "http://127.0.0.1:9/user/bob"),
            (ENV_ALLOW_NON_SECURE, "1"),
        ]))
        .unwrap();
        assert_eq!(c.username(), "bob");
    }

    #[test]
    fn process_default() {
        let c = Credentials::cloud("alice", "k").unwrap();
        Credentials::set_default(c.clone());
        assert_eq!(Credentials::default_credentials(), Some(c));
        Credentials::unset_default();
        assert_eq!(Credentials::default_credentials(), None);
    }
}
