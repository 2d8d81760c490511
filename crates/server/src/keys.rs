//! Key rotation: the JWT signing-key set (current, next, previous) kept sealed in the
//! database, the master keyring's reload, and the re-sealing ("rewrap") of stored values
//! under the active master key. Shared by the server's background tasks and the offline
//! `hookhaven keys` commands.
//!
//! The signing-key set is one server key (`jwt-signing-key`), so a rotation is a single
//! compare-and-swap of one row: every instance sees either the old set or the new one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hookhaven_core::{AuditEvent, SecretValue};
use hookhaven_crypto::{
    open_secret, open_server_key, seal_secret, seal_server_key, Jwks, MasterKeyring, SigningKey,
};
use hookhaven_store::{SealedLocation, SealedValue, Store};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zeroize::Zeroizing;

use crate::bootstrap::operator_error;

/// The server key holding the signing-key set. The name predates rotation: a record
/// written before it (`{kid, pkcs8}`) reads as a set with no next and no previous key.
pub const SIGNING_KEY_NAME: &str = "jwt-signing-key";

/// Extra time a retired signing key stays published after the last token it may have
/// signed expires: covers clock skew, verification leeway and instances that have not
/// reloaded the set yet.
pub const RETIRED_KEY_MARGIN_SECS: i64 = 600;

/// A value that background tasks replace while requests read it.
pub struct Live<T>(RwLock<Arc<T>>);

impl<T> Live<T> {
    pub fn new(value: T) -> Live<T> {
        Live(RwLock::new(Arc::new(value)))
    }

    pub fn get(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, value: T) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(value);
    }
}

#[derive(Serialize, Deserialize, Clone)]
struct StoredKey {
    kid: String,
    pkcs8: String,
}

#[derive(Serialize, Deserialize, Clone)]
struct RetiredKey {
    /// The public JWK only: a retired key never signs again.
    jwk: Value,
    /// Unix seconds until which it stays published.
    publish_until: i64,
}

/// The stored record: the current key at the top level (the pre-rotation format).
#[derive(Serialize, Deserialize, Clone)]
struct StoredSet {
    kid: String,
    pkcs8: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    next: Option<StoredKey>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    previous: Vec<RetiredKey>,
    /// Unix seconds of the last rotation (or of when the set got its next key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotated_at: Option<i64>,
}

/// The signing keys in use: `current` signs, and the JWKS publishes current, next and
/// the retired keys whose tokens may still be valid.
pub struct SigningSet {
    pub current: SigningKey,
    pub next: Option<SigningKey>,
    pub jwks: Jwks,
    pub rotated_at: Option<i64>,
    /// Kids of retired keys still published, with the time they stop being published.
    pub previous: Vec<(String, i64)>,
}

impl SigningSet {
    pub fn kids(&self) -> Vec<String> {
        self.jwks.kids()
    }
}

fn encode_key(key: &SigningKey) -> StoredKey {
    StoredKey {
        kid: key.kid().to_string(),
        pkcs8: STANDARD.encode(key.to_pkcs8_der().as_slice()),
    }
}

fn decode_key(kid: &str, pkcs8: &str) -> anyhow::Result<SigningKey> {
    let der = Zeroizing::new(
        STANDARD
            .decode(pkcs8)
            .context("the stored signing key is not base64")?,
    );
    SigningKey::from_pkcs8_der(kid.to_string(), &der)
        .map_err(|e| anyhow::anyhow!("the stored signing key does not load: {e}"))
}

impl StoredSet {
    fn fresh(now: i64) -> StoredSet {
        let current = encode_key(&SigningKey::generate());
        StoredSet {
            kid: current.kid,
            pkcs8: current.pkcs8,
            next: Some(encode_key(&SigningKey::generate())),
            previous: Vec::new(),
            rotated_at: Some(now),
        }
    }

    fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(serde_json::to_vec(self).expect("serialising a key record"))
    }

    fn load(&self, now: i64) -> anyhow::Result<SigningSet> {
        let current = decode_key(&self.kid, &self.pkcs8)?;
        let next = match &self.next {
            Some(k) => Some(decode_key(&k.kid, &k.pkcs8)?),
            None => None,
        };
        let mut published = vec![current.public_jwk()];
        if let Some(next) = &next {
            published.push(next.public_jwk());
        }
        let mut previous = Vec::new();
        for retired in &self.previous {
            let kid = retired.jwk.get("kid").and_then(Value::as_str).unwrap_or("");
            if retired.publish_until >= now
                && !published
                    .iter()
                    .any(|k| k.get("kid") == retired.jwk.get("kid"))
            {
                published.push(retired.jwk.clone());
                previous.push((kid.to_string(), retired.publish_until));
            }
        }
        let jwks = Jwks::from_json(&json!({ "keys": published }))
            .map_err(|e| anyhow::anyhow!("the stored signing keys do not form a JWKS: {e}"))?;
        Ok(SigningSet {
            current,
            next,
            jwks,
            rotated_at: self.rotated_at,
            previous,
        })
    }

    /// Promotes next to current, makes a new next, and keeps the old current published
    /// until every token it signed has expired.
    fn rotate(&mut self, now: i64, token_lifetime_secs: i64) -> anyhow::Result<()> {
        let old = decode_key(&self.kid, &self.pkcs8)?;
        self.previous.retain(|r| r.publish_until >= now);
        self.previous.push(RetiredKey {
            jwk: old.public_jwk(),
            publish_until: now + token_lifetime_secs.max(0) + RETIRED_KEY_MARGIN_SECS,
        });
        let promoted = match self.next.take() {
            Some(next) => next,
            None => encode_key(&SigningKey::generate()),
        };
        self.kid = promoted.kid;
        self.pkcs8 = promoted.pkcs8;
        self.next = Some(encode_key(&SigningKey::generate()));
        self.rotated_at = Some(now);
        Ok(())
    }
}

fn now_secs() -> i64 {
    hookhaven_core::now_ms() / 1000
}

/// Reads the stored set with its envelope (for a later compare-and-swap).
async fn read_set(
    store: &dyn Store,
    keyring: &MasterKeyring,
) -> anyhow::Result<Option<(SealedValue, StoredSet)>> {
    let Some(sealed) = store
        .get_server_key(SIGNING_KEY_NAME)
        .await
        .map_err(operator_error)?
    else {
        return Ok(None);
    };
    let bytes = open_server_key(keyring, SIGNING_KEY_NAME, &sealed).map_err(|e| {
        anyhow::anyhow!("the signing keys do not open with this master keyring ({e}); is this the keyring this database was created with?")
    })?;
    let set: StoredSet =
        serde_json::from_slice(&bytes).context("the stored signing key record is malformed")?;
    Ok(Some((
        SealedValue {
            location: SealedLocation::ServerKey {
                name: SIGNING_KEY_NAME.to_string(),
            },
            value: sealed,
        },
        set,
    )))
}

/// Stores `set` in place of `current`; false when another writer got there first.
async fn swap_set(
    store: &dyn Store,
    keyring: &MasterKeyring,
    current: SealedValue,
    set: &StoredSet,
    audit: AuditEvent,
) -> anyhow::Result<bool> {
    let sealed = seal_server_key(keyring, SIGNING_KEY_NAME, &set.to_bytes())?;
    let replaced = store
        .replace_sealed(&[(current, sealed)], &audit)
        .await
        .map_err(operator_error)?;
    Ok(replaced == 1)
}

/// Loads the signing-key set, creating it on a new database and giving an old
/// single-key record a next key (published from now on, signing only after the next
/// rotation).
pub async fn load_or_create_signing_set(
    store: &dyn Store,
    keyring: &MasterKeyring,
) -> anyhow::Result<SigningSet> {
    for _ in 0..5 {
        let now = now_secs();
        match read_set(store, keyring).await? {
            None => {
                let fresh = StoredSet::fresh(now);
                let sealed = seal_server_key(keyring, SIGNING_KEY_NAME, &fresh.to_bytes())?;
                store
                    .put_server_key_if_absent(SIGNING_KEY_NAME, &sealed)
                    .await
                    .map_err(operator_error)?;
            }
            Some((sealed, mut set)) if set.next.is_none() => {
                set.next = Some(encode_key(&SigningKey::generate()));
                set.rotated_at.get_or_insert(now);
                let audit = AuditEvent::success("bootstrap", "keys.signing.next", None);
                swap_set(store, keyring, sealed, &set, audit).await?;
            }
            Some((_, set)) => return set.load(now),
        }
    }
    bail!("the signing keys kept changing while being loaded; try again")
}

/// Reads the stored signing-key set as it is now.
pub async fn read_signing_set(
    store: &dyn Store,
    keyring: &MasterKeyring,
) -> anyhow::Result<SigningSet> {
    match read_set(store, keyring).await? {
        Some((_, set)) => set.load(now_secs()),
        None => bail!("the database holds no signing keys yet; start the server once"),
    }
}

/// Rotates the signing keys when `due` says so for the stored set's last rotation time
/// (Unix seconds, if known). Returns the new set, or `None` when no rotation was due.
/// Safe with several instances: only one compare-and-swap wins, and the losers re-read.
pub async fn rotate_signing_if(
    store: &dyn Store,
    keyring: &MasterKeyring,
    token_lifetime_secs: i64,
    actor: &str,
    due: impl Fn(Option<i64>) -> bool,
) -> anyhow::Result<Option<SigningSet>> {
    for _ in 0..5 {
        let now = now_secs();
        let Some((sealed, mut set)) = read_set(store, keyring).await? else {
            bail!("the database holds no signing keys yet; start the server once");
        };
        if !due(set.rotated_at) {
            return Ok(None);
        }
        set.rotate(now, token_lifetime_secs)?;
        let audit = AuditEvent::success(actor, "keys.signing.rotate", None).target(&set.kid);
        if swap_set(store, keyring, sealed, &set, audit).await? {
            return set.load(now).map(Some);
        }
    }
    bail!("the signing keys kept changing during the rotation; try again")
}

/// How many sealed values each master key id seals.
pub async fn sealed_counts(store: &dyn Store) -> anyhow::Result<BTreeMap<String, u64>> {
    Ok(store
        .count_sealed_by_key()
        .await
        .map_err(operator_error)?
        .into_iter()
        .collect())
}

/// What one rewrap pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RewrapReport {
    pub rewrapped: u64,
    /// Values that changed between being read and being swapped; a later pass finds
    /// them again if they are still under an old key.
    pub skipped: u64,
}

/// Re-seals one value under the keyring's active key.
fn reseal(
    keyring: &MasterKeyring,
    value: &SealedValue,
) -> anyhow::Result<hookhaven_core::SealedSecret> {
    match &value.location {
        SealedLocation::HookSecret { hook, name } => {
            let plain: SecretValue =
                open_secret(keyring, hook.as_str(), name.as_str(), &value.value).map_err(|e| {
                    anyhow::anyhow!(
                        "secret {} of hook {} does not open: {e}",
                        name.as_str(),
                        hook.as_str()
                    )
                })?;
            Ok(seal_secret(keyring, hook.as_str(), name.as_str(), &plain)?)
        }
        SealedLocation::ServerKey { name } => {
            let bytes = open_server_key(keyring, name, &value.value)
                .map_err(|e| anyhow::anyhow!("server key {name:?} does not open: {e}"))?;
            Ok(seal_server_key(keyring, name, &bytes)?)
        }
    }
}

/// Re-seals, batch by batch, every value stored under a key other than the keyring's
/// active one. Each batch is one short transaction that swaps a value only if it did not
/// change since it was read, so requests are never blocked for long and no concurrent
/// write is lost. `pause` is waited between batches. Stops at the first value that does
/// not open (its key is missing from the keyring, or it is corrupt).
pub async fn rewrap_all(
    store: &dyn Store,
    keyring: &MasterKeyring,
    batch: u32,
    pause: Duration,
    actor: &str,
) -> anyhow::Result<RewrapReport> {
    let mut report = RewrapReport::default();
    let active = keyring.active_id().to_string();
    let old_ids: Vec<String> = sealed_counts(store)
        .await?
        .into_keys()
        .filter(|id| *id != active)
        .collect();
    for id in old_ids {
        if !keyring.has_key(&id) {
            bail!("values are sealed under master key {id:?}, which the keyring does not have");
        }
        // A value skipped because it changed is found again only if it is still under
        // this key; the bound stops a pass that keeps losing races.
        for _ in 0..10_000 {
            let found = store
                .sealed_under_key(&id, batch.max(1))
                .await
                .map_err(operator_error)?;
            if found.is_empty() {
                break;
            }
            let mut swaps = Vec::with_capacity(found.len());
            for value in found {
                let new = reseal(keyring, &value)?;
                swaps.push((value, new));
            }
            let audit =
                AuditEvent::success(actor, "keys.rewrap", None).target(&format!("{id}->{active}"));
            let replaced = store
                .replace_sealed(&swaps, &audit)
                .await
                .map_err(operator_error)?;
            report.rewrapped += replaced;
            report.skipped += swaps.len() as u64 - replaced;
            tokio::time::sleep(pause).await;
        }
    }
    Ok(report)
}

/// Where the keyring comes from, for reloading it.
#[derive(Clone, Debug)]
pub enum KeyringSource {
    /// HOOKHAVEN_MASTER_KEY: fixed for the life of the process.
    Env,
    File(PathBuf),
}

/// The keyring file's modification time and length, to notice a change cheaply.
pub fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Reads and checks a keyring file.
pub fn read_keyring_file(path: &Path) -> anyhow::Result<MasterKeyring> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading master key file {}", path.display()))?,
    );
    MasterKeyring::parse(&text).map_err(|e| {
        anyhow::anyhow!(
            "master key file {} is not a valid keyring: {e}",
            path.display()
        )
    })
}

/// Replaces the keyring file atomically (a new 0600 file renamed over it), so that a
/// reader sees the old keyring or the new one, never half of one.
pub fn write_keyring_file(path: &Path, keyring: &MasterKeyring) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "master.key".into());
    let tmp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    crate::bootstrap::write_private_file(&tmp, keyring.to_toml().as_bytes())?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_promotes_next_and_keeps_the_old_key_published_for_a_token_lifetime() {
        let mut set = StoredSet::fresh(1_000);
        let first = set.kid.clone();
        let next = set.next.as_ref().unwrap().kid.clone();
        let loaded = set.load(1_000).unwrap();
        assert_eq!(loaded.current.kid(), first);
        assert!(
            loaded.jwks.contains(&next),
            "next is published before it signs"
        );

        set.rotate(2_000, 3_600).unwrap();
        let loaded = set.load(2_000).unwrap();
        assert_eq!(loaded.current.kid(), next);
        let newer = loaded.next.as_ref().unwrap().kid().to_string();
        assert!(loaded.jwks.contains(&first));
        assert!(loaded.jwks.contains(&newer));
        assert_eq!(loaded.jwks.len(), 3);

        // After the last token the old key signed has expired, it is no longer published.
        let later = 2_000 + 3_600 + RETIRED_KEY_MARGIN_SECS + 1;
        let loaded = set.load(later).unwrap();
        assert!(!loaded.jwks.contains(&first));
        assert_eq!(loaded.jwks.len(), 2);
    }

    #[test]
    fn a_pre_rotation_record_reads_as_a_set_without_next() {
        let key = encode_key(&SigningKey::generate());
        let old = serde_json::to_vec(&key).unwrap();
        let set: StoredSet = serde_json::from_slice(&old).unwrap();
        assert!(set.next.is_none());
        let loaded = set.load(0).unwrap();
        assert_eq!(loaded.current.kid(), key.kid);
        assert_eq!(loaded.jwks.len(), 1);
    }

    async fn memory_store() -> std::sync::Arc<dyn Store> {
        hookhaven_store::open("sqlite::memory:", hookhaven_store::PgOptions::default())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn scheduled_rotation_happens_once_when_due() {
        let store = memory_store().await;
        let keyring = MasterKeyring::generate();
        let first = load_or_create_signing_set(store.as_ref(), &keyring)
            .await
            .unwrap();
        let rotated_at = first.rotated_at;
        assert!(rotated_at.is_some());
        let not_due = rotate_signing_if(store.as_ref(), &keyring, 60, "test", |_| false)
            .await
            .unwrap();
        assert!(not_due.is_none());

        // Two instances find the rotation due at once: only one rotates, the other
        // re-reads the set, sees the fresh rotation time and stops.
        let due = |at: Option<i64>| at == rotated_at;
        let (a, b) = tokio::join!(
            rotate_signing_if(store.as_ref(), &keyring, 60, "a", due),
            rotate_signing_if(store.as_ref(), &keyring, 60, "b", due),
        );
        let rotated: Vec<SigningSet> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
        assert_eq!(rotated.len(), 1);
        let now = read_signing_set(store.as_ref(), &keyring).await.unwrap();
        assert_eq!(
            now.current.kid(),
            first.next.as_ref().unwrap().kid(),
            "next was promoted"
        );
        assert!(now.jwks.contains(first.current.kid()));
        assert_eq!(now.previous.len(), 1);
    }
}
