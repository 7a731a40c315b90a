//! The private PostgreSQL cluster: start, connect with the generated superuser password,
//! keep data in a data directory, stop and clean up on drop.

use carto_emulator::{PgCluster, PgServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_cluster_runs_and_is_removed_on_drop() {
    let cluster = tokio::task::spawn_blocking(PgCluster::start_temporary)
        .await
        .unwrap()
        .expect("start a temporary cluster");
    assert_eq!(cluster.host(), "127.0.0.1");
    assert_ne!(cluster.port(), 0);
    assert_eq!(cluster.superuser_password().len(), 40);
    let pgdata = cluster.pgdata().to_path_buf();
    assert!(pgdata.join("PG_VERSION").exists());

    let client = cluster.connect_superuser("postgres").await.unwrap();
    let row = client
        .query_one("SELECT rolsuper, current_setting('password_encryption') FROM pg_roles WHERE rolname = current_user", &[])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, String>(1), "scram-sha-256");

    // A wrong password is refused: TCP uses password authentication.
    let server = PgServer::from_url(&format!(
        "postgres://{}:wrong@127.0.0.1:{}/postgres",
        cluster.superuser(),
        cluster.port()
    ))
    .unwrap();
    assert!(server.connect_superuser("postgres").await.is_err());

    drop(client);
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
    assert!(!pgdata.exists(), "temporary cluster directory removed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_cluster_restarts_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    if nix::unistd::geteuid().is_root() {
        // The postgres user must be able to traverse the parent directory.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let p = path.clone();
    let cluster = tokio::task::spawn_blocking(move || PgCluster::start_in(&p))
        .await
        .unwrap()
        .expect("start a kept cluster");
    let password = cluster.superuser_password().to_owned();
    let client = cluster.connect_superuser("postgres").await.unwrap();
    client
        .batch_execute("CREATE TABLE kept (x int); INSERT INTO kept VALUES (42);")
        .await
        .unwrap();
    drop(client);
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();

    let p = path.clone();
    let cluster = tokio::task::spawn_blocking(move || PgCluster::start_in(&p))
        .await
        .unwrap()
        .expect("restart the kept cluster");
    assert_eq!(cluster.superuser_password(), password);
    let client = cluster.connect_superuser("postgres").await.unwrap();
    let row = client.query_one("SELECT x FROM kept", &[]).await.unwrap();
    assert_eq!(row.get::<_, i32>(0), 42);
    drop(client);
    tokio::task::spawn_blocking(move || drop(cluster))
        .await
        .unwrap();
    assert!(path.join("pgdata").join("PG_VERSION").exists());
}

#[test]
fn unreachable_data_dir_is_a_clear_error_for_root() {
    if !nix::unistd::geteuid().is_root() {
        return; // only root runs PostgreSQL as another user
    }
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let err = PgCluster::start_in(&dir.path().join("data")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("cannot enter"), "{msg}");
    assert!(msg.contains("chmod o+x"), "{msg}");
}
