//! carto-core's integration tests, one module per area (one binary to link).

mod canary;
mod carto3;
mod fixtures;
mod prop_parsers;
