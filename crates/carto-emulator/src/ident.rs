//! Quoting of SQL identifiers and literals: every name that reaches SQL text goes
//! through here (values travel as bound parameters wherever PostgreSQL allows it).
//! The quoting itself is carto-core's, the one the SDK crates use.

pub use carto_core::ident::{quote_ident, quote_literal};

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_names_quote_both_parts() {
        assert_eq!(qualified("public", "My Table"), "\"public\".\"My Table\"");
        assert_eq!(qualified("a\"b", "c"), "\"a\"\"b\".\"c\"");
    }
}
