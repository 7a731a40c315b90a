//! What the carto-rs tests and benches share (a dev-dependency only, never published):
//!
//! - [`alloc`]: a counting global allocator, for the memory tests and benches;
//! - [`fixtures`]: the upstream wire fixtures, stored once under `data/` and compiled in;
//! - [`postgis()`](fn@postgis): the one check every test that needs PostGIS asks;
//! - [`trace`]: traces captured into memory, and the canary checks on text and errors;
//! - [`read`]: readers that hand out a body in given chunks;
//! - `emulator` (feature `emulator`): emulators to test against — its HTTP API from a
//!   test, its binary as a child process, a throwaway cluster with the SQL engine.

pub mod alloc;
pub mod fixtures;
pub mod messages;
pub mod postgis;
pub mod read;
pub mod trace;

#[cfg(feature = "emulator")]
pub mod emulator;

pub use fixtures::{fixture, fixture_path, fixture_response, fixture_str};
pub use messages::{json_response, render_request};
pub use postgis::postgis;
