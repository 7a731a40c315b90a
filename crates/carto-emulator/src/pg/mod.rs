//! PostgreSQL: a private throwaway (or kept) cluster, or an existing server.
//!
//! - `binaries`: where the PostgreSQL programs are and the account they run as;
//! - [`cluster`]: the private cluster ([`PgCluster`]) made and started from them;
//! - `server`: the server the emulator works on ([`PgServer`], a private cluster or one given
//!   by URL) and its privileged sessions.

mod binaries;
pub mod cluster;
mod server;

pub use cluster::PgCluster;
pub use server::PgServer;
