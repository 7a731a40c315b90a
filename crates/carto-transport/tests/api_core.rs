//! `ApiCore`: the Bearer token on every CARTO 3 request, the M2M token fetched once and
//! shared, refreshed before it expires, and one resend after a 401.

use std::sync::Mutex;
use std::time::Duration;

use carto_core::carto3::{
    AccessToken, ApiBaseUrl, ApiContext, ApiCredentials, ApiEndpoint, AuthUrl, ClientCredentials,
    TokenCache,
};
use carto_core::{Error, HttpRequest, HttpResponse};
use carto_transport::{ApiCore, TransportError, async_transport_fn, transport_fn};
use http::{Method, StatusCode, header};

/// `GET /v3/ping`, answered with the status.
struct Ping;

impl ApiEndpoint for Ping {
    type Output = u16;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &["v3", "ping"]).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<u16, Error> {
        carto_core::endpoint::check_status(&response)?;
        Ok(response.status().as_u16())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

fn base() -> ApiBaseUrl {
    ApiBaseUrl::parse("http://127.0.0.1:9/api").unwrap()
}

fn m2m() -> ApiCredentials {
    let auth = AuthUrl::parse("http://127.0.0.1:9").unwrap();
    let client = ClientCredentials::new("id", "s3cr3t")
        .unwrap()
        .with_auth_url(auth);
    ApiCredentials::new(base(), client)
}

fn status(code: u16, body: &str) -> HttpResponse {
    http::Response::builder()
        .status(code)
        .body(body.as_bytes().to_vec())
        .unwrap()
}

/// A server issuing `tok-1`, `tok-2`, ... (each valid `lifetime` seconds) and answering
/// `/v3/ping` with 200 for the tokens in `accepted`, 401 for others. Records the requests
/// as `METHOD path [bearer]`.
struct Server {
    issued: Mutex<u32>,
    accepted: Mutex<Vec<String>>,
    seen: Mutex<Vec<String>>,
    lifetime: u64,
}

impl Server {
    fn new(lifetime: u64, accepted: &[&str]) -> Self {
        Self {
            issued: Mutex::new(0),
            accepted: Mutex::new(accepted.iter().map(|s| s.to_string()).collect()),
            seen: Mutex::new(Vec::new()),
            lifetime,
        }
    }

    fn answer(&self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        let path = request.uri().path().to_owned();
        if path == "/oauth/token" {
            let body = String::from_utf8(request.body().clone()).unwrap();
            assert!(body.contains("grant_type=client_credentials"), "{body}");
            assert!(body.contains("client_secret=s3cr3t"));
            let mut issued = self.issued.lock().unwrap();
            *issued += 1;
            self.seen.lock().unwrap().push(format!("POST {path}"));
            let token = format!("tok-{issued}");
            return Ok(status(
                200,
                &format!(
                    r#"{{"access_token":"{token}","expires_in":{},"token_type":"Bearer"}}"#,
                    self.lifetime
                ),
            ));
        }
        let bearer = request.headers()[header::AUTHORIZATION].to_str().unwrap();
        let token = bearer.strip_prefix("Bearer ").unwrap().to_owned();
        self.seen
            .lock()
            .unwrap()
            .push(format!("GET {path} {token}"));
        if self.accepted.lock().unwrap().contains(&token) {
            Ok(status(200, "{}"))
        } else {
            Ok(status(401, r#"{"error":"Unauthorized"}"#))
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

#[test]
fn an_m2m_token_is_fetched_once_and_shared_by_clones() {
    let server = Server::new(3600, &["tok-1"]);
    let core = ApiCore::new(transport_fn(|r| server.answer(&r)), m2m());
    assert_eq!(core.send(&Ping).unwrap(), 200);
    let clone = core.clone();
    assert_eq!(clone.send(&Ping).unwrap(), 200);
    assert_eq!(
        server.seen(),
        [
            "POST /oauth/token",
            "GET /api/v3/ping tok-1",
            "GET /api/v3/ping tok-1"
        ]
    );
}

#[test]
fn a_401_on_a_fetched_token_fetches_a_new_one_and_resends_once() {
    let server = Server::new(3600, &["tok-2"]);
    let core = ApiCore::new(transport_fn(|r| server.answer(&r)), m2m());
    assert_eq!(core.send(&Ping).unwrap(), 200);
    assert_eq!(
        server.seen(),
        [
            "POST /oauth/token",
            "GET /api/v3/ping tok-1",
            "POST /oauth/token",
            "GET /api/v3/ping tok-2"
        ]
    );
}

#[test]
fn refused_credentials_do_not_loop() {
    let server = Server::new(3600, &[]);
    let core = ApiCore::new(transport_fn(|r| server.answer(&r)), m2m());
    let err = core.send(&Ping).unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    assert_eq!(server.seen().len(), 4, "{:?}", server.seen());
}

#[test]
fn a_fixed_token_is_never_resent_for_a_401() {
    let server = Server::new(3600, &[]);
    let credentials = ApiCredentials::with_token(base(), "fixed").unwrap();
    let core = ApiCore::new(transport_fn(|r| server.answer(&r)), credentials);
    assert_eq!(
        core.send(&Ping).unwrap_err().status(),
        Some(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(server.seen(), ["GET /api/v3/ping fixed"]);
}

#[test]
fn a_short_lived_token_is_replaced_before_it_expires() {
    // A 2-second token is due for refresh after 1 s (half its life).
    let server = Server::new(2, &["tok-1", "tok-2"]);
    let core = ApiCore::new(transport_fn(|r| server.answer(&r)), m2m());
    core.send(&Ping).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    core.send(&Ping).unwrap();
    assert_eq!(
        server.seen(),
        [
            "POST /oauth/token",
            "GET /api/v3/ping tok-1",
            "POST /oauth/token",
            "GET /api/v3/ping tok-2"
        ]
    );
}

#[test]
fn an_oauth_error_is_the_answer_and_never_shows_the_secret() {
    let transport = transport_fn(|_| {
        Ok(status(
            401,
            r#"{"error":"access_denied","error_description":"Unauthorized"}"#,
        ))
    });
    let core = ApiCore::new(transport, m2m());
    let err = core.send(&Ping).unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::UNAUTHORIZED));
    let shown = format!("{err} {err:?} {core:?}");
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

#[test]
fn a_seeded_cache_sends_its_token_without_fetching() {
    let server = Server::new(3600, &["cached"]);
    let credentials = m2m();
    let mut cache = TokenCache::new(credentials.token_source().clone());
    let in_an_hour = std::time::SystemTime::now() + Duration::from_secs(3600);
    cache.seed(AccessToken::new("cached"), in_an_hour);
    let ctx = ApiContext::new(base());
    let core = ApiCore::with_cache(transport_fn(|r| server.answer(&r)), ctx, cache);
    core.send(&Ping).unwrap();
    assert_eq!(server.seen(), ["GET /api/v3/ping cached"]);
}

#[tokio::test]
async fn the_async_core_fetches_refreshes_and_resends_the_same_way() {
    let server = std::sync::Arc::new(Server::new(3600, &["tok-2"]));
    let s = server.clone();
    let transport = async_transport_fn(move |r| {
        let answer = s.answer(&r);
        async move { answer }
    });
    let core = ApiCore::new(transport, m2m());
    assert_eq!(core.send_async(&Ping).await.unwrap(), 200);
    assert_eq!(core.send_async(&Ping).await.unwrap(), 200);
    assert_eq!(
        server.seen(),
        [
            "POST /oauth/token",
            "GET /api/v3/ping tok-1",
            "POST /oauth/token",
            "GET /api/v3/ping tok-2",
            "GET /api/v3/ping tok-2"
        ]
    );
}
