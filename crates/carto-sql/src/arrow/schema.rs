//! From the SQL API's `fields` to an Arrow schema.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field as ArrowField, FieldRef, Schema, SchemaRef, TimeUnit};
use carto_core::Error;

use super::NumericAs;
use crate::response::{Field, Fields};

/// Field metadata key: the PostgreSQL type of the column (`int4`, `geometry`, ...).
pub const PGTYPE_KEY: &str = "carto:pgtype";
/// Field metadata key: the SRID of a geometry or geography column.
pub const SRID_KEY: &str = "carto:srid";
/// Arrow's extension name key (GeoArrow `geoarrow.wkb`, canonical `arrow.json`).
pub const EXTENSION_NAME_KEY: &str = "ARROW:extension:name";
/// Arrow's extension metadata key.
pub const EXTENSION_METADATA_KEY: &str = "ARROW:extension:metadata";

/// How the values of one column are read.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    Bool,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    /// numeric as `Decimal128(precision, scale)`.
    Decimal(u8, i8),
    /// numeric as its text.
    NumericText,
    /// Text types, and any type without a mapping (the value as text).
    Text,
    /// json, jsonb: the JSON text.
    Json,
    Date,
    /// timestamp (`false`) or timestamptz (`true`, in UTC).
    Timestamp(bool),
    Bytea,
    /// geometry or geography as ISO WKB; the SRID the column declares or was found.
    Geometry(Option<i32>),
    /// A one-dimensional array of the inner kind.
    List(Box<Kind>),
}

/// The schema of a result and how each of its columns is read.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) schema: SchemaRef,
    pub(crate) kinds: Vec<Kind>,
    /// The `fields` the schema was made from, to check the streamed result against.
    pub(crate) fields: Fields,
}

fn scalar_kind(pgtype: &str, numeric: NumericAs) -> Option<Kind> {
    Some(match pgtype {
        "bool" => Kind::Bool,
        "int2" => Kind::Int16,
        "int4" => Kind::Int32,
        "int8" => Kind::Int64,
        "float4" => Kind::Float32,
        "float8" => Kind::Float64,
        "numeric" => match numeric {
            NumericAs::Decimal128 { precision, scale } => Kind::Decimal(precision, scale),
            NumericAs::Utf8 => Kind::NumericText,
            NumericAs::Float64 => Kind::Float64,
        },
        "text" | "varchar" | "bpchar" | "char" | "name" => Kind::Text,
        "json" | "JSON" | "jsonb" => Kind::Json,
        "date" => Kind::Date,
        "timestamp" => Kind::Timestamp(false),
        "timestamptz" => Kind::Timestamp(true),
        "bytea" => Kind::Bytea,
        _ => return None,
    })
}

fn kind_of(field: &Field, numeric: NumericAs) -> Kind {
    match field.pgtype.as_deref() {
        None if matches!(field.field_type.as_str(), "geometry" | "geography") => {
            Kind::Geometry(field.srid.filter(|s| *s > 0))
        }
        None => Kind::Text,
        Some(pgtype) => {
            if let Some(kind) = scalar_kind(pgtype, numeric) {
                return kind;
            }
            match pgtype
                .strip_prefix('_')
                .and_then(|t| scalar_kind(t, numeric))
            {
                Some(inner) if inner != Kind::Bytea => Kind::List(Box::new(inner)),
                _ => Kind::Text,
            }
        }
    }
}

fn data_type(kind: &Kind) -> DataType {
    match kind {
        Kind::Bool => DataType::Boolean,
        Kind::Int16 => DataType::Int16,
        Kind::Int32 => DataType::Int32,
        Kind::Int64 => DataType::Int64,
        Kind::Float32 => DataType::Float32,
        Kind::Float64 => DataType::Float64,
        Kind::Decimal(p, s) => DataType::Decimal128(*p, *s),
        Kind::NumericText | Kind::Text | Kind::Json => DataType::Utf8,
        Kind::Date => DataType::Date32,
        Kind::Timestamp(false) => DataType::Timestamp(TimeUnit::Microsecond, None),
        Kind::Timestamp(true) => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        Kind::Bytea | Kind::Geometry(_) => DataType::Binary,
        Kind::List(inner) => {
            DataType::List(Arc::new(ArrowField::new("item", data_type(inner), true)))
        }
    }
}

/// The Arrow field of a column: its type, nullable, with its PostgreSQL type (and for
/// geometries GeoArrow's `geoarrow.wkb` extension and the SRID) in the metadata.
pub(crate) fn arrow_field(name: &str, field: &Field, kind: &Kind) -> FieldRef {
    let mut metadata = HashMap::new();
    let pgtype = field
        .pgtype
        .clone()
        .unwrap_or_else(|| field.field_type.clone());
    match kind {
        Kind::Geometry(srid) => {
            metadata.insert(EXTENSION_NAME_KEY.to_owned(), "geoarrow.wkb".to_owned());
            let mut ext = serde_json::Map::new();
            if let Some(srid) = srid {
                metadata.insert(SRID_KEY.to_owned(), srid.to_string());
                ext.insert("crs".into(), format!("EPSG:{srid}").into());
                ext.insert("crs_type".into(), "authority_code".into());
            }
            if pgtype == "geography" {
                ext.insert("edges".into(), "spherical".into());
            }
            metadata.insert(
                EXTENSION_METADATA_KEY.to_owned(),
                serde_json::Value::Object(ext).to_string(),
            );
        }
        Kind::Json => {
            metadata.insert(EXTENSION_NAME_KEY.to_owned(), "arrow.json".to_owned());
            metadata.insert(EXTENSION_METADATA_KEY.to_owned(), String::new());
        }
        _ => {}
    }
    metadata.insert(PGTYPE_KEY.to_owned(), pgtype);
    Arc::new(ArrowField::new(name, data_type(kind), true).with_metadata(metadata))
}

impl Layout {
    /// The layout of `fields`; geometry columns without a declared SRID are left for
    /// [`undeclared_srids`](Self::undeclared_srids) and [`set_srid`](Self::set_srid).
    pub(crate) fn new(fields: Fields, numeric: NumericAs) -> Result<Self, Error> {
        if let NumericAs::Decimal128 { precision, scale } = numeric {
            if !(1..=38).contains(&precision) || scale < 0 || scale as u8 > precision {
                return Err(Error::invalid(
                    "NumericAs::Decimal128",
                    format!(
                        "precision {precision} and scale {scale}: the precision must be 1 to 38 and the scale 0 to the precision"
                    ),
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for name in fields.names() {
            if !seen.insert(name) {
                return Err(Error::invalid(
                    "query",
                    format!(
                        "the result has two columns named `{name}`; an Arrow schema needs distinct names (use AS)"
                    ),
                ));
            }
        }
        let kinds: Vec<Kind> = fields.iter().map(|(_, f)| kind_of(f, numeric)).collect();
        let mut layout = Self {
            schema: Arc::new(Schema::empty()),
            kinds,
            fields,
        };
        layout.rebuild();
        Ok(layout)
    }

    fn rebuild(&mut self) {
        let fields: Vec<FieldRef> = self
            .fields
            .iter()
            .zip(&self.kinds)
            .map(|((name, field), kind)| arrow_field(name, field, kind))
            .collect();
        self.schema = Arc::new(Schema::new(fields));
    }

    /// The geometry columns whose SRID `fields` does not declare (a computed geometry,
    /// an unconstrained column), as `(index, name)`.
    pub(crate) fn undeclared_srids(&self) -> Vec<(usize, String)> {
        self.kinds
            .iter()
            .zip(self.fields.names())
            .enumerate()
            .filter(|(_, (kind, _))| **kind == Kind::Geometry(None))
            .map(|(i, (_, name))| (i, name.to_owned()))
            .collect()
    }

    /// Sets the SRID of geometry column `index` (found from its values).
    pub(crate) fn set_srid(&mut self, index: usize, srid: Option<i32>) {
        if let Some(kind @ Kind::Geometry(None)) = self.kinds.get_mut(index) {
            *kind = Kind::Geometry(srid.filter(|s| *s > 0));
            self.rebuild();
        }
    }

    /// Whether the `fields` of a streamed result match the ones the schema came from
    /// (same names, same types, in order; SRIDs aside).
    pub(crate) fn check(&self, fields: &Fields) -> Result<(), Error> {
        let same = fields.len() == self.fields.len()
            && fields.iter().zip(self.fields.iter()).all(|(a, b)| {
                a.0 == b.0 && a.1.field_type == b.1.field_type && a.1.pgtype == b.1.pgtype
            });
        if same {
            Ok(())
        } else {
            Err(Error::invalid(
                "query",
                "the result's columns differ from the schema read before it (did the table change meanwhile?)",
            ))
        }
    }
}

/// The Arrow schema `query_arrow` and `copy_to_arrow` give a result with these
/// `fields` (geometry columns without a declared SRID have none in their metadata).
///
/// | PostgreSQL | Arrow |
/// |---|---|
/// | `bool` | `Boolean` |
/// | `int2`, `int4`, `int8` | `Int16`, `Int32`, `Int64` |
/// | `float4`, `float8` | `Float32`, `Float64` |
/// | `numeric` | by [`NumericAs`]: `Utf8` (default), `Decimal128(p, s)` or `Float64` |
/// | `text`, `varchar`, `bpchar`, `char`, `name` | `Utf8` |
/// | `json`, `jsonb` | `Utf8` (JSON text, extension `arrow.json`) |
/// | `date` | `Date32` |
/// | `timestamp` / `timestamptz` | `Timestamp(Microsecond, None)` / `Timestamp(Microsecond, "UTC")` |
/// | `bytea` | `Binary` |
/// | `geometry`, `geography` | `Binary`: ISO WKB, extension `geoarrow.wkb`, SRID in `carto:srid` |
/// | arrays of the above (`_int4`, `_text`, ...) | `List` of the element type |
/// | anything else (`uuid`, `interval`, `raster`, enums, ...) | `Utf8` |
///
/// Every field is nullable and carries its PostgreSQL type in `carto:pgtype`.
pub fn schema_from_fields(fields: &Fields, numeric: NumericAs) -> Result<SchemaRef, Error> {
    Ok(Layout::new(fields.clone(), numeric)?.schema)
}
