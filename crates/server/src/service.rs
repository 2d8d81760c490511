//! Operations shared by the Management API handlers and the Dashboard, so that both apply
//! one rule set (the core types' validation, save-time compilation, the store's
//! transactions) and write one audit trail. Each takes the acting identity: a client id
//! for the API, `admin:<email>` for the Dashboard.
//!
//! Every change is one store call that writes its audit event in its transaction; a
//! change that fails writes a `failure` event afterwards (see [`recorded`]).

use hookhaven_core::{
    AuditEvent, Error, Hook, HookId, HookName, HookPatch, Scope, SealedSecret, SecretName,
    SecretValue, TriggerId,
};
use hookhaven_crypto::{generate_client_secret, open_secret, seal_secret};
use hookhaven_runtime::sample_payload;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::execution::redact_json;
use crate::registry::{self, NewClient};
use crate::routes::run::{error_json, result_json};
use crate::state::AppState;

/// Who is acting, for the audit log.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub id: &'a str,
    pub request_id: Option<&'a str>,
}

impl Actor<'_> {
    fn event(&self, action: &str) -> AuditEvent {
        AuditEvent::success(self.id, action, self.request_id)
    }
}

/// Returns `result`, first recording `event` as failed when it is an error (a successful
/// change wrote its event inside its own transaction).
pub async fn recorded<T>(
    state: &AppState,
    event: AuditEvent,
    result: Result<T, Error>,
) -> Result<T, Error> {
    if let Err(e) = &result {
        let reason = e.error_code().unwrap_or("internal_error");
        if let Err(audit_error) = state.store.record_audit(&event.failed(reason)).await {
            tracing::error!(error = %audit_error, "could not record a failed change in the audit log");
        }
    }
    result
}

// ---- hooks ----

/// Creates a hook after compiling its script. Returns it and the hook it disabled (D2).
pub async fn create_hook(
    state: &AppState,
    actor: Actor<'_>,
    name: &str,
    trigger_id: TriggerId,
    script: String,
    enabled: bool,
) -> Result<(Hook, Option<HookId>), Error> {
    let hook_id = HookId::generate();
    let event = actor.event("hook.create").hook(hook_id.as_str());
    let result = async {
        let name = HookName::parse(name)?;
        state.executor.check_script(&script).await?;
        let hook = Hook {
            id: hook_id.clone(),
            name,
            script,
            dependencies: Default::default(),
            trigger_id,
            enabled,
        };
        let disabled = state.store.create_hook(&hook, &event).await?;
        Ok((hook, disabled))
    }
    .await;
    recorded(state, event, result).await
}

/// Applies a patch after compiling a new script. Returns the hook and the one it disabled.
pub async fn update_hook(
    state: &AppState,
    actor: Actor<'_>,
    id: &HookId,
    patch: HookPatch,
) -> Result<(Hook, Option<HookId>), Error> {
    let event = actor.event("hook.update").hook(id.as_str());
    let result = async {
        if let Some(script) = &patch.script {
            state.executor.check_script(script).await?;
        }
        state.store.update_hook(id, &patch, &event).await
    }
    .await;
    recorded(state, event, result).await
}

pub async fn delete_hook(state: &AppState, actor: Actor<'_>, id: &HookId) -> Result<(), Error> {
    let event = actor.event("hook.delete").hook(id.as_str());
    let result = state.store.delete_hook(id, &event).await;
    recorded(state, event, result).await
}

// ---- secrets ----

/// Seals a value for a hook and name; the placeholder means "no value" (D1). Fails with
/// `MasterKeyExhausted` (503) once the active master key is past its seal limit.
fn seal(
    state: &AppState,
    hook: &HookId,
    name: &SecretName,
    value: &SecretValue,
) -> Result<Option<SealedSecret>, Error> {
    if value.is_placeholder() {
        return Ok(None);
    }
    Ok(Some(seal_secret(
        &state.keyring(),
        hook.as_str(),
        name.as_str(),
        value,
    )?))
}

/// Adds one secret (`SecretExists`, `TooManySecrets` as for the API).
pub async fn add_secret(
    state: &AppState,
    actor: Actor<'_>,
    hook: &HookId,
    name: &SecretName,
    value: &SecretValue,
) -> Result<(), Error> {
    let event = actor
        .event("secrets.create")
        .hook(hook.as_str())
        .secrets([name.as_str()]);
    let sealed = match seal(state, hook, name, value) {
        Ok(sealed) => sealed,
        Err(e) => return recorded(state, event, Err(e)).await,
    };
    let result = state
        .store
        .add_secrets(hook, &[(name.clone(), sealed)], &event)
        .await;
    recorded(state, event, result).await
}

pub async fn delete_secret(
    state: &AppState,
    actor: Actor<'_>,
    hook: &HookId,
    name: &SecretName,
) -> Result<(), Error> {
    let event = actor
        .event("secrets.delete")
        .hook(hook.as_str())
        .secrets([name.as_str()]);
    let result = state
        .store
        .delete_secrets(hook, std::slice::from_ref(name), &event)
        .await;
    recorded(state, event, result).await
}

/// Renames the secret `from` to `to` and/or gives it a new value, in one transaction with
/// its audit event (the Hookhaven extension `PATCH /api/v2/hooks/{id}/secrets/{name}` and
/// the Dashboard's Save). `value = None` (or the placeholder, D1) keeps the current value:
/// it is opened under the old name and sealed again under the new one, since the name is
/// part of the associated data. Renaming onto an existing name is `SecretExists` and
/// changes nothing.
pub async fn rename_secret(
    state: &AppState,
    actor: Actor<'_>,
    hook: &HookId,
    from: &SecretName,
    to: &SecretName,
    value: Option<&SecretValue>,
) -> Result<(), Error> {
    let action = if from == to {
        "secrets.update"
    } else {
        "secrets.rename"
    };
    let event = actor
        .event(action)
        .hook(hook.as_str())
        .secrets(if from == to {
            vec![from.as_str()]
        } else {
            vec![from.as_str(), to.as_str()]
        });
    let new_value = match value.map(|v| seal(state, hook, to, v)).transpose() {
        Ok(sealed) => sealed.flatten(),
        Err(e) => return recorded(state, event, Err(e)).await,
    };
    let keyring = &state.keyring();
    let reseal = |current: Option<&SealedSecret>| -> Result<Option<SealedSecret>, Error> {
        if let Some(sealed) = &new_value {
            return Ok(Some(sealed.clone()));
        }
        let Some(current) = current else {
            return Ok(None);
        };
        if from == to {
            return Ok(Some(current.clone()));
        }
        let plain = open_secret(keyring, hook.as_str(), from.as_str(), current).map_err(|_| {
            Error::CorruptSecret {
                hook_id: hook.to_string(),
                name: from.to_string(),
            }
        })?;
        Ok(Some(seal_secret(
            keyring,
            hook.as_str(),
            to.as_str(),
            &plain,
        )?))
    };
    let result = state
        .store
        .rename_secret(hook, from, to, &reseal, &event)
        .await;
    recorded(state, event, result).await
}

// ---- the Runner ----

/// Runs a hook (its saved script, or `script` in its place) on `payload` (default: the
/// trigger's sample) with its secrets, and returns the Runner's answer:
/// `{result | error, logs, logs_truncated, duration_ms}`, with every secret value of the
/// hook replaced by `[REDACTED]`. The run is audited (`hook.run`) before the code runs.
pub async fn run_hook(
    state: &AppState,
    actor: Actor<'_>,
    id: &HookId,
    script: Option<String>,
    payload: Option<Value>,
) -> Result<Value, Error> {
    let event = actor.event("hook.run").hook(id.as_str());
    let prepared = async {
        let runnable = state.store.runnable_hook(id).await?;
        let payload = payload.unwrap_or_else(|| sample_payload(runnable.hook.trigger_id));
        let prepared = state
            .executor
            .prepare(&state.keyring(), &runnable, script, payload)
            .await?;
        // A run that exfiltrates is still on record: durably, before the code runs.
        state.group_audit.record(event.clone()).await?;
        Ok(prepared)
    }
    .await;
    // Failures before the run are audited; a hook's own failure is a successful run.
    let (invocation, secrets) = recorded(state, event, prepared).await?;
    let outcome = state.executor.invoke(invocation).await;
    let mut body = match &outcome.result {
        Ok(result) => json!({ "result": result_json(result) }),
        Err(e) => json!({ "error": error_json(e) }),
    };
    body["logs"] = json!(outcome.logs);
    body["logs_truncated"] = json!(outcome.logs_truncated);
    body["duration_ms"] = json!(outcome.duration.as_secs_f64() * 1000.0);
    redact_json(&mut body, &secrets);
    Ok(body)
}

// ---- clients ----

/// Creates a machine-to-machine client with a grant of `scopes` on this server's
/// Management API audience. The secret is in the result, once (D5).
pub async fn create_client(
    state: &AppState,
    actor: Actor<'_>,
    name: &str,
    description: &str,
    scopes: Vec<Scope>,
) -> Result<NewClient, Error> {
    let event = actor.event("client.create");
    let audience = state.config.audience();
    let result = registry::create_client(
        state.store.as_ref(),
        &state.secret_hasher,
        name,
        description,
        Some((&audience, scopes)),
        event.clone(),
    )
    .await;
    recorded(state, event, result).await
}

/// Gives a client a new secret; the old one stops working at once. Returns the new secret,
/// the only copy there is.
pub async fn rotate_client_secret(
    state: &AppState,
    actor: Actor<'_>,
    client_id: &str,
) -> Result<Zeroizing<String>, Error> {
    let event = actor.event("client.rotate_secret").target(client_id);
    let secret = generate_client_secret();
    let result = state
        .store
        .rotate_client_secret(client_id, &state.secret_hasher.hmac(&secret), &event)
        .await;
    recorded(state, event, result).await?;
    Ok(secret)
}

pub async fn delete_client(
    state: &AppState,
    actor: Actor<'_>,
    client_id: &str,
) -> Result<(), Error> {
    let event = actor.event("client.delete").target(client_id);
    let result = state.store.delete_client(client_id, &event).await;
    recorded(state, event, result).await
}
