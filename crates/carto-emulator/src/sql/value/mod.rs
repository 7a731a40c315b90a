//! Text values from PostgreSQL to the JSON the SQL API writes.
//!
//! The SQL API reads rows in PostgreSQL's text format and runs node-postgres' type parsers
//! (with CARTO's overrides) before `JSON.stringify`; this module does the same from the text
//! values of the simple query protocol. Numbers are printed the way JavaScript prints them.
//!
//! One file per type family (`number`, `date`, `interval`, `json`, `bytea`, `geometric`,
//! `array`); the type OIDs are named in [`oid`].

mod array;
mod bytea;
mod date;
mod geometric;
mod interval;
mod json;
mod number;
pub(crate) mod oid;

use self::array::{parse_array, write_array};
use self::bytea::write_bytea;
use self::date::write_date;
use self::geometric::write_point_like;
use self::interval::write_interval;
pub(crate) use self::json::{write_json_str, write_json_value};
pub(crate) use self::number::write_js_number;
use self::number::write_number_text;

/// How a column's text values become JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Conv {
    /// `t`/`f` to `true`/`false`.
    Bool,
    /// parseInt / parseFloat: a JSON number; `NaN` and infinities become strings.
    Number,
    /// A JSON string of the text as it is.
    Text,
    /// `date`, `timestamp`: `YYYY-MM-DDTHH:MM:SSZ` (the server runs in UTC).
    Date,
    /// `timestamptz`: converted to UTC, then as [`Conv::Date`].
    DateTz,
    /// `json`, `jsonb`: embedded.
    Json,
    /// `bytea`: `{"type":"Buffer","data":[...]}`.
    Bytea,
    /// `interval`: `{"days":1,"hours":2,...}`.
    Interval,
    /// `point`: `{"x":..,"y":..}`.
    Point,
    /// `circle`: `{"x":..,"y":..,"radius":..}`.
    Circle,
    /// An array whose elements are converted with the inner conversion.
    Array(Box<Conv>),
}

impl Conv {
    /// The conversion node-postgres applies to a type OID (text format); anything it has no
    /// parser for stays a string.
    pub(crate) fn for_oid(oid: u32) -> Conv {
        use Conv::*;
        use oid::*;
        match oid {
            BOOL => Bool,
            INT8 | INT2 | INT4 | OID | FLOAT4 | FLOAT8 | NUMERIC => Number,
            DATE | TIMESTAMP => Date,
            TIMESTAMPTZ => DateTz,
            JSON | JSONB => Json,
            BYTEA => Bytea,
            INTERVAL => Interval,
            POINT => Point,
            CIRCLE => Circle,
            BOOL_ARRAY => Array(Box::new(Bool)),
            INT2_ARRAY | INT4_ARRAY | INT8_ARRAY | FLOAT4_ARRAY | FLOAT8_ARRAY | OID_ARRAY
            | NUMERIC_ARRAY => Array(Box::new(Number)),
            BYTEA_ARRAY => Array(Box::new(Bytea)),
            POINT_ARRAY => Array(Box::new(Point)),
            TIMESTAMP_ARRAY | DATE_ARRAY => Array(Box::new(Date)),
            TIMESTAMPTZ_ARRAY => Array(Box::new(DateTz)),
            INTERVAL_ARRAY => Array(Box::new(Interval)),
            JSON_ARRAY | JSONB_ARRAY => Array(Box::new(Json)),
            CHAR_ARRAY | REGPROC_ARRAY | TEXT_ARRAY | BPCHAR_ARRAY | VARCHAR_ARRAY
            | MACADDR_ARRAY | INET_ARRAY | CIDR_ARRAY | UUID_ARRAY | MONEY_ARRAY | TIME_ARRAY
            | TIMETZ_ARRAY | CSTRING_ARRAY => Array(Box::new(Text)),
            _ => Text,
        }
    }
}

/// Appends the JSON of one text value converted with `conv`.
pub(crate) fn write_value(out: &mut String, conv: &Conv, text: Option<&str>) {
    let Some(text) = text else {
        out.push_str("null");
        return;
    };
    match conv {
        Conv::Bool => out.push_str(match text {
            "t" | "true" => "true",
            "f" | "false" => "false",
            _ => "null",
        }),
        Conv::Number => write_number_text(out, text),
        Conv::Text => write_json_str(out, text),
        Conv::Date => write_date(out, text, false),
        Conv::DateTz => write_date(out, text, true),
        Conv::Json => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => write_json_value(out, &v),
            Err(_) => write_json_str(out, text),
        },
        Conv::Bytea => write_bytea(out, text),
        Conv::Interval => write_interval(out, text),
        Conv::Point => write_point_like(out, text, false),
        Conv::Circle => write_point_like(out, text, true),
        Conv::Array(inner) => match parse_array(text) {
            Some(arr) => write_array(out, inner, &arr),
            None => write_json_str(out, text),
        },
    }
}

#[cfg(test)]
mod tests;
