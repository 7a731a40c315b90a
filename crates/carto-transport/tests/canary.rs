//! A token in a URL never shows up in an error or a trace.

use crate::common;

use std::error::Error as _;
use std::io::Write;
use std::sync::{Arc, Mutex};

use carto_core::{
    AuthPlacement, BaseUrl, Credentials, Endpoint, Error, HttpRequest, HttpResponse, RequestContext,
};
use carto_transport::{
    AsyncTransport, ReqwestTransport, Transport, TransportError, TransportErrorKind, UreqTransport,
    send, send_async,
};

const CANARY: &str = "CANARY7f3a9c1e";

/// Display and Debug of the error, of each source, and of the converted error.
fn assert_clean(err: TransportError) {
    assert_eq!(err.kind(), TransportErrorKind::Connect, "{err:?}");
    let mut texts = vec![err.to_string(), format!("{err:?}")];
    let mut source = err.source();
    while let Some(s) = source {
        texts.push(s.to_string());
        texts.push(format!("{s:?}"));
        source = s.source();
    }
    let core: Error = err.into();
    texts.push(core.to_string());
    texts.push(format!("{core:?}"));
    for text in texts {
        assert!(!text.contains(CANARY), "leaked: {text}");
        assert!(!text.contains("api_key"), "leaked: {text}");
    }
}

fn canary_request(base: &str) -> http::Request<Vec<u8>> {
    http::Request::get(format!("{base}/api/v2/sql?q=select+1&api_key={CANARY}"))
        .body(Vec::new())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transport_errors_do_not_leak_the_query() {
    let base = common::refused_url().await;
    let ureq_t = UreqTransport::new();
    let req = canary_request(&base);
    let err = tokio::task::spawn_blocking(move || ureq_t.send(req))
        .await
        .unwrap()
        .unwrap_err();
    assert_clean(err);
    let err = ReqwestTransport::new()
        .send(canary_request(&base))
        .await
        .unwrap_err();
    assert_clean(err);
}

/// Collects what the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Ping;

impl Endpoint for Ping {
    type Output = ();

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(http::Method::GET, &["api", "v2", "sql"])
            .query("q", "select 1")
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<(), Error> {
        carto_core::endpoint::check_status(&response)
    }
}

#[test]
fn traces_and_glue_errors_do_not_leak_the_token() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base = rt.block_on(common::refused_url());
    let creds = Credentials::new(
        BaseUrl::parse_allow_http(&format!("{base}/user/alice")).unwrap(),
        CANARY,
    );
    let ctx = RequestContext::new(creds).with_auth_placement(AuthPlacement::QueryParam);

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let err = send(&UreqTransport::new(), &ctx, &Ping).unwrap_err();
        assert_eq!(err.transport_kind(), Some(TransportErrorKind::Connect));
        assert!(!format!("{err} {err:?}").contains(CANARY));
        let transport = ReqwestTransport::new();
        let err = rt
            .block_on(send_async(&transport, &ctx, &Ping))
            .unwrap_err();
        assert_eq!(err.transport_kind(), Some(TransportErrorKind::Connect));
        assert!(!format!("{err} {err:?}").contains(CANARY));
    });
    let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logged.contains("/user/alice/api/v2/sql"), "{logged}");
    assert!(logged.contains("method=GET"), "{logged}");
    assert!(!logged.contains(CANARY), "{logged}");
    assert!(!logged.contains("api_key"), "{logged}");
    // The transport was really reached twice.
    assert_eq!(logged.matches("HTTP request failed").count(), 2, "{logged}");
}
