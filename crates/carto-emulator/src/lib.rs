//! carto-emulator: a local CARTO server on a real PostgreSQL.

pub mod error;
pub mod pg;

pub use error::EmulatorError;
pub use pg::{PgCluster, PgServer};
