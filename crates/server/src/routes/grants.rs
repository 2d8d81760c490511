//! `/api/v2/client-grants`: which scopes a client may request on the Management API.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use hookhaven_core::{AuditEvent, ClientGrant, Error, Scope};
use hookhaven_store::GrantFilter;
use serde_json::{json, Value};

use super::query::{totals_envelope, Params};
use super::{audited, json, no_content};
use crate::app::RequestId;
use crate::auth::Caller;
use crate::body::{as_string, type_name, JsonBody, Violations};
use crate::error::ApiError;
use crate::state::AppState;

fn grant_json(grant: &ClientGrant) -> Value {
    json!({
        "id": grant.id,
        "client_id": grant.client_id,
        "audience": grant.audience,
        "scope": grant.scope.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    })
}

pub async fn list(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let params = Params::new(pairs);
    let page = params.page()?;
    let include_totals = params.bool("include_totals")?.unwrap_or(false);
    let filter = GrantFilter {
        client_id: params.get("client_id").map(str::to_string),
        audience: params.get("audience").map(str::to_string),
    };
    let (grants, total) = state.store.list_grants(&filter, page).await?;
    let items: Vec<Value> = grants.iter().map(grant_json).collect();
    let body = if include_totals {
        totals_envelope("client_grants", items, total, page)
    } else {
        Value::Array(items)
    };
    Ok(json(StatusCode::OK, &body))
}

pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let event = AuditEvent::success(
        &caller.client_id,
        "client_grant.create",
        Some(&request_id.0),
    );
    let result = async {
        let map = body.into_object("")?;
        let mut v = Violations::default();
        v.reject_unknown(&map, &["client_id", "audience", "scope"]);
        v.require(&map, &["client_id", "audience", "scope"]);
        let client_id = map
            .get("client_id")
            .and_then(|c| as_string(c, "client_id", "ID of the client", &mut v));
        let audience = map.get("audience").and_then(|a| {
            as_string(
                a,
                "audience",
                "The audience (API identifier) of this client grant",
                &mut v,
            )
        });
        let mut scopes = Vec::new();
        match map.get("scope") {
            None => {}
            Some(Value::Array(items)) => {
                for item in items {
                    match item.as_str().map(|s| (s, Scope::parse(s))) {
                        Some((_, Some(scope))) => {
                            if !scopes.contains(&scope) {
                                scopes.push(scope)
                            }
                        }
                        Some((raw, None)) => v.on(
                            format!(
                                "Unknown scope: {}",
                                raw.chars().take(64).collect::<String>()
                            ),
                            "scope",
                            "Scopes allowed for this client grant",
                        ),
                        None => v.on(
                            format!("Expected type string but found type {}", type_name(item)),
                            "scope",
                            "Scopes allowed for this client grant",
                        ),
                    }
                }
            }
            Some(other) => v.on(
                format!("Expected type array but found type {}", type_name(other)),
                "scope",
                "Scopes allowed for this client grant",
            ),
        }
        v.finish()?;
        let (Some(client_id), Some(audience)) = (client_id, audience) else {
            return Err(Error::internal("validated grant lost a field"));
        };
        // The Management API is the only API this server hosts.
        if !state
            .config
            .accepted_audiences()
            .iter()
            .any(|a| a == audience)
        {
            return Err(Error::ResourceServerNotFound(
                audience.chars().take(200).collect(),
            ));
        }
        let grant = ClientGrant {
            id: format!("cgr_{}", hookhaven_core::new_ulid().to_lowercase()),
            client_id: client_id.to_string(),
            audience: audience.to_string(),
            scope: scopes,
        };
        state
            .store
            .create_grant(&grant, &event.clone().target(&grant.id))
            .await?;
        Ok(grant)
    }
    .await;
    let grant = audited(&state, event, result).await?;
    Ok(json(StatusCode::CREATED, &grant_json(&grant)))
}

pub async fn remove(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(request_id): Extension<RequestId>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let event = AuditEvent::success(
        &caller.client_id,
        "client_grant.delete",
        Some(&request_id.0),
    )
    .target(&id);
    let result = state.store.delete_grant(&id, &event).await;
    audited(&state, event, result).await?;
    Ok(no_content())
}
