//! The Maps API v1 operations as sans-IO [`Endpoint`] values: each builds its request
//! from a [`RequestContext`] and parses the response, with no I/O.
//!
//! Named-map CRUD needs the master key; anonymous maps and layergroup resources need a
//! key with the `maps` grant (or none: the Default public key). Windshaft's error body,
//! `{"errors": [...], "errors_with_context": [...]}`, becomes [`Error::Api`] with the
//! messages and the status.

use carto_core::endpoint::{check_status, decode_json, expect_status};
use carto_core::{Endpoint, Error, HttpRequest, HttpResponse, RequestContext};
use http::header::CONTENT_TYPE;
use http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::layergroup::{ImageFormat, Layergroup, MAX_IMAGE_SIDE, TileCoord, TileFormat};
use crate::mapconfig::MapConfig;
use crate::template::NamedMap;

const NAMED: [&str; 4] = ["api", "v1", "map", "named"];

fn named_path(template_id: &str) -> Result<Vec<&str>, Error> {
    if template_id.is_empty() {
        return Err(Error::invalid("named map", "the template id is empty"));
    }
    let mut path = NAMED.to_vec();
    path.push(template_id);
    Ok(path)
}

fn json_answer<T: for<'de> Deserialize<'de>>(response: &HttpResponse) -> Result<T, Error> {
    check_status(response)?;
    decode_json(response.status(), response.body())
}

/// What creating a named map answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedMapCreated {
    /// The template's id (its name).
    pub template_id: String,
    /// Set when the user nears the limit of named maps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_message: Option<String>,
}

/// `POST /api/v1/map/named`: stores a template (checked first as the server checks it).
#[derive(Debug, Clone, PartialEq)]
pub struct CreateNamedMap(pub NamedMap);

impl Endpoint for CreateNamedMap {
    type Output = NamedMapCreated;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        self.0.check()?;
        ctx.request(Method::POST, &NAMED).json(&self.0)?.build()
    }

    fn parse(&self, response: HttpResponse) -> Result<NamedMapCreated, Error> {
        json_answer(&response)
    }
}

/// `GET /api/v1/map/named`: the names of the user's templates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListNamedMaps;

#[derive(Deserialize)]
struct TemplateIds {
    template_ids: Vec<String>,
}

impl Endpoint for ListNamedMaps {
    type Output = Vec<String>;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &NAMED).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Vec<String>, Error> {
        Ok(json_answer::<TemplateIds>(&response)?.template_ids)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `GET /api/v1/map/named/{id}`: one template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetNamedMap {
    /// The template's id.
    pub template_id: String,
}

#[derive(Deserialize)]
struct TemplateDoc {
    template: NamedMap,
}

impl Endpoint for GetNamedMap {
    type Output = NamedMap;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &named_path(&self.template_id)?)
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<NamedMap, Error> {
        Ok(json_answer::<TemplateDoc>(&response)?.template)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `PUT /api/v1/map/named/{name}`: replaces a template (its name cannot change).
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateNamedMap(pub NamedMap);

impl Endpoint for UpdateNamedMap {
    type Output = String;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        self.0.check()?;
        ctx.request(Method::PUT, &named_path(&self.0.name)?)
            .json(&self.0)?
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<String, Error> {
        Ok(json_answer::<NamedMapCreated>(&response)?.template_id)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `DELETE /api/v1/map/named/{id}`: deletes a template (204). Its instances keep
/// serving until they expire, as on CARTO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteNamedMap {
    /// The template's id.
    pub template_id: String,
}

impl Endpoint for DeleteNamedMap {
    type Output = ();

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::DELETE, &named_path(&self.template_id)?)
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<(), Error> {
        expect_status(&response, StatusCode::NO_CONTENT)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `POST /api/v1/map/named/{id}`: instantiates a template with placeholder values
/// (`params`) and, for a token-protected one, an `auth_token`.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantiateNamedMap {
    /// The template's id.
    pub template_id: String,
    /// The placeholders' values.
    pub params: Map<String, Value>,
    /// One of the template's `valid_tokens`.
    pub auth_token: Option<String>,
}

impl Endpoint for InstantiateNamedMap {
    type Output = Layergroup;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::POST, &named_path(&self.template_id)?)
            .query_opt("auth_token", self.auth_token.as_deref())
            .json(&self.params)?
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Layergroup, Error> {
        json_answer(&response)
    }
}

/// `POST /api/v1/map`: instantiates an anonymous map (checked first as Windshaft checks
/// a MapConfig). Its SQL runs as the key of the request.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantiateAnonymousMap(pub MapConfig);

impl Endpoint for InstantiateAnonymousMap {
    type Output = Layergroup;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        self.0.check()?;
        ctx.request(Method::POST, &["api", "v1", "map"])
            .json(&self.0)?
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Layergroup, Error> {
        json_answer(&response)
    }
}

/// A tile's bytes and their content type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tile {
    /// `application/x-protobuf`, `image/png`, ...
    pub content_type: Option<String>,
    /// The encoded tile.
    pub data: Vec<u8>,
}

fn tile_of(response: HttpResponse) -> Result<Option<Tile>, Error> {
    check_status(&response)?;
    if response.status() == StatusCode::NO_CONTENT {
        return Ok(None);
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(Some(Tile {
        content_type,
        data: response.into_body(),
    }))
}

/// `GET /api/v1/map/{layergroupid}[/{layer}]/{z}/{x}/{y}.{format}`: a tile of a
/// layergroup. `None` for an empty vector tile (204).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetTile {
    /// The layergroup's token.
    pub layergroup: String,
    /// An index, a layer id, a comma list, or `all` (`None`: every mapnik layer).
    pub layer: Option<String>,
    /// The tile.
    pub coord: TileCoord,
    /// Its format.
    pub format: TileFormat,
}

impl GetTile {
    /// Tile `coord` of every mapnik layer of `layergroup`, in `format`.
    pub fn new(layergroup: impl Into<String>, coord: TileCoord, format: TileFormat) -> Self {
        Self {
            layergroup: layergroup.into(),
            layer: None,
            coord,
            format,
        }
    }

    /// The same tile of `layer` only.
    pub fn layer(mut self, layer: impl Into<String>) -> Self {
        self.layer = Some(layer.into());
        self
    }
}

fn tile_segments<'a>(
    prefix: Vec<&'a str>,
    layer: Option<&'a str>,
    coord: TileCoord,
    format: TileFormat,
) -> Vec<String> {
    let mut segments: Vec<String> = prefix.into_iter().map(str::to_owned).collect();
    segments.extend(layer.map(str::to_owned));
    segments.push(coord.z.to_string());
    segments.push(coord.x.to_string());
    segments.push(format!("{}.{}", coord.y, format.extension()));
    segments
}

impl Endpoint for GetTile {
    type Output = Option<Tile>;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        if self.layergroup.is_empty() {
            return Err(Error::invalid("tile", "the layergroup id is empty"));
        }
        let prefix = vec!["api", "v1", "map", self.layergroup.as_str()];
        let segments = tile_segments(prefix, self.layer.as_deref(), self.coord, self.format);
        ctx.request(Method::GET, &segments).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Option<Tile>, Error> {
        tile_of(response)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `GET /api/v1/map/named/{id}/{layer}/{z}/{x}/{y}.{format}`: a tile of a named map
/// without instantiating it (rendered as its owner, guarded by its tokens).
#[derive(Debug, Clone, PartialEq)]
pub struct GetNamedTile {
    /// The template's id.
    pub template_id: String,
    /// An index, a layer id, `all` or `mapnik`.
    pub layer: String,
    /// The tile.
    pub coord: TileCoord,
    /// Its format.
    pub format: TileFormat,
    /// One of the template's `valid_tokens`.
    pub auth_token: Option<String>,
    /// The placeholders' values.
    pub params: Option<Map<String, Value>>,
}

impl Endpoint for GetNamedTile {
    type Output = Option<Tile>;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        let prefix = named_path(&self.template_id)?;
        let segments = tile_segments(prefix, Some(&self.layer), self.coord, self.format);
        let config = self
            .params
            .as_ref()
            .map(|p| Value::Object(p.clone()).to_string());
        ctx.request(Method::GET, &segments)
            .query_opt("auth_token", self.auth_token.as_deref())
            .query_opt("config", config)
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Option<Tile>, Error> {
        tile_of(response)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `GET /api/v1/map/{layergroupid}/{layer}/attributes/{id}`: the attributes a layer
/// exposes (`attributes.columns`) of the feature whose `attributes.id` is `feature_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetAttributes {
    /// The layergroup's token.
    pub layergroup: String,
    /// The layer index.
    pub layer: u32,
    /// The feature's id.
    pub feature_id: i64,
}

impl Endpoint for GetAttributes {
    type Output = Map<String, Value>;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        let (layer, id) = (self.layer.to_string(), self.feature_id.to_string());
        let segments = [
            "api",
            "v1",
            "map",
            &self.layergroup,
            &layer,
            "attributes",
            &id,
        ];
        ctx.request(Method::GET, &segments).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Map<String, Value>, Error> {
        json_answer(&response)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// Where a static image is centred.
#[derive(Debug, Clone, PartialEq)]
pub enum StaticView {
    /// Zoom and centre.
    Center {
        /// The zoom.
        zoom: u32,
        /// Latitude.
        lat: f64,
        /// Longitude.
        lng: f64,
    },
    /// A bounding box in degrees.
    Bbox {
        /// West.
        west: f64,
        /// South.
        south: f64,
        /// East.
        east: f64,
        /// North.
        north: f64,
    },
}

/// `GET /api/v1/map/static/{center|bbox}/{layergroupid}/.../{width}/{height}.{format}`:
/// a static image of a layergroup (PNG or JPEG, each side at most 8192).
#[derive(Debug, Clone, PartialEq)]
pub struct GetStaticImage {
    /// The layergroup's token.
    pub layergroup: String,
    /// What it shows.
    pub view: StaticView,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// PNG or JPEG.
    pub format: ImageFormat,
}

impl Endpoint for GetStaticImage {
    type Output = Tile;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        for side in [self.width, self.height] {
            if side == 0 || side > MAX_IMAGE_SIDE {
                return Err(Error::invalid(
                    "static image",
                    format!("each side must be 1 to {MAX_IMAGE_SIDE} pixels, not {side}"),
                ));
            }
        }
        let mut segments = vec!["api".to_owned(), "v1".into(), "map".into(), "static".into()];
        match &self.view {
            StaticView::Center { zoom, lat, lng } => {
                segments.extend(["center".into(), self.layergroup.clone(), zoom.to_string()]);
                segments.extend([lat.to_string(), lng.to_string()]);
            }
            StaticView::Bbox {
                west,
                south,
                east,
                north,
            } => {
                segments.extend(["bbox".into(), self.layergroup.clone()]);
                segments.push(format!("{west},{south},{east},{north}"));
            }
        }
        segments.push(self.width.to_string());
        segments.push(format!("{}.{}", self.height, self.format.extension()));
        ctx.request(Method::GET, &segments).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Tile, Error> {
        tile_of(response)?.ok_or_else(|| {
            Error::invalid("static image", "the server answered 204 without an image")
        })
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}
