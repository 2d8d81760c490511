//! The master keyring: the AES-256 keys that seal stored secrets, by id, one of them active.
//!
//! Every sealed value names the key that sealed it, so a keyring may hold old keys that
//! are still needed for reading while new values are sealed under the active one.
//!
//! Error messages never contain key material. They name a key id only when the id is
//! well formed: a malformed file may have key material where an id should be.
//!
//! The file format:
//!
//! ```toml
//! # Hookhaven master keyring. Keep this file secret (mode 0600).
//! active = "k-3f9a2c1d"
//!
//! [keys]
//! k-3f9a2c1d = "<standard base64 of exactly 32 bytes>"
//! ```

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

use crate::usage::{KeyUsage, SealUsage};

/// Length in bytes of an AES-256 key.
pub const KEY_LEN: usize = 32;
/// Longest key id accepted; ids are stored in every envelope.
pub const MAX_KEY_ID_LEN: usize = 32;

const HEADER: &str = "# Hookhaven master keyring. Keep this file secret (mode 0600).\n";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyringError {
    /// The TOML parser's own message can quote the offending line, which may hold key
    /// material, so only the line number is kept.
    #[error("master keyring is not valid TOML (line {line})")]
    NotToml { line: usize },
    #[error("master keyring defines a key id or table twice (line {line})")]
    DuplicateKey { line: usize },
    #[error(
        "master keyring has an unexpected top-level entry; only `active` and `[keys]` are allowed"
    )]
    UnexpectedEntry,
    #[error("master keyring has a key id that does not match ^[A-Za-z0-9_-]{{1,32}}$")]
    BadKeyId,
    #[error("master key {id:?} is not a standard base64 string")]
    BadBase64 { id: String },
    #[error("master key {id:?} must be exactly 32 bytes, but it decodes to {len} bytes")]
    WrongLength { id: String, len: usize },
    #[error("master keyring has no keys; add at least one under [keys]")]
    NoKeys,
    #[error("master keyring does not say which key is active; set `active = \"<key id>\"`")]
    MissingActive,
    #[error("master keyring's `active` must be a string naming a key id under [keys]")]
    BadActive,
    #[error("master keyring's active key {id:?} is not listed under [keys]")]
    UnknownActive { id: String },
}

/// The master keys by id. Key bytes are wiped from memory when the keyring is dropped.
pub struct MasterKeyring {
    active: String,
    keys: BTreeMap<String, Zeroizing<[u8; KEY_LEN]>>,
    /// Seal counts by key id; shared with the keyrings loaded before and after this one.
    usage: Arc<SealUsage>,
    /// `usage`'s entry for the active key, so that a seal costs one atomic add.
    active_usage: Arc<KeyUsage>,
}

impl MasterKeyring {
    /// Reads the keyring format (see the module docs), refusing anything doubtful:
    /// a server that starts with a half-valid keyring could seal data it cannot open later.
    pub fn parse(text: &str) -> Result<MasterKeyring, KeyringError> {
        let mut table: toml::Table = text.parse().map_err(|e| toml_error(text, &e))?;
        let active = table.remove("active");
        let raw_keys = table.remove("keys");
        let has_leftovers = !table.is_empty();
        wipe_table(table);

        let keys = match raw_keys {
            None => BTreeMap::new(),
            Some(toml::Value::Table(t)) => decode_keys(t)?,
            // A string or array here is most likely a key pasted at the wrong place.
            Some(mut other) => {
                wipe_value(&mut other);
                return Err(KeyringError::UnexpectedEntry);
            }
        };
        if has_leftovers {
            return Err(KeyringError::UnexpectedEntry);
        }
        if keys.is_empty() {
            return Err(KeyringError::NoKeys);
        }
        let active = match active {
            None => return Err(KeyringError::MissingActive),
            Some(toml::Value::String(s)) if is_valid_key_id(&s) => s,
            Some(_) => return Err(KeyringError::BadActive),
        };
        if !keys.contains_key(&active) {
            return Err(KeyringError::UnknownActive { id: active });
        }
        Ok(MasterKeyring::assemble(active, keys))
    }

    fn assemble(active: String, keys: BTreeMap<String, Zeroizing<[u8; KEY_LEN]>>) -> Self {
        let usage = Arc::new(SealUsage::new());
        let active_usage = usage.key(&active);
        MasterKeyring {
            active,
            keys,
            usage,
            active_usage,
        }
    }

    /// Counts this keyring's seals in `usage` (and takes refusals from it) from now on:
    /// give each keyring a process loads the same one, so counts survive a reload.
    pub fn share_usage(&mut self, usage: Arc<SealUsage>) {
        self.active_usage = usage.key(&self.active);
        self.usage = usage;
    }

    /// The seal counts this keyring adds to (see [`SealUsage`]).
    pub fn usage(&self) -> &Arc<SealUsage> {
        &self.usage
    }

    /// A keyring with one fresh random key, active.
    pub fn generate() -> MasterKeyring {
        let (id, key) = new_key();
        let mut keys = BTreeMap::new();
        keys.insert(id.clone(), key);
        MasterKeyring::assemble(id, keys)
    }

    /// The keyring in the format `parse` reads. The string is wiped when dropped.
    pub fn to_toml(&self) -> Zeroizing<String> {
        // Sized up front so that growing the string leaves no copies of keys behind.
        let per_key = MAX_KEY_ID_LEN + 8 + STANDARD.encode([0u8; KEY_LEN]).len();
        let mut out = Zeroizing::new(String::with_capacity(
            HEADER.len() + 64 + per_key * self.keys.len(),
        ));
        out.push_str(HEADER);
        // Ids are validated to be bare TOML keys, so they need no quoting.
        let _ = writeln!(out, "active = \"{}\"\n\n[keys]", self.active);
        for (id, key) in &self.keys {
            let encoded = Zeroizing::new(STANDARD.encode(key.as_slice()));
            let _ = writeln!(out, "{id} = \"{}\"", encoded.as_str());
        }
        out
    }

    pub fn active_id(&self) -> &str {
        &self.active
    }

    pub fn key_ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    pub fn has_key(&self, id: &str) -> bool {
        self.keys.contains_key(id)
    }

    /// Adds a fresh random key and makes it the active one; returns its id. The other
    /// keys stay, for opening the values sealed under them.
    pub fn add_active_key(&mut self) -> String {
        let (mut id, mut key) = new_key();
        while self.keys.contains_key(&id) {
            (id, key) = new_key();
        }
        self.keys.insert(id.clone(), key);
        self.active = id.clone();
        self.active_usage = self.usage.key(&id);
        id
    }

    /// Removes a key that is not the active one. Returns false (changing nothing) for
    /// the active key or an unknown id. Whether any value still uses the key is the
    /// caller's check.
    pub fn remove_key(&mut self, id: &str) -> bool {
        if id == self.active {
            return false;
        }
        self.keys.remove(id).is_some()
    }

    /// The active key's seal count and refusal flag.
    pub(crate) fn active_usage(&self) -> &KeyUsage {
        &self.active_usage
    }

    /// The key new values are sealed under.
    pub(crate) fn active_key(&self) -> (&str, &[u8; KEY_LEN]) {
        let key = self
            .keys
            .get(&self.active)
            .expect("constructors ensure the active key is present");
        (&self.active, key)
    }

    pub(crate) fn key(&self, id: &str) -> Option<&[u8; KEY_LEN]> {
        self.keys.get(id).map(|k| &**k)
    }

    #[cfg(test)]
    pub(crate) fn from_keys(active: &str, keys: &[(&str, [u8; KEY_LEN])]) -> MasterKeyring {
        MasterKeyring::assemble(
            active.to_string(),
            keys.iter()
                .map(|(id, k)| (id.to_string(), Zeroizing::new(*k)))
                .collect(),
        )
    }
}

impl fmt::Debug for MasterKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeyring")
            .field("active", &self.active)
            .field("key_ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Key ids appear in envelopes and as bare TOML keys, so they are kept to a safe alphabet.
pub(crate) fn is_valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn new_key() -> (String, Zeroizing<[u8; KEY_LEN]>) {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    OsRng.fill_bytes(key.as_mut_slice());
    let mut tag = [0u8; 4];
    OsRng.fill_bytes(&mut tag);
    let id = tag.iter().fold(String::from("k-"), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    (id, key)
}

fn decode_keys(
    raw: toml::Table,
) -> Result<BTreeMap<String, Zeroizing<[u8; KEY_LEN]>>, KeyringError> {
    let mut keys = BTreeMap::new();
    let mut first_error = None;
    // Every value is visited, even after an error, so that all of them get wiped.
    for (id, mut value) in raw {
        let result = decode_key(&id, &value);
        wipe_value(&mut value);
        match result {
            Ok(key) => {
                keys.insert(id, key);
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(keys),
    }
}

fn decode_key(id: &str, value: &toml::Value) -> Result<Zeroizing<[u8; KEY_LEN]>, KeyringError> {
    if !is_valid_key_id(id) {
        return Err(KeyringError::BadKeyId);
    }
    let toml::Value::String(text) = value else {
        return Err(KeyringError::BadBase64 { id: id.to_string() });
    };
    let bytes = Zeroizing::new(
        STANDARD
            .decode(text)
            .map_err(|_| KeyringError::BadBase64 { id: id.to_string() })?,
    );
    let key: [u8; KEY_LEN] =
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyringError::WrongLength {
                id: id.to_string(),
                len: bytes.len(),
            })?;
    Ok(Zeroizing::new(key))
}

fn toml_error(text: &str, err: &toml::de::Error) -> KeyringError {
    let line = err
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1)
        .unwrap_or(1);
    if err.message().starts_with("duplicate key") {
        KeyringError::DuplicateKey { line }
    } else {
        KeyringError::NotToml { line }
    }
}

/// Best effort: the strings the TOML parser handed us are wiped before they are freed.
fn wipe_value(value: &mut toml::Value) {
    match value {
        toml::Value::String(s) => s.zeroize(),
        toml::Value::Array(items) => items.iter_mut().for_each(wipe_value),
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| wipe_value(v)),
        _ => {}
    }
}

fn wipe_table(mut table: toml::Table) {
    table.iter_mut().for_each(|(_, v)| wipe_value(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const KEY_B: &str = "ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    fn assert_no_key_material(err: &KeyringError) {
        let msg = err.to_string();
        for needle in [KEY_A, KEY_B, &KEY_A[..12], &KEY_B[..12]] {
            assert!(!msg.contains(needle), "{msg}");
        }
    }

    fn parse_err(text: &str) -> KeyringError {
        let err = MasterKeyring::parse(text).unwrap_err();
        assert_no_key_material(&err);
        err
    }

    #[test]
    fn parses_a_valid_keyring() {
        let text = format!(
            "# comment\nactive = \"k-1\"\n[keys]\nk-1 = \"{KEY_A}\"\nold_key = \"{KEY_B}\"\n"
        );
        let ring = MasterKeyring::parse(&text).unwrap();
        assert_eq!(ring.active_id(), "k-1");
        assert_eq!(ring.key_ids(), vec!["k-1", "old_key"]);
        assert!(ring.has_key("old_key"));
        assert!(!ring.has_key("k-2"));
        assert_eq!(ring.key("k-1").unwrap()[31], 31);
        assert_eq!(ring.active_key().1[0], 0);
    }

    #[test]
    fn generated_keyring_round_trips_through_toml() {
        let ring = MasterKeyring::generate();
        let id = ring.active_id();
        assert_eq!(id.len(), 10);
        assert!(id.starts_with("k-"));
        assert!(id[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let text = ring.to_toml();
        assert!(text.starts_with(HEADER));
        let back = MasterKeyring::parse(&text).unwrap();
        assert_eq!(back.active_id(), ring.active_id());
        assert_eq!(back.key_ids(), ring.key_ids());
        assert_eq!(back.active_key().1, ring.active_key().1);
        assert_ne!(
            MasterKeyring::generate().active_key().1,
            ring.active_key().1
        );
    }

    #[test]
    fn debug_shows_ids_only() {
        let text = format!("active = \"k-1\"\n[keys]\nk-1 = \"{KEY_A}\"\n");
        let ring = MasterKeyring::parse(&text).unwrap();
        let debug = format!("{ring:?}");
        assert_eq!(
            debug,
            r#"MasterKeyring { active: "k-1", key_ids: ["k-1"] }"#
        );
    }

    // Security row 6: refuse to start on doubtful key material, with a clear message.
    #[test]
    fn not_toml_reports_a_line_without_echoing_the_file() {
        let text = format!("active = \"k-1\"\n[keys]\nk-1 = {KEY_A}\n");
        assert_eq!(parse_err(&text), KeyringError::NotToml { line: 3 });
    }

    #[test]
    fn duplicate_key_id() {
        let text = format!("active = \"k-1\"\n[keys]\nk-1 = \"{KEY_A}\"\nk-1 = \"{KEY_B}\"\n");
        let err = parse_err(&text);
        assert_eq!(err, KeyringError::DuplicateKey { line: 4 });
        assert!(err.to_string().contains("twice"));
    }

    #[test]
    fn bad_base64() {
        let text = "active = \"k-1\"\n[keys]\nk-1 = \"not base64!!\"\n";
        assert_eq!(
            parse_err(text),
            KeyringError::BadBase64 { id: "k-1".into() }
        );
        // The URL-safe alphabet and missing padding are not the standard encoding.
        let url_safe = base64::engine::general_purpose::URL_SAFE.encode([0xfb; 32]);
        assert!(url_safe.contains('-') && url_safe.contains('_'));
        let text = format!("active = \"k-1\"\n[keys]\nk-1 = \"{url_safe}\"\n");
        assert!(matches!(parse_err(&text), KeyringError::BadBase64 { .. }));
        let text = format!(
            "active = \"k-1\"\n[keys]\nk-1 = \"{}\"\n",
            KEY_A.trim_end_matches('=')
        );
        assert!(matches!(parse_err(&text), KeyringError::BadBase64 { .. }));
        let text = "active = \"k-1\"\n[keys]\nk-1 = 12\n";
        assert!(matches!(parse_err(text), KeyringError::BadBase64 { .. }));
    }

    #[test]
    fn wrong_length_names_expected_and_actual() {
        let short = STANDARD.encode([7u8; 16]);
        let text = format!("active = \"k-1\"\n[keys]\nk-1 = \"{short}\"\n");
        let err = parse_err(&text);
        assert_eq!(
            err,
            KeyringError::WrongLength {
                id: "k-1".into(),
                len: 16
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("32 bytes") && msg.contains("16"), "{msg}");
        assert!(!msg.contains(&short));
        let long = STANDARD.encode([7u8; 33]);
        let text = format!("active = \"k-1\"\n[keys]\nk-1 = \"{long}\"\n");
        assert!(matches!(
            parse_err(&text),
            KeyringError::WrongLength { len: 33, .. }
        ));
    }

    #[test]
    fn bad_key_ids_are_refused_and_not_echoed() {
        let long_id = "a".repeat(33);
        for id in [
            "\"\"",
            "\"k 1\"",
            "\"k.1\"",
            "\"ké\"",
            long_id.as_str(),
            "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"",
        ] {
            let text = format!("active = \"k-1\"\n[keys]\nk-1 = \"{KEY_A}\"\n{id} = \"{KEY_B}\"\n");
            let err = parse_err(&text);
            assert_eq!(err, KeyringError::BadKeyId, "{id}");
        }
        assert!(is_valid_key_id(&"a".repeat(32)));
        assert!(is_valid_key_id("A_z-09"));
    }

    #[test]
    fn no_keys() {
        assert_eq!(parse_err("active = \"k-1\"\n"), KeyringError::NoKeys);
        assert_eq!(
            parse_err("active = \"k-1\"\n[keys]\n"),
            KeyringError::NoKeys
        );
    }

    #[test]
    fn active_missing_or_unknown() {
        let text = format!("[keys]\nk-1 = \"{KEY_A}\"\n");
        let err = parse_err(&text);
        assert_eq!(err, KeyringError::MissingActive);
        let text = format!("active = \"k-2\"\n[keys]\nk-1 = \"{KEY_A}\"\n");
        let err = parse_err(&text);
        assert_eq!(err, KeyringError::UnknownActive { id: "k-2".into() });
        assert!(err.to_string().contains("k-2"));
        let text = format!("active = \"{KEY_B}\"\n[keys]\nk-1 = \"{KEY_A}\"\n");
        assert_eq!(parse_err(&text), KeyringError::BadActive);
        let text = format!("active = 1\n[keys]\nk-1 = \"{KEY_A}\"\n");
        assert_eq!(parse_err(&text), KeyringError::BadActive);
    }

    #[test]
    fn unexpected_entries() {
        let text = format!("active = \"k-1\"\nactve = \"k-1\"\n[keys]\nk-1 = \"{KEY_A}\"\n");
        assert_eq!(parse_err(&text), KeyringError::UnexpectedEntry);
        let text = format!("active = \"k-1\"\nkeys = \"{KEY_A}\"\n");
        assert_eq!(parse_err(&text), KeyringError::UnexpectedEntry);
    }

    #[test]
    fn keys_are_added_as_active_and_old_ones_removed() {
        let mut ring = MasterKeyring::generate();
        let first = ring.active_id().to_string();
        let second = ring.add_active_key();
        assert_ne!(first, second);
        assert_eq!(ring.active_id(), second);
        assert!(ring.has_key(&first));
        let reparsed = MasterKeyring::parse(&ring.to_toml()).unwrap();
        assert_eq!(reparsed.active_id(), second);
        assert_eq!(reparsed.key_ids().len(), 2);
        assert!(!ring.remove_key(&second), "the active key stays");
        assert!(!ring.remove_key("k-nope"));
        assert!(ring.remove_key(&first));
        assert_eq!(ring.key_ids(), [second]);
    }
}
