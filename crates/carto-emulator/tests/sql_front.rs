//! The SQL API as routed by the emulator: user routing, CORS, credential precedence
//! (§2.1), the permission matrix of master / default public / regular keys over real
//! PostgreSQL roles, role-escape attempts, public tables, the geocoder and per-key-type
//! statement timeouts.

use carto_test_support::emulator::http as common;

use std::time::Duration;

use carto_emulator::{ApiKeyType, Emulator};
use common::{Reply, client, post_form, send};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Env {
    emu: Emulator,
    c: reqwest::Client,
}

impl Env {
    fn base(&self, user: &str) -> String {
        common::base(&self.emu, user)
    }
    fn master(&self, user: &str) -> String {
        common::master(&self.emu, user)
    }
    async fn sql(&self, user: &str, token: Option<&str>, q: &str) -> Reply {
        let url = format!("{}/api/v2/sql", self.base(user));
        send(
            &self.c,
            Method::POST,
            &url,
            token.map(|t| (user, t)),
            Some(&json!({ "q": q })),
        )
        .await
    }
    async fn key(&self, user: &str, name: &str, grants: Value) -> String {
        let url = format!("{}/api/v3/api_keys", self.base(user));
        let m = self.master(user);
        let r = send(
            &self.c,
            Method::POST,
            &url,
            Some((user, &m)),
            Some(&json!({"name": name, "grants": grants})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()["token"].as_str().unwrap().to_owned()
    }
}

fn expect(r: &Reply, status: StatusCode, error: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json()["error"], json!([error]), "{}", r.text);
}

fn ok(r: &Reply) -> Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = r.json();
    assert!(v.get("error").is_none(), "{}", r.text);
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_cors_and_credentials() {
    let emu = Emulator::builder()
        .user("alice")
        .user("bob")
        .start()
        .await
        .unwrap();
    let env = Env { emu, c: client() };
    let master = env.master("alice");
    ok(&env
        .sql(
            "alice",
            Some(&master),
            "CREATE TABLE priv (x int); INSERT INTO priv VALUES (1)",
        )
        .await);

    // Path forms and the Host form.
    let port = env.emu.addr().port();
    for url in [
        format!("http://127.0.0.1:{port}/user/alice/api/v2/sql?q=SELECT+1+AS+a"),
        format!("http://127.0.0.1:{port}/u/alice/api/v1/sql?q=SELECT+1+AS+a"),
    ] {
        let r = send(&env.c, Method::GET, &url, None, None).await;
        assert_eq!(ok(&r)["rows"], json!([{"a": 1}]));
        assert_eq!(r.headers["access-control-allow-origin"], "*");
        assert_eq!(r.headers["vary"], "Authorization");
        assert_eq!(r.headers["carto-user"], "alice");
    }
    let r = env
        .c
        .get(format!(
            "http://127.0.0.1:{port}/api/v2/sql?q=SELECT+current_database()+IS+NOT+NULL+AS+ok"
        ))
        .header("host", format!("alice.localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = env
        .c
        .get(format!("http://127.0.0.1:{port}/api/v2/sql?q=SELECT+1"))
        .header("host", format!("localhost:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": [format!("No username found in hostname 'localhost:{port}'")]})
    );
    // An IP address names no user either (not the 404 of an unknown user `127`).
    for host in [format!("127.0.0.1:{port}"), format!("[::1]:{port}")] {
        let r = env
            .c
            .get(format!("http://127.0.0.1:{port}/api/v2/sql?q=SELECT+1"))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"error": [format!("No username found in hostname '{host}'")]})
        );
    }
    // Unknown user, with CORS.
    let r = send(
        &env.c,
        Method::GET,
        &format!("http://127.0.0.1:{port}/user/nobody/api/v2/sql?q=SELECT+1"),
        None,
        None,
    )
    .await;
    expect(
        &r,
        StatusCode::NOT_FOUND,
        "Sorry, we can't find CARTO user 'nobody'. Please check that you have entered the correct domain.",
    );
    assert_eq!(r.headers["access-control-allow-headers"], "*");
    // OPTIONS: 200, empty, CORS only.
    let r = send(
        &env.c,
        Method::OPTIONS,
        &format!("{}/api/v2/sql", env.base("alice")),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.is_empty());
    assert_eq!(r.headers["access-control-expose-headers"], "*");
    // Malformed JSON bodies: 400 with JSON.parse's message, as CARTO's Node server says it.
    for (body, message) in [
        (
            "{not json",
            "Expected property name or '}' in JSON at position 1",
        ),
        (
            r#"{"q": "SELECT 1" "format": "csv"}"#,
            "Expected ',' or '}' after property value in JSON at position 17",
        ),
        (
            r#"{"q": "SELECT 1""#,
            "Expected ',' or '}' after property value in JSON at position 16",
        ),
        (r#"{"q": "#, "Unexpected end of JSON input"),
        (
            r#"{"q": x}"#,
            r#"Unexpected token 'x', "{"q": x}" is not valid JSON"#,
        ),
        (
            "{\"q\": \"SELECT\n1\"}",
            "Bad control character in string literal in JSON at position 13",
        ),
    ] {
        let r = env
            .c
            .post(format!("{}/api/v2/sql", env.base("alice")))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"error": [message]}),
            "{body}"
        );
    }

    // Credentials.
    let url = format!("{}/api/v2/sql", env.base("alice"));
    let bob_master = env.master("bob");
    expect(
        &send(
            &env.c,
            Method::POST,
            &url,
            Some(("bob", &master)),
            Some(&json!({"q": "SELECT 1"})),
        )
        .await,
        StatusCode::FORBIDDEN,
        "permission denied",
    );
    let r = env.sql("alice", Some("wadus"), "SELECT 1").await;
    expect(&r, StatusCode::UNAUTHORIZED, "Unauthorized");
    assert!(r.headers.get("vary").is_none());
    expect(
        &env.sql("alice", Some(&bob_master), "SELECT 1").await,
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
    );
    let r = send(
        &env.c,
        Method::GET,
        &format!("{url}?q=SELECT+1&api_key=wadus"),
        None,
        None,
    )
    .await;
    expect(&r, StatusCode::UNAUTHORIZED, "Unauthorized");
    // A key without the sql API: 403 forbidden.
    let maps_only = env
        .key("alice", "maps", json!([{"type": "apis", "apis": ["maps"]}]))
        .await;
    expect(
        &env.sql("alice", Some(&maps_only), "SELECT 1").await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    // No key, empty key, Basic with an empty password: the Default public key.
    for r in [
        env.sql("alice", None, "SELECT * FROM priv").await,
        env.sql("alice", Some(""), "SELECT * FROM priv").await,
        send(
            &env.c,
            Method::GET,
            &format!("{url}?q=SELECT+*+FROM+priv&api_key="),
            None,
            None,
        )
        .await,
    ] {
        expect(
            &r,
            StatusCode::FORBIDDEN,
            "permission denied for table priv",
        );
    }
    // Query api_key, map_key, form body, JSON body.
    ok(&send(
        &env.c,
        Method::GET,
        &format!("{url}?q=SELECT+*+FROM+priv&api_key={master}"),
        None,
        None,
    )
    .await);
    ok(&send(
        &env.c,
        Method::GET,
        &format!("{url}?q=SELECT+*+FROM+priv&map_key={master}"),
        None,
        None,
    )
    .await);
    ok(&post_form(
        &env.c,
        &url,
        &[("q", "SELECT * FROM priv"), ("api_key", &master)],
    )
    .await);
    ok(&send(
        &env.c,
        Method::POST,
        &url,
        None,
        Some(&json!({"q": "SELECT * FROM priv", "api_key": master})),
    )
    .await);
    // Role from the first credential, level from the last: Basic default_public plus
    // the master key in the query runs as the public role (private table refused)...
    let r = send(
        &env.c,
        Method::GET,
        &format!("{url}?q=SELECT+*+FROM+priv&api_key={master}"),
        Some(("alice", "default_public")),
        None,
    )
    .await;
    expect(
        &r,
        StatusCode::FORBIDDEN,
        "permission denied for table priv",
    );
    // ... and Basic master plus `api_key=default_public` in the body has the default
    // level: system tables are refused even though the role is the owner's.
    let r = send(
        &env.c,
        Method::POST,
        &url,
        Some(("alice", &master)),
        Some(&json!({"q": "SELECT count(*) FROM pg_class", "api_key": "default_public"})),
    )
    .await;
    expect(&r, StatusCode::FORBIDDEN, "system tables are forbidden");
    ok(&env
        .sql("alice", Some(&master), "SELECT count(*) FROM pg_class")
        .await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix_and_role_escapes() {
    let emu = Emulator::builder()
        .user("alice")
        .org("acme", ["bob", "carol"])
        .start()
        .await
        .unwrap();
    let env = Env { emu, c: client() };
    let m = env.master("alice");
    ok(&env.sql("alice", Some(&m), "CREATE TABLE t (id serial PRIMARY KEY, v text); INSERT INTO t (v) VALUES ('a'); CREATE TABLE pub (x int); INSERT INTO pub VALUES (7)").await);
    let select_only = env.key("alice", "ro", json!([{"type": "apis", "apis": ["sql"]}, {"type": "database", "tables": [{"schema": "public", "name": "t", "permissions": ["select"]}]}])).await;
    let writer = env.key("alice", "rw", json!([{"type": "apis", "apis": ["sql"]}, {"type": "database", "tables": [{"schema": "public", "name": "t", "permissions": ["select", "insert"]}]}])).await;
    let creator = env.key("alice", "ddl", json!([{"type": "apis", "apis": ["sql"]}, {"type": "database", "schemas": [{"name": "public", "permissions": ["create"]}]}])).await;

    // Read.
    ok(&env.sql("alice", Some(&m), "SELECT * FROM t").await);
    ok(&env
        .sql("alice", Some(&select_only), "SELECT * FROM t")
        .await);
    ok(&env.sql("alice", Some(&writer), "SELECT * FROM t").await);
    for token in [None, Some("default_public"), Some(creator.as_str())] {
        expect(
            &env.sql("alice", token, "SELECT * FROM t").await,
            StatusCode::FORBIDDEN,
            "permission denied for table t",
        );
    }
    // Write.
    let r = ok(&env
        .sql(
            "alice",
            Some(&writer),
            "INSERT INTO t (v) VALUES ('w'), ('x')",
        )
        .await);
    assert_eq!(r["total_rows"], 2);
    for token in [Some(select_only.as_str()), Some("default_public")] {
        expect(
            &env.sql("alice", token, "INSERT INTO t (v) VALUES ('no')")
                .await,
            StatusCode::FORBIDDEN,
            "permission denied for table t",
        );
    }
    ok(&env.sql("alice", Some(&m), "UPDATE t SET v = 'm'").await);
    // DDL.
    expect(
        &env.sql("alice", Some(&select_only), "CREATE TABLE nope (x int)")
            .await,
        StatusCode::FORBIDDEN,
        "permission denied for schema public",
    );
    expect(
        &env.sql("alice", Some("default_public"), "CREATE TABLE nope (x int)")
            .await,
        StatusCode::FORBIDDEN,
        "permission denied for schema public",
    );
    ok(&env.sql("alice", Some(&creator), "CREATE TABLE by_key (x int); INSERT INTO by_key VALUES (1); DROP TABLE by_key; CREATE TABLE kept (x int)").await);
    expect(
        &env.sql("alice", Some(&creator), "DROP TABLE t").await,
        StatusCode::BAD_REQUEST,
        "must be owner of table t",
    );
    expect(
        &env.sql("alice", Some(&writer), "DROP TABLE t").await,
        StatusCode::BAD_REQUEST,
        "must be owner of table t",
    );
    ok(&env.sql("alice", Some(&m), "SELECT * FROM kept").await);
    // System tables.
    for token in [Some(select_only.as_str()), Some("default_public"), None] {
        expect(
            &env.sql("alice", token, "SELECT * FROM information_schema.tables")
                .await,
            StatusCode::FORBIDDEN,
            "system tables are forbidden",
        );
    }
    // Public tables: library call and plain GRANT by the owner.
    expect(
        &env.sql("alice", None, "SELECT * FROM pub").await,
        StatusCode::FORBIDDEN,
        "permission denied for table pub",
    );
    env.emu
        .set_table_public("alice", "pub", true)
        .await
        .unwrap();
    assert_eq!(
        ok(&env.sql("alice", None, "SELECT x FROM pub").await)["rows"],
        json!([{"x": 7}])
    );
    ok(&env
        .sql("alice", Some(&select_only), "SELECT x FROM pub")
        .await); // regular keys inherit the public role
    env.emu
        .set_table_public("alice", "pub", false)
        .await
        .unwrap();
    expect(
        &env.sql("alice", None, "SELECT * FROM pub").await,
        StatusCode::FORBIDDEN,
        "permission denied for table pub",
    );
    let public_role = env.emu.user("alice").unwrap().public_role().to_owned();
    ok(&env
        .sql(
            "alice",
            Some(&m),
            &format!("GRANT SELECT ON pub TO \"{public_role}\""),
        )
        .await);
    ok(&env
        .sql("alice", Some("default_public"), "SELECT x FROM pub")
        .await);

    // Role escapes from a regular key's SQL.
    let owner = ok(&env.sql("alice", Some(&m), "SELECT current_user AS u").await)["rows"][0]["u"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = env
        .sql(
            "alice",
            Some(&select_only),
            &format!("SET ROLE \"{owner}\"; SELECT * FROM pub"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(
        r.json()["error"][0]
            .as_str()
            .unwrap()
            .starts_with("permission denied to set role")
    );
    let r = env
        .sql(
            "alice",
            Some(&select_only),
            &format!("SET SESSION AUTHORIZATION \"{owner}\""),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = ok(&env
        .sql(
            "alice",
            Some(&select_only),
            "RESET ROLE; SELECT current_user AS u, session_user AS s",
        )
        .await);
    assert_ne!(r["rows"][0]["u"], owner.as_str());
    assert_eq!(r["rows"][0]["u"], r["rows"][0]["s"]);
    expect(
        &env.sql(
            "alice",
            Some(&select_only),
            "RESET ROLE; INSERT INTO t (v) VALUES ('x')",
        )
        .await,
        StatusCode::FORBIDDEN,
        "permission denied for table t",
    );
    let superuser = env.emu.pg().superuser().to_owned();
    let r = env
        .sql(
            "alice",
            Some(&select_only),
            &format!("SET ROLE \"{superuser}\""),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    // Organization users are isolated from each other.
    let bm = env.master("bob");
    let cm = env.master("carol");
    ok(&env
        .sql("carol", Some(&cm), "CREATE TABLE secret (x int)")
        .await);
    ok(&env
        .sql("bob", Some(&bm), "CREATE TABLE secret (x int)")
        .await);
    let r = env
        .sql("bob", Some(&bm), "SELECT * FROM carol.secret")
        .await;
    expect(
        &r,
        StatusCode::FORBIDDEN,
        "permission denied for schema carol",
    );
    let r = ok(&env
        .sql("bob", Some(&bm), "SELECT current_schema() AS s")
        .await);
    assert_eq!(r["rows"][0]["s"], "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn geocoder_and_timeouts() {
    let emu = Emulator::builder()
        .user("alice")
        .statement_timeout(ApiKeyType::Regular, Some(Duration::from_millis(300)))
        .start()
        .await
        .unwrap();
    let env = Env { emu, c: client() };
    let m = env.master("alice");
    let regular = env
        .key("alice", "plain", json!([{"type": "apis", "apis": ["sql"]}]))
        .await;
    let r = env.sql("alice", Some(&regular), "SELECT pg_sleep(5)").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    assert_eq!(r.json()["detail"], "datasource");
    ok(&env.sql("alice", Some(&m), "SELECT pg_sleep(0.5)").await);

    if !carto_test_support::postgis(env.emu.has_postgis("alice"), "the geocoder") {
        return;
    }
    let geocoder = env.key("alice", "geo", json!([{"type": "apis", "apis": ["sql"]}, {"type": "dataservices", "services": ["geocoding"]}])).await;
    let q = "SELECT ST_GeometryType(cdb_geocode_admin0_polygon('Spain')) AS t, ST_Contains(cdb_geocode_admin0_polygon('ES'), ST_SetSRID(ST_MakePoint(-3.7, 40.4), 4326)) AS madrid, cdb_geocode_admin0_polygon('Atlantis') IS NULL AS none";
    for token in [m.as_str(), geocoder.as_str()] {
        let r = ok(&env.sql("alice", Some(token), q).await);
        assert_eq!(
            r["rows"],
            json!([{"t": "ST_MultiPolygon", "madrid": true, "none": true}])
        );
    }
    let r = ok(&env.sql("alice", Some(&m), "SELECT ST_Contains(cdb_dataservices_client.cdb_geocode_admin0_polygon('España'), ST_SetSRID(ST_MakePoint(-3.7, 40.4), 4326)) AS ok").await);
    assert_eq!(r["rows"][0]["ok"], true);
    for token in [Some(regular.as_str()), Some("default_public"), None] {
        expect(
            &env.sql("alice", token, "SELECT cdb_geocode_admin0_polygon('Spain')")
                .await,
            StatusCode::FORBIDDEN,
            "Geocoding permission denied",
        );
    }
    // Geometry columns work (PostGIS in the user database).
    ok(&env.sql("alice", Some(&m), "CREATE TABLE g (the_geom geometry(Point, 4326)); INSERT INTO g VALUES (ST_SetSRID(ST_MakePoint(1, 2), 4326))").await);
    let r = ok(&env.sql("alice", Some(&m), "SELECT the_geom FROM g").await);
    assert_eq!(
        r["fields"]["the_geom"],
        json!({"type": "geometry", "wkbtype": "Point", "dims": 2, "srid": 4326})
    );
}
