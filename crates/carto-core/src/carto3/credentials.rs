//! Who talks to CARTO 3: an API base URL and a token source (a fixed Bearer token, or
//! OAuth machine-to-machine client credentials); carto-auth's `carto_credentials.json`
//! and the environment.

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::api_base_url::{ApiBaseUrl, AuthUrl};
use super::secret::{AccessToken, ClientSecret};
use crate::credentials::read_credentials_file;
use crate::error::Error;

/// Environment variable holding a fixed Bearer token (API access token or OAuth token).
pub const ENV_API_TOKEN: &str = "CARTO_API_TOKEN";
/// Environment variable holding an M2M client id (the `carto` CLI's name).
pub const ENV_M2M_CLIENT_ID: &str = "CARTO_M2M_CLIENT_ID";
/// Environment variable holding an M2M client secret (the `carto` CLI's name).
pub const ENV_M2M_CLIENT_SECRET: &str = "CARTO_M2M_CLIENT_SECRET";
/// Environment variable holding the API base URL (carto-rs's name).
pub const ENV_API_BASE_URL: &str = "CARTO_API_BASE_URL";
/// Environment variable holding the OAuth server's base URL (carto-rs's name).
pub const ENV_AUTH_URL: &str = "CARTO_AUTH_URL";

/// The audience M2M tokens are asked for.
pub const AUDIENCE: &str = "carto-cloud-native-api";

/// OAuth machine-to-machine client credentials: exchanged at
/// `{auth_url}/oauth/token` for an access token that lasts about a day.
///
/// `Debug` shows the client id and the auth URL, never the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    client_id: String,
    client_secret: ClientSecret,
    auth_url: AuthUrl,
    audience: String,
}

impl ClientCredentials {
    /// Client credentials for CARTO's OAuth server (`https://auth.carto.com`) and the
    /// audience `carto-cloud-native-api`. Neither the id nor the secret may be empty.
    pub fn new(
        client_id: impl Into<String>,
        client_secret: impl Into<ClientSecret>,
    ) -> Result<Self, Error> {
        let client_id = client_id.into();
        let client_secret = client_secret.into();
        if client_id.trim().is_empty() {
            return Err(Error::invalid("M2M client id", "the client id is empty"));
        }
        if client_secret.is_empty() {
            return Err(Error::invalid(
                "M2M client secret",
                "the client secret is empty",
            ));
        }
        Ok(Self {
            client_id,
            client_secret,
            auth_url: AuthUrl::default(),
            audience: AUDIENCE.to_owned(),
        })
    }

    /// The same credentials against another OAuth server (a self-hosted tenant, an
    /// emulator).
    pub fn with_auth_url(mut self, auth_url: AuthUrl) -> Self {
        self.auth_url = auth_url;
        self
    }

    /// The same credentials asking for another audience.
    pub fn with_audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The client secret.
    pub fn client_secret(&self) -> &ClientSecret {
        &self.client_secret
    }

    /// The OAuth server.
    pub fn auth_url(&self) -> &AuthUrl {
        &self.auth_url
    }

    /// The audience asked for.
    pub fn audience(&self) -> &str {
        &self.audience
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret)
            .field("auth_url", &self.auth_url)
            .field("audience", &self.audience)
            .finish()
    }
}

/// Where the Bearer token of each request comes from.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// A token used as is: an API access token, or an OAuth token obtained elsewhere.
    /// It is never refreshed.
    Fixed(AccessToken),
    /// OAuth client credentials: a token is fetched, cached and refreshed before it
    /// expires (see [`TokenCache`](super::TokenCache)).
    ClientCredentials(ClientCredentials),
}

impl TokenSource {
    /// A fixed token; it may not be empty.
    pub fn token(token: impl Into<AccessToken>) -> Result<Self, Error> {
        let token = token.into();
        if token.is_empty() {
            return Err(Error::invalid("access token", "the token is empty"));
        }
        Ok(Self::Fixed(token))
    }
}

impl From<ClientCredentials> for TokenSource {
    fn from(value: ClientCredentials) -> Self {
        Self::ClientCredentials(value)
    }
}

/// CARTO 3 credentials: the API base URL of the account's region or tenant and where
/// its tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCredentials {
    base_url: ApiBaseUrl,
    source: TokenSource,
}

impl ApiCredentials {
    /// Credentials from their parts.
    pub fn new(base_url: ApiBaseUrl, source: impl Into<TokenSource>) -> Self {
        Self {
            base_url,
            source: source.into(),
        }
    }

    /// Credentials with a fixed token (which may not be empty).
    pub fn with_token(base_url: ApiBaseUrl, token: impl Into<AccessToken>) -> Result<Self, Error> {
        Ok(Self::new(base_url, TokenSource::token(token)?))
    }

    /// The API base URL.
    pub fn base_url(&self) -> &ApiBaseUrl {
        &self.base_url
    }

    /// Where tokens come from.
    pub fn token_source(&self) -> &TokenSource {
        &self.source
    }

    /// Reads carto-auth's `carto_credentials.json`:
    /// `{"api_base_url", "client_id", "client_secret"}`, each present and non-empty, as
    /// carto-auth requires, plus an optional `auth_url` (the OAuth server, written by
    /// carto-rs's emulator; `https://auth.carto.com` when absent). Other members are
    /// ignored. A plain-http URL is accepted for the local machine only.
    pub fn from_carto_auth_json(json: &str) -> Result<Self, Error> {
        let file: CartoAuthFile = serde_json::from_str(json)
            .map_err(|e| Error::credentials_from("malformed carto_credentials.json", e))?;
        let required = |name: &'static str, value: Option<String>| {
            let value = value.ok_or_else(|| {
                Error::credentials(format!(
                    "missing attribute `{name}` in carto_credentials.json"
                ))
            })?;
            if value.trim().is_empty() {
                return Err(Error::credentials(format!(
                    "missing value for `{name}` in carto_credentials.json"
                )));
            }
            Ok(value)
        };
        let base_url = required("api_base_url", file.api_base_url)?;
        let client_id = required("client_id", file.client_id)?;
        let secret = required(
            "client_secret",
            file.client_secret.map(|s| s.expose_secret().to_owned()),
        )?;
        let base_url = ApiBaseUrl::parse(&base_url).map_err(|e| {
            Error::credentials(format!(
                "invalid api_base_url in carto_credentials.json: {e}"
            ))
        })?;
        let mut m2m = ClientCredentials::new(client_id, secret)?;
        if let Some(auth) = file.auth_url.filter(|a| !a.trim().is_empty()) {
            let auth = AuthUrl::parse(&auth).map_err(|e| {
                Error::credentials(format!("invalid auth_url in carto_credentials.json: {e}"))
            })?;
            m2m = m2m.with_auth_url(auth);
        }
        Ok(Self::new(base_url, m2m))
    }

    /// Loads carto-auth's `carto_credentials.json` from `path`.
    pub fn from_carto_auth_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::from_carto_auth_json(&read_credentials_file(path.as_ref())?)
    }

    /// The carto-auth `carto_credentials.json` document of M2M credentials (with
    /// `auth_url` when it is not CARTO's); `None` for a fixed token, which that format
    /// cannot hold.
    pub fn to_carto_auth_json(&self) -> Option<String> {
        let TokenSource::ClientCredentials(m2m) = &self.source else {
            return None;
        };
        let auth_url =
            (m2m.auth_url != AuthUrl::default()).then(|| m2m.auth_url.as_str().to_owned());
        let file = CartoAuthFile {
            api_base_url: Some(self.base_url.as_str().to_owned()),
            client_id: Some(m2m.client_id.clone()),
            client_secret: Some(m2m.client_secret.clone()),
            auth_url,
        };
        Some(serde_json::to_string(&file).expect("credentials serialize"))
    }

    /// Reads the environment: `CARTO_API_BASE_URL` (CARTO's US region when unset), then
    /// `CARTO_API_TOKEN` (a fixed token), or else `CARTO_M2M_CLIENT_ID` and
    /// `CARTO_M2M_CLIENT_SECRET` with `CARTO_AUTH_URL` (`https://auth.carto.com` when
    /// unset).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// [`ApiCredentials::from_env`] over any variable lookup.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let base_url = match var(ENV_API_BASE_URL) {
            Some(url) => ApiBaseUrl::parse(&url)
                .map_err(|e| Error::credentials(format!("invalid {ENV_API_BASE_URL}: {e}")))?,
            None => ApiBaseUrl::default(),
        };
        if let Some(token) = var(ENV_API_TOKEN) {
            return Self::with_token(base_url, token.trim());
        }
        match (var(ENV_M2M_CLIENT_ID), var(ENV_M2M_CLIENT_SECRET)) {
            (Some(id), Some(secret)) => {
                let mut m2m = ClientCredentials::new(id.trim(), secret.trim())?;
                if let Some(auth) = var(ENV_AUTH_URL) {
                    m2m =
                        m2m.with_auth_url(AuthUrl::parse(&auth).map_err(|e| {
                            Error::credentials(format!("invalid {ENV_AUTH_URL}: {e}"))
                        })?);
                }
                Ok(Self::new(base_url, m2m))
            }
            _ => Err(Error::credentials(format!(
                "set {ENV_API_TOKEN}, or {ENV_M2M_CLIENT_ID} and {ENV_M2M_CLIENT_SECRET}"
            ))),
        }
    }
}

/// carto-auth's `carto_credentials.json` (plus carto-rs's optional `auth_url`).
#[derive(Serialize, Deserialize)]
struct CartoAuthFile {
    api_base_url: Option<String>,
    client_id: Option<String>,
    client_secret: Option<ClientSecret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// carto-auth's `tests/fixtures/carto_credentials_ok.json`, values as upstream.
    const CARTO_AUTH_OK: &str = r#"{
    "api_base_url": "https://gcp-us-east1.api.carto.com",
    "client_id": "1234",
    "client_secret": "1234567890"
}"#;

    #[test]
    fn reads_carto_auth_credentials() {
        let c = ApiCredentials::from_carto_auth_json(CARTO_AUTH_OK).unwrap();
        assert_eq!(c.base_url().as_str(), "https://gcp-us-east1.api.carto.com");
        let TokenSource::ClientCredentials(m2m) = c.token_source() else {
            panic!()
        };
        assert_eq!(m2m.client_id(), "1234");
        assert_eq!(m2m.client_secret().expose_secret(), "1234567890");
        assert_eq!(m2m.auth_url(), &AuthUrl::default());
        assert_eq!(m2m.audience(), "carto-cloud-native-api");
        assert!(!format!("{c:?}").contains("1234567890"));
        // Round trip, and the emulator's extra keys.
        let back = ApiCredentials::from_carto_auth_json(&c.to_carto_auth_json().unwrap()).unwrap();
        assert_eq!(back, c);
        let emu = r#"{"api_base_url":"http://127.0.0.1:8080","auth_url":"http://127.0.0.1:8080","client_id":"a","client_secret":"b","connection":"alice"}"#;
        let c = ApiCredentials::from_carto_auth_json(emu).unwrap();
        let TokenSource::ClientCredentials(m2m) = c.token_source() else {
            panic!()
        };
        assert_eq!(
            m2m.auth_url().token_endpoint().as_str(),
            "http://127.0.0.1:8080/oauth/token"
        );
        assert!(
            c.to_carto_auth_json()
                .unwrap()
                .contains("\"auth_url\":\"http://127.0.0.1:8080\"")
        );
    }

    #[test]
    fn carto_auth_file_errors_name_the_attribute() {
        let missing = r#"{"api_base_url":"https://gcp-us-east1.api.carto.com","client_id":"1"}"#;
        let e = ApiCredentials::from_carto_auth_json(missing).unwrap_err();
        assert!(
            e.to_string().contains("missing attribute `client_secret`"),
            "{e}"
        );
        let empty = r#"{"api_base_url":"","client_id":"1","client_secret":"canary-s"}"#;
        let e = ApiCredentials::from_carto_auth_json(empty).unwrap_err();
        assert!(
            e.to_string().contains("missing value for `api_base_url`"),
            "{e}"
        );
        let bad =
            r#"{"api_base_url":"http://h.example","client_id":"1","client_secret":"canary-s"}"#;
        let e = ApiCredentials::from_carto_auth_json(bad).unwrap_err();
        assert!(e.to_string().contains("api_base_url"), "{e}");
        assert!(ApiCredentials::from_carto_auth_json("nope").is_err());
        for e in [missing, empty, bad] {
            let msg = format!("{:?}", ApiCredentials::from_carto_auth_json(e));
            assert!(!msg.contains("canary-s"), "{msg}");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("carto_credentials.json");
        std::fs::write(&path, CARTO_AUTH_OK).unwrap();
        assert!(ApiCredentials::from_carto_auth_file(&path).is_ok());
        assert!(ApiCredentials::from_carto_auth_file(dir.path().join("none")).is_err());
    }

    #[test]
    fn environment() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = ApiCredentials::from_vars(vars(&[(ENV_API_TOKEN, "eyJ-canary")])).unwrap();
        assert_eq!(c.base_url(), &ApiBaseUrl::default());
        assert_eq!(
            c.token_source(),
            &TokenSource::Fixed(AccessToken::new("eyJ-canary"))
        );
        assert!(!format!("{c:?}").contains("eyJ-canary"));
        let c = ApiCredentials::from_vars(vars(&[
            (ENV_API_BASE_URL, "http://localhost:9"),
            (ENV_M2M_CLIENT_ID, "id"),
            (ENV_M2M_CLIENT_SECRET, "secret"),
            (ENV_AUTH_URL, "http://localhost:9"),
        ]))
        .unwrap();
        assert!(matches!(
            c.token_source(),
            TokenSource::ClientCredentials(_)
        ));
        let e = ApiCredentials::from_vars(vars(&[(ENV_M2M_CLIENT_ID, "id")])).unwrap_err();
        assert!(e.to_string().contains(ENV_API_TOKEN));
        let e = ApiCredentials::from_vars(vars(&[
            (ENV_API_BASE_URL, "https://alice.carto.com"),
            (ENV_API_TOKEN, "t"),
        ]))
        .unwrap_err();
        assert!(e.to_string().contains(ENV_API_BASE_URL));
        assert!(ClientCredentials::new("", "s").is_err());
        assert!(ClientCredentials::new("id", " ").is_err());
        assert!(TokenSource::token("").is_err());
    }
}
