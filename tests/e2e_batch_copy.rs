//! The facade's Batch and COPY accessors against the emulator, both clients.

use std::io::Read;
use std::time::Duration;

use carto::sql::{CopyFromOptions, JobStatus, WaitOptions};
use carto::{Client, blocking};
use carto_emulator::Emulator;
use futures_util::StreamExt;

const CSV: &str = "id,name\n1,a\n2,b\n3,c\n";

#[test]
fn batch_and_copy_through_the_facade() {
    let emulator = Emulator::builder()
        .user("alice")
        .start_blocking()
        .expect("the emulator starts");
    let creds = emulator.credentials("alice").unwrap();
    let wait = WaitOptions::new()
        .with_initial_interval(Duration::from_millis(100))
        .with_timeout(Duration::from_secs(60));

    let client = blocking::Client::new(creds.clone()).unwrap();
    let job = client
        .batch()
        .create_and_wait_with("CREATE TABLE loaded (id int, name text)", &wait)
        .unwrap();
    assert_eq!(job.status, JobStatus::Done);
    let loaded = client
        .copy()
        .copy_from_with(
            "COPY loaded (id, name) FROM STDIN WITH (FORMAT csv, HEADER true)",
            CSV.as_bytes(),
            &CopyFromOptions::new().gzip(6),
        )
        .unwrap();
    assert_eq!(loaded.total_rows, 3);
    let mut out = String::new();
    client
        .copy()
        .copy_to(
            "COPY (SELECT id, name FROM loaded ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)")
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, CSV);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = Client::new(creds).unwrap();
        let job = client
            .batch()
            .create_and_wait_with("INSERT INTO loaded VALUES (4, 'd')", &wait)
            .await
            .unwrap();
        assert_eq!(job.status, JobStatus::Done);
        let mut stream = client
            .copy()
            .copy_to("COPY (SELECT count(*) FROM loaded) TO STDOUT")
            .await
            .unwrap();
        let mut out = Vec::new();
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(out, b"4\n");
    });
}
