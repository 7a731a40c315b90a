//! Text values from PostgreSQL to the JSON the SQL API writes.
//!
//! The SQL API reads rows in PostgreSQL's text format and runs node-postgres' type parsers
//! (with CARTO's overrides) before `JSON.stringify`; this module does the same from the text
//! values of the simple query protocol. Numbers are printed the way JavaScript prints them.

use chrono::{NaiveDate, NaiveDateTime};

/// How a column's text values become JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Conv {
    /// `t`/`f` to `true`/`false`.
    Bool,
    /// parseInt / parseFloat: a JSON number; `NaN` and infinities become strings.
    Number,
    /// A JSON string of the text as it is.
    Text,
    /// `date`, `timestamp`: `YYYY-MM-DDTHH:MM:SSZ` (the server runs in UTC).
    Date,
    /// `timestamptz`: converted to UTC, then as [`Conv::Date`].
    DateTz,
    /// `json`, `jsonb`: embedded.
    Json,
    /// `bytea`: `{"type":"Buffer","data":[...]}`.
    Bytea,
    /// `interval`: `{"days":1,"hours":2,...}`.
    Interval,
    /// `point`: `{"x":..,"y":..}`.
    Point,
    /// `circle`: `{"x":..,"y":..,"radius":..}`.
    Circle,
    /// An array whose elements are converted with the inner conversion.
    Array(Box<Conv>),
}

impl Conv {
    /// The conversion node-postgres applies to a type OID (text format); anything it has no
    /// parser for stays a string.
    pub(crate) fn for_oid(oid: u32) -> Conv {
        use Conv::*;
        match oid {
            16 => Bool,
            20 | 21 | 23 | 26 | 700 | 701 | 1700 => Number,
            1082 | 1114 => Date,
            1184 => DateTz,
            114 | 3802 => Json,
            17 => Bytea,
            1186 => Interval,
            600 => Point,
            718 => Circle,
            1000 => Array(Box::new(Bool)),
            1005 | 1007 | 1016 | 1021 | 1022 | 1028 | 1231 => Array(Box::new(Number)),
            1001 => Array(Box::new(Bytea)),
            1017 => Array(Box::new(Point)),
            1115 | 1182 => Array(Box::new(Date)),
            1185 => Array(Box::new(DateTz)),
            1187 => Array(Box::new(Interval)),
            199 | 3807 => Array(Box::new(Json)),
            1002 | 1008 | 1009 | 1014 | 1015 | 1040 | 1041 | 651 | 2951 | 791 | 1183 | 1270
            | 1263 => Array(Box::new(Text)),
            _ => Text,
        }
    }
}

/// Appends `s` as a JSON string, escaped as `JSON.stringify` does.
pub(crate) fn write_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0x08 => Some("\\b"),
            0x0c => Some("\\f"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => out.push_str(&format!("\\u{b:04x}")),
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// A fixed buffer for formatting a number without allocating.
struct StackBuf {
    buf: [u8; 64],
    len: usize,
}

impl StackBuf {
    fn new() -> Self {
        Self {
            buf: [0; 64],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // Only `write_str` fills it, with whole `&str`s.
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Appends a finite number the way JavaScript's `Number.prototype.toString` prints it.
pub(crate) fn write_js_number(out: &mut String, f: f64) {
    use std::fmt::Write as _;
    if !f.is_finite() {
        out.push_str("null");
        return;
    }
    if f == 0.0 {
        out.push('0');
        return;
    }
    // `{:e}` gives the shortest round-trip digits: "-1.2345e-7".
    let mut sci = StackBuf::new();
    if write!(sci, "{:e}", f.abs()).is_err() {
        out.push_str("null");
        return;
    }
    let sci = sci.as_str();
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digit_buf = [0u8; 32];
    let mut k = 0usize;
    for d in mantissa.bytes().filter(u8::is_ascii_digit) {
        if let Some(slot) = digit_buf.get_mut(k) {
            *slot = d;
            k += 1;
        }
    }
    let digits = std::str::from_utf8(&digit_buf[..k]).unwrap_or("0");
    let k = k as i32;
    let n = exp + 1;
    if f < 0.0 {
        out.push('-');
    }
    if k <= n && n <= 21 {
        out.push_str(digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if n > 0 { '+' } else { '-' });
        let _ = write!(out, "{}", (n - 1).abs());
    }
}

/// Whether JavaScript prints the number `text` denotes exactly as `text`: a plain decimal
/// (`-12`, `0.25`, `17636.5`) in canonical form (no `+`, no leading zeros, no trailing
/// fraction zeros, not `-0`) with at most 15 significant digits (so its double keeps them
/// all and no shorter decimal names the same double), at least 1e-6 in magnitude (below,
/// JavaScript switches to exponents).
fn prints_as_itself(text: &str) -> bool {
    let body = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    if int.len() > 1 && int.starts_with('0') {
        return false;
    }
    let mut significant = if int == "0" { 0 } else { int.len() };
    match frac {
        None => {
            // `0` is fine, `-0` prints as `0`.
            if int == "0" && body.len() != text.len() {
                return false;
            }
        }
        Some(f) => {
            if f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit()) || f.ends_with('0') {
                return false;
            }
            if int == "0" {
                let zeros = f.len() - f.trim_start_matches('0').len();
                if zeros > 5 {
                    return false;
                }
                significant = f.len() - zeros;
            } else {
                significant += f.len();
            }
        }
    }
    significant <= 15
}

fn write_number_text(out: &mut String, text: &str) {
    if prints_as_itself(text) {
        out.push_str(text);
        return;
    }
    match text {
        "NaN" | "Infinity" | "-Infinity" => write_json_str(out, text),
        _ => match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => write_js_number(out, f),
            _ => write_json_str(out, text),
        },
    }
}

/// Appends a parsed JSON document, with numbers printed as JavaScript does.
pub(crate) fn write_json_value(out: &mut String, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_js_number(out, n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => write_json_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json_str(out, k);
                out.push(':');
                write_json_value(out, item);
            }
            out.push('}');
        }
    }
}

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

fn parse_date(text: &str, tz: bool) -> Option<NaiveDateTime> {
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

fn write_date(out: &mut String, text: &str, tz: bool) {
    match text {
        "infinity" => write_json_str(out, "Infinity"),
        "-infinity" => write_json_str(out, "-Infinity"),
        _ => match parse_date(text, tz) {
            Some(dt) => write_js_date(out, dt),
            None => write_json_str(out, text),
        },
    }
}

/// Parses PostgreSQL's `postgres`-style interval output like the `postgres-interval` package:
/// non-zero parts only, in the order years, months, days, hours, minutes, seconds, milliseconds.
pub(crate) fn interval_parts(text: &str) -> Vec<(&'static str, f64)> {
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

fn write_bytea(out: &mut String, text: &str) {
    match text.strip_prefix("\\x").and_then(|h| hex::decode(h).ok()) {
        Some(bytes) => {
            out.push_str("{\"type\":\"Buffer\",\"data\":[");
            for (i, b) in bytes.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&b.to_string());
            }
            out.push_str("]}");
        }
        None => write_json_str(out, text),
    }
}

fn write_point_like(out: &mut String, text: &str, circle: bool) {
    let nums: Vec<&str> = text
        .split(['(', ')', '<', '>', ','])
        .filter(|s| !s.trim().is_empty())
        .collect();
    let names: &[&str] = if circle {
        &["x", "y", "radius"]
    } else {
        &["x", "y"]
    };
    if nums.len() != names.len() {
        write_json_str(out, text);
        return;
    }
    out.push('{');
    for (i, (name, n)) in names.iter().zip(nums).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format!("\"{name}\":"));
        write_number_text(out, n.trim());
    }
    out.push('}');
}

/// Appends the JSON of one text value converted with `conv`.
pub(crate) fn write_value(out: &mut String, conv: &Conv, text: Option<&str>) {
    let Some(text) = text else {
        out.push_str("null");
        return;
    };
    match conv {
        Conv::Bool => out.push_str(match text {
            "t" | "true" => "true",
            "f" | "false" => "false",
            _ => "null",
        }),
        Conv::Number => write_number_text(out, text),
        Conv::Text => write_json_str(out, text),
        Conv::Date => write_date(out, text, false),
        Conv::DateTz => write_date(out, text, true),
        Conv::Json => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => write_json_value(out, &v),
            Err(_) => write_json_str(out, text),
        },
        Conv::Bytea => write_bytea(out, text),
        Conv::Interval => {
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
        Conv::Point => write_point_like(out, text, false),
        Conv::Circle => write_point_like(out, text, true),
        Conv::Array(inner) => match parse_array(text) {
            Some(arr) => write_array(out, inner, &arr),
            None => write_json_str(out, text),
        },
    }
}

/// A parsed array literal element.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ArrayItem {
    /// An element (`None` for an unquoted `NULL`).
    Value(Option<String>),
    /// A nested dimension.
    Nested(Vec<ArrayItem>),
}

/// Parses PostgreSQL's array output (`{1,2,NULL}`, `{{"a b",c},{d,e}}`, `[0:1]={1,2}`).
pub(crate) fn parse_array(text: &str) -> Option<Vec<ArrayItem>> {
    let text = match text.find("={") {
        Some(i) if text.starts_with('[') => &text[i + 1..],
        _ => text,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut pos = 0;
    let items = parse_array_level(&chars, &mut pos)?;
    (pos == chars.len()).then_some(items)
}

fn parse_array_level(chars: &[char], pos: &mut usize) -> Option<Vec<ArrayItem>> {
    if chars.get(*pos) != Some(&'{') {
        return None;
    }
    *pos += 1;
    let mut items = Vec::new();
    if chars.get(*pos) == Some(&'}') {
        *pos += 1;
        return Some(items);
    }
    loop {
        match chars.get(*pos)? {
            '{' => items.push(ArrayItem::Nested(parse_array_level(chars, pos)?)),
            '"' => {
                *pos += 1;
                let mut s = String::new();
                loop {
                    match chars.get(*pos)? {
                        '\\' => {
                            s.push(*chars.get(*pos + 1)?);
                            *pos += 2;
                        }
                        '"' => {
                            *pos += 1;
                            break;
                        }
                        c => {
                            s.push(*c);
                            *pos += 1;
                        }
                    }
                }
                items.push(ArrayItem::Value(Some(s)));
            }
            _ => {
                let start = *pos;
                while !matches!(chars.get(*pos)?, ',' | '}') {
                    *pos += 1;
                }
                let s: String = chars[start..*pos].iter().collect();
                let s = s.trim().to_string();
                items.push(ArrayItem::Value(if s == "NULL" { None } else { Some(s) }));
            }
        }
        match chars.get(*pos)? {
            ',' => *pos += 1,
            '}' => {
                *pos += 1;
                return Some(items);
            }
            _ => return None,
        }
    }
}

fn write_array(out: &mut String, conv: &Conv, items: &[ArrayItem]) {
    out.push('[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match item {
            ArrayItem::Value(v) => write_value(out, conv, v.as_deref()),
            ArrayItem::Nested(inner) => write_array(out, conv, inner),
        }
    }
    out.push(']');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(oid: u32, text: Option<&str>) -> String {
        let mut s = String::new();
        write_value(&mut s, &Conv::for_oid(oid), text);
        s
    }

    fn js(f: f64) -> String {
        let mut s = String::new();
        write_js_number(&mut s, f);
        s
    }

    #[test]
    fn numbers_print_like_javascript() {
        assert_eq!(js(0.0), "0");
        assert_eq!(js(-0.0), "0");
        assert_eq!(js(1.0), "1");
        assert_eq!(js(123.0), "123");
        assert_eq!(js(1.5), "1.5");
        assert_eq!(js(-2.25), "-2.25");
        assert_eq!(js(0.007), "0.007");
        assert_eq!(js(1e-6), "0.000001");
        assert_eq!(js(1e-7), "1e-7");
        assert_eq!(js(1.5e-7), "1.5e-7");
        assert_eq!(js(1e21), "1e+21");
        assert_eq!(js(1.2345e22), "1.2345e+22");
        assert_eq!(js(1e20), "100000000000000000000");
        assert_eq!(js(9007199254740993.0), "9007199254740992");
        assert_eq!(js(0.1 + 0.2), "0.30000000000000004");
    }

    /// The number text as the general path prints it (parse, then JavaScript's rules).
    fn via_double(text: &str) -> String {
        let mut s = String::new();
        match text.trim().parse::<f64>() {
            Ok(f) if f.is_finite() => write_js_number(&mut s, f),
            _ => write_json_str(&mut s, text),
        }
        s
    }

    #[test]
    fn number_texts_that_print_as_themselves_agree_with_the_general_path() {
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "7",
            "-7",
            "10",
            "120",
            "007",
            "1.50",
            "1.5",
            "-2.25",
            "0.5",
            "0.000001",
            "0.0000001",
            "0.0000015",
            "123456789012345",
            "1234567890123456",
            "9007199254740993",
            "0.1",
            "0.30000000000000004",
            "1e5",
            "+3",
            "1.",
            ".5",
            "12.0",
            "99999999999999.9",
            "999999999999999.9",
            "-0.0",
            "0.0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Integers, int8 values and the float8 texts PostgreSQL prints for i / 7.
        for i in (0..2_000_000i64).step_by(997) {
            texts.push(i.to_string());
            texts.push((-i).to_string());
            texts.push((i as f64 / 7.0).to_string());
            texts.push(format!("{}.{}", i, i % 1000));
            texts.push(format!("0.{:06}", i % 1_000_000));
        }
        for text in &texts {
            let mut fast = String::new();
            write_number_text(&mut fast, text);
            assert_eq!(fast, via_double(text), "{text}");
        }
        assert!(prints_as_itself("17636.5"));
        assert!(
            !prints_as_itself("1.50"),
            "numeric(…, 2) keeps zeros JavaScript drops"
        );
        assert!(!prints_as_itself("-0"));
        assert!(
            !prints_as_itself("1234567890123456"),
            "16 digits go through the double"
        );
    }

    #[test]
    fn strings_escape_like_json_stringify() {
        let mut s = String::new();
        write_json_str(&mut s, "a\"b\\c\nd\u{1}é/\u{2028}");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001é/\u{2028}\"");
    }

    #[test]
    fn scalar_values() {
        assert_eq!(conv(16, Some("t")), "true");
        assert_eq!(conv(16, Some("f")), "false");
        assert_eq!(conv(23, None), "null");
        assert_eq!(conv(23, Some("123")), "123");
        assert_eq!(conv(20, Some("9007199254740993")), "9007199254740992");
        assert_eq!(conv(1700, Some("1.50")), "1.5");
        assert_eq!(conv(1700, Some("NaN")), "\"NaN\"");
        assert_eq!(conv(701, Some("Infinity")), "\"Infinity\"");
        assert_eq!(conv(701, Some("-Infinity")), "\"-Infinity\"");
        assert_eq!(conv(700, Some("1.1")), "1.1");
        assert_eq!(conv(25, Some("hello")), "\"hello\"");
        assert_eq!(conv(790, Some("$12.34")), "\"$12.34\"");
        assert_eq!(conv(1083, Some("12:34:56")), "\"12:34:56\"");
        assert_eq!(
            conv(2950, Some("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
            "\"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11\""
        );
    }

    #[test]
    fn dates_print_in_utc_without_milliseconds() {
        assert_eq!(conv(1082, Some("2020-02-29")), "\"2020-02-29T00:00:00Z\"");
        assert_eq!(
            conv(1114, Some("2011-09-21 14:02:21.314252")),
            "\"2011-09-21T14:02:21Z\""
        );
        assert_eq!(
            conv(1184, Some("2011-09-21 14:02:21.314252+00")),
            "\"2011-09-21T14:02:21Z\""
        );
        assert_eq!(
            conv(1184, Some("2011-09-21 14:02:21+02")),
            "\"2011-09-21T12:02:21Z\""
        );
        assert_eq!(
            conv(1184, Some("2011-09-21 00:30:00-05:30")),
            "\"2011-09-21T06:00:00Z\""
        );
        // Before year 1: JavaScript's astronomical year with its sign, as CARTO writes it.
        assert_eq!(conv(1082, Some("0044-03-15 BC")), "\"-43-03-15T00:00:00Z\"");
        assert_eq!(conv(1082, Some("0001-02-29 BC")), "\"0-02-29T00:00:00Z\"");
        assert_eq!(
            conv(1114, Some("0044-03-15 12:30:00 BC")),
            "\"-43-03-15T12:30:00Z\""
        );
        assert_eq!(
            conv(1184, Some("0044-03-15 12:30:00+01 BC")),
            "\"-43-03-15T11:30:00Z\""
        );
        assert_eq!(conv(1184, Some("infinity")), "\"Infinity\"");
        assert_eq!(conv(1114, Some("-infinity")), "\"-Infinity\"");
    }

    #[test]
    fn objects() {
        assert_eq!(
            conv(1186, Some("1 day 02:03:04")),
            r#"{"days":1,"hours":2,"minutes":3,"seconds":4}"#
        );
        assert_eq!(
            conv(1186, Some("1 year 2 mons -3 days -04:05:06.5")),
            r#"{"years":1,"months":2,"days":-3,"hours":-4,"minutes":-5,"seconds":-6,"milliseconds":-500}"#
        );
        assert_eq!(conv(1186, Some("00:00:00")), "{}");
        assert_eq!(
            conv(17, Some("\\x0102ff")),
            r#"{"type":"Buffer","data":[1,2,255]}"#
        );
        assert_eq!(conv(17, Some("\\x")), r#"{"type":"Buffer","data":[]}"#);
        assert_eq!(conv(600, Some("(1,2)")), r#"{"x":1,"y":2}"#);
        assert_eq!(
            conv(718, Some("<(1,2.5),3>")),
            r#"{"x":1,"y":2.5,"radius":3}"#
        );
        assert_eq!(
            conv(114, Some(r#"{"a": 1.0, "b": [true, null, "x"]}"#)),
            r#"{"a":1,"b":[true,null,"x"]}"#
        );
        assert_eq!(conv(3802, Some(r#"{"z": 1e2}"#)), r#"{"z":100}"#);
    }

    #[test]
    fn arrays() {
        assert_eq!(conv(1007, Some("{1,2,NULL}")), "[1,2,null]");
        assert_eq!(conv(1007, Some("{{1,2},{3,4}}")), "[[1,2],[3,4]]");
        assert_eq!(conv(1007, Some("[0:1]={5,6}")), "[5,6]");
        assert_eq!(
            conv(1009, Some(r#"{a,"b c","d\"e","NULL",NULL}"#)),
            r#"["a","b c","d\"e","NULL",null]"#
        );
        assert_eq!(conv(1009, Some("{}")), "[]");
        assert_eq!(conv(1000, Some("{t,f}")), "[true,false]");
        assert_eq!(
            conv(3807, Some(r#"{"{\"a\": 1}","[2]"}"#)),
            r#"[{"a":1},[2]]"#
        );
        assert_eq!(
            conv(1182, Some("{2020-01-01}")),
            r#"["2020-01-01T00:00:00Z"]"#
        );
        // no parser for int4range[]: the raw text
        assert_eq!(conv(3905, Some("{\"[1,2)\"}")), r#""{\"[1,2)\"}""#);
    }
}
