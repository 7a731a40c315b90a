//! GeoJSON results (`format=geojson`) as the GeoRust [`geojson`] crate's types.
//!
//! [`SqlClient::geojson`](crate::SqlClient::geojson) returns a [`FeatureCollection`]: one
//! [`Feature`] per row, the `the_geom` column as its `geometry` (`None` when null) and the
//! other columns as its `properties` (`the_geom_webmercator` is left out by the server).
//! Decode the properties into your own type with `serde_json`:
//!
//! ```
//! use carto_sql::geojson::FeatureCollection;
//!
//! #[derive(serde::Deserialize)]
//! struct Tornado {
//!     month: u32,
//! }
//!
//! let fc: FeatureCollection = r#"{"type":"FeatureCollection","features":[{"type":"Feature",
//!     "geometry":{"type":"Point","coordinates":[-97.335,35.498]},"properties":{"month":10}}]}"#
//!     .parse::<carto_sql::geojson::GeoJson>()?
//!     .try_into()?;
//! let props = fc.features[0].properties.clone().unwrap_or_default();
//! let tornado: Tornado = serde_json::from_value(props.into())?;
//! assert_eq!(tornado.month, 10);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! With the `geo` feature, the [`geojson`] crate's `geo-types` conversions are on
//! (`geo_types::Geometry::try_from(geometry)`, `geojson::quick_collection`).

pub use ::geojson::{
    Feature, FeatureCollection, GeoJson, Geometry, GeometryValue, JsonObject, Position,
};
