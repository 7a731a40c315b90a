//! Delete an API key: requests with it are refused afterwards; the master and Default
//! public keys cannot be deleted.

mod common;

use carto::blocking::Client;
use carto::models::{Api, NewApiKey};

fn main() -> common::Result {
    let account = common::account()?;
    let master = Client::new(account.credentials.clone())?;

    let name = common::unique("short-lived key");
    let key = master
        .api_keys()
        .create(NewApiKey::builder(name.clone()).apis([Api::Sql]).build()?)?;
    master.api_keys().delete(&name)?;
    println!("deleted {name:?}");
    match master.api_keys().get(&name) {
        Err(e) if e.is_not_found() => println!("getting it again: {e}"),
        other => return Err(format!("the key should be gone, got {other:?}").into()),
    }
    match master.with_token(key.token).sql().execute("SELECT 1") {
        Err(e) if e.is_unauthorized() => println!("its token is refused: {e}"),
        other => return Err(format!("the token should be refused, got {other:?}").into()),
    }
    match master.api_keys().delete("Master") {
        Err(e) if e.is_forbidden() => println!("deleting the master key: {e}"),
        other => return Err(format!("the master key cannot be deleted, got {other:?}").into()),
    }
    Ok(())
}
