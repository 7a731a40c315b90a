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
//! ```sh
//! cargo run --release -p carto-bench -- --runs 5
//! ```

use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use carto::sql::CopyFromOptions;
use carto::sql::copy::CopyToOptions;
use carto::{BaseUrl, ClientOptions, Credentials, QueryOptions, TransportConfig};
use carto_test_support::emulator::served::{self, Served};
use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

#[derive(Parser)]
#[command(about = "carto-rs benchmarks: SDK vs Python SDK, bare HTTP clients, pgbench, curl")]
struct Args {
    /// Runs of each measurement (the median is shown).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Rows of the large result.
    #[arg(long, default_value_t = 1_000_000)]
    rows: u64,
    /// Sequential `SELECT 1` requests per run of the per-request comparison.
    #[arg(long, default_value_t = 2000)]
    requests: usize,
    /// Seconds of each wrk / pgbench run.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Virtual environment for the Python SDK (created and filled with `pip` when missing).
    #[arg(long, default_value = "target/carto-bench-venv")]
    venv: PathBuf,
    /// Skip the Python SDK.
    #[arg(long)]
    no_python: bool,
    /// Run only these comparisons (repeatable; all when not given).
    #[arg(long, value_enum)]
    only: Vec<Section>,
    #[command(subcommand)]
    child: Option<ChildCmd>,
}

/// The four comparisons, for `--only`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Section {
    /// 1. the typed decode of the large result.
    Decode,
    /// 2. sequential `SELECT 1` requests against the bare HTTP clients.
    Requests,
    /// 3. the emulator against pgbench and psql.
    Emulator,
    /// 4. COPY against curl.
    Copy,
}

/// What the child processes of the bench do.
#[derive(Subcommand)]
enum ChildCmd {
    /// Starts an emulator, prints its [`Served`] line, serves until stdin closes.
    #[command(hide = true)]
    Serve,
    /// Decodes `sql` with the SDK (`buffered` or `streaming` rows, `arrow-json` or
    /// `arrow-copy` record batches), or measures a floor of that
    /// decode (`read`: the body received by a bare ureq agent and dropped; `parse`: only
    /// serde_json decoding the body, already in memory), and prints a [`Measured`] line.
    #[command(hide = true)]
    Decode {
        mode: String,
        url: String,
        token: String,
        sql: String,
    },
    /// Serves a fixed answer ([`FixedAnswer`], as JSON) to every request with a bare axum
    /// server, prints its address, serves until stdin closes: the HTTP ceiling of the
    /// emulator's SQL API.
    #[command(hide = true)]
    ServeFixed { answer: String },
}

/// One decode run: client CPU seconds and wall seconds of the call, peak RSS of the process.
#[derive(Serialize, Deserialize, Clone, Copy)]
struct Measured {
    cpu: f64,
    wall: f64,
    peak_mb: f64,
    rows: u64,
}

/// A row of the large result.
#[derive(Deserialize)]
struct BenchRow {
    id: i64,
    name: String,
    x: f64,
    flag: bool,
}

#[derive(Deserialize)]
struct One {
    #[serde(rename = "?column?")]
    one: i32,
}

#[derive(Deserialize)]
struct OneDoc {
    rows: Vec<One>,
}

/// The large result, for the floor of its decode (serde_json alone).
#[derive(Deserialize)]
struct BenchDoc {
    rows: Vec<BenchRow>,
}

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Fields `first` and `first + 1` of `/proc/self/stat` (after the command name), in seconds
/// (clock ticks, 100 Hz), added.
fn stat_seconds(first: usize) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, a)| a).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(first) + ticks(first + 1)) / 100.0
}

/// CPU seconds (user + system) of this process so far, every thread, to the nanosecond
/// (`CLOCK_PROCESS_CPUTIME_ID`; `/proc/self/stat` counts in 10 ms ticks), or utime (11)
/// and stime (12) of `/proc/self/stat` if the clock is missing.
fn cpu_seconds() -> f64 {
    use nix::time::{ClockId, clock_gettime};
    clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID).map_or_else(
        |_| stat_seconds(11),
        |t| t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9,
    )
}

/// CPU seconds (user + system) of the waited-for child processes of this process so far:
/// cutime (13) and cstime (14).
fn children_cpu_seconds() -> f64 {
    stat_seconds(13)
}

/// Peak resident set of this process (VmHWM), in MiB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets VmHWM to the current RSS.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The table of results.
#[derive(Default)]
struct Report {
    lines: Vec<[String; 6]>,
}

impl Report {
    fn add(&mut self, what: &str, ours: String, reference: String, ratio: f64, target: &str) {
        let ratio = if ratio.is_finite() {
            format!("{ratio:.2}")
        } else {
            "-".into()
        };
        let verdict = verdict(target, &ratio);
        let line = [
            what.to_owned(),
            ours,
            reference,
            ratio,
            target.to_owned(),
            verdict,
        ];
        println!("  {}", line.join(" | "));
        self.lines.push(line);
    }

    fn print(&self) {
        println!();
        println!("| what | carto-rs | reference | ratio | target | met |");
        println!("|---|---|---|---:|---|---|");
        for l in &self.lines {
            println!("| {} |", l.join(" | "));
        }
    }
}

/// `yes`/`no` for a target of the form `<= x` or `>= x`.
fn verdict(target: &str, ratio: &str) -> String {
    let Ok(r) = ratio.parse::<f64>() else {
        return "-".into();
    };
    let parse = |s: &str| s.trim().parse::<f64>().ok();
    let met = if let Some(t) = target.strip_prefix("<=").and_then(parse) {
        r <= t
    } else if let Some(t) = target.strip_prefix(">=").and_then(parse) {
        r >= t
    } else {
        return "-".into();
    };
    if met { "yes" } else { "no" }.into()
}

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

// ---------------------------------------------------------------------------------------
// The emulator child (carto_test_support::emulator::served) and clients of it.

fn credentials(url: &str, token: &str) -> BoxResult<Credentials> {
    Ok(Credentials::new(
        BaseUrl::parse_allow_http(url)?,
        token.to_owned(),
    ))
}

fn long_options() -> ClientOptions {
    ClientOptions::new().transport(
        TransportConfig::default()
            .request_timeout(Duration::from_secs(3600))
            .read_timeout(Duration::from_secs(600)),
    )
}

// ---------------------------------------------------------------------------------------
// 1. Typed decode of the large result.

fn decode_child(mode: &str, url: &str, token: &str, sql: &str) -> BoxResult<()> {
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
            for row in sql_client.query_rows::<BenchRow>(sql, &QueryOptions::default())? {
                fold(&row?);
            }
        }
        "arrow-json" | "arrow-copy" => {
            let options = carto::arrow::ArrowOptions::default();
            let batches = if mode == "arrow-json" {
                sql_client.query_arrow(sql, &options)?
            } else {
                client.copy().copy_to_arrow(sql, &options)?
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

fn decode_in_child(mode: &str, served: &Served, sql: &str) -> BoxResult<Measured> {
    let out = Command::new(std::env::current_exe()?)
        .args(["decode", mode, &served.url, &served.token, sql])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err(format!("decode child ({mode}) failed").into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

const PYTHON_DECODE: &str = r#"
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
fn python_sdk(args: &Args) -> Result<PathBuf, String> {
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

fn python_decode(python: &Path, served: &Served, sql: &str) -> BoxResult<Measured> {
    let out = Command::new(python)
        .args(["-c", PYTHON_DECODE, &served.url, &served.token, sql])
        .stderr(Stdio::inherit())
        .output()?;
    if !out.status.success() {
        return Err("the Python SDK run failed".into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn medians(runs: &[Measured]) -> Measured {
    Measured {
        cpu: median(runs.iter().map(|m| m.cpu).collect()),
        wall: median(runs.iter().map(|m| m.wall).collect()),
        peak_mb: median(runs.iter().map(|m| m.peak_mb).collect()),
        rows: runs.first().map_or(0, |m| m.rows),
    }
}

fn decode_comparison(args: &Args, served: &Served, report: &mut Report) -> BoxResult<()> {
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

// ---------------------------------------------------------------------------------------
// 2. Per-request overhead.

/// Bare HTTP clients sending what the SDK sends for `SELECT 1`: a form POST with the key in a
/// Basic header.
struct Bare {
    url: String,
    auth: String,
    ureq: ureq::Agent,
}

impl Bare {
    fn new(served: &Served) -> Self {
        Self::from_parts(&served.url, &served.token)
    }

    fn from_parts(url: &str, token: &str) -> Self {
        let base = BaseUrl::parse_allow_http(url).expect("emulator URL");
        let user = base.username().to_owned();
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{token}"))
        );
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build();
        Self {
            url: format!("{}/api/v2/sql", url.trim_end_matches('/')),
            auth,
            ureq: ureq::Agent::new_with_config(config),
        }
    }

    /// Runs `q` and returns the body (an error for a non-2xx status).
    fn sql(&self, q: &str) -> BoxResult<Vec<u8>> {
        let mut response = self
            .ureq
            .post(&self.url)
            .header("Authorization", &self.auth)
            .send_form([("q", q)])?;
        let body = response
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()?;
        if !response.status().is_success() {
            return Err(format!("{q}: {}", String::from_utf8_lossy(&body)).into());
        }
        Ok(body)
    }

    /// Runs `q` and drops its body as it arrives: the bytes received.
    fn sql_to_sink(&self, q: &str) -> BoxResult<u64> {
        let mut response = self
            .ureq
            .post(&self.url)
            .header("Authorization", &self.auth)
            .send_form([("q", q)])?;
        if !response.status().is_success() {
            return Err(format!("{q}: status {}", response.status()).into());
        }
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        Ok(std::io::copy(&mut reader, &mut std::io::sink())?)
    }

    fn select1(&self) -> BoxResult<i32> {
        let doc: OneDoc = serde_json::from_slice(&self.sql("SELECT 1")?)?;
        Ok(doc.rows.first().map_or(0, |r| r.one))
    }
}

/// Wall and CPU seconds of `n` calls of `f`.
fn timed(n: usize, mut f: impl FnMut() -> BoxResult<i32>) -> BoxResult<(f64, f64)> {
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    for _ in 0..n {
        if f()? != 1 {
            return Err("SELECT 1 did not answer 1".into());
        }
    }
    Ok((t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0))
}

/// Threads of this process now.
fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}

fn request_comparison(
    args: &Args,
    served: &Served,
    bare: &Bare,
    report: &mut Report,
) -> BoxResult<()> {
    let n = args.requests;
    println!("\n2. {n} sequential SELECT 1 per run");
    let creds = credentials(&served.url, &served.token)?;
    let blocking = carto::blocking::Client::new(creds.clone())?;
    let sql = blocking.sql();
    let sdk = || -> BoxResult<i32> {
        let r = sql.query::<One>("SELECT 1")?;
        Ok(r.rows.first().map_or(0, |r| r.one))
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let async_client = carto::Client::new(creds)?;
    let async_sql = async_client.sql();
    let reqwest = reqwest::Client::new();
    let bare_reqwest = || -> BoxResult<i32> {
        rt.block_on(async {
            let body = reqwest
                .post(&bare.url)
                .header("Authorization", &bare.auth)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body("q=SELECT+1")
                .send()
                .await?
                .bytes()
                .await?;
            let doc: OneDoc = serde_json::from_slice(&body)?;
            Ok(doc.rows.first().map_or(0, |r| r.one))
        })
    };
    let async_sdk = || -> BoxResult<i32> {
        rt.block_on(async {
            let r = async_sql.query::<One>("SELECT 1").await?;
            Ok(r.rows.first().map_or(0, |r| r.one))
        })
    };
    // Warm up every client's connection.
    sdk()?;
    bare.select1()?;
    async_sdk()?;
    bare_reqwest()?;
    let threads_before = threads();
    let mut m: [Vec<(f64, f64)>; 4] = Default::default();
    for run in 0..args.runs.max(1) {
        // Alternate the order, so neither side always runs on a warmer machine.
        if run % 2 == 0 {
            m[0].push(timed(n, sdk)?);
            m[1].push(timed(n, || bare.select1())?);
            m[2].push(timed(n, async_sdk)?);
            m[3].push(timed(n, bare_reqwest)?);
        } else {
            m[1].push(timed(n, || bare.select1())?);
            m[0].push(timed(n, sdk)?);
            m[3].push(timed(n, bare_reqwest)?);
            m[2].push(timed(n, async_sdk)?);
        }
    }
    let threads_after = threads();
    let med = |v: &[(f64, f64)]| {
        (
            median(v.iter().map(|x| x.0).collect()),
            median(v.iter().map(|x| x.1).collect()),
        )
    };
    let names = [
        "blocking::Client (ureq)",
        "bare ureq agent",
        "Client (reqwest)",
        "bare reqwest client",
    ];
    let figures: Vec<(f64, f64)> = m.iter().map(|v| med(v)).collect();
    for (name, (wall, cpu)) in names.iter().zip(&figures) {
        println!(
            "  {name}: {wall:.3} s wall, {cpu:.3} s CPU ({:.0} µs/request)",
            wall / n as f64 * 1e6
        );
    }
    println!(
        "  threads of the bench process: {threads_before} before the runs, {threads_after} after"
    );
    for (sdk_i, bare_i, label) in [(0, 1, "blocking (ureq)"), (2, 3, "async (reqwest)")] {
        let (sw, sc) = figures[sdk_i];
        let (bw, bc) = figures[bare_i];
        report.add(
            &format!("{n} x SELECT 1, wall, {label} vs bare"),
            format!("{sw:.3} s"),
            format!("{bw:.3} s"),
            sw / bw,
            "<= 1.05",
        );
        report.add(
            &format!("{n} x SELECT 1, client CPU, {label} vs bare"),
            format!("{sc:.3} s"),
            format!("{bc:.3} s"),
            sc / bc,
            "-",
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 3. The emulator against PostgreSQL.

/// One measured wrk run.
#[derive(Clone, Copy)]
struct WrkRun {
    rps: f64,
    p50: f64,
    p99: f64,
    /// Requests answered in the measured run.
    requests: f64,
    /// CPU seconds (user + system) the server process `pid` took during the measured run.
    server_cpu: Option<f64>,
}

/// CPU seconds (user + system) of process `pid` so far (fields 14 and 15 of
/// `/proc/<pid>/stat`, clock ticks at 100 Hz); `None` when it cannot be read.
fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// wrk's requests/s, p50 and p99 (ms), after a 2 s warm-up run (so the first logins of a
/// role's sessions are not in the measured run); with `pid`, the CPU that process took
/// during the measured run.
fn wrk(
    args: &Args,
    url: &str,
    auth: Option<&str>,
    script: &Path,
    pid: Option<u32>,
) -> BoxResult<WrkRun> {
    let run = |seconds: u64| {
        let mut cmd = Command::new("wrk");
        cmd.args(["-t2", "-c16", &format!("-d{seconds}s"), "--latency", "-s"])
            .arg(script);
        if let Some(auth) = auth {
            cmd.args(["-H", &format!("Authorization: {auth}")]);
        }
        cmd.arg(url).stderr(Stdio::inherit()).output()
    };
    run(2)?;
    let cpu0 = pid.and_then(process_cpu_seconds);
    let out = run(args.seconds)?;
    let cpu1 = pid.and_then(process_cpu_seconds);
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or("no Requests/sec in wrk's output")?;
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    let ms = |label: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(label))
            .and_then(|v| {
                let v = v.trim();
                let (num, unit) =
                    v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
                let num: f64 = num.parse().ok()?;
                Some(match unit {
                    "us" => num / 1000.0,
                    "s" => num * 1000.0,
                    _ => num,
                })
            })
            .unwrap_or(f64::NAN)
    };
    let non2xx = text.contains("Non-2xx");
    if non2xx {
        println!("  wrk saw non-2xx answers:\n{text}");
    }
    Ok(WrkRun {
        rps,
        p50: ms("50%"),
        p99: ms("99%"),
        requests,
        server_cpu: cpu0.zip(cpu1).map(|(a, b)| b - a),
    })
}

/// The emulator's answer to one SQL API request, replayed by [`serve_fixed`]: status,
/// headers as sent (but `date`, which hyper writes, and the framing headers) and body.
#[derive(Serialize, Deserialize)]
struct FixedAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
    /// Sent as one chunk of a chunked body, as the emulator streams its answers.
    chunked: bool,
}

/// The emulator's answer to `SELECT 1` (the request wrk sends), as [`FixedAnswer`].
fn capture_answer(bare: &Bare) -> BoxResult<FixedAnswer> {
    let mut response = bare
        .ureq
        .post(&bare.url)
        .header("Authorization", &bare.auth)
        .send_form([("q", "SELECT 1")])?;
    let chunked = response
        .headers()
        .get("transfer-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let headers = response
        .headers()
        .iter()
        .filter(|(name, _)| {
            !matches!(
                name.as_str(),
                "date" | "transfer-encoding" | "content-length" | "connection"
            )
        })
        .filter_map(|(name, value)| {
            Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned()))
        })
        .collect();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string()?;
    Ok(FixedAnswer {
        status,
        headers,
        body,
        chunked,
    })
}

/// The `serve-fixed` child: a bare axum server on a tokio runtime like the emulator's (two
/// workers) that reads each request's body and answers `answer`; no PostgreSQL.
fn serve_fixed(answer: &str) -> BoxResult<()> {
    use axum::body::{Body, Bytes};
    use axum::http::{HeaderName, HeaderValue, StatusCode};
    let answer: FixedAnswer = serde_json::from_str(answer)?;
    let status = StatusCode::from_u16(answer.status)?;
    let mut headers = axum::http::HeaderMap::new();
    for (name, value) in &answer.headers {
        headers.append(
            HeaderName::from_bytes(name.as_bytes())?,
            HeaderValue::from_str(value)?,
        );
    }
    let body = Bytes::from(answer.body);
    let chunked = answer.chunked;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    println!("http://{}/api/v2/sql", listener.local_addr()?);
    io::stdout().flush()?;
    let handler = move |request: axum::extract::Request| {
        let (headers, body) = (headers.clone(), body.clone());
        async move {
            // Read the request as the emulator does, then answer.
            let _ = axum::body::to_bytes(request.into_body(), 1 << 20).await;
            let body = if chunked {
                Body::from_stream(futures_util::stream::once(async move {
                    Ok::<_, std::io::Error>(body)
                }))
            } else {
                Body::from(body)
            };
            let mut response = axum::response::Response::new(body);
            *response.status_mut() = status;
            *response.headers_mut() = headers;
            response
        }
    };
    let app = axum::Router::new().fallback(handler);
    runtime.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let mut sink = Vec::new();
    let _ = io::stdin().read_to_end(&mut sink);
    drop(runtime);
    Ok(())
}

/// Starts the `serve-fixed` child: the child and its URL.
fn start_fixed(answer: &FixedAnswer) -> BoxResult<(Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .arg("serve-fixed")
        .arg(serde_json::to_string(answer)?)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut line = String::new();
    io::BufReader::new(child.stdout.take().ok_or("no stdout")?).read_line(&mut line)?;
    if !line.starts_with("http://") {
        return Err("the fixed-answer server did not start".into());
    }
    Ok((child, line.trim().to_owned()))
}

/// pgbench's tps (without connection time) and average latency (ms).
fn pgbench(args: &Args, served: &Served, script: &Path) -> BoxResult<(f64, f64)> {
    let out = Command::new("pgbench")
        .args(["-n", "-c16", "-j2", &format!("-T{}", args.seconds), "-f"])
        .arg(script)
        .args(["-h", &served.pg_host, "-p", &served.pg_port.to_string()])
        .args(["-U", &served.pg_user, "postgres"])
        .env("PGPASSWORD", &served.pg_password)
        .stderr(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps =") && !l.contains("including"))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse::<f64>().ok())
        .ok_or_else(|| format!("no tps in pgbench's output: {text}"))?;
    let latency = text
        .lines()
        .find_map(|l| l.strip_prefix("latency average ="))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    Ok((tps, latency))
}

fn emulator_comparison(
    args: &Args,
    served: &Served,
    bare: &Bare,
    report: &mut Report,
) -> BoxResult<()> {
    println!("\n3. the emulator against PostgreSQL");
    let dir = std::env::temp_dir().join(format!("carto-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let lua = dir.join("post.lua");
    std::fs::write(
        &lua,
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\nwrk.body = \"q=SELECT%201\"\n",
    )?;
    let select1 = dir.join("select1.sql");
    std::fs::write(&select1, "SELECT 1;\n")?;
    let (has_wrk, has_pgbench) = (have("wrk"), have("pgbench"));
    if !has_wrk {
        println!("  wrk not installed: the load comparison is skipped");
    }
    if !has_pgbench {
        println!("  pgbench not installed: the load comparison is skipped");
    }
    if has_wrk && has_pgbench {
        let reset = dir.join("select1_discard.sql");
        std::fs::write(&reset, "SELECT 1;\nDISCARD ALL;\n")?;
        let (mut fixed, url) = start_fixed(&capture_answer(bare)?)?;
        let fixed_pid = fixed.id();
        let emulator_pid = (served.pid != 0).then_some(served.pid);
        let (mut master, mut public, mut pg) = (Vec::new(), Vec::new(), Vec::new());
        let (mut http, mut pg_reset) = (Vec::new(), Vec::new());
        let mut runs = || -> BoxResult<()> {
            for _ in 0..args.runs.max(1) {
                master.push(wrk(args, &bare.url, Some(&bare.auth), &lua, emulator_pid)?);
                public.push(wrk(args, &bare.url, None, &lua, emulator_pid)?);
                pg.push(pgbench(args, served, &select1)?);
                http.push(wrk(args, &url, Some(&bare.auth), &lua, Some(fixed_pid))?);
                pg_reset.push(pgbench(args, served, &reset)?);
            }
            Ok(())
        };
        let result = runs();
        drop(fixed.stdin.take());
        let _ = fixed.wait();
        result?;
        let tps = median(pg.iter().map(|p| p.0).collect());
        let pg_lat = median(pg.iter().map(|p| p.1).collect());
        println!("  pgbench SELECT 1, 16 clients: {tps:.0} tps, {pg_lat:.2} ms average latency");
        // CPU microseconds per request of the serving process, when it could be read.
        let cpu_us = |v: &[WrkRun]| {
            let per: Vec<f64> = v
                .iter()
                .filter_map(|r| r.server_cpu.map(|c| c * 1e6 / r.requests))
                .filter(|x| x.is_finite())
                .collect();
            (!per.is_empty()).then(|| median(per))
        };
        for (label, v) in [("master key", &master), ("Default public key", &public)] {
            let rps = median(v.iter().map(|x| x.rps).collect());
            let p50 = median(v.iter().map(|x| x.p50).collect());
            let p99 = median(v.iter().map(|x| x.p99).collect());
            let cpu = cpu_us(v).map_or(String::new(), |us| {
                format!(", emulator CPU {us:.0} µs/request")
            });
            println!(
                "  wrk SELECT 1, 16 connections, {label}: {rps:.0} req/s, p50 {p50:.2} ms, p99 {p99:.2} ms{cpu}"
            );
            report.add(
                &format!("emulator SELECT 1 at 16 connections, {label} vs pgbench"),
                format!("{rps:.0} req/s (p99 {p99:.1} ms)"),
                format!("{tps:.0} tps"),
                rps / tps,
                ">= 0.50",
            );
        }
        // The two ceilings: the emulator's HTTP side alone, its PostgreSQL side alone.
        let http_rps = median(http.iter().map(|x| x.rps).collect());
        let http_p99 = median(http.iter().map(|x| x.p99).collect());
        let http_cpu = cpu_us(&http).map_or(String::new(), |us| {
            format!(", server CPU {us:.0} µs/request")
        });
        println!(
            "  ceiling, HTTP alone (bare axum, the emulator's SELECT 1 answer, no PostgreSQL): {http_rps:.0} req/s, p99 {http_p99:.2} ms{http_cpu}"
        );
        report.add(
            "reference: HTTP alone (bare axum, same answer) vs pgbench",
            format!("{http_rps:.0} req/s (p99 {http_p99:.1} ms)"),
            format!("{tps:.0} tps"),
            http_rps / tps,
            "-",
        );
        let reset_tps = median(pg_reset.iter().map(|p| p.0).collect());
        let reset_lat = median(pg_reset.iter().map(|p| p.1).collect());
        println!(
            "  ceiling, PostgreSQL with the reset (pgbench SELECT 1; DISCARD ALL;): {reset_tps:.0} tps, {reset_lat:.2} ms average latency"
        );
        report.add(
            "reference: pgbench SELECT 1 + DISCARD ALL vs pgbench SELECT 1",
            format!("{reset_tps:.0} tps"),
            format!("{tps:.0} tps"),
            reset_tps / tps,
            "-",
        );
        // On shared cores the two sides' CPU per request adds up: the rate with both is at
        // most about the harmonic combination of the two ceilings.
        let both = 1.0 / (1.0 / http_rps + 1.0 / reset_tps);
        println!(
            "  the two together (1 / (1/HTTP + 1/PostgreSQL with the reset)): {both:.0} req/s, {:.2} of pgbench SELECT 1",
            both / tps
        );
        report.add(
            "reference: harmonic of the two ceilings vs pgbench",
            format!("{both:.0} req/s"),
            format!("{tps:.0} tps"),
            both / tps,
            "-",
        );
    }
    if have("curl") && have("psql") {
        let db = String::from_utf8_lossy(&bare.sql("SELECT current_database() AS db")?).to_string();
        let db: serde_json::Value = serde_json::from_str(&db)?;
        let db = db["rows"][0]["db"]
            .as_str()
            .ok_or("no database name")?
            .to_owned();
        let (mut json, mut copy) = (Vec::new(), Vec::new());
        for _ in 0..args.runs.max(1) {
            let t0 = Instant::now();
            let status = Command::new("curl")
                .args([
                    "-sf",
                    "-o",
                    "/dev/null",
                    "-H",
                    &format!("Authorization: {}", bare.auth),
                ])
                .args([
                    "--data-urlencode",
                    "q=SELECT id, name, x, flag FROM bench_rows",
                ])
                .arg(&bare.url)
                .status()?;
            if !status.success() {
                return Err("curl of the JSON result failed".into());
            }
            json.push(t0.elapsed().as_secs_f64());
            let t0 = Instant::now();
            let status = Command::new("psql")
                .args(["-h", &served.pg_host, "-p", &served.pg_port.to_string()])
                .args(["-U", &served.pg_user, "-d", &db, "-q", "-c"])
                .arg("COPY (SELECT id, name, x, flag FROM bench_rows) TO STDOUT")
                .env("PGPASSWORD", &served.pg_password)
                .stdout(Stdio::null())
                .status()?;
            if !status.success() {
                return Err("psql COPY failed".into());
            }
            copy.push(t0.elapsed().as_secs_f64());
        }
        let (j, c) = (median(json), median(copy));
        report.add(
            &format!(
                "emulator JSON of {} rows (curl) vs psql COPY TO STDOUT",
                args.rows
            ),
            format!("{j:.3} s"),
            format!("{c:.3} s"),
            j / c,
            "<= 2.0",
        );
    } else {
        println!("  curl or psql not installed: the JSON output comparison is skipped");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// 4. COPY against curl.

fn copy_comparison(
    args: &Args,
    served: &Served,
    bare: &Bare,
    report: &mut Report,
) -> BoxResult<()> {
    println!(
        "\n4. COPY TO / COPY FROM of {} rows against curl",
        args.rows
    );
    if !have("curl") {
        println!("  curl not installed: skipped");
        return Ok(());
    }
    let client = carto::blocking::Client::with_options(
        credentials(&served.url, &served.token)?,
        long_options(),
    )?;
    let copy = client.copy();
    let copy_to = "COPY (SELECT id, name, x, flag FROM bench_rows) TO STDOUT";
    let copy_from = "COPY bench_copy (id, name, x, flag) FROM STDIN";
    let file = std::env::temp_dir().join(format!("carto-bench-{}.tsv", std::process::id()));
    {
        let mut out = std::fs::File::create(&file)?;
        copy.copy_to_writer(copy_to, &mut out, &CopyToOptions::new())?;
    }
    let mb = std::fs::metadata(&file)?.len() as f64 / (1024.0 * 1024.0);
    let base = served.url.trim_end_matches('/');
    let to_url = format!("{base}/api/v2/sql/copyto");
    let from_url = format!("{base}/api/v2/sql/copyfrom");
    // Wall and CPU seconds of each run; SDK and curl take turns going first, so that a
    // drift of the shared machine's load weighs on both.
    let (mut sdk_to, mut curl_to, mut sdk_from, mut curl_from) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut peak_growth: f64 = 0.0;
    let curl_to_cmd = || {
        let mut c = Command::new("curl");
        c.args([
            "-sf",
            "-o",
            "/dev/null",
            "-G",
            "-H",
            &format!("Authorization: {}", bare.auth),
        ])
        .args(["--data-urlencode", &format!("q={copy_to}")])
        .arg(&to_url);
        c
    };
    let curl_from_cmd = || {
        let mut c = Command::new("curl");
        c.args([
            "-sf",
            "-o",
            "/dev/null",
            "-X",
            "POST",
            "-H",
            &format!("Authorization: {}", bare.auth),
        ])
        .args(["-H", "Content-Type: application/octet-stream", "-T"])
        .arg(&file)
        .arg(format!(
            "{from_url}?q={}",
            copy_from
                .replace(' ', "%20")
                .replace('(', "%28")
                .replace(')', "%29")
                .replace(',', "%2C")
        ));
        c
    };
    let timed_curl = |mut cmd: Command| -> BoxResult<(f64, f64)> {
        let (c0, t0) = (children_cpu_seconds(), Instant::now());
        let status = cmd.status()?;
        if !status.success() {
            return Err("curl failed".into());
        }
        Ok((t0.elapsed().as_secs_f64(), children_cpu_seconds() - c0))
    };
    for run in 0..args.runs.max(1) {
        for turn in 0..2 {
            if (run + turn) % 2 == 0 {
                reset_peak_rss();
                let before = peak_rss_mb();
                let (c0, t0) = (cpu_seconds(), Instant::now());
                copy.copy_to_writer(copy_to, &mut io::sink(), &CopyToOptions::new())?;
                sdk_to.push((t0.elapsed().as_secs_f64(), cpu_seconds() - c0));
                bare.sql("TRUNCATE bench_copy")?;
                let (c0, t0) = (cpu_seconds(), Instant::now());
                copy.copy_from_path(copy_from, &file, &CopyFromOptions::new())?;
                sdk_from.push((t0.elapsed().as_secs_f64(), cpu_seconds() - c0));
                peak_growth = peak_growth.max(peak_rss_mb() - before);
            } else {
                curl_to.push(timed_curl(curl_to_cmd())?);
                bare.sql("TRUNCATE bench_copy")?;
                curl_from.push(timed_curl(curl_from_cmd())?);
            }
            bare.sql("TRUNCATE bench_copy")?;
        }
    }
    let _ = std::fs::remove_file(&file);
    println!(
        "  {mb:.1} MiB each way; peak RSS growth of the bench process during the SDK's COPY: {peak_growth:.1} MiB"
    );
    for (label, sdk, curl) in [
        ("COPY TO", sdk_to, curl_to),
        ("COPY FROM", sdk_from, curl_from),
    ] {
        let wall = |v: &[(f64, f64)]| median(v.iter().map(|m| m.0).collect());
        let cpu = |v: &[(f64, f64)]| median(v.iter().map(|m| m.1).collect());
        let (s, c) = (wall(&sdk), wall(&curl));
        report.add(
            &format!("{label} {mb:.0} MiB, sync client vs curl (wall)"),
            format!("{s:.3} s ({:.0} MiB/s)", mb / s),
            format!("{c:.3} s ({:.0} MiB/s)", mb / c),
            s / c,
            "<= 1.0",
        );
        let (s, c) = (cpu(&sdk), cpu(&curl));
        report.add(
            &format!("{label} {mb:.0} MiB, client CPU, sync client vs curl"),
            format!("{s:.3} s"),
            format!("{c:.3} s"),
            s / c,
            "-",
        );
    }
    Ok(())
}
