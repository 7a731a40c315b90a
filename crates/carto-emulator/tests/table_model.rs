//! CARTO's table model on the emulator: the `cartodb` functions through the SQL API (as
//! cartoframes and users call them) and the datasets endpoints (`/api/v1/viz`), each with
//! the attacks next to the uses: a key cartodbfying a table it may only write, names built
//! to inject SQL, privacy changed by a non-master key, a key reading a table made private.

use carto_test_support::emulator::http as common;

use carto_test_support::postgis;
use common::{Reply, send};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::security::Env;

/// The one row of a master query.
async fn row(env: &Env, q: &str) -> Value {
    env.master_sql(q).await["rows"][0].clone()
}

/// A regular key of alice that may read and write `table` (made when missing) and use the
/// SQL API.
async fn writer_key(env: &Env, name: &str, table: &str) -> String {
    env.master_sql(&format!("CREATE TABLE IF NOT EXISTS {table} (a int)"))
        .await;
    env.regular_key(
        name,
        json!([{"type": "apis", "apis": ["sql"]},
               {"type": "database", "tables": [{"schema": "public", "name": table,
                   "permissions": ["select", "insert", "update", "delete"]}]}]),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cartodbfy_makes_a_carto_table() {
    let env = Env::start().await;
    if !postgis(env.emu.has_postgis("alice"), "CDB_CartodbfyTable") {
        return;
    }
    // As cartoframes loads a table: plain columns and a 4326 geometry, then cartodbfy.
    env.master_sql(
        "CREATE TABLE places (name text, value float8, the_geom geometry(Geometry, 4326));
         INSERT INTO places VALUES ('a', 1.5, 'SRID=4326;POINT(1 2)'), ('b', NULL, NULL)",
    )
    .await;
    // A public table stays public through the rewrite.
    let public_role = env.emu.user("alice").unwrap().public_role().to_owned();
    env.master_sql(&format!("GRANT SELECT ON places TO \"{public_role}\""))
        .await;
    let r = row(&env, "SELECT CDB_CartodbfyTable('public', 'places') AS t").await;
    assert_eq!(r["t"], "places");
    let r = env
        .sql(
            None,
            "SELECT count(*) AS n FROM places WHERE cartodb_id > 0",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["rows"][0]["n"], 2);
    let cols = env
        .master_sql("SELECT c AS name, CDB_ColumnType('places', c) AS type FROM CDB_ColumnNames('places') c")
        .await;
    assert_eq!(
        cols["rows"],
        json!([{"name": "cartodb_id", "type": "integer"}, {"name": "the_geom", "type": "geometry"},
               {"name": "the_geom_webmercator", "type": "geometry"}, {"name": "name", "type": "text"},
               {"name": "value", "type": "double precision"}])
    );
    let r = row(
        &env,
        "SELECT pg_catalog.format_type(atttypid, atttypmod) AS t FROM pg_attribute
          WHERE attrelid = 'places'::regclass AND attname = 'the_geom_webmercator'",
    )
    .await;
    assert_eq!(r["t"], "geometry(Geometry,3857)");
    let rows = env
        .master_sql(
            "SELECT cartodb_id, name, round(ST_X(the_geom_webmercator)) AS x,
                    round(ST_Y(the_geom_webmercator)) AS y FROM places ORDER BY cartodb_id",
        )
        .await;
    assert_eq!(
        rows["rows"],
        json!([{"cartodb_id": 1, "name": "a", "x": 111319, "y": 222684},
               {"cartodb_id": 2, "name": "b", "x": null, "y": null}])
    );
    // The trigger: an insert of the_geom alone, then an update, fill the mercator column;
    // the key goes on from the sequence.
    let r = row(
        &env,
        "INSERT INTO places (the_geom) VALUES (CDB_LatLng(2, 1))
         RETURNING cartodb_id, round(ST_X(the_geom_webmercator)) AS x, round(ST_Y(the_geom_webmercator)) AS y",
    )
    .await;
    assert_eq!(r, json!({"cartodb_id": 3, "x": 111319, "y": 222684}));
    let r = row(
        &env,
        "UPDATE places SET the_geom = CDB_LatLng(0, 0) WHERE cartodb_id = 3
         RETURNING round(ST_X(the_geom_webmercator)) AS x",
    )
    .await;
    assert_eq!(r["x"], 0);
    // Indexes and the trigger, once each after a second run (idempotent).
    env.master_sql("SELECT CDB_CartodbfyTable('public', 'places')")
        .await;
    let r = row(
        &env,
        "SELECT (SELECT count(*) FROM pg_index WHERE indrelid = 'places'::regclass AND indisprimary) AS pk,
                (SELECT count(*) FROM pg_indexes WHERE tablename = 'places' AND indexdef LIKE '%USING gist%') AS gist,
                (SELECT count(*) FROM pg_trigger WHERE tgrelid = 'places'::regclass AND NOT tgisinternal) AS triggers,
                (SELECT count(*) FROM places) AS n",
    )
    .await;
    assert_eq!(r, json!({"pk": 1, "gist": 2, "triggers": 2, "n": 3}));
    // Writes are recorded (track_updates) where readers of the table see them: the row has
    // the time of the writing transaction.
    let r = row(
        &env,
        "SELECT updated_at = now() AS fresh FROM cartodb.CDB_TableMetadata_Text WHERE tabname = 'public.places'",
    )
    .await;
    assert_eq!(r["fresh"], false);
    let r = row(
        &env,
        "DELETE FROM places WHERE cartodb_id = 3;
         SELECT updated_at = now() AS fresh FROM cartodb.CDB_TableMetadata_Text WHERE tabname = 'public.places'",
    )
    .await;
    assert_eq!(r["fresh"], true);
    // Non-master keys: the view reads the catalogs, so the system-table rule refuses it.
    let r = env
        .sql(None, "SELECT * FROM cartodb.CDB_TableMetadata_Text")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    // A table without geometry gets both columns, empty; the one-argument form is 'public'.
    // (Written last, it is the most recently updated dataset, until places is written.)
    env.master_sql("CREATE TABLE plain (a int); INSERT INTO plain VALUES (7)")
        .await;
    env.master_sql("SELECT CDB_CartodbfyTable('plain'::regclass)")
        .await;
    let r = row(
        &env,
        "SELECT cartodb_id, the_geom, the_geom_webmercator, a FROM plain",
    )
    .await;
    assert_eq!(
        r,
        json!({"cartodb_id": 1, "the_geom": null, "the_geom_webmercator": null, "a": 7})
    );
    assert_eq!(first_dataset(&env).await, "plain");
    env.master_sql("UPDATE places SET name = 'c' WHERE cartodb_id = 1")
        .await;
    assert_eq!(
        first_dataset(&env).await,
        "places",
        "a write makes a dataset the most recent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cartodbfy_rules_for_existing_columns() {
    let env = Env::start().await;
    if !postgis(env.emu.has_postgis("alice"), "CDB_CartodbfyTable") {
        return;
    }
    // A text cartodb_id of integers is kept (as integers).
    env.master_sql(
        "CREATE TABLE k1 (cartodb_id text, v int); INSERT INTO k1 VALUES ('10', 1), ('11', 2);
         SELECT CDB_CartodbfyTable('public', 'k1')",
    )
    .await;
    let r = env
        .master_sql("SELECT cartodb_id, v FROM k1 ORDER BY v")
        .await;
    assert_eq!(
        r["rows"],
        json!([{"cartodb_id": 10, "v": 1}, {"cartodb_id": 11, "v": 2}])
    );
    assert_eq!(r["fields"]["cartodb_id"]["pgtype"], "int4");
    // ... and the sequence goes on after the largest.
    let r = row(&env, "INSERT INTO k1 (v) VALUES (3) RETURNING cartodb_id").await;
    assert_eq!(r["cartodb_id"], 12);
    // Not integers, duplicated or NULL: CARTO's "invalid cartodb_id" error, the table as it was.
    for (table, values) in [("k2", "('nan')"), ("k3", "('1'), ('1')"), ("k4", "(NULL)")] {
        env.master_sql(&format!(
            "CREATE TABLE {table} (cartodb_id text); INSERT INTO {table} VALUES {values}"
        ))
        .await;
        let r = env
            .sql(
                Some(&env.master()),
                &format!("SELECT CDB_CartodbfyTable('public', '{table}')"),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{table}: {}", r.text);
        assert!(
            r.text
                .contains("CDB(_CDB_Has_Usable_Primary_ID: Error: invalid cartodb_id, cartodb_id)"),
            "{}",
            r.text
        );
        let r = row(&env, &format!("SELECT string_agg(attname, ',') AS c FROM pg_attribute WHERE attrelid = '{table}'::regclass AND attnum > 0")).await;
        assert_eq!(r["c"], "cartodb_id");
    }
    // An integer primary key becomes cartodb_id; a text the_geom of geometries is the
    // source; a the_geom_webmercator that is no geometry moves aside.
    env.master_sql(
        "CREATE TABLE k5 (id bigint PRIMARY KEY, the_geom text, the_geom_webmercator int);
         INSERT INTO k5 VALUES (5, 'POINT(1 1)', 3), (7, NULL, 4);
         SELECT CDB_CartodbfyTable('public', 'k5')",
    )
    .await;
    let r = env
        .master_sql(
            "SELECT cartodb_id, ST_AsEWKT(the_geom) AS g, ST_SRID(the_geom_webmercator) AS srid,
                    the_geom_webmercator0 AS moved FROM k5 ORDER BY cartodb_id",
        )
        .await;
    assert_eq!(
        r["rows"],
        json!([{"cartodb_id": 5, "g": "SRID=4326;POINT(1 1)", "srid": 3857, "moved": 3},
               {"cartodb_id": 7, "g": null, "srid": null, "moved": 4}])
    );
    // A text the_geom that is no geometry moves aside too.
    env.master_sql(
        "CREATE TABLE k6 (the_geom text); INSERT INTO k6 VALUES ('not a geometry');
         SELECT CDB_CartodbfyTable('public', 'k6')",
    )
    .await;
    let r = row(&env, "SELECT the_geom, the_geom0 FROM k6").await;
    assert_eq!(r, json!({"the_geom": null, "the_geom0": "not a geometry"}));
    // Another SRID: transformed into both columns.
    env.master_sql(
        "CREATE TABLE k7 (g geometry(Point, 3857)); INSERT INTO k7 VALUES ('SRID=3857;POINT(111319.49 222684.21)');
         SELECT CDB_CartodbfyTable('public', 'k7')",
    )
    .await;
    let r = row(
        &env,
        "SELECT ST_AsText(ST_SnapToGrid(the_geom, 0.0001)) AS g FROM k7",
    )
    .await;
    assert_eq!(r["g"], "POINT(1 2)");
    // A schema that does not exist.
    let r = env
        .sql(
            Some(&env.master()),
            "SELECT CDB_CartodbfyTable('nope', 'k7')",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text.contains("Invalid schema name \\\"nope\\\""),
        "{}",
        r.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geometry_functions() {
    let env = Env::start().await;
    if !postgis(env.emu.has_postgis("alice"), "CDB geometry functions") {
        return;
    }
    let r = row(
        &env,
        "SELECT ST_AsText(CDB_LatLng(2, 1)) AS ll, ST_SRID(CDB_LatLng(2.5::float8, 1::float8)) AS srid,
                ST_AsText(ST_SnapToGrid(CDB_TransformToWebmercator('SRID=4326;POINT(5 3)'), 1)) AS p,
                CDB_TransformToWebmercator('SRID=4326;POINT(0 90)') IS NULL AS pole,
                ST_AsText(ST_SnapToGrid(CDB_TransformToWebmercator('SRID=4326;LINESTRING(90 90, 0 80)'), 1)) AS clipped,
                ST_AsText(CDB_TransformToWebmercator('SRID=3857;POINT(-20037510 -30240972)')) AS kept,
                cartodb.CDB_XYZ_Resolution(0) AS res0,
                ST_AsText(ST_SnapToGrid(CDB_XYZ_Extent(0, 0, 0), 1)) AS z0,
                ST_AsText(ST_SnapToGrid(CDB_XYZ_Extent(1, 1, 1), 1)) AS z1,
                CDB_ZoomFromScale(0) AS zmax, CDB_ZoomFromScale(1000000) AS z, CDB_ZoomFromScale(700000000) AS znone",
    )
    .await;
    assert_eq!(
        r,
        json!({
            "ll": "POINT(1 2)", "srid": 4326, "p": "POINT(556597 334111)", "pole": true,
            "clipped": "LINESTRING(9016879 30240972,0 15538711)",
            "kept": "POINT(-20037510 -30240972)", "res0": 156543.03392804097,
            "z0": "POLYGON((-20037508 -20037508,-20037508 20037508,20037508 20037508,20037508 -20037508,-20037508 -20037508))",
            "z1": "POLYGON((0 -20037508,0 0,20037508 0,20037508 -20037508,0 -20037508))",
            "zmax": 29, "z": 9, "znone": null
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_functions() {
    let env = Env::start().await;
    env.master_sql(
        "CREATE TABLE mine (a int); CREATE TABLE shared (b int, c text DEFAULT 'x' NOT NULL);
         INSERT INTO shared (b) VALUES (1), (2)",
    )
    .await;
    let public_role = env.emu.user("alice").unwrap().public_role().to_owned();
    env.master_sql(&format!("GRANT SELECT ON shared TO \"{public_role}\""))
        .await;
    let names = |v: Value| -> Vec<String> {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["t"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = names(
        env.master_sql("SELECT t FROM CDB_UserTables() t ORDER BY 1")
            .await,
    );
    assert!(
        all.contains(&"mine".into()) && all.contains(&"shared".into()),
        "{all:?}"
    );
    assert!(!all.contains(&"spatial_ref_sys".into()) && !all.contains(&"api_keys".into()));
    let public = names(
        env.master_sql("SELECT t FROM CDB_UserTables('public') t")
            .await,
    );
    assert_eq!(public, vec!["shared"]);
    let private = names(
        env.master_sql("SELECT t FROM CDB_UserTables('private') t ORDER BY 1")
            .await,
    );
    assert!(private.contains(&"mine".into()) && !private.contains(&"shared".into()));
    assert!(
        names(
            env.master_sql("SELECT t FROM CDB_UserTables('wadus') t")
                .await
        )
        .is_empty()
    );
    // The Default public key sees only what it may read.
    let r = env.sql(None, "SELECT t FROM CDB_UserTables() t").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(names(r.json()), vec!["shared"]);

    let r = row(
        &env,
        "SELECT CDB_QueryTablesText('SELECT * FROM mine m JOIN public.shared s ON m.a = s.b; CREATE TABLE zz (a int); SELECT 1') AS t,
                CDB_QueryTablesText('SELECT * FROM pg_catalog.pg_class') AS sys,
                CDB_QueryTables('SELECT * FROM mine') AS n",
    )
    .await;
    assert_eq!(r["t"], json!(["public.mine", "public.shared"]));
    // A catalog (present with or without PostGIS) is read without an error.
    assert!(r["sys"].is_array(), "{}", r["sys"]);
    assert!(r["n"].to_string().contains("public.mine"), "{}", r["n"]);
    let r = env
        .sql(
            Some(&env.master()),
            "SELECT CDB_QueryTablesText('SELECT * FROM nonexistant')",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text
            .contains("relation \\\"nonexistant\\\" does not exist"),
        "{}",
        r.text
    );
    let r = env
        .master_sql(
            "SELECT s FROM CDB_QueryStatements($q$select 1; select ';' ; select $x$;$x$; -- ;
             select \"a;b\" /* ; */ from t;;$q$) s",
        )
        .await;
    assert_eq!(r["rows"].as_array().unwrap().len(), 4, "{r}");
    assert_eq!(r["rows"][2]["s"], "select $x$;$x$");

    // CDB_RegenerateTable frees dropped columns' slots, keeps data, defaults and grants.
    env.master_sql(
        "ALTER TABLE shared ADD COLUMN gone int; ALTER TABLE shared DROP COLUMN gone;
         CREATE INDEX shared_b ON shared (b);
         SELECT CDB_RegenerateTable('public.shared'::regclass)",
    )
    .await;
    let r = row(
        &env,
        &format!(
            "SELECT (SELECT count(*) FROM pg_attribute WHERE attrelid = 'shared'::regclass AND attisdropped) AS dropped,
                    (SELECT count(*) FROM shared) AS n, has_table_privilege('{public_role}', 'shared', 'SELECT') AS granted,
                    to_regclass('shared_b') IS NOT NULL AS indexed, cartodb.CDB_EstimateRowCount('SELECT * FROM mine') >= 0 AS est,
                    CDB_DateToNumber('1970-01-02 00:00'::timestamp) AS day, CDB_DateToNumber('1970-01-02 00:00+01'::timestamptz) AS day_tz,
                    CDB_StringToDate('2020-01-02')::text AS date, CDB_StringToDate('60')::text AS epoch, CDB_StringToDate('nope') AS nothing"
        ),
    )
    .await;
    assert_eq!(
        r,
        json!({"dropped": 0, "n": 2, "granted": true, "indexed": true, "est": true,
               "day": 86400, "day_tz": 82800, "date": "2020-01-02 00:00:00",
               "epoch": "1970-01-01 00:01:00", "nothing": null})
    );
    let r = row(&env, "INSERT INTO shared (b) VALUES (3) RETURNING c").await;
    assert_eq!(r["c"], "x");

    // cartoframes looks for CDB_RegenerateTable in schema cartodb.
    let r = row(
        &env,
        "SELECT count(*) AS n FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
          WHERE p.proname = 'cdb_regeneratetable' AND n.nspname = 'cartodb'",
    )
    .await;
    assert_eq!(r["n"], 1);
}

/// The functions follow docs/security.md: owned by the services role, search path pinned,
/// no SECURITY DEFINER but the public-role lookup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_are_owned_by_the_services_role_with_pinned_paths() {
    let env = Env::start().await;
    let r = env
        .master_sql(
            "SELECT p.proname::text AS f, pg_get_userbyid(p.proowner)::text AS owner, p.prosecdef AS definer,
                    coalesce(array_to_string(p.proconfig, ';'), '') AS config
               FROM pg_catalog.pg_proc p WHERE p.pronamespace = 'cartodb'::regnamespace",
        )
        .await;
    let rows = r["rows"].as_array().unwrap();
    assert!(rows.len() > 20, "{r}");
    for f in rows {
        let name = f["f"].as_str().unwrap();
        assert_eq!(f["owner"], "carto_emulator_services", "{name}");
        let definer = [
            "_cdb_public_roles",
            "_cdb_tablemetadata_upsert",
            "cdb_tablemetadata_trigger",
            "cdb_tablemetadatatouch",
        ];
        assert_eq!(f["definer"], definer.contains(&name), "{name}");
        let config = f["config"].as_str().unwrap();
        if [
            "cdb_querytablestext",
            "cdb_querytables",
            "cdb_estimaterowcount",
        ]
        .contains(&name)
        {
            assert_eq!(config, "", "{name} keeps the caller's path");
        } else {
            assert!(
                config.starts_with("search_path=pg_catalog,"),
                "{name}: {config}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_a_key_cartodbfies_a_table_it_may_only_write() {
    let env = Env::start().await;
    env.master_sql("CREATE TABLE owned (a int); INSERT INTO owned VALUES (1)")
        .await;
    let key = writer_key(&env, "writer", "owned").await;
    let r = env.sql(Some(&key), "INSERT INTO owned VALUES (2)").await;
    assert_eq!(r.status, StatusCode::OK, "the key may write: {}", r.text);
    let r = env
        .sql(Some(&key), "SELECT CDB_CartodbfyTable('public', 'owned')")
        .await;
    assert_ne!(r.status, StatusCode::OK, "{}", r.text);
    let expected = if env.emu.has_postgis("alice") {
        "must be owner of table owned"
    } else {
        "CDB_CartodbfyTable needs PostGIS"
    };
    assert!(r.text.contains(expected), "{}", r.text);
    let cols = env
        .master_sql("SELECT c FROM CDB_ColumnNames('owned') c")
        .await;
    assert_eq!(cols["rows"], json!([{"c": "a"}]), "the table is as it was");
    // Nor through the regeneration, nor the Default public key.
    let r = env
        .sql(Some(&key), "SELECT CDB_RegenerateTable('owned'::regclass)")
        .await;
    assert!(r.text.contains("must be owner of table"), "{}", r.text);
    let r = env
        .sql(None, "SELECT CDB_CartodbfyTable('public', 'owned')")
        .await;
    assert_ne!(r.status, StatusCode::OK);
    // Nor mark it written, nor read the metadata table itself.
    let r = env
        .sql(Some(&key), "SELECT CDB_TableMetadataTouch('owned')")
        .await;
    assert!(r.text.contains("must be owner of table"), "{}", r.text);
    let r = env
        .sql(Some(&key), "SELECT * FROM cartodb.CDB_TableMetadata")
        .await;
    assert!(r.text.contains("permission denied"), "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_cdb_functions_on_tables_a_key_cannot_read() {
    let env = Env::start().await;
    env.master_sql("CREATE TABLE secret (password text); INSERT INTO secret VALUES ('hunter2')")
        .await;
    let key = writer_key(&env, "other", "nothing_here").await;
    for token in [Some(key.as_str()), None] {
        for q in [
            "SELECT CDB_ColumnNames('secret')",
            "SELECT CDB_ColumnType('secret', 'password')",
            "SELECT CDB_QueryTablesText('SELECT * FROM secret')",
            "SELECT CDB_EstimateRowCount('SELECT * FROM secret')",
        ] {
            let r = env.sql(token, q).await;
            assert_ne!(r.status, StatusCode::OK, "{q}: {}", r.text);
            assert!(r.text.contains("permission denied"), "{q}: {}", r.text);
            assert!(!r.text.contains("hunter2"));
        }
        let r = env.sql(token, "SELECT t FROM CDB_UserTables() t").await;
        assert!(!r.text.contains("secret"), "{}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_injection_through_table_and_schema_names() {
    let env = Env::start().await;
    if !postgis(env.emu.has_postgis("alice"), "CDB_CartodbfyTable") {
        return;
    }
    env.master_sql(
        r#"CREATE TABLE victim (a int);
           CREATE TABLE "x""; DROP TABLE victim; --" (the_geom geometry(Point, 4326));
           INSERT INTO "x""; DROP TABLE victim; --" VALUES ('SRID=4326;POINT(1 1)')"#,
    )
    .await;
    let r = row(
        &env,
        r#"SELECT CDB_CartodbfyTable('public', '"x""; DROP TABLE victim; --"')::text AS t"#,
    )
    .await;
    assert_eq!(r["t"], r#""x""; DROP TABLE victim; --""#);
    let r = env
        .sql(
            Some(&env.master()),
            "SELECT CDB_CartodbfyTable('public; DROP TABLE victim; --', 'victim')",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.text.contains("Invalid schema name"), "{}", r.text);
    let r = row(
        &env,
        r#"SELECT to_regclass('victim') IS NOT NULL AS victim,
                  (SELECT count(*) FROM "x""; DROP TABLE victim; --" WHERE the_geom_webmercator IS NOT NULL) AS n"#,
    )
    .await;
    assert_eq!(r, json!({"victim": true, "n": 1}));
}

// ---- Datasets (/api/v1/viz) ----

/// The name of the most recently updated dataset.
async fn first_dataset(env: &Env) -> Value {
    let list = viz(env, Method::GET, "", Some(&env.master()), None)
        .await
        .json();
    list["visualizations"][0]["name"].clone()
}

/// A datasets request with `token` (Basic auth), JSON `body` when given.
async fn viz(
    env: &Env,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let url = format!("{}/api/v1/viz{path}", common::base(&env.emu, "alice"));
    send(&env.c, method, &url, token.map(|t| ("alice", t)), body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datasets_list_show_privacy_rename_delete() {
    let env = Env::start().await;
    let m = env.master();
    env.master_sql("CREATE TABLE cities (name text); INSERT INTO cities VALUES ('Madrid')")
        .await;
    let r = viz(&env, Method::GET, "?type=table&page=1", Some(&m), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let list = r.json();
    assert_eq!(list["total_entries"], 1);
    let d = &list["visualizations"][0];
    assert_eq!(
        (
            d["name"].as_str(),
            d["privacy"].as_str(),
            d["type"].as_str()
        ),
        (Some("cities"), Some("PRIVATE"), Some("table"))
    );
    assert_eq!(d["table"]["name"], "cities");
    let id = d["id"].as_str().unwrap().to_owned();
    // By name and by id, the same document.
    let by_name = viz(&env, Method::GET, "/cities", Some(&m), None)
        .await
        .json();
    let by_id = viz(&env, Method::GET, &format!("/{id}"), Some(&m), None)
        .await
        .json();
    assert_eq!(by_name["id"], json!(id));
    assert_eq!(by_name, by_id);
    // Maps: none.
    let r = viz(&env, Method::GET, "?type=derived", Some(&m), None)
        .await
        .json();
    assert_eq!(r["total_entries"], 0);

    // Privacy: the Default public key (and a key's role, a member of the public role) reads
    // public and link datasets, not private ones.
    let reader = writer_key(&env, "reader", "unrelated").await;
    let public_read = |token: Option<String>| {
        let env = &env;
        async move {
            env.sql(token.as_deref(), "SELECT name FROM cities")
                .await
                .status
        }
    };
    assert_eq!(public_read(None).await, StatusCode::FORBIDDEN);
    for (privacy, shown, readable) in [
        ("public", "PUBLIC", true),
        ("LINK", "LINK", true),
        ("private", "PRIVATE", false),
    ] {
        let r = viz(
            &env,
            Method::PUT,
            &format!("/{id}"),
            Some(&m),
            Some(&json!({"privacy": privacy})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json()["privacy"], shown);
        let got = viz(&env, Method::GET, "/cities", Some(&m), None)
            .await
            .json();
        assert_eq!(got["privacy"], shown);
        let want = if readable {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(
            public_read(None).await,
            want,
            "{privacy}: the Default public key"
        );
        assert_eq!(
            public_read(Some(reader.clone())).await,
            want,
            "{privacy}: a regular key"
        );
    }
    let r = viz(
        &env,
        Method::PUT,
        &format!("/{id}"),
        Some(&m),
        Some(&json!({"privacy": "secret"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.text.contains("Unknown value 'secret' for 'privacy'"),
        "{}",
        r.text
    );

    // Rename (sanitized as CARTO does), through SQL too: the id stays.
    let r = viz(
        &env,
        Method::PUT,
        &format!("/{id}"),
        Some(&m),
        Some(&json!({"name": "Big Cities"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["name"], "big_cities");
    env.master_sql("ALTER TABLE big_cities RENAME TO towns")
        .await;
    let r = viz(&env, Method::GET, &format!("/{id}"), Some(&m), None)
        .await
        .json();
    assert_eq!(r["name"], "towns");
    env.master_sql("CREATE TABLE other (a int)").await;
    let r = viz(
        &env,
        Method::PUT,
        &format!("/{id}"),
        Some(&m),
        Some(&json!({"name": "other"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);

    // Delete.
    let r = viz(&env, Method::DELETE, &format!("/{id}"), Some(&m), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_eq!(
        row(&env, "SELECT to_regclass('towns') IS NULL AS gone").await["gone"],
        true
    );
    let r = viz(&env, Method::GET, &format!("/{id}"), Some(&m), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["errors"], "Visualization does not exist");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_datasets_need_the_master_key() {
    let env = Env::start().await;
    env.master_sql("CREATE TABLE t (a int)").await;
    let key = writer_key(&env, "w", "t").await;
    let id = viz(&env, Method::GET, "/t", Some(&env.master()), None)
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let public = "default_public".to_owned();
    for token in [Some(&key), Some(&public), None] {
        for (method, path, body) in [
            (Method::GET, String::new(), None),
            (Method::GET, "/t".to_owned(), None),
            (
                Method::PUT,
                format!("/{id}"),
                Some(json!({"privacy": "public"})),
            ),
            (Method::DELETE, format!("/{id}"), None),
        ] {
            let r = viz(
                &env,
                method.clone(),
                &path,
                token.map(String::as_str),
                body.as_ref(),
            )
            .await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(r.text, "");
        }
    }
    // Bob's master key is not Alice's.
    let bob = common::master(&env.emu, "bob");
    let r = viz(
        &env,
        Method::PUT,
        &format!("/{id}"),
        Some(&bob),
        Some(&json!({"privacy": "public"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = viz(&env, Method::GET, "/t", Some(&env.master()), None)
        .await
        .json();
    assert_eq!(r["privacy"], "PRIVATE", "nothing changed");
    assert_eq!(
        env.sql(None, "SELECT * FROM t").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_injection_through_dataset_names() {
    let env = Env::start().await;
    let m = env.master();
    env.master_sql("CREATE TABLE victim (a int); CREATE TABLE t (a int)")
        .await;
    let r = viz(
        &env,
        Method::PUT,
        "/t",
        Some(&m),
        Some(&json!({"name": "x\"; DROP TABLE victim; --"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["name"], "x_drop_table_victim_");
    for path in [
        "/victim%3B%20DROP%20TABLE%20victim",
        "/public.victim'--",
        "/%22victim%22",
    ] {
        let r = viz(&env, Method::DELETE, path, Some(&m), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
    }
    assert_eq!(
        row(&env, "SELECT to_regclass('victim') IS NOT NULL AS v").await["v"],
        true
    );
}

/// An organization user's schema is their own: cartodbfy there (as cartoframes does, with
/// `current_schema()`), datasets of that schema only, privacy for their public role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_users_have_datasets_of_their_own() {
    let emu = carto_emulator::Emulator::builder()
        .org("acme", ["carol", "dave"])
        .start()
        .await
        .expect("emulator");
    let c = common::client();
    let sql = |user: &'static str, token: Option<String>, q: &'static str| {
        let (emu, c) = (&emu, &c);
        async move {
            let url = format!("{}/api/v2/sql", common::base(emu, user));
            send(
                c,
                Method::POST,
                &url,
                token.as_deref().map(|t| (user, t)),
                Some(&json!({"q": q})),
            )
            .await
        }
    };
    let carol = common::master(&emu, "carol");
    let r = sql("carol", Some(carol.clone()), "SELECT current_schema() AS s").await;
    assert_eq!(r.json()["rows"][0]["s"], "carol");
    let r = sql(
        "carol",
        Some(carol.clone()),
        "CREATE TABLE pts (a int); INSERT INTO pts VALUES (1)",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    if emu.has_postgis("carol") {
        let r = sql(
            "carol",
            Some(carol.clone()),
            "SELECT CDB_CartodbfyTable('carol', 'pts') AS t",
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = sql(
            "carol",
            Some(carol.clone()),
            "SELECT cartodb_id, a FROM carol.pts",
        )
        .await;
        assert_eq!(r.json()["rows"], json!([{"cartodb_id": 1, "a": 1}]));
    }
    let viz = |user: &'static str,
               token: String,
               method: Method,
               path: &'static str,
               body: Option<Value>| {
        let (emu, c) = (&emu, &c);
        async move {
            let url = format!("{}/api/v1/viz{path}", common::base(emu, user));
            send(c, method, &url, Some((user, &token)), body.as_ref()).await
        }
    };
    let list = viz("carol", carol.clone(), Method::GET, "", None)
        .await
        .json();
    assert_eq!(list["total_entries"], 1, "{list}");
    assert_eq!(list["visualizations"][0]["name"], "pts");
    let dave = common::master(&emu, "dave");
    let list = viz("dave", dave, Method::GET, "", None).await.json();
    assert_eq!(
        list["total_entries"], 0,
        "Carol's table is not Dave's dataset"
    );
    let r = viz(
        "carol",
        carol.clone(),
        Method::PUT,
        "/carol.pts",
        Some(json!({"privacy": "public"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["privacy"], "PUBLIC");
    let r = sql("carol", None, "SELECT a FROM carol.pts").await;
    assert_eq!(
        r.status,
        StatusCode::OK,
        "the Default public key reads a public dataset: {}",
        r.text
    );
}
