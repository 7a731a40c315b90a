//! Measuring this process: CPU seconds, peak memory, threads, medians, and which tools
//! are installed.

use std::process::{Command, Stdio};
use std::time::Instant;

use crate::BoxResult;

/// Fields `first` and `first + 1` of `/proc/self/stat` (after the command name), in seconds
/// (clock ticks, 100 Hz), added.
pub fn stat_seconds(first: usize) -> f64 {
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
pub fn cpu_seconds() -> f64 {
    use nix::time::{ClockId, clock_gettime};
    clock_gettime(ClockId::CLOCK_PROCESS_CPUTIME_ID).map_or_else(
        |_| stat_seconds(11),
        |t| t.tv_sec() as f64 + t.tv_nsec() as f64 * 1e-9,
    )
}

/// CPU seconds (user + system) of the waited-for child processes of this process so far:
/// cutime (13) and cstime (14).
pub fn children_cpu_seconds() -> f64 {
    stat_seconds(13)
}

/// Peak resident set of this process (VmHWM), in MiB.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets VmHWM to the current RSS.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub fn median(mut v: Vec<f64>) -> f64 {
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

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Wall and CPU seconds of `n` calls of `f`.
pub fn timed(n: usize, mut f: impl FnMut() -> BoxResult<i32>) -> BoxResult<(f64, f64)> {
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    for _ in 0..n {
        if f()? != 1 {
            return Err("SELECT 1 did not answer 1".into());
        }
    }
    Ok((t0.elapsed().as_secs_f64(), cpu_seconds() - cpu0))
}

/// Threads of this process now.
pub fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count())
}
