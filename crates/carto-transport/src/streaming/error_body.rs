//! The one rule for a failed streamed response: its [`Head`] is sorted by status, and
//! at most [`MAX_ERROR_BODY`] bytes of its body are read ([`ErrorBody`]) and parsed as
//! CARTO's error.

use carto_core::retry::Outcome;
use carto_core::{ApiError, Error};

/// The most bytes read of the body of a failed (non-2xx) streamed response before it
/// is parsed as CARTO's error; the rest is not read.
pub const MAX_ERROR_BODY: usize = 64 * 1024;

/// The head of a streamed response, parsed: go on with the body, or read the error.
#[derive(Debug)]
pub enum Head {
    /// A 2xx status: the body is the endpoint's to decode.
    Success(http::response::Parts),
    /// Any other status: the body is CARTO's error, read up to a cap.
    Failure(ErrorBody),
}

impl Head {
    /// Sorts a response head by its status.
    pub fn parse(head: http::response::Parts) -> Self {
        if head.status.is_success() {
            Self::Success(head)
        } else {
            Self::Failure(ErrorBody::new(head))
        }
    }
}

/// The one rule for the body of a failed streamed response: at most
/// [`MAX_ERROR_BODY`] bytes of it are kept, then parsed as CARTO's error JSON (with the
/// status and the rate-limit headers of the head).
#[derive(Debug)]
pub struct ErrorBody {
    head: http::response::Parts,
    data: Vec<u8>,
    limit: usize,
}

impl ErrorBody {
    /// An error body for `head`, capped at [`MAX_ERROR_BODY`].
    pub fn new(head: http::response::Parts) -> Self {
        Self::with_limit(head, MAX_ERROR_BODY)
    }

    /// An error body for `head`, capped at `limit` bytes.
    pub fn with_limit(head: http::response::Parts, limit: usize) -> Self {
        Self {
            head,
            data: Vec::new(),
            limit,
        }
    }

    /// How many more bytes it takes (0 once the cap is reached: stop reading).
    pub fn room(&self) -> usize {
        self.limit - self.data.len()
    }

    /// Takes the next chunk, keeping what fits under the cap.
    pub fn push(&mut self, chunk: &[u8]) {
        let n = chunk.len().min(self.room());
        self.data.extend_from_slice(&chunk[..n]);
    }

    /// The bytes kept so far.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// What the attempt gave, for the retry decision.
    pub(crate) fn outcome(&self) -> Outcome<'_> {
        Outcome::Response {
            status: self.head.status,
            headers: &self.head.headers,
            body: &self.data,
        }
    }

    /// The error the head and the kept bytes make.
    pub fn into_error(self) -> Error {
        ApiError::from_parts(self.head.status, &self.head.headers, &self.data).into()
    }
}
