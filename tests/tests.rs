//! carto-rs' integration tests, one module per area (one binary to link): the facade, and
//! the clients end to end against the emulator.

#[macro_use]
mod common;

mod buffered_query;
mod canary;
mod dying_server;
mod e2e_async;
mod e2e_batch_copy;
mod e2e_blocking;
mod e2e_carto3;
mod e2e_org;
mod e2e_retry;
mod facade;
mod https;
// carto-sql's clients on bare transports (sync on ureq, async on reqwest).
#[cfg(feature = "arrow")]
mod e2e_sql_arrow;
mod e2e_sql_batch;
mod e2e_sql_copy;
#[cfg(feature = "test-util")]
mod test_util;
