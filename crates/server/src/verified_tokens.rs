//! Access tokens already verified. SDKs keep one token until it expires, so most requests
//! carry a token this instance has checked before; remembering the result saves an RSA
//! signature check (about a sixth of a cheap request's CPU) on each of them.
//!
//! An entry holds only what verification produced (the claims), is keyed by the SHA-256 of
//! the whole token (the token itself is not kept), is tied to the signing-key set that
//! verified it (a new set, after a rotation or reload, empties the cache), and is used only
//! until the token's own expiry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hookhaven_crypto::AccessClaims;
use sha2::{Digest, Sha256};

use crate::keys::SigningSet;

/// Entries kept; past it the cache starts over (re-verifying is only slower, never wrong).
const CAPACITY: usize = 10_000;

type Key = [u8; 32];

/// Generic over the key-set type only so that tests need no RSA keys.
pub struct VerifiedTokens<Keys = SigningSet> {
    inner: Mutex<Inner<Keys>>,
}

struct Inner<Keys> {
    /// The key set every entry was verified under.
    verified_by: Option<Arc<Keys>>,
    entries: HashMap<Key, AccessClaims>,
}

impl<Keys> Default for VerifiedTokens<Keys> {
    fn default() -> Self {
        VerifiedTokens {
            inner: Mutex::new(Inner {
                verified_by: None,
                entries: HashMap::new(),
            }),
        }
    }
}

impl<Keys> Inner<Keys> {
    /// Empties the cache when `signing` is not the set its entries were verified under.
    fn align(&mut self, signing: &Arc<Keys>) {
        if !self
            .verified_by
            .as_ref()
            .is_some_and(|set| Arc::ptr_eq(set, signing))
        {
            self.entries.clear();
            self.verified_by = Some(signing.clone());
        }
    }
}

fn key(token: &str) -> Key {
    Sha256::digest(token.as_bytes()).into()
}

impl<Keys> VerifiedTokens<Keys> {
    /// The claims of `token` if it was verified under `signing` and has not expired at
    /// `now` (seconds), allowing `leeway_secs` as verification does.
    pub fn get(
        &self,
        token: &str,
        signing: &Arc<Keys>,
        now: i64,
        leeway_secs: i64,
    ) -> Option<AccessClaims> {
        let key = key(token);
        let mut inner = self.lock();
        inner.align(signing);
        match inner.entries.get(&key) {
            Some(claims) if now < claims.exp.saturating_add(leeway_secs) => Some(claims.clone()),
            Some(_) => {
                inner.entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Remembers that `token` verified under `signing` with these claims.
    pub fn insert(&self, token: &str, signing: &Arc<Keys>, claims: &AccessClaims) {
        let key = key(token);
        let mut inner = self.lock();
        inner.align(signing);
        if inner.entries.len() >= CAPACITY {
            inner.entries.clear();
        }
        inner.entries.insert(key, claims.clone());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<Keys>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "https://issuer/".into(),
            sub: "c@clients".into(),
            aud: vec!["https://issuer/api/v2/".into()],
            iat: exp - 3600,
            exp,
            scope: "read:hooks".into(),
            azp: "c".into(),
            gty: "client-credentials".into(),
        }
    }

    #[test]
    fn a_verified_token_is_remembered_until_it_expires() {
        let cache = VerifiedTokens::<u8>::default();
        let keys = Arc::new(1u8);
        assert!(cache.get("t1", &keys, 1_000, 30).is_none());
        cache.insert("t1", &keys, &claims(2_000));
        assert_eq!(cache.get("t1", &keys, 1_000, 30), Some(claims(2_000)));
        // Only that exact token.
        assert!(cache.get("t1 ", &keys, 1_000, 30).is_none());
        assert!(cache.get("t2", &keys, 1_000, 30).is_none());
        // Within the leeway, then not.
        assert!(cache.get("t1", &keys, 2_029, 30).is_some());
        assert!(cache.get("t1", &keys, 2_030, 30).is_none());
        // An expired entry is dropped, not kept around.
        assert!(cache.get("t1", &keys, 1_000, 30).is_none());
    }

    #[test]
    fn another_key_set_empties_the_cache() {
        let cache = VerifiedTokens::<u8>::default();
        let before = Arc::new(1u8);
        let after = Arc::new(1u8);
        cache.insert("t", &before, &claims(2_000));
        assert!(cache.get("t", &after, 1_000, 30).is_none());
        // And it does not come back with the old set either.
        assert!(cache.get("t", &before, 1_000, 30).is_none());
    }
}
