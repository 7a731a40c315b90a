//! What a token's grants name on a PostgreSQL connection, and SQL queries with their
//! `queryParameters`.
//!
//! Sources (CARTO writes them `project.dataset.table` on BigQuery; a PostgreSQL connection
//! is one database):
//! - a table: `schema.table`, or `<connection or database>.schema.table`;
//! - a wildcard: `<connection or database>.schema.*` (CARTO's two parts before `.*`; `schema.*`
//!   is taken too): every table of the schema the account may read, when the token is made;
//!   `*`: every table of the account's own schema it may read;
//! - a SQL query: exactly that query (see [`GrantedQuery`]).
//!
//! Names are read as PostgreSQL reads them (unquoted parts folded to lower case, `"..."`
//! and BigQuery's `` `...` `` kept as written). Only relations the account's own role can
//! `SELECT` are granted, never in the system schemas or the emulator's own.

use serde_json::Value;
use tokio_postgres::Client;

use crate::ident::{quote_ident, quote_literal};
use crate::names::META_SCHEMA;
use crate::sql::guard::GUARD_SCHEMA;
use crate::sql::lexer::{self, Token};
use crate::store::UserRecord;

/// A query a token may run: the text as granted (what runs) and its normalised form (what a
/// request's `q` is compared with).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GrantedQuery {
    pub text: String,
    pub normalised: String,
}

impl GrantedQuery {
    /// A granted query; `Err` when it is not exactly one statement.
    pub(crate) fn new(text: &str) -> Result<Self, String> {
        let normalised = normalise(text);
        if normalised.is_empty() || lexer::split_statements(&normalised).len() != 1 {
            return Err("a SQL source must be exactly one statement".to_owned());
        }
        Ok(Self {
            text: text
                .trim()
                .trim_end_matches([';', ' ', '\t', '\n', '\r'])
                .to_owned(),
            normalised,
        })
    }
}

/// A query's text with runs of white space made one space, and no trailing `;`. Matching on
/// it can only ever make a request run the *granted* text, never its own.
pub(crate) fn normalise(q: &str) -> String {
    let mut out = String::with_capacity(q.len());
    for word in q.split(lexer::is_pg_space).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    while out.ends_with(';') || out.ends_with(' ') {
        out.pop();
    }
    out
}

/// What a grant resolved to.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    /// Relations, as `regclass` text (quoted, qualified).
    pub tables: Vec<String>,
    /// Schemas of those relations (quoted), for `USAGE`.
    pub schemas: Vec<String>,
    pub queries: Vec<GrantedQuery>,
}

/// Splits a qualified name on the dots outside `"..."` and `` `...` ``, each part as
/// PostgreSQL reads it (unquoted: lower case).
fn name_parts(name: &str) -> Result<Vec<String>, String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut quoted = false;
    let mut chars = name.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                if chars.peek() == Some(&q) {
                    current.push(q);
                    chars.next();
                } else {
                    quote = None;
                }
            }
            (Some(_), c) => current.push(c),
            (None, '"' | '`') => {
                quote = Some(c);
                quoted = true;
            }
            (None, '.') => {
                parts.push(std::mem::take(&mut current));
                quoted = false;
            }
            (None, c) if quoted => return Err(format!("unexpected `{c}` after a quoted name")),
            (None, c) => current.extend(c.to_lowercase()),
        }
    }
    if quote.is_some() {
        return Err("unterminated quoted name".to_owned());
    }
    parts.push(current);
    if parts.iter().any(String::is_empty) {
        return Err("empty name part".to_owned());
    }
    Ok(parts)
}

/// Schemas a grant never reaches.
fn forbidden_schema(schema: &str) -> bool {
    schema.starts_with("pg_")
        || schema == "information_schema"
        || schema == META_SCHEMA
        || schema == GUARD_SCHEMA
}

/// Why a grant cannot be made.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum SourceError {
    /// The grant names a connection the account does not have.
    Connection(String),
    /// Anything else, said to the client.
    Invalid(String),
}

/// Resolves the grants of a new or updated token of `user` (whose connection is
/// `connection`), with `db` a superuser connection to the user's database.
pub(crate) async fn resolve(
    db: &Client,
    user: &UserRecord,
    connection: &str,
    grants: &[(String, String)],
) -> Result<Resolved, SourceError> {
    let mut out = Resolved::default();
    let invalid = |s: String| SourceError::Invalid(s);
    for (conn, source) in grants {
        if conn != connection {
            return Err(SourceError::Connection(conn.clone()));
        }
        match carto_tokens::Source::classify(source) {
            carto_tokens::Source::Query(q) => {
                out.queries.push(GrantedQuery::new(&q).map_err(invalid)?);
            }
            carto_tokens::Source::Wildcard(w) => {
                let schema = if w.trim() == "*" {
                    user.schema.clone()
                } else {
                    let parts = name_parts(&w).map_err(|e| invalid(format!("`{w}`: {e}")))?;
                    match parts.as_slice() {
                        [schema, star] if star == "*" => schema.clone(),
                        [first, schema, star]
                            if star == "*" && (first == connection || *first == user.database) =>
                        {
                            schema.clone()
                        }
                        _ => {
                            return Err(invalid(format!(
                                "`{w}` is not a wildcard of this connection: use {connection}.<schema>.*"
                            )));
                        }
                    }
                };
                if forbidden_schema(&schema) {
                    return Err(invalid(format!("schema `{schema}` cannot be granted")));
                }
                let rows = db
                    .query(
                        "SELECT c.oid::pg_catalog.regclass::pg_catalog.text
                         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
                         AND pg_catalog.has_schema_privilege($2, n.oid, 'USAGE')
                         AND pg_catalog.has_table_privilege($2, c.oid, 'SELECT')
                         ORDER BY 1",
                        &[&schema, &user.owner_role],
                    )
                    .await
                    .map_err(|e| invalid(e.to_string()))?;
                if rows.is_empty() {
                    return Err(invalid(format!(
                        "`{w}`: no table of schema `{schema}` can be granted"
                    )));
                }
                out.tables.extend(rows.into_iter().map(|r| r.get(0)));
                push_unique(&mut out.schemas, quote_ident(&schema));
            }
            carto_tokens::Source::Table(t) => {
                let parts = name_parts(&t).map_err(|e| invalid(format!("`{t}`: {e}")))?;
                let (schema, table) = match parts.as_slice() {
                    [schema, table] => (schema, table),
                    [first, schema, table] if first == connection || *first == user.database => {
                        (schema, table)
                    }
                    _ => {
                        return Err(invalid(format!(
                            "`{t}` is not a table of this connection: use <schema>.<table> or {connection}.<schema>.<table>"
                        )));
                    }
                };
                if forbidden_schema(schema) {
                    return Err(invalid(format!("schema `{schema}` cannot be granted")));
                }
                let name = format!("{}.{}", quote_ident(schema), quote_ident(table));
                let row = db
                    .query_opt(
                        "SELECT c.oid::pg_catalog.regclass::pg_catalog.text
                         FROM pg_catalog.pg_class c
                         WHERE c.oid = pg_catalog.to_regclass($1)
                         AND c.relkind IN ('r', 'v', 'm', 'f', 'p')
                         AND pg_catalog.has_schema_privilege($2, c.relnamespace, 'USAGE')
                         AND pg_catalog.has_table_privilege($2, c.oid, 'SELECT')",
                        &[&name, &user.owner_role],
                    )
                    .await
                    .map_err(|e| invalid(e.to_string()))?;
                let Some(row) = row else {
                    return Err(invalid(format!(
                        "`{t}`: no such table, or not one this account can read"
                    )));
                };
                push_unique(&mut out.tables, row.get(0));
                push_unique(&mut out.schemas, quote_ident(schema));
            }
        }
    }
    Ok(out)
}

fn push_unique(v: &mut Vec<String>, s: String) {
    if !v.contains(&s) {
        v.push(s);
    }
}

/// `q` with its positional parameters (`$1`, `$2`, ...: PostgreSQL's style, an array of
/// `queryParameters`) replaced by literals: strings, numbers and booleans as quoted constants
/// of unknown type (PostgreSQL gives them the type their place needs, as it does a bound
/// parameter), `null` as `NULL`, arrays and objects as their JSON text. Placeholders inside
/// strings, quoted names and comments are left alone.
pub(crate) fn bind(q: &str, params: Option<&Value>) -> Result<String, String> {
    let params: &[Value] = match params {
        None | Some(Value::Null) => &[],
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(
                "queryParameters must be an array on a PostgreSQL connection ($1, $2, ...)"
                    .to_owned(),
            );
        }
    };
    let mut out = String::with_capacity(q.len());
    let mut at = 0;
    for t in lexer::tokenize(q) {
        if t.token != Token::Other('$') || t.span.len() < 2 {
            continue;
        }
        let n: usize = q[t.span.start + 1..t.span.end]
            .parse()
            .map_err(|_| format!("bad parameter {}", &q[t.span.clone()]))?;
        let value = n
            .checked_sub(1)
            .and_then(|i| params.get(i))
            .ok_or_else(|| format!("there is no parameter ${n}"))?;
        out.push_str(&q[at..t.span.start]);
        match value {
            Value::Null => out.push_str("NULL"),
            Value::String(s) => out.push_str(&quote_literal(s)),
            Value::Bool(b) => out.push_str(if *b { "'true'" } else { "'false'" }),
            Value::Number(n) => out.push_str(&quote_literal(&n.to_string())),
            other => out.push_str(&quote_literal(&other.to_string())),
        }
        at = t.span.end;
    }
    out.push_str(&q[at..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_read_as_postgresql_reads_them() {
        assert_eq!(
            name_parts("Public.Airports").unwrap(),
            ["public", "airports"]
        );
        assert_eq!(
            name_parts("pg_a.\"My \"\"T\"\"\".`x.y`").unwrap(),
            ["pg_a", "My \"T\"", "x.y"]
        );
        assert!(name_parts("a..b").is_err());
        assert!(name_parts("\"a").is_err());
        assert!(name_parts("\"a\"b.c").is_err());
    }

    #[test]
    fn queries_normalise_and_stay_one_statement() {
        assert_eq!(normalise("  SELECT *\n\tFROM t ;; "), "SELECT * FROM t");
        let g = GrantedQuery::new("SELECT 1;\n").unwrap();
        assert_eq!(g.text, "SELECT 1");
        assert!(GrantedQuery::new("SELECT 1; SELECT 2").is_err());
        assert!(GrantedQuery::new(" ; ").is_err());
    }

    #[test]
    fn parameters_become_literals() {
        let p = json!([100000, "Super'market", null, true, [1, 2]]);
        assert_eq!(
            bind(
                "SELECT * FROM t WHERE r > $1 AND s = $2 AND x IS $3 AND b = $4 AND a = $5 AND '$1' = \"$2\" -- $1",
                Some(&p)
            )
            .unwrap(),
            "SELECT * FROM t WHERE r > '100000' AND s = 'Super''market' AND x IS NULL AND b = 'true' AND a = '[1,2]' AND '$1' = \"$2\" -- $1"
        );
        assert_eq!(
            bind("SELECT $$ $1 $$", Some(&p)).unwrap(),
            "SELECT $$ $1 $$"
        );
        assert_eq!(
            bind("SELECT a$1 FROM t", None).unwrap(),
            "SELECT a$1 FROM t"
        );
        assert!(
            bind("SELECT $2", Some(&json!([1])))
                .unwrap_err()
                .contains("$2")
        );
        assert!(bind("SELECT $0", Some(&json!([1]))).is_err());
        assert!(bind("SELECT @a", Some(&json!({"a": 1}))).is_err());
        // An injection attempt stays one quoted constant.
        assert_eq!(
            bind("SELECT $1", Some(&json!(["x'); DROP TABLE t; --"]))).unwrap(),
            "SELECT 'x''); DROP TABLE t; --'"
        );
    }
}
