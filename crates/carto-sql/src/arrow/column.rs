//! One column being built: values appended from the SQL API's JSON or from
//! PostgreSQL's text output (COPY), finished into an Arrow array per batch.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, ListArray, RecordBatch, RecordBatchOptions};
use arrow_buffer::{NullBufferBuilder, OffsetBuffer, ScalarBuffer};
use arrow_schema::{DataType, FieldRef, SchemaRef};
use serde_json::value::RawValue;

use super::schema::Kind;
use super::text::{parse_array, parse_datetime, parse_decimal};
use super::wkb::{Target, convert};

pub(crate) enum Column {
    Bool(BooleanBuilder),
    Int16(Int16Builder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    /// Strings; `json` keeps JSON text as it is (json/jsonb), else a JSON string is
    /// taken as its content and any other JSON value as its text.
    Utf8(StringBuilder, bool),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder),
    Bytea(BinaryBuilder),
    Geometry(BinaryBuilder, Option<i32>),
    List(Box<ListColumn>),
}

pub(crate) struct ListColumn {
    field: FieldRef,
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
    child: Column,
}

impl ListColumn {
    fn close(&mut self, valid: bool) -> Result<(), String> {
        let len = i32::try_from(self.child.len()).map_err(|_| "the list column is too large")?;
        self.offsets.push(len);
        self.nulls.append(valid);
        Ok(())
    }
}

fn utf8<'a>(raw: &'a RawValue) -> Result<std::borrow::Cow<'a, str>, String> {
    let text = raw.get();
    if !text.contains('\\') {
        if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
            return Ok(inner.into());
        }
    }
    serde_json::from_str::<String>(text)
        .map(Into::into)
        .map_err(|_| format!("expected a string, got {text}"))
}

fn int<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an integer of the column's type"))
}

fn float(text: &str) -> Result<f64, String> {
    match text {
        "NaN" => Ok(f64::NAN),
        "Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        _ => text
            .parse()
            .map_err(|_| format!("`{text}` is not a number")),
    }
}

impl Column {
    pub(crate) fn new(kind: &Kind, data_type: &DataType, capacity: usize) -> Self {
        match kind {
            Kind::Bool => Self::Bool(BooleanBuilder::with_capacity(capacity)),
            Kind::Int16 => Self::Int16(Int16Builder::with_capacity(capacity)),
            Kind::Int32 => Self::Int32(Int32Builder::with_capacity(capacity)),
            Kind::Int64 => Self::Int64(Int64Builder::with_capacity(capacity)),
            Kind::Float32 => Self::Float32(Float32Builder::with_capacity(capacity)),
            Kind::Float64 => Self::Float64(Float64Builder::with_capacity(capacity)),
            Kind::Decimal(p, s) => Self::Decimal(
                Decimal128Builder::with_capacity(capacity)
                    .with_precision_and_scale(*p, *s)
                    .expect("checked by Layout::new"),
                *p,
                *s,
            ),
            Kind::NumericText | Kind::Text => {
                Self::Utf8(StringBuilder::with_capacity(capacity, capacity * 8), false)
            }
            Kind::Json => Self::Utf8(StringBuilder::with_capacity(capacity, capacity * 16), true),
            Kind::Date => Self::Date(Date32Builder::with_capacity(capacity)),
            Kind::Timestamp(tz) => {
                let b = TimestampMicrosecondBuilder::with_capacity(capacity);
                Self::Timestamp(if *tz { b.with_timezone("UTC") } else { b })
            }
            Kind::Bytea => Self::Bytea(BinaryBuilder::with_capacity(capacity, capacity * 8)),
            Kind::Geometry(srid) => {
                Self::Geometry(BinaryBuilder::with_capacity(capacity, capacity * 32), *srid)
            }
            Kind::List(inner) => {
                let DataType::List(field) = data_type else {
                    unreachable!("a list kind has a list type")
                };
                let mut offsets = Vec::with_capacity(capacity + 1);
                offsets.push(0);
                Self::List(Box::new(ListColumn {
                    child: Column::new(inner, field.data_type(), capacity),
                    field: field.clone(),
                    offsets,
                    nulls: NullBufferBuilder::new(capacity),
                }))
            }
        }
    }

    fn len(&self) -> usize {
        use arrow_array::builder::ArrayBuilder;
        match self {
            Self::Bool(b) => b.len(),
            Self::Int16(b) => b.len(),
            Self::Int32(b) => b.len(),
            Self::Int64(b) => b.len(),
            Self::Float32(b) => b.len(),
            Self::Float64(b) => b.len(),
            Self::Decimal(b, ..) => b.len(),
            Self::Utf8(b, _) => b.len(),
            Self::Date(b) => b.len(),
            Self::Timestamp(b) => b.len(),
            Self::Bytea(b) | Self::Geometry(b, _) => b.len(),
            Self::List(l) => l.offsets.len() - 1,
        }
    }

    pub(crate) fn push_null(&mut self) -> Result<(), String> {
        match self {
            Self::Bool(b) => b.append_null(),
            Self::Int16(b) => b.append_null(),
            Self::Int32(b) => b.append_null(),
            Self::Int64(b) => b.append_null(),
            Self::Float32(b) => b.append_null(),
            Self::Float64(b) => b.append_null(),
            Self::Decimal(b, ..) => b.append_null(),
            Self::Utf8(b, _) => b.append_null(),
            Self::Date(b) => b.append_null(),
            Self::Timestamp(b) => b.append_null(),
            Self::Bytea(b) | Self::Geometry(b, _) => b.append_null(),
            Self::List(l) => l.close(false)?,
        }
        Ok(())
    }

    fn push_geometry(
        b: &mut BinaryBuilder,
        srid: Option<i32>,
        hex_text: &str,
    ) -> Result<(), String> {
        let ewkb = hex::decode(hex_text)
            .map_err(|_| format!("`{}` is not hex EWKB", &hex_text[..hex_text.len().min(40)]))?;
        let (wkb, found) = convert(&ewkb, Target::Iso)?;
        if let Some(found) = found.filter(|s| *s != 0) {
            if srid != Some(found) {
                return Err(format!(
                    "a geometry has SRID {found}, the column {}: an Arrow column holds one SRID (transform the values to one in the query)",
                    srid.map_or("none".to_owned(), |s| s.to_string())
                ));
            }
        }
        b.append_value(wkb);
        Ok(())
    }

    /// Appends a value as the SQL API's JSON writes it.
    pub(crate) fn push_json(&mut self, raw: &RawValue) -> Result<(), String> {
        let text = raw.get();
        if text == "null" {
            return self.push_null();
        }
        match self {
            Self::Bool(b) => b.append_value(match text {
                "true" => true,
                "false" => false,
                _ => return Err(format!("expected a boolean, got {text}")),
            }),
            Self::Int16(b) => b.append_value(int(&json_number(raw)?)?),
            Self::Int32(b) => b.append_value(int(&json_number(raw)?)?),
            Self::Int64(b) => b.append_value(int(&json_number(raw)?)?),
            Self::Float32(b) => b.append_value(float(&json_number(raw)?)? as f32),
            Self::Float64(b) => b.append_value(float(&json_number(raw)?)?),
            Self::Decimal(b, p, s) => b.append_value(parse_decimal(text, *p, *s)?),
            Self::Utf8(b, true) => b.append_value(text),
            Self::Utf8(b, false) if text.starts_with('"') => b.append_value(utf8(raw)?),
            Self::Utf8(b, false) => b.append_value(text),
            Self::Date(b) => b.append_value(parse_datetime(&utf8(raw)?)?.days()?),
            Self::Timestamp(b) => b.append_value(parse_datetime(&utf8(raw)?)?.micros()?),
            Self::Bytea(b) => {
                #[derive(serde::Deserialize)]
                struct Buffer {
                    data: Vec<u8>,
                }
                let buffer: Buffer = serde_json::from_str(text).map_err(|_| {
                    format!("expected a {{\"type\":\"Buffer\"}} object, got {text}")
                })?;
                b.append_value(buffer.data);
            }
            Self::Geometry(b, srid) => Self::push_geometry(b, *srid, &utf8(raw)?)?,
            Self::List(l) => {
                let items: Vec<&RawValue> = serde_json::from_str(text)
                    .map_err(|_| format!("expected an array, got {text}"))?;
                // A JSON array inside a json[] is a value; anywhere else, a dimension.
                let json_items = matches!(l.child, Self::Utf8(_, true));
                for item in items {
                    if !json_items && item.get().starts_with('[') {
                        return Err("multidimensional arrays have no Arrow list type here (cast the column to text or json)".to_owned());
                    }
                    l.child.push_json(item)?;
                }
                l.close(true)?;
            }
        }
        Ok(())
    }

    /// Appends a value as PostgreSQL's text output writes it (`None`: NULL).
    pub(crate) fn push_text(&mut self, text: Option<&str>) -> Result<(), String> {
        let Some(text) = text else {
            return self.push_null();
        };
        match self {
            Self::Bool(b) => b.append_value(match text {
                "t" | "true" => true,
                "f" | "false" => false,
                _ => return Err(format!("`{text}` is not a boolean")),
            }),
            Self::Int16(b) => b.append_value(int(text)?),
            Self::Int32(b) => b.append_value(int(text)?),
            Self::Int64(b) => b.append_value(int(text)?),
            Self::Float32(b) => b.append_value(float(text)? as f32),
            Self::Float64(b) => b.append_value(float(text)?),
            Self::Decimal(b, p, s) => b.append_value(parse_decimal(text, *p, *s)?),
            Self::Utf8(b, _) => b.append_value(text),
            Self::Date(b) => b.append_value(parse_datetime(text)?.days()?),
            Self::Timestamp(b) => b.append_value(parse_datetime(text)?.micros()?),
            Self::Bytea(b) => {
                let bytes = text
                    .strip_prefix("\\x")
                    .and_then(|h| hex::decode(h).ok())
                    .ok_or_else(|| {
                        "a bytea value is not in hex format (bytea_output)".to_owned()
                    })?;
                b.append_value(bytes);
            }
            Self::Geometry(b, srid) => Self::push_geometry(b, *srid, text)?,
            Self::List(l) => {
                for item in parse_array(text)? {
                    l.child.push_text(item.as_deref())?;
                }
                l.close(true)?;
            }
        }
        Ok(())
    }

    /// The values so far as an array; the column starts empty again.
    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Bool(b) => Arc::new(b.finish()),
            Self::Int16(b) => Arc::new(b.finish()),
            Self::Int32(b) => Arc::new(b.finish()),
            Self::Int64(b) => Arc::new(b.finish()),
            Self::Float32(b) => Arc::new(b.finish()),
            Self::Float64(b) => Arc::new(b.finish()),
            Self::Decimal(b, ..) => Arc::new(b.finish()),
            Self::Utf8(b, _) => Arc::new(b.finish()),
            Self::Date(b) => Arc::new(b.finish()),
            Self::Timestamp(b) => Arc::new(b.finish()),
            Self::Bytea(b) | Self::Geometry(b, _) => Arc::new(b.finish()),
            Self::List(l) => {
                let offsets = std::mem::replace(&mut l.offsets, vec![0]);
                let values = l.child.finish();
                Arc::new(ListArray::new(
                    l.field.clone(),
                    OffsetBuffer::new(ScalarBuffer::from(offsets)),
                    values,
                    l.nulls.finish(),
                ))
            }
        }
    }
}

/// A JSON number's text, or the text of a string (`"NaN"`, `"Infinity"`).
fn json_number(raw: &RawValue) -> Result<std::borrow::Cow<'_, str>, String> {
    if raw.get().starts_with('"') {
        utf8(raw)
    } else {
        Ok(raw.get().into())
    }
}

/// The columns of one batch being built.
pub(crate) struct Batch {
    pub(crate) schema: SchemaRef,
    pub(crate) columns: Vec<Column>,
    pub(crate) rows: usize,
    pub(crate) batch_rows: usize,
}

impl Batch {
    pub(crate) fn new(schema: SchemaRef, kinds: &[Kind], batch_rows: usize) -> Self {
        let columns = kinds
            .iter()
            .zip(schema.fields())
            .map(|(kind, field)| Column::new(kind, field.data_type(), batch_rows.min(65_536)))
            .collect();
        Self {
            schema,
            columns,
            rows: 0,
            batch_rows,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.rows >= self.batch_rows
    }

    /// The rows so far as a record batch (`None` when there are none).
    pub(crate) fn take(&mut self) -> Option<RecordBatch> {
        if self.rows == 0 {
            return None;
        }
        let arrays: Vec<ArrayRef> = self.columns.iter_mut().map(Column::finish).collect();
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows));
        self.rows = 0;
        Some(
            RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
                .expect("the columns follow the schema"),
        )
    }
}
