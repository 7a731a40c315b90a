//! `GET|POST /api/v2/sql`: the query endpoints, one per kind of result.

use std::marker::PhantomData;

use carto_core::endpoint::check_status;
use carto_core::{Endpoint, Error, HttpRequest, HttpResponse, RequestContext};
use carto_transport::{RawBody, RequestBody, StreamingEndpoint};
use http::Method;
use serde::de::DeserializeOwned;

use crate::geojson::{Feature, FeatureCollection};
use crate::response::{SqlResponse, decode_features, decode_sql};
use crate::rows::{RowDecoder, WholeRows};

/// Queries at least this long (in bytes) are always POSTed, as the official SDK does.
pub const MAX_GET_QUERY_LEN: usize = 1024;

/// The path of the SQL API below the base URL.
pub(crate) const SQL_PATH: [&str; 3] = ["api", "v2", "sql"];

/// A result format (`format`).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// The JSON document (the default).
    Json,
    /// A GeoJSON feature collection (needs a `the_geom` column).
    GeoJson,
    /// CSV.
    Csv,
    /// TopoJSON.
    TopoJson,
    /// SVG.
    Svg,
    /// KML.
    Kml,
    /// A zipped shapefile.
    Shp,
    /// A SpatiaLite database.
    Spatialite,
    /// A GeoPackage.
    Gpkg,
    /// Binary arrays.
    ArrayBuffer,
}

impl Format {
    /// The wire value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::GeoJson => "geojson",
            Self::Csv => "csv",
            Self::TopoJson => "topojson",
            Self::Svg => "svg",
            Self::Kml => "kml",
            Self::Shp => "shp",
            Self::Spatialite => "spatialite",
            Self::Gpkg => "gpkg",
            Self::ArrayBuffer => "arraybuffer",
        }
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options of a query besides its format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    /// Columns left out of the result (`skipfields`).
    pub skipfields: Vec<String>,
    /// The download name (`filename`, without extension).
    pub filename: Option<String>,
    /// Decimal places of GeoJSON/SVG coordinates (`dp`, server default 6).
    pub dp: Option<u32>,
    /// `(page, rows_per_page)`: a 0-based page of a `SELECT`'s rows.
    pub page: Option<(u64, u64)>,
    /// Send a GET (query string) instead of a POST (form body). Honoured only for
    /// queries shorter than [`MAX_GET_QUERY_LEN`] bytes; longer ones are POSTed anyway.
    pub use_get: bool,
    /// The SQL only reads: sending it twice has the same effect as once, so the client
    /// may send it again after a 502/503/504 or a failed connection (see
    /// [`carto_core::retry`]). Off by default: SQL may write, and a write is never
    /// sent twice after the server may have run it.
    pub read_only: bool,
}

impl QueryOptions {
    /// No options: POST, every column.
    pub fn new() -> Self {
        Self::default()
    }

    /// Leaves these columns out.
    pub fn skipfields<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.skipfields = columns.into_iter().map(Into::into).collect();
        self
    }

    /// Names the download.
    pub fn filename(mut self, filename: impl Into<String>) -> Self {
        self.filename = Some(filename.into());
        self
    }

    /// Decimal places of coordinates.
    pub fn dp(mut self, dp: u32) -> Self {
        self.dp = Some(dp);
        self
    }

    /// Only page `page` (0-based) of `rows_per_page` rows (for `SELECT` queries).
    pub fn page(mut self, page: u64, rows_per_page: u64) -> Self {
        self.page = Some((page, rows_per_page));
        self
    }

    /// Asks for a GET when the query is short enough (see [`QueryOptions::use_get`]).
    pub fn use_get(mut self, use_get: bool) -> Self {
        self.use_get = use_get;
        self
    }

    /// Says the SQL only reads, so failures before an answer may be retried (see
    /// [`QueryOptions::read_only`]).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }
}

/// A SQL statement with its options; it builds the request for any [`Format`].
/// The typed endpoints [`JsonQuery`], [`GeoJsonQuery`] and [`ExportQuery`] wrap it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    sql: String,
    options: QueryOptions,
}

impl Query {
    /// A query with no options.
    pub fn new(sql: impl Into<String>) -> Self {
        Self {
            sql: sql.into(),
            options: QueryOptions::default(),
        }
    }

    /// Sets the options.
    pub fn with_options(mut self, options: QueryOptions) -> Self {
        self.options = options;
        self
    }

    /// The SQL.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The options.
    pub fn options(&self) -> &QueryOptions {
        &self.options
    }

    /// Whether this query goes as a GET.
    pub fn is_get(&self) -> bool {
        self.options.use_get && self.sql.len() < MAX_GET_QUERY_LEN
    }

    /// Decodes the response as rows of `T`.
    pub fn json<T: DeserializeOwned>(self) -> JsonQuery<T> {
        JsonQuery {
            query: self,
            rows: PhantomData,
        }
    }

    /// Decodes the response as a GeoJSON feature collection.
    pub fn geojson(self) -> GeoJsonQuery {
        GeoJsonQuery { query: self }
    }

    /// Returns the response body in `format` as bytes.
    pub fn export(self, format: Format) -> ExportQuery {
        ExportQuery {
            query: self,
            format,
        }
    }

    /// Builds the request for `format` (`None` sends no `format`: JSON).
    pub fn to_request(
        &self,
        ctx: &RequestContext,
        format: Option<Format>,
    ) -> Result<HttpRequest, Error> {
        if self.sql.trim().is_empty() {
            return Err(Error::invalid("SQL query", "the query is empty"));
        }
        let opts = &self.options;
        if opts
            .skipfields
            .iter()
            .any(|f| f.is_empty() || f.contains(','))
        {
            return Err(Error::invalid(
                "skipfields",
                "a column name is empty or contains a comma",
            ));
        }
        if opts.page.is_some_and(|(_, rows)| rows == 0) {
            return Err(Error::invalid("rows_per_page", "must be at least 1"));
        }
        let mut params: Vec<(&str, String)> = vec![("q", self.sql.clone())];
        if let Some(format) = format {
            params.push(("format", format.as_str().to_owned()));
        }
        if !opts.skipfields.is_empty() {
            params.push(("skipfields", opts.skipfields.join(",")));
        }
        if let Some(filename) = &opts.filename {
            params.push(("filename", filename.clone()));
        }
        if let Some(dp) = opts.dp {
            params.push(("dp", dp.to_string()));
        }
        if let Some((page, rows)) = opts.page {
            params.push(("page", page.to_string()));
            params.push(("rows_per_page", rows.to_string()));
        }
        if self.is_get() {
            let mut req = ctx.request(Method::GET, &SQL_PATH);
            for (k, v) in params {
                req = req.query(k, v);
            }
            req.build()
        } else {
            ctx.request(Method::POST, &SQL_PATH).form(params).build()
        }
    }
}

/// A query whose rows decode into `T` ([`SqlResponse<T>`]).
///
/// A 200 response that carries an `error` key (the query failed after the server
/// started streaming) is an [`Error::Api`] with status 200.
pub struct JsonQuery<T> {
    query: Query,
    rows: PhantomData<fn() -> T>,
}

impl<T> JsonQuery<T> {
    /// The query.
    pub fn query(&self) -> &Query {
        &self.query
    }
}

impl<T> std::fmt::Debug for JsonQuery<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("JsonQuery").field(&self.query).finish()
    }
}

impl<T> Clone for JsonQuery<T> {
    fn clone(&self) -> Self {
        Self {
            query: self.query.clone(),
            rows: PhantomData,
        }
    }
}

impl<T: DeserializeOwned> Endpoint for JsonQuery<T> {
    type Output = SqlResponse<T>;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        self.query.to_request(ctx, None)
    }

    fn parse(&self, response: HttpResponse) -> Result<SqlResponse<T>, Error> {
        check_status(&response)?;
        decode_sql(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        self.query.options.read_only
    }
}

/// Streamed, the rows decode one by one as they arrive ([`RowDecoder`]).
impl<T: DeserializeOwned> StreamingEndpoint for JsonQuery<T> {
    type Decoder = RowDecoder<T>;

    fn to_request(&self, ctx: &RequestContext) -> Result<http::Request<RequestBody>, Error> {
        Ok(self.query.to_request(ctx, None)?.map(RequestBody::Bytes))
    }

    fn decoder(&self, head: &http::response::Parts) -> Result<RowDecoder<T>, Error> {
        Ok(RowDecoder::new(head.status))
    }

    fn is_idempotent(&self) -> bool {
        self.query.options.read_only
    }
}

/// A [`JsonQuery`] read whole before its rows are handed out: the buffered query of the
/// clients, decoded as its body arrives ([`carto_transport::send_collect`]) so that the
/// whole body is never held, only the rows.
pub(crate) struct WholeJsonQuery<T>(pub(crate) JsonQuery<T>);

impl<T: DeserializeOwned> WholeJsonQuery<T> {
    /// The response from what [`send_collect`](carto_transport::send_collect) read.
    pub(crate) fn response(
        (rows, mut decoder): carto_transport::Collected<WholeRows<T>>,
    ) -> SqlResponse<T> {
        SqlResponse::new(rows, decoder.take_summary().unwrap_or_default())
    }
}

impl<T: DeserializeOwned> StreamingEndpoint for WholeJsonQuery<T> {
    type Decoder = WholeRows<T>;

    fn to_request(&self, ctx: &RequestContext) -> Result<http::Request<RequestBody>, Error> {
        StreamingEndpoint::to_request(&self.0, ctx)
    }

    fn decoder(&self, head: &http::response::Parts) -> Result<WholeRows<T>, Error> {
        Ok(WholeRows::new(head.status))
    }

    fn is_idempotent(&self) -> bool {
        StreamingEndpoint::is_idempotent(&self.0)
    }
}

/// A `format=geojson` query, decoded as a [`geojson::FeatureCollection`].
#[derive(Debug, Clone)]
pub struct GeoJsonQuery {
    query: Query,
}

impl Endpoint for GeoJsonQuery {
    type Output = FeatureCollection;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        self.query.to_request(ctx, Some(Format::GeoJson))
    }

    fn parse(&self, response: HttpResponse) -> Result<FeatureCollection, Error> {
        check_status(&response)?;
        let features: Vec<Feature> = decode_features(response.status(), response.body())?;
        Ok(FeatureCollection::new(features))
    }

    fn is_idempotent(&self) -> bool {
        self.query.options.read_only
    }
}

/// A query whose response body is returned as it is, in any [`Format`]
/// (CSV, KML, shapefile, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportQuery {
    query: Query,
    format: Format,
}

impl ExportQuery {
    /// The query.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }
}

impl Endpoint for ExportQuery {
    type Output = Vec<u8>;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        self.query.to_request(ctx, Some(self.format))
    }

    fn parse(&self, response: HttpResponse) -> Result<Vec<u8>, Error> {
        check_status(&response)?;
        Ok(response.into_body())
    }

    fn is_idempotent(&self) -> bool {
        self.query.options.read_only
    }
}

/// Streamed, the body is passed on as it arrives.
impl StreamingEndpoint for ExportQuery {
    type Decoder = RawBody;

    fn to_request(&self, ctx: &RequestContext) -> Result<http::Request<RequestBody>, Error> {
        Ok(self
            .query
            .to_request(ctx, Some(self.format))?
            .map(RequestBody::Bytes))
    }

    fn decoder(&self, _head: &http::response::Parts) -> Result<RawBody, Error> {
        Ok(RawBody::default())
    }

    fn is_idempotent(&self) -> bool {
        self.query.options.read_only
    }
}
