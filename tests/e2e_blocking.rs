//! End to end: `carto::blocking::Client` on ureq against the emulator over real HTTP,
//! with the key in the Basic header, the query string and the body.

use crate::common;

use carto::{AuthPlacement, ClientOptions, Format, blocking};
use common::{Captured, USER, collect_sync, start_emulator};
use std::io::Read;

#[test]
fn blocking_client_against_the_emulator() {
    let emulator = start_emulator();
    let has_postgis = carto_test_support::postgis(emulator.has_postgis(USER), "GeoJSON");
    let creds = emulator.credentials(USER).unwrap();
    let captured = Captured::default();
    let mut tokens = Vec::new();
    tracing::subscriber::with_default(captured.subscriber(), || {
        for (auth, suffix) in [
            (AuthPlacement::BasicHeader, "sync_basic"),
            (AuthPlacement::QueryParam, "sync_query"),
            (AuthPlacement::BodyField, "sync_body"),
        ] {
            let options = ClientOptions::new().auth_placement(auth);
            let master = blocking::Client::with_options(creds.clone(), options).unwrap();
            tokens.extend(scenario!(master, has_postgis, suffix, [], collect_sync));
        }
        // A CSV export read as it arrives.
        let master = blocking::Client::new(creds.clone()).unwrap();
        let mut csv = String::new();
        master
            .sql()
            .export_reader("SELECT i FROM generate_series(1, 1000) i", Format::Csv)
            .unwrap()
            .read_to_string(&mut csv)
            .unwrap();
        assert_eq!(csv.lines().count(), 1001);
    });
    let traces = captured.text();
    assert!(traces.contains("/api/v2/sql"), "requests are traced");
    for token in &tokens {
        assert!(
            !traces.contains(token.as_str()),
            "a token leaked into the traces"
        );
    }
}
