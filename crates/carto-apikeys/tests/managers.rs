//! The sync and async managers over closure transports fed with the upstream fixtures.

use std::sync::{Arc, Mutex};

use carto_apikeys::{ApiKeyManager, AsyncApiKeyManager, ListOptions};
use carto_core::models::{ApiKey, ApiKeyPage, NewApiKey, TablePermission};
use carto_core::{BaseUrl, Credentials, HttpRequest, HttpResponse};
use carto_transport::{TransportError, TransportErrorKind, async_transport_fn, transport_fn};
use futures_util::StreamExt;

const CANARY: &str = "canary-5c1e7d0e-token";

fn data(name: &str) -> Vec<u8> {
    carto_test_support::fixture(&format!("auth-api/{name}")).to_vec()
}

fn creds() -> Credentials {
    Credentials::new(BaseUrl::parse("https://alice.carto.com").unwrap(), CANARY)
}

fn json(status: u16, body: Vec<u8>) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

fn key(name: &str) -> ApiKey {
    let mut k: ApiKey = serde_json::from_slice(&data("api-key-regular.json")).unwrap();
    k.name = name.into();
    k
}

/// A fake Auth API with 5 regular keys served 2 per page; it records every request.
fn fake(
    log: Arc<Mutex<Vec<String>>>,
) -> impl Fn(HttpRequest) -> Result<HttpResponse, TransportError> + Clone {
    move |req: HttpRequest| {
        log.lock()
            .unwrap()
            .push(format!("{} {}", req.method(), req.uri().path()));
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or("").to_owned();
        let resp = match (req.method().as_str(), path.as_str()) {
            ("GET", "/api/v3/api_keys") => {
                let page: usize = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("page="))
                    .map_or(1, |p| p.parse().unwrap());
                let names = ["k1", "k2", "k3", "k4", "k5"];
                let result: Vec<ApiKey> = names
                    .iter()
                    .skip((page - 1) * 2)
                    .take(2)
                    .map(|n| key(n))
                    .collect();
                let mut page_json = serde_json::to_value(ApiKeyPage {
                    total: 5,
                    count: result.len() as u64,
                    result,
                    links: Default::default(),
                })
                .unwrap();
                if page < 3 {
                    page_json["_links"]["next"] = serde_json::json!({"href": "https://x/next"});
                }
                json(200, serde_json::to_vec(&page_json).unwrap())
            }
            ("POST", "/api/v3/api_keys") => json(201, data("api-key-regular.json")),
            ("GET", "/api/v3/api_keys/MyTableApi") => json(200, data("api-key-regular.json")),
            ("POST", "/api/v3/api_keys/MyTableApi/token/regenerate") => {
                json(200, data("api-key-regular.json"))
            }
            ("DELETE", "/api/v3/api_keys/MyTableApi") => json(204, Vec::new()),
            ("GET", _) => json(404, data("error-404-not-found.json")),
            _ => return Err(TransportError::from_kind(TransportErrorKind::Connect)),
        };
        Ok(resp)
    }
}

fn new_key() -> NewApiKey {
    NewApiKey::builder("MyTableApi")
        .table("public", "my_table", [TablePermission::Select])
        .build()
        .unwrap()
}

#[test]
fn sync_manager_every_operation() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let keys = ApiKeyManager::from_credentials(transport_fn(fake(log.clone())), creds());
    assert_eq!(keys.create(new_key()).unwrap().name, "MyTableApi");
    assert_eq!(keys.get("MyTableApi").unwrap().name, "MyTableApi");
    assert!(keys.get("nope").unwrap_err().is_not_found());
    let names: Vec<String> = keys
        .list_with(&ListOptions::regular().per_page(2))
        .map(|k| k.unwrap().name)
        .collect();
    assert_eq!(names, ["k1", "k2", "k3", "k4", "k5"]);
    let page = keys
        .list_page_with(2, &ListOptions::new().per_page(2))
        .unwrap();
    assert_eq!(page.result.len(), 2);
    assert_eq!(
        keys.regenerate("MyTableApi").unwrap().key_type.as_str(),
        "regular"
    );
    keys.delete("MyTableApi").unwrap();
    assert!(keys.is_valid("moLv8B-kotcjUL-uxMhbGg").unwrap());
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log.iter().filter(|l| *l == "GET /api/v3/api_keys").count(),
        3 + 1 + 1,
        "{log:?}"
    );
    let dbg = format!("{keys:?}");
    assert!(!dbg.contains(CANARY), "{dbg}");
    assert!(dbg.contains("alice"));
}

#[test]
fn list_stops_after_a_transport_error() {
    let keys = ApiKeyManager::from_credentials(
        transport_fn(|_| Err(TransportError::from_kind(TransportErrorKind::Timeout))),
        creds(),
    );
    let items: Vec<_> = keys.list().collect();
    assert_eq!(items.len(), 1);
    let err = items.into_iter().next().unwrap().unwrap_err();
    assert!(err.is_timeout());
    assert!(!format!("{err} {err:?}").contains(CANARY));
}

#[tokio::test]
async fn async_manager_every_operation() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let f = Arc::new(fake(log.clone()));
    let keys = AsyncApiKeyManager::from_credentials(
        async_transport_fn(move |req| {
            let f = f.clone();
            async move { f(req) }
        }),
        creds(),
    );
    assert_eq!(keys.create(new_key()).await.unwrap().name, "MyTableApi");
    assert_eq!(keys.get("MyTableApi").await.unwrap().name, "MyTableApi");
    assert!(keys.get("nope").await.unwrap_err().is_not_found());
    let names: Vec<String> = keys
        .list_with(&ListOptions::regular().per_page(2))
        .map(|k| k.unwrap().name)
        .collect()
        .await;
    assert_eq!(names, ["k1", "k2", "k3", "k4", "k5"]);
    assert_eq!(
        keys.list_page_with(3, &ListOptions::new().per_page(2))
            .await
            .unwrap()
            .result
            .len(),
        1
    );
    keys.regenerate("MyTableApi").await.unwrap();
    keys.delete("MyTableApi").await.unwrap();
    let err = keys
        .list()
        .filter_map(|r| async move { r.err() })
        .collect::<Vec<_>>()
        .await;
    assert!(err.is_empty());
    assert!(!format!("{keys:?}").contains(CANARY));
}

#[test]
fn is_valid_uses_the_candidate_token() {
    let keys = ApiKeyManager::from_credentials(
        transport_fn(|req: HttpRequest| {
            let auth = req.headers()["authorization"].to_str().unwrap().to_owned();
            // base64("alice:moLv8B-kotcjUL-uxMhbGg")
            let status = if auth == "Basic YWxpY2U6bW9MdjhCLWtvdGNqVUwtdXhNaGJHZw==" {
                200
            } else {
                401
            };
            let body = if status == 200 {
                br#"{"total":1,"count":1,"result":[{"token":"moLv8B-kotcjUL-uxMhbGg"}]}"#.to_vec()
            } else {
                Vec::new()
            };
            Ok(json(status, body))
        }),
        creds(),
    );
    assert!(keys.is_valid("moLv8B-kotcjUL-uxMhbGg").unwrap());
    assert!(!keys.is_valid("wrong").unwrap());
}
