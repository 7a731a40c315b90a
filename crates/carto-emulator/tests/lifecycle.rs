//! Lifecycle: the synchronous start, stopping on drop (throwaway cluster removed), an
//! existing server through `database_url` (left running), and bad configuration.

use carto_test_support::emulator::http as common;

use carto_emulator::{Emulator, EmulatorError, PgCluster};
use reqwest::StatusCode;

#[test]
fn start_blocking_serves_and_drop_removes_the_cluster() {
    let emu = Emulator::builder()
        .user("alice")
        .org("acme", ["bob"])
        .start_blocking()
        .expect("emulator starts");
    let pgdata = emu.pg().pgdata().expect("a private cluster");
    assert!(pgdata.exists());
    let alice = emu.user("alice").unwrap();
    assert_eq!(alice.credentials().username(), "alice");
    assert!(alice.base_url().as_str().starts_with("http://127.0.0.1:"));
    assert_eq!(
        alice.host_base_url(),
        format!("http://alice.localhost:{}", emu.addr().port())
    );
    assert_eq!(emu.user("bob").unwrap().org(), Some("acme"));
    assert!(
        alice
            .default_public_credentials()
            .token()
            .is_default_public()
    );
    let url = format!(
        "{}api/v3/api_keys",
        alice.base_url().as_str().trim_end_matches('/').to_owned() + "/"
    );
    let token = alice.master_key().expose_secret().to_owned();
    let status = emu.block_on(async move {
        common::client()
            .get(url)
            .basic_auth("alice", Some(token))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, StatusCode::OK);
    drop(emu);
    assert!(!pgdata.exists(), "the throwaway cluster is removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_url_uses_an_existing_server() {
    let cluster = tokio::task::spawn_blocking(PgCluster::start_temporary)
        .await
        .unwrap()
        .unwrap();
    // Through the cluster's socket: its pg_hba.conf lets only the superuser in over TCP.
    let url = format!(
        "postgres://{}:{}@{}:{}/postgres",
        cluster.superuser(),
        cluster.superuser_password(),
        cluster
            .socket_dir()
            .display()
            .to_string()
            .replace('/', "%2F"),
        cluster.port()
    );
    let emu = Emulator::builder()
        .user("dave")
        .database_url(&url)
        .start()
        .await
        .unwrap();
    assert!(!emu.pg().is_private_cluster());
    let creds = emu.credentials("dave").unwrap();
    drop(emu);
    // The server is still up and holds the user's registry.
    let client = cluster.connect_superuser("carto_emulator").await.unwrap();
    let n: i64 = client
        .query_one("SELECT count(*) FROM users WHERE username = 'dave'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1);
    // A second emulator on the same server finds the user and its key.
    let emu = Emulator::builder()
        .database_url(&url)
        .start()
        .await
        .unwrap();
    assert_eq!(emu.credentials("dave").unwrap().token(), creds.token());
    drop(emu);
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
}

#[tokio::test]
async fn bad_configuration_is_a_clear_error() {
    for builder in [
        Emulator::builder().user("Alice"),
        Emulator::builder().user("a b"),
        Emulator::builder().org("Acme!", ["bob"]),
        Emulator::builder().user("x").user("x"),
        Emulator::builder().user("x").database_url("not a url"),
    ] {
        let err = builder.start().await.unwrap_err();
        assert!(matches!(err, EmulatorError::Config(_)), "{err}");
    }
}
