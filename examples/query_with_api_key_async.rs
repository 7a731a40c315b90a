//! Query with an API key (async): the same as `query_with_api_key`, on `carto::Client`.

mod common;

use carto::Client;
use carto::models::{Api, NewApiKey, TablePermission};
use futures_util::StreamExt;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Tornado {
    yr: i32,
    state: String,
}

#[tokio::main]
async fn main() -> common::Result {
    let account = common::account_async().await?;
    let master = Client::new(account.credentials.clone())?;
    master.sql().execute(common::CREATE_TORNADOES).await?;
    master.sql().execute(common::FILL_TORNADOES).await?;

    let name = common::unique("async query example");
    let key = master
        .api_keys()
        .create(
            NewApiKey::builder(name.clone())
                .apis([Api::Sql])
                .table("public", "tornadoes", [TablePermission::Select])
                .build()?,
        )
        .await?;
    let client = master.with_token(key.token);

    let texas = client
        .sql()
        .query::<Tornado>(
            "SELECT yr, state FROM tornadoes WHERE state = 'TX' ORDER BY yr DESC LIMIT 3",
        )
        .await?;
    for t in &texas.rows {
        println!("{} {}", t.yr, t.state);
    }

    let mut rows = client
        .sql()
        .query_rows::<Tornado>("SELECT yr, state FROM tornadoes")
        .await?;
    let mut count = 0;
    while let Some(row) = rows.next().await {
        row?;
        count += 1;
    }
    println!("streamed {count} tornadoes");

    master.api_keys().delete(&name).await?;
    Ok(())
}
