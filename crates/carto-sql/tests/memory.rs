//! Heap bounds, measured by a counting global allocator: a binary of its own, its tests
//! one at a time (`carto_test_support::alloc::serial`).

#[global_allocator]
static ALLOCATOR: carto_test_support::alloc::Counting = carto_test_support::alloc::Counting;

#[cfg(feature = "arrow")]
mod arrow_memory;
mod copy_streaming;
mod query_memory;
