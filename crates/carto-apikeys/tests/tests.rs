//! carto-apikeys' integration tests, one module per area (one binary to link).

mod endpoints;
mod managers;
mod pager;
