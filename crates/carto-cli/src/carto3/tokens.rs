//! `carto carto3 tokens`: the Tokens API (API access tokens), tokens masked unless asked.

use carto::carto3::{AllowedApi, ApiAccessToken, NewToken, TokenUpdate};
use serde_json::Value;

use super::cli::TokensCommand;
use super::config::{Config3, token_arg};
use crate::exit::{CliError, CliResult};
use crate::output::{
    cell_text, count, fields, mask_text, print_json, print_line, stdout_is_terminal, strip_secrets,
    table,
};

/// Runs a `carto3 tokens` command.
pub fn run(command: TokensCommand, config: &Config3<'_>) -> CliResult {
    let base = config.base();
    match command {
        TokensCommand::Create {
            grants,
            referers,
            apis,
            expires,
            show_token,
            json,
        } => {
            let new = new_token(&grants, &referers, &apis, expires)?;
            let (client, _) = config.client()?;
            let token = client.tokens().create(&new)?;
            base.add_secret(token.token.expose_secret());
            if json {
                let mut value = masked_json(&token);
                if show_token {
                    value["token"] = Value::String(token.token.expose_secret().to_owned());
                }
                return print_json(&value);
            }
            if show_token {
                eprintln!("created token\n{}", describe(&token));
                // The one place this command prints a token: asked for with --show-token.
                return print_line(token.token.expose_secret());
            }
            print_line(format!("created token\n{}", describe(&token)))?;
            eprintln!(
                "the token was not printed: see it with `carto carto3 tokens list --show-tokens`, \
                 or create tokens with --show-token"
            );
            Ok(())
        }
        TokensCommand::List { json, show_tokens } => {
            let (client, _) = config.client()?;
            let all = client.tokens().list()?;
            for t in &all {
                base.add_secret(t.token.expose_secret());
            }
            let shown = |t: &ApiAccessToken| {
                if show_tokens {
                    t.token.expose_secret().to_owned()
                } else {
                    mask_text(t.token.expose_secret())
                }
            };
            if json {
                let items = all
                    .iter()
                    .map(|t| {
                        let mut value = masked_json(t);
                        value["token"] = Value::String(shown(t));
                        value
                    })
                    .collect();
                return print_json(&Value::Array(items));
            }
            let rows = all
                .iter()
                .map(|t| {
                    vec![
                        shown(t),
                        t.id.clone().unwrap_or_default(),
                        t.grants
                            .iter()
                            .map(|g| format!("{}:{}", g.connection_name, g.source.as_str()))
                            .collect::<Vec<_>>()
                            .join(", "),
                        join_apis(&t.allowed_apis),
                        t.referers.join(", "),
                        t.expiration_date.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            let header = ["TOKEN", "ID", "GRANTS", "APIS", "REFERERS", "EXPIRES"].map(String::from);
            print_line(table(&header, &[false; 6], rows, stdout_is_terminal()).to_string())?;
            print_line(count(all.len(), "token", "tokens"))
        }
        TokensCommand::Get { token, json } => {
            let token = token_arg(token.token, base)?;
            let (client, _) = config.client()?;
            let found = client.tokens().get(&token)?;
            show(&found, json)
        }
        TokensCommand::Update {
            token,
            grants,
            referers,
            no_referers,
            apis,
            json,
        } => {
            let update = token_update(&grants, &referers, no_referers, &apis)?;
            let token = token_arg(token.token, base)?;
            let (client, _) = config.client()?;
            match client.tokens().update(&token, &update)? {
                Some(updated) => show(&updated, json),
                None if json => print_json(&serde_json::json!({
                    "token": mask_text(token.expose_secret())
                })),
                None => print_line(format!(
                    "updated token {}",
                    mask_text(token.expose_secret())
                )),
            }
        }
        TokensCommand::Delete { token } => {
            let token = token_arg(token.token, base)?;
            let (client, _) = config.client()?;
            client.tokens().delete(&token)?;
            print_line(format!(
                "deleted token {}",
                mask_text(token.expose_secret())
            ))
        }
    }
}

/// The request body `tokens create` sends.
pub fn new_token(
    grants: &[(String, String)],
    referers: &[String],
    apis: &[String],
    expires: Option<chrono::DateTime<chrono::Utc>>,
) -> CliResult<NewToken> {
    let mut b = NewToken::builder();
    for (connection, source) in grants {
        b = b.grant(connection.clone(), source.clone());
    }
    for r in referers {
        b = b.referer(r.clone());
    }
    b = b.allowed_apis(apis.iter().map(|a| AllowedApi::parse(a)));
    if let Some(date) = expires {
        b = b.expiration_date(date);
    }
    Ok(b.build()?)
}

/// The request body `tokens update` sends; an update that changes nothing is refused.
pub fn token_update(
    grants: &[(String, String)],
    referers: &[String],
    no_referers: bool,
    apis: &[String],
) -> CliResult<TokenUpdate> {
    let mut update = TokenUpdate::new();
    if !grants.is_empty() {
        update = update.grants(grants.iter().map(|(c, s)| (c.as_str(), s.as_str())))?;
    }
    if no_referers || !referers.is_empty() {
        update = update.referers(referers)?;
    }
    if !apis.is_empty() {
        update = update.allowed_apis(apis.iter().map(|a| AllowedApi::parse(a)))?;
    }
    if update.is_empty() {
        return Err(CliError::Usage(
            "nothing to update: give --grant, --referer, --no-referers or --api".into(),
        ));
    }
    Ok(update)
}

fn join_apis(apis: &[AllowedApi]) -> String {
    apis.iter()
        .map(AllowedApi::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The token as JSON, the token itself masked and any other member whose name says it
/// holds a secret left out.
fn masked_json(token: &ApiAccessToken) -> Value {
    let mut value = serde_json::to_value(token).unwrap_or(Value::Null);
    strip_secrets(&mut value);
    if let Value::Object(map) = &mut value {
        map.insert(
            "token".into(),
            Value::String(mask_text(token.token.expose_secret())),
        );
    }
    value
}

/// Prints a token: `label: value` lines, or JSON; the token masked.
fn show(token: &ApiAccessToken, json: bool) -> CliResult {
    if json {
        print_json(&masked_json(token))
    } else {
        print_line(describe(token))
    }
}

/// The token, its grants and its limits, one `label: value` line each.
fn describe(token: &ApiAccessToken) -> String {
    let mut lines = vec![("token", mask_text(token.token.expose_secret()))];
    if let Some(id) = &token.id {
        lines.push(("id", id.clone()));
    }
    for g in &token.grants {
        lines.push((
            "grant",
            format!("{}: {}", g.connection_name, g.source.as_str()),
        ));
    }
    lines.push(("apis", join_apis(&token.allowed_apis)));
    lines.push((
        "referers",
        match token.referers.is_empty() {
            true => "(any)".to_owned(),
            false => token.referers.join(", "),
        },
    ));
    lines.push((
        "expires",
        token
            .expiration_date
            .clone()
            .unwrap_or_else(|| "never".into()),
    ));
    for (k, v) in &token.other {
        let secret = k.to_ascii_lowercase().contains("token") || k.contains("secret");
        if !secret && matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
            lines.push((k.as_str(), cell_text(v)));
        }
    }
    fields(&lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn create_bodies_are_checked() {
        let grants = vec![("carto_dw".to_owned(), "project.dataset.table".to_owned())];
        let body = new_token(
            &grants,
            &s(&["https://a.example/"]),
            &s(&["sql", "maps"]),
            None,
        )
        .unwrap();
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["referers"], serde_json::json!(["https://a.example"]));
        assert_eq!(json["allowed_apis"], serde_json::json!(["sql", "maps"]));
        assert_eq!(json["grants"][0]["connection_name"], "carto_dw");
        let e = new_token(&grants, &[], &s(&["imports", "sql"]), None).unwrap_err();
        assert_eq!(e.exit_code(), crate::exit::code::INVALID_INPUT);
        let e = new_token(
            &[("c".into(), "unqualified".into())],
            &[],
            &s(&["sql"]),
            None,
        );
        assert!(e.is_err());
    }

    #[test]
    fn updates_need_something() {
        let e = token_update(&[], &[], false, &[]).unwrap_err();
        assert_eq!(e.exit_code(), crate::exit::code::USAGE);
        let clear = token_update(&[], &[], true, &[]).unwrap();
        assert_eq!(
            serde_json::to_value(&clear).unwrap(),
            serde_json::json!({"referers": []})
        );
    }

    #[test]
    fn descriptions_mask_the_token() {
        let t: ApiAccessToken = serde_json::from_str(
            r#"{"token":"eyJhbGciOiJIUzI1NiJ9.canary-canary.sig1","id":"tok_1","grants":[{"connection_name":"c","source":"p.d.t"}],"allowed_apis":["sql"],"created_at":"2026-12-07","refresh_token":"x-canary"}"#,
        )
        .unwrap();
        let text = describe(&t);
        assert!(!text.contains("canary"), "{text}");
        assert!(
            text.contains("****sig1") && text.contains("grant:"),
            "{text}"
        );
        assert!(text.contains("created_at: 2026-12-07"), "{text}");
        let json = masked_json(&t).to_string();
        assert!(!json.contains("canary"), "{json}");
        assert!(json.contains(r#""token":"****sig1""#), "{json}");
    }
}
