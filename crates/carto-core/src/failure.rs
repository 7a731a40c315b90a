//! The contexts of the [`Error`](crate::Error) variants that are not CARTO's answers:
//! opaque structs with accessors, so each can carry more without breaking a `match`.

use std::fmt;

use crate::error::{BoxError, TransportErrorKind};

/// The request could not be sent or its response could not be received
/// ([`Error::Transport`](crate::Error::Transport)).
///
/// `Display` names the kind of failure; the backend's error is its
/// [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct TransportFailure {
    kind: TransportErrorKind,
    source: BoxError,
}

impl TransportFailure {
    /// A failure of `kind`, caused by the backend's `source`.
    pub fn new(kind: TransportErrorKind, source: impl Into<BoxError>) -> Self {
        Self {
            kind,
            source: source.into(),
        }
    }

    /// What kind of failure.
    pub fn kind(&self) -> TransportErrorKind {
        self.kind
    }

    /// The backend's error.
    pub fn into_source(self) -> BoxError {
        self.source
    }
}

impl fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the HTTP request failed: {}", self.kind)
    }
}

impl std::error::Error for TransportFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// The input was rejected before any request was sent
/// ([`Error::InvalidInput`](crate::Error::InvalidInput)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidInput {
    what: &'static str,
    reason: String,
}

impl InvalidInput {
    /// `what` (`API key name`, `table grant`, ...) is invalid, for `reason`.
    pub fn new(what: &'static str, reason: impl Into<String>) -> Self {
        Self {
            what,
            reason: reason.into(),
        }
    }

    /// What was invalid (`API key name`, `table grant`, ...).
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// Why.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for InvalidInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {}: {}", self.what, self.reason)
    }
}

impl std::error::Error for InvalidInput {}

/// Credentials could not be loaded or saved
/// ([`Error::Credentials`](crate::Error::Credentials)).
///
/// `Display` is the message (never a secret); the I/O or JSON error behind it, if any,
/// is its [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct CredentialsFailure {
    message: String,
    source: Option<BoxError>,
}

impl CredentialsFailure {
    /// A failure described by `message`, which must not contain a secret.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// The same failure, caused by `source`.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong, without any secret.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether an I/O or JSON error is behind it.
    pub fn has_source(&self) -> bool {
        self.source.is_some()
    }
}

impl fmt::Display for CredentialsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CredentialsFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// A batch job ended in a state other than `done`
/// ([`Error::JobFailed`](crate::Error::JobFailed)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    job_id: String,
    status: String,
    reason: Option<String>,
}

impl JobFailure {
    /// Job `job_id` ended with `status` (`failed`, `cancelled`, `unknown`), for `reason`
    /// when the server gave one.
    pub fn new(
        job_id: impl Into<String>,
        status: impl Into<String>,
        reason: Option<String>,
    ) -> Self {
        Self {
            job_id: job_id.into(),
            status: status.into(),
            reason,
        }
    }

    /// The job id.
    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The final status, as the API spells it once normalised (`failed`, `cancelled`,
    /// `unknown`, `skipped`).
    pub fn status(&self) -> &str {
        &self.status
    }

    /// `failed_reason` when the server gave one.
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }
}

impl fmt::Display for JobFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "batch job {} ended with status {}",
            self.job_id, self.status
        )?;
        match &self.reason {
            Some(reason) => write!(f, ": {reason}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for JobFailure {}
