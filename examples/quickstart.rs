//! The Auth API story of CARTO's documentation, end to end:
//!
//! 1. the master key creates a `tornadoes` table;
//! 2. it creates a regular API key that may only `SELECT` from it;
//! 3. the regular key queries last year's tornadoes, and fails to insert one;
//! 4. the key's token is regenerated: the old token is refused, the new one works;
//! 5. the key is deleted: it is refused.
//!
//! `cargo run --example quickstart` starts an in-process CARTO emulator; with
//! `CARTO_BASE_URL` and `CARTO_API_KEY` (a master key) it runs against that account.

mod common;

use carto::blocking::Client;
use carto::models::{Api, NewApiKey, TablePermission};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct StateCount {
    state: String,
    tornadoes: i64,
}

const LAST_YEAR: &str = "SELECT state, count(*) AS tornadoes FROM tornadoes
    WHERE yr = extract(year FROM now())::int - 1
    GROUP BY state ORDER BY tornadoes DESC, state";

fn main() -> common::Result {
    let account = common::account()?;
    let master = Client::new(account.credentials.clone())?;

    step("master", "creates the tornadoes table and loads it");
    master.sql().execute(common::CREATE_TORNADOES)?;
    let loaded = master.sql().execute(common::FILL_TORNADOES)?;
    println!("          {} rows inserted", loaded.total_rows);

    let name = common::unique("tornado reader");
    step(
        "master",
        &format!("creates the API key \"{name}\": SQL API, SELECT on tornadoes"),
    );
    let key = master.api_keys().create(
        NewApiKey::builder(name.clone())
            .apis([Api::Sql])
            .table("public", "tornadoes", [TablePermission::Select])
            .build()?,
    )?;
    println!(
        "          created a {} key; its token is kept secret",
        key.key_type
    );

    let reader = master.with_token(key.token.clone());
    step("reader", "queries last year's tornadoes");
    let result = reader.sql().query::<StateCount>(LAST_YEAR)?;
    for row in &result.rows {
        println!("          {:<3} {}", row.state, row.tornadoes);
    }
    println!(
        "          ({} states, {:?} s)",
        result.total_rows,
        result.time.unwrap_or_default().as_secs_f64()
    );

    step("reader", "tries to insert a tornado");
    let refused = reader
        .sql()
        .execute("INSERT INTO tornadoes (yr, state, magnitude) VALUES (2000, 'TX', 5)");
    expect_refused(refused, "insert with a select-only key")?;

    step("master", "regenerates the key's token");
    let regenerated = master.api_keys().regenerate(&name)?;
    println!(
        "          new token issued (different from the old one: {})",
        regenerated.token != key.token
    );
    step("old token", "queries again");
    expect_refused(reader.sql().query::<StateCount>(LAST_YEAR), "the old token")?;
    let renewed = master.with_token(regenerated.token.clone());
    step("new token", "queries again");
    println!(
        "          {} states",
        renewed.sql().query::<StateCount>(LAST_YEAR)?.total_rows
    );

    step("master", "deletes the key");
    master.api_keys().delete(&name)?;
    step("new token", "queries after the deletion");
    expect_refused(
        renewed.sql().query::<StateCount>(LAST_YEAR),
        "a deleted key",
    )?;

    println!("\nDone: every step behaved as the CARTO docs describe.");
    Ok(())
}

fn step(who: &str, what: &str) {
    println!("[{who:>9}] {what}");
}

/// The call must fail with a CARTO error (401 or 403); anything else ends the example.
fn expect_refused<T>(result: Result<T, carto::Error>, what: &str) -> common::Result {
    match result {
        Err(e) if e.is_unauthorized() || e.is_forbidden() => {
            println!("          refused, as expected: {e}");
            Ok(())
        }
        Err(e) => Err(format!("{what}: expected a 401 or 403, got: {e}").into()),
        Ok(_) => Err(format!("{what}: expected a refusal, but it succeeded").into()),
    }
}
