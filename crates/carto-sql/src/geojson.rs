//! GeoJSON results (`format=geojson`): a typed feature collection.

use serde::{Deserialize, Serialize};

/// A position: `[x, y]`, or with more coordinates (`z`, `m`).
pub type Position = Vec<f64>;

/// A GeoJSON geometry.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Geometry {
    /// A point.
    Point {
        /// Its position.
        coordinates: Position,
    },
    /// Several points.
    MultiPoint {
        /// Their positions.
        coordinates: Vec<Position>,
    },
    /// A line.
    LineString {
        /// Its vertices.
        coordinates: Vec<Position>,
    },
    /// Several lines.
    MultiLineString {
        /// Their vertices.
        coordinates: Vec<Vec<Position>>,
    },
    /// A polygon: an outer ring and holes.
    Polygon {
        /// Its rings.
        coordinates: Vec<Vec<Position>>,
    },
    /// Several polygons.
    MultiPolygon {
        /// Their rings.
        coordinates: Vec<Vec<Vec<Position>>>,
    },
    /// Several geometries.
    GeometryCollection {
        /// The geometries.
        geometries: Vec<Geometry>,
    },
}

/// One row of a GeoJSON result: the `the_geom` column as `geometry` (`None` when null)
/// and the other columns as `properties`, decoded into `P`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature<P = serde_json::Map<String, serde_json::Value>> {
    /// The geometry.
    pub geometry: Option<Geometry>,
    /// The other columns (`the_geom_webmercator` is left out by the server).
    pub properties: P,
}

/// A GeoJSON `FeatureCollection`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureCollection<P = serde_json::Map<String, serde_json::Value>> {
    /// The features, one per row.
    pub features: Vec<Feature<P>>,
}
