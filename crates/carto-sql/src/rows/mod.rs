//! Incremental decoding of a JSON result as its bytes arrive: the rows one by one,
//! then the rest of the document (time, fields, total_rows, a late `error`).
//!
//! - `scan`: the one JSON scanner (depth, strings, escapes) of the module;
//! - [`RowSplitter`]: cuts the `"rows":[...]` array of the document into its elements
//!   and keeps everything else (the "envelope", small) aside;
//! - [`RowDecoder`]: decodes each row into `T` as it arrives (the streamed query);
//! - `WholeRows`: the buffered query's decoder, one serde pass over a small body, a
//!   [`RowDecoder`] over a large one.
//!
//! None does I/O: the sync and async clients feed them chunks as the transport delivers
//! them, so a result far larger than memory is decoded with only one row (and one chunk)
//! held at a time.

mod decoder;
mod scan;
mod splitter;
mod whole;

pub use decoder::RowDecoder;
pub use splitter::RowSplitter;
pub(crate) use whole::WholeRows;
