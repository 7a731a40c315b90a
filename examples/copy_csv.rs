//! Bulk-load a CSV file with COPY FROM (gzip-compressed on the fly, with a progress
//! line), then read the table back with COPY TO, sync, on the ureq transport.
//!
//! With `CARTO_API_KEY` (a master key) and `CARTO_BASE_URL` in the environment it
//! talks to that account; otherwise it starts a local CARTO emulator with a user
//! `alice`.
//!
//! ```text
//! cargo run --example copy_csv
//! ```

use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use carto::blocking::Client;
use carto::{CopyFromOptions, CopyToOptions, Credentials, WaitOptions};
use carto_emulator::{BlockingEmulator, Emulator};

const ROWS: u32 = 100_000;

fn main() -> Result<(), Box<dyn Error>> {
    let (credentials, _emulator) = account()?;
    let client = Client::new(credentials)?;

    // The table, made with a Batch job (COPY needs an existing table).
    client.batch().create_and_wait_with(
        "DROP TABLE IF EXISTS copy_example; \
         CREATE TABLE copy_example (id int PRIMARY KEY, city text, population int, measured_at date)",
        &WaitOptions::new().with_timeout(Duration::from_secs(60)),
    )?;

    // A CSV file to load.
    let dir = tempfile::tempdir()?;
    let csv_path = dir.path().join("cities.csv");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&csv_path)?);
    writeln!(file, "id,city,population,measured_at")?;
    for i in 0..ROWS {
        writeln!(
            file,
            "{i},City {i},{},2024-{:02}-01",
            1000 + i * 7 % 90_000,
            1 + i % 12
        )?;
    }
    file.flush()?;
    drop(file);
    let size = std::fs::metadata(&csv_path)?.len();

    // COPY FROM: streamed from the file, gzip level 1, with a progress line.
    let copy = client.copy();
    let shown = AtomicU64::new(0);
    let loaded = copy.copy_from_path_with(
        "COPY copy_example (id, city, population, measured_at) FROM STDIN WITH (FORMAT csv, HEADER true)",
        &csv_path,
        &CopyFromOptions::new().gzip(1).progress(move |sent| {
            let percent = sent * 100 / size.max(1);
            if percent / 10 > shown.swap(percent / 10, Ordering::Relaxed) {
                print!("\ruploaded {percent:>3}%");
                let _ = std::io::stdout().flush();
            }
        }),
    )?;
    println!(
        "\nCOPY FROM loaded {} rows in {:.3} s",
        loaded.total_rows,
        loaded.time.unwrap_or_default().as_secs_f64()
    );

    // COPY TO into a file.
    let out_path = dir.path().join("cities-back.csv");
    let bytes = copy.copy_to_path_with(
        "COPY (SELECT * FROM copy_example ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)",
        &out_path,
        &CopyToOptions::new().filename("cities-back.csv"),
    )?;
    println!("COPY TO wrote {bytes} bytes to {}", out_path.display());

    // COPY TO as a reader: the biggest cities, read line by line as they arrive.
    let reader = copy.copy_to(
        "COPY (SELECT city, population FROM copy_example ORDER BY population DESC, id LIMIT 3) TO STDOUT",
    )?;
    println!("The three most populated:");
    for line in BufReader::new(reader).lines() {
        let line = line?;
        let (city, population) = line.split_once('\t').unwrap_or((&line, ""));
        println!("  {city}: {population}");
    }

    let original = std::fs::read_to_string(&csv_path)?;
    let back = std::fs::read_to_string(&out_path)?;
    assert_eq!(original.lines().count(), back.lines().count());
    assert_eq!(original, back, "the round trip gives the same CSV");
    println!("Round trip OK: {} rows", ROWS);
    Ok(())
}

/// The environment's account, or a fresh emulator (kept alive by the returned handle).
fn account() -> Result<(Credentials, Option<BlockingEmulator>), Box<dyn Error>> {
    if std::env::var_os("CARTO_API_KEY").is_some() && std::env::var_os("CARTO_BASE_URL").is_some() {
        return Ok((Credentials::from_env()?, None));
    }
    let emulator = Emulator::builder().user("alice").start_blocking()?;
    let credentials = emulator.user("alice").ok_or("no user alice")?.credentials();
    println!(
        "Started a local CARTO emulator at {}",
        credentials.base_url()
    );
    Ok((credentials, Some(emulator)))
}
