//! Session bounds: a flood of slow anonymous queries on one user gets CARTO's rate-limit
//! answer (429, `Retry-After`) instead of exhausting PostgreSQL's connections, while another
//! user, and another key of the same user, are still served; and multipart bodies keep
//! their case-sensitive boundary.

use carto_test_support::emulator::http as common;

use std::time::Duration;

use carto_emulator::Emulator;
use common::{Reply, client};
use reqwest::StatusCode;
use serde_json::json;

const RATE_LIMIT_BODY: &str = r#"{"error":["You are over platform's limits. Please contact us to know more details"],"context":"limit","detail":"rate-limit"}"#;

/// `GET /api/v2/sql` with these query parameters.
async fn get(c: &reqwest::Client, url: &str, params: &[(&str, &str)]) -> Reply {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    Reply::read(c.get(format!("{url}?{query}")).send().await.unwrap()).await
}

fn ok_rows(r: &Reply) -> serde_json::Value {
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    r.json()["rows"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_one_user_is_rate_limited_and_others_are_served() {
    let emu = Emulator::builder()
        .user("alice")
        .user("bob")
        .max_sessions_per_role(3)
        .max_sessions_per_user(4)
        .session_queue_timeout(Duration::from_millis(500))
        .start()
        .await
        .unwrap();
    let c = client();
    let alice = format!("{}/api/v2/sql", common::base(&emu, "alice"));
    let bob = format!("{}/api/v2/sql", common::base(&emu, "bob"));

    // 20 anonymous slow queries at once: 3 sessions for alice's public role, the rest wait
    // 500 ms and are refused.
    let flood: Vec<_> = (0..20)
        .map(|_| {
            let (c, url) = (c.clone(), alice.clone());
            tokio::spawn(async move { get(&c, &url, &[("q", "SELECT pg_sleep(2)")]).await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Meanwhile: bob is served, and so is alice's master key (its own role bound, and room
    // left in alice's user bound).
    let r = get(&c, &bob, &[("q", "SELECT 1 AS n")]).await;
    assert_eq!(ok_rows(&r), json!([{"n": 1}]));
    let master = common::master(&emu, "alice");
    let r = get(&c, &alice, &[("q", "SELECT 2 AS n"), ("api_key", &master)]).await;
    assert_eq!(ok_rows(&r), json!([{"n": 2}]));
    // PostgreSQL sees no more sessions of the public role than its bound.
    let public_role = emu.user("alice").unwrap().public_role().to_owned();
    let q =
        format!("SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = '{public_role}'");
    let r = get(&c, &alice, &[("q", &q), ("api_key", &master)]).await;
    let sessions = ok_rows(&r)[0]["n"].as_i64().unwrap();
    assert!(
        (1..=3).contains(&sessions),
        "{sessions} sessions of {public_role}"
    );
    // A refused JSONP request is a 200 wrapping the error, with the header kept.
    let r = get(
        &c,
        &alice,
        &[("q", "SELECT pg_sleep(2)"), ("callback", "cb")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.text,
        format!("/**/ typeof cb === 'function' && cb({RATE_LIMIT_BODY});")
    );
    assert_eq!(r.headers["retry-after"], "1");
    assert!(
        flood.iter().any(|h| !h.is_finished()),
        "the flood was still running"
    );

    let mut ok = 0;
    let mut limited = 0;
    for h in flood {
        let r = h.await.unwrap();
        match r.status {
            StatusCode::OK => {
                assert!(r.json().get("error").is_none(), "{}", r.text);
                ok += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => {
                assert_eq!(r.text, RATE_LIMIT_BODY);
                assert_eq!(r.headers["retry-after"], "1");
                assert_eq!(r.headers["content-type"], "application/json; charset=utf-8");
                assert_eq!(r.headers["access-control-allow-origin"], "*");
                limited += 1;
            }
            s => panic!("unexpected {s}: {}", r.text),
        }
    }
    assert!(
        ok >= 1,
        "some of the flood ran ({ok} ok, {limited} limited)"
    );
    assert!(limited >= 1, "some of the flood was refused ({ok} ok)");

    // After the flood alice is served again.
    let r = get(&c, &alice, &[("q", "SELECT 3 AS n")]).await;
    assert_eq!(ok_rows(&r), json!([{"n": 3}]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_keeps_a_browser_boundary() {
    let emu = Emulator::builder().user("alice").start().await.unwrap();
    let c = client();
    let url = format!("{}/api/v2/sql", common::base(&emu, "alice"));
    let body = "------WebKitFormBoundaryAbC\r\n\
        Content-Disposition: form-data; name=\"q\"\r\n\r\n\
        SELECT 1 AS n\r\n\
        ------WebKitFormBoundaryAbC--\r\n";
    let r = c
        .post(&url)
        .header(
            "content-type",
            "multipart/form-data; boundary=----WebKitFormBoundaryAbC",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["rows"], json!([{"n": 1}]));
}

/// The per-user bound is per user, not per database: the users of an organization share a
/// database, and one's flood leaves the other served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_users_have_session_bounds_of_their_own() {
    let emu = Emulator::builder()
        .org("acme", ["ann", "ben"])
        .max_sessions_per_user(2)
        .session_queue_timeout(Duration::from_millis(500))
        .start()
        .await
        .unwrap();
    let c = client();
    let ann = format!("{}/api/v2/sql", common::base(&emu, "ann"));
    let ben = format!("{}/api/v2/sql", common::base(&emu, "ben"));
    let ann_master = common::master(&emu, "ann");
    let flood: Vec<_> = (0..4)
        .map(|_| {
            let (c, url, key) = (c.clone(), ann.clone(), ann_master.clone());
            tokio::spawn(async move {
                get(&c, &url, &[("q", "SELECT pg_sleep(3)"), ("api_key", &key)]).await
            })
        })
        .collect();
    // Until ann's two sessions run her sleeps.
    let pg = emu.pg().connect_superuser("postgres").await.unwrap();
    loop {
        let n: i64 = pg
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(3)' AND state = 'active'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ben_master = common::master(&emu, "ben");
    let r = get(
        &c,
        &ben,
        &[("q", "SELECT 1 AS n"), ("api_key", &ben_master)],
    )
    .await;
    assert_eq!(ok_rows(&r), json!([{"n": 1}]));
    let mut limited = 0;
    for f in flood {
        if f.await.unwrap().status == StatusCode::TOO_MANY_REQUESTS {
            limited += 1;
        }
    }
    assert_eq!(limited, 2, "ann's bound is two sessions");
}
