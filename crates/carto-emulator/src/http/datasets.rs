//! The datasets endpoints cartoframes and the Python SDK call (CARTO's visualization API,
//! `type=table`): `GET /api/v1/viz` lists the user's datasets, `GET /api/v1/viz/{id}` reads
//! one (by id or table name), `PUT /api/v1/viz/{id}` changes its privacy (`private`, `public`,
//! `link`) or name, `DELETE /api/v1/viz/{id}` drops it. Master key only (Rails' empty 401
//! otherwise). The store keeps the records ([`crate::store`]); this module shapes them as
//! CARTO's visualization presenter does.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use carto_core::models::ApiKeyType;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use super::auth_api::{authenticate, carto_error, rails_params};
use super::tenant::KeyOwner;
use super::{AppState, Ctx, empty_response, json_response};
use crate::store::{Dataset, DatasetError, Privacy, UserRecord};

/// CARTO's page size of the visualization list.
const DEFAULT_PER_PAGE: usize = 20;

/// Authenticates with the master key and reads the parameters (Rails: body, then query).
fn admit(state: &AppState, user: &UserRecord, ctx: &Ctx) -> Result<Map<String, Value>, Response> {
    let key = authenticate(state, user, ctx)?;
    if key.key_type != ApiKeyType::Master {
        return Err(empty_response(StatusCode::UNAUTHORIZED));
    }
    rails_params(ctx)
}

/// [`admit`], then the dataset `id` (an id or a table name) of the user.
async fn admit_dataset(
    state: &AppState,
    user: &UserRecord,
    ctx: &Ctx,
    id: &str,
) -> Result<(Map<String, Value>, Dataset), Response> {
    let params = admit(state, user, ctx)?;
    let dataset = state.store.dataset(user, id).await.map_err(dataset_error)?;
    Ok((params, dataset))
}

fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A dataset as CARTO's visualization presenter shows it (private view, with the table,
/// the permission and no dependent visualizations).
fn dataset_json(user: &UserRecord, base: &str, d: &Dataset) -> Value {
    let privacy = d.privacy.as_str().to_uppercase();
    let permission = json!({
        "id": d.id,
        "owner": {"id": user.id, "username": user.username},
        "entity": {"id": d.id, "type": "vis"},
        "acl": [],
        "created_at": iso(&d.created_at),
        "updated_at": iso(&d.updated_at),
    });
    let head = json!({
        "id": d.id,
        "name": d.name,
        "display_name": null,
        "map_id": null,
        "active_layer_id": null,
        "type": "table",
        "tags": [],
        "description": null,
        "privacy": privacy,
        "created_at": iso(&d.created_at),
        "updated_at": iso(&d.updated_at),
        "locked": false,
        "source": null,
        "title": null,
        "license": null,
        "attributions": null,
        "kind": "geom",
        "external_source": {},
        "url": format!("{base}/tables/{}", d.name),
        "version": 2,
        "prev_id": null,
        "next_id": null,
        "parent_id": null,
        "transition_options": {},
    });
    // (Two halves: one `json!` this long exceeds the macro recursion limit.)
    let rest = json!({
        "active_child": null,
        "children": [],
        "synchronization": null,
        "uses_builder_features": false,
        "dependent_visualizations_count": 0,
        "dependent_visualizations": [],
        "liked": false,
        "permission": permission,
        "stats": {},
        "auth_tokens": [],
        "table": {
            "id": d.id,
            "name": d.name,
            "permission": permission,
            "synchronization": null,
            "geometry_types": [],
            // CARTO's table presenter shows link datasets as PUBLIC.
            "privacy": if d.privacy == Privacy::Private { "PRIVATE" } else { "PUBLIC" },
            "updated_at": iso(&d.updated_at),
            "size": d.size,
            "row_count": d.row_count,
        },
    });
    let mut doc = head;
    if let (Value::Object(doc), Value::Object(rest)) = (&mut doc, rest) {
        doc.extend(rest);
    }
    doc
}

fn text(params: &Map<String, Value>, key: &str) -> Option<String> {
    params.get(key).map(|v| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}

fn dataset_error(e: DatasetError) -> Response {
    match e {
        DatasetError::NotFound => carto_error(StatusCode::NOT_FOUND, &e.to_string()),
        DatasetError::Invalid(msg) => carto_error(StatusCode::BAD_REQUEST, &msg),
        DatasetError::Internal(e) => {
            tracing::error!("datasets: {e}");
            carto_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
        }
    }
}

/// `GET /api/v1/viz`: the user's datasets, most recently updated first, `per_page` (20) at a
/// time from `page` (1). Other types than `table` (maps): none.
pub(crate) async fn list(State(state): State<Arc<AppState>>, user: KeyOwner, ctx: Ctx) -> Response {
    let (state, user) = (&*state, &*user);
    let params = match admit(state, user, &ctx) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let positive = |key: &str, default: usize| {
        text(&params, key)
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    };
    let (page, per_page) = (positive("page", 1), positive("per_page", DEFAULT_PER_PAGE));
    let tables = text(&params, "type").is_none_or(|t| t == "table");
    let all = if tables {
        match state.store.datasets(user).await {
            Ok(all) => all,
            Err(e) => return dataset_error(e.into()),
        }
    } else {
        Vec::new()
    };
    let shown: Vec<Value> = all
        .iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .map(|d| dataset_json(user, &ctx.base, d))
        .collect();
    json_response(
        StatusCode::OK,
        &json!({
            "visualizations": shown,
            "total_entries": all.len(),
            "total_user_entries": all.len(),
            "total_likes": 0,
            "total_shared": 0,
        }),
    )
}

/// `GET /api/v1/viz/{id}`: one dataset, by id or table name.
pub(crate) async fn show(
    State(state): State<Arc<AppState>>,
    user: KeyOwner,
    Path(id): Path<String>,
    ctx: Ctx,
) -> Response {
    let (state, user) = (&*state, &*user);
    match admit_dataset(state, user, &ctx, &id).await {
        Ok((_, d)) => json_response(StatusCode::OK, &dataset_json(user, &ctx.base, &d)),
        Err(r) => r,
    }
}

/// `PUT /api/v1/viz/{id}`: `privacy` (`private`, `public`, `link`, any case) and `name`
/// (sanitized as CARTO does); the other fields of the document are read-only.
pub(crate) async fn update(
    State(state): State<Arc<AppState>>,
    user: KeyOwner,
    Path(id): Path<String>,
    ctx: Ctx,
) -> Response {
    let (state, user) = (&*state, &*user);
    let (params, dataset) = match admit_dataset(state, user, &ctx, &id).await {
        Ok(admitted) => admitted,
        Err(r) => return r,
    };
    let privacy = match text(&params, "privacy") {
        None => None,
        Some(p) => match Privacy::parse(&p) {
            Some(p) => Some(p),
            None => {
                return carto_error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "Unknown value '{p}' for 'privacy'. Allowed values are: private, public and link"
                    ),
                );
            }
        },
    };
    let mut current = dataset.clone();
    if let Some(name) = text(&params, "name").filter(|n| *n != dataset.name) {
        match state.store.rename_dataset(user, &dataset, &name).await {
            Ok(new_name) => current.name = new_name,
            Err(e) => return dataset_error(e),
        }
    }
    if let Some(p) = privacy.filter(|p| *p != dataset.privacy) {
        if let Err(e) = state.store.set_dataset_privacy(user, &current, p).await {
            return dataset_error(e);
        }
    }
    match state.store.dataset(user, &dataset.id).await {
        Ok(d) => json_response(StatusCode::OK, &dataset_json(user, &ctx.base, &d)),
        Err(e) => dataset_error(e),
    }
}

/// `DELETE /api/v1/viz/{id}`: drops the dataset's table; 204.
pub(crate) async fn destroy(
    State(state): State<Arc<AppState>>,
    user: KeyOwner,
    Path(id): Path<String>,
    ctx: Ctx,
) -> Response {
    let (state, user) = (&*state, &*user);
    let dataset = match admit_dataset(state, user, &ctx, &id).await {
        Ok((_, d)) => d,
        Err(r) => return r,
    };
    match state.store.delete_dataset(user, &dataset).await {
        Ok(()) => empty_response(StatusCode::NO_CONTENT),
        Err(e) => dataset_error(e),
    }
}
