//! The organization users API that CARTO's organization owners call (carto-python's
//! `UserManager`): `/api/v1/organization/{org}/users[/{username}]`, below the owner's prefix,
//! with the owner's master key.
//!
//! As CARTO answers: an organization that does not exist and a caller who is not its owner
//! both get `401 {}` (no clue for guessers); an unknown member `404` with a message; a refused
//! creation `410` with the list of what is wrong; a created user `200` with its presentation.
//! The presentation of a member, for its owner, also holds the member's master key
//! (`api_key`): the emulator has no dashboard where the member would log in to read it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use carto_core::models::ApiKeyType;
use serde_json::{Value, json};

use super::auth_api::authenticate;
use super::tenant::{User, percent_decode};
use super::{AppState, Ctx, json_response};
use crate::store::{AccountError, AccountFailure, UserRecord};

/// The organization and member named by the path.
fn path_parts(rest: &str) -> (String, Option<String>) {
    let mut parts = rest
        .trim_start_matches('/')
        .split('/')
        .skip(3) // api, v1, organization
        .map(percent_decode);
    let org = parts.next().unwrap_or_default();
    let member = parts.nth(1).filter(|m| !m.is_empty());
    (org, member)
}

/// Rails' `render_jsonp({}, 401)`.
fn unauthorized() -> Response {
    json_response(StatusCode::UNAUTHORIZED, &json!({}))
}

/// The caller must be the organization's owner, with its master key; `Err` is CARTO's answer.
async fn admit(state: &AppState, caller: &UserRecord, ctx: &Ctx) -> Result<String, Response> {
    let key = authenticate(state, caller, ctx)?;
    let (org, _) = path_parts(&ctx.rest);
    if key.key_type != ApiKeyType::Master || caller.org.as_deref() != Some(org.as_str()) {
        return Err(unauthorized());
    }
    match state.store.org_owner(&org).await {
        Ok(Some(owner)) if owner == caller.username => Ok(org),
        Ok(_) => Err(unauthorized()),
        Err(e) => Err(internal(&e.to_string())),
    }
}

fn internal(message: &str) -> Response {
    tracing::error!("organization users API: {message}");
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!("An error has ocurred. Please contact support"),
    )
}

/// A member as CARTO presents it to its owner (with its master key, see the module's notes).
fn presentation(state: &AppState, ctx: &Ctx, username: &str) -> Value {
    let base = ctx.base.rsplit_once("/user/").map_or_else(
        || ctx.base.clone(),
        |(root, _)| format!("{root}/user/{username}"),
    );
    json!({
        "username": username,
        "email": format!("{username}@carto-emulator.invalid"),
        "avatar_url": null,
        "base_url": base,
        "quota_in_bytes": null,
        "db_size_in_bytes": 0,
        "table_count": 0,
        "public_visualization_count": 0,
        "all_visualization_count": 0,
        "api_key": state.store.master_key(username).map(|k| k.token.expose_secret().to_owned()),
    })
}

/// The member named by the path, in the organization; `Err` is CARTO's 404.
fn member(state: &AppState, ctx: &Ctx, org: &str) -> Result<String, Response> {
    let (_, name) = path_parts(&ctx.rest);
    let name = name.unwrap_or_default();
    match state.store.user(&name) {
        Some(u) if u.org.as_deref() == Some(org) => Ok(name),
        _ => Err(json_response(
            StatusCode::NOT_FOUND,
            &json!(format!("No user with username '{name}' in '{org}'")),
        )),
    }
}

/// `GET .../users`: the organization's users.
pub(crate) async fn list(State(state): State<Arc<AppState>>, caller: User, ctx: Ctx) -> Response {
    let org = match admit(&state, &caller, &ctx).await {
        Ok(org) => org,
        Err(r) => return r,
    };
    match state.store.org_users(&org).await {
        Ok(users) => json_response(
            StatusCode::OK,
            &Value::Array(
                users
                    .iter()
                    .map(|u| presentation(&state, &ctx, u))
                    .collect(),
            ),
        ),
        Err(e) => internal(&e.to_string()),
    }
}

/// `GET .../users/{username}`.
pub(crate) async fn show(State(state): State<Arc<AppState>>, caller: User, ctx: Ctx) -> Response {
    let org = match admit(&state, &caller, &ctx).await {
        Ok(org) => org,
        Err(r) => return r,
    };
    match member(&state, &ctx, &org) {
        Ok(name) => json_response(StatusCode::OK, &presentation(&state, &ctx, &name)),
        Err(r) => r,
    }
}

/// `POST .../users` with `username` (and `email`, `password`, which the emulator ignores).
pub(crate) async fn create(State(state): State<Arc<AppState>>, caller: User, ctx: Ctx) -> Response {
    let org = match admit(&state, &caller, &ctx).await {
        Ok(org) => org,
        Err(r) => return r,
    };
    let params = match super::auth_api::rails_params(&ctx) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let refused = |messages: &[&str]| json_response(StatusCode::GONE, &json!(messages));
    let username = match params.get("username") {
        Some(Value::String(u)) if !u.is_empty() => u.clone(),
        _ => return refused(&["Username can't be blank"]),
    };
    match state
        .store
        .create_account(&username, Some(&org), false)
        .await
    {
        Ok(_) => json_response(StatusCode::OK, &presentation(&state, &ctx, &username)),
        Err(AccountFailure::Refused(AccountError::InvalidName { .. })) => refused(&[
            "Username must only contain lowercase letters, numbers and the dash (-) symbol, and start with a letter or a number",
        ]),
        Err(AccountFailure::Refused(AccountError::UserExists(_))) => {
            refused(&["Username has already been taken"])
        }
        Err(AccountFailure::Refused(e)) => refused(&[&e.to_string()]),
        Err(AccountFailure::Failed(e)) => internal(&e.to_string()),
    }
}

/// `DELETE .../users/{username}`: not the owner.
pub(crate) async fn destroy(
    State(state): State<Arc<AppState>>,
    caller: User,
    ctx: Ctx,
) -> Response {
    let org = match admit(&state, &caller, &ctx).await {
        Ok(org) => org,
        Err(r) => return r,
    };
    let name = match member(&state, &ctx, &org) {
        Ok(name) => name,
        Err(r) => return r,
    };
    if name == caller.username {
        return json_response(StatusCode::UNAUTHORIZED, &json!("Can't delete org owner"));
    }
    match state.store.remove_account(&name).await {
        Ok(removed) => {
            for role in &removed.roles {
                state.sql.forget_role(role);
            }
            json_response(StatusCode::OK, &json!("User deleted"))
        }
        Err(AccountFailure::Refused(e)) => json_response(StatusCode::GONE, &json!(e.to_string())),
        Err(AccountFailure::Failed(e)) => internal(&e.to_string()),
    }
}
