//! carto-imports' integration tests, one module per area (one binary to link).

mod clients;
