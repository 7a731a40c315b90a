//! Record batches as a polars `DataFrame` (feature `polars`).
//!
//! polars has its own Arrow implementation (polars-arrow), so each column of each
//! batch is copied into a polars-arrow array (values, offsets and validity buffers,
//! one copy each) and becomes one chunk of the column's `Series`. Safe code only: no
//! Arrow C data interface (which would need `unsafe` to move the structs between the
//! two crates). Field metadata (the geometry SRID) has no place in a polars schema:
//! read it from the Arrow schema.

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    TimestampMicrosecondType,
};
use arrow_array::{Array, ArrowPrimitiveType, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use carto_core::Error;
use polars_arrow::array::{
    Array as PlArray, BinaryArray, BooleanArray, ListArray, PrimitiveArray, Utf8Array,
};
use polars_arrow::bitmap::Bitmap;
use polars_arrow::datatypes::{ArrowDataType, Field as PlField, TimeUnit as PlTimeUnit};
use polars_arrow::offset::OffsetsBuffer;
use polars_arrow::types::NativeType;
use polars_core::frame::DataFrame;
use polars_core::prelude::{Column, PlSmallStr};
use polars_core::series::Series;

fn polars_error(e: impl std::fmt::Display) -> Error {
    Error::invalid("polars", e.to_string())
}

fn validity(array: &dyn Array) -> Option<Bitmap> {
    array.logical_nulls().map(|n| n.iter().collect())
}

fn primitive<T>(array: &dyn Array, dtype: ArrowDataType) -> Result<Box<dyn PlArray>, Error>
where
    T: ArrowPrimitiveType,
    T::Native: NativeType,
{
    let values = array.as_primitive::<T>().values().to_vec();
    let out = PrimitiveArray::<T::Native>::try_new(dtype, values.into(), validity(array))
        .map_err(polars_error)?;
    Ok(Box::new(out))
}

/// The offsets of a (possibly sliced) array rebased at 0, and the range of values
/// they cover.
fn offsets(offsets: &[i32]) -> Result<(OffsetsBuffer<i64>, usize, usize), Error> {
    let first = offsets.first().copied().unwrap_or(0);
    let last = offsets.last().copied().unwrap_or(0);
    let rebased: Vec<i64> = offsets.iter().map(|o| i64::from(o - first)).collect();
    let buffer = OffsetsBuffer::try_from(rebased).map_err(polars_error)?;
    Ok((buffer, first as usize, last as usize))
}

/// One arrow-rs array as a polars-arrow array.
fn convert(array: &dyn Array) -> Result<Box<dyn PlArray>, Error> {
    Ok(match array.data_type() {
        DataType::Boolean => {
            let values: Bitmap = array.as_boolean().values().iter().collect();
            Box::new(
                BooleanArray::try_new(ArrowDataType::Boolean, values, validity(array))
                    .map_err(polars_error)?,
            )
        }
        DataType::Int16 => primitive::<Int16Type>(array, ArrowDataType::Int16)?,
        DataType::Int32 => primitive::<Int32Type>(array, ArrowDataType::Int32)?,
        DataType::Int64 => primitive::<Int64Type>(array, ArrowDataType::Int64)?,
        DataType::Float32 => primitive::<Float32Type>(array, ArrowDataType::Float32)?,
        DataType::Float64 => primitive::<Float64Type>(array, ArrowDataType::Float64)?,
        DataType::Decimal128(p, s) => primitive::<Decimal128Type>(
            array,
            ArrowDataType::Decimal(usize::from(*p), usize::try_from(*s).unwrap_or(0)),
        )?,
        DataType::Date32 => primitive::<Date32Type>(array, ArrowDataType::Date32)?,
        DataType::Timestamp(TimeUnit::Microsecond, tz) => primitive::<TimestampMicrosecondType>(
            array,
            ArrowDataType::Timestamp(
                PlTimeUnit::Microsecond,
                tz.as_deref().map(PlSmallStr::from_str),
            ),
        )?,
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            let (offsets, start, end) = offsets(a.value_offsets())?;
            let values = a.values()[start..end].to_vec();
            Box::new(
                Utf8Array::<i64>::try_new(
                    ArrowDataType::LargeUtf8,
                    offsets,
                    values.into(),
                    validity(array),
                )
                .map_err(polars_error)?,
            )
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            let (offsets, start, end) = offsets(a.value_offsets())?;
            let values = a.values()[start..end].to_vec();
            Box::new(
                BinaryArray::<i64>::try_new(
                    ArrowDataType::LargeBinary,
                    offsets,
                    values.into(),
                    validity(array),
                )
                .map_err(polars_error)?,
            )
        }
        DataType::List(_) => {
            let a = array.as_list::<i32>();
            let (offsets, start, end) = offsets(a.value_offsets())?;
            let child = convert(a.values().slice(start, end - start).as_ref())?;
            let field = PlField::new(PlSmallStr::from_static("item"), child.dtype().clone(), true);
            Box::new(
                ListArray::<i64>::try_new(
                    ArrowDataType::LargeList(Box::new(field)),
                    offsets,
                    child,
                    validity(array),
                )
                .map_err(polars_error)?,
            )
        }
        other => {
            return Err(Error::invalid(
                "polars",
                format!("the Arrow type {other} has no conversion here"),
            ));
        }
    })
}

/// The batches of `schema` (from `query_arrow` or `copy_to_arrow`, or any batches of
/// the types they produce) as one polars `DataFrame`, each batch a chunk; no batch
/// gives an empty frame with the schema's columns.
///
/// ```no_run
/// # fn run(sql: carto_sql::SqlClient<impl carto_transport::Transport>) -> Result<(), carto_core::Error> {
/// use carto_sql::arrow::to_polars;
/// let batches = sql.query_arrow("SELECT name, pop_max FROM populated_places")?;
/// let schema = batches.schema();
/// let df = to_polars(&schema, batches)?;
/// println!("{df}");
/// # Ok(()) }
/// ```
pub fn to_polars<I, E>(schema: &Schema, batches: I) -> Result<DataFrame, Error>
where
    I: IntoIterator<Item = Result<RecordBatch, E>>,
    E: Into<Error>,
{
    let mut chunks: Vec<Vec<Box<dyn PlArray>>> =
        (0..schema.fields().len()).map(|_| Vec::new()).collect();
    let mut height = 0;
    for batch in batches {
        let batch = batch.map_err(Into::into)?;
        if batch.num_columns() != chunks.len() {
            return Err(Error::invalid(
                "polars",
                "a batch's columns differ from the schema",
            ));
        }
        height += batch.num_rows();
        for (column, array) in chunks.iter_mut().zip(batch.columns()) {
            column.push(convert(array.as_ref())?);
        }
    }
    let columns = schema
        .fields()
        .iter()
        .zip(chunks)
        .map(|(field, mut column)| {
            if column.is_empty() {
                column.push(convert(
                    arrow_array::new_empty_array(field.data_type()).as_ref(),
                )?);
            }
            Series::try_from((PlSmallStr::from_str(field.name()), column))
                .map(Column::from)
                .map_err(polars_error)
        })
        .collect::<Result<Vec<_>, _>>()?;
    DataFrame::new(height, columns).map_err(polars_error)
}
