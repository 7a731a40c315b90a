//! Batch SQL API against a real PostgreSQL: job forms, statuses, cancel, persistence.

use carto_test_support::emulator::sql as sql_common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use carto_emulator::{SqlEngine, SqlSession};
use serde_json::{Map, Value, json};
use sql_common::{Answer, Env, OWNER};

const REGISTRY: &str = "batch_registry";

async fn job(
    engine: &SqlEngine,
    session: SqlSession,
    method: Method,
    id: Option<&str>,
    body: Value,
) -> Answer {
    let body: Map<String, Value> = body.as_object().cloned().unwrap_or_default();
    sql_common::read(engine.handle_job(session, &method, id, body).await).await
}

async fn wait_final(engine: &SqlEngine, session: &SqlSession, id: &str) -> Value {
    for _ in 0..600 {
        let a = job(engine, session.clone(), Method::GET, Some(id), Value::Null).await;
        let doc = a.json();
        if matches!(
            doc["status"].as_str(),
            Some("done" | "failed" | "cancelled" | "unknown")
        ) {
            return doc;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

async fn enable(env: &Env) -> SqlEngine {
    let engine = SqlEngine::new(env.cluster.host().to_string(), env.cluster.port())
        .with_socket_dir(Some(env.cluster.socket_dir().to_path_buf()));
    let registry = env
        .cluster
        .connect_superuser(REGISTRY)
        .await
        .expect("registry");
    engine.enable_batch(registry).await.expect("batch");
    engine
}

#[tokio::test]
async fn batch_jobs_run_fail_cancel_and_persist() {
    let env = Env::start().await;
    env.cluster
        .connect_superuser("postgres")
        .await
        .unwrap()
        .batch_execute(&format!("CREATE DATABASE {REGISTRY}"))
        .await
        .unwrap();
    env.admin(&format!(
        "CREATE TABLE t (a int); ALTER TABLE t OWNER TO {}",
        OWNER.0
    ))
    .await;
    let engine = enable(&env).await;
    let m = env.master();

    // Master key only.
    for session in [env.regular(), env.public()] {
        let a = job(
            &engine,
            session,
            Method::POST,
            None,
            json!({"query": "SELECT 1"}),
        )
        .await;
        assert_eq!(
            (a.status, a.body.as_str()),
            (StatusCode::FORBIDDEN, r#"{"error":["permission denied"]}"#)
        );
    }

    // A simple job: 201, CARTO's key order, then done.
    let a = job(
        &engine,
        m.clone(),
        Method::POST,
        None,
        json!({"query": "INSERT INTO t VALUES (1)"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let doc = a.json();
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "user",
            "query",
            "job_id",
            "created_at",
            "updated_at",
            "status"
        ]
    );
    assert_eq!(doc["user"], "alice");
    assert_eq!(doc["status"], "pending");
    let created = doc["created_at"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok()
            && created.ends_with('Z')
            && created.len() == 24,
        "{created}"
    );
    let id = doc["job_id"].as_str().unwrap().to_string();
    let done = wait_final(&engine, &m, &id).await;
    assert_eq!(done["status"], "done");
    let keys: Vec<&String> = done.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "user",
            "status",
            "query",
            "created_at",
            "updated_at",
            "job_id"
        ]
    );
    assert_eq!(
        env.q("SELECT count(*) AS n FROM t").await.json()["rows"],
        json!([{"n": 1}])
    );

    // Failure reason.
    let a = job(
        &engine,
        m.clone(),
        Method::POST,
        None,
        json!({"query": "SELECT * FROM nope"}),
    )
    .await;
    let failed = wait_final(&engine, &m, a.json()["job_id"].as_str().unwrap()).await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["failed_reason"], "relation \"nope\" does not exist");

    // Multi-query job: per-query statuses, stops at the first failure.
    let a = job(
        &engine,
        m.clone(),
        Method::POST,
        None,
        json!({"query": ["INSERT INTO t VALUES (2)", "SELECT 1/0", "INSERT INTO t VALUES (3)"]}),
    )
    .await;
    let multi = wait_final(&engine, &m, a.json()["job_id"].as_str().unwrap()).await;
    assert_eq!(multi["status"], "failed");
    assert_eq!(multi["failed_reason"], "division by zero");
    assert_eq!(
        multi["query"],
        json!([{"query": "INSERT INTO t VALUES (2)", "status": "done"},
               {"query": "SELECT 1/0", "status": "failed", "failed_reason": "division by zero"},
               {"query": "INSERT INTO t VALUES (3)", "status": "pending"}])
    );

    // Fallback job.
    env.admin(&format!(
        "CREATE TABLE log (msg text); ALTER TABLE log OWNER TO {}",
        OWNER.0
    ))
    .await;
    let a = job(
        &engine,
        m.clone(),
        Method::POST,
        None,
        json!({"query": {"query": [
            {"query": "SELECT 1", "onsuccess": "INSERT INTO log VALUES ('ok <%= job_id %>')"},
            {"query": "SELECT 1/0", "onerror": "INSERT INTO log VALUES ('<%= error_message %>')"},
            {"query": "SELECT 2"}
        ], "onerror": "INSERT INTO log VALUES ('job failed')"}}),
    )
    .await;
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    let fid = a.json()["job_id"].as_str().unwrap().to_string();
    let fb = wait_final(&engine, &m, &fid).await;
    assert_eq!(fb["status"], "failed");
    assert_eq!(fb["fallback_status"], "done");
    let q = &fb["query"]["query"];
    assert_eq!(
        (q[0]["status"].as_str(), q[0]["fallback_status"].as_str()),
        (Some("done"), Some("done"))
    );
    assert_eq!(
        (q[1]["status"].as_str(), q[1]["fallback_status"].as_str()),
        (Some("failed"), Some("done"))
    );
    assert_eq!(q[1]["failed_reason"], "division by zero");
    assert_eq!(q[2]["status"], "skipped");
    assert!(q[0]["started_at"].is_string() && q[0]["ended_at"].is_string());
    let logged = env.q("SELECT msg FROM log ORDER BY msg").await.json()["rows"].clone();
    assert_eq!(
        logged,
        json!([{"msg": "division by zero"}, {"msg": "job failed"}, {"msg": format!("ok {fid}")}])
    );

    // Cancelling a running job stops its query.
    let a = job(
        &engine,
        m.clone(),
        Method::POST,
        None,
        json!({"query": "SELECT pg_sleep(120)"}),
    )
    .await;
    let sid = a.json()["job_id"].as_str().unwrap().to_string();
    let mut running = false;
    for _ in 0..600 {
        let a = job(&engine, m.clone(), Method::GET, Some(&sid), Value::Null).await;
        if a.json()["status"] == "running" {
            running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(running, "the job never ran");
    let a = job(&engine, m.clone(), Method::DELETE, Some(&sid), Value::Null).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.json()["status"], "cancelled");
    let admin = env.cluster.connect_superuser(sql_common::DB).await.unwrap();
    let mut stopped = false;
    for _ in 0..600 {
        let n: i64 = admin
            .query_one("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(120)%' AND pid <> pg_backend_pid() AND state = 'active'", &[])
            .await
            .unwrap()
            .get(0);
        if n == 0 {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stopped, "the cancelled query is still running");
    assert_eq!(wait_final(&engine, &m, &sid).await["status"], "cancelled");

    // Cancelling a multi-query job cancels its running query.
    let a = job(
        &engine,
        m.clone(),
        Method::POST,
        None,
        json!({"query": ["SELECT 1", "SELECT pg_sleep(120)", "SELECT 2"]}),
    )
    .await;
    let mid = a.json()["job_id"].as_str().unwrap().to_string();
    let mut second_running = false;
    for _ in 0..600 {
        let a = job(&engine, m.clone(), Method::GET, Some(&mid), Value::Null).await;
        if a.json()["query"][1]["status"] == "running" {
            second_running = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(second_running, "the second query never ran");
    let a = job(&engine, m.clone(), Method::DELETE, Some(&mid), Value::Null).await;
    assert_eq!(a.json()["status"], "cancelled");
    let mut statuses = Vec::new();
    for _ in 0..600 {
        let a = job(&engine, m.clone(), Method::GET, Some(&mid), Value::Null).await;
        statuses = a.json()["query"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["status"].as_str().unwrap().to_string())
            .collect();
        if statuses[1] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(statuses, ["done", "cancelled", "pending"]);

    // CARTO's errors.
    let a = job(&engine, m.clone(), Method::DELETE, Some(&fid), Value::Null).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":["Cannot set status to cancelled"]}"#
        )
    );
    let a = job(&engine, m.clone(), Method::DELETE, Some(&id), Value::Null).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":["Cannot set status from done to cancelled"]}"#
        )
    );
    let a = job(
        &engine,
        m.clone(),
        Method::GET,
        Some("irrelevantJob"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":["Job with id irrelevantJob not found"]}"#
        )
    );
    let a = job(
        &engine,
        m.clone(),
        Method::POST,
        None,
        json!({"q": "SELECT 1"}),
    )
    .await;
    assert_eq!(a.body, r#"{"error":["You must indicate a valid SQL"]}"#);
    let a = job(&engine, m.clone(), Method::POST, None, json!({"query": 42})).await;
    assert_eq!(
        a.body,
        r#"{"error":["there is no job class for the provided query"]}"#
    );
    let big = "x".repeat(17_000);
    let a = job(
        &engine,
        m.clone(),
        Method::POST,
        None,
        json!({ "query": big }),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.starts_with(r#"{"error":["Your payload is too large: 17012 bytes. Max size allowed is 16384 bytes (16kb)."#), "{}", &a.body[..120]);
    // Jobs are scoped to their user.
    let mut bob = m.clone();
    bob.username = "bob".to_string();
    let a = job(&engine, bob, Method::GET, Some(&id), Value::Null).await;
    assert_eq!(
        a.body,
        format!(r#"{{"error":["Job with id {id} not found"]}}"#)
    );

    // Another engine on the same registry (a restart) still knows the jobs, runs the ones
    // left pending and marks the ones that were running as unknown.
    let registry = env.cluster.connect_superuser(REGISTRY).await.unwrap();
    for (job_id, status, sql) in [
        ("left-pending", "pending", "INSERT INTO t VALUES (100)"),
        ("was-running", "running", "SELECT 1"),
    ] {
        registry
            .execute(
                "INSERT INTO batch_jobs (job_id, username, status, kind, query, created_at, updated_at,
                                         db_name, db_schema, db_role, db_password)
                 VALUES ($1, 'alice', $2, 'simple', $3, 'c', 'u', $4, 'public', $5, $6)",
                &[&job_id, &status, &Value::String(sql.into()).to_string(), &sql_common::DB, &OWNER.0, &OWNER.1],
            )
            .await
            .unwrap();
    }
    let restarted = enable(&env).await;
    let a = job(&restarted, m.clone(), Method::GET, Some(&id), Value::Null).await;
    assert_eq!(a.json()["status"], "done");
    assert_eq!(
        wait_final(&restarted, &m, "left-pending").await["status"],
        "done"
    );
    assert_eq!(
        env.q("SELECT count(*) AS n FROM t WHERE a = 100")
            .await
            .json()["rows"],
        json!([{"n": 1}])
    );
    assert_eq!(
        wait_final(&restarted, &m, "was-running").await["status"],
        "unknown"
    );
}
