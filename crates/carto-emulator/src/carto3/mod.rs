//! CARTO 3 on the emulator: every user is also an account ([`Account`]) whose database is
//! one PostgreSQL connection, with machine-to-machine client credentials; OAuth tokens and
//! API access tokens are JWTs signed with a key random per emulator ([`jwt`]); each API
//! access token is a PostgreSQL role with only its grants ([`ApiToken`], created by the
//! store) and lives as long as the emulator (a restart changes the key, so old tokens are
//! refused and their roles are dropped by the startup reconciliation, as orphan key roles).

pub(crate) mod jwt;
pub(crate) mod referer;
pub(crate) mod sources;

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;
use std::time::Duration;

use carto_core::carto3::ClientSecret;
use carto_tokens::{AllowedApi, Grant};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use self::jwt::SigningKey;
use crate::pg::cluster::random_hex;
use crate::store::UserRecord;

/// The lifetime of OAuth tokens unless set otherwise: Auth0's (CARTO's) 24 hours.
pub const DEFAULT_OAUTH_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// The most API access tokens an account has at a time unless set otherwise (each is a
/// PostgreSQL role).
pub const DEFAULT_MAX_API_TOKENS: usize = 1000;
/// The statement timeout of synchronous queries unless set otherwise: CARTO's minute.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// The most rows a synchronous query returns (CARTO's cap).
pub const ROW_CAP: u64 = 200_000;
/// The `audience` of CARTO's M2M tokens.
pub(crate) const AUDIENCE: &str = "carto-cloud-native-api";

/// A user as a CARTO 3 account.
#[derive(Clone)]
pub(crate) struct Account {
    pub username: String,
    /// `ac_` and 8 characters of the user's id (CARTO's account ids look so).
    pub id: String,
    /// The name of the account's one connection: `pg_<username>`.
    pub connection: String,
    pub client_id: String,
    pub client_secret: ClientSecret,
}

/// The connection name of a user's account.
pub(crate) fn connection_name(username: &str) -> String {
    format!("pg_{username}")
}

/// An API access token: what it grants and the PostgreSQL role that enforces it.
#[derive(Clone)]
pub(crate) struct ApiToken {
    pub jti: String,
    /// The account's user.
    pub username: String,
    /// The JWT itself (the Tokens API names a token by it).
    pub token: String,
    pub grants: Vec<Grant>,
    pub referers: Vec<String>,
    pub allowed_apis: Vec<AllowedApi>,
    pub expiration: Option<DateTime<Utc>>,
    pub role: String,
    pub password: String,
    /// Its SQL-query sources.
    pub queries: Vec<sources::GrantedQuery>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ApiToken {
    /// Whether it may be used with `api` now.
    pub(crate) fn allows(&self, api: &str) -> bool {
        self.allowed_apis.iter().any(|a| a.as_str() == api)
    }

    /// Whether it has expired at `now`.
    pub(crate) fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expiration.is_some_and(|e| e <= now)
    }

    /// The Tokens API's document.
    pub(crate) fn to_json(&self) -> Value {
        let mut doc = json!({
            "token": self.token,
            "id": self.jti,
            "grants": self.grants,
            "referers": self.referers,
            "allowed_apis": self.allowed_apis,
            "created_at": self.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "updated_at": self.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        if let Some(e) = self.expiration {
            doc["expiration_date"] =
                Value::String(e.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        }
        doc
    }
}

/// Who a verified Bearer token speaks for.
#[derive(Clone)]
pub(crate) enum Principal {
    /// An OAuth token: the account itself (its master role).
    Account(String),
    /// An API access token.
    Token(Box<ApiToken>),
}

impl Principal {
    /// The account's user.
    pub(crate) fn username(&self) -> &str {
        match self {
            Principal::Account(u) => u,
            Principal::Token(t) => &t.username,
        }
    }
}

/// Why a Bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Not a token of this emulator (forged, malformed, another account's unknown id).
    Invalid,
    /// An OAuth token past its `exp`, or an API access token past its expiration date.
    Expired,
}

/// The CARTO 3 state of an emulator.
pub(crate) struct Carto3 {
    key: SigningKey,
    pub oauth_lifetime: Duration,
    pub max_tokens: usize,
    /// The statement timeout of synchronous queries.
    pub query_timeout: Duration,
    /// The most rows of a synchronous query.
    pub row_cap: u64,
    /// Held while a token is created (its count checked, its role made).
    pub creating: tokio::sync::Mutex<()>,
    /// Accounts by username, made on first use.
    accounts: RwLock<BTreeMap<String, Account>>,
    /// API access tokens by `jti`.
    tokens: RwLock<HashMap<String, ApiToken>>,
}

impl Carto3 {
    /// A new state: a random signing key, no account yet.
    pub(crate) fn new(
        oauth_lifetime: Duration,
        max_tokens: usize,
        query_timeout: Duration,
    ) -> Self {
        Self {
            key: SigningKey::random(),
            oauth_lifetime,
            max_tokens: max_tokens.max(1),
            query_timeout,
            row_cap: ROW_CAP,
            creating: tokio::sync::Mutex::new(()),
            accounts: RwLock::default(),
            tokens: RwLock::default(),
        }
    }

    /// The account of `user` (its client credentials made on first use).
    pub(crate) fn account(&self, user: &UserRecord) -> Account {
        if let Some(a) = self.accounts.read().expect("accounts").get(&user.username) {
            return a.clone();
        }
        let mut accounts = self.accounts.write().expect("accounts");
        accounts
            .entry(user.username.clone())
            .or_insert_with(|| Account {
                username: user.username.clone(),
                id: format!("ac_{}", &user.id[..user.id.len().min(8)]),
                connection: connection_name(&user.username),
                client_id: random_alnum(32),
                client_secret: ClientSecret::new(random_alnum(64)),
            })
            .clone()
    }

    /// The account of a client id whose secret is `secret` (constant-time comparisons with
    /// every account's id and secret).
    pub(crate) fn client(&self, client_id: &str, secret: &str) -> Option<Account> {
        use subtle::ConstantTimeEq as _;
        let accounts = self.accounts.read().expect("accounts");
        let mut found = None;
        for a in accounts.values() {
            let id = a.client_id.as_bytes().ct_eq(client_id.as_bytes());
            let s = a
                .client_secret
                .expose_secret()
                .as_bytes()
                .ct_eq(secret.as_bytes());
            if bool::from(id & s) {
                found = Some(a.clone());
            }
        }
        found
    }

    /// An OAuth access token for `account`, valid for the configured lifetime.
    pub(crate) fn oauth_token(&self, account: &Account, now: DateTime<Utc>) -> String {
        let iat = now.timestamp();
        let mut claims = Map::new();
        claims.insert("a".into(), json!(account.id));
        claims.insert("jti".into(), json!(random_hex(8)));
        claims.insert(
            "sub".into(),
            json!(format!("{}@clients", account.client_id)),
        );
        claims.insert("aud".into(), json!(AUDIENCE));
        claims.insert("gty".into(), json!("client-credentials"));
        claims.insert("iat".into(), json!(iat));
        claims.insert(
            "exp".into(),
            json!(iat + self.oauth_lifetime.as_secs() as i64),
        );
        self.key.sign(&claims)
    }

    /// The signed JWT of a new API access token of `account`, and its `jti` (unused so far).
    pub(crate) fn new_api_token(&self, account: &Account) -> (String, String) {
        let tokens = self.tokens.read().expect("tokens");
        let jti = loop {
            let jti = random_hex(4);
            if !tokens.contains_key(&jti) {
                break jti;
            }
        };
        let mut claims = Map::new();
        claims.insert("a".into(), json!(account.id));
        claims.insert("jti".into(), json!(jti));
        (self.key.sign(&claims), jti)
    }

    /// Who `token` speaks for at `now`: a verified signature, a known account, and for an API
    /// access token one that still exists (deleted: gone from here at once) and has not
    /// expired.
    pub(crate) fn principal(&self, token: &str, now: DateTime<Utc>) -> Result<Principal, Refused> {
        let claims = self.key.verify(token).map_err(|_| Refused::Invalid)?;
        let account = claims
            .get("a")
            .and_then(Value::as_str)
            .ok_or(Refused::Invalid)?;
        let username = self
            .accounts
            .read()
            .expect("accounts")
            .values()
            .find(|a| a.id == account)
            .map(|a| a.username.clone())
            .ok_or(Refused::Invalid)?;
        if claims.get("gty").and_then(Value::as_str) == Some("client-credentials") {
            let exp = claims
                .get("exp")
                .and_then(Value::as_i64)
                .ok_or(Refused::Invalid)?;
            if exp <= now.timestamp() {
                return Err(Refused::Expired);
            }
            return Ok(Principal::Account(username));
        }
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .ok_or(Refused::Invalid)?;
        let tokens = self.tokens.read().expect("tokens");
        let t = tokens
            .get(jti)
            .filter(|t| t.username == username)
            .ok_or(Refused::Invalid)?;
        if t.expired(now) {
            return Err(Refused::Expired);
        }
        Ok(Principal::Token(Box::new(t.clone())))
    }

    /// The API access tokens of `username`, oldest first.
    pub(crate) fn tokens_of(&self, username: &str) -> Vec<ApiToken> {
        let mut list: Vec<ApiToken> = self
            .tokens
            .read()
            .expect("tokens")
            .values()
            .filter(|t| t.username == username)
            .cloned()
            .collect();
        list.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.jti.cmp(&b.jti)));
        list
    }

    /// The number of API access tokens of `username`.
    pub(crate) fn count_of(&self, username: &str) -> usize {
        self.tokens
            .read()
            .expect("tokens")
            .values()
            .filter(|t| t.username == username)
            .count()
    }

    /// Adds or replaces a token.
    pub(crate) fn put(&self, token: ApiToken) {
        self.tokens
            .write()
            .expect("tokens")
            .insert(token.jti.clone(), token);
    }

    /// Removes a token (it is refused from now on).
    pub(crate) fn remove(&self, jti: &str) -> Option<ApiToken> {
        self.tokens.write().expect("tokens").remove(jti)
    }

    /// The token of `username` named by its JWT (`None`: not a token of this account).
    pub(crate) fn token_named(&self, username: &str, jwt: &str) -> Option<ApiToken> {
        let claims = self.key.verify(jwt).ok()?;
        let jti = claims.get("jti").and_then(Value::as_str)?;
        self.tokens
            .read()
            .expect("tokens")
            .get(jti)
            .filter(|t| t.username == username)
            .cloned()
    }
}

/// `n` random characters `[A-Za-z0-9]` (client ids and secrets, as Auth0's).
fn random_alnum(n: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes[..]);
    // 256 = 4 * 62 + 8: reject the top 8 values to stay uniform.
    let mut out = String::with_capacity(n);
    let mut i = 0;
    while out.len() < n {
        if i == bytes.len() {
            rand::fill(&mut bytes[..]);
            i = 0;
        }
        let b = bytes[i];
        i += 1;
        if b < 248 {
            out.push(ALPHABET[(b % 62) as usize] as char);
        }
    }
    out
}
