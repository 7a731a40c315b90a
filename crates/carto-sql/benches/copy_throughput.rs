//! COPY throughput and client memory: moves `CARTO_BENCH_MB` megabytes (default 1024)
//! through COPY FROM and then COPY TO with the sync client (ureq) and the async client
//! (reqwest) against a CARTO emulator, and reports MB/s and the peak memory of the
//! client process for each run.
//!
//! ```text
//! cargo bench -p carto-sql --bench copy_throughput
//! CARTO_BENCH_MB=256 CARTO_BENCH_GZIP=1 cargo bench -p carto-sql --bench copy_throughput
//! ```
//!
//! The emulator (HTTP server + PostgreSQL) runs in a child process (this binary with
//! the argument `serve`), so the figures are those of the client alone: the peak
//! resident set (`VmHWM` of `/proc/self/status`, reset before each run through
//! `/proc/self/clear_refs`) and the peak of heap bytes allocated during the run (a
//! counting global allocator).

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use carto_core::{BaseUrl, Credentials, RequestContext};
use carto_sql::copy::{AsyncCopyClient, CopyClient, CopyFromOptions};
use carto_test_support::emulator::served;
use carto_transport::{ReqwestTransport, Transport, TransportConfig, UreqTransport};

#[global_allocator]
static ALLOCATOR: carto_test_support::alloc::Counting = carto_test_support::alloc::Counting;

const MB: f64 = 1024.0 * 1024.0;

/// Rows `id<TAB>payload<NL>` made as they are read, `len` bytes in all (the last row
/// complete, so slightly more).
struct Rows {
    left: u64,
    next_id: u64,
    buf: Vec<u8>,
    pos: usize,
}

impl Rows {
    fn new(len: u64) -> Self {
        Self {
            left: len,
            next_id: 0,
            buf: Vec::with_capacity(64 * 1024),
            pos: 0,
        }
    }

    fn refill(&mut self) {
        self.buf.clear();
        self.pos = 0;
        while self.left > 0 && self.buf.len() < 60 * 1024 {
            let before = self.buf.len();
            let id = self.next_id;
            self.next_id += 1;
            // ~100 bytes a row, varied enough to be realistic for gzip.
            let _ = writeln!(
                self.buf,
                "{id}\tname {id} of a long enough payload\t{}\t{:x}",
                id % 1000,
                id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            );
            let n = (self.buf.len() - before) as u64;
            self.left = self.left.saturating_sub(n);
        }
    }
}

impl Read for Rows {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            self.refill();
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Counts the bytes written to it.
#[derive(Default)]
struct Count(u64);

impl Write for Count {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl tokio::io::AsyncWrite for Count {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        self.0 += buf.len() as u64;
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Peak resident set of this process, in bytes.
fn vm_hwm() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resets the peak resident set to the current one (Linux: `5` in `clear_refs`).
fn reset_hwm() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

struct Run {
    client: &'static str,
    direction: &'static str,
    bytes: u64,
    elapsed: Duration,
    rss_peak: Option<u64>,
    heap_peak: usize,
}

fn measure(client: &'static str, direction: &'static str, f: impl FnOnce() -> u64) -> Run {
    reset_hwm();
    let start = Instant::now();
    let (bytes, heap_peak) = carto_test_support::alloc::peak_during(f);
    let elapsed = start.elapsed();
    let run = Run {
        client,
        direction,
        bytes,
        elapsed,
        rss_peak: vm_hwm(),
        heap_peak,
    };
    println!(
        "{:<14} {:<9} {:>8.1} MB in {:>6.1} s = {:>6.1} MB/s   peak RSS {:>6}   heap peak during run {:>7.2} MB",
        run.client,
        run.direction,
        run.bytes as f64 / MB,
        run.elapsed.as_secs_f64(),
        run.bytes as f64 / MB / run.elapsed.as_secs_f64(),
        run.rss_peak
            .map(|b| format!("{:.1} MB", b as f64 / MB))
            .unwrap_or_else(|| "n/a".into()),
        run.heap_peak as f64 / MB,
    );
    run
}

/// Runs SQL through the SQL API (setup only).
fn sql(transport: &UreqTransport, creds: &Credentials, q: &str) {
    let request = RequestContext::new(creds.clone())
        .request(http::Method::POST, &["api", "v2", "sql"])
        .form([("q", q)])
        .build()
        .expect("request");
    let response = transport.send(request).expect("SQL API");
    carto_core::endpoint::check_status(&response).unwrap_or_else(|e| panic!("{q}: {e}"));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; the child gets `serve`.
    if std::env::args().any(|a| a == "serve") {
        return served::serve("bench");
    }
    let mb: u64 = std::env::var("CARTO_BENCH_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let gzip: Option<u32> = std::env::var("CARTO_BENCH_GZIP")
        .ok()
        .and_then(|v| v.parse().ok());
    let size = mb * 1024 * 1024;

    let (mut child, served) = served::start(&["serve"])?;
    let creds = Credentials::new(BaseUrl::parse_allow_http(&served.url)?, served.token);
    println!(
        "COPY benchmark: {mb} MB each way per client, gzip {}, emulator in a child process",
        gzip.map(|l| format!("level {l}"))
            .unwrap_or_else(|| "off".into())
    );

    // Long transfers: no whole-request timeout.
    let config = TransportConfig::default().with_request_timeout(Duration::from_secs(24 * 3600));
    let ureq = UreqTransport::with_config(config.clone())?;
    sql(
        &ureq,
        &creds,
        "CREATE TABLE copy_bench (id bigint, name text, bucket int, hash text)",
    );
    let options = match gzip {
        Some(level) => CopyFromOptions::new().gzip(level),
        None => CopyFromOptions::new(),
    };
    let copy_in = "COPY copy_bench (id, name, bucket, hash) FROM STDIN";
    let copy_out = "COPY copy_bench TO STDOUT";
    let mut runs = Vec::new();

    let sync = CopyClient::from_credentials(ureq.clone(), creds.clone());
    runs.push(measure("sync (ureq)", "COPY FROM", || {
        let counted = CountingRead::new(Rows::new(size));
        let total = counted.total();
        sync.copy_from_with(copy_in, counted, &options)
            .expect("COPY FROM");
        total.load(Ordering::Relaxed) as u64
    }));
    runs.push(measure("sync (ureq)", "COPY TO", || {
        sync.copy_to_writer(copy_out, &mut Count::default())
            .expect("COPY TO")
    }));
    sql(&ureq, &creds, "TRUNCATE copy_bench");

    // CARTO_BENCH_RUNTIME=current-thread runs the async client on one thread.
    let runtime = if std::env::var("CARTO_BENCH_RUNTIME").as_deref() == Ok("current-thread") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
    };
    let reqwest = ReqwestTransport::with_config(config)?;
    let async_client = AsyncCopyClient::from_credentials(reqwest, creds.clone());
    runs.push(measure("async (reqwest)", "COPY FROM", || {
        runtime.block_on(async {
            let total = std::sync::Arc::new(AtomicUsize::new(0));
            let t = total.clone();
            let source = futures_util::stream::unfold(Rows::new(size), move |mut rows| {
                let t = t.clone();
                async move {
                    let mut buf = vec![0; 64 * 1024];
                    let n = rows.read(&mut buf).expect("rows");
                    t.fetch_add(n, Ordering::Relaxed);
                    (n > 0).then(|| {
                        buf.truncate(n);
                        (Ok::<_, io::Error>(Bytes::from(buf)), rows)
                    })
                }
            });
            async_client
                .copy_from_stream_with(copy_in, source, &options)
                .await
                .expect("COPY FROM");
            total.load(Ordering::Relaxed) as u64
        })
    }));
    runs.push(measure("async (reqwest)", "COPY TO", || {
        runtime.block_on(async {
            async_client
                .copy_to_writer(copy_out, &mut Count::default())
                .await
                .expect("COPY TO")
        })
    }));

    drop(child.stdin.take());
    let _ = child.wait();

    println!("\n| client | direction | MB | s | MB/s | peak RSS (MB) | heap peak (MB) |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for r in &runs {
        println!(
            "| {} | {} | {:.0} | {:.1} | {:.1} | {} | {:.2} |",
            r.client,
            r.direction,
            r.bytes as f64 / MB,
            r.elapsed.as_secs_f64(),
            r.bytes as f64 / MB / r.elapsed.as_secs_f64(),
            r.rss_peak
                .map(|b| format!("{:.1}", b as f64 / MB))
                .unwrap_or_else(|| "n/a".into()),
            r.heap_peak as f64 / MB
        );
    }
    Ok(())
}

/// Counts the bytes read from a source shared with the caller.
struct CountingRead<R> {
    inner: R,
    total: std::sync::Arc<AtomicUsize>,
}

impl<R> CountingRead<R> {
    fn new(inner: R) -> Self {
        Self {
            inner,
            total: std::sync::Arc::default(),
        }
    }

    fn total(&self) -> std::sync::Arc<AtomicUsize> {
        self.total.clone()
    }
}

impl<R: Read> Read for CountingRead<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.total.fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }
}
