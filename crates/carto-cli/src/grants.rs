//! Parsing of the grant arguments of `carto keys create` (`--table SCHEMA.TABLE:select,insert`,
//! `--schema NAME:create`, `--service geocoding`) and of qualified table names, with
//! PostgreSQL identifier quoting for the SQL the CLI writes.

use carto::models::{Service, TableGrant, TablePermission};
use carto_core::quote_ident;
use clap::builder::{PossibleValuesParser, TypedValueParser};

/// Splits `schema.table` (either part may be double-quoted, `""` being a quote) at
/// unquoted dots, up to the first unquoted `stop` character. Returns the unquoted parts
/// and what follows `stop` (`None` when `stop` was not found).
pub fn split_qualified(
    text: &str,
    stop: Option<char>,
) -> Result<(Vec<String>, Option<&str>), String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut quoted_part = false;
    let mut chars = text.char_indices().peekable();
    let mut rest = None;
    while let Some((i, c)) = chars.next() {
        match c {
            '"' if current.is_empty() && !quoted_part => {
                quoted_part = true;
                let mut closed = false;
                while let Some((_, q)) = chars.next() {
                    if q == '"' {
                        if chars.peek().is_some_and(|(_, n)| *n == '"') {
                            chars.next();
                            current.push('"');
                        } else {
                            closed = true;
                            break;
                        }
                    } else {
                        current.push(q);
                    }
                }
                if !closed {
                    return Err(format!("unterminated quoted name in `{text}`"));
                }
                match chars.peek() {
                    None | Some((_, '.')) => {}
                    Some((_, n)) if Some(*n) == stop => {}
                    Some((_, n)) => {
                        return Err(format!("unexpected `{n}` after a quoted name in `{text}`"));
                    }
                }
            }
            '.' => {
                parts.push(take_part(&mut current, &mut quoted_part, text)?);
            }
            c if Some(c) == stop => {
                rest = Some(&text[i + c.len_utf8()..]);
                break;
            }
            c => current.push(c),
        }
    }
    parts.push(take_part(&mut current, &mut quoted_part, text)?);
    Ok((parts, rest))
}

fn take_part(current: &mut String, quoted: &mut bool, text: &str) -> Result<String, String> {
    let part = std::mem::take(current);
    let was_quoted = std::mem::take(quoted);
    let part = if was_quoted {
        part
    } else {
        part.trim().to_owned()
    };
    if part.is_empty() {
        return Err(format!("empty name in `{text}`"));
    }
    Ok(part)
}

/// `table` or `schema.table`, quoted for SQL.
pub fn quote_table(text: &str) -> Result<String, String> {
    let (parts, _) = split_qualified(text, None)?;
    if parts.len() > 2 {
        return Err(format!(
            "`{text}`: expected TABLE or SCHEMA.TABLE (quote names that hold a dot: '\"my.table\"')"
        ));
    }
    Ok(parts
        .iter()
        .map(|p| quote_ident(p))
        .collect::<Vec<_>>()
        .join("."))
}

fn grantable_list() -> String {
    TablePermission::GRANTABLE
        .iter()
        .map(TablePermission::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--table SCHEMA.TABLE:PERM[,PERM...]`: a table grant with grantable permissions.
pub fn parse_table_grant(text: &str) -> Result<TableGrant, String> {
    let usage = "expected SCHEMA.TABLE:PERMISSIONS, e.g. public.cities:select,insert";
    let (parts, perms) = split_qualified(text, Some(':')).map_err(|e| format!("{e}; {usage}"))?;
    let Some(perms) = perms else {
        return Err(format!("`{text}` has no permissions; {usage}"));
    };
    let [schema, table] = <[String; 2]>::try_from(parts)
        .map_err(|_| format!("`{text}` needs a schema and a table; {usage}"))?;
    let mut permissions = Vec::new();
    for p in perms.split(',').map(str::trim) {
        if p.is_empty() {
            return Err(format!("`{text}`: an empty permission; {usage}"));
        }
        let permission: TablePermission = p.to_ascii_lowercase().parse().map_err(|_| {
            format!(
                "unknown table permission `{p}`; grantable: {}",
                grantable_list()
            )
        })?;
        if !permission.is_grantable() {
            return Err(format!(
                "`{p}` cannot be granted on a table; grantable: {}",
                grantable_list()
            ));
        }
        if !permissions.contains(&permission) {
            permissions.push(permission);
        }
    }
    Ok(TableGrant::new(schema, table, permissions))
}

/// `--schema NAME[:create]`: the schema whose `CREATE` is granted (the only schema
/// permission CARTO grants).
pub fn parse_schema_grant(text: &str) -> Result<String, String> {
    let (parts, perms) = split_qualified(text, Some(':'))?;
    let [schema] = <[String; 1]>::try_from(parts)
        .map_err(|_| format!("`{text}`: expected SCHEMA:create, e.g. public:create"))?;
    for p in perms.into_iter().flat_map(|p| p.split(',')).map(str::trim) {
        if !p.eq_ignore_ascii_case("create") {
            return Err(format!(
                "`{p}` cannot be granted on a schema; only `create` can"
            ));
        }
    }
    Ok(schema)
}

/// `--service NAME`: one of the data services, with its names offered to completion.
pub fn service_parser() -> impl TypedValueParser<Value = Service> {
    PossibleValuesParser::new(Service::ALL.iter().map(Service::as_str))
        .try_map(|s| s.parse::<Service>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use TablePermission::{Insert, Select, Update};

    #[test]
    fn table_grants() {
        let g = parse_table_grant("public.cities:select,insert").unwrap();
        assert_eq!(g, TableGrant::new("public", "cities", [Select, Insert]));
        let g = parse_table_grant(" alice . t : SELECT, update ,select").unwrap();
        assert_eq!(g, TableGrant::new("alice", "t", [Select, Update]));
        let g = parse_table_grant(r#""my.schema"."Odd ""t"":x":insert"#).unwrap();
        assert_eq!(g, TableGrant::new("my.schema", "Odd \"t\":x", [Insert]));
    }

    #[test]
    fn table_grant_errors_say_why() {
        let err = |s: &str| parse_table_grant(s).unwrap_err();
        assert!(err("public.cities:read").contains("unknown table permission `read`"));
        assert!(err("public.cities:read").contains("grantable: insert, select, update, delete"));
        assert!(err("public.cities:truncate").contains("cannot be granted"));
        assert!(err("cities:select").contains("needs a schema and a table"));
        assert!(err("a.b.c:select").contains("needs a schema and a table"));
        assert!(err("public.cities").contains("no permissions"));
        assert!(err("public.cities:").contains("empty permission"));
        assert!(err("public.cities:select,,insert").contains("empty permission"));
        assert!(err(".cities:select").contains("empty name"));
        assert!(err(r#""public.cities:select"#).contains("unterminated"));
        assert!(err(r#""public"x.cities:select"#).contains("unexpected `x`"));
    }

    #[test]
    fn schema_grants() {
        assert_eq!(parse_schema_grant("public:create").unwrap(), "public");
        assert_eq!(parse_schema_grant("alice").unwrap(), "alice");
        assert_eq!(parse_schema_grant(r#""a:b":CREATE"#).unwrap(), "a:b");
        assert!(
            parse_schema_grant("public:usage")
                .unwrap_err()
                .contains("only `create`")
        );
        assert!(parse_schema_grant("a.b:create").is_err());
    }

    #[test]
    fn services() {
        use clap::builder::TypedValueParser as _;
        let cmd = clap::Command::new("t");
        let parser = service_parser();
        let ok = parser.parse_ref(&cmd, None, std::ffi::OsStr::new("geocoding"));
        assert_eq!(ok.unwrap(), Service::Geocoding);
        let err = parser
            .parse_ref(&cmd, None, std::ffi::OsStr::new("teleport"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("geocoding") && err.contains("routing"),
            "{err}"
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_table("cities").unwrap(), r#""cities""#);
        assert_eq!(quote_table("Public.My\"T").unwrap(), r#""Public"."My""T""#);
        assert_eq!(quote_table(r#""a.b""#).unwrap(), r#""a.b""#);
        assert!(quote_table("a.b.c").is_err());
    }
}
