//! The sealed-value envelope `v1:<kid>:<base64url(nonce ‖ ciphertext ‖ tag)>` and the
//! master keyring file, in hookhaven-crypto, with a fixed test keyring.
//!
//! The input, as text, is opened as a hook secret and as a server key, and parsed as a
//! keyring file. Properties, besides "never panics":
//! * the only envelopes that open are the golden ones of crates/crypto/src/seal.rs
//!   (AES-GCM cannot be forged by a fuzzer, so anything else opening means the parser
//!   accepted a second spelling of a ciphertext: padding, stray bits, trailing text...);
//! * an envelope that names an unknown key is reported with exactly that key id, the one
//!   `SealedSecret::key_id` reads;
//! * `seal_secret` → `open_secret` round-trips any value, under the record it was sealed
//!   for only; the envelope is canonical base64url of nonce + value + tag;
//! * a keyring file that parses writes back (`to_toml`) to one that parses the same.
#![no_main]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hookhaven_core::secret::SECRET_VALUE_MAX_LEN;
use hookhaven_core::{SealedSecret, SecretValue};
use hookhaven_crypto::{
    open_secret, open_server_key, seal_secret, seal_server_key, MasterKeyring, OpenError,
};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// Key `[0x11; 32]` as `k-golden` (active) and `[0x22; 32]` as `k-other`.
const KEYRING: &str = "active = \"k-golden\"\n\n[keys]\n\
k-golden = \"ERERERERERERERERERERERERERERERERERERERERERE=\"\n\
k-other = \"IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI=\"\n";

/// From crates/crypto/src/seal.rs: hook `01HOOK`, secret `API_KEY`, value `canary-4f1b`.
const GOLDEN_SECRET: &str = "v1:k-golden:AAECAwQFBgcICQoLcILYcgnaGMByibElsYjnbjbWAV69kmEG2YHO";
/// From crates/crypto/src/seal.rs: server key `jwt-signing`, bytes `[1, 2, 3]`.
const GOLDEN_SERVER_KEY: &str = "v1:k-golden:AAECAwQFBgcICQoLEuG1gqOUG0qqG7jgiVm6Hb7VjA";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

fn ring() -> &'static MasterKeyring {
    static RING: OnceLock<MasterKeyring> = OnceLock::new();
    RING.get_or_init(|| MasterKeyring::parse(KEYRING).expect("the test keyring parses"))
}

fn is_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    open_fuzzed(&text);
    // Seed files are one line; a trailing newline must not make a difference to anyone.
    if let Some(line) = text.strip_suffix('\n') {
        open_fuzzed(line);
    }
    seal_round_trip(data);
    keyring_round_trip(&text);
});

fn open_fuzzed(text: &str) {
    let ring = ring();
    let sealed = SealedSecret::from_envelope(text.to_string());
    let kid = sealed.key_id();

    let as_secret = open_secret(ring, "01HOOK", "API_KEY", &sealed);
    match &as_secret {
        Ok(value) => {
            assert_eq!(text, GOLDEN_SECRET, "a non-golden envelope opened");
            assert_eq!(value.expose(), "canary-4f1b");
        }
        Err(e) => check_error(e, text, kid),
    }
    // Another record never opens it.
    assert!(open_secret(ring, "01HOOK", "API_KEY2", &sealed).is_err());

    match open_server_key(ring, "jwt-signing", &sealed) {
        Ok(bytes) => {
            assert_eq!(text, GOLDEN_SERVER_KEY, "a non-golden envelope opened");
            assert_eq!(bytes.as_slice(), &[1, 2, 3]);
        }
        Err(e) => {
            check_error(&e, text, kid);
            // The two domains only differ in the associated data, never in parsing.
            if let Err(first) = &as_secret {
                if matches!(first, OpenError::Malformed | OpenError::UnknownKey(_)) {
                    assert_eq!(first, &e);
                }
            }
        }
    }
}

fn check_error(e: &OpenError, text: &str, kid: &str) {
    match e {
        OpenError::UnknownKey(id) => {
            assert_eq!(id, kid, "UnknownKey names another id than key_id()");
            assert!(is_key_id(id));
            assert!(!ring().has_key(id));
        }
        OpenError::Corrupt => {
            // Well formed, known key: the body is canonical base64url of enough bytes.
            let mut parts = text.splitn(3, ':');
            assert_eq!(parts.next(), Some("v1"));
            assert_eq!(parts.next(), Some(kid));
            assert!(ring().has_key(kid));
            let body = parts.next().expect("three parts");
            let blob = URL_SAFE_NO_PAD
                .decode(body)
                .expect("Corrupt, not Malformed");
            assert!(blob.len() >= NONCE_LEN + TAG_LEN);
            assert_eq!(URL_SAFE_NO_PAD.encode(&blob), body, "non-canonical base64");
        }
        OpenError::Malformed => {}
    }
    // Errors never carry the envelope's body.
    let shown = format!("{e} {e:?}");
    if let Some(body) = text.splitn(3, ':').nth(2) {
        // Longer than any key id, so a match cannot be the id that UnknownKey names.
        if body.len() >= 40 {
            assert!(!shown.contains(body));
        }
    }
}

/// Input layout: `hook_id \x00 name \x00 value` (missing parts are empty).
fn seal_round_trip(data: &[u8]) {
    let mut parts = data.splitn(3, |b| *b == 0);
    let hook = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    let raw = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
    if raw.len() > SECRET_VALUE_MAX_LEN {
        return;
    }
    let value = SecretValue::new(raw.clone()).expect("within the limit");
    let ring = ring();
    let sealed = seal_secret(ring, &hook, &name, &value).expect("seals");
    let envelope = sealed.envelope();
    let body = envelope
        .strip_prefix("v1:k-golden:")
        .expect("sealed under the active key");
    assert_eq!(sealed.key_id(), "k-golden");
    let blob = URL_SAFE_NO_PAD.decode(body).expect("canonical base64url");
    assert_eq!(blob.len(), NONCE_LEN + raw.len() + TAG_LEN);
    assert!(raw.len() < 8 || !envelope.contains(raw.as_str()));
    let opened = open_secret(ring, &hook, &name, &sealed).expect("round trip");
    assert_eq!(opened.expose(), raw);
    // Bound to its record: another name, another hook, or the fields shifted.
    let other_name = format!("{name}x");
    assert_eq!(
        open_secret(ring, &hook, &other_name, &sealed).unwrap_err(),
        OpenError::Corrupt
    );
    let shifted_hook = format!("{hook}{}", name.chars().next().unwrap_or('x'));
    let shifted_name: String = name.chars().skip(1).collect();
    assert_eq!(
        open_secret(ring, &shifted_hook, &shifted_name, &sealed).unwrap_err(),
        OpenError::Corrupt
    );
    assert_eq!(
        open_server_key(ring, &name, &sealed).unwrap_err(),
        OpenError::Corrupt
    );

    let key = seal_server_key(ring, &name, raw.as_bytes()).expect("seals");
    assert_eq!(
        open_server_key(ring, &name, &key)
            .expect("round trip")
            .as_slice(),
        raw.as_bytes()
    );
}

fn keyring_round_trip(text: &str) {
    let Ok(parsed) = MasterKeyring::parse(text) else {
        return;
    };
    assert!(parsed.has_key(parsed.active_id()));
    assert!(parsed.key_ids().iter().all(|id| is_key_id(id)));
    let written = parsed.to_toml();
    let again = MasterKeyring::parse(&written).expect("to_toml output parses");
    assert_eq!(again.active_id(), parsed.active_id());
    assert_eq!(again.key_ids(), parsed.key_ids());
    assert_eq!(again.to_toml().as_str(), written.as_str());
    // Same keys: a value sealed under one opens under the other.
    let value = SecretValue::new("round-trip".into()).unwrap();
    let sealed = seal_secret(&parsed, "h", "n", &value).expect("seals");
    assert_eq!(
        open_secret(&again, "h", "n", &sealed).unwrap().expose(),
        "round-trip"
    );
}
