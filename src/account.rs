//! Account endpoints besides keys and SQL: `GET /api/v3/me` and the Data Observatory
//! token (`GET /api/v4/do/token`), with the BigQuery credentials cartoframes derives
//! from it.

use std::fmt;

use carto_core::endpoint::{check_status, decode_json};
use carto_core::models::{DoToken, Me};
use carto_core::{AuthPlacement, DecodeError, Endpoint, Error, HttpRequest, HttpResponse};
use carto_core::{RequestContext, Token};
use http::Method;

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

/// BigQuery credentials for the Data Observatory: the project and a Google access
/// token, as cartoframes' `get_gcloud_credentials()` returns them. `Debug` redacts the
/// token.
#[derive(Clone, PartialEq, Eq)]
pub struct GcloudCredentials {
    /// The user's BigQuery project (`bq_project`).
    pub project: String,
    /// The Google access token (secret).
    pub access_token: Token,
}

impl fmt::Debug for GcloudCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GcloudCredentials")
            .field("project", &self.project)
            .field("access_token", &self.access_token)
            .finish()
    }
}

impl TryFrom<DoToken> for GcloudCredentials {
    type Error = Error;

    /// Fails with a decode error when the token has no `bq_project`.
    fn try_from(token: DoToken) -> Result<Self, Error> {
        let project = token.bq_project.ok_or_else(|| {
            Error::from(DecodeError::new(
                http::StatusCode::OK,
                "bq_project",
                "the Data Observatory token has no BigQuery project",
                b"",
            ))
        })?;
        Ok(Self {
            project,
            access_token: Token::new(token.access_token),
        })
    }
}
