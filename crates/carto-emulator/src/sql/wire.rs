//! A minimal PostgreSQL client speaking the simple query protocol.
//!
//! The SQL API runs user SQL through node-postgres' simple query protocol: one `Query` message
//! for the whole text (so `SET ...; SELECT ...` works and runs as one implicit transaction, the
//! way PostgreSQL defines it), text-format values, and a `RowDescription` per result carrying
//! each column's type OID, type modifier and source table. tokio-postgres does not expose the
//! column types of simple-protocol results, so this module speaks the protocol itself with the
//! message codecs and SCRAM implementation of `postgres-protocol` (the crate tokio-postgres is
//! built on). It also gives direct access to notices in order, to `COPY` sub-protocols and to
//! the backend key for cancel requests.

use std::fmt;
use std::io;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::{md5_hash, sasl};
use postgres_protocol::message::backend::{DataRowBody, ErrorFields, Message};
use postgres_protocol::message::frontend;
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

/// Where and as whom to connect.
#[derive(Clone)]
pub(crate) struct ConnParams {
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The directory of the server's Unix socket: when set, the session logs in through
    /// `<dir>/.s.PGSQL.<port>` instead of TCP (the private cluster accepts API key roles only
    /// there, so a role that changed its own password gains no login).
    pub(crate) socket_dir: Option<PathBuf>,
    pub(crate) database: String,
    pub(crate) user: String,
    pub(crate) password: String,
    /// Settings sent in the startup message: they become the session's defaults, which
    /// `RESET ALL` and `DISCARD ALL` bring back.
    pub(crate) options: Vec<(String, String)>,
}

impl fmt::Debug for ConnParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnParams")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("socket_dir", &self.socket_dir)
            .field("database", &self.database)
            .field("user", &self.user)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// An error or notice sent by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DbError {
    pub(crate) severity: String,
    pub(crate) code: String,
    pub(crate) message: String,
    pub(crate) detail: Option<String>,
    pub(crate) hint: Option<String>,
}

impl DbError {
    fn from_fields(mut fields: ErrorFields<'_>) -> io::Result<DbError> {
        let mut e = DbError {
            severity: String::new(),
            code: String::new(),
            message: String::new(),
            detail: None,
            hint: None,
        };
        let mut localized_severity = String::new();
        while let Some(field) = fields.next()? {
            let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
            match field.type_() {
                b'V' => e.severity = value,
                b'S' => localized_severity = value,
                b'C' => e.code = value,
                b'M' => e.message = value,
                b'D' => e.detail = Some(value),
                b'H' => e.hint = Some(value),
                _ => {}
            }
        }
        if e.severity.is_empty() {
            e.severity = localized_severity;
        }
        Ok(e)
    }
}

/// A failure of the connection itself (not an SQL error, which arrives as an [`Event`]).
#[derive(Debug)]
pub(crate) enum WireError {
    /// Socket error or connection closed.
    Io(io::Error),
    /// The server refused the connection or the login.
    Db(DbError),
    /// Something this client does not speak.
    Protocol(String),
    /// A row (a `DataRow` or `CopyData` message) of this many bytes, over [`MAX_ROW`]: it was
    /// read past, not kept; the query goes on.
    TooLarge(usize),
}

/// The largest row the engine takes from the server (a `DataRow` or `CopyData` message): a row
/// is held whole while it is converted, so one value of any size would otherwise cost its
/// size several times over in memory.
pub(crate) const MAX_ROW: usize = 64 * 1024 * 1024;

impl WireError {
    /// The answer's error text for [`WireError::TooLarge`].
    pub(crate) fn too_large_message(size: usize) -> String {
        format!(
            "a row of the answer is {size} bytes, over the emulator's limit of {} MB per row",
            MAX_ROW / (1024 * 1024)
        )
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::Io(e) => write!(f, "database connection error: {e}"),
            WireError::Db(e) => write!(f, "database error: {}", e.message),
            WireError::Protocol(m) => write!(f, "database protocol error: {m}"),
            WireError::TooLarge(n) => f.write_str(&WireError::too_large_message(*n)),
        }
    }
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Column {
    pub(crate) name: String,
    pub(crate) type_oid: u32,
    pub(crate) typmod: i32,
}

/// One data row in text format.
#[derive(Debug)]
pub(crate) struct Row {
    buf: Bytes,
    ranges: Vec<Option<Range<usize>>>,
}

impl Row {
    fn from_body(body: DataRowBody) -> io::Result<Row> {
        let ranges = body.ranges().collect()?;
        Ok(Row {
            buf: body.buffer_bytes().clone(),
            ranges,
        })
    }

    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        self.ranges.len()
    }

    /// The text of value `i` (`None` for NULL).
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        let range = self.ranges.get(i)?.clone()?;
        let bytes = &self.buf[range];
        Some(std::str::from_utf8(bytes).unwrap_or("\u{fffd}"))
    }
}

/// What the server sent, as far as the callers care.
#[derive(Debug)]
pub(crate) enum Event {
    RowDescription(Vec<Column>),
    DataRow(Row),
    /// The command tag (`SELECT 3`, `INSERT 0 2`, `CREATE TABLE`).
    CommandComplete(String),
    EmptyQuery,
    /// A notice (`NOTICE`, `WARNING`, `INFO`...).
    Notice(DbError),
    Error(DbError),
    CopyInResponse,
    CopyOutResponse,
    CopyData(Bytes),
    CopyDone,
    /// End of a query cycle, with the transaction status (`I`, `T` or `E`).
    Ready(u8),
}

/// The number of rows a command tag reports (`0` for tags without one).
pub(crate) fn tag_rows(tag: &str) -> u64 {
    tag.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// What a cancel request needs; cheap to clone and send elsewhere.
#[derive(Debug, Clone)]
pub(crate) struct CancelHandle {
    host: String,
    port: u16,
    pid: i32,
    secret: i32,
}

impl CancelHandle {
    /// Asks the server to cancel whatever the connection is running.
    pub(crate) async fn cancel(&self) -> io::Result<()> {
        let mut stream = TcpStream::connect((self.host.as_str(), self.port)).await?;
        let mut buf = BytesMut::new();
        frontend::cancel_request(self.pid, self.secret, &mut buf);
        stream.write_all(&buf).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 16];
        // The server closes the socket when done.
        let _ = stream.read(&mut sink).await;
        Ok(())
    }
}

/// A byte stream to the server: TCP or a Unix socket.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// How the engine set a session up for requests, kept on the session: its reset sets it up
/// again in the same round trip, so the next request that takes it from the pool skips the
/// setup.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    /// The settings the session logged in with (its startup parameters, which every
    /// `DISCARD ALL` brings back), as one comparable text.
    pub(crate) settings: String,
    /// The OIDs of the spatial types in the session's database, read at login.
    pub(crate) spatial: Vec<(u32, &'static str)>,
    /// Whether the settings are in force now (reset done, not used since).
    pub(crate) ready: bool,
    /// The statements that remove role-level settings of the session's role.
    pub(crate) cleanup: String,
}

/// One open session.
pub(crate) struct PgConn {
    stream: Box<dyn Stream>,
    rbuf: BytesMut,
    cancel: CancelHandle,
    /// Queries sent behind the running one whose results are still to be read
    /// ([`PgConn::send_query_then`]).
    queued: usize,
    /// Set by the engine once the session is set up.
    pub(crate) setup: Option<Setup>,
}

impl fmt::Debug for PgConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgConn")
            .field("pid", &self.cancel.pid)
            .finish_non_exhaustive()
    }
}

fn encode_err(e: io::Error) -> WireError {
    WireError::Protocol(format!("cannot encode a message: {e}"))
}

impl PgConn {
    /// Connects and logs in (trust, password, MD5 or SCRAM-SHA-256).
    pub(crate) async fn connect(p: &ConnParams) -> Result<PgConn, WireError> {
        let stream: Box<dyn Stream> = match &p.socket_dir {
            Some(dir) => {
                Box::new(UnixStream::connect(dir.join(format!(".s.PGSQL.{}", p.port))).await?)
            }
            None => {
                let tcp = TcpStream::connect((p.host.as_str(), p.port)).await?;
                tcp.set_nodelay(true)?;
                Box::new(tcp)
            }
        };
        let mut conn = PgConn {
            stream,
            rbuf: BytesMut::with_capacity(16 * 1024),
            cancel: CancelHandle {
                host: p.host.clone(),
                port: p.port,
                pid: 0,
                secret: 0,
            },
            queued: 0,
            setup: None,
        };
        let mut buf = BytesMut::new();
        let params = [
            ("user", p.user.as_str()),
            ("database", p.database.as_str()),
            ("client_encoding", "UTF8"),
            ("application_name", "carto-emulator"),
            ("DateStyle", "ISO, MDY"),
            ("IntervalStyle", "postgres"),
            ("TimeZone", "UTC"),
            ("bytea_output", "hex"),
        ];
        let options = p.options.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        frontend::startup_message(params.iter().copied().chain(options), &mut buf)
            .map_err(encode_err)?;
        conn.write(&buf).await?;
        conn.authenticate(p).await?;
        loop {
            match conn.read_message().await? {
                Message::BackendKeyData(k) => {
                    conn.cancel.pid = k.process_id();
                    conn.cancel.secret = k.secret_key();
                }
                Message::ParameterStatus(_) | Message::NoticeResponse(_) => {}
                Message::ReadyForQuery(_) => return Ok(conn),
                Message::ErrorResponse(body) => {
                    return Err(WireError::Db(DbError::from_fields(body.fields())?));
                }
                _ => {
                    return Err(WireError::Protocol(
                        "unexpected message during startup".into(),
                    ));
                }
            }
        }
    }

    async fn authenticate(&mut self, p: &ConnParams) -> Result<(), WireError> {
        let mut buf = BytesMut::new();
        match self.read_message().await? {
            Message::AuthenticationOk => return Ok(()),
            Message::AuthenticationCleartextPassword => {
                frontend::password_message(p.password.as_bytes(), &mut buf).map_err(encode_err)?;
                self.write(&buf).await?;
            }
            Message::AuthenticationMd5Password(body) => {
                let hash = md5_hash(p.user.as_bytes(), p.password.as_bytes(), body.salt());
                frontend::password_message(hash.as_bytes(), &mut buf).map_err(encode_err)?;
                self.write(&buf).await?;
            }
            Message::AuthenticationSasl(body) => {
                let mut mechanisms = body.mechanisms();
                let mut scram = false;
                while let Some(m) = mechanisms.next()? {
                    scram |= m == sasl::SCRAM_SHA_256;
                }
                if !scram {
                    return Err(WireError::Protocol("unsupported SASL mechanism".into()));
                }
                let mut client = sasl::ScramSha256::new(
                    p.password.as_bytes(),
                    sasl::ChannelBinding::unsupported(),
                );
                frontend::sasl_initial_response(sasl::SCRAM_SHA_256, client.message(), &mut buf)
                    .map_err(encode_err)?;
                self.write(&buf).await?;
                buf.clear();
                match self.read_message().await? {
                    Message::AuthenticationSaslContinue(body) => client.update(body.data())?,
                    Message::ErrorResponse(body) => {
                        return Err(WireError::Db(DbError::from_fields(body.fields())?));
                    }
                    _ => return Err(WireError::Protocol("unexpected SASL message".into())),
                }
                frontend::sasl_response(client.message(), &mut buf).map_err(encode_err)?;
                self.write(&buf).await?;
                match self.read_message().await? {
                    Message::AuthenticationSaslFinal(body) => client.finish(body.data())?,
                    Message::ErrorResponse(body) => {
                        return Err(WireError::Db(DbError::from_fields(body.fields())?));
                    }
                    _ => return Err(WireError::Protocol("unexpected SASL message".into())),
                }
            }
            Message::ErrorResponse(body) => {
                return Err(WireError::Db(DbError::from_fields(body.fields())?));
            }
            _ => {
                return Err(WireError::Protocol(
                    "unsupported authentication method".into(),
                ));
            }
        }
        match self.read_message().await? {
            Message::AuthenticationOk => Ok(()),
            Message::ErrorResponse(body) => {
                Err(WireError::Db(DbError::from_fields(body.fields())?))
            }
            _ => Err(WireError::Protocol(
                "unexpected authentication message".into(),
            )),
        }
    }

    async fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        self.stream.write_all(buf).await
    }

    async fn read_message(&mut self) -> Result<Message, WireError> {
        loop {
            if let Some(size) = self.oversized_row() {
                self.skip(size + 1).await?;
                return Err(WireError::TooLarge(size));
            }
            if let Some(m) = Message::parse(&mut self.rbuf)? {
                return Ok(m);
            }
            self.rbuf.reserve(16 * 1024);
            if self.stream.read_buf(&mut self.rbuf).await? == 0 {
                return Err(WireError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )));
            }
        }
    }

    /// The length of the message at the head of the read buffer when it is a row over
    /// [`MAX_ROW`].
    fn oversized_row(&self) -> Option<usize> {
        let head = self.rbuf.get(..5)?;
        if !matches!(head[0], b'D' | b'd') {
            return None;
        }
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        (len > MAX_ROW).then_some(len)
    }

    /// Reads past the next `n` bytes of the session, keeping none of them.
    async fn skip(&mut self, n: usize) -> Result<(), WireError> {
        let buffered = self.rbuf.len().min(n);
        let _ = self.rbuf.split_to(buffered);
        let mut left = n - buffered;
        let mut scratch = vec![0u8; 64 * 1024];
        while left > 0 {
            let want = left.min(scratch.len());
            let got = self.stream.read(&mut scratch[..want]).await?;
            if got == 0 {
                return Err(WireError::Io(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                )));
            }
            left -= got;
        }
        Ok(())
    }

    /// A handle that can cancel this session's running query from elsewhere.
    pub(crate) fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Sends a simple `Query`; read the results with [`PgConn::next_event`] until `Ready`.
    pub(crate) async fn send_query(&mut self, sql: &str) -> Result<(), WireError> {
        self.send_query_then(sql, &[]).await
    }

    /// [`send_query`](Self::send_query), with the queries `then` sent behind it in the same
    /// write: the server runs them once `sql` is done, with no round trip in between. Read
    /// `sql`'s events with [`next_event`](Self::next_event) up to its `Ready`, then `then`'s
    /// results with [`read_queued`](Self::read_queued). Nothing is sent when a text cannot be
    /// encoded.
    pub(crate) async fn send_query_then(
        &mut self,
        sql: &str,
        then: &[&str],
    ) -> Result<(), WireError> {
        let mut buf = BytesMut::new();
        frontend::query(sql, &mut buf).map_err(encode_err)?;
        for q in then {
            frontend::query(q, &mut buf).map_err(encode_err)?;
        }
        self.write(&buf).await?;
        self.queued = then.len();
        Ok(())
    }

    /// Number of queries sent behind the last one whose results are still to be read.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Reads the results of the queries queued by [`send_query_then`](Self::send_query_then),
    /// in order, as [`pipeline`](Self::pipeline) does.
    pub(crate) async fn read_queued(
        &mut self,
    ) -> Result<Vec<Result<Vec<Vec<Option<String>>>, DbError>>, WireError> {
        let mut out = Vec::with_capacity(self.queued);
        while self.queued > 0 {
            let result = self.read_cycle().await;
            self.queued -= 1;
            out.push(match result {
                Ok(rows) => Ok(rows),
                Err(WireError::Db(e)) => Err(e),
                Err(e) => return Err(e),
            });
        }
        Ok(out)
    }

    /// The next event of the running query.
    pub(crate) async fn next_event(&mut self) -> Result<Event, WireError> {
        loop {
            let event = match self.read_message().await? {
                Message::RowDescription(body) => {
                    let mut cols = Vec::new();
                    let mut fields = body.fields();
                    while let Some(f) = fields.next()? {
                        cols.push(Column {
                            name: f.name().to_string(),
                            type_oid: f.type_oid(),
                            typmod: f.type_modifier(),
                        });
                    }
                    Event::RowDescription(cols)
                }
                Message::DataRow(body) => Event::DataRow(Row::from_body(body)?),
                Message::CommandComplete(body) => Event::CommandComplete(body.tag()?.to_string()),
                Message::EmptyQueryResponse => Event::EmptyQuery,
                Message::NoticeResponse(body) => {
                    Event::Notice(DbError::from_fields(body.fields())?)
                }
                Message::ErrorResponse(body) => Event::Error(DbError::from_fields(body.fields())?),
                Message::CopyInResponse(_) => Event::CopyInResponse,
                Message::CopyOutResponse(_) => Event::CopyOutResponse,
                Message::CopyData(body) => Event::CopyData(body.into_bytes()),
                Message::CopyDone => Event::CopyDone,
                Message::ReadyForQuery(body) => Event::Ready(body.status()),
                Message::ParameterStatus(_) | Message::NotificationResponse(_) => continue,
                _ => return Err(WireError::Protocol("unexpected message".into())),
            };
            return Ok(event);
        }
    }

    /// Runs `sql` to completion and returns the text rows of its results; the first SQL
    /// error becomes `WireError::Db` (after the cycle finished, so the session stays usable).
    pub(crate) async fn simple(
        &mut self,
        sql: &str,
    ) -> Result<Vec<Vec<Option<String>>>, WireError> {
        self.send_query(sql).await?;
        self.read_cycle().await
    }

    /// Sends one `Query` per text in a single write and reads their results in order: one
    /// round trip for all. Each query runs whatever the earlier ones did (each is its own
    /// implicit transaction); the outer `Err` is a connection failure, the inner one the
    /// query's first SQL error.
    pub(crate) async fn pipeline(
        &mut self,
        sqls: &[&str],
    ) -> Result<Vec<Result<Vec<Vec<Option<String>>>, DbError>>, WireError> {
        let mut buf = BytesMut::new();
        for sql in sqls {
            frontend::query(sql, &mut buf).map_err(encode_err)?;
        }
        self.write(&buf).await?;
        let mut out = Vec::with_capacity(sqls.len());
        for _ in sqls {
            out.push(match self.read_cycle().await {
                Ok(rows) => Ok(rows),
                Err(WireError::Db(e)) => Err(e),
                Err(e) => return Err(e),
            });
        }
        Ok(out)
    }

    /// Whether an idle session still looks usable: nothing arrived on it since its last
    /// query (no end of stream, no message like the `FATAL` of a server shutting down). Does
    /// not wait.
    pub(crate) fn looks_alive(&mut self) -> bool {
        use futures_util::FutureExt;
        if !self.rbuf.is_empty() {
            return false;
        }
        self.rbuf.reserve(1024);
        // Pending means nothing to read: the connection is open and quiet.
        self.stream
            .read_buf(&mut self.rbuf)
            .now_or_never()
            .is_none()
    }

    /// Reads one query cycle up to `ReadyForQuery`, as [`simple`](Self::simple).
    async fn read_cycle(&mut self) -> Result<Vec<Vec<Option<String>>>, WireError> {
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            match self.next_event().await? {
                Event::DataRow(row) => {
                    rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    );
                }
                Event::Error(e) => error = error.or(Some(e)),
                Event::CopyInResponse => self.copy_fail("COPY is not supported here").await?,
                Event::Ready(_) => break,
                _ => {}
            }
        }
        match error {
            Some(e) => Err(WireError::Db(e)),
            None => Ok(rows),
        }
    }

    /// Runs `sql` to completion, dropping any rows as they arrive (memory stays flat); the
    /// first SQL error becomes `WireError::Db`.
    pub(crate) async fn execute(&mut self, sql: &str) -> Result<(), WireError> {
        self.send_query(sql).await?;
        let mut error = None;
        loop {
            match self.next_event().await? {
                Event::Error(e) => error = error.or(Some(e)),
                Event::CopyInResponse => {
                    self.copy_fail("COPY FROM STDIN is not supported here")
                        .await?
                }
                Event::Ready(_) => break,
                _ => {}
            }
        }
        match error {
            Some(e) => Err(WireError::Db(e)),
            None => Ok(()),
        }
    }

    /// Sends one chunk of `COPY FROM STDIN` data.
    pub(crate) async fn copy_data(&mut self, data: Bytes) -> Result<(), WireError> {
        let mut buf = BytesMut::new();
        frontend::CopyData::new(data)
            .map_err(encode_err)?
            .write(&mut buf);
        Ok(self.write(&buf).await?)
    }

    /// Ends `COPY FROM STDIN` successfully.
    pub(crate) async fn copy_done(&mut self) -> Result<(), WireError> {
        let mut buf = BytesMut::new();
        frontend::copy_done(&mut buf);
        Ok(self.write(&buf).await?)
    }

    /// Aborts `COPY FROM STDIN`; the server rolls the command back.
    pub(crate) async fn copy_fail(&mut self, message: &str) -> Result<(), WireError> {
        let mut buf = BytesMut::new();
        frontend::copy_fail(message, &mut buf).map_err(encode_err)?;
        Ok(self.write(&buf).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn_over(stream: tokio::io::DuplexStream) -> PgConn {
        PgConn {
            stream: Box::new(stream),
            rbuf: BytesMut::new(),
            cancel: CancelHandle {
                host: "127.0.0.1".into(),
                port: 1,
                pid: 0,
                secret: 0,
            },
            queued: 0,
            setup: None,
        }
    }

    #[tokio::test]
    async fn a_quiet_session_looks_alive_and_a_closed_or_chatty_one_does_not() {
        let (ours, mut server) = tokio::io::duplex(1024);
        let mut conn = conn_over(ours);
        assert!(conn.looks_alive());
        assert!(conn.looks_alive(), "checking reads nothing");
        // A message nobody asked for (the FATAL of a shutting-down server).
        server.write_all(b"E").await.expect("write");
        assert!(!conn.looks_alive());

        let (ours, server) = tokio::io::duplex(1024);
        let mut conn = conn_over(ours);
        drop(server);
        assert!(!conn.looks_alive(), "end of stream");
    }

    #[test]
    fn command_tags() {
        assert_eq!(tag_rows("SELECT 3"), 3);
        assert_eq!(tag_rows("INSERT 0 2"), 2);
        assert_eq!(tag_rows("UPDATE 7"), 7);
        assert_eq!(tag_rows("CREATE TABLE"), 0);
        assert_eq!(tag_rows("SET"), 0);
    }

    #[test]
    fn params_debug_hides_the_password() {
        let p = ConnParams {
            host: "127.0.0.1".into(),
            port: 5432,
            socket_dir: None,
            database: "db".into(),
            user: "role".into(),
            password: "s3cret-canary".into(),
            options: Vec::new(),
        };
        assert!(!format!("{p:?}").contains("s3cret-canary"));
    }
}
