//! What every request handler shares: the store, the keys and the limiters. It holds no
//! request state, so instances can be added behind a load balancer.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};

use hookhaven_crypto::{ClientSecretHasher, MasterKeyring};
use hookhaven_store::Store;

use crate::config::Config;
use crate::execution::HookExecutor;
use crate::group_audit::GroupAudit;
use crate::keys::{KeyringSource, Live, SigningSet};
use crate::ratelimit::RateLimiter;
use crate::verified_tokens::VerifiedTokens;
use crate::Opened;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    /// The master keyring; replaced when its file changes (see `rotation`).
    pub keyring_live: Live<MasterKeyring>,
    pub keyring_source: KeyringSource,
    /// The signing keys; re-read from the database periodically and on an unknown kid.
    pub signing_live: Live<SigningSet>,
    /// When (ms) the signing keys were last re-read because of an unknown kid.
    pub signing_miss_reload_ms: AtomicI64,
    /// Held while values are being re-sealed, so that one rewrap runs at a time here.
    pub rewrap_lock: tokio::sync::Mutex<()>,
    pub secret_hasher: ClientSecretHasher,
    /// When the seal-limit warning was last logged, per master key (see `seal_limit`).
    pub seal_log: crate::seal_limit::SealLog,
    pub client_limiter: RateLimiter,
    pub ip_limiter: RateLimiter,
    pub executor: HookExecutor,
    /// Audit events recorded on their own (not with a change), committed in groups.
    pub group_audit: GroupAudit,
    /// Access tokens this instance has verified, by hash.
    pub verified_tokens: VerifiedTokens,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config, opened: Opened) -> AppState {
        let rl = config.rate_limit;
        let runtime = hookhaven_runtime::HookRuntime::new(config.runtime.clone());
        let state = AppState(Arc::new(Inner {
            executor: HookExecutor::new(runtime),
            group_audit: GroupAudit::new(opened.store.clone()),
            verified_tokens: VerifiedTokens::default(),
            client_limiter: RateLimiter::new(rl.per_client_burst, rl.per_client_per_second),
            ip_limiter: RateLimiter::new(rl.per_ip_burst, rl.per_ip_per_second),
            config,
            store: opened.store,
            keyring_live: Live::new(opened.keyring),
            keyring_source: opened.keyring_source,
            signing_live: Live::new(opened.signing),
            signing_miss_reload_ms: AtomicI64::new(0),
            rewrap_lock: tokio::sync::Mutex::new(()),
            secret_hasher: opened.secret_hasher,
            seal_log: Default::default(),
        }));
        crate::rotation::spawn_background(&state);
        state
    }

    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Arc::downgrade(&self.0)
    }
}

impl Inner {
    /// The master keyring as it is now.
    pub fn keyring(&self) -> Arc<MasterKeyring> {
        self.keyring_live.get()
    }

    /// The signing keys as they are now.
    pub fn signing(&self) -> Arc<SigningSet> {
        self.signing_live.get()
    }

    /// Re-reads the signing keys after a token named a kid we do not publish, at most
    /// once per `MISS_RELOAD_MIN_MS` so that forged kids cannot flood the database.
    /// Returns the fresh set when it was re-read.
    pub async fn reload_signing_on_miss(&self) -> Option<Arc<SigningSet>> {
        const MISS_RELOAD_MIN_MS: i64 = 2_000;
        let now = hookhaven_core::now_ms();
        let last = self.signing_miss_reload_ms.load(Ordering::Relaxed);
        if now - last < MISS_RELOAD_MIN_MS
            || self
                .signing_miss_reload_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return None;
        }
        let keyring = self.keyring();
        match crate::keys::read_signing_set(self.store.as_ref(), &keyring).await {
            Ok(set) => {
                self.signing_live.set(set);
                Some(self.signing())
            }
            Err(e) => {
                tracing::warn!(error = %e, "re-reading the signing keys failed");
                None
            }
        }
    }
}
