//! MapConfig: the layers of an anonymous map (and of a named map's `layergroup`).

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use carto_core::Error;

/// The MapConfig versions Windshaft accepts (`>=1.0.0 <=1.8.0`).
pub const MAX_MAPCONFIG_VERSION: (u32, u32, u32) = (1, 8, 0);

/// The type of a layer. A missing type is `mapnik`; `cartodb` is its alias. There is no
/// `mvt` type: a vector-only layer is a `mapnik` layer without CartoCSS.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum LayerType {
    /// Mapnik: SQL, and CartoCSS for raster tiles.
    #[default]
    Mapnik,
    /// `cartodb`: the same as `mapnik`.
    Cartodb,
    /// Torque (animated points).
    Torque,
    /// An external tile server (`urlTemplate`).
    Http,
    /// A plain color or image.
    Plain,
    /// Another named map of the same user.
    Named,
    /// A type this crate does not know, as sent.
    Other(String),
}

impl LayerType {
    /// The type from its name.
    pub fn parse(text: &str) -> Self {
        match text {
            "mapnik" => Self::Mapnik,
            "cartodb" => Self::Cartodb,
            "torque" => Self::Torque,
            "http" => Self::Http,
            "plain" => Self::Plain,
            "named" => Self::Named,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The type's name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Mapnik => "mapnik",
            Self::Cartodb => "cartodb",
            Self::Torque => "torque",
            Self::Http => "http",
            Self::Plain => "plain",
            Self::Named => "named",
            Self::Other(other) => other,
        }
    }

    /// `mapnik` or its alias `cartodb`.
    pub fn is_mapnik(&self) -> bool {
        matches!(self, Self::Mapnik | Self::Cartodb)
    }
}

impl Serialize for LayerType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LayerType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(deserializer)?))
    }
}

/// `interactivity`: a comma-separated string or an array of column names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Interactivity {
    /// `"a,b"`.
    Text(String),
    /// `["a", "b"]`.
    Columns(Vec<String>),
}

/// `attributes`: the column that identifies a feature, and the columns an attributes
/// request returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attributes {
    /// The identifying column (`cartodb_id`).
    pub id: String,
    /// The columns returned.
    pub columns: Vec<String>,
}

/// The options of a layer. The members this crate knows are typed; every other one
/// (`geom_type`, `srid`, `aggregation`, `metadata`, `urlTemplate`, ...) is kept in
/// [`LayerOptions::other`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerOptions {
    /// The layer's SQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    /// Its CartoCSS (absent: the layer is vector-only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cartocss: Option<String>,
    /// The CartoCSS version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cartocss_version: Option<String>,
    /// The columns of UTFGrid interactivity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactivity: Option<Interactivity>,
    /// What an attributes request returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Attributes>,
    /// The geometry column (default `the_geom_webmercator`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geom_column: Option<String>,
    /// Every other member, as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One layer of a MapConfig.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Layer {
    /// The type (absent: `mapnik`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub layer_type: Option<LayerType>,
    /// The layer's id, used in tile URLs (absent: `layer<N>`, see [`MapConfig::layer_ids`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The options.
    pub options: LayerOptions,
}

impl Layer {
    /// A vector-only layer (MVT tiles): a `mapnik` layer with `sql` and no CartoCSS.
    pub fn vector(sql: impl Into<String>) -> Self {
        Self {
            layer_type: Some(LayerType::Mapnik),
            id: None,
            options: LayerOptions {
                sql: Some(sql.into()),
                ..LayerOptions::default()
            },
        }
    }

    /// A `cartodb` layer with `sql` styled by `cartocss` (version 2.3.0): raster tiles
    /// and static images, and MVT too.
    pub fn styled(sql: impl Into<String>, cartocss: impl Into<String>) -> Self {
        Self {
            layer_type: Some(LayerType::Cartodb),
            id: None,
            options: LayerOptions {
                sql: Some(sql.into()),
                cartocss: Some(cartocss.into()),
                cartocss_version: Some("2.3.0".into()),
                ..LayerOptions::default()
            },
        }
    }

    /// The same layer with an id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The same layer exposing `columns` of the feature whose `id` column matches.
    pub fn with_attributes(mut self, id: impl Into<String>, columns: &[&str]) -> Self {
        self.options.attributes = Some(Attributes {
            id: id.into(),
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        });
        self
    }

    /// The layer's type (`mapnik` when absent).
    pub fn kind(&self) -> LayerType {
        self.layer_type.clone().unwrap_or_default()
    }

    /// Whether it is a vector-only layer, as Windshaft decides: a mapnik layer with SQL
    /// and neither `cartocss` nor `cartocss_version`.
    pub fn is_vector(&self) -> bool {
        self.kind().is_mapnik()
            && self.options.sql.is_some()
            && self.options.cartocss.is_none()
            && self.options.cartocss_version.is_none()
    }
}

/// A MapConfig: the layers of a layergroup, with `version` and the other top-level
/// members (`buffersize`, `extent`, `srid`, ...) kept as sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MapConfig {
    /// The format version (default `1.0.0`; Windshaft takes up to `1.8.0`).
    #[serde(default = "default_version")]
    pub version: String,
    /// The layers, drawn in order.
    pub layers: Vec<Layer>,
    /// Every other member, as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn default_version() -> String {
    "1.0.0".to_owned()
}

impl MapConfig {
    /// A MapConfig (version 1.8.0) of `layers`.
    pub fn new(layers: impl IntoIterator<Item = Layer>) -> Self {
        Self {
            version: "1.8.0".to_owned(),
            layers: layers.into_iter().collect(),
            other: Map::new(),
        }
    }

    /// Whether every layer is vector-only (only `.mvt` tiles can be made).
    pub fn is_vector_only(&self) -> bool {
        !self.layers.is_empty() && self.layers.iter().all(Layer::is_vector)
    }

    /// The id of each layer, as Windshaft names them: the explicit `id`, else
    /// `layer<N>` for mapnik layers and `<type>-layer<N>`, N counting layers of the same
    /// type.
    pub fn layer_ids(&self) -> Vec<String> {
        let mut counts: Vec<(String, usize)> = Vec::new();
        self.layers
            .iter()
            .map(|layer| {
                let kind = layer.kind();
                let group = if kind.is_mapnik() {
                    "mapnik"
                } else {
                    kind.as_str()
                };
                let n = match counts.iter_mut().find(|(g, _)| g == group) {
                    Some((_, n)) => {
                        *n += 1;
                        *n - 1
                    }
                    None => {
                        counts.push((group.to_owned(), 1));
                        0
                    }
                };
                match &layer.id {
                    Some(id) => id.clone(),
                    None if kind.is_mapnik() => format!("layer{n}"),
                    None => format!("{group}-layer{n}"),
                }
            })
            .collect()
    }

    /// The checks Windshaft makes before it renders anything, with its messages: a
    /// supported version, at least one layer, a SQL query on every mapnik layer, and
    /// vector-only and CartoCSS layers not mixed.
    pub fn check(&self) -> Result<(), Error> {
        let invalid = |reason: String| Err(Error::invalid("MapConfig", reason));
        if !version_supported(&self.version) {
            return invalid(format!(
                "Unsupported layergroup configuration version {}",
                self.version
            ));
        }
        if self.layers.is_empty() {
            return invalid("Missing layers array from layergroup config".into());
        }
        for (i, layer) in self.layers.iter().enumerate() {
            if layer.kind().is_mapnik() && layer.options.sql.as_deref().is_none_or(str::is_empty) {
                return invalid(format!("Missing sql for layer {i} options"));
            }
        }
        let vector = self.layers.iter().filter(|l| l.is_vector()).count();
        if vector > 0 && vector < self.layers.len() {
            return invalid(
                "The `mapnik` or `cartodb` layers must be consistent: `cartocss` option is either present or voided in all layers. Mixing is not allowed.".into(),
            );
        }
        Ok(())
    }
}

/// Whether `version` is a semver between 1.0.0 and 1.8.0.
pub fn version_supported(version: &str) -> bool {
    let parts: Vec<u32> = match version.split('.').map(str::parse).collect() {
        Ok(parts) => parts,
        Err(_) => return false,
    };
    match parts.as_slice() {
        [major, minor, patch] => {
            (1, 0, 0) <= (*major, *minor, *patch)
                && (*major, *minor, *patch) <= MAX_MAPCONFIG_VERSION
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn default_ids_count_within_a_type() {
        let config: MapConfig = serde_json::from_value(json!({
            "layers": [
                {"type": "http", "options": {"urlTemplate": "https://x/{z}/{x}/{y}.png"}},
                {"type": "cartodb", "options": {"sql": "select 1", "cartocss": "#l{}", "cartocss_version": "2.1.1"}},
                {"options": {"sql": "select 2", "cartocss": "#l{}", "cartocss_version": "2.1.1"}},
                {"type": "plain", "id": "bg", "options": {"color": "#fff"}}
            ]
        }))
        .unwrap();
        assert_eq!(config.version, "1.0.0");
        assert_eq!(
            config.layer_ids(),
            ["http-layer0", "layer0", "layer1", "bg"]
        );
        assert!(!config.is_vector_only());
        config.check().unwrap();
    }

    #[test]
    fn vector_and_styled_layers_do_not_mix() {
        let mixed = MapConfig::new([Layer::vector("select 1"), Layer::styled("select 2", "#l{}")]);
        let err = mixed.check().unwrap_err();
        assert!(err.to_string().contains("Mixing is not allowed"), "{err}");
        let vector = MapConfig::new([Layer::vector("select 1")]);
        assert!(vector.is_vector_only());
        vector.check().unwrap();
    }

    #[test]
    fn versions_layers_and_sql_are_checked() {
        let mut config = MapConfig::new([Layer::vector("select 1")]);
        config.version = "1.9.0".into();
        assert!(config.check().is_err());
        config.version = "x".into();
        assert!(config.check().is_err());
        assert!(MapConfig::new([]).check().is_err());
        assert!(MapConfig::new([Layer::vector("")]).check().is_err());
    }

    #[test]
    fn unknown_members_are_kept() {
        let value = json!({"version": "1.3.0", "buffersize": {"mvt": 1}, "layers": [
            {"type": "mapnik", "options": {"sql": "select 1", "aggregation": false}}]});
        let config: MapConfig = serde_json::from_value(value.clone()).unwrap();
        assert_eq!(serde_json::to_value(&config).unwrap(), value);
    }
}
