//! The Arrow methods of the SQL and COPY clients, and the batch iterator and stream
//! they return. Every request goes through carto-transport's traced `send`,
//! `send_async`, `send_streaming` or `send_streaming_async`, like the clients' own.

use std::fmt;
use std::io::{self, Read};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use arrow_array::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use arrow_schema::{ArrowError, SchemaRef};
use bytes::Bytes;
use carto_core::{Error, RequestContext};
use carto_transport::{AsyncTransport, Decoded, DecodedStream, Transport};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::ArrowOptions;
use super::csv::{CsvDecoder, Step};
use super::encode::{CsvEncoder, Pieces, copy_from_sql};
use super::json::{ArrowDecoder, ArrowQuery};
use super::schema::Layout;
use crate::copy::{
    AsyncCopyClient, CopyClient, CopyFromOptions, CopyFromResult, CopyToReader, CopyToStream,
};
use crate::query::{JsonQuery, Query, QueryOptions};
use crate::response::{SqlResponse, SqlSummary};
use crate::{AsyncSqlClient, SqlClient};
use carto_core::quote_ident;

/// The query without trailing whitespace and semicolons, to nest it.
fn nested(sql: &str) -> &str {
    sql.trim().trim_end_matches([';', ' ', '\t', '\r', '\n'])
}

/// The zero-row query whose `fields` give the schema. The newlines keep a trailing
/// `--` comment of the query from swallowing the rest.
fn schema_query(sql: &str, options: QueryOptions) -> JsonQuery<IgnoredAny> {
    Query::new(format!(
        "SELECT * FROM (\n{}\n) AS carto_arrow_schema LIMIT 0",
        nested(sql)
    ))
    .with_options(options)
    .json()
}

#[derive(Deserialize)]
struct SridRow {
    srid: Option<i32>,
}

/// The SRID of the first non-NULL value of a geometry column.
fn srid_query(sql: &str, column: &str) -> JsonQuery<SridRow> {
    let c = quote_ident(column);
    Query::new(format!(
        "SELECT ST_SRID({c}) AS srid FROM (\n{}\n) AS carto_arrow_srid WHERE {c} IS NOT NULL LIMIT 1",
        nested(sql)
    ))
    .json()
}

fn copy_to_sql(sql: &str) -> String {
    format!("COPY (\n{}\n) TO STDOUT WITH (FORMAT csv)", nested(sql))
}

fn first_srid(rows: SqlResponse<SridRow>) -> Option<i32> {
    rows.rows.into_iter().next().and_then(|r| r.srid)
}

/// Reads the layout of `sql`'s result: the zero-row query, then the SRID probes.
fn layout_sync<T: Transport + ?Sized>(
    transport: &T,
    ctx: &RequestContext,
    sql: &str,
    options: &ArrowOptions,
    query: QueryOptions,
) -> Result<Arc<Layout>, Error> {
    options.check()?;
    let schema = carto_transport::send(transport, ctx, &schema_query(sql, query))?;
    let mut layout = Layout::new(schema.fields, options.numeric)?;
    for (i, name) in layout.undeclared_srids() {
        let rows = carto_transport::send(transport, ctx, &srid_query(sql, &name))?;
        layout.set_srid(i, first_srid(rows));
    }
    Ok(Arc::new(layout))
}

async fn layout_async<T: AsyncTransport + ?Sized>(
    transport: &T,
    ctx: &RequestContext,
    sql: &str,
    options: &ArrowOptions,
    query: QueryOptions,
) -> Result<Arc<Layout>, Error> {
    options.check()?;
    let schema = carto_transport::send_async(transport, ctx, &schema_query(sql, query)).await?;
    let mut layout = Layout::new(schema.fields, options.numeric)?;
    for (i, name) in layout.undeclared_srids() {
        let rows = carto_transport::send_async(transport, ctx, &srid_query(sql, &name)).await?;
        layout.set_srid(i, first_srid(rows));
    }
    Ok(Arc::new(layout))
}

fn arrow_query(sql: &str, options: &ArrowOptions, layout: Arc<Layout>) -> ArrowQuery {
    ArrowQuery {
        query: Query::new(sql).with_options(options.query.clone()),
        layout,
        batch_rows: options.batch_rows,
    }
}

impl<T: Transport> SqlClient<T> {
    /// Runs `sql` and returns its rows as Arrow record batches of
    /// [`ArrowOptions::batch_rows`] rows, decoded as the result arrives (memory holds
    /// one batch). The schema is read first with a zero-row query (see
    /// [`crate::arrow`]); an empty result has the schema and no batch. A failure the
    /// server reports after the rows started is the last item.
    ///
    /// ```no_run
    /// # fn run(sql: carto_sql::SqlClient<impl carto_transport::Transport>) -> Result<(), carto_core::Error> {
    /// use carto_sql::arrow::ArrowOptions;
    /// let batches = sql.query_arrow_with(
    ///     "SELECT cartodb_id, the_geom FROM tornadoes",
    ///     &ArrowOptions::new().batch_rows(10_000),
    /// )?;
    /// println!("{:?}", batches.schema());
    /// for batch in batches {
    ///     println!("{} rows", batch?.num_rows());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query_arrow(&self, sql: &str) -> Result<ArrowBatches, Error> {
        self.query_arrow_with(sql, &Default::default())
    }

    /// [`query_arrow`](Self::query_arrow) with options.
    pub fn query_arrow_with(
        &self,
        sql: &str,
        options: &ArrowOptions,
    ) -> Result<ArrowBatches, Error> {
        let (transport, ctx) = (self.transport(), self.context());
        let layout = layout_sync(transport, ctx, sql, options, options.query.clone())?;
        let endpoint = arrow_query(sql, options, layout.clone());
        let decoded = carto_transport::send_streaming(transport, ctx, &endpoint, None)?;
        Ok(ArrowBatches {
            schema: layout.schema.clone(),
            source: Source::Json(decoded),
        })
    }

    /// The Arrow schema `query_arrow` gives `sql`'s result, from the zero-row query.
    pub fn arrow_schema(&self, sql: &str) -> Result<SchemaRef, Error> {
        self.arrow_schema_with(sql, &Default::default())
    }

    /// [`arrow_schema`](Self::arrow_schema) with options.
    pub fn arrow_schema_with(&self, sql: &str, options: &ArrowOptions) -> Result<SchemaRef, Error> {
        let layout = layout_sync(
            self.transport(),
            self.context(),
            sql,
            options,
            options.query.clone(),
        )?;
        Ok(layout.schema.clone())
    }
}

impl<T: AsyncTransport> AsyncSqlClient<T> {
    /// [`SqlClient::query_arrow`] from async code: the batches as an [`ArrowStream`].
    pub async fn query_arrow(&self, sql: &str) -> Result<ArrowStream, Error> {
        self.query_arrow_with(sql, &Default::default()).await
    }

    /// [`query_arrow`](Self::query_arrow) with options.
    pub async fn query_arrow_with(
        &self,
        sql: &str,
        options: &ArrowOptions,
    ) -> Result<ArrowStream, Error> {
        let (transport, ctx) = (self.transport(), self.context());
        let layout = layout_async(transport, ctx, sql, options, options.query.clone()).await?;
        let endpoint = arrow_query(sql, options, layout.clone());
        let decoded =
            carto_transport::send_streaming_async(transport, ctx, &endpoint, None).await?;
        Ok(ArrowStream {
            schema: layout.schema.clone(),
            source: AsyncSource::Json(decoded),
        })
    }

    /// The Arrow schema `query_arrow` gives `sql`'s result, from the zero-row query.
    pub async fn arrow_schema(&self, sql: &str) -> Result<SchemaRef, Error> {
        self.arrow_schema_with(sql, &Default::default()).await
    }

    /// [`arrow_schema`](Self::arrow_schema) with options.
    pub async fn arrow_schema_with(
        &self,
        sql: &str,
        options: &ArrowOptions,
    ) -> Result<SchemaRef, Error> {
        let layout = layout_async(
            self.transport(),
            self.context(),
            sql,
            options,
            options.query.clone(),
        )
        .await?;
        Ok(layout.schema.clone())
    }
}

impl<T: Transport> CopyClient<T> {
    /// Runs `sql` (a query, not a COPY statement) through `COPY (sql) TO STDOUT WITH
    /// (FORMAT csv)` and returns its rows as record batches, parsed as the output
    /// arrives. The schema is read first with a zero-row query through the SQL API;
    /// PostgreSQL's text output keeps `numeric`, `int8` and timestamps exact.
    /// [`ArrowOptions::query_options`] do not apply.
    pub fn copy_to_arrow(&self, sql: &str) -> Result<ArrowBatches, Error> {
        self.copy_to_arrow_with(sql, &Default::default())
    }

    /// [`copy_to_arrow`](Self::copy_to_arrow) with options.
    pub fn copy_to_arrow_with(
        &self,
        sql: &str,
        options: &ArrowOptions,
    ) -> Result<ArrowBatches, Error> {
        let layout = layout_sync(
            self.transport(),
            self.context(),
            sql,
            options,
            QueryOptions::default(),
        )?;
        let reader = self.copy_to(&copy_to_sql(sql))?;
        Ok(ArrowBatches {
            schema: layout.schema.clone(),
            source: Source::Copy {
                reader,
                decoder: CsvDecoder::new(layout, options.batch_rows),
            },
        })
    }

    /// Loads `batches` into `table` with `COPY table (columns) FROM STDIN WITH (FORMAT
    /// csv)`: the columns are the schema's field names, and the batches are encoded
    /// into CSV as the upload is sent, a piece at a time (memory holds the batch being
    /// sent and one 64 KiB piece).
    ///
    /// `table` is used as SQL (`my_table`, `public.my_table`, `"My Table"`). A column
    /// of an Arrow type without an encoding (see [`crate::arrow`]) is an error before
    /// anything is sent; a batch that fails midway (an `Err` from the reader, a batch
    /// of another schema) aborts the upload and CARTO rolls the COPY back. No rows at
    /// all is CARTO's `No rows copied` error, as for any COPY FROM.
    pub fn copy_from_arrow<R>(&self, table: &str, batches: R) -> Result<CopyFromResult, Error>
    where
        R: RecordBatchReader + Send + 'static,
    {
        self.copy_from_arrow_with(table, batches, &Default::default())
    }

    /// [`copy_from_arrow`](Self::copy_from_arrow) with options.
    pub fn copy_from_arrow_with<R>(
        &self,
        table: &str,
        batches: R,
        options: &CopyFromOptions,
    ) -> Result<CopyFromResult, Error>
    where
        R: RecordBatchReader + Send + 'static,
    {
        let encoder = CsvEncoder::new(batches.schema())?;
        let sql = copy_from_sql(table, &encoder)?;
        let body = BatchesRead {
            batches,
            pieces: Pieces::new(encoder),
            buf: Vec::new(),
            pos: 0,
        };
        self.copy_from_with(&sql, body, options)
    }
}

impl<T: AsyncTransport> AsyncCopyClient<T> {
    /// [`CopyClient::copy_to_arrow`] from async code: the batches as an
    /// [`ArrowStream`].
    pub async fn copy_to_arrow(&self, sql: &str) -> Result<ArrowStream, Error> {
        self.copy_to_arrow_with(sql, &Default::default()).await
    }

    /// [`copy_to_arrow`](Self::copy_to_arrow) with options.
    pub async fn copy_to_arrow_with(
        &self,
        sql: &str,
        options: &ArrowOptions,
    ) -> Result<ArrowStream, Error> {
        let layout = layout_async(
            self.transport(),
            self.context(),
            sql,
            options,
            QueryOptions::default(),
        )
        .await?;
        let stream = self.copy_to(&copy_to_sql(sql)).await?;
        Ok(ArrowStream {
            schema: layout.schema.clone(),
            source: AsyncSource::Copy {
                stream,
                decoder: CsvDecoder::new(layout, options.batch_rows),
            },
        })
    }

    /// [`CopyClient::copy_from_arrow`] from async code: the batches of `schema` come
    /// from a stream (an [`ArrowStream`], or any stream of `Result<RecordBatch, E>`).
    pub async fn copy_from_arrow<S, E>(
        &self,
        table: &str,
        schema: SchemaRef,
        batches: S,
    ) -> Result<CopyFromResult, Error>
    where
        S: Stream<Item = Result<RecordBatch, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.copy_from_arrow_with(table, schema, batches, &Default::default())
            .await
    }

    /// [`copy_from_arrow`](Self::copy_from_arrow) with options.
    pub async fn copy_from_arrow_with<S, E>(
        &self,
        table: &str,
        schema: SchemaRef,
        batches: S,
        options: &CopyFromOptions,
    ) -> Result<CopyFromResult, Error>
    where
        S: Stream<Item = Result<RecordBatch, E>> + Send + 'static,
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let encoder = CsvEncoder::new(schema)?;
        let sql = copy_from_sql(table, &encoder)?;
        let state = (Box::pin(batches), Pieces::new(encoder), false);
        let body =
            futures_util::stream::unfold(state, |(mut batches, mut pieces, done)| async move {
                if done {
                    return None;
                }
                let fail = |e: io::Error, batches, pieces| Some((Err(e), (batches, pieces, true)));
                loop {
                    if pieces.needs_batch() {
                        match batches.next().await {
                            None => return None,
                            Some(Err(e)) => return fail(io::Error::other(e), batches, pieces),
                            Some(Ok(batch)) => {
                                if let Err(e) = pieces.set_batch(batch) {
                                    return fail(io::Error::other(e), batches, pieces);
                                }
                            }
                        }
                        continue;
                    }
                    return match pieces.piece() {
                        Ok(piece) => Some((Ok(Bytes::from(piece)), (batches, pieces, false))),
                        Err(e) => fail(io::Error::other(e), batches, pieces),
                    };
                }
            });
        self.copy_from_stream_with(&sql, body, options).await
    }
}

/// The upload body of `copy_from_arrow`: batches pulled and encoded as it is read.
struct BatchesRead<R> {
    batches: R,
    pieces: Pieces,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Iterator<Item = Result<RecordBatch, ArrowError>>> Read for BatchesRead<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            if self.pieces.needs_batch() {
                match self.batches.next() {
                    None => return Ok(0),
                    Some(batch) => {
                        let batch = batch.map_err(io::Error::other)?;
                        self.pieces.set_batch(batch).map_err(io::Error::other)?;
                    }
                }
                continue;
            }
            self.buf = self.pieces.piece().map_err(io::Error::other)?;
            self.pos = 0;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

enum Source {
    Json(Decoded<ArrowDecoder>),
    Copy {
        reader: CopyToReader,
        decoder: CsvDecoder,
    },
}

/// Record batches of a result, decoded as it arrives
/// ([`SqlClient::query_arrow`], [`CopyClient::copy_to_arrow`]).
///
/// Every batch has [`schema`](Self::schema). An `Err` item ends the iteration.
pub struct ArrowBatches {
    schema: SchemaRef,
    source: Source,
}

impl ArrowBatches {
    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// For `query_arrow`, what the document said besides its rows (`time`,
    /// `total_rows`, notices), once every batch was read.
    pub fn summary(&self) -> Option<&SqlSummary> {
        match &self.source {
            Source::Json(decoded) => decoded.decoder().summary(),
            Source::Copy { .. } => None,
        }
    }

    /// The batches as an Arrow [`RecordBatchReader`] (errors become
    /// [`ArrowError::ExternalError`] wrapping the [`Error`]), for Arrow APIs and
    /// [`CopyClient::copy_from_arrow`].
    pub fn into_reader(self) -> impl RecordBatchReader + Send + 'static {
        let schema = self.schema.clone();
        RecordBatchIterator::new(
            self.map(|batch| batch.map_err(|e| ArrowError::ExternalError(Box::new(e)))),
            schema,
        )
    }

    /// Every batch, read to the end, in memory.
    pub fn collect_batches(self) -> Result<Vec<RecordBatch>, Error> {
        self.collect()
    }
}

impl Iterator for ArrowBatches {
    type Item = Result<RecordBatch, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.source {
            Source::Json(decoded) => decoded.next(),
            Source::Copy { reader, decoder } => loop {
                match decoder.step() {
                    Step::Item(item) => return Some(item),
                    Step::End => return None,
                    Step::NeedInput => decoder.input(reader.next_chunk().transpose()),
                }
            },
        }
    }
}

impl fmt::Debug for ArrowBatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrowBatches")
            .field("columns", &self.schema.fields().len())
            .finish_non_exhaustive()
    }
}

enum AsyncSource {
    Json(DecodedStream<ArrowDecoder>),
    Copy {
        stream: CopyToStream,
        decoder: CsvDecoder,
    },
}

/// Record batches of a result, decoded as it arrives, from async code
/// ([`AsyncSqlClient::query_arrow`], [`AsyncCopyClient::copy_to_arrow`]).
pub struct ArrowStream {
    schema: SchemaRef,
    source: AsyncSource,
}

impl ArrowStream {
    /// The schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// For `query_arrow`, what the document said besides its rows, once every batch
    /// was read.
    pub fn summary(&self) -> Option<&SqlSummary> {
        match &self.source {
            AsyncSource::Json(decoded) => decoded.decoder().summary(),
            AsyncSource::Copy { .. } => None,
        }
    }

    /// Every batch, read to the end, in memory.
    pub async fn collect_batches(mut self) -> Result<Vec<RecordBatch>, Error> {
        let mut out = Vec::new();
        while let Some(batch) = self.next().await {
            out.push(batch?);
        }
        Ok(out)
    }
}

impl Stream for ArrowStream {
    type Item = Result<RecordBatch, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match &mut self.get_mut().source {
            AsyncSource::Json(decoded) => decoded.poll_next_unpin(cx),
            AsyncSource::Copy { stream, decoder } => loop {
                match decoder.step() {
                    Step::Item(item) => return Poll::Ready(Some(item)),
                    Step::End => return Poll::Ready(None),
                    Step::NeedInput => {
                        decoder.input(futures_util::ready!(stream.poll_next_unpin(cx)));
                    }
                }
            },
        }
    }
}

impl fmt::Debug for ArrowStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrowStream")
            .field("columns", &self.schema.fields().len())
            .finish_non_exhaustive()
    }
}
