//! CARTO 3's sans-IO layer: an [`ApiEndpoint`] turns into an `http::Request` with an
//! [`ApiContext`] (the API base URL, the Bearer token of this request, how the client
//! identifies itself and retries) and parses the `http::Response`.

use std::fmt;
use std::sync::Arc;

use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::Serialize;

use super::api_base_url::ApiBaseUrl;
use super::secret::AccessToken;
use crate::endpoint::{DEFAULT_CLIENT_ID, DEFAULT_USER_AGENT, HttpRequest, HttpResponse};
use crate::error::Error;
use crate::retry::RetryPolicy;

/// One CARTO 3 operation: a pure request builder and a pure response parser (the
/// CARTO 3 counterpart of [`Endpoint`](crate::Endpoint)).
pub trait ApiEndpoint {
    /// What a successful response becomes.
    type Output;

    /// Builds the HTTP request.
    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error>;

    /// Parses the HTTP response (error statuses included).
    fn parse(&self, response: HttpResponse) -> Result<Self::Output, Error>;

    /// Whether sending the request twice has the same effect as once.
    fn is_idempotent(&self) -> bool {
        false
    }
}

/// What stays the same for every request of a client.
struct Fixed {
    base_url: ApiBaseUrl,
    user_agent: Result<HeaderValue, ()>,
    client_id: Option<String>,
}

/// Everything a CARTO 3 request needs besides the operation: the API base URL, the
/// Bearer token (`Authorization: Bearer ...`, marked sensitive), the `User-Agent`, the
/// `client` query parameter, and the retry policy.
///
/// Cloning is cheap (the fixed part is shared), so a client with refreshed tokens
/// makes one context per call with [`ApiContext::with_access_token`].
#[derive(Clone)]
pub struct ApiContext {
    fixed: Arc<Fixed>,
    authorization: Option<HeaderValue>,
    retry: RetryPolicy,
}

impl ApiContext {
    /// A context with no token yet, `User-Agent: carto-rs/<version>` and
    /// `client=carto-rs-<version>`.
    pub fn new(base_url: ApiBaseUrl) -> Self {
        Self {
            fixed: Arc::new(Fixed {
                base_url,
                user_agent: Ok(HeaderValue::from_static(DEFAULT_USER_AGENT)),
                client_id: Some(DEFAULT_CLIENT_ID.to_owned()),
            }),
            authorization: None,
            retry: RetryPolicy::default(),
        }
    }

    fn fixed_mut(&mut self) -> &mut Fixed {
        if Arc::get_mut(&mut self.fixed).is_none() {
            self.fixed = Arc::new(Fixed {
                base_url: self.fixed.base_url.clone(),
                user_agent: self.fixed.user_agent.clone(),
                client_id: self.fixed.client_id.clone(),
            });
        }
        Arc::get_mut(&mut self.fixed).expect("just made unique")
    }

    /// The same context sending `token` as `Authorization: Bearer <token>` (marked
    /// sensitive). Fails for a token that cannot be a header value (its text is not
    /// repeated in the error).
    pub fn with_access_token(mut self, token: &AccessToken) -> Result<Self, Error> {
        let mut value = HeaderValue::try_from(format!("Bearer {}", token.expose_secret().trim()))
            .map_err(|_| {
            Error::invalid("access token", "the token cannot be sent in a header")
        })?;
        value.set_sensitive(true);
        self.authorization = Some(value);
        Ok(self)
    }

    /// Sets the `User-Agent`; a value that is not a valid header fails at the first
    /// request.
    pub fn with_user_agent(mut self, user_agent: &str) -> Self {
        self.fixed_mut().user_agent = HeaderValue::from_str(user_agent).map_err(|_| ());
        self
    }

    /// Sets (or, with `None`, stops sending) the `client` query parameter.
    pub fn with_client_id(mut self, client_id: Option<String>) -> Self {
        self.fixed_mut().client_id = client_id;
        self
    }

    /// Sets how requests are retried.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The API base URL.
    pub fn base_url(&self) -> &ApiBaseUrl {
        &self.fixed.base_url
    }

    /// How requests are retried.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// The `client` identifier sent, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.fixed.client_id.as_deref()
    }

    /// Whether a token is set.
    pub fn has_access_token(&self) -> bool {
        self.authorization.is_some()
    }

    /// Starts a request to the endpoint at `segments` below the base URL (each one
    /// percent-encoded).
    pub fn request<S: AsRef<str>>(&self, method: Method, segments: &[S]) -> ApiRequestBuilder<'_> {
        ApiRequestBuilder {
            ctx: self,
            method,
            url: self.fixed.base_url.endpoint(segments),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
            client_param: true,
        }
    }
}

impl ApiContext {
    /// Starts a request to `url`, an absolute URL the API gave (a TileJSON's URL, a
    /// tile template filled in). It must be on the API base URL's origin (scheme, host
    /// and port) and below its path: the Bearer token is never sent anywhere else.
    /// The URL's own query parameters are kept.
    pub fn request_url(&self, method: Method, url: &str) -> Result<ApiRequestBuilder<'_>, Error> {
        let parsed =
            url::Url::parse(url).map_err(|_| Error::invalid("URL", "not an absolute URL"))?;
        let base = self.fixed.base_url.endpoint::<&str>(&[]);
        let same_origin = parsed.origin() == base.origin();
        let prefix = base.path().trim_end_matches('/');
        let below = parsed.path() == prefix || parsed.path().starts_with(&format!("{prefix}/"));
        if !same_origin || !below || !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Error::invalid(
                "URL",
                "not below the API base URL: the access token is only sent there",
            ));
        }
        Ok(ApiRequestBuilder {
            ctx: self,
            method,
            url: parsed,
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: None,
            client_param: false,
        })
    }
}

impl fmt::Debug for ApiContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiContext")
            .field("base_url", &self.fixed.base_url)
            .field(
                "access_token",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .field("client_id", &self.fixed.client_id)
            .field("retry", &self.retry)
            .finish()
    }
}

/// Builds one CARTO 3 request: path, query, headers, JSON body; then the `client`
/// parameter, the Bearer header and the `User-Agent`.
pub struct ApiRequestBuilder<'a> {
    ctx: &'a ApiContext,
    method: Method,
    url: url::Url,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Option<Vec<u8>>,
    client_param: bool,
}

impl ApiRequestBuilder<'_> {
    /// Leaves the `client` query parameter out (a POST that carries it in its body).
    pub fn without_client_param(mut self) -> Self {
        self.client_param = false;
        self
    }

    /// Adds a query parameter.
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// A JSON body (`Content-Type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self, Error> {
        let bytes =
            serde_json::to_vec(body).map_err(|e| Error::invalid("request body", e.to_string()))?;
        self.body = Some(bytes);
        Ok(self)
    }

    /// Builds the request. Fails when no token is set.
    pub fn build(self) -> Result<HttpRequest, Error> {
        let ctx = self.ctx;
        let authorization = ctx.authorization.clone().ok_or_else(|| {
            Error::invalid(
                "request",
                "no access token: the context has no Bearer token yet",
            )
        })?;
        let user_agent = ctx
            .fixed
            .user_agent
            .clone()
            .map_err(|()| Error::invalid("user agent", "not a valid header value"))?;
        let mut url = self.url;
        let client = (ctx.fixed.client_id.as_deref())
            .filter(|_| self.client_param)
            .map(|c| ("client", c));
        if !self.query.is_empty() || client.is_some() {
            url.query_pairs_mut()
                .extend_pairs(self.query.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .extend_pairs(client);
        }
        let mut headers = self.headers;
        headers.insert(AUTHORIZATION, authorization);
        headers.insert(USER_AGENT, user_agent);
        if self.body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let mut request = http::Request::builder()
            .method(self.method)
            .uri(url.as_str())
            .body(self.body.unwrap_or_default())
            .map_err(|_| Error::invalid("request", "the URL is not a valid URI"))?;
        *request.headers_mut() = headers;
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ApiContext {
        ApiContext::new(ApiBaseUrl::parse("https://carto.acme.example/api").unwrap())
    }

    #[test]
    fn absolute_urls_must_be_below_the_api_base_url() {
        let ctx = ctx().with_access_token(&AccessToken::new("t")).unwrap();
        let ok = ctx
            .request_url(
                Method::GET,
                "https://carto.acme.example/api/v3/maps/c/table/1/0/0?name=a&formatTiles=mvt",
            )
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(ok.uri().query(), Some("name=a&formatTiles=mvt"));
        for bad in [
            "https://evil.example/api/v3/maps",
            "http://carto.acme.example/api/v3/maps",
            "https://carto.acme.example:8443/api/v3/maps",
            "https://carto.acme.example/other/v3",
            "https://carto.acme.example/apix/v3",
            "https://user:pw@carto.acme.example/api/v3",
            "/api/v3/maps",
        ] {
            assert!(ctx.request_url(Method::GET, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bearer_is_sensitive_and_required() {
        let err = ctx()
            .request(Method::GET, &["v3", "tokens"])
            .build()
            .unwrap_err();
        assert!(err.is_invalid_input());
        let ctx = ctx()
            .with_access_token(&AccessToken::new("eyJ-canary"))
            .unwrap();
        let req = ctx
            .request(Method::GET, &["v3", "tokens"])
            .query("a", "b c")
            .build()
            .unwrap();
        assert_eq!(
            req.uri(),
            &format!("https://carto.acme.example/api/v3/tokens?a=b+c&client={DEFAULT_CLIENT_ID}")[..]
        );
        let auth = &req.headers()[AUTHORIZATION];
        assert!(auth.is_sensitive());
        assert_eq!(auth, "Bearer eyJ-canary");
        assert_eq!(req.headers()[USER_AGENT], DEFAULT_USER_AGENT);
        assert!(!format!("{ctx:?}").contains("canary"));
        let bad = ApiContext::new(ApiBaseUrl::default())
            .with_access_token(&AccessToken::new("a\nb-canary"));
        assert!(!bad.unwrap_err().to_string().contains("canary"));
    }

    #[test]
    fn settings_do_not_touch_clones() {
        let base = ctx().with_access_token(&AccessToken::new("t")).unwrap();
        let other = base.clone().with_user_agent("mine/1").with_client_id(None);
        let req = other
            .request(Method::POST, &["v3", "x"])
            .json(&[1])
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(req.headers()[USER_AGENT], "mine/1");
        assert_eq!(req.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(req.uri().query(), None);
        assert_eq!(req.body(), b"[1]");
        let req = base.request(Method::GET, &["v3", "x"]).build().unwrap();
        assert_eq!(req.headers()[USER_AGENT], DEFAULT_USER_AGENT);
        let bad = base.with_user_agent("bad\nua");
        assert!(bad.request(Method::GET, &["v3"]).build().is_err());
    }
}
