//! Auth API v3: `/api/v3/api_keys` (§3).

use std::sync::Arc;

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::Response;
use carto_core::models::ApiKeyType;
use serde_json::{Map, Value, json};

use super::tenant::{KeyOwner, percent_decode};
use super::{AppState, Ctx, empty_response, json_response, map_to_pairs, pairs_to_map};
use crate::store::{KeyError, KeyRecord, UserRecord, key_type_rank};

/// The key name of `/api/v3/api_keys/{name}/...`, percent-decoded (invalid UTF-8
/// replaced: such a name is no key's).
pub(crate) struct KeyName(String);

impl<S: Send + Sync> FromRequestParts<S> for KeyName {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let path = parts.uri.path();
        let after = path.strip_prefix("/api/v3/api_keys/").unwrap_or("");
        Ok(KeyName(percent_decode(
            after.split('/').next().unwrap_or(""),
        )))
    }
}

const FORBIDDEN: &str = "You don't have permission to access that resource";

/// A Carto error body: `{"errors": msg, "errors_cause": null}`.
pub(crate) fn carto_error(status: StatusCode, message: &str) -> Response {
    json_response(status, &json!({"errors": message, "errors_cause": null}))
}

/// Request parameters as Rails sees them: the body, overridden by the query.
pub(crate) fn rails_params(ctx: &Ctx) -> Result<Map<String, Value>, Response> {
    let mut params = ctx
        .body_params()
        .map_err(|_| carto_error(StatusCode::BAD_REQUEST, "Invalid JSON in the request body"))?;
    for (k, v) in pairs_to_map(ctx.query.clone()) {
        params.insert(k, v);
    }
    Ok(params)
}

/// Authenticates with any key of the user (§2.2); `Err` is Rails' empty 401.
pub(crate) fn authenticate(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
) -> Result<KeyRecord, Response> {
    let body = ctx.body_params().unwrap_or_default();
    let token = super::auth_extract::extract_auth_api(
        &user.username,
        ctx.authorization(),
        &ctx.query,
        &map_to_pairs(&body),
    )
    .map_err(|_| empty_response(StatusCode::UNAUTHORIZED))?
    .ok_or_else(|| empty_response(StatusCode::UNAUTHORIZED))?;
    let key = state
        .store
        .key_by_token(&user.username, &token)
        .ok_or_else(|| empty_response(StatusCode::UNAUTHORIZED))?;
    super::log::note_key(key.key_type);
    Ok(key)
}

fn authenticate_master(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
) -> Result<KeyRecord, Response> {
    let key = authenticate(state, user, ctx)?;
    if key.key_type == ApiKeyType::Master {
        Ok(key)
    } else {
        Err(empty_response(StatusCode::UNAUTHORIZED))
    }
}

/// What every key endpoint does first, in Rails' order: authenticates the caller (with
/// the master key when `master_only`), reads the parameters, checks `target_user`.
fn admit(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
    master_only: bool,
) -> Result<(KeyRecord, Map<String, Value>), Response> {
    let (caller, params) = authenticate_and_read(state, user, ctx, master_only)?;
    check_target_user(&params)?;
    Ok((caller, params))
}

/// Authenticates the caller (with the master key when `master_only`) and reads the
/// parameters.
fn authenticate_and_read(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
    master_only: bool,
) -> Result<(KeyRecord, Map<String, Value>), Response> {
    let caller = if master_only {
        authenticate_master(state, user, ctx)?
    } else {
        authenticate(state, user, ctx)?
    };
    Ok((caller, rails_params(ctx)?))
}

/// `target_user`: CARTO lets only organization admins name a user (any user, themselves
/// included); everyone else gets 403 for any non-null value. The emulator has no
/// organization admins, so any `target_user` is refused.
fn check_target_user(params: &Map<String, Value>) -> Result<(), Response> {
    match params.get("target_user") {
        None | Some(Value::Null) => Ok(()),
        Some(_) => Err(carto_error(StatusCode::FORBIDDEN, FORBIDDEN)),
    }
}

/// Ruby's `String#to_i` in base 10: leading whitespace, an optional sign, an optional
/// `0d` prefix, then digits (single underscores between digits allowed) up to the first
/// other character; no digits is 0. Saturates where Ruby would grow a Bignum.
fn ruby_to_i(s: &str) -> i64 {
    let s = s.trim_start_matches([' ', '\t', '\n', '\u{b}', '\u{c}', '\r']);
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let s = match s.as_bytes() {
        [b'0', b'd' | b'D', d, ..] if d.is_ascii_digit() => &s[2..],
        _ => s,
    };
    let bytes = s.as_bytes();
    let mut n: i64 = 0;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                let d = i64::from(b - b'0');
                n = n.saturating_mul(10);
                n = if negative {
                    n.saturating_sub(d)
                } else {
                    n.saturating_add(d)
                };
            }
            b'_' if i > 0
                && bytes[i - 1].is_ascii_digit()
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {}
            _ => break,
        }
    }
    n
}

/// Ruby's `str.split(',')`: trailing empty fields dropped, the others kept.
fn ruby_split(s: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(',').collect();
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

/// Ruby's `String#strip`: ASCII whitespace (vertical tab included) and NULs.
fn ruby_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace() || c == '\u{b}' || c == '\0')
}

/// Wraps a JSON answer in a JSONP callback when `callback` is given.
fn respond(params: &Map<String, Value>, status: StatusCode, body: &Value) -> Response {
    match params.get("callback").and_then(Value::as_str) {
        None => json_response(status, body),
        Some(cb) if valid_callback(cb) => {
            let mut r =
                axum::response::IntoResponse::into_response((status, format!("/**/{cb}({body})")));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                axum::http::HeaderValue::from_static("text/javascript; charset=utf-8"),
            );
            r
        }
        Some(_) => json_response(
            StatusCode::BAD_REQUEST,
            &json!({"errors": {"callback": "Invalid callback format"}}),
        ),
    }
}

fn valid_callback(cb: &str) -> bool {
    let mut chars = cb.chars();
    chars
        .next()
        .is_some_and(|c| c == '$' || c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '$' || c == '_' || c.is_ascii_alphanumeric())
}

/// `Time#to_s` of a UTC time: `2018-02-14 13:23:12 +0000`.
fn ruby_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S +0000").to_string()
}

/// `CGI.escape`: unreserved characters kept, space as `+`, the rest `%XX`.
pub(crate) fn cgi_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The key JSON of §3.2, key order included.
async fn key_json(state: &AppState, user: &UserRecord, key: &KeyRecord) -> Result<Value, Response> {
    let grants = state
        .store
        .presented_grants(user, key)
        .await
        .map_err(|e| internal(&e))?;
    Ok(json!({
        "name": key.name,
        "user": {"username": key.username},
        "type": key.key_type.as_str(),
        "token": key.token.expose_secret(),
        "grants": grants,
        "created_at": ruby_time(&key.created_at),
        "updated_at": ruby_time(&key.updated_at),
    }))
}

fn internal(e: &dyn std::fmt::Display) -> Response {
    tracing::error!("internal error: {e}");
    carto_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
}

fn key_error(e: KeyError) -> Response {
    match e {
        KeyError::Validation(msgs) => carto_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("Validation failed: {}", msgs.join(", ")),
        ),
        KeyError::NotFound(name) => {
            carto_error(StatusCode::NOT_FOUND, &format!("API key not found: {name}"))
        }
        KeyError::Forbidden => carto_error(StatusCode::FORBIDDEN, FORBIDDEN),
        KeyError::Database(msg) => carto_error(StatusCode::UNPROCESSABLE_ENTITY, &msg),
        KeyError::Unprocessable(msg) => carto_error(StatusCode::UNPROCESSABLE_ENTITY, msg),
        KeyError::Internal(e) => internal(&e),
    }
}

/// Finds a key by the name in the path (`+` also read as a space, since list links
/// escape names the CGI way).
fn find_key(state: &AppState, user: &UserRecord, name: &str) -> Option<KeyRecord> {
    state.store.key_by_name(&user.username, name).or_else(|| {
        name.contains('+')
            .then(|| {
                state
                    .store
                    .key_by_name(&user.username, &name.replace('+', " "))
            })
            .flatten()
    })
}

/// `GET /api/v3/api_keys`.
pub(crate) async fn list(State(state): State<Arc<AppState>>, user: KeyOwner, ctx: Ctx) -> Response {
    let (state, user) = (&*state, &*user);
    // Rails' order: the paging and order parameters, then `target_user`, then `type`.
    let (caller, params) = match authenticate_and_read(state, user, &ctx, false) {
        Ok(admitted) => admitted,
        Err(r) => return r,
    };
    let text = |k: &str| -> Option<String> {
        params.get(k).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    // `params[k].presence`: a missing or blank value takes the default.
    let present = |k: &str| text(k).filter(|s| !s.trim().is_empty());
    let positive = |k: &str, default: i64| -> Result<u64, Response> {
        match present(k).map_or(default, |s| ruby_to_i(&s)) {
            n if n > 0 => Ok(n.unsigned_abs()),
            _ => Err(carto_error(
                StatusCode::BAD_REQUEST,
                &format!("Wrong '{k}' parameter value."),
            )),
        }
    };
    let page = match positive("page", 1) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let per_page = match positive("per_page", 20) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let order = present("order").unwrap_or_else(|| "updated_at".to_owned());
    if !["type", "name", "updated_at"].contains(&order.as_str()) {
        return carto_error(
            StatusCode::BAD_REQUEST,
            "Wrong 'order' parameter value. Valid values are one of [:type, :name, :updated_at]",
        );
    }
    // One direction must be valid as a whole; a list (`asc,desc`, even `,`) is a
    // "combination" whose parts must each be valid.
    if let Some(dir) = present("order_direction") {
        let directions = ["asc", "desc"];
        let parts = ruby_split(&dir);
        if parts.len() == 1 && !directions.contains(&dir.as_str()) {
            return carto_error(
                StatusCode::BAD_REQUEST,
                "Wrong 'order_direction' parameter value. Valid values are one of [:asc, :desc]",
            );
        }
        if parts.len() != 1 && parts.iter().any(|p| !directions.contains(p)) {
            return carto_error(
                StatusCode::BAD_REQUEST,
                "Wrong 'order_direction' parameter combination. Valid values to combine: [:asc, :desc]",
            );
        }
    }
    if let Err(r) = check_target_user(&params) {
        return r;
    }
    let mut types: Vec<ApiKeyType> = Vec::new();
    if let Some(t) = text("type") {
        for part in ruby_split(&t).into_iter().map(ruby_strip) {
            match part {
                "master" => types.push(ApiKeyType::Master),
                "default" => types.push(ApiKeyType::Default),
                "regular" => types.push(ApiKeyType::Regular),
                _ => {
                    return carto_error(
                        StatusCode::BAD_REQUEST,
                        "Wrong 'type' parameter value. Valid values are one of [\"master\", \"default\", \"regular\"]",
                    );
                }
            }
        }
    }
    let mut keys: Vec<KeyRecord> = if caller.key_type == ApiKeyType::Master {
        state.store.keys(&user.username)
    } else {
        vec![caller]
    };
    keys.retain(|k| types.is_empty() || types.contains(&k.key_type));
    keys.sort_by(|a, b| {
        key_type_rank(b.key_type)
            .cmp(&key_type_rank(a.key_type))
            .then_with(|| match order.as_str() {
                "name" => a.name.cmp(&b.name),
                "type" => a.key_type.as_str().cmp(b.key_type.as_str()),
                _ => a.updated_at.cmp(&b.updated_at),
            })
            .then_with(|| a.created_at.cmp(&b.created_at))
            .then_with(|| a.name.cmp(&b.name))
    });
    let total = keys.len() as u64;
    let start = ((page - 1).saturating_mul(per_page)).min(total) as usize;
    let end = (start as u64 + per_page).min(total) as usize;
    let list_url = format!("{}/api/v3/api_keys", ctx.base);
    let mut result = Vec::new();
    for k in &keys[start..end] {
        let mut v = match key_json(state, user, k).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        v["_links"] = json!({"self": format!("{list_url}/{}", cgi_escape(&k.name))});
        result.push(v);
    }
    let last = total.div_ceil(per_page);
    let link = |p: u64| {
        let mut q: Vec<(String, String)> = ctx
            .query
            .iter()
            .filter(|(k, _)| k != "page" && k != "per_page")
            .cloned()
            .collect();
        q.push(("page".into(), p.to_string()));
        q.push(("per_page".into(), per_page.to_string()));
        q.sort_by(|a, b| a.0.cmp(&b.0));
        let qs: Vec<String> = q
            .iter()
            .map(|(k, v)| format!("{}={}", cgi_escape(k), cgi_escape(v)))
            .collect();
        json!({"href": format!("{list_url}?{}", qs.join("&"))})
    };
    let mut links = Map::new();
    links.insert("first".into(), link(1));
    if page > 1 {
        links.insert("prev".into(), link(page - 1));
    }
    if last > page {
        links.insert("next".into(), link(page + 1));
    }
    links.insert("last".into(), link(last));
    let body = json!({
        "total": total,
        "count": result.len(),
        "result": result,
        "_links": links,
    });
    respond(&params, StatusCode::OK, &body)
}

/// `POST /api/v3/api_keys`.
pub(crate) async fn create(
    State(state): State<Arc<AppState>>,
    user: KeyOwner,
    ctx: Ctx,
) -> Response {
    let (state, user) = (&*state, &*user);
    let params = match admit(state, user, &ctx, true) {
        Ok((_, params)) => params,
        Err(r) => return r,
    };
    match state
        .store
        .create_key(user, params.get("name"), params.get("grants"))
        .await
    {
        Ok(key) => match key_json(state, user, &key).await {
            Ok(v) => respond(&params, StatusCode::CREATED, &v),
            Err(r) => r,
        },
        Err(e) => key_error(e),
    }
}

/// `GET /api/v3/api_keys/{name}`.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    user: KeyOwner,
    KeyName(name): KeyName,
    ctx: Ctx,
) -> Response {
    let (state, user, name) = (&*state, &*user, name.as_str());
    let (caller, params) = match admit(state, user, &ctx, false) {
        Ok(admitted) => admitted,
        Err(r) => return r,
    };
    let not_found = || carto_error(StatusCode::NOT_FOUND, &format!("API key not found: {name}"));
    let Some(key) = find_key(state, user, name) else {
        return not_found();
    };
    if caller.key_type != ApiKeyType::Master && caller.name != key.name {
        return not_found();
    }
    match key_json(state, user, &key).await {
        Ok(v) => respond(&params, StatusCode::OK, &v),
        Err(r) => r,
    }
}

/// `DELETE /api/v3/api_keys/{name}`.
pub(crate) async fn destroy(
    State(state): State<Arc<AppState>>,
    user: KeyOwner,
    KeyName(name): KeyName,
    ctx: Ctx,
) -> Response {
    let (state, user, name) = (&*state, &*user, name.as_str());
    if let Err(r) = admit(state, user, &ctx, true) {
        return r;
    }
    let name = find_key(state, user, name).map_or_else(|| name.to_owned(), |k| k.name);
    match state.store.delete_key(user, &name).await {
        Ok(key) => {
            state.sql.forget_role(&key.role);
            axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT)
        }
        Err(e) => key_error(e),
    }
}

/// `POST /api/v3/api_keys/{name}/token/regenerate`.
pub(crate) async fn regenerate(
    State(state): State<Arc<AppState>>,
    user: KeyOwner,
    KeyName(name): KeyName,
    ctx: Ctx,
) -> Response {
    let (state, user, name) = (&*state, &*user, name.as_str());
    let params = match admit(state, user, &ctx, true) {
        Ok((_, params)) => params,
        Err(r) => return r,
    };
    let name = find_key(state, user, name).map_or_else(|| name.to_owned(), |k| k.name);
    match state.store.regenerate_key(user, &name).await {
        Ok(key) => {
            state.sql.forget_role(&key.role);
            match key_json(state, user, &key).await {
                Ok(v) => respond(&params, StatusCode::OK, &v),
                Err(r) => r,
            }
        }
        Err(e) => key_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_callbacks() {
        assert_eq!(cgi_escape("Default public"), "Default+public");
        assert_eq!(cgi_escape("a/b&c"), "a%2Fb%26c");
        assert_eq!(cgi_escape("ñ"), "%C3%B1");
        assert!(valid_callback("cb_1"));
        assert!(valid_callback("$x"));
        assert!(!valid_callback("1cb"));
        assert!(!valid_callback("alert(1)"));
        assert!(!valid_callback(""));
    }

    #[test]
    fn ruby_string_to_i() {
        for (s, n) in [
            ("2", 2),
            ("2abc", 2),
            ("abc", 0),
            ("", 0),
            ("  \t\n7", 7),
            ("+5", 5),
            ("-3x", -3),
            ("- 3", 0),
            ("+-3", 0),
            ("1_000", 1000),
            ("1__0", 1),
            ("12_", 12),
            ("_1", 0),
            ("0d12", 12),
            ("0x1A", 0),
            ("2.9", 2),
            ("99999999999999999999999", i64::MAX),
        ] {
            assert_eq!(ruby_to_i(s), n, "{s:?}");
        }
    }

    #[test]
    fn ruby_split_and_strip() {
        let split_strip = |s| {
            ruby_split(s)
                .into_iter()
                .map(ruby_strip)
                .collect::<Vec<_>>()
        };
        assert!(split_strip("").is_empty());
        assert!(split_strip(",,").is_empty());
        assert_eq!(split_strip("a, b ,"), ["a", "b"]);
        assert_eq!(split_strip("a,,b,,"), ["a", "", "b"]);
        assert_eq!(split_strip(" "), [""]);
        assert_eq!(split_strip(",a"), ["", "a"]);
        assert_eq!(ruby_split("asc,"), ["asc"]);
    }

    #[test]
    fn time_format() {
        let t = chrono::DateTime::parse_from_rfc3339("2018-02-14T13:23:12Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(ruby_time(&t), "2018-02-14 13:23:12 +0000");
    }
}
