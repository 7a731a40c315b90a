//! The `carto` binary end to end against an in-process carto-emulator over real HTTP:
//! keys, SQL output formats and errors, refused keys, COPY round trips through files,
//! stdin/stdout and a pipe between two `carto` processes, batch jobs, profiles and
//! completions. Every output is checked for tokens (only `--show-token` may print one)
//! and for terminal escape codes (none: the tests run without a terminal).

mod carto3;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command as StdCommand, Stdio};

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;
use carto_emulator::{ApiKeyType, BlockingEmulator, Emulator, Fault};
use predicates::prelude::*;
use serde_json::Value;

const USER: &str = "alice";

/// An emulator, a private configuration directory, and every output seen.
struct Harness {
    emulator: BlockingEmulator,
    base_url: String,
    master: String,
    dir: tempfile::TempDir,
    /// Outputs that must not hold any token (everything but `--show-token` answers).
    outputs: Vec<String>,
    /// Tokens seen (the master key, and every token `--show-token` printed).
    tokens: Vec<String>,
}

/// `carto` in `dir` with no credentials at all, its configuration under `dir`, and no
/// terminal.
fn bare_in(dir: &std::path::Path) -> Command {
    let mut cmd = cargo_bin_cmd!("carto");
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("CARTO_CONFIG_DIR", dir.join("config"))
        .current_dir(dir);
    cmd
}

/// A test that runs `carto` and records every output, to check them all at the end.
trait Records {
    /// The outputs recorded.
    fn outputs(&mut self) -> &mut Vec<String>;

    /// Runs `cmd`, records its outputs and returns them.
    fn run(&mut self, cmd: &mut Command) -> Run {
        let run = Run::of(cmd);
        self.outputs()
            .push(format!("{}\n{}", run.stdout, run.stderr));
        run
    }

    /// Runs `cmd` and expects success; returns stdout.
    fn ok(&mut self, cmd: &mut Command) -> String {
        self.run(cmd).expect_ok()
    }

    /// Runs `cmd` and expects exit status `code`; returns stderr.
    fn fails(&mut self, cmd: &mut Command, code: i32) -> String {
        self.run(cmd).expect_code(code)
    }
}

impl Records for Harness {
    fn outputs(&mut self) -> &mut Vec<String> {
        &mut self.outputs
    }
}

/// What a command printed and how it ended.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Runs `cmd`.
    fn of(cmd: &mut Command) -> Self {
        let out = cmd.output().unwrap();
        Self {
            code: out.status.code().expect("exited"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Expects success; returns stdout.
    fn expect_ok(self) -> String {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self.stdout
    }

    /// Expects exit status `code` and a `carto: ` message (clap's own for 2); returns
    /// stderr.
    fn expect_code(self, code: i32) -> String {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.starts_with("carto: ") || code == 2,
            "{}",
            self.stderr
        );
        self.stderr
    }
}

impl Harness {
    fn start() -> Self {
        let emulator = Emulator::builder()
            .user(USER)
            .statement_timeout(ApiKeyType::Regular, Some(std::time::Duration::from_secs(1)))
            .start_blocking()
            .expect("the emulator starts (PostgreSQL binaries on the PATH)");
        let creds = emulator.credentials(USER).unwrap();
        let master = creds.token().expose_secret().to_owned();
        Self {
            base_url: creds.base_url().as_str().to_owned(),
            tokens: vec![master.clone()],
            master,
            emulator,
            dir: tempfile::tempdir().unwrap(),
            outputs: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `carto` with no credentials at all, a private configuration and no terminal.
    fn bare(&self) -> Command {
        bare_in(self.dir.path())
    }

    /// A plain `std::process::Command` running `program` with the master key in a clean
    /// environment (for pipes and pseudo-terminals, which assert_cmd does not set up).
    fn process(&self, program: impl AsRef<std::ffi::OsStr>) -> StdCommand {
        let mut cmd = StdCommand::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.path("home"))
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .env("CARTO_CONFIG_DIR", self.path("config"))
            .env("CARTO_BASE_URL", &self.base_url)
            .env("CARTO_API_KEY", &self.master)
            .env("CARTO_ALLOW_NON_SECURE", "1")
            .current_dir(self.dir.path());
        cmd
    }

    /// `carto` with the master key in the environment.
    fn master(&self) -> Command {
        self.with_key(&self.master.clone())
    }

    /// `carto` with `key` in the environment.
    fn with_key(&self, key: &str) -> Command {
        let mut cmd = self.bare();
        cmd.env("CARTO_BASE_URL", &self.base_url)
            .env("CARTO_API_KEY", key)
            .env("CARTO_ALLOW_NON_SECURE", "1");
        cmd
    }

    /// Runs a `--show-token` command: its stdout is the token, recorded as one.
    fn run_token(&mut self, cmd: &mut Command) -> String {
        let run = Run::of(cmd);
        assert_eq!(run.code, 0, "{}", run.stderr);
        self.outputs.push(run.stderr.clone());
        let token = run.stdout.trim().to_owned();
        assert_eq!(
            run.stdout,
            format!("{token}\n"),
            "the token alone on stdout"
        );
        assert!(token.len() >= 16, "a token: {token}");
        self.tokens.push(token.clone());
        token
    }

    /// No recorded output holds a token or an escape code.
    fn check_outputs(&self) {
        for out in &self.outputs {
            for token in &self.tokens {
                assert!(!out.contains(token.as_str()), "a token leaked: {out}");
            }
            assert!(
                !out.contains('\x1b'),
                "an escape code without a terminal: {out:?}"
            );
        }
    }
}

#[test]
fn the_carto_cli_against_the_emulator() {
    let mut h = Harness::start();
    sql_outputs(&mut h);
    sql_errors(&mut h);
    keys(&mut h);
    copy_round_trips(&mut h);
    on_a_terminal(&mut h);
    batch_jobs(&mut h);
    profiles(&mut h);
    h.check_outputs();
    assert!(h.outputs.len() > 40, "{} commands checked", h.outputs.len());
}

fn sql_outputs(h: &mut Harness) {
    h.ok(h.master().args([
        "sql",
        "CREATE TABLE cities (id int PRIMARY KEY, name text, pop int)",
    ]));
    let out = h.ok(h.master().args([
        "sql",
        "INSERT INTO cities VALUES (1, 'Madrid', 3300000), (2, 'Vigo', 290000), (3, 'Ñuñoa', NULL)",
    ]));
    assert_eq!(out, "OK, 3 rows affected\n");

    // An aligned table (ASCII off a terminal), numbers on the right, NULL empty.
    let table = h.ok(h
        .master()
        .args(["sql", "SELECT id, name, pop FROM cities ORDER BY id"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[1], "| id | name   |     pop |", "{table}");
    assert!(table.contains("|  1 | Madrid | 3300000 |"), "{table}");
    assert!(table.contains("|  2 | Vigo   |  290000 |"), "{table}");
    assert!(table.contains("|  3 | Ñuñoa  |         |"), "{table}");
    assert!(table.ends_with("(3 rows)\n"), "{table}");

    // CSV, streamed as CARTO writes it.
    let csv = h.ok(h.master().args([
        "sql",
        "SELECT id, name FROM cities ORDER BY id",
        "--format",
        "csv",
    ]));
    assert_eq!(
        csv.replace("\r\n", "\n"),
        "id,name\n1,Madrid\n2,Vigo\n3,Ñuñoa\n"
    );

    // JSON: the SQL API's document, rebuilt as the rows arrive.
    let json = h.ok(h.master().args([
        "sql",
        "SELECT id, name FROM cities ORDER BY id",
        "--format",
        "json",
    ]));
    let doc: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["rows"].as_array().unwrap().len(), 3);
    assert_eq!(
        doc["rows"][2],
        serde_json::json!({"id": 3, "name": "Ñuñoa"})
    );
    assert_eq!(doc["total_rows"], 3);
    assert_eq!(doc["fields"]["id"]["type"], "number");

    // NDJSON, from stdin (`-`), from stdin without a query, and from a file.
    let ndjson = h.ok(h
        .master()
        .args(["sql", "-", "--format", "ndjson"])
        .write_stdin("SELECT id FROM cities ORDER BY id"));
    assert_eq!(ndjson, "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n");
    let piped = h.ok(h
        .master()
        .args(["sql", "--format", "csv"])
        .write_stdin("SELECT count(*) AS n FROM cities"));
    assert_eq!(piped.replace("\r\n", "\n"), "n\n3\n");
    std::fs::write(h.path("q.sql"), "SELECT name FROM cities WHERE id = 2").unwrap();
    let from_file = h.ok(h
        .master()
        .args(["sql", "--file", "q.sql", "--format", "ndjson"]));
    assert_eq!(from_file, "{\"name\":\"Vigo\"}\n");
    let to_file =
        h.ok(h
            .master()
            .args(["sql", "SELECT 1 AS one", "--format", "csv", "-o", "one.csv"]));
    assert_eq!(to_file, "");
    assert_eq!(
        std::fs::read_to_string(h.path("one.csv"))
            .unwrap()
            .replace("\r\n", "\n"),
        "one\n1\n"
    );

    if carto_test_support::postgis(h.emulator.has_postgis(USER), "--format geojson") {
        let geojson = h.ok(h.master().args([
            "sql",
            "SELECT 7 AS cartodb_id, ST_SetSRID(ST_MakePoint(1.5, 2.25), 4326) AS the_geom",
            "--format",
            "geojson",
        ]));
        let fc: Value = serde_json::from_str(&geojson).unwrap();
        assert_eq!(fc["type"], "FeatureCollection");
        assert_eq!(
            fc["features"][0]["geometry"],
            serde_json::json!({"type": "Point", "coordinates": [1.5, 2.25]})
        );
    }

    // A reader that stops early (`| head -1`): a quiet end with status 0.
    let mut child = h
        .process(assert_cmd::cargo::cargo_bin!("carto"))
        .args([
            "sql",
            "SELECT i, repeat('x', 100) AS pad FROM generate_series(1, 200000) i",
            "--format",
            "csv",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first.trim_end(), "i,pad");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(stderr, "");
}

fn sql_errors(h: &mut Harness) {
    // CARTO's message and PostgreSQL's hint, exit 10.
    let err = h.fails(h.master().args(["sql", "SELECT nme FROM cities"]), 10);
    assert!(
        err.starts_with("carto: CARTO answered 400: column \"nme\" does not exist"),
        "{err}"
    );
    assert!(err.contains("\n  hint: Perhaps you meant"), "{err}");
    // An empty query is refused before sending (3); no query at all is a usage error (2).
    let err = h.fails(h.master().args(["sql", "  "]), 3);
    assert!(err.contains("the query is empty"), "{err}");
    h.fails(h.master().args(["sql", "--file", "missing.sql"]), 5);
    // No credentials at all.
    let err = h.fails(h.bare().args(["sql", "SELECT 1"]), 4);
    assert!(err.contains("no credentials"), "{err}");
    // An unknown key (401); an http URL without --allow-http (4).
    let err = h.fails(
        h.with_key("not-a-valid-key-0123456789")
            .args(["sql", "SELECT 1"]),
        11,
    );
    assert!(err.contains("401"), "{err}");
    let err = h.fails(
        h.bare()
            .args(["--base-url", &h.base_url.clone(), "sql", "SELECT 1"]),
        4,
    );
    assert!(err.contains("invalid base URL"), "{err}");
    // Nothing listening (20).
    let err = h.fails(
        h.bare().args([
            "--allow-http",
            "--base-url",
            "http://127.0.0.1:9/user/alice",
            "sql",
            "SELECT 1",
        ]),
        20,
    );
    assert!(err.contains("connection failed"), "{err}");
    // CARTO's rate limit is waited for and retried by default; with --retries 0 the
    // 429 is the answer (14).
    h.emulator
        .inject("/api/v2/sql", Fault::RateLimited { retry_after: 1 });
    let out = h.ok(h.master().args(["sql", "--format", "csv", "SELECT 5 AS n"]));
    assert!(out.contains('5'), "{out}");
    h.emulator
        .inject("/api/v2/sql", Fault::RateLimited { retry_after: 1 });
    let err = h.fails(h.master().args(["--retries", "0", "sql", "SELECT 1"]), 14);
    assert!(err.contains("retry after: 1 s"), "{err}");
}

fn keys(h: &mut Harness) {
    // Bad grants: usage errors (2) naming the fix; a reserved name: invalid input (3).
    let err = h.fails(
        h.master()
            .args(["keys", "create", "bad", "--table", "public.cities:read"]),
        2,
    );
    assert!(err.contains("unknown table permission `read`"), "{err}");
    assert!(err.contains("insert, select, update, delete"), "{err}");
    let err = h.fails(
        h.master()
            .args(["keys", "create", "bad", "--service", "teleport"]),
        2,
    );
    assert!(err.contains("geocoding"), "{err}");
    let err = h.fails(h.master().args(["keys", "create", "Master"]), 3);
    assert!(err.contains("reserved"), "{err}");

    // Created without --show-token: a summary, no token.
    let out = h.ok(h.master().args([
        "keys",
        "create",
        "reader",
        "--sql",
        "--table",
        "public.cities:select",
        "--service",
        "geocoding",
    ]));
    assert!(out.starts_with("created key reader\n"), "{out}");
    assert!(out.contains("table:    public.cities: select"), "{out}");
    assert!(out.contains("services: geocoding"), "{out}");
    assert!(out.contains("apis:     sql\n"), "{out}");
    // With --show-token: the token alone on stdout.
    let writer = h.run_token(h.master().args([
        "keys",
        "create",
        "writer",
        "--table",
        "public.cities:select,insert",
        "--show-token",
    ]));
    let reader = h.run_token(
        h.master()
            .args(["keys", "regenerate", "reader", "--show-token"]),
    );

    // Listings and details never show the tokens, only a masked form.
    let list = h.ok(h.master().args(["keys", "list"]));
    for name in ["Master", "Default public", "reader", "writer"] {
        assert!(list.contains(name), "{list}");
    }
    assert!(
        list.contains(&format!("****{}", &writer[writer.len() - 4..])),
        "{list}"
    );
    let regular = h.ok(h
        .master()
        .args(["keys", "list", "--type", "regular", "--json"]));
    let regular: Value = serde_json::from_str(&regular).unwrap();
    let names: Vec<&str> = regular
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"reader") && names.contains(&"writer"));
    assert!(regular[0]["token"].as_str().unwrap().starts_with("****"));
    let show = h.ok(h.master().args(["keys", "show", "writer"]));
    assert!(
        show.contains("table:   public.cities: insert, select\n")
            || show.contains("table:   public.cities: select, insert\n"),
        "{show}"
    );
    let shown: Value =
        serde_json::from_str(&h.ok(h.master().args(["keys", "show", "reader", "--json"]))).unwrap();
    assert_eq!(shown["type"], "regular");

    // The keys at work: the reader reads but may not write (403, exit 12).
    let n = h.ok(h.with_key(&reader).args([
        "sql",
        "SELECT count(*) AS n FROM cities",
        "--format",
        "csv",
    ]));
    assert_eq!(n.replace("\r\n", "\n"), "n\n3\n");
    let err = h.fails(
        h.with_key(&reader)
            .args(["sql", "INSERT INTO cities VALUES (9, 'Lugo', 1)"]),
        12,
    );
    assert!(err.contains("permission denied"), "{err}");
    // Past its statement timeout (1 s for regular keys here): exit 15.
    let err = h.fails(h.with_key(&reader).args(["sql", "SELECT pg_sleep(3)"]), 15);
    assert!(err.contains("429") && err.contains("timeout"), "{err}");
    h.ok(h
        .with_key(&writer)
        .args(["sql", "INSERT INTO cities VALUES (4, 'Lugo', 98000)"]));
    // A regular key may not manage keys (401, exit 11).
    h.fails(h.with_key(&reader).args(["keys", "create", "x"]), 11);

    // Regenerated: the old token is refused.
    let new_reader = h.run_token(
        h.master()
            .args(["keys", "regenerate", "reader", "--show-token"]),
    );
    assert_ne!(new_reader, reader);
    h.fails(h.with_key(&reader).args(["sql", "SELECT 1"]), 11);
    let out = h.ok(h.master().args(["keys", "regenerate", "reader"]));
    assert!(
        out.starts_with("regenerated the token of key reader"),
        "{out}"
    );

    // Deleted: gone (404, exit 13).
    assert_eq!(
        h.ok(h.master().args(["keys", "delete", "writer"])),
        "deleted key writer\n"
    );
    let err = h.fails(h.master().args(["keys", "show", "writer"]), 13);
    assert!(err.contains("404"), "{err}");
    h.fails(h.with_key(&writer).args(["sql", "SELECT 1"]), 11);

    // The account, without secrets.
    let me = h.ok(h.master().args(["me"]));
    let first = me.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("username:") && first.ends_with(" alice"),
        "{me}"
    );
    assert!(me.contains("email:"), "{me}");
    let me_json: Value = serde_json::from_str(&h.ok(h.master().args(["me", "--json"]))).unwrap();
    assert_eq!(me_json["user_data"]["username"], USER);
    assert!(!me_json.to_string().contains("api_key"), "{me_json}");
}

fn copy_round_trips(h: &mut Harness) {
    h.ok(h.master().args([
        "sql",
        "CREATE TABLE loaded (id int, name text, note text DEFAULT 'x')",
    ]));
    let mut csv = String::from("id,name\n");
    for i in 1..=2000 {
        csv.push_str(&format!("{i},\"row, number {i}\"\n"));
    }
    std::fs::write(h.path("data.csv"), &csv).unwrap();

    // File to table, gzip on the way, then table to file: the same bytes.
    let out = h.ok(h.master().args([
        "copy",
        "from",
        "loaded",
        "data.csv",
        "--columns",
        "id,name",
        "--gzip",
    ]));
    assert!(out.starts_with("copied 2000 rows into loaded in "), "{out}");
    let out = h.ok(h.master().args([
        "copy",
        "to",
        "SELECT id, name FROM loaded ORDER BY id",
        "out.csv",
    ]));
    assert_eq!(out, format!("wrote {} bytes to out.csv\n", csv.len()));
    assert_eq!(std::fs::read_to_string(h.path("out.csv")).unwrap(), csv);

    // stdin to table, table to stdout.
    h.ok(h.master().args(["sql", "TRUNCATE loaded"]));
    let out = h.ok(h
        .master()
        .args(["copy", "from", "public.loaded", "-", "--columns", "id,name"])
        .write_stdin(csv.clone()));
    assert!(out.starts_with("copied 2000 rows"), "{out}");
    let dumped = h.ok(h.master().args([
        "copy",
        "to",
        "COPY (SELECT id, name FROM loaded ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER true)",
        "-",
    ]));
    assert_eq!(dumped, csv);

    // A pipe between two carto processes: export | load into another table.
    h.ok(h
        .master()
        .args(["sql", "CREATE TABLE copied (id int, name text)"]));
    let mut export = h.process(assert_cmd::cargo::cargo_bin!("carto"));
    let mut load = h.process(assert_cmd::cargo::cargo_bin!("carto"));
    for cmd in [&mut export, &mut load] {
        cmd.stderr(Stdio::piped());
    }
    let mut export = export
        .args([
            "copy",
            "to",
            "SELECT id, name FROM loaded",
            "-",
            "--format",
            "text",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let load = load
        .args(["copy", "from", "copied", "-", "--format", "text"])
        .stdin(export.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let export = export.wait_with_output().unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let loaded = String::from_utf8_lossy(&load.stdout).into_owned();
    let load_err = String::from_utf8_lossy(&load.stderr).into_owned();
    assert!(load.status.success(), "{load_err}");
    assert!(
        loaded.starts_with("copied 2000 rows into copied"),
        "{loaded}"
    );
    h.outputs.extend([
        loaded,
        load_err,
        String::from_utf8_lossy(&export.stderr).into_owned(),
    ]);
    let count = h.ok(h.master().args([
        "sql",
        "SELECT count(DISTINCT name) AS n FROM copied",
        "--format",
        "csv",
    ]));
    assert_eq!(count.replace("\r\n", "\n"), "n\n2000\n");

    // Errors: an unknown table (CARTO's 400), a missing local file (5), bad COPY SQL (3).
    let err = h.fails(h.master().args(["copy", "from", "nope", "data.csv"]), 10);
    assert!(err.contains("nope"), "{err}");
    h.fails(
        h.master().args(["copy", "from", "loaded", "missing.csv"]),
        5,
    );
    let err = h.fails(h.master().args(["copy", "to", "SELEC 1", "x.csv"]), 10);
    assert!(err.contains("syntax error"), "{err}");
    assert!(
        !h.path("x.csv").exists(),
        "a refused COPY TO leaves the file alone"
    );
}

/// Under a pseudo-terminal (util-linux `script`), the same commands draw: a progress
/// bar for COPY, UTF-8 table borders for SQL.
fn on_a_terminal(h: &mut Harness) {
    if StdCommand::new("script").arg("--version").output().is_err() {
        eprintln!("no `script` (util-linux) on this machine: terminal output not checked");
        return;
    }
    let bin = assert_cmd::cargo::cargo_bin!("carto").display().to_string();
    h.ok(h.master().args(["sql", "TRUNCATE loaded"]));
    let in_pty = |command: String| {
        let out = h
            .process("script")
            .args(["-qec", &command, "/dev/null"])
            // A terminal has a TERM (indicatif draws nothing on an unnamed one).
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = in_pty(format!("{bin} copy from loaded data.csv --columns id,name"));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("copied 2000 rows"), "{out:?}");
    assert!(
        out.contains("uploading") && out.contains('\x1b'),
        "a progress bar: {out:?}"
    );
    let (code, out) = in_pty(format!("{bin} sql 'SELECT 1 AS one'"));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("┌────") && out.contains("│   1 │"), "{out}");
    // Binary formats are not written to a terminal (usage error, 2).
    let (code, shp) = in_pty(format!("{bin} sql 'SELECT 1 AS one' --format shp"));
    assert_eq!(code, Some(2), "{shp}");
    assert!(shp.contains("shp output is binary"), "{shp}");
    for token in &h.tokens {
        assert!(!out.contains(token.as_str()) && !shp.contains(token.as_str()));
    }
}

fn batch_jobs(h: &mut Harness) {
    // Two queries, waited for.
    let out = h.ok(h.master().args([
        "batch",
        "run",
        "CREATE TABLE batched (a int)",
        "INSERT INTO batched VALUES (1), (2)",
        "--wait",
        "--timeout",
        "60",
    ]));
    assert!(out.contains("\nstatus:  done\n"), "{out}");
    assert!(out.contains("[done] INSERT INTO batched"), "{out}");
    // A failing job: exit 16 with PostgreSQL's reason.
    let err = h.fails(
        h.master()
            .args(["batch", "run", "SELECT * FROM no_such_table", "--wait"]),
        16,
    );
    assert!(err.contains("ended with status failed"), "{err}");
    assert!(err.contains("no_such_table"), "{err}");
    // Without --wait: the id on stdout; then its status; then cancelled.
    let id = h.ok(h.master().args(["batch", "run", "SELECT pg_sleep(30)"]));
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 36, "a job id: {id}");
    let status = h.ok(h.master().args(["batch", "status", &id]));
    assert!(status.starts_with(&format!("job:     {id}\n")), "{status}");
    let cancelled = h.ok(h.master().args(["batch", "cancel", &id, "--json"]));
    let cancelled: Value = serde_json::from_str(&cancelled).unwrap();
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    let err = h.fails(h.master().args(["batch", "status", &id, "--wait"]), 16);
    assert!(err.contains("cancelled"), "{err}");
    // CARTO answers an unknown job with a 400 (not a 404).
    let err = h.fails(
        h.master()
            .args(["batch", "status", "00000000-0000-0000-0000-000000000000"]),
        10,
    );
    assert!(err.contains("not found"), "{err}");
}

fn profiles(h: &mut Harness) {
    // Save the connection flags as profile `dev` (no token printed), then use it alone.
    let base_url = h.base_url.clone();
    let master = h.master.clone();
    let out = h.ok(h
        .bare()
        .args([
            "--allow-http",
            "--base-url",
            &base_url,
            "--profile",
            "dev",
            "creds",
            "save",
        ])
        .env("CARTO_API_KEY", &master));
    let file = h.path("config").join("profiles").join("dev.json");
    assert!(out.contains(&file.display().to_string()), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(saved["api_key"], master.as_str());
    assert_eq!(h.ok(h.bare().args(["creds", "profiles"])), "dev\n");
    let me = h.ok(h.bare().args(["--profile", "dev", "me"]));
    assert!(
        me.starts_with("username:") && me.contains(" alice\n"),
        "{me}"
    );
    let show = h.ok(h.bare().env("CARTO_PROFILE", "dev").args(["creds", "show"]));
    assert!(show.contains("API key:  ****"), "{show}");
    assert!(show.contains("from:     profile dev"), "{show}");
    // The environment does not override a profile; the command line does.
    let out = h.ok(h.with_key("bogus-token-0123456789abcdef").args([
        "--profile",
        "dev",
        "creds",
        "show",
    ]));
    assert!(!out.contains("cdef"), "{out}");
    h.fails(
        h.bare().args([
            "--profile",
            "dev",
            "--api-key",
            "bogus-token-0123456789abcdef",
            "sql",
            "SELECT 1",
        ]),
        11,
    );
    let err = h.fails(h.bare().args(["--profile", "prod", "me"]), 4);
    assert!(err.contains("no profile `prod`"), "{err}");
    h.fails(h.bare().args(["--profile", "../etc", "me"]), 4);

    // Without a profile: cartoframes' default file, written by `creds save`.
    h.ok(h.master().args(["creds", "save"]));
    assert!(
        h.path("xdg")
            .join("cartoframes")
            .join("creds.json")
            .exists()
    );
    let show = h.ok(h.bare().args(["creds", "show"]));
    assert!(show.contains("cartoframes default file"), "{show}");
    h.ok(h.bare().args(["sql", "SELECT 1"]));
}

#[test]
fn completions_and_help() {
    for shell in ["bash", "zsh", "fish"] {
        let out = cargo_bin_cmd!("carto")
            .args(["completions", shell])
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("carto") && text.contains("regenerate"),
            "{shell}: {text}"
        );
    }
    cargo_bin_cmd!("carto")
        .args(["completions", "tcsh"])
        .assert()
        .code(2);
    cargo_bin_cmd!("carto")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit status:"))
        .stdout(predicate::str::contains("16  the batch job ended failed"))
        .stdout(predicate::str::contains("visible to other users"));
    // The env value of the API key is never shown in help.
    cargo_bin_cmd!("carto")
        .env("CARTO_API_KEY", "help-canary-token-0123")
        .args(["keys", "--help"])
        .assert()
        .success()
        .stdout(predicate::str::contains("help-canary").not());
    cargo_bin_cmd!("carto")
        .args(["sql", "SELECT 1", "--file", "q.sql"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used with"));
}

#[cfg(feature = "emulator")]
#[test]
fn the_emulator_subcommand_serves_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    cargo_bin_cmd!("carto")
        .arg("emulator")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("at least one --user"));
    let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin!("carto"))
        .args(["emulator", "--user", "bob", "--write-creds"])
        .arg(dir.path())
        .args([
            "--max-sessions-per-role",
            "1",
            "--session-queue-timeout-ms",
            "300",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    while let Some(Ok(line)) = lines.next() {
        let done = line.starts_with("wrote ");
        seen.push(line);
        if done {
            break;
        }
    }
    assert!(
        seen[0].starts_with("carto-emulator listening on http://127.0.0.1:"),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|l| l.starts_with("  base URL:   http://")),
        "{seen:?}"
    );
    let creds = dir.path().join("bob.json");
    assert!(creds.exists(), "{seen:?}");
    // The saved file drives the CLI.
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("profiles")).unwrap();
    std::fs::copy(&creds, config.join("profiles").join("bob.json")).unwrap();
    cargo_bin_cmd!("carto")
        .env_clear()
        .env("CARTO_CONFIG_DIR", &config)
        .args([
            "--profile",
            "bob",
            "sql",
            "SELECT 40 + 2 AS n",
            "--format",
            "csv",
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("42"));
    // One session per key: while a slow query holds it, the next request waits 300 ms
    // for it, then gets CARTO's rate-limit answer (429, exit 14) with its Retry-After
    // (retries off: by default the CLI would wait and send it again).
    let mut slow = StdCommand::new(assert_cmd::cargo::cargo_bin!("carto"))
        .env_clear()
        .env("CARTO_CONFIG_DIR", &config)
        .args(["--profile", "bob", "sql", "SELECT pg_sleep(5)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    cargo_bin_cmd!("carto")
        .env_clear()
        .env("CARTO_CONFIG_DIR", &config)
        .args(["--profile", "bob", "--retries", "0", "sql", "SELECT 1"])
        .assert()
        .code(14)
        .stderr(predicate::str::contains("CARTO answered 429"))
        .stderr(predicate::str::contains("detail: rate-limit"))
        .stderr(predicate::str::contains("retry after: 1 s"));
    assert!(slow.wait().unwrap().success());
    let status = StdCommand::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "stopped cleanly on SIGTERM: {status}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("stopping"), "{err}");
}
