//! SQL API v2 engine: parameters, output formats and streaming.

use carto_test_support::emulator::sql as sql_common;

use axum::http::StatusCode;
use serde_json::{Value, json};
use sql_common::{Env, OWNER, without_time};

fn fixture(name: &str) -> Value {
    serde_json::from_slice(carto_test_support::fixture(&format!("sql-api/{name}")))
        .expect("fixture json")
}

#[tokio::test]
async fn parameters_skipfields_page_callback_filename() {
    let env = Env::start().await;
    env.admin(&format!(
        "CREATE TABLE n AS SELECT x AS id, 'row ' || x AS label, x * 2 AS twice FROM generate_series(0, 24) x;
         ALTER TABLE n OWNER TO {}",
        OWNER.0
    ))
    .await;
    let m = env.master();

    let a = env.call(m.clone(), json!({"q": "SELECT id, label, twice FROM n WHERE id < 2 ORDER BY id", "skipfields": "label,twice"})).await;
    assert_eq!(
        without_time(&a.body),
        r#"{"rows":[{"id":0},{"id":1}],"time":T,"fields":{"id":{"type":"number","pgtype":"int4"}},"total_rows":2}"#
    );

    // 0-based page of rows_per_page rows, only for SELECT.
    let a = env
        .call(
            m.clone(),
            json!({"q": "SELECT id FROM n ORDER BY id", "page": "2", "rows_per_page": "10"}),
        )
        .await;
    let ids: Vec<i64> = a.json()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![20, 21, 22, 23, 24]);
    assert_eq!(a.json()["total_rows"], 5);
    let a = env
        .call(
            m.clone(),
            json!({"q": "SELECT id FROM n ORDER BY id", "page": 0, "rows_per_page": 3}),
        )
        .await;
    assert_eq!(a.json()["rows"], json!([{"id": 0}, {"id": 1}, {"id": 2}]));
    let a = env
        .call(
            m.clone(),
            json!({"q": "SELECT id FROM n", "rows_per_page": 3}),
        )
        .await;
    assert_eq!(a.json()["total_rows"], 25);
    let a = env
        .call(
            m.clone(),
            json!({"q": "UPDATE n SET twice = twice", "page": 0, "rows_per_page": 3}),
        )
        .await;
    assert_eq!(a.json()["total_rows"], 25);

    // JSONP.
    let a = env
        .call(m.clone(), json!({"q": "SELECT 1 AS a", "callback": "cb"}))
        .await;
    assert!(
        a.body.starts_with(r#"cb({"rows":[{"a":1}],"time":"#),
        "{}",
        a.body
    );
    assert!(a.body.ends_with(r#""total_rows":1})"#), "{}", a.body);
    let a = env
        .call(
            m.clone(),
            json!({"q": "SELECT * FROM nope", "callback": "cb"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body,
        r#"/**/ typeof cb === 'function' && cb({"error":["relation \"nope\" does not exist"]});"#
    );

    // Content-Disposition: attachment as soon as format or filename is given.
    let a = env
        .call(m.clone(), json!({"q": "SELECT 1", "filename": "my data;x"}))
        .await;
    assert!(
        a.header("content-disposition")
            .starts_with("attachment; filename=my_data_x.json; modification-date=\"")
    );
    let a = env
        .call(m.clone(), json!({"q": "SELECT 1", "format": "json"}))
        .await;
    assert!(
        a.header("content-disposition")
            .starts_with("attachment; filename=cartodb-query.json;")
    );

    // CSV: header row, CRLF, PostgreSQL's text output, quoting.
    env.admin(&format!(
        "CREATE TABLE c (cartodb_id int, name text, at timestamptz); ALTER TABLE c OWNER TO {};
         INSERT INTO c VALUES (1, 'plain', '2011-09-21 14:02:21.314252+00'), (2, 'a, \"b\"', NULL)",
        OWNER.0
    ))
    .await;
    let a = env
        .call(
            m.clone(),
            json!({"q": "SELECT * FROM c ORDER BY cartodb_id", "format": "csv"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.header("content-type"),
        "text/csv; charset=utf-8; header=present"
    );
    assert!(
        a.header("content-disposition")
            .starts_with("attachment; filename=cartodb-query.csv;")
    );
    assert_eq!(
        a.body,
        "cartodb_id,name,at\r\n1,plain,2011-09-21 14:02:21.314252+00\r\n2,\"a, \"\"b\"\"\",\r\n"
    );
    let a = env
        .call(
            m.clone(),
            json!({"q": "SELECT cartodb_id FROM c WHERE false", "format": "csv"}),
        )
        .await;
    assert_eq!(a.body, "cartodb_id\r\n");
    let a = env
        .call(
            m.clone(),
            json!({"q": "SELECT 1/(2 - x) AS v FROM generate_series(1, 3) x", "format": "csv"}),
        )
        .await;
    assert!(
        a.body.starts_with("v\r\n1\r\n") && a.body.contains("<<body error"),
        "{}",
        a.body
    );

    if !carto_test_support::postgis(env.postgis, "GeoJSON and the_geom cases") {
        return;
    }
    env.admin(&format!(
        "CREATE TABLE g (cartodb_id int, the_geom geometry(Geometry,4326), the_geom_webmercator geometry(Geometry,3857),
                         year text, month int, day text);
         ALTER TABLE g OWNER TO {};
         INSERT INTO g VALUES (1, 'SRID=4326;POINT(-97.335 35.498)', ST_Transform('SRID=4326;POINT(-97.335 35.498)'::geometry, 3857), '  2011', 10, '11'),
                              (2, NULL, NULL, '2012', 1, '1')",
        OWNER.0
    ))
    .await;
    let a = env
        .call(
            m.clone(),
            json!({"q": "SELECT * FROM g WHERE cartodb_id = 1", "format": "geojson", "dp": 3}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.header("content-type"), "application/json; charset=utf-8");
    assert!(
        a.header("content-disposition")
            .starts_with("attachment; filename=cartodb-query.geojson;")
    );
    assert_eq!(
        a.body,
        r#"{"type": "FeatureCollection", "features": [{"type":"Feature","geometry":{"type":"Point","coordinates":[-97.335,35.498]},"properties":{"cartodb_id":1,"year":"  2011","month":10,"day":"11"}}]}"#
    );
    let fixture = fixture("geojson-ok.json");
    let doc = a.json();
    assert_eq!(
        doc["features"][0]["geometry"],
        fixture["features"][0]["geometry"]
    );
    assert_eq!(
        doc["features"][0]["properties"],
        fixture["features"][0]["properties"]
    );
    let a = env.call(m.clone(), json!({"q": "SELECT cartodb_id, the_geom FROM g WHERE cartodb_id = 2", "format": "geojson"})).await;
    assert_eq!(
        a.body,
        r#"{"type": "FeatureCollection", "features": [{"type":"Feature","geometry":null,"properties":{"cartodb_id":2}}]}"#
    );
    let a = env
        .call(
            m.clone(),
            json!({"q": "SELECT 1 AS no_geom", "format": "geojson"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("the_geom"), "{}", a.body);
    let a = env.call(m.clone(), json!({"q": "SELECT cartodb_id, year, the_geom FROM g ORDER BY cartodb_id", "format": "csv"})).await;
    assert_eq!(
        a.body,
        "the_geom,cartodb_id,year\r\n0101000020E61000003D0AD7A3705558C039B4C876BEBF4140,1,\"  2011\"\r\n,2,2012\r\n"
    );
    // CSV keeps `the_geom_webmercator`, as JSON does (GeoJSON alone drops it), in hex EWKB.
    let a = env.call(m.clone(), json!({"q": "SELECT cartodb_id, ST_SetSRID('POINT(0 0)'::geometry, 3857) AS the_geom_webmercator FROM g WHERE cartodb_id = 1", "format": "csv"})).await;
    assert_eq!(
        a.body,
        "cartodb_id,the_geom_webmercator\r\n1,0101000020110F000000000000000000000000000000000000\r\n"
    );
}

#[tokio::test]
async fn large_results_stream_in_chunks() {
    let env = Env::start().await;
    let rows = 200_000;
    let a = env
        .call(env.master(), json!({ "q": format!("SELECT x AS id, md5(x::text) AS h FROM generate_series(1, {rows}) x") }))
        .await;
    assert_eq!(a.status, StatusCode::OK);
    // Sent as it was produced: many body frames, not one buffered document.
    assert!(a.frames > 50, "only {} frames", a.frames);
    let doc = a.json();
    assert_eq!(doc["total_rows"], rows);
    let list = doc["rows"].as_array().unwrap();
    assert_eq!(list.len(), rows);
    assert_eq!(list[rows - 1]["id"], rows);
}

#[tokio::test]
async fn a_client_that_goes_away_cancels_its_query() {
    let env = Env::start().await;
    let response = env
        .engine
        .handle(env.master(), json!({ "q": "SELECT x, repeat('a', 1000) AS pad, pg_sleep(CASE WHEN x = 200 THEN 60 ELSE 0 END) FROM generate_series(1, 300) x" }).as_object().unwrap().clone())
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    // The query is cancelled rather than left sleeping: the role's session disappears.
    let admin = env.cluster.connect_superuser(sql_common::DB).await.unwrap();
    let mut waited = 0;
    loop {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = $1 AND state = 'active'",
                &[&OWNER.0],
            )
            .await
            .unwrap()
            .get(0);
        if n == 0 {
            break;
        }
        waited += 1;
        assert!(waited < 300, "the abandoned query is still running");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
