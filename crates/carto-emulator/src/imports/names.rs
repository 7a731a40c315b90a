//! Names as CARTO's importer makes them: the table's from the file name (§9.1), the
//! columns' from the file's header (§9.2). Every name reaches SQL quoted as well.

use crate::store::sanitize_table_name;

/// SQL's reserved words (PostgreSQL's fully reserved ones): a column so named gets a `_`
/// before it, a table `_t` after it.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// Column names PostgreSQL or CARTO keep for themselves.
const RESERVED_COLUMNS: &[&str] = &[
    "oid", "tableoid", "xmin", "cmin", "xmax", "cmax", "ctid", "ogc_fid",
];

/// Table names CARTO keeps for itself, besides the reserved words.
const RESERVED_TABLES: &[&str] = &[
    "layergroup",
    "public",
    "spatial_ref_sys",
    "cdb_tablemetadata",
];

/// The table name for an imported file: its stem sanitized; a reserved name gets `_t`.
pub(crate) fn table_name(file_name: &str) -> String {
    let stem = file_name.rsplit(['/', '\\']).next().unwrap_or(file_name);
    let stem = stem.split_once('.').map_or(stem, |(s, _)| s);
    let name = sanitize_table_name(&fold_accents(stem));
    if RESERVED.contains(&name.as_str()) || RESERVED_TABLES.contains(&name.as_str()) {
        format!("{name}_t")
    } else {
        name
    }
}

/// The `n`th alternative of a taken table name: `name_n`, within 63 bytes.
pub(crate) fn alternative(name: &str, n: u32) -> String {
    let suffix = format!("_{n}");
    let mut base = name.to_owned();
    base.truncate(63 - suffix.len());
    format!("{base}{suffix}")
}

/// Latin letters with accents as their base letters (`à` → `a`), others unchanged.
fn fold_accents(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'À' | 'Á' | 'Â' | 'Ã' | 'Ä' | 'Å' => {
                'a'
            }
            'è' | 'é' | 'ê' | 'ë' | 'È' | 'É' | 'Ê' | 'Ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'Ì' | 'Í' | 'Î' | 'Ï' => 'i',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'Ò' | 'Ó' | 'Ô' | 'Õ' | 'Ö' => 'o',
            'ù' | 'ú' | 'û' | 'ü' | 'Ù' | 'Ú' | 'Û' | 'Ü' => 'u',
            'ñ' | 'Ñ' => 'n',
            'ç' | 'Ç' => 'c',
            other => other,
        })
        .collect()
}

/// One column name: lower case, accents folded, characters outside `[a-z0-9_]` as `_`
/// (repeated ones collapsed), `_` before a leading digit or a reserved word, at most 63
/// bytes; blank: `untitled_column`.
fn column_name(raw: &str) -> String {
    let mut out = String::new();
    for c in fold_accents(raw.trim()).to_lowercase().chars() {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() {
            c
        } else {
            '_'
        };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    if out.is_empty() || out == "_" {
        return "untitled_column".to_owned();
    }
    if out.starts_with(|c: char| c.is_ascii_digit())
        || RESERVED.contains(&out.as_str())
        || RESERVED_COLUMNS.contains(&out.as_str())
    {
        out.insert(0, '_');
    }
    out.truncate(63);
    out
}

/// The columns' names, normalized and de-duplicated (`name_1`, `name_2`, ...).
pub(crate) fn column_names(raw: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for r in raw {
        let name = column_name(r);
        let mut candidate = name.clone();
        let mut n = 0;
        while out.contains(&candidate) {
            n += 1;
            candidate = alternative(&name, n);
        }
        out.push(candidate);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_come_from_the_file() {
        assert_eq!(table_name("prism_tour.csv"), "prism_tour");
        assert_eq!(table_name("../../etc/passwd.csv"), "passwd");
        assert_eq!(table_name("Prism Tour.GEOJSON"), "prism_tour");
        assert_eq!(table_name("select.csv"), "select_t");
        assert_eq!(table_name("2019 data.csv"), "table_2019_data");
        assert_eq!(table_name("x\"; DROP TABLE t; --.csv"), "x_drop_table_t_");
        assert_eq!(alternative("prism_tour", 1), "prism_tour_1");
        assert_eq!(alternative("places_2020", 2), "places_2020_2");
        assert_eq!(alternative(&"x".repeat(63), 12).len(), 63);
    }

    #[test]
    fn column_names_are_normalized_and_unique() {
        assert_eq!(
            column_names(&[
                "Name".into(),
                "2 Items".into(),
                "SELECT".into(),
                "à".into(),
                "name".into(),
                "a\"); DROP TABLE x; --".into(),
                "".into(),
                "xmin".into(),
            ]),
            [
                "name",
                "_2_items",
                "_select",
                "a",
                "name_1",
                "a_drop_table_x_",
                "untitled_column",
                "_xmin"
            ]
        );
    }
}
