//! Quoting for SQL text: PostgreSQL identifiers and string literals.
//!
//! Values belong in bound parameters wherever PostgreSQL takes them; these are for the
//! places it does not (names in `COPY`, `GRANT` or `SET search_path`, role passwords in
//! `CREATE ROLE`). Every crate of the workspace quotes with these two functions.

/// Quotes an identifier like PostgreSQL's `format('%I')` but always with double quotes,
/// so it is taken literally (CARTO's names are case-sensitive on the wire, and `user`
/// or `order` are valid table names): `my "table"` becomes `"my ""table"""`.
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Quotes a string literal like PostgreSQL's `quote_literal` under
/// `standard_conforming_strings` (on since PostgreSQL 9.1): `it's` becomes `'it''s'`.
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_always_double_quoted_with_quotes_doubled() {
        assert_eq!(quote_ident("a"), "\"a\"");
        assert_eq!(quote_ident("My Table"), "\"My Table\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident(""), "\"\"");
        assert_eq!(
            quote_ident("x\"; DROP TABLE t; --"),
            "\"x\"\"; DROP TABLE t; --\""
        );
    }

    #[test]
    fn literals_double_their_single_quotes() {
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal("a\\b"), "'a\\b'");
        assert_eq!(quote_literal(""), "''");
    }
}
