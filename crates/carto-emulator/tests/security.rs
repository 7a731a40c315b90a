//! The emulator as a security boundary: every test is an attack over HTTP and asserts the
//! refusal, then that no key role became a superuser and that the master token stayed
//! unreadable. The threat model is in `docs/security.md`.
//!
//! The session flood and the multipart boundary are attacked in `tests/sessions.rs`.

use carto_test_support::emulator::http as common;

use carto_emulator::Emulator;
use carto_test_support::postgis;
use common::{Reply, client, send};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Alice and Bob on one emulator, and an HTTP client (also used by `table_model.rs`).
pub(crate) struct Env {
    pub(crate) emu: Emulator,
    pub(crate) c: reqwest::Client,
}

impl Env {
    pub(crate) async fn start() -> Env {
        let emu = Emulator::builder()
            .user("alice")
            .user("bob")
            .start()
            .await
            .expect("emulator");
        Env { emu, c: client() }
    }

    pub(crate) fn master(&self) -> String {
        common::master(&self.emu, "alice")
    }

    /// `q` on alice's SQL API with `token` (`None`: no key, the Default public key).
    pub(crate) async fn sql(&self, token: Option<&str>, q: &str) -> Reply {
        let url = format!("{}/api/v2/sql", common::base(&self.emu, "alice"));
        send(
            &self.c,
            Method::POST,
            &url,
            token.map(|t| ("alice", t)),
            Some(&json!({ "q": q })),
        )
        .await
    }

    pub(crate) async fn master_sql(&self, q: &str) -> Value {
        let r = self.sql(Some(&self.master()), q).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text);
        r.json()
    }

    /// A regular key of alice with these grants; returns its token.
    pub(crate) async fn regular_key(&self, name: &str, grants: Value) -> String {
        let url = format!("{}/api/v3/api_keys", common::base(&self.emu, "alice"));
        let m = self.master();
        let r = send(
            &self.c,
            Method::POST,
            &url,
            Some(("alice", &m)),
            Some(&json!({"name": name, "grants": grants})),
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()["token"].as_str().unwrap().to_owned()
    }

    /// The invariants every attack must leave intact: no role but the emulator's own
    /// superuser is a superuser, and no key but the master can read the key table.
    /// Waits (up to 5 s) until the public role and the regular key roles have no role-level
    /// settings for the databases in `databases` (a SQL list of OIDs, `0` for all databases),
    /// and fails when they keep some.
    async fn assert_no_role_settings(&self, public_role: &str, databases: &str) {
        let q = format!(
            "SELECT count(*) AS n FROM pg_catalog.pg_db_role_setting s
             JOIN pg_catalog.pg_roles r ON r.oid = s.setrole
             WHERE (r.rolname = '{public_role}' OR r.rolname LIKE 'carto\\_role\\_%')
             AND s.setdatabase IN ({databases})"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let v = self.master_sql(&q).await;
            if v["rows"] == json!([{"n": 0}]) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "role-level settings are still there: {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn assert_boundary_holds(&self, tokens: &[Option<&str>]) {
        let v = self
            .master_sql("SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolsuper ORDER BY 1")
            .await;
        assert_eq!(
            v["rows"],
            json!([{"rolname": carto_emulator::pg::cluster::SUPERUSER}]),
            "a role became a superuser"
        );
        for token in tokens {
            let r = self
                .sql(*token, "SELECT token FROM carto_emulator_meta.api_keys")
                .await;
            assert_ne!(r.status, StatusCode::OK, "key table readable: {}", r.text);
            assert!(!r.text.contains(&self.master()), "master token leaked");
        }
    }
}

fn system_tables_forbidden(r: &Reply, q: &str) {
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{q}: {}", r.text);
    assert_eq!(
        r.json(),
        json!({"error": ["system tables are forbidden"]}),
        "{q}"
    );
}

/// A function that, whenever it runs, logs who ran it and tries to make alice's owner role
/// a superuser (which only works when it runs as a superuser), then behaves like `body`.
fn plant(signature: &str, returns: &str, body: &str, owner: &str) -> String {
    format!(
        "CREATE FUNCTION public.{signature} RETURNS {returns} LANGUAGE plpgsql AS $plant$
         BEGIN
             INSERT INTO public.pwned VALUES (current_user::text, '{signature}');
             BEGIN
                 EXECUTE 'ALTER ROLE \"{owner}\" SUPERUSER';
                 EXECUTE 'COPY (SELECT 1) TO PROGRAM ''id > /tmp/carto-emulator-pwned''';
             EXCEPTION WHEN OTHERS THEN NULL;
             END;
             {body}
         END $plant$"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_catalog_names_never_run_with_privileges() {
    let env = Env::start().await;
    let owner = env.master_sql("SELECT current_user AS u").await["rows"][0]["u"]
        .as_str()
        .unwrap()
        .to_owned();
    env.master_sql(
        "CREATE TABLE public.pwned (who text, what text); GRANT INSERT ON public.pwned TO PUBLIC",
    )
    .await;
    // The owner role owns schema `public`: it plants look-alikes of what privileged code calls,
    // with the exact argument types (which PostgreSQL prefers over pg_catalog's polymorphic
    // ones when `public` is on the path).
    let plants = [
        plant(
            "unnest(a text[])",
            "SETOF text",
            "RETURN QUERY SELECT pg_catalog.unnest(a);",
            &owner,
        ),
        plant("array_agg(a text)", "text", "RETURN a;", &owner),
        plant(
            "lower(a text)",
            "text",
            "RETURN pg_catalog.lower(a);",
            &owner,
        ),
        plant(
            "btrim(a text)",
            "text",
            "RETURN pg_catalog.btrim(a);",
            &owner,
        ),
        plant("format(a text)", "text", "RETURN a;", &owner),
        plant(
            "quote_ident(a text)",
            "text",
            "RETURN pg_catalog.quote_ident(a);",
            &owner,
        ),
        plant(
            "jsonb_array_elements(a jsonb)",
            "SETOF jsonb",
            "RETURN QUERY SELECT pg_catalog.jsonb_array_elements(a);",
            &owner,
        ),
        plant(
            "has_table_privilege(a name, b oid, c text)",
            "boolean",
            "RETURN pg_catalog.has_table_privilege(a, b, c);",
            &owner,
        ),
        plant(
            "starts_with(a name, b text)",
            "boolean",
            "RETURN pg_catalog.starts_with(a::text, b);",
            &owner,
        ),
        plant(
            "evil_eq(a text, b text)",
            "boolean",
            "RETURN a OPERATOR(pg_catalog.=) b;",
            &owner,
        ),
    ];
    for p in &plants {
        env.master_sql(p).await;
    }
    env.master_sql(
        "CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.evil_eq);
         CREATE TABLE public.places (cartodb_id serial PRIMARY KEY, name text);",
    )
    .await;

    // Everything the emulator does with privileges: key creation (permission probes with
    // unnest), reading grants back (array_agg, lower), regeneration, deletion, geocoding.
    let token = env
        .regular_key(
            "planter",
            json!([
                {"type": "apis", "apis": ["sql"]},
                {"type": "database",
                 "tables": [{"schema": "public", "name": "places", "permissions": ["select", "insert", "update"]}],
                 "schemas": [{"name": "public", "permissions": ["create"]}]},
                {"type": "dataservices", "services": ["geocoding"]}
            ]),
        )
        .await;
    let url = format!("{}/api/v3/api_keys", common::base(&env.emu, "alice"));
    let m = env.master();
    for (method, path) in [
        (Method::GET, "".to_string()),
        (Method::GET, "/planter".to_string()),
        (Method::POST, "/planter/token/regenerate".to_string()),
    ] {
        let r = send(
            &env.c,
            method,
            &format!("{url}{path}"),
            Some(("alice", &m)),
            None,
        )
        .await;
        assert!(r.status.is_success(), "{path}: {}", r.text);
    }
    let token = {
        let r = send(
            &env.c,
            Method::GET,
            &format!("{url}/planter"),
            Some(("alice", &m)),
            None,
        )
        .await;
        let t = r.json()["token"].as_str().unwrap().to_owned();
        assert_ne!(t, token);
        t
    };
    // The regular key plants too, in the schema it may create in.
    let r = env
        .sql(
            Some(&token),
            "CREATE FUNCTION public.bool_or(a boolean) RETURNS boolean LANGUAGE sql AS 'SELECT a'",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    if postgis(env.emu.has_postgis("alice"), "the geocoder after a plant") {
        let r = env
            .sql(
                Some(&token),
                "SELECT cdb_geocode_admin0_polygon('Spain') IS NOT NULL AS found",
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json()["rows"], json!([{"found": true}]));
        let r = env
            .sql(
                None,
                "SELECT cdb_geocode_admin0_polygon('Spain') IS NOT NULL AS found",
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    }
    // A second key creation, after the regular key's plant.
    env.regular_key("second", json!([{"type": "apis", "apis": ["sql"]}]))
        .await;
    let r = send(
        &env.c,
        Method::DELETE,
        &format!("{url}/second"),
        Some(("alice", &m)),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    // The plants may have run, but only as the roles of alice's own keys.
    let who = env
        .master_sql("SELECT DISTINCT who FROM public.pwned ORDER BY who")
        .await;
    for row in who["rows"].as_array().unwrap() {
        let role = row["who"].as_str().unwrap();
        assert!(
            role == owner
                || role.starts_with("carto_role_")
                || role.starts_with("cartodb_publicuser_"),
            "a planted function ran as {role}"
        );
    }
    assert!(!std::path::Path::new("/tmp/carto-emulator-pwned").exists());
    env.assert_boundary_holds(&[None, Some(&token)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalogs_cannot_be_hidden_from_the_guard() {
    let env = Env::start().await;
    let public_role = env.emu.user("alice").unwrap().public_role().to_owned();
    env.master_sql(&format!(
        "CREATE VIEW public.roles_v AS SELECT rolname FROM pg_catalog.pg_roles;
         GRANT SELECT ON public.roles_v TO \"{public_role}\";
         CREATE TABLE public.pg_lookalike (a int);
         GRANT SELECT ON public.pg_lookalike TO \"{public_role}\";"
    ))
    .await;
    let regular = env
        .regular_key(
            "reader",
            json!([{"type": "apis", "apis": ["sql"]},
                   {"type": "database", "schemas": [{"name": "public", "permissions": ["create"]}]}]),
        )
        .await;
    let attacks = [
        r#"SELECT rolname, rolsuper FROM U&"pg\005froles""#,
        r#"SELECT rolname FROM U&"pg!005froles" UESCAPE '!'"#,
        r#"SELECT * FROM "pg_catalog"."pg_roles""#,
        "SELECT * FROM pg_catalog . /* a comment */ pg_roles",
        "SELECT * FROM -- a comment\n pg_roles",
        "SELECT * FROM PG_CATALOG.PG_CLASS",
        "TABLE pg_roles",
        "SELECT * FROM ONLY pg_class",
        "WITH r AS (SELECT * FROM pg_roles) SELECT * FROM r",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 2) SELECT * FROM r, pg_database",
        "SELECT 1 WHERE EXISTS (SELECT 1 FROM pg_roles WHERE rolsuper)",
        "SELECT (SELECT string_agg(datname, ',') FROM pg_database) AS dbs",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM pg_catalog.pg_stat_activity",
        r#"SELECT * FROM U&"information\005fschema".columns"#,
        "SELECT query_to_xml('select * from pg_roles', true, true, '')",
        "SELECT * FROM query_to_xml('select 1', true, true, '')",
        "SELECT table_to_xml('pg_roles', true, true, '')",
        "SELECT * FROM public.roles_v",
        "SELECT * FROM public.pg_lookalike",
        "CREATE TEMP VIEW v AS SELECT * FROM pg_roles; SELECT * FROM v",
        r#"SET search_path TO U&"information\005fschema"; SELECT * FROM tables"#,
        "PREPARE p AS SELECT * FROM pg_roles; EXECUTE p",
        "BEGIN; DECLARE c CURSOR FOR SELECT * FROM pg_roles; FETCH ALL c; COMMIT",
        "CREATE TEMP TABLE stolen AS SELECT * FROM pg_roles; SELECT 1",
        "SELECT 1; SELECT * FROM pg_roles",
        "CREATE TEMP TABLE sink (a name); INSERT INTO sink SELECT rolname FROM pg_roles; SELECT * FROM sink",
    ];
    // PostGIS's catalog view, where PostGIS is.
    let geometry_columns = postgis(
        env.emu.has_postgis("alice"),
        "the guard on geometry_columns",
    )
    .then_some("SELECT * FROM geometry_columns");
    for token in [None, Some(regular.as_str())] {
        for q in attacks.into_iter().chain(geometry_columns) {
            let r = env.sql(token, q).await;
            system_tables_forbidden(&r, q);
        }
        // Words that open a function body elsewhere, a body the splitter would have to trust,
        // parentheses hiding a `;`: the splitter and PostgreSQL never disagree silently.
        for q in [
            "SELECT begin atomic; SELECT rolname FROM pg_roles",
            "SET search_path = begin, atomic; SELECT rolname FROM pg_roles",
            "CREATE TEMP TABLE t2 (a int); SELECT (1; SELECT rolname FROM pg_roles)",
            "CREATE FUNCTION pg_temp.f(begin int) RETURNS int LANGUAGE sql AS 'SELECT 1'; SELECT rolname FROM pg_roles",
        ] {
            let r = env.sql(token, q).await;
            assert_ne!(r.status, StatusCode::OK, "{q}: {}", r.text);
            assert!(!r.text.contains("carto_emulator"), "{q}: {}", r.text);
        }
        // An error in the check is the statement's own error, with its status.
        let r = env
            .sql(token, "SELECT 1; SELECT * FROM no_such_table, pg_roles")
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert_eq!(
            r.json(),
            json!({"error": ["relation \"no_such_table\" does not exist"]})
        );
        // Nothing of a refused request stays: the view above was rolled back.
        let r = env.sql(token, "SELECT * FROM v").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    }
    // What users do is not caught.
    for (token, q) in [
        (None, "SELECT 1 AS n"),
        (None, "SELECT pg_sleep(0)"),
        (None, "SELECT now() > '2000-01-01' AS later"),
        (None, "SELECT * FROM generate_series(1, 3)"),
        (
            None,
            "SELECT 'pg_class' AS name, 'query_to_xml' IS NOT NULL AS x",
        ),
        (None, "SET statement_timeout TO 1000; SELECT 2 AS n"),
        (
            None,
            "CREATE TEMP TABLE mine AS SELECT 1 AS a; INSERT INTO mine VALUES (2); SELECT * FROM mine",
        ),
        (
            Some(regular.as_str()),
            "CREATE TABLE public.mine (a int); INSERT INTO public.mine VALUES (1); SELECT * FROM public.mine",
        ),
    ] {
        let r = env.sql(token, q).await;
        assert_eq!(r.status, StatusCode::OK, "{q}: {}", r.text);
    }
    // A missing table keeps PostgreSQL's own error.
    let r = env.sql(None, "SELECT * FROM no_such_table").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(
        r.json()["error"],
        json!(["relation \"no_such_table\" does not exist"])
    );
    // The master key may read the catalogs.
    let v = env
        .master_sql(r#"SELECT count(*) > 0 AS any FROM U&"pg\005froles""#)
        .await;
    assert_eq!(v["rows"], json!([{"any": true}]));
    env.assert_boundary_holds(&[None, Some(&regular)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_roles_cannot_change_their_login_or_settings() {
    let env = Env::start().await;
    let regular = env
        .regular_key("plain", json!([{"type": "apis", "apis": ["sql"]}]))
        .await;
    let user = env.emu.user("alice").unwrap();
    let public_role = user.public_role().to_owned();
    for token in [None, Some(regular.as_str())] {
        for q in [
            "ALTER ROLE CURRENT_USER PASSWORD 'attacker-pass-1'",
            "alter user current_user set work_mem = '77MB'",
            "SELECT 1; ALTER ROLE SESSION_USER SET statement_timeout = 0",
        ] {
            let r = env.sql(token, q).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{q}: {}", r.text);
            assert_eq!(
                r.json(),
                json!({"error": ["permission denied to alter role"]})
            );
        }
        // Procedural code gets past the text check; PostgreSQL lets a role change its own
        // password and settings, so the emulator makes both harmless.
        let r = env
            .sql(
                token,
                "DO $$ BEGIN
                     EXECUTE 'ALTER ROLE CURRENT_USER PASSWORD ''attacker-pass-1''';
                     EXECUTE 'ALTER ROLE CURRENT_USER SET work_mem = ''77MB''';
                     EXECUTE 'ALTER ROLE CURRENT_USER SET search_path = pg_catalog';
                 END $$",
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // The key keeps working, in fresh sessions too, without the settings.
        for _ in 0..3 {
            let r = env.sql(token, "SHOW work_mem").await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            assert_ne!(r.json()["rows"][0]["work_mem"], json!("77MB"));
        }
    }
    // The settings are gone from the catalog (all databases: the attack set none elsewhere).
    env.assert_no_role_settings(
        &public_role,
        "SELECT setdatabase FROM pg_catalog.pg_db_role_setting",
    )
    .await;
    // The password the attacker chose opens no direct login (TCP takes only the superuser).
    let pg = env.emu.pg();
    let direct = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(pg.port())
        .user(&public_role)
        .password("attacker-pass-1")
        .dbname("postgres")
        .connect(tokio_postgres::NoTls)
        .await;
    assert!(direct.is_err(), "direct login with the attacker's password");
    env.assert_boundary_holds(&[None, Some(&regular)]).await;
}

/// The reset after a request looks for role-level settings at most every 100 ms per role: a
/// request that sets some right after another request of its role (so its own reset skips
/// the look) and is then the role's last one for a while still has them removed, by the look
/// scheduled for it; the sessions started meanwhile or after never run with them. Settings
/// for another database apply to no session of the emulator and do not stop the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_settings_set_when_the_reset_skips_its_look_are_removed_soon() {
    let env = Env::start().await;
    let regular = env
        .regular_key("quick", json!([{"type": "apis", "apis": ["sql"]}]))
        .await;
    let user = env.emu.user("alice").unwrap();
    let public_role = user.public_role().to_owned();
    let own_db = env
        .master_sql(
            "SELECT oid::int8 AS oid FROM pg_catalog.pg_database WHERE datname = current_database()",
        )
        .await["rows"][0]["oid"]
        .to_string();
    for token in [None, Some(regular.as_str())] {
        for round in 0..3 {
            // A request whose reset looks (or a login that does), then at once the tampering.
            let r = env.sql(token, "SELECT 1").await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.text);
            let r = env
                .sql(
                    token,
                    "DO $$ BEGIN
                         EXECUTE 'ALTER ROLE CURRENT_USER SET work_mem = ''77MB''';
                         EXECUTE format('ALTER ROLE CURRENT_USER IN DATABASE %I SET work_mem = ''78MB''', current_database());
                         EXECUTE 'ALTER ROLE CURRENT_USER IN DATABASE postgres SET work_mem = ''79MB''';
                     END $$",
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "round {round}: {}", r.text);
            // Nothing else from the role: the scheduled look removes them.
            env.assert_no_role_settings(&public_role, &format!("0, {own_db}"))
                .await;
            // Enough concurrent requests to need new sessions: none starts with them.
            let shows = (0..20).map(|_| {
                env.sql(
                    token,
                    "SELECT pg_sleep(0.05), current_setting('work_mem') AS w",
                )
            });
            for r in futures_util::future::join_all(shows).await {
                assert_eq!(r.status, StatusCode::OK, "{}", r.text);
                assert_eq!(r.json()["rows"][0]["w"], json!("4MB"));
            }
        }
    }
    env.assert_boundary_holds(&[None, Some(&regular)]).await;
}

/// A regular key may `SET ROLE` to the public role (its role is granted it) and give it a
/// role-level setting that fails every login, then end its sessions; the public role must not
/// stay locked out: a failed login has the role's settings removed by the superuser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nobody_locks_the_public_role_out() {
    let env = Env::start().await;
    let regular = env
        .regular_key("locker", json!([{"type": "apis", "apis": ["sql"]}]))
        .await;
    let public_role = env.emu.user("alice").unwrap().public_role().to_owned();
    let lock_out = format!(
        "SET ROLE \"{public_role}\";
         DO $$ BEGIN
             EXECUTE 'ALTER ROLE CURRENT_USER SET local_preload_libraries = ''carto_no_such_library''';
             PERFORM pg_terminate_backend(pid, 5000) FROM pg_stat_activity
                 WHERE usename = current_user AND pid <> pg_backend_pid();
         END $$"
    );
    for token in [Some(regular.as_str()), None] {
        let r = env.sql(None, "SELECT 1 AS n").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = env.sql(token, &lock_out).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        if token.is_some() {
            // (The anonymous attacker's own reset may already have removed it.)
            let v = env
                .master_sql(&format!(
                    "SELECT s.setconfig::text AS c FROM pg_catalog.pg_db_role_setting s
                     JOIN pg_catalog.pg_roles r ON r.oid = s.setrole WHERE r.rolname = '{public_role}'"
                ))
                .await;
            assert_eq!(
                v["rows"],
                json!([{"c": "{local_preload_libraries=carto_no_such_library}"}]),
                "the attack took place"
            );
        }
        // Logins the attack's setting fails (more at once than sessions are pooled).
        let reads = (0..20).map(|_| env.sql(None, "SELECT 2 AS n, pg_sleep(0.2)"));
        for r in futures_util::future::join_all(reads).await {
            assert_eq!(r.status, StatusCode::OK, "locked out: {}", r.text);
            assert_eq!(r.json()["rows"][0]["n"], json!(2));
        }
    }
    env.assert_no_role_settings(&public_role, "0").await;
    env.assert_boundary_holds(&[None, Some(&regular)]).await;
}

/// Sessions that logged in while a role-level setting was in the catalog run with it even
/// once it is gone from there (and `DISCARD ALL` brings it back): they are judged by where
/// their values came from, never pooled, never used for a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_started_with_role_settings_never_serve_requests() {
    let env = Env::start().await;
    let regular = env
        .regular_key("digits", json!([{"type": "apis", "apis": ["sql"]}]))
        .await;
    let public_role = env.emu.user("alice").unwrap().public_role().to_owned();
    let taint = format!(
        "SET ROLE \"{public_role}\";
         DO $$ BEGIN
             EXECUTE 'ALTER ROLE CURRENT_USER SET extra_float_digits = -15';
             PERFORM pg_terminate_backend(pid, 5000) FROM pg_stat_activity
                 WHERE usename = current_user AND pid <> pg_backend_pid();
         END $$"
    );
    for round in 0..4 {
        let r = env.sql(Some(&regular), &taint).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        // Enough at once that many log in before the first one's look removes the setting,
        // then the same again on the sessions pooled after them.
        for wave in 0..2 {
            let reads = (0..12).map(|_| {
                env.sql(
                    None,
                    "SELECT pg_sleep(0.05), pi()::text AS p, current_setting('extra_float_digits') AS d",
                )
            });
            for r in futures_util::future::join_all(reads).await {
                assert_eq!(r.status, StatusCode::OK, "{}", r.text);
                let row = &r.json()["rows"][0];
                assert_eq!(
                    (row["p"].as_str(), row["d"].as_str()),
                    (Some("3.141592653589793"), Some("1")),
                    "round {round}, wave {wave}: a session ran with the key's setting"
                );
            }
        }
    }
    env.assert_no_role_settings(&public_role, "0").await;
}

/// Objects a key made are given to the owner when the key is deleted (as CARTO does); none of
/// them may then run with the owner's privileges for anyone else. Tables and data stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_keys_objects_never_act_as_the_master() {
    let env = Env::start().await;
    let public_role = env.emu.user("alice").unwrap().public_role().to_owned();
    env.master_sql(
        "CREATE TABLE public.master_secret (s text); INSERT INTO public.master_secret VALUES ('the-secret');
         CREATE TABLE public.stolen (s text)",
    )
    .await;
    let token = env
        .regular_key(
            "builder",
            json!([{"type": "apis", "apis": ["sql"]},
                   {"type": "database", "schemas": [{"name": "public", "permissions": ["create"]}]}]),
        )
        .await;
    let r = env
        .sql(
            Some(&token),
            &format!(
                "CREATE FUNCTION public.peek() RETURNS text LANGUAGE plpgsql SECURITY DEFINER
                     AS $f$ BEGIN RETURN (SELECT string_agg(s, ',') FROM public.master_secret); END $f$;
                 CREATE VIEW public.peek_v AS SELECT s FROM public.master_secret;
                 GRANT SELECT ON public.peek_v TO \"{public_role}\";
                 CREATE TABLE public.drop_box (s text);
                 GRANT INSERT ON public.drop_box TO \"{public_role}\";
                 CREATE RULE copy_out AS ON INSERT TO public.drop_box
                     DO ALSO INSERT INTO public.stolen SELECT s FROM public.master_secret;
                 CREATE TABLE public.kept (a int); INSERT INTO public.kept VALUES (7);
                 SELECT 1"
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // Before the deletion they run as the key, which cannot read the master's table.
    let r = env.sql(None, "SELECT public.peek() AS s").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);

    let url = format!(
        "{}/api/v3/api_keys/builder",
        common::base(&env.emu, "alice")
    );
    let r = send(
        &env.c,
        Method::DELETE,
        &url,
        Some(("alice", &env.master())),
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.text);

    for q in [
        "SELECT public.peek() AS s",
        "SELECT * FROM public.peek_v",
        "INSERT INTO public.drop_box VALUES ('x')",
    ] {
        let r = env.sql(None, q).await;
        assert_ne!(r.status, StatusCode::OK, "{q}: {}", r.text);
        assert!(!r.text.contains("the-secret"), "{q}: {}", r.text);
    }
    let v = env
        .master_sql("SELECT count(*) AS n FROM public.stolen")
        .await;
    assert_eq!(v["rows"], json!([{"n": 0}]), "a rule ran as the master");
    // The owner keeps the objects and the data.
    let v = env
        .master_sql("SELECT public.peek() AS p, (SELECT a FROM public.kept) AS a, (SELECT s FROM public.peek_v) AS v")
        .await;
    assert_eq!(
        v["rows"],
        json!([{"p": "the-secret", "a": 7, "v": "the-secret"}])
    );
    let v = env
        .master_sql("SELECT prosecdef FROM pg_catalog.pg_proc WHERE proname = 'peek'")
        .await;
    assert_eq!(v["rows"], json!([{"prosecdef": false}]));
    env.assert_boundary_holds(&[None]).await;
}

/// With `refuse_key_code`, no key but the master creates code (functions, procedures,
/// operators, triggers, rules), not even in `pg_temp`; tables are still theirs to create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_option_refuses_code_from_keys() {
    let emu = Emulator::builder()
        .user("alice")
        .refuse_key_code(true)
        .start()
        .await
        .expect("emulator");
    let env = Env { emu, c: client() };
    env.master_sql("CREATE TABLE public.t (a int)").await;
    let token = env
        .regular_key(
            "coder",
            json!([{"type": "apis", "apis": ["sql"]},
                   {"type": "database",
                    "tables": [{"schema": "public", "name": "t", "permissions": ["select", "insert"]}],
                    "schemas": [{"name": "public", "permissions": ["create"]}]}]),
        )
        .await;
    for (token, q) in [
        (
            Some(token.as_str()),
            "CREATE FUNCTION public.unnest(a text[]) RETURNS SETOF text LANGUAGE sql AS 'SELECT 1::text'",
        ),
        (
            Some(token.as_str()),
            "CREATE TABLE public.mine (a int); CREATE RULE r AS ON INSERT TO public.mine DO ALSO NOTIFY x",
        ),
        (
            Some(token.as_str()),
            "CREATE PROCEDURE public.p() LANGUAGE sql AS 'SELECT 1'",
        ),
        (
            Some(token.as_str()),
            "CREATE OPERATOR public.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = int4eq)",
        ),
        (
            None,
            "CREATE FUNCTION pg_temp.f() RETURNS text LANGUAGE sql AS 'SELECT 1::text'; SELECT pg_temp.f()",
        ),
    ] {
        let r = env.sql(token, q).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{q}: {}", r.text);
        assert!(r.text.contains("refused for API keys"), "{q}: {}", r.text);
    }
    let r = env
        .sql(
            Some(&token),
            "CREATE TABLE public.mine (a int); SELECT 1 AS n",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    env.master_sql(
        "CREATE FUNCTION public.own() RETURNS int LANGUAGE sql AS 'SELECT 1'; SELECT public.own()",
    )
    .await;
}

/// What the plan check cannot plan is refused, what a statement runs is checked, the check
/// reads the text as PostgreSQL read the request, and the splitter splits as PostgreSQL does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_guard_sees_what_runs() {
    let env = Env::start().await;
    let regular = env
        .regular_key("explorer", json!([{"type": "apis", "apis": ["sql"]}]))
        .await;
    let nbsp = '\u{a0}';
    for token in [None, Some(regular.as_str())] {
        for q in [
            "EXPLAIN ANALYZE CREATE TEMP TABLE s AS SELECT rolname FROM pg_roles; SELECT * FROM s".to_owned(),
            "EXPLAIN (ANALYZE) SELECT rolname FROM pg_roles; SELECT 1".to_owned(),
            "COPY (SELECT rolname FROM pg_roles) TO STDOUT".to_owned(),
            "COPY pg_catalog.pg_class TO STDOUT".to_owned(),
            r"SET standard_conforming_strings = off; SELECT 'x\' AS a, (SELECT string_agg(rolname::text, ',') FROM pg_roles) AS b, '\' AS c".to_owned(),
            format!("SET search_path = {nbsp}$$; SELECT rolname FROM pg_roles -- {nbsp}$$"),
        ] {
            let r = env.sql(token, &q).await;
            system_tables_forbidden(&r, &q);
        }
        let r = env
            .sql(
                token,
                &format!("SET search_path = {nbsp}$$; ALTER ROLE CURRENT_USER SET work_mem = '77MB' -- {nbsp}$$"),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
        // A cursor opened where no plan shows it is not read.
        for q in [
            "DO $$ DECLARE c refcursor := 'c'; BEGIN OPEN c FOR SELECT rolname FROM pg_roles; END $$; FETCH ALL c",
            "DO $$ DECLARE c refcursor := 'c'; BEGIN OPEN c FOR SELECT rolname FROM pg_roles; END $$; MOVE c; FETCH ALL c",
        ] {
            let r = env.sql(token, q).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{q}: {}", r.text);
            assert!(r.text.contains("needs the master key"), "{q}: {}", r.text);
        }
    }
    // Plain EXPLAIN and COPY of what the key may read still work.
    let r = env.sql(None, "EXPLAIN SELECT 1").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // The master key may do all of it.
    let r = env
        .sql(
            Some(&env.master()),
            "DO $$ DECLARE c refcursor := 'c'; BEGIN OPEN c FOR SELECT 1 AS n; END $$; FETCH ALL c",
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    env.assert_boundary_holds(&[None, Some(&regular)]).await;
}

/// A key that holds a lock on its own table does not stall its deletion (its sessions are
/// ended first), and is refused from then on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_cannot_stall_its_own_deletion() {
    let env = Env::start().await;
    let token = env
        .regular_key(
            "staller",
            json!([{"type": "apis", "apis": ["sql"]},
                   {"type": "database", "schemas": [{"name": "public", "permissions": ["create"]}]}]),
        )
        .await;
    let r = env
        .sql(Some(&token), "CREATE TABLE public.held (a int)")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let holder = {
        let (c, url, token) = (
            env.c.clone(),
            format!("{}/api/v2/sql", common::base(&env.emu, "alice")),
            token.clone(),
        );
        tokio::spawn(async move {
            send(
                &c,
                Method::POST,
                &url,
                Some(("alice", &token)),
                Some(&json!({"q": "LOCK TABLE public.held IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(600)"})),
            )
            .await
        })
    };
    // Until the lock is held.
    loop {
        let v = env
            .master_sql(
                "SELECT count(*) AS n FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_class c ON c.oid = l.relation
                 WHERE c.relname = 'held' AND l.granted AND l.mode = 'AccessExclusiveLock'",
            )
            .await;
        if v["rows"] == json!([{"n": 1}]) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let url = format!(
        "{}/api/v3/api_keys/staller",
        common::base(&env.emu, "alice")
    );
    let deletion = env
        .c
        .delete(&url)
        .basic_auth("alice", Some(env.master()))
        // Far below the holder's 600 s: the deletion must not wait for it.
        .timeout(std::time::Duration::from_secs(60))
        .send()
        .await
        .expect("the deletion answers while the key holds its lock");
    assert_eq!(deletion.status(), StatusCode::NO_CONTENT);
    let held = holder.await.expect("holder task");
    assert_ne!(held.status, StatusCode::OK, "{}", held.text);
    let r = env.sql(Some(&token), "SELECT 1").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    // The table stays, the owner's now.
    env.master_sql("SELECT count(*) FROM public.held").await;
}

/// One value or row too large to hold is refused with a clear error, and the Default
/// public key has a statement timeout unless one is set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_cannot_exhaust_memory() {
    let env = Env::start().await;
    let r = env
        .sql(
            None,
            "SELECT repeat('x', 70 * 1000 * 1000 + (random() * 0)::int) AS big",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let error = r.json()["error"][0].as_str().unwrap().to_owned();
    assert!(
        error.contains("over the emulator's limit of 64 MB per row"),
        "{error}"
    );
    // The key's next request is served.
    let r = env.sql(None, "SHOW statement_timeout").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["rows"], json!([{"statement_timeout": "15s"}]));
    let v = env.master_sql("SHOW statement_timeout").await;
    assert_eq!(v["rows"], json!([{"statement_timeout": "0"}]));
}
