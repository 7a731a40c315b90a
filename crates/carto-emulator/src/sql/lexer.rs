//! A small SQL lexer, just enough to find statement boundaries and the identifiers of a query.
//!
//! It follows PostgreSQL's lexical rules for what matters here: single-quoted strings (with
//! `''`), escape strings `E'..'` (with backslashes), double-quoted identifiers (with `""`),
//! dollar-quoted strings `$tag$..$tag$`, `--` comments, nested `/* */` comments, and
//! parentheses (a `;` inside parentheses, as in `CREATE RULE ... DO (..; ..)`, does not end a
//! statement, like psql). Anything it does not understand is treated as ordinary text, and the
//! server stays the judge of what the SQL means.

use std::ops::Range;

/// One token of interest to the callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// An unquoted word (keyword or identifier), as written.
    Word(String),
    /// A double-quoted identifier, unescaped.
    QuotedIdent(String),
    /// A string constant of any kind (its contents are not kept).
    Literal,
    /// A number, a parameter or an operator character.
    Other(char),
    /// `(`.
    Open,
    /// `)`.
    Close,
    /// `.`.
    Dot,
    /// `;` at parenthesis depth 0.
    Semicolon,
}

/// A token with its byte range in the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spanned {
    pub(crate) token: Token,
    pub(crate) span: Range<usize>,
}

/// PostgreSQL's whitespace (`space` in its scanner: space, tab, newline, carriage return, form
/// feed, and vertical tab since PostgreSQL 16). Every other byte, and every byte >= 0x80 (so any
/// non-ASCII character, U+00A0 included), is not whitespace to PostgreSQL.
pub(crate) fn is_pg_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c' | '\x0b')
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || (c as u32) >= 0x80
}

fn is_ident_char(c: char) -> bool {
    is_ident_start(c) || c.is_ascii_digit() || c == '$'
}

/// Tokenizes `sql`, skipping whitespace and comments.
pub(crate) fn tokenize(sql: &str) -> Vec<Spanned> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut depth: usize = 0;
    // Inside `BEGIN ATOMIC ... END` (SQL-standard function bodies) `;` does not end the
    // statement either; `CASE ... END` nests there.
    let mut atomic: usize = 0;
    // The word of the token just before (none after any other token), and the first words of
    // the current statement: `BEGIN ATOMIC` opens a body only as those two adjacent words, at
    // depth 0, in `CREATE [OR REPLACE] FUNCTION|PROCEDURE`, as in PostgreSQL's grammar.
    let mut prev_word = String::new();
    let mut prev_word_at = usize::MAX;
    let mut head: Vec<String> = Vec::new();
    while i < bytes.len() {
        let c = sql[i..].chars().next().unwrap_or(' ');
        let start = i;
        let next = bytes.get(i + 1).copied();
        if is_pg_space(c) {
            i += 1;
        } else if c == '-' && next == Some(b'-') {
            i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
        } else if c == '/' && next == Some(b'*') {
            let mut nest = 1;
            i += 2;
            while i < bytes.len() && nest > 0 {
                if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                    nest += 1;
                    i += 2;
                } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                    nest -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
        } else if c == '\'' {
            i = skip_quoted(bytes, i + 1, b'\'', false);
            out.push(Spanned {
                token: Token::Literal,
                span: start..i,
            });
        } else if (c == 'e' || c == 'E') && next == Some(b'\'') {
            i = skip_quoted(bytes, i + 2, b'\'', true);
            out.push(Spanned {
                token: Token::Literal,
                span: start..i,
            });
        } else if c == '"' {
            i = skip_quoted(bytes, i + 1, b'"', false);
            let inner_end = if i > start + 1 && bytes[i - 1] == b'"' {
                i - 1
            } else {
                i
            };
            let name = sql[start + 1..inner_end.max(start + 1)].replace("\"\"", "\"");
            out.push(Spanned {
                token: Token::QuotedIdent(name),
                span: start..i,
            });
        } else if c == '$' {
            match dollar_tag(sql, i) {
                Some(tag) => {
                    let body = i + tag.len();
                    i = sql[body..]
                        .find(tag)
                        .map_or(bytes.len(), |n| body + n + tag.len());
                    out.push(Spanned {
                        token: Token::Literal,
                        span: start..i,
                    });
                }
                None => {
                    i += 1;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    out.push(Spanned {
                        token: Token::Other('$'),
                        span: start..i,
                    });
                }
            }
        } else if is_ident_start(c) {
            while let Some(ch) = sql[i..].chars().next() {
                if !is_ident_char(ch) {
                    break;
                }
                i += ch.len_utf8();
            }
            let word = sql[start..i].to_ascii_lowercase();
            if atomic > 0 {
                match word.as_str() {
                    "case" => atomic += 1,
                    "end" => atomic -= 1,
                    _ => {}
                }
            } else if word == "atomic"
                && prev_word == "begin"
                && prev_word_at == out.len()
                && depth == 0
                && is_routine_head(&head)
            {
                atomic = 1;
            }
            if depth == 0 && head.len() < 4 {
                head.push(word.clone());
            }
            prev_word = word;
            prev_word_at = out.len() + 1;
            out.push(Spanned {
                token: Token::Word(sql[start..i].to_string()),
                span: start..i,
            });
        } else if c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push(Spanned {
                token: Token::Other('0'),
                span: start..i,
            });
        } else {
            i += c.len_utf8();
            let token = match c {
                '(' => {
                    depth += 1;
                    Token::Open
                }
                ')' => {
                    depth = depth.saturating_sub(1);
                    Token::Close
                }
                '.' => Token::Dot,
                ';' if depth == 0 && atomic == 0 => {
                    head.clear();
                    Token::Semicolon
                }
                other => Token::Other(other),
            };
            out.push(Spanned {
                token,
                span: start..i,
            });
        }
    }
    out
}

/// Whether a statement starting with these words is `CREATE [OR REPLACE] FUNCTION|PROCEDURE`.
fn is_routine_head(head: &[String]) -> bool {
    let rest = match head {
        [create, or, replace, rest @ ..]
            if create == "create" && or == "or" && replace == "replace" =>
        {
            rest
        }
        [create, rest @ ..] if create == "create" => rest,
        _ => return false,
    };
    matches!(
        rest.first().map(String::as_str),
        Some("function" | "procedure")
    )
}

/// Whether the statement holds a `;` that does not end it (a `BEGIN ATOMIC` body, a
/// parenthesized `CREATE RULE` action), and so is one statement only if PostgreSQL agrees.
pub(crate) fn has_inner_semicolon(statement: &str) -> bool {
    tokenize(statement)
        .iter()
        .any(|t| t.token == Token::Other(';'))
}

/// Skips a quoted run starting after the opening quote; returns the index after the closing
/// quote (or the end of input when unterminated).
fn skip_quoted(bytes: &[u8], mut i: usize, quote: u8, backslash: bool) -> usize {
    while i < bytes.len() {
        let b = bytes[i];
        if backslash && b == b'\\' {
            i += 2;
        } else if b == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// The dollar-quote opening tag (`$$` or `$tag$`) at `i`, if there is one there.
fn dollar_tag(sql: &str, i: usize) -> Option<&str> {
    // A `$` inside an identifier (`a$b`) is not a quote; callers only reach here at a token
    // start, so that case is already excluded. `$1` is a parameter.
    for (n, ch) in sql[i + 1..].char_indices() {
        if ch == '$' {
            return Some(&sql[i..i + 2 + n]);
        }
        let ok = if n == 0 {
            is_ident_start(ch)
        } else {
            is_ident_char(ch) && ch != '$'
        };
        if !ok {
            return None;
        }
    }
    None
}

/// Byte ranges of the non-empty statements of `sql` (without their `;`), in order.
pub(crate) fn split_statements(sql: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut current: Option<Range<usize>> = None;
    for t in tokenize(sql) {
        if t.token == Token::Semicolon {
            if let Some(r) = current.take() {
                out.push(r);
            }
        } else {
            match &mut current {
                Some(r) => r.end = t.span.end,
                None => current = Some(t.span.clone()),
            }
        }
    }
    if let Some(r) = current {
        out.push(r);
    }
    out
}

/// Whether the statement is a query the SQL API pages (`page`/`rows_per_page`): it starts with
/// `SELECT` (or `WITH ... SELECT`) and is not a `SELECT ... INTO`.
pub(crate) fn is_pageable_select(statement: &str) -> bool {
    let tokens = tokenize(statement);
    let words: Vec<String> = tokens
        .iter()
        .filter_map(|t| match &t.token {
            Token::Word(w) => Some(w.to_ascii_lowercase()),
            _ => None,
        })
        .collect();
    let first = tokens.iter().find(|t| t.token != Token::Open);
    let starts = match first.map(|t| &t.token) {
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("select") => true,
        Some(Token::Word(w)) if w.eq_ignore_ascii_case("with") => {
            // `WITH ... INSERT/UPDATE/DELETE` cannot be wrapped.
            !words
                .iter()
                .any(|w| matches!(w.as_str(), "insert" | "update" | "delete" | "merge"))
                && words.iter().any(|w| w == "select")
        }
        _ => false,
    };
    starts && !words.iter().any(|w| w == "into")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stmts(sql: &str) -> Vec<&str> {
        split_statements(sql).into_iter().map(|r| &sql[r]).collect()
    }

    #[test]
    fn splits_simple_statements() {
        assert_eq!(stmts("SET a = 1; SELECT 2"), vec!["SET a = 1", "SELECT 2"]);
        assert_eq!(stmts("SELECT 1;"), vec!["SELECT 1"]);
        assert_eq!(stmts(" ; ;SELECT 1;; "), vec!["SELECT 1"]);
        assert!(stmts("  -- only a comment\n /* x */ ").is_empty());
    }

    #[test]
    fn semicolons_in_strings_comments_and_quotes_do_not_split() {
        assert_eq!(
            stmts("SELECT 'a;b'; SELECT 2"),
            vec!["SELECT 'a;b'", "SELECT 2"]
        );
        assert_eq!(stmts("SELECT 'it''s;'"), vec!["SELECT 'it''s;'"]);
        assert_eq!(
            stmts(r"SELECT E'\';'; SELECT 1"),
            vec![r"SELECT E'\';'", "SELECT 1"]
        );
        assert_eq!(
            stmts("SELECT 1 AS \"a;\"\"b\""),
            vec!["SELECT 1 AS \"a;\"\"b\""]
        );
        assert_eq!(
            stmts("SELECT 1 -- c;\n; SELECT 2"),
            vec!["SELECT 1", "SELECT 2"]
        );
        assert_eq!(
            stmts("SELECT /* a; /* b; */ c; */ 1; SELECT 2"),
            vec!["SELECT /* a; /* b; */ c; */ 1", "SELECT 2"]
        );
        let body = "DO $$BEGIN RAISE NOTICE 'x'; END$$";
        assert_eq!(stmts(&format!("{body}; SELECT 1")), vec![body, "SELECT 1"]);
        let tagged = "CREATE FUNCTION f() RETURNS int AS $fn$ SELECT 1; $$ $fn$ LANGUAGE sql";
        assert_eq!(
            stmts(&format!("{tagged};SELECT f()")),
            vec![tagged, "SELECT f()"]
        );
        assert_eq!(
            stmts("CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2); SELECT 3").len(),
            2
        );
        // `begin atomic` opens a body only in CREATE FUNCTION/PROCEDURE, as adjacent words,
        // outside parentheses.
        assert_eq!(stmts("SELECT begin atomic FROM t; SELECT 2").len(), 2);
        assert_eq!(stmts("SET search_path = begin, atomic; SELECT 2").len(), 2);
        assert_eq!(
            stmts("CREATE FUNCTION f(begin atomic) RETURNS int LANGUAGE sql AS 'x'; SELECT 2")
                .len(),
            2
        );
        assert_eq!(
            stmts("CREATE OR REPLACE PROCEDURE p() BEGIN /* c */ ATOMIC SELECT 1; END; SELECT 2")
                .len(),
            2
        );
        let atomic = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN true THEN 1 END; SELECT 2; END";
        assert_eq!(
            stmts(&format!("{atomic}; SELECT f()")),
            vec![atomic, "SELECT f()"]
        );
    }

    #[test]
    fn dollar_parameters_and_identifiers_are_not_quotes() {
        assert_eq!(stmts("SELECT $1; SELECT 2").len(), 2);
        assert_eq!(stmts("SELECT a$b$ FROM t; SELECT 2").len(), 2);
    }

    #[test]
    fn unterminated_quotes_swallow_the_rest() {
        assert_eq!(stmts("SELECT 'abc; SELECT 2").len(), 1);
        assert_eq!(stmts("SELECT $$abc; SELECT 2").len(), 1);
    }

    #[test]
    fn pageable_selects() {
        assert!(is_pageable_select("SELECT * FROM t"));
        assert!(is_pageable_select("  select 1"));
        assert!(is_pageable_select("WITH a AS (SELECT 1) SELECT * FROM a"));
        assert!(is_pageable_select("(SELECT 1)"));
        assert!(!is_pageable_select("SELECT * INTO t2 FROM t"));
        assert!(!is_pageable_select("INSERT INTO t VALUES (1)"));
        assert!(!is_pageable_select(
            "WITH a AS (DELETE FROM t RETURNING *) SELECT * FROM a"
        ));
        assert!(!is_pageable_select("UPDATE t SET a = 1"));
        assert!(is_pageable_select("SELECT 'into' AS x"));
    }
}
