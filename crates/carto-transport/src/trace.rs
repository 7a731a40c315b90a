//! What is logged of each request: method, path (never the query string nor a header),
//! status or failure kind, duration; and of each retry, the attempt number and the wait.

use std::time::{Duration, Instant};

use carto_core::endpoint::loggable_path;

use crate::error::TransportError;

/// What is logged of one request.
pub(crate) struct Trace {
    method: http::Method,
    path: String,
    start: Instant,
}

impl Trace {
    pub(crate) fn start<B>(request: &http::Request<B>) -> Self {
        Self {
            method: request.method().clone(),
            path: loggable_path(request.uri()).to_owned(),
            start: Instant::now(),
        }
    }

    /// Logs that the request is sent again after `wait` (`attempts` made so far).
    pub(crate) fn retry(&self, attempts: u32, wait: Duration) {
        tracing::debug!(
            target: "carto_transport",
            method = %self.method,
            path = %self.path,
            attempts,
            wait_ms = wait.as_millis() as u64,
            "retrying HTTP request"
        );
    }

    pub(crate) fn finish(&self, result: Result<http::StatusCode, &TransportError>) {
        let duration_ms = self.start.elapsed().as_millis() as u64;
        match result {
            Ok(status) => tracing::debug!(
                target: "carto_transport",
                method = %self.method,
                path = %self.path,
                status = status.as_u16(),
                duration_ms,
                "HTTP request"
            ),
            Err(err) => tracing::debug!(
                target: "carto_transport",
                method = %self.method,
                path = %self.path,
                error = %err.kind(),
                duration_ms,
                "HTTP request failed"
            ),
        }
    }
}
