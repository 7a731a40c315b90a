//! The system-table guard (§8): a non-master key may not read PostgreSQL's catalogs.
//!
//! CARTO decides from the tables in the query plan (`EXPLAIN (FORMAT JSON, VERBOSE)`), not
//! from the text, and so does the emulator: quoting (`"pg_roles"`), Unicode escapes
//! (`U&"pg\005froles"`), comments, CTEs, sub-queries, views, rules and `search_path` changes
//! cannot hide a catalog, because the plan names the relations PostgreSQL will really read.
//!
//! How: before each statement of a non-master request the engine inserts
//! `SELECT carto_emulator_guard.check_plan($tag$<statement>$tag$);` (a random dollar-quote
//! tag). PostgreSQL parses the whole request before it runs any of it, then runs the
//! statements in order in one implicit transaction, so each check sees exactly what the
//! statements before it did (a view created two statements earlier, a `SET search_path`) and an
//! error in a check rolls the whole request back before the statement it guards runs.
//!
//! `check_plan` runs with the caller's rights (it is not `SECURITY DEFINER`), is owned by a
//! non-superuser role, references only `pg_catalog` objects by qualified name, and fails
//! closed: a text holding several statements (the engine's statement splitter and
//! PostgreSQL's disagreeing) is refused. Statements that cannot be explained (DDL, `SET`, ...)
//! pass; a statement whose `EXPLAIN` fails for another reason (missing table, no privilege)
//! fails right there with that same error (PostgreSQL's message, as the statement would have
//! given), so nothing that changes between the check and the statement can slip through.
//!
//! What it cannot see, here as on CARTO: the inside of procedural code (a `DO` block, a
//! PL/pgSQL function a key created with its schema `create` grant). Such code runs with the
//! key's own PostgreSQL privileges, which are the real boundary (see `docs/security.md`).

use crate::ident::quote_ident;
use crate::names::SERVICES_ROLE;
use crate::sql::lexer::{self, Token};

/// The schema of the guard function in every user database.
pub(crate) const GUARD_SCHEMA: &str = "carto_emulator_guard";

/// The SQLSTATE the guard raises; answered as 403 `system tables are forbidden`.
pub(crate) const GUARD_SQLSTATE: &str = "CE403";

/// What the plan may not contain: a relation in a catalog schema or named `pg_*` (CARTO's
/// `/\bpg_/` on the affected tables), or a call of the functions that run a query given as
/// text (`query_to_xml` and its family, `ts_stat`), whose reads no plan shows.
const FORBIDDEN_PLAN: &str = r#"lax $.** ? (
    (exists (@."Relation Name") && (
        @."Schema" == "pg_catalog" || @."Schema" == "information_schema"
        || @."Schema" starts with "pg_toast" || @."Relation Name" starts with "pg_"))
    || (@.type() == "string"
        && @ like_regex "(query|cursor|table|schema|database)(_and)?_to_xml|ts_stat" flag "i"))"#;

/// Creates (or replaces) the guard in the database `db` is connected to, as a superuser.
/// Idempotent. The SQL engine refuses every non-master request where it is missing.
pub(crate) async fn install(
    db: &impl tokio_postgres::GenericClient,
) -> Result<(), tokio_postgres::Error> {
    db.batch_execute(&install_sql()).await
}

fn install_sql() -> String {
    let schema = quote_ident(GUARD_SCHEMA);
    let owner = quote_ident(SERVICES_ROLE);
    format!(
        "DO $do$ BEGIN
             CREATE ROLE {owner} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT;
         EXCEPTION WHEN duplicate_object THEN NULL;
         END $do$;
         CREATE SCHEMA IF NOT EXISTS {schema};
         REVOKE ALL ON SCHEMA {schema} FROM PUBLIC;
         GRANT USAGE ON SCHEMA {schema} TO PUBLIC;
         CREATE OR REPLACE FUNCTION {schema}.check_plan(statement pg_catalog.text)
         RETURNS void
         LANGUAGE plpgsql VOLATILE
         AS $fn$
         DECLARE
             line pg_catalog.json;
             forbidden boolean := false;
             state pg_catalog.text;
             message pg_catalog.text;
             detail pg_catalog.text;
             hint pg_catalog.text;
         BEGIN
             BEGIN
                 -- A cursor: PostgreSQL refuses to open one over several statements.
                 FOR line IN EXECUTE pg_catalog.concat('EXPLAIN (VERBOSE, FORMAT JSON) ', statement) LOOP
                     forbidden := forbidden OR pg_catalog.jsonb_path_exists(
                         line::pg_catalog.jsonb, $jp${FORBIDDEN_PLAN}$jp$::pg_catalog.jsonpath);
                 END LOOP;
             EXCEPTION
                 -- Several statements in one text.
                 WHEN invalid_cursor_definition THEN forbidden := true;
                 WHEN OTHERS THEN
                     GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT,
                         detail = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
                     -- Not an explainable statement (DDL, SET, ...): nothing to check.
                     IF state OPERATOR(pg_catalog.=) '42601'
                        AND pg_catalog.starts_with(message, 'syntax error at ') THEN
                         RETURN;
                     END IF;
                     -- The statement would fail the same way: fail now, with its error, so
                     -- that nothing changing meanwhile (a table created by another session,
                     -- a lock released) lets it run unchecked.
                     RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message,
                         DETAIL = detail, HINT = hint;
             END;
             IF forbidden THEN
                 RAISE EXCEPTION 'system tables are forbidden' USING ERRCODE = '{GUARD_SQLSTATE}';
             END IF;
         END
         $fn$;
         ALTER FUNCTION {schema}.check_plan(pg_catalog.text) OWNER TO {owner};
         REVOKE ALL ON FUNCTION {schema}.check_plan(pg_catalog.text) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION {schema}.check_plan(pg_catalog.text) TO PUBLIC;"
    )
}

/// First words of statements that return no rows of any relation and cannot be explained: no
/// check (some of them, like `VACUUM`, must also stay alone in their request).
const UNCHECKED: &[&str] = &[
    "set",
    "reset",
    "show",
    "begin",
    "start",
    "commit",
    "end",
    "rollback",
    "abort",
    "savepoint",
    "release",
    "discard",
    "listen",
    "unlisten",
    "notify",
    "vacuum",
    "reindex",
    "cluster",
    "checkpoint",
    "drop",
    "truncate",
    "grant",
    "revoke",
    "comment",
    "lock",
];

fn words(statement: &str, n: usize) -> Vec<String> {
    lexer::tokenize(statement)
        .into_iter()
        .take(n)
        .map(|t| match t.token {
            Token::Word(w) => w.to_ascii_lowercase(),
            _ => String::new(),
        })
        .collect()
}

/// Whether `statement` gets a plan check.
pub(crate) fn needs_check(statement: &str) -> bool {
    if lexer::has_inner_semicolon(statement) {
        return true;
    }
    let w = words(statement, 3);
    let first = w.first().map(String::as_str).unwrap_or("");
    if UNCHECKED.contains(&first) {
        return false;
    }
    // `CREATE [UNIQUE] INDEX [CONCURRENTLY]` reads no rows out and must stay alone when
    // concurrent.
    let index = |i: usize| w.get(i).is_some_and(|x| x == "index");
    !(first == "create" && (index(1) || index(2)))
}

/// Whether the statement splitter can be trusted with `statement`: a statement holding an inner
/// `;` is one statement for PostgreSQL only as a `CREATE [OR REPLACE] FUNCTION|PROCEDURE` with a
/// `BEGIN ATOMIC` body or a `CREATE [OR REPLACE] RULE` with a parenthesized action. Anything else
/// means the splitter and PostgreSQL might disagree: the request is refused (fail closed).
pub(crate) fn split_is_trusted(statement: &str) -> bool {
    if !lexer::has_inner_semicolon(statement) {
        return true;
    }
    let w = words(statement, 4);
    let rest: &[String] = match w.as_slice() {
        [c, o, r, rest @ ..] if c == "create" && o == "or" && r == "replace" => rest,
        [c, rest @ ..] if c == "create" => rest,
        _ => return false,
    };
    matches!(
        rest.first().map(String::as_str),
        Some("function" | "procedure" | "rule")
    )
}

/// A dollar-quote tag that does not occur in `sql`.
pub(crate) fn dollar_tag(sql: &str) -> String {
    loop {
        let tag = format!("$cdb_guard_{}$", crate::pg::cluster::random_hex(8));
        if !sql.contains(&tag) {
            return tag;
        }
    }
}

/// `SELECT carto_emulator_guard.check_plan($tag$<statement>$tag$)`.
pub(crate) fn check_call(statement: &str, tag: &str) -> String {
    format!(
        "SELECT {}.check_plan({tag}{statement}{tag})",
        quote_ident(GUARD_SCHEMA)
    )
}

/// Whether a statement of `sql` changes a role (`ALTER ROLE`, `ALTER USER`, `ALTER GROUP`):
/// refused for every key (a key role could otherwise give itself a password or role-level
/// settings). Procedural code doing it anyway is neutralized elsewhere: role logins go through
/// the private socket whatever the password, and role-level settings are removed at the next
/// session.
pub(crate) fn alters_a_role(sql: &str) -> bool {
    lexer::split_statements(sql)
        .into_iter()
        .any(|r| statement_alters_a_role(&sql[r]))
}

/// [`alters_a_role`] for one statement already split out.
pub(crate) fn statement_alters_a_role(statement: &str) -> bool {
    let w = words(statement, 2);
    w.first().is_some_and(|x| x == "alter")
        && w.get(1)
            .is_some_and(|x| matches!(x.as_str(), "role" | "user" | "group"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_that_read_nothing_are_not_checked() {
        assert!(!needs_check("SET search_path TO x"));
        assert!(!needs_check("begin"));
        assert!(needs_check("SELECT 1"));
        assert!(needs_check("(SELECT 1)"));
        assert!(needs_check("WITH a AS (SELECT 1) SELECT * FROM a"));
        assert!(needs_check("/* c */ TABLE t"));
    }

    #[test]
    fn merged_statements_are_trusted_only_as_routines_and_rules() {
        assert!(split_is_trusted("SELECT 'a;b'"));
        assert!(split_is_trusted(
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END"
        ));
        assert!(split_is_trusted(
            "create or replace rule r as on insert to t do also (select 1; select 2)"
        ));
        assert!(!split_is_trusted("SELECT (1; SELECT 2)"));
        assert!(needs_check(
            "CREATE RULE r AS ON INSERT TO t DO ALSO (SELECT 1; SELECT 2)"
        ));
        assert!(!needs_check("VACUUM t"));
        assert!(!needs_check("CREATE UNIQUE INDEX CONCURRENTLY i ON t (a)"));
        assert!(needs_check("CREATE TABLE t AS SELECT 1"));
    }

    #[test]
    fn tags_do_not_occur_in_the_sql() {
        let tag = dollar_tag("SELECT 1");
        assert!(tag.starts_with("$cdb_guard_") && tag.ends_with('$'));
        assert_eq!(
            check_call("SELECT 'x'", "$t$"),
            "SELECT \"carto_emulator_guard\".check_plan($t$SELECT 'x'$t$)"
        );
    }

    #[test]
    fn role_changes_are_found_in_any_statement() {
        assert!(alters_a_role("ALTER ROLE CURRENT_USER PASSWORD 'x'"));
        assert!(alters_a_role(
            "select 1; alter user current_user set work_mem = '1GB'"
        ));
        assert!(alters_a_role("/* x */ Alter Group g ADD USER u"));
        assert!(!alters_a_role("ALTER TABLE t ADD COLUMN role text"));
        assert!(!alters_a_role("SELECT 'ALTER ROLE x'"));
    }
}
