//! `carto me` and `carto creds`.

use carto::Credentials;
use serde_json::Value;

use crate::cli::CredsCommand;
use crate::config::{Config, profile_names, profile_path};
use crate::exit::{CliError, CliResult};
use crate::output::{fields, mask, print_json, print_line, strip_secrets};

/// Runs `carto me`: the user of the key, without any secret member.
pub fn me(config: &Config, json: bool) -> CliResult {
    let client = config.client()?;
    let me = client.me()?;
    let mut value = serde_json::to_value(&me).unwrap_or(Value::Null);
    strip_secrets(&mut value);
    if json {
        return print_json(&value);
    }
    let mut lines = vec![
        ("username", me.user_data.username.clone()),
        ("id", me.user_data.id.clone()),
        (
            "base URL",
            client.credentials().base_url().as_str().to_owned(),
        ),
    ];
    let mut extra: Vec<(String, String)> = Vec::new();
    if let Some(Value::Object(data)) = value.get("user_data") {
        for (k, v) in data {
            let shown = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => continue,
            };
            if !matches!(k.as_str(), "username" | "id" | "base_url") {
                extra.push((k.clone(), shown));
            }
        }
    }
    lines.extend(extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
    print_line(fields(&lines))
}

/// Runs a `creds` command.
pub fn creds(command: CredsCommand, config: &Config) -> CliResult {
    match command {
        CredsCommand::Save { file } => {
            let creds = config.argument_credentials()?.ok_or_else(|| {
                CliError::Config(
                    "nothing to save: give --base-url (or --username) and --api-key, or set \
                     CARTO_BASE_URL (or CARTO_USERNAME) and CARTO_API_KEY"
                        .into(),
                )
            })?;
            let path = match (file, config.profile()) {
                (Some(file), _) => file,
                (None, Some(name)) => profile_path(name)?,
                (None, None) => Credentials::default_file_path()?,
            };
            creds.save(&path)?;
            print_line(format!(
                "saved the credentials of {} ({}, key {}) to {}",
                creds.username(),
                creds.base_url().as_str(),
                mask(creds.token()),
                path.display()
            ))
        }
        CredsCommand::Show => {
            let (creds, origin) = config.credentials()?;
            print_line(fields(&[
                ("username", creds.username().to_owned()),
                ("base URL", creds.base_url().as_str().to_owned()),
                ("API key", mask(creds.token())),
                ("from", origin.to_string()),
            ]))
        }
        CredsCommand::Profiles => {
            for name in profile_names()? {
                print_line(name)?;
            }
            Ok(())
        }
    }
}
