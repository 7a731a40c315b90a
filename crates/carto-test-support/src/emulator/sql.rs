//! A throwaway cluster with the SQL engine on it: one database with PostGIS when
//! installed, and roles made here (owner, public, regular), so the SQL API tests depend
//! only on the SQL engine and the cluster.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use carto_emulator::ApiKeyType;
use carto_emulator::pg::PgCluster;
use carto_emulator::{AnswerBody, SqlAnswer, SqlEngine, SqlSession};
use futures_util::StreamExt;
use serde_json::Value;

/// The test database.
pub const DB: &str = "sql_test_db";
/// The owner role and its password (the master key's role).
pub const OWNER: (&str, &str) = ("sqltest_owner", "owner-pass-1");
/// The public role and its password (the default public key's role).
pub const PUBLIC: (&str, &str) = ("sqltest_public", "public-pass-2");
/// A regular key's role (a member of the public role) and its password.
pub const REGULAR: (&str, &str) = ("sqltest_regular", "regular-pass-3");

/// A throwaway cluster, the test database on it, the SQL engine.
pub struct Env {
    /// The cluster (stopped and removed when dropped).
    pub cluster: PgCluster,
    /// The SQL engine on the cluster.
    pub engine: SqlEngine,
    /// Whether PostGIS is in the test database (ask `carto_test_support::postgis` with it).
    pub postgis: bool,
}

/// A whole answer of the SQL engine.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: String,
    /// How many data frames the body came in.
    pub frames: usize,
}

impl Answer {
    /// The body as JSON; panics showing it when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Header `name` (empty when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header"))
            .unwrap_or("")
    }
}

impl Env {
    /// Starts the cluster, makes the database, the roles and the system-table guard.
    pub async fn start() -> Env {
        let cluster = tokio::task::spawn_blocking(PgCluster::start_temporary)
            .await
            .expect("join")
            .expect("a PostgreSQL cluster (initdb, pg_ctl) must be installed for these tests");
        let admin = cluster
            .connect_superuser("postgres")
            .await
            .expect("superuser");
        admin
            .batch_execute(&format!("CREATE DATABASE {DB}"))
            .await
            .expect("create db");
        let admin = cluster
            .connect_superuser(DB)
            .await
            .expect("superuser on db");
        let postgis = admin
            .batch_execute("CREATE EXTENSION IF NOT EXISTS postgis")
            .await
            .is_ok();
        let setup = format!(
            "CREATE ROLE {o} LOGIN PASSWORD '{op}';
             CREATE ROLE {p} LOGIN PASSWORD '{pp}';
             CREATE ROLE {r} LOGIN PASSWORD '{rp}' IN ROLE {p};
             REVOKE ALL ON SCHEMA public FROM PUBLIC;
             GRANT ALL ON SCHEMA public TO {o};
             GRANT USAGE ON SCHEMA public TO {p};
             GRANT CONNECT ON DATABASE {DB} TO {o}, {p};",
            o = OWNER.0,
            op = OWNER.1,
            p = PUBLIC.0,
            pp = PUBLIC.1,
            r = REGULAR.0,
            rp = REGULAR.1,
        );
        admin.batch_execute(&setup).await.expect("roles");
        carto_emulator::install_guard(&admin)
            .await
            .expect("system-table guard");
        let engine = SqlEngine::new(cluster.host().to_string(), cluster.port())
            .with_socket_dir(Some(cluster.socket_dir().to_path_buf()));
        Env {
            cluster,
            engine,
            postgis,
        }
    }

    /// Runs SQL as the superuser in the test database.
    pub async fn admin(&self, sql: &str) {
        let c = self.cluster.connect_superuser(DB).await.expect("superuser");
        c.batch_execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// A session of `alice` as the role `(role, password)` with a key of `level`.
    pub fn session(&self, (role, password): (&str, &str), level: ApiKeyType) -> SqlSession {
        SqlSession {
            username: "alice".to_string(),
            database: DB.to_string(),
            schema: "public".to_string(),
            role: role.to_string(),
            password: password.to_string(),
            level,
            statement_timeout: None,
        }
    }

    /// A master-key session.
    pub fn master(&self) -> SqlSession {
        self.session(OWNER, ApiKeyType::Master)
    }

    /// A regular-key session.
    pub fn regular(&self) -> SqlSession {
        self.session(REGULAR, ApiKeyType::Regular)
    }

    /// A default-public-key session.
    pub fn public(&self) -> SqlSession {
        self.session(PUBLIC, ApiKeyType::Default)
    }

    /// Calls the engine with `params` (the SQL API's parameters) in `session`.
    pub async fn call(&self, session: SqlSession, params: Value) -> Answer {
        call(&self.engine, session, params).await
    }

    /// `q` as the master key.
    pub async fn q(&self, sql: &str) -> Answer {
        self.call(self.master(), serde_json::json!({ "q": sql }))
            .await
    }
}

/// Calls `engine` with `params` in `session` and reads the whole answer.
pub async fn call(engine: &SqlEngine, session: SqlSession, params: Value) -> Answer {
    let params = params.as_object().expect("params object").clone();
    read(engine.handle(session, params).await).await
}

/// The chunks of an answer's body as the HTTP server sends them: a whole body in one (none
/// when empty), a streamed one as it comes.
pub fn body_stream(
    body: AnswerBody,
) -> futures_util::stream::BoxStream<'static, <carto_emulator::Chunks as futures_util::Stream>::Item>
{
    match body {
        AnswerBody::Whole(bytes) if bytes.is_empty() => futures_util::stream::empty().boxed(),
        AnswerBody::Whole(bytes) => futures_util::stream::once(async { Ok(bytes) }).boxed(),
        AnswerBody::Streamed(chunks) => chunks.boxed(),
    }
}

/// Reads a whole answer of the engine (a body error ends the body with `<<body error: ...>>`).
pub async fn read(answer: SqlAnswer) -> Answer {
    let (status, headers, body) = answer.into_parts();
    let mut stream = body_stream(body);
    let mut body = Vec::new();
    let mut frames = 0;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => {
                frames += 1;
                body.extend_from_slice(&bytes);
            }
            Err(e) => {
                body.extend_from_slice(format!("<<body error: {e}>>").as_bytes());
                break;
            }
        }
    }
    Answer {
        status,
        headers,
        body: String::from_utf8(body).expect("utf-8 body"),
        frames,
    }
}

/// The document with its `time` value replaced by `T` (the only non-deterministic part).
pub fn without_time(body: &str) -> String {
    let start = body.find("\"time\":").expect("time key") + "\"time\":".len();
    let end = start + body[start..].find(',').expect("comma after time");
    format!("{}T{}", &body[..start], &body[end..])
}

/// `Some` of `s` seconds (a statement timeout).
pub fn secs(s: u64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}
