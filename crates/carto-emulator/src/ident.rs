//! Quoting of SQL identifiers and literals: every name that reaches SQL text goes
//! through here (values travel as bound parameters wherever PostgreSQL allows it).

/// Quotes an identifier like PostgreSQL's `quote_ident`/`format('%I')`, always with
/// double quotes: `my "table"` becomes `"my ""table"""`.
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

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Quotes a string literal like `quote_literal` (standard-conforming strings):
/// `it's` becomes `'it''s'`. Used only where PostgreSQL takes no parameters (role
/// passwords in `CREATE ROLE`).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("a"), "\"a\"");
        assert_eq!(
            quote_ident("x\"; DROP TABLE t; --"),
            "\"x\"\"; DROP TABLE t; --\""
        );
        assert_eq!(qualified("public", "My Table"), "\"public\".\"My Table\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
