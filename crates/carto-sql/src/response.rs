//! The SQL API's JSON document: typed rows, `time`, `fields`, `total_rows` and the
//! notices PostgreSQL raised.

use std::fmt;
use std::time::Duration;

use carto_core::{ApiError, DecodeError, Error};
use http::StatusCode;
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

/// The type of one result column, as the SQL API describes it in `fields`.
///
/// Plain columns carry `type` and `pgtype` (`{"type":"number","pgtype":"int4"}`);
/// geometry, geography and raster columns carry `wkbtype`, `dims` and `srid` instead
/// (`wkbtype` is absent for unconstrained values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// The SQL API type: `number`, `string`, `boolean`, `date`, `geometry`,
    /// `geography`, `raster`, `number[]`, or the PostgreSQL name (`uuid`, `jsonb`, ...).
    #[serde(rename = "type")]
    pub field_type: String,
    /// The PostgreSQL type name (`int4`, `text`, `_int4`, ...); absent for spatial columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pgtype: Option<String>,
    /// The geometry type (`Point`, `Polygon`, `Unknown`, ...) of a typed spatial column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wkbtype: Option<String>,
    /// Coordinate dimensions of a spatial column (2, 3 or 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dims: Option<u8>,
    /// The SRID of a spatial column (`-1` when unconstrained).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srid: Option<i32>,
}

impl Field {
    /// Whether this is a geometry, geography or raster column.
    pub fn is_spatial(&self) -> bool {
        self.dims.is_some()
            || matches!(
                self.field_type.as_str(),
                "geometry" | "geography" | "raster"
            )
    }
}

/// The `fields` of a response, in column order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Fields(#[serde(serialize_with = "serialize_pairs")] pub Vec<(String, Field)>);

fn serialize_pairs<S: serde::Serializer>(
    pairs: &[(String, Field)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

impl Fields {
    /// The field named `name`.
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, f)| f)
    }

    /// Column names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    /// `(name, field)` pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Field)> {
        self.0.iter().map(|(n, f)| (n.as_str(), f))
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no columns.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Fields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = Fields;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of column names to field types")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Field>()? {
                    out.push((k, v));
                }
                Ok(Fields(out))
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

/// What a SQL API JSON response says besides its rows.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SqlSummary {
    /// How long the query took, as the server measured it.
    #[serde(default, with = "crate::seconds")]
    pub time: Option<Duration>,
    /// The column types, in order.
    #[serde(default)]
    pub fields: Fields,
    /// Rows returned, or for `INSERT`/`UPDATE`/`DELETE` the rows affected (0 when the
    /// server did not say).
    #[serde(default)]
    pub total_rows: u64,
    /// `NOTICE` messages.
    #[serde(default)]
    pub notices: Vec<String>,
    /// `WARNING` messages.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// `INFO` messages.
    #[serde(default)]
    pub infos: Vec<String>,
}

/// A SQL API JSON response with its rows decoded into `T`.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlResponse<T> {
    /// The rows.
    pub rows: Vec<T>,
    /// How long the query took, as the server measured it.
    pub time: Option<Duration>,
    /// The column types, in order.
    pub fields: Fields,
    /// Rows returned, or for `INSERT`/`UPDATE`/`DELETE` the rows affected.
    pub total_rows: u64,
    /// `NOTICE` messages.
    pub notices: Vec<String>,
    /// `WARNING` messages.
    pub warnings: Vec<String>,
    /// `INFO` messages.
    pub infos: Vec<String>,
}

impl<T> SqlResponse<T> {
    pub(crate) fn new(rows: Vec<T>, summary: SqlSummary) -> Self {
        Self {
            rows,
            time: summary.time,
            fields: summary.fields,
            total_rows: summary.total_rows,
            notices: summary.notices,
            warnings: summary.warnings,
            infos: summary.infos,
        }
    }

    /// Everything but the rows.
    pub fn into_summary(self) -> SqlSummary {
        SqlSummary {
            time: self.time,
            fields: self.fields,
            total_rows: self.total_rows,
            notices: self.notices,
            warnings: self.warnings,
            infos: self.infos,
        }
    }
}

/// The members of a JSON document besides `rows`/`features`, with the `error` of a
/// failure.
#[derive(Deserialize)]
pub(crate) struct Envelope<'a> {
    #[serde(borrow, default)]
    rows: Option<&'a RawValue>,
    #[serde(borrow, default)]
    features: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    hint: Option<String>,
    #[serde(flatten)]
    summary: SqlSummary,
}

impl Envelope<'_> {
    /// The error the document carries (a 200 response whose query failed after
    /// streaming started).
    pub(crate) fn take_error(&mut self, status: StatusCode) -> Option<Error> {
        sql_error(
            status,
            self.error.take(),
            self.context.take(),
            self.detail.take(),
            self.hint.take(),
        )
    }
}

/// CARTO's error from the `error` member of a document (and its `context`, `detail`, `hint`).
fn sql_error(
    status: StatusCode,
    error: Option<serde_json::Value>,
    context: Option<String>,
    detail: Option<String>,
    hint: Option<String>,
) -> Option<Error> {
    let mut messages = Vec::new();
    match error? {
        serde_json::Value::Array(items) => {
            for item in items {
                match item {
                    serde_json::Value::String(s) => messages.push(s),
                    other => messages.push(other.to_string()),
                }
            }
        }
        serde_json::Value::String(s) => messages.push(s),
        serde_json::Value::Null => return None,
        other => messages.push(other.to_string()),
    }
    Some(ApiError::from_sql_error(status, messages, context, detail, hint).into())
}

/// A whole SQL API document decoded in one pass: the fast path of [`decode_sql`] (rows
/// straight into `R`, `F` = [`IgnoredAny`]) and of [`decode_features`] (GeoJSON features
/// straight into `F`, `R` = [`IgnoredAny`]). Unknown members are skipped. (No
/// `#[serde(flatten)]` here: it would buffer the whole document.)
#[derive(Deserialize)]
#[serde(bound(deserialize = "R: Deserialize<'de>, F: Deserialize<'de>"))]
struct Document<R, F> {
    #[serde(default)]
    rows: Option<Vec<R>>,
    #[serde(default)]
    features: Option<Vec<F>>,
    #[serde(default)]
    error: Option<serde_json::Value>,
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    hint: Option<String>,
    #[serde(default, with = "crate::seconds")]
    time: Option<Duration>,
    #[serde(default)]
    fields: Fields,
    #[serde(default)]
    total_rows: u64,
    #[serde(default)]
    notices: Vec<String>,
    #[serde(default)]
    warnings: Vec<String>,
    #[serde(default)]
    infos: Vec<String>,
}

impl<R, F> Document<R, F> {
    /// Everything but the rows, the features and the error.
    fn into_summary(self) -> SqlSummary {
        SqlSummary {
            time: self.time,
            fields: self.fields,
            total_rows: self.total_rows,
            notices: self.notices,
            warnings: self.warnings,
            infos: self.infos,
        }
    }

    /// The error the document carries, as [`Envelope::take_error`].
    fn take_error(&mut self, status: StatusCode) -> Option<Error> {
        sql_error(
            status,
            self.error.take(),
            self.context.take(),
            self.detail.take(),
            self.hint.take(),
        )
    }
}

/// The body as text, or the decode error of a body that is not UTF-8.
fn utf8(status: StatusCode, body: &[u8]) -> Result<&str, Error> {
    std::str::from_utf8(body)
        .map_err(|_| Error::from(DecodeError::new(status, ".", "the body is not UTF-8", body)))
}

pub(crate) fn decode_at<'a, T: Deserialize<'a>>(
    status: StatusCode,
    prefix: &str,
    text: &'a str,
    whole: &[u8],
) -> Result<T, Error> {
    let de = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.path().to_string();
        let path = match (prefix.is_empty(), inner == ".") {
            (true, _) => inner,
            (false, true) => prefix.to_owned(),
            (false, false) if inner.starts_with('[') => format!("{prefix}{inner}"),
            (false, false) => format!("{prefix}.{inner}"),
        };
        DecodeError::new(status, path, e.into_inner().to_string(), whole).into()
    })
}

fn envelope(status: StatusCode, body: &[u8]) -> Result<Envelope<'_>, Error> {
    decode_at(status, "", utf8(status, body)?, body)
}

/// Decodes a JSON document: the rows into `T`, or the `error` it carries.
///
/// The document is decoded in one pass, rows included; only when that fails is it decoded
/// again the slow way (envelope first, then the rows, through `serde_path_to_error`), which
/// gives the error CARTO's document carries, or the JSON path of what did not decode.
pub(crate) fn decode_sql<T: DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
) -> Result<SqlResponse<T>, Error> {
    decode_sql_parts(status, body).map(|(rows, summary)| SqlResponse::new(rows, summary))
}

/// [`decode_sql`], the rows apart from the rest.
pub(crate) fn decode_sql_parts<T: DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
) -> Result<(Vec<T>, SqlSummary), Error> {
    let text = utf8(status, body)?;
    if let Ok(mut doc) = serde_json::from_str::<Document<T, IgnoredAny>>(text) {
        if let Some(err) = doc.take_error(status) {
            return Err(err);
        }
        let rows = doc.rows.take().unwrap_or_default();
        return Ok((rows, doc.into_summary()));
    }
    let mut env = envelope(status, body)?;
    if let Some(err) = env.take_error(status) {
        return Err(err);
    }
    let rows = match env.rows {
        Some(raw) => decode_at(status, "rows", raw.get(), body)?,
        None => Vec::new(),
    };
    Ok((rows, env.summary))
}

/// Decodes the trailer of a streamed document (everything but the rows): in one pass
/// first, then, when that fails, through the envelope for the error's JSON path.
pub(crate) fn decode_summary(status: StatusCode, body: &[u8]) -> Result<SqlSummary, Error> {
    let text = utf8(status, body)?;
    if let Ok(mut doc) = serde_json::from_str::<Document<IgnoredAny, IgnoredAny>>(text) {
        return match doc.take_error(status) {
            Some(err) => Err(err),
            None => Ok(doc.into_summary()),
        };
    }
    let mut env = envelope(status, body)?;
    match env.take_error(status) {
        Some(err) => Err(err),
        None => Ok(env.summary),
    }
}

/// Decodes a GeoJSON document's features into `F`, or the `error` it carries (one pass
/// first, as [`decode_sql`]).
pub(crate) fn decode_features<F: DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
) -> Result<Vec<F>, Error> {
    let text = utf8(status, body)?;
    if let Ok(mut doc) = serde_json::from_str::<Document<IgnoredAny, F>>(text) {
        if let Some(err) = doc.take_error(status) {
            return Err(err);
        }
        if let Some(features) = doc.features {
            return Ok(features);
        }
    }
    let mut env = envelope(status, body)?;
    if let Some(err) = env.take_error(status) {
        return Err(err);
    }
    match env.features {
        Some(raw) => decode_at(status, "features", raw.get(), body),
        None => Err(DecodeError::new(status, ".", "missing field `features`", body).into()),
    }
}
