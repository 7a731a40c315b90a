//! `carto carto3 sql`: SQL API v3 queries (a table or JSON) and jobs.

use carto::carto3::sql::{FieldType, QueryMethod, QueryTail, SchemaField, query_error};
use carto::carto3::{Job, QueryOptions};
use carto::sql::wait::Waiter;
use serde_json::{Map, Value};

use super::cli::{JobCommand, JobWaitArgs, QueryArgs, Sql3Command};
use super::config::{Config3, require_connection};
use super::parse_params;
use crate::batch::{wait_job, wait_options};
use crate::exit::CliResult;
use crate::output::{
    cell_text, count, fields, print_json, print_line, rows_table, stdout_is_terminal, table,
};
use crate::sql::{Sink, query_text};

type SqlClient = carto::carto3::sql::SqlClient<std::sync::Arc<carto::transport::UreqTransport>>;

/// Runs a `carto3 sql` command.
pub fn run(command: Sql3Command, config: &Config3<'_>) -> CliResult {
    let (client, connection) = config.client()?;
    let connection = require_connection(connection)?;
    let sql = client.sql(connection);
    match command {
        Sql3Command::Query(args) => query(&sql, args),
        Sql3Command::Job { command } => job(&sql, command),
    }
}

fn query(sql: &SqlClient, args: QueryArgs) -> CliResult {
    let text = query_text(args.query.as_ref(), args.file.as_ref())?;
    let mut options = QueryOptions::new().read_only(args.read_only);
    if let Some(params) = &args.params {
        options = options.params(parse_params(params)?);
    }
    if args.post {
        options = options.method(QueryMethod::Post);
    }
    let mut rows = sql
        .query_rows_with::<Map<String, Value>>(&text, &options)
        .map_err(limit_error)?;
    let mut sink = Sink::open(None)?;
    if args.json {
        // Streamed: each row is written as it arrives, schema and meta after the last.
        sink.json_rows(rows.by_ref())?;
        let tail = rows.tail().cloned().unwrap_or_default();
        let schema = serde_json::to_string(&tail.schema).map_err(|e| sink.error(e.into()))?;
        let meta = serde_json::to_string(&tail.meta).map_err(|e| sink.error(e.into()))?;
        sink.write(format!(",\"schema\":{schema},\"meta\":{meta}}}\n").as_bytes())?;
    } else {
        let all = rows.by_ref().collect::<Result<Vec<_>, _>>()?;
        let tail = rows.tail().cloned().unwrap_or_default();
        sink.write(render_table(&all, &tail, stdout_is_terminal()).as_bytes())?;
    }
    sink.flush()
}

/// An error answer of a streamed query as [`carto::Error::QueryLimit`] when it says a
/// synchronous limit was hit, as the buffered `query` reports it (the SDK's streamed
/// path returns the plain API error).
fn limit_error(e: carto::Error) -> carto::Error {
    match e {
        carto::Error::Api(api) => query_error(*api),
        other => other,
    }
}

/// The rows as an aligned table with a `(N rows)` line; numbers aligned right.
fn render_table(rows: &[Map<String, Value>], tail: &QueryTail, unicode: bool) -> String {
    let mut header: Vec<String> = tail.schema.iter().map(|f| f.name.clone()).collect();
    if header.is_empty() {
        if let Some(first) = rows.first() {
            header = first.keys().cloned().collect();
        }
    }
    if header.is_empty() {
        return format!("{}\n", count(rows.len(), "row", "rows"));
    }
    let numeric = |name: &String| {
        tail.schema.iter().any(|f: &SchemaField| {
            &f.name == name && matches!(f.field_type, FieldType::Number | FieldType::Bigint)
        })
    };
    let right: Vec<bool> = header.iter().map(numeric).collect();
    rows_table(&header, &right, rows, unicode)
}

fn job(sql: &SqlClient, command: JobCommand) -> CliResult {
    match command {
        JobCommand::Create {
            query,
            params,
            wait,
        } => {
            let mut options = QueryOptions::new();
            if let Some(params) = &params {
                options = options.params(parse_params(params)?);
            }
            let job = sql.create_with(&query, &options)?;
            if wait.wait {
                return show(&wait_for(sql, job, wait)?, wait.json);
            }
            if wait.json {
                return show(&job, true);
            }
            eprintln!(
                "job {} is {}; follow it with `carto carto3 sql job wait {}`",
                job.job_id, job.status, job.job_id
            );
            print_line(&job.job_id)
        }
        JobCommand::Get { id, wait } => {
            let job = sql.get(&id)?;
            let job = if wait.wait {
                wait_for(sql, job, wait)?
            } else {
                job
            };
            show(&job, wait.json)
        }
        JobCommand::Wait { id, timeout, json } => {
            let waiter = Waiter::new(id, wait_options(timeout));
            let job = wait_job(
                waiter,
                None,
                FOLLOW,
                |id| sql.get(id),
                |j: &Job| j.status.to_string(),
            )?;
            show(&job, json)
        }
        JobCommand::Cancel { id, json } => match sql.cancel(&id)? {
            Some(job) => show(&job, json),
            None if json => print_json(&serde_json::json!({ "jobId": id })),
            None => print_line(format!("cancelled job {id}")),
        },
        JobCommand::List { json } => {
            let jobs = sql.jobs()?;
            if json {
                return print_json(&serde_json::to_value(&jobs).unwrap_or(Value::Null));
            }
            let rows = jobs
                .iter()
                .map(|j| {
                    vec![
                        j.job_id.clone(),
                        j.status.to_string(),
                        j.external_id.clone().unwrap_or_default(),
                    ]
                })
                .collect();
            let header = ["JOB", "STATUS", "EXTERNAL ID"].map(String::from);
            print_line(table(&header, &[false; 3], rows, stdout_is_terminal()).to_string())?;
            print_line(count(jobs.len(), "job", "jobs"))
        }
    }
}

/// Waits for `job`, a spinner showing its status.
fn wait_for(sql: &SqlClient, job: Job, wait: JobWaitArgs) -> CliResult<Job> {
    let status = job.status.to_string();
    let waiter = Waiter::with_job(job, wait_options(wait.timeout));
    wait_job(
        waiter,
        Some(status),
        FOLLOW,
        |id| sql.get(id),
        |j| j.status.to_string(),
    )
}

/// The commands that follow and stop a job that keeps running.
const FOLLOW: (&str, &str) = (
    "carto carto3 sql job get ID",
    "carto carto3 sql job cancel ID",
);

/// Prints a job: `label: value` lines (its other text and number members too), or JSON.
fn show(job: &Job, json: bool) -> CliResult {
    if json {
        return print_json(&serde_json::to_value(job).unwrap_or(Value::Null));
    }
    let mut lines = vec![
        ("job", job.job_id.clone()),
        ("status", job.status.to_string()),
    ];
    if let Some(id) = &job.external_id {
        lines.push(("external id", id.clone()));
    }
    if let Some(reason) = job.failure_reason() {
        lines.push(("failed", reason.to_owned()));
    }
    for (k, v) in &job.other {
        if matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_))
            && job.failure_reason() != v.as_str()
        {
            lines.push((k.as_str(), cell_text(v)));
        }
    }
    print_line(fields(&lines))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_numbers_and_count() {
        let tail: QueryTail = serde_json::from_str(
            r#"{"schema":[{"name":"n","type":"bigint"},{"name":"name","type":"string"}]}"#,
        )
        .unwrap();
        let rows: Vec<Map<String, Value>> =
            serde_json::from_str(r#"[{"n":1,"name":"a"},{"n":100,"name":null}]"#).unwrap();
        let text = render_table(&rows, &tail, false);
        assert!(text.contains("|   1 | a    |"), "{text}");
        assert!(text.contains("| 100 |      |"), "{text}");
        assert!(text.ends_with("(2 rows)\n"), "{text}");
        assert_eq!(
            render_table(&[], &QueryTail::default(), false),
            "(0 rows)\n"
        );
    }
}
