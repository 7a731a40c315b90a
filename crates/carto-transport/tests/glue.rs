//! `send` / `send_async` with closure transports, the blanket impls and the default
//! streaming methods.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use carto_core::{
    BaseUrl, Credentials, Endpoint, Error, HttpRequest, HttpResponse, RequestContext,
};
use carto_transport::{
    AsyncBody, AsyncTransport, Body, ClientCore, ResponseReader, Transport, TransportError,
    TransportErrorKind, async_transport_fn, send, send_async, transport_fn,
};
use futures_util::StreamExt;
use http::{Method, StatusCode};

/// `GET /api/v1/echo/{word}`, answered with the word upper-cased.
struct Shout(&'static str);

impl Endpoint for Shout {
    type Output = String;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &["api", "v1", "echo", self.0])
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<String, Error> {
        carto_core::endpoint::check_status(&response)?;
        Ok(String::from_utf8(response.into_body()).unwrap())
    }
}

fn ctx() -> RequestContext {
    let base = BaseUrl::parse("https://carto.example.com/user/alice").unwrap();
    RequestContext::new(Credentials::new(base, "secret"))
}

/// Answers `/…/echo/{word}` with the word upper-cased, `/…/echo/missing` with a 404.
fn answer(request: HttpRequest) -> Result<HttpResponse, TransportError> {
    let word = request.uri().path().rsplit('/').next().unwrap().to_owned();
    assert!(request.headers().contains_key(http::header::AUTHORIZATION));
    if word == "missing" {
        return Ok(http::Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(br#"{"errors":"not found: missing"}"#.to_vec())
            .unwrap());
    }
    if word == "down" {
        return Err(TransportError::from_kind(TransportErrorKind::Connect));
    }
    Ok(http::Response::new(word.to_uppercase().into_bytes()))
}

#[test]
fn send_builds_sends_and_parses() {
    let calls = AtomicUsize::new(0);
    let transport = transport_fn(|request| {
        calls.fetch_add(1, Ordering::SeqCst);
        answer(request)
    });
    let ctx = ctx();
    assert_eq!(send(&transport, &ctx, &Shout("hello")).unwrap(), "HELLO");
    let err = send(&transport, &ctx, &Shout("missing")).unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.api_error().unwrap().message(), "not found: missing");
    let err = send(&transport, &ctx, &Shout("down")).unwrap_err();
    assert_eq!(err.transport_kind(), Some(TransportErrorKind::Connect));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[test]
fn send_async_builds_sends_and_parses() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let transport = async_transport_fn(move |request: HttpRequest| {
        log.lock().unwrap().push(request.uri().path().to_owned());
        async move { answer(request) }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ctx = ctx();
    rt.block_on(async {
        assert_eq!(
            send_async(&transport, &ctx, &Shout("hi")).await.unwrap(),
            "HI"
        );
        let err = send_async(&transport, &ctx, &Shout("missing"))
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
        let err = send_async(&transport, &ctx, &Shout("down"))
            .await
            .unwrap_err();
        assert_eq!(err.transport_kind(), Some(TransportErrorKind::Connect));
    });
    assert_eq!(
        *seen.lock().unwrap(),
        [
            "/user/alice/api/v1/echo/hi",
            "/user/alice/api/v1/echo/missing",
            "/user/alice/api/v1/echo/down"
        ]
    );
}

#[test]
fn client_core_sends_both_ways_and_hides_the_token() {
    let core = ClientCore::new(transport_fn(answer), ctx());
    assert_eq!(core.send(&Shout("hi")).unwrap(), "HI");
    assert_eq!(core.context().credentials().username(), "alice");
    let shown = format!("{core:?}");
    assert!(
        shown.starts_with("ClientCore") && !shown.contains("secret"),
        "{shown}"
    );

    // Other credentials, the same transport: the new token is the one sent.
    let sent = Arc::new(Mutex::new(Vec::new()));
    let log = sent.clone();
    let transport = Arc::new(transport_fn(move |request: HttpRequest| {
        log.lock()
            .unwrap()
            .push(request.headers()[http::header::AUTHORIZATION].clone());
        answer(request)
    }));
    let core = ClientCore::new(transport.clone(), ctx());
    let other = core.with_credentials(core.context().credentials().with_token("other"));
    core.send(&Shout("a")).unwrap();
    other.send(&Shout("b")).unwrap();
    let sent = sent.lock().unwrap();
    assert_ne!(sent[0], sent[1]);
    let (shared, context) = other.into_parts();
    assert!(Arc::ptr_eq(&shared, &transport));
    assert_eq!(context.credentials().token().expose_secret(), "other");

    let core = ClientCore::from_credentials(
        async_transport_fn(|request: HttpRequest| async move { answer(request) }),
        ctx().credentials().clone(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let err = rt.block_on(core.send_async(&Shout("missing"))).unwrap_err();
    assert_eq!(err.status(), Some(StatusCode::NOT_FOUND));
}

#[test]
fn blanket_impls_forward() {
    let t = transport_fn(answer);
    let ctx = ctx();
    assert_eq!(send(&&t, &ctx, &Shout("a")).unwrap(), "A");
    let boxed: Box<dyn Transport> = Box::new(transport_fn(answer));
    assert_eq!(send(&boxed, &ctx, &Shout("b")).unwrap(), "B");
    assert_eq!(send(boxed.as_ref(), &ctx, &Shout("c")).unwrap(), "C");
    let shared: Arc<dyn Transport> = Arc::new(transport_fn(answer));
    assert_eq!(send(&shared, &ctx, &Shout("d")).unwrap(), "D");

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let a = async_transport_fn(|r| async move { answer(r) });
    let boxed: Box<dyn AsyncTransport> = Box::new(async_transport_fn(|r| async move { answer(r) }));
    let shared: Arc<dyn AsyncTransport> =
        Arc::new(async_transport_fn(|r| async move { answer(r) }));
    rt.block_on(async {
        assert_eq!(send_async(&&a, &ctx, &Shout("e")).await.unwrap(), "E");
        assert_eq!(send_async(&boxed, &ctx, &Shout("f")).await.unwrap(), "F");
        assert_eq!(send_async(&shared, &ctx, &Shout("g")).await.unwrap(), "G");
    });
}

/// Echoes the request body back with the method in a header.
fn echo(request: HttpRequest) -> Result<HttpResponse, TransportError> {
    let method = request.method().to_string();
    Ok(http::Response::builder()
        .header("x-method", method)
        .body(request.into_body())
        .unwrap())
}

#[test]
fn default_streaming_buffers_for_sync_transports() {
    let t = transport_fn(echo);
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 7) as u8).collect();
    let request = http::Request::post("https://h.example.com/x")
        .body(Body::from_reader(std::io::Cursor::new(data.clone())))
        .unwrap();
    let response = t.send_streaming(request).unwrap();
    assert_eq!(response.headers()["x-method"], "POST");
    let mut body = Vec::new();
    response.into_body().read_to_end(&mut body).unwrap();
    assert_eq!(body, data);
    // A body reader that fails becomes an Io transport error.
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
    }
    let request = http::Request::put("https://h.example.com/x")
        .body(Body::from_reader(Failing))
        .unwrap();
    let err = t.send_streaming(request).unwrap_err();
    assert_eq!(err.kind(), TransportErrorKind::Io);
    assert_eq!(
        ResponseReader::from_bytes(b"abc".to_vec())
            .into_bytes()
            .unwrap(),
        b"abc"
    );
}

#[test]
fn default_streaming_buffers_for_async_transports() {
    let t = async_transport_fn(|r| async move { echo(r) });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        let chunks = vec![
            Ok(bytes::Bytes::from_static(b"ab")),
            Ok(bytes::Bytes::from_static(b"cd")),
        ];
        let request = http::Request::patch("https://h.example.com/x")
            .body(AsyncBody::from_stream(futures_util::stream::iter(chunks)))
            .unwrap();
        let response = t.send_streaming(request).await.unwrap();
        assert_eq!(response.headers()["x-method"], "PATCH");
        let mut stream = response.into_body();
        assert_eq!(stream.next().await.unwrap().unwrap(), "abcd");
        assert!(stream.next().await.is_none());

        let chunks = vec![
            Ok(bytes::Bytes::from_static(b"ab")),
            Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "slow")),
        ];
        let request = http::Request::post("https://h.example.com/x")
            .body(AsyncBody::from_stream(futures_util::stream::iter(chunks)))
            .unwrap();
        let err = t.send_streaming(request).await.unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Timeout);

        let request = http::Request::post("https://h.example.com/x")
            .body(AsyncBody::from(b"buffered".to_vec()))
            .unwrap();
        let body = t.send_streaming(request).await.unwrap().into_body();
        assert_eq!(body.into_bytes().await.unwrap(), b"buffered");
    });
}

#[test]
fn bodies_know_whether_they_can_be_sent_again() {
    assert!(Body::from(b"x".to_vec()).is_buffered());
    assert!(!Body::from_reader(std::io::empty()).is_buffered());
    assert!(AsyncBody::empty().is_buffered());
    assert!(!AsyncBody::from_stream(futures_util::stream::empty()).is_buffered());
    assert_eq!(
        format!("{:?}", Body::from(vec![1, 2, 3])),
        "Body::Bytes(3 bytes)"
    );
}
