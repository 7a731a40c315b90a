//! Comparison 1, typed decode of the large result: the SDK's buffered, streaming and Arrow
//! reads against the Python SDK, and the floors of a bare read and of a serde_json parse.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use carto_test_support::emulator::served::Served;
use serde::{Deserialize, Serialize};

use crate::BoxResult;
use crate::cli::Args;
use crate::client::{Bare, credentials, long_options};
use crate::measure::{cpu_seconds, median, peak_rss_mb};
use crate::report::Report;

#[derive(Serialize, Deserialize, Clone, Copy)]
pub struct Measured {
    pub cpu: f64,
    pub wall: f64,
    pub peak_mb: f64,
    pub rows: u64,
}

/// A row of the large result.
#[derive(Deserialize)]
pub struct BenchRow {
    pub id: i64,
    pub name: String,
    pub x: f64,
    pub flag: bool,
}

#[derive(Deserialize)]
pub struct BenchDoc {
    pub rows: Vec<BenchRow>,
}

pub fn decode_child(mode: &str, url: &str, token: &str, sql: &str) -> BoxResult<()> {
    let client = carto::blocking::Client::with_options(credentials(url, token)?, long_options())?;
    let sql_client = client.sql();
    let (mut cpu0, mut t0) = (cpu_seconds(), Instant::now());
    let mut rows = 0u64;
    let mut check = 0.0f64;
    let mut fold = |r: &BenchRow| {
        rows += 1;
        check += r.id as f64 + r.x + r.name.len() as f64 + f64::from(u8::from(r.flag));
    };
    match mode {
        "buffered" => {
            let response = sql_client.query::<BenchRow>(sql)?;
            response.rows.iter().for_each(&mut fold);
        }
        "streaming" => {
            for row in sql_client.query_rows::<BenchRow>(sql)? {
                fold(&row?);
            }
        }
        "arrow-json" | "arrow-copy" => {
            let options = carto::arrow::ArrowOptions::default();
            let batches = if mode == "arrow-json" {
                sql_client.query_arrow_with(sql, &options)?
            } else {
                client.copy().copy_to_arrow_with(sql, &options)?
            };
            for batch in batches {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                check += batch.num_columns() as f64;
            }
        }
        "read" => {
            let bytes = Bare::from_parts(url, token).sql_to_sink(sql)?;
            check = bytes as f64;
        }
        "parse" => {
            let body = Bare::from_parts(url, token).sql(sql)?;
            (cpu0, t0) = (cpu_seconds(), Instant::now());
            let doc: BenchDoc = serde_json::from_slice(&body)?;
            doc.rows.iter().for_each(&mut fold);
        }
        other => return Err(format!("unknown mode {other}").into()),
    }
    let measured = Measured {
        cpu: cpu_seconds() - cpu0,
        wall: t0.elapsed().as_secs_f64(),
        peak_mb: peak_rss_mb(),
        rows,
    };
    std::hint::black_box(check);
    println!("{}", serde_json::to_string(&measured)?);
    Ok(())
}

pub fn decode_in_child(mode: &str, served: &Served, sql: &str) -> BoxResult<Measured> {
    let out = Command::new(std::env::current_exe()?)
        .args(["decode", mode, &served.url, &served.token, sql])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("decode child ({mode}) failed").into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

pub const PYTHON_DECODE: &str = r#"
import resource, sys, time, warnings
warnings.filterwarnings("ignore")
from carto.auth import APIKeyAuthClient
from carto.sql import SQLClient
url, token, q = sys.argv[1], sys.argv[2], sys.argv[3]
client = SQLClient(APIKeyAuthClient(base_url=url, api_key=token))
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
c0, t0 = cpu(), time.time()
result = client.send(q)
n = len(result["rows"])
print('{"cpu": %f, "wall": %f, "peak_mb": %f, "rows": %d}' % (
    cpu() - c0, time.time() - t0,
    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, n))
"#;

/// The venv's python with the SDK installed, or why not.
pub fn python_sdk(args: &Args) -> Result<PathBuf, String> {
    if args.no_python {
        return Err("--no-python".into());
    }
    let python = args.venv.join("bin/python");
    let ready = |p: &Path| {
        Command::new(p)
            .args(["-c", "import carto.sql, pyrestcli"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    println!(
        "  creating the Python SDK's virtual environment in {}",
        args.venv.display()
    );
    let venv = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&args.venv)
        .status();
    if !venv.is_ok_and(|s| s.success()) {
        return Err("python3 -m venv failed (is python3 with venv installed?)".into());
    }
    let pip = Command::new(args.venv.join("bin/pip"))
        .args(["install", "-q", "carto==1.11.3", "pyrestcli==0.6.11"])
        .status();
    if !pip.is_ok_and(|s| s.success()) || !ready(&python) {
        return Err("pip install carto==1.11.3 pyrestcli==0.6.11 failed".into());
    }
    Ok(python)
}

pub fn python_decode(python: &Path, served: &Served, sql: &str) -> BoxResult<Measured> {
    let out = Command::new(python)
        .args(["-c", PYTHON_DECODE, &served.url, &served.token, sql])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err("the Python SDK run failed".into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

pub fn medians(runs: &[Measured]) -> Measured {
    Measured {
        cpu: median(runs.iter().map(|m| m.cpu).collect()),
        wall: median(runs.iter().map(|m| m.wall).collect()),
        peak_mb: median(runs.iter().map(|m| m.peak_mb).collect()),
        rows: runs.first().map_or(0, |m| m.rows),
    }
}

pub fn decode_comparison(args: &Args, served: &Served, report: &mut Report) -> BoxResult<()> {
    println!(
        "\n1. typed decode of {} rows (client process only)",
        args.rows
    );
    let sql = "SELECT id, name, x, flag FROM bench_rows";
    let python = python_sdk(args);
    if let Err(why) = &python {
        println!("  Python SDK skipped: {why}");
    }
    let (mut buffered, mut streaming, mut py) = (Vec::new(), Vec::new(), Vec::new());
    let (mut read, mut parse) = (Vec::new(), Vec::new());
    let (mut arrow_json, mut arrow_copy) = (Vec::new(), Vec::new());
    for _ in 0..args.runs.max(1) {
        buffered.push(decode_in_child("buffered", served, sql)?);
        streaming.push(decode_in_child("streaming", served, sql)?);
        read.push(decode_in_child("read", served, sql)?);
        parse.push(decode_in_child("parse", served, sql)?);
        arrow_json.push(decode_in_child("arrow-json", served, sql)?);
        arrow_copy.push(decode_in_child("arrow-copy", served, sql)?);
        if let Ok(python) = &python {
            py.push(python_decode(python, served, sql)?);
        }
    }
    let (b, s) = (medians(&buffered), medians(&streaming));
    println!(
        "  buffered: {:.3} s CPU, {:.3} s wall, {:.1} MiB peak, {} rows",
        b.cpu, b.wall, b.peak_mb, b.rows
    );
    println!(
        "  streaming: {:.3} s CPU, {:.3} s wall, {:.1} MiB peak",
        s.cpu, s.wall, s.peak_mb
    );
    let (r, f) = (medians(&read), medians(&parse));
    let (aj, ac) = (medians(&arrow_json), medians(&arrow_copy));
    for (what, m) in [("query_arrow (JSON)", aj), ("copy_to_arrow (COPY CSV)", ac)] {
        println!(
            "  Arrow batches, {what}: {:.3} s CPU, {:.3} s wall, {:.1} MiB peak, {} rows",
            m.cpu, m.wall, m.peak_mb, m.rows
        );
    }
    println!(
        "  floors: the body received by a bare ureq agent and dropped {:.3} s CPU; serde_json \
         decoding it from memory {:.3} s CPU",
        r.cpu, f.cpu
    );
    if !py.is_empty() {
        let p = medians(&py);
        println!(
            "  Python SDK: {:.3} s CPU, {:.3} s wall, {:.1} MiB peak, {} rows",
            p.cpu, p.wall, p.peak_mb, p.rows
        );
        for (what, m) in [
            ("Arrow batches, query_arrow (JSON) vs Python", aj),
            ("Arrow batches, copy_to_arrow (COPY CSV) vs Python", ac),
        ] {
            report.add(
                &format!("{what}, CPU"),
                format!("{:.3} s", m.cpu),
                format!("{:.3} s", p.cpu),
                m.cpu / p.cpu,
                "-",
            );
            report.add(
                &format!("{what}, peak RSS"),
                format!("{:.1} MiB", m.peak_mb),
                format!("{:.1} MiB", p.peak_mb),
                m.peak_mb / p.peak_mb,
                "-",
            );
        }
        for (what, floor) in [
            (
                "floor: body received (bare ureq) and dropped, CPU vs Python",
                r.cpu,
            ),
            (
                "floor: serde_json::from_slice of the body in memory, CPU vs Python",
                f.cpu,
            ),
            ("floor: the two together, CPU vs Python", r.cpu + f.cpu),
        ] {
            report.add(
                what,
                format!("{floor:.3} s"),
                format!("{:.3} s", p.cpu),
                floor / p.cpu,
                "-",
            );
        }
        report.add(
            "typed decode, client CPU (query vs Python SQLClient.send)",
            format!("{:.3} s", b.cpu),
            format!("{:.3} s", p.cpu),
            b.cpu / p.cpu,
            "<= 0.10",
        );
        report.add(
            "typed decode, peak RSS (query vs Python)",
            format!("{:.1} MiB", b.peak_mb),
            format!("{:.1} MiB", p.peak_mb),
            b.peak_mb / p.peak_mb,
            "<= 0.25",
        );
    }
    report.add(
        "typed decode, client CPU (query_rows vs query)",
        format!("{:.3} s", s.cpu),
        format!("{:.3} s", b.cpu),
        s.cpu / b.cpu,
        "<= 1.0",
    );
    report.add(
        "typed decode, peak RSS (query_rows vs query)",
        format!("{:.1} MiB", s.peak_mb),
        format!("{:.1} MiB", b.peak_mb),
        s.peak_mb / b.peak_mb,
        "-",
    );
    Ok(())
}
