//! SQL API v2 engine against a real PostgreSQL: documents, values, errors, permissions.

use carto_test_support::emulator::sql as sql_common;

use std::time::Duration;

use axum::http::StatusCode;
use carto_emulator::ApiKeyType;
use carto_emulator::SqlEngine;
use serde_json::{Value, json};
use sql_common::{Answer, Env, OWNER, call, without_time};

fn fixture(name: &str) -> Value {
    serde_json::from_slice(carto_test_support::fixture(&format!("sql-api/{name}")))
        .expect("fixture json")
}

#[tokio::test]
async fn json_documents_types_and_values() {
    let env = Env::start().await;

    // The shape and key order of query-ok.json, compared on the raw text.
    let a = env.q("SELECT 'A'::text AS column_a, 123 AS column_b").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        without_time(&a.body),
        r#"{"rows":[{"column_a":"A","column_b":123}],"time":T,"fields":{"column_a":{"type":"string","pgtype":"text"},"column_b":{"type":"number","pgtype":"int4"}},"total_rows":1}"#
    );
    assert_eq!(a.header("content-type"), "application/json; charset=utf-8");
    let cd = a.header("content-disposition");
    assert!(
        cd.starts_with("inline; filename=cartodb-query.json; modification-date=\""),
        "{cd}"
    );
    assert!(cd.ends_with(" GMT\";"), "{cd}");
    assert!(a.json()["time"].is_number());

    // Values and field types per §12.
    let a = env
        .q("SELECT true AS b, 1::int2 AS i2, 9007199254740993::int8 AS i8, 1.50::numeric AS n,
                  'NaN'::float8 AS nan, 'Infinity'::float8 AS inf, '-Infinity'::numeric AS ninf,
                  'x'::varchar AS v, 'y'::char(2) AS c, 'z'::\"char\" AS qc, 'nm'::name AS nm,
                  NULL AS nul, 12.34::money AS m, '\\x0102ff'::bytea AS by, '10.0.0.1'::inet AS ip,
                  'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS u, '{\"k\": [1, 2.0]}'::json AS j,
                  '{\"b\": 1, \"a\": null}'::jsonb AS jb, ARRAY[1,2] AS ai, ARRAY['a','b'] AS at,
                  ARRAY['{}'::jsonb] AS ajb, '1 day 02:03:04'::interval AS iv, point(1,2) AS pt,
                  '2020-02-29'::date AS d, '2011-09-21 14:02:21.314252'::timestamp AS ts,
                  '2011-09-21 14:02:21.314252+02'::timestamptz AS tstz, 'infinity'::timestamp AS tsinf,
                  '12:34:56'::time AS t, '12:34:56+02'::timetz AS ttz, 26::oid AS o")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let doc = a.json();
    assert_eq!(
        doc["rows"][0],
        json!({"b": true, "i2": 1, "i8": 9007199254740992u64, "n": 1.5, "nan": "NaN", "inf": "Infinity",
            "ninf": "-Infinity", "v": "x", "c": "y ", "qc": "z", "nm": "nm", "nul": null, "m": "$12.34",
            "by": {"type": "Buffer", "data": [1, 2, 255]}, "ip": "10.0.0.1",
            "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "j": {"k": [1, 2]}, "jb": {"a": null, "b": 1},
            "ai": [1, 2], "at": ["a", "b"], "ajb": [{}], "iv": {"days": 1, "hours": 2, "minutes": 3, "seconds": 4},
            "pt": {"x": 1, "y": 2}, "d": "2020-02-29T00:00:00Z", "ts": "2011-09-21T14:02:21Z",
            "tstz": "2011-09-21T12:02:21Z", "tsinf": "Infinity", "t": "12:34:56", "ttz": "12:34:56+02", "o": 26})
    );
    let types: Vec<(String, String, String)> = doc["fields"]
        .as_object()
        .expect("fields")
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v["type"].as_str().unwrap().to_string(),
                v["pgtype"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("b", "boolean", "bool"),
        ("i2", "number", "int2"),
        ("i8", "number", "int8"),
        ("n", "number", "numeric"),
        ("nan", "number", "float8"),
        ("inf", "number", "float8"),
        ("ninf", "number", "numeric"),
        ("v", "string", "varchar"),
        ("c", "string", "bpchar"),
        ("qc", "string", "char"),
        ("nm", "name", "name"),
        ("nul", "string", "text"),
        ("m", "money", "money"),
        ("by", "bytea", "bytea"),
        ("ip", "inet", "inet"),
        ("u", "uuid", "uuid"),
        ("j", "JSON", "JSON"),
        ("jb", "jsonb", "jsonb"),
        ("ai", "number[]", "_int4"),
        ("at", "string[]", "_text"),
        ("ajb", "_jsonb[]", "_jsonb"),
        ("iv", "number", "interval"),
        ("pt", "number", "point"),
        ("d", "date", "date"),
        ("ts", "date", "timestamp"),
        ("tstz", "date", "timestamptz"),
        ("tsinf", "date", "timestamp"),
        ("t", "date", "time"),
        ("ttz", "date", "timetz"),
        ("o", "oid", "oid"),
    ];
    let expected: Vec<(String, String, String)> = expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(types, expected);

    if carto_test_support::postgis(env.postgis, "the geometry fields") {
        env.admin(&format!(
            "CREATE TABLE geoms (cartodb_id serial, the_geom geometry(Geometry,4326),
               geometry_point_4326 geometry(Point,4326), geometry_pointz_4326 geometry(PointZ,4326),
               geometry_multipolygonzm_3857 geometry(MultiPolygonZM,3857), geography_line_4326 geography(LineString,4326));
             INSERT INTO geoms (the_geom, geometry_point_4326) VALUES ('SRID=4326;POINT(-97.335 35.498)', 'SRID=4326;POINT(1 2)');
             ALTER TABLE geoms OWNER TO {}",
            OWNER.0
        ))
        .await;
        let a = env
            .q("SELECT the_geom, geometry_point_4326, geometry_pointz_4326, geometry_multipolygonzm_3857,
                       geography_line_4326, 'POINT(0 0)'::geometry AS expr FROM geoms")
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let doc = a.json();
        let fixture = fixture("query-fields-pgtypes.json");
        assert_eq!(
            doc["fields"]["geometry_point_4326"],
            fixture["fields"]["geometry_point_4326"]
        );
        assert_eq!(
            doc["fields"]["geometry_pointz_4326"],
            fixture["fields"]["geometry_pointz_4326"]
        );
        assert_eq!(
            doc["fields"]["geometry_multipolygonzm_3857"],
            json!({"type": "geometry", "wkbtype": "MultiPolygon", "dims": 4, "srid": 3857})
        );
        assert_eq!(
            doc["fields"]["geography_line_4326"],
            fixture["fields"]["geography_line_4326"]
        );
        assert_eq!(doc["fields"]["the_geom"], fixture_query_ok_geom());
        assert_eq!(
            doc["fields"]["expr"],
            json!({"type": "geometry", "dims": 4, "srid": -1})
        );
        assert_eq!(
            doc["rows"][0]["the_geom"],
            "0101000020E61000003D0AD7A3705558C039B4C876BEBF4140"
        );
        assert_eq!(
            doc["rows"][0]["expr"],
            "010100000000000000000000000000000000000000"
        );
        // Column typmods survive the page wrapper (a subquery) and views.
        env.admin(&format!(
            "CREATE VIEW geoms_v AS SELECT * FROM geoms; ALTER VIEW geoms_v OWNER TO {}",
            OWNER.0
        ))
        .await;
        let a = env
            .call(env.master(), json!({"q": "SELECT geometry_point_4326 FROM geoms_v", "page": 0, "rows_per_page": 1}))
            .await;
        assert_eq!(
            a.json()["fields"]["geometry_point_4326"],
            fixture["fields"]["geometry_point_4326"]
        );
    }
}

fn fixture_query_ok_geom() -> Value {
    fixture("query-ok.json")["fields"]["column_c"].clone()
}

#[tokio::test]
async fn statements_dml_notices_and_midstream_errors() {
    let env = Env::start().await;
    let a = env.q("CREATE TABLE t (id int, name text)").await;
    assert_eq!(
        without_time(&a.body),
        r#"{"rows":[],"time":T,"fields":{},"total_rows":0}"#
    );

    // DML: affected rows, no rows (query-insert-ok.json).
    let a = env.q("INSERT INTO t VALUES (1, 'a'), (2, 'b')").await;
    let doc = a.json();
    let insert = fixture("query-insert-ok.json");
    assert_eq!(doc["rows"], insert["rows"]);
    assert_eq!(doc["total_rows"], insert["total_rows"]);

    // Several statements: the last one's result; settings of the first apply.
    let a = env
        .q("SET application_name TO 'x;y'; SELECT current_setting('application_name') AS app;")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["rows"], json!([{"app": "x;y"}]));
    let a = env
        .q("SELECT 1 AS first; SELECT name FROM t ORDER BY id")
        .await;
    assert_eq!(a.json()["rows"], json!([{"name": "a"}, {"name": "b"}]));
    assert_eq!(
        a.json()["fields"],
        json!({"name": {"type": "string", "pgtype": "text"}})
    );
    assert_eq!(a.json()["total_rows"], 2);
    let a = env
        .q("SELECT 1; UPDATE t SET name = 'c' WHERE id = 1")
        .await;
    assert_eq!(
        without_time(&a.body),
        r#"{"rows":[],"time":T,"fields":{},"total_rows":1}"#
    );
    // One implicit transaction, as PostgreSQL runs a multi-statement query: a failure rolls
    // back the earlier statements.
    let a = env.q("INSERT INTO t VALUES (3, 'c'); SELECT 1/0").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.body, r#"{"error":["division by zero"]}"#);
    assert_eq!(
        env.q("SELECT count(*) AS n FROM t").await.json()["rows"],
        json!([{"n": 2}])
    );

    // Notices, warnings and infos, in order of first appearance, after total_rows.
    let a = env
        .q("DO $$BEGIN RAISE WARNING 'w1'; RAISE NOTICE 'hello notice'; RAISE INFO 'i1'; RAISE WARNING 'w2'; END$$; SELECT 1 AS one")
        .await;
    assert_eq!(
        without_time(&a.body),
        r#"{"rows":[{"one":1}],"time":T,"fields":{"one":{"type":"number","pgtype":"int4"}},"total_rows":1,"warnings":["w1","w2"],"notices":["hello notice"],"infos":["i1"]}"#
    );
    let a = env.q("DO $$BEGIN RAISE NOTICE 'hello notice'; END$$").await;
    assert_eq!(a.json()["notices"], fixture("notices.json")["notices"]);

    // An error after rows were sent: 200 and an `error` key, before the notices.
    let a = env
        .q("SELECT 1/(3 - x) AS v FROM generate_series(1, 5) x")
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let doc = a.json();
    assert_eq!(
        doc["error"],
        fixture("query-200-with-midstream-error.json")["error"]
    );
    assert_eq!(doc["rows"], json!([{"v": 0}, {"v": 1}]));
    assert_eq!(doc["total_rows"], 2);
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["rows", "time", "fields", "total_rows", "error"]);

    // An error before any row: CARTO's status and body.
    let a = env.q("SELECT * FROM t WHERE and").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.json(), fixture("error-400.json"));
    assert_eq!(a.header("content-type"), "application/json; charset=utf-8");
    assert_eq!(a.header("content-disposition"), "inline");
    let a = env.q("SELECT st_buffer_nope(1)").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        a.body,
        r#"{"error":["function st_buffer_nope(integer) does not exist"],"hint":"No function matches the given name and argument types. You might need to add explicit type casts."}"#
    );
    let a = env
        .q("INSERT INTO t VALUES (1, 'a'); ALTER TABLE t ADD PRIMARY KEY (id)")
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.json()["detail"]
            .as_str()
            .unwrap_or("")
            .contains("(id)=(1)"),
        "{}",
        a.body
    );

    let a = env.q("SELECT 'a\u{0}b'").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":["invalid byte sequence for encoding \"UTF8\": 0x00"]}"#
        )
    );
    assert_eq!(
        env.q("SELECT 1 AS still_fine").await.json()["rows"],
        json!([{"still_fine": 1}])
    );

    // Missing q, bad format.
    let a = env.call(env.master(), json!({})).await;
    assert_eq!(
        (a.status, a.json()),
        (StatusCode::BAD_REQUEST, fixture("error-400-missing-q.json"))
    );
    let a = env
        .call(env.master(), json!({"q": "SELECT 1", "format": "unknown"}))
        .await;
    assert_eq!(
        (a.status, a.json()),
        (
            StatusCode::BAD_REQUEST,
            fixture("error-400-invalid-format.json")
        )
    );
    let a = env
        .call(env.master(), json!({"q": "SELECT 1", "format": "kml"}))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.contains("json, geojson and csv"), "{}", a.body);

    // Pooled sessions are reset between requests: no leaked settings, temp tables or
    // transactions.
    env.q("SET search_path TO pg_catalog; CREATE TEMP TABLE tmp (a int); BEGIN; SELECT 1")
        .await;
    let a = env.q("SELECT current_setting('search_path') AS p, to_regclass('tmp') AS tmp, now() = statement_timestamp() AS fresh").await;
    assert_eq!(
        a.json()["rows"],
        json!([{"p": "public, cartodb", "tmp": null, "fresh": true}])
    );
}

#[tokio::test]
async fn permissions_system_tables_and_role_escapes() {
    let env = Env::start().await;
    env.admin(&format!(
        "CREATE TABLE private_table (a int); CREATE TABLE shared (a int); INSERT INTO shared VALUES (7);
         ALTER TABLE private_table OWNER TO {o}; ALTER TABLE shared OWNER TO {o};
         GRANT SELECT ON shared TO {r};",
        o = OWNER.0,
        r = sql_common::REGULAR.0
    ))
    .await;

    // A table not granted: 403 with PostgreSQL's message (§8).
    for session in [env.regular(), env.public()] {
        let a = env
            .call(session, json!({"q": "SELECT * FROM private_table"}))
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert_eq!(
            a.body,
            r#"{"error":["permission denied for table private_table"]}"#
        );
    }
    let a = env
        .call(env.regular(), json!({"q": "SELECT a FROM shared"}))
        .await;
    assert_eq!(a.json()["rows"], json!([{"a": 7}]));
    let a = env
        .call(env.regular(), json!({"q": "INSERT INTO shared VALUES (1)"}))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = env
        .call(env.public(), json!({"q": "DROP TABLE shared"}))
        .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":["must be owner of table shared"]}"#
        )
    );

    // System tables: 403 for non-master keys, allowed for the master key.
    for q in [
        "SELECT * FROM pg_class",
        "SELECT table_name FROM information_schema.tables",
        "SELECT 1; SELECT usename FROM pg_catalog.pg_user",
    ] {
        for session in [env.regular(), env.public()] {
            let a = env.call(session, json!({ "q": q })).await;
            assert_eq!(a.status, StatusCode::FORBIDDEN, "{q}");
            assert_eq!(a.json(), fixture("error-403-system-tables.json"));
        }
        assert_eq!(env.q(q).await.status, StatusCode::OK, "{q}");
    }
    let a = env
        .call(env.regular(), json!({"q": "SELECT pg_sleep(0) AS s"}))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);

    // The session is logged in as the key's role: role changes cannot escape it.
    let who = "SELECT current_user AS cu, session_user AS su";
    let a = env
        .call(env.regular(), json!({ "q": format!("RESET ROLE; {who}") }))
        .await;
    assert_eq!(
        a.json()["rows"],
        json!([{"cu": "sqltest_regular", "su": "sqltest_regular"}])
    );
    let a = env
        .call(
            env.regular(),
            json!({ "q": format!("SET ROLE {}; {who}", OWNER.0) }),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(
        a.body.contains("permission denied to set role"),
        "{}",
        a.body
    );
    let a = env
        .call(
            env.regular(),
            json!({ "q": format!("SET ROLE {}", env.cluster.superuser()) }),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = env
        .call(
            env.regular(),
            json!({ "q": format!("SET SESSION AUTHORIZATION {}; {who}", OWNER.0) }),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(
        a.body
            .contains("permission denied to set session authorization"),
        "{}",
        a.body
    );
    let a = env
        .call(
            env.regular(),
            json!({ "q": "SET SESSION AUTHORIZATION DEFAULT; SELECT * FROM private_table" }),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    // A role the key is a member of (its public role) is allowed, and lasts one request only.
    let a = env
        .call(
            env.regular(),
            json!({ "q": format!("SET ROLE {}; {who}", sql_common::PUBLIC.0) }),
        )
        .await;
    assert_eq!(
        a.json()["rows"],
        json!([{"cu": "sqltest_public", "su": "sqltest_regular"}])
    );
    let a = env.call(env.regular(), json!({ "q": who })).await;
    assert_eq!(
        a.json()["rows"],
        json!([{"cu": "sqltest_regular", "su": "sqltest_regular"}])
    );

    // forget_role closes the pooled sessions of a role (given back once reset, just after
    // the response).
    for _ in 0..200 {
        if env.engine.idle_sessions(sql_common::REGULAR.0) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(env.engine.idle_sessions(sql_common::REGULAR.0) > 0);
    env.engine.forget_role(sql_common::REGULAR.0);
    assert_eq!(env.engine.idle_sessions(sql_common::REGULAR.0), 0);
    assert_eq!(
        env.call(env.regular(), json!({ "q": "SELECT 1" }))
            .await
            .status,
        StatusCode::OK
    );

    // Through the private socket the password is not what admits a role (a key that changed
    // its own password still works); a role that does not exist, or an unreachable server:
    // 500 cannot connect.
    let mut other_password = env.regular();
    other_password.password = "changed-by-the-key".to_string();
    env.engine.forget_role(&other_password.role);
    let a = env.call(other_password, json!({ "q": "SELECT 1" })).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let mut bad = env.regular();
    bad.role = "no_such_role".to_string();
    let a = env.call(bad, json!({ "q": "SELECT 1" })).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"error":["cannot connect to the database"]}"#
        )
    );
    let nowhere = SqlEngine::new("127.0.0.1".to_string(), 1);
    let a = call(&nowhere, env.master(), json!({ "q": "SELECT 1" })).await;
    assert_eq!(a.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn statement_timeout_is_429() {
    let env = Env::start().await;
    let mut session = env.session(OWNER, ApiKeyType::Master);
    session.statement_timeout = Some(Duration::from_millis(200));
    let a = env
        .call(session.clone(), json!({ "q": "SELECT pg_sleep(5)" }))
        .await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(a.json(), fixture("error-429-timeout.json"));
    assert_eq!(a.header("content-type"), "application/json; charset=utf-8");
    // The timeout is per request: without it the same role runs longer queries.
    let a = env.q("SELECT 1 AS slept FROM pg_sleep(0.3)").await;
    assert_eq!(a.json()["rows"], json!([{"slept": 1}]));
    let a = env
        .call(
            session,
            json!({ "q": "SELECT current_setting('statement_timeout') AS t" }),
        )
        .await;
    assert_eq!(a.json()["rows"], json!([{"t": "200ms"}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_order_by_and_dates_before_year_one() {
    let env = Env::start().await;
    let q = "SELECT * FROM (VALUES (1, 'b'), (3, 'a'), (2, 'c')) AS t(n, \"my col\")";
    let order = |order_by: &str, sort_order: Option<&str>| {
        let mut p = json!({ "q": q, "order_by": order_by });
        if let Some(s) = sort_order {
            p["sort_order"] = json!(s);
        }
        p
    };
    let ns = |a: &Answer| -> Vec<i64> {
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.json()["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["n"].as_i64().unwrap())
            .collect()
    };
    let a = env.call(env.master(), order("n", Some("desc"))).await;
    assert_eq!(ns(&a), vec![3, 2, 1]);
    let a = env.call(env.master(), order("n", Some("DESC"))).await;
    assert_eq!(ns(&a), vec![3, 2, 1]);
    // Unknown directions are ignored (ascending), as CARTO ignores them.
    let a = env.call(env.master(), order("n", Some("sideways"))).await;
    assert_eq!(ns(&a), vec![1, 2, 3]);
    let a = env.call(env.master(), order("my col", None)).await;
    assert_eq!(ns(&a), vec![3, 1, 2]);
    // With paging, ordered first.
    let mut p = order("n", Some("desc"));
    p["page"] = json!(1);
    p["rows_per_page"] = json!(2);
    assert_eq!(ns(&env.call(env.master(), p).await), vec![1]);
    // The column is an identifier, never SQL.
    let a = env
        .call(env.master(), order("n\" DESC; DROP TABLE x; --", None))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.contains("does not exist"), "{}", a.body);

    // Dates before year 1, as JavaScript's Date writes them.
    let a = env
        .q("SELECT '0044-03-15 BC'::date AS d, '0044-03-15 12:00:00 BC'::timestamp AS ts")
        .await;
    assert_eq!(
        a.json()["rows"],
        json!([{"d": "-43-03-15T00:00:00Z", "ts": "-43-03-15T12:00:00Z"}])
    );
}

/// The reset between requests (`DISCARD ALL`, back to the settings the session logged in
/// with) leaves nothing of a request on its session: the next request, on the same pooled
/// session, sees the key's own settings and no prepared statement, cursor, advisory lock,
/// `LISTEN`, temporary table or changed role.
#[tokio::test]
async fn the_next_request_on_a_session_finds_nothing_of_the_last_one() {
    let env = Env::start().await;
    let mut session = env.session(OWNER, ApiKeyType::Master);
    session.statement_timeout = Some(Duration::from_millis(4_000));
    let probe = "SELECT pg_backend_pid() AS pid, current_setting('statement_timeout') AS t,
                 current_setting('search_path') AS p, current_setting('work_mem') AS w,
                 current_setting('standard_conforming_strings') AS scs, current_user::text AS u,
                 (SELECT count(*) FROM pg_prepared_statements) AS prepared,
                 (SELECT count(*) FROM pg_cursors) AS cursors,
                 (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS locks,
                 (SELECT count(*) FROM pg_listening_channels()) AS listening,
                 to_regclass('left_behind') AS tmp";
    let before = env.call(session.clone(), json!({ "q": probe })).await;
    assert_eq!(before.status, StatusCode::OK, "{}", before.body);
    let before = before.json()["rows"][0].clone();
    assert_eq!(before["t"], json!("4s"));
    for q in [
        // Left in an idle session.
        "SET statement_timeout TO 0; SET work_mem TO '77MB'; SET search_path TO pg_catalog;
         SET standard_conforming_strings TO off; PREPARE left_p AS SELECT 1;
         SELECT pg_advisory_lock(4242); LISTEN left_channel;
         CREATE TEMP TABLE left_behind (a int);
         DECLARE left_c CURSOR WITH HOLD FOR SELECT 1; SELECT 1",
        // Left in an open transaction, then in a failed one.
        "BEGIN; SET LOCAL work_mem TO '78MB'; SET statement_timeout TO 0; SELECT pg_advisory_lock(4243)",
        "BEGIN; SET statement_timeout TO 0; SELECT 1/0",
        // A COPY FROM STDIN (refused: the COPY API is the way), nothing queued behind it.
        "SET work_mem TO '79MB'; CREATE TEMP TABLE left_behind (a int); COPY left_behind FROM STDIN",
    ] {
        let a = env.call(session.clone(), json!({ "q": q })).await;
        assert_ne!(
            a.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{q}: {}",
            a.body
        );
        if q.contains("COPY") {
            assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
            assert!(
                a.body.contains("COPY FROM STDIN is not supported here"),
                "{}",
                a.body
            );
        }
        let after = env.call(session.clone(), json!({ "q": probe })).await;
        assert_eq!(after.status, StatusCode::OK, "{}", after.body);
        let after = after.json()["rows"][0].clone();
        assert_eq!(after["pid"], before["pid"], "the same pooled session: {q}");
        assert_eq!(after, before, "{q}");
    }
}
