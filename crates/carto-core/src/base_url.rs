//! CARTO base URLs: `https://{user}.carto.com`, `https://{host}/user/{user}` and
//! `https://{org}.carto.com/u/{user}`.

use std::fmt;

use url::Url;

/// Why a base URL was refused. Messages never repeat a query string or user info,
/// which could hold a secret.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    /// Not a URL at all.
    #[error("not a valid URL ({0})")]
    Parse(String),
    /// The URL uses a scheme other than `https` or `http`.
    #[error("the scheme `{0}` is not supported; use https")]
    UnsupportedScheme(String),
    /// `http://` was given without allowing it explicitly.
    #[error(
        "http is not allowed: use https, or allow plain http explicitly (for example for a local emulator)"
    )]
    InsecureScheme,
    /// The URL has no host.
    #[error("the URL has no host")]
    MissingHost,
    /// The URL carries a query string or a fragment.
    #[error("a base URL cannot have a query string or a fragment")]
    QueryOrFragment,
    /// The URL carries `user:password@`.
    #[error("a base URL cannot carry user info; pass the API key separately")]
    UserInfo,
    /// No username could be found: the host has a single label (or is an IP address)
    /// and the path is not `/user/{user}` or `/u/{user}`.
    #[error(
        "no username in host `{0}`: use https://{{user}}.{{domain}}, https://{{host}}/user/{{user}} or https://{{org}}.{{domain}}/u/{{user}}"
    )]
    NoUsername(String),
    /// The path is neither empty, `/user/{user}` nor `/u/{user}`.
    #[error("unexpected path `{0}`: a base URL path is empty, /user/{{user}} or /u/{{user}}")]
    UnexpectedPath(String),
    /// The username is empty or has characters CARTO usernames never have.
    #[error("invalid username `{0}`")]
    InvalidUsername(String),
}

/// Which of CARTO's URL forms a base URL uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseUrlKind {
    /// `https://{user}.carto.com` (any domain): the user is the first host label.
    Cloud,
    /// `https://{host}/user/{user}`: on-premise or subdomainless.
    OnPremise,
    /// `https://{org}.carto.com/u/{user}`: a user of an organization.
    Organization {
        /// The organization: the first host label.
        org: String,
    },
}

/// A validated CARTO base URL with the username it designates.
///
/// Endpoint URLs are built by appending path segments (percent-encoded), so the
/// `/user/{user}` prefix is never lost.
#[derive(Clone, PartialEq, Eq)]
pub struct BaseUrl {
    url: Url,
    username: String,
    kind: BaseUrlKind,
}

impl BaseUrl {
    /// Parses an `https` base URL.
    pub fn parse(input: &str) -> Result<Self, BaseUrlError> {
        Self::parse_inner(input, false)
    }

    /// Parses a base URL, accepting plain `http` too (for a local emulator or a
    /// test server). Prefer [`BaseUrl::parse`] for anything on a network.
    pub fn parse_allow_http(input: &str) -> Result<Self, BaseUrlError> {
        Self::parse_inner(input, true)
    }

    /// The cloud base URL of a user: `https://{username}.carto.com`.
    pub fn cloud(username: &str) -> Result<Self, BaseUrlError> {
        validate_username(username)?;
        Self::parse(&format!("https://{username}.carto.com"))
    }

    fn parse_inner(input: &str, allow_http: bool) -> Result<Self, BaseUrlError> {
        let mut url = parse_plain_url(input, allow_http)?;
        let host = url.host().ok_or(BaseUrlError::MissingHost)?;
        let domain = match host {
            url::Host::Domain(d) => Some(d.to_owned()),
            _ => None,
        };
        let host_str = url.host_str().unwrap_or_default().to_owned();
        let segments: Vec<String> = url
            .path_segments()
            .map(|s| s.filter(|p| !p.is_empty()).map(decode).collect())
            .unwrap_or_default();
        let first_label = || {
            domain.as_deref().and_then(|d| {
                let d = d.strip_prefix("www.").unwrap_or(d);
                d.split_once('.').map(|(label, _)| label.to_owned())
            })
        };
        let (username, kind) = match segments.as_slice() {
            [] => {
                let user = first_label().ok_or(BaseUrlError::NoUsername(host_str))?;
                (user, BaseUrlKind::Cloud)
            }
            [prefix, user] if prefix == "user" => (user.clone(), BaseUrlKind::OnPremise),
            [prefix, user] if prefix == "u" => {
                let org = first_label().ok_or(BaseUrlError::NoUsername(host_str))?;
                (user.clone(), BaseUrlKind::Organization { org })
            }
            _ => return Err(BaseUrlError::UnexpectedPath(url.path().to_owned())),
        };
        validate_username(&username)?;
        // Normalise: no trailing slash.
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        Ok(Self {
            url,
            username,
            kind,
        })
    }

    /// The username this URL designates (from the host for the cloud form, from the
    /// path for the on-premise and organization forms).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Which URL form this is.
    pub fn kind(&self) -> &BaseUrlKind {
        &self.kind
    }

    /// Whether the URL uses https.
    pub fn is_secure(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// The URL as text, without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// The URL of an endpoint: the base URL with `segments` appended, each one
    /// percent-encoded (a `/` inside a segment becomes `%2F`).
    pub fn endpoint<S: AsRef<str>>(&self, segments: &[S]) -> Url {
        let mut url = self.url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty();
            for s in segments {
                path.push(s.as_ref());
            }
        }
        url
    }
}

/// Parses an `https` (or, when allowed, `http`) URL with a host and no user info,
/// query string or fragment: the checks every base URL of carto-rs passes.
pub(crate) fn parse_plain_url(input: &str, allow_http: bool) -> Result<Url, BaseUrlError> {
    let url = Url::parse(input.trim()).map_err(|e| BaseUrlError::Parse(e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err(BaseUrlError::InsecureScheme),
        other => return Err(BaseUrlError::UnsupportedScheme(other.to_owned())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(BaseUrlError::UserInfo);
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(BaseUrlError::QueryOrFragment);
    }
    if url.host().is_none() {
        return Err(BaseUrlError::MissingHost);
    }
    Ok(url)
}

fn decode(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8_lossy()
        .into_owned()
}

fn validate_username(username: &str) -> Result<(), BaseUrlError> {
    let ok = !username.is_empty()
        && username.len() <= 63
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(BaseUrlError::InvalidUsername(username.to_owned()))
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BaseUrl")
            .field("url", &self.as_str())
            .field("username", &self.username)
            .field("kind", &self.kind)
            .finish()
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BaseUrl {
    type Err = BaseUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_forms() {
        let b = BaseUrl::parse("https://alice.carto.com/").unwrap();
        assert_eq!((b.username(), b.kind()), ("alice", &BaseUrlKind::Cloud));
        assert_eq!(b.as_str(), "https://alice.carto.com");
        let b = BaseUrl::parse("https://carto.example.com/user/bob").unwrap();
        assert_eq!((b.username(), b.kind()), ("bob", &BaseUrlKind::OnPremise));
        let b = BaseUrl::parse("https://acme.carto.com/u/carol/").unwrap();
        assert_eq!(b.username(), "carol");
        assert_eq!(b.kind(), &BaseUrlKind::Organization { org: "acme".into() });
        assert_eq!(b.as_str(), "https://acme.carto.com/u/carol");
        let b = BaseUrl::parse("https://www.user2.carto.com").unwrap();
        assert_eq!(b.username(), "user2");
    }

    #[test]
    fn endpoints_keep_prefix_and_encode() {
        let b = BaseUrl::parse("https://h.example.com/user/bob").unwrap();
        assert_eq!(
            b.endpoint(&["api", "v3", "api_keys", "a/b c?ñ"]).as_str(),
            "https://h.example.com/user/bob/api/v3/api_keys/a%2Fb%20c%3F%C3%B1"
        );
        let b = BaseUrl::parse("https://alice.carto.com").unwrap();
        assert_eq!(
            b.endpoint(&["api", "v2", "sql"]).as_str(),
            "https://alice.carto.com/api/v2/sql"
        );
    }

    #[test]
    fn bad_forms() {
        use BaseUrlError::*;
        assert_eq!(
            BaseUrl::parse("http://alice.carto.com"),
            Err(InsecureScheme)
        );
        assert!(BaseUrl::parse_allow_http("http://127.0.0.1:8080/user/alice").is_ok());
        assert!(matches!(
            BaseUrl::parse("ftp://a.b"),
            Err(UnsupportedScheme(_))
        ));
        assert!(matches!(BaseUrl::parse("not a url"), Err(Parse(_))));
        assert!(matches!(
            BaseUrl::parse("https://localhost"),
            Err(NoUsername(_))
        ));
        assert!(matches!(
            BaseUrl::parse("https://127.0.0.1:8080/"),
            Err(NoUsername(_))
        ));
        assert!(matches!(
            BaseUrl::parse("https://a.b.com/x/y/z"),
            Err(UnexpectedPath(_))
        ));
        assert!(matches!(
            BaseUrl::parse("https://a.b.com/?api_key=secret"),
            Err(QueryOrFragment)
        ));
        assert!(matches!(
            BaseUrl::parse("https://u:secret@a.b.com"),
            Err(UserInfo)
        ));
        assert!(matches!(
            BaseUrl::parse("https://h.com/user/"),
            Err(UnexpectedPath(_))
        ));
        assert!(matches!(
            BaseUrl::parse("https://h.com/user/a%20b"),
            Err(InvalidUsername(_))
        ));
        let msg = BaseUrl::parse("https://a.b.com/?api_key=secret")
            .unwrap_err()
            .to_string();
        assert!(!msg.contains("secret"));
    }
}
