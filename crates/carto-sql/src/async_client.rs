//! [`AsyncSqlClient`]: the async SQL API client over any [`AsyncTransport`].

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use carto_core::{Credentials, Endpoint, Error, RequestContext};
use carto_transport::{AsyncTransport, ByteStream, ClientCore, DecodedStream};
use futures_util::Stream;
use serde::de::DeserializeOwned;

use crate::geojson::FeatureCollection;
use crate::query::{Format, Query, QueryOptions, WholeJsonQuery};
use crate::response::{SqlResponse, SqlSummary};
use crate::rows::RowDecoder;
use crate::validate::{Validate, Validation};

/// Runs SQL through the SQL API, asynchronously. Same methods as
/// [`SqlClient`](crate::SqlClient).
#[derive(Clone)]
pub struct AsyncSqlClient<T> {
    core: ClientCore<T>,
}

impl<T: AsyncTransport> AsyncSqlClient<T> {
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
impl<T> fmt::Debug for AsyncSqlClient<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_debug("AsyncSqlClient", f)
    }
}

impl<T: AsyncTransport> AsyncSqlClient<T> {
    /// Sends any endpoint and parses its answer.
    pub async fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// Checks the credentials with one `SELECT 1` (see [`SqlClient::validate`](crate::SqlClient::validate)).
    pub async fn validate(&self) -> Result<Validation, Error> {
        Validation::from_result(self.send(&Validate).await)
    }

    /// Runs `sql` and decodes its rows into `R`, as they arrive (only the rows are held,
    /// never the whole body; see [`SqlClient::query`](crate::SqlClient::query)).
    pub async fn query<R: DeserializeOwned>(&self, sql: &str) -> Result<SqlResponse<R>, Error> {
        self.query_with(sql, &QueryOptions::default()).await
    }

    /// [`query`](Self::query) with options.
    pub async fn query_with<R: DeserializeOwned>(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<SqlResponse<R>, Error> {
        let endpoint = WholeJsonQuery(query(sql, options).json());
        self.core
            .send_collect_async(&endpoint)
            .await
            .map(WholeJsonQuery::response)
    }

    /// Runs `sql` with `format=geojson`.
    pub async fn geojson(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<FeatureCollection, Error> {
        self.send(&query(sql, options).geojson()).await
    }

    /// Runs `sql` and returns the body in `format` (CSV, KML, ...), in memory.
    pub async fn export(
        &self,
        sql: &str,
        format: Format,
        options: &QueryOptions,
    ) -> Result<Vec<u8>, Error> {
        self.send(&query(sql, options).export(format)).await
    }

    /// Runs `sql` and returns the body in `format` as a byte stream, read as it
    /// arrives: for results too large for memory.
    pub async fn export_stream(
        &self,
        sql: &str,
        format: Format,
        options: &QueryOptions,
    ) -> Result<ByteStream, Error> {
        let endpoint = query(sql, options).export(format);
        let body = self.core.send_streaming_async(&endpoint, None).await?;
        Ok(body.into_stream())
    }

    /// Runs `sql` and decodes its rows one by one as they arrive. A failure the server
    /// reports after the rows is the last item.
    pub async fn query_rows<R: DeserializeOwned>(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<RowStream<R>, Error> {
        let endpoint = query(sql, options).json();
        let rows = self.core.send_streaming_async(&endpoint, None).await?;
        Ok(RowStream(rows))
    }
}

fn query(sql: &str, options: &QueryOptions) -> Query {
    Query::new(sql).with_options(options.clone())
}

/// The rows of a result, decoded as they arrive ([`AsyncSqlClient::query_rows`]).
pub struct RowStream<R>(DecodedStream<RowDecoder<R>>);

impl<R: DeserializeOwned> RowStream<R> {
    /// What the document said besides its rows, once every row was read.
    pub fn summary(&self) -> Option<&SqlSummary> {
        self.0.decoder().summary()
    }
}

impl<R: DeserializeOwned> Stream for RowStream<R> {
    type Item = Result<R, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.0).poll_next(cx)
    }
}

impl<R> fmt::Debug for RowStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RowStream").field(&self.0).finish()
    }
}
