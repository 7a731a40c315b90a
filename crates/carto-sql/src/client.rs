//! [`SqlClient`]: the sync SQL API client over any [`Transport`].

use std::fmt;

use carto_core::{Credentials, Endpoint, Error, RequestContext};
use carto_transport::{ClientCore, Decoded, ResponseReader, Transport};
use serde::de::DeserializeOwned;

use crate::geojson::FeatureCollection;
use crate::query::{Format, Query, QueryOptions, WholeJsonQuery};
use crate::response::{SqlResponse, SqlSummary};
use crate::rows::RowDecoder;
use crate::validate::{Validate, Validation};

/// Runs SQL through the SQL API, blocking the calling thread.
///
/// Queries are POSTed as a form by default; `QueryOptions::use_get` asks for a GET for
/// queries shorter than 1024 bytes. `Debug` never shows the token.
#[derive(Clone)]
pub struct SqlClient<T> {
    core: ClientCore<T>,
}

impl<T: Transport> SqlClient<T> {
    /// A client sending through `transport` with the given request context.
    pub fn new(transport: T, ctx: RequestContext) -> Self {
        Self {
            core: ClientCore::new(transport, ctx),
        }
    }

    /// A client for `credentials`, with the key in the Basic header.
    pub fn from_credentials(transport: T, credentials: Credentials) -> Self {
        Self::new(transport, RequestContext::new(credentials))
    }

    /// The request context (credentials, auth placement, user agent).
    pub fn context(&self) -> &RequestContext {
        self.core.context()
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        self.core.transport()
    }
}

/// Shows the request context (never the token), not the transport.
impl<T> fmt::Debug for SqlClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_debug("SqlClient", f)
    }
}

impl<T: Transport> SqlClient<T> {
    /// Sends any endpoint and parses its answer.
    pub fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send(endpoint)
    }

    /// Checks the credentials with one `SELECT 1`: [`Validation::Valid`], or what is
    /// wrong (an unknown key, a key without the SQL grant, an unknown user, a base URL
    /// that is not CARTO, an unreachable host). Other failures are errors.
    pub fn validate(&self) -> Result<Validation, Error> {
        Validation::from_result(self.send(&Validate))
    }

    /// Runs `sql` and decodes its rows into `R` (for example a `#[derive(Deserialize)]`
    /// struct, or `serde_json::Value`).
    ///
    /// The rows are decoded as the body arrives, so only they are held, never the whole
    /// body; the call is under the transport's whole-request timeout, and a `read_only`
    /// query whose body fails midway is sent again (see
    /// [`send_collect`](carto_transport::send_collect)).
    pub fn query<R: DeserializeOwned>(&self, sql: &str) -> Result<SqlResponse<R>, Error> {
        self.query_with(sql, &QueryOptions::default())
    }

    /// [`query`](Self::query) with options.
    pub fn query_with<R: DeserializeOwned>(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<SqlResponse<R>, Error> {
        let endpoint = WholeJsonQuery(query(sql, options).json());
        self.core
            .send_collect(&endpoint)
            .map(WholeJsonQuery::response)
    }

    /// Runs `sql` with `format=geojson`.
    pub fn geojson(&self, sql: &str, options: &QueryOptions) -> Result<FeatureCollection, Error> {
        self.send(&query(sql, options).geojson())
    }

    /// Runs `sql` and returns the body in `format` (CSV, KML, ...), in memory.
    pub fn export(
        &self,
        sql: &str,
        format: Format,
        options: &QueryOptions,
    ) -> Result<Vec<u8>, Error> {
        self.send(&query(sql, options).export(format))
    }

    /// Runs `sql` and returns the body in `format` as a reader, read as it arrives:
    /// for results too large for memory.
    pub fn export_reader(
        &self,
        sql: &str,
        format: Format,
        options: &QueryOptions,
    ) -> Result<ResponseReader, Error> {
        let endpoint = query(sql, options).export(format);
        Ok(self.core.send_streaming(&endpoint, None)?.into_reader())
    }

    /// Runs `sql` and decodes its rows one by one as they arrive, so a result larger
    /// than memory can be walked. A failure the server reports after the rows (a 200
    /// response ending with an `error` key) is the last item.
    pub fn query_rows<R: DeserializeOwned>(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<Rows<R>, Error> {
        let endpoint = query(sql, options).json();
        Ok(Rows(self.core.send_streaming(&endpoint, None)?))
    }
}

fn query(sql: &str, options: &QueryOptions) -> Query {
    Query::new(sql).with_options(options.clone())
}

/// The rows of a result, decoded as they arrive ([`SqlClient::query_rows`]).
///
/// After the last row, [`summary`](Self::summary) gives `time`, `fields`,
/// `total_rows` and the notices.
pub struct Rows<R>(Decoded<RowDecoder<R>>);

impl<R: DeserializeOwned> Rows<R> {
    /// What the document said besides its rows, once every row was read.
    pub fn summary(&self) -> Option<&SqlSummary> {
        self.0.decoder().summary()
    }
}

impl<R: DeserializeOwned> Iterator for Rows<R> {
    type Item = Result<R, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
}

impl<R: DeserializeOwned> std::iter::FusedIterator for Rows<R> {}

impl<R> fmt::Debug for Rows<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Rows").field(&self.0).finish()
    }
}
