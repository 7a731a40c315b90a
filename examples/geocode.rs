//! Grant data services to a key and geocode a country:
//! `SELECT cdb_geocode_admin0_polygon('USA')`. Needs PostGIS on the emulator; skipped
//! with a message when it is missing.

mod common;

use carto::blocking::Client;
use carto::models::{Api, NewApiKey, Service};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Shape {
    kind: String,
    points: i64,
}

const GEOCODE: &str = "SELECT ST_GeometryType(g) AS kind, ST_NPoints(g) AS points
    FROM (SELECT cdb_geocode_admin0_polygon('USA') AS g) AS geocoded";

fn main() -> common::Result {
    let account = common::account()?;
    if !account.has_postgis() {
        println!(
            "Skipped: the emulator's PostgreSQL has no PostGIS, which the geocoder needs \
             (install postgresql-15-postgis-3)."
        );
        return Ok(());
    }
    let master = Client::new(account.credentials.clone())?;

    let name = common::unique("geocoder");
    let key = master.api_keys().create(
        NewApiKey::builder(name.clone())
            .apis([Api::Sql])
            .services([Service::Geocoding])
            .build()?,
    )?;
    println!("key services: {:?}", key.grants.services());
    let geocoder = master.with_token(key.token);
    let shape = geocoder.sql().query::<Shape>(GEOCODE)?;
    let usa = shape.rows.first().ok_or("no geocoding result")?;
    println!("USA geocoded to a {} of {} points", usa.kind, usa.points);

    let plain_name = common::unique("no services");
    let plain = master.api_keys().create(
        NewApiKey::builder(plain_name.clone())
            .apis([Api::Sql])
            .build()?,
    )?;
    match master.with_token(plain.token).sql().query::<Shape>(GEOCODE) {
        Err(e) => println!("a key without the geocoding grant is refused: {e}"),
        Ok(_) => return Err("a key without the geocoding grant should be refused".into()),
    }

    master.api_keys().delete(&name)?;
    master.api_keys().delete(&plain_name)?;
    Ok(())
}
