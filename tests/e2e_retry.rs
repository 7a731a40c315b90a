//! Retries, timeouts and credential checks end to end, against the emulator's fault
//! injection, for both clients.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use carto::models::{Api, NewApiKey};
use carto::sql::CopyFromOptions;
use carto::{
    BaseUrl, Client, ClientOptions, Credentials, Error, ListOptions, QueryOptions, RetryPolicy,
    TransportConfig, TransportErrorKind, Validation, blocking,
};
use carto_emulator::{BlockingEmulator, Emulator, Fault, FaultRule};
use futures_util::StreamExt;

use crate::common;
use common::Captured;

const CSV: &str = "id,name\n1,a\n2,b\n3,c\n";
const SQL: &str = "/api/v2/sql";
const KEYS: &str = "/api/v3/api_keys";
const COPY_FROM: &str = "/api/v2/sql/copyfrom";

fn emulator() -> BlockingEmulator {
    Emulator::builder()
        .user("alice")
        .start_blocking()
        .expect("the emulator starts")
}

fn count(client: &blocking::Client, table: &str) -> i64 {
    let rows = client
        .sql()
        .query::<serde_json::Value>(&format!("SELECT count(*) AS n FROM {table}"))
        .unwrap();
    rows.rows[0]["n"].as_i64().unwrap()
}

fn key_names(client: &blocking::Client) -> Vec<String> {
    client
        .api_keys()
        .list_with(&ListOptions::regular())
        .map(|k| k.unwrap().name)
        .collect()
}

#[test]
fn blocking_client_retries_what_is_safe_and_nothing_else() {
    let emulator = emulator();
    let client = blocking::Client::new(emulator.credentials("alice").unwrap()).unwrap();

    // A rate-limited query (CARTO did not run it) is sent again after Retry-After,
    // whatever the SQL; the wait shows in the trace.
    emulator.inject(SQL, Fault::RateLimited { retry_after: 1 });
    let captured = Captured::default();
    let rows = tracing::subscriber::with_default(captured.subscriber(), || {
        client
            .sql()
            .query::<serde_json::Value>("SELECT 41 + 1 AS n")
            .unwrap()
    });
    assert_eq!(rows.rows[0]["n"], 42);
    let trace = captured.text();
    assert!(
        trace.contains("retrying HTTP request") && trace.contains("wait_ms=1000"),
        "{trace}"
    );

    // CARTO's statement timeout (429 without Retry-After) is never retried: had it
    // been, the second attempt would have succeeded (the fault is spent).
    emulator.inject(SQL, Fault::StatementTimeout);
    let err = client
        .sql()
        .query::<serde_json::Value>("SELECT 1")
        .unwrap_err();
    assert!(matches!(err, Error::StatementTimeout(_)), "{err:?}");
    assert!(
        err.is_timeout() && err.to_string().contains("Batch API"),
        "{err}"
    );

    // A 503 on a SQL POST that may write is the answer...
    emulator.inject(SQL, Fault::Status(503));
    let err = client
        .sql()
        .query::<serde_json::Value>("SELECT 1")
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(503));
    assert!(err.to_string().contains("not retried"), "{err}");
    // ... unless the query says it only reads.
    emulator.inject_fault(FaultRule::new(SQL, Fault::Status(503)).times(2));
    let rows = client
        .sql()
        .query_with::<serde_json::Value>("SELECT 7 AS n", &QueryOptions::new().read_only(true))
        .unwrap();
    assert_eq!(rows.rows[0]["n"], 7);

    // A key creation whose connection drops after the server acted is not sent again:
    // exactly one key exists (a retry would have failed with 422, or made two).
    emulator.inject_fault(FaultRule::new(KEYS, Fault::DropAfter).method("POST"));
    let err = client
        .api_keys()
        .create(
            NewApiKey::builder("dropped")
                .apis([Api::Sql])
                .build()
                .unwrap(),
        )
        .unwrap_err();
    assert!(err.transport_kind().is_some(), "{err:?}");
    assert_eq!(key_names(&client), ["dropped"]);
    // Reading it back is idempotent: a dropped connection is retried.
    emulator.inject_fault(FaultRule::new(KEYS, Fault::Drop).method("GET"));
    assert_eq!(client.api_keys().get("dropped").unwrap().name, "dropped");

    // A COPY FROM of a file is rebuilt and sent again after a 429; rows load once.
    client
        .sql()
        .query::<serde_json::Value>("CREATE TABLE loaded (id int, name text)")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rows.csv");
    std::fs::write(&path, CSV).unwrap();
    let copy_sql = "COPY loaded (id, name) FROM STDIN WITH (FORMAT csv, HEADER true)";
    emulator.inject(COPY_FROM, Fault::RateLimited { retry_after: 1 });
    let loaded = client
        .copy()
        .copy_from_path_with(copy_sql, &path, &CopyFromOptions::new().gzip(1))
        .unwrap();
    assert_eq!(loaded.total_rows, 3);
    assert_eq!(count(&client, "loaded"), 3);
    // From a reader it cannot be sent again, and the error says so.
    emulator.inject(COPY_FROM, Fault::RateLimited { retry_after: 1 });
    let err = client
        .copy()
        .copy_from(copy_sql, CSV.as_bytes())
        .unwrap_err();
    assert!(err.is_rate_limited(), "{err:?}");
    assert!(err.to_string().contains("cannot be sent again"), "{err}");
    assert_eq!(count(&client, "loaded"), 3);

    // Retries off: the rate limit is the answer.
    let once = blocking::Client::with_options(
        emulator.credentials("alice").unwrap(),
        ClientOptions::new().retry(RetryPolicy::none()),
    )
    .unwrap();
    emulator.inject(SQL, Fault::RateLimited { retry_after: 1 });
    assert!(
        once.sql()
            .query::<serde_json::Value>("SELECT 1")
            .unwrap_err()
            .is_rate_limited()
    );
    client.api_keys().delete("dropped").unwrap();
}

#[test]
fn a_slow_server_gives_a_typed_timeout() {
    let emulator = emulator();
    let options = ClientOptions::new()
        .retry(RetryPolicy::none())
        .transport(TransportConfig::new().with_request_timeout(Duration::from_millis(300)));
    let client =
        blocking::Client::with_options(emulator.credentials("alice").unwrap(), options.clone())
            .unwrap();
    emulator.inject(SQL, Fault::Delay(Duration::from_secs(3)));
    let err = client
        .sql()
        .query::<serde_json::Value>("SELECT 1")
        .unwrap_err();
    assert_eq!(
        err.transport_kind(),
        Some(TransportErrorKind::Timeout),
        "{err:?}"
    );
    assert!(err.is_timeout());

    let client = Client::with_options(emulator.credentials("alice").unwrap(), options).unwrap();
    emulator.inject(SQL, Fault::Delay(Duration::from_secs(3)));
    let err = emulator
        .block_on(client.sql().query::<serde_json::Value>("SELECT 1"))
        .unwrap_err();
    assert_eq!(
        err.transport_kind(),
        Some(TransportErrorKind::Timeout),
        "{err:?}"
    );
}

#[test]
fn async_client_retries_what_is_safe_and_nothing_else() {
    let emulator = emulator();
    let client = Client::new(emulator.credentials("alice").unwrap()).unwrap();
    emulator.block_on(async {
        emulator.inject(SQL, Fault::RateLimited { retry_after: 1 });
        let rows = client
            .sql()
            .query::<serde_json::Value>("SELECT 42 AS n")
            .await
            .unwrap();
        assert_eq!(rows.rows[0]["n"], 42);

        emulator.inject(SQL, Fault::StatementTimeout);
        let err = client
            .sql()
            .query::<serde_json::Value>("SELECT 1")
            .await
            .unwrap_err();
        assert!(matches!(err, Error::StatementTimeout(_)), "{err:?}");

        // Streaming rows: a 503 before the head is retried for a read-only query.
        emulator.inject(SQL, Fault::Status(503));
        let rows: Vec<_> = client
            .sql()
            .query_rows_with::<serde_json::Value>(
                "SELECT generate_series(1, 3) AS n",
                &QueryOptions::new().read_only(true),
            )
            .await
            .unwrap()
            .collect()
            .await;
        assert_eq!(rows.len(), 3);

        emulator.inject_fault(FaultRule::new(KEYS, Fault::DropAfter).method("POST"));
        let err = client
            .api_keys()
            .create(
                NewApiKey::builder("dropped")
                    .apis([Api::Sql])
                    .build()
                    .unwrap(),
            )
            .await
            .unwrap_err();
        assert!(err.transport_kind().is_some(), "{err:?}");
        let names: Vec<String> = client
            .api_keys()
            .list_with(&ListOptions::regular())
            .map(|k| k.unwrap().name)
            .collect()
            .await;
        assert_eq!(names, ["dropped"]);

        client
            .sql()
            .query::<serde_json::Value>("CREATE TABLE loaded (id int, name text)")
            .await
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        std::fs::write(&path, CSV).unwrap();
        emulator.inject(COPY_FROM, Fault::RateLimited { retry_after: 1 });
        let loaded = client
            .copy()
            .copy_from_path(
                "COPY loaded (id, name) FROM STDIN WITH (FORMAT csv, HEADER true)",
                &path,
            )
            .await
            .unwrap();
        assert_eq!(loaded.total_rows, 3);
        let n = client
            .sql()
            .query::<serde_json::Value>("SELECT count(*) AS n FROM loaded")
            .await
            .unwrap();
        assert_eq!(n.rows[0]["n"], 3);
    });
}

/// A server answering every request with a web page, as a wrong base URL does.
fn html_server() -> (std::net::SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        if let Ok((mut stream, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = "<html><body>Welcome</body></html>";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (addr, handle)
}

#[test]
fn validate_tells_each_credential_problem_apart() {
    let emulator = emulator();
    let creds = emulator.credentials("alice").unwrap();
    let client = blocking::Client::new(creds.clone()).unwrap();
    assert_eq!(client.validate().unwrap(), Validation::Valid);
    assert_eq!(
        client.with_token("not-a-key").validate().unwrap(),
        Validation::InvalidKey
    );
    let maps_only = client
        .api_keys()
        .create(
            NewApiKey::builder("maps only")
                .apis([Api::Maps])
                .build()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        client
            .with_token(maps_only.token.clone())
            .validate()
            .unwrap(),
        Validation::NoSqlGrant
    );
    let nobody = BaseUrl::parse_allow_http(&format!("{}/user/nobody", emulator.url())).unwrap();
    let stranger = blocking::Client::new(Credentials::new(nobody, "x")).unwrap();
    assert_eq!(stranger.validate().unwrap(), Validation::UnknownUser);

    let (addr, server) = html_server();
    let web = BaseUrl::parse_allow_http(&format!("http://{addr}/user/alice")).unwrap();
    let web_client = blocking::Client::new(Credentials::new(web, "x")).unwrap();
    assert_eq!(
        web_client.validate().unwrap(),
        Validation::NotCarto { status: 200 }
    );
    server.join().unwrap();

    // A port nobody listens on: refused.
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let dead = BaseUrl::parse_allow_http(&format!("http://{closed}/user/alice")).unwrap();
    let options = ClientOptions::new().retry(RetryPolicy::none());
    let dead_client =
        blocking::Client::with_options(Credentials::new(dead.clone(), "x"), options.clone())
            .unwrap();
    assert!(matches!(
        dead_client.validate().unwrap(),
        Validation::Unreachable(TransportErrorKind::Connect)
    ));

    // The async client gives the same findings.
    let async_client = Client::new(creds).unwrap();
    emulator.block_on(async {
        assert!(async_client.validate().await.unwrap().is_valid());
        assert_eq!(
            async_client.with_token("nope").validate().await.unwrap(),
            Validation::InvalidKey
        );
        let dead_async = Client::with_options(Credentials::new(dead, "x"), options).unwrap();
        assert!(matches!(
            dead_async.validate().await.unwrap(),
            Validation::Unreachable(_)
        ));
    });
    client.api_keys().delete("maps only").unwrap();
}
