//! The M2M token, as a sans-IO state machine: [`TokenCache::token_or_request`] gives
//! either a token to send or the request that fetches one; the caller sends it and
//! hands the answer to [`TokenCache::token_response`]. The clock is passed in.
//!
//! ```text
//!             token_or_request(now)
//!  (empty) ─────────────────────────▶ Request ──send──▶ token_response(resp, now)
//!     ▲                                                       │
//!     │ rejected(token) after a 401                           ▼
//!     └──────────────────────────── (cached until expiry − margin) ──▶ Token
//! ```

use std::fmt;
use std::time::{Duration, SystemTime};

use http::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use http::{HeaderValue, Method};

use super::credentials::{ClientCredentials, TokenSource};
use super::secret::AccessToken;
use crate::endpoint::{DEFAULT_USER_AGENT, HttpRequest, HttpResponse};
use crate::error::{ApiError, Error};

/// How long before its expiry a cached token is replaced, by default (for tokens that
/// live at least twice as long; a shorter-lived token is replaced at half its life).
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// What to do to get a Bearer token.
#[derive(Debug)]
pub enum TokenOrRequest {
    /// Send this token.
    Token(AccessToken),
    /// Send this request to the OAuth server, then hand its response to
    /// [`TokenCache::token_response`].
    Request(Box<TokenRequest>),
}

/// The request that fetches an M2M token: `POST {auth_url}/oauth/token` with the
/// client credentials as a form. Its body holds the client secret: its `Debug` shows
/// only the method and the URL.
pub struct TokenRequest {
    request: HttpRequest,
}

impl TokenRequest {
    /// The request to send (sending it twice is harmless: it only issues a token).
    pub fn into_request(self) -> HttpRequest {
        self.request
    }

    /// The request, to look at.
    pub fn request(&self) -> &HttpRequest {
        &self.request
    }
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("method", self.request.method())
            .field("uri", self.request.uri())
            .finish_non_exhaustive()
    }
}

/// A token in the cache.
#[derive(Clone)]
struct Cached {
    token: AccessToken,
    refresh_at: SystemTime,
    expires_at: SystemTime,
    /// Fetched because the previous token was rejected: a 401 on this one means the
    /// credentials themselves are refused, and fetching again would not help.
    after_rejection: bool,
}

/// The Bearer token of a [`TokenSource`]: a fixed token as is, or for client
/// credentials a cached token, fetched when missing and again `margin` before it
/// expires, and dropped once after a 401.
///
/// Several requests may share one cache behind a lock: it holds no I/O, only state.
#[derive(Clone)]
pub struct TokenCache {
    source: TokenSource,
    margin: Duration,
    user_agent: String,
    cached: Option<Cached>,
    /// The last token was dropped after a 401; the next one fetched is marked.
    rejected_last: bool,
}

impl TokenCache {
    /// A cache for `source`, with [`DEFAULT_REFRESH_MARGIN`].
    pub fn new(source: TokenSource) -> Self {
        Self {
            source,
            margin: DEFAULT_REFRESH_MARGIN,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            cached: None,
            rejected_last: false,
        }
    }

    /// Replaces a token this long before it expires (at most half its lifetime).
    pub fn with_refresh_margin(mut self, margin: Duration) -> Self {
        self.margin = margin;
        self
    }

    /// The `User-Agent` of token requests.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The token source.
    pub fn source(&self) -> &TokenSource {
        &self.source
    }

    /// Whether tokens are fetched (client credentials) rather than fixed.
    pub fn is_refreshable(&self) -> bool {
        matches!(self.source, TokenSource::ClientCredentials(_))
    }

    /// The token to send at `now`, or the request that fetches one.
    pub fn token_or_request(&self, now: SystemTime) -> Result<TokenOrRequest, Error> {
        let m2m = match &self.source {
            TokenSource::Fixed(token) => return Ok(TokenOrRequest::Token(token.clone())),
            TokenSource::ClientCredentials(m2m) => m2m,
        };
        match &self.cached {
            Some(c) if now < c.refresh_at => Ok(TokenOrRequest::Token(c.token.clone())),
            _ => Ok(TokenOrRequest::Request(Box::new(TokenRequest {
                request: token_request(m2m, &self.user_agent)?,
            }))),
        }
    }

    /// The cached token when it has not expired at `now`, even if it is due for
    /// refresh: what a caller may still send when fetching a new one failed.
    pub fn unexpired_token(&self, now: SystemTime) -> Option<AccessToken> {
        match (&self.source, &self.cached) {
            (TokenSource::Fixed(token), _) => Some(token.clone()),
            (_, Some(c)) if now < c.expires_at => Some(c.token.clone()),
            _ => None,
        }
    }

    /// When the cached token expires.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.cached.as_ref().map(|c| c.expires_at)
    }

    /// Reads the OAuth server's answer to a [`TokenRequest`] sent at about `now`,
    /// caches the token and returns it.
    ///
    /// The answer must be a 2xx JSON object with a non-empty `access_token` and a
    /// positive `expires_in` (seconds); `token_type`, when present, must be `Bearer`.
    /// Errors never quote the body (it may hold a token): an error status gives
    /// [`Error::Api`] with the OAuth error (`error`, `error_description`); a malformed
    /// answer gives [`Error::Credentials`] naming what is missing.
    pub fn token_response(
        &mut self,
        response: HttpResponse,
        now: SystemTime,
    ) -> Result<AccessToken, Error> {
        if !response.status().is_success() {
            let api = ApiError::from_parts(response.status(), response.headers(), response.body())
                .with_note("fetching an M2M access token");
            return Err(api.into());
        }
        let issued = parse_token_body(response.body())?;
        let lifetime = Duration::from_secs(issued.expires_in);
        let margin = self.margin.min(lifetime / 2);
        let token = issued.access_token;
        self.cached = Some(Cached {
            token: token.clone(),
            refresh_at: now + (lifetime - margin),
            expires_at: now + lifetime,
            after_rejection: std::mem::take(&mut self.rejected_last),
        });
        Ok(token)
    }

    /// Puts a token obtained elsewhere (a token cache file) in the cache, valid until
    /// `expires_at` and replaced `margin` before. Ignored for a fixed token source.
    pub fn seed(&mut self, token: AccessToken, expires_at: SystemTime) {
        if !self.is_refreshable() {
            return;
        }
        let refresh_at = expires_at
            .checked_sub(self.margin)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        self.cached = Some(Cached {
            token,
            refresh_at,
            expires_at,
            after_rejection: false,
        });
    }

    /// CARTO answered 401 to a request sent with `token`: says whether fetching a new
    /// token and sending the request once more can help.
    ///
    /// For client credentials, a cached `token` is dropped (so the next
    /// [`token_or_request`](Self::token_or_request) fetches a new one) and the answer
    /// is `true`, unless that token was itself fetched after a rejection (the
    /// credentials are refused: `false`, no loop). When the cache already holds
    /// another token (fetched meanwhile), the answer is `true`. A fixed token cannot be
    /// replaced: `false`. A driver sends a request again at most once per call.
    pub fn rejected(&mut self, token: &AccessToken) -> bool {
        if !self.is_refreshable() {
            return false;
        }
        match &self.cached {
            Some(c) if &c.token == token => {
                let retry = !c.after_rejection;
                self.cached = None;
                self.rejected_last = true;
                retry
            }
            Some(_) => true,
            None => !self.rejected_last,
        }
    }

    /// Drops the cached token.
    pub fn clear(&mut self) {
        self.cached = None;
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("source", &self.source)
            .field("margin", &self.margin)
            .field("cached", &self.cached.is_some())
            .field("expires_at", &self.expires_at())
            .finish()
    }
}

/// `POST {auth_url}/oauth/token`, form-encoded as carto-auth sends it.
fn token_request(m2m: &ClientCredentials, user_agent: &str) -> Result<HttpRequest, Error> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", m2m.client_id())
        .append_pair("client_secret", m2m.client_secret().expose_secret())
        .append_pair("audience", m2m.audience())
        .finish();
    let user_agent = HeaderValue::from_str(user_agent)
        .map_err(|_| Error::invalid("user agent", "not a valid header value"))?;
    http::Request::builder()
        .method(Method::POST)
        .uri(m2m.auth_url().token_endpoint().as_str())
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(ACCEPT, "application/json")
        .header(USER_AGENT, user_agent)
        .body(body.into_bytes())
        .map_err(|_| Error::invalid("auth URL", "not a valid URI"))
}

/// What a token answer must hold.
struct Issued {
    access_token: AccessToken,
    expires_in: u64,
}

fn malformed(what: &str) -> Error {
    Error::credentials(format!(
        "the OAuth server's token response {what}; check the M2M client id and secret"
    ))
}

fn parse_token_body(body: &[u8]) -> Result<Issued, Error> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return Err(malformed("is not a JSON object"));
    };
    if map.get("error").is_some_and(|e| !e.is_null()) {
        return Err(malformed("carries an error"));
    }
    let access_token = match map.get("access_token") {
        Some(serde_json::Value::String(s)) if !s.trim().is_empty() => AccessToken::new(s.clone()),
        _ => return Err(malformed("has no access_token")),
    };
    let expires_in = match map.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|&secs| secs > 0)
    .ok_or_else(|| malformed("has no positive expires_in"))?;
    match map.get("token_type") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
        Some(_) => return Err(malformed("has a token_type other than Bearer")),
    }
    Ok(Issued {
        access_token,
        expires_in,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::carto3::api_base_url::AuthUrl;

    const SECRET: &str = "client-secret-canary";
    const ISSUED: &str = "eyJ-issued-canary";

    fn m2m() -> TokenCache {
        let creds = ClientCredentials::new("client-1", SECRET)
            .unwrap()
            .with_auth_url(AuthUrl::parse("http://127.0.0.1:7/").unwrap());
        TokenCache::new(TokenSource::ClientCredentials(creds))
    }

    fn t(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
    }

    fn answer(status: u16, body: &str) -> HttpResponse {
        http::Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .body(body.as_bytes().to_vec())
            .unwrap()
    }

    fn ok(token: &str, expires_in: u64) -> HttpResponse {
        answer(
            200,
            &format!(
                r#"{{"access_token":"{token}","expires_in":{expires_in},"token_type":"Bearer"}}"#
            ),
        )
    }

    fn expect_request(cache: &TokenCache, now: SystemTime) -> HttpRequest {
        match cache.token_or_request(now).unwrap() {
            TokenOrRequest::Request(r) => {
                assert!(!format!("{r:?}").contains(SECRET));
                r.into_request()
            }
            TokenOrRequest::Token(_) => panic!("expected a request"),
        }
    }

    fn expect_token(cache: &TokenCache, now: SystemTime) -> AccessToken {
        match cache.token_or_request(now).unwrap() {
            TokenOrRequest::Token(t) => t,
            TokenOrRequest::Request(_) => panic!("expected a token"),
        }
    }

    #[test]
    fn fixed_tokens_are_sent_as_is() {
        let mut cache = TokenCache::new(TokenSource::token("api-token").unwrap());
        assert_eq!(expect_token(&cache, t(0)).expose_secret(), "api-token");
        assert!(!cache.rejected(&AccessToken::new("api-token")));
        assert_eq!(
            expect_token(&cache, t(1_000_000)).expose_secret(),
            "api-token"
        );
        assert!(cache.unexpired_token(t(0)).is_some());
    }

    #[test]
    fn the_token_request_is_carto_auths_form() {
        let cache = m2m().with_user_agent("ua/1");
        let req = expect_request(&cache, t(0));
        assert_eq!(req.method(), Method::POST);
        assert_eq!(req.uri(), "http://127.0.0.1:7/oauth/token");
        assert_eq!(
            req.headers()[CONTENT_TYPE],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(req.headers()[USER_AGENT], "ua/1");
        assert_eq!(
            String::from_utf8(req.body().clone()).unwrap(),
            format!(
                "grant_type=client_credentials&client_id=client-1&client_secret={SECRET}&audience=carto-cloud-native-api"
            )
        );
    }

    #[test]
    fn cached_until_the_margin_before_expiry() {
        let mut cache = m2m().with_refresh_margin(Duration::from_secs(300));
        expect_request(&cache, t(0));
        let token = cache.token_response(ok(ISSUED, 86_400), t(0)).unwrap();
        assert_eq!(token.expose_secret(), ISSUED);
        assert_eq!(expect_token(&cache, t(1)), token);
        assert_eq!(expect_token(&cache, t(86_400 - 301)), token);
        // Inside the margin: fetch again, though the old token still works meanwhile.
        expect_request(&cache, t(86_400 - 300));
        assert_eq!(cache.unexpired_token(t(86_400 - 1)), Some(token.clone()));
        assert_eq!(cache.unexpired_token(t(86_400)), None);
        cache
            .token_response(ok("eyJ-second", 86_400), t(86_400 - 300))
            .unwrap();
        assert_eq!(
            expect_token(&cache, t(86_400)).expose_secret(),
            "eyJ-second"
        );
        assert_eq!(cache.expires_at(), Some(t(2 * 86_400 - 300)));
    }

    #[test]
    fn short_lived_tokens_are_replaced_at_half_life() {
        let mut cache = m2m();
        cache.token_response(ok(ISSUED, 10), t(0)).unwrap();
        expect_token(&cache, t(4));
        expect_request(&cache, t(5));
    }

    #[test]
    fn a_401_drops_the_cached_token_once() {
        let mut cache = m2m();
        let first = cache.token_response(ok(ISSUED, 3600), t(0)).unwrap();
        assert!(cache.rejected(&first));
        expect_request(&cache, t(1));
        let second = cache.token_response(ok("eyJ-second", 3600), t(1)).unwrap();
        // The fresh token is refused too: the credentials are at fault, no loop.
        assert!(!cache.rejected(&second));
        expect_request(&cache, t(2));
        let third = cache.token_response(ok("eyJ-third", 3600), t(2)).unwrap();
        assert_eq!(expect_token(&cache, t(100)), third);
        // A rejection of an older token while a newer one is cached: use the newer.
        assert!(cache.rejected(&first));
        assert_eq!(expect_token(&cache, t(100)), third);
    }

    #[test]
    fn seeded_tokens_are_used_until_their_margin() {
        let mut cache = m2m().with_refresh_margin(Duration::from_secs(60));
        cache.seed(AccessToken::new("eyJ-from-file"), t(1000));
        assert_eq!(
            expect_token(&cache, t(939)).expose_secret(),
            "eyJ-from-file"
        );
        expect_request(&cache, t(940));
        cache.clear();
        expect_request(&cache, t(0));
    }

    #[test]
    fn malformed_answers_are_typed_and_quote_nothing() {
        let cases = [
            (200, "not json", "not a JSON object"),
            (200, "[1]", "not a JSON object"),
            (200, r#"{"expires_in":60}"#, "no access_token"),
            (
                200,
                r#"{"access_token":"","expires_in":60}"#,
                "no access_token",
            ),
            (
                200,
                &format!(r#"{{"access_token":"{ISSUED}"}}"#),
                "expires_in",
            ),
            (
                200,
                &format!(r#"{{"access_token":"{ISSUED}","expires_in":0}}"#),
                "expires_in",
            ),
            (
                200,
                &format!(r#"{{"access_token":"{ISSUED}","expires_in":-5}}"#),
                "expires_in",
            ),
            (
                200,
                &format!(r#"{{"access_token":"{ISSUED}","expires_in":60,"token_type":"mac"}}"#),
                "token_type",
            ),
            (
                200,
                &format!(r#"{{"access_token":"{ISSUED}","expires_in":60,"error":"x"}}"#),
                "error",
            ),
        ];
        for (status, body, expected) in cases {
            let mut cache = m2m();
            let err = cache
                .token_response(answer(status, body), t(0))
                .unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(text.contains(expected), "{body}: {text}");
            assert!(!text.contains(ISSUED) && !text.contains(SECRET), "{text}");
            assert!(matches!(err, Error::Credentials(_)));
            expect_request(&cache, t(0));
        }
        // A string expires_in is read.
        let mut cache = m2m();
        let body = format!(r#"{{"access_token":"{ISSUED}","expires_in":"60"}}"#);
        cache.token_response(answer(200, &body), t(0)).unwrap();
        expect_token(&cache, t(1));
    }

    #[test]
    fn refused_credentials_are_an_api_error() {
        let mut cache = m2m();
        let body = r#"{"error":"access_denied","error_description":"Unauthorized"}"#;
        let err = cache.token_response(answer(401, body), t(0)).unwrap_err();
        assert!(err.is_unauthorized());
        let text = err.to_string();
        assert!(
            text.contains("access_denied") && text.contains("M2M"),
            "{text}"
        );
        assert!(!format!("{cache:?}").contains(SECRET));
    }
}
