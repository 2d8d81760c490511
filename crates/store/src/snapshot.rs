//! Copying a whole database to another store, e.g. from SQLite to PostgreSQL
//! (`hookhaven db migrate`). The small tables travel as one [`Snapshot`]; the audit log,
//! which can be large, travels in pages through an [`AuditSource`]. Sealed values are
//! copied as they are: nothing here decrypts.

use async_trait::async_trait;
use hookhaven_core::{ClientGrant, Hook, HookId, Result, SealedSecret, SecretName};

use crate::{Admin, ClientCredentials, Store, StoredAuditEvent};

/// A hook as stored, with its timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRecord {
    pub hook: Hook,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A hook secret as stored: its sealed envelope (`None` = created without a value, D1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    pub hook_id: HookId,
    pub name: SecretName,
    pub value: Option<SealedSecret>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A server key (the JWT signing key, the client-secret HMAC key) as stored, sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerKeyRecord {
    pub name: String,
    pub value: SealedSecret,
    pub created_at: i64,
}

/// Every row of a database except its audit log and Dashboard sessions, each table in the
/// order the store lists it (hooks by id, secrets, clients, grants and administrators in
/// creation order, keys by name). Sessions are not copied: administrators sign in again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub hooks: Vec<HookRecord>,
    pub secrets: Vec<SecretRecord>,
    pub clients: Vec<ClientCredentials>,
    pub grants: Vec<ClientGrant>,
    pub server_keys: Vec<ServerKeyRecord>,
    pub admins: Vec<Admin>,
}

/// How many rows each table holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounts {
    pub hooks: u64,
    pub secrets: u64,
    pub clients: u64,
    pub grants: u64,
    pub server_keys: u64,
    pub admins: u64,
    pub audit_events: u64,
}

impl StoreCounts {
    /// True when no table holds a row (a schema only).
    pub fn is_empty(&self) -> bool {
        *self == StoreCounts::default()
    }

    /// `hooks 3, secrets 7, …`, for messages.
    pub fn describe(&self) -> String {
        format!(
            "hooks {}, secrets {}, clients {}, grants {}, server keys {}, administrators {}, \
             audit events {}",
            self.hooks,
            self.secrets,
            self.clients,
            self.grants,
            self.server_keys,
            self.admins,
            self.audit_events
        )
    }
}

/// The audit log to import, oldest first, one page at a time.
#[async_trait]
pub trait AuditSource: Send {
    /// The next events in increasing `seq` order; empty when there are no more.
    async fn next_page(&mut self) -> Result<Vec<StoredAuditEvent>>;
}

/// The audit log of a store, read page by page with [`Store::audit_after`].
pub struct StoreAuditPages<'a> {
    store: &'a dyn Store,
    after: i64,
    page_size: u32,
}

impl<'a> StoreAuditPages<'a> {
    pub fn new(store: &'a dyn Store, page_size: u32) -> StoreAuditPages<'a> {
        StoreAuditPages {
            store,
            after: 0,
            page_size: page_size.max(1),
        }
    }
}

#[async_trait]
impl AuditSource for StoreAuditPages<'_> {
    async fn next_page(&mut self) -> Result<Vec<StoredAuditEvent>> {
        let page = self.store.audit_after(self.after, self.page_size).await?;
        if let Some(last) = page.last() {
            self.after = last.seq;
        }
        Ok(page)
    }
}

/// The most events [`Store::audit_after`] returns at once.
pub const MAX_AUDIT_PAGE: u32 = 5000;

/// An audit page size as a SQL limit: at least 1, at most [`MAX_AUDIT_PAGE`].
pub(crate) fn audit_page_limit(requested: u32) -> i64 {
    i64::from(requested.clamp(1, MAX_AUDIT_PAGE))
}

/// Rows per multi-row INSERT when importing the audit log: ten columns each, far below
/// either backend's limit on bound parameters.
pub(crate) const AUDIT_INSERT_BATCH: usize = 500;

/// The message of an import into a store that already holds data.
pub(crate) fn not_empty(counts: &StoreCounts) -> hookhaven_core::Error {
    hookhaven_core::Error::internal(format!(
        "refusing to import into a database that is not empty ({}); use a new, empty database",
        counts.describe()
    ))
}
