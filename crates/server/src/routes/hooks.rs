//! `/api/v2/hooks` and `/api/v2/hooks/{id}`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use hookhaven_core::{AuditEvent, Error, Hook, HookFilter, HookId, HookName, HookPatch, TriggerId};
use serde_json::{Map, Value};

use super::query::{on_property, totals_envelope, Params};
use super::{audited, json, no_content};
use crate::app::RequestId;
use crate::auth::Caller;
use crate::body::{as_bool, as_string, as_string_map, JsonBody, Violations};
use crate::error::ApiError;
use crate::state::AppState;

const FIELDS: [&str; 6] = [
    "id",
    "name",
    "script",
    "dependencies",
    "enabled",
    "triggerId",
];

/// Field order of a hook in a response. Auth0 orders GET-by-id differently from the
/// create and update responses; clients don't depend on it, but we match the wire.
#[derive(Clone, Copy)]
enum Order {
    Write,
    Read,
}

/// Which fields to show, from `fields` and `include_fields`.
struct Projection(Option<(Vec<String>, bool)>);

impl Projection {
    fn parse(params: &Params) -> Result<Projection, Error> {
        let include = params.bool("include_fields")?.unwrap_or(true);
        let Some(raw) = params.get("fields") else {
            return Ok(Projection(None));
        };
        let fields: Vec<String> = raw.split(',').map(str::to_string).collect();
        if fields.iter().any(|f| !FIELDS.contains(&f.as_str())) {
            return Err(on_property(
                &format!(
                    "String does not match pattern ^((id)|(name)|(script)|(dependencies)|(enabled)|(triggerId))(,((id)|(name)|(script)|(dependencies)|(enabled)|(triggerId)))*$: {}",
                    raw.chars().take(64).collect::<String>()
                ),
                "fields",
            ));
        }
        Ok(Projection(Some((fields, include))))
    }

    fn keeps(&self, field: &str) -> bool {
        match &self.0 {
            None => true,
            Some((fields, include)) => fields.iter().any(|f| f == field) == *include,
        }
    }
}

fn hook_json(hook: &Hook, order: Order, projection: &Projection) -> Value {
    let deps: Map<String, Value> = hook
        .dependencies
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut fields: Vec<(&str, Value)> = vec![
        ("id", hook.id.as_str().into()),
        ("name", hook.name.as_str().into()),
        ("script", hook.script.clone().into()),
        ("dependencies", Value::Object(deps)),
    ];
    match order {
        Order::Write => {
            fields.push(("triggerId", hook.trigger_id.as_str().into()));
            fields.push(("enabled", hook.enabled.into()));
        }
        Order::Read => {
            fields.push(("enabled", hook.enabled.into()));
            fields.push(("triggerId", hook.trigger_id.as_str().into()));
        }
    }
    Value::Object(
        fields
            .into_iter()
            .filter(|(k, _)| projection.keeps(k))
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

pub async fn list(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(pairs);
    let page = params.page()?;
    let include_totals = params.bool("include_totals")?.unwrap_or(false);
    let trigger_id = match params.get("triggerId") {
        None => None,
        Some(raw) => Some(TriggerId::parse(raw).ok_or_else(|| {
            on_property(
                &format!(
                    "No enum match for: \"{}\"",
                    raw.chars().take(64).collect::<String>()
                ),
                "triggerId",
            )
        })?),
    };
    let filter = HookFilter {
        enabled: params.bool("enabled")?,
        trigger_id,
    };
    let projection = Projection::parse(&params)?;
    let (hooks, total) = state.store.list_hooks(&filter, page).await?;
    let items: Vec<Value> = hooks
        .iter()
        .map(|h| hook_json(h, Order::Read, &projection))
        .collect();
    let body = if include_totals {
        totals_envelope("hooks", items, total, page)
    } else {
        Value::Array(items)
    };
    Ok(json(StatusCode::OK, &body))
}

pub async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let id = HookId::parse(&id)?;
    let projection = Projection::parse(&Params::new(pairs))?;
    let hook = state.store.get_hook(&id).await?;
    Ok(json(
        StatusCode::OK,
        &hook_json(&hook, Order::Read, &projection),
    ))
}

const NAME_DESC: &str = "Name of this hook";
const SCRIPT_DESC: &str = "Code to be executed when this hook runs";
const ENABLED_DESC: &str = "Whether this hook will be executed (true) or ignored (false)";
const DEPS_DESC: &str = "Dependencies of this hook used by webtask server";
const TRIGGER_DESC: &str = "Execution stage of this rule";

/// The checks shared by create and update, on the fields both accept.
struct CommonFields {
    name: Option<HookName>,
    script: Option<String>,
    enabled: Option<bool>,
    dependencies: Option<std::collections::BTreeMap<String, String>>,
}

fn common_fields(map: &Map<String, Value>, v: &mut Violations) -> CommonFields {
    let name = map.get("name").and_then(|raw| {
        let s = as_string(raw, "name", NAME_DESC, v)?;
        match HookName::parse(s) {
            Ok(name) => Some(name),
            Err(e) => {
                // HookName's message is already a full Auth0 text; keep just the detail.
                let m = e.message();
                let detail = m
                    .trim_start_matches("Payload validation error: '")
                    .trim_end_matches(").")
                    .to_string();
                v.push(detail);
                None
            }
        }
    });
    let script = map.get("script").and_then(|raw| {
        let s = as_string(raw, "script", SCRIPT_DESC, v)?;
        if s.is_empty() {
            v.on(
                "String is too short (0 chars), minimum 1",
                "script",
                SCRIPT_DESC,
            );
            return None;
        }
        Some(s.to_string())
    });
    let enabled = map
        .get("enabled")
        .and_then(|raw| as_bool(raw, "enabled", ENABLED_DESC, v));
    let dependencies = map
        .get("dependencies")
        .and_then(|raw| as_string_map(raw, "dependencies", DEPS_DESC, v));
    CommonFields {
        name,
        script,
        enabled,
        dependencies,
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let event = AuditEvent::success(&caller.client_id, "hook.create", Some(&request_id.0));
    let result = async {
        let map = body.into_object("")?;
        let mut v = Violations::default();
        v.reject_unknown(&map, &["name", "script", "triggerId", "enabled", "dependencies"]);
        v.require(&map, &["name", "script", "triggerId"]);
        let fields = common_fields(&map, &mut v);
        let trigger_id = map.get("triggerId").and_then(|raw| {
            let s = as_string(raw, "triggerId", TRIGGER_DESC, &mut v)?;
            let t = TriggerId::parse(s);
            if t.is_none() {
                v.on(
                    format!("No enum match for: \"{}\"", s.chars().take(64).collect::<String>()),
                    "triggerId",
                    TRIGGER_DESC,
                );
            }
            t
        });
        v.finish()?;
        let (Some(name), Some(script), Some(trigger_id)) = (fields.name, fields.script, trigger_id)
        else {
            return Err(Error::internal("validated hook lost a required field"));
        };
        // A script that does not compile is refused now, not at its first invocation.
        state.executor.check_script(&script).await?;
        let hook = Hook {
            id: HookId::generate(),
            name,
            script,
            dependencies: fields.dependencies.unwrap_or_default(),
            trigger_id,
            enabled: fields.enabled.unwrap_or(false),
        };
        let event = event.clone().hook(hook.id.as_str());
        if let Some(disabled) = state.store.create_hook(&hook, &event).await? {
            tracing::info!(hook_id = %hook.id, disabled = %disabled, "enabling a hook disabled the previous one on its trigger");
        }
        Ok(hook)
    }
    .await;
    let hook = audited(&state, event, result).await?;
    Ok(json(
        StatusCode::CREATED,
        &hook_json(&hook, Order::Write, &Projection(None)),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = HookId::parse(&id)?;
    let event = AuditEvent::success(&caller.client_id, "hook.update", Some(&request_id.0))
        .hook(id.as_str());
    let result = async {
        let map = body.into_object("")?;
        let mut v = Violations::default();
        if map.is_empty() {
            v.push("Too few properties defined (0), minimum 1");
        }
        v.reject_unknown(&map, &["name", "script", "enabled", "dependencies"]);
        let fields = common_fields(&map, &mut v);
        v.finish()?;
        if let Some(script) = &fields.script {
            state.executor.check_script(script).await?;
        }
        let patch = HookPatch {
            name: fields.name,
            script: fields.script,
            dependencies: fields.dependencies,
            enabled: fields.enabled,
        };
        let (hook, disabled) = state.store.update_hook(&id, &patch, &event).await?;
        if let Some(disabled) = disabled {
            tracing::info!(hook_id = %id, disabled = %disabled, "enabling a hook disabled the previous one on its trigger");
        }
        Ok(hook)
    }
    .await;
    let hook = audited(&state, event, result).await?;
    Ok(json(
        StatusCode::OK,
        &hook_json(&hook, Order::Write, &Projection(None)),
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = HookId::parse(&id)?;
    let event = AuditEvent::success(&caller.client_id, "hook.delete", Some(&request_id.0))
        .hook(id.as_str());
    let result = state.store.delete_hook(&id, &event).await;
    audited(&state, event, result).await?;
    Ok(no_content())
}
