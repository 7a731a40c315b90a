//! SQL rewriting: the text sent for a request, with the system-table guard's plan checks
//! inserted before the statements of non-master keys, and the last statement wrapped for
//! `page`/`rows_per_page`, `order_by` and GeoJSON.

use std::ops::Range;

use super::guard;
use super::lexer;
use super::params::{Format, QueryParams};
use crate::ident::quote_ident;

/// Whether `q` may hold a `COPY` (the word, in any case, anywhere): then nothing is queued
/// behind it, since PostgreSQL would read a queued query as copy data of a `COPY ... FROM
/// STDIN`.
pub(super) fn may_copy(q: &str) -> bool {
    q.as_bytes()
        .windows(4)
        .any(|w| w.eq_ignore_ascii_case(b"copy"))
}

/// The SQL actually sent and the number of statements it holds. With `guarded` (non-master
/// keys) every statement that may read a relation is preceded by its plan check
/// ([`guard`]).
pub(super) fn build_sql(
    p: &QueryParams,
    statements: Vec<Range<usize>>,
    guarded: bool,
) -> (String, usize) {
    let Some(last) = statements.last().cloned() else {
        return (p.q.clone(), 1);
    };
    let stmt = last_statement(p, &p.q[last.clone()]);
    if guarded {
        let tag = guard::dollar_tag(&p.q);
        let mut sql = String::with_capacity(p.q.len() * 2 + 64);
        let mut count = 0;
        let n = statements.len();
        for (i, range) in statements.into_iter().enumerate() {
            let text = if i + 1 == n {
                stmt.as_deref().unwrap_or(&p.q[range])
            } else {
                &p.q[range]
            };
            if let Some(check) = guard::check_sql(&guard::check_for(text), &tag) {
                sql.push_str(&check);
                sql.push_str(";\n");
                count += 1;
            }
            sql.push_str(text);
            sql.push_str(";\n");
            count += 1;
        }
        return (sql, count);
    }
    let sql = match stmt {
        Some(stmt) => format!("{}{stmt}", &p.q[..last.start]),
        None => p.q.clone(),
    };
    (sql, statements.len())
}

/// The last statement wrapped for `page`/`rows_per_page` and GeoJSON, or `None` when it is sent
/// as written.
fn last_statement(p: &QueryParams, last: &str) -> Option<String> {
    let mut stmt = last.to_string();
    let mut wrapped = false;
    if (p.page.is_some() || p.order_by.is_some()) && lexer::is_pageable_select(&stmt) {
        let mut clauses = String::new();
        if let Some((column, desc)) = &p.order_by {
            clauses.push_str(&format!(
                " ORDER BY {} {}",
                quote_ident(column),
                if *desc { "DESC" } else { "ASC" }
            ));
        }
        if let Some((rows, page)) = p.page {
            clauses.push_str(&format!(
                " LIMIT {rows} OFFSET {}",
                rows.saturating_mul(page)
            ));
        }
        stmt = format!("SELECT * FROM (\n{stmt}\n) AS cdbq_1{clauses}");
        wrapped = true;
    }
    if p.format == Format::GeoJson {
        stmt = format!(
            "SELECT *, ST_AsGeoJSON(the_geom, {}) as the_geom FROM (\n{stmt}\n) as foo",
            p.dp
        );
        wrapped = true;
    }
    wrapped.then_some(stmt)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::sql::params;

    fn built(v: Value) -> (String, usize) {
        let p = params::parse(v.as_object().expect("object")).expect("params");
        let statements = lexer::split_statements(&p.q);
        build_sql(&p, statements, false)
    }

    #[test]
    fn sql_is_sent_unchanged_without_wrappers() {
        assert_eq!(
            built(json!({"q": "SET a TO 1; SELECT 2;"})),
            ("SET a TO 1; SELECT 2;".to_string(), 2)
        );
        assert_eq!(
            built(json!({"q": "-- nothing"})),
            ("-- nothing".to_string(), 1)
        );
    }

    #[test]
    fn page_wraps_the_last_select() {
        let (sql, n) =
            built(json!({"q": "SET a TO 1; SELECT * FROM t;", "page": 2, "rows_per_page": 10}));
        assert_eq!(
            sql,
            "SET a TO 1; SELECT * FROM (\nSELECT * FROM t\n) AS cdbq_1 LIMIT 10 OFFSET 20"
        );
        assert_eq!(n, 2);
        let (sql, _) =
            built(json!({"q": "INSERT INTO t VALUES (1)", "page": 0, "rows_per_page": 10}));
        assert_eq!(sql, "INSERT INTO t VALUES (1)");
    }

    #[test]
    fn order_by_wraps_selects_with_a_quoted_column() {
        let (sql, _) =
            built(json!({"q": "SELECT * FROM t", "order_by": "na\"me", "sort_order": "DESC"}));
        assert_eq!(
            sql,
            "SELECT * FROM (\nSELECT * FROM t\n) AS cdbq_1 ORDER BY \"na\"\"me\" DESC"
        );
        let (sql, _) = built(
            json!({"q": "SELECT * FROM t", "order_by": "a", "sort_order": "sideways", "page": 1, "rows_per_page": 5}),
        );
        assert_eq!(
            sql,
            "SELECT * FROM (\nSELECT * FROM t\n) AS cdbq_1 ORDER BY \"a\" ASC LIMIT 5 OFFSET 5"
        );
        let (sql, _) = built(json!({"q": "DELETE FROM t", "order_by": "a"}));
        assert_eq!(sql, "DELETE FROM t");
    }

    #[test]
    fn geojson_wraps_the_last_statement() {
        let (sql, _) = built(json!({"q": "SELECT * FROM t", "format": "geojson", "dp": 3}));
        assert_eq!(
            sql,
            "SELECT *, ST_AsGeoJSON(the_geom, 3) as the_geom FROM (\nSELECT * FROM t\n) as foo"
        );
    }

    #[test]
    fn nothing_is_queued_behind_what_may_be_a_copy() {
        assert!(may_copy("COPY t FROM STDIN"));
        assert!(may_copy("select 1; CoPy t from stdin"));
        assert!(may_copy("SELECT 'copy'"));
        assert!(!may_copy("SELECT 1"));
        assert!(!may_copy("SELECT 'cop y'"));
    }
}
