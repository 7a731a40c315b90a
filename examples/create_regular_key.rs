//! Create a regular API key with a table grant (and a schema grant), then show what
//! CARTO reports back.

mod common;

use carto::blocking::Client;
use carto::models::{Api, NewApiKey, TablePermission};

fn main() -> common::Result {
    let account = common::account()?;
    let master = Client::new(account.credentials.clone())?;
    master.sql().execute(common::CREATE_TORNADOES)?;

    // Rejected before any request: the reason says what is wrong.
    let invalid = NewApiKey::builder("bad")
        .table("public", "tornadoes", [])
        .build();
    println!(
        "an invalid key is refused locally: {}",
        invalid.unwrap_err()
    );

    let name = common::unique("tornado editor");
    let key = master.api_keys().create(
        NewApiKey::builder(name.clone())
            .apis([Api::Sql, Api::Maps])
            .table(
                "public",
                "tornadoes",
                [
                    TablePermission::Select,
                    TablePermission::Insert,
                    TablePermission::Update,
                ],
            )
            .schema_create("public")
            .build()?,
    )?;
    println!(
        "created {:?} ({} key), created at {}",
        key.name, key.key_type, key.created_at
    );
    println!("apis: {:?}", key.grants.apis());
    for table in key.grants.tables() {
        println!(
            "table {}.{}: {:?}",
            table.schema, table.name, table.permissions
        );
    }
    for schema in key.grants.schemas() {
        println!("schema {}: {:?}", schema.name, schema.permissions);
    }
    let editor = master.with_token(key.token.clone());
    editor
        .sql()
        .execute("INSERT INTO tornadoes (yr, state, magnitude) VALUES (2001, 'KS', 2)")?;
    println!("the key inserted a row");

    master.api_keys().delete(&name)?;
    Ok(())
}
