//! Local servers for the transport tests: a plain HTTP test app, a TLS one with a
//! freshly generated CA, a server that never answers, and a closed port.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};

/// FNV-1a 64 of `data`, fed in pieces.
#[derive(Clone, Copy)]
pub struct Fnv(pub u64);

impl Fnv {
    pub fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    pub fn update(&mut self, data: &[u8]) {
        for b in data {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Byte `i` of the test pattern.
pub fn pattern_byte(i: usize) -> u8 {
    (i % 251) as u8
}

/// `n` bytes of the test pattern.
pub fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(pattern_byte).collect()
}

/// `"{len} {fnv}"` of `data`, as `/digest` answers.
pub fn digest_of(data: &[u8]) -> String {
    let mut h = Fnv::new();
    h.update(data);
    format!("{} {:016x}", data.len(), h.0)
}

async fn echo(method: Method, headers: HeaderMap, body: Body) -> Response {
    let data = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let seen: Vec<&str> = headers
        .get_all("x-req")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let mut response = Response::new(Body::from(data));
    let h = response.headers_mut();
    h.insert("x-method", HeaderValue::from_str(method.as_str()).unwrap());
    h.insert("x-seen", HeaderValue::from_str(&seen.join(",")).unwrap());
    h.append("x-multi", HeaderValue::from_static("one"));
    h.append("x-multi", HeaderValue::from_static("two"));
    response
}

/// Answers `"{len} {fnv}"` of the request body, and in `x-framing` whether it came
/// `chunked` or with a `length`.
async fn digest(request: Request) -> Response {
    let framing = if request.headers().contains_key("transfer-encoding") {
        "chunked"
    } else {
        "length"
    };
    let mut stream = request.into_body().into_data_stream();
    let mut h = Fnv::new();
    let mut len = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.unwrap();
        len += chunk.len();
        h.update(&chunk);
    }
    ([("x-framing", framing)], format!("{len} {:016x}", h.0)).into_response()
}

async fn status(Path(code): Path<u16>) -> Response {
    let status = StatusCode::from_u16(code).unwrap();
    let body = format!(r#"{{"error":["boom {code}"]}}"#);
    (status, [("x-error", "yes")], body).into_response()
}

async fn big(Path(n): Path<usize>) -> Vec<u8> {
    pattern(n)
}

async fn stream(Path(n): Path<usize>) -> Response {
    const CHUNK: usize = 64 * 1024;
    let chunks = (0..n).step_by(CHUNK).map(move |start| {
        let end = (start + CHUNK).min(n);
        Ok::<_, std::io::Error>(Bytes::from(
            (start..end).map(pattern_byte).collect::<Vec<_>>(),
        ))
    });
    Response::new(Body::from_stream(futures_util::stream::iter(chunks)))
}

async fn redirect() -> Response {
    (StatusCode::FOUND, [("location", "/echo")], "").into_response()
}

/// The test app.
pub fn app() -> Router {
    Router::new()
        .route("/echo", any(echo))
        .route("/digest", any(digest))
        .route("/status/{code}", any(status))
        .route("/big/{n}", any(big))
        .route("/stream/{n}", any(stream))
        .route("/redirect", any(redirect))
}

/// Serves the test app over plain HTTP; returns `http://127.0.0.1:port`.
pub async fn serve_http() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app()).await.unwrap() });
    format!("http://{addr}")
}

/// A port nobody listens on: `http://127.0.0.1:port`.
pub async fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// A server that accepts connections and never answers: `http://127.0.0.1:port`.
pub async fn silent_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held: Vec<TcpStream> = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    format!("http://{addr}")
}

/// A TLS server with a certificate for 127.0.0.1 issued by a fresh CA.
pub struct TlsServer {
    /// `https://127.0.0.1:port`.
    pub url: String,
    /// The CA certificate, PEM.
    pub ca_pem: String,
    key_exchanges: Arc<Mutex<Vec<rustls::NamedGroup>>>,
}

impl TlsServer {
    /// The key exchange group of each handshake completed so far, in order.
    pub fn key_exchanges(&self) -> Vec<rustls::NamedGroup> {
        self.key_exchanges.lock().unwrap().clone()
    }
}

struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    key_exchanges: Arc<Mutex<Vec<rustls::NamedGroup>>>,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((socket, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client that refuses the certificate aborts the handshake: wait for the next.
            if let Ok(tls) = self.acceptor.accept(socket).await {
                if let Some(group) = tls.get_ref().1.negotiated_key_exchange_group() {
                    self.key_exchanges.lock().unwrap().push(group.name());
                }
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// Serves the test app over TLS with a certificate the OS does not trust.
pub async fn serve_tls() -> TlsServer {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "carto-rs test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf_params
        .subject_alt_names
        .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone(), ca_cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let key_exchanges = Arc::default();
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        key_exchanges: Arc::clone(&key_exchanges),
    };
    tokio::spawn(async move { axum::serve(listener, app()).await.unwrap() });
    TlsServer {
        url: format!("https://{addr}"),
        ca_pem: ca_cert.pem(),
        key_exchanges,
    }
}
