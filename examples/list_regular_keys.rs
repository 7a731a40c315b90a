//! List the regular API keys of an account, page by page behind a lazy iterator.

mod common;

use carto::blocking::Client;
use carto::models::{Api, NewApiKey};
use carto::{ListOptions, ListOrder};

fn main() -> common::Result {
    let account = common::account()?;
    let master = Client::new(account.credentials.clone())?;

    let names: Vec<String> = (1..=3)
        .map(|i| common::unique(&format!("listed key {i}")))
        .collect();
    for name in &names {
        master
            .api_keys()
            .create(NewApiKey::builder(name.clone()).apis([Api::Sql]).build()?)?;
    }

    // Two keys per request: the iterator fetches the next page when it needs it.
    println!("regular keys, by name:");
    for key in master
        .api_keys()
        .list_with(&ListOptions::regular().per_page(2).order(ListOrder::Name))
    {
        let key = key?;
        println!(
            "  {:<32} apis {:?}, updated {}",
            key.name,
            key.grants.apis(),
            key.updated_at
        );
    }
    let first = master
        .api_keys()
        .list_page_with(1, &ListOptions::regular().per_page(2))?;
    println!("{} regular keys in all", first.total);

    for name in &names {
        master.api_keys().delete(name)?;
    }
    Ok(())
}
