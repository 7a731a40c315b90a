//! The buffered `SqlClient::query` never holds the whole body: against the in-process
//! emulator, a result whose JSON is about 46 MB but whose typed rows are 1.6 MB is read
//! with a peak of heap memory (every thread, the emulator's included, measured by a
//! counting global allocator) far below the body: the rows, one chunk and one row at a
//! time.

use carto_emulator::Emulator;
use carto_sql::{Format, SqlClient};
use carto_transport::UreqTransport;
use serde::Deserialize;

use carto_test_support::alloc::peak_during;

const ROWS: i64 = 200_000;
const QUERY: &str = "SELECT g AS n, repeat('x', 200) AS padding FROM generate_series(1, 200000) g";
/// The rows (8 bytes each) and their `Vec`'s spare capacity, a chunk, a row, the
/// emulator's own buffers.
const BOUND: usize = 8 * 1024 * 1024;

/// Only `n`: the padding is skipped as it is decoded.
#[derive(Deserialize)]
struct Row {
    n: i64,
}

#[test]
fn a_buffered_query_holds_its_rows_not_its_body() {
    let _serial = carto_test_support::alloc::serial();
    let emulator = Emulator::builder().user("alice").start_blocking().unwrap();
    let creds = emulator.credentials("alice").unwrap();
    let sql = SqlClient::from_credentials(UreqTransport::new(), creds);

    // The size of the body, read as it comes (not held).
    let mut body = sql.export_reader(QUERY, Format::Json).unwrap();
    let size = std::io::copy(&mut body, &mut std::io::sink()).unwrap() as usize;
    assert!(
        size > 5 * BOUND,
        "the body ({size} bytes) is not larger than the bound"
    );

    let (response, peak) = peak_during(|| sql.query::<Row>(QUERY).unwrap());
    println!("query: {ROWS} rows, a {size}-byte body, peak heap growth {peak} bytes");
    assert_eq!(response.rows.len() as i64, ROWS);
    assert!(response.rows.iter().zip(1..).all(|(row, n)| row.n == n));
    assert_eq!(response.total_rows, ROWS as u64);
    assert_eq!(
        response.fields.names().collect::<Vec<_>>(),
        ["n", "padding"]
    );
    assert!(
        peak < BOUND,
        "query peak {peak} bytes for a {size}-byte body"
    );
}
