//! A million-row result read as Arrow batches, through the SQL API's JSON and through
//! COPY, against the in-process emulator: consumed batch by batch, the peak of heap
//! memory allocated while reading (every thread, the emulator's included) stays far
//! below the size of the result (a counting global allocator measures it).

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type};
use carto_emulator::Emulator;
use carto_sql::SqlClient;
use carto_sql::arrow::ArrowOptions;
use carto_sql::copy::CopyClient;
use carto_transport::UreqTransport;

use carto_test_support::alloc::peak_during;

const ROWS: i64 = 1_000_000;
const QUERY: &str = "SELECT g AS n, g * 0.5::float8 AS half, 'row number ' || g AS label FROM generate_series(1, 1000000) g";
/// A 10 000-row batch is about 400 KB; the whole result about 40 MB in Arrow (and
/// 60 MB of JSON on the wire). Reading must hold a few batches and buffers at most.
const FLAT: usize = 8 * 1024 * 1024;

/// Reads every batch, checks the values, returns (rows, total Arrow bytes).
fn consume(
    batches: impl Iterator<Item = Result<arrow_array::RecordBatch, carto_core::Error>>,
) -> (i64, usize) {
    let (mut rows, mut bytes) = (0i64, 0usize);
    for batch in batches {
        let batch = batch.unwrap();
        assert!(batch.num_rows() <= 10_000);
        let n = batch.column(0).as_primitive::<Int32Type>();
        let half = batch.column(1).as_primitive::<Float64Type>();
        for i in 0..batch.num_rows() {
            rows += 1;
            assert_eq!(i64::from(n.value(i)), rows);
            assert_eq!(half.value(i), rows as f64 * 0.5);
        }
        bytes += batch.get_array_memory_size();
    }
    (rows, bytes)
}

#[test]
fn a_million_rows_in_bounded_memory() {
    let _serial = carto_test_support::alloc::serial();
    let emulator = Emulator::builder().user("alice").start_blocking().unwrap();
    let creds = emulator.credentials("alice").unwrap();
    let transport = UreqTransport::new();
    let sql = SqlClient::from_credentials(transport.clone(), creds.clone());
    let copy = CopyClient::from_credentials(transport, creds);
    let options = ArrowOptions::new().batch_rows(10_000);

    let ((rows, bytes), peak) =
        peak_during(|| consume(sql.query_arrow_with(QUERY, &options).unwrap()));
    println!("query_arrow: {rows} rows, {bytes} bytes of Arrow, peak heap growth {peak} bytes");
    assert_eq!(rows, ROWS);
    assert!(
        bytes > 3 * FLAT,
        "the result ({bytes} bytes) is larger than the bound"
    );
    assert!(peak < FLAT, "query_arrow peak {peak} bytes");

    let ((rows, bytes), peak) =
        peak_during(|| consume(copy.copy_to_arrow_with(QUERY, &options).unwrap()));
    println!("copy_to_arrow: {rows} rows, {bytes} bytes of Arrow, peak heap growth {peak} bytes");
    assert_eq!(rows, ROWS);
    assert!(peak < FLAT, "copy_to_arrow peak {peak} bytes");
}
