//! Maps API v1 (Windshaft) on the emulator: named maps, anonymous maps, MVT tiles and
//! attributes as a user, then as an attacker (keys without the `maps` grant, tables a key may
//! not read, placeholder and feature-id injection, tokens of templates, huge coordinates,
//! layergroups of another user, a tile flood).

use carto_test_support::emulator::http as common;

use carto_emulator::Emulator;
use carto_test_support::postgis;
use common::{Reply, client, send};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Env {
    emu: Emulator,
    c: reqwest::Client,
}

impl Env {
    async fn start(builder: carto_emulator::EmulatorBuilder) -> Env {
        let emu = builder
            .user("alice")
            .user("bob")
            .start()
            .await
            .expect("emulator");
        Env { emu, c: client() }
    }

    fn master(&self) -> String {
        common::master(&self.emu, "alice")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", common::base(&self.emu, "alice"))
    }

    /// A Maps API request on alice's `path`, with `key` as `api_key` in the query.
    async fn maps(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut url = self.url(path);
        if let Some(k) = key {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str("api_key=");
            url.push_str(k);
        }
        send(&self.c, method, &url, None, body).await
    }

    async fn master_sql(&self, q: &str) -> Value {
        let r = send(
            &self.c,
            Method::POST,
            &self.url("/api/v2/sql"),
            Some(("alice", &self.master())),
            Some(&json!({ "q": q })),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text);
        r.json()
    }

    async fn regular_key(&self, name: &str, grants: Value) -> String {
        let r = send(
            &self.c,
            Method::POST,
            &self.url("/api/v3/api_keys"),
            Some(("alice", &self.master())),
            Some(&json!({"name": name, "grants": grants})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()["token"].as_str().unwrap().to_owned()
    }

    /// alice's table `places`: three points (two in the north-west quarter of the world),
    /// with a date column (not an MVT property).
    async fn places(&self) {
        self.master_sql(
            "CREATE TABLE places (cartodb_id int, name text, score float8, seen date, the_geom_webmercator geometry(Point, 3857));
             INSERT INTO places VALUES
               (1, 'a', 1.5, '2020-01-01', ST_Transform(ST_SetSRID(ST_MakePoint(-100, 40), 4326), 3857)),
               (2, 'b''s', 2, '2020-01-02', ST_Transform(ST_SetSRID(ST_MakePoint(-3, 40), 4326), 3857)),
               (3, 'c', 3, NULL, ST_Transform(ST_SetSRID(ST_MakePoint(150, -30), 4326), 3857))",
        )
        .await;
    }

    /// Instantiating a vector map of `sql` with `key` fails with `status` and `message`.
    async fn refused(
        &self,
        key: Option<&str>,
        sql: &str,
        status: StatusCode,
        message: &str,
    ) -> Reply {
        let r = self
            .maps(Method::POST, "/api/v1/map", key, Some(&vector(sql)))
            .await;
        error(&r, status, message);
        r
    }

    /// Instantiates `config` with `key`; the layergroup id.
    async fn anonymous(&self, key: Option<&str>, config: &Value) -> String {
        let r = self
            .maps(Method::POST, "/api/v1/map", key, Some(config))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json()["layergroupid"].as_str().unwrap().to_owned()
    }
}

fn vector(sql: &str) -> Value {
    json!({"version": "1.8.0", "layers": [{"type": "mapnik", "options": {"sql": sql}}]})
}

fn error(r: &Reply, status: StatusCode, message: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    let v = r.json();
    assert_eq!(v["errors"][0].as_str().unwrap(), message, "{v}");
    assert_eq!(
        v["errors_with_context"][0]["message"], v["errors"][0],
        "{v}"
    );
}

/// A minimal protobuf reader for MVT: each layer's name, feature count and property keys.
fn mvt_layers(bytes: &[u8]) -> Vec<(String, usize, Vec<String>)> {
    fn varint(b: &[u8], i: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[*i];
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    /// (field, bytes of a length-delimited field); other wire types are skipped.
    fn fields(b: &[u8]) -> Vec<(u64, &[u8])> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let key = varint(b, &mut i);
            match key & 7 {
                0 => {
                    varint(b, &mut i);
                }
                2 => {
                    let n = varint(b, &mut i) as usize;
                    out.push((key >> 3, &b[i..i + n]));
                    i += n;
                }
                5 => i += 4,
                1 => i += 8,
                w => panic!("wire type {w}"),
            }
        }
        out
    }
    fields(bytes)
        .into_iter()
        .filter(|(f, _)| *f == 3)
        .map(|(_, layer)| {
            let fs = fields(layer);
            let text = |f: u64| -> Vec<String> {
                fs.iter()
                    .filter(|(n, _)| *n == f)
                    .map(|(_, b)| String::from_utf8(b.to_vec()).unwrap())
                    .collect()
            };
            let name = text(1).remove(0);
            let features = fs.iter().filter(|(n, _)| *n == 2).count();
            (name, features, text(3))
        })
        .collect()
}

#[tokio::test]
async fn named_maps_as_carto_does() {
    let env = Env::start(Emulator::builder()).await;
    let m = env.master();
    let pg = env.emu.has_postgis("alice");
    let template = json!({
        "version": "0.0.1", "name": "tpl",
        "auth": {"method": "token", "valid_tokens": ["view-1"]},
        "placeholders": {"who": {"type": "sql_literal", "default": "a"},
                          "n": {"type": "number", "default": 1}},
        "layergroup": {"version": "1.0.1", "layers": [{"type": "mapnik", "options": {
            "sql": "SELECT * FROM places WHERE name = '<%= who %>' OR cartodb_id = <%= n %>"}}]},
        "api_key": m, "client": "cps-1.11.3"
    });
    // Administration: the master key only, with CARTO's bodies.
    let r = env.maps(Method::GET, "/api/v1/map/named", None, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.json(),
        json!({"errors":["Only authenticated users can list templated maps"],"errors_with_context":[{"type":"unknown","message":"Only authenticated users can list templated maps"}]})
    );
    let r = env
        .maps(
            Method::POST,
            "/api/v1/map/named",
            Some("nope"),
            Some(&template),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        r.json(),
        json!({"errors":["Unauthorized"],"errors_with_context":[{"type":"auth","message":"Unauthorized","subtype":"api-key-not-found"}]})
    );
    let regular = env
        .regular_key("mapper", json!([{"type": "apis", "apis": ["maps", "sql"]}]))
        .await;
    for key in ["default_public", regular.as_str()] {
        let r = env
            .maps(Method::GET, "/api/v1/map/named/tpl", Some(key), None)
            .await;
        assert_eq!(
            r.json(),
            json!({"errors":["Forbidden"],"errors_with_context":[{"type":"auth","message":"Forbidden","subtype":"api-key-does-not-grant-access"}]})
        );
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    // CRUD.
    let r = env
        .maps(
            Method::POST,
            "/api/v1/map/named/",
            Some(&m),
            Some(&template),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json(), json!({"template_id": "tpl"}));
    let r = env
        .maps(Method::POST, "/api/v1/map/named", Some(&m), Some(&template))
        .await;
    error(
        &r,
        StatusCode::BAD_REQUEST,
        "Template 'tpl' of user 'alice' already exists",
    );
    let r = env
        .maps(Method::GET, "/api/v1/map/named", Some(&m), None)
        .await;
    assert_eq!(r.json(), json!({"template_ids": ["tpl"]}));
    let r = env
        .maps(Method::GET, "/api/v1/map/named/alice@tpl", Some(&m), None)
        .await;
    let got = r.json();
    assert_eq!(got["template"]["placeholders"], template["placeholders"]);
    assert_eq!(got["template"]["client"], "cps-1.11.3");
    assert!(
        got["template"].get("api_key").is_none(),
        "the key was stored"
    );
    let r = env
        .maps(Method::GET, "/api/v1/map/named/nope", Some(&m), None)
        .await;
    error(
        &r,
        StatusCode::NOT_FOUND,
        "Cannot find template 'nope' of user 'alice'",
    );
    let mut renamed = template.clone();
    renamed["name"] = json!("other");
    let r = env
        .maps(
            Method::PUT,
            "/api/v1/map/named/tpl",
            Some(&m),
            Some(&renamed),
        )
        .await;
    error(
        &r,
        StatusCode::BAD_REQUEST,
        "Cannot update name of a map template ('tpl' != 'other')",
    );
    let r = env
        .maps(
            Method::PUT,
            "/api/v1/map/named/other",
            Some(&m),
            Some(&renamed),
        )
        .await;
    error(
        &r,
        StatusCode::NOT_FOUND,
        "Template 'other' of user 'alice' does not exist",
    );
    let r = env
        .maps(
            Method::PUT,
            "/api/v1/map/named/tpl",
            Some(&m),
            Some(&template),
        )
        .await;
    assert_eq!(r.json(), json!({"template_id": "tpl"}));
    // Validation, in Windshaft's order.
    for (doc, message) in [
        (
            json!({"version": "0.0.2"}),
            "Unsupported template version 0.0.2",
        ),
        (json!({"version": "0.0.1"}), "Missing template name"),
        (
            json!({"version": "0.0.1", "name": "a b"}),
            "Invalid characters in template name 'a b'",
        ),
        (
            json!({"version": "0.0.1", "name": "x"}),
            "Missing layergroup",
        ),
        (
            json!({"version": "0.0.1", "name": "x", "layergroup": {"layers": []}}),
            "Missing or empty layers array from layergroup config",
        ),
        (
            json!({"version": "0.0.1", "name": "x", "layergroup": {"layers": [{}, {"options": {"sql": "select 1"}}, {}]}}),
            "Missing `options` in layergroup config for layers: 0, 2",
        ),
        (
            json!({"version": "0.0.1", "name": "x", "auth": {"method": "token", "valid_tokens": []}, "layergroup": {"layers": [{"options": {"sql": "select 1"}}]}}),
            "Invalid 'token' authentication: no valid_tokens",
        ),
        (
            json!({"version": "0.0.1", "name": "x", "auth": {"method": "magic"}, "layergroup": {"layers": [{"options": {"sql": "select 1"}}]}}),
            "Unsupported authentication method: magic",
        ),
    ] {
        let r = env
            .maps(Method::POST, "/api/v1/map/named", Some(&m), Some(&doc))
            .await;
        error(&r, StatusCode::BAD_REQUEST, message);
    }

    // Instantiation: the template's tokens, not an API key; placeholders checked by type.
    for (path, params, status, message) in [
        (
            "tpl",
            json!({}),
            StatusCode::FORBIDDEN,
            "Unauthorized template instantiation",
        ),
        (
            "tpl?auth_token=view-2",
            json!({}),
            StatusCode::FORBIDDEN,
            "Unauthorized template instantiation",
        ),
        (
            "ghost?auth_token=view-1",
            json!({}),
            StatusCode::NOT_FOUND,
            "Template 'ghost' of user 'alice' not found",
        ),
        (
            "tpl?auth_token=view-1",
            json!({"n": "1; DROP TABLE places"}),
            StatusCode::BAD_REQUEST,
            "Invalid number value for template parameter 'n': 1; DROP TABLE places",
        ),
    ] {
        let path = format!("/api/v1/map/named/{path}");
        let r = env.maps(Method::POST, &path, None, Some(&params)).await;
        error(&r, status, message);
    }
    if !postgis(pg, "named map tiles") {
        return;
    }
    env.places().await;
    // A literal with quotes stays a literal; the instance reads the private table as the
    // owner though the request has no key.
    let r = env
        .maps(
            Method::POST,
            "/api/v1/map/named/tpl?auth_token=view-1",
            None,
            Some(&json!({"who": "b's", "n": 3})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let id = r.json()["layergroupid"].as_str().unwrap().to_owned();
    assert!(id.starts_with("alice@"), "{id}");
    let tile = format!("/api/v1/map/{id}/0/0/0.mvt");
    let r = env.maps(Method::GET, &tile, None, None).await;
    error(
        &r,
        StatusCode::FORBIDDEN,
        "Sorry, you are unauthorized (permission denied)",
    );
    let url = env.url(&format!("{tile}?auth_token=view-1"));
    let bytes = env.c.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(mvt_layers(&bytes)[0].1, 2, "b's and 3");
    // The quoted literal did not end the string: the table is intact.
    let v = env.master_sql("SELECT count(*) AS n FROM places").await;
    assert_eq!(v["rows"][0]["n"], 3);
    // Named tiles, instantiated for the request, as the owner, behind the tokens.
    let named_tile = "/api/v1/map/named/tpl/mapnik/0/0/0.mvt";
    let r = env.maps(Method::GET, named_tile, None, None).await;
    error(
        &r,
        StatusCode::FORBIDDEN,
        "Unauthorized template instantiation",
    );
    for (query, features) in [("", 1), ("&config=%7B%22n%22%3A3%7D", 2)] {
        let url = env.url(&format!("{named_tile}?auth_token=view-1{query}"));
        let r = env.c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{query}");
        assert_eq!(
            mvt_layers(&r.bytes().await.unwrap())[0].1,
            features,
            "{query}"
        );
    }
    let bad = env.url(&format!(
        "{named_tile}?auth_token=view-1&config=%7B%22n%22%3A%221%20OR%20true%22%7D"
    ));
    let r = Reply::read(env.c.get(&bad).send().await.unwrap()).await;
    error(
        &r,
        StatusCode::BAD_REQUEST,
        "Invalid number value for template parameter 'n': 1 OR true",
    );
    // Instances outlive their template.
    let r = env
        .maps(Method::DELETE, "/api/v1/map/named/tpl", Some(&m), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.text.is_empty());
    let r = env.c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = env
        .maps(Method::DELETE, "/api/v1/map/named/tpl", Some(&m), None)
        .await;
    error(
        &r,
        StatusCode::NOT_FOUND,
        "Template 'tpl' of user 'alice' does not exist",
    );
    // Bob cannot use alice's instance.
    let bob = format!("{}{tile}?auth_token=view-1", common::base(&env.emu, "bob"));
    let r = Reply::read(env.c.get(&bob).send().await.unwrap()).await;
    error(
        &r,
        StatusCode::FORBIDDEN,
        "Cannot use map signature of user \"alice\" on db of user \"bob\"",
    );
}

#[tokio::test]
async fn anonymous_maps_and_mvt_tiles() {
    let env = Env::start(Emulator::builder()).await;
    let m = env.master();
    let r = env
        .maps(Method::OPTIONS, "/api/v1/map/named", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["access-control-allow-origin"], "*");
    assert!(
        r.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Content-Type")
    );
    // Validation, before any SQL.
    let r = env
        .maps(
            Method::POST,
            "/api/v1/map",
            Some(&m),
            Some(&json!({"version": "1.0.0"})),
        )
        .await;
    error(
        &r,
        StatusCode::BAD_REQUEST,
        "Missing layers array from layergroup config",
    );
    let mixed = json!({"layers": [
        {"options": {"sql": "select 1"}},
        {"options": {"sql": "select 1", "cartocss": "#l{}", "cartocss_version": "2.3.0"}}]});
    let r = env
        .maps(Method::POST, "/api/v1/map", Some(&m), Some(&mixed))
        .await;
    error(
        &r,
        StatusCode::BAD_REQUEST,
        "The `mapnik` or `cartodb` layers must be consistent: `cartocss` option is either present or voided in all layers. Mixing is not allowed.",
    );
    let r = env.maps(Method::GET, "/api/v1/map", Some(&m), None).await;
    error(
        &r,
        StatusCode::BAD_REQUEST,
        "layergroup GET needs a \"config\" parameter",
    );
    let r = send(
        &env.c,
        Method::POST,
        &env.url(&format!("/api/v1/map?api_key={m}")),
        None,
        None,
    )
    .await;
    error(
        &r,
        StatusCode::BAD_REQUEST,
        "POST data must be of type application/json",
    );
    if !postgis(env.emu.has_postgis("alice"), "MVT tiles") {
        return;
    }
    env.places().await;
    let r = env
        .refused(
            Some(&m),
            "SELECT * FROM missing",
            StatusCode::NOT_FOUND,
            "relation \"missing\" does not exist",
        )
        .await;
    assert_eq!(r.json()["errors_with_context"][0]["layer"]["id"], "layer0");

    let config = json!({"version": "1.8.0", "layers": [{"type": "mapnik", "options": {
        "sql": "SELECT * FROM places;", "attributes": {"id": "cartodb_id", "columns": ["name", "score"]}}}]});
    let r = env
        .maps(Method::POST, "/api/v1/map/", Some(&m), Some(&config))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    let id = v["layergroupid"].as_str().unwrap();
    assert_eq!(
        common::keys(&v),
        ["layergroupid", "metadata", "cdn_url", "last_updated"]
    );
    assert_eq!(r.headers["x-layergroup-id"], id);
    assert_eq!(v["metadata"]["layers"][0]["id"], "layer0");
    assert_eq!(v["metadata"]["layers"][0]["type"], "mapnik");
    assert!(
        v["metadata"].get("url").unwrap().get("raster").is_none(),
        "vector-only"
    );
    let template = v["metadata"]["layers"][0]["tilejson"]["vector"]["tiles"][0]
        .as_str()
        .unwrap();
    assert!(
        template.contains(&format!("/api/v1/map/{id}/layer0/{{z}}/{{x}}/{{y}}.mvt")),
        "{template}"
    );
    // GET ?config= gives the same layergroup.
    let get = format!(
        "/api/v1/map?config={}",
        url::form_urlencoded::byte_serialize(config.to_string().as_bytes()).collect::<String>()
    );
    assert_eq!(
        env.maps(Method::GET, &get, Some(&m), None).await.json()["layergroupid"],
        id
    );

    // z=1: the north-west tile holds the two points of the northern hemisphere's west.
    for path in [
        format!("/api/v1/map/{id}/1/0/0.mvt"),
        format!("/api/v1/map/{id}/layer0/1/0/0.mvt"),
        format!("/api/v1/map/{id}/0/1/0/0.mvt"),
    ] {
        let r = env
            .c
            .get(env.url(&format!("{path}?api_key={m}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], "application/x-protobuf");
        let bytes = r.bytes().await.unwrap();
        let layers = mvt_layers(&bytes);
        assert_eq!(layers.len(), 1);
        let (name, features, keys) = &layers[0];
        assert_eq!(name, "layer0");
        assert_eq!(*features, 2);
        assert_eq!(
            keys,
            &["cartodb_id", "name", "score"],
            "the date is not a property"
        );
        // The same bytes as PostGIS's own ST_AsMVT over Windshaft's SQL.
        let direct = env.master_sql(
            "SELECT encode(ST_AsMVT(g, 'layer0', 4096), 'hex') AS t FROM (SELECT ST_AsMVTGeom(ST_Simplify(ST_RemoveRepeatedPoints(the_geom_webmercator, 39135.75848201024), 39135.75848201024, true), ST_MakeEnvelope(-20037508.342789245, 0, 0, 20037508.342789245, 3857), 4096, 1024, true) AS the_geom_webmercator, cartodb_id, name, score FROM (SELECT * FROM places) AS cdbq WHERE the_geom_webmercator && ST_Expand(ST_MakeEnvelope(-20037508.342789245, 0, 0, 20037508.342789245, 3857), 5009377.085697311)) AS g",
        ).await;
        assert_eq!(
            hex::encode(&bytes),
            direct["rows"][0]["t"].as_str().unwrap()
        );
    }
    // An empty tile: 204, no body, no content type.
    let r = env
        .c
        .get(env.url(&format!("/api/v1/map/{id}/3/0/7.mvt?api_key={m}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers().get("content-type").is_none());
    assert!(r.bytes().await.unwrap().is_empty());
    // Coordinates.
    for (path, message) in [
        (
            "-1/0/0.mvt",
            "Invalid zoom value (-1). It should be an integer number greather than or equal to 0",
        ),
        (
            "a/0/0.mvt",
            "Invalid zoom value (a). It should be an integer number greather than or equal to 0",
        ),
        (
            "1/x/0.mvt",
            "Invalid coodinate 'x' value (x). It should be an integer number",
        ),
        (
            "1/0/-2.mvt",
            "Invalid coodinate 'y' value (-2). It should be an integer number greather than or equal to 0",
        ),
        (
            "1/0/99999999999999999999999.mvt",
            "Invalid coodinate 'y' value (99999999999999999999999). It should be an integer number greather than or equal to 0",
        ),
    ] {
        let r = env
            .maps(
                Method::GET,
                &format!("/api/v1/map/{id}/{path}"),
                Some(&m),
                None,
            )
            .await;
        error(&r, StatusCode::BAD_REQUEST, message);
    }
    // Huge zoom, rows past the world: empty. Columns wrap.
    for path in ["4000000000/0/0.mvt", "30/0/9999999999.mvt"] {
        let r = env
            .maps(
                Method::GET,
                &format!("/api/v1/map/{id}/{path}"),
                Some(&m),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{path}: {}", r.text);
    }
    let r = env
        .c
        .get(env.url(&format!("/api/v1/map/{id}/1/-2/0.mvt?api_key={m}")))
        .send()
        .await
        .unwrap();
    assert_eq!(mvt_layers(&r.bytes().await.unwrap())[0].1, 2);
    // Formats the emulator does not render.
    let r = env
        .maps(
            Method::GET,
            &format!("/api/v1/map/{id}/0/0/0.png"),
            Some(&m),
            None,
        )
        .await;
    error(
        &r,
        StatusCode::BAD_REQUEST,
        "Unsupported format: 'cartocss' option is missing for png",
    );
    let r = env
        .maps(
            Method::GET,
            "/api/v1/map/static/center/x/1/0/0/100/100.png",
            Some(&m),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["errors"][0]
            .as_str()
            .unwrap()
            .contains("static images")
    );
    let r = env
        .maps(
            Method::GET,
            &format!("/api/v1/map/{id}/layer9/0/0/0.mvt"),
            Some(&m),
            None,
        )
        .await;
    error(
        &r,
        StatusCode::BAD_REQUEST,
        "Layer 'layer9' not found in layergroup",
    );
    // Attributes; the feature id is an integer, never SQL.
    let r = env
        .maps(
            Method::GET,
            &format!("/api/v1/map/{id}/0/attributes/2"),
            Some(&m),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json(), json!({"name": "b's", "score": 2}));
    let r = env
        .maps(
            Method::GET,
            &format!("/api/v1/map/{id}/0/attributes/9"),
            Some(&m),
            None,
        )
        .await;
    error(
        &r,
        StatusCode::NOT_FOUND,
        "Multiple features (0) identified by 'cartodb_id' = 9 in layer 0",
    );
    for fid in ["1%20OR%201=1", "1;DROP%20TABLE%20places", "1)"] {
        let r = env
            .maps(
                Method::GET,
                &format!("/api/v1/map/{id}/0/attributes/{fid}"),
                Some(&m),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{fid}: {}", r.text);
        assert!(
            r.json()["errors"][0]
                .as_str()
                .unwrap()
                .starts_with("Invalid feature id")
        );
    }

    // The carto-maps client, end to end (blocking, over ureq).
    let creds = env.emu.credentials("alice").unwrap();
    let group = tokio::task::spawn_blocking(move || {
        use carto_maps::endpoints::GetTile;
        use carto_maps::{Layer, MapConfig, MapsClient, TileCoord, TileFormat};
        let maps = MapsClient::from_credentials(carto_transport::UreqTransport::new(), creds);
        let group = maps
            .instantiate(&MapConfig::new([
                Layer::vector("SELECT * FROM places").with_id("pts")
            ]))
            .unwrap();
        let tile = maps
            .tile(
                &GetTile::new(
                    group.layergroupid.clone(),
                    TileCoord::new(0, 0, 0).unwrap(),
                    TileFormat::Mvt,
                )
                .layer("pts"),
            )
            .unwrap()
            .expect("a tile");
        // A named map through the client: the server's stored template reads back as sent.
        let named = carto_maps::NamedMap::new(
            "client_tpl",
            MapConfig::new([Layer::vector(
                "SELECT * FROM places WHERE cartodb_id <= <%= n %>",
            )]),
        )
        .with_tokens(["t1"])
        .with_placeholder(
            "n",
            carto_maps::Placeholder::new(carto_maps::PlaceholderType::Number, 1),
        );
        assert_eq!(
            maps.create_named_map(&named).unwrap().template_id,
            "client_tpl"
        );
        assert_eq!(maps.named_maps().unwrap(), ["client_tpl"]);
        assert_eq!(maps.named_map("client_tpl").unwrap(), named);
        let instance = maps
            .instantiate_named_map_with(
                "client_tpl",
                &carto_maps::InstantiateOptions::new()
                    .param("n", 2)
                    .auth_token("t1"),
            )
            .unwrap();
        let two = maps
            .tile(&GetTile::new(
                instance.layergroupid,
                TileCoord::new(0, 0, 0).unwrap(),
                TileFormat::Mvt,
            ))
            .unwrap()
            .expect("a tile");
        assert_eq!(mvt_layers(&two.data)[0].1, 2);
        maps.delete_named_map("client_tpl").unwrap();
        assert!(maps.named_maps().unwrap().is_empty());
        let empty = maps
            .tile(&GetTile::new(
                group.layergroupid.clone(),
                TileCoord::new(3, 0, 7).unwrap(),
                TileFormat::Mvt,
            ))
            .unwrap();
        (tile, empty)
    })
    .await
    .unwrap();
    assert_eq!(mvt_layers(&group.0.data)[0].0, "pts");
    assert_eq!(mvt_layers(&group.0.data)[0].1, 3);
    assert!(group.1.is_none());
}

#[tokio::test]
async fn maps_keys_keep_their_limits() {
    let env = Env::start(Emulator::builder()).await;
    if !postgis(env.emu.has_postgis("alice"), "maps key attacks") {
        return;
    }
    let m = env.master();
    env.places().await;
    env.master_sql("CREATE TABLE open_places AS SELECT * FROM places WHERE cartodb_id = 1")
        .await;
    let maps_only = env
        .regular_key(
            "viewer",
            json!([{"type": "apis", "apis": ["maps"]},
                   {"type": "database", "tables": [{"schema": "public", "name": "open_places", "permissions": ["select"]}]}]),
        )
        .await;
    let sql_only = env
        .regular_key("sqler", json!([{"type": "apis", "apis": ["sql"]}]))
        .await;
    // Unknown key 401, key without the maps grant 403.
    env.refused(
        Some("guess"),
        "SELECT * FROM open_places",
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
    )
    .await;
    env.refused(
        Some(&sql_only),
        "SELECT * FROM open_places",
        StatusCode::FORBIDDEN,
        "Forbidden",
    )
    .await;
    // A maps key reads what its role may read, nothing else.
    env.refused(
        Some(&maps_only),
        "SELECT * FROM places",
        StatusCode::FORBIDDEN,
        "permission denied for table places",
    )
    .await;
    let open = env
        .anonymous(Some(&maps_only), &vector("SELECT * FROM open_places"))
        .await;
    let r = env
        .c
        .get(env.url(&format!("/api/v1/map/{open}/0/0/0.mvt?api_key={maps_only}")))
        .send()
        .await
        .unwrap();
    assert_eq!(mvt_layers(&r.bytes().await.unwrap())[0].1, 1);
    // Nor the catalogs, nor a second statement.
    for sql in [
        "SELECT * FROM pg_catalog.pg_authid",
        "SELECT * FROM open_places) q; DROP TABLE open_places; SELECT * FROM (SELECT 1",
    ] {
        let r = env
            .maps(
                Method::POST,
                "/api/v1/map",
                Some(&maps_only),
                Some(&vector(sql)),
            )
            .await;
        assert!(r.status.is_client_error(), "{sql}: {}", r.text);
    }
    // Nor a write, whatever the key: tiles run in a read-only transaction.
    env.master_sql("CREATE SEQUENCE counter").await;
    let writer = env
        .anonymous(
            Some(&m),
            &vector("SELECT *, setval('counter', 42) AS n FROM places"),
        )
        .await;
    let r = env
        .maps(
            Method::GET,
            &format!("/api/v1/map/{writer}/0/0/0.mvt"),
            Some(&m),
            None,
        )
        .await;
    error(
        &r,
        StatusCode::BAD_REQUEST,
        "cannot execute setval() in a read-only transaction",
    );
    let v = env.master_sql("SELECT last_value AS n FROM counter").await;
    assert_eq!(v["rows"][0]["n"], 1);
    // Tiles render as the key of each request: the master's layergroup over the private
    // table, read without a key (the Default public key) or with the maps key, is refused.
    let private = env
        .anonymous(Some(&m), &vector("SELECT * FROM places"))
        .await;
    for key in [None, Some(maps_only.as_str())] {
        let r = env
            .maps(
                Method::GET,
                &format!("/api/v1/map/{private}/0/0/0.mvt"),
                key,
                None,
            )
            .await;
        // pg-mvt's column discovery fails first, with its prefix.
        error(
            &r,
            StatusCode::FORBIDDEN,
            "PgMvtFactory: permission denied for table places",
        );
    }
    let r = env
        .maps(
            Method::GET,
            &format!("/api/v1/map/{private}/0/0/0.mvt"),
            Some(&sql_only),
            None,
        )
        .await;
    error(&r, StatusCode::FORBIDDEN, "Forbidden");
    // Another user's layergroup id is unknown to bob.
    let r = Reply::read(
        env.c
            .get(format!(
                "{}/api/v1/map/{private}/0/0/0.mvt",
                common::base(&env.emu, "bob")
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    error(
        &r,
        StatusCode::BAD_REQUEST,
        &format!("Invalid or nonexistent map configuration token '{private}'"),
    );
    let v = env
        .master_sql("SELECT count(*) AS n FROM open_places")
        .await;
    assert_eq!(v["rows"][0]["n"], 1);
}

#[tokio::test]
async fn a_tile_flood_is_bounded_by_the_session_limits() {
    use futures_util::StreamExt;
    let env = Env::start(
        Emulator::builder()
            .max_sessions_per_role(1)
            .session_queue_timeout(std::time::Duration::from_millis(100))
            .statement_timeout(
                carto_emulator::ApiKeyType::Default,
                Some(std::time::Duration::from_millis(300)),
            ),
    )
    .await;
    if !postgis(env.emu.has_postgis("alice"), "tile flood") {
        return;
    }
    let m = env.master();
    env.places().await;
    let id = env
        .anonymous(Some(&m), &vector("SELECT * FROM places"))
        .await;
    // The superuser locks the table: the first tile holds the role's only session until the
    // lock goes, every other one waits for a session and is refused.
    let db = env.master_sql("SELECT current_database() AS d").await["rows"][0]["d"]
        .as_str()
        .unwrap()
        .to_owned();
    let pg = env.emu.pg();
    let (locker, connection) = tokio_postgres::connect(
        &format!(
            "host={} port={} user={} password={} dbname={db}",
            pg.host(),
            pg.port(),
            pg.superuser(),
            pg.superuser_password()
        ),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    locker
        .batch_execute("BEGIN; LOCK TABLE public.places IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let url = env.url(&format!("/api/v1/map/{id}/0/0/0.mvt?api_key={m}"));
    let mut flood: futures_util::stream::FuturesUnordered<_> = (0..6)
        .map(|_| {
            let c = env.c.clone();
            let url = url.clone();
            tokio::spawn(async move { Reply::read(c.get(&url).send().await.unwrap()).await })
        })
        .collect();
    for _ in 0..5 {
        let r = flood.next().await.unwrap().unwrap();
        error(
            &r,
            StatusCode::TOO_MANY_REQUESTS,
            "You are over platform's limits: Max render capacity exceeded. Contact CARTO support for more details.",
        );
    }
    locker.batch_execute("COMMIT").await.unwrap();
    let r = flood.next().await.unwrap().unwrap();
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Slow tile SQL stops at the key's statement timeout (the Default public key's here).
    let slow = env
        .anonymous(
            Some(&m),
            &vector("SELECT pg_sleep(2)::text AS s, ST_SetSRID(ST_MakePoint(0, 0), 3857) AS the_geom_webmercator"),
        )
        .await;
    let r = env
        .maps(
            Method::GET,
            &format!("/api/v1/map/{slow}/0/0/0.mvt"),
            None,
            None,
        )
        .await;
    error(
        &r,
        StatusCode::TOO_MANY_REQUESTS,
        "You are over platform's limits: Render timeout error. Contact CARTO support for more details.",
    );
}
