//! Hookhaven extensions to the Management API that change secrets and credentials. They
//! live on their own paths and answer with their own bodies (D7): Auth0's routes and
//! bodies are untouched.
//! - `PATCH /api/v2/hooks/{id}/secrets/{name}` with `{name?, value?}`: renames a secret
//!   and/or changes its value atomically (the Dashboard's Save).
//! - `POST /api/v2/clients/{id}/rotate-secret`: Auth0's route, scope `update:client_keys`.
//! - `GET /api/v2/keys/status` and `POST /api/v2/keys/rewrap` (scope `update:keys`): how
//!   many values each master key seals, and re-sealing them under the active key now.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use hookhaven_core::{AuditEvent, Error, HookId, SecretName, SecretValue, PLACEHOLDER};
use serde_json::json;

use super::clients::client_json;
use super::{audited, json};
use crate::app::RequestId;
use crate::auth::Caller;
use crate::body::{as_string, JsonBody, Violations};
use crate::error::ApiError;
use crate::service::{self, Actor};
use crate::state::AppState;

const NAME_DESC: &str = "The new name of the secret";
const VALUE_DESC: &str = "The new value of the secret";

/// The secret name in the path, with the API's validation message.
fn path_name(raw: &str) -> Result<SecretName, Error> {
    SecretName::parse(raw).map_err(|e| {
        Error::InvalidUri(format!(
            "Path validation error: '{}' on property name (Name of the secret).",
            e.message()
                .trim_start_matches("Payload validation error: '")
                .trim_end_matches("'.")
        ))
    })
}

pub async fn rename_secret(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path((id, name)): Path<(String, String)>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = HookId::parse(&id)?;
    let actor = Actor {
        id: &caller.client_id,
        request_id: Some(&request_id.0),
    };
    let parsed = async {
        let from = path_name(&name)?;
        let map = body.into_object("")?;
        let mut v = Violations::default();
        if map.is_empty() {
            v.push("Too few properties defined (0), minimum 1");
        }
        v.reject_unknown(&map, &["name", "value"]);
        let to = map
            .get("name")
            .and_then(|raw| as_string(raw, "name", NAME_DESC, &mut v))
            .and_then(|s| match SecretName::parse(s) {
                Ok(n) => Some(n),
                Err(e) => {
                    v.on(
                        e.message()
                            .trim_start_matches("Payload validation error: '")
                            .trim_end_matches("'."),
                        "name",
                        NAME_DESC,
                    );
                    None
                }
            });
        // Only the value's type is ever reported, never the value.
        let value = map
            .get("value")
            .and_then(|raw| as_string(raw, "value", VALUE_DESC, &mut v))
            .map(|s| SecretValue::new(s.to_string()));
        v.finish()?;
        let value = value.transpose()?.filter(|v| v.expose() != PLACEHOLDER);
        let to = to.unwrap_or_else(|| from.clone());
        Ok::<_, Error>((from, to, value))
    }
    .await;
    let (from, to, value) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let event =
                AuditEvent::success(actor.id, "secrets.rename", actor.request_id).hook(id.as_str());
            return Err(audited(&state, event, Err::<(), _>(e)).await.unwrap_err());
        }
    };
    service::rename_secret(&state, actor, &id, &from, &to, value.as_ref()).await?;
    Ok(json(
        StatusCode::OK,
        &json!({ "name": to.as_str(), "value": PLACEHOLDER }),
    ))
}

pub async fn rotate_client_secret(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let actor = Actor {
        id: &caller.client_id,
        request_id: Some(&request_id.0),
    };
    let secret = service::rotate_client_secret(&state, actor, &id).await?;
    let client = state.store.get_client(&id).await?;
    Ok(json(
        StatusCode::OK,
        &client_json(&client, Some(secret.as_str())),
    ))
}

/// The master keyring's ids and how many values each seals, and the signing keys' kids.
async fn key_status_json(state: &AppState) -> Result<serde_json::Value, ApiError> {
    let counts: std::collections::BTreeMap<String, u64> = state
        .store
        .count_sealed_by_key()
        .await?
        .into_iter()
        .collect();
    let keyring = state.keyring();
    let mut sealed = serde_json::Map::new();
    for id in keyring.key_ids() {
        sealed.insert(id.clone(), json!(counts.get(&id).copied().unwrap_or(0)));
    }
    for (id, n) in &counts {
        sealed.entry(id.clone()).or_insert(json!(n));
    }
    let remaining: u64 = counts
        .iter()
        .filter(|(id, _)| id.as_str() != keyring.active_id())
        .map(|(_, n)| n)
        .sum();
    // Values ever sealed under each key by every instance, as of their last flush.
    let mut seals = serde_json::Map::new();
    for id in keyring.key_ids() {
        seals.insert(id, json!(0));
    }
    for (id, n) in state.store.add_seal_counts(&[]).await? {
        seals.insert(id, json!(n));
    }
    let signing = state.signing();
    Ok(json!({
        "master_key": {
            "active": keyring.active_id(),
            "keys": keyring.key_ids(),
            "sealed_values": sealed,
            "remaining_under_old_keys": remaining,
            "seals": seals,
        },
        "signing_key": {
            "current": signing.current.kid(),
            "next": signing.next.as_ref().map(|k| k.kid().to_string()),
            "published": signing.kids(),
            "rotated_at": signing.rotated_at,
        },
    }))
}

pub async fn keys_status(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(json(StatusCode::OK, &key_status_json(&state).await?))
}

/// Starts re-sealing every value under an old master key with this instance's active
/// key, in the background (202); `GET /api/v2/keys/status` shows the progress.
pub async fn keys_rewrap(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let status = key_status_json(&state).await?;
    let actor = caller.client_id.clone();
    let task_state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = crate::rotation::rewrap(&task_state, &actor).await {
            tracing::warn!(error = %e, "re-sealing values (requested through the API) failed");
        }
    });
    Ok(json(StatusCode::ACCEPTED, &status))
}
