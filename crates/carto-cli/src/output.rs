//! Output helpers: masked tokens, secret-free JSON, aligned tables, terminal checks and
//! progress indicators (drawn on stderr only when it is a terminal).

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use carto::Token;
use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::exit::{CliError, CliResult};

/// A token as listings show it: `default_public` as is (it is public), others as
/// `****` and their last four characters (all hidden when shorter than 16).
pub fn mask(token: &Token) -> String {
    if token.is_default_public() {
        return token.expose_secret().to_owned();
    }
    mask_text(token.expose_secret())
}

/// A secret as listings show it: `****` and its last four characters (all hidden
/// when shorter than 16).
pub fn mask_text(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 16 {
        return "****".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("****{tail}")
}

/// Member names whose values are secrets (matched case-insensitively, as substrings).
const SECRET_MEMBERS: &[&str] = &["api_key", "token", "password", "secret", "map_key"];

/// Removes every member whose name says it holds a secret, at any depth.
pub fn strip_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| {
                let k = k.to_ascii_lowercase();
                !SECRET_MEMBERS.iter().any(|s| k.contains(s))
            });
            map.values_mut().for_each(strip_secrets);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_secrets),
        _ => {}
    }
}

/// Whether stdout is a terminal.
pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// Whether stderr is a terminal (progress is drawn only then).
pub fn stderr_is_terminal() -> bool {
    io::stderr().is_terminal()
}

/// A JSON value as a table cell: strings bare, `null` empty, the rest as JSON.
pub fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An aligned table: UTF-8 borders when `unicode` (for a terminal), ASCII otherwise;
/// `right` marks the columns aligned right (numbers).
pub fn table(header: &[String], right: &[bool], rows: Vec<Vec<String>>, unicode: bool) -> Table {
    let mut t = Table::new();
    t.load_style(if unicode {
        presets::UTF8_FULL_CONDENSED
    } else {
        presets::ASCII_FULL_CONDENSED
    })
    .set_content_arrangement(ContentArrangement::Disabled)
    .set_header(header);
    for row in rows {
        t.add_row(row);
    }
    for (i, r) in right.iter().enumerate() {
        if *r {
            if let Some(col) = t.column_mut(i) {
                col.set_cell_alignment(CellAlignment::Right);
            }
        }
    }
    t
}

/// JSON rows as an aligned table of the `header` columns (`right`: aligned right),
/// then a `(N rows)` line.
pub fn rows_table(
    header: &[String],
    right: &[bool],
    rows: &[serde_json::Map<String, Value>],
    unicode: bool,
) -> String {
    let body = rows
        .iter()
        .map(|row| {
            header
                .iter()
                .map(|h| row.get(h).map(cell_text).unwrap_or_default())
                .collect()
        })
        .collect();
    format!(
        "{}\n{}\n",
        table(header, right, body, unicode),
        count(rows.len(), "row", "rows")
    )
}

/// `(1 row)`, `(N rows)`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    match n {
        1 => format!("(1 {one})"),
        n => format!("({n} {many})"),
    }
}

/// Writes `text` and a newline to stdout.
pub fn print_line(text: impl AsRef<str>) -> CliResult {
    let mut out = io::stdout().lock();
    writeln!(out, "{}", text.as_ref()).map_err(CliError::stdout)
}

/// Writes `value` as pretty JSON to stdout.
pub fn print_json(value: &Value) -> CliResult {
    let text = serde_json::to_string_pretty(value).map_err(|e| CliError::stdout(e.into()))?;
    print_line(text)
}

/// `label: value` lines with the values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 1;
    pairs
        .iter()
        .map(|(l, v)| format!("{:width$} {v}", format!("{l}:")))
        .collect::<Vec<_>>()
        .join("\n")
}

fn draw_target() -> ProgressDrawTarget {
    if stderr_is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A transfer progress bar on stderr (hidden unless stderr is a terminal): bytes,
/// rate and, when `total` is known, a bar and the ETA.
pub fn transfer_bar(total: Option<u64>, label: &str) -> ProgressBar {
    let (bar, template) = match total {
        Some(total) => (
            ProgressBar::with_draw_target(Some(total), draw_target()),
            "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
        ),
        None => (
            ProgressBar::with_draw_target(None, draw_target()),
            "{msg} {spinner} {bytes} {binary_bytes_per_sec} {elapsed}",
        ),
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(label.to_owned());
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// A spinner on stderr (hidden unless stderr is a terminal).
pub fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, draw_target());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        bar.set_style(style);
    }
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(mask(&Token::new("0123456789abcdefWXYZ")), "****WXYZ");
        assert_eq!(mask(&Token::new("short-secret")), "****");
        assert_eq!(mask(&Token::default_public()), "default_public");
    }

    #[test]
    fn secrets_are_stripped_at_any_depth() {
        let mut v = serde_json::json!({
            "username": "alice",
            "api_key": "s3cret",
            "user_data": {"id": "1", "API_KEY": "s3cret", "nested": [{"map_token": "x", "ok": 1}]}
        });
        strip_secrets(&mut v);
        let text = v.to_string();
        assert!(
            !text.contains("s3cret") && !text.contains("map_token"),
            "{text}"
        );
        assert!(
            text.contains("\"ok\":1") && text.contains("alice"),
            "{text}"
        );
    }

    #[test]
    fn cells_and_fields() {
        assert_eq!(cell_text(&Value::Null), "");
        assert_eq!(cell_text(&serde_json::json!("a b")), "a b");
        assert_eq!(cell_text(&serde_json::json!([1, 2])), "[1,2]");
        assert_eq!(
            fields(&[("name", "k".into()), ("created", "now".into())]),
            "name:    k\ncreated: now"
        );
        let t = table(
            &["a".into(), "n".into()],
            &[false, true],
            vec![vec!["x".into(), "10".into()], vec!["yy".into(), "7".into()]],
            false,
        );
        let text = t.to_string();
        assert!(
            text.contains("| x  | 10 |") && text.contains("| yy |  7 |"),
            "{text}"
        );
    }
}
