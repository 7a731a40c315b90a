//! The `carto-emulator` binary: a local CARTO server on a real PostgreSQL.
fn main() {}
