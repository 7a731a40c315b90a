//! The SQL API v3 query response: `{"rows": [...], "schema": [...], "meta": {...}}`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// A row as JSON, for queries read without a row type.
pub type Row = Map<String, Value>;

/// CARTO's type of a result column (`schema[].type`): `number`, `bigint`, `string`,
/// `geometry`, `timestamp`, `object`, `boolean`, `variant`, `unknown`; a type this
/// crate does not know is kept as [`FieldType::Other`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// `number`: a floating-point or small integer value.
    Number,
    /// `bigint`: a 64-bit integer (JavaScript clients read it as a string or BigInt).
    Bigint,
    /// `string`.
    String,
    /// `geometry`.
    Geometry,
    /// `timestamp`.
    Timestamp,
    /// `object`: JSON, records, arrays.
    Object,
    /// `boolean`.
    Boolean,
    /// `variant`: Snowflake's semi-structured type.
    Variant,
    /// `unknown`: CARTO could not map the warehouse's type.
    Unknown,
    /// A type this crate does not know, as sent.
    Other(std::string::String),
}

impl FieldType {
    /// Parses CARTO's name of a type.
    pub fn parse(text: &str) -> Self {
        match text {
            "number" => Self::Number,
            "bigint" => Self::Bigint,
            "string" => Self::String,
            "geometry" => Self::Geometry,
            "timestamp" => Self::Timestamp,
            "object" => Self::Object,
            "boolean" => Self::Boolean,
            "variant" => Self::Variant,
            "unknown" => Self::Unknown,
            other => Self::Other(other.to_owned()),
        }
    }

    /// CARTO's name of the type.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Number => "number",
            Self::Bigint => "bigint",
            Self::String => "string",
            Self::Geometry => "geometry",
            Self::Timestamp => "timestamp",
            Self::Object => "object",
            Self::Boolean => "boolean",
            Self::Variant => "variant",
            Self::Unknown => "unknown",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FieldType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for FieldType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        std::string::String::deserialize(deserializer).map(|s| Self::parse(&s))
    }
}

/// One column of the result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaField {
    /// The column name.
    pub name: String,
    /// CARTO's type of the column.
    #[serde(rename = "type")]
    pub field_type: FieldType,
}

/// `meta` of a query response. Its members are the warehouse's (BigQuery's are known:
/// `cacheHit`, `location`, `totalBytesProcessed`); every member is kept in
/// [`QueryMeta::other`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryMeta {
    /// Whether the warehouse answered from its cache (BigQuery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_hit: Option<bool>,
    /// Where the query ran (BigQuery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Bytes the warehouse read (BigQuery sends a string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_bytes_processed: Option<Value>,
    /// Every other member, as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// The answer of a SQL API v3 query: the rows (typed `T`), CARTO's `schema` of the
/// columns, and the warehouse's `meta`. Upper-case `ROWS`/`SCHEMA`/`META` (Snowflake
/// style) are read too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct QueryResponse<T = Row> {
    /// The rows.
    #[serde(alias = "ROWS")]
    pub rows: Vec<T>,
    /// The columns, in order.
    #[serde(default, alias = "SCHEMA")]
    pub schema: Vec<SchemaField>,
    /// What the warehouse said about the run.
    #[serde(default, alias = "META")]
    pub meta: Option<QueryMeta>,
}

impl<T> QueryResponse<T> {
    /// The type of column `name`.
    pub fn field_type(&self, name: &str) -> Option<&FieldType> {
        self.schema
            .iter()
            .find(|f| f.name == name)
            .map(|f| &f.field_type)
    }
}
