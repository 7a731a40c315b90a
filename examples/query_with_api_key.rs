//! Query with an API key (sync): a regular key granted `SELECT` on `tornadoes` runs
//! typed queries, a GET for a short query, a CSV export, and a streamed result.

mod common;

use carto::blocking::Client;
use carto::models::{Api, NewApiKey, TablePermission};
use carto::{Format, QueryOptions};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Tornado {
    cartodb_id: i64,
    yr: i32,
    state: String,
    magnitude: i32,
}

fn main() -> common::Result {
    let account = common::account()?;
    let master = Client::new(account.credentials.clone())?;
    master.sql().execute(common::CREATE_TORNADOES)?;
    master.sql().execute(common::FILL_TORNADOES)?;

    // In your program the key usually comes from CARTO_API_KEY; here we make one.
    let name = common::unique("query example");
    let key = master.api_keys().create(
        NewApiKey::builder(name.clone())
            .apis([Api::Sql])
            .table("public", "tornadoes", [TablePermission::Select])
            .build()?,
    )?;
    let client = master.with_token(key.token);

    let strong = client.sql().query::<Tornado>(
        "SELECT cartodb_id, yr, state, magnitude FROM tornadoes WHERE magnitude >= 4 ORDER BY cartodb_id LIMIT 5",
    )?;
    println!(
        "{} strong tornadoes (first 5), query took {:.3} s:",
        strong.total_rows,
        strong.time.unwrap_or_default().as_secs_f64()
    );
    for t in &strong.rows {
        println!(
            "  #{:<4} {} {} F{}",
            t.cartodb_id, t.yr, t.state, t.magnitude
        );
    }
    let columns: Vec<String> = strong
        .fields
        .iter()
        .map(|(name, field)| {
            format!(
                "{name}: {}",
                field.pgtype.as_deref().unwrap_or(&field.field_type)
            )
        })
        .collect();
    println!("columns: {}", columns.join(", "));

    let short = client.sql().query_with::<serde_json::Value>(
        "SELECT count(*) AS n FROM tornadoes",
        &QueryOptions::new().use_get(true),
    )?;
    println!("count (sent as a GET): {}", short.rows[0]["n"]);

    let csv = client.sql().export_with(
        "SELECT state, count(*) AS n FROM tornadoes GROUP BY state ORDER BY state",
        Format::Csv,
        &QueryOptions::new().filename("tornadoes_by_state"),
    )?;
    print!("as CSV:\n{}", String::from_utf8_lossy(&csv));

    let mut total_magnitude = 0i64;
    let mut rows = client
        .sql()
        .query_rows::<Tornado>("SELECT cartodb_id, yr, state, magnitude FROM tornadoes")?;
    for tornado in rows.by_ref() {
        total_magnitude += i64::from(tornado?.magnitude);
    }
    let summary = rows.summary().ok_or("the result ended early")?;
    println!(
        "streamed {} rows, total magnitude {total_magnitude}",
        summary.total_rows
    );

    master.api_keys().delete(&name)?;
    Ok(())
}
