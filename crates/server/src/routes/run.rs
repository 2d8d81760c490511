//! Hookhaven extensions that run hooks (D7: new paths, never new fields in Auth0's
//! bodies):
//! - `POST /api/v2/hooks/{id}/run`: the Runner. Runs a hook (or unsaved code in its place)
//!   with its secrets and a payload, and shows the result, the captured logs and the time.
//! - `POST /api/v2/triggers/{triggerId}/invoke`: runs the enabled hook of a trigger for
//!   another identity system, with Auth0's webtask body as the payload.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use hookhaven_core::{AuditEvent, Error, HookId, TriggerId};
use hookhaven_runtime::{is_background, HookError, Outcome, TriggerResult};
use serde_json::{json, Map, Value};

use super::{audited, json};
use crate::app::RequestId;
use crate::auth::Caller;
use crate::body::{as_string, unusable, JsonBody, Violations};
use crate::error::{envelope, ApiError};
use crate::service::{self, Actor};
use crate::state::AppState;

/// A successful result as JSON, in the shape the hook's caller would have seen.
pub fn result_json(result: &TriggerResult) -> Value {
    match result {
        TriggerResult::CredentialsExchange { scope, claims } => {
            let mut out = Map::new();
            if let Some(scope) = scope {
                out.insert("scope".into(), json!(scope));
            }
            out.extend(claims.clone());
            Value::Object(out)
        }
        TriggerResult::PreUserRegistration {
            user_metadata,
            app_metadata,
        } => {
            let mut user = Map::new();
            if let Some(m) = user_metadata {
                user.insert("user_metadata".into(), Value::Object(m.clone()));
            }
            if let Some(m) = app_metadata {
                user.insert("app_metadata".into(), Value::Object(m.clone()));
            }
            json!({ "user": user })
        }
        TriggerResult::Background => Value::Null,
        TriggerResult::SendPhoneMessage(v) => v.clone(),
    }
}

pub fn error_json(e: &HookError) -> Value {
    let mut out = json!({
        "name": e.name,
        "message": e.message,
        "code": e.code,
        "status": e.status,
    });
    if let Some(user_message) = e.user_message() {
        out["user_message"] = json!(user_message);
    }
    out
}

pub async fn run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = HookId::parse(&id)?;
    let actor = Actor {
        id: &caller.client_id,
        request_id: Some(&request_id.0),
    };
    let parsed = async {
        // An empty body runs the saved script on the trigger's sample payload.
        let map = match body.0 {
            Ok(None) => Map::new(),
            _ => body.into_object("")?,
        };
        let mut v = Violations::default();
        v.reject_unknown(&map, &["payload", "script"]);
        let script = map
            .get("script")
            .and_then(|s| {
                as_string(
                    s,
                    "script",
                    "Code to run instead of the saved script",
                    &mut v,
                )
            })
            .map(str::to_string);
        v.finish()?;
        Ok::<_, Error>((script, map.get("payload").cloned()))
    }
    .await;
    let event = AuditEvent::success(actor.id, "hook.run", actor.request_id).hook(id.as_str());
    let (script, payload) = match parsed {
        Ok(p) => p,
        Err(e) => return Err(audited(&state, event, Err::<(), _>(e)).await.unwrap_err()),
    };
    let body = service::run_hook(&state, actor, &id, script, payload).await?;
    Ok(json(StatusCode::OK, &body))
}

/// A hook's failure in the Management API envelope, with the hook's error code.
fn hook_failure(e: &HookError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = e.user_message().unwrap_or(&e.message);
    let mut body = envelope(status, message, Some(e.code));
    if e.user_message().is_some() {
        body["log_message"] = json!(e.message);
    }
    json(status, &body)
}

pub async fn invoke(
    State(state): State<AppState>,
    Path(trigger): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let trigger = TriggerId::parse(&trigger).ok_or_else(|| {
        Error::InvalidUri(format!(
            "Path validation error: 'No enum match for: \"{}\"' on property triggerId (one of {}).",
            trigger.chars().take(64).collect::<String>(),
            TriggerId::allowed_list()
        ))
    })?;
    let payload = match body.0 {
        Ok(v) => v.unwrap_or_else(|| Value::Object(Map::new())),
        Err(reason) => return Err(unusable(reason, "").into()),
    };
    let Some(runnable) = state.store.enabled_runnable_hook(trigger).await? else {
        let status = StatusCode::NOT_FOUND;
        return Ok(json(
            status,
            &envelope(
                status,
                &format!("No hook is enabled for {}", trigger.as_str()),
                Some("NoEnabledHook"),
            ),
        ));
    };
    // The result goes back to the identity system that asked, as the hook made it.
    let (invocation, _) = state
        .executor
        .prepare(&state.keyring(), &runnable, None, payload)
        .await?;
    let hook = &runnable.hook;
    if is_background(trigger) {
        // post-user-registration and post-change-password run after the fact; their
        // result is ignored and their failures are logged, as on Auth0.
        let handle = state.executor.runtime().spawn_background(invocation);
        let hook_id = hook.id.clone();
        tokio::spawn(async move {
            if let Ok(Outcome { result: Err(e), .. }) = handle.await {
                tracing::warn!(hook_id = %hook_id, error = %e, "background hook failed");
            }
        });
        return Ok(json(
            StatusCode::ACCEPTED,
            &json!({ "hook_id": hook.id.as_str() }),
        ));
    }
    let outcome = state.executor.invoke(invocation).await;
    match &outcome.result {
        Ok(result) => Ok(json(StatusCode::OK, &result_json(result))),
        Err(e) => {
            tracing::info!(hook_id = %hook.id, code = e.code, status = e.status, "hook refused the request");
            Ok(hook_failure(e))
        }
    }
}
