//! carto-rs performance comparisons (issue 11), each pair side by side in one run:
//!
//! 1. a 1M-row JSON result (int8, text, float8, bool) decoded into a typed struct: the
//!    buffered `SqlClient::query` and the streaming `query_rows` against the official Python
//!    SDK's `SQLClient.send` (client CPU and peak memory, each in a process of its own);
//! 2. sequential `SELECT 1` requests: `carto::blocking::Client` against a bare ureq agent and
//!    `carto::Client` against a bare reqwest client sending the same POST and parsing the JSON;
//! 3. the emulator's SQL API under `wrk` (16 connections) against `pgbench` on the emulator's
//!    own PostgreSQL, and its JSON output of the 1M rows against `psql`'s `COPY ... TO STDOUT`;
//! 4. COPY TO / COPY FROM of the same rows through the SDK and through `curl`.
//!
//! The emulator runs in a child process (this binary, `serve`), so client figures are the
//! client's alone. Figures are medians of `--runs` runs. Tools that are not installed
//! (python3 with venv, wrk, pgbench, psql, curl) are skipped with a message.
//!
//! One module per comparison (`decode`, `requests`, `emulator`, `copy`), over the command
//! line (`cli`), the clients of the emulator child (`client`), the process measurements
//! (`measure`) and the table of results (`report`).
//!
//! ```sh
//! cargo run --release -p carto-bench -- --runs 5
//! ```

mod accounts;
mod cli;
mod client;
mod copy;
mod decode;
mod emulator;
mod measure;
mod report;
mod requests;

use carto_test_support::emulator::served::{self, Served};
use clap::Parser;

use crate::cli::{Args, ChildCmd, Section};
use crate::client::Bare;
use crate::copy::copy_comparison;
use crate::decode::{decode_child, decode_comparison};
use crate::emulator::{emulator_comparison, serve_fixed};
use crate::report::Report;
use crate::requests::request_comparison;

/// Every error of the bench, boxed.
pub type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

fn main() -> BoxResult<()> {
    let args = Args::parse();
    match &args.child {
        Some(ChildCmd::Serve) => return served::serve("bench"),
        Some(ChildCmd::Decode {
            mode,
            url,
            token,
            sql,
        }) => return decode_child(mode, url, token, sql),
        Some(ChildCmd::ServeFixed { answer }) => return serve_fixed(answer),
        None => {}
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    if args.only == [Section::Accounts] {
        return accounts::accounts_comparison(&args);
    }
    let (mut child, served) = served::start(&["serve"])?;
    let result = run(&args, &served);
    drop(child.stdin.take());
    let _ = child.wait();
    result
}

fn run(args: &Args, served: &Served) -> BoxResult<()> {
    let runs = args.runs.max(1);
    println!(
        "carto-bench: {} runs each (medians), {} rows, {} requests, {} s load runs; {}",
        runs,
        args.rows,
        args.requests,
        args.seconds,
        machine()
    );
    let bare = Bare::new(served);
    bare.sql("DROP TABLE IF EXISTS bench_rows")?;
    bare.sql(&format!(
        "CREATE TABLE bench_rows AS SELECT i::int8 AS id, md5(i::text) AS name, \
         i / 7.0::float8 AS x, i % 3 = 0 AS flag FROM generate_series(1, {}) AS i",
        args.rows
    ))?;
    bare.sql("DROP TABLE IF EXISTS bench_copy")?;
    bare.sql("CREATE TABLE bench_copy (LIKE bench_rows)")?;
    let mut report = Report::default();
    let wanted = |s: Section| args.only.is_empty() || args.only.contains(&s);
    if wanted(Section::Decode) {
        decode_comparison(args, served, &mut report)?;
    }
    if wanted(Section::Requests) {
        request_comparison(args, served, &bare, &mut report)?;
    }
    if wanted(Section::Emulator) {
        emulator_comparison(args, served, &bare, &mut report)?;
    }
    if wanted(Section::Copy) {
        copy_comparison(args, served, &bare, &mut report)?;
    }
    if wanted(Section::Accounts) {
        accounts::accounts_comparison(args)?;
    }
    report.print();
    Ok(())
}

/// `nproc` and the CPU model.
fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs ({model})")
}
