//! The COPY API: bulk loads (`COPY ... FROM STDIN` through `/api/v2/sql/copyfrom`) and
//! bulk exports (`COPY ... TO STDOUT` through `/api/v2/sql/copyto`), streamed.
//!
//! - [`CopyClient`] and [`AsyncCopyClient`] are the two modes of one [`CopyApi`].
//! - [`CopyClient`] (sync, over a [`Transport`](carto_transport::Transport)):
//!   `copy_from` (any `Read`), `copy_from_path`, `copy_to` (a [`CopyToReader`]),
//!   `copy_to_writer`, `copy_to_path`.
//! - [`AsyncCopyClient`] (async, over an
//!   [`AsyncTransport`](carto_transport::AsyncTransport)): the same names, with
//!   `copy_from` taking a tokio `AsyncRead`, `copy_from_stream` a stream of chunks, and
//!   `copy_to` returning a [`CopyToStream`].
//! - [`CopyFrom`] and [`CopyTo`]: the sans-IO request builders under them.
//!
//! **Memory stays flat**: an upload is read from its source chunk by chunk and sent
//! chunked (`Transfer-Encoding: chunked`, `Content-Type: application/octet-stream`);
//! gzip ([`CopyFromOptions::gzip`]) is a streaming encoder over the source
//! (`Content-Encoding: gzip`); a download is handed on as it arrives. Only error bodies
//! (at most 64 KiB) and the COPY FROM answer are read whole.
//!
//! **Progress**: [`CopyFromOptions::progress`] and [`CopyToOptions::progress`] take a
//! callback called with the bytes moved so far (source bytes for an upload, before
//! compression; body bytes for a download), enough for a progress bar.
//!
//! **Long queries**: COPY TO sends queries longer than [`MAX_GET_QUERY_LEN`] bytes as
//! a POST form body (the official Python SDK switches to POST but leaves them in the
//! URL). COPY FROM keeps `q` in the URL: CARTO reads it only there.
//!
//! **Checks before sending**: the SQL must start with `COPY ` ([`check_copy_sql`]),
//! the gzip level must be 0 to 9; both give [`Error::InvalidInput`](carto_core::Error::InvalidInput).
//!
//! **Early rejections**: uploads carry `Expect: 100-continue`, so a server that rejects
//! the COPY before reading any data (unknown table, permission denied) answers before
//! the body is sent; the sync client (ureq) waits for that answer (up to ureq's
//! `timeout_await_100`, one second by default, when the server says nothing). hyper,
//! under the async client, sends the body at once: a server that rejects a large upload
//! early and closes the connection without reading it leaves the async client with a
//! transport error (broken pipe) instead of CARTO's message. carto-emulator reads and
//! discards a refused upload (up to 256 MiB) before answering, so both clients get the
//! error there.
//!
//! **Errors**: CARTO's 4xx/5xx JSON bodies become [`Error::Api`](carto_core::Error::Api)
//! (`relation "x" does not exist` 400, `permission denied for table x` 403, `No rows
//! copied` 400, ...). When a COPY TO fails after its `200` head was sent, CARTO appends
//! `{"error":[...]}` to the body: the readers hold back the last [`HOLD_BACK`] bytes to
//! find it, strip it from the data and fail with an `Error::Api` of status 200 (see
//! [`CopyToReader`]).

mod body;
mod client;
mod reader;
mod request;
mod trailer;

pub use client::{AsyncCopyClient, CopyApi, CopyClient};
pub use reader::{CopyToReader, CopyToStream};
pub use request::{
    CopyFrom, CopyFromAnswer, CopyFromOptions, CopyFromResult, CopyTo, CopyToOptions,
    MAX_GET_QUERY_LEN, ProgressFn, attachment_filename, check_copy_sql,
};
pub use trailer::{HOLD_BACK, TrailerCheck};
