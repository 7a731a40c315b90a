//! `carto keys`: the Auth API v3.

use carto::ListOptions;
use carto::models::{Api, ApiKey, ApiKeyType, NewApiKey};
use serde_json::Value;

use crate::cli::{GrantArgs, KeyType, KeysCommand};
use crate::config::Config;
use crate::exit::CliResult;
use crate::output::{fields, mask, print_json, print_line, stdout_is_terminal, table};

/// Runs a `keys` command.
pub fn run(command: KeysCommand, config: &Config) -> CliResult {
    let client = config.client()?;
    let keys = client.api_keys();
    match command {
        KeysCommand::Create {
            name,
            grants,
            show_token,
            json,
        } => {
            let new = new_key(name, &grants)?;
            let key = keys.create(new)?;
            announce(&key, "created", show_token, json)
        }
        KeysCommand::List { types, json } => {
            let mut options = ListOptions::new();
            if !types.is_empty() {
                options = options.types(types.iter().map(|t| key_type(*t)));
            }
            let all = keys
                .list_with(&options)
                .collect::<Result<Vec<ApiKey>, _>>()?;
            if json {
                return print_json(&Value::Array(all.iter().map(masked_json).collect()));
            }
            let rows = all
                .iter()
                .map(|k| {
                    vec![
                        k.name.clone(),
                        k.key_type.to_string(),
                        mask(&k.token),
                        join(k.grants.apis().iter().map(Api::as_str)),
                        k.grants.tables().len().to_string(),
                        k.created_at.to_string(),
                    ]
                })
                .collect();
            let header = ["NAME", "TYPE", "TOKEN", "APIS", "TABLES", "CREATED"].map(String::from);
            let right = [false, false, false, false, true, false];
            print_line(table(&header, &right, rows, stdout_is_terminal()).to_string())?;
            print_line(match all.len() {
                1 => "(1 key)".to_owned(),
                n => format!("({n} keys)"),
            })
        }
        KeysCommand::Show { name, json } => {
            let key = keys.get(&name)?;
            if json {
                print_json(&masked_json(&key))
            } else {
                print_line(describe(&key))
            }
        }
        KeysCommand::Regenerate { name, show_token } => {
            let key = keys.regenerate(&name)?;
            announce(&key, "regenerated the token of", show_token, false)
        }
        KeysCommand::Delete { name } => {
            keys.delete(&name)?;
            print_line(format!("deleted key {name}"))
        }
    }
}

/// Prints a new or regenerated key: its token alone on stdout with `--show-token` (the
/// summary then on stderr), else the summary and a hint.
fn announce(key: &ApiKey, done: &str, show_token: bool, json: bool) -> CliResult {
    if json {
        let mut value = masked_json(key);
        if show_token {
            value["token"] = Value::String(key.token.expose_secret().to_owned());
        }
        return print_json(&value);
    }
    if show_token {
        eprintln!("{done} key {}\n{}", key.name, describe(key));
        // The one place the CLI prints a token: asked for with --show-token.
        print_line(key.token.expose_secret())
    } else {
        print_line(format!("{done} key {}\n{}", key.name, describe(key)))?;
        eprintln!(
            "the token was not printed; to get it, run `carto keys regenerate '{}' --show-token` (that makes a new one)",
            key.name
        );
        Ok(())
    }
}

/// The request body `keys create` sends.
pub fn new_key(name: String, g: &GrantArgs) -> Result<NewApiKey, carto::Error> {
    let mut b = NewApiKey::builder(name);
    if g.no_apis {
        b = b.apis([]);
    } else if g.sql || g.maps || g.data_observatory {
        let apis = [
            (g.sql, Api::Sql),
            (g.maps, Api::Maps),
            (g.data_observatory, Api::Do),
        ];
        b = b.apis(apis.into_iter().filter(|(on, _)| *on).map(|(_, api)| api));
    }
    for t in &g.tables {
        b = b.table_grant(t.clone());
    }
    for s in &g.schemas {
        b = b.schema_create(s.clone());
    }
    if !g.services.is_empty() {
        b = b.services(g.services.iter().copied());
    }
    if g.user_profile {
        b = b.user_profile();
    }
    if g.table_metadata {
        b = b.table_metadata();
    }
    if !g.datasets.is_empty() {
        b = b.datasets(g.datasets.iter().cloned());
    }
    b.build()
}

fn key_type(t: KeyType) -> ApiKeyType {
    match t {
        KeyType::Regular => ApiKeyType::Regular,
        KeyType::Master => ApiKeyType::Master,
        KeyType::Default => ApiKeyType::Default,
    }
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// The key as JSON, its token masked.
fn masked_json(key: &ApiKey) -> Value {
    let mut value = serde_json::to_value(key).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("_links");
        map.insert("token".into(), Value::String(mask(&key.token)));
    }
    value
}

/// The key and its grants, one `label: value` line each.
fn describe(key: &ApiKey) -> String {
    let g = &key.grants;
    let mut lines = vec![
        ("name", key.name.clone()),
        ("type", key.key_type.to_string()),
        ("token", mask(&key.token)),
        ("created", key.created_at.to_string()),
        ("updated", key.updated_at.to_string()),
        ("apis", join(g.apis().iter().map(Api::as_str))),
    ];
    for t in g.tables() {
        let perms = join(t.permissions.iter().map(|p| p.as_str()));
        lines.push(("table", format!("{}.{}: {perms}", t.schema, t.name)));
    }
    for s in g.schemas() {
        let perms = join(s.permissions.iter().map(|p| p.as_str()));
        lines.push(("schema", format!("{}: {perms}", s.name)));
    }
    if g.database().is_some_and(|d| d.table_metadata.is_some()) {
        lines.push(("metadata", "table metadata".into()));
    }
    if !g.services().is_empty() {
        lines.push(("services", join(g.services().iter().map(|s| s.as_str()))));
    }
    if !g.user_data().is_empty() {
        lines.push(("user", join(g.user_data().iter().map(|u| u.as_str()))));
    }
    if !g.datasets().is_empty() {
        lines.push(("datasets", join(g.datasets().iter().map(String::as_str))));
    }
    fields(&lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use carto::models::{Grant, Service, TableGrant, TablePermission};
    use clap::Parser;

    fn grants(argv: &[&str]) -> Result<NewApiKey, String> {
        let mut full = vec!["carto", "keys", "create", "k"];
        full.extend_from_slice(argv);
        let cli = Cli::try_parse_from(full).map_err(|e| e.to_string())?;
        let crate::cli::Command::Keys {
            command: KeysCommand::Create { name, grants, .. },
        } = cli.command
        else {
            panic!("not keys create")
        };
        new_key(name, &grants).map_err(|e| e.to_string())
    }

    #[test]
    fn every_grant_flag_reaches_the_body() {
        let key = grants(&[
            "--sql",
            "--do",
            "--table",
            "public.cities:select,insert",
            "--table",
            "public.cities:update",
            "--schema",
            "public:create",
            "--service",
            "geocoding,routing",
            "--service",
            "isolines",
            "--user-profile",
            "--table-metadata",
            "--dataset",
            "carto-do.ds1",
        ])
        .unwrap();
        let g = &key.grants;
        assert_eq!(g.apis(), [Api::Sql, Api::Do]);
        assert_eq!(
            g.tables(),
            [TableGrant::new(
                "public",
                "cities",
                [
                    TablePermission::Select,
                    TablePermission::Insert,
                    TablePermission::Update
                ]
            )]
        );
        assert_eq!(g.schemas()[0].name, "public");
        assert_eq!(
            g.services(),
            [Service::Geocoding, Service::Routing, Service::Isolines]
        );
        assert_eq!(g.user_data().len(), 1);
        assert_eq!(g.datasets(), ["carto-do.ds1"]);
        assert!(g.database().unwrap().table_metadata.is_some());
    }

    #[test]
    fn apis_default_and_none() {
        assert_eq!(grants(&[]).unwrap().grants.apis(), [Api::Sql, Api::Maps]);
        let none = grants(&["--no-apis"]).unwrap();
        assert!(matches!(&none.grants.0[0], Grant::Apis { apis } if apis.is_empty()));
        assert!(grants(&["--no-apis", "--sql"]).is_err());
    }

    #[test]
    fn bad_grants_are_usage_errors() {
        let err = grants(&["--table", "public.cities:read"]).unwrap_err();
        assert!(err.contains("unknown table permission `read`"), "{err}");
        let err = grants(&["--service", "teleport"]).unwrap_err();
        assert!(err.contains("invalid value 'teleport'"), "{err}");
        let err = grants(&["--schema", "public:usage"]).unwrap_err();
        assert!(err.contains("only `create`"), "{err}");
    }
}
