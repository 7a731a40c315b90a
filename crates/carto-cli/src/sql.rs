//! `carto sql`: the SQL API, as a table, JSON, or CARTO's own formats streamed.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use carto::sql::SqlSummary;
use carto::{QueryOptions, transport::TransportError};
use serde_json::{Map, Value};

use crate::cli::{OutputFormat, SqlArgs};
use crate::config::Config;
use crate::exit::{CliError, CliResult};
use crate::output::{rows_table, stdout_is_terminal};

/// Where output goes: a file, or stdout (`None` or `-`), buffered.
pub struct Sink {
    writer: BufWriter<Box<dyn Write>>,
    label: String,
}

impl Sink {
    /// Opens `path` (created or truncated), or stdout for `None` and `-`.
    pub fn open(path: Option<&Path>) -> CliResult<Self> {
        match path.filter(|p| *p != Path::new("-")) {
            Some(p) => {
                let file = File::create(p)
                    .map_err(|e| CliError::io(format!("cannot create {}", p.display()), e))?;
                Ok(Self {
                    writer: BufWriter::with_capacity(64 * 1024, Box::new(file)),
                    label: p.display().to_string(),
                })
            }
            None => Ok(Self {
                writer: BufWriter::with_capacity(64 * 1024, Box::new(io::stdout())),
                label: "stdout".into(),
            }),
        }
    }

    /// The error of a failed write.
    pub fn error(&self, e: io::Error) -> CliError {
        CliError::io(format!("cannot write to {}", self.label), e)
    }

    /// Writes all of `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> CliResult {
        self.writer.write_all(bytes).map_err(|e| self.error(e))
    }

    /// Flushes what is buffered.
    pub fn flush(&mut self) -> CliResult {
        self.writer.flush().map_err(|e| self.error(e))
    }

    /// Writes `{"rows":[` and each row as it comes, one per line, then `]`: the
    /// caller adds the other members and the closing `}`.
    pub fn json_rows<E>(
        &mut self,
        rows: impl Iterator<Item = Result<Map<String, Value>, E>>,
    ) -> CliResult
    where
        CliError: From<E>,
    {
        self.write(b"{\"rows\":[")?;
        let mut first = true;
        for row in rows {
            let row = serde_json::to_string(&row?).map_err(|e| self.error(e.into()))?;
            self.write(if first { b"\n" } else { b",\n" })?;
            self.write(row.as_bytes())?;
            first = false;
        }
        self.write(b"\n]")
    }

    /// Copies `reader` into the sink as it arrives, read errors going through
    /// `read_error`; returns the number of bytes copied.
    pub fn pump(
        &mut self,
        reader: &mut impl Read,
        read_error: impl Fn(io::Error) -> carto::Error,
    ) -> CliResult<u64> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(read_error(e).into()),
            };
            self.write(&buf[..n])?;
            total += n as u64;
        }
        self.flush()?;
        Ok(total)
    }
}

/// Reads `path`, or stdin for `-`.
pub fn read_text(path: &Path) -> CliResult<String> {
    let mut text = String::new();
    if path == Path::new("-") {
        io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| CliError::io("cannot read stdin", e))?;
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?;
    }
    Ok(text)
}

/// The SQL of `carto sql`: QUERY (`-`: stdin), `--file`, or stdin when it is not a
/// terminal.
pub fn query_text(query: Option<&String>, file: Option<&PathBuf>) -> CliResult<String> {
    match (query, file) {
        (Some(q), _) if q == "-" => read_text(Path::new("-")),
        (Some(q), _) => Ok(q.clone()),
        (None, Some(file)) => read_text(file),
        (None, None) if !io::stdin().is_terminal() => read_text(Path::new("-")),
        (None, None) => Err(CliError::Usage(
            "no query: give QUERY, --file FILE, or the SQL on stdin".into(),
        )),
    }
}

/// Runs `carto sql`.
pub fn run(args: SqlArgs, config: &Config) -> CliResult {
    let sql = query_text(args.query.as_ref(), args.file.as_ref())?;
    let to_stdout = args.output.as_deref().is_none_or(|p| p == Path::new("-"));
    if args.format.is_binary() && to_stdout && stdout_is_terminal() {
        let name = args.format.export().map(|f| f.as_str()).unwrap_or("this");
        return Err(CliError::Usage(format!(
            "{name} output is binary: write it to a file with -o FILE, or pipe it"
        )));
    }
    let mut options = QueryOptions::new().skipfields(args.skip_fields.iter().cloned());
    if let Some(dp) = args.dp {
        options = options.dp(dp);
    }
    if let Some(name) = &args.filename {
        options = options.filename(name.clone());
    }
    let client = config.client()?;
    let sql_client = client.sql();
    if let Some(format) = args.format.export() {
        let mut reader = sql_client.export_reader_with(&sql, format, &options)?;
        let mut sink = Sink::open(args.output.as_deref())?;
        sink.pump(&mut reader, |e| TransportError::from_io(e).into())?;
        return Ok(());
    }
    let mut rows = sql_client.query_rows_with::<Map<String, Value>>(&sql, &options)?;
    let mut sink = Sink::open(args.output.as_deref())?;
    let summary = match args.format {
        OutputFormat::Ndjson => {
            for row in rows.by_ref() {
                let line = serde_json::to_string(&row?).map_err(|e| sink.error(e.into()))?;
                sink.write(line.as_bytes())?;
                sink.write(b"\n")?;
            }
            summary_of(rows.summary())
        }
        OutputFormat::Json => {
            sink.json_rows(rows.by_ref())?;
            let summary = summary_of(rows.summary());
            if let Ok(Value::Object(members)) = serde_json::to_value(&summary) {
                for (k, v) in members {
                    sink.write(format!(",{}:{v}", Value::String(k)).as_bytes())?;
                }
            }
            sink.write(b"}\n")?;
            summary
        }
        _ => {
            let all = rows.by_ref().collect::<Result<Vec<_>, _>>()?;
            let summary = summary_of(rows.summary());
            let text = render_table(&all, &summary, to_stdout && stdout_is_terminal());
            sink.write(text.as_bytes())?;
            summary
        }
    };
    sink.flush()?;
    for (label, messages) in [
        ("NOTICE", &summary.notices),
        ("WARNING", &summary.warnings),
        ("INFO", &summary.infos),
    ] {
        for m in messages {
            eprintln!("{label}:  {m}");
        }
    }
    Ok(())
}

fn summary_of(summary: Option<&SqlSummary>) -> SqlSummary {
    summary.cloned().unwrap_or_default()
}

/// The rows as an aligned table with a `(N rows)` line; numbers aligned right.
fn render_table(rows: &[Map<String, Value>], summary: &SqlSummary, unicode: bool) -> String {
    let mut header: Vec<String> = summary.fields.names().map(str::to_owned).collect();
    if header.is_empty() {
        if let Some(first) = rows.first() {
            header = first.keys().cloned().collect();
        }
    }
    if header.is_empty() {
        return match summary.total_rows {
            0 => "OK\n".to_owned(),
            1 => "OK, 1 row affected\n".to_owned(),
            n => format!("OK, {n} rows affected\n"),
        };
    }
    let right: Vec<bool> = header
        .iter()
        .map(|h| {
            summary
                .fields
                .get(h)
                .is_some_and(|f| f.field_type == "number")
        })
        .collect();
    rows_table(&header, &right, rows, unicode)
}

/// The file name of an output argument, for messages.
pub fn display_path(path: &Path) -> String {
    if path == Path::new("-") {
        "stdout".into()
    } else {
        path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_count() {
        let summary: SqlSummary = serde_json::from_str(
            r#"{"fields":{"n":{"type":"number","pgtype":"int4"},"name":{"type":"string","pgtype":"text"}},"total_rows":2}"#,
        )
        .unwrap();
        let rows: Vec<Map<String, Value>> =
            serde_json::from_str(r#"[{"n":1,"name":"a"},{"n":100,"name":null}]"#).unwrap();
        let text = render_table(&rows, &summary, false);
        assert!(text.contains("|   1 | a    |"), "{text}");
        assert!(text.contains("| 100 |      |"), "{text}");
        assert!(text.ends_with("(2 rows)\n"), "{text}");
        let none = render_table(
            &[],
            &SqlSummary {
                total_rows: 3,
                ..SqlSummary::default()
            },
            false,
        );
        assert_eq!(none, "OK, 3 rows affected\n");
    }
}
