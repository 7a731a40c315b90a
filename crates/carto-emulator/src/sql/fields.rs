//! Column metadata: the `fields` entry of a result column, as the SQL API computes it.

use tokio_postgres::types::Type;

/// The names PostGIS gives its spatial types; their OIDs differ per database.
pub(crate) const SPATIAL_TYPES: [&str; 3] = ["geometry", "geography", "raster"];

const WKB_TYPES: [&str; 15] = [
    "Unknown",
    "Point",
    "LineString",
    "Polygon",
    "MultiPoint",
    "MultiLineString",
    "MultiPolygon",
    "GeometryCollection",
    "CircularString",
    "CompoundCurve",
    "CurvePolygon",
    "MultiCurvePolygon",
    "PolyhedralSurface",
    "Triangle",
    "TIN",
];

/// What the SQL API knows about a column's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TypeName {
    /// A type in the server's static OID table, with its name (`int4`, `_text`, `JSON`).
    Known(String),
    /// `geometry`, `geography` or `raster`.
    Spatial(&'static str),
    /// Any other type (extensions, enums, domains...): `unknown(<oid>)`.
    Unknown(u32),
}

/// Resolves an OID: built-in types by their PostgreSQL name (with `json` written `JSON`, as the
/// SQL API's table has it), spatial types through the per-database `spatial` OIDs.
pub(crate) fn type_name(oid: u32, spatial: &[(u32, &'static str)]) -> TypeName {
    if let Some(&(_, name)) = spatial.iter().find(|(o, _)| *o == oid) {
        return TypeName::Spatial(name);
    }
    if oid == super::value::oid::JSON {
        return TypeName::Known("JSON".to_string());
    }
    match Type::from_oid(oid) {
        Some(t) => TypeName::Known(t.name().to_string()),
        None => TypeName::Unknown(oid),
    }
}

/// The `type` of a non-spatial field from its PostgreSQL name (`cname`).
pub(crate) fn generic_type(cname: &str) -> String {
    let base = if cname.contains("bool") {
        "boolean".to_string()
    } else if ["int", "float", "numeric"]
        .iter()
        .any(|p| cname.contains(p))
    {
        "number".to_string()
    } else if ["text", "char", "unknown"]
        .iter()
        .any(|p| cname.contains(p))
    {
        "string".to_string()
    } else if ["date", "time"].iter().any(|p| cname.contains(p)) {
        "date".to_string()
    } else {
        cname.to_string()
    };
    if cname.starts_with('_') {
        format!("{base}[]")
    } else {
        base
    }
}

/// Geometry metadata decoded from a PostGIS type modifier: `(wkbtype, dims, srid)`.
/// `wkbtype` is `None` for an unconstrained column (typmod −1), which the API omits.
pub(crate) fn geometry_metadata(typmod: i32) -> (Option<&'static str>, i32, i32) {
    let srid = ((typmod & 0x0FFF_FF00) - (typmod & 0x1000_0000)) >> 8;
    let wkb = WKB_TYPES.get(((typmod & 0xFC) >> 2) as usize).copied();
    let dims = 2 + ((typmod & 2) >> 1) + (typmod & 1);
    (wkb, dims, srid)
}

/// Writes the JSON of one `fields` entry (`{"type":...}`).
pub(crate) fn write_field_json(out: &mut String, name: &TypeName, typmod: i32) {
    match name {
        TypeName::Spatial(t) => {
            let (wkb, dims, srid) = geometry_metadata(typmod);
            out.push_str("{\"type\":\"");
            out.push_str(t);
            out.push('"');
            if let Some(w) = wkb {
                out.push_str(",\"wkbtype\":\"");
                out.push_str(w);
                out.push('"');
            }
            out.push_str(&format!(",\"dims\":{dims},\"srid\":{srid}}}"));
        }
        TypeName::Known(cname) => {
            out.push_str("{\"type\":");
            crate::sql::value::write_json_str(out, &generic_type(cname));
            out.push_str(",\"pgtype\":");
            crate::sql::value::write_json_str(out, cname);
            out.push('}');
        }
        TypeName::Unknown(oid) => {
            out.push_str(&format!(
                "{{\"type\":\"unknown({oid})\",\"pgtype\":\"unknown({oid})\"}}"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::value::oid;

    fn field(name: &TypeName, typmod: i32) -> String {
        let mut s = String::new();
        write_field_json(&mut s, name, typmod);
        s
    }

    fn known(type_oid: u32) -> String {
        field(&type_name(type_oid, &[]), -1)
    }

    #[test]
    fn generic_types_follow_the_sql_api_rules() {
        let cases = [
            ("bool", "boolean"),
            ("int2", "number"),
            ("int4", "number"),
            ("int8", "number"),
            ("float4", "number"),
            ("float8", "number"),
            ("numeric", "number"),
            ("interval", "number"),
            ("point", "number"),
            ("text", "string"),
            ("varchar", "string"),
            ("bpchar", "string"),
            ("char", "string"),
            ("unknown", "string"),
            ("date", "date"),
            ("time", "date"),
            ("timetz", "date"),
            ("timestamp", "date"),
            ("timestamptz", "date"),
            ("name", "name"),
            ("money", "money"),
            ("bytea", "bytea"),
            ("inet", "inet"),
            ("oid", "oid"),
            ("uuid", "uuid"),
            ("jsonb", "jsonb"),
            ("JSON", "JSON"),
            ("void", "void"),
            ("_int4", "number[]"),
            ("_text", "string[]"),
            ("_jsonb", "_jsonb[]"),
            ("_bool", "boolean[]"),
        ];
        for (cname, expected) in cases {
            assert_eq!(generic_type(cname), expected, "{cname}");
        }
    }

    #[test]
    fn builtin_oids_resolve_to_pg_names() {
        assert_eq!(known(oid::INT4), r#"{"type":"number","pgtype":"int4"}"#);
        assert_eq!(known(oid::JSON), r#"{"type":"JSON","pgtype":"JSON"}"#);
        assert_eq!(
            known(oid::INT4_ARRAY),
            r#"{"type":"number[]","pgtype":"_int4"}"#
        );
        assert_eq!(
            known(oid::JSONB_ARRAY),
            r#"{"type":"_jsonb[]","pgtype":"_jsonb"}"#
        );
        assert_eq!(known(oid::CHAR), r#"{"type":"string","pgtype":"char"}"#);
        assert_eq!(known(oid::NAME), r#"{"type":"name","pgtype":"name"}"#);
        assert_eq!(known(oid::MONEY), r#"{"type":"money","pgtype":"money"}"#);
        assert_eq!(known(oid::BOOL), r#"{"type":"boolean","pgtype":"bool"}"#);
        assert_eq!(
            known(999_999),
            r#"{"type":"unknown(999999)","pgtype":"unknown(999999)"}"#
        );
    }

    /// PostGIS typmod: srid << 8 | type << 2 | hasZ << 1 | hasM.
    fn typmod(srid: i32, wkb: i32, z: bool, m: bool) -> i32 {
        (srid << 8) | (wkb << 2) | (i32::from(z) << 1) | i32::from(m)
    }

    #[test]
    fn geometry_typmods_decode_like_the_fixture() {
        let spatial = [
            (50_000, "geometry"),
            (50_001, "geography"),
            (50_002, "raster"),
        ];
        let g = type_name(50_000, &spatial);
        assert_eq!(g, TypeName::Spatial("geometry"));
        assert_eq!(
            field(&g, typmod(4326, 1, false, false)),
            r#"{"type":"geometry","wkbtype":"Point","dims":2,"srid":4326}"#
        );
        assert_eq!(
            field(&g, typmod(3857, 6, true, true)),
            r#"{"type":"geometry","wkbtype":"MultiPolygon","dims":4,"srid":3857}"#
        );
        assert_eq!(
            field(&g, typmod(4326, 2, true, false)),
            r#"{"type":"geometry","wkbtype":"LineString","dims":3,"srid":4326}"#
        );
        assert_eq!(
            field(&g, typmod(4326, 0, false, false)),
            r#"{"type":"geometry","wkbtype":"Unknown","dims":2,"srid":4326}"#
        );
        assert_eq!(field(&g, -1), r#"{"type":"geometry","dims":4,"srid":-1}"#);
        let geog = type_name(50_001, &spatial);
        assert_eq!(
            field(&geog, typmod(4326, 3, false, false)),
            r#"{"type":"geography","wkbtype":"Polygon","dims":2,"srid":4326}"#
        );
        assert_eq!(
            field(&type_name(50_002, &spatial), -1),
            r#"{"type":"raster","dims":4,"srid":-1}"#
        );
    }
}
