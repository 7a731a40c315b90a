//! Regenerate the token of an API key: the old token stops working at once.

mod common;

use carto::blocking::Client;
use carto::models::{Api, NewApiKey};

fn main() -> common::Result {
    let account = common::account()?;
    let master = Client::new(account.credentials.clone())?;

    let name = common::unique("rotating key");
    let key = master
        .api_keys()
        .create(NewApiKey::builder(name.clone()).apis([Api::Sql]).build()?)?;
    let regenerated = master.api_keys().regenerate(&name)?;
    println!("token changed: {}", regenerated.token != key.token);
    println!(
        "old token valid: {}",
        master.api_keys().is_valid(key.token.clone())?
    );
    println!(
        "new token valid: {}",
        master.api_keys().is_valid(regenerated.token.clone())?
    );
    match master.with_token(key.token).sql().execute("SELECT 1") {
        Err(e) if e.is_unauthorized() => println!("the old token is refused: {e}"),
        other => return Err(format!("the old token should be refused, got {other:?}").into()),
    }
    master.api_keys().delete(&name)?;
    Ok(())
}
