//! Sealing and opening stored values with AES-256-GCM under the master keyring.
//!
//! An envelope is `v1:<key_id>:<base64url-no-pad(nonce ‖ ciphertext ‖ tag)>`: it names its
//! format version and its key, so old values stay readable across key rotation and format
//! changes. The associated data binds a value to the record it belongs to, so a ciphertext
//! copied into another hook or another secret name fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hookhaven_core::secret::SECRET_VALUE_MAX_LEN;
use hookhaven_core::{SealedSecret, SecretValue};
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::keyring::{is_valid_key_id, MasterKeyring, KEY_LEN};

const VERSION: &str = "v1";
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

const SECRET_DOMAIN: &[u8] = b"hookhaven-secret:v1";
const SERVER_KEY_DOMAIN: &[u8] = b"hookhaven-server-key:v1";

/// Why a sealed value could not be opened. No variant carries plaintext or key bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Not a well-formed envelope: wrong prefix or version, bad base64, or truncated.
    #[error("sealed value is malformed")]
    Malformed,
    /// The envelope names a master key that is not in the keyring.
    #[error("sealed value needs master key {0:?}, which is not in the keyring")]
    UnknownKey(String),
    /// Authentication failed: the bytes were altered, or the value belongs to another record.
    #[error("sealed value failed authentication (corrupt, or sealed for another record)")]
    Corrupt,
}

/// Why a value could not be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The active master key has sealed as many values as it safely may (random 96-bit
    /// nonces must stay far below 2^32 per key); a new active key is needed.
    #[error("master key {key_id:?} has reached its encryption limit; rotate the master key (`hookhaven keys rotate`)")]
    KeyExhausted { key_id: String },
}

/// For the API: 503 with a message telling the operator to rotate.
impl From<SealError> for hookhaven_core::Error {
    fn from(e: SealError) -> Self {
        match e {
            SealError::KeyExhausted { key_id } => hookhaven_core::Error::MasterKeyExhausted(key_id),
        }
    }
}

/// Seals a hook secret under the active master key, bound to its hook id and name.
pub fn seal_secret(
    ring: &MasterKeyring,
    hook_id: &str,
    name: &str,
    value: &SecretValue,
) -> Result<SealedSecret, SealError> {
    seal(ring, &secret_aad(hook_id, name), value.expose().as_bytes())
}

/// Opens a hook secret sealed by [`seal_secret`] for the same hook id and name.
pub fn open_secret(
    ring: &MasterKeyring,
    hook_id: &str,
    name: &str,
    sealed: &SealedSecret,
) -> Result<SecretValue, OpenError> {
    let mut plaintext = open(ring, &secret_aad(hook_id, name), sealed)?;
    // Checked here because `SecretValue::new` would drop an oversize string unwiped. Only a
    // value sealed under a larger limit can get here, and that is not a value we accept.
    if plaintext.len() > SECRET_VALUE_MAX_LEN {
        return Err(OpenError::Corrupt);
    }
    match String::from_utf8(std::mem::take(&mut *plaintext)) {
        Ok(text) => SecretValue::new(text).map_err(|_| OpenError::Corrupt),
        Err(e) => {
            e.into_bytes().zeroize();
            Err(OpenError::Corrupt)
        }
    }
}

/// Seals a server-held key (a signing key, an HMAC key) under the active master key.
pub fn seal_server_key(
    ring: &MasterKeyring,
    name: &str,
    bytes: &[u8],
) -> Result<SealedSecret, SealError> {
    seal(ring, &server_key_aad(name), bytes)
}

/// Opens a server-held key sealed by [`seal_server_key`] under the same name.
pub fn open_server_key(
    ring: &MasterKeyring,
    name: &str,
    sealed: &SealedSecret,
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    open(ring, &server_key_aad(name), sealed)
}

/// The length prefixes keep the fields apart: ("ab", "c") and ("a", "bc") differ.
fn secret_aad(hook_id: &str, name: &str) -> Vec<u8> {
    let mut aad = SECRET_DOMAIN.to_vec();
    push_field(&mut aad, hook_id);
    push_field(&mut aad, name);
    aad
}

fn server_key_aad(name: &str) -> Vec<u8> {
    let mut aad = SERVER_KEY_DOMAIN.to_vec();
    push_field(&mut aad, name);
    aad
}

fn push_field(aad: &mut Vec<u8>, field: &str) {
    let len = u32::try_from(field.len()).expect("record names are far shorter than 4 GiB");
    aad.extend_from_slice(&len.to_be_bytes());
    aad.extend_from_slice(field.as_bytes());
}

/// A fresh random nonce per seal: with 96 random bits, a repeat is negligible until far
/// more than 2^32 seals under one key, which rotation keeps us well below: every seal is
/// counted, and one under a key marked as past its limit is refused (see `usage`).
fn seal(ring: &MasterKeyring, aad: &[u8], plaintext: &[u8]) -> Result<SealedSecret, SealError> {
    let usage = ring.active_usage();
    let (key_id, key) = ring.active_key();
    if usage.is_refused() {
        return Err(SealError::KeyExhausted {
            key_id: key_id.to_string(),
        });
    }
    usage.count_one();
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    Ok(seal_with_nonce(key_id, key, &nonce, aad, plaintext))
}

/// Private so that no caller can ever choose (and so repeat) a nonce; tests use it to pin
/// the format.
fn seal_with_nonce(
    key_id: &str,
    key: &[u8; KEY_LEN],
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> SealedSecret {
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    let sealed = cipher
        .encrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption fails only for inputs over 64 GiB");
    let mut blob = Vec::with_capacity(NONCE_LEN + sealed.len());
    blob.extend_from_slice(nonce);
    blob.extend_from_slice(&sealed);
    SealedSecret::from_envelope(format!(
        "{VERSION}:{key_id}:{}",
        URL_SAFE_NO_PAD.encode(&blob)
    ))
}

fn open(
    ring: &MasterKeyring,
    aad: &[u8],
    sealed: &SealedSecret,
) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    let (key_id, blob) = parse_envelope(sealed.envelope())?;
    let key = ring
        .key(key_id)
        .ok_or_else(|| OpenError::UnknownKey(key_id.to_string()))?;
    let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(key));
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| OpenError::Corrupt)
}

/// Splits an envelope into its key id and raw bytes, which are at least nonce plus tag long.
fn parse_envelope(envelope: &str) -> Result<(&str, Vec<u8>), OpenError> {
    let mut parts = envelope.splitn(3, ':');
    let (Some(VERSION), Some(key_id), Some(encoded)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(OpenError::Malformed);
    };
    if !is_valid_key_id(key_id) {
        return Err(OpenError::Malformed);
    }
    let blob = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| OpenError::Malformed)?;
    if blob.len() < NONCE_LEN + TAG_LEN {
        return Err(OpenError::Malformed);
    }
    Ok((key_id, blob))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const KEY_1: [u8; 32] = [0x11; 32];
    const KEY_2: [u8; 32] = [0x22; 32];
    const FIXED_NONCE: [u8; NONCE_LEN] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];

    /// Computed once for key `[0x11; 32]` with id `k-golden`, nonce `00 01 … 0b`, hook
    /// `01HOOK`, secret `API_KEY`, value `canary-4f1b`, and checked against an independent
    /// AES-GCM implementation (Python `cryptography`). Stored v1 values depend on it: never
    /// update it to make a test pass.
    const GOLDEN_SECRET: &str = "v1:k-golden:AAECAwQFBgcICQoLcILYcgnaGMByibElsYjnbjbWAV69kmEG2YHO";
    /// The same for server key `jwt-signing` with bytes `[1, 2, 3]`.
    const GOLDEN_SERVER_KEY: &str = "v1:k-golden:AAECAwQFBgcICQoLEuG1gqOUG0qqG7jgiVm6Hb7VjA";

    fn ring1() -> MasterKeyring {
        MasterKeyring::from_keys("k-one", &[("k-one", KEY_1)])
    }

    fn value(s: &str) -> SecretValue {
        SecretValue::new(s.to_string()).unwrap()
    }

    fn envelope_with_blob(sealed: &SealedSecret, blob: &[u8]) -> SealedSecret {
        let (key_id, _) = parse_envelope(sealed.envelope()).unwrap();
        SealedSecret::from_envelope(format!("v1:{key_id}:{}", URL_SAFE_NO_PAD.encode(blob)))
    }

    #[test]
    fn round_trips_secrets_and_server_keys() {
        let ring = ring1();
        let sealed = seal_secret(&ring, "hook1", "API_KEY", &value("canary-4f1b")).unwrap();
        assert!(sealed.envelope().starts_with("v1:k-one:"));
        assert_eq!(sealed.key_id(), "k-one");
        assert!(!sealed.envelope().contains("canary"));
        let opened = open_secret(&ring, "hook1", "API_KEY", &sealed).unwrap();
        assert_eq!(opened.expose(), "canary-4f1b");

        let empty = seal_secret(&ring, "hook1", "EMPTY", &value("")).unwrap();
        assert_eq!(
            open_secret(&ring, "hook1", "EMPTY", &empty)
                .unwrap()
                .expose(),
            ""
        );

        let key = seal_server_key(&ring, "jwt-signing", &[9u8; 1200]).unwrap();
        let opened = open_server_key(&ring, "jwt-signing", &key).unwrap();
        assert_eq!(opened.as_slice(), &[9u8; 1200][..]);
    }

    // Security row 8: the envelope format is pinned by a golden value.
    #[test]
    fn golden_envelope_format_is_stable() {
        let aad = secret_aad("01HOOK", "API_KEY");
        let sealed = seal_with_nonce("k-golden", &KEY_1, &FIXED_NONCE, &aad, b"canary-4f1b");
        assert_eq!(sealed.envelope(), GOLDEN_SECRET);

        let aad = server_key_aad("jwt-signing");
        let sealed = seal_with_nonce("k-golden", &KEY_1, &FIXED_NONCE, &aad, &[1, 2, 3]);
        assert_eq!(sealed.envelope(), GOLDEN_SERVER_KEY);
    }

    // Security row 8: a stored v1 value still opens (the upgrade test once v2 exists).
    #[test]
    fn stored_v1_golden_envelopes_open() {
        let ring = MasterKeyring::from_keys("k-new", &[("k-new", KEY_2), ("k-golden", KEY_1)]);
        let stored = SealedSecret::from_envelope(GOLDEN_SECRET.to_string());
        let opened = open_secret(&ring, "01HOOK", "API_KEY", &stored).unwrap();
        assert_eq!(opened.expose(), "canary-4f1b");
        let stored = SealedSecret::from_envelope(GOLDEN_SERVER_KEY.to_string());
        let opened = open_server_key(&ring, "jwt-signing", &stored).unwrap();
        assert_eq!(opened.as_slice(), &[1, 2, 3]);
    }

    #[test]
    fn envelope_layout_is_nonce_ciphertext_tag() {
        let ring = ring1();
        let sealed = seal_secret(&ring, "h", "n", &value("12345")).unwrap();
        let (_, blob) = parse_envelope(sealed.envelope()).unwrap();
        assert_eq!(blob.len(), NONCE_LEN + 5 + TAG_LEN);
        let encoded = sealed.envelope().rsplit(':').next().unwrap();
        assert!(!encoded.contains('=') && !encoded.contains('+') && !encoded.contains('/'));
    }

    // Security row 3: every single-byte flip of nonce, ciphertext or tag is detected.
    #[test]
    fn every_flipped_byte_is_corrupt() {
        let ring = ring1();
        let sealed = seal_secret(&ring, "hook1", "API_KEY", &value("canary-4f1b")).unwrap();
        let (_, blob) = parse_envelope(sealed.envelope()).unwrap();
        for i in 0..blob.len() {
            for mask in [0x01, 0x80, 0xff] {
                let mut flipped = blob.clone();
                flipped[i] ^= mask;
                let bad = envelope_with_blob(&sealed, &flipped);
                assert_eq!(
                    open_secret(&ring, "hook1", "API_KEY", &bad).unwrap_err(),
                    OpenError::Corrupt,
                    "byte {i} mask {mask:#x}"
                );
            }
        }
    }

    // Security row 3: truncation is an error, never a shorter plaintext.
    #[test]
    fn truncation_is_malformed_or_corrupt() {
        let ring = ring1();
        let sealed = seal_secret(&ring, "hook1", "API_KEY", &value("canary-4f1b")).unwrap();
        let (_, blob) = parse_envelope(sealed.envelope()).unwrap();
        for len in 0..blob.len() {
            let bad = envelope_with_blob(&sealed, &blob[..len]);
            let expected = if len < NONCE_LEN + TAG_LEN {
                OpenError::Malformed
            } else {
                OpenError::Corrupt
            };
            assert_eq!(
                open_secret(&ring, "hook1", "API_KEY", &bad).unwrap_err(),
                expected,
                "{len}"
            );
        }
        let text = sealed.envelope();
        for len in 0..text.len() {
            let bad = SealedSecret::from_envelope(text[..len].to_string());
            let err = open_secret(&ring, "hook1", "API_KEY", &bad).unwrap_err();
            assert!(
                matches!(err, OpenError::Malformed | OpenError::Corrupt),
                "{len}: {err:?}"
            );
        }
    }

    #[test]
    fn malformed_envelopes() {
        let ring = ring1();
        let sealed = seal_secret(&ring, "h", "n", &value("v")).unwrap();
        let body = sealed.envelope().strip_prefix("v1:k-one:").unwrap();
        for bad in [
            String::new(),
            "v1".to_string(),
            "v1:k-one".to_string(),
            format!("v2:k-one:{body}"),
            format!("V1:k-one:{body}"),
            format!(":k-one:{body}"),
            format!("v1::{body}"),
            format!("v1:k one:{body}"),
            format!("v1:k-one:{body}="),
            format!("v1:k-one:{body}:x"),
            format!("v1:k-one:+{}", &body[1..]),
            format!("v1:k-one:/{}", &body[1..]),
            format!("v1:k-one: {body}"),
        ] {
            let bad_sealed = SealedSecret::from_envelope(bad.clone());
            assert_eq!(
                open_secret(&ring, "h", "n", &bad_sealed).unwrap_err(),
                OpenError::Malformed,
                "{bad}"
            );
        }
    }

    // Security row 4: a value copied into another record does not open there.
    #[test]
    fn swapped_records_fail() {
        let ring = ring1();
        let sealed = seal_secret(&ring, "hookX", "K", &value("canary")).unwrap();
        assert!(open_secret(&ring, "hookX", "K", &sealed).is_ok());
        for (hook, name) in [
            ("hookY", "K"),
            ("hookX", "L"),
            ("hookXK", ""),
            ("hook", "XK"),
        ] {
            assert_eq!(
                open_secret(&ring, hook, name, &sealed).unwrap_err(),
                OpenError::Corrupt,
                "{hook}/{name}"
            );
        }
        // Length prefixes keep ("ab", "c") apart from ("a", "bc").
        let sealed = seal_secret(&ring, "ab", "c", &value("v")).unwrap();
        assert_eq!(
            open_secret(&ring, "a", "bc", &sealed).unwrap_err(),
            OpenError::Corrupt
        );
        assert_ne!(secret_aad("ab", "c"), secret_aad("a", "bc"));
        // A hook secret is not a server key, and server keys are bound to their name.
        let key = seal_server_key(&ring, "jwt", b"bytes").unwrap();
        assert_eq!(
            open_server_key(&ring, "hmac", &key).unwrap_err(),
            OpenError::Corrupt
        );
        assert_eq!(
            open_secret(&ring, "", "jwt", &key).unwrap_err(),
            OpenError::Corrupt
        );
    }

    // Security row 5: the same plaintext never seals to the same envelope.
    #[test]
    fn same_plaintext_seals_differently() {
        let ring = ring1();
        let a = seal_secret(&ring, "h", "n", &value("same")).unwrap();
        let b = seal_secret(&ring, "h", "n", &value("same")).unwrap();
        assert_ne!(a, b);
    }

    // Security row 5: no repeated nonce in 10^5 seals.
    #[test]
    fn nonces_do_not_repeat() {
        let ring = ring1();
        let mut seen = HashSet::with_capacity(100_000);
        for _ in 0..100_000 {
            let sealed = seal_server_key(&ring, "n", b"").unwrap();
            let (_, blob) = parse_envelope(sealed.envelope()).unwrap();
            let nonce: [u8; NONCE_LEN] = blob[..NONCE_LEN].try_into().unwrap();
            assert!(seen.insert(nonce), "repeated nonce");
        }
    }

    // Security row 5: every seal is counted under its key, in the usage shared across
    // keyring reloads; a key marked refused seals nothing more, and a new active key does.
    #[test]
    fn seals_are_counted_per_key_and_a_refused_key_seals_nothing() {
        let usage = std::sync::Arc::new(crate::SealUsage::new());
        let mut ring = ring1();
        ring.share_usage(usage.clone());
        for _ in 0..3 {
            seal_secret(&ring, "h", "n", &value("v")).unwrap();
        }
        seal_server_key(&ring, "jwt", b"k").unwrap();
        let first = ring.active_id().to_string();
        assert_eq!(usage.take_pending(), [(first.clone(), 4)]);

        usage.set_refused(&first, true);
        let err = seal_secret(&ring, "h", "n", &value("v")).unwrap_err();
        assert_eq!(
            err,
            SealError::KeyExhausted {
                key_id: first.clone()
            }
        );
        assert!(err.to_string().contains("hookhaven keys rotate"));
        assert!(seal_server_key(&ring, "jwt", b"k").is_err());
        assert!(
            usage.take_pending().is_empty(),
            "a refused seal is not counted"
        );
        // Opening is never refused.
        let rotated = ring.add_active_key();
        let sealed = seal_secret(&ring, "h", "n", &value("v")).unwrap();
        assert_eq!(sealed.key_id(), rotated);
        assert_eq!(open_secret(&ring, "h", "n", &sealed).unwrap().expose(), "v");
        assert_eq!(usage.take_pending(), [(rotated, 1)]);
    }

    // Rotation readiness: values sealed under an older key still open; a lost key is named.
    #[test]
    fn opens_with_any_key_in_the_ring_and_names_a_missing_one() {
        let old = MasterKeyring::from_keys("k-old", &[("k-old", KEY_1)]);
        let sealed = seal_secret(&old, "h", "n", &value("v")).unwrap();
        let rotated = MasterKeyring::from_keys("k-new", &[("k-old", KEY_1), ("k-new", KEY_2)]);
        assert_eq!(
            open_secret(&rotated, "h", "n", &sealed).unwrap().expose(),
            "v"
        );
        assert_eq!(
            seal_secret(&rotated, "h", "n", &value("v"))
                .unwrap()
                .key_id(),
            "k-new"
        );

        let lost = MasterKeyring::from_keys("k-new", &[("k-new", KEY_2)]);
        let err = open_secret(&lost, "h", "n", &sealed).unwrap_err();
        assert_eq!(err, OpenError::UnknownKey("k-old".into()));
        assert!(err.to_string().contains("k-old"));

        // An envelope relabelled with another key id is not accepted under that key.
        let relabelled = SealedSecret::from_envelope(sealed.envelope().replace("k-old", "k-new"));
        assert_eq!(
            open_secret(&rotated, "h", "n", &relabelled).unwrap_err(),
            OpenError::Corrupt
        );
    }

    #[test]
    fn errors_never_show_plaintext() {
        let ring = ring1();
        let sealed = seal_secret(&ring, "h", "n", &value("canary-4f1b")).unwrap();
        for err in [
            open_secret(&ring, "h", "other", &sealed).unwrap_err(),
            OpenError::Malformed,
            OpenError::UnknownKey("k-x".into()),
        ] {
            assert!(!err.to_string().contains("canary"));
            assert!(!format!("{err:?}").contains("canary"));
        }
    }

    #[test]
    fn non_utf8_plaintext_is_corrupt_not_garbage() {
        let ring = ring1();
        let (key_id, key) = ring.active_key();
        let sealed = seal_with_nonce(
            key_id,
            key,
            &FIXED_NONCE,
            &secret_aad("h", "n"),
            &[0xff, 0xfe],
        );
        assert_eq!(
            open_secret(&ring, "h", "n", &sealed).unwrap_err(),
            OpenError::Corrupt
        );
    }
}
