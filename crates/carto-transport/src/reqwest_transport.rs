//! [`ReqwestTransport`]: the async backend on reqwest 0.13.

use std::fmt;
use std::time::Duration;

use carto_core::{HttpRequest, HttpResponse, TransportErrorKind};
use futures_util::TryStreamExt;

use crate::body::{AsyncBody, ByteStream};
use crate::config::TransportConfig;
use crate::error::{TransportError, io_kind, is_tls_failure, kind_of_io};
use crate::streaming::WholeBody;
use crate::transport::{AsyncTransport, BoxFuture};

/// An [`AsyncTransport`] on [reqwest](https://docs.rs/reqwest) 0.13 (tokio): one
/// connection pool per transport (clones share it).
///
/// Every status is returned as a response, redirects are not followed (the 3xx
/// response is returned), TLS is rustls. Building one installs rustls' aws-lc-rs provider
/// (post-quantum hybrid key exchange, X25519MLKEM768, first) as the process default when
/// no default is installed yet (so an application that prefers another provider installs
/// it first).
///
/// ```no_run
/// use carto_transport::{AsyncTransport, ReqwestTransport};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let transport = ReqwestTransport::new();
/// let request = http::Request::get("https://alice.carto.com/api/v2/sql?q=select%201")
///     .body(Vec::new())?;
/// let response = transport.send(request).await?;
/// println!("{}", response.status());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
    request_timeout: Option<Duration>,
}

impl ReqwestTransport {
    /// A transport with the default [`TransportConfig`].
    ///
    /// # Panics
    ///
    /// When the TLS backend cannot be initialized (as `reqwest::Client::new` does); use
    /// [`with_config`](Self::with_config) to get an error instead.
    pub fn new() -> Self {
        match Self::with_config(TransportConfig::default()) {
            Ok(transport) => transport,
            Err(err) => panic!("cannot build the reqwest transport: {err:?}"),
        }
    }

    /// A transport with `config`. Fails (kind [`Tls`](TransportErrorKind::Tls)) when an
    /// extra root is not a PEM certificate or the TLS backend cannot be initialized.
    pub fn with_config(config: TransportConfig) -> Result<Self, TransportError> {
        install_provider();
        let mut builder = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .read_timeout(config.read_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .tls_danger_accept_invalid_certs(config.accept_invalid_certs);
        for pem in &config.extra_roots_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(|_| bad_pem())?;
            if certs.is_empty() {
                return Err(bad_pem());
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder
            .build()
            .map_err(|e| TransportError::new(TransportErrorKind::Tls, e.without_url()))?;
        Ok(Self {
            client,
            request_timeout: Some(config.request_timeout),
        })
    }

    /// A transport on a client you configured. Its settings (timeouts, TLS, proxy,
    /// redirects) are kept as they are.
    pub fn from_client(client: reqwest::Client) -> Self {
        Self {
            client,
            request_timeout: None,
        }
    }

    async fn execute(
        &self,
        request: http::Request<reqwest::Body>,
        streaming: bool,
    ) -> Result<reqwest::Response, TransportError> {
        // A streamed request read whole at once keeps the buffered deadline.
        let streaming = streaming && request.extensions().get::<WholeBody>().is_none();
        let mut request = reqwest::Request::try_from(request).map_err(classify)?;
        if !streaming {
            if let Some(timeout) = self.request_timeout {
                *request.timeout_mut() = Some(timeout);
            }
        }
        self.client.execute(request).await.map_err(classify)
    }
}

/// Installs aws-lc-rs as rustls' process default provider unless one is installed.
fn install_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race with another installer is fine: a provider is installed.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    }
}

impl Default for ReqwestTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ReqwestTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReqwestTransport")
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

fn head_of(response: &reqwest::Response) -> http::Response<()> {
    let mut head = http::Response::new(());
    *head.status_mut() = response.status();
    *head.version_mut() = response.version();
    *head.headers_mut() = response.headers().clone();
    head
}

impl AsyncTransport for ReqwestTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let response = self
                .execute(request.map(reqwest::Body::from), false)
                .await?;
            let head = head_of(&response);
            let data = response.bytes().await.map_err(classify)?;
            Ok(head.map(|()| data.to_vec()))
        })
    }

    fn send_streaming(
        &self,
        request: http::Request<AsyncBody>,
    ) -> BoxFuture<'_, Result<http::Response<ByteStream>, TransportError>> {
        Box::pin(async move {
            let request = request.map(|body| match body {
                AsyncBody::Bytes(data) => reqwest::Body::from(data),
                AsyncBody::Stream(stream) => reqwest::Body::wrap_stream(stream),
            });
            let response = self.execute(request, true).await?;
            let head = head_of(&response);
            let stream = ByteStream::new(response.bytes_stream().map_err(classify));
            Ok(head.map(|()| stream))
        })
    }
}

fn bad_pem() -> TransportError {
    TransportError::new(
        TransportErrorKind::Tls,
        "an extra root is not a PEM certificate",
    )
}

/// Maps a reqwest error to a kind, dropping its URL.
fn classify(err: reqwest::Error) -> TransportError {
    let err = err.without_url();
    let kind = if is_tls_failure(&err) {
        TransportErrorKind::Tls
    } else if err.is_timeout() {
        TransportErrorKind::Timeout
    } else if err.is_connect() {
        TransportErrorKind::Connect
    } else if err.is_body() || err.is_decode() || err.is_request() {
        io_kind(&err).map_or(TransportErrorKind::Io, kind_of_io)
    } else {
        TransportErrorKind::Other
    };
    TransportError::new(kind, err)
}
