//! CARTO 3 base URLs: the API base URL of a region or tenant
//! (`https://gcp-us-east1.api.carto.com`, `https://{tenant}/api`) and the base URL of
//! the OAuth server (`https://auth.carto.com`).

use std::fmt;

use url::Url;

use crate::base_url::{BaseUrlError, parse_plain_url};

/// The default API base URL of CARTO's clients (the US region).
pub const DEFAULT_API_BASE_URL: &str = "https://gcp-us-east1.api.carto.com";
/// The default OAuth server: M2M tokens come from `{auth_url}/oauth/token`.
pub const DEFAULT_AUTH_URL: &str = "https://auth.carto.com";

/// Why a CARTO 3 URL was refused. Messages never repeat a query string or user info,
/// which could hold a secret.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiBaseUrlError {
    /// Not a URL at all.
    #[error("not a valid URL ({0})")]
    Parse(String),
    /// The URL uses a scheme other than `https` or `http`.
    #[error("the scheme `{0}` is not supported; use https")]
    UnsupportedScheme(String),
    /// `http://` to a host other than the local machine, without allowing it.
    #[error(
        "http is only accepted for the local machine: use https, or allow plain http explicitly"
    )]
    InsecureScheme,
    /// The URL has no host.
    #[error("the URL has no host")]
    MissingHost,
    /// The URL carries a query string or a fragment.
    #[error("a CARTO 3 base URL cannot have a query string or a fragment")]
    QueryOrFragment,
    /// The URL carries `user:password@`.
    #[error("a CARTO 3 base URL cannot carry user info; pass the token separately")]
    UserInfo,
    /// The path already names an API (`/v3/...`): the base URL stops before it.
    #[error(
        "unexpected path `{0}`: the API base URL stops before `/v3` (for example https://gcp-us-east1.api.carto.com or https://my-tenant.example.com/api)"
    )]
    EndpointPath(String),
    /// A legacy-platform URL (`https://{user}.carto.com`, `/user/{user}`): CARTO 3 has
    /// one API host per region or tenant.
    #[error(
        "`{0}` is a URL of CARTO's legacy platform; CARTO 3 uses a regional API host such as https://gcp-us-east1.api.carto.com"
    )]
    LegacyUrl(String),
    /// A workspace URL (`https://{region}.app.carto.com`) instead of the API's.
    #[error("`{0}` is CARTO's workspace, not its API; use https://{1}")]
    WorkspaceUrl(String, String),
}

impl From<BaseUrlError> for ApiBaseUrlError {
    fn from(value: BaseUrlError) -> Self {
        match value {
            BaseUrlError::Parse(e) => Self::Parse(e),
            BaseUrlError::UnsupportedScheme(s) => Self::UnsupportedScheme(s),
            BaseUrlError::InsecureScheme => Self::InsecureScheme,
            BaseUrlError::QueryOrFragment => Self::QueryOrFragment,
            BaseUrlError::UserInfo => Self::UserInfo,
            _ => Self::MissingHost,
        }
    }
}

/// Which kind of CARTO 3 API host a base URL designates.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiBaseUrlKind {
    /// `https://{region}.api.carto.com` (the region is the first host label, such as
    /// `gcp-us-east1`).
    Regional {
        /// The region label.
        region: String,
    },
    /// Any other host: a self-hosted tenant (`https://{tenant}/api`), a proxy, or a
    /// local emulator.
    Custom,
}

/// Parses an http(s) URL that may be plain http only for the local machine unless
/// `allow_http`; the trailing slash of the path is dropped.
fn parse_service_url(input: &str, allow_http: bool) -> Result<Url, ApiBaseUrlError> {
    let mut url = parse_plain_url(input, true)?;
    if url.scheme() == "http" && !allow_http && !is_loopback(&url) {
        return Err(ApiBaseUrlError::InsecureScheme);
    }
    let path = url.path().trim_end_matches('/').to_owned();
    url.set_path(&path);
    Ok(url)
}

/// `localhost`, `*.localhost`, 127.0.0.0/8 or `::1`.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Text of a URL without its trailing slash.
fn url_text(url: &Url) -> &str {
    url.as_str().trim_end_matches('/')
}

/// Appends percent-encoded path segments to `base`.
fn append_segments<S: AsRef<str>>(base: &Url, segments: &[S]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty();
        for s in segments {
            path.push(s.as_ref());
        }
    }
    url
}

/// A validated CARTO 3 API base URL: every endpoint is `/v3/...` below it.
///
/// Accepted: `https://{region}.api.carto.com`, `https://{tenant}/api` (or any other
/// path prefix of a self-hosted tenant or proxy), and plain `http` for the local
/// machine (`localhost`, `127.0.0.1`, `::1`: an emulator). Refused, with a typed
/// error: other plain-http hosts (unless [`ApiBaseUrl::parse_allow_http`]), query
/// strings, user info, paths that already contain `/v3`, legacy-platform URLs
/// (`{user}.carto.com`, `/user/{user}`) and workspace URLs (`*.app.carto.com`).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiBaseUrl {
    url: Url,
    kind: ApiBaseUrlKind,
}

impl ApiBaseUrl {
    /// Parses an API base URL: `https`, or `http` for the local machine only.
    pub fn parse(input: &str) -> Result<Self, ApiBaseUrlError> {
        Self::parse_inner(input, false)
    }

    /// Parses an API base URL, accepting plain `http` to any host (a test server on
    /// another machine). Prefer [`ApiBaseUrl::parse`].
    pub fn parse_allow_http(input: &str) -> Result<Self, ApiBaseUrlError> {
        Self::parse_inner(input, true)
    }

    /// The API base URL of a CARTO region: `https://{region}.api.carto.com`.
    pub fn region(region: &str) -> Result<Self, ApiBaseUrlError> {
        let ok = !region.is_empty()
            && region
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !ok {
            return Err(ApiBaseUrlError::Parse(format!("invalid region `{region}`")));
        }
        Self::parse(&format!("https://{region}.api.carto.com"))
    }

    fn parse_inner(input: &str, allow_http: bool) -> Result<Self, ApiBaseUrlError> {
        let url = parse_service_url(input, allow_http)?;
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let segments: Vec<&str> = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).collect())
            .unwrap_or_default();
        if segments
            .iter()
            .any(|s| s.eq_ignore_ascii_case("v3") || s.eq_ignore_ascii_case("v2"))
        {
            return Err(ApiBaseUrlError::EndpointPath(url.path().to_owned()));
        }
        if matches!(segments.first(), Some(&"user") | Some(&"u")) && segments.len() == 2 {
            return Err(ApiBaseUrlError::LegacyUrl(url_text(&url).to_owned()));
        }
        let kind = if let Some(region) = host.strip_suffix(".api.carto.com") {
            ApiBaseUrlKind::Regional {
                region: region.to_owned(),
            }
        } else if let Some(region) = host.strip_suffix(".app.carto.com") {
            return Err(ApiBaseUrlError::WorkspaceUrl(
                url_text(&url).to_owned(),
                format!("{region}.api.carto.com"),
            ));
        } else if host.ends_with(".carto.com") && !host.contains(".api.") {
            return Err(ApiBaseUrlError::LegacyUrl(url_text(&url).to_owned()));
        } else {
            ApiBaseUrlKind::Custom
        };
        Ok(Self { url, kind })
    }

    /// Which kind of host this is.
    pub fn kind(&self) -> &ApiBaseUrlKind {
        &self.kind
    }

    /// Whether the URL uses https.
    pub fn is_secure(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The URL as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        url_text(&self.url)
    }

    /// The URL of an endpoint: the base URL with `segments` appended, each one
    /// percent-encoded (`["v3", "sql", "my conn", "query"]`).
    pub fn endpoint<S: AsRef<str>>(&self, segments: &[S]) -> Url {
        append_segments(&self.url, segments)
    }
}

impl Default for ApiBaseUrl {
    /// [`DEFAULT_API_BASE_URL`].
    fn default() -> Self {
        Self::parse(DEFAULT_API_BASE_URL).expect("the default API base URL is valid")
    }
}

impl fmt::Debug for ApiBaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApiBaseUrl").field(&self.as_str()).finish()
    }
}

impl fmt::Display for ApiBaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ApiBaseUrl {
    type Err = ApiBaseUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The base URL of the OAuth server that issues M2M tokens
/// (`{auth_url}/oauth/token`): `https://auth.carto.com` by default, another host for a
/// self-hosted tenant or a local emulator.
#[derive(Clone, PartialEq, Eq)]
pub struct AuthUrl {
    url: Url,
}

impl AuthUrl {
    /// Parses an OAuth server URL: `https`, or `http` for the local machine only. A
    /// path is kept as a prefix.
    pub fn parse(input: &str) -> Result<Self, ApiBaseUrlError> {
        Ok(Self {
            url: parse_service_url(input, false)?,
        })
    }

    /// Parses an OAuth server URL, accepting plain `http` to any host.
    pub fn parse_allow_http(input: &str) -> Result<Self, ApiBaseUrlError> {
        Ok(Self {
            url: parse_service_url(input, true)?,
        })
    }

    /// The URL as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        url_text(&self.url)
    }

    /// The token endpoint: `{auth_url}/oauth/token`.
    pub fn token_endpoint(&self) -> Url {
        append_segments(&self.url, &["oauth", "token"])
    }
}

impl Default for AuthUrl {
    /// [`DEFAULT_AUTH_URL`].
    fn default() -> Self {
        Self::parse(DEFAULT_AUTH_URL).expect("the default auth URL is valid")
    }
}

impl fmt::Debug for AuthUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AuthUrl").field(&self.as_str()).finish()
    }
}

impl fmt::Display for AuthUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApiBaseUrlError::*;

    #[test]
    fn regional_self_hosted_and_local_forms() {
        let b = ApiBaseUrl::parse("https://gcp-us-east1.api.carto.com/").unwrap();
        assert_eq!(b.as_str(), "https://gcp-us-east1.api.carto.com");
        assert_eq!(
            b.kind(),
            &ApiBaseUrlKind::Regional {
                region: "gcp-us-east1".into()
            }
        );
        assert_eq!(b, ApiBaseUrl::default());
        assert_eq!(
            ApiBaseUrl::region("gcp-europe-west1").unwrap().as_str(),
            "https://gcp-europe-west1.api.carto.com"
        );
        assert!(ApiBaseUrl::region("a/b").is_err());
        let b = ApiBaseUrl::parse("https://carto.acme.example/api/").unwrap();
        assert_eq!(b.kind(), &ApiBaseUrlKind::Custom);
        assert_eq!(
            b.endpoint(&["v3", "sql", "my conn/x", "query"]).as_str(),
            "https://carto.acme.example/api/v3/sql/my%20conn%2Fx/query"
        );
        for local in [
            "http://localhost:8080",
            "http://127.0.0.1:9",
            "http://[::1]:9/",
        ] {
            let b = ApiBaseUrl::parse(local).unwrap();
            assert!(!b.is_secure());
            assert_eq!(b.endpoint(&["v3", "tokens"]).path(), "/v3/tokens");
        }
    }

    #[test]
    fn refused_forms() {
        assert_eq!(
            ApiBaseUrl::parse("http://carto.acme.example/api"),
            Err(InsecureScheme)
        );
        assert!(ApiBaseUrl::parse_allow_http("http://carto.acme.example/api").is_ok());
        assert!(matches!(
            ApiBaseUrl::parse("ftp://x.example"),
            Err(UnsupportedScheme(_))
        ));
        assert!(matches!(ApiBaseUrl::parse("nope"), Err(Parse(_))));
        assert_eq!(
            ApiBaseUrl::parse("https://h.example/api?access_token=canary"),
            Err(QueryOrFragment)
        );
        assert_eq!(
            ApiBaseUrl::parse("https://u:canary@h.example"),
            Err(UserInfo)
        );
        assert!(matches!(
            ApiBaseUrl::parse("https://gcp-us-east1.api.carto.com/v3/sql"),
            Err(EndpointPath(_))
        ));
        assert!(matches!(
            ApiBaseUrl::parse("https://alice.carto.com"),
            Err(LegacyUrl(_))
        ));
        assert!(matches!(
            ApiBaseUrl::parse("https://h.example/user/alice"),
            Err(LegacyUrl(_))
        ));
        let err = ApiBaseUrl::parse("https://gcp-us-east1.app.carto.com").unwrap_err();
        assert!(
            err.to_string()
                .contains("https://gcp-us-east1.api.carto.com"),
            "{err}"
        );
        let msg = ApiBaseUrl::parse("https://u:canary@h.example")
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("canary"));
    }

    #[test]
    fn auth_url() {
        let a = AuthUrl::default();
        assert_eq!(
            a.token_endpoint().as_str(),
            "https://auth.carto.com/oauth/token"
        );
        let a = AuthUrl::parse("http://127.0.0.1:7000/").unwrap();
        assert_eq!(
            a.token_endpoint().as_str(),
            "http://127.0.0.1:7000/oauth/token"
        );
        let a = AuthUrl::parse("https://sso.acme.example/auth").unwrap();
        assert_eq!(
            a.token_endpoint().as_str(),
            "https://sso.acme.example/auth/oauth/token"
        );
        assert_eq!(
            AuthUrl::parse("http://sso.acme.example"),
            Err(InsecureScheme)
        );
        assert!(AuthUrl::parse_allow_http("http://sso.acme.example").is_ok());
    }
}
