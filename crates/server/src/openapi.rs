//! The OpenAPI 3.1 document served at `GET /api/v2/openapi.json`. It is built from the
//! route table [`routes::api_routes`] — paths, methods and scopes come from the same
//! entries the router is built from — and from [`operation`], which gives each route its
//! request and response schemas. A route without an entry there fails the unit test
//! below, so the document cannot drift from the router.

use axum::http::Method;
use serde_json::{json, Map, Value};

use crate::routes;

/// What the document says about one route besides its path, method and scopes.
pub struct Operation {
    pub summary: &'static str,
    /// The JSON request body's schema, when the route takes one.
    pub request: Option<Value>,
    /// The success status and its body's schema (`None` for no body).
    pub success: (u16, Option<Value>),
}

fn string() -> Value {
    json!({"type": "string"})
}

fn envelope() -> Value {
    json!({"$ref": "#/components/schemas/Error"})
}

fn hook() -> Value {
    json!({"$ref": "#/components/schemas/Hook"})
}

fn client() -> Value {
    json!({"$ref": "#/components/schemas/Client"})
}

fn grant() -> Value {
    json!({"$ref": "#/components/schemas/ClientGrant"})
}

/// A list answer: an array, or with `include_totals` a page object holding it under `key`.
fn listing(item: Value, key: &str) -> Value {
    json!({"oneOf": [
        {"type": "array", "items": item},
        {"type": "object", "required": [key], "properties": {
            "total": {"type": "integer"}, "start": {"type": "integer"},
            "limit": {"type": "integer"}, key: {"type": "array", "items": item}
        }}
    ]})
}

fn secrets_map() -> Value {
    json!({"type": "object", "additionalProperties": {"type": "string"}})
}

/// The request and response schemas of the route `(method, path)`.
pub fn operation(method: &Method, path: &str) -> Option<Operation> {
    let op = |summary, request, success| {
        Some(Operation {
            summary,
            request,
            success,
        })
    };
    let hook_write = json!({"type": "object", "properties": {
        "name": string(), "script": string(), "enabled": {"type": "boolean"},
        "triggerId": {"type": "string", "enum": [
            "credentials-exchange", "pre-user-registration", "post-user-registration",
            "post-change-password", "send-phone-message"]},
        "dependencies": {"type": "object", "additionalProperties": {"type": "string"}}
    }});
    let mut hook_create = hook_write.clone();
    hook_create["required"] = json!(["name", "script", "triggerId"]);
    match (method.as_str(), path) {
        ("GET", "/api/v2/hooks") => op("List hooks", None, (200, Some(listing(hook(), "hooks")))),
        ("POST", "/api/v2/hooks") => op("Create a hook", Some(hook_create), (201, Some(hook()))),
        ("GET", "/api/v2/hooks/{id}") => op("Get a hook", None, (200, Some(hook()))),
        ("PATCH", "/api/v2/hooks/{id}") => {
            op("Update a hook", Some(hook_write), (200, Some(hook())))
        }
        ("DELETE", "/api/v2/hooks/{id}") => op("Delete a hook", None, (204, None)),
        ("GET", "/api/v2/hooks/{id}/secrets") => op(
            "Get a hook's secrets (values are never shown)",
            None,
            (200, Some(secrets_map())),
        ),
        ("POST", "/api/v2/hooks/{id}/secrets") => op(
            "Add secrets to a hook",
            Some(secrets_map()),
            (201, Some(json!({"type": "object"}))),
        ),
        ("PATCH", "/api/v2/hooks/{id}/secrets") => op(
            "Update a hook's secrets",
            Some(secrets_map()),
            (201, Some(json!({"type": "object"}))),
        ),
        ("DELETE", "/api/v2/hooks/{id}/secrets") => op(
            "Delete secrets of a hook",
            Some(json!({"type": "array", "items": string()})),
            (204, None),
        ),
        ("GET", "/api/v2/hooks/{id}/secret-status") => op(
            "Extension: which secrets hold a value (never the values)",
            None,
            (
                200,
                Some(json!({"type": "object", "additionalProperties": {
                    "type": "object", "properties": {"set": {"type": "boolean"}}, "required": ["set"]}})),
            ),
        ),
        ("PATCH", "/api/v2/hooks/{id}/secrets/{name}") => op(
            "Extension: rename a secret and/or replace its value",
            Some(json!({"type": "object", "properties": {"name": string(), "value": string()}})),
            (
                200,
                Some(
                    json!({"type": "object", "properties": {"name": string(), "value": string()}}),
                ),
            ),
        ),
        ("POST", "/api/v2/hooks/{id}/run") => op(
            "Extension: run a hook (the Runner)",
            Some(json!({"type": "object", "properties": {"payload": {}, "script": string()}})),
            (
                200,
                Some(json!({"type": "object", "properties": {
                    "result": {}, "error": {"type": "object"},
                    "logs": {"type": "array"}, "logs_truncated": {"type": "boolean"},
                    "duration_ms": {"type": "number"}
                }})),
            ),
        ),
        ("POST", "/api/v2/triggers/{trigger_id}/invoke") => op(
            "Extension: invoke the enabled hook of a trigger",
            Some(json!({})),
            (200, Some(json!({}))),
        ),
        ("GET", "/api/v2/clients") => op(
            "List clients",
            None,
            (200, Some(listing(client(), "clients"))),
        ),
        ("POST", "/api/v2/clients") => op(
            "Create a client (its secret is shown once)",
            Some(
                json!({"type": "object", "required": ["name"], "properties": {
                    "name": string(), "description": string(), "app_type": string()
                }}),
            ),
            (201, Some(client())),
        ),
        ("GET", "/api/v2/clients/{id}") => op("Get a client", None, (200, Some(client()))),
        ("POST", "/api/v2/clients/{id}/rotate-secret") => op(
            "Rotate a client's secret (the new one is shown once)",
            None,
            (200, Some(client())),
        ),
        ("DELETE", "/api/v2/clients/{id}") => op("Delete a client", None, (204, None)),
        ("GET", "/api/v2/keys/status") => op(
            "Master-key and signing-key status: values sealed under each master key id",
            None,
            (200, Some(json!({"type": "object"}))),
        ),
        ("POST", "/api/v2/keys/rewrap") => op(
            "Start re-sealing values under the active master key (in the background)",
            None,
            (202, Some(json!({"type": "object"}))),
        ),
        ("GET", "/api/v2/client-grants") => op(
            "List client grants",
            None,
            (200, Some(listing(grant(), "client_grants"))),
        ),
        ("POST", "/api/v2/client-grants") => op(
            "Create a client grant",
            Some(
                json!({"type": "object", "required": ["client_id", "audience", "scope"], "properties": {
                    "client_id": string(), "audience": string(),
                    "scope": {"type": "array", "items": string()}
                }}),
            ),
            (201, Some(grant())),
        ),
        ("DELETE", "/api/v2/client-grants/{id}") => op("Delete a client grant", None, (204, None)),
        _ => None,
    }
}

/// Query parameters of the list routes.
fn query_parameters(method: &Method, path: &str) -> Vec<Value> {
    if method != Method::GET || path.contains('{') {
        return Vec::new();
    }
    let q = |name: &str, schema: Value| json!({"name": name, "in": "query", "required": false, "schema": schema});
    let mut params = vec![
        q("page", json!({"type": "integer", "minimum": 0})),
        q(
            "per_page",
            json!({"type": "integer", "minimum": 1, "maximum": 100}),
        ),
        q("include_totals", json!({"type": "boolean"})),
    ];
    if path == "/api/v2/hooks" {
        params.push(q("enabled", json!({"type": "boolean"})));
        params.push(q("triggerId", string()));
        params.push(q("fields", string()));
        params.push(q("include_fields", json!({"type": "boolean"})));
    }
    params
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": string()}))
        .collect()
}

fn error_responses(responses: &mut Map<String, Value>) {
    let content = json!({"application/json": {"schema": envelope()}});
    for (code, description) in [
        ("400", "Invalid request (Auth0 envelope)"),
        ("401", "Missing or invalid token"),
        ("403", "Insufficient scope"),
        ("404", "Not found"),
        ("409", "Conflict"),
        ("413", "Body over the configured limit"),
        ("429", "Rate limit reached"),
        ("431", "Request headers over the configured limit"),
        ("503", "Unavailable or request timeout"),
    ] {
        responses.insert(
            code.to_string(),
            json!({"description": description, "content": content}),
        );
    }
    responses.insert(
        "default".to_string(),
        json!({"description": "Any other failure, in the Auth0 envelope", "content": content}),
    );
}

/// The whole document, for a server whose issuer domain is `domain`.
pub fn document(domain: &str) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in routes::api_routes() {
        let Some(doc) = operation(&route.method, route.path) else {
            // Unreachable while the unit test passes; left out rather than guessed.
            continue;
        };
        let mut responses = Map::new();
        let (status, schema) = doc.success;
        responses.insert(
            status.to_string(),
            match schema {
                Some(schema) => json!({"description": "Success",
                    "content": {"application/json": {"schema": schema}}}),
                None => json!({"description": "Success, no body"}),
            },
        );
        error_responses(&mut responses);
        let scopes: Vec<&str> = route.scopes.iter().map(|s| s.as_str()).collect();
        let mut operation = json!({
            "summary": doc.summary,
            "operationId": operation_id(&route.method, route.path),
            "description": format!("Any one of these scopes opens it: {}.", scopes.join(", ")),
            // Any one scope opens the route: one requirement object per scope.
            "security": scopes.iter().map(|s| json!({"bearer": [s]})).collect::<Vec<_>>(),
            "responses": responses,
        });
        let mut parameters = path_parameters(route.path);
        parameters.extend(query_parameters(&route.method, route.path));
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        if let Some(schema) = doc.request {
            operation["requestBody"] = json!({"required": false,
                "content": {"application/json": {"schema": schema}}});
        }
        let entry = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        entry[route.method.as_str().to_ascii_lowercase()] = operation;
    }
    let mut token_responses = Map::new();
    token_responses.insert(
        "200".into(),
        json!({"description": "An access token", "content": {"application/json": {"schema": {
            "type": "object", "required": ["access_token", "token_type", "expires_in"],
            "properties": {"access_token": string(), "scope": string(),
                "expires_in": {"type": "integer"}, "token_type": string()}}}}}),
    );
    let oauth_error = json!({"type": "object", "required": ["error"], "properties": {
        "error": string(), "error_description": string()}});
    for code in ["400", "401", "403"] {
        token_responses.insert(
            code.into(),
            json!({"description": "OAuth error", "content": {"application/json": {"schema": oauth_error}}}),
        );
    }
    for code in ["413", "429", "431", "503"] {
        token_responses.insert(
            code.into(),
            json!({"description": "Refused at the edge", "content": {"application/json": {"schema": envelope()}}}),
        );
    }
    token_responses.insert(
        "default".into(),
        json!({"description": "Other failure", "content": {"application/json": {"schema": {
            "oneOf": [oauth_error, envelope()]}}}}),
    );
    paths.insert(
        "/oauth/token".into(),
        json!({"post": {
            "summary": "Client-credentials token",
            "operationId": "post_oauth_token",
            "security": [],
            "requestBody": {"required": true, "content": {
                "application/x-www-form-urlencoded": {"schema": {"type": "object",
                    "properties": {"grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "client_id": string(), "client_secret": string(),
                        "audience": string(), "scope": string()}}},
                "application/json": {"schema": {"type": "object"}}}},
            "responses": token_responses,
        }}),
    );
    paths.insert(
        "/api/v2/openapi.json".into(),
        json!({"get": {"summary": "This document", "operationId": "get_openapi",
            "security": [],
            "responses": {"200": {"description": "OpenAPI 3.1",
                "content": {"application/json": {"schema": {"type": "object"}}}}}}}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Hookhaven Management API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Auth0's Management API v2 for hooks, hook secrets, clients and client grants, with Hookhaven's extensions. Generated from the server's route table.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {
                "type": "oauth2",
                "flows": {"clientCredentials": {
                    "tokenUrl": format!("https://{domain}/oauth/token"),
                    "scopes": hookhaven_core::scope::ALL_SCOPES.iter().map(|s| (s.as_str().to_string(), json!(s.as_str()))).collect::<Map<_, _>>(),
                }},
            }},
            "schemas": {
                "Error": {"type": "object", "required": ["statusCode", "error", "message"],
                    "properties": {"statusCode": {"type": "integer"}, "error": string(),
                        "message": string(), "errorCode": string(), "attributes": {"type": "object"}}},
                "Hook": {"type": "object", "properties": {
                    "id": string(), "name": string(), "script": string(),
                    "triggerId": string(), "enabled": {"type": "boolean"},
                    "dependencies": {"type": "object"}}},
                "Client": {"type": "object", "properties": {
                    "client_id": string(), "name": string(), "description": string(),
                    "client_secret": string(), "app_type": string()}},
                "ClientGrant": {"type": "object", "properties": {
                    "id": string(), "client_id": string(), "audience": string(),
                    "scope": {"type": "array", "items": string()}}},
            },
        },
    })
}

fn operation_id(method: &Method, path: &str) -> String {
    let mut id = method.as_str().to_ascii_lowercase();
    for seg in path.trim_start_matches("/api/v2/").split('/') {
        id.push('_');
        id.extend(seg.chars().filter(|c| !matches!(c, '{' | '}')).map(|c| {
            if c.is_ascii_alphanumeric() {
                c
            } else {
                '_'
            }
        }));
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_has_schemas_and_appears_in_the_document() {
        let doc = document("localhost");
        for route in routes::api_routes() {
            assert!(
                operation(&route.method, route.path).is_some(),
                "{} {} has no entry in openapi::operation",
                route.method,
                route.path
            );
            let op = &doc["paths"][route.path][route.method.as_str().to_ascii_lowercase()];
            assert!(op.is_object(), "{} {} missing", route.method, route.path);
            let security = op["security"].as_array().unwrap();
            assert_eq!(security.len(), route.scopes.len());
            for scope in route.scopes {
                assert!(security.contains(&json!({"bearer": [scope.as_str()]})));
            }
            assert!(op["responses"]["401"].is_object());
            assert!(op["responses"]["403"].is_object());
        }
        assert!(doc["paths"]["/oauth/token"]["post"].is_object());
        assert_eq!(doc["openapi"], "3.1.0");
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut ids: Vec<String> = routes::api_routes()
            .iter()
            .map(|r| operation_id(&r.method, r.path))
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n);
    }
}
