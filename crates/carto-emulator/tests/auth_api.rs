//! Auth API v3 over real HTTP: who may call what, validation messages, listing and
//! links, regeneration, grants read back from PostgreSQL, injection attempts, /me and
//! the DO token, and the fixtures' shapes (parsed with carto-core's models).

use carto_test_support::emulator::http as common;

use carto_core::models::{ApiKey, ApiKeyPage, DoToken, Me};
use carto_emulator::Emulator;
use common::{Reply, client, keys, send};
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
    async fn sql(&self, user: &str, token: &str, q: &str) -> Reply {
        let url = format!("{}/api/v2/sql", self.base(user));
        send(
            &self.c,
            Method::POST,
            &url,
            Some((user, token)),
            Some(&json!({ "q": q })),
        )
        .await
    }
    async fn keys_req(
        &self,
        method: Method,
        user: &str,
        path: &str,
        basic: Option<(&str, &str)>,
        body: Option<&Value>,
    ) -> Reply {
        let url = format!("{}/api/v3/api_keys{path}", self.base(user));
        send(&self.c, method, &url, basic, body).await
    }
    async fn create(&self, user: &str, body: &Value) -> Reply {
        let m = self.master(user);
        self.keys_req(Method::POST, user, "", Some((user, &m)), Some(body))
            .await
    }
}

fn sql_grants(tables: Value) -> Value {
    json!([{"type": "apis", "apis": ["sql"]}, {"type": "database", "tables": tables}])
}

fn assert_carto_error(r: &Reply, status: StatusCode, message: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json(), json!({"errors": message, "errors_cause": null}));
}

fn assert_empty_401(r: &Reply) {
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert!(r.text.is_empty(), "401 has an empty body: {}", r.text);
}

async fn env() -> Env {
    let emu = Emulator::builder()
        .user("alice")
        .org("acme", ["bob", "carol"])
        .start()
        .await
        .expect("emulator starts");
    let env = Env { emu, c: client() };
    let m = env.master("alice");
    let r = env
        .sql("alice", &m, "CREATE TABLE t1 (id serial PRIMARY KEY, name text); INSERT INTO t1 (name) VALUES ('a')")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let m = env.master("carol");
    let r = env.sql("carol", &m, "CREATE TABLE ct (x int)").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix() {
    let env = env().await;
    let master = env.master("alice");
    let r = env
        .create(
            "alice",
            &json!({"name": "k1", "grants": sql_grants(json!([]))}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let k1: ApiKey = serde_json::from_str(&r.text).unwrap();
    let k1_token = k1.token.expose_secret().to_owned();
    let r = env
        .create(
            "alice",
            &json!({"name": "k2", "grants": sql_grants(json!([]))}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);

    // No credentials: 401 everywhere. An unknown user: the Auth API authenticates
    // first, so CARTO's empty 401 too (not the SQL API's 404), with or without
    // credentials.
    for (m, p) in [
        (Method::GET, ""),
        (Method::POST, ""),
        (Method::GET, "/k1"),
        (Method::DELETE, "/k1"),
        (Method::POST, "/k1/token/regenerate"),
    ] {
        let empty = Some(&json!({}));
        assert_empty_401(&env.keys_req(m.clone(), "alice", p, None, empty).await);
        for basic in [None, Some(("nobody", master.as_str()))] {
            let url = format!("{}/user/nobody/api/v3/api_keys{p}", env.emu.url());
            assert_empty_401(&send(&env.c, m.clone(), &url, basic, empty).await);
        }
    }
    // Unknown token, other user's master, Basic user mismatch: 401.
    let bob_master = env.master("bob");
    for basic in [
        ("alice", "wadus"),
        ("alice", bob_master.as_str()),
        ("bob", master.as_str()),
    ] {
        assert_empty_401(
            &env.keys_req(Method::GET, "alice", "", Some(basic), None)
                .await,
        );
    }

    // Default public and regular keys: list shows only themselves; show self 200,
    // others 404; create/delete/regenerate 401.
    for (token, own) in [
        ("default_public", "Default public"),
        (k1_token.as_str(), "k1"),
    ] {
        let basic = Some(("alice", token));
        let r = env.keys_req(Method::GET, "alice", "", basic, None).await;
        assert_eq!(r.status, StatusCode::OK);
        let page = r.json();
        assert_eq!(
            (page["total"].clone(), page["count"].clone()),
            (json!(1), json!(1))
        );
        assert_eq!(page["result"][0]["name"], own);
        // The same with ?api_key=.
        let url = format!("{}/api/v3/api_keys?api_key={token}", env.base("alice"));
        let r = send(&env.c, Method::GET, &url, None, None).await;
        assert_eq!(r.json()["total"], 1);
        let own_path = format!("/{}", own.replace(' ', "%20"));
        let r = env
            .keys_req(Method::GET, "alice", &own_path, basic, None)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        for other in ["k2", "Master", "nonexistent"] {
            let r = env
                .keys_req(Method::GET, "alice", &format!("/{other}"), basic, None)
                .await;
            assert_carto_error(
                &r,
                StatusCode::NOT_FOUND,
                &format!("API key not found: {other}"),
            );
        }
        let body = json!({"name": "x", "grants": sql_grants(json!([]))});
        assert_empty_401(
            &env.keys_req(Method::POST, "alice", "", basic, Some(&body))
                .await,
        );
        assert_empty_401(
            &env.keys_req(Method::DELETE, "alice", "/k2", basic, None)
                .await,
        );
        assert_empty_401(
            &env.keys_req(Method::POST, "alice", "/k2/token/regenerate", basic, None)
                .await,
        );
    }

    // Master: everything, trailing slashes included.
    let mb = Some(("alice", master.as_str()));
    let r = env.keys_req(Method::GET, "alice", "/", mb, None).await;
    assert_eq!(r.json()["total"], 4);
    let r = env.keys_req(Method::GET, "alice", "/k2/", mb, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = env
        .keys_req(Method::DELETE, "alice", "/Master", mb, None)
        .await;
    assert_carto_error(
        &r,
        StatusCode::FORBIDDEN,
        "You don't have permission to access that resource",
    );
    let r = env
        .keys_req(Method::DELETE, "alice", "/Default%20public", mb, None)
        .await;
    assert_carto_error(
        &r,
        StatusCode::FORBIDDEN,
        "You don't have permission to access that resource",
    );
    let r = env
        .keys_req(
            Method::POST,
            "alice",
            "/Default%20public/token/regenerate",
            mb,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = env
        .keys_req(Method::DELETE, "alice", "/wadus", mb, None)
        .await;
    assert_carto_error(&r, StatusCode::NOT_FOUND, "API key not found: wadus");
    let r = env.keys_req(Method::DELETE, "alice", "/k2", mb, None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.text.is_empty());
    let r = env.keys_req(Method::GET, "alice", "/k2", mb, None).await;
    assert_carto_error(&r, StatusCode::NOT_FOUND, "API key not found: k2");
    // Another user's key name under this user: not found.
    let r = env
        .keys_req(Method::GET, "bob", "/k1", Some(("bob", &bob_master)), None)
        .await;
    assert_carto_error(&r, StatusCode::NOT_FOUND, "API key not found: k1");
    // `target_user` is for organization admins only (the emulator has none): any value
    // is refused with 403 on every endpoint, the caller's own name and a user outside the
    // organization included, before the key is looked up.
    let forbidden = |r: &Reply| {
        assert_carto_error(
            r,
            StatusCode::FORBIDDEN,
            "You don't have permission to access that resource",
        )
    };
    let bb = Some(("bob", bob_master.as_str()));
    for target in ["carol", "bob", "alice", ""] {
        for (m, p) in [
            (Method::GET, format!("?target_user={target}")),
            (Method::GET, format!("/Master?target_user={target}")),
            (Method::GET, format!("/wadus?target_user={target}")),
            (Method::DELETE, format!("/wadus?target_user={target}")),
            (
                Method::POST,
                format!("/Master/token/regenerate?target_user={target}"),
            ),
        ] {
            forbidden(&env.keys_req(m, "bob", &p, bb, None).await);
        }
        let body = json!({"name": "t", "grants": sql_grants(json!([])), "target_user": target});
        forbidden(&env.keys_req(Method::POST, "bob", "", bb, Some(&body)).await);
    }
    // Not for a user outside any organization either, naming itself.
    let r = env
        .keys_req(Method::GET, "alice", "?target_user=alice", mb, None)
        .await;
    forbidden(&r);
    // A JSON null is no `target_user`.
    let body = json!({"name": "t", "grants": sql_grants(json!([])), "target_user": null});
    let r = env.keys_req(Method::POST, "bob", "", bb, Some(&body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // The list reads its paging parameters before `target_user`.
    let r = env
        .keys_req(Method::GET, "bob", "?page=0&target_user=bob", bb, None)
        .await;
    assert_carto_error(&r, StatusCode::BAD_REQUEST, "Wrong 'page' parameter value.");
    // ... and `type` after it.
    forbidden(
        &env.keys_req(Method::GET, "bob", "?type=bogus&target_user=bob", bb, None)
            .await,
    );

    // Other endpoints of an unknown user keep the SQL API's 404.
    let url = format!("{}/user/nobody/api/v2/sql?q=SELECT+1", env.emu.url());
    let r = send(&env.c, Method::GET, &url, None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.json(),
        json!({"error": ["Sorry, we can't find CARTO user 'nobody'. Please check that you have entered the correct domain."]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validation_and_injection() {
    let env = env().await;
    let check = |r: &Reply, msg: &str| assert_carto_error(r, StatusCode::UNPROCESSABLE_ENTITY, msg);
    let ok = sql_grants(json!([]));
    check(
        &env.create("alice", &json!({"grants": ok})).await,
        "Validation failed: Name can't be blank",
    );
    check(
        &env.create("alice", &json!({"name": "  ", "grants": ok}))
            .await,
        "Validation failed: Name can't be blank",
    );
    let r = env
        .create("alice", &json!({"name": "dup", "grants": ok}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    check(
        &env.create("alice", &json!({"name": "dup", "grants": ok}))
            .await,
        "Validation failed: Name has already been taken",
    );
    check(
        &env.create("alice", &json!({"name": "Default public", "grants": ok}))
            .await,
        "Validation failed: Name has already been taken, Name api_key name cannot be Master nor Default public",
    );
    check(
        &env.create("alice", &json!({"name": "g"})).await,
        "Validation failed: Grants grants has to be an array, Grants wrongly formatted (not a Hash or invalid JSON)",
    );
    check(
        &env.create(
            "alice",
            &json!({"name": "g", "grants": [{"type": "database"}]}),
        )
        .await,
        "Validation failed: Grants only one apis section is allowed",
    );
    let r = env
        .create("alice", &json!({"name": "g", "grants": sql_grants(json!([{"schema": "public", "name": "t1", "permissions": ["read"]}]))}))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let msg = r.json()["errors"].as_str().unwrap().to_owned();
    assert!(
        msg.starts_with("Validation failed: Grants The property '#/1/tables/0/permissions/0' value \"read\" did not match one of the following values: insert, select, update, delete"),
        "{msg}"
    );
    let table_msg = "Validation failed: Grants can only grant table permissions you have";
    // A table the user cannot grant is refused, with permissions or without.
    let (select, none) = (json!(["select"]), json!([]));
    for (user, schema, name, permissions) in [
        ("alice", "public", "nope", &select),
        ("alice", "pg_catalog", "pg_class", &select),
        ("alice", "information_schema", "tables", &select),
        ("bob", "carol", "ct", &select), // an organization's other user's table
        ("alice", "public", "t1\"; DROP TABLE t1; --", &select),
        ("alice", "public", "nope", &none),
        ("alice", "nope", "t1", &none),
        ("alice", "pg_catalog", "pg_class", &none),
        ("bob", "carol", "ct", &none),
    ] {
        let tables = json!([{"schema": schema, "name": name, "permissions": permissions}]);
        let r = env
            .create(user, &json!({"name": "g", "grants": sql_grants(tables)}))
            .await;
        check(&r, table_msg);
    }
    // A table of the user's with no permissions is accepted, and grants nothing.
    let r = env
        .create("alice", &json!({"name": "none", "grants": sql_grants(json!([{"schema": "public", "name": "t1", "permissions": []}]))}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json()["grants"][1]["tables"], json!([]));
    // An `apis` section without its array: CARTO's bare 422 (raised when the key is
    // saved, so only once everything else is valid), and no key. Names: at most 255
    // characters (CARTO's `varchar(255)`), counted as characters.
    let no_array = json!([{"type": "apis"}]);
    for (body, message) in [
        (
            json!({"name": "noapis", "grants": no_array}),
            "apis array is needed for type \"apis\"",
        ),
        (
            json!({"name": "", "grants": no_array}),
            "Validation failed: Name can't be blank",
        ),
        (
            json!({"name": "ñ".repeat(256), "grants": ok}),
            "Validation failed: Name is too long (maximum is 255 characters)",
        ),
    ] {
        check(&env.create("alice", &body).await, message);
    }
    let m = env.master("alice");
    let r = env
        .keys_req(Method::GET, "alice", "/noapis", Some(("alice", &m)), None)
        .await;
    assert_carto_error(&r, StatusCode::NOT_FOUND, "API key not found: noapis");
    let r = env
        .create("alice", &json!({"name": "ñ".repeat(255), "grants": ok}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let schema_msg = "Validation failed: Grants can only grant schema permissions you have";
    for schema in [
        "information_schema",
        "nope",
        "public\"; CREATE ROLE evil; --",
    ] {
        let grants = json!([{"type": "apis", "apis": []}, {"type": "database", "schemas": [{"name": schema, "permissions": ["create"]}]}]);
        check(
            &env.create("alice", &json!({"name": "g", "grants": grants}))
                .await,
            schema_msg,
        );
    }
    // Injection in the key name: stored as given, nothing runs.
    for name in [
        "x\"; DROP TABLE t1; --",
        "it's'; DROP TABLE t1; --",
        "Robert'); DROP ROLE postgres;--",
    ] {
        let r = env
            .create("alice", &json!({"name": name, "grants": sql_grants(json!([{"schema": "public", "name": "t1", "permissions": ["select"]}]))}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        assert_eq!(r.json()["name"], name);
        let path = format!("/{}", utf8_percent(name));
        let m = env.master("alice");
        let r = env
            .keys_req(Method::GET, "alice", &path, Some(("alice", &m)), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    // A table whose name needs quoting can be granted.
    let m = env.master("alice");
    let r = env
        .sql("alice", &m, "CREATE TABLE \"we\"\"ird t\" (x int)")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = env
        .create("alice", &json!({"name": "weird", "grants": sql_grants(json!([{"schema": "public", "name": "we\"ird t", "permissions": ["select"]}]))}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json()["grants"][1]["tables"][0]["name"], "we\"ird t");
    // Everything still there; no role `evil`.
    let r = env.sql("alice", &m, "SELECT count(*) AS n FROM t1").await;
    assert_eq!(r.json()["rows"][0]["n"], 1);
    let r = env
        .sql(
            "alice",
            &m,
            "SELECT count(*) AS n FROM pg_roles WHERE rolname = 'evil'",
        )
        .await;
    assert_eq!(r.json()["rows"][0]["n"], 0);
}

fn utf8_percent(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_links_regeneration_and_grants() {
    let env = env().await;
    let master = env.master("alice");
    let mb = Some(("alice", master.as_str()));
    for n in ["r1", "r2", "r3"] {
        let r = env
            .create(
                "alice",
                &json!({"name": n, "grants": sql_grants(json!([]))}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED);
    }
    // Ordering: master, default, then regular keys oldest first.
    let r = env.keys_req(Method::GET, "alice", "", mb, None).await;
    let page: ApiKeyPage = serde_json::from_str(&r.text).expect("page parses with carto-core");
    let names: Vec<&str> = page.result.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["Master", "Default public", "r1", "r2", "r3"]);
    assert_eq!(keys(&r.json()), ["total", "count", "result", "_links"]);
    let item = &r.json()["result"][1];
    assert_eq!(
        item["_links"]["self"],
        format!("{}/api/v3/api_keys/Default+public", env.base("alice"))
    );
    // The self link works.
    let r2 = send(
        &env.c,
        Method::GET,
        item["_links"]["self"].as_str().unwrap(),
        mb,
        None,
    )
    .await;
    assert_eq!(r2.json()["name"], "Default public");

    // Pages and links.
    let r = env
        .keys_req(Method::GET, "alice", "?per_page=2&page=2", mb, None)
        .await;
    let v = r.json();
    assert_eq!(
        (v["total"].clone(), v["count"].clone()),
        (json!(5), json!(2))
    );
    assert_eq!(v["result"][0]["name"], "r1");
    let links = &v["_links"];
    assert_eq!(keys(links), ["first", "prev", "next", "last"]);
    let base = format!("{}/api/v3/api_keys", env.base("alice"));
    assert_eq!(links["first"]["href"], format!("{base}?page=1&per_page=2"));
    assert_eq!(links["prev"]["href"], format!("{base}?page=1&per_page=2"));
    assert_eq!(links["next"]["href"], format!("{base}?page=3&per_page=2"));
    assert_eq!(links["last"]["href"], format!("{base}?page=3&per_page=2"));
    let r = env
        .keys_req(
            Method::GET,
            "alice",
            "?per_page=2&page=3&order=name",
            mb,
            None,
        )
        .await;
    let v = r.json();
    assert_eq!(v["count"], 1);
    assert_eq!(keys(&v["_links"]), ["first", "prev", "last"]);
    assert_eq!(
        v["_links"]["last"]["href"],
        format!("{base}?order=name&page=3&per_page=2")
    );
    let r = env
        .keys_req(
            Method::GET,
            "alice",
            "?type=regular,%20default&order=name",
            mb,
            None,
        )
        .await;
    let names: Vec<String> = r.json()["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["Default public", "r1", "r2", "r3"]);
    let r = env
        .keys_req(Method::GET, "alice", "?type=master", mb, None)
        .await;
    assert_eq!(r.json()["total"], 1);
    for (q, msg) in [
        (
            "?type=bogus",
            "Wrong 'type' parameter value. Valid values are one of [\"master\", \"default\", \"regular\"]",
        ),
        (
            "?order=bogus",
            "Wrong 'order' parameter value. Valid values are one of [:type, :name, :updated_at]",
        ),
        ("?page=0", "Wrong 'page' parameter value."),
        ("?page=x", "Wrong 'page' parameter value."),
        ("?page=-2", "Wrong 'page' parameter value."),
        ("?page=_1", "Wrong 'page' parameter value."),
        ("?per_page=-1", "Wrong 'per_page' parameter value."),
        ("?per_page=abc2", "Wrong 'per_page' parameter value."),
        (
            "?type=regular,,master",
            "Wrong 'type' parameter value. Valid values are one of [\"master\", \"default\", \"regular\"]",
        ),
        (
            "?order_direction=asc,",
            "Wrong 'order_direction' parameter value. Valid values are one of [:asc, :desc]",
        ),
        (
            "?order_direction=asc,up",
            "Wrong 'order_direction' parameter combination. Valid values to combine: [:asc, :desc]",
        ),
        (
            "?type=%20",
            "Wrong 'type' parameter value. Valid values are one of [\"master\", \"default\", \"regular\"]",
        ),
    ] {
        let r = env.keys_req(Method::GET, "alice", q, mb, None).await;
        assert_carto_error(&r, StatusCode::BAD_REQUEST, msg);
    }
    // `page` and `per_page` read as Ruby's `String#to_i`: leading digits (after spaces
    // and a sign; single underscores between digits), the rest ignored; blank is the
    // default. `order` blank is the default too; `type` may end with a comma.
    for (q, page, per_page) in [
        ("?page=2abc&per_page=2xyz", 2, 2),
        ("?page=%202&per_page=%2B2", 2, 2),
        ("?page=2.9&per_page=1_0", 2, 10),
        ("?page=&per_page=%20", 1, 20),
        ("?page=1&per_page=2__0", 1, 2),
    ] {
        let r = env.keys_req(Method::GET, "alice", q, mb, None).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text);
        let first = r.json()["_links"]["first"]["href"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            first.ends_with(&format!("per_page={per_page}")),
            "{q}: {first}"
        );
        let count = r.json()["count"].as_u64().unwrap();
        let expected = 5u64.saturating_sub((page - 1) * per_page).min(per_page);
        assert_eq!(count, expected, "{q}");
    }
    let r = env
        .keys_req(
            Method::GET,
            "alice",
            "?order=&order_direction=&type=regular,",
            mb,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["total"], 3);
    // A list of valid directions is accepted (and, like any direction, ignored).
    let r = env
        .keys_req(Method::GET, "alice", "?order_direction=asc,desc", mb, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = env
        .keys_req(Method::GET, "alice", "?callback=alert(1)", mb, None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        r.json(),
        json!({"errors": {"callback": "Invalid callback format"}})
    );
    let r = env
        .keys_req(Method::GET, "alice", "/r1?callback=cb", mb, None)
        .await;
    assert!(r.text.starts_with("/**/cb({\"name\":\"r1\""), "{}", r.text);

    // Regenerate a regular key: new token, old one refused at once (Auth API and SQL).
    let old = env
        .keys_req(Method::GET, "alice", "/r1", mb, None)
        .await
        .json()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = env
        .keys_req(Method::POST, "alice", "/r1/token/regenerate", mb, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let new = r.json()["token"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(new.len(), 22);
    assert_empty_401(
        &env.keys_req(Method::GET, "alice", "", Some(("alice", &old)), None)
            .await,
    );
    assert_eq!(
        env.keys_req(Method::GET, "alice", "", Some(("alice", &new)), None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        env.sql("alice", &old, "SELECT 1").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        env.sql("alice", &new, "SELECT 1").await.status,
        StatusCode::OK
    );

    // Regenerate the master key.
    let r = env
        .keys_req(Method::POST, "alice", "/Master/token/regenerate", mb, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let new_master = r.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(new_master.len(), 40);
    assert!(
        new_master
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_empty_401(&env.keys_req(Method::GET, "alice", "", mb, None).await);
    assert_eq!(env.master("alice"), new_master);
    let mb = Some(("alice", new_master.as_str()));
    assert_eq!(
        env.keys_req(Method::GET, "alice", "", mb, None)
            .await
            .status,
        StatusCode::OK
    );

    // Grants read back from PostgreSQL.
    let grants = json!([
        {"type": "apis", "apis": ["sql", "maps"]},
        {"type": "database",
         "tables": [{"schema": "public", "name": "t1", "permissions": ["select", "insert"]}],
         "schemas": [{"name": "public", "permissions": ["create"]}],
         "table_metadata": []},
        {"type": "dataservices", "services": ["geocoding"]},
        {"type": "data-observatory", "datasets": ["carto-do.here.pois"]},
        {"type": "user", "data": ["profile"]}
    ]);
    let r = env
        .create("alice", &json!({"name": "writer", "grants": grants}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let v = r.json();
    assert_eq!(
        keys(&v),
        [
            "name",
            "user",
            "type",
            "token",
            "grants",
            "created_at",
            "updated_at"
        ]
    );
    assert_eq!(
        v["grants"],
        json!([
            {"type": "apis", "apis": ["sql", "maps"]},
            {"type": "database",
             "tables": [{"schema": "public", "name": "t1", "owner": false, "permissions": ["insert", "select"]}],
             "schemas": [{"name": "public", "permissions": ["create", "usage"]}],
             "table_metadata": []},
            {"type": "dataservices", "services": ["geocoding"]},
            {"type": "data-observatory", "datasets": ["carto-do.here.pois"]}
        ])
    );
    let writer = v["token"].as_str().unwrap().to_owned();
    let r = env
        .sql(
            "alice",
            &writer,
            "CREATE TABLE mine (x int); INSERT INTO t1 (name) VALUES ('w')",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let v = env
        .keys_req(Method::GET, "alice", "/writer", mb, None)
        .await
        .json();
    let tables = v["grants"][1]["tables"].as_array().unwrap().clone();
    let mine = tables
        .iter()
        .find(|t| t["name"] == "mine")
        .expect("own table listed");
    assert_eq!(mine["owner"], true);
    assert_eq!(
        mine["permissions"],
        json!([
            "delete",
            "insert",
            "references",
            "select",
            "trigger",
            "truncate",
            "update"
        ])
    );
    // Deleting the key keeps what it created, now owned by the user.
    let r = env
        .keys_req(Method::DELETE, "alice", "/writer", mb, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = env
        .sql("alice", &new_master, "SELECT count(*) AS n FROM mine")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        env.sql("alice", &writer, "SELECT 1").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shapes_me_and_do_token() {
    let env = env().await;
    let master = env.master("alice");
    let mb = Some(("alice", master.as_str()));
    // The key JSON has the fixture's members in the fixture's order (minus `_links`,
    // which show responses do not carry).
    let fixture: Value = serde_json::from_str(carto_test_support::fixture_str(
        "auth-api/api-key-regular.json",
    ))
    .unwrap();
    let mut fixture_keys = keys(&fixture);
    fixture_keys.retain(|k| k != "_links");
    let r = env
        .create(
            "alice",
            &json!({"name": "MyTableApi", "grants": [{"type": "apis", "apis": ["maps"]}]}),
        )
        .await;
    assert_eq!(keys(&r.json()), fixture_keys);
    let key: ApiKey = serde_json::from_str(&r.text).expect("key parses with carto-core");
    assert_eq!(key.name, "MyTableApi");
    // The master key's grants: CARTO stores no `database` section for it, so the one it
    // presents is empty and has no `table_metadata` (the upstream list example shows one;
    // the code does not send it).
    let list_fixture: Value = serde_json::from_str(carto_test_support::fixture_str(
        "auth-api/api-key-list-page.json",
    ))
    .unwrap();
    let r = env
        .keys_req(Method::GET, "alice", "/Master", mb, None)
        .await;
    assert_eq!(
        r.json()["grants"],
        json!([
            {"type": "apis", "apis": ["sql", "maps"]},
            {"type": "database", "tables": [], "schemas": []},
            {"type": "dataservices", "services": ["geocoding", "routing", "isolines", "observatory"]}
        ])
    );
    let mut example = list_fixture["result"][0]["grants"].clone();
    example[1].as_object_mut().unwrap().remove("table_metadata");
    assert_eq!(r.json()["grants"], example);
    let r = env
        .keys_req(Method::GET, "alice", "/Default%20public", mb, None)
        .await;
    assert_eq!(r.json()["grants"], list_fixture["result"][2]["grants"]);
    assert_eq!(r.json()["token"], "default_public");
    let r = env.keys_req(Method::GET, "alice", "", mb, None).await;
    assert_eq!(keys(&r.json()), keys(&list_fixture));
    let r = env
        .create("alice", &json!({"name": "dup", "grants": []}))
        .await;
    let fixture_422: Value = serde_json::from_str(carto_test_support::fixture_str(
        "auth-api/error-422-duplicate-name.json",
    ))
    .unwrap();
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let err = carto_core::ApiError::from_parts(r.status, &http_headers(&r), r.text.as_bytes());
    assert!(
        err.message()
            .starts_with("Validation failed: Grants only one apis")
    );
    assert_eq!(keys(&r.json())[0], keys(&fixture_422)[0]);

    // /api/v3/me
    let url = format!("{}/api/v3/me", env.base("alice"));
    let r = send(&env.c, Method::GET, &url, mb, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let me: Me = serde_json::from_str(&r.text).expect("me parses with carto-core");
    assert_eq!(me.config.user_name, "alice");
    assert_eq!(me.user_data.username, "alice");
    assert_eq!(r.json()["user_data"]["api_key"], master.as_str());
    let r = send(
        &env.c,
        Method::GET,
        &url,
        Some(("alice", "default_public")),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json()["user_data"].get("api_key").is_none());
    assert_empty_401(&send(&env.c, Method::GET, &url, None, None).await);

    // /api/v4/do/token
    let url = format!("{}/api/v4/do/token", env.base("alice"));
    let r = send(&env.c, Method::GET, &url, mb, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let t: DoToken = serde_json::from_str(&r.text).expect("DO token parses");
    assert!(t.access_token.contains("emulator"));
    assert_eq!(
        keys(&r.json()),
        [
            "access_token",
            "bq_public_project",
            "gcp_execution_project",
            "bq_project",
            "bq_dataset",
            "gcs_bucket",
            "instant_licensing"
        ]
    );
    let r = send(
        &env.c,
        Method::GET,
        &url,
        Some(("alice", "default_public")),
        None,
    )
    .await;
    assert_carto_error(
        &r,
        StatusCode::FORBIDDEN,
        "You don't have permission to access that resource",
    );
    let r = env
        .create(
            "alice",
            &json!({"name": "do", "grants": [{"type": "apis", "apis": ["do"]}]}),
        )
        .await;
    let do_token = r.json()["token"].as_str().unwrap().to_owned();
    assert_eq!(
        send(&env.c, Method::GET, &url, Some(("alice", &do_token)), None)
            .await
            .status,
        StatusCode::OK
    );
    let token = key.token.expose_secret().to_owned();
    assert_eq!(
        send(&env.c, Method::GET, &url, Some(("alice", &token)), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_empty_401(&send(&env.c, Method::GET, &url, None, None).await);
}

fn http_headers(r: &Reply) -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    for (k, v) in &r.headers {
        h.insert(
            http::HeaderName::from_bytes(k.as_str().as_bytes()).unwrap(),
            http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    h
}
