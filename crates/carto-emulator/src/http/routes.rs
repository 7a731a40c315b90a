//! The route tables: tenant-wide routes at the root, then the user's routes behind
//! [`tenant::resolve`], one line per endpoint.
//!
//! Paths are those below the user's prefix; the endpoints that CARTO serves with a trailing
//! slash are routed with and without one ([`Table::both`]). A path no route knows, and a
//! method a route does not serve, get CARTO's `404 {"errors":"Not found"}`; the SQL API's
//! routes serve every method and answer with CORS headers.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, any, get, post};

use super::tenant::{self, Named, User};
use super::{
    AppState, Ctx, auth_api, carto3, datasets, imports, json_response, maps_api, me, org_users,
    sql_api, with_cors,
};
use crate::store::UserRecord;

type Shared = Arc<AppState>;

/// The whole router: tenant-wide routes first, every other path to the user's routes.
pub(super) fn router(state: Shared) -> Router<Shared> {
    let users = Router::new()
        .fallback_service(user_routes().with_state(state.clone()))
        .layer(axum::middleware::from_fn_with_state(state, tenant::resolve));
    tenant_wide().fallback_service(users)
}

/// Routes that need no user, at the root of the server: CARTO 3's tenant-wide `/v3/...`
/// (the account comes from the request's Bearer token, not from the Host or the path) and
/// the OAuth token endpoint (`POST /oauth/token`), one line each ([`carto3`]). Every other
/// request goes on to the user's routes, which answer as CARTO's v2 platform does.
fn tenant_wide() -> Router<Shared> {
    let v3 = Router::new()
        .route(
            "/v3/tokens",
            get(carto3::tokens_list)
                .post(carto3::tokens_create)
                .options(v3_preflight),
        )
        .route(
            "/v3/tokens/{token}",
            get(carto3::tokens_get)
                .patch(carto3::tokens_update)
                .delete(carto3::tokens_delete)
                .options(v3_preflight),
        )
        .route("/v3/sql/jobs", get(carto3::jobs_list).options(v3_preflight))
        .route(
            "/v3/sql/{connection}/query",
            get(carto3::sql_query)
                .post(carto3::sql_query)
                .options(v3_preflight),
        )
        .route(
            "/v3/sql/{connection}/job",
            post(carto3::job_create)
                .get(carto3::job_create)
                .options(v3_preflight),
        )
        .route(
            "/v3/sql/{connection}/job/{id}",
            get(carto3::job_one)
                .delete(carto3::job_one)
                .options(v3_preflight),
        )
        .route("/v3/{*rest}", any(v3_not_found))
        .route_layer(axum::middleware::map_response(v3_cors));
    Router::new()
        .route("/oauth/token", post(carto3::oauth_token))
        .merge(v3)
}

/// A `/v3/...` path this emulator does not serve (Maps, Imports, LDS, ...): CARTO 3's 404.
async fn v3_not_found() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"error": "Not found", "status": 404}),
    )
}

/// `OPTIONS` on a CARTO 3 route: 204 with the CORS headers (no token needed).
async fn v3_preflight() -> Response {
    (StatusCode::NO_CONTENT, Body::empty()).into_response()
}

/// CORS for CARTO 3's routes, which browsers call with a Bearer token: any origin (the
/// token's referers are what limits it), the methods and headers they send.
async fn v3_cors(r: Response) -> Response {
    let mut r = with_cors(r);
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Authorization, Content-Type, *"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PATCH, DELETE, OPTIONS"),
    );
    r
}

/// The routes of a user, below the user's prefix.
fn user_routes() -> Router<Shared> {
    let sql = Router::new()
        .both("/api/{v}/sql", any(sql_query).options(preflight))
        .both("/api/{v}/sql/job", any(sql_job).options(preflight))
        .both("/api/{v}/sql/job/{id}", any(sql_job).options(preflight))
        .both("/api/{v}/sql/copyto", any(copy_to).options(preflight))
        .both(
            "/api/{v}/sql/copyfrom",
            post(copy_from).options(preflight).fallback(sql_not_found),
        )
        .layer(axum::middleware::map_response(cors));
    Router::new()
        .merge(sql)
        .route(
            "/api/v3/api_keys",
            get_only(auth_api::list).post(auth_api::create),
        )
        // With the slash, `DELETE` names the key "" (and answers that it has none).
        .route(
            "/api/v3/api_keys/",
            get_only(auth_api::list)
                .post(auth_api::create)
                .delete(auth_api::destroy),
        )
        .both(
            "/api/v3/api_keys/{name}",
            get_only(auth_api::show).delete(auth_api::destroy),
        )
        .route(
            "/api/v3/api_keys/{name}/token/regenerate",
            post(auth_api::regenerate),
        )
        .both("/api/v3/me", get_only(me::me))
        .both(
            "/api/v1/organization/{org}/users",
            get_only(org_users::list).post(org_users::create),
        )
        .both(
            "/api/v1/organization/{org}/users/{username}",
            get_only(org_users::show).delete(org_users::destroy),
        )
        .both("/api/v1/viz", get_only(datasets::list))
        .both(
            "/api/v1/viz/{id}",
            get_only(datasets::show)
                .put(datasets::update)
                .delete(datasets::destroy),
        )
        .both("/api/v4/do/token", get_only(me::do_token))
        .both("/api/v1/map", any(maps))
        .route("/api/v1/map/{*rest}", any(maps))
        .both(
            "/api/v1/imports",
            get_only(imports::index).post(imports::create),
        )
        .both("/api/v1/imports/{id}", get_only(imports::show))
        .method_not_allowed_fallback(not_found)
        .fallback(not_found)
}

/// Routing a path as CARTO does.
trait Table {
    /// Routes `path` and `path/`.
    fn both(self, path: &str, route: MethodRouter<Shared>) -> Self;
}

impl Table for Router<Shared> {
    fn both(self, path: &str, route: MethodRouter<Shared>) -> Self {
        self.route(path, route.clone())
            .route(&format!("{path}/"), route)
    }
}

/// `GET` alone: axum would also serve `HEAD` with the `GET` handler, which CARTO's routes
/// here answer 404.
fn get_only<H, T>(handler: H) -> MethodRouter<Shared>
where
    H: axum::handler::Handler<T, Shared>,
    T: 'static,
{
    get(handler).head(not_found)
}

/// CARTO's 404 for a path or method it does not serve (after the user's checks).
async fn not_found(_: User) -> Response {
    not_found_response()
}

fn not_found_response() -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &serde_json::json!({"errors": "Not found", "errors_cause": null}),
    )
}

/// The SQL routes' layer: CORS headers on every answer.
async fn cors(r: Response) -> Response {
    with_cors(r)
}

/// CARTO's headers on every SQL API answer of a user: user, user id (CORS is added by the
/// SQL routes' layer).
fn finish_sql(user: &UserRecord, mut r: Response) -> Response {
    const USER: HeaderName = HeaderName::from_static("carto-user");
    const USER_ID: HeaderName = HeaderName::from_static("carto-user-id");
    for (name, value) in [(USER, &user.username), (USER_ID, &user.id)] {
        if let Ok(v) = HeaderValue::from_str(value) {
            r.headers_mut().insert(name, v);
        }
    }
    r
}

/// `OPTIONS` on a SQL API path: 200, empty, CORS only (any user name, known or not).
async fn preflight(_: Named) -> Response {
    let mut r = (StatusCode::OK, Body::empty()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    r
}

/// `/api/{v}/sql`.
async fn sql_query(State(state): State<Shared>, user: User, ctx: Ctx) -> Response {
    finish_sql(&user, sql_api::handle(&state, &user, ctx).await)
}

/// `/api/v1/map` and everything below it: the Maps API.
async fn maps(State(state): State<Shared>, user: User, ctx: Ctx) -> Response {
    maps_api::handle(&state, &user, ctx).await
}

/// `/api/{v}/sql/job` and `/api/{v}/sql/job/{id}`.
async fn sql_job(State(state): State<Shared>, user: User, ctx: Ctx) -> Response {
    finish_sql(&user, sql_api::job(&state, &user, ctx).await)
}

/// `/api/{v}/sql/copyto`.
async fn copy_to(State(state): State<Shared>, user: User, ctx: Ctx) -> Response {
    finish_sql(&user, sql_api::copy_to(&state, &user, ctx).await)
}

/// `POST /api/{v}/sql/copyfrom`: the upload is streamed into PostgreSQL, never buffered.
async fn copy_from(State(state): State<Shared>, user: User, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let ctx = Ctx::head(parts);
    finish_sql(&user, sql_api::copy_from(&state, &user, ctx, body).await)
}

/// Another method on `/api/{v}/sql/copyfrom`: 404 with the SQL API's headers.
async fn sql_not_found(user: User) -> Response {
    finish_sql(&user, not_found_response())
}
