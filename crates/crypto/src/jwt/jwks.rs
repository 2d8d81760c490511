//! The set of public keys tokens are verified against, published as a JWKS.

use std::collections::BTreeMap;

use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde_json::{json, Value};

use super::{b64_decode, b64_encode, JwtError, SigningKey, ALG};

/// Bounds matching what `ring` will verify with: 2048 to 8192-bit moduli.
const MIN_MODULUS_BYTES: usize = 256;
const MAX_MODULUS_BYTES: usize = 1024;

/// Public RSA keys by kid. During a rotation it holds the new key and the old one.
#[derive(Clone, Default)]
pub struct Jwks {
    keys: BTreeMap<String, PublicKey>,
}

#[derive(Clone, PartialEq, Eq)]
struct PublicKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl Jwks {
    /// The public halves of `keys`. Should two share a kid, the first one is kept.
    pub fn new(keys: &[&SigningKey]) -> Jwks {
        let mut set = BTreeMap::new();
        for key in keys {
            let (n, e) = key.public_components();
            set.entry(key.kid().to_string())
                .or_insert(PublicKey { n, e });
        }
        Jwks { keys: set }
    }

    /// Reads a JWKS document (`{"keys":[…]}`) such as [`Jwks::to_json`] writes. Only RS256
    /// signature keys are accepted; anything else is refused rather than skipped, so that a
    /// mistake in a key file shows at start-up.
    pub fn from_json(document: &Value) -> Result<Jwks, JwtError> {
        let entries = document
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| JwtError::Key("a JWKS needs a `keys` array".into()))?;
        let mut keys = BTreeMap::new();
        for entry in entries {
            let (kid, key) = parse_jwk(entry)?;
            if keys.insert(kid, key).is_some() {
                return Err(JwtError::Key("two keys in the JWKS share a kid".into()));
            }
        }
        Ok(Jwks { keys })
    }

    /// The JWKS document: `{"keys":[…]}`, ordered by kid.
    pub fn to_json(&self) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .map(|(kid, key)| {
                json!({
                    "kty": "RSA",
                    "use": "sig",
                    "alg": ALG,
                    "kid": kid,
                    "n": b64_encode(&key.n),
                    "e": b64_encode(&key.e),
                })
            })
            .collect();
        json!({ "keys": keys })
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn kids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks an RS256 signature with the key named `kid`. The kid is only ever used as a
    /// map key: never a path, a URL or a query.
    pub(super) fn verify(
        &self,
        kid: &str,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), JwtError> {
        let key = self.keys.get(kid).ok_or(JwtError::UnknownKey)?;
        RsaPublicKeyComponents {
            n: &key.n,
            e: &key.e,
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
        .map_err(|_| JwtError::BadSignature)
    }
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks").field("kids", &self.kids()).finish()
    }
}

fn parse_jwk(entry: &Value) -> Result<(String, PublicKey), JwtError> {
    let field = |name: &str| entry.get(name).and_then(Value::as_str);
    if field("kty") != Some("RSA") {
        return Err(JwtError::Key(
            "only RSA keys (`kty: RSA`) are accepted".into(),
        ));
    }
    if entry.get("alg").is_some_and(|alg| alg != ALG) {
        return Err(JwtError::Key("only RS256 keys are accepted".into()));
    }
    if entry.get("use").is_some_and(|u| u != "sig") {
        return Err(JwtError::Key(
            "only signature keys (`use: sig`) are accepted".into(),
        ));
    }
    let kid = field("kid")
        .filter(|kid| !kid.is_empty())
        .ok_or_else(|| JwtError::Key("every key needs a non-empty `kid`".into()))?;
    let n = field("n")
        .and_then(b64_decode)
        .ok_or_else(|| JwtError::Key("`n` must be base64url".into()))?;
    let e = field("e")
        .and_then(b64_decode)
        .ok_or_else(|| JwtError::Key("`e` must be base64url".into()))?;
    let n = strip_leading_zeros(n);
    let e = strip_leading_zeros(e);
    if !(MIN_MODULUS_BYTES..=MAX_MODULUS_BYTES).contains(&n.len()) {
        return Err(JwtError::Key(
            "the modulus must be 2048 to 8192 bits long".into(),
        ));
    }
    if e.is_empty() || e.len() > 4 {
        return Err(JwtError::Key("the public exponent is out of range".into()));
    }
    Ok((kid.to_string(), PublicKey { n, e }))
}

fn strip_leading_zeros(mut bytes: Vec<u8>) -> Vec<u8> {
    let zeros = bytes.iter().take_while(|&&b| b == 0).count();
    bytes.drain(..zeros);
    bytes
}

#[cfg(test)]
mod tests {
    use super::super::test_keys;
    use super::*;

    #[test]
    fn publishes_the_public_keys() {
        let ours = test_keys::ours();
        let theirs = test_keys::theirs();
        let jwks = Jwks::new(&[ours, theirs, ours]);
        assert_eq!(jwks.len(), 2);
        assert!(jwks.contains(ours.kid()) && jwks.contains(theirs.kid()));
        let doc = jwks.to_json();
        let keys = doc["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys.contains(&ours.public_jwk()));
        assert!(keys.contains(&theirs.public_jwk()));
        let text = doc.to_string();
        assert!(
            !text.contains("\"d\"") && !text.contains("\"p\""),
            "no private parts"
        );
    }

    #[test]
    fn reads_back_its_own_json() {
        let jwks = Jwks::new(&[test_keys::ours(), test_keys::theirs()]);
        let back = Jwks::from_json(&jwks.to_json()).unwrap();
        assert!(back.keys == jwks.keys);
        assert!(Jwks::from_json(&json!({"keys": []})).unwrap().is_empty());
    }

    #[test]
    fn refuses_doubtful_jwks() {
        let good = test_keys::ours().public_jwk();
        let with = |name: &str, value: Value| {
            let mut jwk = good.clone();
            jwk[name] = value;
            json!({ "keys": [jwk] })
        };
        let short_n = b64_encode(&[0xc5; 128]);
        for doc in [
            json!({}),
            json!({"keys": {}}),
            json!({"keys": [good.clone(), good.clone()]}),
            with("kty", json!("EC")),
            with("kty", json!("oct")),
            with("alg", json!("HS256")),
            with("alg", json!("none")),
            with("use", json!("enc")),
            with("kid", json!("")),
            with("kid", json!(7)),
            with("n", json!("+/==")),
            with("n", json!(short_n)),
            with("e", json!("")),
            with("e", json!("AQABAQAB")),
        ] {
            let err = Jwks::from_json(&doc).unwrap_err();
            assert!(matches!(err, JwtError::Key(_)), "{doc}");
        }
    }

    #[test]
    fn debug_lists_kids() {
        let jwks = Jwks::new(&[test_keys::ours()]);
        assert_eq!(
            format!("{jwks:?}"),
            format!("Jwks {{ kids: [{:?}] }}", test_keys::ours().kid())
        );
    }
}
