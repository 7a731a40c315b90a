//! Map SQL (Maps API layer queries, MVT tiles, attributes) on the SQL API's sessions: the
//! same role-per-key pool, session bounds, statement timeouts and system-table guard, one
//! statement in a read-only transaction.

use super::engine::SqlEngine;
use super::error::ApiError;
use super::guard;
use super::lexer;
use super::session::SqlSession;
use super::wire::{Column, Event, WireError};
use http::StatusCode;

/// The result of one map query: its columns and its rows as text (`None`: NULL).
#[derive(Debug, Default)]
pub(crate) struct MapRows {
    pub(crate) columns: Vec<Column>,
    pub(crate) rows: Vec<Vec<Option<String>>>,
}

impl SqlEngine {
    /// Runs `sql`, one statement (a `SELECT`), as `session`'s role in a `READ ONLY`
    /// transaction, behind the system-table guard's plan check for non-master keys, and
    /// returns its result. A text that holds more than one statement is refused (a layer
    /// query cannot close the sub-query it is written into and run a statement of its own).
    pub(crate) async fn map_query(
        &self,
        session: &SqlSession,
        sql: &str,
    ) -> Result<MapRows, ApiError> {
        if lexer::split_statements(sql).len() != 1 || lexer::has_inner_semicolon(sql) {
            return Err(ApiError::bad_request(
                "a layer's SQL must be one query, without `;`",
            ));
        }
        let guarded = session.level != carto_core::models::ApiKeyType::Master;
        let mut text = String::from("BEGIN READ ONLY;\n");
        if guarded {
            if !guard::split_is_trusted(sql) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "system tables are forbidden",
                ));
            }
            let tag = guard::dollar_tag(sql);
            if let Some(check) = guard::check_sql(&guard::check_for(sql), &tag) {
                text.push_str(&check);
                text.push_str(";\n");
            }
        }
        text.push_str(sql);
        text.push_str(";\nCOMMIT");
        let lease = self.checkout(session).await?;
        let super::pool::Lease {
            mut conn, ticket, ..
        } = lease;
        let outcome = async {
            conn.send_query(&text).await?;
            let mut result = MapRows::default();
            let mut error = None;
            loop {
                match conn.next_event().await? {
                    Event::RowDescription(columns) => {
                        result = MapRows {
                            columns,
                            rows: Vec::new(),
                        };
                    }
                    Event::DataRow(row) => result.rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_owned))
                            .collect(),
                    ),
                    Event::Error(e) => {
                        error.get_or_insert(e);
                    }
                    Event::Ready(status) => return Ok::<_, WireError>((result, error, status)),
                    _ => {}
                }
            }
        }
        .await;
        match outcome {
            Ok((result, error, status)) => {
                self.give_back(session, ticket, Some((conn, status)), None)
                    .await;
                match error {
                    Some(e) => Err(ApiError::from_db(&e)),
                    None => Ok(result),
                }
            }
            Err(e) => {
                tracing::warn!(role = %session.role, error = %e, "map query failed");
                self.give_back(session, ticket, None, None).await;
                Err(ApiError::cannot_connect())
            }
        }
    }
}
