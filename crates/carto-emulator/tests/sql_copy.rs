//! COPY API (copyfrom / copyto) against a real PostgreSQL.

use carto_test_support::emulator::sql as sql_common;

use std::io::Write;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use bytes::Bytes;
use carto_emulator::{SqlAnswer, SqlEngine, SqlSession};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sql_common::{Answer, Env, OWNER, REGULAR};

async fn read(answer: SqlAnswer) -> Answer {
    let (status, headers, body) = answer.into_parts();
    let mut stream = sql_common::body_stream(body);
    let mut body = Vec::new();
    let mut frames = 0;
    while let Some(chunk) = stream.next().await {
        frames += 1;
        body.extend_from_slice(&chunk.expect("body chunk"));
    }
    Answer {
        status,
        headers,
        body: String::from_utf8(body).expect("utf-8"),
        frames,
    }
}

fn q(sql: &str) -> serde_json::Map<String, Value> {
    json!({ "q": sql }).as_object().unwrap().clone()
}

async fn copy_from(
    engine: &SqlEngine,
    session: SqlSession,
    sql: &str,
    headers: HeaderMap,
    body: Body,
) -> Answer {
    read(
        engine
            .handle_copy_from(session, q(sql), &headers, body.into_data_stream())
            .await,
    )
    .await
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn gzip_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    h
}

async fn count(env: &Env) -> i64 {
    env.q("SELECT count(*) AS n FROM t").await.json()["rows"][0]["n"]
        .as_i64()
        .expect("count")
}

#[tokio::test]
async fn copy_from_streams_uploads_into_postgresql() {
    let env = Env::start().await;
    env.admin(&format!(
        "CREATE TABLE t (id int, name text); ALTER TABLE t OWNER TO {}; GRANT SELECT ON t TO {}",
        OWNER.0, REGULAR.0
    ))
    .await;
    let e = &env.engine;
    let sql = "COPY t (id, name) FROM STDIN WITH (FORMAT csv)";

    let a = copy_from(
        e,
        env.master(),
        sql,
        HeaderMap::new(),
        Body::from("1,a\n2,b\n"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let doc = a.json();
    assert_eq!(
        doc.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["time", "total_rows"]
    );
    assert_eq!(doc["total_rows"], 2);
    assert_eq!(a.header("content-type"), "application/json; charset=utf-8");

    // Many chunks, gzipped, split at arbitrary places.
    let mut csv = String::new();
    for i in 0..50_000 {
        csv.push_str(&format!("{i},name {i}\n"));
    }
    let gz = gzip(csv.as_bytes());
    let chunks: Vec<Result<Bytes, std::io::Error>> = gz
        .chunks(7_777)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let a = copy_from(
        e,
        env.master(),
        sql,
        gzip_headers(),
        Body::from_stream(futures_util::stream::iter(chunks)),
    )
    .await;
    assert_eq!(a.json()["total_rows"], 50_000, "{}", a.body);
    assert_eq!(count(&env).await, 50_002);

    // CARTO's errors.
    let a = copy_from(e, env.master(), sql, gzip_headers(), Body::from("3,c\n")).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":["Error while gunzipping: incorrect header check"]}"#
        )
    );
    let a = copy_from(e, env.master(), sql, HeaderMap::new(), Body::from("")).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::BAD_REQUEST, r#"{"error":["No rows copied"]}"#)
    );
    let a = read(
        e.handle_copy_from(
            env.master(),
            serde_json::Map::new(),
            &HeaderMap::new(),
            Body::from("x").into_data_stream(),
        )
        .await,
    )
    .await;
    assert_eq!(a.body, r#"{"error":["SQL is missing"]}"#);
    let a = copy_from(
        e,
        env.master(),
        "SELECT 1",
        HeaderMap::new(),
        Body::from("x"),
    )
    .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":["SQL must start with COPY"]}"#
        )
    );
    let a = copy_from(
        e,
        env.master(),
        "COPY unexisting_table FROM STDIN",
        HeaderMap::new(),
        Body::from("1\n"),
    )
    .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":["relation \"unexisting_table\" does not exist"]}"#
        )
    );
    let a = copy_from(e, env.regular(), sql, HeaderMap::new(), Body::from("9,z\n")).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::FORBIDDEN,
            r#"{"error":["permission denied for table t"]}"#
        )
    );
    let a = copy_from(
        e,
        env.master(),
        sql,
        HeaderMap::new(),
        Body::from("1,a\nnot-a-number,b\n"),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.body.contains("invalid input syntax for type integer"),
        "{}",
        a.body
    );

    // Size limit, counted on the bytes sent.
    let small = e.clone().with_copy_from_limit(10);
    let a = copy_from(
        &small,
        env.master(),
        sql,
        HeaderMap::new(),
        Body::from("100,aaaa\n101,bbbb\n"),
    )
    .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":["COPY FROM maximum POST size of 10 bytes exceeded"]}"#
        )
    );

    // A gzip body small enough but inflating past the limit: refused, nothing kept.
    let before = count(&env).await;
    let bomb = gzip(
        "7,zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz\n"
            .repeat(400_000)
            .as_bytes(),
    );
    let capped = e.clone().with_copy_from_limit(1024 * 1024);
    assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());
    let a = copy_from(&capped, env.master(), sql, gzip_headers(), Body::from(bomb)).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":["COPY FROM maximum size of 1 MB exceeded once decompressed"]}"#
        )
    );
    assert_eq!(count(&env).await, before);

    // An upload that breaks mid-way leaves no rows and no lock behind.
    let parts: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from("7,x\n8,y\n")),
        Err(std::io::Error::other("client went away")),
    ];
    let a = copy_from(
        e,
        env.master(),
        sql,
        HeaderMap::new(),
        Body::from_stream(futures_util::stream::iter(parts)),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(count(&env).await, 50_002);
    let a = env
        .q("SET lock_timeout TO '2s'; LOCK TABLE t IN ACCESS EXCLUSIVE MODE")
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn copy_to_streams_postgresql_output() {
    let env = Env::start().await;
    env.admin(&format!(
        "CREATE TABLE t AS SELECT x AS id, 'name ' || x AS name FROM generate_series(1, 100000) x;
         ALTER TABLE t OWNER TO {}",
        OWNER.0
    ))
    .await;
    let e = &env.engine;
    let a = read(e.handle_copy_to(env.master(), q("COPY (SELECT * FROM t WHERE id <= 2 ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)")).await).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, "id,name\n1,name 1\n2,name 2\n");
    assert_eq!(a.header("content-type"), "application/octet-stream");
    assert_eq!(
        a.header("content-disposition"),
        "attachment; filename=carto-sql-copyto.dmp"
    );

    let params = json!({"q": "COPY t TO STDOUT", "filename": "/tmp/output.dmp"})
        .as_object()
        .unwrap()
        .clone();
    let a = read(e.handle_copy_to(env.master(), params).await).await;
    assert_eq!(
        a.header("content-disposition"),
        "attachment; filename=%2Ftmp%2Foutput.dmp"
    );
    assert_eq!(a.body.lines().count(), 100_000);
    assert!(a.frames > 10, "only {} frames", a.frames);

    // A query longer than 8 KB (sent in a POST body by the clients).
    let long = format!(
        "COPY (SELECT id FROM t WHERE id = 1 {}) TO STDOUT",
        "AND true ".repeat(1_000)
    );
    assert!(long.len() > 8 * 1024);
    let a = read(e.handle_copy_to(env.master(), q(&long)).await).await;
    assert_eq!(a.body, "1\n");

    let a = read(
        e.handle_copy_to(env.master(), q("COPY nope TO STDOUT"))
            .await,
    )
    .await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            r#"{"error":["relation \"nope\" does not exist"]}"#
        )
    );
    let a = read(e.handle_copy_to(env.regular(), q("COPY t TO STDOUT")).await).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::FORBIDDEN,
            r#"{"error":["permission denied for table t"]}"#
        )
    );
    let a = read(e.handle_copy_to(env.master(), q("SELECT 1")).await).await;
    assert_eq!(a.body, r#"{"error":["SQL must start with COPY"]}"#);
    // An error after the output started: appended to the 200 body.
    let a = read(
        e.handle_copy_to(
            env.master(),
            q("COPY (SELECT 1/(5000 - id) FROM t ORDER BY id) TO STDOUT"),
        )
        .await,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.ends_with(r#"{"error":["division by zero"]}"#),
        "{}",
        &a.body[a.body.len() - 100..]
    );
}
