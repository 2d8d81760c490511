//! `POST /oauth/token`: the client-credentials grant. Clients send form bodies (node v4+,
//! python v5+, go), JSON bodies (node v3, python v4), or HTTP Basic credentials (go's
//! x/oauth2 tries Basic first), so all three are read.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hookhaven_core::Scope;
use hookhaven_core::TriggerId;
use hookhaven_crypto::{sign_access_token_with, AccessClaims};
use hookhaven_runtime::TriggerResult;
use hookhaven_store::GrantFilter;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::error::OAuthError;
use crate::state::AppState;

/// The parameters of a token request. The secret is wiped when this is dropped.
#[derive(Default)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Zeroizing<String>>,
    audience: Option<String>,
    scope: Option<String>,
    client_assertion: bool,
}

impl TokenRequest {
    fn has_nul(&self) -> bool {
        [
            &self.grant_type,
            &self.client_id,
            &self.audience,
            &self.scope,
        ]
        .into_iter()
        .flatten()
        .any(|v| v.contains('\0'))
            || self
                .client_secret
                .as_ref()
                .is_some_and(|s| s.contains('\0'))
    }

    fn set(&mut self, key: &str, value: String) {
        match key {
            "grant_type" => self.grant_type = Some(value),
            "client_id" => self.client_id = Some(value),
            "client_secret" => self.client_secret = Some(Zeroizing::new(value)),
            "audience" => self.audience = Some(value),
            "scope" => self.scope = Some(value),
            "client_assertion" => self.client_assertion = true,
            // `organization`, `client_assertion_type` and anything else: ignored.
            _ => {}
        }
    }
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let looks_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let mut request = TokenRequest::default();
    if content_type.starts_with("application/json") || (content_type.is_empty() && looks_json) {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
            return Err(OAuthError::invalid_request(
                "Invalid request payload JSON format",
            ));
        };
        for (key, value) in map {
            match value {
                Value::String(s) => request.set(&key, s),
                // python v4 sends `"organization": null`.
                Value::Null => {}
                _ => {
                    return Err(OAuthError::invalid_request(format!(
                        "Parameter {} must be a string",
                        key.chars().take(64).collect::<String>()
                    )))
                }
            }
        }
    } else {
        let pairs: Vec<(String, String)> = serde_urlencoded_pairs(body)?;
        for (key, value) in pairs {
            request.set(&key, value);
        }
    }
    Ok(request)
}

fn serde_urlencoded_pairs(body: &[u8]) -> Result<Vec<(String, String)>, OAuthError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| OAuthError::invalid_request("The request body is not valid UTF-8"))?;
    let mut pairs = Vec::new();
    for part in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (Some(k), Some(v)) = (percent_decode(k), percent_decode(v)) else {
            return Err(OAuthError::invalid_request("Malformed form-encoded body"));
        };
        pairs.push((k, v));
    }
    Ok(pairs)
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// HTTP Basic client authentication (RFC 6749 §2.3.1: both parts form-encoded).
fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, Zeroizing<String>)>, OAuthError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || OAuthError::invalid_request("Malformed Basic authorization header");
    let value = value.to_str().map_err(|_| bad())?;
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(bad());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let decoded = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| bad())?,
    );
    let text = std::str::from_utf8(&decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    Ok(Some((
        percent_decode(id).ok_or_else(bad)?,
        Zeroizing::new(percent_decode(secret).ok_or_else(bad)?),
    )))
}

fn unauthorized() -> OAuthError {
    OAuthError::access_denied(StatusCode::UNAUTHORIZED, "Unauthorized")
}

pub async fn issue(
    State(state): State<AppState>,
    ip: Option<axum::Extension<crate::app::ClientIp>>,
    request_id: Option<axum::Extension<crate::app::RequestId>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match issue_token(&state, &headers, &body).await {
        Ok(response) => response,
        Err(e) => {
            // The client id the request named, if any; never its secret.
            let named = parse_body(&headers, &body)
                .ok()
                .and_then(|r| r.client_id)
                .or_else(|| basic_credentials(&headers).ok().flatten().map(|(id, _)| id));
            crate::security_audit::record(
                &state,
                crate::security_audit::Refusal {
                    action: "token.failed",
                    actor: named.as_deref(),
                    ip: ip.as_ref().map_or("", |i| i.0 .0.as_str()),
                    target: "POST /oauth/token".to_string(),
                    reason: format!("{}: {}", e.error, e.description),
                    request_id: request_id.as_ref().map(|r| r.0 .0.as_str()),
                },
            );
            e.into_response()
        }
    }
}

async fn issue_token(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, OAuthError> {
    let mut request = parse_body(headers, body)?;
    if let Some((id, secret)) = basic_credentials(headers)? {
        if request
            .client_id
            .as_deref()
            .is_some_and(|body_id| body_id != id)
        {
            return Err(OAuthError::invalid_request(
                "client_id in the body does not match the Authorization header",
            ));
        }
        request.client_id = Some(id);
        request.client_secret = Some(secret);
    }
    if request.has_nul() {
        return Err(OAuthError::invalid_request(
            "Parameters must not contain NUL characters",
        ));
    }
    match request.grant_type.as_deref() {
        None => {
            return Err(OAuthError::invalid_request(
                "Missing required parameter: grant_type",
            ))
        }
        Some("client_credentials") => {}
        Some(other) => {
            return Err(OAuthError::new(
                StatusCode::FORBIDDEN,
                "unauthorized_client",
                format!(
                    "Grant type '{}' not allowed for the client.",
                    other.chars().take(64).collect::<String>()
                ),
            ))
        }
    }
    let client_id = request
        .client_id
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: client_id"))?;
    let Some(secret) = request.client_secret else {
        if request.client_assertion {
            return Err(OAuthError::invalid_request(
                "client_assertion is not supported; authenticate with client_secret",
            ));
        }
        return Err(OAuthError::invalid_request(
            "Missing required parameter: client_secret",
        ));
    };

    // Look the client up and compare in constant time; an unknown id costs the same HMAC.
    let credentials = state.store.client_credentials(&client_id).await?;
    let stored = credentials.as_ref().map(|c| c.secret_hmac.as_slice());
    if !state.secret_hasher.verify(&secret, stored) || credentials.is_none() {
        return Err(unauthorized());
    }

    // No audience means the tenant's default API, the Management API.
    let audience = request.audience.unwrap_or_else(|| state.config.audience());
    if !state.config.accepted_audiences().contains(&audience) {
        return Err(OAuthError::access_denied(
            StatusCode::FORBIDDEN,
            format!(
                "Service not enabled within domain: {}",
                audience.chars().take(200).collect::<String>()
            ),
        ));
    }
    // Every grant is on the Management API, the only API hosted here, so grants made
    // under an earlier `--domain` keep working.
    let filter = GrantFilter {
        client_id: Some(client_id.clone()),
        audience: None,
    };
    let (grants, _) = state.store.list_grants(&filter, None).await?;
    if grants.is_empty() {
        return Err(OAuthError::access_denied(
            StatusCode::FORBIDDEN,
            format!(
                "Client is not authorized to access \"{audience}\". You need to create a \"client-grant\" associated to this API."
            ),
        ));
    }
    let mut granted: Vec<Scope> = Vec::new();
    for scope in grants.iter().flat_map(|g| g.scope.iter()) {
        if !granted.contains(scope) {
            granted.push(*scope);
        }
    }
    granted.sort();
    let requested: Vec<Scope> = match request.scope.as_deref().map(str::trim) {
        None | Some("") => granted.clone(),
        Some(requested) => {
            let requested: Vec<&str> = requested.split_whitespace().collect();
            granted
                .iter()
                .copied()
                .filter(|s| requested.contains(&s.as_str()))
                .collect()
        }
    };
    let client = credentials.map(|c| c.client);
    let (scopes, hook_claims) =
        run_credentials_exchange(state, client.as_ref(), &audience, requested, &granted).await?;
    let now = hookhaven_core::now_ms() / 1000;
    let lifetime = state.config.token_lifetime_secs;
    let claims = AccessClaims {
        iss: state.config.issuer(),
        sub: format!("{client_id}@clients"),
        aud: vec![audience],
        iat: now,
        exp: now + lifetime,
        scope: Scope::join(&scopes),
        azp: client_id,
        gty: "client-credentials".to_string(),
    };
    // RSA signing is the costly step; keep it off the async workers.
    let signing = state.signing();
    let token = tokio::task::spawn_blocking(move || {
        sign_access_token_with(&signing.current, &claims, &hook_claims)
    })
    .await
    .map_err(|e| OAuthError::from(hookhaven_core::Error::internal(e)))?;
    let mut response = crate::error::json_response(
        StatusCode::OK,
        &json!({
            "access_token": token,
            "scope": Scope::join(&scopes),
            "expires_in": lifetime,
            "token_type": "Bearer",
        }),
    );
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// Runs the enabled credentials-exchange hook, if there is one. Its `scope` replaces the
/// token's scopes (leaving it out means no scopes, as on Auth0), but only scopes the
/// client was granted survive: a hook cannot raise a client's rights on this API. Its
/// namespaced claims go into the token. Its errors become the token endpoint's answer.
async fn run_credentials_exchange(
    state: &AppState,
    client: Option<&hookhaven_core::Client>,
    audience: &str,
    scopes: Vec<Scope>,
    granted: &[Scope],
) -> Result<(Vec<Scope>, serde_json::Map<String, Value>), OAuthError> {
    let runnable = match client {
        Some(_) => {
            state
                .store
                .enabled_runnable_hook(TriggerId::CredentialsExchange)
                .await?
        }
        None => None,
    };
    let (Some(runnable), Some(client)) = (runnable, client) else {
        return Ok((scopes, serde_json::Map::new()));
    };
    let tenant = state
        .config
        .domain
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string();
    let payload = json!({
        "audience": audience,
        "client": {"id": client.client_id, "name": client.name, "tenant": tenant, "metadata": {}},
        "scope": scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    });
    let (invocation, _) = state
        .executor
        .prepare(&state.keyring(), &runnable, None, payload)
        .await?;
    let outcome = state.executor.invoke(invocation).await;
    let hook = &runnable.hook;
    match outcome.result {
        Ok(TriggerResult::CredentialsExchange { scope, claims }) => {
            let scope = scope.unwrap_or_default();
            let kept = granted
                .iter()
                .copied()
                .filter(|s| scope.iter().any(|wanted| wanted == s.as_str()))
                .collect();
            Ok((kept, claims))
        }
        Ok(_) => Err(OAuthError::from(hookhaven_core::Error::internal(
            "credentials-exchange hook gave another trigger's result",
        ))),
        Err(e) => {
            tracing::info!(hook_id = %hook.id, code = e.code, status = e.status, "credentials-exchange hook refused the token");
            let status =
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Err(OAuthError {
                status,
                error: e.code,
                description: e.message,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(percent_decode("a+b%20c%2F").as_deref(), Some("a b c/"));
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%"), None);
    }
}
