//! End to end for organization users: each user's tables live in a schema named after
//! the user, keys are granted on that schema, and users do not see each other's data.

use carto::blocking::Client;
use carto::models::{NewApiKey, TablePermission};
use carto_emulator::Emulator;
use serde_json::Value;

#[test]
fn organization_users_and_their_schemas() {
    let emulator = Emulator::builder()
        .org("acme", ["bob", "carol"])
        .start_blocking()
        .expect("the emulator starts");
    let bob = Client::new(emulator.credentials("bob").unwrap()).unwrap();
    let carol = Client::new(emulator.credentials("carol").unwrap()).unwrap();

    let schema = bob
        .sql()
        .query::<Value>("SELECT current_schema() AS s")
        .unwrap();
    assert_eq!(schema.rows[0]["s"], "bob");
    bob.sql()
        .query::<Value>("CREATE TABLE sightings (id serial, what text); INSERT INTO sightings (what) VALUES ('funnel')")
        .unwrap();

    let key = bob
        .api_keys()
        .create(
            NewApiKey::builder("bob reader")
                .table("bob", "sightings", [TablePermission::Select])
                .build()
                .unwrap(),
        )
        .unwrap();
    assert!(
        key.grants
            .allows_table("bob", "sightings", TablePermission::Select)
    );
    let reader = bob.with_token(key.token.clone());
    let rows = reader
        .sql()
        .query::<Value>("SELECT what FROM sightings")
        .unwrap();
    assert_eq!(rows.rows[0]["what"], "funnel");

    // Carol cannot read Bob's table, and Bob's key is not valid for Carol.
    let err = carol
        .sql()
        .query::<Value>("SELECT * FROM bob.sightings")
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    let err = carol
        .with_token(key.token)
        .sql()
        .query::<Value>("SELECT 1")
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err}");
    let err = carol.api_keys().get("bob reader").unwrap_err();
    assert!(err.is_not_found(), "{err}");
}
