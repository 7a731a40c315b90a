//! [`SqlApi`]: the SQL API client, blocking ([`SqlClient`], over a [`Transport`]) or
//! async ([`AsyncSqlClient`], over an [`AsyncTransport`]); each operation's two
//! methods side by side.

use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use carto_core::{Credentials, Endpoint, Error, RequestContext};
use carto_transport::{
    Async, AsyncTransport, Blocking, ByteStream, ClientCore, Decoded, DecodedStream, Mode,
    ResponseReader, Transport,
};
use futures_util::Stream;
use serde::de::{DeserializeOwned, IgnoredAny};

use crate::geojson::FeatureCollection;
use crate::query::{Format, Query, QueryOptions, WholeJsonQuery};
use crate::response::{SqlResponse, SqlSummary};
use crate::rows::RowDecoder;
use crate::validate::{Validate, Validation};

/// Runs SQL through the SQL API over `T`, blocking or async as `M` says. Use it through
/// its two names, [`SqlClient`] ([`Blocking`]) and [`AsyncSqlClient`] ([`Async`]): the
/// same methods, `async` in the second.
///
/// Queries are POSTed as a form by default; `QueryOptions::use_get` asks for a GET for
/// queries shorter than 1024 bytes. `Debug` shows the request context, never the
/// token, nor the transport.
#[derive(Clone)]
pub struct SqlApi<T, M> {
    core: ClientCore<T>,
    mode: PhantomData<fn() -> M>,
}

/// Runs SQL through the SQL API, blocking the calling thread ([`SqlApi`] over a
/// [`Transport`]).
pub type SqlClient<T> = SqlApi<T, Blocking>;

/// Runs SQL through the SQL API, asynchronously ([`SqlApi`] over an
/// [`AsyncTransport`]).
pub type AsyncSqlClient<T> = SqlApi<T, Async>;

impl<T, M: Mode> SqlApi<T, M> {
    /// A client sending through `transport` with the given request context.
    pub fn new(transport: T, ctx: RequestContext) -> Self {
        Self {
            core: ClientCore::new(transport, ctx),
            mode: PhantomData,
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
impl<T, M: Mode> fmt::Debug for SqlApi<T, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.fmt_client::<M>("SqlClient", f)
    }
}

impl<T: Transport> SqlApi<T, Blocking> {
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
        self.query_with(sql, &Default::default())
    }

    /// Runs a statement (DDL, `INSERT`, `UPDATE`, ...) and returns what the server said
    /// besides rows: `total_rows` (the rows affected), `time`, the notices. Rows it
    /// returns are read and dropped.
    pub fn execute(&self, sql: &str) -> Result<SqlSummary, Error> {
        self.execute_with(sql, &Default::default())
    }

    /// [`execute`](Self::execute) with options.
    pub fn execute_with(&self, sql: &str, options: &QueryOptions) -> Result<SqlSummary, Error> {
        let response = self.query_with::<IgnoredAny>(sql, options)?;
        Ok(response.into_summary())
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
    pub fn geojson(&self, sql: &str) -> Result<FeatureCollection, Error> {
        self.geojson_with(sql, &Default::default())
    }

    /// [`geojson`](Self::geojson) with options.
    pub fn geojson_with(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<FeatureCollection, Error> {
        self.send(&query(sql, options).geojson())
    }

    /// Runs `sql` and returns the body in `format` (CSV, KML, ...), in memory.
    pub fn export(&self, sql: &str, format: Format) -> Result<Vec<u8>, Error> {
        self.export_with(sql, format, &Default::default())
    }

    /// [`export`](Self::export) with options.
    pub fn export_with(
        &self,
        sql: &str,
        format: Format,
        options: &QueryOptions,
    ) -> Result<Vec<u8>, Error> {
        self.send(&query(sql, options).export(format))
    }

    /// Runs `sql` and returns the body in `format` as a reader, read as it arrives:
    /// for results too large for memory.
    pub fn export_reader(&self, sql: &str, format: Format) -> Result<ResponseReader, Error> {
        self.export_reader_with(sql, format, &Default::default())
    }

    /// [`export_reader`](Self::export_reader) with options.
    pub fn export_reader_with(
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
    pub fn query_rows<R: DeserializeOwned>(&self, sql: &str) -> Result<Rows<R>, Error> {
        self.query_rows_with(sql, &Default::default())
    }

    /// [`query_rows`](Self::query_rows) with options.
    pub fn query_rows_with<R: DeserializeOwned>(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<Rows<R>, Error> {
        let endpoint = query(sql, options).json();
        Ok(Rows(self.core.send_streaming(&endpoint, None)?))
    }
}

impl<T: AsyncTransport> SqlApi<T, Async> {
    /// Sends any endpoint and parses its answer.
    pub async fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// Checks the credentials with one `SELECT 1` (see [`SqlClient::validate`]).
    pub async fn validate(&self) -> Result<Validation, Error> {
        Validation::from_result(self.send(&Validate).await)
    }

    /// Runs `sql` and decodes its rows into `R`, as they arrive (only the rows are held,
    /// never the whole body; see [`SqlClient::query`]).
    pub async fn query<R: DeserializeOwned>(&self, sql: &str) -> Result<SqlResponse<R>, Error> {
        self.query_with(sql, &Default::default()).await
    }

    /// Runs a statement and returns what the server said besides rows (see
    /// [`SqlClient::execute`]).
    pub async fn execute(&self, sql: &str) -> Result<SqlSummary, Error> {
        self.execute_with(sql, &Default::default()).await
    }

    /// [`execute`](Self::execute) with options.
    pub async fn execute_with(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<SqlSummary, Error> {
        let response = self.query_with::<IgnoredAny>(sql, options).await?;
        Ok(response.into_summary())
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
    pub async fn geojson(&self, sql: &str) -> Result<FeatureCollection, Error> {
        self.geojson_with(sql, &Default::default()).await
    }

    /// [`geojson`](Self::geojson) with options.
    pub async fn geojson_with(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<FeatureCollection, Error> {
        self.send(&query(sql, options).geojson()).await
    }

    /// Runs `sql` and returns the body in `format` (CSV, KML, ...), in memory.
    pub async fn export(&self, sql: &str, format: Format) -> Result<Vec<u8>, Error> {
        self.export_with(sql, format, &Default::default()).await
    }

    /// [`export`](Self::export) with options.
    pub async fn export_with(
        &self,
        sql: &str,
        format: Format,
        options: &QueryOptions,
    ) -> Result<Vec<u8>, Error> {
        self.send(&query(sql, options).export(format)).await
    }

    /// Runs `sql` and returns the body in `format` as a byte stream, read as it
    /// arrives: for results too large for memory.
    pub async fn export_stream(&self, sql: &str, format: Format) -> Result<ByteStream, Error> {
        self.export_stream_with(sql, format, &Default::default())
            .await
    }

    /// [`export_stream`](Self::export_stream) with options.
    pub async fn export_stream_with(
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
    pub async fn query_rows<R: DeserializeOwned>(&self, sql: &str) -> Result<RowStream<R>, Error> {
        self.query_rows_with(sql, &Default::default()).await
    }

    /// [`query_rows`](Self::query_rows) with options.
    pub async fn query_rows_with<R: DeserializeOwned>(
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

#[cfg(test)]
mod tests {
    use carto_core::{BaseUrl, Credentials};
    use carto_transport::{async_transport_fn, transport_fn};

    use super::*;

    const ANSWER: &[u8] =
        br#"{"rows":[{"a":1},{"a":2}],"time":0.25,"fields":{},"total_rows":2,"notices":["n"]}"#;

    fn creds() -> Credentials {
        Credentials::new(BaseUrl::parse("https://alice.carto.com").unwrap(), "secret")
    }

    fn expected() -> SqlSummary {
        SqlSummary {
            time: Some(std::time::Duration::from_secs_f64(0.25)),
            total_rows: 2,
            notices: vec!["n".into()],
            ..SqlSummary::default()
        }
    }

    #[test]
    fn execute_returns_the_summary_without_rows() {
        let sql = SqlClient::from_credentials(
            transport_fn(|request| {
                assert_eq!(request.uri().path(), "/api/v2/sql");
                Ok(http::Response::new(ANSWER.to_vec()))
            }),
            creds(),
        );
        assert_eq!(sql.execute("UPDATE t SET a = a").unwrap(), expected());
    }

    #[tokio::test]
    async fn execute_async_returns_the_summary_without_rows() {
        let sql = AsyncSqlClient::from_credentials(
            async_transport_fn(|_| async { Ok(http::Response::new(ANSWER.to_vec())) }),
            creds(),
        );
        assert_eq!(sql.execute("DELETE FROM t").await.unwrap(), expected());
    }
}
