//! carto-sql's integration tests, one module per area (one binary to link); the heap
//! bounds are in `memory.rs` (a counting allocator of their own).

mod common;

mod batch_endpoints;
mod batch_wait;
mod carto3;
mod carto3_clients;
mod clients;
mod copy_client;
#[cfg(feature = "geo")]
mod geo;
mod prop_decoders;
mod query;
mod rows;

// Both clients against a local server. Against the emulator, end to end: the root
// package's `tests/tests.rs` (`e2e_sql_*`), with the facade's.
#[cfg(all(feature = "ureq", feature = "reqwest"))]
mod copy_length;
