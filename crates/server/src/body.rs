//! Request bodies. Auth0 clients send odd bodies: `null` or nothing with a JSON content
//! type on GET, a JSON array on DELETE, no content type at all. So bodies are read as
//! bytes and parsed here, whatever the headers say, and validated by hand to produce
//! Auth0's `Payload validation error: '…'.` messages.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use hookhaven_core::Error;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The default of the largest body any route accepts (`--max-body-bytes`).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a body could not be used at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unusable {
    /// Not JSON.
    NotJson,
    /// A string holds a NUL character, which PostgreSQL text cannot store; refused on
    /// every backend so that both behave the same.
    Nul,
}

/// A body parsed as JSON. `Ok(None)` for an empty body or a literal `null`;
/// `Err(_)` when it cannot be used, so each route can say what shape it wanted.
pub struct JsonBody(pub Result<Option<Value>, Unusable>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::PayloadTooLarge)?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Ok(None)));
        }
        Ok(JsonBody(match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Null) => Ok(None),
            Ok(value) if holds_nul(&value) => Err(Unusable::Nul),
            Ok(value) => Ok(Some(value)),
            Err(_) => Err(Unusable::NotJson),
        }))
    }
}

pub const INVALID_JSON: &str = "Invalid request payload JSON format";
const NUL_MESSAGE: &str = "Payload validation error: 'Strings must not contain NUL characters'.";

/// True when any key or string in the document holds a NUL character.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

pub(crate) fn unusable(reason: Unusable, hint: &str) -> Error {
    match reason {
        Unusable::NotJson => Error::InvalidBody(format!("{INVALID_JSON}.{hint}")),
        Unusable::Nul => Error::InvalidBody(NUL_MESSAGE.to_string()),
    }
}

impl JsonBody {
    /// The body as a JSON object, or an `invalid_body` error whose message ends with `hint`
    /// (the shape the route expects).
    pub fn into_object(self, hint: &str) -> Result<Map<String, Value>, Error> {
        match self.0 {
            Ok(Some(Value::Object(map))) => Ok(map),
            Ok(Some(other)) => Err(Error::InvalidBody(format!(
                "Payload validation error: 'Expected type object but found type {}'.{hint}",
                type_name(&other)
            ))),
            Ok(None) => Err(Error::InvalidBody(format!(
                "Payload validation error: 'Expected type object but found type null'.{hint}"
            ))),
            Err(reason) => Err(unusable(reason, hint)),
        }
    }

    /// The body as a JSON array.
    pub fn into_array(self, hint: &str) -> Result<Vec<Value>, Error> {
        match self.0 {
            Ok(Some(Value::Array(items))) => Ok(items),
            Ok(Some(other)) => Err(Error::InvalidBody(format!(
                "Payload validation error: 'Expected type array but found type {}'.{hint}",
                type_name(&other)
            ))),
            Ok(None) => Err(Error::InvalidBody(format!(
                "Payload validation error: 'Expected type array but found type null'.{hint}"
            ))),
            Err(reason) => Err(unusable(reason, hint)),
        }
    }
}

/// JSON-schema style type names, as Auth0 prints them.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Collects schema violations so that one response reports all of them, joined with
/// ` (also) ` as Auth0 does.
#[derive(Default)]
pub struct Violations(Vec<String>);

impl Violations {
    pub fn push(&mut self, detail: impl Into<String>) {
        self.0.push(detail.into());
    }

    /// Records a violation on a named property, with Auth0's ` on property x (desc)` suffix.
    pub fn on(&mut self, detail: impl std::fmt::Display, property: &str, description: &str) {
        self.0
            .push(format!("{detail}' on property {property} ({description}"));
    }

    pub fn reject_unknown(&mut self, map: &Map<String, Value>, allowed: &[&str]) {
        let unknown: Vec<&str> = map
            .keys()
            .map(String::as_str)
            .filter(|k| !allowed.contains(k))
            .collect();
        if !unknown.is_empty() {
            self.push(format!(
                "Additional properties not allowed: {}",
                unknown.join(",")
            ));
        }
    }

    pub fn require(&mut self, map: &Map<String, Value>, required: &[&str]) {
        for name in required {
            if !map.contains_key(*name) {
                self.push(format!("Missing required property: {name}"));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when nothing was violated, else the combined `invalid_body` error.
    pub fn finish(self) -> Result<(), Error> {
        if self.0.is_empty() {
            return Ok(());
        }
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|d| {
                // Details recorded with `on` already carry the closing quote before the
                // property suffix; close them with a parenthesis instead.
                if d.contains("' on property ") {
                    format!("'{d})")
                } else {
                    format!("'{d}'")
                }
            })
            .collect();
        Err(Error::InvalidBody(format!(
            "Payload validation error: {}.",
            parts.join(" (also) ")
        )))
    }
}

/// A string property, or a type violation.
pub fn as_string<'a>(
    v: &'a Value,
    property: &str,
    description: &str,
    violations: &mut Violations,
) -> Option<&'a str> {
    match v {
        Value::String(s) => Some(s),
        other => {
            violations.on(
                format!("Expected type string but found type {}", type_name(other)),
                property,
                description,
            );
            None
        }
    }
}

/// A boolean property. Auth0's docs send `"true"`/`"false"` as strings, so those count.
pub fn as_bool(
    v: &Value,
    property: &str,
    description: &str,
    violations: &mut Violations,
) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" => Some(true),
        Value::String(s) if s == "false" => Some(false),
        other => {
            violations.on(
                format!("Expected type boolean but found type {}", type_name(other)),
                property,
                description,
            );
            None
        }
    }
}

/// An object of string values (hook `dependencies`).
pub fn as_string_map(
    v: &Value,
    property: &str,
    description: &str,
    violations: &mut Violations,
) -> Option<std::collections::BTreeMap<String, String>> {
    let Value::Object(map) = v else {
        violations.on(
            format!("Expected type object but found type {}", type_name(v)),
            property,
            description,
        );
        return None;
    };
    let mut out = std::collections::BTreeMap::new();
    for (k, v) in map {
        match v {
            Value::String(s) => {
                out.insert(k.clone(), s.clone());
            }
            other => {
                violations.on(
                    format!("Expected type string but found type {}", type_name(other)),
                    &format!("{property}.{k}"),
                    description,
                );
                return None;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_join_like_auth0() {
        let mut v = Violations::default();
        v.push("Missing required property: script");
        v.on(
            "Expected type string but found type integer",
            "name",
            "Name of this hook",
        );
        let msg = v.finish().unwrap_err().message();
        assert_eq!(
            msg,
            "Payload validation error: 'Missing required property: script' (also) 'Expected type string but found type integer' on property name (Name of this hook)."
        );
    }
}
