//! PostgreSQL: a private throwaway (or kept) cluster, or an existing server.
//!
//! - `binaries`: where the PostgreSQL programs are and the account they run as;
//! - [`cluster`]: the private cluster ([`PgCluster`]) made and started from them;
//! - [`reuse`]: the machine's cache of initialised clusters, and the clean-up of clusters left
//!   by killed processes;
//! - `server`: the server the emulator works on ([`PgServer`], a private cluster or one given
//!   by URL) and its privileged sessions.

mod binaries;
pub mod cluster;
pub mod reuse;
mod server;

pub use cluster::PgCluster;
pub use server::PgServer;
