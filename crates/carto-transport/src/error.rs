//! [`TransportError`]: one opaque, classified error for every backend.

use std::error::Error as StdError;
use std::fmt;

use carto_core::{BoxError, TransportErrorKind};

/// A request could not be sent or its response could not be received.
///
/// `Display` is one sentence naming the [kind](TransportError::kind); it never contains
/// the URL, its query string (which may carry an `api_key`) or a header. The backend's
/// error is reached through [`source`](std::error::Error::source); the backends strip
/// URLs from it before wrapping it.
pub struct TransportError {
    kind: TransportErrorKind,
    source: Option<BoxError>,
}

impl TransportError {
    /// A failure of `kind` caused by `source`.
    ///
    /// The source must not carry secrets or URLs in its `Display` or `Debug`.
    pub fn new(kind: TransportErrorKind, source: impl Into<BoxError>) -> Self {
        Self {
            kind,
            source: Some(source.into()),
        }
    }

    /// A failure of `kind` without an underlying error.
    pub fn from_kind(kind: TransportErrorKind) -> Self {
        Self { kind, source: None }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// Whether this is a [`TransportErrorKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        self.kind == TransportErrorKind::Timeout
    }

    /// Whether this is a [`TransportErrorKind::Connect`].
    pub fn is_connect(&self) -> bool {
        self.kind == TransportErrorKind::Connect
    }

    /// Whether this is a [`TransportErrorKind::Tls`].
    pub fn is_tls(&self) -> bool {
        self.kind == TransportErrorKind::Tls
    }

    /// The underlying error, if any.
    pub fn into_source(self) -> Option<BoxError> {
        self.source
    }

    /// The transport failure behind an I/O error: the [`TransportError`] it wraps (as
    /// those read from a [`ResponseReader`](crate::ResponseReader) or
    /// [`ByteStream::into_async_read`](crate::ByteStream::into_async_read) do), or a
    /// [`TransportErrorKind::Io`] (`Timeout` for `TimedOut`) failure around it.
    pub fn from_io(err: std::io::Error) -> Self {
        if err
            .get_ref()
            .is_some_and(|inner| inner.is::<TransportError>())
        {
            if let Some(inner) = err.into_inner() {
                if let Ok(transport) = inner.downcast::<TransportError>() {
                    return *transport;
                }
            }
            return Self::from_kind(TransportErrorKind::Io);
        }
        let kind = if err.kind() == std::io::ErrorKind::TimedOut {
            TransportErrorKind::Timeout
        } else {
            TransportErrorKind::Io
        };
        Self::new(kind, err)
    }
}

impl fmt::Debug for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportError")
            .field("kind", &self.kind)
            .field("source", &self.source)
            .finish()
    }
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the HTTP request failed: {}", self.kind)
    }
}

impl StdError for TransportError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl From<TransportError> for carto_core::Error {
    fn from(value: TransportError) -> Self {
        let kind = value.kind;
        let source: BoxError = match value.source {
            Some(source) => source,
            None => Box::new(KindOnly(kind)),
        };
        carto_core::Error::transport(kind, source)
    }
}

impl From<TransportError> for std::io::Error {
    fn from(value: TransportError) -> Self {
        let kind = match value.kind {
            TransportErrorKind::Timeout => std::io::ErrorKind::TimedOut,
            TransportErrorKind::Connect => std::io::ErrorKind::ConnectionRefused,
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, value)
    }
}

/// The source of a converted error that had none.
#[derive(Debug)]
struct KindOnly(TransportErrorKind);

impl fmt::Display for KindOnly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl StdError for KindOnly {}

/// Whether any error in the chain (looking inside `io::Error`s too) satisfies `pred`.
#[cfg(any(feature = "ureq", feature = "reqwest"))]
pub(crate) fn chain_any(
    err: &(dyn StdError + 'static),
    pred: &dyn Fn(&(dyn StdError + 'static)) -> bool,
) -> bool {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if pred(e) {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                let inner: &(dyn StdError + 'static) = inner;
                if chain_any(inner, pred) {
                    return true;
                }
            }
        }
        current = e.source();
    }
    false
}

/// Whether the chain holds a rustls error (a handshake or certificate failure).
#[cfg(any(feature = "ureq", feature = "reqwest"))]
pub(crate) fn is_tls_failure(err: &(dyn StdError + 'static)) -> bool {
    chain_any(err, &|e| e.is::<rustls::Error>())
}

/// The first `io::ErrorKind` in the chain.
#[cfg(feature = "reqwest")]
pub(crate) fn io_kind(err: &(dyn StdError + 'static)) -> Option<std::io::ErrorKind> {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        current = e.source();
    }
    None
}

/// Classifies an `io::ErrorKind` seen while connecting or talking.
#[cfg(any(feature = "ureq", feature = "reqwest"))]
pub(crate) fn kind_of_io(kind: std::io::ErrorKind) -> TransportErrorKind {
    use std::io::ErrorKind as K;
    match kind {
        K::TimedOut | K::WouldBlock => TransportErrorKind::Timeout,
        K::ConnectionRefused | K::AddrNotAvailable | K::NotFound => TransportErrorKind::Connect,
        _ => TransportErrorKind::Io,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_one_sentence_and_source_is_kept() {
        let err = TransportError::new(
            TransportErrorKind::Connect,
            std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        );
        assert_eq!(
            err.to_string(),
            "the HTTP request failed: connection failed"
        );
        assert!(err.source().is_some());
        let core: carto_core::Error = err.into();
        assert_eq!(core.transport_kind(), Some(TransportErrorKind::Connect));
        let core: carto_core::Error = TransportError::from_kind(TransportErrorKind::Other).into();
        assert_eq!(core.transport_kind(), Some(TransportErrorKind::Other));
        assert!(StdError::source(&core).is_some());
    }

    #[test]
    fn io_errors_classify() {
        let e = TransportError::from_io(std::io::ErrorKind::TimedOut.into());
        assert!(e.is_timeout());
        let e = TransportError::from_io(std::io::ErrorKind::BrokenPipe.into());
        assert_eq!(e.kind(), TransportErrorKind::Io);
        let io: std::io::Error = e.into();
        assert_eq!(io.kind(), std::io::ErrorKind::Other);
        let io: std::io::Error = TransportError::from_kind(TransportErrorKind::Tls).into();
        assert!(TransportError::from_io(io).is_tls());
    }
}
