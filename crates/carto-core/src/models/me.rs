//! The account behind a key: `GET /api/v3/me` ([`GetMe`], [`Me`]) and the Data
//! Observatory token (`GET /api/v4/do/token`: [`GetDoToken`], [`DoToken`]).

use http::Method;
use serde::{Deserialize, Deserializer, Serialize};

use crate::endpoint::{check_status, decode_json};
use crate::{AuthPlacement, Endpoint, Error, HttpRequest, HttpResponse, RequestContext};

/// `GET /api/v3/me`: who the key belongs to. Only the members carto-rs relies on are
/// typed; the whole document is kept in `extra`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Me {
    /// `config` (its `user_name`).
    pub config: MeConfig,
    /// `user_data` (`id`, `username`, ...).
    pub user_data: MeUserData,
    /// Every other member.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `config` of `/api/v3/me`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeConfig {
    /// The username.
    pub user_name: String,
    /// Every other member.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// `user_data` of `/api/v3/me`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeUserData {
    /// The user id.
    pub id: String,
    /// The username.
    pub username: String,
    /// Every other member (the `api_key` member, when present, is the master key: treat
    /// the whole map as secret).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// The Data Observatory token (`GET /api/v4/do/token`), from which cartoframes derives
/// its BigQuery credentials.
#[derive(Clone, PartialEq, Serialize)]
pub struct DoToken {
    /// The Google access token (secret).
    pub access_token: String,
    /// `bq_public_project`.
    pub bq_public_project: Option<String>,
    /// `gcp_execution_project`.
    pub gcp_execution_project: Option<String>,
    /// `bq_project`: the user's BigQuery project.
    pub bq_project: Option<String>,
    /// `bq_dataset`.
    pub bq_dataset: Option<String>,
    /// `gcs_bucket`.
    pub gcs_bucket: Option<String>,
    /// `instant_licensing`.
    pub instant_licensing: Option<bool>,
}

impl std::fmt::Debug for DoToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DoToken")
            .field("access_token", &"<redacted>")
            .field("bq_public_project", &self.bq_public_project)
            .field("gcp_execution_project", &self.gcp_execution_project)
            .field("bq_project", &self.bq_project)
            .field("bq_dataset", &self.bq_dataset)
            .field("gcs_bucket", &self.gcs_bucket)
            .field("instant_licensing", &self.instant_licensing)
            .finish()
    }
}

#[derive(Deserialize)]
struct DoTokenWire {
    access_token: String,
    #[serde(default)]
    bq_public_project: Option<String>,
    #[serde(default)]
    gcp_execution_project: Option<String>,
    #[serde(default)]
    bq_project: Option<String>,
    #[serde(default)]
    bq_dataset: Option<String>,
    #[serde(default)]
    gcs_bucket: Option<String>,
    #[serde(default)]
    instant_licensing: Option<bool>,
}

impl<'de> Deserialize<'de> for DoToken {
    /// Accepts the object, and the one-element array CARTO relays unchanged from its
    /// central service.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum OneOrList {
            One(DoTokenWire),
            List(Vec<DoTokenWire>),
        }
        let wire = match OneOrList::deserialize(deserializer)? {
            OneOrList::One(w) => w,
            OneOrList::List(list) => list
                .into_iter()
                .next()
                .ok_or_else(|| serde::de::Error::custom("empty DO token list"))?,
        };
        Ok(DoToken {
            access_token: wire.access_token,
            bq_public_project: wire.bq_public_project,
            gcp_execution_project: wire.gcp_execution_project,
            bq_project: wire.bq_project,
            bq_dataset: wire.bq_dataset,
            gcs_bucket: wire.gcs_bucket,
            instant_licensing: wire.instant_licensing,
        })
    }
}

/// `GET /api/v3/me`: the user the key belongs to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GetMe;

impl Endpoint for GetMe {
    type Output = Me;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &["api", "v3", "me"]).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Me, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `GET /api/v4/do/token`: the Data Observatory token of the account (master key, or a
/// key granted the Data Observatory).
///
/// CARTO reads this endpoint's key from the `api_key` parameter only, so the key always
/// travels in the query string here, whatever the client's auth placement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GetDoToken;

impl Endpoint for GetDoToken {
    type Output = DoToken;

    fn to_request(&self, ctx: &RequestContext) -> Result<HttpRequest, Error> {
        let ctx = ctx.clone().with_auth_placement(AuthPlacement::QueryParam);
        ctx.request(Method::GET, &["api", "v4", "do", "token"])
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<DoToken, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}
