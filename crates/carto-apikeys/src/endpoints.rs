//! The Auth API v3 operations as sans-IO [`Endpoint`] values: each builds its request
//! from a [`RequestContext`] and parses the response, with no I/O.

use carto_core::endpoint::{check_status, decode_json};
use carto_core::models::{ApiKey, ApiKeyPage, ApiKeyType, NewApiKey};
use carto_core::{Endpoint, Error, HttpRequest, HttpResponse, RequestContext, Token};
use http::{Method, StatusCode};
use serde::Deserialize;

/// The path of the collection, as segments below the base URL.
const COLLECTION: [&str; 3] = ["api", "v3", "api_keys"];

/// The server's page size when `per_page` is not sent.
pub const DEFAULT_PER_PAGE: u32 = 20;

fn key_path(name: &str) -> Result<[&str; 4], Error> {
    if name.is_empty() {
        return Err(Error::invalid("API key name", "the name is empty"));
    }
    Ok([COLLECTION[0], COLLECTION[1], COLLECTION[2], name])
}

/// `POST /api/v3/api_keys`: creates a regular key (201 with the key and its token).
///
/// Needs the master key.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateApiKey(pub NewApiKey);

impl Endpoint for CreateApiKey {
    type Output = ApiKey;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::POST, &COLLECTION)
            .json(&self.0)?
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<ApiKey, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }
}

/// `GET /api/v3/api_keys/{name}`: one key. The name travels as one percent-encoded path
/// segment, so spaces, slashes and any Unicode are safe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetApiKey {
    /// The key's name.
    pub name: String,
}

impl GetApiKey {
    /// The key named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

impl Endpoint for GetApiKey {
    type Output = ApiKey;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &key_path(&self.name)?).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<ApiKey, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `DELETE /api/v3/api_keys/{name}`: deletes a regular key (204; older servers answered
/// 200 with the key). Master and Default public keys cannot be deleted (403).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteApiKey {
    /// The key's name.
    pub name: String,
}

impl DeleteApiKey {
    /// The key named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

impl Endpoint for DeleteApiKey {
    type Output = ();

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::DELETE, &key_path(&self.name)?).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<(), Error> {
        check_status(&response)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `POST /api/v3/api_keys/{name}/token/regenerate`: gives the key a new token and returns
/// the key with it. The old token stops working at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegenerateToken {
    /// The key's name.
    pub name: String,
}

impl RegenerateToken {
    /// The key named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self { name: name.into() }
    }
}

impl Endpoint for RegenerateToken {
    type Output = ApiKey;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        let [a, b, c, name] = key_path(&self.name)?;
        ctx.request(Method::POST, &[a, b, c, name, "token", "regenerate"])
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<ApiKey, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }
}

/// How list pages are ordered (`order`). CARTO always lists the master key first, then
/// the Default public key, then regular keys in this order, ascending.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ListOrder {
    /// By type (the server default puts master, default, regular first anyway).
    Type,
    /// By name.
    Name,
    /// By last update, oldest first (the server default).
    #[default]
    UpdatedAt,
}

impl ListOrder {
    /// The wire value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Type => "type",
            Self::Name => "name",
            Self::UpdatedAt => "updated_at",
        }
    }
}

/// `GET /api/v3/api_keys?page=..`: one page of keys. Use [`ListApiKeys::new`] with
/// [`ListOptions`], or the [`Pager`](crate::Pager) to walk every page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListApiKeys {
    /// Only keys of these types (all visible types when empty).
    pub types: Vec<ApiKeyType>,
    /// Keys per page (`per_page`, at least 1).
    pub per_page: u32,
    /// The page, starting at 1.
    pub page: u32,
    /// The order (`order`); the server default when `None`.
    pub order: Option<ListOrder>,
}

impl ListApiKeys {
    /// Page `page` (from 1) of the listing `options` describes.
    pub fn new(options: &ListOptions, page: u32) -> Self {
        Self {
            types: options.types.clone(),
            per_page: options.per_page,
            page,
            order: options.order,
        }
    }
}

impl Endpoint for ListApiKeys {
    type Output = ApiKeyPage;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        if self.page == 0 {
            return Err(Error::invalid("page", "pages start at 1"));
        }
        if self.per_page == 0 {
            return Err(Error::invalid("per_page", "must be at least 1"));
        }
        let mut req = ctx.request(Method::GET, &COLLECTION);
        if !self.types.is_empty() {
            let mut types: Vec<&str> = Vec::new();
            for t in &self.types {
                if !types.contains(&t.as_str()) {
                    types.push(t.as_str());
                }
            }
            req = req.query("type", types.join(","));
        }
        if let Some(order) = self.order {
            req = req.query("order", order.as_str());
        }
        req.query("per_page", self.per_page.to_string())
            .query("page", self.page.to_string())
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<ApiKeyPage, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// What to list: key types, page size and order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    /// Only keys of these types; every type the key may see when empty.
    pub types: Vec<ApiKeyType>,
    /// Keys per request (default [`DEFAULT_PER_PAGE`]).
    pub per_page: u32,
    /// The order; the server's (`updated_at`) when `None`.
    pub order: Option<ListOrder>,
}

impl Default for ListOptions {
    fn default() -> Self {
        Self {
            types: Vec::new(),
            per_page: DEFAULT_PER_PAGE,
            order: None,
        }
    }
}

impl ListOptions {
    /// Every key, 20 per request, in the server's order.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only regular keys.
    pub fn regular() -> Self {
        Self::new().types([ApiKeyType::Regular])
    }

    /// Only keys of these types.
    pub fn types(mut self, types: impl IntoIterator<Item = ApiKeyType>) -> Self {
        self.types = types.into_iter().collect();
        self
    }

    /// Keys per request (at least 1).
    pub fn per_page(mut self, per_page: u32) -> Self {
        self.per_page = per_page;
        self
    }

    /// The order.
    pub fn order(mut self, order: ListOrder) -> Self {
        self.order = Some(order);
        self
    }
}

/// Whether a token is a valid key of the account: `GET /api/v3/api_keys` authenticated
/// with that token (placed as the context says), valid when the answer is 200 and lists
/// the token, as the official SDK's `is_valid_api_key` does. 401 and 403 mean invalid;
/// other errors (unknown user, server failures) are errors.
#[derive(Clone, PartialEq, Eq)]
pub struct ValidateToken {
    /// The token to check.
    pub token: Token,
}

impl std::fmt::Debug for ValidateToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidateToken")
            .field("token", &self.token)
            .finish()
    }
}

impl ValidateToken {
    /// Checks `token`.
    pub fn new(token: impl Into<Token>) -> Self {
        Self {
            token: token.into(),
        }
    }
}

impl Endpoint for ValidateToken {
    type Output = bool;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        if self.token.is_empty() {
            return Err(Error::invalid("API key", "the token is empty"));
        }
        let ctx = ctx
            .clone()
            .with_credentials(ctx.credentials().with_token(self.token.clone()));
        ctx.request(Method::GET, &COLLECTION).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<bool, Error> {
        if matches!(
            response.status(),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
        ) {
            return Ok(false);
        }
        check_status(&response)?;
        #[derive(Deserialize)]
        struct Tokens {
            result: Vec<TokenOnly>,
        }
        #[derive(Deserialize)]
        struct TokenOnly {
            token: Token,
        }
        let page: Tokens = decode_json(response.status(), response.body())?;
        Ok(page.result.iter().any(|k| k.token == self.token))
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}
