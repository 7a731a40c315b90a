//! Accounts made and removed while the emulator runs (`create_user`, `create_org`,
//! `remove_user`, `remove_org`), and the organization users API of CARTO's org owners
//! (`/api/v1/organization/{org}/users`), with its attacks.

use carto_test_support::emulator::http::{self as common, Reply, send};
use carto_test_support::postgis::postgis;

use carto_emulator::{AccountError, EmulatedUser, Emulator, EmulatorError};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn sql(user: &EmulatedUser, token: &str, q: &str) -> Reply {
    let url = format!("{}/api/v2/sql", user.base_url().as_str());
    common::post_form(&common::client(), &url, &[("q", q), ("api_key", token)]).await
}

async fn me(base: &str, token: &str) -> Reply {
    let url = format!("{base}/api/v3/me?api_key={token}");
    send(&common::client(), Method::GET, &url, None, None).await
}

fn account_error(e: EmulatorError) -> AccountError {
    match e {
        EmulatorError::Account(a) => a,
        other => panic!("not an account error: {other}"),
    }
}

async fn database_exists(emu: &Emulator, name: &str) -> bool {
    let c = emu.pg().connect_superuser("postgres").await.unwrap();
    c.query_opt(
        "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1",
        &[&name],
    )
    .await
    .unwrap()
    .is_some()
}

async fn roles_like(emu: &Emulator, id_part: &str) -> i64 {
    let c = emu.pg().connect_superuser("postgres").await.unwrap();
    c.query_one(
        "SELECT count(*) FROM pg_catalog.pg_roles WHERE rolname LIKE '%' || $1 || '%'",
        &[&id_part],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_made_at_run_time_works_like_a_start_up_user_and_goes_whole() {
    let emu = Emulator::builder().user("alice").start().await.unwrap();
    let dave = emu.create_user("dave").await.unwrap();
    assert_eq!(dave.username(), "dave");
    assert_eq!(dave.org(), None);
    assert_eq!(emu.account("dave").unwrap().master_key(), dave.master_key());
    let token = dave.master_key().expose_secret().to_owned();
    let r = sql(
        &dave,
        &token,
        "CREATE TABLE t (n int); INSERT INTO t VALUES (1)",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = sql(&dave, &token, "SELECT n FROM t").await;
    assert_eq!(r.json()["rows"], json!([{"n": 1}]));
    // The same keys and guard as a start-up user: system tables refused to the public key.
    let r = sql(
        &dave,
        "default_public",
        "SELECT usename FROM pg_catalog.pg_user",
    )
    .await;
    assert_ne!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        me(dave.base_url().as_str(), &token).await.status,
        StatusCode::OK
    );
    if postgis(emu.has_postgis("dave"), "PostGIS in a run-time account") {
        let r = sql(&dave, &token, "SELECT ST_AsText(ST_MakePoint(1, 2)) AS p").await;
        assert_eq!(r.json()["rows"], json!([{"p": "POINT(1 2)"}]));
    }
    let c = emu.pg().connect_superuser("carto_emulator").await.unwrap();
    let (database, id): (String, String) = c
        .query_one(
            "SELECT database, id FROM public.users WHERE username = 'dave'",
            &[],
        )
        .await
        .map(|r| (r.get(0), r.get(1)))
        .unwrap();
    assert!(database_exists(&emu, &database).await);
    assert_eq!(roles_like(&emu, &id).await, 2);

    emu.remove_user("dave").await.unwrap();
    assert!(emu.account("dave").is_none());
    assert!(!database_exists(&emu, &database).await);
    assert_eq!(roles_like(&emu, &id).await, 0);
    let r = me(dave.base_url().as_str(), &token).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    // The name is free again, with new keys.
    let again = emu.create_user("dave").await.unwrap();
    assert_ne!(again.master_key(), dave.master_key());
    let r = sql(
        &again,
        again.master_key().expose_secret(),
        "SELECT count(*) AS n FROM pg_tables WHERE tablename = 't'",
    )
    .await;
    assert_eq!(r.json()["rows"], json!([{"n": 0}]), "a fresh database");
    // The start-up user was never touched.
    let alice = emu.user("alice").unwrap();
    // The spare databases kept ready (copies of the template) are closed to every role.
    let c = emu.pg().connect_superuser("postgres").await.unwrap();
    let mut spares = Vec::new();
    for _ in 0..200 {
        spares = c
            .query(
                "SELECT has_database_privilege($1, oid, 'CONNECT') FROM pg_catalog.pg_database
                 WHERE starts_with(datname, 'carto_emulator_spare_')",
                &[&alice.public_role()],
            )
            .await
            .unwrap();
        if !spares.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!spares.is_empty(), "spares are made");
    assert!(spares.iter().all(|r| !r.get::<_, bool>(0)));
    assert_eq!(
        sql(alice, alice.master_key().expose_secret(), "SELECT 1 AS x")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_taken_names_are_typed_errors() {
    let emu = Emulator::builder()
        .user("alice")
        .org("acme", ["bob", "carol"])
        .start()
        .await
        .unwrap();
    for bad in [
        "",
        "Alice",
        "a_b",
        "-a",
        "a b",
        "x\"; DROP DATABASE carto_emulator; --",
        &"a".repeat(64),
    ] {
        let e = account_error(emu.create_user(bad).await.unwrap_err());
        assert!(
            matches!(e, AccountError::InvalidName { what: "user", .. }),
            "{bad}: {e}"
        );
    }
    let e = account_error(emu.create_user("alice").await.unwrap_err());
    assert_eq!(e, AccountError::UserExists("alice".into()));
    let e = account_error(emu.create_user("bob").await.unwrap_err());
    assert_eq!(e, AccountError::UserExists("bob".into()));
    let e = account_error(emu.create_org("acme", ["zoe"]).await.unwrap_err());
    assert_eq!(e, AccountError::OrgExists("acme".into()));
    let e = account_error(
        emu.create_org("empty", Vec::<String>::new())
            .await
            .unwrap_err(),
    );
    assert_eq!(e, AccountError::EmptyOrg("empty".into()));
    let e = account_error(emu.create_org_user("nope", "zoe").await.unwrap_err());
    assert_eq!(e, AccountError::NoSuchOrg("nope".into()));
    let e = account_error(emu.remove_user("nobody").await.unwrap_err());
    assert_eq!(e, AccountError::NoSuchUser("nobody".into()));
    let e = account_error(emu.remove_org("nope").await.unwrap_err());
    assert_eq!(e, AccountError::NoSuchOrg("nope".into()));
    // The owner of an organization with members leaves last.
    let e = account_error(emu.remove_user("bob").await.unwrap_err());
    assert_eq!(
        e,
        AccountError::OwnerHasMembers {
            user: "bob".into(),
            org: "acme".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_user_of_an_organization_owns_it() {
    let emu = Emulator::builder()
        .org("acme", ["bob", "carol"])
        .start()
        .await
        .unwrap();
    let made = emu.create_org("globex", ["hank", "ivy"]).await.unwrap();
    assert_eq!(made.len(), 2);
    for (user, admin) in [
        ("bob", true),
        ("carol", false),
        ("hank", true),
        ("ivy", false),
    ] {
        let u = emu.account(user).unwrap();
        let r = me(u.base_url().as_str(), u.master_key().expose_secret()).await;
        assert_eq!(r.json()["user_data"]["org_admin"], json!(admin), "{user}");
    }
    assert_eq!(emu.account("ivy").unwrap().org(), Some("globex"));
    // Members share the organization's database, each in its own schema.
    let hank = emu.account("hank").unwrap();
    let ivy = emu.account("ivy").unwrap();
    let r = sql(
        &hank,
        hank.master_key().expose_secret(),
        "CREATE TABLE t (n int)",
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = sql(
        &ivy,
        ivy.master_key().expose_secret(),
        "SELECT * FROM hank.t",
    )
    .await;
    assert_ne!(
        r.status,
        StatusCode::OK,
        "another member's table: {}",
        r.text
    );

    let e = account_error(emu.remove_user("hank").await.unwrap_err());
    assert!(matches!(e, AccountError::OwnerHasMembers { .. }), "{e}");
    emu.remove_user("ivy").await.unwrap();
    emu.create_org_user("globex", "jack").await.unwrap();
    emu.remove_org("globex").await.unwrap();
    for gone in ["hank", "ivy", "jack"] {
        assert!(emu.account(gone).is_none(), "{gone}");
    }
    assert!(!database_exists(&emu, "cartodb_org_globex_db").await);
    // The name can be taken again, by a new owner.
    emu.create_org("globex", ["kim"]).await.unwrap();
    let kim = emu.account("kim").unwrap();
    let r = me(kim.base_url().as_str(), kim.master_key().expose_secret()).await;
    assert_eq!(r.json()["user_data"]["org_admin"], json!(true));
}

#[test]
fn blocking_emulators_make_and_remove_accounts() {
    let emu = Emulator::builder().start_blocking().unwrap();
    let erin = emu.create_user("erin").unwrap();
    let org = emu.create_org("initech", ["peter", "milton"]).unwrap();
    assert_eq!(org[0].username(), "peter");
    assert_eq!(emu.credentials("erin").unwrap().token(), erin.master_key());
    emu.remove_user("erin").unwrap();
    emu.remove_org("initech").unwrap();
    assert!(emu.account("erin").is_none() && emu.account("milton").is_none());
}

/// An attack on the users API: what it is, method, URL, key, status, whether the body is `{}`.
type Case<'a> = (&'a str, Method, String, Option<&'a str>, StatusCode, bool);

fn users_url(base: &str, org: &str) -> String {
    format!("{base}/api/v1/organization/{org}/users/")
}

async fn call(method: Method, url: &str, token: &str, body: Option<&Value>) -> Reply {
    let url = format!("{url}?api_key={token}");
    send(&common::client(), method, &url, None, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_owners_manage_users_through_the_users_api() {
    let emu = Emulator::builder()
        .org("acme", ["bob", "carol"])
        .start()
        .await
        .unwrap();
    let bob = emu.account("bob").unwrap();
    let base = bob.base_url().as_str().to_owned();
    let key = bob.master_key().expose_secret().to_owned();
    let url = users_url(&base, "acme");

    let r = call(
        Method::POST,
        &url,
        &key,
        Some(&json!({"username": "dan", "email": "dan@example.com", "password": "s3cret-pass"})),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let created = r.json();
    assert_eq!(created["username"], "dan");
    assert!(created["base_url"].as_str().unwrap().ends_with("/user/dan"));
    assert!(
        !r.text.contains("s3cret-pass"),
        "the password is never echoed"
    );
    // The new member logs in with its own master key, in its own account.
    let dan_key = created["api_key"].as_str().unwrap().to_owned();
    let dan_base = created["base_url"].as_str().unwrap().to_owned();
    let r = me(&dan_base, &dan_key).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["user_data"]["username"], "dan");
    assert_eq!(r.json()["user_data"]["org_admin"], json!(false));
    assert_eq!(
        me(&dan_base, &key).await.status,
        StatusCode::UNAUTHORIZED,
        "bob's key is not dan's"
    );
    let dan = emu.account("dan").unwrap();
    assert_eq!(dan.org(), Some("acme"));
    let r = sql(&dan, &dan_key, "CREATE TABLE mine (n int); SELECT 1 AS ok").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);

    let r = call(Method::GET, &format!("{url}dan"), &key, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["username"], "dan");
    let r = call(Method::GET, &url, &key, None).await;
    let list = r.json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names.first(), Some(&"bob"));
    assert!(names.contains(&"carol") && names.contains(&"dan"));
    let r = call(Method::GET, &format!("{url}nobody"), &key, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json(), json!("No user with username 'nobody' in 'acme'"));
    let r = call(Method::POST, &url, &key, Some(&json!({"username": "dan"}))).await;
    assert_eq!(r.status, StatusCode::GONE, "taken: {}", r.text);

    let r = call(Method::DELETE, &format!("{url}dan"), &key, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json(), json!("User deleted"));
    assert!(emu.account("dan").is_none());
    assert_eq!(me(&dan_base, &dan_key).await.status, StatusCode::NOT_FOUND);
    let r = call(Method::DELETE, &format!("{url}bob"), &key, None).await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the owner stays: {}",
        r.text
    );
    assert!(emu.account("bob").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_users_api_refuses_everyone_but_the_owner_and_bad_names() {
    let emu = Emulator::builder()
        .user("solo")
        .org("acme", ["bob", "carol"])
        .org("globex", ["hank"])
        .start()
        .await
        .unwrap();
    let account = |u: &str| {
        let a = emu.account(u).unwrap();
        (
            a.base_url().as_str().to_owned(),
            a.master_key().expose_secret().to_owned(),
        )
    };
    let (bob_base, bob_key) = account("bob");
    let (carol_base, carol_key) = account("carol");
    let (hank_base, hank_key) = account("hank");
    let (solo_base, solo_key) = account("solo");
    let new_user = json!({"username": "mallory"});
    let c = common::client();
    let r = send(
        &c,
        Method::POST,
        &format!("{bob_base}/api/v3/api_keys"),
        Some(("bob", &bob_key)),
        Some(&json!({"name": "k", "grants": [{"type": "apis", "apis": ["sql"]}]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let regular = r.json()["token"].as_str().unwrap().to_owned();
    let acme = users_url(&bob_base, "acme");
    // Who calls, how, and CARTO's answer: `401 {}` (`true`: no clue whether the organization
    // exists), Rails' empty 401 for a key that is no key of the user (`false`), or a 404.
    let cases: Vec<Case<'_>> = vec![
        (
            "a member, its master key",
            Method::POST,
            users_url(&carol_base, "acme"),
            Some(&carol_key),
            StatusCode::UNAUTHORIZED,
            true,
        ),
        (
            "the owner's Default public key",
            Method::POST,
            acme.clone(),
            Some("default_public"),
            StatusCode::UNAUTHORIZED,
            false,
        ),
        (
            "a regular key of the owner's",
            Method::POST,
            acme.clone(),
            Some(&regular),
            StatusCode::UNAUTHORIZED,
            true,
        ),
        (
            "no key",
            Method::POST,
            acme.clone(),
            None,
            StatusCode::UNAUTHORIZED,
            false,
        ),
        (
            "a wrong key",
            Method::POST,
            acme.clone(),
            Some("0123456789abcdef"),
            StatusCode::UNAUTHORIZED,
            false,
        ),
        (
            "another org's owner, on its prefix",
            Method::POST,
            users_url(&hank_base, "acme"),
            Some(&hank_key),
            StatusCode::UNAUTHORIZED,
            true,
        ),
        (
            "another org's owner, on this prefix",
            Method::POST,
            acme.clone(),
            Some(&hank_key),
            StatusCode::UNAUTHORIZED,
            false,
        ),
        (
            "the owner, on another org",
            Method::DELETE,
            format!("{}hank", users_url(&bob_base, "globex")),
            Some(&bob_key),
            StatusCode::UNAUTHORIZED,
            true,
        ),
        (
            "a user of another org",
            Method::GET,
            format!("{acme}hank"),
            Some(&bob_key),
            StatusCode::NOT_FOUND,
            false,
        ),
        (
            "an individual user, as a member",
            Method::DELETE,
            format!("{acme}solo"),
            Some(&bob_key),
            StatusCode::NOT_FOUND,
            false,
        ),
        (
            "an individual user, as an owner",
            Method::POST,
            users_url(&solo_base, "acme"),
            Some(&solo_key),
            StatusCode::UNAUTHORIZED,
            true,
        ),
        (
            "an unknown org",
            Method::POST,
            users_url(&bob_base, "nope"),
            Some(&bob_key),
            StatusCode::UNAUTHORIZED,
            true,
        ),
    ];
    for (what, method, url, key, status, braces) in cases {
        let body = (method == Method::POST).then_some(&new_user);
        let r = match key {
            Some(k) => call(method, &url, k, body).await,
            None => send(&c, method, &url, None, body).await,
        };
        assert_eq!(r.status, status, "{what}: {}", r.text);
        if braces {
            assert_eq!(r.json(), json!({}), "{what}");
        }
    }
    assert!(emu.account("hank").is_some() && emu.account("solo").is_some());
    assert!(emu.account("mallory").is_none());
    // Names CARTO refuses, injections among them: 410 and nothing made.
    for bad in [
        "Mallory",
        "a_b",
        "../bob",
        "x'; DROP DATABASE carto_emulator; --",
        "a\"b",
        "",
        "-x",
        &"m".repeat(64),
    ] {
        let r = call(
            Method::POST,
            &users_url(&bob_base, "acme"),
            &bob_key,
            Some(&json!({"username": bad})),
        )
        .await;
        assert_eq!(r.status, StatusCode::GONE, "{bad:?}: {}", r.text);
        assert!(r.json().is_array(), "{bad:?}");
    }
    let r = call(
        Method::POST,
        &users_url(&bob_base, "acme"),
        &bob_key,
        Some(&json!({"username": 7})),
    )
    .await;
    assert_eq!(r.status, StatusCode::GONE);
    let r = call(
        Method::POST,
        &users_url(&bob_base, "acme"),
        &bob_key,
        Some(&json!({"username": "solo"})),
    )
    .await;
    assert_eq!(
        r.status,
        StatusCode::GONE,
        "a name taken outside the org: {}",
        r.text
    );
    let r = call(Method::GET, &users_url(&bob_base, "acme"), &bob_key, None).await;
    assert_eq!(
        r.json().as_array().unwrap().len(),
        2,
        "still bob and carol: {}",
        r.text
    );
}
