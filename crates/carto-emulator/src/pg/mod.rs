//! PostgreSQL: a private throwaway (or kept) cluster, or an existing server.

pub mod cluster;

pub use cluster::{PgCluster, PgServer};
