//! Test doubles for programs that use carto (feature `test-util`): a [`MockTransport`]
//! that answers queued responses and records every request, usable by both
//! [`Client`](crate::Client) and [`blocking::Client`](crate::blocking::Client).
//!
//! ```
//! use carto::test_util::MockTransport;
//! use carto::{BaseUrl, Credentials, blocking};
//!
//! let mock = MockTransport::new();
//! mock.push_sql_rows(serde_json::json!([{"n": 42}]));
//! let creds = Credentials::new(BaseUrl::parse("https://alice.carto.com")?, "test-key");
//! let client = blocking::Client::with_transport(creds, mock.clone());
//!
//! let result = client.sql().query::<serde_json::Value>("SELECT 42 AS n")?;
//! assert_eq!(result.rows[0]["n"], 42);
//! let sent = mock.requests();
//! assert_eq!(sent[0].uri().path(), "/api/v2/sql");
//! assert_eq!(MockTransport::form(&sent[0])["q"], "SELECT 42 AS n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use carto_core::{HttpRequest, HttpResponse, TransportErrorKind};
use carto_transport::{AsyncTransport, BoxFuture, Transport, TransportError};

enum Reply {
    Response(HttpResponse),
    Failure(TransportErrorKind),
}

#[derive(Default)]
struct State {
    replies: VecDeque<Reply>,
    requests: Vec<HttpRequest>,
    sleeps: Vec<Duration>,
}

/// A transport that answers the responses queued on it, in order, and records every
/// request. Clones share the queue and the record. With nothing queued it fails with a
/// [`TransportErrorKind::Other`] error.
#[derive(Clone, Default)]
pub struct MockTransport {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct NothingQueued;

impl fmt::Display for NothingQueued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MockTransport: no response queued")
    }
}

impl std::error::Error for NothingQueued {}

impl MockTransport {
    /// An empty mock.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a response.
    pub fn push_response(&self, response: HttpResponse) -> &Self {
        self.state().replies.push_back(Reply::Response(response));
        self
    }

    /// Queues a JSON response with `status`.
    pub fn push_json(&self, status: u16, body: serde_json::Value) -> &Self {
        let response = http::Response::builder()
            .status(status)
            .header(
                http::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .body(body.to_string().into_bytes())
            .expect("a valid status");
        self.push_response(response)
    }

    /// Queues a successful SQL API answer with these rows (a JSON array of objects).
    pub fn push_sql_rows(&self, rows: serde_json::Value) -> &Self {
        let total = rows.as_array().map_or(0, Vec::len);
        self.push_json(
            200,
            serde_json::json!({"rows": rows, "time": 0.001, "fields": {}, "total_rows": total}),
        )
    }

    /// Queues a SQL API error (`{"error": [message]}`) with `status`.
    pub fn push_sql_error(&self, status: u16, message: &str) -> &Self {
        self.push_json(status, serde_json::json!({"error": [message]}))
    }

    /// Queues an Auth API error (`{"errors": message, "errors_cause": null}`).
    pub fn push_auth_error(&self, status: u16, message: &str) -> &Self {
        self.push_json(
            status,
            serde_json::json!({"errors": message, "errors_cause": null}),
        )
    }

    /// Queues a transport failure (no response).
    pub fn push_failure(&self, kind: TransportErrorKind) -> &Self {
        self.state().replies.push_back(Reply::Failure(kind));
        self
    }

    /// Copies of the requests received so far, in order.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.state().requests.iter().map(copy_request).collect()
    }

    /// The waits the client asked for between retries, in order. The mock records them
    /// and returns at once, so tests of retries take no time.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state().sleeps.clone()
    }

    /// How many queued replies were not used yet.
    pub fn remaining(&self) -> usize {
        self.state().replies.len()
    }

    /// The form fields of a request body (`application/x-www-form-urlencoded`).
    pub fn form(request: &HttpRequest) -> HashMap<String, String> {
        url::form_urlencoded::parse(request.body())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// The query parameters of a request.
    pub fn query(request: &HttpRequest) -> HashMap<String, String> {
        url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    fn answer(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        let mut state = self.state();
        state.requests.push(request);
        match state.replies.pop_front() {
            Some(Reply::Response(response)) => Ok(response),
            Some(Reply::Failure(kind)) => Err(TransportError::from_kind(kind)),
            None => Err(TransportError::new(
                TransportErrorKind::Other,
                NothingQueued,
            )),
        }
    }
}

fn copy_request(request: &HttpRequest) -> HttpRequest {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    copy
}

impl Transport for MockTransport {
    fn send(&self, request: HttpRequest) -> Result<HttpResponse, TransportError> {
        self.answer(request)
    }

    fn sleep(&self, duration: Duration) {
        self.state().sleeps.push(duration);
    }
}

impl AsyncTransport for MockTransport {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let result = self.answer(request);
        Box::pin(async move { result })
    }

    fn sleep(&self, duration: Duration) -> Option<BoxFuture<'static, ()>> {
        self.state().sleeps.push(duration);
        Some(Box::pin(std::future::ready(())))
    }
}

impl fmt::Debug for MockTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state();
        f.debug_struct("MockTransport")
            .field("queued", &state.replies.len())
            .field("received", &state.requests.len())
            .finish()
    }
}
