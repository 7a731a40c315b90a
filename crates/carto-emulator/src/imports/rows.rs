//! A file read for loading: its columns (names normalized, types guessed) and its rows in
//! PostgreSQL's COPY text format in a temporary file, written one row at a time.

use std::io::{BufWriter, Write};

use super::errors;
use super::names::column_names;
use super::{ImportFailure, ImportOptions};

/// The most columns a file may have (CARTO's 2004).
pub(crate) const MAX_COLUMNS: usize = 250;

/// A column's guessed type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    Text,
    Integer,
    Real,
    Boolean,
    Date,
    Timestamp,
    /// GeoJSON text, loaded as a 4326 geometry.
    GeoJson,
}

impl ColumnType {
    /// The SQL type.
    pub(crate) fn sql(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Integer => "bigint",
            ColumnType::Real => "double precision",
            ColumnType::Boolean => "boolean",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
            ColumnType::GeoJson => "geometry(Geometry,4326)",
        }
    }
}

/// What the values of a column could all be.
#[derive(Debug, Clone)]
struct Guess {
    seen: bool,
    integer: bool,
    real: bool,
    boolean: bool,
    date: bool,
    timestamp: bool,
}

impl Default for Guess {
    fn default() -> Self {
        Self {
            seen: false,
            integer: true,
            real: true,
            boolean: true,
            date: true,
            timestamp: true,
        }
    }
}

impl Guess {
    fn observe(&mut self, v: &str, text_only: bool) {
        self.seen = true;
        if text_only {
            *self = Guess {
                seen: true,
                integer: false,
                real: false,
                boolean: false,
                date: false,
                timestamp: false,
            };
            return;
        }
        let v = v.trim();
        self.integer &= v.parse::<i64>().is_ok();
        self.real &= v.parse::<f64>().is_ok_and(f64::is_finite)
            && v.bytes()
                .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
        self.boolean &= v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false");
        self.date &= chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok();
        self.timestamp &= [
            "%Y-%m-%d %H:%M:%S",
            "%Y-%m-%dT%H:%M:%S",
            "%Y-%m-%d %H:%M",
            "%Y-%m-%dT%H:%M",
        ]
        .iter()
        .any(|f| chrono::NaiveDateTime::parse_from_str(v, f).is_ok());
    }

    fn result(&self) -> ColumnType {
        match self {
            Guess { seen: false, .. } => ColumnType::Text,
            Guess { integer: true, .. } => ColumnType::Integer,
            Guess { real: true, .. } => ColumnType::Real,
            Guess { boolean: true, .. } => ColumnType::Boolean,
            Guess { date: true, .. } => ColumnType::Date,
            Guess {
                timestamp: true, ..
            } => ColumnType::Timestamp,
            _ => ColumnType::Text,
        }
    }
}

/// A file read for loading.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// Normalized names and guessed types, in the file's order.
    pub columns: Vec<(String, ColumnType)>,
    /// The rows in COPY text format (tab-separated, `\N` for NULL), all columns text.
    pub rows: tempfile::NamedTempFile,
    /// The longitude and latitude columns (CARTO's names, numeric), if any.
    pub lon_lat: Option<(String, String)>,
}

/// Writes rows while guessing column types.
pub(crate) struct RowWriter {
    names: Vec<String>,
    guesses: Vec<Guess>,
    fixed: Vec<Option<ColumnType>>,
    out: BufWriter<tempfile::NamedTempFile>,
    options: ImportOptions,
    quoted_stay_text: bool,
}

/// CARTO's (GDAL's) longitude column names.
const LON_NAMES: &[&str] = &[
    "longitude",
    "lon",
    "lng",
    "longitudedecimal",
    "longitud",
    "long",
    "decimallongitude",
    "decimallong",
    "point_longitude",
];
/// CARTO's (GDAL's) latitude column names.
const LAT_NAMES: &[&str] = &[
    "latitude",
    "lat",
    "latitudedecimal",
    "latitud",
    "lati",
    "decimallatitude",
    "decimallat",
    "point_latitude",
];

fn io_failure(e: std::io::Error) -> ImportFailure {
    ImportFailure::new(errors::UNKNOWN, format!("temporary file: {e}"))
}

impl RowWriter {
    /// A writer for these source column names (normalized here); `fixed` types are kept
    /// as they are (not guessed).
    pub(crate) fn new(
        source_names: &[String],
        fixed: Vec<Option<ColumnType>>,
        options: ImportOptions,
        quoted_stay_text: bool,
    ) -> Result<RowWriter, ImportFailure> {
        if source_names.len() > MAX_COLUMNS {
            return Err(ImportFailure::new(
                errors::TOO_MANY_COLUMNS,
                format!("{} columns", source_names.len()),
            ));
        }
        let file = tempfile::NamedTempFile::new().map_err(io_failure)?;
        Ok(RowWriter {
            names: column_names(source_names),
            guesses: vec![Guess::default(); source_names.len()],
            fixed,
            out: BufWriter::new(file),
            options,
            quoted_stay_text,
        })
    }

    /// One row: a value (or `None`, NULL) per column, and whether it was quoted (a column
    /// with a quoted value stays text when the writer was made so).
    pub(crate) fn row(&mut self, values: &[(Option<&str>, bool)]) -> Result<(), ImportFailure> {
        for (i, guess) in self.guesses.iter_mut().enumerate() {
            let (value, quoted) = values.get(i).copied().unwrap_or((None, false));
            if i > 0 {
                self.out.write_all(b"\t").map_err(io_failure)?;
            }
            match value {
                None => self.out.write_all(b"\\N").map_err(io_failure)?,
                Some(v) => {
                    guess.observe(
                        v,
                        !self.options.type_guessing || (quoted && self.quoted_stay_text),
                    );
                    write_copy_text(&mut self.out, v).map_err(io_failure)?;
                }
            }
        }
        self.out.write_all(b"\n").map_err(io_failure)?;
        Ok(())
    }

    /// The file read: types settled, latitude/longitude found.
    pub(crate) fn finish(self) -> Result<Loaded, ImportFailure> {
        let rows = self
            .out
            .into_inner()
            .map_err(|e| io_failure(e.into_error()))?;
        let columns: Vec<(String, ColumnType)> = self
            .names
            .into_iter()
            .zip(self.guesses.iter().zip(&self.fixed))
            .map(|(n, (g, f))| (n, f.unwrap_or_else(|| g.result())))
            .collect();
        let numeric = |names: &[&str]| {
            names.iter().find_map(|want| {
                columns
                    .iter()
                    .find(|(n, t)| n == want && matches!(t, ColumnType::Integer | ColumnType::Real))
                    .map(|(n, _)| n.clone())
            })
        };
        let lon_lat = match (numeric(LON_NAMES), numeric(LAT_NAMES)) {
            (Some(lon), Some(lat)) if self.options.type_guessing => Some((lon, lat)),
            _ => None,
        };
        Ok(Loaded {
            columns,
            rows,
            lon_lat,
        })
    }
}

/// A value in COPY text format: backslash, tab, newline and carriage return escaped.
fn write_copy_text(out: &mut impl Write, v: &str) -> std::io::Result<()> {
    let mut start = 0;
    for (i, b) in v.bytes().enumerate() {
        let esc: &[u8] = match b {
            b'\\' => b"\\\\",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            _ => continue,
        };
        out.write_all(&v.as_bytes()[start..i])?;
        out.write_all(esc)?;
        start = i + 1;
    }
    out.write_all(&v.as_bytes()[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guess(values: &[&str]) -> ColumnType {
        let mut g = Guess::default();
        for v in values {
            g.observe(v, false);
        }
        g.result()
    }

    #[test]
    fn types_are_guessed_from_every_value() {
        assert_eq!(guess(&["1", "-2"]), ColumnType::Integer);
        assert_eq!(guess(&["1", "2.5"]), ColumnType::Real);
        assert_eq!(guess(&["1", "nan"]), ColumnType::Text);
        assert_eq!(guess(&["true", "FALSE"]), ColumnType::Boolean);
        assert_eq!(guess(&["2020-01-02"]), ColumnType::Date);
        assert_eq!(guess(&["2020-01-02 10:11:12"]), ColumnType::Timestamp);
        assert_eq!(guess(&["2020-01-02", "x"]), ColumnType::Text);
        assert_eq!(guess(&[]), ColumnType::Text);
    }

    #[test]
    fn copy_text_escapes_its_specials() {
        let mut out = Vec::new();
        write_copy_text(&mut out, "a\tb\\c\nd\re").unwrap();
        assert_eq!(out, b"a\\tb\\\\c\\nd\\re");
    }
}
