//! The server's key-rotation background tasks. Each holds only a weak reference to the
//! state, so it ends when the server does.
//!
//! - every `keys.signing_reload`: re-read the signing-key set from the database, so a
//!   rotation made by `hookhaven keys rotate-signing` or by another instance is picked up;
//! - every `keys.keyring_reload`: reload the master keyring file if it changed;
//! - every `keys.rewrap_interval`: re-seal values still under an old master key;
//! - with `keys.signing_rotation_days`: rotate the signing key when it is due;
//! - every `keys.seal_count_flush` (and once at start): add this instance's seal counts
//!   to the database and enforce the seal limits (see `seal_limit`).

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::keys::{self, KeyringSource};
use crate::state::{AppState, Inner};

/// Pause between two rewrap batches, leaving the database to requests.
const REWRAP_PAUSE: Duration = Duration::from_millis(20);
/// How often a due scheduled signing-key rotation is looked for.
const SCHEDULE_CHECK: Duration = Duration::from_secs(3600);

pub fn spawn_background(state: &AppState) {
    if tokio::runtime::Handle::try_current().is_err() {
        return;
    }
    let cfg = state.config.keys;
    every(state, cfg.signing_reload, |inner| async move {
        let keyring = inner.keyring();
        match keys::read_signing_set(inner.store.as_ref(), &keyring).await {
            Ok(set) => inner.signing_live.set(set),
            Err(e) => tracing::warn!(error = %e, "re-reading the signing keys failed"),
        }
    });
    if let KeyringSource::File(path) = state.keyring_source.clone() {
        let stamp = std::sync::Mutex::new(keys::file_stamp(&path));
        let stamp = Arc::new(stamp);
        every(state, cfg.keyring_reload, move |inner| {
            let path = path.clone();
            let stamp = stamp.clone();
            async move {
                let now = keys::file_stamp(&path);
                {
                    let mut last = stamp.lock().unwrap_or_else(|e| e.into_inner());
                    if now.is_none() || *last == now {
                        return;
                    }
                    *last = now;
                }
                reload_keyring(&inner, &path).await;
            }
        });
    }
    every(state, cfg.rewrap_interval, |inner| async move {
        if let Err(e) = rewrap(&inner, "rewrap-job").await {
            tracing::warn!(error = %e, "re-sealing values under the active master key failed");
        }
    });
    // Once at start, so that a key already past its limit is refused at once.
    let weak = state.downgrade();
    tokio::spawn(async move {
        if let Some(inner) = weak.upgrade() {
            flush_seal_counts(&inner).await;
        }
    });
    every(state, cfg.seal_count_flush, |inner| async move {
        flush_seal_counts(&inner).await;
    });
    if let Some(days) = cfg.signing_rotation_days {
        let max_age = i64::try_from(days.saturating_mul(86_400)).unwrap_or(i64::MAX);
        every(state, SCHEDULE_CHECK, move |inner| async move {
            let keyring = inner.keyring();
            let now = hookhaven_core::now_ms() / 1000;
            let rotated = keys::rotate_signing_if(
                inner.store.as_ref(),
                &keyring,
                inner.config.token_lifetime_secs,
                "schedule",
                |at| at.is_some_and(|at| now - at >= max_age),
            )
            .await;
            match rotated {
                Ok(Some(set)) => {
                    tracing::info!(kid = %set.current.kid(), "rotated the signing key (schedule)");
                    inner.signing_live.set(set);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "scheduled signing-key rotation failed"),
            }
        });
    }
}

/// Runs `task` every `period` (the first time after one period) while the server lives.
fn every<F, Fut>(state: &AppState, period: Duration, task: F)
where
    F: Fn(Arc<Inner>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let weak: Weak<Inner> = state.downgrade();
    let period = period.max(Duration::from_millis(100));
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(inner) = weak.upgrade() else {
                return;
            };
            task(inner).await;
        }
    });
}

pub async fn flush_seal_counts(inner: &Inner) {
    if let Err(e) = crate::seal_limit::flush(inner).await {
        tracing::warn!(error = %e.detail(), "recording master-key seal counts failed; trying again later");
    }
}

/// Loads a changed keyring file. A keyring that cannot open every stored value (a key
/// still in use was removed) is refused and the current one kept.
async fn reload_keyring(inner: &Inner, path: &std::path::Path) {
    let mut fresh = match keys::read_keyring_file(path) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(error = %e, "the changed master keyring is not valid; keeping the current one");
            return;
        }
    };
    match inner.store.key_ids_in_use().await {
        Ok(ids) => {
            let missing: Vec<String> = ids.into_iter().filter(|id| !fresh.has_key(id)).collect();
            if !missing.is_empty() {
                tracing::error!(missing = ?missing, "the changed master keyring lacks keys that values are sealed under; keeping the current one");
                return;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e.detail(), "cannot check the changed master keyring; trying again later");
            return;
        }
    }
    let active = fresh.active_id().to_string();
    // Counts and refusals carry over to the new keyring.
    fresh.share_usage(inner.keyring().usage().clone());
    inner.keyring_live.set(fresh);
    tracing::info!(active = %active, "reloaded the master keyring");
}

/// Re-seals every value under an old master key with this instance's active key, one
/// rewrap at a time per instance.
pub async fn rewrap(inner: &Inner, actor: &str) -> anyhow::Result<keys::RewrapReport> {
    let _guard = inner.rewrap_lock.lock().await;
    let keyring = inner.keyring();
    let report = keys::rewrap_all(
        inner.store.as_ref(),
        &keyring,
        inner.config.keys.rewrap_batch,
        REWRAP_PAUSE,
        actor,
    )
    .await?;
    if report.rewrapped > 0 {
        tracing::info!(rewrapped = report.rewrapped, skipped = report.skipped, active = %keyring.active_id(), "re-sealed values under the active master key");
    }
    Ok(report)
}
