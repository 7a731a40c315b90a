//! Validation of the `grants` of a new API key, with CARTO's messages (§3.3): the JSON
//! schema (`lib/formats/carto/api_key/grants.json`, reported the way the `json-schema`
//! gem does) and the section rules of the model.

use serde_json::{Value, json};

/// How the `json-schema` gem names the schema in its messages.
const SCHEMA_ID: &str = "8d5ac1bd-6b3c-5ac1-8a0a-2a5bf6a41e70";

const TYPES: &[&str] = &[
    "apis",
    "database",
    "dataservices",
    "user",
    "data-observatory",
];
const APIS: &[&str] = &["sql", "maps", "do"];
const TABLE_PERMISSIONS: &[&str] = &["insert", "select", "update", "delete"];
const SCHEMA_PERMISSIONS: &[&str] = &["create"];
const SERVICES: &[&str] = &["geocoding", "routing", "isolines", "observatory"];
const USER_DATA: &[&str] = &["profile"];

/// A table grant, after merging duplicates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TableRequest {
    pub schema: String,
    pub name: String,
    pub permissions: Vec<String>,
}

/// A schema grant, after merging duplicates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SchemaRequest {
    pub name: String,
    pub permissions: Vec<String>,
}

/// Valid grants: what to apply in PostgreSQL, and what to store.
#[derive(Debug, Clone)]
pub(crate) struct RequestedGrants {
    pub tables: Vec<TableRequest>,
    pub schemas: Vec<SchemaRequest>,
    /// The grants as given (stored with the key; `apis`, services and datasets are
    /// read from here).
    pub stored: Value,
}

/// CARTO's message for an `apis` section without its `apis` array; raised when the key
/// is saved, after validation, so not a `Validation failed: ...` message.
pub(crate) const APIS_ARRAY_NEEDED: &str = "apis array is needed for type \"apis\"";

impl RequestedGrants {
    /// Whether the (single) `apis` section lacks its `apis` array.
    pub(crate) fn lacks_apis_array(&self) -> bool {
        self.stored.as_array().into_iter().flatten().any(|g| {
            g.get("type").and_then(Value::as_str) == Some("apis") && g.get("apis").is_none()
        })
    }
}

/// Checks `grants`; pushes CARTO's full messages (`Grants ...`) to `errors` and returns
/// the parsed grants when they are valid.
pub(crate) fn validate(
    grants: Option<&Value>,
    errors: &mut Vec<String>,
) -> Option<RequestedGrants> {
    let Some(Value::Array(items)) = grants else {
        errors.push("Grants grants has to be an array".to_owned());
        if !matches!(grants, Some(Value::Object(_))) {
            errors.push("Grants wrongly formatted (not a Hash or invalid JSON)".to_owned());
        }
        return None;
    };
    let before = errors.len();
    for (i, item) in items.iter().enumerate() {
        check_item(item, &format!("#/{i}"), errors);
    }
    for kind in TYPES {
        let n = items
            .iter()
            .filter(|g| g.get("type").and_then(Value::as_str) == Some(kind))
            .count();
        let bad = if *kind == "apis" { n != 1 } else { n > 1 };
        if bad {
            errors.push(format!("Grants only one {kind} section is allowed"));
        }
    }
    if errors.len() > before {
        return None;
    }
    let mut tables: Vec<TableRequest> = Vec::new();
    let mut schemas: Vec<SchemaRequest> = Vec::new();
    for item in items {
        if item.get("type").and_then(Value::as_str) != Some("database") {
            continue;
        }
        for t in item
            .get("tables")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let schema = t["schema"].as_str().unwrap_or_default().to_owned();
            let name = t["name"].as_str().unwrap_or_default().to_owned();
            let perms = strings(&t["permissions"]);
            match tables
                .iter_mut()
                .find(|x| x.schema == schema && x.name == name)
            {
                Some(x) => merge(&mut x.permissions, perms),
                None => tables.push(TableRequest {
                    schema,
                    name,
                    permissions: dedup(perms),
                }),
            }
        }
        for s in item
            .get("schemas")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = s["name"].as_str().unwrap_or_default().to_owned();
            let perms = strings(&s["permissions"]);
            match schemas.iter_mut().find(|x| x.name == name) {
                Some(x) => merge(&mut x.permissions, perms),
                None => schemas.push(SchemaRequest {
                    name,
                    permissions: dedup(perms),
                }),
            }
        }
    }
    Some(RequestedGrants {
        tables,
        schemas,
        stored: Value::Array(items.clone()),
    })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(str::to_lowercase))
        .collect()
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in v.drain(..) {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn merge(into: &mut Vec<String>, more: Vec<String>) {
    for p in more {
        if !into.contains(&p) {
            into.push(p);
        }
    }
}

/// The JSON type name as the gem reports it.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(path: &str, v: &Value, expected: &str, errors: &mut Vec<String>) {
    errors.push(format!(
        "Grants The property '{path}' of type {} did not match the following type: {expected} in schema {SCHEMA_ID}",
        type_name(v)
    ));
}

fn enum_error(path: &str, v: &Value, allowed: &[&str], errors: &mut Vec<String>) {
    errors.push(format!(
        "Grants The property '{path}' value {} did not match one of the following values: {} in schema {SCHEMA_ID}",
        serde_json::to_string(v).unwrap_or_default(),
        allowed.join(", ")
    ));
}

/// An object with `allowed` properties, `required` ones present.
fn check_object(
    v: &Value,
    path: &str,
    allowed: &[&str],
    required: &[&str],
    errors: &mut Vec<String>,
) -> bool {
    let Some(obj) = v.as_object() else {
        type_error(path, v, "object", errors);
        return false;
    };
    for r in required {
        if !obj.contains_key(*r) {
            errors.push(format!(
                "Grants The property '{path}' did not contain a required property of '{r}' in schema {SCHEMA_ID}"
            ));
        }
    }
    let extra: Vec<&String> = obj
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .collect();
    if !extra.is_empty() {
        errors.push(format!(
            "Grants The property '{path}' contains additional properties {} outside of the schema when none are allowed in schema {SCHEMA_ID}",
            json!(extra)
        ));
    }
    true
}

fn check_string(v: &Value, path: &str, errors: &mut Vec<String>) {
    if !v.is_string() {
        type_error(path, v, "string", errors);
    }
}

fn check_enum_array(v: &Value, path: &str, allowed: &[&str], errors: &mut Vec<String>) {
    let Some(items) = v.as_array() else {
        type_error(path, v, "array", errors);
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}/{i}");
        match item.as_str() {
            Some(s) if allowed.contains(&s) => {}
            _ => enum_error(&p, item, allowed, errors),
        }
    }
}

fn check_item(item: &Value, path: &str, errors: &mut Vec<String>) {
    let allowed = [
        "type",
        "apis",
        "tables",
        "schemas",
        "services",
        "data",
        "table_metadata",
        "datasets",
    ];
    if !check_object(item, path, &allowed, &["type"], errors) {
        return;
    }
    if let Some(t) = item.get("type") {
        match t.as_str() {
            Some(s) if TYPES.contains(&s) => {}
            _ => enum_error(&format!("{path}/type"), t, TYPES, errors),
        }
    }
    if let Some(v) = item.get("apis") {
        check_enum_array(v, &format!("{path}/apis"), APIS, errors);
    }
    if let Some(v) = item.get("services") {
        check_enum_array(v, &format!("{path}/services"), SERVICES, errors);
    }
    if let Some(v) = item.get("data") {
        check_enum_array(v, &format!("{path}/data"), USER_DATA, errors);
    }
    if let Some(v) = item.get("table_metadata") {
        if !v.is_array() {
            type_error(&format!("{path}/table_metadata"), v, "array", errors);
        }
    }
    if let Some(v) = item.get("datasets") {
        let p = format!("{path}/datasets");
        match v.as_array() {
            None => type_error(&p, v, "array", errors),
            Some(ds) => {
                for (i, d) in ds.iter().enumerate() {
                    check_string(d, &format!("{p}/{i}"), errors);
                }
            }
        }
    }
    if let Some(v) = item.get("tables") {
        let p = format!("{path}/tables");
        match v.as_array() {
            None => type_error(&p, v, "array", errors),
            Some(ts) => {
                for (i, t) in ts.iter().enumerate() {
                    let tp = format!("{p}/{i}");
                    if check_object(
                        t,
                        &tp,
                        &["schema", "name", "owner", "permissions"],
                        &["schema", "name", "permissions"],
                        errors,
                    ) {
                        if let Some(s) = t.get("schema") {
                            check_string(s, &format!("{tp}/schema"), errors);
                        }
                        if let Some(s) = t.get("name") {
                            check_string(s, &format!("{tp}/name"), errors);
                        }
                        if let Some(o) = t.get("owner") {
                            if !o.is_boolean() {
                                type_error(&format!("{tp}/owner"), o, "boolean", errors);
                            }
                        }
                        if let Some(ps) = t.get("permissions") {
                            check_enum_array(
                                ps,
                                &format!("{tp}/permissions"),
                                TABLE_PERMISSIONS,
                                errors,
                            );
                        }
                    }
                }
            }
        }
    }
    if let Some(v) = item.get("schemas") {
        let p = format!("{path}/schemas");
        match v.as_array() {
            None => type_error(&p, v, "array", errors),
            Some(ss) => {
                for (i, s) in ss.iter().enumerate() {
                    let sp = format!("{p}/{i}");
                    if check_object(
                        s,
                        &sp,
                        &["name", "schema", "permissions"],
                        &["name", "permissions"],
                        errors,
                    ) {
                        if let Some(n) = s.get("name") {
                            check_string(n, &format!("{sp}/name"), errors);
                        }
                        if let Some(n) = s.get("schema") {
                            check_string(n, &format!("{sp}/schema"), errors);
                        }
                        if let Some(ps) = s.get("permissions") {
                            check_enum_array(
                                ps,
                                &format!("{sp}/permissions"),
                                SCHEMA_PERMISSIONS,
                                errors,
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(v: Value) -> (Option<RequestedGrants>, Vec<String>) {
        let mut errors = Vec::new();
        let r = validate(Some(&v), &mut errors);
        (r, errors)
    }

    #[test]
    fn valid_minimal_and_empty_apis() {
        let (r, e) = run(json!([{"type": "apis", "apis": []}]));
        assert!(e.is_empty(), "{e:?}");
        assert!(r.unwrap().tables.is_empty());
        let (r, e) = run(json!([{"type": "apis", "apis": ["sql"]}, {"type": "database"}]));
        assert!(e.is_empty() && r.is_some());
    }

    #[test]
    fn apis_section_without_its_array() {
        let (r, e) = run(json!([{"type": "apis"}]));
        assert!(e.is_empty(), "the schema allows it: {e:?}");
        assert!(r.unwrap().lacks_apis_array());
        let (r, _) = run(json!([{"type": "apis", "apis": []}, {"type": "database"}]));
        assert!(!r.unwrap().lacks_apis_array());
    }

    #[test]
    fn not_an_array() {
        let mut errors = Vec::new();
        assert!(validate(None, &mut errors).is_none());
        assert_eq!(
            errors,
            vec![
                "Grants grants has to be an array",
                "Grants wrongly formatted (not a Hash or invalid JSON)"
            ]
        );
        let mut errors = Vec::new();
        validate(Some(&json!({"type": "apis"})), &mut errors);
        assert_eq!(errors, vec!["Grants grants has to be an array"]);
    }

    #[test]
    fn sections() {
        let (_, e) = run(json!([]));
        assert_eq!(e, vec!["Grants only one apis section is allowed"]);
        let (_, e) = run(json!([
            {"type": "apis", "apis": []},
            {"type": "database"},
            {"type": "database"}
        ]));
        assert_eq!(e, vec!["Grants only one database section is allowed"]);
    }

    #[test]
    fn schema_messages() {
        let (_, e) = run(json!([
            {"type": "apis", "apis": ["sql"]},
            {"type": "database", "tables": [{"schema": "public", "name": "t", "permissions": ["read"]}]}
        ]));
        assert_eq!(e.len(), 1);
        assert!(e[0].starts_with("Grants The property '#/1/tables/0/permissions/0' value \"read\" did not match one of the following values: insert, select, update, delete in schema "));
        let (_, e) = run(json!([{"type": "apis", "apis": ["sql"], "x": 1}]));
        assert!(
            e[0].contains("'#/0' contains additional properties [\"x\"] outside of the schema")
        );
        let (_, e) = run(json!([{"apis": ["sql"]}]));
        assert!(e[0].contains("'#/0' did not contain a required property of 'type'"));
        let (_, e) = run(json!([{"type": "apis", "apis": "sql"}]));
        assert!(e[0].contains("'#/0/apis' of type string did not match the following type: array"));
        let (_, e) = run(json!([{"type": "nope", "apis": []}]));
        assert!(e[0].contains("'#/0/type' value \"nope\" did not match one of the following values: apis, database, dataservices, user, data-observatory"));
    }

    #[test]
    fn merges_duplicate_tables() {
        let (r, e) = run(json!([
            {"type": "apis", "apis": ["sql"]},
            {"type": "database",
             "tables": [
                {"schema": "public", "name": "t", "permissions": ["select"]},
                {"schema": "public", "name": "t", "permissions": ["insert", "select"]}
             ],
             "schemas": [{"name": "public", "permissions": ["create"]}]}
        ]));
        assert!(e.is_empty());
        let r = r.unwrap();
        assert_eq!(r.tables.len(), 1);
        assert_eq!(r.tables[0].permissions, vec!["select", "insert"]);
        assert_eq!(r.schemas[0].permissions, vec!["create"]);
    }
}
