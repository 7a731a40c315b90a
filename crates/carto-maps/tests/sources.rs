//! CARTO 3 map sources over a closure transport: instantiate, TileJSON, tiles, stats,
//! the GET/POST switch, and the token kept on the API's host.

use std::sync::{Arc, Mutex};

use carto_core::Error;
use carto_core::carto3::{ApiBaseUrl, ApiCredentials};
use carto_maps::TileCoord;
use carto_maps::v3::{AsyncSourcesClient, MapSource, SourcesClient};
use carto_test_support::json_response;
use carto_transport::{async_transport_fn, transport_fn};
use serde_json::json;

const TOKEN: &str = "eyJ-sources-token";

fn credentials() -> ApiCredentials {
    let base = ApiBaseUrl::parse("https://gcp-us-east1.api.carto.com").unwrap();
    ApiCredentials::with_token(base, TOKEN).unwrap()
}

fn answer(path: &str, tilejson_host: &str) -> (u16, Vec<u8>) {
    let body = match path {
        "/v3/maps/carto_dw/table" | "/v3/maps/carto_dw/query" => json!({
            "nrows": 3, "size": 120,
            "schema": [{"name": "geom", "type": "geometry"}],
            "tilejson": {"url": [format!("{tilejson_host}/v3/maps/carto_dw/table/tilejson?name=t&cache=1")]}
        }),
        "/v3/maps/carto_dw/table/tilejson" => json!({
            "tilejson": "2.2.0",
            "tiles": ["https://gcp-us-east1.api.carto.com/v3/maps/carto_dw/table/{z}/{x}/{y}?name=t&formatTiles=mvt"],
            "vector_layers": [{"id": "default", "fields": {}}],
            "bounds": [-10, -5, 10, 5],
            "tilestats": {"layerCount": 1, "layers": []}
        }),
        "/v3/maps/carto_dw/table/0/0/0" => return (200, vec![0x1a, 0x00]),
        "/v3/stats/carto_dw/public.t/n" => json!({"min": 1, "max": 3, "avg": 2, "sum": 6}),
        _ => return (204, Vec::new()),
    };
    (200, body.to_string().into_bytes())
}

#[test]
fn a_table_source_from_instantiation_to_tiles_and_stats() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let transport = transport_fn(move |request| {
        assert_eq!(
            request.headers()["authorization"],
            format!("Bearer {TOKEN}").as_str()
        );
        log.lock()
            .unwrap()
            .push(format!("{} {}", request.method(), request.uri()));
        let (status, body) = answer(request.uri().path(), "https://gcp-us-east1.api.carto.com");
        Ok(json_response(status, &body))
    });
    let sources = SourcesClient::from_credentials(transport, credentials());
    let source = MapSource::table("carto_dw", "public.t").columns(["n"]);
    let instance = sources.instantiate(&source).unwrap();
    assert_eq!(instance.nrows, Some(3));
    let tilejson = sources.tilejson(&instance).unwrap();
    assert_eq!(
        tilejson.bounds.as_deref(),
        Some(&[-10.0, -5.0, 10.0, 5.0][..])
    );
    let tile = sources
        .tile(&tilejson, TileCoord::new(0, 0, 0).unwrap())
        .unwrap();
    assert_eq!(tile.unwrap().data, [0x1a, 0x00]);
    assert_eq!(
        sources
            .tile(&tilejson, TileCoord::new(1, 1, 1).unwrap())
            .unwrap(),
        None
    );
    let stats = sources.stats(&source, "n").unwrap();
    assert_eq!(stats["sum"], 6);
    let seen = seen.lock().unwrap();
    assert!(seen[0].starts_with("GET https://gcp-us-east1.api.carto.com/v3/maps/carto_dw/table?name=public.t&columns=n&v=3.4"), "{seen:?}");
    assert!(
        seen[2].contains("/v3/maps/carto_dw/table/0/0/0?name=t&formatTiles=mvt"),
        "{seen:?}"
    );
}

#[test]
fn a_long_query_is_posted_and_a_foreign_tilejson_url_never_gets_the_token() {
    let transport = transport_fn(|request| {
        let path = request.uri().path().to_owned();
        if request.method() == "POST" {
            let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
            assert!(body["q"].as_str().unwrap().len() > 7000);
        }
        let (status, body) = answer(&path, "https://evil.example");
        Ok(json_response(status, &body))
    });
    let sources = SourcesClient::from_credentials(transport, credentials());
    let long = format!("SELECT * FROM t WHERE name <> '{}'", "x".repeat(8000));
    let instance = sources
        .instantiate(&MapSource::query("carto_dw", long))
        .unwrap();
    let err = sources.tilejson(&instance).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
}

#[test]
fn empty_names_and_binary_tiles_are_refused() {
    let transport = transport_fn(|_| Ok(json_response(200, b"{}")));
    let sources = SourcesClient::from_credentials(transport, credentials());
    assert!(sources.instantiate(&MapSource::table("", "t")).is_err());
    assert!(sources.instantiate(&MapSource::query("c", " ")).is_err());
    let binary: carto_maps::v3::TileJson = serde_json::from_value(json!({
        "tilejson": "2.2.0", "tiles": ["https://x/{z}/{x}/{y}?formatTiles=binary"]}))
    .unwrap();
    assert!(binary.tile_url(TileCoord::new(0, 0, 0).unwrap()).is_err());
}

#[tokio::test]
async fn the_async_client_does_the_same() {
    let transport = async_transport_fn(|request| {
        let (status, body) = answer(request.uri().path(), "https://gcp-us-east1.api.carto.com");
        async move { Ok(json_response(status, &body)) }
    });
    let sources = AsyncSourcesClient::from_credentials(transport, credentials());
    let instance = sources
        .instantiate(&MapSource::table("carto_dw", "public.t"))
        .await
        .unwrap();
    let tilejson = sources.tilejson(&instance).await.unwrap();
    let tile = sources
        .tile(&tilejson, TileCoord::new(0, 0, 0).unwrap())
        .await
        .unwrap();
    assert!(tile.is_some());
}
