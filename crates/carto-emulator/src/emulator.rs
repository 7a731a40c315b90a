//! The library entry point: [`Emulator::builder`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use carto_core::carto3::{ApiBaseUrl, ApiCredentials, AuthUrl, ClientCredentials, ClientSecret};
use carto_core::models::ApiKeyType;
use carto_core::{BaseUrl, Credentials, Token};

use crate::error::EmulatorError;
use crate::http::faults::{Faults, KillSwitch, KillableListener};
use crate::http::{AppState, StatementTimeouts};
use crate::pg::{PgCluster, PgServer};
use crate::sql::SessionLimits;
use std::ops::Deref as _;

use crate::store::{Store, validate_name};
use crate::tls::{TlsMode, TlsSetup};
use crate::{Fault, FaultRule};

/// Settings of an emulator, made by [`Emulator::builder`].
#[derive(Debug, Clone)]
pub struct EmulatorBuilder {
    users: Vec<String>,
    orgs: Vec<(String, Vec<String>)>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    bind: IpAddr,
    port: u16,
    timeouts: StatementTimeouts,
    tls: Option<TlsMode>,
    sessions: SessionLimits,
    faults: Vec<FaultRule>,
    refuse_key_code: bool,
    cluster_cache: Option<Option<PathBuf>>,
    oauth_token_lifetime: Duration,
    max_api_tokens: usize,
    carto3_query_timeout: Duration,
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            orgs: Vec::new(),
            data_dir: None,
            database_url: None,
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            timeouts: StatementTimeouts::default(),
            tls: None,
            sessions: SessionLimits::default(),
            faults: Vec::new(),
            refuse_key_code: false,
            cluster_cache: None,
            oauth_token_lifetime: crate::carto3::DEFAULT_OAUTH_TOKEN_LIFETIME,
            max_api_tokens: crate::carto3::DEFAULT_MAX_API_TOKENS,
            carto3_query_timeout: crate::carto3::DEFAULT_QUERY_TIMEOUT,
        }
    }
}

impl EmulatorBuilder {
    /// Adds an individual user (own database, schema `public`).
    pub fn user(mut self, username: impl Into<String>) -> Self {
        self.users.push(username.into());
        self
    }

    /// Adds an organization and its users (one shared database, one schema per user).
    pub fn org<I, S>(mut self, org: impl Into<String>, users: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.orgs
            .push((org.into(), users.into_iter().map(Into::into).collect()));
        self
    }

    /// Keeps the PostgreSQL cluster in `dir` (created on first use; a restart on the
    /// same directory has every user, key, token and table back). Default: a
    /// throwaway cluster removed when the emulator stops.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// The cache of initialised clusters a throwaway cluster is copied from (and saved to):
    /// `Some(dir)`, or `None` for none (`initdb` every time). Default: the machine's, in the
    /// user's cache directory (see [`PgCluster::start_temporary`]).
    pub fn cluster_cache(mut self, dir: Option<PathBuf>) -> Self {
        self.cluster_cache = Some(dir);
        self
    }

    /// Uses an existing PostgreSQL server (`postgres://superuser:password@host:port/db`)
    /// instead of a private cluster.
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// The address to listen on (default `127.0.0.1`).
    pub fn bind(mut self, addr: IpAddr) -> Self {
        self.bind = addr;
        self
    }

    /// The port to listen on (default 0: a free port).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Serves HTTPS instead of HTTP (base URLs become `https://...`; with
    /// [`TlsMode::SelfSigned`] clients trust [`Emulator::ca_pem`]).
    pub fn tls(mut self, mode: TlsMode) -> Self {
        self.tls = Some(mode);
        self
    }

    /// The statement timeout of SQL run with keys of this type (default: none, but
    /// [`DEFAULT_PUBLIC_STATEMENT_TIMEOUT`](crate::DEFAULT_PUBLIC_STATEMENT_TIMEOUT), 15 s, for
    /// [`ApiKeyType::Default`], which also covers requests without a key; `None` removes it).
    pub fn statement_timeout(mut self, key_type: ApiKeyType, timeout: Option<Duration>) -> Self {
        self.timeouts.set(key_type, timeout);
        self
    }

    /// Refuses `CREATE FUNCTION`, `PROCEDURE`, `AGGREGATE`, `OPERATOR`, `TRIGGER` and `RULE`
    /// (and `ALTER FUNCTION`/`PROCEDURE`) to every key but the master (an event trigger in
    /// each user database), so that no key plants code that runs when the master uses its
    /// objects (an overload such as `public.unnest(text[])`, a trigger on a table the master
    /// writes to). Off by default: CARTO lets keys create them.
    pub fn refuse_key_code(mut self, refuse: bool) -> Self {
        self.refuse_key_code = refuse;
        self
    }

    /// The most PostgreSQL sessions one role (one API key) has open at a time, in use or
    /// idle in the pool (default 16; 0 is taken as 1). A request that finds the bound
    /// reached waits up to [`EmulatorBuilder::session_queue_timeout`], then is refused with
    /// CARTO's rate-limit answer: 429, `Retry-After: 1`.
    pub fn max_sessions_per_role(mut self, n: usize) -> Self {
        self.sessions.per_role = n;
        self
    }

    /// The most PostgreSQL sessions one user (one database: all its keys; an
    /// organization's users share one) has open at a time, in use or idle (default 32; 0 is
    /// taken as 1). All users together are bound to 150 sessions, below the private
    /// cluster's `max_connections` of 200, so one user's flood leaves room for the others.
    pub fn max_sessions_per_user(mut self, n: usize) -> Self {
        self.sessions.per_user = n;
        self
    }

    /// How long a request waits for a PostgreSQL session when a session bound is reached,
    /// before it is refused with a 429 (default 2 s).
    pub fn session_queue_timeout(mut self, timeout: Duration) -> Self {
        self.sessions.queue_timeout = timeout;
        self
    }

    /// Plays `rule` on the requests it matches (see [`FaultRule`]): 429s, 5xx, dropped
    /// connections or delays, for tests of clients. Rules can also be added while the
    /// emulator runs ([`Emulator::inject_fault`]).
    pub fn fault(mut self, rule: FaultRule) -> Self {
        self.faults.push(rule);
        self
    }

    /// The lifetime of the OAuth access tokens `POST /oauth/token` gives (CARTO 3's M2M
    /// client credentials; default 24 hours, as Auth0's): a short one lets tests see a
    /// client refresh its token. Taken as at least one second.
    pub fn oauth_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.oauth_token_lifetime = lifetime.max(Duration::from_secs(1));
        self
    }

    /// The most CARTO 3 API access tokens an account has at a time (default
    /// [`DEFAULT_MAX_API_TOKENS`](crate::DEFAULT_MAX_API_TOKENS); each is a PostgreSQL role);
    /// one more is refused with 403 `Quota exceeded`. 0 is taken as 1.
    pub fn max_api_tokens(mut self, n: usize) -> Self {
        self.max_api_tokens = n;
        self
    }

    /// The statement timeout of CARTO 3's synchronous queries (`/v3/sql/{connection}/query`;
    /// default CARTO's minute, [`DEFAULT_QUERY_TIMEOUT`](crate::DEFAULT_QUERY_TIMEOUT)).
    pub fn carto3_query_timeout(mut self, timeout: Duration) -> Self {
        self.carto3_query_timeout = timeout;
        self
    }

    /// Starts PostgreSQL, creates the users and serves HTTP on the current tokio
    /// runtime (which must be multi-threaded or keep running while the emulator is
    /// used).
    pub async fn start(self) -> Result<Emulator, EmulatorError> {
        let mut wanted: Vec<(String, Option<String>)> =
            self.users.iter().map(|u| (u.clone(), None)).collect();
        for (org, users) in &self.orgs {
            validate_name("organization", org)?;
            wanted.extend(users.iter().map(|u| (u.clone(), Some(org.clone()))));
        }
        for (i, (u, _)) in wanted.iter().enumerate() {
            validate_name("user", u)?;
            if wanted[..i].iter().any(|(o, _)| o == u) {
                return Err(EmulatorError::Config(format!("user `{u}` given twice")));
            }
        }
        let tls = match &self.tls {
            Some(mode) => Some(
                TlsSetup::new(mode).map_err(|e| EmulatorError::Config(format!("HTTPS: {e}")))?,
            ),
            None => None,
        };
        let server = match (&self.database_url, &self.data_dir) {
            (Some(url), _) => PgServer::from_url(url)?,
            (None, Some(dir)) => {
                let dir = dir.clone();
                let cluster = tokio::task::spawn_blocking(move || PgCluster::start_in(&dir))
                    .await
                    .map_err(|e| EmulatorError::Other(format!("cluster start panicked: {e}")))??;
                PgServer::from_cluster(cluster)
            }
            (None, None) => {
                let cache = self.cluster_cache.clone();
                let cluster = tokio::task::spawn_blocking(move || {
                    PgCluster::start_temporary_cached(cache.as_ref().map(Option::as_deref))
                })
                .await
                .map_err(|e| EmulatorError::Other(format!("cluster start panicked: {e}")))??;
                PgServer::from_cluster(cluster)
            }
        };
        let server = Arc::new(server);
        let store = Store::open(server.clone()).await?;
        // A throwaway cluster made by `initdb`: saved to the cache now that it holds the
        // registry and the template, before any user.
        let saving = server.clone();
        let saved = tokio::task::spawn_blocking(move || saving.save_to_cache())
            .await
            .map_err(|e| EmulatorError::Other(format!("cluster cache save panicked: {e}")))?;
        if let Err(e) = saved {
            tracing::warn!("the cluster cache was not saved: {e}");
        }
        store.set_refuse_key_code(self.refuse_key_code);
        let store = Arc::new(store);
        for (u, org) in &wanted {
            store.ensure_user(u, org.as_deref()).await?;
        }
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(self.bind, self.port))
            .await
            .map_err(|e| {
                EmulatorError::io(
                    "cannot listen on",
                    format!("{}:{}", self.bind, self.port),
                    e,
                )
            })?;
        let addr = listener
            .local_addr()
            .map_err(|e| EmulatorError::io("cannot listen on", self.bind.to_string(), e))?;
        let engine = crate::sql::SqlEngine::new(server.host().to_owned(), server.port())
            .with_socket_dir(server.socket_dir().map(Path::to_path_buf))
            .with_session_limits(self.sessions)
            .with_superuser(server.clone());
        engine
            .enable_batch(server.connect_superuser(crate::names::REGISTRY_DB).await?)
            .await?;
        let faults = Arc::new(Faults::new(self.faults.clone()));
        let sql = Arc::new(engine);
        let carto3 = Arc::new(crate::carto3::Carto3::new(
            self.oauth_token_lifetime,
            self.max_api_tokens,
            self.carto3_query_timeout,
        ));
        let state = Arc::new(AppState {
            store: store.clone(),
            timeouts: self.timeouts,
            sql: sql.clone(),
            scheme: if tls.is_some() { "https" } else { "http" },
            faults: faults.clone(),
            maps: Default::default(),
            carto3: carto3.clone(),
            imports: Arc::default(),
        });
        let app = crate::http::router(state).into_make_service_with_connect_info::<KillSwitch>();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let task = match &tls {
            None => tokio::spawn(async move {
                let _ = axum::serve(KillableListener(listener), app)
                    .with_graceful_shutdown(shutdown)
                    .await;
            }),
            Some(setup) => {
                let listener = setup
                    .listener(listener)
                    .map_err(|e| EmulatorError::io("cannot listen on", addr.to_string(), e))?;
                tokio::spawn(async move {
                    let _ = axum::serve(KillableListener(listener), app)
                        .with_graceful_shutdown(shutdown)
                        .await;
                })
            }
        };
        if self.data_dir.is_none() && self.database_url.is_none() {
            // Databases for the first users made at run time, made meanwhile.
            store.want_spares();
        }
        let scheme = if tls.is_some() { "https" } else { "http" };
        let users = store
            .users()
            .iter()
            .map(|u| EmulatedUser::new(u, scheme, addr, &store, &carto3))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Emulator {
            addr,
            scheme,
            ca_pem: tls.map(|t| t.ca_pem().to_owned()),
            users,
            store,
            sql,
            carto3,
            shutdown: Some(tx),
            task: Some(task),
            server: Some(server),
            faults,
        })
    }

    /// Like [`EmulatorBuilder::start`], for synchronous code: the emulator runs on its
    /// own multi-threaded tokio runtime, stopped when the handle is dropped. Do not
    /// call it from inside an async runtime.
    pub fn start_blocking(self) -> Result<BlockingEmulator, EmulatorError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("carto-emulator")
            .build()
            .map_err(|e| EmulatorError::Other(format!("cannot start a tokio runtime: {e}")))?;
        let emulator = runtime.block_on(self.start())?;
        Ok(BlockingEmulator {
            emulator: Some(emulator),
            runtime: Some(runtime),
        })
    }
}

/// A user as a CARTO 3 account: what carto-auth's `carto_credentials.json` holds (plus the
/// auth URL and the connection), from [`EmulatedUser::carto3`]. `Debug` hides the secret.
#[derive(Debug, Clone)]
pub struct Carto3Account {
    api_base_url: String,
    auth_url: String,
    client_id: String,
    client_secret: ClientSecret,
    connection: String,
}

impl Carto3Account {
    /// The account's M2M credentials for a carto-rs client (`carto::carto3::Client::new`):
    /// the API base URL, and the client id and secret with this server as the OAuth
    /// server.
    pub fn credentials(&self) -> Result<ApiCredentials, carto_core::Error> {
        let base = ApiBaseUrl::parse(&self.api_base_url)
            .map_err(|e| carto_core::Error::invalid("API base URL", e.to_string()))?;
        let auth = AuthUrl::parse(&self.auth_url)
            .map_err(|e| carto_core::Error::invalid("auth URL", e.to_string()))?;
        let client = ClientCredentials::new(self.client_id.clone(), self.client_secret.clone())?
            .with_auth_url(auth);
        Ok(ApiCredentials::new(base, client))
    }

    /// The API base URL: the server's root, `http://127.0.0.1:PORT` (every route is
    /// `/v3/...` below it).
    pub fn api_base_url(&self) -> &str {
        &self.api_base_url
    }

    /// The base of the OAuth token endpoint (`{auth_url}/oauth/token`): the server's root.
    pub fn auth_url(&self) -> &str {
        &self.auth_url
    }

    /// The M2M client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The M2M client secret (made when the emulator started).
    pub fn client_secret(&self) -> &ClientSecret {
        &self.client_secret
    }

    /// The account's one connection (its PostgreSQL database): `pg_<username>`.
    pub fn connection(&self) -> &str {
        &self.connection
    }

    /// The credentials file `--write-creds` writes as `<user>.carto3.json`: exactly
    /// `{"api_base_url","auth_url","client_id","client_secret","connection"}` (the first three
    /// as carto-auth reads them).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "api_base_url": self.api_base_url,
            "auth_url": self.auth_url,
            "client_id": self.client_id,
            "client_secret": self.client_secret.expose_secret(),
            "connection": self.connection,
        })
    }
}

/// A user served by the emulator.
#[derive(Debug, Clone)]
pub struct EmulatedUser {
    username: String,
    org: Option<String>,
    base_url: BaseUrl,
    host_base_url: String,
    master_key: Token,
    public_role: String,
    carto3: Carto3Account,
}

impl EmulatedUser {
    fn new(
        user: &crate::store::UserRecord,
        scheme: &str,
        addr: SocketAddr,
        store: &Store,
        carto3: &crate::carto3::Carto3,
    ) -> Result<Self, EmulatorError> {
        let username = user.username.as_str();
        let org = user.org.clone();
        let account = carto3.account(user);
        let root = format!("{scheme}://{addr}");
        let carto3 = Carto3Account {
            api_base_url: root.clone(),
            auth_url: root,
            client_id: account.client_id,
            client_secret: account.client_secret,
            connection: account.connection,
        };
        let url = format!("{scheme}://{addr}/user/{username}");
        let base_url = BaseUrl::parse_allow_http(&url)
            .map_err(|e| EmulatorError::Other(format!("bad base URL {url}: {e}")))?;
        let master_key = store
            .master_key(username)
            .map(|k| k.token)
            .ok_or_else(|| EmulatorError::Other(format!("user `{username}` has no master key")))?;
        let public_role = store
            .user(username)
            .map(|u| u.public_role.clone())
            .unwrap_or_default();
        Ok(Self {
            username: username.to_owned(),
            org,
            base_url,
            host_base_url: format!("{scheme}://{username}.localhost:{}", addr.port()),
            master_key,
            public_role,
            carto3,
        })
    }

    /// The user as a CARTO 3 account: API base URL, auth URL, M2M client credentials and
    /// connection name.
    pub fn carto3(&self) -> &Carto3Account {
        &self.carto3
    }

    /// The username.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// The organization, for organization users.
    pub fn org(&self) -> Option<&str> {
        self.org.as_deref()
    }

    /// The base URL in the path form, `http://127.0.0.1:PORT/user/{username}`
    /// (`https` with [`EmulatorBuilder::tls`]).
    pub fn base_url(&self) -> &BaseUrl {
        &self.base_url
    }

    /// The base URL in the host form, `http://{username}.localhost:PORT` (needs a
    /// resolver that maps `*.localhost` to the loopback address, or a `Host` header).
    pub fn host_base_url(&self) -> &str {
        &self.host_base_url
    }

    /// The master key token when the emulator started (see
    /// [`Emulator::master_key`] for the current one after a regeneration).
    pub fn master_key(&self) -> &Token {
        &self.master_key
    }

    /// Credentials with the master key, on the path-form base URL.
    pub fn credentials(&self) -> Credentials {
        Credentials::new(self.base_url.clone(), self.master_key.clone())
    }

    /// Credentials with the Default public key.
    pub fn default_public_credentials(&self) -> Credentials {
        Credentials::default_public(self.base_url.clone())
    }

    /// The PostgreSQL role of the Default public key: tables granted `SELECT` to it
    /// are public (the master key can `GRANT SELECT ON t TO "<role>"`).
    pub fn public_role(&self) -> &str {
        &self.public_role
    }
}

/// A running emulator. Dropping it stops the HTTP server and, unless an existing
/// server was given, PostgreSQL (removing a throwaway cluster).
pub struct Emulator {
    addr: SocketAddr,
    scheme: &'static str,
    ca_pem: Option<String>,
    users: Vec<EmulatedUser>,
    store: Arc<Store>,
    sql: Arc<crate::sql::SqlEngine>,
    carto3: Arc<crate::carto3::Carto3>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    server: Option<Arc<PgServer>>,
    faults: Arc<Faults>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .field(
                "users",
                &self.users.iter().map(|u| &u.username).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// Settings for a new emulator.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// The address the HTTP server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (or `https://`): the server root (append `/user/{username}` for a
    /// user).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// The PEM certificate HTTPS clients should trust (with [`EmulatorBuilder::tls`]).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Every user there was when the emulator started (configured or kept in the data
    /// directory), by name; users made since are found with [`account`](Self::account).
    pub fn users(&self) -> &[EmulatedUser] {
        &self.users
    }

    /// A user there was when the emulator started, by name (see [`account`](Self::account)
    /// for any user).
    pub fn user(&self, username: &str) -> Option<&EmulatedUser> {
        self.users.iter().find(|u| u.username == username)
    }

    /// Any user the emulator serves now (made at start-up or since), by name.
    pub fn account(&self, username: &str) -> Option<EmulatedUser> {
        let record = self.store.user(username)?;
        self.emulated(&record).ok()
    }

    /// Makes an individual user while the emulator runs: a copy of the template database
    /// (PostGIS and everything a start-up user's database has), its roles, its master and
    /// Default public keys. Fails with [`AccountError::UserExists`](crate::AccountError) if
    /// the name is taken, [`AccountError::InvalidName`](crate::AccountError) if CARTO would
    /// refuse it.
    pub async fn create_user(&self, username: &str) -> Result<EmulatedUser, EmulatorError> {
        let record = self.store.create_account(username, None, false).await?;
        self.emulated(&record)
    }

    /// Makes an organization and its users while the emulator runs (one shared database,
    /// one schema per user); the first user is its owner and admin. Fails if the organization
    /// exists, or a user does (the users made before the failure stay).
    pub async fn create_org<I, S>(
        &self,
        org: &str,
        users: I,
    ) -> Result<Vec<EmulatedUser>, EmulatorError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let users: Vec<S> = users.into_iter().collect();
        let Some((owner, members)) = users.split_first() else {
            return Err(crate::AccountError::EmptyOrg(org.to_owned()).into());
        };
        let record = self
            .store
            .create_account(owner.as_ref(), Some(org), true)
            .await?;
        let mut made = vec![self.emulated(&record)?];
        for u in members {
            made.push(self.create_org_user(org, u.as_ref()).await?);
        }
        Ok(made)
    }

    /// Adds a user to an existing organization while the emulator runs.
    pub async fn create_org_user(
        &self,
        org: &str,
        username: &str,
    ) -> Result<EmulatedUser, EmulatorError> {
        let record = self
            .store
            .create_account(username, Some(org), false)
            .await?;
        self.emulated(&record)
    }

    /// Removes a user and everything it had: its database (or, in an organization, its
    /// schema), its roles, its keys; its PostgreSQL sessions end. An organization's owner is
    /// removed last ([`remove_org`](Self::remove_org) removes them all).
    pub async fn remove_user(&self, username: &str) -> Result<(), EmulatorError> {
        let removed = self.store.remove_account(username).await?;
        for role in &removed.roles {
            self.sql.forget_role(role);
        }
        Ok(())
    }

    /// Removes an organization: its users (owner last) and its database.
    pub async fn remove_org(&self, org: &str) -> Result<(), EmulatorError> {
        crate::store::check_name("organization", org)?;
        let users = self.store.org_users(org).await?;
        let Some((owner, members)) = users.split_first() else {
            return Err(crate::AccountError::NoSuchOrg(org.to_owned()).into());
        };
        for u in members {
            self.remove_user(u).await?;
        }
        self.remove_user(owner).await
    }

    fn emulated(&self, record: &crate::store::UserRecord) -> Result<EmulatedUser, EmulatorError> {
        EmulatedUser::new(record, self.scheme, self.addr, &self.store, &self.carto3)
    }

    /// The user's current master key (it changes when regenerated).
    pub fn master_key(&self, username: &str) -> Option<Token> {
        self.store.master_key(username).map(|k| k.token)
    }

    /// Credentials with the user's current master key.
    pub fn credentials(&self, username: &str) -> Option<Credentials> {
        let user = self.account(username)?;
        Some(Credentials::new(
            user.base_url.clone(),
            self.master_key(username)?,
        ))
    }

    /// The PostgreSQL server under the emulator.
    pub fn pg(&self) -> &PgServer {
        self.store.server()
    }

    /// Makes the user's table (in the user's schema) readable by the Default public
    /// key, or private again.
    pub async fn set_table_public(
        &self,
        username: &str,
        table: &str,
        public: bool,
    ) -> Result<(), EmulatorError> {
        let user = self
            .store
            .user(username)
            .ok_or_else(|| EmulatorError::Config(format!("no user `{username}`")))?;
        self.store.set_table_public(&user, table, public).await
    }

    /// Plays `rule` on the next requests it matches, from now on (see [`FaultRule`]).
    pub fn inject_fault(&self, rule: FaultRule) {
        self.faults.add(rule);
    }

    /// Plays `fault` on the next request to `path` (shorthand for
    /// [`inject_fault`](Self::inject_fault) with [`FaultRule::new`]).
    pub fn inject(&self, path: &str, fault: Fault) {
        self.inject_fault(FaultRule::new(path, fault));
    }

    /// Removes every fault rule not spent yet.
    pub fn clear_faults(&self) {
        self.faults.clear();
    }

    /// Whether PostGIS (and so the geocoder) is installed in the user's database.
    pub fn has_postgis(&self, username: &str) -> bool {
        self.store.user(username).is_some_and(|u| u.postgis)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(server) = self.server.take() {
            server.stop_cluster();
        }
    }
}

/// An emulator on its own runtime, for synchronous code
/// ([`EmulatorBuilder::start_blocking`]). Dereferences to [`Emulator`].
pub struct BlockingEmulator {
    emulator: Option<Emulator>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for BlockingEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.emulator.fmt(f)
    }
}

impl BlockingEmulator {
    /// Runs a future on the emulator's runtime (for example
    /// [`Emulator::set_table_public`]).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.as_ref().expect("runtime present").block_on(f)
    }

    /// The emulator's runtime.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn runtime_handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("runtime present").handle()
    }

    /// [`Emulator::create_user`], for synchronous code.
    pub fn create_user(&self, username: &str) -> Result<EmulatedUser, EmulatorError> {
        self.block_on(self.deref().create_user(username))
    }

    /// [`Emulator::create_org`], for synchronous code.
    pub fn create_org<I, S>(&self, org: &str, users: I) -> Result<Vec<EmulatedUser>, EmulatorError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.block_on(self.deref().create_org(org, users))
    }

    /// [`Emulator::create_org_user`], for synchronous code.
    pub fn create_org_user(
        &self,
        org: &str,
        username: &str,
    ) -> Result<EmulatedUser, EmulatorError> {
        self.block_on(self.deref().create_org_user(org, username))
    }

    /// [`Emulator::remove_user`], for synchronous code.
    pub fn remove_user(&self, username: &str) -> Result<(), EmulatorError> {
        self.block_on(self.deref().remove_user(username))
    }

    /// [`Emulator::remove_org`], for synchronous code.
    pub fn remove_org(&self, org: &str) -> Result<(), EmulatorError> {
        self.block_on(self.deref().remove_org(org))
    }
}

impl std::ops::Deref for BlockingEmulator {
    type Target = Emulator;

    fn deref(&self) -> &Emulator {
        self.emulator.as_ref().expect("emulator present")
    }
}

impl Drop for BlockingEmulator {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            let _guard = rt.enter();
            drop(self.emulator.take());
            drop(_guard);
            rt.shutdown_timeout(Duration::from_secs(5));
        }
    }
}
