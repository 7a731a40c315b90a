//! Intervals (`interval`), as the `postgres-interval` package reads them.

use super::number::write_js_number;

/// Parses PostgreSQL's `postgres`-style interval output like the `postgres-interval` package:
/// non-zero parts only, in the order years, months, days, hours, minutes, seconds, milliseconds.
pub(super) fn interval_parts(text: &str) -> Vec<(&'static str, f64)> {
    let mut out = Vec::new();
    let mut words = text.split_whitespace().peekable();
    while let Some(w) = words.next() {
        if w.contains(':') {
            let (neg, t) = match w.as_bytes().first() {
                Some(b'-') => (true, &w[1..]),
                Some(b'+') => (false, &w[1..]),
                _ => (false, w),
            };
            let sign = if neg { -1.0 } else { 1.0 };
            let mut it = t.split(':');
            let h = it.next().and_then(|v| {
                if v.is_empty() {
                    Some(0.0)
                } else {
                    v.parse().ok()
                }
            });
            let m = it.next().and_then(|v| v.parse::<f64>().ok());
            let sec = it.next().unwrap_or("0");
            let (s, frac) = sec.split_once('.').unwrap_or((sec, ""));
            let s = s.parse::<f64>().ok();
            for (name, v) in [("hours", h), ("minutes", m), ("seconds", s)] {
                if let Some(v) = v.filter(|v| *v != 0.0) {
                    out.push((name, sign * v));
                }
            }
            if !frac.is_empty() {
                let micros = format!("{:0<6}", &frac[..frac.len().min(6)]);
                if let Ok(us) = micros.parse::<f64>() {
                    if us != 0.0 {
                        out.push(("milliseconds", sign * us / 1000.0));
                    }
                }
            }
            continue;
        }
        let Ok(n) = w.parse::<f64>() else { continue };
        let unit = words.next().unwrap_or("");
        let name = if unit.starts_with("year") {
            "years"
        } else if unit.starts_with("mon") {
            "months"
        } else if unit.starts_with("day") {
            "days"
        } else {
            continue;
        };
        if n != 0.0 {
            out.push((name, n));
        }
    }
    out
}

/// Appends an interval as an object of its non-zero parts (`{"days":1,"hours":2}`).
pub(super) fn write_interval(out: &mut String, text: &str) {
    out.push('{');
    for (i, (name, v)) in interval_parts(text).into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("\"{name}\":"));
        write_js_number(out, v);
    }
    out.push('}');
}
