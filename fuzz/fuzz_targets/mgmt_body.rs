//! Management API request bodies: hooks, hook secrets, clients and client grants.
//!
//! The server reads every body as bytes and parses it itself (`JsonBody` in
//! crates/server/src/body.rs), then each route checks the fields by hand and hands every
//! value that has a rule to a validator of hookhaven-core (`HookName::parse`,
//! `SecretName::parse`, `SecretValue::new`, `TriggerId::parse`, `Scope::parse`, ...).
//! The route glue lives in crates/server, which this crate does not build (see
//! docs/reliability.md, "Fuzzing"), so it is mirrored below, field for field, from
//! crates/server/src/routes/{hooks,secrets,clients,grants}.rs; the validators themselves
//! are the real ones.
//!
//! Every input is run through every route. Properties, besides "never panics":
//! * each validator agrees with an independent reading of its published rule;
//! * accepted values round-trip (`as_str`, serde, `Scope::join`/`parse_list`);
//! * serde's renames of triggers and scopes agree with their `parse`/`as_str`;
//! * error messages stay short however long the input (values are echoed truncated);
//! * a body that passes a route's checks has every field the route then unwraps (the
//!   server's "validated hook lost a required field" internal error is unreachable);
//! * a secret value never prints.
#![no_main]

use hookhaven_core::hook::HOOK_NAME_MAX_LEN;
use hookhaven_core::secret::{SECRET_NAME_MAX_LEN, SECRET_VALUE_MAX_LEN};
use hookhaven_core::{
    HookId, HookName, Scope, SecretName, SecretValue, TriggerId, ALL_SCOPES, MAX_SECRETS_PER_HOOK,
    PLACEHOLDER,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

/// The longest validator message: fixed text plus at most 64 echoed characters.
const MAX_MESSAGE: usize = 512;

fuzz_target!(|data: &[u8]| {
    // Raw text, as a path segment or a lone value would arrive.
    let text = String::from_utf8_lossy(data);
    check_strings(&text);
    for line in text.lines().take(16) {
        check_strings(line);
    }

    let body = parse_body(data);
    if let Ok(Some(value)) = &body {
        walk(value, &mut |s| check_strings(s));
    }
    hook_create(&body);
    hook_update(&body);
    secrets_write(&body);
    secrets_delete(&body);
    client_create(&body);
    grant_create(&body);
});

// ---------------------------------------------------------------------------------------
// The body reader (mirror of `JsonBody::from_request` in crates/server/src/body.rs)

#[derive(Debug)]
enum Unusable {
    NotJson,
    Nul,
}

fn parse_body(bytes: &[u8]) -> Result<Option<Value>, Unusable> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(Value::Null) => Ok(None),
        Ok(value) if holds_nul(&value) => Err(Unusable::Nul),
        Ok(value) => Ok(Some(value)),
        Err(_) => Err(Unusable::NotJson),
    }
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn walk(value: &Value, f: &mut impl FnMut(&str)) {
    match value {
        Value::String(s) => f(s),
        Value::Array(items) => items.iter().for_each(|v| walk(v, f)),
        Value::Object(map) => {
            for (k, v) in map {
                f(k);
                walk(v, f);
            }
        }
        _ => {}
    }
}

fn object(body: &Result<Option<Value>, Unusable>) -> Option<&Map<String, Value>> {
    match body {
        Ok(Some(Value::Object(map))) => Some(map),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// The core validators against their rules

fn check_strings(s: &str) {
    check_hook_name(s);
    check_hook_id(s);
    check_secret_name(s);
    check_secret_value(s);
    check_trigger(s);
    check_scope(s);
}

fn check_message(e: &hookhaven_core::Error, input: &str) {
    let message = e.message();
    assert!(
        message.len() <= MAX_MESSAGE,
        "a {}-byte input gave a {}-byte message",
        input.len(),
        message.len()
    );
}

/// `^[a-zA-Z0-9]([ \-a-zA-Z0-9]*[a-zA-Z0-9])?$`, at most 128 characters.
fn hook_name_rule(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let edge = |c: char| c.is_ascii_alphanumeric();
    let inner = |c: &char| c.is_ascii_alphanumeric() || *c == ' ' || *c == '-';
    !chars.is_empty()
        && chars.len() <= HOOK_NAME_MAX_LEN
        && edge(chars[0])
        && edge(chars[chars.len() - 1])
        && chars.iter().all(inner)
}

fn check_hook_name(s: &str) {
    match HookName::parse(s) {
        Ok(name) => {
            assert!(hook_name_rule(s), "accepted hook name {s:?}");
            assert_eq!(name.as_str(), s);
            let json = serde_json::to_value(&name).unwrap();
            assert_eq!(json, Value::String(s.to_string()));
            let back: HookName = serde_json::from_value(json).unwrap();
            assert_eq!(back, name);
        }
        Err(e) => {
            assert!(!hook_name_rule(s), "refused hook name {s:?}");
            assert_eq!(e.error_code(), Some("invalid_body"));
            check_message(&e, s);
        }
    }
}

fn check_hook_id(s: &str) {
    let rule =
        !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    match HookId::parse(s) {
        Ok(id) => {
            assert!(rule, "accepted hook id {s:?}");
            assert_eq!(id.as_str(), s);
            assert_eq!(id.to_string(), s);
        }
        Err(e) => {
            assert!(!rule, "refused hook id {s:?}");
            assert_eq!(e.error_code(), Some("invalid_uri"));
            check_message(&e, s);
        }
    }
}

fn check_secret_name(s: &str) {
    let rule = !s.is_empty()
        && s.chars().count() <= SECRET_NAME_MAX_LEN
        && !s.chars().any(char::is_control);
    match SecretName::parse(s) {
        Ok(name) => {
            assert!(rule, "accepted secret name {s:?}");
            assert_eq!(name.as_str(), s);
            let back: SecretName =
                serde_json::from_value(serde_json::to_value(&name).unwrap()).unwrap();
            assert_eq!(back, name);
        }
        Err(e) => {
            assert!(!rule, "refused secret name {s:?}");
            assert_eq!(e.error_code(), Some("invalid_body"));
            check_message(&e, s);
        }
    }
}

/// `##NAME##` / `@@NAME@@`, NAME of letters, digits, `_` and `-` (crates/core/src/secret.rs).
fn keyword_rule(s: &str) -> bool {
    ["##", "@@"].iter().any(|m| {
        s.len() > 2 * m.len()
            && s.starts_with(m)
            && s.ends_with(m)
            && s[m.len()..s.len() - m.len()]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

fn check_secret_value(s: &str) {
    match SecretValue::new(s.to_string()) {
        Ok(value) => {
            assert!(s.len() <= SECRET_VALUE_MAX_LEN);
            assert_eq!(value.expose(), s);
            assert_eq!(format!("{value:?}"), "<redacted>");
            assert_eq!(format!("{value}"), "<redacted>");
            assert_eq!(
                value.is_placeholder(),
                s == PLACEHOLDER || keyword_rule(s),
                "placeholder rule for {s:?}"
            );
        }
        Err(e) => {
            assert!(s.len() > SECRET_VALUE_MAX_LEN);
            check_message(&e, s);
        }
    }
}

fn check_trigger(s: &str) {
    let parsed = TriggerId::parse(s);
    let via_serde = serde_json::from_value::<TriggerId>(Value::String(s.to_string())).ok();
    assert_eq!(
        parsed, via_serde,
        "TriggerId parse and serde disagree on {s:?}"
    );
    if let Some(t) = parsed {
        assert_eq!(t.as_str(), s);
        assert_eq!(serde_json::to_value(t).unwrap(), Value::String(s.into()));
    }
}

fn check_scope(s: &str) {
    let parsed = Scope::parse(s);
    let via_serde = serde_json::from_value::<Scope>(Value::String(s.to_string())).ok();
    assert_eq!(parsed, via_serde, "Scope parse and serde disagree on {s:?}");
    if let Some(scope) = parsed {
        assert_eq!(scope.as_str(), s);
        assert!(ALL_SCOPES.contains(&scope));
    }
    match Scope::parse_list(s) {
        Ok(list) => {
            for (i, a) in list.iter().enumerate() {
                assert!(!list[i + 1..].contains(a), "duplicate scope in {list:?}");
            }
            let words: Vec<&str> = s.split_whitespace().collect();
            assert!(list.len() <= words.len());
            assert_eq!(Scope::parse_list(&Scope::join(&list)), Ok(list));
        }
        Err(word) => {
            assert!(s.split_whitespace().any(|w| w == word));
            assert_eq!(Scope::parse(&word), None);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The routes (mirrors of crates/server/src/routes/*.rs; `v` is the route's `Violations`)

fn reject_unknown(map: &Map<String, Value>, allowed: &[&str], v: &mut Vec<String>) {
    if map.keys().any(|k| !allowed.contains(&k.as_str())) {
        v.push("Additional properties not allowed".into());
    }
}

fn require(map: &Map<String, Value>, required: &[&str], v: &mut Vec<String>) {
    for name in required {
        if !map.contains_key(*name) {
            v.push(format!("Missing required property: {name}"));
        }
    }
}

fn as_str<'a>(value: &'a Value, v: &mut Vec<String>) -> Option<&'a str> {
    match value {
        Value::String(s) => Some(s),
        _ => {
            v.push("Expected type string".into());
            None
        }
    }
}

fn as_bool(value: &Value, v: &mut Vec<String>) -> Option<bool> {
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        _ => {
            v.push("Expected type boolean".into());
            None
        }
    }
}

struct CommonFields {
    name: Option<HookName>,
    script: Option<String>,
}

/// `common_fields` in routes/hooks.rs.
fn common_fields(map: &Map<String, Value>, v: &mut Vec<String>) -> CommonFields {
    let name = map.get("name").and_then(|raw| {
        let s = as_str(raw, v)?;
        match HookName::parse(s) {
            Ok(name) => Some(name),
            Err(e) => {
                let m = e.message();
                let detail = m
                    .trim_start_matches("Payload validation error: '")
                    .trim_end_matches(").")
                    .to_string();
                assert!(!detail.is_empty());
                v.push(detail);
                None
            }
        }
    });
    let script = map.get("script").and_then(|raw| {
        let s = as_str(raw, v)?;
        if s.is_empty() {
            v.push("String is too short (0 chars), minimum 1".into());
            return None;
        }
        Some(s.to_string())
    });
    if let Some(raw) = map.get("enabled") {
        as_bool(raw, v);
    }
    if let Some(raw) = map.get("dependencies") {
        match raw {
            Value::Object(deps) => {
                if deps.values().any(|d| !d.is_string()) {
                    v.push("Expected type string".into());
                }
            }
            _ => v.push("Expected type object".into()),
        }
    }
    CommonFields { name, script }
}

/// POST /api/v2/hooks
fn hook_create(body: &Result<Option<Value>, Unusable>) {
    let Some(map) = object(body) else { return };
    let mut v = Vec::new();
    reject_unknown(
        map,
        &["name", "script", "triggerId", "enabled", "dependencies"],
        &mut v,
    );
    require(map, &["name", "script", "triggerId"], &mut v);
    let fields = common_fields(map, &mut v);
    let trigger_id = map.get("triggerId").and_then(|raw| {
        let s = as_str(raw, &mut v)?;
        let t = TriggerId::parse(s);
        if t.is_none() {
            v.push(format!(
                "No enum match for: \"{}\"",
                s.chars().take(64).collect::<String>()
            ));
        }
        t
    });
    if v.is_empty() {
        // The route returns `Error::internal` if any of these is missing.
        assert!(fields.name.is_some() && fields.script.is_some() && trigger_id.is_some());
    }
}

/// PATCH /api/v2/hooks/{id}
fn hook_update(body: &Result<Option<Value>, Unusable>) {
    let Some(map) = object(body) else { return };
    let mut v = Vec::new();
    if map.is_empty() {
        v.push("Too few properties defined (0), minimum 1".into());
    }
    reject_unknown(map, &["name", "script", "enabled", "dependencies"], &mut v);
    let fields = common_fields(map, &mut v);
    if v.is_empty() {
        assert!(!map.is_empty());
        assert_eq!(fields.name.is_some(), map.contains_key("name"));
        assert_eq!(fields.script.is_some(), map.contains_key("script"));
    }
}

/// POST and PATCH /api/v2/hooks/{id}/secrets (`seal_body` in routes/secrets.rs).
fn secrets_write(body: &Result<Option<Value>, Unusable>) {
    let Some(map) = object(body) else { return };
    let mut v = Vec::new();
    if map.is_empty() {
        v.push("Too few properties defined (0), minimum 1".to_string());
    }
    if map.len() > MAX_SECRETS_PER_HOOK {
        v.push("Too many properties defined".to_string());
    }
    let mut out = Vec::new();
    for (name, value) in map {
        let name = match SecretName::parse(name) {
            Ok(n) => n,
            Err(e) => {
                v.push(e.message());
                continue;
            }
        };
        let Value::String(value) = value else {
            v.push("Expected type string".into());
            continue;
        };
        // `?` in the route: a too-long value ends validation with its own error.
        let Ok(value) = SecretValue::new(value.clone()) else {
            return;
        };
        out.push((name, value.is_placeholder()));
    }
    if v.is_empty() {
        assert!((1..=MAX_SECRETS_PER_HOOK).contains(&out.len()));
        assert_eq!(out.len(), map.len());
    }
}

/// DELETE /api/v2/hooks/{id}/secrets: a JSON array of names.
fn secrets_delete(body: &Result<Option<Value>, Unusable>) {
    let Ok(Some(Value::Array(items))) = body else {
        return;
    };
    let mut v = Vec::new();
    if items.is_empty() {
        v.push("Array is too short (0), minimum 1".to_string());
    }
    let mut names = Vec::new();
    for item in items {
        match item {
            Value::String(s) => match SecretName::parse(s) {
                Ok(n) => names.push(n),
                Err(e) => v.push(e.message()),
            },
            _ => v.push("Expected type string".into()),
        }
    }
    if v.is_empty() {
        assert_eq!(names.len(), items.len());
        assert!(!names.is_empty());
    }
}

/// POST /api/v2/clients
fn client_create(body: &Result<Option<Value>, Unusable>) {
    let Some(map) = object(body) else { return };
    let mut v = Vec::new();
    reject_unknown(
        map,
        &[
            "name",
            "description",
            "app_type",
            "grant_types",
            "token_endpoint_auth_method",
            "is_first_party",
        ],
        &mut v,
    );
    require(map, &["name"], &mut v);
    let name = map.get("name").and_then(|n| as_str(n, &mut v));
    if let Some(d) = map.get("description") {
        as_str(d, &mut v);
    }
    if let Some(app_type) = map.get("app_type") {
        if app_type != "non_interactive" {
            v.push("Only non_interactive clients are supported".into());
        }
    }
    if let Some(grants) = map.get("grant_types") {
        let ok = matches!(grants, Value::Array(items) if items.iter().all(|g| g == "client_credentials"));
        if !ok {
            v.push("Only client_credentials is supported".into());
        }
    }
    if let Some(method) = map.get("token_endpoint_auth_method") {
        if method != "client_secret_post" && method != "client_secret_basic" {
            v.push("Only client_secret_post and client_secret_basic are supported".into());
        }
    }
    if let Some(fp) = map.get("is_first_party") {
        as_bool(fp, &mut v);
    }
    if v.is_empty() {
        // The route returns `Error::internal("validated client lost its name")` otherwise.
        assert!(name.is_some());
    }
}

/// POST /api/v2/client-grants
fn grant_create(body: &Result<Option<Value>, Unusable>) {
    let Some(map) = object(body) else { return };
    let mut v = Vec::new();
    reject_unknown(map, &["client_id", "audience", "scope"], &mut v);
    require(map, &["client_id", "audience", "scope"], &mut v);
    let client_id = map.get("client_id").and_then(|c| as_str(c, &mut v));
    let audience = map.get("audience").and_then(|a| as_str(a, &mut v));
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
                    Some((raw, None)) => v.push(format!(
                        "Unknown scope: {}",
                        raw.chars().take(64).collect::<String>()
                    )),
                    None => v.push("Expected type string".into()),
                }
            }
        }
        Some(_) => v.push("Expected type array".into()),
    }
    if v.is_empty() {
        // The route returns `Error::internal("validated grant lost a field")` otherwise.
        assert!(client_id.is_some() && audience.is_some());
        assert!(scopes.len() <= ALL_SCOPES.len());
        let joined = Scope::join(&scopes);
        assert_eq!(Scope::parse_list(&joined), Ok(scopes));
    }
}
