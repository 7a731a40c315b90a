//! The Import API v1 on the emulator, through carto-imports' blocking client (ureq): each
//! native format end to end, read back through the SQL API, CARTO's failure codes, and the
//! attacks next to the uses: other keys than the master, another user's import, path
//! traversal and SQL in file and column names, malformed files, a flood of uploads.

use std::time::Duration;

use carto_core::wait::WaitOptions;
use carto_imports::{
    CollisionStrategy, Import, ImportOptions, ImportState, ImportsClient, Privacy,
};
use carto_test_support::emulator::http as common;
use carto_test_support::postgis;
use carto_transport::UreqTransport;
use common::send;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::security::Env;

fn quick() -> WaitOptions {
    WaitOptions::new()
        .with_initial_interval(Duration::from_millis(20))
        .with_max_interval(Duration::from_millis(200))
        .with_timeout(Duration::from_secs(120))
}

fn client(env: &Env) -> ImportsClient<UreqTransport> {
    ImportsClient::from_credentials(UreqTransport::new(), env.emu.credentials("alice").unwrap())
}

/// Imports `contents` as a file named `name` with `options` and waits until the job is
/// final; returns the final job (complete or failed).
async fn import(env: &Env, name: &str, contents: &[u8], options: ImportOptions) -> Import {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, contents).unwrap();
    let imports = client(env);
    tokio::task::spawn_blocking(move || {
        let queued = imports.import_file_with(&path, &options).unwrap();
        assert!(queued.success);
        let _ = imports.wait_with(&queued.item_queue_id, &quick());
        let job = imports.import(&queued.item_queue_id).unwrap();
        assert!(job.state.is_final(), "{job:?}");
        drop(dir);
        job
    })
    .await
    .unwrap()
}

fn complete(job: &Import) -> &str {
    assert_eq!(job.state, ImportState::Complete, "{job:?}");
    assert_eq!(job.success, Some(true), "{job:?}");
    assert_eq!(job.error_code, None, "{job:?}");
    job.table_name.as_deref().unwrap()
}

fn failed(job: &Import) -> i64 {
    assert_eq!(job.state, ImportState::Failure, "{job:?}");
    assert_eq!(job.success, Some(false), "{job:?}");
    assert!(job.error_text.is_some(), "{job:?}");
    job.error_code.unwrap()
}

async fn rows(env: &Env, q: &str) -> Vec<Value> {
    env.master_sql(q).await["rows"].as_array().unwrap().clone()
}

/// `table`'s columns and their types, in order.
async fn columns(env: &Env, table: &str) -> Vec<(String, String)> {
    rows(
        env,
        &format!(
            "SELECT attname::text AS n, format_type(atttypid, NULL) AS t FROM pg_attribute
              WHERE attrelid = 'public.{table}'::regclass AND attnum > 0 AND NOT attisdropped
              ORDER BY attnum"
        ),
    )
    .await
    .iter()
    .map(|r| {
        (
            r["n"].as_str().unwrap().to_owned(),
            r["t"].as_str().unwrap().to_owned(),
        )
    })
    .collect()
}

const PLACES_CSV: &str = "Name,Count,Price,Open,Day,Lat,Lon,Code\n\
\"Café, \"\"central\"\"\",3,1.5,true,2020-01-02,40.5,-3.5,\"007\"\n\
Bar,4,2,FALSE,2021-12-31,41,-4,\"008\"\n\
Empty,,,,,,,\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_becomes_a_typed_cartodbfied_table() {
    let env = Env::start().await;
    let geo = env.emu.has_postgis("alice");
    let job = import(
        &env,
        "Places 2020.csv",
        PLACES_CSV.as_bytes(),
        ImportOptions::new(),
    )
    .await;
    let table = complete(&job).to_owned();
    assert_eq!(table, "places_2020");
    assert_eq!(job.display_name.as_deref(), Some("Places 2020.csv"));
    assert_eq!(job.data_type.as_deref(), Some("file"));
    assert_eq!(job.tables_created_count, Some(1));
    let cols = columns(&env, &table).await;
    let ty = |n: &str| cols.iter().find(|(c, _)| c == n).map(|(_, t)| t.as_str());
    assert_eq!(ty("name"), Some("text"));
    assert_eq!(ty("count"), Some("bigint"));
    assert_eq!(ty("price"), Some("double precision"));
    assert_eq!(ty("open"), Some("boolean"));
    assert_eq!(ty("day"), Some("date"));
    // Quoted fields are guessed too by default.
    assert_eq!(ty("code"), Some("bigint"));
    assert_eq!(ty("cartodb_id"), Some("integer"));
    let r = rows(&env, &format!("SELECT * FROM {table} ORDER BY cartodb_id")).await;
    assert_eq!(r.len(), 3);
    assert_eq!(r[0]["name"], "Café, \"central\"");
    assert_eq!(r[1]["open"], false);
    assert_eq!(r[2]["count"], Value::Null);
    if postgis(geo, "lat/lon columns to the_geom") {
        assert_eq!(ty("the_geom"), Some("geometry"));
        assert_eq!(ty("the_geom_webmercator"), Some("geometry"));
        let r = rows(
            &env,
            &format!(
                "SELECT ST_X(the_geom) AS x, ST_Y(the_geom) AS y, ST_SRID(the_geom) AS srid,
                        the_geom_webmercator IS NOT NULL AS merc
                   FROM {table} ORDER BY cartodb_id"
            ),
        )
        .await;
        assert_eq!(
            (r[0]["x"].as_f64(), r[0]["y"].as_f64()),
            (Some(-3.5), Some(40.5))
        );
        assert_eq!(r[0]["srid"], 4326);
        assert_eq!(r[0]["merc"], true);
        assert_eq!(r[2]["x"], Value::Null);
    }

    // The same file again: `_1`; with `skip`: 1022; with `overwrite`: the same name.
    let again = import(
        &env,
        "Places 2020.csv",
        PLACES_CSV.as_bytes(),
        ImportOptions::new(),
    )
    .await;
    assert_eq!(complete(&again), "places_2020_1");
    let skip = ImportOptions::new().collision_strategy(CollisionStrategy::Skip);
    let skipped = import(&env, "places_2020.csv", PLACES_CSV.as_bytes(), skip).await;
    assert_eq!(skipped.state, ImportState::Complete);
    assert_eq!(skipped.error_code, Some(1022));
    let over = ImportOptions::new().collision_strategy(CollisionStrategy::Overwrite);
    let job = import(&env, "places_2020.csv", b"only\n1\n", over).await;
    assert_eq!(complete(&job), "places_2020");
    assert_eq!(rows(&env, "SELECT _only FROM places_2020").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guessing_options_keep_text() {
    let env = Env::start().await;
    let csv = b"a,b\n\"1\",2\n";
    let quoted = ImportOptions::new().quoted_fields_guessing(false);
    let job = import(&env, "quoted.csv", csv, quoted).await;
    let cols = columns(&env, complete(&job)).await;
    assert!(cols.contains(&("a".into(), "text".into())), "{cols:?}");
    assert!(cols.contains(&("b".into(), "bigint".into())), "{cols:?}");
    let job = import(
        &env,
        "plain.tsv",
        b"a\tb\n1\t2\n",
        ImportOptions::new().type_guessing(false),
    )
    .await;
    let cols = columns(&env, complete(&job)).await;
    assert!(cols.contains(&("b".into(), "text".into())), "{cols:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_geojson_becomes_a_table_with_its_geometries() {
    let env = Env::start().await;
    if !postgis(env.emu.has_postgis("alice"), "GeoJSON imports") {
        return;
    }
    let doc = json!({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [2.5, 41.25]},
         "properties": {"name": "a", "n": 1, "x": 1.5, "ok": true, "tags": ["t"]}},
        {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,0]]]},
         "properties": {"name": "b", "n": 2, "extra": "only here"}},
        {"type": "Feature", "geometry": null, "properties": null}
    ]});
    let job = import(
        &env,
        "shapes.geojson",
        doc.to_string().as_bytes(),
        ImportOptions::new().privacy(Privacy::Public),
    )
    .await;
    let table = complete(&job).to_owned();
    let cols = columns(&env, &table).await;
    let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names[..3],
        ["cartodb_id", "the_geom", "the_geom_webmercator"],
        "{cols:?}"
    );
    assert!(cols.contains(&("n".into(), "bigint".into())), "{cols:?}");
    assert!(
        cols.contains(&("x".into(), "double precision".into())),
        "{cols:?}"
    );
    assert!(cols.contains(&("ok".into(), "boolean".into())), "{cols:?}");
    assert!(cols.contains(&("tags".into(), "text".into())), "{cols:?}");
    let r = rows(
        &env,
        &format!("SELECT ST_AsText(the_geom) AS g, extra FROM {table} ORDER BY cartodb_id"),
    )
    .await;
    assert_eq!(r[0]["g"], "POINT(2.5 41.25)");
    assert_eq!(r[1]["g"], "POLYGON((0 0,1 0,1 1,0 0))");
    assert_eq!(r[1]["extra"], "only here");
    assert_eq!(r[2]["g"], Value::Null);
    // Public: the Default public key reads it.
    let r = env
        .sql(None, &format!("SELECT count(*) AS n FROM {table}"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["rows"][0]["n"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_fail_with_carto_codes() {
    let env = Env::start().await;
    let o = ImportOptions::new;
    assert_eq!(
        failed(&import(&env, "book.xlsx", b"PK\x03\x04", o()).await),
        1002
    );
    assert_eq!(failed(&import(&env, "noext", b"a\n1\n", o()).await), 1002);
    assert_eq!(failed(&import(&env, "empty.csv", b"", o()).await), 1005);
    assert_eq!(
        failed(&import(&env, "open.csv", b"a,b\n\"x,1\n", o()).await),
        2003
    );
    assert_eq!(
        failed(&import(&env, "wide.csv", b"a\n1,2\n", o()).await),
        2003
    );
    assert_eq!(
        failed(&import(&env, "bytes.csv", b"a\n\xff\xfe\n", o()).await),
        2006
    );
    let many: Vec<String> = (0..300).map(|i| format!("c{i}")).collect();
    let wide = format!("{}\n", many.join(","));
    assert_eq!(
        failed(&import(&env, "many.csv", wide.as_bytes(), o()).await),
        2004
    );
    // A huge line is refused (and not held whole).
    let mut huge = b"a\n".to_vec();
    huge.resize(3 * 1024 * 1024, b'x');
    assert_eq!(failed(&import(&env, "huge.csv", &huge, o()).await), 2003);
    if env.emu.has_postgis("alice") {
        assert_eq!(
            failed(&import(&env, "bad.geojson", b"{\"type\": ", o()).await),
            3007
        );
        assert_eq!(
            failed(&import(&env, "arr.json", b"[1, 2]", o()).await),
            3007
        );
        let bad_geom = json!({"type": "Feature", "geometry": {"type": "Point", "coordinates": "x"}, "properties": {}});
        assert_eq!(
            failed(&import(&env, "geom.geojson", bad_geom.to_string().as_bytes(), o()).await),
            3007
        );
    }
    // A bad cartodb_id column: 2011.
    if env.emu.has_postgis("alice") {
        let job = import(&env, "ids.csv", b"cartodb_id,a\n1,x\n1,y\n", o()).await;
        assert_eq!(failed(&job), 2011);
    }
    // Nothing failed left a table behind.
    let r = rows(
        &env,
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'spatial_ref_sys'",
    )
    .await;
    assert_eq!(r, Vec::<Value>::new());
}

/// `POST /api/v1/imports` by hand: `(status, body)`.
async fn post(
    env: &Env,
    query: &str,
    token: Option<&str>,
    body: reqwest::Body,
    ct: &str,
) -> (StatusCode, String) {
    let mut url = format!("{}/api/v1/imports?{query}", common::base(&env.emu, "alice"));
    if let Some(t) = token {
        url.push_str(&format!("&api_key={t}"));
    }
    let r = env
        .c
        .post(url)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn wait_job(env: &Env, id: &str) -> Value {
    let url = format!("{}/api/v1/imports/{id}", common::base(&env.emu, "alice"));
    let m = env.master();
    loop {
        let r = send(&env.c, Method::GET, &url, Some(("alice", &m)), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let doc = r.json();
        if doc["state"] == "complete" || doc["state"] == "failure" {
            return doc;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_uploads_and_carto_key_order() {
    let env = Env::start().await;
    let m = env.master();
    let boundary = "XyZ";
    let body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"privacy\"\r\n\r\nlink\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"../../../tmp/evil.csv\"\r\n\
         Content-Type: text/csv\r\n\r\na,b\r\n1,2\r\n\r\n--{boundary}--\r\n"
    );
    let (status, text) = post(
        &env,
        "",
        Some(&m),
        body.into(),
        &format!("multipart/form-data; boundary={boundary}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(common::keys(&doc), ["item_queue_id", "success"]);
    let job = wait_job(&env, doc["item_queue_id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "complete", "{job}");
    // The path went nowhere: the table is named after the last segment.
    assert_eq!(job["table_name"], "evil");
    assert_eq!(
        common::keys(&job),
        [
            "id",
            "user_id",
            "table_id",
            "data_type",
            "table_name",
            "state",
            "error_code",
            "queue_id",
            "tables_created_count",
            "synchronization_id",
            "type_guessing",
            "quoted_fields_guessing",
            "content_guessing",
            "create_visualization",
            "visualization_id",
            "user_defined_limits",
            "get_error_text",
            "display_name",
            "success",
            "original_url",
            "warnings",
            "is_raster",
            "any_table_raster",
            "derived_visualization_id"
        ]
    );
    assert_eq!(job["user_defined_limits"], "{\"twitter_credits_limit\":0}");
    // Link privacy: readable by the Default public key; the datasets endpoint says LINK.
    let r = env.sql(None, "SELECT b FROM evil").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let url = format!("{}/api/v1/viz/evil", common::base(&env.emu, "alice"));
    let r = send(&env.c, Method::GET, &url, Some(("alice", &m)), None).await;
    assert_eq!(r.json()["privacy"], "LINK", "{}", r.text);

    // An empty POST (carto-python's `create`): a job that fails with 1002.
    let (status, text) = post(&env, "", Some(&m), "{}".into(), "application/json").await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let id = serde_json::from_str::<Value>(&text).unwrap()["item_queue_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let job = wait_job(&env, &id).await;
    assert_eq!(
        (job["state"].clone(), job["error_code"].clone()),
        (json!("failure"), json!(1002))
    );
    assert_eq!(
        job["get_error_text"]["title"],
        "Unsupported/Unrecognized file type"
    );
    assert_eq!(job.get("any_table_raster"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carto_validation_errors() {
    let env = Env::start().await;
    let m = env.master();
    let (status, text) = post(
        &env,
        "filename=a.csv&privacy=secret",
        Some(&m),
        "a\n1\n".into(),
        "text/csv",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"errors": {"imports": "Unknown value 'secret' for 'privacy'. Allowed values are: private, public and link"}})
    );
    let (status, text) = post(
        &env,
        "filename=a.csv&collision_strategy=merge",
        Some(&m),
        "a\n1\n".into(),
        "text/csv",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        json!({"errors": {"imports": "Invalid collision strategy"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_only_the_master_key_imports() {
    let env = Env::start().await;
    let regular = env
        .regular_key("importer", json!([{"type": "apis", "apis": ["sql"]}]))
        .await;
    for token in [None, Some(regular.as_str()), Some("not-a-key")] {
        let (status, text) = post(&env, "filename=a.csv", token, "a\n1\n".into(), "text/csv").await;
        assert_eq!(
            (status, text.as_str()),
            (StatusCode::UNAUTHORIZED, ""),
            "{token:?}"
        );
    }
    let base = common::base(&env.emu, "alice");
    // A real import of alice, then reads by others.
    let job = import(&env, "mine.csv", b"a\n1\n", ImportOptions::new()).await;
    complete(&job);
    for url in [
        format!("{base}/api/v1/imports"),
        format!("{base}/api/v1/imports/{}", job.id),
    ] {
        let r = send(&env.c, Method::GET, &url, Some(("alice", &regular)), None).await;
        assert_eq!(
            (r.status, r.text.as_str()),
            (StatusCode::UNAUTHORIZED, ""),
            "{url}"
        );
    }
    // Bob's master key reads nothing of alice's (404 empty, as an unknown id).
    let bob = common::master(&env.emu, "bob");
    let bob_base = common::base(&env.emu, "bob");
    let r = send(
        &env.c,
        Method::GET,
        &format!("{bob_base}/api/v1/imports/{}", job.id),
        Some(("bob", &bob)),
        None,
    )
    .await;
    assert_eq!((r.status, r.text.as_str()), (StatusCode::NOT_FOUND, ""));
    let m = env.master();
    for id in ["not-a-uuid", "00000000-0000-4000-8000-000000000000"] {
        let r = send(
            &env.c,
            Method::GET,
            &format!("{base}/api/v1/imports/{id}"),
            Some(("alice", &m)),
            None,
        )
        .await;
        assert_eq!(
            (r.status, r.text.as_str()),
            (StatusCode::NOT_FOUND, ""),
            "{id}"
        );
    }
    let r = send(
        &env.c,
        Method::GET,
        &format!("{base}/api/v1/imports"),
        Some(("alice", &m)),
        None,
    )
    .await;
    assert_eq!(r.json(), json!({"imports": [], "success": true}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_sql_in_file_and_column_names() {
    let env = Env::start().await;
    env.master_sql("CREATE TABLE victim (a int); INSERT INTO victim VALUES (1)")
        .await;
    let csv = "\"a\"\"); DROP TABLE victim; --\",\"b' OR 1=1 --\",SELECT\n1,2,3\n";
    let job = import(
        &env,
        "x\"; DROP TABLE victim; --.csv",
        csv.as_bytes(),
        ImportOptions::new(),
    )
    .await;
    let table = complete(&job).to_owned();
    assert_eq!(table, "x_drop_table_victim_");
    let cols = columns(&env, &table).await;
    let names: Vec<&str> = cols.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"a_drop_table_victim_"), "{names:?}");
    assert!(names.contains(&"b_or_1_1_"), "{names:?}");
    assert!(names.contains(&"_select"), "{names:?}");
    assert_eq!(
        rows(&env, "SELECT count(*) AS n FROM victim").await[0]["n"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "flaky: the three held uploads do not always take the import slots (it hung under load and failed alone once in 60 s); to be fixed before it runs in CI again"]
async fn attack_a_flood_of_uploads_gets_429() {
    let env = Env::start().await;
    let m = env.master();
    // Three uploads held open take the three slots.
    let mut held = Vec::new();
    for i in 0..3 {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
        tx.send(Ok(b"a\n".to_vec())).await.unwrap();
        let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
        let url = format!(
            "{}/api/v1/imports?filename=f{i}.csv&api_key={m}",
            common::base(&env.emu, "alice")
        );
        let c = env.c.clone();
        let request = tokio::spawn(async move {
            let r = c.post(url).body(body).send().await.unwrap();
            (r.status(), r.text().await.unwrap())
        });
        held.push((tx, request));
    }
    // The fourth is refused, once the three are being received (bounded: a failure, never
    // a hang).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let refused = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no 429 within 60 s: the held uploads never took the slots"
        );
        let (status, text) = post(
            &env,
            "filename=g.csv",
            Some(&m),
            "a\n1\n".into(),
            "text/csv",
        )
        .await;
        if status == StatusCode::TOO_MANY_REQUESTS {
            break text;
        }
        assert_eq!(status, StatusCode::OK, "{text}");
        let id = serde_json::from_str::<Value>(&text).unwrap()["item_queue_id"]
            .as_str()
            .unwrap()
            .to_owned();
        wait_job(&env, &id).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(
        serde_json::from_str::<Value>(&refused).unwrap(),
        json!({"errors": {"imports": "We're sorry but you're already using your allowed 3 import slots"}})
    );
    // Finished uploads free their slots.
    for (tx, request) in held {
        tx.send(Ok(b"1\n".to_vec())).await.unwrap();
        drop(tx);
        let (status, text) = request.await.unwrap();
        assert_eq!(status, StatusCode::OK, "{text}");
        let id = serde_json::from_str::<Value>(&text).unwrap()["item_queue_id"].clone();
        assert_eq!(
            wait_job(&env, id.as_str().unwrap()).await["state"],
            "complete"
        );
    }
    let job = import(&env, "after.csv", b"a\n1\n", ImportOptions::new()).await;
    complete(&job);
}

/// A stream of a channel's items.
fn tokio_stream_from(
    rx: tokio::sync::mpsc::Receiver<Result<Vec<u8>, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}
