//! Numbers (`int2`..`int8`, `oid`, `float4`, `float8`, `numeric`), printed the way JavaScript
//! prints them.

use super::json::write_json_str;

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
pub(super) fn prints_as_itself(text: &str) -> bool {
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

pub(super) fn write_number_text(out: &mut String, text: &str) {
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
