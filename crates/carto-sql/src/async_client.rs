//! [`AsyncSqlClient`]: the async SQL API client over any [`AsyncTransport`].

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use carto_core::endpoint::api_error;
use carto_core::{Endpoint, Error};
use carto_transport::{AsyncBody, AsyncTransport, ByteStream, ClientCore};
use futures_util::Stream;
use serde::de::DeserializeOwned;

use crate::geojson::FeatureCollection;
use crate::query::{Format, Query, QueryOptions};
use crate::response::{SqlResponse, SqlSummary};
use crate::rows::RowDecoder;

/// Runs SQL through the SQL API, asynchronously. Same methods as
/// [`SqlClient`](crate::SqlClient).
pub struct AsyncSqlClient<T> {
    core: ClientCore<T>,
}

carto_transport::__client_core_methods!(AsyncSqlClient, AsyncTransport, "client");

impl<T: AsyncTransport> AsyncSqlClient<T> {
    /// Sends any endpoint and parses its answer.
    pub async fn send<E: Endpoint>(&self, endpoint: &E) -> Result<E::Output, Error> {
        self.core.send_async(endpoint).await
    }

    /// Runs `sql` and decodes its rows into `R`.
    pub async fn query<R: DeserializeOwned>(&self, sql: &str) -> Result<SqlResponse<R>, Error> {
        self.query_with(sql, &QueryOptions::default()).await
    }

    /// [`query`](Self::query) with options.
    pub async fn query_with<R: DeserializeOwned>(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<SqlResponse<R>, Error> {
        self.send(&query(sql, options).json()).await
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
        self.stream(&query(sql, options), Some(format)).await
    }

    /// Runs `sql` and decodes its rows one by one as they arrive. A failure the server
    /// reports after the rows is the last item.
    pub async fn query_rows<R: DeserializeOwned>(
        &self,
        sql: &str,
        options: &QueryOptions,
    ) -> Result<RowStream<R>, Error> {
        let body = self.stream(&query(sql, options), None).await?;
        Ok(RowStream {
            body,
            decoder: RowDecoder::new(http::StatusCode::OK),
            done: false,
            summary: None,
        })
    }

    async fn stream(&self, query: &Query, format: Option<Format>) -> Result<ByteStream, Error> {
        let request = query.to_request(self.core.context(), format)?;
        let request = request.map(AsyncBody::from);
        let response = self.core.transport().send_streaming(request).await?;
        if response.status().is_success() {
            return Ok(response.into_body());
        }
        let (parts, body) = response.into_parts();
        let body = body.into_bytes().await?;
        Err(api_error(&http::Response::from_parts(parts, body)).into())
    }
}

fn query(sql: &str, options: &QueryOptions) -> Query {
    Query::new(sql).with_options(options.clone())
}

/// The rows of a result, decoded as they arrive ([`AsyncSqlClient::query_rows`]).
pub struct RowStream<R> {
    body: ByteStream,
    decoder: RowDecoder<R>,
    done: bool,
    summary: Option<SqlSummary>,
}

impl<R> RowStream<R> {
    /// What the document said besides its rows, once every row was read.
    pub fn summary(&self) -> Option<&SqlSummary> {
        self.summary.as_ref()
    }
}

impl<R: DeserializeOwned> Stream for RowStream<R> {
    type Item = Result<R, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            if let Some(row) = this.decoder.next_row() {
                this.done = row.is_err();
                return Poll::Ready(Some(row));
            }
            match Pin::new(&mut this.body).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Err(e) = this.decoder.push(&chunk) {
                        this.done = true;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    return Poll::Ready(match this.decoder.finish() {
                        Ok(summary) => {
                            this.summary = Some(summary);
                            None
                        }
                        Err(e) => Some(Err(e)),
                    });
                }
            }
        }
    }
}

impl<R> fmt::Debug for RowStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RowStream")
            .field("done", &self.done)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}
