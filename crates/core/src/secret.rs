//! Hook secrets: names, plaintext values (which never print) and sealed envelopes.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::hook::truncate_for_message;
use crate::{Error, Result};

/// What every read returns in place of a value. With underscores at both ends, as on the wire.
pub const PLACEHOLDER: &str = "_VALUE_NOT_SHOWN_";
/// D4: at most this many secrets per hook, counted after the write.
pub const MAX_SECRETS_PER_HOOK: usize = 20;
pub const SECRET_NAME_MAX_LEN: usize = 255;
pub const SECRET_VALUE_MAX_LEN: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretName(String);

impl SecretName {
    pub fn parse(s: &str) -> Result<SecretName> {
        if s.is_empty() {
            return Err(Error::payload("Secret names must not be empty"));
        }
        if s.chars().count() > SECRET_NAME_MAX_LEN {
            return Err(Error::payload(format!(
                "Secret name is too long, maximum {SECRET_NAME_MAX_LEN} characters: {}",
                truncate_for_message(s)
            )));
        }
        if s.chars().any(char::is_control) {
            return Err(Error::payload(
                "Secret names must not contain control characters",
            ));
        }
        Ok(SecretName(s.to_string()))
    }

    pub fn from_stored(s: String) -> SecretName {
        SecretName(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SecretName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plaintext secret value. It never prints (`Debug` and `Display` show `<redacted>`),
/// has no `Serialize`, and its memory is wiped on drop.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: String) -> Result<SecretValue> {
        if value.len() > SECRET_VALUE_MAX_LEN {
            // The value itself must not appear in the message.
            return Err(Error::payload(format!(
                "Secret values must be at most {SECRET_VALUE_MAX_LEN} bytes"
            )));
        }
        Ok(SecretValue(value))
    }

    /// Reveals the plaintext. Call only to seal it or to hand it to hook code.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True for a value that must never be stored: the placeholder every read returns
    /// (D1), or an auth0-deploy-cli keyword that was never replaced (`##NAME##`,
    /// `@@NAME@@`), which a0deploy sends as literal text when a mapping is missing.
    /// Writes treat both as "keep the current value".
    pub fn is_placeholder(&self) -> bool {
        self.0 == PLACEHOLDER || is_unresolved_keyword(&self.0)
    }
}

/// `##NAME##` or `@@NAME@@` with a keyword name of letters, digits, `_` or `-`.
fn is_unresolved_keyword(s: &str) -> bool {
    let inner = |marker: &str| {
        s.strip_prefix(marker)
            .and_then(|rest| rest.strip_suffix(marker))
            .is_some_and(|name| {
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            })
    };
    inner("##") || inner("@@")
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// An encrypted secret value as stored: the self-describing envelope
/// `v1:<key_id>:<base64url(nonce ‖ ciphertext ‖ tag)>` (see the crypto crate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    envelope: String,
}

impl SealedSecret {
    pub fn from_envelope(envelope: String) -> SealedSecret {
        SealedSecret { envelope }
    }

    pub fn envelope(&self) -> &str {
        &self.envelope
    }

    /// The id of the master key this value is sealed under, or `""` if the envelope is
    /// malformed (opening it will then fail with a typed error).
    pub fn key_id(&self) -> &str {
        self.envelope.split(':').nth(1).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_never_print() {
        let v = SecretValue::new("canary-4f1b".into()).unwrap();
        assert_eq!(format!("{v:?}"), "<redacted>");
        assert_eq!(format!("{v}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&v)), "Some(<redacted>)");
        assert_eq!(v.expose(), "canary-4f1b");
    }

    #[test]
    fn oversize_value_error_does_not_echo_it() {
        let big = "x".repeat(SECRET_VALUE_MAX_LEN + 1);
        let err = SecretValue::new(big.clone()).unwrap_err();
        assert!(!err.message().contains(&big[..100]));
    }

    #[test]
    fn unresolved_keywords_count_as_placeholders() {
        for keep in [PLACEHOLDER, "##API_KEY##", "@@API_KEY@@", "##a-b_1##"] {
            assert!(
                SecretValue::new(keep.into()).unwrap().is_placeholder(),
                "{keep}"
            );
        }
        for value in [
            "##",
            "####",
            "## KEY ##",
            "##KEY",
            "x##KEY##",
            "@@KEY##",
            "_VALUE_NOT_SHOWN",
            "real",
        ] {
            assert!(
                !SecretValue::new(value.into()).unwrap().is_placeholder(),
                "{value}"
            );
        }
    }

    #[test]
    fn sealed_key_id() {
        assert_eq!(
            SealedSecret::from_envelope("v1:k1:abc".into()).key_id(),
            "k1"
        );
    }
}
