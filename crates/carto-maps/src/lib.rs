//! carto-maps: the Maps API v1 of CARTO's legacy platform (Windshaft).
//!
//! - **Named maps** ([`NamedMap`]): templates with placeholders ([`Placeholder`], whose
//!   type decides how a value is escaped into SQL or CartoCSS) and token auth
//!   ([`TemplateAuth`]); created, listed, read, updated and deleted with the master key,
//!   instantiated by anyone the template allows, rendered as their owner.
//! - **Anonymous maps** ([`MapConfig`], [`Layer`]): vector-only layers (MVT) or
//!   CartoCSS-styled layers, instantiated with a key that has the `maps` grant; their SQL
//!   runs as the key of each request.
//! - **Layergroup resources** ([`Layergroup`]): tiles ([`endpoints::GetTile`],
//!   [`endpoints::GetNamedTile`]), attributes, static images, and URL templates for a map
//!   library ([`Layergroup::tile_url_template`]).
//!
//! - **CARTO 3 map sources** ([`v3`]): a table or a query on a connection, its TileJSON,
//!   MVT tiles and column stats.
//!
//! [`endpoints`] holds every operation as a sans-IO [`Endpoint`](carto_core::Endpoint);
//! [`MapsClient`] and [`AsyncMapsClient`] send them.
//!
//! ```no_run
//! use carto_core::{BaseUrl, Credentials};
//! use carto_maps::endpoints::GetTile;
//! use carto_maps::{Layer, MapConfig, MapsClient, TileCoord, TileFormat};
//!
//! # fn run(transport: impl carto_transport::Transport) -> Result<(), carto_core::Error> {
//! let credentials = Credentials::new(BaseUrl::parse("https://alice.carto.com")?, "a-maps-key");
//! let maps = MapsClient::from_credentials(transport, credentials);
//! let config = MapConfig::new([Layer::vector("SELECT cartodb_id, the_geom_webmercator FROM cities")]);
//! let group = maps.instantiate(&config)?;
//! let tile = maps.tile(&GetTile::new(&group.layergroupid, TileCoord::new(2, 1, 1)?, TileFormat::Mvt))?;
//! println!("{} bytes", tile.map_or(0, |t| t.data.len()));
//! # Ok(()) }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
pub mod endpoints;
mod layergroup;
mod mapconfig;
mod template;
pub mod v3;

pub use client::{AsyncMapsClient, InstantiateOptions, MapsApi, MapsClient};
pub use layergroup::{
    ImageFormat, LayerMetadata, Layergroup, LayergroupMetadata, MAX_IMAGE_SIDE, TileCoord,
    TileFormat,
};
pub use mapconfig::{
    Attributes, Interactivity, Layer, LayerOptions, LayerType, MAX_MAPCONFIG_VERSION, MapConfig,
    version_supported,
};
pub use template::{NamedMap, Placeholder, PlaceholderType, TEMPLATE_VERSION, TemplateAuth};
