//! RS256 access-token verification in hookhaven-crypto (`verify_access_token`, strict
//! mode: one algorithm, strict base64url, duplicate-free JSON, signature before claims),
//! with a fixed test key (fuzz/testdata/jwt-test-key.pk8, kid `fuzz-test-key`) and a fixed
//! clock, so the seed tokens stay valid.
//!
//! Three kinds of input:
//! * anything else: verified as a token. Nothing the fuzzer makes may verify: a token that
//!   does must be byte for byte what `sign_access_token` makes for the claims it carries
//!   (that is, one of the seeds). Over-long tokens are `Malformed`.
//! * `<header JSON> 0xFF <payload JSON>`: the harness signs header and payload with the
//!   test key (as a holder of the key could) and verifies; this reaches the header checks
//!   and the claims parsing behind the signature. A token that verifies must pass an
//!   independent reading of the rules: alg RS256, known kid, no `jku`/`x5u`/`x5c`/`jwk`/
//!   `crit`, typ absent or JWT/at+jwt, issuer and audience, times with leeway.
//! * a JSON object: also read as a JWKS document; one that loads writes back
//!   (`to_json`) to one that loads the same.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hookhaven_crypto::jwt::DEFAULT_LEEWAY_SECS;
use hookhaven_crypto::{
    sign_access_token, verify_access_token, AccessClaims, Jwks, JwtError, SigningKey, VerifyOptions,
};
use libfuzzer_sys::fuzz_target;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::Value;
use std::sync::OnceLock;

const KEY_DER: &[u8] = include_bytes!("../testdata/jwt-test-key.pk8");
const KID: &str = "fuzz-test-key";
const NOW: i64 = 1_700_000_000;
const ISS: &str = "https://hookhaven.example/";
const AUD: &str = "https://hookhaven.example/api/v2/";

struct Fixture {
    key: SigningKey,
    jwks: Jwks,
    opts: VerifyOptions,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = SigningKey::from_pkcs8_der(KID.into(), KEY_DER).expect("test key loads");
        let jwks = Jwks::new(&[&key]);
        Fixture {
            key,
            jwks,
            opts: VerifyOptions::new(ISS, vec![AUD.into()], NOW),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    if let Some(split) = data.iter().position(|b| *b == 0xff) {
        signed(&data[..split], &data[split + 1..]);
        return;
    }
    let token = String::from_utf8_lossy(data);
    unsigned(&token);
    if let Some(line) = token.strip_suffix('\n') {
        unsigned(line);
    }
    jwks_round_trip(data);
});

fn unsigned(token: &str) {
    let f = fixture();
    match verify_access_token(token, &f.jwks, &f.opts) {
        Ok(claims) => {
            assert_eq!(
                token,
                sign_access_token(&f.key, &claims),
                "a token the test key did not make verified"
            );
            check_claims(&claims, None);
        }
        Err(e) => {
            if token.len() > f.opts.max_token_len {
                assert_eq!(e, JwtError::Malformed);
            }
            check_error(&e);
        }
    }
}

/// Verification errors are fixed words (`JwtError` carries text only for key loading).
fn check_error(e: &JwtError) {
    assert!(!matches!(e, JwtError::Key(_)), "{e:?} while verifying");
}

fn signed(header: &[u8], payload: &[u8]) {
    let f = fixture();
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    // Signing needs the input within ring's limits; tokens this long are refused anyway.
    if input.len() > f.opts.max_token_len {
        return;
    }
    let signature = sign(input.as_bytes());
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature));
    match verify_access_token(&token, &f.jwks, &f.opts) {
        Ok(claims) => {
            let header: Value = serde_json::from_slice(header).expect("verified header is JSON");
            let header = header.as_object().expect("verified header is an object");
            assert_eq!(header.get("alg"), Some(&Value::String("RS256".into())));
            assert_eq!(header.get("kid"), Some(&Value::String(KID.into())));
            for forbidden in ["jku", "x5u", "x5c", "jwk", "crit"] {
                assert!(!header.contains_key(forbidden), "{forbidden} accepted");
            }
            match header.get("typ") {
                None => {}
                Some(Value::String(t))
                    if t.eq_ignore_ascii_case("JWT") || t.eq_ignore_ascii_case("at+jwt") => {}
                Some(other) => panic!("typ {other} accepted"),
            }
            let payload: Value = serde_json::from_slice(payload).expect("verified payload is JSON");
            let parsed: AccessClaims =
                serde_json::from_value(payload.clone()).expect("verified claims parse");
            assert_eq!(parsed, claims);
            check_claims(&claims, payload.get("nbf"));
        }
        Err(e) => {
            check_error(&e);
            // The signature is good, so these can only come from the key lookup.
            if e == JwtError::BadSignature {
                panic!("a token signed with the test key has a bad signature");
            }
        }
    }
}

/// RSASSA-PKCS1-v1_5 with SHA-256 (deterministic), straight from `ring` with the same
/// key: `SigningKey` only signs the headers and claims it builds itself.
fn sign(input: &[u8]) -> Vec<u8> {
    static PAIR: OnceLock<RsaKeyPair> = OnceLock::new();
    let pair = PAIR.get_or_init(|| RsaKeyPair::from_pkcs8(KEY_DER).expect("test key loads"));
    let mut signature = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input,
        &mut signature,
    )
    .expect("signature buffer has the modulus length");
    signature
}

fn check_claims(claims: &AccessClaims, nbf: Option<&Value>) {
    assert_eq!(claims.iss, ISS);
    assert!(claims.aud.iter().any(|a| a == AUD));
    assert!(claims.exp > NOW - DEFAULT_LEEWAY_SECS);
    assert!(claims.iat <= NOW + DEFAULT_LEEWAY_SECS);
    if let Some(nbf) = nbf {
        let nbf = nbf.as_i64().expect("verified nbf is an integer");
        assert!(nbf <= NOW + DEFAULT_LEEWAY_SECS);
    }
}

fn jwks_round_trip(data: &[u8]) {
    let Ok(document) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(jwks) = Jwks::from_json(&document) else {
        return;
    };
    let written = jwks.to_json();
    let again = Jwks::from_json(&written).expect("to_json output loads");
    assert_eq!(again.kids(), jwks.kids());
    assert_eq!(again.to_json(), written);
    assert_eq!(jwks.len(), jwks.kids().len());
}
