//! GeoJSON, read natively: a FeatureCollection, a Feature or a bare geometry. Properties
//! become columns (in the order first seen; JSON strings stay text, numbers and booleans
//! are typed when `type_guessing`, objects and arrays are kept as JSON text), geometries a
//! `the_geom` column loaded with PostGIS' `ST_GeomFromGeoJSON` in 4326.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use serde_json::Value;

use super::rows::{ColumnType, RowWriter};
use super::{ImportFailure, ImportOptions, Loaded, errors};

fn invalid(detail: &str) -> ImportFailure {
    ImportFailure::new(errors::INVALID_GEOJSON, detail)
}

/// Reads a GeoJSON file.
pub(crate) fn read(path: &Path, options: ImportOptions) -> Result<Loaded, ImportFailure> {
    let file = File::open(path).map_err(|e| ImportFailure::new(errors::UNKNOWN, e.to_string()))?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        return Err(ImportFailure::new(errors::EMPTY_FILE, "an empty file"));
    }
    let doc: Value =
        serde_json::from_reader(BufReader::new(file)).map_err(|e| invalid(&e.to_string()))?;
    let features: Vec<Value> = match doc.get("type").and_then(Value::as_str) {
        Some("FeatureCollection") => match doc.get("features") {
            Some(Value::Array(f)) => f.clone(),
            _ => return Err(invalid("a FeatureCollection without features")),
        },
        Some("Feature") => vec![doc],
        Some(
            "Point" | "MultiPoint" | "LineString" | "MultiLineString" | "Polygon" | "MultiPolygon"
            | "GeometryCollection",
        ) => vec![serde_json::json!({"type": "Feature", "geometry": doc, "properties": {}})],
        _ => return Err(invalid("not GeoJSON")),
    };
    if features.is_empty() {
        return Err(ImportFailure::new(errors::EMPTY_FILE, "no features"));
    }
    // The columns: every property name, first seen first, then the geometry.
    let mut names: Vec<String> = Vec::new();
    for f in &features {
        if f.get("type").and_then(Value::as_str) != Some("Feature") {
            return Err(invalid("a member of features that is not a Feature"));
        }
        match f.get("properties") {
            Some(Value::Object(p)) => {
                for k in p.keys() {
                    if !names.contains(k) {
                        names.push(k.clone());
                    }
                }
            }
            None | Some(Value::Null) => {}
            Some(_) => return Err(invalid("properties that are not an object")),
        }
    }
    // The geometry column, named apart from the properties.
    let mut geom = "the_geom".to_owned();
    while names.iter().any(|n| n.eq_ignore_ascii_case(&geom)) {
        geom.insert(0, '_');
    }
    let mut all = names.clone();
    all.push(geom);
    let mut fixed = vec![None; names.len()];
    fixed.push(Some(ColumnType::GeoJson));
    // Strings and JSON stay text whatever the options: GeoJSON types its values.
    let mut writer = RowWriter::new(&all, fixed, options, true)?;
    for f in &features {
        let props = f.get("properties").and_then(Value::as_object);
        let geometry = match f.get("geometry") {
            None | Some(Value::Null) => None,
            Some(g @ Value::Object(_)) => Some(g.to_string()),
            Some(_) => return Err(invalid("a geometry that is not an object")),
        };
        let texts: Vec<(Option<String>, bool)> = names
            .iter()
            .map(|n| match props.and_then(|p| p.get(n)) {
                None | Some(Value::Null) => (None, false),
                Some(Value::String(s)) => (Some(s.clone()), true),
                Some(other) => (
                    Some(other.to_string()),
                    matches!(other, Value::Object(_) | Value::Array(_)),
                ),
            })
            .chain(std::iter::once((geometry, true)))
            .collect();
        let values: Vec<(Option<&str>, bool)> =
            texts.iter().map(|(v, q)| (v.as_deref(), *q)).collect();
        writer.row(&values)?;
    }
    writer.finish()
}
