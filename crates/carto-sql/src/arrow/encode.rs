//! Record batches written as PostgreSQL CSV for `COPY ... FROM STDIN WITH (FORMAT
//! csv)`, a piece at a time.
//!
//! NULL is an unquoted empty field and every text value is quoted, so an empty string
//! stays an empty string (and `\.` is never read as the end of data). Geometries
//! (`geoarrow.wkb` fields) are written as hex EWKB with the field's SRID, so a
//! constrained column accepts them; other binary columns as `bytea` hex (`\x...`);
//! lists as PostgreSQL array literals.

use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Decimal256Type, Float16Type, Float32Type, Float64Type,
    Int8Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use arrow_array::{Array, ArrowPrimitiveType, RecordBatch};
use arrow_schema::{DataType, Field, SchemaRef, TimeUnit};
use carto_core::{Error, quote_ident};

use super::schema::{EXTENSION_METADATA_KEY, EXTENSION_NAME_KEY, SRID_KEY};
use super::text::{date_from_days, write_date, write_timestamp};
use super::wkb::{Target, convert};

/// The size of the pieces of CSV produced (a batch is written in several).
pub(crate) const PIECE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq)]
enum Plan {
    Bool,
    /// Integers and decimals: written as they display, never quoted.
    Number,
    Float,
    Text,
    Date,
    Timestamp(TimeUnit, bool),
    Bytea,
    Geometry(Option<i32>),
    List(Box<Plan>),
}

fn unsupported(field: &Field) -> Error {
    Error::invalid(
        "record batch",
        format!(
            "column `{}` has the Arrow type {}, which copy_from_arrow does not write (cast it first)",
            field.name(),
            field.data_type()
        ),
    )
}

/// The SRID of a `geoarrow.wkb` field: `carto:srid`, or an `EPSG:n` CRS.
fn geometry_srid(field: &Field) -> Option<i32> {
    let meta = field.metadata();
    if let Some(srid) = meta.get(SRID_KEY).and_then(|s| s.parse().ok()) {
        return Some(srid);
    }
    let ext: serde_json::Value = serde_json::from_str(meta.get(EXTENSION_METADATA_KEY)?).ok()?;
    let crs = ext.get("crs")?.as_str()?;
    crs.strip_prefix("EPSG:")?.parse().ok()
}

fn plan(field: &Field, data_type: &DataType) -> Result<Plan, Error> {
    use DataType::*;
    Ok(match data_type {
        Boolean => Plan::Bool,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Decimal128(..)
        | Decimal256(..) => Plan::Number,
        Float16 | Float32 | Float64 => Plan::Float,
        Utf8 | LargeUtf8 | Utf8View => Plan::Text,
        Date32 | Date64 => Plan::Date,
        Timestamp(unit, tz) => Plan::Timestamp(*unit, tz.is_some()),
        Binary | LargeBinary | BinaryView => {
            let geo = field
                .metadata()
                .get(EXTENSION_NAME_KEY)
                .is_some_and(|n| n == "geoarrow.wkb");
            if geo {
                Plan::Geometry(geometry_srid(field))
            } else {
                Plan::Bytea
            }
        }
        List(inner) | LargeList(inner) => {
            let element = plan(field, inner.data_type())?;
            if matches!(element, Plan::List(_)) {
                return Err(unsupported(field));
            }
            // The element of a list of WKB is a geometry when the list field says so.
            let element = match (element, inner.metadata().get(EXTENSION_NAME_KEY)) {
                (Plan::Bytea, Some(n)) if n == "geoarrow.wkb" => {
                    Plan::Geometry(geometry_srid(inner))
                }
                (e, _) => e,
            };
            Plan::List(Box::new(element))
        }
        _ => return Err(unsupported(field)),
    })
}

fn prim<T: ArrowPrimitiveType>(array: &dyn Array, i: usize) -> T::Native {
    array.as_primitive::<T>().value(i)
}

fn float_text(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Writes value `i` of `array` as PostgreSQL input text (not yet CSV-quoted).
fn value_text(plan: &Plan, array: &dyn Array, i: usize, out: &mut String) -> Result<(), String> {
    use DataType::*;
    match (plan, array.data_type()) {
        (Plan::Bool, _) => out.push(if array.as_boolean().value(i) {
            't'
        } else {
            'f'
        }),
        (Plan::Number, dt) => {
            let _ = match dt {
                Int8 => write!(out, "{}", prim::<Int8Type>(array, i)),
                Int16 => write!(out, "{}", prim::<Int16Type>(array, i)),
                Int32 => write!(out, "{}", prim::<Int32Type>(array, i)),
                Int64 => write!(out, "{}", prim::<Int64Type>(array, i)),
                UInt8 => write!(out, "{}", prim::<UInt8Type>(array, i)),
                UInt16 => write!(out, "{}", prim::<UInt16Type>(array, i)),
                UInt32 => write!(out, "{}", prim::<UInt32Type>(array, i)),
                UInt64 => write!(out, "{}", prim::<UInt64Type>(array, i)),
                Decimal128(..) => {
                    out.push_str(&array.as_primitive::<Decimal128Type>().value_as_string(i));
                    Ok(())
                }
                Decimal256(..) => {
                    out.push_str(&array.as_primitive::<Decimal256Type>().value_as_string(i));
                    Ok(())
                }
                _ => unreachable!("planned as a number"),
            };
        }
        (Plan::Float, dt) => float_text(
            out,
            match dt {
                Float16 => f64::from(prim::<Float16Type>(array, i)),
                Float32 => f64::from(prim::<Float32Type>(array, i)),
                _ => prim::<Float64Type>(array, i),
            },
        ),
        (Plan::Text, dt) => out.push_str(match dt {
            Utf8 => array.as_string::<i32>().value(i),
            LargeUtf8 => array.as_string::<i64>().value(i),
            _ => array.as_string_view().value(i),
        }),
        (Plan::Date, dt) => {
            let days = match dt {
                Date32 => i64::from(prim::<Date32Type>(array, i)),
                _ => prim::<Date64Type>(array, i).div_euclid(86_400_000),
            };
            write_date(out, date_from_days(days).ok_or("the date is out of range")?);
        }
        (Plan::Timestamp(unit, utc), _) => {
            let ts = match unit {
                TimeUnit::Second => {
                    chrono::DateTime::from_timestamp(prim::<TimestampSecondType>(array, i), 0)
                }
                TimeUnit::Millisecond => {
                    chrono::DateTime::from_timestamp_millis(prim::<TimestampMillisecondType>(
                        array, i,
                    ))
                }
                TimeUnit::Microsecond => {
                    chrono::DateTime::from_timestamp_micros(prim::<TimestampMicrosecondType>(
                        array, i,
                    ))
                }
                TimeUnit::Nanosecond => Some(chrono::DateTime::from_timestamp_nanos(prim::<
                    TimestampNanosecondType,
                >(
                    array, i
                ))),
            }
            .ok_or("the timestamp is out of range")?;
            write_timestamp(out, ts.naive_utc(), *utc);
        }
        (Plan::Bytea | Plan::Geometry(_), dt) => {
            let bytes = match dt {
                Binary => array.as_binary::<i32>().value(i),
                LargeBinary => array.as_binary::<i64>().value(i),
                _ => array.as_binary_view().value(i),
            };
            match plan {
                Plan::Geometry(srid) => {
                    let (ewkb, _) = convert(bytes, Target::Ewkb(*srid))?;
                    out.push_str(&hex::encode_upper(ewkb));
                }
                _ => {
                    out.push_str("\\x");
                    out.push_str(&hex::encode(bytes));
                }
            }
        }
        (Plan::List(element), dt) => {
            let values = match dt {
                List(_) => array.as_list::<i32>().value(i),
                _ => array.as_list::<i64>().value(i),
            };
            out.push('{');
            let mut item = String::new();
            for j in 0..values.len() {
                if j > 0 {
                    out.push(',');
                }
                if values.is_null(j) {
                    out.push_str("NULL");
                    continue;
                }
                item.clear();
                value_text(element, &values, j, &mut item)?;
                out.push('"');
                for c in item.chars() {
                    if c == '"' || c == '\\' {
                        out.push('\\');
                    }
                    out.push(c);
                }
                out.push('"');
            }
            out.push('}');
        }
    }
    Ok(())
}

/// Writes record batches of one schema as CSV rows.
#[derive(Debug)]
pub(crate) struct CsvEncoder {
    schema: SchemaRef,
    plans: Vec<Plan>,
    value: String,
}

impl CsvEncoder {
    /// An encoder for `schema`; a column of a type it cannot write is an error here,
    /// before anything is sent.
    pub(crate) fn new(schema: SchemaRef) -> Result<Self, Error> {
        if schema.fields().is_empty() {
            return Err(Error::invalid("record batch", "the schema has no columns"));
        }
        let plans = schema
            .fields()
            .iter()
            .map(|f| plan(f, f.data_type()))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            schema,
            plans,
            value: String::new(),
        })
    }

    /// The column names, in order.
    pub(crate) fn columns(&self) -> impl Iterator<Item = &str> {
        self.schema.fields().iter().map(|f| f.name().as_str())
    }

    /// Checks that a batch has the encoder's column types.
    pub(crate) fn check(&self, batch: &RecordBatch) -> Result<(), Error> {
        let same = batch.num_columns() == self.plans.len()
            && batch
                .schema()
                .fields()
                .iter()
                .zip(self.schema.fields())
                .all(|(a, b)| a.data_type() == b.data_type());
        if same {
            Ok(())
        } else {
            Err(Error::invalid(
                "record batch",
                "a batch's columns differ from the schema given",
            ))
        }
    }

    /// Appends the rows of `batch` from `start` until `out` holds [`PIECE`] bytes;
    /// returns the next row to write.
    pub(crate) fn write_rows(
        &mut self,
        batch: &RecordBatch,
        start: usize,
        out: &mut Vec<u8>,
    ) -> Result<usize, Error> {
        let mut row = start;
        while row < batch.num_rows() && out.len() < PIECE {
            for (c, plan) in self.plans.iter().enumerate() {
                if c > 0 {
                    out.push(b',');
                }
                let array = batch.column(c);
                if array.is_null(row) {
                    continue;
                }
                self.value.clear();
                value_text(plan, array.as_ref(), row, &mut self.value).map_err(|e| {
                    Error::invalid(
                        "record batch",
                        format!("column `{}`, row {row}: {e}", self.schema.field(c).name()),
                    )
                })?;
                let quote = matches!(plan, Plan::Text | Plan::List(_) | Plan::Bytea);
                if quote {
                    out.push(b'"');
                    for &b in self.value.as_bytes() {
                        if b == b'"' {
                            out.push(b'"');
                        }
                        out.push(b);
                    }
                    out.push(b'"');
                } else {
                    out.extend_from_slice(self.value.as_bytes());
                }
            }
            out.push(b'\n');
            row += 1;
        }
        Ok(row)
    }
}

/// The COPY statement loading the encoder's columns into `table`.
pub(crate) fn copy_from_sql(table: &str, encoder: &CsvEncoder) -> Result<String, Error> {
    let table = table.trim();
    if table.is_empty() || table.contains([';', '(', ')', '\n', '\r', '\0']) {
        return Err(Error::invalid(
            "table",
            "give a table name (optionally schema-qualified and quoted), not SQL",
        ));
    }
    let columns: Vec<String> = encoder.columns().map(quote_ident).collect();
    Ok(format!(
        "COPY {table} ({}) FROM STDIN WITH (FORMAT csv)",
        columns.join(", ")
    ))
}

/// A source of batches turned into CSV pieces: the part the sync reader and the
/// async stream share.
#[derive(Debug)]
pub(crate) struct Pieces {
    encoder: CsvEncoder,
    current: Option<(RecordBatch, usize)>,
}

impl Pieces {
    pub(crate) fn new(encoder: CsvEncoder) -> Self {
        Self {
            encoder,
            current: None,
        }
    }

    /// Whether a new batch is needed before the next piece.
    pub(crate) fn needs_batch(&self) -> bool {
        self.current.is_none()
    }

    /// Takes the next batch of the source.
    pub(crate) fn set_batch(&mut self, batch: RecordBatch) -> Result<(), Error> {
        self.encoder.check(&batch)?;
        if batch.num_rows() > 0 {
            self.current = Some((batch, 0));
        }
        Ok(())
    }

    /// The next piece of the current batch.
    pub(crate) fn piece(&mut self) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(PIECE + 1024);
        if let Some((batch, row)) = &mut self.current {
            *row = self.encoder.write_rows(batch, *row, &mut out)?;
            if *row >= batch.num_rows() {
                self.current = None;
            }
        }
        Ok(out)
    }
}
