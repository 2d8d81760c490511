//! The per-trigger adapters, mirroring Auth0's `auth0-ext-compilers`: input checks (with
//! their messages), result filtering and error mapping. Building the positional arguments
//! and pre-declaring the error classes happen in JavaScript (`js/prelude.js`).

use hookhaven_core::TriggerId;
use serde_json::{json, Map, Value};

use crate::engine::JsError;
use crate::types::{ErrorKind, HookError, TriggerResult};

/// Whether Auth0 ran this trigger off the request path (result ignored, failures logged).
pub fn is_background(trigger: TriggerId) -> bool {
    matches!(
        trigger,
        TriggerId::PostUserRegistration | TriggerId::PostChangePassword
    )
}

fn is_object(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Object(_)))
}

fn is_string(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::String(_)))
}

/// The compiler's body checks. `Err` carries Auth0's message.
pub(crate) fn check_payload(trigger: TriggerId, body: &Value) -> Result<(), String> {
    let fail = |m: &str| Err(m.to_string());
    if !body.is_object() {
        return fail("Body received by extensibility point is not an object");
    }
    let get = |k: &str| body.get(k);
    match trigger {
        TriggerId::CredentialsExchange => {
            if !is_object(get("client")) {
                return fail("Body .client received by extensibility point is not an object");
            }
            match get("scope") {
                None | Some(Value::Null) | Some(Value::Array(_)) => {}
                Some(Value::String(s)) if s.is_empty() => {}
                Some(Value::Bool(false)) => {}
                _ => {
                    return fail(
                        "Body .scope received by extensibility point is neither empty nor an array",
                    )
                }
            }
            if !is_string(get("audience")) {
                return fail("Body .audience received by extensibility point is not a string");
            }
        }
        TriggerId::PreUserRegistration
        | TriggerId::PostUserRegistration
        | TriggerId::PostChangePassword => {
            if !is_object(get("user")) {
                return fail("Body.user received by extensibility point is not an object");
            }
            if !is_object(get("context")) {
                return fail("Body.context received by extensibility point is not an object");
            }
            if !is_object(body.pointer("/context/connection")) {
                return fail(
                    "Body.context.connection received by extensibility point is not an object",
                );
            }
        }
        TriggerId::SendPhoneMessage => {
            if !is_string(get("recipient")) {
                return fail("Body.recipient received by extensibility point is not a string");
            }
            if !is_string(get("text")) {
                return fail("Body.text received by extensibility point is not a string");
            }
            if !is_object(get("context")) {
                return fail("Body.context received by extensibility point is not an object");
            }
            let ctx = |p: &str| body.pointer(&format!("/context/{p}"));
            if let Some(f) = ctx("factor_type") {
                if f != "first" && f != "second" {
                    return fail("Body.context.factor_type received by extensibility point is not `first` or `second`");
                }
            }
            if !matches!(
                ctx("message_type").and_then(Value::as_str),
                Some("sms" | "voice")
            ) {
                return fail("Body.context.message_type received by extensibility point is not `sms` or `voice`");
            }
            if !matches!(
                ctx("action").and_then(Value::as_str),
                Some("enrollment" | "authentication" | "second-factor-authentication")
            ) {
                return fail("Body.context.action received by extensibility point is not `enrollment` or `authentication`");
            }
            for field in ["language", "ip", "user_agent"] {
                if !is_string(ctx(field)) {
                    return Err(format!(
                        "Body.context.{field} received by extensibility point is not a string"
                    ));
                }
            }
            if let Some(client) = ctx("client") {
                if !client.is_object() {
                    return fail(
                        "Body.context.client received by extensibility point is not an object",
                    );
                }
            }
            if !is_object(ctx("user")) {
                return fail("Body.context.user received by extensibility point is not an object");
            }
        }
    }
    Ok(())
}

/// Maps what the hook passed to `cb(null, result)` (JSON; `None` for `undefined`).
pub(crate) fn map_result(
    trigger: TriggerId,
    result: Option<Value>,
) -> Result<TriggerResult, HookError> {
    match trigger {
        TriggerId::CredentialsExchange => credentials_exchange_result(result),
        TriggerId::PreUserRegistration => pre_user_registration_result(result),
        TriggerId::PostUserRegistration | TriggerId::PostChangePassword => {
            Ok(TriggerResult::Background)
        }
        TriggerId::SendPhoneMessage => Ok(TriggerResult::SendPhoneMessage(
            result.unwrap_or(Value::Null),
        )),
    }
}

const RESERVED_CLAIM_DOMAINS: [&str; 3] = ["auth0.com", "webtask.io", "webtask.run"];

/// Keys that are http/https URLs whose host is not auth0.com, webtask.io, webtask.run or a
/// subdomain of them.
pub fn is_namespaced_claim(key: &str) -> bool {
    let Ok(url) = url::Url::parse(key) else {
        return false;
    };
    if url.scheme() != "http" && url.scheme() != "https" {
        return false;
    }
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    !RESERVED_CLAIM_DOMAINS
        .iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

fn credentials_exchange_result(result: Option<Value>) -> Result<TriggerResult, HookError> {
    let Some(Value::Object(map)) = result else {
        return Ok(TriggerResult::CredentialsExchange {
            scope: None,
            claims: Map::new(),
        });
    };
    let mut scope = None;
    let mut claims = Map::new();
    for (key, value) in map {
        if key == "scope" {
            scope = match value {
                Value::Null => None,
                Value::Array(items) => Some(
                    items
                        .into_iter()
                        .map(|v| match v {
                            Value::String(s) => Ok(s),
                            _ => Err(()),
                        })
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| {
                            HookError::new(
                                ErrorKind::InvalidResult,
                                "The hook returned a scope that is not an array of strings",
                            )
                        })?,
                ),
                Value::String(s) => Some(s.split_whitespace().map(str::to_string).collect()),
                _ => {
                    return Err(HookError::new(
                        ErrorKind::InvalidResult,
                        "The hook returned a scope that is not an array of strings",
                    ))
                }
            };
        } else if is_namespaced_claim(&key) {
            claims.insert(key, value);
        }
    }
    Ok(TriggerResult::CredentialsExchange { scope, claims })
}

fn pre_user_registration_result(result: Option<Value>) -> Result<TriggerResult, HookError> {
    let user = match result {
        Some(Value::Object(mut map)) => map.remove("user"),
        _ => None,
    };
    let (mut user_metadata, mut app_metadata) = (None, None);
    if let Some(Value::Object(mut user)) = user {
        if let Some(Value::Object(m)) = user.remove("user_metadata") {
            check_metadata_keys("user_metadata", &m)?;
            user_metadata = Some(m);
        }
        if let Some(Value::Object(m)) = user.remove("app_metadata") {
            check_metadata_keys("app_metadata", &m)?;
            app_metadata = Some(m);
        }
    }
    Ok(TriggerResult::PreUserRegistration {
        user_metadata,
        app_metadata,
    })
}

fn check_metadata_keys(which: &str, map: &Map<String, Value>) -> Result<(), HookError> {
    for (key, value) in map {
        if key.starts_with('$') || key.contains('.') {
            return Err(HookError::new(
                ErrorKind::InvalidResult,
                format!(
                    "The hook returned {which} with the property name '{key}': property names \
                     must not contain '.' or start with '$'"
                ),
            ));
        }
        if let Value::Object(inner) = value {
            check_metadata_keys(which, inner)?;
        }
    }
    Ok(())
}

/// Maps what the hook passed to `cb(err)` (or threw, or rejected with).
pub(crate) fn map_error(trigger: TriggerId, err: JsError) -> HookError {
    let kind = match (err.tag.as_deref(), trigger) {
        (Some("invalid_scope"), TriggerId::CredentialsExchange) => ErrorKind::InvalidScope,
        (Some("invalid_request"), TriggerId::CredentialsExchange) => ErrorKind::InvalidRequest,
        (Some("pre_user_registration"), TriggerId::PreUserRegistration) => {
            ErrorKind::PreUserRegistration {
                user_message: err.user_message.clone(),
            }
        }
        (Some("result"), _) => ErrorKind::InvalidResult,
        _ => classify_engine_error(&err.message).unwrap_or(ErrorKind::Server),
    };
    let message = match kind {
        ErrorKind::MemoryLimit | ErrorKind::StackOverflow => {
            format!(
                "{}: {}",
                err.name.as_deref().unwrap_or("Error"),
                err.message
            )
        }
        _ => err.message,
    };
    let mut e = HookError::new(kind, message);
    e.name = err.name;
    e.stack = err.stack;
    e
}

/// Engine errors a hook may see as ordinary exceptions.
pub(crate) fn classify_engine_error(message: &str) -> Option<ErrorKind> {
    match message {
        "out of memory" | "out of memory in regexp execution" => Some(ErrorKind::MemoryLimit),
        "Maximum call stack size exceeded" | "stack overflow" => Some(ErrorKind::StackOverflow),
        _ => None,
    }
}

/// The sample body the Dashboard's Runner pre-filled for each trigger (Auth0's docs).
pub fn sample_payload(trigger: TriggerId) -> Value {
    let connection = json!({
        "id": "con_xxxxxxxxxxxxxxxx",
        "name": "Username-Password-Authentication",
        "tenant": "my-tenant"
    });
    match trigger {
        TriggerId::CredentialsExchange => json!({
            "audience": "https://my-tenant.auth0.com/api/v2/",
            "client": {
                "id": "1234567890",
                "name": "client-name",
                "tenant": "my-tenant",
                "metadata": { "plan": "full" }
            },
            "scope": ["read:connections"]
        }),
        TriggerId::PreUserRegistration => json!({
            "user": {
                "tenant": "my-tenant",
                "username": "user1",
                "password": "xxxxxxx",
                "email": "user1@foo.com",
                "emailVerified": false,
                "phoneNumber": "1-000-000-0000",
                "phoneNumberVerified": false,
                "user_metadata": { "hobby": "surfing" },
                "app_metadata": { "plan": "full" }
            },
            "context": {
                "requestLanguage": "en-us",
                "connection": connection
            }
        }),
        TriggerId::PostUserRegistration => json!({
            "user": {
                "tenant": "my-tenant",
                "id": "abc123",
                "username": "user1",
                "email": "user1@foo.com",
                "emailVerified": true,
                "phoneNumber": "1-000-000-0000",
                "phoneNumberVerified": false,
                "user_metadata": { "hobby": "surfing" },
                "app_metadata": { "plan": "full" }
            },
            "context": {
                "requestLanguage": "en-us",
                "connection": connection
            }
        }),
        TriggerId::PostChangePassword => json!({
            "user": {
                "id": "abc123",
                "username": "user1",
                "email": "user1@foo.com",
                "last_password_reset": "2019-02-27T14:14:29.206Z"
            },
            "context": {
                "connection": connection
            }
        }),
        TriggerId::SendPhoneMessage => json!({
            "recipient": "+1 555 123 4567",
            "text": "Your verification code is: 123456",
            "context": {
                "factor_type": "first",
                "message_type": "sms",
                "action": "enrollment",
                "language": "en",
                "code": "123456",
                "ip": "127.0.0.1",
                "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
                "client": {
                    "client_id": "1234567890",
                    "name": "Test Application",
                    "client_metadata": {}
                },
                "user": {
                    "user_id": "auth0|5c6f8c0a7b9d3e0001a2b3c4",
                    "name": "user1@foo.com",
                    "email": "user1@foo.com",
                    "app_metadata": {},
                    "user_metadata": {}
                }
            }
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookhaven_core::hook::ALL_TRIGGERS;

    #[test]
    fn samples_pass_their_checks() {
        for t in ALL_TRIGGERS {
            assert_eq!(check_payload(t, &sample_payload(t)), Ok(()), "{t:?}");
        }
    }

    #[test]
    fn payload_messages() {
        let cce = TriggerId::CredentialsExchange;
        assert_eq!(
            check_payload(cce, &json!([])).unwrap_err(),
            "Body received by extensibility point is not an object"
        );
        assert_eq!(
            check_payload(cce, &json!({"client": {}, "scope": "a b", "audience": "x"}))
                .unwrap_err(),
            "Body .scope received by extensibility point is neither empty nor an array"
        );
        assert_eq!(
            check_payload(cce, &json!({"client": {}})).unwrap_err(),
            "Body .audience received by extensibility point is not a string"
        );
        assert_eq!(
            check_payload(
                TriggerId::PreUserRegistration,
                &json!({"user": {}, "context": {}})
            )
            .unwrap_err(),
            "Body.context.connection received by extensibility point is not an object"
        );
        let mut spm = sample_payload(TriggerId::SendPhoneMessage);
        spm["context"]["message_type"] = json!("fax");
        assert!(check_payload(TriggerId::SendPhoneMessage, &spm)
            .unwrap_err()
            .contains("`sms` or `voice`"));
    }

    #[test]
    fn namespaced_claims() {
        assert!(is_namespaced_claim("https://example.com/claim"));
        assert!(is_namespaced_claim("http://example.com/"));
        assert!(!is_namespaced_claim("https://auth0.com/x"));
        assert!(!is_namespaced_claim("https://tenant.auth0.com/x"));
        assert!(!is_namespaced_claim("https://x.webtask.io/y"));
        assert!(!is_namespaced_claim("https://webtask.run/"));
        assert!(is_namespaced_claim("https://notauth0.com/x"));
        assert!(!is_namespaced_claim("claim"));
        assert!(!is_namespaced_claim("urn:example:claim"));
        assert!(!is_namespaced_claim("ftp://example.com/"));
    }

    #[test]
    fn credentials_exchange_filtering() {
        let r = map_result(
            TriggerId::CredentialsExchange,
            Some(json!({
                "scope": ["a", "b"],
                "https://example.com/k": 1,
                "https://tenant.auth0.com/k": 2,
                "plain": 3,
                "sub": "x"
            })),
        )
        .unwrap();
        assert_eq!(
            r,
            TriggerResult::CredentialsExchange {
                scope: Some(vec!["a".into(), "b".into()]),
                claims: json!({"https://example.com/k": 1})
                    .as_object()
                    .unwrap()
                    .clone()
            }
        );
        assert!(map_result(TriggerId::CredentialsExchange, Some(json!({"scope": [1]}))).is_err());
    }

    #[test]
    fn metadata_keys() {
        let bad = map_result(
            TriggerId::PreUserRegistration,
            Some(json!({"user": {"user_metadata": {"a": {"$b": 1}}}})),
        )
        .unwrap_err();
        assert_eq!(bad.kind, ErrorKind::InvalidResult);
        let ok = map_result(
            TriggerId::PreUserRegistration,
            Some(json!({"user": {"user_metadata": {"a": 1}, "app_metadata": {"b": 2}, "email": "x"}})),
        )
        .unwrap();
        assert_eq!(
            ok,
            TriggerResult::PreUserRegistration {
                user_metadata: Some(json!({"a": 1}).as_object().unwrap().clone()),
                app_metadata: Some(json!({"b": 2}).as_object().unwrap().clone()),
            }
        );
    }
}
