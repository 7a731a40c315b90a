//! `carto carto3` against a fake CARTO 3 server (the emulator's CARTO 3 side is tested
//! on its own): every command with its table and JSON output and the requests it
//! sends, the M2M token fetch, profiles and credentials files; and the attacker's side:
//! malformed answers, 401s, a dead server, a server echoing secrets back. No output
//! may hold a token or a secret unless asked with --show-token(s).

mod fake;

use std::path::PathBuf;

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;
use serde_json::{Value, json};

use super::{Records, bare_in};
use fake::{Answer, Fake, Seen, dead_url};

const TOKEN: &str = "fixed-api-token-canary-0001";
const CLIENT_ID: &str = "m2m-client-id";
const SECRET: &str = "m2m-client-secret-canary-0002";
const M2M_TOKEN: &str = "m2m-access-token-canary-0003";
const NEW_TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.new-token-canary-0004.sigX";
const CONN: &str = "carto_dw";

/// The fake CARTO 3 API and OAuth server.
fn carto3(seen: &Seen) -> Answer {
    if seen.path == "/oauth/token" {
        let form = seen.form();
        let ok = seen.method == "POST"
            && form.get("grant_type").map(String::as_str) == Some("client_credentials")
            && form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && form.get("client_secret").map(String::as_str) == Some(SECRET)
            && form.get("audience").map(String::as_str) == Some("carto-cloud-native-api");
        return match ok {
            true => Answer::json(
                200,
                json!({"access_token": M2M_TOKEN, "expires_in": 3600, "token_type": "Bearer"}),
            ),
            false => Answer::json(
                401,
                json!({"error": "access_denied", "error_description": "Unauthorized"}),
            ),
        };
    }
    let bearer = seen.header("authorization").unwrap_or_default();
    if bearer != format!("Bearer {TOKEN}") && bearer != format!("Bearer {M2M_TOKEN}") {
        return Answer::json(401, json!({"error": "Unauthorized"}));
    }
    let job = |id: &str, status: &str| json!({"jobId": id, "status": status});
    let token_doc = || {
        json!({"token": NEW_TOKEN, "id": "tok_1",
               "grants": [{"connection_name": CONN, "source": "public.cities"}],
               "referers": ["https://maps.example.com"], "allowed_apis": ["sql"],
               "expiration_date": "2027-01-31T00:00:00Z", "created_at": "2026-12-07"})
    };
    let token_path = format!("/v3/tokens/{NEW_TOKEN}");
    match (seen.method.as_str(), seen.path.as_str()) {
        ("GET" | "POST", "/v3/sql/carto_dw/query") => {
            let q = match seen.method.as_str() {
                "GET" => seen.query.get("q").cloned().unwrap_or_default(),
                _ => seen.json()["q"].as_str().unwrap_or_default().to_owned(),
            };
            if q.contains("pg_sleep") {
                return Answer::json(
                    504,
                    json!({"error": "Query timeout: statement ran over 60 s"}),
                );
            }
            if q.contains("generate_series") {
                return Answer::json(
                    400,
                    json!({"error": "The query returns too many rows: the maximum number of rows is 200000"}),
                );
            }
            if q.contains("FROM nowhere") {
                return Answer::json(
                    400,
                    json!({"error": "relation \"nowhere\" does not exist", "status": 400}),
                );
            }
            Answer::json(
                200,
                json!({"rows": [{"id": 1, "name": "Madrid", "pop": 3300000},
                                {"id": 2, "name": "Ñuñoa", "pop": null}],
                       "schema": [{"name": "id", "type": "number"}, {"name": "name", "type": "string"},
                                  {"name": "pop", "type": "bigint"}],
                       "meta": {"cacheHit": false}}),
            )
        }
        ("POST", "/v3/sql/carto_dw/job") => Answer::json(200, job("job-1", "pending")),
        ("GET", "/v3/sql/carto_dw/job/job-1") => Answer::json(
            200,
            json!({"jobId": "job-1", "status": "done", "externalId": "ext-9", "query": "CREATE TABLE t AS SELECT 1"}),
        ),
        ("GET", "/v3/sql/carto_dw/job/job-bad") => Answer::json(
            200,
            json!({"jobId": "job-bad", "status": "failed", "error": "division by zero"}),
        ),
        ("GET", "/v3/sql/carto_dw/job/job-slow") => Answer::json(200, job("job-slow", "running")),
        ("DELETE", "/v3/sql/carto_dw/job/job-1") => Answer::json(200, job("job-1", "cancelled")),
        ("GET", "/v3/sql/jobs") => Answer::json(
            200,
            json!({"jobs": [job("job-1", "done"), job("job-2", "running")]}),
        ),
        ("POST", "/v3/tokens") => {
            let mut doc = seen.json();
            doc["token"] = json!(NEW_TOKEN);
            doc["id"] = json!("tok_1");
            Answer::json(201, doc)
        }
        ("GET", "/v3/tokens") => Answer::json(200, json!([token_doc()])),
        ("GET", p) if p == token_path => Answer::json(200, token_doc()),
        ("PATCH", p) if p == token_path => {
            let mut doc = token_doc();
            doc["referers"] = seen.json()["referers"].clone();
            Answer::json(200, doc)
        }
        ("DELETE", p) if p == token_path => Answer::raw(204, ""),
        (_, p) if p.starts_with("/v3/tokens/") => {
            Answer::json(404, json!({"error": "Token not found"}))
        }
        _ => Answer::json(404, json!({"error": "Not found"})),
    }
}

/// A private configuration directory, and every output seen.
struct H {
    dir: tempfile::TempDir,
    outputs: Vec<String>,
}

impl H {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            outputs: Vec::new(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `carto` with no credentials, a private configuration, no terminal.
    fn bare(&self) -> Command {
        bare_in(self.dir.path())
    }

    /// `carto carto3` with the fixed token of `url` in the environment.
    fn token(&self, url: &str) -> Command {
        let mut cmd = self.bare();
        cmd.env("CARTO_API_BASE_URL", url)
            .env("CARTO_API_TOKEN", TOKEN)
            .env("CARTO_CONNECTION", CONN)
            .arg("carto3");
        cmd
    }

    /// `carto carto3` with M2M credentials of `url` in the environment.
    fn m2m(&self, url: &str) -> Command {
        let mut cmd = self.bare();
        cmd.env("CARTO_API_BASE_URL", url)
            .env("CARTO_AUTH_URL", url)
            .env("CARTO_M2M_CLIENT_ID", CLIENT_ID)
            .env("CARTO_M2M_CLIENT_SECRET", SECRET)
            .env("CARTO_CONNECTION", CONN)
            .arg("carto3");
        cmd
    }

    /// No recorded output holds a token or a secret.
    fn check_outputs(&self) {
        for out in &self.outputs {
            for secret in [TOKEN, SECRET, M2M_TOKEN, NEW_TOKEN, "canary"] {
                assert!(!out.contains(secret), "a secret leaked: {out}");
            }
            assert!(!out.contains('\x1b'), "an escape code: {out:?}");
        }
    }
}

/// Whether `text` has a `label: value` line.
fn has_line(text: &str, label: &str, value: &str) -> bool {
    text.lines().any(|l| {
        l.strip_prefix(label)
            .is_some_and(|rest| rest.trim() == value)
    })
}

impl Records for H {
    fn outputs(&mut self) -> &mut Vec<String> {
        &mut self.outputs
    }
}

#[test]
fn queries_as_a_table_and_as_json() {
    let fake = Fake::start(carto3);
    let mut h = H::new();
    let out = h.ok(h
        .token(&fake.url)
        .args(["sql", "query", "SELECT * FROM cities"]));
    assert!(out.contains("|  1 | Madrid | 3300000 |"), "{out}");
    assert!(out.contains("|  2 | Ñuñoa  |         |"), "{out}");
    assert!(out.ends_with("(2 rows)\n"), "{out}");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/v3/sql/carto_dw/query")
    );
    assert_eq!(seen[0].query["q"], "SELECT * FROM cities");
    assert_eq!(
        seen[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    // JSON, a POST with parameters, the SQL on stdin, the connection on the command line.
    fake.clear();
    let out = h.ok(h
        .token(&fake.url)
        .env_remove("CARTO_CONNECTION")
        .args([
            "sql",
            "query",
            "-",
            "--json",
            "--post",
            "--params",
            r#"["Madrid"]"#,
        ])
        .args(["--connection", CONN])
        .write_stdin("SELECT * FROM cities WHERE name = $1"));
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["rows"][0]["name"], "Madrid");
    assert_eq!(doc["rows"].as_array().unwrap().len(), 2);
    assert_eq!(doc["schema"][2], json!({"name": "pop", "type": "bigint"}));
    assert_eq!(doc["meta"]["cacheHit"], false);
    let sent = fake.seen()[0].json();
    assert_eq!(sent["q"], "SELECT * FROM cities WHERE name = $1");
    assert_eq!(sent["queryParameters"], json!(["Madrid"]));

    // CARTO 3's limits of synchronous queries: the message says to run a job.
    let err = h.fails(
        h.token(&fake.url)
            .args(["--retries", "0", "sql", "query", "SELECT pg_sleep(90)"]),
        15,
    );
    assert!(
        err.contains("one-minute time limit") && err.contains("job"),
        "{err}"
    );
    let err = h.fails(
        h.token(&fake.url)
            .args(["sql", "query", "SELECT generate_series(1, 300000)"]),
        10,
    );
    assert!(
        err.contains("200,000-row cap") && err.contains("job"),
        "{err}"
    );

    // CARTO's error, its exit status; bad input refused before sending.
    let err = h.fails(
        h.token(&fake.url)
            .args(["sql", "query", "SELECT 1 FROM nowhere"]),
        10,
    );
    assert!(err.contains("relation \"nowhere\" does not exist"), "{err}");
    fake.clear();
    let err = h.fails(
        h.token(&fake.url)
            .args(["sql", "query", "SELECT 1", "--params", "7"]),
        2,
    );
    assert!(err.contains("--params takes a JSON array"), "{err}");
    let err = h.fails(
        h.token(&fake.url)
            .env_remove("CARTO_CONNECTION")
            .args(["sql", "query", "SELECT 1"]),
        2,
    );
    assert!(err.contains("no connection"), "{err}");
    assert!(fake.seen().is_empty(), "nothing sent");
    h.check_outputs();
}

#[test]
fn jobs_create_get_wait_cancel_list() {
    let fake = Fake::start(carto3);
    let mut h = H::new();
    let out =
        h.run(
            h.token(&fake.url)
                .args(["sql", "job", "create", "CREATE TABLE t AS SELECT 1"]),
        );
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "job-1\n"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("carto carto3 sql job wait job-1"),
        "{}",
        out.stderr
    );
    let sent = &fake.seen()[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v3/sql/carto_dw/job")
    );
    assert_eq!(sent.json()["query"], "CREATE TABLE t AS SELECT 1");

    let out = h.ok(h
        .token(&fake.url)
        .args(["sql", "job", "create", "SELECT 1", "--wait", "--json"]));
    let job: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (job["jobId"].as_str(), job["status"].as_str()),
        (Some("job-1"), Some("done"))
    );
    let out = h.ok(h.token(&fake.url).args(["sql", "job", "get", "job-1"]));
    assert!(
        out.contains("status:      done\n") && out.contains("external id: ext-9"),
        "{out}"
    );
    assert!(
        out.contains("query:       CREATE TABLE t AS SELECT 1"),
        "{out}"
    );
    let out = h.ok(h.token(&fake.url).args(["sql", "job", "wait", "job-1"]));
    assert!(out.starts_with("job:"), "{out}");

    // A failed job, a job still running past --timeout.
    let err = h.fails(
        h.token(&fake.url).args(["sql", "job", "wait", "job-bad"]),
        16,
    );
    assert!(err.contains("division by zero"), "{err}");
    let err = h.fails(
        h.token(&fake.url)
            .args(["sql", "job", "wait", "job-slow", "--timeout", "1"]),
        17,
    );
    assert!(err.contains("carto carto3 sql job cancel ID"), "{err}");
    let err = h.fails(
        h.token(&fake.url).args(["sql", "job", "get", "job-none"]),
        13,
    );
    assert!(err.contains("Not found"), "{err}");

    let out = h.ok(h
        .token(&fake.url)
        .args(["sql", "job", "cancel", "job-1", "--json"]));
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["status"],
        "cancelled"
    );
    let out = h.ok(h.token(&fake.url).args(["sql", "job", "list"]));
    assert!(out.contains("| job-2 | running |"), "{out}");
    assert!(out.ends_with("(2 jobs)\n"), "{out}");
    let out = h.ok(h.token(&fake.url).args(["sql", "job", "list", "--json"]));
    assert_eq!(
        serde_json::from_str::<Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    h.check_outputs();
}

#[test]
fn tokens_create_list_get_update_delete_with_m2m() {
    let fake = Fake::start(carto3);
    let mut h = H::new();
    let out = h.ok(h.m2m(&fake.url).args([
        "tokens",
        "create",
        "--grant",
        "carto_dw:public.cities",
        "--grant",
        "carto_dw:SELECT name FROM cities",
        "--referer",
        "https://maps.example.com/",
        "--api",
        "sql",
        "--expires",
        "2027-01-31",
    ]));
    assert!(out.starts_with("created token\ntoken:"), "{out}");
    assert!(
        out.contains("****sigX") && has_line(&out, "id:", "tok_1"),
        "{out}"
    );
    let seen = fake.seen();
    // The M2M token first: POST {auth_url}/oauth/token, form-encoded.
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", "/oauth/token")
    );
    assert_eq!(
        seen[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        seen[1].header("authorization"),
        Some(format!("Bearer {M2M_TOKEN}").as_str())
    );
    let body = seen[1].json();
    assert_eq!(
        body,
        json!({"grants": [{"connection_name": "carto_dw", "source": "public.cities"},
                          {"connection_name": "carto_dw", "source": "SELECT name FROM cities"}],
               "referers": ["https://maps.example.com"], "allowed_apis": ["sql"],
               "expiration_date": "2027-01-31T00:00:00Z"})
    );

    // --show-token: the token alone on stdout, the summary on stderr.
    let run = h.run(h.m2m(&fake.url).args([
        "tokens",
        "create",
        "--grant",
        "carto_dw:public.cities",
        "--api",
        "sql,maps",
        "--show-token",
    ]));
    assert_eq!(
        (run.code, run.stdout.as_str()),
        (0, format!("{NEW_TOKEN}\n").as_str())
    );
    h.outputs.pop();
    assert!(!run.stderr.contains(NEW_TOKEN), "{}", run.stderr);

    let out = h.ok(h.m2m(&fake.url).args(["tokens", "list"]));
    assert!(
        out.contains("****sigX") && out.contains("carto_dw:public.cities"),
        "{out}"
    );
    assert!(out.ends_with("(1 token)\n"), "{out}");
    let out = h.ok(h.m2m(&fake.url).args(["tokens", "list", "--json"]));
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()[0]["token"],
        "****sigX"
    );
    let run = h.run(h.m2m(&fake.url).args(["tokens", "list", "--show-tokens"]));
    assert!(
        run.code == 0 && run.stdout.contains(NEW_TOKEN),
        "{}",
        run.stderr
    );
    h.outputs.pop();

    // The token to act on comes from stdin (or the command line).
    fake.clear();
    let out = h.ok(h
        .m2m(&fake.url)
        .args(["tokens", "get", "--json"])
        .write_stdin(format!("{NEW_TOKEN}\n")));
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (doc["token"].as_str(), doc["id"].as_str()),
        (Some("****sigX"), Some("tok_1"))
    );
    assert_eq!(fake.seen()[1].path, format!("/v3/tokens/{NEW_TOKEN}"));
    let out = h.ok(h
        .m2m(&fake.url)
        .args(["tokens", "update", "-", "--no-referers"])
        .write_stdin(NEW_TOKEN));
    assert!(has_line(&out, "referers:", "(any)"), "{out}");
    let patch = fake
        .seen()
        .into_iter()
        .find(|s| s.method == "PATCH")
        .unwrap();
    assert_eq!(patch.json(), json!({"referers": []}));
    let out = h.ok(h.m2m(&fake.url).args(["tokens", "delete", NEW_TOKEN]));
    assert_eq!(out, "deleted token ****sigX\n");
    let err = h.fails(
        h.m2m(&fake.url)
            .args(["tokens", "get", "-"])
            .write_stdin("unknown-token-0123456789"),
        13,
    );
    assert!(
        err.contains("Token not found") && !err.contains("unknown-token"),
        "{err}"
    );

    // Refused before sending: no grant, a bad source, an empty update, a bad API.
    fake.clear();
    h.fails(
        h.m2m(&fake.url).args(["tokens", "create", "--api", "sql"]),
        2,
    );
    let err = h.fails(
        h.m2m(&fake.url).args([
            "tokens",
            "create",
            "--grant",
            "carto_dw:cities",
            "--api",
            "sql",
        ]),
        3,
    );
    assert!(err.contains("not a qualified table name"), "{err}");
    h.fails(h.m2m(&fake.url).args(["tokens", "update", NEW_TOKEN]), 2);
    h.fails(
        h.m2m(&fake.url)
            .args(["tokens", "create", "--grant", "c:a.b", "--api", "ftp"]),
        2,
    );
    h.fails(h.m2m(&fake.url).args(["tokens", "get"]).write_stdin(""), 2);
    assert!(fake.seen().is_empty(), "nothing sent: {:?}", fake.seen());
    h.check_outputs();
}

#[test]
fn profiles_and_credentials_files() {
    let fake = Fake::start(carto3);
    let mut h = H::new();
    // The emulator's USER.carto3.json: carto-auth's file with auth_url and connection.
    let file = h.path("alice.carto3.json");
    std::fs::write(
        &file,
        json!({"api_base_url": fake.url, "auth_url": fake.url, "client_id": CLIENT_ID,
               "client_secret": SECRET, "connection": CONN})
        .to_string(),
    )
    .unwrap();
    let mut cmd = h.bare();
    cmd.env("CARTO_CREDENTIALS", &file)
        .args(["carto3", "sql", "query", "SELECT 1", "--json"]);
    h.ok(&mut cmd);
    assert_eq!(fake.seen()[1].path, "/v3/sql/carto_dw/query");
    let show = h.ok(h
        .bare()
        .args(["carto3", "--credentials"])
        .arg(&file)
        .args(["creds", "show"]));
    assert!(show.contains("client id:    m2m-client-id\n"), "{show}");
    assert!(
        show.contains("secret:       ****0002\n") && show.contains("connection:   carto_dw\n"),
        "{show}"
    );
    assert!(
        show.contains(&format!(
            "from:         credentials file {}",
            file.display()
        )),
        "{show}"
    );

    // --api-base-url and --auth-url typed on the command line override the file's; the
    // variables do not.
    let moved = h.path("moved.json");
    let dead = dead_url();
    std::fs::write(
        &moved,
        json!({"api_base_url": dead, "auth_url": dead, "client_id": CLIENT_ID,
               "client_secret": SECRET, "connection": CONN})
        .to_string(),
    )
    .unwrap();
    let mut cmd = h.bare();
    cmd.args(["--retries", "0", "carto3", "--credentials"])
        .arg(&moved);
    cmd.args(["--api-base-url", &fake.url, "--auth-url", &fake.url]);
    h.ok(cmd.args(["sql", "query", "SELECT 1"]));
    let mut cmd = h.bare();
    cmd.env("CARTO_API_BASE_URL", &fake.url)
        .env("CARTO_AUTH_URL", &fake.url);
    cmd.args(["--retries", "0", "carto3", "--credentials"])
        .arg(&moved);
    h.fails(cmd.args(["sql", "query", "SELECT 1"]), 20);

    // Save the environment's credentials as a profile, readable by its owner only.
    let out = h.ok(h.m2m(&fake.url).args(["--profile", "p3", "creds", "save"]));
    let saved = h.path("config").join("profiles").join("p3.json");
    assert!(
        out.contains("M2M client m2m-client-id") && out.contains(&saved.display().to_string()),
        "{out}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&saved).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    assert_eq!(doc["client_secret"], SECRET);
    assert_eq!(doc["connection"], CONN);
    // The profile alone drives the commands; --connection typed overrides its connection.
    fake.clear();
    let out = h.ok(h
        .bare()
        .args(["--profile", "p3", "carto3", "sql", "query", "SELECT 1"]));
    assert!(out.ends_with("(2 rows)\n"), "{out}");
    let err = h.fails(
        h.bare().args([
            "--profile",
            "p3",
            "carto3",
            "--connection",
            "other",
            "sql",
            "query",
            "SELECT 1",
        ]),
        13,
    );
    assert!(err.contains("Not found"), "{err}");
    let show = h.ok(h
        .bare()
        .env("CARTO_PROFILE", "p3")
        .args(["carto3", "creds", "show"]));
    assert!(show.contains("from:         profile p3"), "{show}");
    // A token profile.
    h.ok(h
        .token(&fake.url)
        .args(["--profile", "t3", "creds", "save"]));
    let show = h.ok(h
        .bare()
        .args(["--profile", "t3", "carto3", "creds", "show"]));
    assert!(show.contains("token:        ****0001\n"), "{show}");

    // CARTO 3 and legacy profiles are not mixed up.
    let err = h.fails(h.bare().args(["--profile", "p3", "me"]), 4);
    assert!(err.contains("holds CARTO 3 credentials"), "{err}");
    h.ok(h
        .bare()
        .args([
            "--allow-http",
            "--base-url",
            "http://127.0.0.1:9/user/alice",
            "--profile",
            "v2",
            "creds",
            "save",
        ])
        .env("CARTO_API_KEY", "v2-key-0123456789abcdef"));
    let err = h.fails(
        h.bare()
            .args(["--profile", "v2", "carto3", "creds", "show"]),
        4,
    );
    assert!(err.contains("legacy platform"), "{err}");
    let err = h.fails(
        h.bare()
            .args(["--profile", "none", "carto3", "creds", "show"]),
        4,
    );
    assert!(err.contains("no profile `none`"), "{err}");
    let err = h.fails(h.bare().args(["carto3", "sql", "query", "SELECT 1"]), 4);
    assert!(err.contains("no CARTO 3 credentials"), "{err}");
    let err = h.fails(
        h.bare()
            .args(["carto3", "creds", "save"])
            .env("CARTO_API_TOKEN", TOKEN),
        2,
    );
    assert!(err.contains("give --profile NAME or --file FILE"), "{err}");
    h.check_outputs();
}

#[test]
fn a_long_job_wait_refreshes_the_m2m_token() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // Tokens that live 2 s (replaced after 1 s), each fetch a new one; only the last
    // one fetched is accepted. The job finishes at its sixth read, after at least
    // 250 + 375 + ... ms of the waiter's pauses: well past one second.
    let fetched = AtomicUsize::new(0);
    let reads = AtomicUsize::new(0);
    let refused = std::sync::Arc::new(AtomicUsize::new(0));
    let refusals = refused.clone();
    let fake = Fake::start(move |s| {
        if s.path == "/oauth/token" {
            let n = fetched.fetch_add(1, Ordering::SeqCst) + 1;
            return Answer::json(
                200,
                json!({"access_token": format!("{M2M_TOKEN}-{n}"), "expires_in": 2}),
            );
        }
        let current = format!("Bearer {M2M_TOKEN}-{}", fetched.load(Ordering::SeqCst));
        if s.header("authorization") != Some(current.as_str()) {
            refusals.fetch_add(1, Ordering::SeqCst);
            return Answer::json(401, json!({"error": "Unauthorized"}));
        }
        let status = match reads.fetch_add(1, Ordering::SeqCst) {
            0..=4 => "running",
            _ => "done",
        };
        Answer::json(200, json!({"jobId": "j", "status": status}))
    });
    let mut h = H::new();
    let out = h.ok(h.m2m(&fake.url).args(["sql", "job", "wait", "j"]));
    assert!(has_line(&out, "status:", "done"), "{out}");
    let seen = fake.seen();
    let fetches = seen.iter().filter(|s| s.path == "/oauth/token").count();
    assert!(fetches >= 2, "the token was refreshed: {fetches} fetches");
    assert_eq!(refused.load(Ordering::SeqCst), 0, "before it expired");
    assert!(
        seen.iter()
            .all(|s| s.path == "/oauth/token" || s.header("authorization").is_some()),
        "{seen:?}"
    );
    h.check_outputs();
}

#[test]
fn hostile_and_broken_servers() {
    let mut h = H::new();
    // Malformed JSON answers.
    let broken = Fake::start(|_| Answer::raw(200, r#"{"rows": [{"a": 1}, {"#));
    let err = h.fails(h.token(&broken.url).args(["sql", "query", "SELECT 1"]), 21);
    assert!(err.contains("decode") || err.contains("JSON"), "{err}");
    h.fails(h.token(&broken.url).args(["sql", "job", "get", "j"]), 21);
    h.fails(h.token(&broken.url).args(["tokens", "list"]), 21);
    let not_json = Fake::start(|_| Answer::raw(200, "<html>gateway</html>"));
    h.fails(
        h.token(&not_json.url)
            .args(["sql", "query", "SELECT 1", "--json"]),
        21,
    );
    // An OAuth server answering garbage: a credentials error naming what is missing.
    let err = h.fails(h.m2m(&not_json.url).args(["tokens", "list"]), 4);
    assert!(
        err.contains("M2M") || err.contains("token response"),
        "{err}"
    );

    // 401s: from the API, and from the OAuth server.
    let refusing = Fake::start(|s| match s.path.as_str() {
        "/oauth/token" => Answer::json(
            401,
            json!({"error": "access_denied", "error_description": "Unauthorized"}),
        ),
        _ => Answer::json(401, json!({"error": "Unauthorized"})),
    });
    let err = h.fails(
        h.token(&refusing.url).args(["sql", "query", "SELECT 1"]),
        11,
    );
    assert!(err.contains("401"), "{err}");
    let err = h.fails(h.m2m(&refusing.url).args(["sql", "query", "SELECT 1"]), 11);
    assert!(err.contains("M2M"), "{err}");
    assert_eq!(
        refusing
            .seen()
            .iter()
            .filter(|s| s.path == "/oauth/token")
            .count(),
        1,
        "no loop"
    );

    // A dead server.
    let dead = dead_url();
    let err = h.fails(
        h.token(&dead)
            .args(["--retries", "0", "sql", "query", "SELECT 1"]),
        20,
    );
    assert!(!err.is_empty());
    h.fails(h.m2m(&dead).args(["--retries", "0", "tokens", "list"]), 20);

    // A server echoing the credentials back in its errors: they never reach the output.
    let echo = Fake::start(|s| {
        let said = format!(
            "{} {} {}",
            s.header("authorization").unwrap_or_default(),
            s.body,
            s.path
        );
        match s.path.as_str() {
            "/oauth/token" if s.body.contains(SECRET) => {
                Answer::json(200, json!({"access_token": M2M_TOKEN, "expires_in": 60}))
            }
            _ => Answer::json(400, json!({"error": said, "description": said})),
        }
    });
    let err = h.fails(h.token(&echo.url).args(["sql", "query", "SELECT 1"]), 10);
    assert!(err.contains("<redacted>"), "{err}");
    h.fails(h.m2m(&echo.url).args(["tokens", "get", NEW_TOKEN]), 10);
    h.fails(h.m2m(&echo.url).args(["tokens", "list"]), 10);
    let bad = Fake::start(|s| Answer::json(400, json!({"error": format!("bad {}", s.body)})));
    h.fails(h.m2m(&bad.url).args(["tokens", "list"]), 10);

    // Plain http to another host is refused before anything is sent.
    let err = h.fails(
        h.token("http://example.com")
            .args(["sql", "query", "SELECT 1"]),
        4,
    );
    assert!(
        err.contains("http is only accepted for the local machine"),
        "{err}"
    );
    h.check_outputs();
}

#[test]
fn help_and_usage() {
    let out = cargo_bin_cmd!("carto")
        .env_clear()
        .env("CARTO_API_TOKEN", TOKEN)
        .env("CARTO_M2M_CLIENT_SECRET", SECRET)
        .args(["carto3", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("CARTO 3 credentials") && text.contains("--credentials"),
        "{text}"
    );
    assert!(!text.contains("canary"), "{text}");
    for bad in [
        &["carto3", "sql", "query", "SELECT 1", "--file", "q.sql"][..],
        &["carto3", "sql", "job", "get", "j", "--timeout", "3"],
        &[
            "carto3", "tokens", "create", "--grant", "nocolon", "--api", "sql",
        ],
        &[
            "carto3",
            "tokens",
            "create",
            "--grant",
            "c:a.b",
            "--api",
            "sql",
            "--expires",
            "soon",
        ],
        &[
            "carto3",
            "tokens",
            "update",
            "t",
            "--referer",
            "https://a",
            "--no-referers",
        ],
    ] {
        cargo_bin_cmd!("carto")
            .env_clear()
            .args(bad)
            .assert()
            .code(2);
    }
}
