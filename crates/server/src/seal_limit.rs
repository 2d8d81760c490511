//! Seal counts per master key and the limit on them (security row 5).
//!
//! AES-GCM with random 96-bit nonces must stay well below 2^32 seals under one key. Every
//! seal is counted in the keyring's [`SealUsage`](hookhaven_crypto::SealUsage) (one atomic
//! add); every `keys.seal_count_flush` this instance adds its counts to the database, which
//! returns the totals of all instances. Past `seal_limits.warn` the active key's total
//! gets a warning to rotate; at `seal_limits.refuse` new seals under that key are refused
//! (503, `MasterKeyExhausted`) until a rotation makes another key active.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hookhaven_core::Result;
use hookhaven_crypto::{MasterKeyring, SealUsage};
use hookhaven_store::Store;

use crate::config::SealLimits;
use crate::state::Inner;

/// How often the warning (or the refusal) is logged again for one key.
const REPEAT_LOG: Duration = Duration::from_secs(600);

/// Where a key's total stands against the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Fine,
    /// Past the warning limit: the operator should rotate soon.
    Warn,
    /// At the hard limit: new seals under the key are refused.
    Refuse,
}

pub fn verdict(total: u64, limits: SealLimits) -> Verdict {
    if total >= limits.refuse {
        Verdict::Refuse
    } else if total >= limits.warn {
        Verdict::Warn
    } else {
        Verdict::Fine
    }
}

/// When each key was last warned about (per verdict), so the log is not flooded every
/// flush.
#[derive(Debug, Default)]
pub struct SealLog {
    last: Mutex<BTreeMap<(String, bool), Instant>>,
}

impl SealLog {
    fn due(&self, key_id: &str, verdict: Verdict) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let slot = (key_id.to_string(), verdict == Verdict::Refuse);
        match last.get(&slot) {
            Some(at) if now.duration_since(*at) < REPEAT_LOG => false,
            _ => {
                last.insert(slot, now);
                true
            }
        }
    }
}

/// Marks every key at the hard limit as refused (and the others as allowed) in `usage`,
/// and returns the active key's verdict.
pub fn apply_totals(
    usage: &SealUsage,
    limits: SealLimits,
    active: &str,
    totals: &[(String, u64)],
) -> Verdict {
    let mut active_verdict = Verdict::Fine;
    for (key_id, total) in totals {
        let v = verdict(*total, limits);
        usage.set_refused(key_id, v == Verdict::Refuse);
        if key_id == active {
            active_verdict = v;
        }
    }
    active_verdict
}

/// Adds the seals `keyring` counted since the last call to the database's totals, marks
/// the keys at the limit as refused, and returns the totals by key id. On a database
/// error the counts are kept for the next call. The CLI calls this too, after commands
/// that seal.
pub async fn sync(
    store: &dyn Store,
    keyring: &MasterKeyring,
    limits: SealLimits,
) -> Result<Vec<(String, u64)>> {
    let usage = keyring.usage();
    let deltas = usage.take_pending();
    let totals = match store.add_seal_counts(&deltas).await {
        Ok(totals) => totals,
        Err(e) => {
            usage.restore(&deltas);
            return Err(e);
        }
    };
    apply_totals(usage, limits, keyring.active_id(), &totals);
    Ok(totals)
}

/// The server's periodic [`sync`], which also logs the warning or the refusal.
pub async fn flush(inner: &Inner) -> Result<()> {
    let keyring = inner.keyring();
    let limits = inner.config.keys.seal_limits;
    let totals = sync(inner.store.as_ref(), &keyring, limits).await?;
    let active = keyring.active_id();
    let total = totals
        .iter()
        .find(|(id, _)| id == active)
        .map_or(0, |(_, n)| *n);
    match verdict(total, limits) {
        Verdict::Fine => {}
        v @ Verdict::Warn if inner.seal_log.due(active, v) => tracing::warn!(
            key_id = %active,
            seals = total,
            refuse_at = limits.refuse,
            "the active master key is nearing its encryption limit; run `hookhaven keys rotate` (new values will be refused at the limit)"
        ),
        v @ Verdict::Refuse if inner.seal_log.due(active, v) => tracing::error!(
            key_id = %active,
            seals = total,
            limit = limits.refuse,
            "the active master key has reached its encryption limit; new secrets are refused (503) until you run `hookhaven keys rotate`"
        ),
        Verdict::Warn | Verdict::Refuse => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SealLimits = SealLimits {
        warn: 10,
        refuse: 20,
    };

    #[test]
    fn default_limits_stay_well_below_two_to_the_32() {
        let limits = SealLimits::default();
        assert!(limits.warn < limits.refuse);
        assert!(limits.refuse <= 1 << 31);
    }

    #[test]
    fn verdicts_at_the_edges() {
        assert_eq!(verdict(0, LIMITS), Verdict::Fine);
        assert_eq!(verdict(9, LIMITS), Verdict::Fine);
        assert_eq!(verdict(10, LIMITS), Verdict::Warn);
        assert_eq!(verdict(19, LIMITS), Verdict::Warn);
        assert_eq!(verdict(20, LIMITS), Verdict::Refuse);
        assert_eq!(verdict(u64::MAX, LIMITS), Verdict::Refuse);
    }

    #[test]
    fn totals_refuse_exhausted_keys_and_a_rotation_clears_the_way() {
        let usage = SealUsage::new();
        let totals = vec![("k-old".to_string(), 25), ("k-new".to_string(), 3)];
        assert_eq!(
            apply_totals(&usage, LIMITS, "k-old", &totals),
            Verdict::Refuse
        );
        assert!(usage.is_refused("k-old"));
        assert!(!usage.is_refused("k-new"));
        // After a rotation the active key is the fresh one; the old stays refused.
        assert_eq!(
            apply_totals(&usage, LIMITS, "k-new", &totals),
            Verdict::Fine
        );
        assert!(usage.is_refused("k-old"));
        let totals = vec![("k-new".to_string(), 12)];
        assert_eq!(
            apply_totals(&usage, LIMITS, "k-new", &totals),
            Verdict::Warn
        );
        // A key not yet in the table has sealed nothing.
        assert_eq!(
            apply_totals(&usage, LIMITS, "k-none", &totals),
            Verdict::Fine
        );
    }

    #[test]
    fn the_log_repeats_only_after_a_while() {
        let log = SealLog::default();
        assert!(log.due("k", Verdict::Warn));
        assert!(!log.due("k", Verdict::Warn));
        assert!(log.due("k", Verdict::Refuse));
        assert!(!log.due("k", Verdict::Refuse));
        assert!(log.due("other", Verdict::Warn));
    }
}
