//! End to end: `carto::carto3` clients (blocking on ureq, async on reqwest) against the
//! emulator's CARTO 3 routes over real HTTP, from the `<user>.carto3.json` the emulator
//! writes: M2M token and its refresh, queries with parameters (GET and POST), the row cap as
//! a typed error, jobs, the Tokens API, and an API access token used as a fixed token.

use std::time::Duration;

use carto::Error;
use carto::carto3::sql::QueryMethod;
use carto::carto3::{
    AccessToken, AllowedApi, ApiCredentials, Client, JobStatus, NewToken, QueryOptions,
    QueryParameters, TokenSource, TokenUpdate, blocking,
};
use carto_emulator::{Emulator, Fault, FaultRule};
use serde_json::{Value, json};

const USER: &str = "carol";

/// The emulator's `<user>.carto3.json`, as `--write-creds` writes it, in `dir`.
fn credentials_file(emulator: &Emulator, dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join(format!("{USER}.carto3.json"));
    let doc = emulator.user(USER).unwrap().carto3().to_json();
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

/// A blocking client with `token` as a fixed token, on `carto`'s API base URL.
fn fixed(carto: &blocking::Client, token: &AccessToken) -> blocking::Client {
    let credentials =
        ApiCredentials::new(carto.base_url().clone(), TokenSource::Fixed(token.clone()));
    blocking::Client::new(credentials).unwrap()
}

#[test]
fn blocking_carto3_client_against_the_emulator() {
    let emulator = Emulator::builder()
        .user(USER)
        .oauth_token_lifetime(Duration::from_secs(2))
        .start_blocking()
        .expect("the emulator starts (PostgreSQL binaries on the PATH)");
    let dir = tempfile::tempdir().unwrap();
    let carto = blocking::Client::from_file(credentials_file(&emulator, dir.path())).unwrap();
    let connection = emulator
        .user(USER)
        .unwrap()
        .carto3()
        .connection()
        .to_owned();
    let sql = carto.sql(&connection);

    // Queries: DDL, then parameters by GET and by POST, read with serde.
    sql.query::<Value>(
        "CREATE TABLE stores (id int8, name text); INSERT INTO stores VALUES (1, 'a'), (2, 'b')",
    )
    .unwrap();
    for method in [QueryMethod::Get, QueryMethod::Post] {
        let options = QueryOptions::new()
            .params(QueryParameters::positional([json!("b")]))
            .method(method);
        let answer = sql
            .query_with::<Value>("SELECT id, name FROM stores WHERE name = $1", &options)
            .unwrap();
        assert_eq!(answer.rows, [json!({"id": 2, "name": "b"})], "{method:?}");
        assert_eq!(answer.schema[0].field_type.as_str(), "bigint");
    }
    // CARTO 3 routes take fault rules too: one played answer, then a rate-limited answer
    // that the client retries.
    let path = format!("/v3/sql/{connection}/query");
    emulator.inject_fault(FaultRule::new(path.clone(), Fault::Status(418)).times(1));
    let err = sql.query::<Value>("SELECT 1 AS one").unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(418), "{err:?}");
    emulator.inject_fault(
        FaultRule::new(
            format!("/v3/sql/{connection}/query"),
            Fault::RateLimited { retry_after: 1 },
        )
        .times(1),
    );
    let answer = sql.query::<Value>("SELECT 1 AS one").unwrap();
    assert_eq!(answer.rows, [json!({"one": 1})]);
    let rows: Vec<Value> = sql
        .query_rows::<Value>("SELECT g FROM generate_series(1, 3) g")
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows.len(), 3);
    // The 200,000-row cap, as the typed error that says to use a job.
    let err = sql
        .query::<Value>("SELECT g FROM generate_series(1, 200001) g")
        .unwrap_err();
    assert!(matches!(err, Error::QueryLimit { .. }), "{err:?}");

    // Jobs: create and wait, list, cancel.
    let job = sql
        .create_and_wait_with("CREATE TABLE j AS SELECT 7 AS x", &Default::default())
        .unwrap();
    assert_eq!(job.status, JobStatus::Done);
    let long = sql.create("SELECT pg_sleep(30)").unwrap();
    sql.cancel(&long.job_id).unwrap();
    assert_eq!(sql.get(&long.job_id).unwrap().status, JobStatus::Cancelled);
    let ids: Vec<String> = sql.jobs().unwrap().into_iter().map(|j| j.job_id).collect();
    assert!(
        ids.contains(&job.job_id) && ids.contains(&long.job_id),
        "{ids:?}"
    );

    // Past the M2M token's lifetime (2 s here) the client holds a new one: queries go on.
    let first = carto.access_token().unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(
        sql.query::<Value>("SELECT x FROM j").unwrap().rows,
        [json!({"x": 7})]
    );
    assert_ne!(carto.access_token().unwrap(), first);

    // Tokens: create, list, get, update, then use one as a fixed token; delete.
    let tokens = carto.tokens();
    let new = NewToken::builder()
        .grant(&connection, "public.stores")
        .referer("https://good.example/")
        .allowed_apis([AllowedApi::Sql])
        .build()
        .unwrap();
    let made = tokens.create(&new).unwrap();
    assert_eq!(made.referers, ["https://good.example"]);
    assert_eq!(tokens.list().unwrap().len(), 1);
    assert_eq!(tokens.get(&made.token).unwrap().id, made.id);
    // Sent without a Referer: CARTO's 403, recognised by the client.
    let reader = fixed(&carto, &made.token);
    let err = reader
        .sql(&connection)
        .query::<Value>("SELECT 1")
        .unwrap_err();
    assert!(err.is_unauthorized_referer(), "{err:?}");
    let update = TokenUpdate::new().referers(Vec::<String>::new()).unwrap();
    let updated = tokens.update(&made.token, &update).unwrap();
    assert!(updated.is_none_or(|t| t.referers.is_empty()));
    assert!(tokens.get(&made.token).unwrap().referers.is_empty());
    let answer = reader
        .sql(&connection)
        .query::<Value>("SELECT count(*) AS n FROM stores")
        .unwrap();
    assert_eq!(answer.rows, [json!({"n": 2})]);
    let err = reader
        .sql(&connection)
        .query::<Value>("SELECT * FROM j")
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(403), "{err:?}");
    tokens.delete(&made.token).unwrap();
    let err = reader
        .sql(&connection)
        .query::<Value>("SELECT 1")
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401), "{err:?}");
    assert!(tokens.list().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_carto3_client_against_the_emulator() {
    let emulator = Emulator::builder().user(USER).start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let carto = Client::from_file(credentials_file(&emulator, dir.path())).unwrap();
    let connection = emulator
        .user(USER)
        .unwrap()
        .carto3()
        .connection()
        .to_owned();
    let sql = carto.sql(&connection);
    let answer = sql.query::<Value>("SELECT 1 AS one").await.unwrap();
    assert_eq!(answer.rows, [json!({"one": 1})]);
    let job = sql
        .create_and_wait_with("CREATE TABLE t AS SELECT 1 AS one", &Default::default())
        .await
        .unwrap();
    assert_eq!(job.status, JobStatus::Done);
    let new = NewToken::builder()
        .grant(&connection, "public.t")
        .allowed_apis([AllowedApi::Sql])
        .build()
        .unwrap();
    let made = carto.tokens().create(&new).await.unwrap();
    assert_eq!(carto.tokens().list().await.unwrap().len(), 1);
    carto.tokens().delete(&made.token).await.unwrap();
    assert!(carto.tokens().list().await.unwrap().is_empty());
    // Another account's connection: CARTO 3's 404.
    let err = carto
        .sql("pg_nobody")
        .query::<Value>("SELECT 1")
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404), "{err:?}");
}
