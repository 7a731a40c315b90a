//! CSV and TSV, read natively: RFC 4180 quoting (fields quoted with `"`, `""` inside, line
//! breaks inside quotes), the separator given (TSV) or guessed from the header (`,`, `;`,
//! tab, `|`), a UTF-8 byte order mark skipped, empty fields as NULL. Records are read one
//! at a time, each at most [`MAX_RECORD`] bytes, so a huge line is refused without being
//! held.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::rows::RowWriter;
use super::{ImportFailure, ImportOptions, Loaded, errors};

/// The longest record read (a longer one fails the import with 2003).
pub(crate) const MAX_RECORD: usize = 1024 * 1024;

/// Reads a CSV file.
pub(crate) fn read(
    path: &Path,
    delimiter: Option<u8>,
    options: ImportOptions,
) -> Result<Loaded, ImportFailure> {
    let file = File::open(path).map_err(|e| ImportFailure::new(errors::UNKNOWN, e.to_string()))?;
    let mut reader = Records::new(BufReader::new(file), delimiter);
    let Some(header) = reader.next_record()? else {
        return Err(ImportFailure::new(errors::EMPTY_FILE, "no header"));
    };
    let names: Vec<String> = header.iter().map(|(v, _)| v.clone()).collect();
    if names.iter().all(|n| n.trim().is_empty()) {
        return Err(ImportFailure::new(errors::EMPTY_FILE, "an empty header"));
    }
    let mut writer = RowWriter::new(
        &names,
        vec![None; names.len()],
        options,
        !options.quoted_fields_guessing,
    )?;
    while let Some(record) = reader.next_record()? {
        if record.len() == 1 && record[0].0.is_empty() && !record[0].1 {
            continue; // A blank line.
        }
        if record.len() > names.len() && record[names.len()..].iter().any(|(v, _)| !v.is_empty()) {
            return Err(ImportFailure::new(
                errors::MALFORMED_CSV,
                format!(
                    "a row with {} fields for {} columns",
                    record.len(),
                    names.len()
                ),
            ));
        }
        let values: Vec<(Option<&str>, bool)> = record
            .iter()
            .map(|(v, quoted)| ((!v.is_empty()).then_some(v.as_str()), *quoted))
            .collect();
        writer.row(&values)?;
    }
    writer.finish()
}

/// Reads records (fields with whether each was quoted).
struct Records<R> {
    input: R,
    delimiter: Option<u8>,
    first: bool,
}

impl<R: BufRead> Records<R> {
    fn new(input: R, delimiter: Option<u8>) -> Self {
        Self {
            input,
            delimiter,
            first: true,
        }
    }

    /// The raw bytes of the next record (through its end of line, quotes respected), at
    /// most [`MAX_RECORD`]; `None` at the end.
    fn raw_record(&mut self) -> Result<Option<Vec<u8>>, ImportFailure> {
        let mut buf = Vec::new();
        let mut in_quotes = false;
        loop {
            let before = buf.len();
            let limit = (MAX_RECORD + 1 - buf.len()) as u64;
            let n = (&mut self.input)
                .take(limit)
                .read_until(b'\n', &mut buf)
                .map_err(|e| ImportFailure::new(errors::UNKNOWN, e.to_string()))?;
            if buf.len() > MAX_RECORD {
                return Err(ImportFailure::new(
                    errors::MALFORMED_CSV,
                    format!("a record longer than {MAX_RECORD} bytes"),
                ));
            }
            if n == 0 {
                if in_quotes {
                    return Err(ImportFailure::new(
                        errors::MALFORMED_CSV,
                        "an unclosed quote",
                    ));
                }
                return Ok((!buf.is_empty()).then_some(buf));
            }
            in_quotes ^= buf[before..].iter().filter(|b| **b == b'"').count() % 2 == 1;
            if !in_quotes && buf.ends_with(b"\n") {
                return Ok(Some(buf));
            }
        }
    }

    fn next_record(&mut self) -> Result<Option<Vec<(String, bool)>>, ImportFailure> {
        let Some(mut raw) = self.raw_record()? else {
            return Ok(None);
        };
        if self.first {
            self.first = false;
            if raw.starts_with(b"\xEF\xBB\xBF") {
                raw.drain(..3);
            }
            if self.delimiter.is_none() {
                self.delimiter = Some(guess_delimiter(&raw));
            }
        }
        while raw.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            raw.pop();
        }
        let text = String::from_utf8(raw)
            .map_err(|_| ImportFailure::new(errors::ENCODING, "a record that is not UTF-8"))?;
        split(&text, self.delimiter.unwrap_or(b',') as char).map(Some)
    }
}

/// The most frequent of `,`, `;`, tab and `|` outside quotes (`,` on a tie or none).
fn guess_delimiter(header: &[u8]) -> u8 {
    let mut best = (b',', 0);
    for d in [b',', b'\t', b';', b'|'] {
        let mut quoted = false;
        let n = header
            .iter()
            .filter(|b| {
                if **b == b'"' {
                    quoted = !quoted;
                }
                !quoted && **b == d
            })
            .count();
        if n > best.1 {
            best = (d, n);
        }
    }
    best.0
}

/// The fields of one record.
fn split(text: &str, delimiter: char) -> Result<Vec<(String, bool)>, ImportFailure> {
    let mut fields = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        let mut value = String::new();
        let mut quoted = false;
        if chars.peek() == Some(&'"') {
            quoted = true;
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        value.push('"');
                    }
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(ImportFailure::new(
                            errors::MALFORMED_CSV,
                            "an unclosed quote",
                        ));
                    }
                }
            }
            match chars.peek() {
                None => {}
                Some(c) if *c == delimiter => {}
                Some(_) => {
                    return Err(ImportFailure::new(
                        errors::MALFORMED_CSV,
                        "text after a closing quote",
                    ));
                }
            }
        }
        while let Some(c) = chars.peek() {
            if *c == delimiter {
                break;
            }
            value.push(*c);
            chars.next();
        }
        fields.push((value, quoted));
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(text: &str) -> Result<Vec<Vec<(String, bool)>>, i64> {
        let mut r = Records::new(text.as_bytes(), None);
        let mut out = Vec::new();
        while let Some(rec) = r.next_record().map_err(|e| e.code)? {
            out.push(rec);
        }
        Ok(out)
    }

    #[test]
    fn quoted_fields_and_line_breaks() {
        let r = records("\u{feff}a,b\r\n\"x, \"\"y\"\"\",2\n\"multi\nline\",3").unwrap();
        assert_eq!(r[0], [("a".into(), false), ("b".into(), false)]);
        assert_eq!(r[1], [("x, \"y\"".into(), true), ("2".into(), false)]);
        assert_eq!(r[2][0], ("multi\nline".into(), true));
    }

    #[test]
    fn separators_are_guessed_from_the_header() {
        assert_eq!(records("a;b\n1;2").unwrap()[1].len(), 2);
        assert_eq!(records("a\tb\n1\t2").unwrap()[1].len(), 2);
    }

    #[test]
    fn malformed_records_fail_with_2003() {
        assert_eq!(records("a\n\"open").unwrap_err(), errors::MALFORMED_CSV);
        assert_eq!(records("a\n\"x\"y").unwrap_err(), errors::MALFORMED_CSV);
        let huge = format!("a\n{}\n", "x".repeat(MAX_RECORD + 10));
        assert_eq!(records(&huge).unwrap_err(), errors::MALFORMED_CSV);
        assert_eq!(records("a\n\u{0}\u{ff}").map(|r| r.len()), Ok(2));
        let mut r = Records::new(&b"a\n\xff\xfe\n"[..], None);
        r.next_record().unwrap();
        assert_eq!(r.next_record().unwrap_err().code, errors::ENCODING);
    }
}
