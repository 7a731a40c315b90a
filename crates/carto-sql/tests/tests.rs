//! carto-sql's integration tests, one module per area (one binary to link); the heap
//! bounds are in `memory.rs` (a counting allocator of their own).

mod common;

mod batch_endpoints;
mod batch_wait;
mod carto3;
mod clients;
mod copy_client;
#[cfg(feature = "geo")]
mod geo;
mod prop_decoders;
mod query;
mod rows;

// Both clients against the emulator, or against a local server.
#[cfg(all(feature = "arrow", feature = "ureq", feature = "reqwest"))]
mod arrow;
#[cfg(all(feature = "ureq", feature = "reqwest"))]
mod batch_e2e;
#[cfg(all(feature = "ureq", feature = "reqwest"))]
mod copy_e2e;
#[cfg(all(feature = "ureq", feature = "reqwest"))]
mod copy_length;
