//! Values as text, both ways: the SQL API's JSON strings and PostgreSQL's text output
//! (dates, timestamps, numerics, array literals) read into Arrow's representations, and
//! Arrow values written as PostgreSQL input.

use chrono::{Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

/// The Unix epoch as a date.
fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")
}

/// A date and time with the UTC offset it was written with, if any.
pub(crate) struct DateTime {
    pub(crate) local: NaiveDateTime,
    pub(crate) offset_secs: Option<i64>,
}

impl DateTime {
    /// Days since the epoch of the written date.
    pub(crate) fn days(&self) -> Result<i32, String> {
        i32::try_from(self.local.date().signed_duration_since(epoch()).num_days())
            .map_err(|_| "the date is out of range".to_owned())
    }

    /// Microseconds since the epoch, in UTC when an offset was written.
    pub(crate) fn micros(&self) -> Result<i64, String> {
        let micros = self.local.and_utc().timestamp_micros();
        micros
            .checked_sub(self.offset_secs.unwrap_or(0) * 1_000_000)
            .ok_or_else(|| "the timestamp is out of range".to_owned())
    }
}

fn digits(s: &str) -> Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` is not a number"));
    }
    s.parse().map_err(|_| format!("`{s}` is out of range"))
}

/// Parses a date or timestamp as PostgreSQL (ISO `DateStyle`: `2020-02-29`,
/// `2011-09-21 14:02:21.314252`, `... +05:30`, `0044-03-15 BC`) or the SQL API
/// (`2011-09-21T14:02:21Z`, `-43-03-15T12:30:00Z`, astronomical years) writes it.
pub(crate) fn parse_datetime(text: &str) -> Result<DateTime, String> {
    let fail = |why: String| format!("`{text}` is not a date or timestamp: {why}");
    if matches!(text, "infinity" | "-infinity" | "Infinity" | "-Infinity") {
        return Err(format!(
            "`{text}` has no Arrow value (cast the column to text to read it)"
        ));
    }
    let (body, bc) = match text.strip_suffix(" BC") {
        Some(body) => (body, true),
        None => (text, false),
    };
    let (negative, body) = match body.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let date_end = body.find(['T', ' ']).unwrap_or(body.len());
    let (date, rest) = body.split_at(date_end);
    let mut parts = date.splitn(3, '-');
    let (Some(y), Some(mo), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(fail("expected YYYY-MM-DD".into()));
    };
    let mut year = i32::try_from(digits(y).map_err(&fail)?).map_err(|e| fail(e.to_string()))?;
    if negative {
        year = -year;
    }
    if bc {
        year = 1 - year;
    }
    let date = NaiveDate::from_ymd_opt(year, digits(mo).map_err(&fail)?, digits(d).map_err(&fail)?)
        .ok_or_else(|| fail("no such day".into()))?;
    let rest = rest.get(1..).unwrap_or("");
    if rest.is_empty() {
        return Ok(DateTime {
            local: date.and_time(NaiveTime::MIN),
            offset_secs: None,
        });
    }
    // The time, then `Z` or an offset `+HH[:MM[:SS]]`.
    let time_end = rest.find(['Z', '+', '-']).unwrap_or(rest.len());
    let (time, offset) = rest.split_at(time_end);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = hms.split(':');
    let (Some(h), Some(mi), Some(s), None) = (hms.next(), hms.next(), hms.next(), hms.next())
    else {
        return Err(fail("expected HH:MM:SS".into()));
    };
    let nanos = if fraction.is_empty() {
        0
    } else {
        let nine = format!("{:0<9}", &fraction[..fraction.len().min(9)]);
        digits(&nine).map_err(&fail)?
    };
    let time = NaiveTime::from_hms_nano_opt(
        digits(h).map_err(&fail)?,
        digits(mi).map_err(&fail)?,
        digits(s).map_err(&fail)?,
        nanos,
    )
    .ok_or_else(|| fail("no such time".into()))?;
    let offset_secs = match offset {
        "" => None,
        "Z" => Some(0),
        _ => {
            let sign = if offset.starts_with('-') { -1 } else { 1 };
            let mut it = offset[1..].split(':');
            let mut secs = 0i64;
            for (i, unit) in [3600, 60, 1].iter().enumerate() {
                match it.next() {
                    Some(p) => secs += i64::from(digits(p).map_err(&fail)?) * unit,
                    None if i > 0 => break,
                    None => return Err(fail("bad UTC offset".into())),
                }
            }
            Some(sign * secs)
        }
    };
    Ok(DateTime {
        local: date.and_time(time),
        offset_secs,
    })
}

/// Parses a decimal number (`-12.50`, `1e-7`) into an integer scaled by `10^scale`;
/// a value with more decimal places than `scale`, or more digits than `precision`,
/// is an error (never rounded).
pub(crate) fn parse_decimal(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let fail = |why: &str| format!("`{text}` does not fit Decimal128({precision}, {scale}): {why}");
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (
            &body[..i],
            body[i + 1..]
                .parse::<i32>()
                .map_err(|_| fail("not a number"))?,
        ),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(fail("not a number"));
    }
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    // value = digits * 10^(exp - frac.len()); we want value * 10^scale.
    let mut shift = i64::from(exp) - frac.len() as i64 + i64::from(scale);
    while shift < 0 {
        match digits.pop() {
            Some(0) => shift += 1,
            Some(_) => return Err(fail("too many decimal places")),
            None => break,
        }
    }
    let mut value: i128 = 0;
    let limit = 10i128.pow(u32::from(precision));
    for d in digits
        .into_iter()
        .chain(std::iter::repeat_n(0, shift.max(0) as usize))
    {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(d)))
            .filter(|v| *v < limit)
            .ok_or_else(|| fail("too many digits"))?;
    }
    Ok(if negative { -value } else { value })
}

/// Parses a one-dimensional PostgreSQL array literal (`{1,2,NULL}`, `{"a b",c}`,
/// `[0:1]={5,6}`) into its elements (`None` for `NULL`).
pub(crate) fn parse_array(text: &str) -> Result<Vec<Option<String>>, String> {
    let body = match text.find("={") {
        Some(i) if text.starts_with('[') => &text[i + 1..],
        _ => text,
    };
    let inner = body
        .strip_prefix('{')
        .and_then(|b| b.strip_suffix('}'))
        .ok_or_else(|| format!("`{text}` is not an array literal"))?;
    let mut items = Vec::new();
    if inner.is_empty() {
        return Ok(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        match chars.peek() {
            Some('{') => {
                return Err(
                    "multidimensional arrays have no Arrow list type here (cast the column to text or json)"
                        .to_owned(),
                );
            }
            Some('"') => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => s.push(chars.next().ok_or("cut-off array literal")?),
                        Some('"') => break,
                        Some(c) => s.push(c),
                        None => return Err("cut-off array literal".to_owned()),
                    }
                }
                items.push(Some(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                let s = s.trim();
                items.push((!s.eq_ignore_ascii_case("NULL")).then(|| s.to_owned()));
            }
        }
        match chars.next() {
            Some(',') => {}
            None => return Ok(items),
            Some(c) => return Err(format!("unexpected `{c}` in an array literal")),
        }
    }
}

/// Writes a date as PostgreSQL reads it (`2020-02-29`, `0044-03-15 BC`).
pub(crate) fn write_date(out: &mut String, date: NaiveDate) {
    write_ymd(out, date);
    if date.year() <= 0 {
        out.push_str(" BC");
    }
}

fn write_ymd(out: &mut String, date: NaiveDate) {
    use std::fmt::Write;
    let year = date.year();
    let shown = if year <= 0 { 1 - year } else { year };
    let _ = write!(out, "{shown:04}-{:02}-{:02}", date.month(), date.day());
}

/// Writes a timestamp as PostgreSQL reads it, with `+00` when `utc`.
pub(crate) fn write_timestamp(out: &mut String, ts: NaiveDateTime, utc: bool) {
    use std::fmt::Write;
    write_ymd(out, ts.date());
    let _ = write!(
        out,
        " {:02}:{:02}:{:02}.{:06}",
        ts.hour(),
        ts.minute(),
        ts.second(),
        ts.nanosecond() / 1000
    );
    if utc {
        out.push_str("+00");
    }
    if ts.year() <= 0 {
        out.push_str(" BC");
    }
}

/// Days since the epoch as a date.
pub(crate) fn date_from_days(days: i64) -> Option<NaiveDate> {
    epoch().checked_add_signed(chrono::TimeDelta::try_days(days)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micros(text: &str) -> i64 {
        parse_datetime(text).unwrap().micros().unwrap()
    }

    #[test]
    fn datetimes_from_both_writers() {
        assert_eq!(parse_datetime("1970-01-02").unwrap().days().unwrap(), 1);
        assert_eq!(
            parse_datetime("2020-02-29T00:00:00Z")
                .unwrap()
                .days()
                .unwrap(),
            18321
        );
        assert_eq!(micros("1970-01-01 00:00:01.5"), 1_500_000);
        assert_eq!(micros("1970-01-01T00:00:01Z"), 1_000_000);
        assert_eq!(micros("1970-01-01 01:00:00+01"), 0);
        assert_eq!(micros("1970-01-01 00:00:00-05:30"), 19_800_000_000);
        // 44 BC is the astronomical year -43 both ways.
        let bc = parse_datetime("0044-03-15 12:30:00 BC").unwrap();
        let js = parse_datetime("-43-03-15T12:30:00Z").unwrap();
        assert_eq!(bc.local, js.local);
        assert!(parse_datetime("infinity").is_err());
        assert!(parse_datetime("2020-13-01").is_err());
        assert!(parse_datetime("yesterday").is_err());
    }

    #[test]
    fn decimals_are_exact_or_errors() {
        assert_eq!(parse_decimal("12.5", 10, 2).unwrap(), 1250);
        assert_eq!(parse_decimal("-0.01", 10, 2).unwrap(), -1);
        assert_eq!(parse_decimal("1e-2", 10, 2).unwrap(), 1);
        assert_eq!(parse_decimal("1.500", 10, 2).unwrap(), 150);
        assert_eq!(parse_decimal("3", 10, 0).unwrap(), 3);
        assert!(parse_decimal("1.234", 10, 2).is_err());
        assert!(parse_decimal("123456", 5, 0).is_err());
        assert!(parse_decimal("NaN", 10, 2).is_err());
        assert!(parse_decimal("", 10, 2).is_err());
    }

    #[test]
    fn array_literals() {
        assert_eq!(
            parse_array("{1,2,NULL}").unwrap(),
            [Some("1".into()), Some("2".into()), None]
        );
        assert_eq!(
            parse_array(r#"{a,"b c","d\"e","NULL"}"#).unwrap(),
            [
                Some("a".into()),
                Some("b c".into()),
                Some("d\"e".into()),
                Some("NULL".into())
            ]
        );
        assert_eq!(parse_array("{}").unwrap(), Vec::<Option<String>>::new());
        assert_eq!(parse_array("[0:1]={5,6}").unwrap().len(), 2);
        assert!(parse_array("{{1,2},{3,4}}").is_err());
        assert!(parse_array("1,2").is_err());
    }

    #[test]
    fn writing_dates_and_timestamps() {
        let mut s = String::new();
        write_date(&mut s, NaiveDate::from_ymd_opt(-43, 3, 15).unwrap());
        assert_eq!(s, "0044-03-15 BC");
        let mut s = String::new();
        let ts = NaiveDate::from_ymd_opt(2020, 2, 29)
            .unwrap()
            .and_hms_micro_opt(1, 2, 3, 4)
            .unwrap();
        write_timestamp(&mut s, ts, true);
        assert_eq!(s, "2020-02-29 01:02:03.000004+00");
    }
}
