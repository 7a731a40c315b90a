//! The Tokens API operations as sans-IO [`ApiEndpoint`] values. `{token}` in a path
//! is the token itself, a secret: the endpoints' `Debug` redacts it, and
//! [`loggable_path`](carto_core::endpoint::loggable_path) cuts it from traced paths.

use carto_core::carto3::{AccessToken, ApiContext, ApiEndpoint};
use carto_core::endpoint::{check_status, decode_json};
use carto_core::{Error, HttpRequest, HttpResponse};
use http::Method;
use serde::Deserialize;

use crate::models::{ApiAccessToken, NewToken, TokenUpdate};

const COLLECTION: [&str; 2] = ["v3", "tokens"];

fn token_path(token: &AccessToken) -> Result<[&str; 3], Error> {
    if token.is_empty() {
        return Err(Error::invalid("token", "the token is empty"));
    }
    Ok([COLLECTION[0], COLLECTION[1], token.expose_secret()])
}

/// `POST /v3/tokens`: creates an API access token; answers it with its `token`.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateToken(pub NewToken);

impl ApiEndpoint for CreateToken {
    type Output = ApiAccessToken;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::POST, &COLLECTION)
            .json(&self.0)?
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<ApiAccessToken, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }
}

/// `GET /v3/tokens`: the tokens of the user. The list's shape is not documented: a
/// JSON array, or an object holding it under `data`, `tokens`, `results` or `items`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListTokens;

#[derive(Deserialize)]
#[serde(untagged)]
enum TokenList {
    Bare(Vec<ApiAccessToken>),
    Wrapped {
        #[serde(alias = "tokens", alias = "results", alias = "items")]
        data: Vec<ApiAccessToken>,
    },
}

impl ApiEndpoint for ListTokens {
    type Output = Vec<ApiAccessToken>;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &COLLECTION).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Vec<ApiAccessToken>, Error> {
        check_status(&response)?;
        let list: TokenList = decode_json(response.status(), response.body())?;
        Ok(match list {
            TokenList::Bare(data) | TokenList::Wrapped { data } => data,
        })
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `GET /v3/tokens/{token}`: one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetToken {
    /// The token.
    pub token: AccessToken,
}

impl GetToken {
    /// The token `token`.
    pub fn new(token: impl Into<AccessToken>) -> Self {
        Self {
            token: token.into(),
        }
    }
}

impl ApiEndpoint for GetToken {
    type Output = ApiAccessToken;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::GET, &token_path(&self.token)?).build()
    }

    fn parse(&self, response: HttpResponse) -> Result<ApiAccessToken, Error> {
        check_status(&response)?;
        decode_json(response.status(), response.body())
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `PATCH /v3/tokens/{token}`: replaces the members `update` sets. Answers the token
/// when the server sends it back (not documented), else `None`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateToken {
    /// The token.
    pub token: AccessToken,
    /// What to replace.
    pub update: TokenUpdate,
}

impl UpdateToken {
    /// Updates `token` with `update`.
    pub fn new(token: impl Into<AccessToken>, update: TokenUpdate) -> Self {
        Self {
            token: token.into(),
            update,
        }
    }
}

impl ApiEndpoint for UpdateToken {
    type Output = Option<ApiAccessToken>;

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        if self.update.is_empty() {
            return Err(Error::invalid("token update", "the update changes nothing"));
        }
        ctx.request(Method::PATCH, &token_path(&self.token)?)
            .json(&self.update)?
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<Option<ApiAccessToken>, Error> {
        check_status(&response)?;
        if response.body().trim_ascii().is_empty() {
            return Ok(None);
        }
        decode_json(response.status(), response.body()).map(Some)
    }

    /// Replacing members with the same values twice has the effect of once.
    fn is_idempotent(&self) -> bool {
        true
    }
}

/// `DELETE /v3/tokens/{token}`: revokes a token at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteToken {
    /// The token.
    pub token: AccessToken,
}

impl DeleteToken {
    /// Revokes `token`.
    pub fn new(token: impl Into<AccessToken>) -> Self {
        Self {
            token: token.into(),
        }
    }
}

impl ApiEndpoint for DeleteToken {
    type Output = ();

    fn to_request(&self, ctx: &ApiContext) -> Result<HttpRequest, Error> {
        ctx.request(Method::DELETE, &token_path(&self.token)?)
            .build()
    }

    fn parse(&self, response: HttpResponse) -> Result<(), Error> {
        check_status(&response)
    }

    fn is_idempotent(&self) -> bool {
        true
    }
}
