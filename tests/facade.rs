//! The facade clients over closure transports: /me, the DO token, gcloud credentials,
//! options, credentials sources.

use std::sync::{Arc, Mutex};

use carto::{
    AuthPlacement, BaseUrl, Client, ClientOptions, Credentials, Endpoint, GetDoToken, GetMe,
    RequestContext, blocking,
};
use carto_core::{HttpRequest, HttpResponse};
use carto_transport::{TransportError, async_transport_fn, transport_fn};

const FAKE_TOKEN: &str = "fake-token-0123";

fn data(name: &str) -> Vec<u8> {
    carto_test_support::fixture(name).to_vec()
}

fn creds() -> Credentials {
    Credentials::new(
        BaseUrl::parse("https://carto.example.com/user/alice").unwrap(),
        FAKE_TOKEN,
    )
}

fn json(status: u16, body: Vec<u8>) -> HttpResponse {
    http::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body)
        .unwrap()
}

const FULL_DO_TOKEN: &str = r#"{"access_token":"ya29.secret","bq_public_project":"carto-do-public-data","gcp_execution_project":"carto-do-customers","bq_project":"carto-do-customers","bq_dataset":"alice","gcs_bucket":"do-bucket","instant_licensing":false}"#;

/// Answers /me, the DO token and the SQL API from fixtures; records request lines.
fn server(
    log: Arc<Mutex<Vec<String>>>,
    full_do: bool,
) -> impl Fn(HttpRequest) -> Result<HttpResponse, TransportError> + Clone {
    move |req: HttpRequest| {
        log.lock()
            .unwrap()
            .push(format!("{} {}", req.method(), req.uri()));
        Ok(match req.uri().path() {
            "/user/alice/api/v3/me" => json(200, data("me/me.json")),
            "/user/alice/api/v4/do/token" if full_do => json(200, FULL_DO_TOKEN.as_bytes().to_vec()),
            "/user/alice/api/v4/do/token" => json(200, data("do/token-spec-stub.json")),
            "/user/alice/api/v2/sql" => json(200, br#"{"rows":[{"n":1}],"time":0.001,"fields":{"n":{"type":"number","pgtype":"int4"}},"total_rows":1}"#.to_vec()),
            "/user/alice/api/v3/api_keys" => json(200, br#"{"total":0,"count":0,"result":[],"_links":{}}"#.to_vec()),
            _ => json(404, br#"{"errors":"not here","errors_cause":null}"#.to_vec()),
        })
    }
}

fn render(req: &HttpRequest) -> String {
    let mut headers: Vec<String> = req
        .headers()
        .iter()
        .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
        .collect();
    headers.sort();
    format!("{} {}\n{}", req.method(), req.uri(), headers.join("\n"))
}

#[test]
fn me_and_do_token_requests() {
    let ctx = RequestContext::new(creds());
    insta::assert_snapshot!("me_basic", render(&GetMe.to_request(&ctx).unwrap()));
    // CARTO reads the DO token endpoint's key from `api_key` only.
    insta::assert_snapshot!(
        "do_token_query",
        render(&GetDoToken.to_request(&ctx).unwrap())
    );
}

#[test]
fn blocking_client_account_calls() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let client =
        blocking::Client::with_transport(creds(), transport_fn(server(log.clone(), false)));
    let me = client.me().unwrap();
    assert_eq!(me.config.user_name, "user");
    assert_eq!(me.user_data.id, "user1");
    let token = client.do_token().unwrap();
    assert_eq!(token.access_token, "tokenuco");
    let err = client.gcloud_credentials().unwrap_err();
    assert!(err.to_string().contains("bq_project"), "{err}");
    let full = blocking::Client::with_transport(creds(), transport_fn(server(log.clone(), true)));
    let gcloud = full.gcloud_credentials().unwrap();
    assert_eq!(gcloud.project, "carto-do-customers");
    assert_eq!(gcloud.access_token.expose_secret(), "ya29.secret");
    assert!(!format!("{gcloud:?}").contains("ya29"));
    assert_eq!(
        full.sql()
            .query::<serde_json::Value>("select 1")
            .unwrap()
            .rows[0]["n"],
        1
    );
    assert_eq!(full.api_keys().list().count(), 0);
    let other = full.with_token("another-token");
    assert_eq!(other.credentials().token().expose_secret(), "another-token");
    assert_eq!(
        other.credentials().base_url(),
        full.credentials().base_url()
    );
    assert_eq!(log.lock().unwrap().len(), 6);
}

#[tokio::test]
async fn async_client_account_calls() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let f = server(log.clone(), true);
    let client = Client::with_transport(
        creds(),
        async_transport_fn(move |req| {
            let f = f.clone();
            async move { f(req) }
        }),
    );
    assert_eq!(client.me().await.unwrap().user_data.username, "username");
    assert_eq!(
        client.do_token().await.unwrap().bq_dataset.as_deref(),
        Some("alice")
    );
    assert_eq!(
        client.gcloud_credentials().await.unwrap().project,
        "carto-do-customers"
    );
    assert_eq!(
        client
            .sql()
            .query::<serde_json::Value>("select 1")
            .await
            .unwrap()
            .total_rows,
        1
    );
    let cloned = client.clone();
    assert_eq!(cloned.credentials(), client.credentials());
}

#[test]
fn do_token_central_error() {
    let client = blocking::Client::with_transport(
        creds(),
        transport_fn(|_| Ok(json(500, data("do/error-500-central.json")))),
    );
    let err = client.do_token().unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500));
    assert_eq!(err.api_error().unwrap().message(), "boom");
}

#[test]
fn options_reach_the_wire() {
    let seen = Arc::new(Mutex::new(None::<HttpRequest>));
    let s = seen.clone();
    let client = blocking::Client::with_transport_and_options(
        creds(),
        transport_fn(move |req: HttpRequest| {
            *s.lock().unwrap() = Some(req);
            Ok(json(200, data("me/me.json")))
        }),
        &ClientOptions::new()
            .auth_placement(AuthPlacement::QueryParam)
            .user_agent("my-app/2.0")
            .client_id(None),
    );
    client.me().unwrap();
    let req = seen.lock().unwrap().take().unwrap();
    assert_eq!(req.uri().query(), Some("api_key=fake-token-0123"));
    assert_eq!(req.headers()["user-agent"], "my-app/2.0");
    assert!(req.headers().get("authorization").is_none());
}

#[test]
fn clients_from_the_process_default_and_the_environment() {
    let c = Credentials::from_base_url("https://bob.carto.com", "bob-token").unwrap();
    Credentials::set_default(c.clone());
    assert_eq!(carto::default_credentials().unwrap(), c);
    let client = blocking::Client::from_default().unwrap();
    assert_eq!(client.credentials(), &c);
    let client = Client::from_default().unwrap();
    assert_eq!(client.credentials().username(), "bob");
    Credentials::unset_default();
    let dbg = format!("{client:?}");
    assert!(dbg.contains("bob") && !dbg.contains("bob-token"), "{dbg}");
}
