//! carto-emulator: a local CARTO server on a real PostgreSQL.
//!
//! It serves the Auth API v3 (`/api/v3/api_keys`), the SQL API v2 (`/api/v2/sql`),
//! the Maps API v1 (`/api/v1/map`: named and anonymous maps, MVT tiles made by PostGIS),
//! `/api/v3/me` and `/api/v4/do/token` for any number of users, each API key being a
//! real PostgreSQL role, so permissions behave as on CARTO. It also serves CARTO 3 at its
//! root: `POST /oauth/token` (M2M client credentials, [`EmulatedUser::carto3`]), the Tokens API
//! (`/v3/tokens`, each API access token a PostgreSQL role with only its grants) and the SQL API
//! v3 (`/v3/sql/{connection}/query`, jobs).
//!
//! ```no_run
//! # fn main() -> Result<(), carto_emulator::EmulatorError> {
//! let emulator = carto_emulator::Emulator::builder()
//!     .user("alice")
//!     .org("acme", ["bob", "carol"])
//!     .start_blocking()?;
//! let alice = emulator.user("alice").unwrap();
//! println!("{}", alice.base_url().as_str()); // http://127.0.0.1:PORT/user/alice
//! let creds = alice.credentials(); // master key, ready for the SDK
//! # let _ = creds;
//! # Ok(())
//! # }
//! ```
//!
//! PostgreSQL: by default a private throwaway cluster from the binaries on the machine
//! ([`PgCluster`]); [`EmulatorBuilder::data_dir`] keeps it; [`EmulatorBuilder::database_url`]
//! uses an existing server. PostGIS and the geocoder `cdb_geocode_admin0_polygon` are
//! installed in each user database when PostGIS is available, and CARTO's table-model
//! functions (`CDB_CartodbfyTable`, `CDB_LatLng`, `CDB_UserTables`, ...) in every one; the
//! datasets endpoints (`/api/v1/viz`) list, publish, rename and delete tables.
//!
//! Users can also be made and removed while the emulator runs ([`Emulator::create_user`],
//! [`Emulator::create_org`], [`Emulator::remove_user`]), each a copy of a template database;
//! with the `testing` feature, `testing::TestAccount` gives each test a fresh account on one
//! emulator shared by the test binary.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod carto3;
mod cartodb;
pub mod cli;
mod emulator;
pub mod error;
mod geocoder;
mod grants;
// Request handlers return `Result<_, Response>`: the error is the answer, built once per
// request, so its size does not matter.
#[allow(clippy::result_large_err)]
mod http;
mod ident;
mod imports;
mod maps;
mod names;
pub mod pg;
mod response;
mod sql;
mod store;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
pub mod tls;

/// The type of an API key (master, Default public, regular): carto-core's, re-exported
/// for [`EmulatorBuilder::statement_timeout`] and [`SqlSession::level`].
pub use carto_core::models::ApiKeyType;
pub use carto3::{
    DEFAULT_MAX_API_TOKENS, DEFAULT_OAUTH_TOKEN_LIFETIME, DEFAULT_QUERY_TIMEOUT, ROW_CAP,
};
pub use emulator::{BlockingEmulator, Carto3Account, EmulatedUser, Emulator, EmulatorBuilder};
pub use error::EmulatorError;
pub use geocoder::ADMIN0_GEOJSON;
pub use http::faults::{Fault, FaultRule, FaultRuleError};
pub use http::{DEFAULT_PUBLIC_STATEMENT_TIMEOUT, StatementTimeouts};
pub use names::SCHEMA_VERSION;
pub use pg::{PgCluster, PgServer};
pub use sql::{AnswerBody, Chunks, SessionLimits, SqlAnswer, SqlEngine, SqlSession, install_guard};
pub use store::AccountError;
