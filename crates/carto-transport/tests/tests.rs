//! carto-transport's integration tests, one module per area (one binary to link).

mod api_core;
mod common;
mod glue;
mod streaming;

// Both backends against the same local servers.
#[cfg(all(feature = "ureq", feature = "reqwest"))]
mod canary;
#[cfg(all(feature = "ureq", feature = "reqwest"))]
mod conformance;
