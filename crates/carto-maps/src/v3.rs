//! CARTO 3 map sources (`/v3/maps/{connection}/table|query`): instantiation, the
//! TileJSON, MVT tiles, and column stats (`/v3/stats`), sans-IO, with the client
//! [`SourcesApi`] (`SourcesClient`, `AsyncSourcesClient`).
//!
//! The flow of @carto/api-client and deck.gl: instantiate a source (GET, or POST with a
//! JSON body when the URL is too long), read `tilejson.url[0]`, read that TileJSON, then
//! fetch tiles from its `tiles` template. Tiles are asked as MVT (`formatTiles=mvt`);
//! CARTO's binary tile format is proprietary and not decoded here. Absolute URLs the API
//! gives are only fetched (with the token) when they are below the API base URL.

use std::fmt;
use std::marker::PhantomData;

use carto_core::carto3::{ApiContext, ApiCredentials, ApiEndpoint};
use carto_core::endpoint::{check_status, decode_json};
use carto_core::{Error, HttpRequest, HttpResponse};
use carto_transport::{ApiCore, Async, AsyncTransport, Blocking, Mode, Transport};
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::endpoints::Tile;
use crate::layergroup::TileCoord;

/// The longest instantiation URL sent as a GET; above it, a POST with a JSON body.
pub const MAX_GET_URL: usize = 7000;

/// What a source draws.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceKind {
    /// A table, by its qualified name.
    Table(String),
    /// A SQL query, with its parameters (JSON, in the warehouse's style).
    Query {
        /// The SQL.
        sql: String,
        /// `queryParameters`, when the query has placeholders.
        params: Option<Value>,
    },
}

/// A map source on a connection: a table or a query, with the options CARTO's clients
/// send (`columns`, `spatialDataColumn`, `spatialDataType`, `tileResolution`, `filters`).
#[derive(Debug, Clone, PartialEq)]
pub struct MapSource {
    /// The connection.
    pub connection: String,
    /// The table or query.
    pub kind: SourceKind,
    /// The columns to carry as tile properties (all when empty).
    pub columns: Vec<String>,
    /// The geometry column (`geom` by default on CARTO).
    pub spatial_data_column: Option<String>,
    /// `geo` (default), `h3`, `quadbin`.
    pub spatial_data_type: Option<String>,
    /// `0.25`, `0.5`, `1`, `2` or `4`.
    pub tile_resolution: Option<f64>,
    /// CARTO's filters, as JSON (`{"col": {"in": {"values": [...]}}}`).
    pub filters: Option<Value>,
}

impl MapSource {
    /// The table `name` of `connection`.
    pub fn table(connection: impl Into<String>, name: impl Into<String>) -> Self {
        Self::of(connection.into(), SourceKind::Table(name.into()))
    }

    /// The query `sql` on `connection`.
    pub fn query(connection: impl Into<String>, sql: impl Into<String>) -> Self {
        let kind = SourceKind::Query {
            sql: sql.into(),
            params: None,
        };
        Self::of(connection.into(), kind)
    }

    fn of(connection: String, kind: SourceKind) -> Self {
        Self {
            connection,
            kind,
            columns: Vec::new(),
            spatial_data_column: None,
            spatial_data_type: None,
            tile_resolution: None,
            filters: None,
        }
    }

    /// The same source carrying only `columns`.
    pub fn columns<S: Into<String>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        self.columns = columns.into_iter().map(Into::into).collect();
        self
    }

    /// The same source with its geometry in `column`.
    pub fn spatial_data_column(mut self, column: impl Into<String>) -> Self {
        self.spatial_data_column = Some(column.into());
        self
    }

    /// The same source with CARTO's `filters`.
    pub fn filters(mut self, filters: Value) -> Self {
        self.filters = Some(filters);
        self
    }

    /// The query parameters of a query source (ignored for a table).
    pub fn query_parameters(mut self, params: Value) -> Self {
        if let SourceKind::Query { params: p, .. } = &mut self.kind {
            *p = Some(params);
        }
        self
    }

    fn path(&self) -> Result<[&str; 4], Error> {
        if self.connection.trim().is_empty() {
            return Err(Error::invalid("map source", "the connection name is empty"));
        }
        let kind = match &self.kind {
            SourceKind::Table(name) if name.trim().is_empty() => {
                return Err(Error::invalid("map source", "the table name is empty"));
            }
            SourceKind::Query { sql, .. } if sql.trim().is_empty() => {
                return Err(Error::invalid("map source", "the query is empty"));
            }
            SourceKind::Table(_) => "table",
            SourceKind::Query { .. } => "query",
        };
        Ok(["v3", "maps", self.connection.as_str(), kind])
    }

    /// The parameters, as GET query pairs (JSON values as text).
    fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        match &self.kind {
            SourceKind::Table(name) => out.push(("name", name.clone())),
            SourceKind::Query { sql, params } => {
                out.push(("q", sql.clone()));
                out.extend(params.as_ref().map(|p| ("queryParameters", p.to_string())));
            }
        }
        if !self.columns.is_empty() {
            out.push(("columns", self.columns.join(",")));
        }
        out.extend(self.filters.as_ref().map(|f| ("filters", f.to_string())));
        out.extend(
            self.spatial_data_column
                .clone()
                .map(|c| ("spatialDataColumn", c)),
        );
        out.extend(
            self.spatial_data_type
                .clone()
                .map(|t| ("spatialDataType", t)),
        );
        out.extend(
            self.tile_resolution
                .map(|r| ("tileResolution", r.to_string())),
        );
        out.push(("v", "3.4".to_owned()));
        out
    }
}

/// A `{"url": [...]}` member of an instantiation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Urls {
    /// The URLs (clients take the first).
    #[serde(default)]
    pub url: Vec<String>,
}

/// What instantiating a source answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInstance {
    /// How many rows the source has.
    #[serde(default)]
    pub nrows: Option<u64>,
    /// Its size in bytes, when known.
    #[serde(default)]
    pub size: Option<u64>,
    /// Its columns, in CARTO's types.
    #[serde(default)]
    pub schema: Vec<Value>,
    /// Where its TileJSON is.
    pub tilejson: Urls,
    /// Every other member (`geojson`, `json`, `ndjson`, ...).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A TileJSON as CARTO serves it: the tile template and CARTO's extras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TileJson {
    /// The TileJSON version.
    pub tilejson: String,
    /// Tile URL templates (`{z}/{x}/{y}`).
    pub tiles: Vec<String>,
    /// The vector layers and their fields.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector_layers: Option<Value>,
    /// `[west, south, east, north]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<Vec<f64>>,
    /// The smallest zoom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minzoom: Option<u32>,
    /// The largest zoom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxzoom: Option<u32>,
    /// CARTO's statistics of the layers' attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tilestats: Option<Value>,
    /// Every other member.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl TileJson {
    /// The URL of tile `coord` from the first template, asking for MVT when the
    /// template does not say (and refusing CARTO's proprietary binary format).
    pub fn tile_url(&self, coord: TileCoord) -> Result<String, Error> {
        let template = self
            .tiles
            .first()
            .ok_or_else(|| Error::invalid("TileJSON", "it has no tile template"))?;
        if template.contains("formatTiles=binary") {
            return Err(Error::invalid(
                "TileJSON",
                "its tiles are in CARTO's proprietary binary format; instantiate with formatTiles=mvt",
            ));
        }
        let url = template
            .replace("{z}", &coord.z.to_string())
            .replace("{x}", &coord.x.to_string())
            .replace("{y}", &coord.y.to_string());
        Ok(if url.contains("formatTiles=") {
            url
        } else if url.contains('?') {
            format!("{url}&formatTiles=mvt")
        } else {
            format!("{url}?formatTiles=mvt")
        })
    }
}

/// Instantiates a source: `GET /v3/maps/{connection}/table|query?...`, or a POST with
/// the parameters as JSON when the URL would be longer than [`MAX_GET_URL`].
#[derive(Debug, Clone, PartialEq)]
pub struct InstantiateSource(pub MapSource);

impl ApiEndpoint for InstantiateSource {
    type Output = SourceInstance;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        let path = self.0.path()?;
        let params = self.0.params();
        let mut get = ctx.request(Method::GET, &path);
        for (k, v) in &params {
            get = get.query(*k, v.clone());
        }
        let request = get.build()?;
        if request.uri().to_string().len() <= MAX_GET_URL {
            return Ok(request);
        }
        let body: Map<String, Value> = params
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::String(v)))
            .collect();
        ctx.request(Method::POST, &path).json(&body)?.build()
    }

    fn parse(&self, response: HttpResponse) -> Result<SourceInstance, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// Reads a TileJSON from the URL an instantiation gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetTileJson(pub String);

impl ApiEndpoint for GetTileJson {
    type Output = TileJson;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        ctx.request_url(Method::GET, &self.0)?.build()
    }

    fn parse(&self, response: HttpResponse) -> Result<TileJson, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// Reads one tile from a URL built with [`TileJson::tile_url`]; `None` for an empty
/// tile (204).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetSourceTile(pub String);

impl ApiEndpoint for GetSourceTile {
    type Output = Option<Tile>;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        ctx.request_url(Method::GET, &self.0)?.build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Option<Tile>, Error> {
        check_status(&response)?;
        if response.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let content_type = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Some(Tile {
            content_type,
            data: response.into_body(),
        }))
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `GET /v3/stats/{connection}/{table}/{column}` (a table source) or
/// `/v3/stats/{connection}/{column}?q=...` (a query source): a column's statistics
/// (`min`, `max`, `avg`, `sum`, `quantiles`; `categories`; or `extent`), as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct GetStats {
    /// The source.
    pub source: MapSource,
    /// The column.
    pub column: String,
}

impl ApiEndpoint for GetStats {
    type Output = Value;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        self.source.path()?;
        if self.column.is_empty() {
            return Err(Error::invalid("stats", "the column name is empty"));
        }
        let connection = self.source.connection.as_str();
        match &self.source.kind {
            SourceKind::Table(name) => {
                let segments = ["v3", "stats", connection, name, &self.column];
                ctx.request(Method::GET, &segments).build()
            }
            SourceKind::Query { sql, params } => {
                let segments = ["v3", "stats", connection, &self.column];
                let mut request = ctx.request(Method::GET, &segments).query("q", sql.clone());
                if let Some(params) = params {
                    request = request.query("queryParameters", params.to_string());
                }
                request.build()
            }
        }
    }

    fn parse(&self, response: HttpResponse) -> Result<Value, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// CARTO 3 map sources over `T`, blocking or async as `M` says: instantiate, TileJSON,
/// tiles, stats. Use it through [`SourcesClient`] and [`AsyncSourcesClient`].
pub struct SourcesApi<T, M> {
    core: ApiCore<T>,
    mode: PhantomData<fn() -> M>,
}

/// CARTO 3 map sources, blocking the calling thread.
pub type SourcesClient<T> = SourcesApi<T, Blocking>;

/// CARTO 3 map sources, asynchronously.
pub type AsyncSourcesClient<T> = SourcesApi<T, Async>;

impl<T, M: Mode> SourcesApi<T, M> {
    /// A client sending through `core`.
    pub fn new(core: ApiCore<T>) -> Self {
        Self {
            core,
            mode: PhantomData,
        }
    }

    /// A client for `credentials`.
    pub fn from_credentials(transport: T, credentials: ApiCredentials) -> Self {
        Self::new(ApiCore::new(transport, credentials))
    }
}

impl<T: Clone, M> Clone for SourcesApi<T, M> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            mode: PhantomData,
        }
    }
}

/// Shows the context (never a token), not the transport.
impl<T, M: Mode> fmt::Debug for SourcesApi<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core
            .fmt_debug(&format!("{}SourcesClient", M::PREFIX), f)
    }
}

fn tilejson_of(instance: &SourceInstance) -> Result<GetTileJson, Error> {
    let url = instance
        .tilejson
        .url
        .first()
        .ok_or_else(|| Error::invalid("source instance", "the answer gives no TileJSON URL"))?;
    Ok(GetTileJson(url.clone()))
}

impl<T: Transport> SourcesApi<T, Blocking> {
    /// Instantiates `source`.
    pub fn instantiate(&self, source: &MapSource) -> Result<SourceInstance, Error> {
        self.core.send(&InstantiateSource(source.clone()))
    }

    /// The TileJSON of an instance.
    pub fn tilejson(&self, instance: &SourceInstance) -> Result<TileJson, Error> {
        self.core.send(&tilejson_of(instance)?)
    }

    /// Tile `coord` as MVT; `None` when empty.
    pub fn tile(&self, tilejson: &TileJson, coord: TileCoord) -> Result<Option<Tile>, Error> {
        self.core.send(&GetSourceTile(tilejson.tile_url(coord)?))
    }

    /// The statistics of `column` of `source`.
    pub fn stats(&self, source: &MapSource, column: &str) -> Result<Value, Error> {
        let stats = GetStats {
            source: source.clone(),
            column: column.to_owned(),
        };
        self.core.send(&stats)
    }
}

impl<T: AsyncTransport> SourcesApi<T, Async> {
    /// Instantiates `source`.
    pub async fn instantiate(&self, source: &MapSource) -> Result<SourceInstance, Error> {
        self.core
            .send_async(&InstantiateSource(source.clone()))
            .await
    }

    /// The TileJSON of an instance.
    pub async fn tilejson(&self, instance: &SourceInstance) -> Result<TileJson, Error> {
        self.core.send_async(&tilejson_of(instance)?).await
    }

    /// Tile `coord` as MVT; `None` when empty.
    pub async fn tile(&self, tilejson: &TileJson, coord: TileCoord) -> Result<Option<Tile>, Error> {
        let url = tilejson.tile_url(coord)?;
        self.core.send_async(&GetSourceTile(url)).await
    }

    /// The statistics of `column` of `source`.
    pub async fn stats(&self, source: &MapSource, column: &str) -> Result<Value, Error> {
        let stats = GetStats {
            source: source.clone(),
            column: column.to_owned(),
        };
        self.core.send_async(&stats).await
    }
}
