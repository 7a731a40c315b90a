//! carto-emulator's integration tests, one module per area (one binary to link). The
//! tests that kill the emulator binary are in `processes.rs`, the one that installs a
//! global tracing subscriber in `logging.rs`.

mod abandon;
mod accounts;
mod auth_api;
mod carto3;
mod cluster;
mod imports;
mod lifecycle;
mod maps;
mod routes;
mod security;
mod sessions;
mod sql_api;
mod sql_batch;
mod sql_copy;
mod sql_formats;
mod sql_front;
mod table_model;
