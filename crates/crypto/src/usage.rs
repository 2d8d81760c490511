//! How many values each master key has sealed (security row 5).
//!
//! AES-GCM with random 96-bit nonces stays safe only while one key seals far fewer than
//! 2^32 values. Every seal adds one to its key's pending count here (one atomic add); the
//! server moves the pending counts into the database now and then, gets back the totals
//! of all its instances, and marks a key whose total passed the limit as refused. A seal
//! under a refused key fails with [`SealError::KeyExhausted`](crate::seal::SealError).
//!
//! One `SealUsage` is shared by the keyrings a process loads in turn (see
//! [`MasterKeyring::share_usage`](crate::MasterKeyring::share_usage)), so counts survive a
//! keyring reload.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Per key id: seals not yet reported, and whether new seals are refused.
#[derive(Debug, Default)]
pub struct SealUsage {
    keys: Mutex<BTreeMap<String, Arc<KeyUsage>>>,
}

#[derive(Debug, Default)]
pub(crate) struct KeyUsage {
    pending: AtomicU64,
    refused: AtomicBool,
}

impl KeyUsage {
    pub(crate) fn count_one(&self) {
        self.pending.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn is_refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }
}

impl SealUsage {
    pub fn new() -> SealUsage {
        SealUsage::default()
    }

    /// The entry of one key, created on first use. Keyrings keep the entry of their
    /// active key, so a seal never takes this lock.
    pub(crate) fn key(&self, id: &str) -> Arc<KeyUsage> {
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.entry(id.to_string()).or_default().clone()
    }

    /// Takes the seals counted since the last call, by key id; keys with none are left
    /// out. Give them back with [`restore`](Self::restore) if they could not be recorded.
    pub fn take_pending(&self) -> Vec<(String, u64)> {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.iter()
            .filter_map(|(id, usage)| {
                let n = usage.pending.swap(0, Ordering::Relaxed);
                (n > 0).then(|| (id.clone(), n))
            })
            .collect()
    }

    /// Puts back counts taken by [`take_pending`](Self::take_pending).
    pub fn restore(&self, deltas: &[(String, u64)]) {
        for (id, n) in deltas {
            self.key(id).pending.fetch_add(*n, Ordering::Relaxed);
        }
    }

    /// Refuses (or allows again) new seals under key `id`.
    pub fn set_refused(&self, id: &str, refused: bool) {
        self.key(id).refused.store(refused, Ordering::Relaxed);
    }

    pub fn is_refused(&self, id: &str) -> bool {
        let keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        keys.get(id).is_some_and(|k| k.is_refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_counts_are_taken_once_and_can_be_restored() {
        let usage = SealUsage::new();
        let a = usage.key("a");
        for _ in 0..3 {
            a.count_one();
        }
        usage.key("b");
        assert_eq!(usage.take_pending(), [("a".to_string(), 3)]);
        assert!(usage.take_pending().is_empty());
        usage.restore(&[("a".to_string(), 3), ("c".to_string(), 1)]);
        a.count_one();
        assert_eq!(
            usage.take_pending(),
            [("a".to_string(), 4), ("c".to_string(), 1)]
        );
    }

    #[test]
    fn refusal_is_per_key() {
        let usage = SealUsage::new();
        assert!(!usage.is_refused("a"));
        usage.set_refused("a", true);
        assert!(usage.is_refused("a") && usage.key("a").is_refused());
        assert!(!usage.is_refused("b"));
        usage.set_refused("a", false);
        assert!(!usage.is_refused("a"));
    }
}
