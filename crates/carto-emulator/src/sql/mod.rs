//! The SQL API v2 data plane (`/api/v2/sql`): runs a request's SQL in a PostgreSQL session
//! logged in as the API key's own role and streams the answer in CARTO's formats.
//!
//! The router resolves the user and the key and builds a [`SqlSession`]; [`SqlEngine::handle`]
//! does everything from the request parameters on: validation (§4.1), the system-table guard
//! for non-master keys (§8), the query, the JSON / GeoJSON / CSV document (§4.3, §12), and the
//! status mapping of errors (§4.4). It returns an [`SqlAnswer`] (status, headers, a whole or
//! streamed body), which the HTTP layer turns into a response: nothing here depends on the
//! HTTP server.
//!
//! How a request runs:
//! - the whole `q` goes to PostgreSQL as one simple-protocol `Query` (module `wire`), exactly as
//!   the SQL API sends it: several `;`-separated statements run in order, in PostgreSQL's
//!   implicit transaction, and values arrive as text with each column's type OID and typmod;
//! - the statements are counted with a small lexer (quotes, dollar quotes, comments,
//!   parentheses) so that only the rows of the **last** statement are written; the result of
//!   earlier statements (`SET ...`) is read and dropped; `page`/`rows_per_page` and the GeoJSON
//!   wrapper apply to the last statement (module `rewrite`);
//! - rows are converted and written as they arrive and sent through a bounded channel to the
//!   answer's body, so memory stays flat whatever the result size (module `stream`); the
//!   status is decided at the first row: an error before it gives CARTO's error status and
//!   body, an error after it gives 200 with an `error` key at the end of the document;
//! - the session is reset before it is returned to the pool: `DISCARD ALL` (and the look for
//!   role-level settings when due), sent behind the SQL in the same write, or after a
//!   `ROLLBACK` when the SQL left a transaction open (module `checkout`, the reset as a value in
//!   `pool`); the session settings are startup parameters (module `session`), so `DISCARD ALL`
//!   brings them back.
//!
//! The same engine serves the COPY API ([`SqlEngine::handle_copy_from`],
//! [`SqlEngine::handle_copy_to`], §6) and, once [`SqlEngine::enable_batch`] gave it a registry
//! database, the Batch API ([`SqlEngine::handle_job`], §5).
//!
//! Modules, one concern each: `session` (request identity), `engine` (the engine and the SQL
//! API request), `checkout` (checkout, login, return to the pool), `role_settings` (role-level
//! settings hygiene), `rewrite` (the SQL sent, guard checks inserted), `answer` (the answer,
//! HTTP-independent), `stream` (the per-request streaming loop), `pool` (the session pool and
//! its bounds), `value` (PostgreSQL text values to JSON), `wire` (the PostgreSQL protocol).

mod answer;
mod batch;
mod checkout;
mod copy;
mod engine;
pub(crate) mod error;
mod fields;
mod format;
pub(crate) mod guard;
pub(crate) mod lexer;
mod params;
mod pool;
mod rewrite;
mod role_settings;
mod session;
mod stream;
mod value;
mod wire;

pub use self::answer::{AnswerBody, Chunks, SqlAnswer};
pub(crate) use self::checkout::SUPERUSER_LOCK_TIMEOUT_MS;
pub use self::engine::{SqlEngine, install_guard};
pub use self::pool::SessionLimits;
pub use self::session::SqlSession;
