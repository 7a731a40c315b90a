//! The per-request streaming loop: a request's query run in a task of its own, its rows
//! converted and written as they arrive, in chunks sent through a bounded channel to the
//! answer's body, so memory stays flat whatever the result size.
//!
//! ```text
//!  sent ── first row or the end ──> streaming ── Ready ──> summary written ──> session back
//!   │ error (before any row)          │ error (after)
//!   └──> Head::Error: CARTO's status  └──> `error` key in the document (a CSV: cut)
//! ```

use std::io;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::error::ApiError;
use super::format::{Notices, Plan, Summary, Writer};
use super::params::Format;
use super::wire::{DbError, Event, PgConn, WireError, tag_rows};

/// Size of the chunks sent to the response body.
pub(super) const CHUNK: usize = 64 * 1024;
/// The first capacity of the output buffer: small answers are written without regrowth.
const FIRST_BUF: usize = 1024;
/// Chunks in flight between the query task and the response body.
pub(super) const CHANNEL_CHUNKS: usize = 4;

/// What the query task tells the handler before any body byte.
pub(super) enum Head {
    Error(ApiError),
    Stream,
}

/// Resolves when nobody will read a streamed answer any more: before the head is sent, when
/// the handler waiting for it was dropped (hyper drops it when the client disconnects);
/// after, when the response body was dropped.
pub(super) async fn client_gone<H>(
    head: &mut Option<oneshot::Sender<H>>,
    body: &mpsc::Sender<Result<Bytes, io::Error>>,
) {
    match head {
        Some(h) => h.closed().await,
        None => body.closed().await,
    }
}

/// One request's query, run in a task of its own.
pub(super) struct QueryJob {
    pub(super) sql: String,
    /// Queries sent behind `sql` in the same write (the reset), read by the caller.
    pub(super) then: &'static [&'static str],
    pub(super) statements: usize,
    pub(super) format: Format,
    pub(super) skipfields: Vec<String>,
    pub(super) callback: Option<String>,
    /// The most rows the last statement may return: one more cancels the query and answers
    /// [`ApiError::row_cap`] (CARTO 3's synchronous queries).
    pub(super) row_cap: Option<u64>,
}

/// The channels to the handler: the head first, then body chunks.
struct Output {
    head: Option<oneshot::Sender<Head>>,
    body: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: String,
}

impl Output {
    fn started(&self) -> bool {
        self.head.is_none()
    }

    fn start(&mut self) {
        if let Some(h) = self.head.take() {
            let _ = h.send(Head::Stream);
        }
    }

    /// Sends the buffer when it is large enough (or `force`); `false` when the client is gone.
    async fn flush(&mut self, force: bool) -> bool {
        let wanted = self.buf.len() >= CHUNK || (force && !self.buf.is_empty());
        if !wanted {
            return true;
        }
        // The next chunk gets room for a full one (plus the row that crosses the size) at
        // once, instead of growing from nothing by doubling.
        let next = String::with_capacity(if force { 0 } else { CHUNK + CHUNK / 8 });
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, next));
        self.body.send(Ok(chunk)).await.is_ok()
    }

    /// Resolves when nobody will read the output any more.
    async fn gone(&mut self) {
        client_gone(&mut self.head, &self.body).await;
    }
}

impl QueryJob {
    /// Runs the query and writes the document; returns the session when it can be reused.
    pub(super) async fn run(
        self,
        mut conn: PgConn,
        spatial: &[(u32, &'static str)],
        head: oneshot::Sender<Head>,
        body: mpsc::Sender<Result<Bytes, io::Error>>,
    ) -> Option<(PgConn, u8)> {
        let mut out = Output {
            head: Some(head),
            body,
            // Room for a small answer, whole (`SELECT 1`'s is about 200 bytes).
            buf: String::with_capacity(FIRST_BUF),
        };
        let started_at = Instant::now();
        let mut writer = Writer::new(self.format, self.callback.clone());
        let mut completed = 0usize;
        let mut plan: Option<Plan> = None;
        let mut total: u64 = 0;
        let mut error: Option<DbError> = None;
        let mut notices = Notices::default();
        let cancel = conn.cancel_handle();
        match conn.send_query_then(&self.sql, self.then).await {
            Ok(()) => {}
            Err(WireError::Protocol(_)) => {
                // Nothing was sent: the text cannot travel in a `Query` message (a NUL byte).
                if let Some(h) = out.head.take() {
                    let e =
                        ApiError::bad_request("invalid byte sequence for encoding \"UTF8\": 0x00");
                    let _ = h.send(Head::Error(e));
                }
                return Some((conn, b'I'));
            }
            Err(_) => {
                if let Some(h) = out.head.take() {
                    let _ = h.send(Head::Error(ApiError::cannot_connect()));
                }
                return None;
            }
        }
        let status = loop {
            let event = tokio::select! {
                event = conn.next_event() => event,
                () = out.gone() => {
                    // The client went away: stop the query and drop the session.
                    let _ = cancel.cancel().await;
                    return None;
                }
            };
            let is_last = completed + 1 >= self.statements;
            match event {
                Err(WireError::TooLarge(size)) => {
                    // Refused with a clear error; the session is dropped with its query.
                    let _ = cancel.cancel().await;
                    let message = WireError::too_large_message(size);
                    match out.head.take() {
                        Some(h) => {
                            let _ = h.send(Head::Error(ApiError::bad_request(message)));
                        }
                        None => {
                            let _ = out.flush(true).await;
                            let _ = out.body.send(Err(io::Error::other(message))).await;
                        }
                    }
                    return None;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "database session lost during a query");
                    match out.head.take() {
                        Some(h) => {
                            let _ = h.send(Head::Error(ApiError::cannot_connect()));
                        }
                        None => {
                            let _ = out
                                .body
                                .send(Err(io::Error::other("database session lost")))
                                .await;
                        }
                    }
                    return None;
                }
                Ok(Event::RowDescription(cols)) if is_last => {
                    plan = Some(Plan::new(&cols, spatial, self.format, &self.skipfields));
                }
                Ok(Event::DataRow(row)) if is_last => {
                    if let Some(plan) = &plan {
                        if let Some(cap) = self.row_cap.filter(|cap| writer.rows() >= *cap) {
                            // One row too many: the query stops, the session goes with it.
                            let _ = cancel.cancel().await;
                            match out.head.take() {
                                Some(h) => {
                                    let _ = h.send(Head::Error(ApiError::row_cap(cap)));
                                }
                                None => {
                                    let _ = out
                                        .body
                                        .send(Err(io::Error::other("row cap reached")))
                                        .await;
                                }
                            }
                            return None;
                        }
                        writer.row(&mut out.buf, plan, &row);
                        if self.format == Format::Carto3 {
                            // Written whole at the end, so that an error or the row cap
                            // after some rows still gets its status.
                            continue;
                        }
                        out.start();
                        if !out.flush(false).await {
                            let _ = cancel.cancel().await;
                            return None;
                        }
                    }
                }
                Ok(Event::CommandComplete(tag)) => {
                    completed += 1;
                    if completed >= self.statements {
                        total = tag_rows(&tag);
                    }
                }
                Ok(Event::Notice(n)) => notices.push(&n.severity, n.message),
                Ok(Event::Error(e)) => error = Some(e),
                Ok(Event::CopyInResponse) => {
                    if conn.queued() > 0 {
                        // The server reads the queries queued behind as copy data: the
                        // session's state is unknown. (`may_copy` keeps this from happening.)
                        let _ = cancel.cancel().await;
                        if let Some(h) = out.head.take() {
                            let _ = h.send(Head::Error(ApiError::cannot_connect()));
                        }
                        return None;
                    }
                    if conn
                        .copy_fail("COPY FROM STDIN is not supported here: use the COPY API")
                        .await
                        .is_err()
                    {
                        return None;
                    }
                }
                Ok(Event::Ready(status)) => break status,
                Ok(_) => {}
            }
        };
        let seconds = started_at.elapsed().as_millis() as f64 / 1000.0;
        if let Some(e) = &error {
            if !out.started() {
                if let Some(h) = out.head.take() {
                    let _ = h.send(Head::Error(ApiError::from_db(e)));
                }
                return Some((conn, status));
            }
            if self.format == Format::Csv {
                // A CSV cannot carry an error: cut the transfer so the client sees a failure.
                let _ = out.flush(true).await;
                let _ = out
                    .body
                    .send(Err(io::Error::other(e.message.clone())))
                    .await;
                return Some((conn, status));
            }
        }
        let summary = Summary {
            seconds,
            plan: plan.as_ref(),
            total_rows: if total > 0 { total } else { writer.rows() },
            error: error.as_ref().map(|e| e.message.as_str()),
            notices: &notices,
        };
        writer.finish(&mut out.buf, &summary);
        out.start();
        let _ = out.flush(true).await;
        Some((conn, status))
    }
}
