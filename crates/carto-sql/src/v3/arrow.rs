//! SQL API v3 answers as Arrow record batches, typed from CARTO's `schema` (feature
//! `arrow`).
//!
//! CARTO 3 sends `schema` after the rows, so the answer is read whole (synchronous
//! queries are capped at 200,000 rows) and then laid out: `number` is `Float64`,
//! `bigint` `Int64`, `string` `Utf8`, `boolean` `Boolean`, `timestamp` a UTC
//! `Timestamp(µs)`, `object` and `variant` JSON text (`arrow.json`), `geometry` GeoArrow
//! WKB (`geoarrow.wkb`, EPSG:4326) when the value is hex (E)WKB and the JSON text
//! otherwise, anything else `Utf8`. Each field keeps CARTO's type in its metadata.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use carto_core::{DecodeError, Error};
use http::StatusCode;
use serde_json::value::RawValue;

use super::response::{FieldType, QueryMeta, QueryResponse, SchemaField};
use crate::arrow::column::Batch;
use crate::arrow::schema::Layout;
use crate::arrow::{ArrowOptions, NumericAs};
use crate::response::{Field, Fields};

/// A row as sent: each column's JSON text.
pub(crate) type RawRow = HashMap<String, Box<RawValue>>;

/// A v3 answer as Arrow: the schema (also when there are no rows), the batches, `meta`.
#[derive(Debug, Clone)]
pub struct ArrowAnswer {
    /// The Arrow schema, from CARTO's `schema`.
    pub schema: SchemaRef,
    /// The rows, at most [`ArrowOptions::batch_rows`] per batch.
    pub batches: Vec<RecordBatch>,
    /// What the warehouse said about the run.
    pub meta: Option<QueryMeta>,
}

/// The v2 field a CARTO 3 type reads like.
fn field_of(field_type: &FieldType, geometry_as_wkb: bool) -> Field {
    let pgtype = match field_type {
        FieldType::Number => "float8",
        FieldType::Bigint => "int8",
        FieldType::Boolean => "bool",
        FieldType::Timestamp => "timestamptz",
        FieldType::Object | FieldType::Variant => "jsonb",
        FieldType::Geometry if geometry_as_wkb => {
            return Field {
                field_type: "geometry".into(),
                pgtype: None,
                wkbtype: None,
                dims: Some(2),
                srid: Some(4326),
            };
        }
        _ => "text",
    };
    Field {
        field_type: field_type.as_str().to_owned(),
        pgtype: Some(pgtype.to_owned()),
        wkbtype: None,
        dims: None,
        srid: None,
    }
}

/// Whether the first non-null value of `name` is hex (E)WKB text.
fn hex_geometry(rows: &[RawRow], name: &str) -> bool {
    let first = rows
        .iter()
        .filter_map(|row| row.get(name))
        .find(|raw| raw.get() != "null");
    first.is_some_and(|raw| {
        let text = raw.get();
        text.len() > 2
            && text.starts_with('"')
            && text[1..text.len() - 1]
                .bytes()
                .all(|b| b.is_ascii_hexdigit())
    })
}

/// Lays out `answer` as record batches.
pub(crate) fn to_arrow(
    answer: QueryResponse<RawRow>,
    options: &ArrowOptions,
) -> Result<ArrowAnswer, Error> {
    let fields = Fields(
        answer
            .schema
            .iter()
            .map(
                |SchemaField {
                     name, field_type, ..
                 }| {
                    let wkb =
                        *field_type == FieldType::Geometry && hex_geometry(&answer.rows, name);
                    (name.clone(), field_of(field_type, wkb))
                },
            )
            .collect(),
    );
    let numeric = options.numeric_as();
    let layout = Layout::new(fields, numeric_for_v3(numeric))?;
    let mut batch = Batch::new(
        layout.schema.clone(),
        &layout.kinds,
        options.rows_per_batch(),
    );
    let mut batches = Vec::new();
    for (index, row) in answer.rows.iter().enumerate() {
        for (column, (name, _)) in batch.columns.iter_mut().zip(layout.fields.iter()) {
            let pushed = match row.get(name) {
                Some(raw) => column.push_json(raw),
                None => column.push_null(),
            };
            pushed.map_err(|message| {
                let raw = row.get(name).map_or("", |r| r.get());
                Error::from(DecodeError::new(
                    StatusCode::OK,
                    format!("rows[{index}].{name}"),
                    message,
                    raw.as_bytes(),
                ))
            })?;
        }
        batch.rows += 1;
        if batch.is_full() {
            batches.extend(batch.take());
        }
    }
    batches.extend(batch.take());
    Ok(ArrowAnswer {
        schema: Arc::clone(&layout.schema),
        batches,
        meta: answer.meta,
    })
}

/// CARTO 3's `number` is a float: the numeric options of v2 do not apply.
fn numeric_for_v3(_: NumericAs) -> NumericAs {
    NumericAs::Float64
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, BinaryArray, Float64Array, Int64Array, StringArray};
    use arrow_schema::DataType;

    fn answer(body: &str) -> QueryResponse<RawRow> {
        serde_json::from_str(body).unwrap()
    }

    #[test]
    fn carto_types_become_arrow_types() {
        let body = r#"{"rows":[
            {"n":1.5,"b":9007199254740993,"s":"x","t":true,"ts":"2024-05-01T10:00:00Z","o":{"k":[1]},"g":"0101000000000000000000F03F0000000000000040"},
            {"n":null,"b":2,"s":null,"t":false,"ts":null,"o":null,"g":null}],
            "schema":[{"name":"n","type":"number"},{"name":"b","type":"bigint"},{"name":"s","type":"string"},
              {"name":"t","type":"boolean"},{"name":"ts","type":"timestamp"},{"name":"o","type":"object"},
              {"name":"g","type":"geometry"}]}"#;
        let out = to_arrow(answer(body), &ArrowOptions::new()).unwrap();
        let types: Vec<DataType> = out
            .schema
            .fields()
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        assert_eq!(types[0], DataType::Float64);
        assert_eq!(types[1], DataType::Int64);
        assert_eq!(types[2], DataType::Utf8);
        assert_eq!(types[3], DataType::Boolean);
        assert!(matches!(types[4], DataType::Timestamp(_, Some(_))));
        assert_eq!(types[5], DataType::Utf8);
        assert_eq!(types[6], DataType::Binary);
        let batch = &out.batches[0];
        assert_eq!(batch.num_rows(), 2);
        let n = batch
            .column(0)
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!(n.value(0), 1.5);
        assert!(n.is_null(1));
        let b = batch
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(b.value(0), 9_007_199_254_740_993);
        let o = batch
            .column(5)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(o.value(0), r#"{"k":[1]}"#);
        let g = batch
            .column(6)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .unwrap();
        assert_eq!(g.value(0).len(), 21);
    }

    #[test]
    fn an_empty_answer_keeps_its_schema_and_batches_are_cut() {
        let empty = to_arrow(
            answer(r#"{"rows":[],"schema":[{"name":"a","type":"string"}]}"#),
            &ArrowOptions::new(),
        )
        .unwrap();
        assert_eq!(empty.schema.fields().len(), 1);
        assert!(empty.batches.is_empty());
        let rows: Vec<String> = (0..5).map(|i| format!(r#"{{"a":{i}}}"#)).collect();
        let body = format!(
            r#"{{"rows":[{}],"schema":[{{"name":"a","type":"bigint"}}]}}"#,
            rows.join(",")
        );
        let cut = to_arrow(answer(&body), &ArrowOptions::new().batch_rows(2)).unwrap();
        let sizes: Vec<usize> = cut.batches.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, [2, 2, 1]);
    }

    #[test]
    fn a_value_of_the_wrong_type_is_a_decode_error_naming_the_cell() {
        let body = r#"{"rows":[{"a":"x"}],"schema":[{"name":"a","type":"bigint"}]}"#;
        let err = to_arrow(answer(body), &ArrowOptions::new()).unwrap_err();
        assert!(err.to_string().contains("rows[0].a"), "{err}");
    }

    #[test]
    fn geometry_that_is_not_hex_stays_text() {
        let body = r#"{"rows":[{"g":{"type":"Point","coordinates":[1,2]}}],"schema":[{"name":"g","type":"geometry"}]}"#;
        let out = to_arrow(answer(body), &ArrowOptions::new()).unwrap();
        assert_eq!(out.schema.field(0).data_type(), &DataType::Utf8);
    }
}
