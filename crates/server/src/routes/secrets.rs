//! `/api/v2/hooks/{id}/secrets`. Values are sealed before they reach the store and never
//! come back out of this API: every read shows the placeholder.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use hookhaven_core::{
    AuditEvent, Error, HookId, SealedSecret, SecretName, SecretValue, MAX_SECRETS_PER_HOOK,
    PLACEHOLDER,
};
use hookhaven_crypto::seal_secret;
use serde_json::{Map, Value};

use super::{audited, created_empty, json, no_content};
use crate::app::RequestId;
use crate::auth::Caller;
use crate::body::{type_name, JsonBody, Violations};
use crate::error::ApiError;
use crate::state::AppState;

/// Appended to body errors: Auth0's docs print `{ [ "K", "V" ] }`, which is not JSON, and
/// whoever pasted it needs to see the shape that works.
const OBJECT_HINT: &str = " The body must be a JSON object of secret names to values, e.g. {\"HOOK_SECRET_KEY\": \"HOOK_SECRET_VALUE\"}.";
const ARRAY_HINT: &str =
    " The body must be a JSON array of secret names, e.g. [\"HOOK_SECRET_KEY\"].";

pub async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = HookId::parse(&id)?;
    let secrets = state.store.list_secrets(&id).await?;
    let body: Map<String, Value> = secrets
        .into_iter()
        .map(|s| {
            (
                s.name.as_str().to_string(),
                Value::String(PLACEHOLDER.into()),
            )
        })
        .collect();
    Ok(json(StatusCode::OK, &Value::Object(body)))
}

/// `GET /api/v2/hooks/{id}/secret-status` (Hookhaven extension, D7): for each secret,
/// whether it holds a value. Auth0's read shows the placeholder for every secret, so a
/// deploy pipeline could not otherwise tell which secrets still need filling (D1).
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = HookId::parse(&id)?;
    let secrets = state.store.list_secrets(&id).await?;
    let body: Map<String, Value> = secrets
        .into_iter()
        .map(|s| {
            (
                s.name.as_str().to_string(),
                serde_json::json!({ "set": s.is_set }),
            )
        })
        .collect();
    Ok(json(StatusCode::OK, &Value::Object(body)))
}

/// Validates a `{name: value}` body and seals each value for `hook`. The placeholder
/// becomes `None` (D1): on add, a secret without a value; on update, "keep".
fn seal_body(
    state: &AppState,
    hook: &HookId,
    body: JsonBody,
) -> Result<Vec<(SecretName, Option<SealedSecret>)>, Error> {
    let map = body.into_object(OBJECT_HINT)?;
    let mut v = Violations::default();
    if map.is_empty() {
        v.push("Too few properties defined (0), minimum 1");
    }
    if map.len() > MAX_SECRETS_PER_HOOK {
        v.push(format!(
            "Too many properties defined ({}), maximum {MAX_SECRETS_PER_HOOK}",
            map.len()
        ));
    }
    let mut out = Vec::with_capacity(map.len());
    for (name, value) in map {
        let name = match SecretName::parse(&name) {
            Ok(n) => n,
            Err(e) => {
                v.push(
                    e.message()
                        .trim_start_matches("Payload validation error: '")
                        .trim_end_matches("'."),
                );
                continue;
            }
        };
        let Value::String(value) = value else {
            // Only the type is reported: a mistyped value may still be sensitive.
            v.on(
                format!("Expected type string but found type {}", type_name(&value)),
                name.as_str(),
                "value of the secret",
            );
            continue;
        };
        let value = SecretValue::new(value)?;
        let sealed = if value.is_placeholder() {
            None
        } else {
            Some(seal_secret(
                &state.keyring(),
                hook.as_str(),
                name.as_str(),
                &value,
            )?)
        };
        out.push((name, sealed));
    }
    v.finish()?;
    Ok(out)
}

fn names(entries: &[(SecretName, Option<SealedSecret>)]) -> impl Iterator<Item = &str> {
    entries.iter().map(|(n, _)| n.as_str())
}

/// POST adds new secrets; PATCH updates existing ones. Both take the same body and
/// answer the same `201 {}`.
#[derive(Clone, Copy)]
enum Write {
    Add,
    Update,
}

async fn write(
    state: AppState,
    caller: Caller,
    request_id: RequestId,
    id: String,
    body: JsonBody,
    kind: Write,
) -> Result<Response, ApiError> {
    let id = HookId::parse(&id)?;
    let action = match kind {
        Write::Add => "secrets.create",
        Write::Update => "secrets.update",
    };
    let event =
        AuditEvent::success(&caller.client_id, action, Some(&request_id.0)).hook(id.as_str());
    let mut failed_event = event.clone();
    let result = async {
        let entries = seal_body(&state, &id, body)?;
        let event = event.clone().secrets(names(&entries));
        failed_event = event.clone();
        match kind {
            Write::Add => state.store.add_secrets(&id, &entries, &event).await,
            Write::Update => state.store.update_secrets(&id, &entries, &event).await,
        }
    }
    .await;
    audited(&state, failed_event, result).await?;
    Ok(created_empty())
}

pub async fn add(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    write(state, caller, request_id, id, body, Write::Add).await
}

pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    write(state, caller, request_id, id, body, Write::Update).await
}

pub async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = HookId::parse(&id)?;
    let event = AuditEvent::success(&caller.client_id, "secrets.delete", Some(&request_id.0))
        .hook(id.as_str());
    let mut failed_event = event.clone();
    let result = async {
        let items = body.into_array(ARRAY_HINT)?;
        let mut v = Violations::default();
        if items.is_empty() {
            v.push("Array is too short (0), minimum 1");
        }
        let mut names = Vec::with_capacity(items.len());
        for item in &items {
            match item {
                Value::String(s) => match SecretName::parse(s) {
                    Ok(n) => names.push(n),
                    Err(e) => v.push(
                        e.message()
                            .trim_start_matches("Payload validation error: '")
                            .trim_end_matches("'."),
                    ),
                },
                other => v.push(format!(
                    "Expected type string but found type {}",
                    type_name(other)
                )),
            }
        }
        v.finish()?;
        let event = event.clone().secrets(names.iter().map(SecretName::as_str));
        failed_event = event.clone();
        state.store.delete_secrets(&id, &names, &event).await
    }
    .await;
    audited(&state, failed_event, result).await?;
    Ok(no_content())
}
