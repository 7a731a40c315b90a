//! The Auth API v3 models (API keys, grants, list pages) and the `/api/v3/me` and
//! Data Observatory token documents, matching CARTO's wire format.

mod api_key;
mod grants;
mod me;
mod timestamp;

pub use api_key::{
    ApiKey, ApiKeyPage, ApiKeyType, ApiKeyUser, Link, NewApiKey, NewApiKeyBuilder, PageLinks,
};
pub use grants::{
    Api, DatabaseGrant, Grant, Grants, SchemaGrant, SchemaPermission, Service, TableGrant,
    TablePermission, UserData,
};
pub use me::{DoToken, GetDoToken, GetMe, Me, MeConfig, MeUserData};
pub use timestamp::Timestamp;
