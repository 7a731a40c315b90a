//! Dates and timestamps (`date`, `timestamp`, `timestamptz`), as JavaScript's `Date` prints
//! them in JSON.

use chrono::{NaiveDate, NaiveDateTime};

use super::json::write_json_str;

fn write_js_date(out: &mut String, dt: NaiveDateTime) {
    use chrono::{Datelike, Timelike};
    out.push_str(&format!(
        "\"{}-{:02}-{:02}T{:02}:{:02}:{:02}Z\"",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    ));
}

pub(super) fn parse_date(text: &str, tz: bool) -> Option<NaiveDateTime> {
    // `0044-03-15 BC` is the astronomical year -43, as JavaScript's Date holds it.
    if let Some(ad) = text.strip_suffix(" BC") {
        let (year, rest) = ad.split_at(ad.find('-')?);
        let astronomical = 1 - year.parse::<i32>().ok()?;
        let sign = if astronomical < 0 { "-" } else { "" };
        return parse_date(&format!("{sign}{:04}{rest}", astronomical.abs()), tz);
    }
    if tz {
        // `2020-02-29 12:34:56.789+01`, `+05:30`, `+05:30:15`
        let split = text.rfind(['+', '-']).filter(|&i| i > 10)?;
        let (local, offset) = text.split_at(split);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let mut parts = offset[1..].split(':').map(|p| p.parse::<i64>().ok());
        let h = parts.next()??;
        let m = parts.next().unwrap_or(Some(0))?;
        let s = parts.next().unwrap_or(Some(0))?;
        let local = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S%.f").ok()?;
        let secs = sign * (h * 3600 + m * 60 + s);
        return local.checked_sub_signed(chrono::TimeDelta::seconds(secs));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

pub(super) fn write_date(out: &mut String, text: &str, tz: bool) {
    match text {
        "infinity" => write_json_str(out, "Infinity"),
        "-infinity" => write_json_str(out, "-Infinity"),
        _ => match parse_date(text, tz) {
            Some(dt) => write_js_date(out, dt),
            None => write_json_str(out, text),
        },
    }
}
