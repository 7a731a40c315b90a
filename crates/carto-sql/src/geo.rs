//! `the_geom` as GeoRust geometries (feature `geo`).
//!
//! In JSON rows (`format=json`, the default) CARTO sends geometry columns as PostGIS
//! writes them: hex-encoded EWKB (`"0101000020E6100000..."`, little- or big-endian, with
//! the SRID when it has one). [`from_hex_ewkb`] decodes such a value into a
//! [`geo_types::Geometry`]; [`hex_ewkb`] is the serde helper for a row field:
//!
//! ```
//! use carto_sql::geo::{self, Geometry};
//!
//! #[derive(serde::Deserialize)]
//! struct Airport {
//!     name: String,
//!     #[serde(deserialize_with = "geo::hex_ewkb::deserialize")]
//!     the_geom: Geometry,
//! }
//!
//! let row: Airport = serde_json::from_str(
//!     r#"{"name":"OKC","the_geom":"0101000020E61000003D0AD7A3705558C039B4C876BEBF4140"}"#,
//! )?;
//! assert_eq!(row.the_geom, Geometry::Point(geo_types::point!(x: -97.335, y: 35.498)));
//! assert_eq!(geo::srid("0101000020E61000003D0AD7A3705558C039B4C876BEBF4140")?, Some(4326));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A nullable column (`the_geom` is null for rows without a geometry) takes
//! [`hex_ewkb::option`]. The SRID is not kept in the geometry (geo-types has none):
//! [`srid`] reads it. Decoding uses [geozero](https://docs.rs/geozero)'s EWKB reader.

use std::fmt;

use geozero::ToGeo;

/// A geometry with `f64` coordinates.
pub type Geometry = geo_types::Geometry<f64>;

/// Why a `the_geom` value is not a geometry.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GeomError {
    /// The text is not hexadecimal (an odd length or a character other than `0-9a-fA-F`).
    Hex(String),
    /// The bytes are not (E)WKB: truncated, an unknown geometry type, ...
    Wkb(String),
}

impl fmt::Display for GeomError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Hex(reason) => write!(f, "the_geom is not hex-encoded EWKB: {reason}"),
            Self::Wkb(reason) => write!(f, "the_geom is not valid EWKB: {reason}"),
        }
    }
}

impl std::error::Error for GeomError {}

/// Decodes a hex EWKB value (as PostGIS prints a geometry) into a geometry.
pub fn from_hex_ewkb(hex: &str) -> Result<Geometry, GeomError> {
    from_ewkb(&decode_hex(hex)?)
}

/// Decodes EWKB (or plain WKB) bytes into a geometry.
pub fn from_ewkb(bytes: &[u8]) -> Result<Geometry, GeomError> {
    // geozero reads past a too-short header without complaint on some inputs: check the
    // byte order and the type word first.
    header(bytes)?;
    geozero::wkb::Ewkb(bytes)
        .to_geo()
        .map_err(|e| GeomError::Wkb(e.to_string()))
}

/// The SRID of a hex EWKB value (`Some(4326)` for WGS 84), `None` when it carries none.
pub fn srid(hex: &str) -> Result<Option<i32>, GeomError> {
    let bytes = decode_hex(hex)?;
    let (little, kind) = header(&bytes)?;
    if kind & 0x2000_0000 == 0 {
        return Ok(None);
    }
    let raw: [u8; 4] = bytes
        .get(5..9)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| GeomError::Wkb("truncated SRID".into()))?;
    Ok(Some(if little {
        i32::from_le_bytes(raw)
    } else {
        i32::from_be_bytes(raw)
    }))
}

/// The byte order (`true`: little-endian) and the type word of (E)WKB bytes.
fn header(bytes: &[u8]) -> Result<(bool, u32), GeomError> {
    let little = match bytes.first() {
        Some(0) => false,
        Some(1) => true,
        Some(b) => return Err(GeomError::Wkb(format!("byte order {b} is neither 0 nor 1"))),
        None => return Err(GeomError::Wkb("empty value".into())),
    };
    let raw: [u8; 4] = bytes
        .get(1..5)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| GeomError::Wkb("truncated header".into()))?;
    Ok((
        little,
        if little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        },
    ))
}

fn decode_hex(text: &str) -> Result<Vec<u8>, GeomError> {
    hex::decode(text.trim()).map_err(|e| GeomError::Hex(e.to_string()))
}

/// serde helpers for a hex EWKB field: `#[serde(deserialize_with =
/// "carto_sql::geo::hex_ewkb::deserialize")]`, or
/// `"carto_sql::geo::hex_ewkb::option::deserialize"` for a nullable column.
pub mod hex_ewkb {
    use serde::{Deserialize, Deserializer, de::Error as _};

    use super::Geometry;

    /// Deserializes a hex EWKB string into a geometry; a malformed value is a
    /// deserialization error naming the [`GeomError`](super::GeomError).
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Geometry, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        super::from_hex_ewkb(&text).map_err(D::Error::custom)
    }

    /// The same for a nullable column: `null` is `None`.
    pub mod option {
        use serde::{Deserialize, Deserializer, de::Error as _};

        use super::Geometry;

        /// Deserializes `null` or a hex EWKB string.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Geometry>, D::Error> {
            let text = <Option<std::borrow::Cow<'de, str>>>::deserialize(deserializer)?;
            text.map(|t| crate::geo::from_hex_ewkb(&t).map_err(D::Error::custom))
                .transpose()
        }
    }
}
