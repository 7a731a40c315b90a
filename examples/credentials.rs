//! Credentials from a cartoframes `creds.json` file and as the process default.

mod common;

use carto::{Credentials, blocking};

fn main() -> common::Result {
    let account = common::account()?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("creds.json");

    // What cartoframes' Credentials(...).save() writes; readable by its owner only.
    account.credentials.save(&path)?;
    println!("saved {}", path.display());
    let from_file = Credentials::from_file(&path)?;
    println!("loaded {from_file:?}"); // Debug never shows the token
    let client = blocking::Client::new(from_file.clone())?;
    println!("the key belongs to {}", client.me()?.user_data.username);

    // The process default, as cartoframes' set_default_credentials().
    Credentials::set_default(from_file);
    let client = blocking::Client::from_default()?;
    println!("default client for {}", client.credentials().username());
    Credentials::unset_default();
    Ok(())
}
