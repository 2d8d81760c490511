//! `/api/v2/clients`: machine-to-machine applications. A client secret appears in the
//! create response only; it is stored as an HMAC and cannot be read back (D5).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use hookhaven_core::{AuditEvent, Client, Error};
use serde_json::{json, Value};

use super::query::{totals_envelope, Params};
use super::{audited, json, no_content};
use crate::app::RequestId;
use crate::auth::Caller;
use crate::body::{as_bool, as_string, type_name, JsonBody, Violations};
use crate::error::ApiError;
use crate::registry;
use crate::state::AppState;

pub(super) fn client_json(client: &Client, secret: Option<&str>) -> Value {
    let mut body = json!({
        "client_id": client.client_id,
        "name": client.name,
        "description": client.description,
    });
    if let Some(secret) = secret {
        body["client_secret"] = json!(secret);
    }
    let fixed = json!({
        "app_type": "non_interactive",
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_post",
        "is_first_party": true,
        "global": false,
    });
    if let (Value::Object(b), Value::Object(f)) = (&mut body, fixed) {
        b.extend(f);
    }
    body
}

pub async fn list(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(pairs);
    let page = params.page()?;
    let include_totals = params.bool("include_totals")?.unwrap_or(false);
    // deploy-cli asks for `is_global=true` to find the tenant's global client; there is
    // none here, so that filter matches nothing.
    let only_global = params.bool("is_global")?.unwrap_or(false);
    let (clients, total) = if only_global {
        (Vec::new(), 0)
    } else {
        state.store.list_clients(page).await?
    };
    let items: Vec<Value> = clients.iter().map(|c| client_json(c, None)).collect();
    let body = if include_totals {
        totals_envelope("clients", items, total, page)
    } else {
        Value::Array(items)
    };
    Ok(json(StatusCode::OK, &body))
}

pub async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let client = state.store.get_client(&id).await?;
    Ok(json(StatusCode::OK, &client_json(&client, None)))
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let event = AuditEvent::success(&caller.client_id, "client.create", Some(&request_id.0));
    let result = async {
        let map = body.into_object("")?;
        let mut v = Violations::default();
        v.reject_unknown(
            &map,
            &[
                "name",
                "description",
                "app_type",
                "grant_types",
                "token_endpoint_auth_method",
                "is_first_party",
            ],
        );
        v.require(&map, &["name"]);
        let name = map
            .get("name")
            .and_then(|n| as_string(n, "name", "The name of the client", &mut v));
        let description = map
            .get("description")
            .and_then(|d| as_string(d, "description", "Free text description", &mut v))
            .unwrap_or("");
        if let Some(app_type) = map.get("app_type") {
            if app_type != "non_interactive" {
                v.on("Only non_interactive clients are supported", "app_type", "The type of application");
            }
        }
        if let Some(grants) = map.get("grant_types") {
            let ok = matches!(grants, Value::Array(items) if items.iter().all(|g| g == "client_credentials"));
            if !ok {
                v.on(
                    format!("Only client_credentials is supported (found type {})", type_name(grants)),
                    "grant_types",
                    "Grant types",
                );
            }
        }
        if let Some(method) = map.get("token_endpoint_auth_method") {
            if method != "client_secret_post" && method != "client_secret_basic" {
                v.on(
                    "Only client_secret_post and client_secret_basic are supported",
                    "token_endpoint_auth_method",
                    "Authentication method for the token endpoint",
                );
            }
        }
        if let Some(fp) = map.get("is_first_party") {
            as_bool(fp, "is_first_party", "Whether this is a first-party client", &mut v);
        }
        v.finish()?;
        let name = name.ok_or_else(|| Error::internal("validated client lost its name"))?;
        registry::create_client(
            state.store.as_ref(),
            &state.secret_hasher,
            name,
            description,
            None,
            event.clone(),
        )
        .await
    }
    .await;
    let created = audited(&state, event, result).await?;
    Ok(json(
        StatusCode::CREATED,
        &client_json(&created.client, Some(created.secret.as_str())),
    ))
}

pub async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let event =
        AuditEvent::success(&caller.client_id, "client.delete", Some(&request_id.0)).target(&id);
    let result = state.store.delete_client(&id, &event).await;
    audited(&state, event, result).await?;
    Ok(no_content())
}
