//! Comparison 4: COPY TO / COPY FROM through the SDK against curl.

use std::io;
use std::process::Command;
use std::time::Instant;

use carto_test_support::emulator::served::Served;

use crate::BoxResult;
use crate::cli::Args;
use crate::client::{Bare, credentials, long_options};
use crate::measure::{
    children_cpu_seconds, cpu_seconds, have, median, peak_rss_mb, reset_peak_rss,
};
use crate::report::Report;

pub fn copy_comparison(
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
        copy.copy_to_writer(copy_to, &mut out)?;
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
                copy.copy_to_writer(copy_to, &mut io::sink())?;
                sdk_to.push((t0.elapsed().as_secs_f64(), cpu_seconds() - c0));
                bare.sql("TRUNCATE bench_copy")?;
                let (c0, t0) = (cpu_seconds(), Instant::now());
                copy.copy_from_path(copy_from, &file)?;
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
