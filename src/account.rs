//! The BigQuery credentials cartoframes derives from the Data Observatory token (the
//! endpoints, [`GetMe`](carto_core::models::GetMe) and
//! [`GetDoToken`](carto_core::models::GetDoToken), live in carto-core next to their
//! models).

use std::fmt;

use carto_core::models::DoToken;
use carto_core::{DecodeError, Error, Token};

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
