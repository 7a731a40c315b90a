//! End to end: `carto::Client` on reqwest against the emulator over real HTTP, with the
//! key in the Basic header, the query string and the body.

use crate::common;

use carto::{AuthPlacement, Client, ClientOptions, Format};
use common::{Captured, USER, collect_async, start_emulator};

#[test]
fn async_client_against_the_emulator() {
    // The emulator runs on its own runtime; the client on this thread's, so that the
    // traces captured here are the client's (reqwest and hyper included).
    let emulator = start_emulator();
    let has_postgis = carto_test_support::postgis(emulator.has_postgis(USER), "GeoJSON");
    let creds = emulator.credentials(USER).unwrap();
    let captured = Captured::default();
    let _guard = tracing::subscriber::set_default(captured.subscriber());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tokens = runtime.block_on(async {
        let mut tokens = Vec::new();
        for (auth, suffix) in [
            (AuthPlacement::BasicHeader, "async_basic"),
            (AuthPlacement::QueryParam, "async_query"),
            (AuthPlacement::BodyField, "async_body"),
        ] {
            let options = ClientOptions::new().auth_placement(auth);
            let master = Client::with_options(creds.clone(), options).unwrap();
            tokens.extend(scenario!(master, has_postgis, suffix, [.await], collect_async));
        }
        // A CSV export read as it arrives.
        let master = Client::new(creds.clone()).unwrap();
        let csv = master
            .sql()
            .export_stream("SELECT i FROM generate_series(1, 1000) i", Format::Csv)
            .await
            .unwrap()
            .into_bytes()
            .await
            .unwrap();
        assert_eq!(String::from_utf8(csv).unwrap().lines().count(), 1001);
        tokens
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
