//! List the regular API keys of an account as an async stream.

mod common;

use carto::models::{Api, NewApiKey};
use carto::{Client, ListOptions};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> common::Result {
    let account = common::account_async().await?;
    let master = Client::new(account.credentials.clone())?;
    let names: Vec<String> = (1..=3)
        .map(|i| common::unique(&format!("async listed {i}")))
        .collect();
    for name in &names {
        master
            .api_keys()
            .create(NewApiKey::builder(name.clone()).apis([Api::Sql]).build()?)
            .await?;
    }
    let keys = master.api_keys();
    let mut stream = keys.list_with(&ListOptions::regular().per_page(2));
    while let Some(key) = stream.next().await {
        println!("  {}", key?.name);
    }
    for name in &names {
        master.api_keys().delete(name).await?;
    }
    Ok(())
}
