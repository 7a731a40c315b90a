//! The sans-IO layer: an [`Endpoint`] turns into an `http::Request` and parses an
//! `http::Response`; the [`RequestContext`] carries credentials, auth placement and
//! client identification.

use std::fmt;
use std::sync::OnceLock;

use base64::Engine as _;
use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::credentials::Credentials;
use crate::error::{ApiError, DecodeError, Error};
use crate::retry::RetryPolicy;

/// A buffered HTTP request.
pub type HttpRequest = http::Request<Vec<u8>>;
/// A buffered HTTP response.
pub type HttpResponse = http::Response<Vec<u8>>;

/// The default `User-Agent`: `carto-rs/<version>`.
pub const DEFAULT_USER_AGENT: &str = concat!("carto-rs/", env!("CARGO_PKG_VERSION"));
/// The default `client` identifier sent with each request: `carto-rs-<version>`.
pub const DEFAULT_CLIENT_ID: &str = concat!("carto-rs-", env!("CARGO_PKG_VERSION"));

/// One remote operation: a pure request builder and a pure response parser.
pub trait Endpoint {
    /// What a successful response becomes.
    type Output;

    /// Builds the HTTP request.
    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error>;

    /// Parses the HTTP response (error statuses included).
    fn parse(&self, response: HttpResponse) -> Result<Self::Output, Error>;

    /// Whether sending the request twice has the same effect as once.
    fn is_idempotent(&self) -> bool {
        false
    }
}

/// Where the API key travels.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AuthPlacement {
    /// `Authorization: Basic base64(username:token)`, marked sensitive. CARTO ranks it
    /// first; the default.
    #[default]
    BasicHeader,
    /// The `api_key` query parameter. URLs end up in proxy and server logs: opt in
    /// knowingly.
    QueryParam,
    /// The `api_key` field of a JSON or form body. Requests without such a body (GET,
    /// DELETE, COPY uploads) carry it in the query string instead.
    BodyField,
}

/// Everything a request needs besides the operation: credentials, where the key
/// travels, how the client identifies itself, and how it retries.
#[derive(Clone)]
pub struct RequestContext {
    credentials: Credentials,
    auth: AuthPlacement,
    user_agent: String,
    client_id: Option<String>,
    retry: RetryPolicy,
    /// The headers every request carries, made at its first request (or what is not a
    /// valid header value: what, why).
    headers: OnceLock<Result<FixedHeaders, (&'static str, &'static str)>>,
}

/// The `Authorization` (Basic, marked sensitive) and `User-Agent` values of a context.
#[derive(Clone)]
struct FixedHeaders {
    basic: HeaderValue,
    user_agent: HeaderValue,
}

impl FixedHeaders {
    fn new(
        credentials: &Credentials,
        user_agent: &str,
    ) -> Result<Self, (&'static str, &'static str)> {
        let token = credentials.token().expose_secret();
        let raw = format!("{}:{token}", credentials.username());
        let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
        let mut basic = HeaderValue::from_str(&format!("Basic {encoded}"))
            .map_err(|_| ("API key", "the token cannot be sent in a header"))?;
        basic.set_sensitive(true);
        let user_agent = HeaderValue::from_str(user_agent)
            .map_err(|_| ("user agent", "not a valid header value"))?;
        Ok(Self { basic, user_agent })
    }
}

impl RequestContext {
    /// A context with the Basic header, `User-Agent: carto-rs/<version>` and
    /// `client=carto-rs-<version>`.
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            auth: AuthPlacement::default(),
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            client_id: Some(DEFAULT_CLIENT_ID.to_owned()),
            retry: RetryPolicy::default(),
            headers: OnceLock::new(),
        }
    }

    /// The fixed headers, made at the first request.
    fn fixed_headers(&self) -> Result<&FixedHeaders, Error> {
        self.headers
            .get_or_init(|| FixedHeaders::new(&self.credentials, &self.user_agent))
            .as_ref()
            .map_err(|&(what, why)| Error::invalid(what, why))
    }

    /// Sets how requests are retried ([`RetryPolicy::none`] sends each once).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// How requests are retried.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Sets where the API key travels.
    pub fn with_auth_placement(mut self, auth: AuthPlacement) -> Self {
        self.auth = auth;
        self
    }

    /// Sets the `User-Agent`.
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self.headers = OnceLock::new();
        self
    }

    /// Sets (or, with `None`, stops sending) the `client` query parameter.
    pub fn with_client_id(mut self, client_id: Option<String>) -> Self {
        self.client_id = client_id;
        self
    }

    /// Replaces the credentials.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = credentials;
        self.headers = OnceLock::new();
        self
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Where the key travels.
    pub fn auth_placement(&self) -> AuthPlacement {
        self.auth
    }

    /// The `User-Agent` sent.
    pub fn user_agent(&self) -> &str {
        &self.user_agent
    }

    /// The `client` identifier sent, if any.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// Starts a request to the endpoint at `segments` below the base URL
    /// (each segment is percent-encoded).
    pub fn request<S: AsRef<str>>(&self, method: Method, segments: &[S]) -> RequestBuilder<'_> {
        RequestBuilder {
            ctx: self,
            method,
            segments: segments.iter().map(|s| s.as_ref().to_owned()).collect(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            body: Body::Empty,
        }
    }
}

impl fmt::Debug for RequestContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestContext")
            .field("credentials", &self.credentials)
            .field("auth", &self.auth)
            .field("user_agent", &self.user_agent)
            .field("client_id", &self.client_id)
            .field("retry", &self.retry)
            .finish()
    }
}

/// A request body before auth placement.
#[derive(Clone, PartialEq)]
enum Body {
    Empty,
    Json(serde_json::Map<String, serde_json::Value>),
    Form(Vec<(String, String)>),
    Bytes(HeaderValue, Vec<u8>),
}

/// Builds one request: path, query, headers, body, then the key where the context says.
pub struct RequestBuilder<'a> {
    ctx: &'a RequestContext,
    method: Method,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    body: Body,
}

impl RequestBuilder<'_> {
    /// Adds a query parameter.
    pub fn query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }

    /// Adds a query parameter when `value` is `Some`.
    pub fn query_opt<V: Into<String>>(self, key: &str, value: Option<V>) -> Self {
        match value {
            Some(v) => self.query(key, v),
            None => self,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// A JSON body; it must serialize to an object.
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Result<Self, Error> {
        match serde_json::to_value(body) {
            Ok(serde_json::Value::Object(map)) => {
                self.body = Body::Json(map);
                Ok(self)
            }
            Ok(_) => Err(Error::invalid(
                "request body",
                "a JSON body must be an object",
            )),
            Err(e) => Err(Error::invalid("request body", e.to_string())),
        }
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn form<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.body = Body::Form(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }

    /// A raw body of the given content type.
    pub fn bytes(mut self, content_type: HeaderValue, data: Vec<u8>) -> Self {
        self.body = Body::Bytes(content_type, data);
        self
    }

    /// Builds the request head (for a body the caller streams itself). A key placed in
    /// the body travels in the query string instead.
    pub fn build_head(mut self) -> Result<http::Request<()>, Error> {
        self.body = Body::Empty;
        let (head, _) = self.build()?.into_parts();
        Ok(http::Request::from_parts(head, ()))
    }

    /// Builds the request.
    pub fn build(self) -> Result<HttpRequest, Error> {
        let ctx = self.ctx;
        let creds = ctx.credentials();
        let token = creds.token().expose_secret();
        let mut query = self.query;
        let mut body = self.body;
        let mut headers = self.headers;
        match ctx.auth {
            AuthPlacement::BasicHeader => {
                headers.insert(AUTHORIZATION, ctx.fixed_headers()?.basic.clone());
            }
            AuthPlacement::QueryParam => query.push(("api_key".into(), token.to_owned())),
            AuthPlacement::BodyField => match &mut body {
                Body::Json(map) => {
                    map.insert("api_key".into(), token.into());
                }
                Body::Form(pairs) => pairs.push(("api_key".into(), token.to_owned())),
                Body::Empty | Body::Bytes(..) => query.push(("api_key".into(), token.to_owned())),
            },
        }
        if let Some(client) = &ctx.client_id {
            query.push(("client".into(), client.clone()));
        }
        let mut url = creds.base_url().endpoint(&self.segments);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        }
        headers.insert(USER_AGENT, ctx.fixed_headers()?.user_agent.clone());
        let data = match body {
            Body::Empty => Vec::new(),
            Body::Json(map) => {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                serde_json::to_vec(&map)
                    .map_err(|e| Error::invalid("request body", e.to_string()))?
            }
            Body::Form(pairs) => {
                headers.insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                );
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .finish()
                    .into_bytes()
            }
            Body::Bytes(content_type, data) => {
                headers.insert(CONTENT_TYPE, content_type);
                data
            }
        };
        let mut request = http::Request::builder()
            .method(self.method)
            .uri(url.as_str())
            .body(data)
            .map_err(|_| Error::invalid("request", "the URL is not a valid URI"))?;
        *request.headers_mut() = headers;
        Ok(request)
    }
}

/// Turns a non-success status into [`Error::Api`].
pub fn check_status(response: &HttpResponse) -> Result<(), Error> {
    if response.status().is_success() {
        Ok(())
    } else {
        Err(api_error(response).into())
    }
}

/// The [`ApiError`] a response carries.
pub fn api_error(response: &HttpResponse) -> ApiError {
    ApiError::from_parts(response.status(), response.headers(), response.body())
}

/// Checks the status, then decodes the JSON body into `T`, reporting the JSON path of
/// a failure.
pub fn parse_json<T: DeserializeOwned>(response: &HttpResponse) -> Result<T, Error> {
    check_status(response)?;
    decode_json(response.status(), response.body())
}

/// Decodes a JSON body into `T`, reporting the JSON path of a failure.
///
/// The body is decoded once with plain serde_json; only a body that fails is decoded
/// again, path-tracked, for the error (tracking every path costs a fifth of a small
/// answer's decode).
pub fn decode_json<T: DeserializeOwned>(status: StatusCode, body: &[u8]) -> Result<T, Error> {
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        DecodeError::new(status, path, e.into_inner().to_string(), body).into()
    })
}

/// Checks the status and expects exactly `expected`.
pub fn expect_status(response: &HttpResponse, expected: StatusCode) -> Result<(), Error> {
    check_status(response)?;
    if response.status() == expected {
        Ok(())
    } else {
        Err(DecodeError::new(
            response.status(),
            ".",
            format!("expected HTTP {}", expected.as_u16()),
            response.body(),
        )
        .into())
    }
}

/// Redacts what a logged URL could leak: the whole query string, and the token of a
/// CARTO 3 Tokens API path (`.../v3/tokens/{token}` is logged as `.../v3/tokens`).
pub fn loggable_path(uri: &http::Uri) -> &str {
    let path = uri.path();
    match path.find("/v3/tokens/") {
        Some(at) => &path[..at + "/v3/tokens".len()],
        None => path,
    }
}

/// A request as it may be logged: the method, the path, the query with `api_key`
/// redacted, the headers with sensitive values (`Authorization`) redacted, and the size
/// of the body (never its content, which may carry `api_key`).
pub struct Redacted<'a>(pub &'a HttpRequest);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let req = self.0;
        write!(f, "{} {}", req.method(), loggable_path(req.uri()))?;
        if let Some(query) = req.uri().query() {
            let pairs: Vec<String> = url::form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| {
                    if k == "api_key" || k == "map_key" || k == "access_token" {
                        format!("{k}=<redacted>")
                    } else {
                        format!("{k}={v}")
                    }
                })
                .collect();
            write!(f, "?{}", pairs.join("&"))?;
        }
        for (name, value) in req.headers() {
            if value.is_sensitive() || name == AUTHORIZATION {
                write!(f, "\n{name}: <redacted>")?;
            } else {
                write!(f, "\n{name}: {}", value.to_str().unwrap_or("<binary>"))?;
            }
        }
        write!(f, "\n<{} body bytes>", req.body().len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base_url::BaseUrl;

    fn ctx(auth: AuthPlacement) -> RequestContext {
        let creds = Credentials::new(
            BaseUrl::parse("https://h.example.com/user/bob").unwrap(),
            "tok",
        );
        RequestContext::new(creds).with_auth_placement(auth)
    }

    #[test]
    fn fixed_headers_follow_the_credentials_and_user_agent_set_after_a_request() {
        let header = |ctx: &RequestContext, name| {
            let req = ctx.request(Method::GET, &["api", "v2", "sql"]).build();
            req.map(|r| r.headers().get(name).cloned())
        };
        let ctx = ctx(AuthPlacement::BasicHeader);
        assert_eq!(
            header(&ctx, AUTHORIZATION).unwrap().unwrap(),
            "Basic Ym9iOnRvaw=="
        );
        let other = Credentials::new(
            BaseUrl::parse("https://h.example.com/user/eve").unwrap(),
            "other",
        );
        let ctx = ctx.with_credentials(other);
        // "eve:other"
        assert_eq!(
            header(&ctx, AUTHORIZATION).unwrap().unwrap(),
            "Basic ZXZlOm90aGVy"
        );
        let ctx = ctx.with_user_agent("mine/1.0");
        assert_eq!(header(&ctx, USER_AGENT).unwrap().unwrap(), "mine/1.0");
        let bad = ctx.clone().with_user_agent("bad\nagent");
        let err = header(&bad, USER_AGENT).unwrap_err();
        assert!(err.to_string().contains("user agent"), "{err}");
        // A key placed elsewhere is no header.
        let in_query = ctx.with_auth_placement(AuthPlacement::QueryParam);
        assert_eq!(header(&in_query, AUTHORIZATION).unwrap(), None);
    }

    #[test]
    fn basic_header_is_sensitive() {
        let ctx = ctx(AuthPlacement::BasicHeader);
        let req = ctx
            .request(Method::GET, &["api", "v3", "api_keys"])
            .build()
            .unwrap();
        let auth = req.headers().get(AUTHORIZATION).unwrap();
        assert!(auth.is_sensitive());
        assert_eq!(auth, "Basic Ym9iOnRvaw==");
        assert_eq!(
            req.uri().to_string(),
            format!("https://h.example.com/user/bob/api/v3/api_keys?client={DEFAULT_CLIENT_ID}")
        );
        assert_eq!(req.headers().get(USER_AGENT).unwrap(), DEFAULT_USER_AGENT);
    }

    #[test]
    fn body_placement() {
        let ctx = ctx(AuthPlacement::BodyField).with_client_id(None);
        let req = ctx
            .request(Method::POST, &["api", "v2", "sql"])
            .form([("q", "select 1")])
            .build()
            .unwrap();
        assert_eq!(req.body(), b"q=select+1&api_key=tok");
        assert!(req.headers().get(AUTHORIZATION).is_none());
        let req = ctx
            .request(Method::POST, &["x"])
            .json(&serde_json::json!({"name": "k"}))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(req.body(), br#"{"name":"k","api_key":"tok"}"#);
        let req = ctx.request(Method::GET, &["x"]).build().unwrap();
        assert_eq!(req.uri().query(), Some("api_key=tok"));
    }

    #[test]
    fn decode_reports_path() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            a: Vec<u32>,
        }
        let err = decode_json::<T>(StatusCode::OK, br#"{"a":[1,"x"]}"#).unwrap_err();
        let Error::Decode(d) = &err else { panic!() };
        assert_eq!(d.path(), "a[1]");
    }
}
