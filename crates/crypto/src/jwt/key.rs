//! RSA signing keys. `rsa` only generates keys; `ring` signs with them.

use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_SHA256};
use rsa::pkcs8::EncodePrivateKey;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{b64_encode, JwtError, ALG};

const KEY_BITS: usize = 2048;

/// An RS256 signing key and its id. Its private half never prints.
pub struct SigningKey {
    kid: String,
    pair: RsaKeyPair,
    /// Kept to hand back for sealed storage; `ring` cannot export a key.
    pkcs8: Zeroizing<Vec<u8>>,
}

impl SigningKey {
    /// A fresh 2048-bit key whose kid is derived from its public key.
    pub fn generate() -> SigningKey {
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS)
            .expect("generating a 2048-bit RSA key with the OS RNG does not fail");
        // `SecretDocument` wipes itself on drop, as does `RsaPrivateKey`.
        let der = private
            .to_pkcs8_der()
            .expect("a freshly generated RSA key encodes as PKCS#8");
        let pair = RsaKeyPair::from_pkcs8(der.as_bytes())
            .expect("ring accepts the PKCS#8 encoding of a 2048-bit two-prime key");
        SigningKey {
            kid: derive_kid(&pair),
            pair,
            pkcs8: Zeroizing::new(der.as_bytes().to_vec()),
        }
    }

    /// Loads a stored key. The kid is the one it was published under, kept as given so that
    /// tokens already issued keep verifying.
    pub fn from_pkcs8_der(kid: String, der: &[u8]) -> Result<SigningKey, JwtError> {
        if kid.is_empty() {
            return Err(JwtError::Key("the key id is empty".into()));
        }
        // `KeyRejected` describes the problem in words and never includes key bytes.
        let pair = RsaKeyPair::from_pkcs8(der)
            .map_err(|e| JwtError::Key(format!("not a usable RSA PKCS#8 key ({e})")))?;
        Ok(SigningKey {
            kid,
            pair,
            pkcs8: Zeroizing::new(der.to_vec()),
        })
    }

    /// The PKCS#8 DER of the private key, to be sealed before it is stored.
    pub fn to_pkcs8_der(&self) -> Zeroizing<Vec<u8>> {
        self.pkcs8.clone()
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public key as a JWK, as published at `/.well-known/jwks.json`.
    pub fn public_jwk(&self) -> serde_json::Value {
        let (n, e) = self.public_components();
        serde_json::json!({
            "kty": "RSA",
            "use": "sig",
            "alg": ALG,
            "kid": self.kid,
            "n": b64_encode(&n),
            "e": b64_encode(&e),
        })
    }

    /// Modulus and exponent, big-endian without leading zeros.
    pub(super) fn public_components(&self) -> (Vec<u8>, Vec<u8>) {
        let c: RsaPublicKeyComponents<Vec<u8>> = self.pair.public().into();
        (c.n, c.e)
    }

    /// RSASSA-PKCS1-v1_5 with SHA-256 over `message`.
    pub(super) fn sign(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0u8; self.pair.public().modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .expect("signing fails only for a wrongly sized output buffer");
        signature
    }

    /// The PKCS#1 DER of the public key.
    #[cfg(test)]
    pub(super) fn public_key_der(&self) -> &[u8] {
        self.pair.public().as_ref()
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The first 16 bytes of SHA-256 over the PKCS#1 DER public key, base64url: stable for a
/// key, and says nothing about anything else.
fn derive_kid(pair: &RsaKeyPair) -> String {
    let digest = Sha256::digest(pair.public().as_ref());
    b64_encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    use super::super::{b64_decode, test_keys};
    use super::*;

    #[test]
    fn generated_key_has_a_derived_kid_and_2048_bits() {
        let key = test_keys::ours();
        assert_eq!(key.kid().len(), 22);
        assert_eq!(key.kid(), derive_kid(&key.pair));
        assert_ne!(key.kid(), test_keys::theirs().kid());
        assert_eq!(key.pair.public().modulus_len(), 256);
    }

    #[test]
    fn pkcs8_round_trips_and_keeps_the_given_kid() {
        let key = test_keys::ours();
        let der = key.to_pkcs8_der();
        let back = SigningKey::from_pkcs8_der("stored-kid".into(), &der).unwrap();
        assert_eq!(back.kid(), "stored-kid");
        assert_eq!(back.public_components(), key.public_components());
        assert_eq!(back.to_pkcs8_der().as_slice(), der.as_slice());
    }

    #[test]
    fn bad_key_material_is_refused_without_echo() {
        for der in [&b""[..], b"not a key", &[0x30, 0x82, 0x01]] {
            let err = SigningKey::from_pkcs8_der("k".into(), der).unwrap_err();
            assert!(matches!(err, JwtError::Key(_)), "{err:?}");
        }
        let der = test_keys::ours().to_pkcs8_der();
        let err = SigningKey::from_pkcs8_der(String::new(), &der).unwrap_err();
        assert!(matches!(err, JwtError::Key(_)));
        let mut truncated = der.to_vec();
        truncated.truncate(der.len() / 2);
        let err = SigningKey::from_pkcs8_der("k".into(), &truncated).unwrap_err();
        assert!(!err.to_string().contains(&b64_encode(&truncated[..16])));
    }

    #[test]
    fn public_jwk_has_the_published_shape() {
        let key = test_keys::ours();
        let jwk = key.public_jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["kid"], key.kid());
        assert_eq!(jwk["e"], "AQAB");
        let n = b64_decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
        assert_ne!(n[0], 0, "no leading zero byte");
        assert_eq!(jwk.as_object().unwrap().len(), 6);
    }

    #[test]
    fn debug_shows_only_the_kid() {
        let key = test_keys::ours();
        let debug = format!("{key:?}");
        assert_eq!(debug, format!("SigningKey {{ kid: {:?}, .. }}", key.kid()));
    }
}
