//! [`TransportConfig`]: the settings both backends share.

use std::fmt;
use std::time::Duration;

/// Timeouts and TLS settings for [`UreqTransport`](crate::UreqTransport) and
/// [`ReqwestTransport`](crate::ReqwestTransport).
///
/// - **connect timeout** (default 10 s): establishing the connection, TLS included.
/// - **request timeout** (default 60 s): the whole of a buffered call
///   ([`Transport::send`](crate::Transport::send)), body included, and of a streamed
///   call read whole at once (marked [`WholeBody`](crate::WholeBody): a typed query's
///   rows, decoded as they arrive by [`send_collect`](crate::send_collect)).
/// - **read timeout** (default 300 s): streaming calls (`send_streaming`) have no overall
///   limit, so a multi-GB COPY is not cut; instead each wait for the next bytes of the
///   response (its head included) is limited to this.
/// - **roots**: the operating system's trust store, plus any
///   [extra root](TransportConfig::add_root_certificate_pem) you add.
///
/// ```
/// use std::time::Duration;
/// use carto_transport::TransportConfig;
///
/// let config = TransportConfig::new()
///     .with_connect_timeout(Duration::from_secs(5))
///     .with_request_timeout(Duration::from_secs(120));
/// assert_eq!(config.connect_timeout(), Duration::from_secs(5));
/// ```
#[derive(Clone)]
pub struct TransportConfig {
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) extra_roots_pem: Vec<Vec<u8>>,
    pub(crate) accept_invalid_certs: bool,
}

impl TransportConfig {
    /// The default connect timeout: 10 seconds.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// The default timeout of a buffered request: 60 seconds.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
    /// The default wait for the next bytes of a streaming response: 300 seconds.
    pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(300);

    /// The defaults.
    pub fn new() -> Self {
        Self {
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            read_timeout: Self::DEFAULT_READ_TIMEOUT,
            extra_roots_pem: Vec::new(),
            accept_invalid_certs: false,
        }
    }

    /// Sets the connect timeout (TCP and TLS handshake).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the limit of a whole buffered request, from connecting to the last byte of
    /// the response body.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how long a streaming call waits for the next bytes of its response.
    pub fn with_read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// Trusts the root certificate(s) in `pem` (one or more `CERTIFICATE` blocks) on
    /// top of the operating system's, for example the CA of an on-premise CARTO.
    ///
    /// The PEM is checked when a transport is built from this configuration.
    pub fn add_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.extra_roots_pem.push(pem.into());
        self
    }

    /// **Dangerous**: with `true`, accepts any server certificate: self-signed, expired,
    /// for another host. Anyone on the network path can then read and change the
    /// traffic, API keys included.
    ///
    /// Only for an on-premise install with a self-signed certificate on a network you
    /// trust, while you cannot add its CA with
    /// [`add_root_certificate_pem`](Self::add_root_certificate_pem) (prefer that).
    /// Off by default.
    pub fn danger_accept_invalid_certs(mut self, accept: bool) -> Self {
        self.accept_invalid_certs = accept;
        self
    }

    /// The connect timeout.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The timeout of a buffered request.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The wait for the next bytes of a streaming response.
    pub fn read_timeout(&self) -> Duration {
        self.read_timeout
    }

    /// How many extra root PEM documents were added.
    pub fn extra_root_count(&self) -> usize {
        self.extra_roots_pem.len()
    }

    /// Whether certificate verification is turned off.
    pub fn accepts_invalid_certs(&self) -> bool {
        self.accept_invalid_certs
    }
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("extra_roots", &self.extra_roots_pem.len())
            .field("danger_accept_invalid_certs", &self.accept_invalid_certs)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_setters() {
        let c = TransportConfig::default();
        assert_eq!(c.connect_timeout(), Duration::from_secs(10));
        assert_eq!(c.request_timeout(), Duration::from_secs(60));
        assert_eq!(c.read_timeout(), Duration::from_secs(300));
        assert!(!c.accepts_invalid_certs());
        let c = c
            .with_read_timeout(Duration::from_secs(1))
            .add_root_certificate_pem(b"pem".to_vec())
            .danger_accept_invalid_certs(true);
        assert_eq!(c.read_timeout(), Duration::from_secs(1));
        assert_eq!(c.extra_root_count(), 1);
        assert!(c.accepts_invalid_certs());
        assert!(format!("{c:?}").contains("extra_roots: 1"));
    }
}
