//! Read a table into Arrow record batches, aggregate it on the client, write the result
//! back with `copy_from_arrow`, and read it back (feature `arrow`, sync):
//!
//! 1. the master key creates `arrow_sales` (20 000 sales in five cities, with a
//!    `numeric(10,2)` amount and a point geometry);
//! 2. `query_arrow` streams it in 4096-row batches, `numeric` as `Decimal128(10, 2)`;
//!    the totals per city are summed exactly (integers of cents) batch by batch;
//! 3. the totals become one `RecordBatch` loaded into `arrow_city_totals` with
//!    `copy_from_arrow` (CSV COPY FROM, encoded as it is sent);
//! 4. `copy_to_arrow` reads them back, and they are checked against the server's own
//!    `GROUP BY`.
//!
//! ```text
//! cargo run --example arrow_aggregate --features arrow
//! ```

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use carto::arrow::arrow_array::cast::AsArray;
use carto::arrow::arrow_array::types::{Decimal128Type, Int64Type};
use carto::arrow::arrow_array::{
    Array, ArrayRef, Decimal128Array, Int64Array, RecordBatch, RecordBatchIterator, StringArray,
};
use carto::arrow::{ArrowOptions, NumericAs, RecordBatchReader};
use carto::blocking::Client;

const SETUP: &str = "
DROP TABLE IF EXISTS arrow_sales;
DROP TABLE IF EXISTS arrow_city_totals;
CREATE TABLE arrow_sales (
    id int PRIMARY KEY,
    city text NOT NULL,
    amount numeric(10,2),
    sold_at timestamptz NOT NULL,
    the_geom geometry(Point,4326)
);
INSERT INTO arrow_sales
    SELECT i,
           (ARRAY['Madrid', 'Sevilla', 'Bilbao', 'Valencia', 'Zaragoza'])[1 + i % 5],
           CASE WHEN i % 97 = 0 THEN NULL ELSE round((i % 1000) * 1.37 + 0.99, 2) END,
           timestamptz '2025-01-01 00:00:00+00' + i * interval '17 minutes',
           ST_SetSRID(ST_MakePoint(-3.7 + (i % 50) * 0.01, 40.4 + (i % 30) * 0.01), 4326)
    FROM generate_series(1, 20000) i;
CREATE TABLE arrow_city_totals (city text PRIMARY KEY, sales bigint, total numeric(14,2));
";

fn main() -> common::Result {
    let account = common::account()?;
    if !account.has_postgis() {
        println!("This account's SQL has no PostGIS: nothing to show.");
        return Ok(());
    }
    let client = Client::new(account.credentials.clone())?;
    let (sql, copy) = (client.sql(), client.copy());
    sql.execute(SETUP)?;

    // 2. Stream the table in batches and aggregate in exact cents.
    let options = ArrowOptions::new()
        .batch_rows(4096)
        .numeric(NumericAs::Decimal128 {
            precision: 10,
            scale: 2,
        });
    let batches =
        sql.query_arrow_with("SELECT city, amount, the_geom FROM arrow_sales", &options)?;
    let schema = batches.schema();
    let geom = schema.field_with_name("the_geom")?;
    println!(
        "Schema: {} columns; the_geom is {} with SRID {}",
        schema.fields().len(),
        geom.data_type(),
        geom.metadata()
            .get(carto::arrow::SRID_KEY)
            .map_or("?", String::as_str)
    );
    let mut totals: BTreeMap<String, (i64, i128)> = BTreeMap::new();
    let mut seen = 0;
    for batch in batches {
        let batch = batch?;
        seen += 1;
        let cities = batch.column(0).as_string::<i32>();
        let amounts = batch.column(1).as_primitive::<Decimal128Type>();
        for i in 0..batch.num_rows() {
            let entry = totals.entry(cities.value(i).to_owned()).or_default();
            entry.0 += 1;
            if amounts.is_valid(i) {
                entry.1 += amounts.value(i);
            }
        }
    }
    println!("Aggregated {seen} batches into {} cities", totals.len());

    // 3. The totals as one record batch, loaded with COPY FROM.
    let result = RecordBatch::try_from_iter([
        (
            "city",
            Arc::new(StringArray::from_iter_values(totals.keys())) as ArrayRef,
        ),
        (
            "sales",
            Arc::new(Int64Array::from_iter_values(totals.values().map(|v| v.0))) as ArrayRef,
        ),
        (
            "total",
            Arc::new(
                Decimal128Array::from_iter_values(totals.values().map(|v| v.1))
                    .with_precision_and_scale(14, 2)?,
            ) as ArrayRef,
        ),
    ])?;
    let reader = RecordBatchIterator::new([Ok(result.clone())], result.schema());
    let loaded = copy.copy_from_arrow("arrow_city_totals", reader)?;
    println!("copy_from_arrow loaded {} rows", loaded.total_rows);

    // 4. Read them back over COPY TO and compare with the server's GROUP BY.
    let back = copy
        .copy_to_arrow(
            "SELECT t.city, t.sales, t.total::text AS total, \
                    (SELECT sum(amount)::text FROM arrow_sales s WHERE s.city = t.city) AS server_total \
             FROM arrow_city_totals t ORDER BY t.city",
        )?
        .into_reader();
    println!(
        "{:?}",
        back.schema()
            .fields()
            .iter()
            .map(|f| f.name())
            .collect::<Vec<_>>()
    );
    for batch in back {
        let batch = batch?;
        let cities = batch.column(0).as_string::<i32>();
        let sales = batch.column(1).as_primitive::<Int64Type>();
        let ours = batch.column(2).as_string::<i32>();
        let server = batch.column(3).as_string::<i32>();
        for i in 0..batch.num_rows() {
            println!(
                "  {:<10} {:>5} sales, total {:>12} (server: {})",
                cities.value(i),
                sales.value(i),
                ours.value(i),
                server.value(i)
            );
            assert_eq!(ours.value(i), server.value(i), "the client's sum is exact");
        }
    }
    println!("Round trip OK");
    Ok(())
}
