//! Issuing access tokens.

use serde::Serialize;

use super::{b64_encode, AccessClaims, SigningKey, ALG};

/// Field order gives the exact header `{"alg":"RS256","typ":"JWT","kid":"…"}`.
#[derive(Serialize)]
struct Header<'a> {
    alg: &'static str,
    typ: &'static str,
    kid: &'a str,
}

/// A compact JWS (`header.payload.signature`, base64url without padding) signed RS256.
pub fn sign_access_token(key: &SigningKey, claims: &AccessClaims) -> String {
    sign_access_token_with(key, claims, &serde_json::Map::new())
}

/// Like [`sign_access_token`], with extra claims after the standard ones (a
/// credentials-exchange hook's namespaced claims). An extra claim never replaces a
/// standard one: those keys are skipped.
pub fn sign_access_token_with(
    key: &SigningKey,
    claims: &AccessClaims,
    extra: &serde_json::Map<String, serde_json::Value>,
) -> String {
    let header = Header {
        alg: ALG,
        typ: "JWT",
        kid: key.kid(),
    };
    let header = serde_json::to_vec(&header).expect("a struct of strings serializes");
    let mut payload =
        serde_json::to_value(claims).expect("claims of strings and integers serialize");
    if let serde_json::Value::Object(map) = &mut payload {
        for (k, v) in extra {
            if !map.contains_key(k) {
                map.insert(k.clone(), v.clone());
            }
        }
    }
    let payload = serde_json::to_vec(&payload).expect("a JSON value serializes");
    let mut token = format!("{}.{}", b64_encode(&header), b64_encode(&payload));
    let signature = key.sign(token.as_bytes());
    token.push('.');
    token.push_str(&b64_encode(&signature));
    token
}

#[cfg(test)]
mod tests {
    use super::super::{b64_decode, test_keys};
    use super::*;

    #[test]
    fn header_is_exact() {
        let key = test_keys::ours();
        let claims = AccessClaims {
            iss: "i".into(),
            sub: "s".into(),
            aud: vec!["a".into()],
            iat: 0,
            exp: 1,
            scope: String::new(),
            azp: "z".into(),
            gty: "client-credentials".into(),
        };
        let token = sign_access_token(key, &claims);
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header = b64_decode(parts[0]).unwrap();
        assert_eq!(
            String::from_utf8(header).unwrap(),
            format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{}"}}"#, key.kid())
        );
        assert_eq!(b64_decode(parts[2]).unwrap().len(), 256);
        assert!(!token.contains('=') && !token.contains('+') && !token.contains('/'));
    }
}
