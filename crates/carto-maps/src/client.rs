//! [`MapsApi`]: the Maps API client, blocking ([`MapsClient`], over a [`Transport`]) or
//! async ([`AsyncMapsClient`], over an [`AsyncTransport`]); each operation's two methods
//! side by side.

use std::fmt;
use std::marker::PhantomData;

use carto_core::{Credentials, Endpoint, Error};
use carto_transport::{Async, AsyncTransport, Blocking, ClientCore, Mode, Transport};
use serde_json::{Map, Value};

use crate::endpoints::{
    CreateNamedMap, DeleteNamedMap, GetAttributes, GetNamedMap, GetTile, InstantiateAnonymousMap,
    InstantiateNamedMap, ListNamedMaps, NamedMapCreated, Tile, UpdateNamedMap,
};
use crate::layergroup::Layergroup;
use crate::mapconfig::MapConfig;
use crate::template::NamedMap;

/// The Maps API v1 over `T`, blocking or async as `M` says. Use it through its two
/// names, [`MapsClient`] ([`Blocking`]) and [`AsyncMapsClient`] ([`Async`]).
///
/// Named-map CRUD needs the master key; anonymous maps and tiles need a key with the
/// `maps` grant. `Debug` shows the request context, never the key.
pub struct MapsApi<T, M> {
    core: ClientCore<T>,
    mode: PhantomData<fn() -> M>,
}

/// The Maps API, blocking the calling thread.
pub type MapsClient<T> = MapsApi<T, Blocking>;

/// The Maps API, asynchronously.
pub type AsyncMapsClient<T> = MapsApi<T, Async>;

/// How a named map is instantiated: the placeholders' values and the template token.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InstantiateOptions {
    params: Map<String, Value>,
    auth_token: Option<String>,
}

impl InstantiateOptions {
    /// No values (the placeholders' defaults), no token.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of placeholder `name`.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<Value>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// One of the template's `valid_tokens`.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    fn endpoint(&self, template_id: &str) -> InstantiateNamedMap {
        InstantiateNamedMap {
            template_id: template_id.to_owned(),
            params: self.params.clone(),
            auth_token: self.auth_token.clone(),
        }
    }
}

impl<T, M: Mode> MapsApi<T, M> {
    /// A client sending through `core`.
    pub fn new(core: ClientCore<T>) -> Self {
        Self {
            core,
            mode: PhantomData,
        }
    }

    /// A client for `credentials`, with the key in the Basic header.
    pub fn from_credentials(transport: T, credentials: Credentials) -> Self {
        Self::new(ClientCore::from_credentials(transport, credentials))
    }

    /// The core: transport and request context.
    pub fn core(&self) -> &ClientCore<T> {
        &self.core
    }
}

impl<T: Clone, M> Clone for MapsApi<T, M> {
    fn clone(&self) -> Self {
        Self {
            core: self.core.clone(),
            mode: PhantomData,
        }
    }
}

/// Shows the request context (never the key), not the transport.
impl<T, M: Mode> fmt::Debug for MapsApi<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_client::<M>("MapsClient", f)
    }
}

fn get_named(template_id: &str) -> GetNamedMap {
    GetNamedMap {
        template_id: template_id.to_owned(),
    }
}

fn delete_named(template_id: &str) -> DeleteNamedMap {
    DeleteNamedMap {
        template_id: template_id.to_owned(),
    }
}

fn attributes(layergroup: &Layergroup, layer: u32, feature_id: i64) -> GetAttributes {
    GetAttributes {
        layergroup: layergroup.layergroupid.clone(),
        layer,
        feature_id,
    }
}

impl<T: Transport> MapsApi<T, Blocking> {
    /// Sends any endpoint and parses its answer.
    pub fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send(endpoint)
    }

    /// Stores a named map (master key).
    pub fn create_named_map(&self, template: &NamedMap) -> Result<NamedMapCreated, Error> {
        self.send(&CreateNamedMap(template.clone()))
    }

    /// The names of the user's named maps (master key).
    pub fn named_maps(&self) -> Result<Vec<String>, Error> {
        self.send(&ListNamedMaps)
    }

    /// One named map (master key).
    pub fn named_map(&self, template_id: &str) -> Result<NamedMap, Error> {
        self.send(&get_named(template_id))
    }

    /// Replaces a named map (master key; the name cannot change).
    pub fn update_named_map(&self, template: &NamedMap) -> Result<String, Error> {
        self.send(&UpdateNamedMap(template.clone()))
    }

    /// Deletes a named map (master key).
    pub fn delete_named_map(&self, template_id: &str) -> Result<(), Error> {
        self.send(&delete_named(template_id))
    }

    /// Instantiates a named map with its placeholders' defaults and no token.
    pub fn instantiate_named_map(&self, template_id: &str) -> Result<Layergroup, Error> {
        self.instantiate_named_map_with(template_id, &InstantiateOptions::new())
    }

    /// Instantiates a named map with values and a template token.
    pub fn instantiate_named_map_with(
        &self,
        template_id: &str,
        options: &InstantiateOptions,
    ) -> Result<Layergroup, Error> {
        self.send(&options.endpoint(template_id))
    }

    /// Instantiates an anonymous map; its SQL runs as this client's key.
    pub fn instantiate(&self, config: &MapConfig) -> Result<Layergroup, Error> {
        self.send(&InstantiateAnonymousMap(config.clone()))
    }

    /// A tile; `None` for an empty vector tile.
    pub fn tile(&self, tile: &GetTile) -> Result<Option<Tile>, Error> {
        self.send(tile)
    }

    /// The attributes layer `layer` exposes of feature `feature_id`.
    pub fn attributes(
        &self,
        layergroup: &Layergroup,
        layer: u32,
        feature_id: i64,
    ) -> Result<Map<String, Value>, Error> {
        self.send(&attributes(layergroup, layer, feature_id))
    }
}

impl<T: AsyncTransport> MapsApi<T, Async> {
    /// Sends any endpoint and parses its answer.
    pub async fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// Stores a named map (master key).
    pub async fn create_named_map(&self, template: &NamedMap) -> Result<NamedMapCreated, Error> {
        self.send(&CreateNamedMap(template.clone())).await
    }

    /// The names of the user's named maps (master key).
    pub async fn named_maps(&self) -> Result<Vec<String>, Error> {
        self.send(&ListNamedMaps).await
    }

    /// One named map (master key).
    pub async fn named_map(&self, template_id: &str) -> Result<NamedMap, Error> {
        self.send(&get_named(template_id)).await
    }

    /// Replaces a named map (master key).
    pub async fn update_named_map(&self, template: &NamedMap) -> Result<String, Error> {
        self.send(&UpdateNamedMap(template.clone())).await
    }

    /// Deletes a named map (master key).
    pub async fn delete_named_map(&self, template_id: &str) -> Result<(), Error> {
        self.send(&delete_named(template_id)).await
    }

    /// Instantiates a named map with its placeholders' defaults and no token.
    pub async fn instantiate_named_map(&self, template_id: &str) -> Result<Layergroup, Error> {
        self.instantiate_named_map_with(template_id, &InstantiateOptions::new())
            .await
    }

    /// Instantiates a named map with values and a template token.
    pub async fn instantiate_named_map_with(
        &self,
        template_id: &str,
        options: &InstantiateOptions,
    ) -> Result<Layergroup, Error> {
        self.send(&options.endpoint(template_id)).await
    }

    /// Instantiates an anonymous map; its SQL runs as this client's key.
    pub async fn instantiate(&self, config: &MapConfig) -> Result<Layergroup, Error> {
        self.send(&InstantiateAnonymousMap(config.clone())).await
    }

    /// A tile; `None` for an empty vector tile.
    pub async fn tile(&self, tile: &GetTile) -> Result<Option<Tile>, Error> {
        self.send(tile).await
    }

    /// The attributes layer `layer` exposes of feature `feature_id`.
    pub async fn attributes(
        &self,
        layergroup: &Layergroup,
        layer: u32,
        feature_id: i64,
    ) -> Result<Map<String, Value>, Error> {
        self.send(&attributes(layergroup, layer, feature_id)).await
    }
}
