//! What every request handler shares: the store, the keys and the limiters. It holds no
//! request state, so instances can be added behind a load balancer.

use std::sync::Arc;

use hookhaven_crypto::{ClientSecretHasher, Jwks, MasterKeyring, SigningKey};
use hookhaven_store::Store;

use crate::config::Config;
use crate::execution::HookExecutor;
use crate::ratelimit::RateLimiter;
use crate::Opened;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub keyring: MasterKeyring,
    pub signing_key: SigningKey,
    pub jwks: Jwks,
    pub secret_hasher: ClientSecretHasher,
    pub client_limiter: RateLimiter,
    pub ip_limiter: RateLimiter,
    pub executor: HookExecutor,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config, opened: Opened) -> AppState {
        let jwks = Jwks::new(&[&opened.signing_key]);
        let rl = config.rate_limit;
        let runtime = hookhaven_runtime::HookRuntime::new(config.runtime.clone());
        AppState(Arc::new(Inner {
            executor: HookExecutor::new(runtime),
            client_limiter: RateLimiter::new(rl.per_client_burst, rl.per_client_per_second),
            ip_limiter: RateLimiter::new(rl.per_ip_burst, rl.per_ip_per_second),
            config,
            store: opened.store,
            keyring: opened.keyring,
            signing_key: opened.signing_key,
            jwks,
            secret_hasher: opened.secret_hasher,
        }))
    }
}
