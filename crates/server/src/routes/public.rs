//! Key discovery and health: no token needed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::json;
use crate::state::AppState;

pub async fn jwks(State(state): State<AppState>) -> Response {
    json(StatusCode::OK, &state.signing().jwks.to_json())
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    let issuer = state.config.issuer();
    json(
        StatusCode::OK,
        &json!({
            "issuer": issuer,
            "token_endpoint": format!("{issuer}oauth/token"),
            "jwks_uri": format!("{issuer}.well-known/jwks.json"),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "response_types_supported": ["token"],
            "scopes_supported": hookhaven_core::ALL_SCOPES.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "id_token_signing_alg_values_supported": ["RS256"],
        }),
    )
}

/// The process is up.
pub async fn healthz() -> Response {
    json(StatusCode::OK, &json!({ "status": "ok" }))
}

/// The database answers and the keys are loaded (they are, or the server would not have
/// started).
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => json(StatusCode::OK, &json!({ "status": "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            json(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({ "status": "unavailable", "reason": "database unreachable" }),
            )
        }
    }
}

/// The OpenAPI 3.1 document, built from the route table (see `crate::openapi`).
pub async fn openapi(State(state): State<AppState>) -> Response {
    crate::error::json_response(
        axum::http::StatusCode::OK,
        &crate::openapi::document(&state.config.domain),
    )
}
