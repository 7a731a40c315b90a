//! `GET|POST /v3/sql/{connection}/query`: a synchronous query on a connection.

use std::marker::PhantomData;

use carto_core::carto3::{ApiContext, ApiEndpoint};
use carto_core::endpoint::decode_json;
use carto_core::{ApiError, Error, HttpRequest, HttpResponse, QueryLimit};
use http::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::params::{QueryParameters, Warehouse};
use super::response::{QueryResponse, Row};

/// Above this many characters, a query URL is sent as a POST instead (CARTO's clients'
/// default; its CDN refuses URLs over 8,192).
pub const DEFAULT_MAX_URL_LENGTH: usize = 7_000;

/// The minor version of CARTO 3's APIs sent as `v` (as CARTO's own clients do).
pub const API_VERSION: &str = "3.4";

/// Room left for the API base URL and the `client` parameter when deciding, before
/// the base URL is known, whether a query surely goes as a GET.
const BASE_ALLOWANCE: usize = 256;

/// How a query is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum QueryMethod {
    /// GET (cacheable by CARTO's CDN) while the URL fits in the maximum length, POST
    /// above it.
    #[default]
    Auto,
    /// Always GET.
    Get,
    /// Always POST (never cached, every request runs on the warehouse).
    Post,
}

/// A synchronous SQL API v3 query on a connection, with rows typed `T`
/// (`serde_json::Map` by default): `{rows, schema, meta}`.
///
/// A GET is retried like any read; a POST only when the query is marked
/// [`read_only`](Query::read_only). Synchronous queries are bounded by CARTO 3 to one
/// minute and 200,000 rows: going over either gives [`Error::QueryLimit`] (never
/// retried), which says to run a job instead.
#[derive(Debug, Clone, PartialEq)]
pub struct Query<T = Row> {
    connection: String,
    sql: String,
    params: Option<QueryParameters>,
    warehouse: Option<Warehouse>,
    max_url_length: usize,
    method: QueryMethod,
    read_only: bool,
    rows: PhantomData<fn() -> T>,
}

/// How a query is sent, besides its SQL: the parameters, GET or POST, the longest GET
/// URL, and whether it changes nothing (so a POST may be sent again). The `_with`
/// methods of [`SqlClient`](super::SqlClient) take it; [`Query::options`] applies it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueryOptions {
    params: Option<QueryParameters>,
    method: QueryMethod,
    max_url_length: Option<usize>,
    read_only: bool,
}

impl QueryOptions {
    /// The defaults: no parameters, GET while the URL fits, not read-only.
    pub fn new() -> Self {
        Self::default()
    }

    /// The values of the query's placeholders.
    pub fn params(mut self, params: QueryParameters) -> Self {
        self.params = Some(params);
        self
    }

    /// Forces GET or POST.
    pub fn method(mut self, method: QueryMethod) -> Self {
        self.method = method;
        self
    }

    /// The longest URL sent as a GET (default [`DEFAULT_MAX_URL_LENGTH`]).
    pub fn max_url_length(mut self, max: usize) -> Self {
        self.max_url_length = Some(max);
        self
    }

    /// Says the query changes nothing (see [`Query::read_only`]).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The parameters, if any.
    pub fn parameters(&self) -> Option<&QueryParameters> {
        self.params.as_ref()
    }
}

/// The POST body.
#[derive(Serialize)]
struct PostBody<'a> {
    q: &'a str,
    #[serde(rename = "queryParameters", skip_serializing_if = "Option::is_none")]
    query_parameters: Option<&'a QueryParameters>,
    v: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client: Option<&'a str>,
}

impl Query<Row> {
    /// Runs `sql` on `connection`.
    pub fn new(connection: impl Into<String>, sql: impl Into<String>) -> Self {
        Self {
            connection: connection.into(),
            sql: sql.into(),
            params: None,
            warehouse: None,
            max_url_length: DEFAULT_MAX_URL_LENGTH,
            method: QueryMethod::Auto,
            read_only: false,
            rows: PhantomData,
        }
    }
}

impl<T> Query<T> {
    /// The values of the query's placeholders.
    pub fn params(mut self, params: QueryParameters) -> Self {
        self.params = Some(params);
        self
    }

    /// The connection's warehouse: the parameters are checked against its style
    /// (`$1` arrays, `:1` arrays, `@name` objects) before any request.
    pub fn warehouse(mut self, warehouse: Warehouse) -> Self {
        self.warehouse = Some(warehouse);
        self
    }

    /// The longest URL sent as a GET (default [`DEFAULT_MAX_URL_LENGTH`]).
    pub fn max_url_length(mut self, max: usize) -> Self {
        self.max_url_length = max;
        self
    }

    /// Forces GET or POST.
    pub fn method(mut self, method: QueryMethod) -> Self {
        self.method = method;
        self
    }

    /// Says the query changes nothing, so a POST may be sent again after a transport
    /// failure or a 502-504.
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Applies `options` (what they leave unset stays as it is).
    pub fn options(mut self, options: &QueryOptions) -> Self {
        if let Some(params) = &options.params {
            self.params = Some(params.clone());
        }
        if let Some(max) = options.max_url_length {
            self.max_url_length = max;
        }
        self.method = options.method;
        self.read_only = options.read_only;
        self
    }

    /// The same query with rows decoded as `U`.
    pub fn rows<U>(self) -> Query<U> {
        Query {
            connection: self.connection,
            sql: self.sql,
            params: self.params,
            warehouse: self.warehouse,
            max_url_length: self.max_url_length,
            method: self.method,
            read_only: self.read_only,
            rows: PhantomData,
        }
    }

    /// The connection.
    pub fn connection(&self) -> &str {
        &self.connection
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    fn check(&self) -> Result<(), Error> {
        if self.connection.trim().is_empty() {
            return Err(Error::invalid("connection", "the connection name is empty"));
        }
        if self.sql.trim().is_empty() {
            return Err(Error::invalid("SQL query", "the query is empty"));
        }
        if let (Some(params), Some(warehouse)) = (&self.params, self.warehouse) {
            params.check_style(warehouse.param_style())?;
        }
        Ok(())
    }

    /// The GET query string, without the `client` parameter.
    fn get_query(&self) -> Vec<(&'static str, String)> {
        let mut pairs = vec![("q", self.sql.clone())];
        if let Some(params) = &self.params {
            pairs.push(("queryParameters", params.to_json()));
        }
        pairs.push(("v", API_VERSION.to_owned()));
        pairs
    }

    /// Whether the query goes as a GET for sure, whatever the base URL (up to
    /// [`BASE_ALLOWANCE`] characters with the `client` parameter).
    fn surely_get(&self) -> bool {
        match self.method {
            QueryMethod::Get => true,
            QueryMethod::Post => false,
            QueryMethod::Auto => {
                // Encoding every byte but letters and digits bounds the real length.
                let encoded = |s: &str| {
                    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                        .map(str::len)
                        .sum::<usize>()
                };
                let tail: usize = (self.get_query().iter())
                    .map(|(k, v)| k.len() + 2 + encoded(v))
                    .sum();
                let path = "/v3/sql//query?".len() + encoded(&self.connection);
                path + tail + BASE_ALLOWANCE <= self.max_url_length
            }
        }
    }

    fn build(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        self.check()?;
        let segments = ["v3", "sql", self.connection.as_str(), "query"];
        if self.method != QueryMethod::Post {
            let mut builder = ctx.request(Method::GET, &segments);
            for (k, v) in self.get_query() {
                builder = builder.query(k, v);
            }
            let request = builder.build()?;
            if self.method == QueryMethod::Get
                || request.uri().to_string().len() <= self.max_url_length
            {
                return Ok(request);
            }
        }
        let body = PostBody {
            q: &self.sql,
            query_parameters: self.params.as_ref(),
            v: API_VERSION,
            client: ctx.client_id(),
        };
        ctx.request(Method::POST, &segments)
            .without_client_param()
            .json(&body)?
            .build()
    }
}

impl<T: DeserializeOwned> ApiEndpoint for Query<T> {
    type Output = QueryResponse<T>;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        self.build(ctx)
    }

    fn parse(&self, response: HttpResponse) -> Result<QueryResponse<T>, Error> {
        if !response.status().is_success() {
            return Err(query_error(ApiError::from_parts(
                response.status(),
                response.headers(),
                response.body(),
            )));
        }
        decode_json(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        self.read_only || self.surely_get()
    }
}

/// A CARTO 3 SQL error, as [`Error::QueryLimit`] when it says a synchronous limit was
/// hit: a 504 or 408, or a message about a timeout (the one-minute limit); a message
/// about 200,000 rows or a row limit (the cap). CARTO does not document these bodies:
/// the rules match words, not exact texts.
pub fn query_error(api: ApiError) -> Error {
    match query_limit(&api) {
        Some(limit) => Error::QueryLimit {
            limit,
            error: Box::new(api),
        },
        None => api.into(),
    }
}

fn query_limit(api: &ApiError) -> Option<QueryLimit> {
    let mut text = api.messages().join(" ").to_ascii_lowercase();
    if let Some(d) = api.description() {
        text.push(' ');
        text.push_str(&d.to_ascii_lowercase());
    }
    let row_cap = [
        "200000",
        "200,000",
        "200.000",
        "row limit",
        "rows limit",
        "too many rows",
        "maximum number of rows",
    ];
    if row_cap.iter().any(|w| text.contains(w)) {
        return Some(QueryLimit::RowCap);
    }
    let status = api.status().as_u16();
    let timeout = ["timeout", "timed out", "time limit", "statement_timeout"];
    if matches!(status, 408 | 504)
        || (!api.is_rate_limited() && timeout.iter().any(|w| text.contains(w)))
    {
        return Some(QueryLimit::Timeout);
    }
    None
}
