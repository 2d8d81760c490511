//! Hooks: ids, names, triggers and the update patch.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::{Error, Result};

/// A hook id as it appears in a path. New ids are ULIDs; any id matching Auth0's path
/// pattern `^[A-Za-z0-9-]*$` is accepted for lookups.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HookId(String);

impl HookId {
    pub fn generate() -> HookId {
        HookId(crate::new_ulid())
    }

    /// Validates an id taken from a URL path.
    pub fn parse(s: &str) -> Result<HookId> {
        if s.is_empty()
            || s.len() > 64
            || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(Error::InvalidUri(format!(
                "Path validation error: 'String does not match pattern ^[A-Za-z0-9-]*$: {}' on property id (ID of the hook to retrieve).",
                truncate_for_message(s)
            )));
        }
        Ok(HookId(s.to_string()))
    }

    /// Wraps an id read back from storage, which was validated when it was written.
    pub fn from_stored(s: String) -> HookId {
        HookId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for HookId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Echoes user input in an error message, cut so that a huge value cannot bloat the body.
pub(crate) fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

pub const HOOK_NAME_PATTERN: &str = "^[a-zA-Z0-9]([ \\-a-zA-Z0-9]*[a-zA-Z0-9])?$";
pub const HOOK_NAME_MAX_LEN: usize = 128;

/// A hook name, validated with Auth0's published pattern (D3) and stored as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HookName(String);

impl HookName {
    pub fn parse(s: &str) -> Result<HookName> {
        let bytes = s.as_bytes();
        let edge_ok = |b: u8| b.is_ascii_alphanumeric();
        let inner_ok = |b: &u8| b.is_ascii_alphanumeric() || *b == b' ' || *b == b'-';
        let valid = !bytes.is_empty()
            && edge_ok(bytes[0])
            && edge_ok(bytes[bytes.len() - 1])
            && bytes.iter().all(inner_ok);
        if !valid {
            return Err(Error::InvalidBody(format!(
                "Payload validation error: 'String does not match pattern {HOOK_NAME_PATTERN}: {}' on property name (Name of this hook).",
                truncate_for_message(s)
            )));
        }
        if s.len() > HOOK_NAME_MAX_LEN {
            return Err(Error::InvalidBody(format!(
                "Payload validation error: 'String is too long ({} chars), maximum {HOOK_NAME_MAX_LEN}' on property name (Name of this hook).",
                s.len()
            )));
        }
        Ok(HookName(s.to_string()))
    }

    pub fn from_stored(s: String) -> HookName {
        HookName(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The five extensibility points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TriggerId {
    CredentialsExchange,
    PreUserRegistration,
    PostUserRegistration,
    PostChangePassword,
    SendPhoneMessage,
}

pub const ALL_TRIGGERS: [TriggerId; 5] = [
    TriggerId::CredentialsExchange,
    TriggerId::PreUserRegistration,
    TriggerId::PostUserRegistration,
    TriggerId::PostChangePassword,
    TriggerId::SendPhoneMessage,
];

impl TriggerId {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerId::CredentialsExchange => "credentials-exchange",
            TriggerId::PreUserRegistration => "pre-user-registration",
            TriggerId::PostUserRegistration => "post-user-registration",
            TriggerId::PostChangePassword => "post-change-password",
            TriggerId::SendPhoneMessage => "send-phone-message",
        }
    }

    pub fn parse(s: &str) -> Option<TriggerId> {
        ALL_TRIGGERS.into_iter().find(|t| t.as_str() == s)
    }

    /// The list Auth0 prints in enum validation messages.
    pub fn allowed_list() -> String {
        ALL_TRIGGERS
            .iter()
            .map(|t| t.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A stored hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub id: HookId,
    pub name: HookName,
    pub script: String,
    pub dependencies: BTreeMap<String, String>,
    pub trigger_id: TriggerId,
    pub enabled: bool,
}

/// The fields a `PATCH /hooks/{id}` may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookPatch {
    pub name: Option<HookName>,
    pub script: Option<String>,
    pub dependencies: Option<BTreeMap<String, String>>,
    pub enabled: Option<bool>,
}

/// Filters for listing hooks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HookFilter {
    pub enabled: Option<bool>,
    pub trigger_id: Option<TriggerId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_names_follow_auth0_pattern() {
        for ok in ["a", "my hook", "test-hook150", "A-b c9", "cce hook"] {
            assert!(HookName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", " a", "a ", "under_score", "émoji", "a.b"] {
            let err = HookName::parse(bad).unwrap_err();
            assert_eq!(err.error_code(), Some("invalid_body"), "{bad}");
        }
        assert!(HookName::parse(&"a".repeat(129)).is_err());
        assert!(HookName::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn hook_ids_follow_path_pattern() {
        assert!(HookId::parse("01GQN0P01XY4VE0PCK7H20QZ4M").is_ok());
        assert!(HookId::parse("00001").is_ok());
        for bad in ["", "a/b", "a%2Fb", "a b", "../x"] {
            assert_eq!(
                HookId::parse(bad).unwrap_err().error_code(),
                Some("invalid_uri")
            );
        }
    }

    #[test]
    fn triggers_round_trip() {
        for t in ALL_TRIGGERS {
            assert_eq!(TriggerId::parse(t.as_str()), Some(t));
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.as_str())
            );
        }
        assert_eq!(TriggerId::parse("credentials_exchange"), None);
    }
}
