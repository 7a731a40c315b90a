//! CARTO 3 on the emulator over real HTTP: `POST /oauth/token`, the Tokens API, the SQL API
//! v3 (query and jobs), each as a user and as an attacker: forged, expired, deleted and other
//! accounts' tokens, a token for one table reading others, referer tricks, token floods.
//! Bodies are read with carto-tokens' and carto-sql's models, the client's own.

use carto_test_support::emulator::http as common;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use carto_emulator::{Emulator, EmulatorBuilder};
use carto_tokens::ApiAccessToken;
use common::{Reply, client, post_form};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

struct Env {
    emu: Emulator,
    c: reqwest::Client,
}

impl Env {
    async fn start(b: EmulatorBuilder) -> Env {
        Env {
            emu: b.start().await.unwrap(),
            c: client(),
        }
    }

    fn root(&self) -> String {
        self.emu.url()
    }

    /// An OAuth token of `user` from its M2M credentials.
    async fn oauth(&self, user: &str) -> String {
        let a = self.emu.user(user).unwrap().carto3();
        common::m2m_token(
            &self.c,
            a.auth_url(),
            a.client_id(),
            a.client_secret().expose_secret(),
        )
        .await
    }

    /// A request with a Bearer token and optional headers and JSON body.
    async fn req(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut rb = self.c.request(method, format!("{}{path}", self.root()));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(b) = body {
            rb = rb
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        Reply::read(rb.send().await.unwrap()).await
    }

    /// A request with a Bearer token and nothing else.
    async fn call(&self, method: Method, path: &str, token: &str) -> Reply {
        self.req(method, path, Some(token), &[], None).await
    }

    /// `POST /v3/sql/{connection}/query` with `q` and `queryParameters`.
    async fn query(&self, token: &str, connection: &str, q: &str, params: Value) -> Reply {
        self.query_with(token, connection, q, params, &[]).await
    }

    async fn query_with(
        &self,
        token: &str,
        connection: &str,
        q: &str,
        params: Value,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.req(
            Method::POST,
            &format!("/v3/sql/{connection}/query"),
            Some(token),
            headers,
            Some(&json!({"q": q, "queryParameters": params})),
        )
        .await
    }

    /// A query that must succeed; its rows.
    async fn rows(&self, token: &str, connection: &str, q: &str) -> Vec<Value> {
        let r = self.query(token, connection, q, Value::Null).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text);
        r.json()["rows"].as_array().unwrap().clone()
    }

    /// `POST /v3/sql/{connection}/job`.
    async fn create_job(&self, token: &str, connection: &str, body: &Value) -> Reply {
        let path = format!("/v3/sql/{connection}/job");
        self.req(Method::POST, &path, Some(token), &[], Some(body))
            .await
    }

    /// Creates a token; the reply.
    async fn create_token(&self, oauth: &str, body: Value) -> Reply {
        self.req(Method::POST, "/v3/tokens", Some(oauth), &[], Some(&body))
            .await
    }

    /// Creates a token that must be made; its document.
    async fn token(
        &self,
        oauth: &str,
        grants: &[(&str, &str)],
        referers: &[&str],
    ) -> ApiAccessToken {
        let grants: Vec<Value> = grants
            .iter()
            .map(|(c, s)| json!({"connection_name": c, "source": s}))
            .collect();
        let r = self
            .create_token(
                oauth,
                json!({"grants": grants, "referers": referers, "allowed_apis": ["sql"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        serde_json::from_str(&r.text).unwrap()
    }
}

/// A token body granting `source` on `connection` to the SQL API.
fn sql_grant(connection: &str, source: &str) -> Value {
    json!({"grants": [{"connection_name": connection, "source": source}], "allowed_apis": ["sql"]})
}

fn connection(env: &Env, user: &str) -> String {
    env.emu.user(user).unwrap().carto3().connection().to_owned()
}

/// A CARTO 3 error: status and `error`.
fn assert_error(r: &Reply, status: StatusCode, error: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    assert_eq!(r.json()["error"], json!(error), "{}", r.text);
}

/// A refused query: 403 (PostgreSQL's permission denied or the system-table guard).
fn assert_denied(r: &Reply, what: &str) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {}", r.text);
    let e = r.json()["error"].as_str().unwrap().to_owned();
    assert!(
        e.contains("permission denied") || e.contains("system tables are forbidden"),
        "{what}: {e}"
    );
}

fn jwt_part(token: &str, i: usize) -> Value {
    let part = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn m2m_client_credentials_as_auth0_answers() {
    let env = Env::start(Emulator::builder().user("alice").user("bob")).await;
    let alice = env.emu.user("alice").unwrap().carto3().clone();
    let bob = env.emu.user("bob").unwrap().carto3().clone();
    // The credentials file: exactly five keys, the root as both URLs.
    common::assert_carto3_credentials(&alice.to_json());
    assert_eq!(alice.api_base_url(), env.root());
    assert_eq!(alice.connection(), "pg_alice");
    assert!(!format!("{alice:?}").contains(alice.client_secret().expose_secret()));
    assert_ne!(alice.client_id(), bob.client_id());

    let url = format!("{}/oauth/token", env.root());
    let good = [
        ("grant_type", "client_credentials"),
        ("client_id", alice.client_id()),
        ("client_secret", alice.client_secret().expose_secret()),
        ("audience", "carto-cloud-native-api"),
    ];
    let r = post_form(&env.c, &url, &good).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers["cache-control"], "no-store");
    let doc = r.json();
    assert_eq!(doc["token_type"], "Bearer");
    assert_eq!(doc["expires_in"], 86400);
    let token = doc["access_token"].as_str().unwrap();
    assert_eq!(jwt_part(token, 0)["alg"], "HS256");
    let claims = jwt_part(token, 1);
    assert!(claims["a"].as_str().unwrap().starts_with("ac_"));
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    // A JSON body is taken too.
    let r = env
        .req(
            Method::POST,
            "/oauth/token",
            None,
            &[],
            Some(&json!({"grant_type": "client_credentials", "client_id": alice.client_id(),
                "client_secret": alice.client_secret().expose_secret(), "audience": "carto-cloud-native-api"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // Failures, as Auth0 writes them, never quoting the secret.
    type Form<'a> = Vec<(&'a str, &'a str)>;
    fn grant<'a>(id: &'a str, secret: &'a str) -> Form<'a> {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
        ]
    }
    let (alice_id, bob_id) = (alice.client_id(), bob.client_id());
    let (alice_secret, bob_secret) = (
        alice.client_secret().expose_secret(),
        bob.client_secret().expose_secret(),
    );
    let mut other_audience = grant(alice_id, alice_secret);
    other_audience.push(("audience", "https://evil.example"));
    let cases: Vec<(Form<'_>, StatusCode, &str)> = vec![
        (
            vec![("client_id", alice_id)],
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            vec![("grant_type", "password"), ("client_id", alice_id)],
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
        ),
        (
            grant(alice_id, "wrong"),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        // Alice's id with Bob's secret, and the other way round.
        (
            grant(alice_id, bob_secret),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            grant(bob_id, alice_secret),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            grant("nobody", alice_secret),
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials"),
                ("client_id", alice_id),
            ],
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        ),
        (other_audience, StatusCode::FORBIDDEN, "access_denied"),
    ];
    for (form, status, code) in cases {
        let r = post_form(&env.c, &url, &form).await;
        assert_eq!(r.status, status, "{form:?}: {}", r.text);
        assert_eq!(r.json()["error"], code, "{form:?}");
        assert!(r.json()["error_description"].is_string());
        assert!(!r.text.contains(alice.client_secret().expose_secret()));
        assert!(!r.text.contains(bob.client_secret().expose_secret()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth_tokens_expire_and_forgeries_are_refused() {
    let env = Env::start(
        Emulator::builder()
            .user("alice")
            .oauth_token_lifetime(Duration::from_secs(1)),
    )
    .await;
    let other = Env::start(Emulator::builder().user("alice")).await;
    let conn = connection(&env, "alice");
    let token = env.oauth("alice").await;
    let r = env.query(&token, &conn, "SELECT 1 AS n", Value::Null).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    // No token; a token of another emulator (another key) for the same user name.
    let r = env
        .req(
            Method::GET,
            &format!("/v3/sql/{conn}/query?q=SELECT+1"),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(
        r.json(),
        json!({"error": "Token not defined", "status": 401})
    );
    let foreign = other.oauth("alice").await;
    assert_error(
        &env.query(&foreign, &conn, "SELECT 1", Value::Null).await,
        StatusCode::UNAUTHORIZED,
        "Invalid token",
    );
    // `alg: none` with the same claims, and the claims changed under the signature.
    let parts: Vec<&str> = token.split('.').collect();
    let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let mut claims = jwt_part(&token, 1);
    for forged in [
        format!("{none}.{}.", parts[1]),
        format!("{none}.{}", parts[1]),
    ] {
        assert_error(
            &env.query(&forged, &conn, "SELECT 1", Value::Null).await,
            StatusCode::UNAUTHORIZED,
            "Invalid token",
        );
    }
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    let longer = URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = format!("{}.{longer}.{}", parts[0], parts[2]);
    assert_error(
        &env.query(&forged, &conn, "SELECT 1", Value::Null).await,
        StatusCode::UNAUTHORIZED,
        "Invalid token",
    );
    // The `access_token` parameter is read too.
    let r = env
        .req(
            Method::GET,
            &format!("/v3/sql/{conn}/query?q=SELECT+1&access_token={token}"),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Past its lifetime: refused, and a new one works.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_error(
        &env.query(&token, &conn, "SELECT 1", Value::Null).await,
        StatusCode::UNAUTHORIZED,
        "Token expired",
    );
    let fresh = env.oauth("alice").await;
    let r = env.query(&fresh, &conn, "SELECT 1", Value::Null).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_v3_query_shapes_parameters_limits_and_errors() {
    let env = Env::start(
        Emulator::builder()
            .user("alice")
            .user("bob")
            .carto3_query_timeout(Duration::from_secs(5)),
    )
    .await;
    let conn = connection(&env, "alice");
    let t = env.oauth("alice").await;
    env.rows(
        &t,
        &conn,
        "CREATE TABLE stores (id int8, name text, revenue float8, open bool, since timestamptz, tags jsonb); \
         INSERT INTO stores VALUES (1, 'Supermarket', 150000.5, true, '2020-01-01T00:00:00Z', '{\"a\":1}'), \
         (2, 'Corner', 90000, false, NULL, NULL)",
    )
    .await;
    // POST with positional parameters, read with carto-sql's model.
    let r = env
        .query(
            &t,
            &conn,
            "SELECT * FROM stores WHERE name = $2 AND revenue > $1",
            json!([100000, "Supermarket"]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
    let doc: Value = serde_json::from_str(&r.text).unwrap();
    assert_eq!(doc["rows"].as_array().unwrap().len(), 1);
    assert_eq!(doc["rows"][0]["name"], "Supermarket");
    let types: Vec<(&str, &str)> = (doc["schema"].as_array().unwrap().iter())
        .map(|f| (f["name"].as_str().unwrap(), f["type"].as_str().unwrap()))
        .collect();
    assert_eq!(
        types,
        [
            ("id", "bigint"),
            ("name", "string"),
            ("revenue", "number"),
            ("open", "boolean"),
            ("since", "timestamp"),
            ("tags", "object"),
        ]
    );
    // GET with `queryParameters` as JSON text; a parameter stays one value.
    let url = format!(
        "/v3/sql/{conn}/query?q={}&queryParameters={}",
        urlencode("SELECT count(*) AS n FROM stores WHERE name = $1"),
        urlencode(r#"["x' OR '1'='1"]"#)
    );
    let r = env.call(Method::GET, &url, &t).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["rows"], json!([{"n": 0}]));
    // Bad input: CARTO 3's error body.
    for (q, params, needle) in [
        ("SELEC 1", Value::Null, "syntax error"),
        ("SELECT $2", json!([1]), "no parameter $2"),
        ("SELECT @a", json!({"a": 1}), "must be an array"),
        ("", Value::Null, "Missing parameter: q"),
    ] {
        let r = env.query(&t, &conn, q, params).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}: {}", r.text);
        let doc = r.json();
        assert_eq!(doc["status"], 400);
        assert!(
            doc["error"].as_str().unwrap().contains(needle),
            "{q}: {doc}"
        );
    }
    // The row cap: 200,000 rows are served, one more is an error that says to use a job.
    let r = env
        .query(
            &t,
            &conn,
            "SELECT g FROM generate_series(1, 200000) g",
            Value::Null,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["rows"].as_array().unwrap().len(), 200_000);
    let r = env
        .query(
            &t,
            &conn,
            "SELECT g FROM generate_series(1, 200001) g",
            Value::Null,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let e = r.json()["error"].as_str().unwrap().to_owned();
    assert!(
        e.contains("maximum number of rows") && e.contains("job"),
        "{e}"
    );
    // The statement timeout (5 s here, CARTO's minute by default).
    let r = env
        .query(&t, &conn, "SELECT pg_sleep(60)", Value::Null)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(
        r.json()["error"].as_str().unwrap().contains("timeout"),
        "{}",
        r.text
    );
    assert!(r.json()["description"].as_str().unwrap().contains("job"));
    // The account's own connection only.
    assert_error(
        &env.query(&t, "pg_bob", "SELECT 1", Value::Null).await,
        StatusCode::NOT_FOUND,
        "Connection not found",
    );
    let bob = env.oauth("bob").await;
    assert_error(
        &env.query(&bob, &conn, "SELECT * FROM stores", Value::Null)
            .await,
        StatusCode::NOT_FOUND,
        "Connection not found",
    );
    // Bob's database has no `stores`.
    let r = env
        .query(&bob, "pg_bob", "SELECT * FROM stores", Value::Null)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // A CARTO 3 path not served here.
    let r = env
        .call(Method::GET, "/v3/maps/pg_alice/table?name=x", &t)
        .await;
    assert_eq!(r.json(), json!({"error": "Not found", "status": 404}));
    // CORS preflight.
    let r = env
        .req(
            Method::OPTIONS,
            &format!("/v3/sql/{conn}/query"),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(
        r.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Authorization")
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_access_tokens_read_only_what_they_grant() {
    // Alice and Carol share an organization's database (one schema each); Bob has his own.
    let env = Env::start(
        Emulator::builder()
            .org("acme", ["alice", "carol"])
            .user("bob"),
    )
    .await;
    let conn = connection(&env, "alice");
    let oauth = env.oauth("alice").await;
    env.rows(
        &oauth,
        &conn,
        "CREATE TABLE a (id int, v text); INSERT INTO a VALUES (1, 'one'), (2, 'two'); \
         CREATE TABLE b (secret text); INSERT INTO b VALUES ('s3cr3t'); \
         CREATE VIEW v_b AS SELECT * FROM b; \
         CREATE FUNCTION f_b() RETURNS SETOF text LANGUAGE sql AS 'SELECT secret FROM b'",
    )
    .await;
    let carol = env.oauth("carol").await;
    env.rows(
        &carol,
        &connection(&env, "carol"),
        "CREATE TABLE c (x int); INSERT INTO c VALUES (42)",
    )
    .await;

    // A table grant: the document, read with carto-tokens' model, and the JWT's form.
    let tok = env.token(&oauth, &[(&conn, "alice.a")], &[]).await;
    let jwt = tok.token.expose_secret().to_owned();
    assert_eq!(jwt_part(&jwt, 0)["alg"], "HS256");
    let claims = jwt_part(&jwt, 1);
    assert_eq!(claims["jti"], json!(tok.id.clone().unwrap()));
    assert!(claims["a"].as_str().unwrap().starts_with("ac_"));
    assert_eq!(tok.grants[0].source.as_str(), "alice.a");
    assert_eq!(
        env.rows(&jwt, &conn, "SELECT id, v FROM a ORDER BY id")
            .await,
        [json!({"id": 1, "v": "one"}), json!({"id": 2, "v": "two"})]
    );
    // Everything else is PostgreSQL's to refuse: joins, CTEs, subqueries, views, functions,
    // catalogs, the emulator's own tables, writes, roles, files.
    for q in [
        "SELECT * FROM b",
        "SELECT * FROM a JOIN b ON true",
        "WITH x AS (SELECT * FROM b) SELECT * FROM x",
        "SELECT (SELECT secret FROM b LIMIT 1) AS s FROM a",
        "SELECT * FROM v_b",
        "SELECT * FROM f_b()",
        "SELECT * FROM carol.c",
        "SELECT * FROM carto_emulator_meta.api_keys",
        "SELECT rolname, rolpassword FROM pg_authid",
        "SELECT * FROM pg_catalog.pg_roles",
        "INSERT INTO a VALUES (3, 'three')",
        "UPDATE a SET v = 'x'",
        "CREATE TABLE planted (x int)",
        "CREATE TEMP TABLE planted (x int)",
        "DO $$ BEGIN PERFORM * FROM b; END $$",
        "SELECT pg_read_file('/etc/passwd')",
    ] {
        assert_denied(&env.query(&jwt, &conn, q, Value::Null).await, q);
    }
    let r = env
        .query(
            &jwt,
            &conn,
            "SET ROLE postgres; SELECT * FROM b",
            Value::Null,
        )
        .await;
    assert!(!r.text.contains("s3cr3t"), "{}", r.text);
    assert_ne!(r.status, StatusCode::OK, "{}", r.text);

    // Another account's connection, and the Tokens API, are out of a token's reach.
    assert_error(
        &env.query(&jwt, "pg_bob", "SELECT 1", Value::Null).await,
        StatusCode::FORBIDDEN,
        "You don't have permissions to read this resource",
    );
    let r = env.call(Method::GET, "/v3/tokens", &jwt).await;
    assert_error(&r, StatusCode::FORBIDDEN, "Forbidden");
    // Bob neither sees nor deletes Alice's token; his list is empty.
    let bob = env.oauth("bob").await;
    let path = format!("/v3/tokens/{jwt}");
    for m in [Method::GET, Method::DELETE] {
        let r = env.call(m, &path, &bob).await;
        assert_error(&r, StatusCode::NOT_FOUND, "Token not found");
    }
    let r = env.call(Method::GET, "/v3/tokens", &bob).await;
    assert_eq!(r.json(), json!([]));
    // Bob cannot grant Alice's tables, nor through her connection.
    let r = env.create_token(&bob, sql_grant(&conn, "alice.a")).await;
    assert_error(&r, StatusCode::NOT_FOUND, "Connection not found");

    // Wildcards: a schema's tables (CARTO's two parts before `.*`), or the account's own.
    let wild = env
        .token(&oauth, &[(&conn, &format!("{conn}.alice.*"))], &[])
        .await;
    let wild = wild.token.expose_secret().to_owned();
    assert_eq!(
        env.rows(&wild, &conn, "SELECT secret FROM b").await.len(),
        1
    );
    assert_eq!(env.rows(&wild, &conn, "SELECT * FROM v_b").await.len(), 1);
    assert_denied(
        &env.query(&wild, &conn, "SELECT * FROM carol.c", Value::Null)
            .await,
        "c",
    );
    let all = env.token(&oauth, &[(&conn, "*")], &[]).await;
    let all = all.token.expose_secret().to_owned();
    assert_eq!(env.rows(&all, &conn, "SELECT id FROM a").await.len(), 2);
    assert_denied(
        &env.query(&all, &conn, "SELECT * FROM carol.c", Value::Null)
            .await,
        "c",
    );

    // Grants that cannot be made.
    for (source, needle) in [
        ("alice.nope", "no such table"),
        // Carol's table, in the same database: Alice cannot read it, so cannot grant it.
        ("carol.c", "no such table"),
        ("pg_alice.carol.*", "can be granted"),
        ("carto_emulator_meta.api_keys", "cannot be granted"),
        ("pg_catalog.pg_authid", "cannot be granted"),
        ("other_db.public.a", "not a table of this connection"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
    ] {
        let r = env.create_token(&oauth, sql_grant(&conn, source)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{source}: {}", r.text);
        assert!(
            r.json()["description"].as_str().unwrap().contains(needle),
            "{source}: {}",
            r.text
        );
    }
    for body in [
        json!({"grants": [], "allowed_apis": ["sql"]}),
        json!({"grants": [{"connection_name": conn, "source": "alice.a"}], "allowed_apis": []}),
        json!({"grants": [{"connection_name": conn, "source": "alice.a"}], "allowed_apis": ["sql", "imports"]}),
        json!({"grants": [{"connection_name": conn, "source": "alice.a"}], "allowed_apis": ["sql"], "expiration_date": "2001-01-01T00:00:00Z"}),
        json!({"grants": "public.a"}),
    ] {
        let r = env.create_token(&oauth, body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_sources_run_exactly_their_query() {
    let env = Env::start(Emulator::builder().user("alice")).await;
    let conn = connection(&env, "alice");
    let oauth = env.oauth("alice").await;
    env.rows(
        &oauth,
        &conn,
        "CREATE TABLE a (id int, v text); INSERT INTO a VALUES (1, 'one'), (2, 'two'); \
         CREATE TABLE b (secret text); INSERT INTO b VALUES ('s3cr3t')",
    )
    .await;
    let granted = "SELECT id, v FROM a WHERE id = $1";
    let tok = env.token(&oauth, &[(&conn, granted)], &[]).await;
    let jwt = tok.token.expose_secret().to_owned();
    // The query, with other white space and a trailing `;`, and its parameters.
    let r = env
        .query(
            &jwt,
            &conn,
            "SELECT id, v\n  FROM a WHERE id = $1;",
            json!([2]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["rows"], json!([{"id": 2, "v": "two"}]));
    // A parameter is a value, never SQL.
    let r = env.query(&jwt, &conn, granted, json!(["1 OR 1=1"])).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    // Any other text runs as the token's role, which reads nothing.
    for q in [
        "SELECT id, v FROM a WHERE id = $1 OR true",
        "SELECT id, v FROM a WHERE id = $1 UNION SELECT 0, secret FROM b",
        "SELECT id, v FROM a",
        "SELECT * FROM b",
    ] {
        let r = env.query(&jwt, &conn, q, json!([1])).await;
        assert_denied(&r, q);
    }
    // A query with side effects granted by the owner still runs read-only.
    let tok = env
        .token(&oauth, &[(&conn, "DELETE FROM a RETURNING id")], &[])
        .await;
    let del = tok.token.expose_secret().to_owned();
    let r = env
        .query(&del, &conn, "DELETE FROM a RETURNING id", Value::Null)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.text.contains("read-only"), "{}", r.text);
    assert_eq!(
        env.rows(&oauth, &conn, "SELECT count(*) AS n FROM a").await,
        [json!({"n": 2})]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn referers_apis_updates_expiry_and_deletion_take_effect_at_once() {
    let env = Env::start(Emulator::builder().user("alice").max_api_tokens(3)).await;
    let conn = connection(&env, "alice");
    let oauth = env.oauth("alice").await;
    env.rows(
        &oauth,
        &conn,
        "CREATE TABLE a (id int); INSERT INTO a VALUES (1); CREATE TABLE b (id int); INSERT INTO b VALUES (2)",
    )
    .await;
    let tok = env
        .token(&oauth, &[(&conn, "public.a")], &["https://good.com/"])
        .await;
    assert_eq!(tok.referers, ["https://good.com"]);
    let jwt = tok.token.expose_secret().to_owned();
    let q = "SELECT id FROM a";
    for (headers, ok) in [
        (vec![], false),
        (vec![("referer", "https://good.com.evil.com/")], false),
        (
            vec![
                ("origin", "https://evil.com"),
                ("referer", "https://good.com/"),
            ],
            false,
        ),
        (vec![("referer", "http://good.com/")], false),
        (vec![("origin", "https://sub.good.com")], false),
        (vec![("origin", "HTTPS://GOOD.COM")], true),
        (vec![("referer", "https://good.com/maps/1?x=y")], true),
    ] {
        let r = env.query_with(&jwt, &conn, q, Value::Null, &headers).await;
        if ok {
            assert_eq!(r.status, StatusCode::OK, "{headers:?}: {}", r.text);
        } else {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{headers:?}: {}", r.text);
            assert_eq!(r.json(), json!({"error": "Unauthorized referer"}));
        }
    }
    let good = [("origin", "https://good.com")];

    // Update: another table, no referers; the old grant is gone at once.
    let path = format!("/v3/tokens/{jwt}");
    let r = env
        .req(
            Method::PATCH,
            &path,
            Some(&oauth),
            &[],
            Some(&json!({"grants": [{"connection_name": conn, "source": "public.b"}], "referers": []})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let updated: ApiAccessToken = serde_json::from_str(&r.text).unwrap();
    assert_eq!(updated.grants[0].source.as_str(), "public.b");
    assert_eq!(
        env.rows(&jwt, &conn, "SELECT id FROM b").await,
        [json!({"id": 2})]
    );
    assert_denied(&env.query(&jwt, &conn, q, Value::Null).await, q);
    for body in [
        json!({}),
        json!({"expiration_date": "2099-01-01T00:00:00Z"}),
    ] {
        let r = env
            .req(Method::PATCH, &path, Some(&oauth), &[], Some(&body))
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
    }
    let r = env
        .req(
            Method::PATCH,
            &path,
            Some(&jwt),
            &good,
            Some(&json!({"referers": []})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "Forbidden");
    // `allowed_apis` without sql: refused on the SQL API.
    let r = env
        .req(
            Method::PATCH,
            &path,
            Some(&oauth),
            &[],
            Some(&json!({"allowed_apis": ["maps"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_error(
        &env.query(&jwt, &conn, "SELECT id FROM b", Value::Null)
            .await,
        StatusCode::FORBIDDEN,
        "Forbidden",
    );

    // Get and list.
    let r = env.call(Method::GET, &path, &oauth).await;
    assert_eq!(r.status, StatusCode::OK);
    let got: ApiAccessToken = serde_json::from_str(&r.text).unwrap();
    assert_eq!(got.allowed_apis.len(), 1);
    assert_eq!(got.allowed_apis[0].as_str(), "maps");

    // Expiry: refused once past, at once.
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let r = env
        .create_token(
            &oauth,
            json!({"grants": [{"connection_name": conn, "source": "public.a"}], "allowed_apis": ["sql"], "expiration_date": soon}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let expiring: ApiAccessToken = serde_json::from_str(&r.text).unwrap();
    assert!(expiring.expiration().is_some());
    let expiring = expiring.token.expose_secret().to_owned();
    assert_eq!(env.rows(&expiring, &conn, q).await.len(), 1);

    // The flood bound: three tokens at most (here).
    let third = env.token(&oauth, &[(&conn, "public.a")], &[]).await;
    let r = env.create_token(&oauth, sql_grant(&conn, "public.a")).await;
    assert_error(&r, StatusCode::FORBIDDEN, "Quota exceeded");
    let r = env.call(Method::GET, "/v3/tokens", &oauth).await;
    let list: Vec<ApiAccessToken> = serde_json::from_str(&r.text).unwrap();
    assert_eq!(list.len(), 3);

    // Delete: refused at once, its role gone; a slot is free again.
    let roles = "SELECT count(*) AS n FROM pg_roles WHERE rolname LIKE 'carto\\_role\\_%'";
    let before = env.rows(&oauth, &conn, roles).await[0]["n"]
        .as_i64()
        .unwrap();
    let third = third.token.expose_secret().to_owned();
    assert_eq!(env.rows(&third, &conn, q).await.len(), 1);
    let r = env
        .call(Method::DELETE, &format!("/v3/tokens/{third}"), &oauth)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);
    assert_error(
        &env.query(&third, &conn, q, Value::Null).await,
        StatusCode::UNAUTHORIZED,
        "Invalid token",
    );
    let r = env
        .call(Method::GET, &format!("/v3/tokens/{third}"), &oauth)
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, "Token not found");
    let after = env.rows(&oauth, &conn, roles).await[0]["n"]
        .as_i64()
        .unwrap();
    assert_eq!(after, before - 1);
    env.token(&oauth, &[(&conn, "public.a")], &[]).await;

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_error(
        &env.query(&expiring, &conn, q, Value::Null).await,
        StatusCode::UNAUTHORIZED,
        "Token expired",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_cancel_and_list_for_the_account() {
    let env = Env::start(Emulator::builder().user("alice").user("bob")).await;
    let conn = connection(&env, "alice");
    let oauth = env.oauth("alice").await;
    let r = env
        .req(
            Method::POST,
            &format!("/v3/sql/{conn}/job"),
            Some(&oauth),
            &[],
            Some(
                &json!({"query": "CREATE TABLE j AS SELECT $1::int AS x", "queryParameters": [7]}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let job: Job = serde_json::from_str(&r.text).unwrap();
    let path = format!("/v3/sql/{conn}/job/{}", job.job_id);
    let mut done = false;
    for _ in 0..200 {
        let r = env.call(Method::GET, &path, &oauth).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let j: Job = serde_json::from_str(&r.text).unwrap();
        if j.status == "done" {
            done = true;
            break;
        }
        assert!(
            !["failed", "cancelled"].contains(&j.status.as_str()),
            "{}",
            r.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(done);
    assert_eq!(
        env.rows(&oauth, &conn, "SELECT x FROM j").await,
        [json!({"x": 7})]
    );
    // Cancel a long one.
    let r = env
        .create_job(&oauth, &conn, &json!({"query": "SELECT pg_sleep(30)"}))
        .await;
    let long: Job = serde_json::from_str(&r.text).unwrap();
    let r = env
        .call(
            Method::DELETE,
            &format!("/v3/sql/{conn}/job/{}", long.job_id),
            &oauth,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let cancelled: Job = serde_json::from_str(&r.text).unwrap();
    assert_eq!(cancelled.status, "cancelled");
    // The list: both, newest first; Bob's is empty and Bob cannot read Alice's job.
    let r = env.call(Method::GET, "/v3/sql/jobs", &oauth).await;
    let jobs: Vec<Job> = serde_json::from_str(&r.text).unwrap();
    let ids: Vec<&str> = jobs.iter().map(|j| j.job_id.as_str()).collect();
    assert_eq!(ids, [long.job_id.as_str(), job.job_id.as_str()]);
    let bob = env.oauth("bob").await;
    let r = env.call(Method::GET, "/v3/sql/jobs", &bob).await;
    assert_eq!(r.json(), json!([]));
    let r = env
        .call(
            Method::GET,
            &format!("/v3/sql/pg_bob/job/{}", job.job_id),
            &bob,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    let r = env.call(Method::GET, &path, &bob).await;
    assert_error(&r, StatusCode::NOT_FOUND, "Connection not found");
    // API access tokens run no jobs.
    env.rows(&oauth, &conn, "CREATE TABLE a (x int)").await;
    let tok = env.token(&oauth, &[(&conn, "public.a")], &[]).await;
    let r = env
        .req(
            Method::POST,
            &format!("/v3/sql/{conn}/job"),
            Some(tok.token.expose_secret()),
            &[],
            Some(&json!({"query": "DROP TABLE a"})),
        )
        .await;
    assert_error(&r, StatusCode::FORBIDDEN, "Forbidden");
}

/// A job as the emulator answers it (the fields these tests read).
#[derive(serde::Deserialize)]
struct Job {
    #[serde(rename = "jobId", alias = "id", alias = "job_id")]
    job_id: String,
    status: String,
}
