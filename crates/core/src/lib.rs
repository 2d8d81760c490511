//! Domain types and rules of Hookhaven: hooks, secrets, clients, grants, scopes,
//! audit events and the error catalogue. No IO, no HTTP, no SQL live here.

pub mod audit;
pub mod client;
pub mod error;
pub mod hook;
pub mod id;
pub mod scope;
pub mod secret;

pub use audit::{AuditEvent, AuditFilter, Outcome};
pub use client::{Client, ClientGrant, ClientId};
pub use error::{Error, Result};
pub use hook::{Hook, HookFilter, HookId, HookName, HookPatch, TriggerId};
pub use id::new_ulid;
pub use scope::{Scope, ALL_SCOPES};
pub use secret::{SealedSecret, SecretName, SecretValue, MAX_SECRETS_PER_HOOK, PLACEHOLDER};

/// A page request: zero-based page index and page size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub page: u32,
    pub per_page: u32,
}

impl Page {
    pub fn offset(&self) -> u64 {
        u64::from(self.page) * u64::from(self.per_page)
    }
}

/// Milliseconds since the Unix epoch, as stored in every `*_at` column.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
