//! CARTO 3, SQL API v3: authenticate with M2M client credentials (or a token), run
//! queries with parameters, read rows typed with serde, walk a result row by row as it
//! arrives, and see the synchronous limit as a typed error.
//!
//! `cargo run --example carto3_query` starts an in-process CARTO emulator (its user's
//! CARTO 3 account, M2M credentials, one PostgreSQL connection). With
//! `CARTO_API_BASE_URL`, `CARTO_M2M_CLIENT_ID` and `CARTO_M2M_CLIENT_SECRET` (or
//! `CARTO_API_TOKEN`), and `CARTO_CONNECTION`, it runs against that account.

mod common;

use carto::carto3::{QueryOptions, QueryParameters, blocking::Client};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct City {
    name: String,
    population: i64,
}

fn main() -> common::Result {
    let account = common::carto3_account()?;
    let carto = Client::new(account.credentials.clone())?;
    let sql = carto.sql(&account.connection);

    sql.query::<serde_json::Value>(
        "CREATE TABLE IF NOT EXISTS cities AS
         SELECT * FROM (VALUES ('Madrid', 3300000), ('Bilbao', 345000), ('Soria', 40000))
         AS t(name, population)",
    )?;

    // Parameters travel apart from the SQL ($1 for PostgreSQL and Redshift connections).
    let options = QueryOptions::new().params(QueryParameters::positional([100_000]));
    let big = sql.query_with::<City>(
        "SELECT name, population FROM cities WHERE population > $1 ORDER BY population DESC",
        &options,
    )?;
    for city in &big.rows {
        println!("{:<8} {:>9}", city.name, city.population);
    }
    let types: Vec<String> = big
        .schema
        .iter()
        .map(|f| format!("{} {}", f.name, f.field_type))
        .collect();
    println!("schema: {}", types.join(", "));

    // A large result, one row at a time (only the row being read is held).
    let mut total = 0_i64;
    let mut rows = sql.query_rows::<City>("SELECT name, population FROM cities")?;
    for city in rows.by_ref() {
        total += city?.population;
    }
    println!(
        "{total} people in {} columns of rows",
        rows.tail().map_or(0, |t| t.schema.len())
    );
    assert_eq!(total, 3_685_000);

    // The token the client fetched, for another client (deck.gl, @carto/api-client).
    let token = carto.access_token()?;
    println!(
        "an access token of {} characters",
        token.expose_secret().len()
    );
    Ok(())
}
