//! Route handlers. The Management API routes are listed in [`api_routes`], which the
//! router and the scope-matrix test both read.

mod clients;
mod extensions;
mod grants;
mod hooks;
mod public;
mod query;
pub(crate) mod run;
mod secrets;
mod token;

use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::Router;
use hookhaven_core::{AuditEvent, Error, Scope};

use crate::app::ApiRoute;
use crate::error::ApiError;
use crate::state::AppState;

use Scope::*;

/// Auth0's sources disagree on whether these writes need `create:hooks` or
/// `update:hooks`; either opens them (spec §3.9).
const HOOK_WRITE: &[Scope] = &[CreateHooks, UpdateHooks];

pub fn api_routes() -> Vec<ApiRoute> {
    let r = |method: Method, path, scopes, handler| ApiRoute {
        method,
        path,
        scopes,
        handler,
    };
    vec![
        r(Method::GET, "/api/v2/hooks", &[ReadHooks], get(hooks::list)),
        r(
            Method::POST,
            "/api/v2/hooks",
            &[CreateHooks],
            post(hooks::create),
        ),
        r(
            Method::GET,
            "/api/v2/hooks/{id}",
            &[ReadHooks],
            get(hooks::read),
        ),
        r(
            Method::PATCH,
            "/api/v2/hooks/{id}",
            HOOK_WRITE,
            patch(hooks::update),
        ),
        r(
            Method::DELETE,
            "/api/v2/hooks/{id}",
            &[DeleteHooks],
            delete(hooks::remove),
        ),
        r(
            Method::GET,
            "/api/v2/hooks/{id}/secrets",
            &[ReadHooks],
            get(secrets::read),
        ),
        r(
            Method::POST,
            "/api/v2/hooks/{id}/secrets",
            HOOK_WRITE,
            post(secrets::add),
        ),
        r(
            Method::PATCH,
            "/api/v2/hooks/{id}/secrets",
            HOOK_WRITE,
            patch(secrets::update),
        ),
        r(
            Method::DELETE,
            "/api/v2/hooks/{id}/secrets",
            &[DeleteHooks],
            delete(secrets::remove),
        ),
        // Hookhaven extension (D7): which secrets hold a value, never the values.
        r(
            Method::GET,
            "/api/v2/hooks/{id}/secret-status",
            &[ReadHooks],
            get(secrets::status),
        ),
        // Hookhaven extension (D7): rename a secret and/or change its value atomically.
        r(
            Method::PATCH,
            "/api/v2/hooks/{id}/secrets/{name}",
            HOOK_WRITE,
            patch(extensions::rename_secret),
        ),
        r(
            Method::POST,
            "/api/v2/hooks/{id}/run",
            &[UpdateHooks],
            post(run::run),
        ),
        r(
            Method::POST,
            "/api/v2/triggers/{trigger_id}/invoke",
            &[ExecuteHooks],
            post(run::invoke),
        ),
        r(
            Method::GET,
            "/api/v2/clients",
            &[ReadClients],
            get(clients::list),
        ),
        r(
            Method::POST,
            "/api/v2/clients",
            &[CreateClients],
            post(clients::create),
        ),
        r(
            Method::GET,
            "/api/v2/clients/{id}",
            &[ReadClients],
            get(clients::read),
        ),
        r(
            Method::POST,
            "/api/v2/clients/{id}/rotate-secret",
            &[UpdateClientKeys],
            post(extensions::rotate_client_secret),
        ),
        r(
            Method::DELETE,
            "/api/v2/clients/{id}",
            &[DeleteClients],
            delete(clients::remove),
        ),
        r(
            Method::GET,
            "/api/v2/client-grants",
            &[ReadClientGrants],
            get(grants::list),
        ),
        r(
            Method::POST,
            "/api/v2/client-grants",
            &[CreateClientGrants],
            post(grants::create),
        ),
        r(
            Method::DELETE,
            "/api/v2/client-grants/{id}",
            &[DeleteClientGrants],
            delete(grants::remove),
        ),
        r(
            Method::GET,
            "/api/v2/keys/status",
            &[UpdateKeys],
            get(extensions::keys_status),
        ),
        r(
            Method::POST,
            "/api/v2/keys/rewrap",
            &[UpdateKeys],
            post(extensions::keys_rewrap),
        ),
    ]
}

/// Routes that need no token: the token endpoint, key discovery and health.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/oauth/token", post(token::issue))
        .route("/.well-known/jwks.json", get(public::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(public::openid_configuration),
        )
        .route("/api/v2/openapi.json", get(public::openapi))
        .route("/healthz", get(public::healthz))
        .route("/readyz", get(public::readyz))
}

/// A JSON response with Auth0's content type.
pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    crate::error::json_response(status, body)
}

/// 201 with the body `{}`, exactly: go-auth0 skips decoding only that.
pub(crate) fn created_empty() -> Response {
    json(StatusCode::CREATED, &serde_json::json!({}))
}

pub(crate) fn no_content() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

/// Returns the result of a change, recording a failure audit event when it failed (a
/// successful change wrote its own event inside its transaction).
pub(crate) async fn audited<T>(
    state: &AppState,
    event: AuditEvent,
    result: Result<T, Error>,
) -> Result<T, ApiError> {
    crate::service::recorded(state, event, result)
        .await
        .map_err(ApiError::from)
}
