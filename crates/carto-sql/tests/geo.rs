//! `carto_sql::geo`: `the_geom` hex EWKB (as PostGIS prints it) into geo-types. The hex
//! values below are PostGIS 3 output (`SELECT 'SRID=4326;...'::geometry::text`).
#![cfg(feature = "geo")]

use carto_sql::geo::{self, GeomError, Geometry};
use geo_types::{LineString, MultiPolygon, Polygon, point, polygon};
use serde::Deserialize;

const POINT: &str = "0101000020E61000003D0AD7A3705558C039B4C876BEBF4140";
const POLYGON: &str = "0103000020E61000000200000005000000000000000000000000000000000000000000000000001040000000000000000000000000000010400000000000001040000000000000000000000000000010400000000000000000000000000000000005000000000000000000F03F000000000000F03F000000000000F03F0000000000000040000000000000004000000000000000400000000000000040000000000000F03F000000000000F03F000000000000F03F";
const MULTIPOLYGON: &str = "0106000020E61000000200000001030000000200000005000000000000000000000000000000000000000000000000001040000000000000000000000000000010400000000000001040000000000000000000000000000010400000000000000000000000000000000005000000000000000000F03F000000000000F03F000000000000F03F0000000000000040000000000000004000000000000000400000000000000040000000000000F03F000000000000F03F000000000000F03F0103000000010000000400000000000000000024400000000000002440000000000000264000000000000024400000000000002640000000000000264000000000000024400000000000002440";

fn square_with_hole() -> Polygon<f64> {
    Polygon::new(
        LineString::from(vec![(0., 0.), (4., 0.), (4., 4.), (0., 4.), (0., 0.)]),
        vec![LineString::from(vec![
            (1., 1.),
            (1., 2.),
            (2., 2.),
            (2., 1.),
            (1., 1.),
        ])],
    )
}

#[test]
fn point_with_srid_4326() {
    assert_eq!(
        geo::from_hex_ewkb(POINT).unwrap(),
        Geometry::Point(point!(x: -97.335, y: 35.498))
    );
    assert_eq!(geo::srid(POINT).unwrap(), Some(4326));
    // Lower case hex too (ST_AsEWKB's bytea text).
    assert_eq!(
        geo::from_hex_ewkb(&POINT.to_lowercase()).unwrap(),
        geo::from_hex_ewkb(POINT).unwrap()
    );
}

#[test]
fn polygon_with_a_hole() {
    assert_eq!(
        geo::from_hex_ewkb(POLYGON).unwrap(),
        Geometry::Polygon(square_with_hole())
    );
    assert_eq!(geo::srid(POLYGON).unwrap(), Some(4326));
}

#[test]
fn multipolygon() {
    let triangle = polygon![(x: 10., y: 10.), (x: 11., y: 10.), (x: 11., y: 11.), (x: 10., y: 10.)];
    assert_eq!(
        geo::from_hex_ewkb(MULTIPOLYGON).unwrap(),
        Geometry::MultiPolygon(MultiPolygon::new(vec![square_with_hole(), triangle]))
    );
}

#[test]
fn big_endian_wkb_without_srid() {
    let xdr = "00000000013FF80000000000004002000000000000";
    assert_eq!(
        geo::from_hex_ewkb(xdr).unwrap(),
        Geometry::Point(point!(x: 1.5, y: 2.25))
    );
    assert_eq!(geo::srid(xdr).unwrap(), None);
}

#[test]
fn malformed_values_are_typed_errors() {
    assert!(matches!(
        geo::from_hex_ewkb("0101zz"),
        Err(GeomError::Hex(_))
    ));
    assert!(matches!(geo::from_hex_ewkb("010"), Err(GeomError::Hex(_))));
    assert!(matches!(geo::from_hex_ewkb(""), Err(GeomError::Wkb(_))));
    // Byte order 2, a truncated point, an unknown geometry type.
    assert!(matches!(
        geo::from_hex_ewkb("0201000000"),
        Err(GeomError::Wkb(_))
    ));
    assert!(matches!(
        geo::from_hex_ewkb(&POINT[..POINT.len() - 8]),
        Err(GeomError::Wkb(_))
    ));
    assert!(matches!(
        geo::from_hex_ewkb("0163000000000000000000F03F000000000000F03F"),
        Err(GeomError::Wkb(_))
    ));
    assert!(matches!(
        geo::srid("0101000020E610"),
        Err(GeomError::Wkb(_))
    ));
    let err = geo::from_hex_ewkb("xyz").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the_geom is not hex-encoded EWKB"),
        "{err}"
    );
}

#[derive(Debug, Deserialize)]
struct Row {
    cartodb_id: i64,
    #[serde(deserialize_with = "geo::hex_ewkb::option::deserialize")]
    the_geom: Option<Geometry>,
}

#[test]
fn serde_helpers_decode_json_rows() {
    let rows: Vec<Row> = serde_json::from_str(&format!(
        r#"[{{"cartodb_id":1,"the_geom":"{POINT}"}},{{"cartodb_id":2,"the_geom":null}}]"#
    ))
    .unwrap();
    assert_eq!(rows[0].cartodb_id, 1);
    assert_eq!(
        rows[0].the_geom,
        Some(Geometry::Point(point!(x: -97.335, y: 35.498)))
    );
    assert_eq!(rows[1].the_geom, None);

    #[derive(Debug, Deserialize)]
    struct Strict {
        #[serde(deserialize_with = "geo::hex_ewkb::deserialize")]
        #[allow(dead_code)]
        the_geom: Geometry,
    }
    let err = serde_json::from_str::<Strict>(r#"{"the_geom":"nothex"}"#).unwrap_err();
    assert!(err.to_string().contains("not hex-encoded EWKB"), "{err}");
}

#[test]
fn sql_api_rows_and_geojson_into_geo_types() {
    // A SQL API JSON response decoded with the row helper.
    let body = format!(
        r#"{{"rows":[{{"cartodb_id":7,"the_geom":"{MULTIPOLYGON}"}}],"time":0.001,"fields":{{"cartodb_id":{{"type":"number"}},"the_geom":{{"type":"geometry"}}}},"total_rows":1}}"#
    );
    let resp = carto_core::Endpoint::parse(
        &carto_sql::Query::new("SELECT cartodb_id, the_geom FROM t").json::<Row>(),
        http::Response::builder()
            .status(200)
            .body(body.into_bytes())
            .unwrap(),
    )
    .unwrap();
    assert!(matches!(
        resp.rows[0].the_geom,
        Some(Geometry::MultiPolygon(_))
    ));

    // A `format=geojson` geometry converts with the geojson crate's geo-types support.
    let gj = carto_sql::Geometry::new_point([-97.335, 35.498]);
    let g: Geometry = gj.try_into().unwrap();
    assert_eq!(g, geo::from_hex_ewkb(POINT).unwrap());
}
