//! Maps API v1 (Windshaft): named maps (`/api/v1/map/named`), anonymous maps
//! (`/api/v1/map`), and the resources of a layergroup (MVT tiles, attributes). Who may do
//! what follows Windshaft (§3 of the protocol notes): named-map administration needs the
//! master key; anonymous maps and layergroup resources need a key whose `apis` grant has
//! `maps` and run **as the role of the key sent with that request** (the Default public key
//! without one); a named map's instance renders as the owner (master role) for whoever
//! passes its template's tokens. The SQL runs on the SQL API's sessions ([`SqlEngine`]'s
//! pool, bounds, statement timeouts and system-table guard), one query in a read-only
//! transaction. Templates and layergroups live in memory ([`crate::maps`]).
//!
//! [`SqlEngine`]: crate::sql::SqlEngine

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use carto_core::Token;
use carto_core::models::ApiKeyType;
use carto_maps::{Layer, MapConfig, NamedMap};
use serde_json::{Map, Value, json};

use super::{AppState, Ctx, json_response, map_to_pairs};
use crate::ident::quote_ident;
use crate::maps::mvt::{self, MvtLayer, MvtSettings, Tile};
use crate::maps::{Layergroup, MAX_TEMPLATES, TemplateError, anonymous_id, named_id};
use crate::sql::error::{RATE_LIMIT_MESSAGE, TIMEOUT_MESSAGE};
use crate::sql::{MapRows, SqlSession};
use crate::store::UserRecord;

/// A Maps API error: its message, `type`, `subtype`, `layer`, and a status when it is not
/// the one Windshaft derives from the message.
#[derive(Debug)]
struct MapsError {
    status: Option<StatusCode>,
    message: String,
    kind: &'static str,
    subtype: Option<&'static str>,
    layer: Option<Value>,
}

type Answer = Result<Response, MapsError>;

impl MapsError {
    /// An error whose status comes from its message.
    fn new(message: impl Into<String>) -> Self {
        Self {
            status: None,
            message: message.into(),
            kind: "unknown",
            subtype: None,
            layer: None,
        }
    }

    fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    fn typed(mut self, kind: &'static str, subtype: Option<&'static str>) -> Self {
        self.kind = kind;
        self.subtype = subtype;
        self
    }

    /// 401 for a key the user does not have.
    fn unknown_key() -> Self {
        Self::new("Unauthorized")
            .with_status(StatusCode::UNAUTHORIZED)
            .typed("auth", Some("api-key-not-found"))
    }

    /// 403 for a key that may not do this.
    fn forbidden(subtype: &'static str) -> Self {
        Self::new("Forbidden")
            .with_status(StatusCode::FORBIDDEN)
            .typed("auth", Some(subtype))
    }

    /// The error of a query: limits as Windshaft rewrites them (`render` for tiles), the
    /// guard's and the pool's refusals with their own status, others by their message.
    fn from_sql(e: crate::sql::error::ApiError, rendering: bool) -> Self {
        if e.status == StatusCode::TOO_MANY_REQUESTS && e.message == TIMEOUT_MESSAGE {
            return if rendering {
                Self::new("You are over platform's limits: Render timeout error. Contact CARTO support for more details.")
                    .with_status(StatusCode::TOO_MANY_REQUESTS)
                    .typed("limit", Some("render"))
            } else {
                Self::new(TIMEOUT_MESSAGE)
                    .with_status(StatusCode::TOO_MANY_REQUESTS)
                    .typed("limit", Some("datasource"))
            };
        }
        if e.status == StatusCode::TOO_MANY_REQUESTS && e.message == RATE_LIMIT_MESSAGE {
            return Self::new("You are over platform's limits: Max render capacity exceeded. Contact CARTO support for more details.")
                .with_status(StatusCode::TOO_MANY_REQUESTS)
                .typed("limit", Some("render-capacity"));
        }
        let explicit = matches!(
            e.status,
            StatusCode::FORBIDDEN | StatusCode::INTERNAL_SERVER_ERROR
        );
        let err = Self::new(e.message);
        if explicit {
            err.with_status(e.status)
        } else {
            err
        }
    }

    /// The status: explicit, else Windshaft's rule on the message (§2.4).
    fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| status_of(&self.message))
    }

    fn response(&self) -> Response {
        let mut context = Map::new();
        context.insert("type".into(), json!(self.kind));
        context.insert("message".into(), json!(self.message));
        if let Some(s) = self.subtype {
            context.insert("subtype".into(), json!(s));
        }
        if let Some(l) = &self.layer {
            context.insert("layer".into(), l.clone());
        }
        json_response(
            self.status(),
            &json!({"errors": [self.message], "errors_with_context": [context]}),
        )
    }
}

/// Windshaft's status for an error message without one (§2.4).
fn status_of(message: &str) -> StatusCode {
    if message.contains("permission denied") || message.contains("authentication failed") {
        return StatusCode::FORBIDDEN;
    }
    if message.contains("does not exist") {
        if message.contains("Postgis Plugin") && message.contains("column") {
            return StatusCode::BAD_REQUEST;
        }
        if message.contains(" role ") {
            return StatusCode::FORBIDDEN;
        }
        if message.contains("function ") {
            return StatusCode::BAD_REQUEST;
        }
        return StatusCode::NOT_FOUND;
    }
    StatusCode::BAD_REQUEST
}

/// Handles every path below `/api/v1/map`.
pub(crate) async fn handle(state: &AppState, user: &UserRecord, ctx: Ctx) -> Response {
    let mut r = match route(state, user, &ctx).await {
        Ok(r) => r,
        Err(e) => e.response(),
    };
    let h = r.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("Authorization"));
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

/// The request's path segments after `/api/v1/map`, percent-decoded.
fn segments(rest: &str) -> Vec<String> {
    let tail = rest
        .strip_prefix("/api/v1/map")
        .unwrap_or("")
        .trim_matches('/');
    if tail.is_empty() {
        return Vec::new();
    }
    tail.split('/')
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        })
        .collect()
}

async fn route(state: &AppState, user: &UserRecord, ctx: &Ctx) -> Answer {
    let body = parse_body(ctx)?;
    let segs = segments(&ctx.rest);
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let m = &ctx.method;
    match segs.as_slice() {
        _ if m == Method::OPTIONS => Ok(preflight()),
        [] if m == Method::POST || m == Method::GET => anonymous(state, user, ctx, &body).await,
        ["named"] if m == Method::GET => {
            admin(state, user, ctx, &body, "list")?;
            Ok(json_response(
                StatusCode::OK,
                &json!({"template_ids": state.maps.template_names(&user.username)}),
            ))
        }
        ["named"] if m == Method::POST => create_template(state, user, ctx, &body),
        ["named", id] if m == Method::GET => {
            admin(state, user, ctx, &body, "get")?;
            let name = template_name(id);
            match state.maps.template(&user.username, name) {
                Some(t) => Ok(json_response(StatusCode::OK, &json!({"template": t}))),
                None => Err(MapsError::new(format!(
                    "Cannot find template '{name}' of user '{}'",
                    user.username
                ))
                .with_status(StatusCode::NOT_FOUND)),
            }
        }
        ["named", id] if m == Method::PUT => update_template(state, user, ctx, &body, id),
        ["named", id] if m == Method::DELETE => {
            admin(state, user, ctx, &body, "delete")?;
            let name = template_name(id);
            state
                .maps
                .delete_template(&user.username, name)
                .map_err(|_| missing_template(name, user))?;
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(r)
        }
        ["named", id] if m == Method::POST => instantiate_named(state, user, ctx, &body, id).await,
        ["named", id, layer, z, x, y] if m == Method::GET => {
            let source = TileSource::Named(id);
            tile(state, user, ctx, &body, source, Some(layer), (z, x, y)).await
        }
        ["static", ..] if m == Method::GET => Err(MapsError::new(
            "Unsupported format: static images need a raster renderer (Mapnik), which the emulator does not have yet",
        )
        .with_status(StatusCode::BAD_REQUEST)),
        [token, layer, "attributes", fid] if m == Method::GET => {
            attributes(state, user, ctx, &body, token, layer, fid).await
        }
        [token, z, x, y] if m == Method::GET && *token != "named" => {
            let source = TileSource::Layergroup(token);
            tile(state, user, ctx, &body, source, None, (z, x, y)).await
        }
        [token, layer, z, x, y] if m == Method::GET && *token != "named" => {
            let source = TileSource::Layergroup(token);
            tile(state, user, ctx, &body, source, Some(layer), (z, x, y)).await
        }
        _ => Ok(json_response(
            StatusCode::NOT_FOUND,
            &json!({"errors": ["Not found"], "errors_with_context": [{"type": "unknown", "message": "Not found"}]}),
        )),
    }
}

/// CORS preflight: 200, empty, Windshaft's allowed headers.
fn preflight() -> Response {
    let mut r = Response::new(Body::empty());
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("X-Requested-With, X-Prototype-Version, X-CSRF-Token, Authorization, Carto-Event, Carto-Event-Source, Carto-Event-Group-Id, Content-Type"),
    );
    r
}

/// The template name of a `:template_id` (`owner@name` names `name`).
fn template_name(id: &str) -> &str {
    id.rsplit_once('@').map_or(id, |(_, n)| n)
}

fn missing_template(name: &str, user: &UserRecord) -> MapsError {
    MapsError::new(format!(
        "Template '{name}' of user '{}' does not exist",
        user.username
    ))
}

/// The JSON body (an object or not), `None` when the request has no JSON body; malformed
/// JSON is Express's `SyntaxError`.
fn parse_body(ctx: &Ctx) -> Result<Option<Value>, MapsError> {
    if !is_json(ctx) || ctx.body.is_empty() {
        return Ok(None);
    }
    serde_json::from_slice(&ctx.body).map(Some).map_err(|e| {
        MapsError::new(format!("SyntaxError: {e}")).with_status(StatusCode::BAD_REQUEST)
    })
}

fn is_json(ctx: &Ctx) -> bool {
    ctx.headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("application/json"))
}

/// The key of a request, Windshaft's order: HTTP Basic (its user must be the URL's), query
/// `api_key`/`map_key`, body `api_key`/`map_key`.
fn request_token(
    user: &UserRecord,
    ctx: &Ctx,
    body: &Option<Value>,
) -> Result<Option<Token>, MapsError> {
    let pairs = match body {
        Some(Value::Object(m)) => map_to_pairs(m),
        _ => Vec::new(),
    };
    super::auth_extract::extract_sql(&user.username, ctx.authorization(), &ctx.query, &pairs)
        .map(|c| c.role_token)
        .map_err(|_| MapsError::forbidden("api-key-username-mismatch"))
}

/// What a request may use of a key.
struct KeyUse {
    key_type: ApiKeyType,
    maps: bool,
    role: String,
    password: String,
}

fn lookup(state: &AppState, user: &UserRecord, token: &Token) -> Option<KeyUse> {
    state
        .store
        .with_key_by_token(&user.username, token, |k| KeyUse {
            key_type: k.key_type,
            maps: k.has_api("maps"),
            role: k.role.clone(),
            password: k.password.clone(),
        })
}

fn session(state: &AppState, user: &UserRecord, key: KeyUse) -> SqlSession {
    SqlSession {
        username: user.username.clone(),
        database: user.database.clone(),
        schema: user.schema.clone(),
        role: key.role,
        password: key.password,
        level: key.key_type,
        statement_timeout: state.timeouts.of(key.key_type),
    }
}

/// Named-map administration: the master key only (§3.5).
fn admin(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
    body: &Option<Value>,
    verb: &str,
) -> Result<(), MapsError> {
    let Some(token) = request_token(user, ctx, body)? else {
        return Err(MapsError::new(format!(
            "Only authenticated users can {verb} templated maps"
        ))
        .with_status(StatusCode::FORBIDDEN));
    };
    let key = lookup(state, user, &token).ok_or_else(MapsError::unknown_key)?;
    if key.key_type != ApiKeyType::Master {
        return Err(MapsError::forbidden("api-key-does-not-grant-access"));
    }
    Ok(())
}

/// The key sent with the request, which must grant `maps` (`None`: no key).
fn maps_key(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
    body: &Option<Value>,
) -> Result<Option<KeyUse>, MapsError> {
    let Some(token) = request_token(user, ctx, body)? else {
        return Ok(None);
    };
    let key = lookup(state, user, &token).ok_or_else(MapsError::unknown_key)?;
    if !key.maps {
        return Err(MapsError::forbidden("api-key-does-not-grant-access"));
    }
    Ok(Some(key))
}

/// The session of the request's key, the Default public key's without one.
fn request_session(
    state: &AppState,
    user: &UserRecord,
    key: Option<KeyUse>,
) -> Result<SqlSession, MapsError> {
    let key = match key {
        Some(k) => k,
        None => lookup(state, user, &Token::default_public()).ok_or_else(MapsError::unknown_key)?,
    };
    Ok(session(state, user, key))
}

/// The owner's session (named maps render as the master role).
fn master_session(state: &AppState, user: &UserRecord) -> Result<SqlSession, MapsError> {
    let k = state
        .store
        .master_key(&user.username)
        .ok_or_else(MapsError::unknown_key)?;
    Ok(session(
        state,
        user,
        KeyUse {
            key_type: k.key_type,
            maps: true,
            role: k.role,
            password: k.password,
        },
    ))
}

/// The `auth_token` values of the query (`auth_token` and `auth_token[]`).
fn auth_tokens(ctx: &Ctx) -> Vec<&str> {
    ctx.query
        .iter()
        .filter(|(k, _)| k == "auth_token" || k == "auth_token[]")
        .map(|(_, v)| v.as_str())
        .collect()
}

fn require_json(ctx: &Ctx, what: &str) -> Result<(), MapsError> {
    if is_json(ctx) {
        Ok(())
    } else {
        Err(MapsError::new(format!(
            "{} {what}data must be of type application/json",
            ctx.method
        ))
        .with_status(StatusCode::BAD_REQUEST))
    }
}

fn create_template(state: &AppState, user: &UserRecord, ctx: &Ctx, body: &Option<Value>) -> Answer {
    admin(state, user, ctx, body, "create")?;
    require_json(ctx, "template ")?;
    let (named, stored) = check_template(body.as_ref())?;
    match state
        .maps
        .create_template(&user.username, &named.name, stored)
    {
        Ok(()) => Ok(json_response(
            StatusCode::OK,
            &json!({"template_id": named.name}),
        )),
        Err(TemplateError::Limit) => Err(MapsError::new(format!(
            "User '{}' reached limit on number of templates ({MAX_TEMPLATES}/{MAX_TEMPLATES})",
            user.username
        ))
        .with_status(StatusCode::CONFLICT)),
        Err(_) => Err(MapsError::new(format!(
            "Template '{}' of user '{}' already exists",
            named.name, user.username
        ))
        .with_status(StatusCode::BAD_REQUEST)),
    }
}

fn update_template(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
    body: &Option<Value>,
    id: &str,
) -> Answer {
    admin(state, user, ctx, body, "update")?;
    require_json(ctx, "template ")?;
    let (named, stored) = check_template(body.as_ref())?;
    let name = template_name(id);
    if named.name != name {
        return Err(MapsError::new(format!(
            "Cannot update name of a map template ('{name}' != '{}')",
            named.name
        )));
    }
    state
        .maps
        .update_template(&user.username, name, stored)
        .map_err(|_| missing_template(name, user))?;
    Ok(json_response(StatusCode::OK, &json!({"template_id": name})))
}

/// Windshaft's template checks in its order (§4.2); the typed template and the document
/// stored (as sent, with `auth` and `placeholders` defaulted, without the request's key).
fn check_template(body: Option<&Value>) -> Result<(NamedMap, Value), MapsError> {
    let bad = |m: String| MapsError::new(m).with_status(StatusCode::BAD_REQUEST);
    let mut doc = match body {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    match doc.get("version") {
        Some(Value::String(v)) if v == carto_maps::TEMPLATE_VERSION => {}
        other => {
            let v = match other {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => "undefined".into(),
            };
            return Err(bad(format!("Unsupported template version {v}")));
        }
    }
    let name = match doc.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => return Err(bad("Missing template name".into())),
    };
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(bad(format!("Invalid characters in template name '{name}'")));
    }
    let Some(layergroup) = doc.get("layergroup") else {
        return Err(bad("Missing layergroup".into()));
    };
    let layers = match layergroup.get("layers") {
        Some(Value::Array(l)) if !l.is_empty() => l,
        _ => {
            return Err(bad(
                "Missing or empty layers array from layergroup config".into()
            ));
        }
    };
    let missing: Vec<String> = layers
        .iter()
        .enumerate()
        .filter(|(_, l)| l.get("options").is_none())
        .map(|(i, _)| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "Missing `options` in layergroup config for layers: {}",
            missing.join(", ")
        )));
    }
    if let Some(Value::Object(placeholders)) = doc.get("placeholders") {
        for (k, p) in placeholders {
            let mut chars = k.chars();
            let ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(bad(format!("Invalid characters in placeholder name '{k}'")));
            }
            if p.get("default").is_none() {
                return Err(bad(format!("Missing default for placeholder '{k}'")));
            }
            if p.get("type").is_none() {
                return Err(bad(format!("Missing type for placeholder '{k}'")));
            }
        }
    }
    let auth = doc
        .entry("auth")
        .or_insert_with(|| json!({"method": "open"}));
    match auth.get("method").and_then(Value::as_str).unwrap_or("open") {
        "open" => {}
        "token" => match auth.get("valid_tokens") {
            Some(Value::Array(t)) if t.is_empty() => {
                return Err(bad("Invalid 'token' authentication: no valid_tokens".into()));
            }
            Some(Value::Array(_)) => {}
            _ => {
                return Err(bad(
                    "Invalid 'token' authentication: missing valid_tokens".into()
                ));
            }
        },
        other => return Err(bad(format!("Unsupported authentication method: {other}"))),
    }
    if auth.get("method").is_none() {
        if let Value::Object(a) = auth {
            a.insert("method".into(), json!("open"));
        }
    }
    doc.entry("placeholders").or_insert_with(|| json!({}));
    // The request's key is not kept (CARTO stores it with the template).
    doc.remove("api_key");
    doc.remove("map_key");
    let stored = Value::Object(doc);
    let named: NamedMap = serde_json::from_value(stored.clone())
        .map_err(|e| bad(format!("Invalid template '{name}': {e}")))?;
    named.check().map_err(|e| bad(reason(&e)))?;
    Ok((named, stored))
}

/// The reason of a carto-core error (the message Windshaft would send).
fn reason(e: &carto_core::Error) -> String {
    match e {
        carto_core::Error::InvalidInput(i) => i.reason().to_owned(),
        other => other.to_string(),
    }
}

async fn instantiate_named(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
    body: &Option<Value>,
    id: &str,
) -> Answer {
    let key = maps_key(state, user, ctx, body)?;
    require_json(ctx, "")?;
    let (named, stored) = authorized_template(state, user, ctx, id)?;
    let params = match body {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let config = named_instance(&named, &params)?;
    let master = master_session(state, user)?;
    validate(state, &master, &config).await?;
    let id = named_id(&user.username, &stored, &config);
    let answer = instantiation(ctx, &id, &config, key.is_some());
    state.maps.put_layergroup(
        &user.username,
        &id,
        Layergroup {
            config,
            template: Some((named.name.clone(), named.auth.clone())),
        },
    );
    Ok(answer)
}

async fn anonymous(state: &AppState, user: &UserRecord, ctx: &Ctx, body: &Option<Value>) -> Answer {
    let key = maps_key(state, user, ctx, body)?;
    let has_key = key.is_some();
    let doc = if ctx.method == Method::GET {
        let text = ctx
            .query
            .iter()
            .rev()
            .find(|(k, _)| k == "config")
            .map(|(_, v)| v.as_str())
            .ok_or_else(|| {
                MapsError::new("layergroup GET needs a \"config\" parameter")
                    .with_status(StatusCode::BAD_REQUEST)
            })?;
        serde_json::from_str::<Value>(text).map_err(|_| {
            MapsError::new("Invalid config parameter, should be a valid JSON")
                .with_status(StatusCode::BAD_REQUEST)
        })?
    } else {
        require_json(ctx, "")?;
        body.clone().unwrap_or(Value::Null)
    };
    let mut doc = doc;
    if let Value::Object(m) = &mut doc {
        // carto-python puts its key and client name in the body: not part of the map.
        for member in ["api_key", "map_key", "client"] {
            m.remove(member);
        }
    }
    let config = check_mapconfig(&doc)?;
    let session = request_session(state, user, key)?;
    validate(state, &session, &config).await?;
    let id = anonymous_id(&user.username, &config);
    let answer = instantiation(ctx, &id, &config, has_key);
    state.maps.put_layergroup(
        &user.username,
        &id,
        Layergroup {
            config,
            template: None,
        },
    );
    Ok(answer)
}

/// Windshaft's MapConfig checks (§5.1, §5.4) and the typed MapConfig.
fn check_mapconfig(doc: &Value) -> Result<MapConfig, MapsError> {
    let bad = |m: String| MapsError::new(m).typed("mapconfig", None);
    let Some(Value::Array(layers)) = doc.get("layers") else {
        return Err(bad("Missing layers array from layergroup config".into()));
    };
    for (i, l) in layers.iter().enumerate() {
        if !l.get("options").is_some_and(Value::is_object) {
            return Err(bad(format!(
                "Missing options from layer {i} of layergroup config"
            )));
        }
    }
    if let Some(Value::Object(sizes)) = doc.get("buffersize") {
        for (format, v) in sizes {
            if !v.is_number() {
                return Err(bad(format!(
                    "Buffer size of format \"{format}\" must be a number"
                )));
            }
        }
    }
    let config: MapConfig =
        serde_json::from_value(doc.clone()).map_err(|e| bad(format!("Invalid MapConfig: {e}")))?;
    config.check().map_err(|e| bad(reason(&e)))?;
    mvt_settings(&config)?;
    Ok(config)
}

/// The MVT settings of a map (§7.5): `buffersize.mvt`, `vector_extent`,
/// `vector_simplify_extent`.
fn mvt_settings(config: &MapConfig) -> Result<MvtSettings, MapsError> {
    let mut s = MvtSettings::default();
    if let Some(b) = config
        .other
        .get("buffersize")
        .and_then(|b| b.get("mvt"))
        .and_then(Value::as_f64)
    {
        if !(0.0..=1024.0).contains(&b) {
            return Err(MapsError::new(format!(
                "Buffer size of format \"mvt\" must be between 0 and 1024, not {b}"
            ))
            .typed("mapconfig", None));
        }
        s.buffer = b;
    }
    let option = |name: &str| {
        config
            .layers
            .iter()
            .find_map(|l| l.options.other.get(name).and_then(Value::as_u64))
    };
    let (extent, simplify) = (option("vector_extent"), option("vector_simplify_extent"));
    if extent.is_some() || simplify.is_some() {
        let e = extent.unwrap_or(u64::from(mvt::DEFAULT_EXTENT));
        if !(1..=i32::MAX as u64).contains(&e) {
            return Err(MapsError::new(format!(
                "Invalid vector_extent. Must be between 1 and {}",
                i32::MAX
            ))
            .typed("mapconfig", None));
        }
        let sim = simplify.unwrap_or(e);
        if !(1..=e).contains(&sim) {
            return Err(MapsError::new(
                "Invalid vector_simplify_extent. Must be between 1 and vector_extent",
            )
            .typed("mapconfig", None));
        }
        s.extent = e as u32;
        s.simplify_extent = sim as u32;
    }
    Ok(s)
}

/// The `layer` of an error's context.
fn layer_context(config: &MapConfig, i: usize) -> Value {
    json!({"id": config.layer_ids()[i], "index": i, "type": layer_type(&config.layers[i])})
}

fn layer_type(layer: &Layer) -> String {
    let kind = layer.kind();
    if kind.is_mapnik() {
        "mapnik".into()
    } else {
        kind.as_str().into()
    }
}

/// Runs what Windshaft's validation runs, as `session`: each SQL layer's column discovery
/// and its tile at z=30, x=0, y=0. SQL errors come back with the layer's context.
async fn validate(
    state: &AppState,
    session: &SqlSession,
    config: &MapConfig,
) -> Result<(), MapsError> {
    let settings = mvt_settings(config)?;
    let ids = config.layer_ids();
    let tile = Tile {
        z: mvt::MAX_ZOOM,
        x: 0,
        y: 0,
    };
    for (i, layer) in config.layers.iter().enumerate() {
        if !layer.kind().is_mapnik() {
            continue;
        }
        let with_layer = |e: MapsError| {
            let mut e = e.typed("layer", Some("query"));
            e.layer = Some(layer_context(config, i));
            e
        };
        let columns = discover(state, session, layer, settings)
            .await
            .map_err(with_layer)?;
        let one = [mvt_layer(&ids[i], layer, &columns)];
        state
            .sql
            .map_query(session, &mvt::tile_query(tile, &one, settings))
            .await
            .map_err(|e| with_layer(MapsError::from_sql(e, false)))?;
    }
    Ok(())
}

fn mvt_layer<'a>(id: &'a str, layer: &'a Layer, columns: &'a [String]) -> MvtLayer<'a> {
    MvtLayer {
        id,
        sql: layer.options.sql.as_deref().unwrap_or_default(),
        geom_column: layer
            .options
            .other
            .get("geom_column")
            .and_then(Value::as_str)
            .unwrap_or("the_geom_webmercator"),
        columns,
    }
}

/// The columns of a layer that become MVT properties (§7.2).
async fn discover(
    state: &AppState,
    session: &SqlSession,
    layer: &Layer,
    settings: MvtSettings,
) -> Result<Vec<String>, MapsError> {
    let sql = layer.options.sql.as_deref().unwrap_or_default();
    let rows = state
        .sql
        .map_query(session, &mvt::schema_query(sql, settings.buffer))
        .await
        .map_err(|e| MapsError::from_sql(e, false))?;
    Ok(rows
        .columns
        .into_iter()
        .filter(|c| mvt::PROPERTY_OIDS.contains(&c.type_oid))
        .map(|c| c.name)
        .collect())
}

/// The answer of an instantiation, in CARTO's shape (§4.5, §5.5).
fn instantiation(ctx: &Ctx, id: &str, config: &MapConfig, with_key: bool) -> Response {
    let vector_only = config.is_vector_only();
    let key_suffix = if with_key {
        ctx.query
            .iter()
            .rev()
            .find(|(k, _)| k == "api_key")
            .map(|(_, v)| {
                format!(
                    "?api_key={}",
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                )
            })
            .unwrap_or_default()
    } else {
        String::new()
    };
    let url = |layer: Option<&str>, ext: &str| {
        let mut u = format!("{}/api/v1/map/{id}", ctx.base);
        if let Some(l) = layer {
            u.push('/');
            u.push_str(l);
        }
        format!("{u}/{{z}}/{{x}}/{{y}}.{ext}{key_suffix}")
    };
    let tilejson = |layer: Option<&str>| {
        let mut t = Map::new();
        t.insert(
            "vector".into(),
            json!({"tilejson": "2.2.0", "tiles": [url(layer, "mvt")]}),
        );
        if !vector_only {
            t.insert(
                "raster".into(),
                json!({"tilejson": "2.2.0", "tiles": [url(layer, "png")]}),
            );
        }
        Value::Object(t)
    };
    let ids = config.layer_ids();
    let layers: Vec<Value> = config
        .layers
        .iter()
        .zip(&ids)
        .map(|(layer, lid)| {
            let mut meta = Map::new();
            if let Some(css) = &layer.options.cartocss {
                meta.insert("cartocss".into(), json!(css));
            }
            if layer.kind().is_mapnik() {
                meta.insert("aggregation".into(), json!({"png": false, "mvt": false}));
            }
            let tj = if layer.kind().is_mapnik() {
                tilejson(Some(lid))
            } else {
                json!({"raster": {"tilejson": "2.2.0", "tiles": [url(Some(lid), "png")]}})
            };
            json!({"type": layer_type(layer), "id": lid, "meta": meta, "tilejson": tj})
        })
        .collect();
    let mut metadata = Map::new();
    metadata.insert("layers".into(), json!(layers));
    metadata.insert("dataviews".into(), json!({}));
    metadata.insert("analyses".into(), json!([]));
    if config.layers.iter().any(|l| l.kind().is_mapnik()) {
        metadata.insert("tilejson".into(), tilejson(None));
        let mut urls = Map::new();
        urls.insert(
            "vector".into(),
            json!({"urlTemplate": url(None, "mvt"), "subdomains": []}),
        );
        if !vector_only {
            urls.insert(
                "raster".into(),
                json!({"urlTemplate": url(None, "png"), "subdomains": []}),
            );
        }
        metadata.insert("url".into(), Value::Object(urls));
    }
    let body = json!({
        "layergroupid": id,
        "metadata": metadata,
        "cdn_url": {},
        "last_updated": "1970-01-01T00:00:00.000Z",
    });
    let mut r = json_response(StatusCode::OK, &body);
    if let Ok(v) = HeaderValue::from_str(id) {
        r.headers_mut()
            .insert(HeaderName::from_static("x-layergroup-id"), v);
    }
    r
}

/// The layergroup of a token and the session its resources render with (§3.2).
fn resource_session(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
    body: &Option<Value>,
    token: &str,
) -> Result<(Layergroup, SqlSession), MapsError> {
    let key = maps_key(state, user, ctx, body)?;
    if key.is_none() {
        if let Some((signer, _)) = token.split_once('@') {
            if signer != user.username {
                return Err(MapsError::new(format!(
                    "Cannot use map signature of user \"{signer}\" on db of user \"{}\"",
                    user.username
                ))
                .with_status(StatusCode::FORBIDDEN));
            }
        }
    }
    let group = state
        .maps
        .layergroup(&user.username, token)
        .ok_or_else(|| {
            MapsError::new(format!(
                "Invalid or nonexistent map configuration token '{token}'"
            ))
            .with_status(StatusCode::BAD_REQUEST)
        })?;
    let session = match (&key, &group.template) {
        (None, Some((_, auth))) => {
            if !auth.allows(&auth_tokens(ctx)) {
                return Err(
                    MapsError::new("Sorry, you are unauthorized (permission denied)")
                        .with_status(StatusCode::FORBIDDEN),
                );
            }
            master_session(state, user)?
        }
        _ => request_session(state, user, key)?,
    };
    Ok((group, session))
}

/// Where a tile's layers come from.
#[derive(Clone, Copy)]
enum TileSource<'a> {
    /// A layergroup id.
    Layergroup(&'a str),
    /// A named map's id, instantiated for the tile (`/api/v1/map/named/{id}/...`).
    Named(&'a str),
}

/// The MapConfig of a named map's tile without instantiation (§4.7): the template's
/// tokens checked, the `config` query parameter's values for its placeholders; rendered as
/// the owner (master role).
fn named_tile_source(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
    body: &Option<Value>,
    id: &str,
) -> Result<(MapConfig, SqlSession), MapsError> {
    maps_key(state, user, ctx, body)?;
    let (named, _) = authorized_template(state, user, ctx, id)?;
    let params = match ctx.query.iter().rev().find(|(k, _)| k == "config") {
        Some((_, text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            _ => {
                return Err(
                    MapsError::new("Invalid config parameter, should be a valid JSON")
                        .with_status(StatusCode::BAD_REQUEST),
                );
            }
        },
        None => Map::new(),
    };
    let config = named_instance(&named, &params)?;
    Ok((config, master_session(state, user)?))
}

/// The checked MapConfig of an instance of `named` with `params`.
fn named_instance(named: &NamedMap, params: &Map<String, Value>) -> Result<MapConfig, MapsError> {
    let config = named
        .instance(params)
        .map_err(|e| MapsError::new(reason(&e)).with_status(StatusCode::BAD_REQUEST))?;
    config
        .check()
        .map_err(|e| MapsError::new(reason(&e)).typed("mapconfig", None))?;
    Ok(config)
}

/// `user`'s template `id` and its stored document, when the request's `auth_token` passes
/// its authentication (404 for a missing template, 403 otherwise).
fn authorized_template(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
    id: &str,
) -> Result<(NamedMap, Value), MapsError> {
    let name = template_name(id);
    let stored = state.maps.template(&user.username, name).ok_or_else(|| {
        MapsError::new(format!(
            "Template '{name}' of user '{}' not found",
            user.username
        ))
        .with_status(StatusCode::NOT_FOUND)
    })?;
    let named: NamedMap = serde_json::from_value(stored.clone()).map_err(|_| {
        MapsError::new("Failed to authorize template").with_status(StatusCode::FORBIDDEN)
    })?;
    if !named.auth.allows(&auth_tokens(ctx)) {
        return Err(MapsError::new("Unauthorized template instantiation")
            .with_status(StatusCode::FORBIDDEN));
    }
    Ok((named, stored))
}

/// An integer of the URL, or Windshaft's message.
fn coordinate(
    text: &str,
    message: impl Fn(&str) -> String,
    min: Option<i64>,
) -> Result<i64, MapsError> {
    text.parse::<i64>()
        .ok()
        .filter(|v| min.is_none_or(|m| *v >= m))
        .ok_or_else(|| MapsError::new(message(text)).with_status(StatusCode::BAD_REQUEST))
}

/// The layers a tile's `layer` segment selects (§6.4): indices into the layers.
fn filter_layers(config: &MapConfig, filter: Option<&str>) -> Result<Vec<usize>, MapsError> {
    let n = config.layers.len();
    let mapnik: Vec<usize> = (0..n)
        .filter(|i| config.layers[*i].kind().is_mapnik())
        .collect();
    let Some(filter) = filter else {
        return Ok(mapnik);
    };
    let invalid = || MapsError::new("Invalid layer filtering").with_status(StatusCode::BAD_REQUEST);
    match filter {
        "all" => return Ok((0..n).collect()),
        "mapnik" => return Ok(mapnik),
        _ => {}
    }
    let parts: Vec<&str> = filter.split(',').collect();
    if parts.iter().all(|p| p.parse::<usize>().is_ok()) {
        let mut idx: Vec<usize> = parts.iter().filter_map(|p| p.parse().ok()).collect();
        if idx.iter().any(|i| *i >= n) {
            return Err(invalid());
        }
        idx.sort_unstable();
        idx.dedup();
        return Ok(idx);
    }
    if parts.iter().any(|p| p.parse::<usize>().is_ok()) {
        return Err(invalid());
    }
    let ids = config.layer_ids();
    let mut idx = Vec::new();
    for p in parts {
        match ids.iter().position(|id| id == p) {
            Some(i) => idx.push(i),
            None => {
                return Err(
                    MapsError::new(format!("Layer '{p}' not found in layergroup"))
                        .with_status(StatusCode::BAD_REQUEST),
                );
            }
        }
    }
    idx.sort_unstable();
    Ok(idx)
}

#[allow(clippy::too_many_arguments)]
async fn tile(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
    body: &Option<Value>,
    source: TileSource<'_>,
    layer: Option<&str>,
    (z, x, y): (&str, &str, &str),
) -> Answer {
    let (config, session) = match source {
        TileSource::Layergroup(token) => {
            let (group, session) = resource_session(state, user, ctx, body, token)?;
            (group.config, session)
        }
        TileSource::Named(id) => named_tile_source(state, user, ctx, body, id)?,
    };
    let (y, format) = y.split_once('.').unwrap_or((y, ""));
    let z = coordinate(
        z,
        |v| {
            format!(
                "Invalid zoom value ({v}). It should be an integer number greather than or equal to 0"
            )
        },
        Some(0),
    )?;
    let x = coordinate(
        x,
        |v| format!("Invalid coodinate 'x' value ({v}). It should be an integer number"),
        None,
    )?;
    let y = coordinate(
        y,
        |v| {
            format!(
                "Invalid coodinate 'y' value ({v}). It should be an integer number greather than or equal to 0"
            )
        },
        Some(0),
    )?;
    let config = &config;
    let selected = filter_layers(config, layer)?;
    match format {
        "mvt" => {}
        "png" | "png32" | "grid.json" | "torque.json" | "json.torque" => {
            let message = if config.is_vector_only() {
                format!("Unsupported format: 'cartocss' option is missing for {format}")
            } else {
                format!(
                    "Unsupported format {format}: the emulator has no raster, UTFGrid or Torque renderer (Mapnik) yet; only .mvt tiles are served"
                )
            };
            return Err(MapsError::new(message)
                .with_status(StatusCode::BAD_REQUEST)
                .typed("tile", None));
        }
        other => {
            return Err(MapsError::new(format!("Unsupported format {other}"))
                .with_status(StatusCode::BAD_REQUEST)
                .typed("tile", None));
        }
    }
    let in_range = |l: &Layer, name: &str, default: i64| {
        l.options
            .other
            .get(name)
            .and_then(Value::as_i64)
            .unwrap_or(default)
    };
    let selected: Vec<usize> = selected
        .into_iter()
        .filter(|i| {
            let l = &config.layers[*i];
            l.kind().is_mapnik()
                && l.options.sql.is_some()
                && z >= in_range(l, "minzoom", 0)
                && z <= in_range(l, "maxzoom", i64::from(mvt::MAX_ZOOM))
        })
        .collect();
    let tile = if z > i64::from(mvt::MAX_ZOOM) {
        None
    } else {
        Tile::new(z as u32, x, y as u64)
    };
    let (Some(tile), false) = (tile, selected.is_empty()) else {
        return Ok(empty_tile());
    };
    if !state.store.user(&user.username).is_some_and(|u| u.postgis) {
        return Err(MapsError::new(
            "MVT tiles need PostGIS, which is not installed in this user's database",
        )
        .with_status(StatusCode::BAD_REQUEST)
        .typed("tile", None));
    }
    let settings = mvt_settings(config)?;
    let ids = config.layer_ids();
    let mut columns = Vec::with_capacity(selected.len());
    for i in &selected {
        columns.push(
            discover(state, &session, &config.layers[*i], settings)
                .await
                .map_err(MapsError::pg_mvt_factory)?,
        );
    }
    let layers: Vec<MvtLayer<'_>> = selected
        .iter()
        .zip(&columns)
        .map(|(i, cols)| mvt_layer(&ids[*i], &config.layers[*i], cols))
        .collect();
    let rows = state
        .sql
        .map_query(&session, &mvt::tile_query(tile, &layers, settings))
        .await
        .map_err(|e| MapsError::from_sql(e, true))?;
    let bytes = rows
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(|v| v.as_deref())
        .and_then(mvt::bytea)
        .unwrap_or_default();
    if bytes.is_empty() {
        return Ok(empty_tile());
    }
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    h.insert(
        HeaderName::from_static("x-tilelive-contains-data"),
        HeaderValue::from_static("true"),
    );
    Ok(r)
}

impl MapsError {
    /// Discovery errors are reported as pg-mvt reports them (`PgMvtFactory: ` prefix).
    fn pg_mvt_factory(e: MapsError) -> MapsError {
        if e.kind == "limit" {
            return e;
        }
        MapsError {
            message: format!("PgMvtFactory: {}", e.message),
            ..e
        }
    }
}

/// An empty tile: 204, no body, no content type.
fn empty_tile() -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::NO_CONTENT;
    r.headers_mut().insert(
        HeaderName::from_static("x-tilelive-contains-data"),
        HeaderValue::from_static("false"),
    );
    r
}

#[allow(clippy::too_many_arguments)]
async fn attributes(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
    body: &Option<Value>,
    token: &str,
    layer: &str,
    fid: &str,
) -> Answer {
    let (group, session) = resource_session(state, user, ctx, body, token)?;
    let config = &group.config;
    let index = layer
        .parse::<usize>()
        .ok()
        .filter(|i| *i < config.layers.len())
        .ok_or_else(|| {
            MapsError::new(format!("Map {token} has no layer number {layer}"))
                .with_status(StatusCode::BAD_REQUEST)
        })?;
    let l = &config.layers[index];
    let Some(attrs) = &l.options.attributes else {
        return Err(
            MapsError::new(format!("Layer {index} has no exposed attributes"))
                .with_status(StatusCode::BAD_REQUEST),
        );
    };
    // Stricter than Windshaft, which writes the id into the SQL as sent.
    let fid: i64 = fid.parse().map_err(|_| {
        MapsError::new(format!(
            "Invalid feature id '{fid}': it should be an integer number"
        ))
        .with_status(StatusCode::BAD_REQUEST)
    })?;
    let sql = l.options.sql.as_deref().unwrap_or_default();
    let tile = Tile { z: 0, x: 0, y: 0 };
    let columns: Vec<String> = attrs.columns.iter().map(|c| quote_ident(c)).collect();
    let query = format!(
        "SELECT {} FROM ({}) AS _windshaft_subquery WHERE {} = {fid}",
        if columns.is_empty() {
            "*".to_owned()
        } else {
            columns.join(", ")
        },
        mvt::strip_semicolon(&tile.replace_tokens(sql, mvt::DEFAULT_BUFFER)),
        quote_ident(&attrs.id)
    );
    let rows = state
        .sql
        .map_query(&session, &query)
        .await
        .map_err(|e| MapsError::from_sql(e, false))?;
    let k = rows.rows.len();
    let all_same = rows.rows.windows(2).all(|w| w[0] == w[1]);
    if k == 0 || !all_same {
        let e = MapsError::new(format!(
            "Multiple features ({k}) identified by '{}' = {fid} in layer {index}",
            attrs.id
        ));
        return Err(if k == 0 {
            e.with_status(StatusCode::NOT_FOUND)
        } else {
            e.with_status(StatusCode::BAD_REQUEST)
        });
    }
    Ok(json_response(StatusCode::OK, &row_json(&rows)))
}

/// The first row as a JSON object: booleans, numbers and JSON typed, the rest as text.
fn row_json(rows: &MapRows) -> Value {
    let mut out = Map::new();
    let Some(row) = rows.rows.first() else {
        return Value::Object(out);
    };
    for (col, v) in rows.columns.iter().zip(row) {
        let value = match v.as_deref() {
            None => Value::Null,
            Some(t) => match col.type_oid {
                16 => json!(t == "t"),
                20 | 21 | 23 | 700 | 701 | 1700 => serde_json::from_str::<serde_json::Number>(t)
                    .map(Value::Number)
                    .unwrap_or_else(|_| json!(t)),
                114 | 3802 => serde_json::from_str(t).unwrap_or_else(|_| json!(t)),
                _ => json!(t),
            },
        };
        out.insert(col.name.clone(), value);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_windshaft_rule() {
        assert_eq!(
            status_of("permission denied for table t"),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_of("relation \"t\" does not exist"),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status_of("function foo() does not exist"),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status_of("the role \"x\" does not exist"),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_of("syntax error at or near"),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn template_ids_and_segments() {
        assert_eq!(template_name("alice@tpl"), "tpl");
        assert_eq!(template_name("tpl"), "tpl");
        assert_eq!(
            segments("/api/v1/map/a%40b/0/0/0.mvt"),
            ["a@b", "0", "0", "0.mvt"]
        );
        assert!(segments("/api/v1/map/").is_empty());
    }
}
