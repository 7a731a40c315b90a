//! `carto copy from|to`: the COPY API, streamed both ways, with a progress bar on a
//! terminal.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use carto::sql::copy::{CopyFromOptions, CopyToOptions, CopyToReader};
use carto_core::{quote_ident, quote_literal};

use crate::cli::{CopyCommand, CopyFormat, CopyFormatArgs};
use crate::config::Config;
use crate::exit::{CliError, CliResult};
use crate::grants::quote_table;
use crate::output::{print_line, stdout_is_terminal, transfer_bar};
use crate::sql::{Sink, display_path};

/// Runs a `copy` command.
pub fn run(command: CopyCommand, config: &Config) -> CliResult {
    match command {
        CopyCommand::From {
            table,
            file,
            columns,
            gzip,
            format,
        } => {
            let sql = copy_from_sql(&table, &columns, &format)?;
            let (source, size): (Box<dyn Read + Send>, Option<u64>) = if file == Path::new("-") {
                (Box::new(io::stdin()), None)
            } else {
                let f = File::open(&file)
                    .map_err(|e| CliError::io(format!("cannot open {}", file.display()), e))?;
                let size = f.metadata().ok().map(|m| m.len());
                (Box::new(f), size)
            };
            let client = config.client()?;
            let bar = transfer_bar(size, "uploading");
            let progress = bar.clone();
            let mut options = CopyFromOptions::new().progress(move |n| progress.set_position(n));
            if let Some(level) = gzip {
                options = options.gzip(level);
            }
            let result = client.copy().copy_from_with(&sql, source, &options);
            bar.finish_and_clear();
            let result = result?;
            let rows = match result.total_rows {
                1 => "1 row".to_owned(),
                n => format!("{n} rows"),
            };
            print_line(format!(
                "copied {rows} into {table} in {:.3} s",
                result.time.unwrap_or_default().as_secs_f64()
            ))
        }
        CopyCommand::To {
            query,
            file,
            format,
        } => {
            let sql = copy_to_sql(&query, &format)?;
            let to_stdout = file == Path::new("-");
            if to_stdout && format.format == CopyFormat::Binary && stdout_is_terminal() {
                return Err(CliError::Usage(
                    "binary COPY output: write it to a file, or pipe it".into(),
                ));
            }
            let client = config.client()?;
            let bar = transfer_bar(None, "downloading");
            let progress = bar.clone();
            let options = CopyToOptions::new().progress(move |n| progress.set_position(n));
            let copied = client
                .copy()
                .copy_to_with(&sql, &options)
                .map_err(CliError::from)
                .and_then(|mut reader| {
                    // Opened once CARTO accepted the query: a refused one leaves FILE alone.
                    let mut sink = Sink::open(Some(&file))?;
                    sink.pump(&mut reader, CopyToReader::into_error)
                });
            bar.finish_and_clear();
            let copied = copied?;
            if !to_stdout {
                print_line(format!("wrote {copied} bytes to {}", display_path(&file)))?;
            }
            Ok(())
        }
    }
}

/// The `WITH (...)` options of a COPY.
fn with_options(f: &CopyFormatArgs) -> CliResult<String> {
    let mut options = vec![format!(
        "FORMAT {}",
        match f.format {
            CopyFormat::Csv => "csv",
            CopyFormat::Text => "text",
            CopyFormat::Binary => "binary",
        }
    )];
    if f.format == CopyFormat::Csv {
        options.push(format!("HEADER {}", !f.no_header));
    } else if f.no_header {
        return Err(CliError::Usage("--no-header is for --format csv".into()));
    }
    if let Some(d) = f.delimiter {
        if f.format == CopyFormat::Binary {
            return Err(CliError::Usage(
                "--delimiter does not apply to --format binary".into(),
            ));
        }
        options.push(format!("DELIMITER {}", quote_literal(&d.to_string())));
    }
    Ok(options.join(", "))
}

/// `COPY "schema"."table" ("a", "b") FROM STDIN WITH (...)`.
fn copy_from_sql(table: &str, columns: &[String], f: &CopyFormatArgs) -> CliResult<String> {
    let table = quote_table(table).map_err(CliError::Usage)?;
    let columns = if columns.is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = columns.iter().map(|c| quote_ident(c.trim())).collect();
        format!(" ({})", quoted.join(", "))
    };
    Ok(format!(
        "COPY {table}{columns} FROM STDIN WITH ({})",
        with_options(f)?
    ))
}

/// A `COPY ... TO STDOUT` statement as given, or a query wrapped in one.
fn copy_to_sql(query: &str, f: &CopyFormatArgs) -> CliResult<String> {
    let query = query.trim();
    if query
        .get(..5)
        .is_some_and(|head| head.eq_ignore_ascii_case("COPY "))
    {
        return Ok(query.to_owned());
    }
    let query = query.trim_end_matches(|c: char| c == ';' || c.is_whitespace());
    Ok(format!(
        "COPY ({query}) TO STDOUT WITH ({})",
        with_options(f)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(format: CopyFormat, no_header: bool, delimiter: Option<char>) -> CopyFormatArgs {
        CopyFormatArgs {
            format,
            no_header,
            delimiter,
        }
    }

    #[test]
    fn copy_statements() {
        let csv = fmt(CopyFormat::Csv, false, None);
        assert_eq!(
            copy_from_sql("public.cities", &["name".into(), " pop".into()], &csv).unwrap(),
            r#"COPY "public"."cities" ("name", "pop") FROM STDIN WITH (FORMAT csv, HEADER true)"#
        );
        assert_eq!(
            copy_from_sql("t", &[], &fmt(CopyFormat::Text, false, Some('|'))).unwrap(),
            r#"COPY "t" FROM STDIN WITH (FORMAT text, DELIMITER '|')"#
        );
        assert_eq!(
            copy_to_sql(" SELECT 1 ;\n", &fmt(CopyFormat::Csv, true, Some(';'))).unwrap(),
            "COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, HEADER false, DELIMITER ';')"
        );
        assert_eq!(
            copy_to_sql("copy t TO STDOUT", &csv).unwrap(),
            "copy t TO STDOUT"
        );
        assert!(copy_from_sql("a.b.c", &[], &csv).is_err());
        assert!(with_options(&fmt(CopyFormat::Binary, false, Some(','))).is_err());
        assert!(with_options(&fmt(CopyFormat::Text, true, None)).is_err());
    }
}
