//! The engine's answers, independent of the HTTP server: a status, the headers the answer
//! needs and a body, whole (a JSON document, an error) or streamed (the chunks the query task
//! sends). The HTTP layer (`http/`) turns an [`SqlAnswer`] into its response.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tokio::sync::mpsc;

use super::params::QueryParams;

/// An answer of the SQL engine (SQL API, COPY API, Batch API).
#[derive(Debug)]
pub struct SqlAnswer {
    status: StatusCode,
    headers: HeaderMap,
    body: AnswerBody,
}

/// The body of an [`SqlAnswer`].
#[derive(Debug)]
pub enum AnswerBody {
    /// The whole body at once.
    Whole(Bytes),
    /// A body sent as it is produced.
    Streamed(Chunks),
}

/// The chunks of a streamed body, as the query task sends them; the stream ends when the task
/// is done. An `Err` item means the answer cannot be completed: the transfer is to be cut so
/// the client sees a failure.
#[derive(Debug)]
pub struct Chunks(mpsc::Receiver<Result<Bytes, io::Error>>);

impl futures_util::Stream for Chunks {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

impl SqlAnswer {
    /// An answer with this status, headers and body.
    pub(crate) fn new(status: StatusCode, headers: HeaderMap, body: AnswerBody) -> Self {
        Self {
            status,
            headers,
            body,
        }
    }

    /// A JSON document (`Content-Type: application/json; charset=utf-8`).
    pub(crate) fn json(status: StatusCode, body: String) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        Self::new(status, headers, AnswerBody::Whole(Bytes::from(body)))
    }

    /// A 200 whose body is what arrives on `rx`, until its sender is dropped.
    pub(crate) fn chunks(headers: HeaderMap, rx: mpsc::Receiver<Result<Bytes, io::Error>>) -> Self {
        Self::new(StatusCode::OK, headers, AnswerBody::Streamed(Chunks(rx)))
    }

    /// The streamed document of a SQL API request: its content type and disposition, the body
    /// from `rx`.
    pub(crate) fn streamed(p: &QueryParams, rx: mpsc::Receiver<Result<Bytes, io::Error>>) -> Self {
        // Room for the SQL API's headers (these two, Vary, the user's and CORS): no regrowth.
        let mut headers = HeaderMap::with_capacity(12);
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(p.format.content_type()),
        );
        if let Some(v) = content_disposition(p) {
            headers.insert(header::CONTENT_DISPOSITION, v);
        }
        Self::chunks(headers, rx)
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, to add to them.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The status, the headers and the body.
    pub fn into_parts(self) -> (StatusCode, HeaderMap, AnswerBody) {
        (self.status, self.headers, self.body)
    }
}

/// The Content-Disposition of an answer: `inline` or `attachment`, the file name and the
/// current second as modification date. The last one made is kept per thread and reused
/// while the second and the name are the same (every `SELECT` of a busy client).
fn content_disposition(p: &QueryParams) -> Option<HeaderValue> {
    struct Last {
        second: i64,
        attachment: bool,
        filename: String,
        extension: &'static str,
        value: HeaderValue,
    }
    thread_local! {
        static LAST: std::cell::RefCell<Option<Last>> = const { std::cell::RefCell::new(None) };
    }
    let second = chrono::Utc::now().timestamp();
    let extension = p.format.extension();
    LAST.with(|cell| {
        let mut last = cell.borrow_mut();
        if let Some(l) = last.as_ref() {
            if l.second == second
                && l.attachment == p.attachment
                && l.extension == extension
                && l.filename == p.filename
            {
                return Some(l.value.clone());
            }
        }
        let value = with_http_date(|date| {
            HeaderValue::from_str(&format!(
                "{}; filename={}.{}; modification-date=\"{date}\";",
                if p.attachment { "attachment" } else { "inline" },
                p.filename,
                extension,
            ))
        })
        .ok()?;
        *last = Some(Last {
            second,
            attachment: p.attachment,
            filename: p.filename.clone(),
            extension,
            value: value.clone(),
        });
        Some(value)
    })
}

/// Calls `f` with the current time as an HTTP date (`Tue, 01 Dec 2026 10:00:00 GMT`),
/// formatted at most once a second per thread.
fn with_http_date<T>(f: impl FnOnce(&str) -> T) -> T {
    thread_local! {
        static DATE: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = chrono::Utc::now();
    DATE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != now.timestamp() {
            *cached = (
                now.timestamp(),
                now.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
            );
        }
        f(&cached.1)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::sql::params;

    #[test]
    fn the_content_disposition_follows_each_request() {
        let disposition = |v: Value| {
            let p = params::parse(v.as_object().expect("object")).expect("params");
            content_disposition(&p)
                .expect("a header value")
                .to_str()
                .expect("text")
                .to_owned()
        };
        let inline = disposition(json!({"q": "SELECT 1"}));
        assert!(
            inline.starts_with("inline; filename=cartodb-query.json; modification-date=\""),
            "{inline}"
        );
        let named = disposition(json!({"q": "SELECT 1", "filename": "x", "format": "csv"}));
        assert!(named.contains("filename=x.csv;"), "{named}");
        let again = disposition(json!({"q": "SELECT 1"}));
        assert!(
            again.starts_with("inline; filename=cartodb-query.json;"),
            "{again}"
        );
    }

    #[test]
    fn the_http_date_is_the_current_second() {
        let before = chrono::Utc::now().timestamp();
        let date = with_http_date(str::to_owned);
        let after = chrono::Utc::now().timestamp();
        let parsed = chrono::DateTime::parse_from_rfc2822(&date.replace("GMT", "+0000"))
            .expect("an HTTP date")
            .timestamp();
        assert!((before..=after).contains(&parsed), "{date}");
        assert!(date.ends_with(" GMT"), "{date}");
    }
}
