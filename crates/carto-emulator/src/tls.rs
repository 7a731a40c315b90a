//! HTTPS for the emulator: a generated certificate authority and server certificate, or
//! certificate and key files, served through an axum [`Listener`] over tokio-rustls.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::serve::Listener;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::server::TlsStream;

/// How the emulator gets its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// A certificate authority and a server certificate for `localhost`, `*.localhost`,
    /// `127.0.0.1` and `::1`, generated at start. Clients trust
    /// [`TlsSetup::ca_pem`](TlsSetup::ca_pem).
    SelfSigned,
    /// A PEM certificate chain and a PEM private key.
    Files {
        /// The certificate chain (server certificate first).
        cert: PathBuf,
        /// The private key (PKCS#8, PKCS#1 or SEC1).
        key: PathBuf,
    },
}

/// Why HTTPS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Generating the certificate failed.
    #[error("cannot generate a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A PEM file could not be read or parsed.
    #[error("cannot read {what} from {path}")]
    Pem {
        /// `certificate` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    /// rustls refused the certificate and key.
    #[error("invalid certificate or key")]
    Rustls(#[from] rustls::Error),
}

/// A ready TLS acceptor and the PEM certificate clients should trust.
#[derive(Clone)]
pub struct TlsSetup {
    acceptor: TlsAcceptor,
    ca_pem: String,
}

impl std::fmt::Debug for TlsSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSetup").finish_non_exhaustive()
    }
}

impl TlsSetup {
    /// Generates or loads the certificate.
    pub fn new(mode: &TlsMode) -> Result<Self, TlsError> {
        let (chain, key, ca_pem) = match mode {
            TlsMode::SelfSigned => self_signed()?,
            TlsMode::Files { cert, key } => from_files(cert, key)?,
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_pem,
        })
    }

    /// The PEM certificate to trust: the generated CA, or the first certificate of the
    /// given chain.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Wraps a bound TCP listener: connections are accepted and their handshakes run
    /// concurrently, so one slow client does not hold up the others.
    pub fn listener(&self, tcp: TcpListener) -> io::Result<TlsListener> {
        let local_addr = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let acceptor = self.acceptor.clone();
        tokio::spawn(async move {
            loop {
                let (stream, addr) = match tcp.accept().await {
                    Ok(conn) => conn,
                    Err(e) => {
                        tracing::debug!(error = %e, "TLS listener: accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let acceptor = acceptor.clone();
                let conn_tx = tx.clone();
                tokio::spawn(async move {
                    match acceptor.accept(stream).await {
                        Ok(tls) => {
                            let _ = conn_tx.send((tls, addr)).await;
                        }
                        Err(e) => tracing::debug!(error = %e, "TLS handshake failed"),
                    }
                });
                if tx.is_closed() {
                    break;
                }
            }
        });
        Ok(TlsListener { rx, local_addr })
    }
}

/// An axum [`Listener`] yielding TLS connections.
pub struct TlsListener {
    rx: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local_addr: SocketAddr,
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The acceptor task only ends when this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}

type Material = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, String);

fn self_signed() -> Result<Material, TlsError> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "carto-emulator local CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![
        "localhost".to_owned(),
        "*.localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])?;
    params
        .distinguished_name
        .push(DnType::CommonName, "carto-emulator");
    let cert = params.signed_by(&key, &issuer)?;
    let key = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|_| rcgen::Error::CouldNotParseKeyPair)?;
    Ok((
        vec![cert.der().clone(), ca_cert.der().clone()],
        key,
        ca_cert.pem(),
    ))
}

fn from_files(cert: &Path, key: &Path) -> Result<Material, TlsError> {
    let pem_err = |what, path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Pem { what, path, source }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(pem_err("certificate", cert))?
        .collect::<Result<_, _>>()
        .map_err(pem_err("certificate", cert))?;
    let first = chain.first().ok_or_else(|| TlsError::Pem {
        what: "certificate",
        path: cert.to_owned(),
        source: rustls::pki_types::pem::Error::NoItemsFound,
    })?;
    let ca_pem = pem_encode(first.as_ref());
    let key = PrivateKeyDer::from_pem_file(key).map_err(pem_err("private key", key))?;
    Ok((chain, key, ca_pem))
}

fn pem_encode(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use carto_transport::{AsyncTransport, ReqwestTransport, TransportConfig, TransportErrorKind};

    async fn serve(setup: &TlsSetup) -> SocketAddr {
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = setup.listener(tcp).unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello over tls" }));
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    fn get(url: String) -> carto_core::HttpRequest {
        http::Request::get(url).body(Vec::new()).unwrap()
    }

    #[tokio::test]
    async fn self_signed_is_trusted_only_when_told() {
        let setup = TlsSetup::new(&TlsMode::SelfSigned).unwrap();
        assert!(setup.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let addr = serve(&setup).await;
        let url = format!("https://localhost:{}/", addr.port());

        let trusting = ReqwestTransport::with_config(
            TransportConfig::new().add_root_certificate_pem(setup.ca_pem().as_bytes().to_vec()),
        )
        .unwrap();
        let response = trusting.send(get(url.clone())).await.unwrap();
        assert_eq!(response.body(), b"hello over tls");

        let default = ReqwestTransport::new();
        let err = default.send(get(url.clone())).await.unwrap_err();
        assert_eq!(err.kind(), TransportErrorKind::Tls);

        let insecure =
            ReqwestTransport::with_config(TransportConfig::new().danger_accept_invalid_certs(true))
                .unwrap();
        assert_eq!(insecure.send(get(url)).await.unwrap().status(), 200);
    }

    #[tokio::test]
    async fn certificate_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        let setup = TlsSetup::new(&TlsMode::Files {
            cert: cert_path.clone(),
            key: key_path,
        })
        .unwrap();
        assert_eq!(setup.ca_pem(), cert.pem().replace("\r\n", "\n"));
        let addr = serve(&setup).await;
        let insecure =
            ReqwestTransport::with_config(TransportConfig::new().danger_accept_invalid_certs(true))
                .unwrap();
        let response = insecure
            .send(get(format!("https://localhost:{}/", addr.port())))
            .await
            .unwrap();
        assert_eq!(response.body(), b"hello over tls");

        let missing = TlsSetup::new(&TlsMode::Files {
            cert: cert_path,
            key: dir.path().join("missing.pem"),
        })
        .unwrap_err();
        assert!(missing.to_string().contains("private key"), "{missing}");
    }
}
