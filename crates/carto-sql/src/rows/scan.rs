//! The one JSON scanner of this module: where a byte stands in a JSON text (its nesting
//! depth, inside a string or not, just after a backslash), advanced in runs.
//!
//! It finds structure only (brackets, braces, strings); it does not check the JSON: the
//! splitter cuts the rows array with it, and the row decoder finds where a long row ends.

/// Where a scan stands in a JSON text, carried from one chunk to the next.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct JsonScan {
    /// How many brackets and braces are open.
    pub(super) depth: u32,
    in_string: bool,
    /// The last byte was a backslash inside a string.
    escape: bool,
}

impl JsonScan {
    /// Whether the scan is inside a string.
    pub(super) fn in_string(&self) -> bool {
        self.in_string
    }

    /// From `bytes[i]` on, the next byte that matters: outside strings, one that `stop`
    /// marks; inside, the quote that ends the string. The bytes passed over are inside
    /// strings or between marked bytes (numbers, literals). The byte found has already
    /// acted on the state: a bracket or brace changed the depth (a closing one never
    /// below 0), a quote entered or left a string; `None` at the end of `bytes`.
    #[inline]
    pub(super) fn next(&mut self, bytes: &[u8], mut i: usize, stop: &Stop) -> Option<usize> {
        let n = bytes.len();
        while i < n {
            if self.escape {
                // The byte after a backslash, perhaps the first of this chunk.
                self.escape = false;
                i += 1;
                continue;
            }
            if self.in_string {
                i += quote_or_backslash(&bytes[i..])?;
                if bytes[i] == b'\\' {
                    self.escape = true;
                    i += 1;
                    continue;
                }
                self.in_string = false;
                return Some(i);
            }
            // Numbers, literals and the like need nothing: jump over them.
            while i < n && !stop[usize::from(bytes[i])] {
                i += 1;
            }
            let &b = bytes.get(i)?;
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                _ => {}
            }
            return Some(i);
        }
        None
    }
}

/// The bytes outside strings a scan stops at.
pub(super) type Stop = [bool; 256];

const fn stop(bytes: &[u8]) -> Stop {
    let mut stop = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        stop[bytes[i] as usize] = true;
        i += 1;
    }
    stop
}

/// A value's structure: quotes, brackets and braces.
pub(super) const VALUE: Stop = stop(b"\"{}[]");
/// The rows array's: also the commas between rows and the whitespace around them.
pub(super) const ROWS: Stop = stop(b"\"{}[], \t\n\r");
/// The envelope's: also the colons after its keys.
pub(super) const ENVELOPE: Stop = stop(b"\"{}[],: \t\n\r");

/// Where the next `"` or `\` is. Most strings of a result are short (keys, names, codes):
/// a plain loop over the first bytes, then `memchr2` for long ones.
fn quote_or_backslash(s: &[u8]) -> Option<usize> {
    let head = s.len().min(32);
    match s[..head].iter().position(|&b| b == b'"' || b == b'\\') {
        Some(at) => Some(at),
        None => memchr::memchr2(b'"', b'\\', &s[head..]).map(|at| at + head),
    }
}
