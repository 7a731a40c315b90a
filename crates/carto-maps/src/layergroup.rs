//! What an instantiation answers (a layergroup), and the URLs of its resources.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use carto_core::{BaseUrl, Error, Token};

/// A tile format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TileFormat {
    /// Mapbox Vector Tile (`application/x-protobuf`); an empty tile is a 204.
    Mvt,
    /// PNG, rendered from CartoCSS.
    Png,
    /// 32-bit PNG.
    Png32,
    /// UTFGrid (`grid.json`), from `interactivity`.
    GridJson,
}

impl TileFormat {
    /// The URL extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Mvt => "mvt",
            Self::Png => "png",
            Self::Png32 => "png32",
            Self::GridJson => "grid.json",
        }
    }
}

/// A static image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    /// `image/png`.
    Png,
    /// `image/jpeg` (quality 85).
    Jpg,
}

impl ImageFormat {
    /// The URL extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpg => "jpg",
        }
    }
}

/// The largest static image side CARTO renders.
pub const MAX_IMAGE_SIDE: u32 = 8192;

/// A tile's address: zoom, column, row (XYZ, the row counted from the north).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileCoord {
    /// The zoom level.
    pub z: u32,
    /// The column.
    pub x: u32,
    /// The row.
    pub y: u32,
}

impl TileCoord {
    /// The tile `z/x/y`; `x` and `y` must be below `2^z`.
    pub fn new(z: u32, x: u32, y: u32) -> Result<Self, Error> {
        if z > 30 {
            return Err(Error::invalid("tile", format!("zoom {z} is over 30")));
        }
        let side = 1u64 << z;
        if u64::from(x) >= side || u64::from(y) >= side {
            return Err(Error::invalid(
                "tile",
                format!(
                    "column {x} or row {y} is outside zoom {z} (0 to {})",
                    side - 1
                ),
            ));
        }
        Ok(Self { z, x, y })
    }
}

/// The metadata of one layer in an instantiation's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerMetadata {
    /// The layer type.
    #[serde(rename = "type")]
    pub layer_type: String,
    /// The layer id (`layer0`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `meta`: `cartocss`, `stats`, `aggregation`, ...
    #[serde(default)]
    pub meta: Value,
    /// The layer's TileJSON (`vector`, `raster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tilejson: Option<Value>,
    /// Every other member.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `metadata` of an instantiation's answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayergroupMetadata {
    /// One entry per layer.
    #[serde(default)]
    pub layers: Vec<LayerMetadata>,
    /// The whole map's TileJSON (`vector`, `raster`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tilejson: Option<Value>,
    /// The whole map's URL templates (`vector`, `raster`: `urlTemplate`, `subdomains`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Value>,
    /// Every other member (`dataviews`, `analyses`, `torque`, ...).
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// A layergroup: what instantiating a named or anonymous map answers. Its
/// `layergroupid` addresses the tiles, attributes and static images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layergroup {
    /// The token of the layergroup (`md5:cache_buster`, or `user@hash@md5:cb` for a
    /// named map).
    pub layergroupid: String,
    /// The newest update of the tables it reads (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<String>,
    /// The layers and URL templates.
    #[serde(default)]
    pub metadata: LayergroupMetadata,
    /// The CDN hosts, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cdn_url: Option<Value>,
    /// Every other member.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl Layergroup {
    /// The URL template of this layergroup's tiles on `base` (`.../{z}/{x}/{y}.mvt`) for a
    /// browser or a map library: `layer` is an index, a layer id, a comma list or `all`
    /// (`None`: every mapnik layer). `api_key` is appended when given (tiles of a map over
    /// private tables render as the key sent with each tile request, so a client that
    /// sends none reads as the Default public key). The key is in the URL: treat it as a
    /// secret.
    pub fn tile_url_template(
        &self,
        base: &BaseUrl,
        layer: Option<&str>,
        format: TileFormat,
        api_key: Option<&Token>,
    ) -> String {
        let mut segments = vec!["api", "v1", "map", self.layergroupid.as_str()];
        segments.extend(layer);
        let mut url = base.endpoint(&segments).to_string();
        url.push_str("/{z}/{x}/{y}.");
        url.push_str(format.extension());
        if let Some(key) = api_key {
            url.push_str("?api_key=");
            url.push_str(&percent_encode(key.expose_secret()));
        }
        url
    }
}

/// Percent-encodes a query value.
pub(crate) fn percent_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_coordinates_are_checked() {
        assert!(TileCoord::new(0, 0, 0).is_ok());
        assert!(TileCoord::new(2, 3, 3).is_ok());
        assert!(TileCoord::new(2, 4, 0).is_err());
        assert!(TileCoord::new(31, 0, 0).is_err());
    }

    #[test]
    fn url_templates_keep_their_braces_and_encode_the_key() {
        let group = Layergroup {
            layergroupid: "abc:0".into(),
            last_updated: None,
            metadata: LayergroupMetadata::default(),
            cdn_url: None,
            other: Map::new(),
        };
        let base = BaseUrl::parse("https://alice.carto.com").unwrap();
        let key = Token::new("a+b/c");
        let url = group.tile_url_template(&base, Some("0"), TileFormat::Mvt, Some(&key));
        assert_eq!(
            url,
            "https://alice.carto.com/api/v1/map/abc:0/0/{z}/{x}/{y}.mvt?api_key=a%2Bb%2Fc"
        );
        let url = group.tile_url_template(&base, None, TileFormat::Png, None);
        assert_eq!(
            url,
            "https://alice.carto.com/api/v1/map/abc:0/{z}/{x}/{y}.png"
        );
    }
}
