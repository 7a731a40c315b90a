//! The Tokens API's models: [`Grant`]s of a [`Source`] on a connection, the
//! [`AllowedApi`]s, [`NewToken`] (built and checked by [`NewTokenBuilder`]),
//! [`TokenUpdate`] and the token document [`ApiAccessToken`].

use std::fmt;

use carto_core::Error;
use carto_core::carto3::AccessToken;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// What a grant gives access to on its connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A table or tileset by its qualified name (`project.dataset.table`,
    /// `schema.table`, backquoted parts allowed).
    Table(String),
    /// Every table below a prefix (`project.dataset.*`, at least two parts before the
    /// `*`), or `*`: everything on the connection.
    Wildcard(String),
    /// Exactly this SQL query (which may use named parameters such as `@city`).
    Query(String),
}

/// Splits a qualified name on the dots outside backquotes and double quotes.
fn name_parts(name: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quote = None;
    let mut start = 0;
    for (i, c) in name.char_indices() {
        match (quote, c) {
            (None, '`' | '"') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '.') => {
                parts.push(&name[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&name[start..]);
    parts
}

fn looks_like_sql(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with('(')
        || ["select", "with", "call", "values", "table"]
            .iter()
            .any(|k| {
                lower.strip_prefix(k).is_some_and(|rest| {
                    rest.starts_with(char::is_whitespace) || rest.starts_with('(')
                })
            })
        || text.trim().contains(char::is_whitespace) && !text.trim().starts_with('`')
}

impl Source {
    /// Reads a source as the server writes it, never failing: a SQL text is a
    /// [`Source::Query`], a name ending in `*` a [`Source::Wildcard`], anything else a
    /// [`Source::Table`].
    pub fn classify(text: &str) -> Self {
        let trimmed = text.trim();
        if looks_like_sql(trimmed) {
            Self::Query(trimmed.to_owned())
        } else if trimmed.ends_with('*') {
            Self::Wildcard(trimmed.to_owned())
        } else {
            Self::Table(trimmed.to_owned())
        }
    }

    /// Reads and checks a source: a SQL query; `*`; a wildcard with at least two
    /// parts before its final `*` (`project.dataset.*`) and no other `*`; or a table
    /// name of at least two non-empty parts.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let source = Self::classify(text);
        let bad = |reason: String| Err(Error::invalid("grant source", reason));
        match &source {
            Self::Query(q) if q.is_empty() => return bad("the source is empty".into()),
            Self::Query(_) => {}
            Self::Wildcard(w) if w == "*" => {}
            Self::Wildcard(w) => {
                let parts = name_parts(w);
                let (last, prefix) = parts.split_last().expect("one part at least");
                if *last != "*"
                    || prefix.len() < 2
                    || prefix.iter().any(|p| p.is_empty() || p.contains('*'))
                {
                    return bad(format!(
                        "`{w}` is not a wildcard CARTO accepts: end it with `.*` after at least two parts, as project.dataset.*"
                    ));
                }
            }
            Self::Table(t) if t.is_empty() => return bad("the source is empty".into()),
            Self::Table(t) => {
                let parts = name_parts(t);
                if parts.len() < 2 || parts.iter().any(|p| p.is_empty() || p.contains('*')) {
                    return bad(format!(
                        "`{t}` is not a qualified table name (such as project.dataset.table or schema.table)"
                    ));
                }
            }
        }
        Ok(source)
    }

    /// The source as sent.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Table(s) | Self::Wildcard(s) | Self::Query(s) => s,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Source {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Self::classify(&s))
    }
}

/// Access to one source through one connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// The connection's name (a connection of the organization).
    pub connection_name: String,
    /// What is granted.
    pub source: Source,
}

impl Grant {
    /// A checked grant: a non-empty connection name and a valid [`Source`].
    pub fn new(connection_name: impl Into<String>, source: &str) -> Result<Self, Error> {
        let connection_name = connection_name.into();
        if connection_name.trim().is_empty() {
            return Err(Error::invalid("grant", "the connection name is empty"));
        }
        Ok(Self {
            connection_name,
            source: Source::parse(source)?,
        })
    }
}

/// An API a token may be used with.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AllowedApi {
    /// `sql`: the SQL API.
    Sql,
    /// `maps`: the Maps API.
    Maps,
    /// `imports`: the Imports API (cannot be combined with other APIs).
    Imports,
    /// `lds`: Location Data Services.
    Lds,
    /// An API this crate does not know, as sent.
    Other(String),
}

impl AllowedApi {
    /// Parses an API name.
    pub fn parse(text: &str) -> Self {
        match text {
            "sql" => Self::Sql,
            "maps" => Self::Maps,
            "imports" => Self::Imports,
            "lds" => Self::Lds,
            other => Self::Other(other.to_owned()),
        }
    }

    /// The API's name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Sql => "sql",
            Self::Maps => "maps",
            Self::Imports => "imports",
            Self::Lds => "lds",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for AllowedApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for AllowedApi {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AllowedApi {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| Self::parse(&s))
    }
}

/// A referer without white space or trailing slash (a mismatch with CARTO's
/// stored form gives `403 Unauthorized referer`).
fn normalize_referer(referer: &str) -> Result<String, Error> {
    let r = referer.trim().trim_end_matches('/');
    if r.is_empty() {
        return Err(Error::invalid("referer", "the referer is empty"));
    }
    if r.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(
            "referer",
            format!("`{r}` has white space in it"),
        ));
    }
    Ok(r.to_owned())
}

fn check_apis(apis: &[AllowedApi]) -> Result<(), Error> {
    if apis.is_empty() {
        return Err(Error::invalid(
            "allowed APIs",
            "allow at least one API (sql, maps, imports, lds)",
        ));
    }
    if apis.contains(&AllowedApi::Imports) && apis.len() > 1 {
        return Err(Error::invalid(
            "allowed APIs",
            "CARTO does not allow `imports` together with other APIs",
        ));
    }
    Ok(())
}

fn serialize_date<S: Serializer>(
    date: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match date {
        Some(d) => serializer.serialize_str(&d.to_rfc3339_opts(SecondsFormat::Secs, true)),
        None => serializer.serialize_none(),
    }
}

/// The body of `POST /v3/tokens`; build it with [`NewToken::builder`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewToken {
    grants: Vec<Grant>,
    referers: Vec<String>,
    allowed_apis: Vec<AllowedApi>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_date"
    )]
    expiration_date: Option<DateTime<Utc>>,
}

impl NewToken {
    /// Starts a token.
    pub fn builder() -> NewTokenBuilder {
        NewTokenBuilder::default()
    }

    /// The grants.
    pub fn grants(&self) -> &[Grant] {
        &self.grants
    }

    /// The referers, normalised.
    pub fn referers(&self) -> &[String] {
        &self.referers
    }

    /// The APIs allowed.
    pub fn allowed_apis(&self) -> &[AllowedApi] {
        &self.allowed_apis
    }

    /// When the token stops working, if ever.
    pub fn expiration_date(&self) -> Option<DateTime<Utc>> {
        self.expiration_date
    }
}

/// Builds a [`NewToken`]; [`build`](NewTokenBuilder::build) checks it.
#[derive(Debug, Clone, Default)]
pub struct NewTokenBuilder {
    grants: Vec<(String, String)>,
    referers: Vec<String>,
    allowed_apis: Vec<AllowedApi>,
    expiration_date: Option<DateTime<Utc>>,
}

impl NewTokenBuilder {
    /// Grants `source` (a qualified table name, a wildcard such as
    /// `project.dataset.*`, or a SQL query) on connection `connection_name`.
    pub fn grant(mut self, connection_name: impl Into<String>, source: impl Into<String>) -> Self {
        self.grants.push((connection_name.into(), source.into()));
        self
    }

    /// Allows requests from `referer` only (with other referers given); a trailing
    /// slash is dropped.
    pub fn referer(mut self, referer: impl Into<String>) -> Self {
        self.referers.push(referer.into());
        self
    }

    /// The APIs the token may be used with.
    pub fn allowed_apis(mut self, apis: impl IntoIterator<Item = AllowedApi>) -> Self {
        self.allowed_apis.extend(apis);
        self
    }

    /// When the token stops working (never, when not set).
    pub fn expiration_date(mut self, date: DateTime<Utc>) -> Self {
        self.expiration_date = Some(date);
        self
    }

    /// Checks and builds the token: at least one grant, each valid (see
    /// [`Source::parse`]); referers without white space (normalised, duplicates
    /// dropped); at least one API, and `imports` only alone.
    pub fn build(self) -> Result<NewToken, Error> {
        if self.grants.is_empty() {
            return Err(Error::invalid(
                "token grants",
                "a token needs at least one grant",
            ));
        }
        let grants = self
            .grants
            .iter()
            .map(|(c, s)| Grant::new(c.clone(), s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut referers = Vec::new();
        for r in &self.referers {
            let r = normalize_referer(r)?;
            if !referers.contains(&r) {
                referers.push(r);
            }
        }
        let mut allowed_apis = Vec::new();
        for api in self.allowed_apis {
            if !allowed_apis.contains(&api) {
                allowed_apis.push(api);
            }
        }
        check_apis(&allowed_apis)?;
        Ok(NewToken {
            grants,
            referers,
            allowed_apis,
            expiration_date: self.expiration_date,
        })
    }
}

/// The body of `PATCH /v3/tokens/{token}`: the members to replace. CARTO does not
/// document which members a PATCH takes; the expiration date is set at creation only.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TokenUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    grants: Option<Vec<Grant>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    referers: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    allowed_apis: Option<Vec<AllowedApi>>,
}

impl TokenUpdate {
    /// An update that changes nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces the grants (at least one, each checked).
    pub fn grants<C: Into<String>, S: AsRef<str>>(
        mut self,
        grants: impl IntoIterator<Item = (C, S)>,
    ) -> Result<Self, Error> {
        let grants = grants
            .into_iter()
            .map(|(c, s)| Grant::new(c, s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if grants.is_empty() {
            return Err(Error::invalid(
                "token grants",
                "a token needs at least one grant",
            ));
        }
        self.grants = Some(grants);
        Ok(self)
    }

    /// Replaces the referers (normalised; none allows every referer).
    pub fn referers<R: AsRef<str>>(
        mut self,
        referers: impl IntoIterator<Item = R>,
    ) -> Result<Self, Error> {
        let mut out = Vec::new();
        for r in referers {
            let r = normalize_referer(r.as_ref())?;
            if !out.contains(&r) {
                out.push(r);
            }
        }
        self.referers = Some(out);
        Ok(self)
    }

    /// Replaces the APIs allowed (at least one; `imports` only alone).
    pub fn allowed_apis(
        mut self,
        apis: impl IntoIterator<Item = AllowedApi>,
    ) -> Result<Self, Error> {
        let apis: Vec<AllowedApi> = apis.into_iter().collect();
        check_apis(&apis)?;
        self.allowed_apis = Some(apis);
        Ok(self)
    }

    /// Whether the update changes nothing.
    pub fn is_empty(&self) -> bool {
        self.grants.is_none() && self.referers.is_none() && self.allowed_apis.is_none()
    }
}

/// An API access token as the Tokens API returns it. The documented members are
/// typed; every other one (`id`, dates, ...) is kept in [`ApiAccessToken::other`].
/// `Debug` never shows the token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiAccessToken {
    /// The token itself (a JWT): the secret requests send as `Bearer`.
    pub token: AccessToken,
    /// Its id (`tok_...` in CARTO's CLI output), when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What it grants.
    #[serde(default)]
    pub grants: Vec<Grant>,
    /// The referers it is limited to (none: any).
    #[serde(default)]
    pub referers: Vec<String>,
    /// The APIs it may be used with.
    #[serde(default, alias = "allowedApis")]
    pub allowed_apis: Vec<AllowedApi>,
    /// When it stops working, as sent (`None`: never).
    #[serde(
        default,
        alias = "expirationDate",
        skip_serializing_if = "Option::is_none"
    )]
    pub expiration_date: Option<String>,
    /// Every other member, as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl ApiAccessToken {
    /// The expiration date, when it is an RFC 3339 (ISO 8601) date-time.
    pub fn expiration(&self) -> Option<DateTime<Utc>> {
        let text = self.expiration_date.as_deref()?;
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|d| d.with_timezone(&Utc))
    }
}
