//! CARTO 3, Tokens API: provision an API access token that may read one table from one
//! origin, use it as a fixed token (it reads that table, and nothing else), list the
//! tokens, narrow its referers, and revoke it.
//!
//! `cargo run --example carto3_tokens` starts an in-process CARTO emulator; with
//! `CARTO_API_BASE_URL` and M2M credentials (see `carto3_query`) it runs against that
//! account. The Tokens API needs an OAuth token: M2M credentials, not an API access token.

mod common;

use carto::carto3::{AllowedApi, ApiCredentials, NewToken, TokenUpdate, blocking::Client};

fn main() -> common::Result {
    let account = common::carto3_account()?;
    let carto = Client::new(account.credentials.clone())?;
    let sql = carto.sql(&account.connection);
    sql.query::<serde_json::Value>(
        "CREATE TABLE IF NOT EXISTS public_stops AS SELECT 1 AS id, 'Sol' AS name;
         CREATE TABLE IF NOT EXISTS private_notes AS SELECT 'do not share' AS note",
    )?;

    let token = carto.tokens().create(
        &NewToken::builder()
            .grant(&account.connection, "public.public_stops")
            .allowed_apis([AllowedApi::Sql])
            .build()?,
    )?;
    println!("created token {}", token.id.as_deref().unwrap_or("(no id)"));

    // The new token as a fixed Bearer token of a second client.
    let scoped =
        ApiCredentials::with_token(account.credentials.base_url().clone(), token.token.clone())?;
    let reader = Client::new(scoped)?;
    let stops = reader
        .sql(&account.connection)
        .query::<serde_json::Value>("SELECT name FROM public_stops")?;
    println!("the token reads public_stops: {}", stops.rows[0]["name"]);
    let refused = reader
        .sql(&account.connection)
        .query::<serde_json::Value>("SELECT note FROM private_notes");
    println!(
        "and not private_notes: {}",
        refused
            .as_ref()
            .map_or_else(ToString::to_string, |_| "read!".into())
    );
    assert!(refused.is_err());

    let listed = carto.tokens().list()?;
    println!("{} token(s) on the account", listed.len());
    carto.tokens().update(
        &token.token,
        &TokenUpdate::new().referers(["https://maps.example.com"])?,
    )?;
    carto.tokens().delete(&token.token)?;
    let after = reader
        .sql(&account.connection)
        .query::<serde_json::Value>("SELECT 1");
    println!(
        "after revocation: {}",
        after.map_or_else(|e| e.to_string(), |_| "still works!".into())
    );
    Ok(())
}
