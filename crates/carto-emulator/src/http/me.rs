//! `GET /api/v3/me` and `GET /api/v4/do/token`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use carto_core::models::ApiKeyType;
use serde_json::json;

use super::auth_api::{authenticate, carto_error};
use super::tenant::User;
use super::{AppState, Ctx, json_response};

/// `GET /api/v3/me`: who the key belongs to (modelled on CARTO's document; the
/// master key also sees `user_data.api_key`).
pub(crate) async fn me(State(state): State<Arc<AppState>>, user: User, ctx: Ctx) -> Response {
    let (state, user) = (&*state, &*user);
    let key = match authenticate(state, user, &ctx) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let host = ctx
        .base
        .strip_prefix("http://")
        .and_then(|b| b.split('/').next())
        .unwrap_or("")
        .to_owned();
    // The first user of an organization owns it and is its admin, as on CARTO.
    let org_admin = match &user.org {
        Some(org) => state
            .store
            .org_owner(org)
            .await
            .ok()
            .flatten()
            .is_some_and(|owner| owner == user.username),
        None => false,
    };
    let mut user_data = json!({
        "id": user.id,
        "email": format!("{}@carto-emulator.invalid", user.username),
        "name": user.username,
        "last_name": "",
        "username": user.username,
        "account_type": "EMULATOR",
        "account_type_display_name": "carto-emulator",
        "org_admin": org_admin,
        "viewer": false,
        "base_url": ctx.base,
        "organization": user.org.as_ref().map(|o| json!({"name": o})),
    });
    if key.key_type == ApiKeyType::Master {
        user_data["api_key"] = json!(key.token.expose_secret());
    }
    let body = json!({
        "user_data": user_data,
        "config": {
            "sql_api_template": format!("http://{{user}}.{host}"),
            "user_name": user.username,
            "account_host": host,
            "cartodb_com_hosted": false,
        },
    });
    json_response(StatusCode::OK, &body)
}

/// `GET /api/v4/do/token`: a Data Observatory token document whose values say they
/// come from the emulator; for the master key and keys granted the `do` API.
pub(crate) async fn do_token(State(state): State<Arc<AppState>>, user: User, ctx: Ctx) -> Response {
    let (state, user) = (&*state, &*user);
    let key = match authenticate(state, user, &ctx) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let allowed = match key.key_type {
        ApiKeyType::Master => true,
        ApiKeyType::Regular => key.apis().iter().any(|a| a == "do"),
        _ => false,
    };
    if !allowed {
        return carto_error(
            StatusCode::FORBIDDEN,
            "You don't have permission to access that resource",
        );
    }
    let body = json!({
        "access_token": format!("carto-emulator-do-token-{}", user.id),
        "bq_public_project": "carto-emulator-public-data",
        "gcp_execution_project": "carto-emulator-execution",
        "bq_project": "carto-emulator-user-data",
        "bq_dataset": format!("carto_emulator_{}", user.username.replace('-', "_")),
        "gcs_bucket": format!("carto-emulator-{}", user.username),
        "instant_licensing": false,
    });
    json_response(StatusCode::OK, &body)
}
