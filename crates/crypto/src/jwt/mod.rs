//! RS256 access tokens: signing keys, the published key set, signing and verification.
//!
//! Verification follows RFC 8725: one algorithm only, header parameters that could make us
//! fetch or trust a key from the token are refused, `kid` is only an opaque lookup key, and
//! no claim is read before the signature has been checked.

mod claims;
mod jwks;
mod key;
mod sign;
mod strict_json;
mod verify;

pub use claims::AccessClaims;
pub use jwks::Jwks;
pub use key::SigningKey;
pub use sign::{sign_access_token, sign_access_token_with};
pub use verify::{verify_access_token, VerifyOptions, DEFAULT_LEEWAY_SECS, DEFAULT_MAX_TOKEN_LEN};

/// Why a token was refused, or a key could not be loaded. The server maps these to
/// Auth0's 401 messages; none of them carries token or key contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm is not supported")]
    UnsupportedAlg,
    #[error("token header has a forbidden parameter")]
    ForbiddenHeader,
    #[error("token signing key is not known")]
    UnknownKey,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    #[error("token audience is not accepted")]
    WrongAudience,
    #[error("signing key could not be loaded: {0}")]
    Key(String),
}

/// The only algorithm we sign with or accept.
const ALG: &str = "RS256";

fn b64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Strict: no padding, no standard-alphabet characters, no stray bits.
fn b64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()
}

/// RSA key generation is slow, so every test module shares these two keys.
#[cfg(test)]
mod test_keys {
    use super::SigningKey;
    use std::sync::OnceLock;

    pub(super) fn ours() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(SigningKey::generate)
    }

    /// An unrelated key, standing for another tenant or a rotated-out key.
    pub(super) fn theirs() -> &'static SigningKey {
        static KEY: OnceLock<SigningKey> = OnceLock::new();
        KEY.get_or_init(SigningKey::generate)
    }
}
