//! [`UreqTransport`]: the sync backend on ureq 3.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use carto_core::{BoxError, HttpRequest, HttpResponse, TransportErrorKind};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, TlsProvider};
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use crate::body::{Body, ResponseReader};
use crate::config::TransportConfig;
use crate::error::{TransportError, is_tls_failure, kind_of_io};
use crate::streaming::WholeBody;
use crate::transport::Transport;

/// A [`Transport`] on [ureq](https://docs.rs/ureq) 3: blocking, one connection pool per
/// transport (clone it, or share it behind an `Arc`, to reuse connections).
///
/// Every status is returned as a response, bodies have no size cap, redirects are not
/// followed (the 3xx response is returned), TLS is rustls with aws-lc-rs (post-quantum
/// hybrid key exchange, X25519MLKEM768, first).
///
/// ```no_run
/// use carto_transport::{Transport, UreqTransport};
///
/// let transport = UreqTransport::new();
/// let request = http::Request::get("https://alice.carto.com/api/v2/sql?q=select%201")
///     .body(Vec::new())?;
/// let response = transport.send(request)?;
/// println!("{}", response.status());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
    timeouts: Option<Timeouts>,
}

#[derive(Clone, Copy, Debug)]
struct Timeouts {
    request: Duration,
    read: Duration,
}

/// The settings every request needs, on the agent and on each request: statuses are
/// responses, redirects are returned.
macro_rules! common {
    ($builder:expr) => {
        $builder
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
    };
}

impl UreqTransport {
    /// A transport with the default [`TransportConfig`].
    pub fn new() -> Self {
        Self::build(&TransportConfig::default(), Vec::new())
    }

    /// A transport with `config`. Fails (kind [`Tls`](TransportErrorKind::Tls)) when an
    /// extra root is not a PEM certificate.
    pub fn with_config(config: TransportConfig) -> Result<Self, TransportError> {
        let mut extra = Vec::new();
        for pem in &config.extra_roots_pem {
            let before = extra.len();
            for item in ureq::tls::parse_pem(pem) {
                match item {
                    Ok(PemItem::Certificate(cert)) => extra.push(cert),
                    Ok(_) => {}
                    Err(_) => return Err(bad_pem()),
                }
            }
            if extra.len() == before {
                return Err(bad_pem());
            }
        }
        Ok(Self::build(&config, extra))
    }

    /// A transport on an agent you configured. Its settings (timeouts, TLS, proxy,
    /// redirects) are kept, except that every status is returned as a response and
    /// bodies have no size cap.
    pub fn from_agent(agent: ureq::Agent) -> Self {
        Self {
            agent,
            timeouts: None,
        }
    }

    fn build(config: &TransportConfig, extra: Vec<Certificate<'static>>) -> Self {
        let roots = if extra.is_empty() {
            RootCerts::PlatformVerifier
        } else {
            let native = rustls_native_certs::load_native_certs();
            let mut certs: Vec<Certificate<'static>> = native
                .certs
                .iter()
                .map(|der| Certificate::from_der(der.as_ref()).to_owned())
                .collect();
            certs.extend(extra);
            RootCerts::Specific(Arc::new(certs))
        };
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .root_certs(roots)
            .disable_verification(config.accept_invalid_certs)
            .build();
        let agent_config = common!(ureq::Agent::config_builder())
            .timeout_connect(Some(config.connect_timeout))
            .tls_config(tls)
            .build();
        Self {
            agent: ureq::Agent::with_parts(
                agent_config,
                DefaultConnector::default(),
                ThreadlessResolver::default(),
            ),
            timeouts: Some(Timeouts {
                request: config.request_timeout,
                read: config.read_timeout,
            }),
        }
    }

    fn run<S: ureq::AsSendBody>(
        &self,
        request: http::Request<S>,
        streaming: bool,
    ) -> Result<http::Response<ureq::Body>, TransportError> {
        // A streamed request read whole at once keeps the buffered deadline.
        let streaming = streaming && request.extensions().get::<WholeBody>().is_none();
        let mut builder = common!(self.agent.configure_request(request));
        if let Some(t) = self.timeouts {
            builder = if streaming {
                builder.timeout_global(None).timeout_per_read(Some(t.read))
            } else {
                builder.timeout_global(Some(t.request))
            };
        }
        self.agent.run(builder.build()).map_err(classify)
    }

    fn run_body(
        &self,
        request: http::Request<Vec<u8>>,
        streaming: bool,
    ) -> Result<http::Response<ureq::Body>, TransportError> {
        // ureq refuses a body (even an empty one) on HEAD; send none when there is none.
        if request.body().is_empty()
            && !matches!(request.method().as_str(), "POST" | "PUT" | "PATCH")
        {
            let (parts, _) = request.into_parts();
            self.run(http::Request::from_parts(parts, ()), streaming)
        } else {
            self.run(request, streaming)
        }
    }
}

/// How long a host name's addresses are reused before it is looked up again.
const RESOLVE_TTL: Duration = Duration::from_secs(10);

/// ureq's resolver without a thread per request.
///
/// ureq resolves the host of every request, pooled connection or not, and its default
/// resolver runs the lookup in a new thread whenever a timeout applies (ours always do: the
/// connect and request timeouts), so every request cost a thread. This one answers IP
/// literals (`127.0.0.1`, `[::1]`) without any lookup, and reuses a host name's addresses
/// for [`RESOLVE_TTL`]; other lookups go to ureq's resolver, under the same timeout.
#[derive(Debug, Default)]
struct ThreadlessResolver {
    inner: DefaultResolver,
    names: Mutex<HashMap<String, (Instant, ResolvedSocketAddrs)>>,
}

impl ThreadlessResolver {
    fn names(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, ResolvedSocketAddrs)>> {
        self.names
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Resolver for ThreadlessResolver {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let Some(host_port) = uri
            .scheme()
            .zip(uri.authority())
            .and_then(|(scheme, authority)| DefaultResolver::host_and_port(scheme, authority))
        else {
            return self.inner.resolve(uri, config, timeout);
        };
        if let Ok(addr) = host_port.parse::<SocketAddr>() {
            let mut out = self.empty();
            for addr in config.ip_family().keep_wanted(std::iter::once(addr)) {
                out.push(addr);
            }
            return if out.is_empty() {
                Err(ureq::Error::HostNotFound)
            } else {
                Ok(out)
            };
        }
        let now = Instant::now();
        if let Some((at, addrs)) = self.names().get(&host_port) {
            if now.duration_since(*at) < RESOLVE_TTL {
                return Ok(addrs.clone());
            }
        }
        let addrs = self.inner.resolve(uri, config, timeout)?;
        let mut names = self.names();
        names.retain(|_, (at, _)| now.duration_since(*at) < RESOLVE_TTL);
        names.insert(host_port, (now, addrs.clone()));
        Ok(addrs)
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for UreqTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UreqTransport")
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl Transport for UreqTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let response = self.run_body(request, false)?;
        let (parts, body) = strip(response);
        let data = body
            .into_with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(classify)?;
        Ok(http::Response::from_parts(parts, data))
    }

    fn send_streaming(
        &self,
        request: http::Request<Body>,
    ) -> Result<http::Response<ResponseReader>, TransportError> {
        let (parts, body) = request.into_parts();
        let response = match body {
            Body::Bytes(data) => self.run_body(http::Request::from_parts(parts, data), true)?,
            Body::Reader(reader) => self.run(
                http::Request::from_parts(parts, ureq::SendBody::from_owned_reader(reader)),
                true,
            )?,
        };
        let (parts, body) = strip(response);
        let reader = body.into_with_config().limit(u64::MAX).reader();
        Ok(http::Response::from_parts(
            parts,
            ResponseReader::new(MapErrReader(reader)),
        ))
    }
}

/// Splits a response, dropping ureq's extensions.
fn strip(response: http::Response<ureq::Body>) -> (http::response::Parts, ureq::Body) {
    let (mut parts, body) = response.into_parts();
    parts.extensions = http::Extensions::new();
    (parts, body)
}

/// Turns ureq's read errors into `io::Error`s that wrap a [`TransportError`].
struct MapErrReader<R>(R);

impl<R: Read> Read for MapErrReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            let err = if e.get_ref().is_some_and(|inner| inner.is::<ureq::Error>()) {
                match e.into_inner().map(|inner| inner.downcast::<ureq::Error>()) {
                    Some(Ok(ureq_err)) => classify(*ureq_err),
                    _ => TransportError::from_kind(TransportErrorKind::Io),
                }
            } else {
                classify_io(e)
            };
            io::Error::from(err)
        })
    }
}

fn bad_pem() -> TransportError {
    TransportError::new(
        TransportErrorKind::Tls,
        "an extra root is not a PEM certificate",
    )
}

fn classify_io(err: io::Error) -> TransportError {
    let kind = if is_tls_failure(&err) {
        TransportErrorKind::Tls
    } else {
        kind_of_io(err.kind())
    };
    TransportError::new(kind, err)
}

/// Maps a ureq error to a kind, keeping no URL.
fn classify(err: ureq::Error) -> TransportError {
    use ureq::Error as E;
    let kind = match &err {
        E::Timeout(_) => TransportErrorKind::Timeout,
        E::HostNotFound | E::ConnectionFailed => TransportErrorKind::Connect,
        E::Tls(_) | E::Pem(_) | E::Rustls(_) => TransportErrorKind::Tls,
        E::Io(io) if is_tls_failure(io) => TransportErrorKind::Tls,
        E::Io(io) => kind_of_io(io.kind()),
        _ => TransportErrorKind::Other,
    };
    let source: BoxError = match err {
        E::BadUri(_) => "the URL is not valid".into(),
        E::Http(_) => "the request is not valid HTTP".into(),
        other => Box::new(other),
    };
    TransportError::new(kind, source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(resolver: &ThreadlessResolver, uri: &str) -> Result<Vec<SocketAddr>, ureq::Error> {
        let uri: Uri = uri.parse().expect("uri");
        let config = Config::default();
        let timeout = NextTimeout {
            after: Duration::from_secs(5).into(),
            reason: ureq::Timeout::Resolve,
            per_read: None,
            per_write: None,
        };
        resolver
            .resolve(&uri, &config, timeout)
            .map(|addrs| addrs.iter().copied().collect())
    }

    #[test]
    fn ip_literals_need_no_lookup() {
        let r = ThreadlessResolver::default();
        let addr = |s: &str| s.parse::<SocketAddr>().expect("addr");
        assert_eq!(
            resolve(&r, "http://127.0.0.1:8080/api").unwrap(),
            [addr("127.0.0.1:8080")]
        );
        assert_eq!(
            resolve(&r, "https://127.0.0.1/").unwrap(),
            [addr("127.0.0.1:443")]
        );
        assert_eq!(resolve(&r, "http://[::1]/").unwrap(), [addr("[::1]:80")]);
        assert!(r.names().is_empty(), "literals are not cached");
    }

    #[test]
    fn host_names_are_looked_up_once_per_ttl() {
        let r = ThreadlessResolver::default();
        let first = resolve(&r, "http://localhost:8080/").expect("localhost");
        assert!(
            first
                .iter()
                .all(|a| a.port() == 8080 && a.ip().is_loopback())
        );
        assert_eq!(r.names().len(), 1);
        // A stale entry is looked up again (and replaced).
        r.names()
            .values_mut()
            .for_each(|(at, _)| *at -= RESOLVE_TTL * 2);
        assert_eq!(resolve(&r, "http://localhost:8080/").unwrap(), first);
        let fresh = r.names().values().all(|(at, _)| at.elapsed() < RESOLVE_TTL);
        assert!(fresh);
    }
}
