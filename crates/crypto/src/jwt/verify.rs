//! Verifying access tokens, in a fixed order: cheap structural checks first, then the
//! header, then the signature, and only then the claims.

use serde::Deserialize;
use serde_json::Value;

use super::{b64_decode, strict_json, AccessClaims, Jwks, JwtError, ALG};

/// Suggested clock skew allowance.
pub const DEFAULT_LEEWAY_SECS: i64 = 30;
/// Suggested token size cap; our tokens are well under 2 KB.
pub const DEFAULT_MAX_TOKEN_LEN: usize = 8192;

/// Header parameters that would have us fetch or trust a key named by the token itself, or
/// honour extensions we do not implement.
const FORBIDDEN_HEADERS: [&str; 5] = ["jku", "x5u", "x5c", "jwk", "crit"];

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyOptions {
    pub issuer: String,
    /// Accepted audiences; the token's `aud` (string or array) must contain one of them.
    pub audiences: Vec<String>,
    /// The current time, in seconds since the epoch.
    pub now: i64,
    pub leeway_secs: i64,
    pub max_token_len: usize,
}

impl VerifyOptions {
    /// Options with the default leeway and size cap.
    pub fn new(issuer: impl Into<String>, audiences: Vec<String>, now: i64) -> VerifyOptions {
        VerifyOptions {
            issuer: issuer.into(),
            audiences,
            now,
            leeway_secs: DEFAULT_LEEWAY_SECS,
            max_token_len: DEFAULT_MAX_TOKEN_LEN,
        }
    }
}

/// Verifies a compact RS256 JWS and returns its claims.
pub fn verify_access_token(
    token: &str,
    keys: &Jwks,
    opts: &VerifyOptions,
) -> Result<AccessClaims, JwtError> {
    if token.len() > opts.max_token_len {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };

    let header = decode_object(header_b64)?;
    check_header(&header)?;
    // A kid that is absent or not a string cannot name one of our keys.
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .ok_or(JwtError::UnknownKey)?;

    let signature = b64_decode(signature_b64).ok_or(JwtError::Malformed)?;
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    keys.verify(kid, signing_input.as_bytes(), &signature)?;

    let payload = decode_object(payload_b64)?;
    let claims = AccessClaims::deserialize(&payload).map_err(|_| JwtError::Malformed)?;
    let not_before = match payload.get("nbf") {
        None => None,
        Some(nbf) => Some(nbf.as_i64().ok_or(JwtError::Malformed)?),
    };
    check_times(&claims, not_before, opts)?;
    if claims.iss != opts.issuer {
        return Err(JwtError::WrongIssuer);
    }
    if !claims.aud.iter().any(|aud| opts.audiences.contains(aud)) {
        return Err(JwtError::WrongAudience);
    }
    Ok(claims)
}

/// Base64url, then JSON without duplicate keys, which must be an object.
fn decode_object(part: &str) -> Result<serde_json::Map<String, Value>, JwtError> {
    let bytes = b64_decode(part).ok_or(JwtError::Malformed)?;
    match strict_json::parse(&bytes) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(JwtError::Malformed),
    }
}

fn check_header(header: &serde_json::Map<String, Value>) -> Result<(), JwtError> {
    match header.get("alg") {
        Some(Value::String(alg)) if alg == ALG => {}
        Some(Value::String(_)) => return Err(JwtError::UnsupportedAlg),
        _ => return Err(JwtError::Malformed),
    }
    if FORBIDDEN_HEADERS
        .iter()
        .any(|name| header.contains_key(*name))
    {
        return Err(JwtError::ForbiddenHeader);
    }
    match header.get("typ") {
        None => Ok(()),
        Some(Value::String(typ))
            if typ.eq_ignore_ascii_case("JWT") || typ.eq_ignore_ascii_case("at+jwt") =>
        {
            Ok(())
        }
        Some(_) => Err(JwtError::ForbiddenHeader),
    }
}

/// Saturating arithmetic: times come from the token and may be anything.
fn check_times(
    claims: &AccessClaims,
    not_before: Option<i64>,
    opts: &VerifyOptions,
) -> Result<(), JwtError> {
    let leeway = opts.leeway_secs.max(0);
    if opts.now.saturating_sub(leeway) >= claims.exp {
        return Err(JwtError::Expired);
    }
    let latest_start = opts.now.saturating_add(leeway);
    if not_before.is_some_and(|nbf| nbf > latest_start) || claims.iat > latest_start {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}

/// Security row 15: the JWT attack list (RFC 8725).
#[cfg(test)]
mod tests {
    use super::super::{b64_encode, sign_access_token, test_keys, SigningKey};
    use super::*;
    use hmac::{Hmac, Mac};
    use serde_json::json;
    use sha2::Sha256;

    const NOW: i64 = 1_700_000_000;
    const ISS: &str = "https://hookhaven.example/";
    const AUD: &str = "https://hookhaven.example/api/v2/";

    fn claims() -> AccessClaims {
        AccessClaims {
            iss: ISS.into(),
            sub: "client1@clients".into(),
            aud: vec![AUD.into()],
            iat: NOW - 10,
            exp: NOW + 3600,
            scope: "read:hooks create:hooks".into(),
            azp: "client1".into(),
            gty: "client-credentials".into(),
        }
    }

    fn claims_json() -> Value {
        serde_json::to_value(claims()).unwrap()
    }

    fn opts() -> VerifyOptions {
        VerifyOptions::new(ISS, vec![AUD.into()], NOW)
    }

    fn jwks() -> Jwks {
        Jwks::new(&[test_keys::ours()])
    }

    fn verify(token: &str) -> Result<AccessClaims, JwtError> {
        verify_access_token(token, &jwks(), &opts())
    }

    fn our_header() -> Value {
        json!({"alg": "RS256", "typ": "JWT", "kid": test_keys::ours().kid()})
    }

    /// Signs arbitrary header and payload text, as an attacker holding the key could.
    fn forge_text(key: &SigningKey, header: &str, payload: &str) -> String {
        let input = format!(
            "{}.{}",
            b64_encode(header.as_bytes()),
            b64_encode(payload.as_bytes())
        );
        let signature = key.sign(input.as_bytes());
        format!("{input}.{}", b64_encode(&signature))
    }

    fn forge(key: &SigningKey, header: &Value, payload: &Value) -> String {
        forge_text(key, &header.to_string(), &payload.to_string())
    }

    fn with(mut value: Value, name: &str, field: Value) -> Value {
        value[name] = field;
        value
    }

    fn without(mut value: Value, name: &str) -> Value {
        value.as_object_mut().unwrap().remove(name);
        value
    }

    fn hs256(secret: &[u8], header: &Value, payload: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64_encode(header.to_string().as_bytes()),
            b64_encode(payload.to_string().as_bytes())
        );
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", b64_encode(&mac.finalize().into_bytes()))
    }

    #[test]
    fn valid_token_round_trips() {
        let token = sign_access_token(test_keys::ours(), &claims());
        assert_eq!(verify(&token).unwrap(), claims());
    }

    #[test]
    fn accepted_typ_values_and_audience_forms() {
        for typ in [json!("JWT"), json!("jwt"), json!("at+jwt"), json!("AT+JWT")] {
            let token = forge(
                test_keys::ours(),
                &with(our_header(), "typ", typ),
                &claims_json(),
            );
            assert!(verify(&token).is_ok());
        }
        let token = forge(
            test_keys::ours(),
            &without(our_header(), "typ"),
            &claims_json(),
        );
        assert!(verify(&token).is_ok());

        let many = with(claims_json(), "aud", json!(["https://other/", AUD]));
        let token = forge(test_keys::ours(), &our_header(), &many);
        assert_eq!(verify(&token).unwrap().aud, vec!["https://other/", AUD]);

        let mut options = opts();
        options.audiences = vec!["https://first/".into(), AUD.into()];
        let token = sign_access_token(test_keys::ours(), &claims());
        assert!(verify_access_token(&token, &jwks(), &options).is_ok());
    }

    #[test]
    fn alg_none_is_unsupported() {
        for alg in ["none", "None", "NONE", ""] {
            let header = with(our_header(), "alg", json!(alg));
            let unsigned = format!(
                "{}.{}.",
                b64_encode(header.to_string().as_bytes()),
                b64_encode(claims_json().to_string().as_bytes())
            );
            assert_eq!(verify(&unsigned), Err(JwtError::UnsupportedAlg), "{alg}");
            // Even carrying a real signature.
            let signed = forge(test_keys::ours(), &header, &claims_json());
            assert_eq!(verify(&signed), Err(JwtError::UnsupportedAlg), "{alg}");
        }
    }

    #[test]
    fn any_other_alg_is_unsupported() {
        for alg in [
            "HS256", "HS512", "RS384", "RS512", "PS256", "ES256", "EdDSA", "rs256", "RS256 ",
        ] {
            let token = forge(
                test_keys::ours(),
                &with(our_header(), "alg", json!(alg)),
                &claims_json(),
            );
            assert_eq!(verify(&token), Err(JwtError::UnsupportedAlg), "{alg}");
        }
        for alg in [json!(null), json!(256), json!(["RS256"])] {
            let token = forge(
                test_keys::ours(),
                &with(our_header(), "alg", alg),
                &claims_json(),
            );
            assert_eq!(verify(&token), Err(JwtError::Malformed));
        }
        let token = forge(
            test_keys::ours(),
            &without(our_header(), "alg"),
            &claims_json(),
        );
        assert_eq!(verify(&token), Err(JwtError::Malformed));
    }

    /// Key confusion: an HS256 token whose HMAC key is our public key in any of the forms
    /// an attacker can get it in.
    #[test]
    fn hs256_signed_with_the_public_key_is_unsupported() {
        use rsa::pkcs1::EncodeRsaPublicKey;
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};

        let key = test_keys::ours();
        let private = rsa::RsaPrivateKey::from_pkcs8_der(&key.to_pkcs8_der()).unwrap();
        let public = private.to_public_key();
        let jwk = key.public_jwk();
        let secrets: Vec<Vec<u8>> = vec![
            key.public_key_der().to_vec(),
            public.to_public_key_der().unwrap().as_bytes().to_vec(),
            public
                .to_public_key_pem(LineEnding::LF)
                .unwrap()
                .into_bytes(),
            public.to_pkcs1_pem(LineEnding::LF).unwrap().into_bytes(),
            jwk["n"].as_str().unwrap().as_bytes().to_vec(),
            b64_decode(jwk["n"].as_str().unwrap()).unwrap(),
            jwk.to_string().into_bytes(),
        ];
        let header = with(our_header(), "alg", json!("HS256"));
        for secret in &secrets {
            let token = hs256(secret, &header, &claims_json());
            assert_eq!(verify(&token), Err(JwtError::UnsupportedAlg));
        }
    }

    #[test]
    fn key_fetching_and_critical_headers_are_forbidden() {
        let jwk = test_keys::ours().public_jwk();
        for (name, value) in [
            ("jku", json!("https://attacker.example/jwks.json")),
            ("x5u", json!("https://attacker.example/cert.pem")),
            ("x5c", json!(["MIIB"])),
            ("jwk", jwk),
            ("crit", json!(["exp"])),
            ("crit", json!([])),
            ("crit", json!(null)),
        ] {
            let token = forge(
                test_keys::ours(),
                &with(our_header(), name, value),
                &claims_json(),
            );
            assert_eq!(verify(&token), Err(JwtError::ForbiddenHeader), "{name}");
        }
    }

    #[test]
    fn wrong_typ_is_forbidden() {
        for typ in [
            json!("JWS"),
            json!("id+jwt"),
            json!("application/jwt"),
            json!(""),
            json!(1),
            json!(null),
        ] {
            let token = forge(
                test_keys::ours(),
                &with(our_header(), "typ", typ.clone()),
                &claims_json(),
            );
            assert_eq!(verify(&token), Err(JwtError::ForbiddenHeader), "{typ}");
        }
    }

    #[test]
    fn kid_is_only_an_opaque_lookup() {
        for kid in [
            json!("../../etc/passwd"),
            json!("' OR 1=1 --"),
            json!("http://x"),
            json!("https://attacker.example/key"),
            json!("file:///dev/zero"),
            json!(""),
            json!(" "),
            json!(1),
            json!(null),
            json!([test_keys::ours().kid()]),
        ] {
            let token = forge(
                test_keys::ours(),
                &with(our_header(), "kid", kid.clone()),
                &claims_json(),
            );
            assert_eq!(verify(&token), Err(JwtError::UnknownKey), "{kid}");
        }
        let token = forge(
            test_keys::ours(),
            &without(our_header(), "kid"),
            &claims_json(),
        );
        assert_eq!(verify(&token), Err(JwtError::UnknownKey));
    }

    #[test]
    fn altered_payload_or_header_keeps_no_signature() {
        let token = sign_access_token(test_keys::ours(), &claims());
        let parts: Vec<&str> = token.split('.').collect();

        let elevated = with(claims_json(), "scope", json!("read:hooks delete:hooks"));
        let altered = format!(
            "{}.{}.{}",
            parts[0],
            b64_encode(elevated.to_string().as_bytes()),
            parts[2]
        );
        assert_eq!(verify(&altered), Err(JwtError::BadSignature));

        let header = with(our_header(), "typ", json!("at+jwt"));
        let altered = format!(
            "{}.{}.{}",
            b64_encode(header.to_string().as_bytes()),
            parts[1],
            parts[2]
        );
        assert_eq!(verify(&altered), Err(JwtError::BadSignature));

        let mut signature = b64_decode(parts[2]).unwrap();
        signature[100] ^= 1;
        let altered = format!("{}.{}.{}", parts[0], parts[1], b64_encode(&signature));
        assert_eq!(verify(&altered), Err(JwtError::BadSignature));
    }

    #[test]
    fn stripped_signature_is_rejected() {
        let token = sign_access_token(test_keys::ours(), &claims());
        let (input, signature) = token.rsplit_once('.').unwrap();
        assert_eq!(verify(&format!("{input}.")), Err(JwtError::BadSignature));
        assert_eq!(verify(input), Err(JwtError::Malformed));
        let bytes = b64_decode(signature).unwrap();
        let short = b64_encode(&bytes[..bytes.len() - 1]);
        assert_eq!(
            verify(&format!("{input}.{short}")),
            Err(JwtError::BadSignature)
        );
        let long = b64_encode(&[bytes.as_slice(), &[0]].concat());
        assert_eq!(
            verify(&format!("{input}.{long}")),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn other_signing_keys_are_not_ours() {
        let theirs = test_keys::theirs();
        let token = sign_access_token(theirs, &claims());
        assert_eq!(verify(&token), Err(JwtError::UnknownKey));
        // Their key, with our kid forged into the header.
        let forged = forge(theirs, &our_header(), &claims_json());
        assert_eq!(verify(&forged), Err(JwtError::BadSignature));
    }

    /// During a rotation both keys verify; once the old key is dropped, its tokens do not.
    #[test]
    fn rotation_grace_then_refusal() {
        let (old, new) = (test_keys::theirs(), test_keys::ours());
        let old_token = sign_access_token(old, &claims());
        let during = Jwks::new(&[new, old]);
        assert!(verify_access_token(&old_token, &during, &opts()).is_ok());
        let after = Jwks::new(&[new]);
        assert_eq!(
            verify_access_token(&old_token, &after, &opts()),
            Err(JwtError::UnknownKey)
        );
    }

    #[test]
    fn oversize_tokens_are_malformed() {
        let padded = with(claims_json(), "pad", json!("x".repeat(6700)));
        let token = forge(test_keys::ours(), &our_header(), &padded);
        assert!(token.len() > 9000, "{}", token.len());
        assert_eq!(verify(&token), Err(JwtError::Malformed));
        let mut roomy = opts();
        roomy.max_token_len = 16 * 1024;
        assert!(verify_access_token(&token, &jwks(), &roomy).is_ok());
        assert_eq!(verify(&"a".repeat(9000)), Err(JwtError::Malformed));
    }

    #[test]
    fn malformed_structure() {
        let token = sign_access_token(test_keys::ours(), &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let (h, p, s) = (parts[0], parts[1], parts[2]);
        for bad in [
            String::new(),
            ".".into(),
            "..".into(),
            "...".into(),
            format!("{h}.{p}"),
            format!("{h}.{p}.{s}.{s}"),
            format!("{h}=.{p}.{s}"),
            format!("{h}.{p}.{s}="),
            format!("{}.{p}.{s}", h.replace('e', "+")),
            format!("{h} .{p}.{s}"),
            format!("{}.{p}.{s}", b64_encode(b"not json")),
            format!("{}.{p}.{s}", b64_encode(b"[\"RS256\"]")),
            format!("{}.{p}.{s}", b64_encode(b"\"RS256\"")),
        ] {
            assert_eq!(verify(&bad), Err(JwtError::Malformed), "{bad}");
        }
    }

    /// Well signed, but the payload is not usable claims.
    #[test]
    fn malformed_claims_after_the_signature() {
        let key = test_keys::ours();
        let header = our_header().to_string();
        for payload in ["not json", "[]", "null", "{}", "{\"iss\":1}"] {
            assert_eq!(
                verify(&forge_text(key, &header, payload)),
                Err(JwtError::Malformed),
                "{payload}"
            );
        }
        for name in ["iss", "sub", "aud", "iat", "exp", "azp", "gty"] {
            let token = forge(key, &our_header(), &without(claims_json(), name));
            assert_eq!(verify(&token), Err(JwtError::Malformed), "{name}");
        }
        for (name, value) in [
            ("exp", json!("soon")),
            ("exp", json!(1.7e9)),
            ("exp", json!(1e30)),
            ("nbf", json!("now")),
            ("aud", json!(7)),
        ] {
            let token = forge(key, &our_header(), &with(claims_json(), name, value));
            assert_eq!(verify(&token), Err(JwtError::Malformed), "{name}");
        }
    }

    #[test]
    fn duplicate_json_keys_are_malformed() {
        let key = test_keys::ours();
        let kid = key.kid();
        let payload = claims_json().to_string();
        let header = format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{kid}","alg":"RS256"}}"#);
        assert_eq!(
            verify(&forge_text(key, &header, &payload)),
            Err(JwtError::Malformed)
        );
        let header = format!(r#"{{"alg":"RS256","kid":"{kid}","kid":"other"}}"#);
        assert_eq!(
            verify(&forge_text(key, &header, &payload)),
            Err(JwtError::Malformed)
        );

        let header = our_header().to_string();
        let dup_sub = payload.replacen('{', r#"{"sub":"admin@clients","#, 1);
        assert_eq!(
            verify(&forge_text(key, &header, &dup_sub)),
            Err(JwtError::Malformed)
        );
        let nested = payload.replacen('{', r#"{"ext":{"a":1,"a":2},"#, 1);
        assert_eq!(
            verify(&forge_text(key, &header, &nested)),
            Err(JwtError::Malformed)
        );
        // The same claims without duplicates are fine.
        let extra = payload.replacen('{', r#"{"ext":{"a":1,"b":2},"#, 1);
        assert!(verify(&forge_text(key, &header, &extra)).is_ok());
    }

    #[test]
    fn expiry_with_leeway() {
        let key = test_keys::ours();
        let at = |exp: i64| forge(key, &our_header(), &with(claims_json(), "exp", json!(exp)));
        assert!(verify(&at(NOW - 29)).is_ok());
        assert_eq!(verify(&at(NOW - 30)), Err(JwtError::Expired));
        assert_eq!(verify(&at(NOW - 31)), Err(JwtError::Expired));
        assert_eq!(verify(&at(i64::MIN)), Err(JwtError::Expired));
        assert!(verify(&at(i64::MAX)).is_ok());
        let mut strict = opts();
        strict.leeway_secs = 0;
        assert_eq!(
            verify_access_token(&at(NOW), &jwks(), &strict),
            Err(JwtError::Expired)
        );
        assert!(verify_access_token(&at(NOW + 1), &jwks(), &strict).is_ok());
    }

    #[test]
    fn not_before_and_issued_at_with_leeway() {
        let key = test_keys::ours();
        let nbf = |t: i64| forge(key, &our_header(), &with(claims_json(), "nbf", json!(t)));
        assert!(verify(&nbf(NOW + 30)).is_ok());
        assert_eq!(verify(&nbf(NOW + 31)), Err(JwtError::NotYetValid));
        assert_eq!(verify(&nbf(i64::MAX)), Err(JwtError::NotYetValid));
        let iat = |t: i64| forge(key, &our_header(), &with(claims_json(), "iat", json!(t)));
        assert!(verify(&iat(NOW + 30)).is_ok());
        assert_eq!(verify(&iat(NOW + 31)), Err(JwtError::NotYetValid));
    }

    #[test]
    fn wrong_issuer_and_audience() {
        let key = test_keys::ours();
        for iss in [
            "https://evil.example/",
            "https://hookhaven.example",
            "HTTPS://HOOKHAVEN.EXAMPLE/",
        ] {
            let token = forge(key, &our_header(), &with(claims_json(), "iss", json!(iss)));
            assert_eq!(verify(&token), Err(JwtError::WrongIssuer), "{iss}");
        }
        for aud in [
            json!("https://other.example/api/"),
            json!([]),
            json!(["a", "b"]),
            json!(AUD.trim_end_matches('/')),
        ] {
            let token = forge(key, &our_header(), &with(claims_json(), "aud", aud.clone()));
            assert_eq!(verify(&token), Err(JwtError::WrongAudience), "{aud}");
        }
        let mut nobody = opts();
        nobody.audiences.clear();
        let token = sign_access_token(key, &claims());
        assert_eq!(
            verify_access_token(&token, &jwks(), &nobody),
            Err(JwtError::WrongAudience)
        );
    }

    /// No claim is looked at before the signature holds.
    #[test]
    fn signature_is_checked_before_claims() {
        let theirs = test_keys::theirs();
        let mut bad = claims();
        bad.exp = NOW - 1000;
        bad.iss = "https://evil.example/".into();
        bad.aud = vec!["nobody".into()];
        let token = forge(theirs, &our_header(), &serde_json::to_value(&bad).unwrap());
        assert_eq!(verify(&token), Err(JwtError::BadSignature));
        let token = forge_text(theirs, &our_header().to_string(), r#"{"a":1,"a":2}"#);
        assert_eq!(verify(&token), Err(JwtError::BadSignature));
    }

    #[test]
    fn errors_do_not_echo_the_token() {
        let token = sign_access_token(test_keys::ours(), &claims());
        let err = verify_access_token(&token, &Jwks::default(), &opts()).unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains(&token[..20]));
    }
}
