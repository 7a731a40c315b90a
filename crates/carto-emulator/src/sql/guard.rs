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
         -- The statement is read again here: read it as PostgreSQL read the request (the
         -- session's startup settings), whatever an earlier statement `SET`.
         SET standard_conforming_strings = on
         SET backslash_quote = safe_encoding
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
         GRANT EXECUTE ON FUNCTION {schema}.check_plan(pg_catalog.text) TO PUBLIC;
         CREATE OR REPLACE FUNCTION {schema}.unplannable(what pg_catalog.text)
         RETURNS void
         LANGUAGE plpgsql VOLATILE
         AS $fn$
         BEGIN
             RAISE EXCEPTION 'permission denied: % needs the master key (the system-table check cannot plan it)', what
                 USING ERRCODE = '42501';
         END
         $fn$;
         ALTER FUNCTION {schema}.unplannable(pg_catalog.text) OWNER TO {owner};
         REVOKE ALL ON FUNCTION {schema}.unplannable(pg_catalog.text) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION {schema}.unplannable(pg_catalog.text) TO PUBLIC;"
    )
}

/// The event trigger of [`refuse_key_code`].
const REFUSE_TRIGGER: &str = "carto_emulator_refuse_key_code";

/// The statements the option refuses from key roles: what can plant code that runs when
/// someone else (the master) uses the key's objects.
const KEY_CODE_TAGS: &str = "'CREATE FUNCTION', 'CREATE PROCEDURE', 'CREATE AGGREGATE', \
    'CREATE OPERATOR', 'CREATE TRIGGER', 'CREATE RULE', 'ALTER FUNCTION', 'ALTER PROCEDURE'";

/// Installs (`refuse`) or removes the event trigger that refuses `CREATE FUNCTION`,
/// `PROCEDURE`, `AGGREGATE`, `OPERATOR`, `TRIGGER` and `RULE` (and `ALTER FUNCTION`/`PROCEDURE`)
/// from regular keys' roles and the public role `public_role`, in the database `db` is
/// connected to, as a superuser. Off by default: CARTO lets keys create them.
pub(crate) async fn refuse_key_code(
    db: &impl tokio_postgres::GenericClient,
    public_role: &str,
    refuse: bool,
) -> Result<(), tokio_postgres::Error> {
    let trigger = quote_ident(REFUSE_TRIGGER);
    let schema = quote_ident(GUARD_SCHEMA);
    if !refuse {
        return db
            .batch_execute(&format!("DROP EVENT TRIGGER IF EXISTS {trigger}"))
            .await;
    }
    let prefix = crate::ident::quote_literal(crate::names::KEY_ROLE_PREFIX);
    let public = crate::ident::quote_literal(public_role);
    db.batch_execute(&format!(
        "CREATE OR REPLACE FUNCTION {schema}.refuse_key_code() RETURNS event_trigger
         LANGUAGE plpgsql
         SET search_path = pg_catalog, pg_temp
         AS $fn$
         BEGIN
             IF pg_catalog.starts_with(SESSION_USER::pg_catalog.text, {prefix})
                OR pg_catalog.starts_with(CURRENT_USER::pg_catalog.text, {prefix})
                OR SESSION_USER::pg_catalog.text OPERATOR(pg_catalog.=) {public}
                OR CURRENT_USER::pg_catalog.text OPERATOR(pg_catalog.=) {public} THEN
                 RAISE EXCEPTION 'permission denied: % is refused for API keys other than the master key on this emulator', TG_TAG
                     USING ERRCODE = '42501';
             END IF;
         END
         $fn$;
         REVOKE ALL ON FUNCTION {schema}.refuse_key_code() FROM PUBLIC;
         DROP EVENT TRIGGER IF EXISTS {trigger};
         CREATE EVENT TRIGGER {trigger} ON ddl_command_start
             WHEN TAG IN ({KEY_CODE_TAGS})
             EXECUTE FUNCTION {schema}.refuse_key_code();"
    ))
    .await
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

/// The check a statement gets before it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check<'a> {
    /// None: it reads no rows (`SET`, `DROP`, ...).
    Nothing,
    /// The plan check of this query (the statement itself, or the query it runs: the
    /// statement of an `EXPLAIN`, the query or table of a `COPY ... TO`).
    Plan(std::borrow::Cow<'a, str>),
    /// Refused: it reads rows no plan shows (a cursor opened elsewhere, a materialized view's
    /// stored query).
    Unplannable(&'static str),
}

/// The check `statement` gets. PostgreSQL cannot `EXPLAIN` DDL (the check then passes: DDL
/// reads no rows when it runs); the statements that do read rows but cannot be explained are
/// either checked on the query they run (`EXPLAIN`, `COPY`) or refused (`FETCH`, `MOVE`,
/// `REFRESH MATERIALIZED VIEW`).
pub(crate) fn check_for(statement: &str) -> Check<'_> {
    if lexer::has_inner_semicolon(statement) {
        return Check::Plan(statement.into());
    }
    let tokens = lexer::tokenize(statement);
    let word = |i: usize| match tokens.get(i).map(|t| &t.token) {
        Some(Token::Word(w)) => w.to_ascii_lowercase(),
        _ => String::new(),
    };
    let first = word(0);
    if UNCHECKED.contains(&first.as_str()) {
        return Check::Nothing;
    }
    match first.as_str() {
        // `CREATE [UNIQUE] INDEX [CONCURRENTLY]` reads no rows out and must stay alone when
        // concurrent.
        "create" if word(1) == "index" || word(2) == "index" => Check::Nothing,
        "fetch" => Check::Unplannable("FETCH"),
        "move" => Check::Unplannable("MOVE"),
        "refresh" => Check::Unplannable("REFRESH MATERIALIZED VIEW"),
        "explain" => {
            // `EXPLAIN [ANALYZE] [VERBOSE] stmt` or `EXPLAIN (options) stmt`: `ANALYZE` runs it.
            let mut i = 1;
            if tokens.get(1).map(|t| &t.token) == Some(&Token::Open) {
                i = after_parens(&tokens, 1);
            } else {
                while matches!(word(i).as_str(), "analyze" | "analyse" | "verbose") {
                    i += 1;
                }
            }
            match tokens.get(i) {
                Some(t) => check_for(&statement[t.span.start..]),
                None => Check::Nothing,
            }
        }
        "copy" => {
            if tokens.get(1).map(|t| &t.token) == Some(&Token::Open) {
                // `COPY (query) TO ...`: the query.
                let close = after_parens(&tokens, 1);
                let inner = match (tokens.get(1), tokens.get(close.wrapping_sub(1))) {
                    (Some(open), Some(end)) if close > 2 => {
                        &statement[open.span.end..end.span.start]
                    }
                    _ => return Check::Plan(statement.into()),
                };
                return Check::Plan(inner.into());
            }
            // `COPY table [(columns)] TO|FROM ...`: the table, when it is read.
            let mut i = 1;
            let mut name_end = None;
            while let Some(t) = tokens.get(i) {
                match &t.token {
                    Token::Open => {
                        name_end.get_or_insert(t.span.start);
                        i = after_parens(&tokens, i);
                        continue;
                    }
                    Token::Word(w) if w.eq_ignore_ascii_case("to") => {
                        let end = name_end.unwrap_or(t.span.start);
                        let start = tokens.get(1).map_or(end, |t| t.span.start);
                        return Check::Plan(
                            format!("TABLE {}", statement[start..end].trim_end()).into(),
                        );
                    }
                    Token::Word(w) if w.eq_ignore_ascii_case("from") => return Check::Nothing,
                    _ => {}
                }
                i += 1;
            }
            Check::Plan(statement.into())
        }
        _ => Check::Plan(statement.into()),
    }
}

/// The index of the token after the parenthesized run opening at `open`.
fn after_parens(tokens: &[lexer::Spanned], open: usize) -> usize {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::Open => depth += 1,
            Token::Close => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// Whether `statement` gets a plan check (of any kind).
#[cfg(test)]
pub(crate) fn needs_check(statement: &str) -> bool {
    check_for(statement) != Check::Nothing
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

/// The SQL of `check` (`None` for [`Check::Nothing`]).
pub(crate) fn check_sql(check: &Check<'_>, tag: &str) -> Option<String> {
    match check {
        Check::Nothing => None,
        Check::Plan(query) => Some(check_call(query, tag)),
        Check::Unplannable(what) => Some(format!(
            "SELECT {}.unplannable('{what}')",
            quote_ident(GUARD_SCHEMA)
        )),
    }
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
    fn statements_that_run_a_query_are_checked_on_it() {
        let plan = |s: &str| match check_for(s) {
            Check::Plan(q) => q.into_owned(),
            other => panic!("{s}: {other:?}"),
        };
        assert_eq!(plan("EXPLAIN ANALYZE SELECT 1"), "SELECT 1");
        assert_eq!(plan("explain analyse verbose TABLE t"), "TABLE t");
        assert_eq!(
            plan("EXPLAIN (ANALYZE, FORMAT JSON) INSERT INTO t SELECT 1"),
            "INSERT INTO t SELECT 1"
        );
        assert_eq!(plan("EXPLAIN ANALYZE EXPLAIN ANALYZE SELECT 2"), "SELECT 2");
        assert_eq!(
            plan("COPY (SELECT * FROM pg_roles) TO STDOUT"),
            "SELECT * FROM pg_roles"
        );
        assert_eq!(
            plan("copy pg_catalog.pg_roles TO STDOUT"),
            "TABLE pg_catalog.pg_roles"
        );
        assert_eq!(plan("COPY t (a, b) TO STDOUT"), "TABLE t");
        assert_eq!(check_for("COPY t FROM STDIN"), Check::Nothing);
        assert_eq!(check_for("EXPLAIN"), Check::Nothing);
        for (s, what) in [
            ("FETCH ALL c", "FETCH"),
            ("move next in c", "MOVE"),
            ("REFRESH MATERIALIZED VIEW m", "REFRESH MATERIALIZED VIEW"),
            ("EXPLAIN ANALYZE FETCH ALL c", "FETCH"),
        ] {
            assert_eq!(check_for(s), Check::Unplannable(what), "{s}");
            assert!(
                check_sql(&check_for(s), "$t$")
                    .is_some_and(|q| q.ends_with(&format!(".unplannable('{what}')")))
            );
        }
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
