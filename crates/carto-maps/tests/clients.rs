//! The Maps API clients over closure transports: golden requests, CARTO's answers as
//! the protocol notes give them (`docs/maps` of Windshaft-cartodb), tiles and their 204,
//! and the errors Windshaft sends.

use std::sync::{Arc, Mutex};

use carto_core::{BaseUrl, Credentials, Error, HttpRequest};
use carto_maps::endpoints::{GetNamedTile, GetStaticImage, GetTile, StaticView};
use carto_maps::{
    AsyncMapsClient, ImageFormat, InstantiateOptions, Layer, MapConfig, MapsClient, NamedMap,
    Placeholder, PlaceholderType, TileCoord, TileFormat,
};
use carto_test_support::{json_response, render_request};
use carto_transport::{async_transport_fn, transport_fn};
use http::StatusCode;
use serde_json::json;

const KEY: &str = "maps-key-0123";

fn credentials() -> Credentials {
    Credentials::new(BaseUrl::parse("https://alice.carto.com").unwrap(), KEY)
}

/// The anonymous-map answer of Windshaft-cartodb's docs (`03-anonymous-maps.md`).
const ANONYMOUS: &str = r#"{"layergroupid":"c01a54877c62831bb51720263f91fb33:0","last_updated":"1970-01-01T00:00:00.000Z","metadata":{"layers":[{"type":"mapnik","meta":{}}],"tilejson":{"raster":{"tilejson":"2.2.0","tiles":["http://a.cdb.com/c01a54877c62831bb51720263f91fb33/{z}/{x}/{y}.png"]}},"url":{"raster":{"urlTemplate":"http://{s}.cdb.com/c01a54877c62831bb51720263f91fb33/{z}/{x}/{y}.png","subdomains":["a","b"]}}},"cdn_url":{"http":"http://cdb.com","https":"https://cdb.com"}}"#;

type Seen = Arc<Mutex<Vec<String>>>;

fn recording(
    answer: fn(&HttpRequest) -> (u16, Vec<u8>),
) -> (impl carto_transport::Transport, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let transport = transport_fn(move |request| {
        log.lock().unwrap().push(render_request(&request));
        let (status, body) = answer(&request);
        Ok(json_response(status, &body))
    });
    (transport, seen)
}

fn template() -> NamedMap {
    NamedMap::new(
        "tornadoes",
        MapConfig::new([Layer::styled(
            "select * from tornadoes where state = '<%= state %>'",
            "#layer { marker-fill: <%= color %>; }",
        )]),
    )
    .with_tokens(["secret-view-token"])
    .with_placeholder("state", Placeholder::new(PlaceholderType::SqlLiteral, "TX"))
    .with_placeholder("color", Placeholder::new(PlaceholderType::CssColor, "red"))
}

#[test]
fn named_map_crud_and_instantiation_send_windshaft_requests() {
    let (transport, seen) = recording(|request| {
        let path = request.uri().path();
        match (request.method().as_str(), path) {
            ("POST", "/api/v1/map/named") => (200, br#"{"template_id":"tornadoes"}"#.to_vec()),
            ("GET", "/api/v1/map/named") => {
                (200, br#"{"template_ids":["tornadoes","tpl_1"]}"#.to_vec())
            }
            ("GET", _) => {
                let doc = json!({"template": serde_json::to_value(template()).unwrap()});
                (200, doc.to_string().into_bytes())
            }
            ("PUT", _) => (200, br#"{"template_id":"tornadoes"}"#.to_vec()),
            ("DELETE", _) => (204, Vec::new()),
            ("POST", _) => (200, ANONYMOUS.as_bytes().to_vec()),
            _ => (404, br#"{"errors":["not found"]}"#.to_vec()),
        }
    });
    let maps = MapsClient::from_credentials(transport, credentials());
    assert_eq!(
        maps.create_named_map(&template()).unwrap().template_id,
        "tornadoes"
    );
    assert_eq!(maps.named_maps().unwrap(), ["tornadoes", "tpl_1"]);
    assert_eq!(maps.named_map("tornadoes").unwrap(), template());
    assert_eq!(maps.update_named_map(&template()).unwrap(), "tornadoes");
    let options = InstantiateOptions::new()
        .param("state", "KS")
        .auth_token("secret-view-token");
    let group = maps
        .instantiate_named_map_with("tornadoes", &options)
        .unwrap();
    assert_eq!(group.layergroupid, "c01a54877c62831bb51720263f91fb33:0");
    maps.delete_named_map("tornadoes").unwrap();
    insta::assert_snapshot!("named_map_requests", seen.lock().unwrap().join("\n---\n"));
}

#[test]
fn anonymous_maps_and_tiles() {
    let (transport, seen) = recording(|request| match request.uri().path() {
        "/api/v1/map" => (200, ANONYMOUS.as_bytes().to_vec()),
        p if p.ends_with("/2/1/1.mvt") => (200, vec![0x1a, 0x02, 0x78, 0x01]),
        _ => (204, Vec::new()),
    });
    let maps = MapsClient::from_credentials(transport, credentials());
    let config = MapConfig::new([Layer::vector(
        "select cartodb_id, the_geom_webmercator from t",
    )]);
    let group = maps.instantiate(&config).unwrap();
    assert_eq!(group.metadata.layers[0].layer_type, "mapnik");
    let coord = TileCoord::new(2, 1, 1).unwrap();
    let tile = maps
        .tile(&GetTile::new(&group.layergroupid, coord, TileFormat::Mvt).layer("0"))
        .unwrap()
        .unwrap();
    assert_eq!(tile.data, [0x1a, 0x02, 0x78, 0x01]);
    let empty = TileCoord::new(2, 0, 0).unwrap();
    assert_eq!(
        maps.tile(&GetTile::new(&group.layergroupid, empty, TileFormat::Mvt))
            .unwrap(),
        None
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen[0].starts_with("POST https://alice.carto.com/api/v1/map?"),
        "{}",
        seen[0]
    );
    assert!(
        seen[1].starts_with(
            "GET https://alice.carto.com/api/v1/map/c01a54877c62831bb51720263f91fb33:0/0/2/1/1.mvt"
        ),
        "{}",
        seen[1]
    );
}

#[test]
fn bad_input_is_refused_before_any_request() {
    let (transport, seen) = recording(|_| (200, b"{}".to_vec()));
    let maps = MapsClient::from_credentials(transport, credentials());
    let mut bad = template();
    bad.name = "no spaces".into();
    assert!(matches!(
        maps.create_named_map(&bad),
        Err(Error::InvalidInput(_))
    ));
    let mixed = MapConfig::new([Layer::vector("select 1"), Layer::styled("select 2", "#l{}")]);
    assert!(matches!(
        maps.instantiate(&mixed),
        Err(Error::InvalidInput(_))
    ));
    assert!(maps.named_map("").is_err());
    let image = GetStaticImage {
        layergroup: "x:0".into(),
        view: StaticView::Center {
            zoom: 1,
            lat: 0.0,
            lng: 0.0,
        },
        width: 9000,
        height: 10,
        format: ImageFormat::Png,
    };
    assert!(matches!(maps.send(&image), Err(Error::InvalidInput(_))));
    assert!(TileCoord::new(1, 2, 0).is_err());
    assert!(seen.lock().unwrap().is_empty());
}

#[test]
fn windshaft_errors_keep_their_status_and_message() {
    let (transport, _) = recording(|_| {
        let body = r#"{"errors":["Forbidden"],"errors_with_context":[{"type":"auth","message":"Forbidden","subtype":"api-key-does-not-grant-access"}]}"#;
        (403, body.as_bytes().to_vec())
    });
    let maps = MapsClient::from_credentials(transport, credentials());
    let err = maps.named_maps().unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::FORBIDDEN));
    assert!(err.to_string().contains("Forbidden"), "{err}");
    assert!(!format!("{err:?} {maps:?}").contains(KEY));
    let (transport, _) = recording(|_| (200, b"{\"layergroupid\":".to_vec()));
    let maps = MapsClient::from_credentials(transport, credentials());
    assert!(matches!(
        maps.instantiate_named_map("x"),
        Err(Error::Decode(_))
    ));
}

#[test]
fn named_tiles_and_static_images_have_windshaft_paths() {
    let (transport, seen) = recording(|_| (200, b"\x89PNG".to_vec()));
    let maps = MapsClient::from_credentials(transport, credentials());
    let named = GetNamedTile {
        template_id: "tornadoes".into(),
        layer: "all".into(),
        coord: TileCoord::new(3, 2, 1).unwrap(),
        format: TileFormat::Png,
        auth_token: Some("secret-view-token".into()),
        params: Some(json!({"state": "KS"}).as_object().unwrap().clone()),
    };
    maps.send(&named).unwrap();
    let image = GetStaticImage {
        layergroup: "abc:0".into(),
        view: StaticView::Bbox {
            west: -10.0,
            south: -5.5,
            east: 10.0,
            north: 5.5,
        },
        width: 640,
        height: 480,
        format: ImageFormat::Jpg,
    };
    assert_eq!(maps.send(&image).unwrap().data, b"\x89PNG");
    insta::assert_snapshot!("resource_requests", seen.lock().unwrap().join("\n---\n"));
}

#[tokio::test]
async fn the_async_client_does_the_same() {
    let transport = async_transport_fn(|request| {
        let (status, body) = match request.uri().path() {
            "/api/v1/map/named" => (200, r#"{"template_ids":["a"]}"#.to_owned()),
            _ => (200, ANONYMOUS.to_owned()),
        };
        async move { Ok(json_response(status, body.as_bytes())) }
    });
    let maps = AsyncMapsClient::from_credentials(transport, credentials());
    assert_eq!(maps.named_maps().await.unwrap(), ["a"]);
    let group = maps
        .instantiate(&MapConfig::new([Layer::vector("select 1")]))
        .await
        .unwrap();
    let base = BaseUrl::parse("https://alice.carto.com").unwrap();
    let url = group.tile_url_template(&base, Some("0"), TileFormat::Mvt, None);
    assert_eq!(
        url,
        "https://alice.carto.com/api/v1/map/c01a54877c62831bb51720263f91fb33:0/0/{z}/{x}/{y}.mvt"
    );
}
