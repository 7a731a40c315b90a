//! The Import API clients over closure transports: the streamed upload and what it
//! sends, URL imports, an import followed to `complete` or `failure`, CARTO's empty 401,
//! and sync tables.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use carto_core::wait::WaitOptions;
use carto_core::{BaseUrl, Credentials, Error};
use carto_imports::{
    AsyncImportsClient, CollisionStrategy, ImportOptions, ImportState, ImportsClient, Privacy,
};
use carto_test_support::json_response;
use carto_transport::{async_transport_fn, transport_fn};
use serde_json::json;

fn credentials() -> Credentials {
    Credentials::new(
        BaseUrl::parse("https://alice.carto.com").unwrap(),
        "master-key",
    )
}

fn quick() -> WaitOptions {
    WaitOptions::new()
        .with_initial_interval(Duration::from_millis(1))
        .with_max_interval(Duration::from_millis(5))
}

/// A server that takes uploads and moves each import through `states` on each read.
struct Server {
    seen: Mutex<Vec<String>>,
    uploaded: Mutex<Vec<u8>>,
    reads: Mutex<usize>,
    states: Vec<serde_json::Value>,
}

impl Server {
    fn new(states: Vec<serde_json::Value>) -> Arc<Self> {
        Arc::new(Self {
            seen: Mutex::default(),
            uploaded: Mutex::default(),
            reads: Mutex::default(),
            states,
        })
    }

    fn answer(&self, method: &str, uri: &str, body: Vec<u8>) -> (u16, Vec<u8>) {
        self.seen.lock().unwrap().push(format!("{method} {uri}"));
        let path = uri.split('?').next().unwrap();
        match (method, path) {
            ("POST", "https://alice.carto.com/api/v1/imports") => {
                *self.uploaded.lock().unwrap() = body;
                (200, br#"{"item_queue_id":"imp-1","success":true}"#.to_vec())
            }
            ("GET", "https://alice.carto.com/api/v1/imports/imp-1") => {
                let mut reads = self.reads.lock().unwrap();
                let state = &self.states[(*reads).min(self.states.len() - 1)];
                *reads += 1;
                (200, state.to_string().into_bytes())
            }
            ("GET", "https://alice.carto.com/api/v1/imports") => {
                (200, br#"{"imports":["imp-1"],"success":true}"#.to_vec())
            }
            _ => (404, Vec::new()),
        }
    }
}

fn transport(server: &Arc<Server>) -> impl carto_transport::Transport {
    let server = server.clone();
    transport_fn(move |request| {
        let (parts, body) = request.into_parts();
        let (status, answer) = server.answer(parts.method.as_str(), &parts.uri.to_string(), body);
        Ok(json_response(status, &answer))
    })
}

fn states() -> Vec<serde_json::Value> {
    vec![
        json!({"id": "imp-1", "state": "uploading"}),
        json!({"id": "imp-1", "state": "importing"}),
        json!({"id": "imp-1", "state": "complete", "success": true, "table_name": "stations", "tables_created_count": 1}),
    ]
}

#[test]
fn a_file_is_streamed_with_its_name_and_followed_to_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stations.csv");
    std::fs::write(&path, "name,lat,lon\nSol,40.4,-3.7\n").unwrap();
    let server = Server::new(states());
    // The streaming transport reads the body as a reader.
    let streaming = {
        let server = server.clone();
        carto_transport::transport_fn(move |request| {
            let (parts, body) = request.into_parts();
            let (status, answer) =
                server.answer(parts.method.as_str(), &parts.uri.to_string(), body);
            Ok(json_response(status, &answer))
        })
    };
    let imports = ImportsClient::from_credentials(streaming, credentials());
    let options = ImportOptions::new()
        .privacy(Privacy::Link)
        .collision_strategy(CollisionStrategy::Overwrite);
    let queued = imports.import_file_with(&path, &options).unwrap();
    assert_eq!(queued.item_queue_id, "imp-1");
    assert_eq!(
        String::from_utf8(server.uploaded.lock().unwrap().clone()).unwrap(),
        "name,lat,lon\nSol,40.4,-3.7\n"
    );
    let done = imports.wait_with("imp-1", &quick()).unwrap();
    assert_eq!(done.state, ImportState::Complete);
    assert_eq!(done.table_name.as_deref(), Some("stations"));
    assert_eq!(imports.pending().unwrap(), ["imp-1"]);
    let seen = server.seen.lock().unwrap();
    assert_eq!(
        seen[0],
        "POST https://alice.carto.com/api/v1/imports?filename=stations.csv&privacy=link&collision_strategy=overwrite&client=carto-rs-0.1.0"
    );
}

#[test]
fn a_failed_import_is_a_job_failed_error_with_carto_code_and_title() {
    let failure = json!({"id": "imp-1", "state": "failure", "error_code": 1002, "success": false,
        "get_error_text": {"title": "Unsupported/Unrecognized file type", "what_about": "...", "source": "user"}});
    let server = Server::new(vec![json!({"id": "imp-1", "state": "pending"}), failure]);
    let imports = ImportsClient::from_credentials(transport(&server), credentials());
    let queued = imports
        .import_reader(
            "notes.xyz",
            std::io::Cursor::new(b"???".to_vec()),
            &ImportOptions::new(),
        )
        .unwrap();
    match imports.wait_with(&queued.item_queue_id, &quick()) {
        Err(Error::JobFailed(failure)) => {
            assert_eq!(failure.status(), "failure");
            assert_eq!(
                failure.reason(),
                Some("1002: Unsupported/Unrecognized file type")
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn url_imports_send_json_and_bad_input_never_leaves() {
    let seen: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let log = seen.clone();
    let transport = transport_fn(move |request| {
        log.lock()
            .unwrap()
            .push(serde_json::from_slice(request.body()).unwrap());
        Ok(json_response(
            200,
            br#"{"item_queue_id":"u1","success":true}"#,
        ))
    });
    let imports = ImportsClient::from_credentials(transport, credentials());
    let options = ImportOptions::new().type_guessing(false);
    imports
        .import_url_with("https://example.com/data.geojson", &options)
        .unwrap();
    assert_eq!(
        seen.lock().unwrap()[0],
        json!({"url": "https://example.com/data.geojson", "type_guessing": false})
    );
    for bad in ["file:///etc/passwd", "javascript:alert(1)", "", "http://"] {
        assert!(
            matches!(imports.import_url(bad), Err(Error::InvalidInput(_))),
            "{bad}"
        );
    }
    for bad in ["../x.csv", "dir/x.csv", ""] {
        let reader = std::io::Cursor::new(Vec::new());
        let result = imports.import_reader(bad, reader, &ImportOptions::new());
        assert!(matches!(result, Err(Error::InvalidInput(_))), "{bad}");
    }
    let missing = imports.import_file("/nonexistent/dir/x.csv").unwrap_err();
    assert!(matches!(missing, Error::InvalidInput(_)), "{missing:?}");
    assert!(
        imports
            .create_sync("https://example.com/x.csv", Duration::from_secs(60))
            .is_err()
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[test]
fn a_non_master_key_gets_carto_empty_401() {
    let transport = transport_fn(|_| Ok(json_response(401, b"")));
    let imports = ImportsClient::from_credentials(transport, credentials());
    let err = imports.import("imp-1").unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    assert!(!format!("{err:?} {imports:?}").contains("master-key"));
}

#[test]
fn sync_tables_are_created_read_listed_forced_and_deleted() {
    let sync = json!({"id": "s1", "name": null, "interval": 3600, "url": "https://example.com/x.csv",
        "state": "queued", "data_import": {"endpoint": "/api/v1/imports", "item_queue_id": "imp-9"}});
    let answer = sync.clone();
    let transport = transport_fn(move |request| {
        let path = request.uri().path().to_owned();
        let body = match (request.method().as_str(), path.as_str()) {
            ("POST", "/api/v1/synchronizations") => {
                let sent: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
                assert_eq!(sent["interval"], 3600);
                answer.to_string()
            }
            ("GET", "/api/v1/synchronizations") => {
                json!({"synchronizations": [answer], "total_entries": 1}).to_string()
            }
            ("PUT", "/api/v1/synchronizations/s1/sync_now") => {
                r#"{"enqueued":false,"synchronization_id":"s1"}"#.to_owned()
            }
            ("DELETE", _) => return Ok(json_response(204, b"")),
            _ => answer.to_string(),
        };
        Ok(json_response(200, body.as_bytes()))
    });
    let imports = ImportsClient::from_credentials(transport, credentials());
    let created = imports
        .create_sync("https://example.com/x.csv", Duration::from_secs(3600))
        .unwrap();
    assert_eq!(created.data_import.unwrap().item_queue_id, "imp-9");
    assert_eq!(imports.sync("s1").unwrap().state, "queued");
    assert_eq!(imports.syncs().unwrap().len(), 1);
    assert!(!imports.sync_now("s1").unwrap());
    imports.delete_sync("s1").unwrap();
}

#[test]
fn a_broken_upload_source_is_an_error_not_a_panic() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk gone"))
        }
    }
    // The closure transport reads the streamed body before it answers: the reader's
    // failure is the call's.
    let transport = transport_fn(|_| Ok(json_response(200, br#"{"item_queue_id":"x"}"#)));
    let imports = ImportsClient::from_credentials(transport, credentials());
    let err = imports
        .import_reader("x.csv", Broken, &ImportOptions::new())
        .unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

#[tokio::test]
async fn the_async_client_uploads_and_waits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stations.geojson");
    std::fs::write(&path, r#"{"type":"FeatureCollection","features":[]}"#).unwrap();
    let server = Server::new(states());
    let s = server.clone();
    let transport = async_transport_fn(move |request| {
        let (parts, body) = request.into_parts();
        let answer = s.answer(parts.method.as_str(), &parts.uri.to_string(), body);
        async move { Ok(json_response(answer.0, &answer.1)) }
    });
    let imports = AsyncImportsClient::from_credentials(transport, credentials());
    let queued = imports.import_file(&path).await.unwrap();
    let done = imports
        .wait_with(&queued.item_queue_id, &quick())
        .await
        .unwrap();
    assert_eq!(done.table_name.as_deref(), Some("stations"));
    assert!(server.uploaded.lock().unwrap().starts_with(b"{\"type\""));
}
