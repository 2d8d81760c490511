//! Storage for Hookhaven. The [`Store`] trait is the only way domain code reaches the
//! database; SQL lives in the backend modules. Every mutating method is one transaction
//! that also writes its audit event, so a change and its audit record commit together or
//! not at all (D6). Plaintext secret values never reach this crate: it stores sealed
//! envelopes made by the crypto crate.

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod migrate;
pub mod postgres;
pub mod snapshot;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use hookhaven_core::{
    AuditEvent, AuditFilter, Client, ClientGrant, Error, Hook, HookFilter, HookId, HookPatch, Page,
    Result, SealedSecret, SecretName, TriggerId,
};

pub use postgres::{ConnectRetry, PgOptions, PgStore};
pub use snapshot::{
    AuditSource, HookRecord, SecretRecord, ServerKeyRecord, Snapshot, StoreAuditPages, StoreCounts,
};
pub use sqlite::SqliteStore;

/// Opens the store a database URL names: `sqlite://…` or `sqlite::memory:` for
/// [`SqliteStore`], `postgres://…` or `postgresql://…` for [`PgStore`] (with `pg`; SQLite
/// takes no options). Anything else is `Internal`, with a message that does not echo the
/// URL, which may hold a password.
pub async fn open(url: &str, pg: PgOptions) -> Result<Arc<dyn Store>> {
    let scheme = url.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("sqlite") => Ok(Arc::new(SqliteStore::open(url).await?)),
        Some("postgres" | "postgresql") => Ok(Arc::new(PgStore::open(url, pg).await?)),
        _ => Err(hookhaven_core::Error::internal(
            "unsupported database URL; expected sqlite://PATH, sqlite::memory: or \
             postgres://user[:password]@host[:port]/database",
        )),
    }
}

/// A secret as listed: its name and whether it holds a value (D1: a secret created with
/// the placeholder holds none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEntry {
    pub name: SecretName,
    pub is_set: bool,
}

/// A hook with its secrets' sealed values (`None` = created without a value), in creation
/// order: what running the hook needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnableHook {
    pub hook: Hook,
    pub secrets: Vec<(SecretName, Option<SealedSecret>)>,
}

impl RunnableHook {
    /// Joins a hook with its secrets as both backends select them: a JSON array of
    /// `[name, sealed-value-or-null]` pairs in creation order, aggregated in SQL so that
    /// the read is one statement. The error never quotes the stored text.
    pub(crate) fn from_secrets_json(hook: Hook, secrets: &str) -> Result<RunnableHook> {
        let pairs: Vec<(String, Option<String>)> = serde_json::from_str(secrets).map_err(|e| {
            Error::Internal(format!(
                "stored hook secrets are not valid (line {} column {})",
                e.line(),
                e.column()
            ))
        })?;
        let secrets = pairs
            .into_iter()
            .map(|(name, value)| {
                (
                    SecretName::from_stored(name),
                    value.map(SealedSecret::from_envelope),
                )
            })
            .collect();
        Ok(RunnableHook { hook, secrets })
    }
}

/// A client with the HMAC of its secret, for the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    pub client: Client,
    pub secret_hmac: Vec<u8>,
}

/// Filters for listing client grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GrantFilter {
    pub client_id: Option<String>,
    pub audience: Option<String>,
}

/// A stored audit event with its sequence number (newest is highest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAuditEvent {
    pub seq: i64,
    pub event: AuditEvent,
}

/// A Dashboard administrator. `email` is stored lower-cased; `password_hash` is an
/// argon2id PHC string made by the server (the store never sees a password).
#[derive(Clone, PartialEq, Eq)]
pub struct Admin {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub created_at: i64,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// A signed-in Dashboard session. Only the SHA-256 of the cookie value is stored
/// (`id_hash`), so a copy of the database does not hold usable cookies. `email` is the
/// administrator's, joined in when the session is read.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminSession {
    pub id_hash: String,
    pub admin_id: String,
    pub email: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub last_seen_at: i64,
}

impl std::fmt::Debug for AdminSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminSession")
            .field("admin_id", &self.admin_id)
            .field("email", &self.email)
            .field("created_at", &self.created_at)
            .field("last_seen_at", &self.last_seen_at)
            .finish_non_exhaustive()
    }
}

/// Where a sealed value is stored, for re-sealing it under another master key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedLocation {
    /// A hook secret's value.
    HookSecret { hook: HookId, name: SecretName },
    /// A server key (e.g. the JWT signing key set), by name.
    ServerKey { name: String },
}

/// A sealed value and where it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedValue {
    pub location: SealedLocation,
    pub value: SealedSecret,
}

/// Makes the sealed value a renamed secret gets from its stored one (`None` = it holds no
/// value). Called inside the rename's transaction; the server opens the old envelope and
/// seals the value again under the new name (the name is part of the associated data), or
/// seals a new value, so the store still only handles envelopes.
pub type Reseal<'a> =
    &'a (dyn Fn(Option<&SealedSecret>) -> Result<Option<SealedSecret>> + Send + Sync);

/// The storage contract. Implementations: [`SqliteStore`] and [`PgStore`], which pass the
/// same conformance tests.
///
/// Errors use the domain catalogue: `HookNotFound`, `HookNameTaken`, `SecretExists`,
/// `SecretNotFound`, `TooManySecrets`, `ClientNotFound`, `GrantNotFound`, `GrantExists`;
/// `Unavailable` when the database cannot be reached; `Internal` for anything else.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<()>;

    // ---- hooks ----

    /// Inserts a hook. When `hook.enabled`, disables the hook that was enabled on the same
    /// trigger in the same transaction (D2) and returns its id.
    async fn create_hook(&self, hook: &Hook, audit: &AuditEvent) -> Result<Option<HookId>>;
    async fn get_hook(&self, id: &HookId) -> Result<Hook>;
    /// One page of hooks in creation order, and the total count of matches.
    /// `page = None` returns every match.
    async fn list_hooks(&self, filter: &HookFilter, page: Option<Page>)
        -> Result<(Vec<Hook>, u64)>;
    /// Applies a patch; enabling disables the other enabled hook on the trigger (D2).
    /// Returns the updated hook and the id of the hook it disabled, if any.
    async fn update_hook(
        &self,
        id: &HookId,
        patch: &HookPatch,
        audit: &AuditEvent,
    ) -> Result<(Hook, Option<HookId>)>;
    /// Deletes a hook and its secrets.
    async fn delete_hook(&self, id: &HookId, audit: &AuditEvent) -> Result<()>;
    /// A hook and its sealed secrets, read together in one statement (one snapshot;
    /// `HookNotFound` if absent): what running it needs.
    async fn runnable_hook(&self, id: &HookId) -> Result<RunnableHook>;
    /// The hook enabled on `trigger`, if any, with its sealed secrets, read together.
    async fn enabled_runnable_hook(&self, trigger: TriggerId) -> Result<Option<RunnableHook>>;

    // ---- secrets ----

    /// The hook's secrets in the order they were created.
    async fn list_secrets(&self, hook: &HookId) -> Result<Vec<SecretEntry>>;
    /// The hook's secrets with their sealed values (`None` = created without a value).
    async fn sealed_secrets(
        &self,
        hook: &HookId,
    ) -> Result<Vec<(SecretName, Option<SealedSecret>)>>;
    /// Adds new secrets. Any name that exists → `SecretExists`; more than
    /// `MAX_SECRETS_PER_HOOK` in total afterwards → `TooManySecrets`. All or nothing.
    async fn add_secrets(
        &self,
        hook: &HookId,
        secrets: &[(SecretName, Option<SealedSecret>)],
        audit: &AuditEvent,
    ) -> Result<()>;
    /// Updates existing secrets. Any name that does not exist → `SecretNotFound`.
    /// `None` keeps that secret's current value (D1) but still requires it to exist.
    async fn update_secrets(
        &self,
        hook: &HookId,
        secrets: &[(SecretName, Option<SealedSecret>)],
        audit: &AuditEvent,
    ) -> Result<()>;
    /// Deletes the named secrets; unknown names are ignored.
    async fn delete_secrets(
        &self,
        hook: &HookId,
        names: &[SecretName],
        audit: &AuditEvent,
    ) -> Result<()>;
    /// The distinct master-key ids that sealed values are stored under.
    async fn key_ids_in_use(&self) -> Result<Vec<String>>;

    // ---- clients and grants ----

    /// Inserts a client and, optionally, its grants, in one transaction.
    async fn create_client(
        &self,
        client: &Client,
        secret_hmac: &[u8],
        grants: &[ClientGrant],
        audit: &AuditEvent,
    ) -> Result<()>;
    async fn client_credentials(&self, client_id: &str) -> Result<Option<ClientCredentials>>;
    async fn get_client(&self, client_id: &str) -> Result<Client>;
    /// Clients in creation order, and the total count.
    async fn list_clients(&self, page: Option<Page>) -> Result<(Vec<Client>, u64)>;
    async fn count_clients(&self) -> Result<u64>;
    /// Deletes a client and its grants.
    async fn delete_client(&self, client_id: &str, audit: &AuditEvent) -> Result<()>;

    /// `ClientNotFound` if the client does not exist; `GrantExists` for a second grant of
    /// the same client and audience.
    async fn create_grant(&self, grant: &ClientGrant, audit: &AuditEvent) -> Result<()>;
    async fn list_grants(
        &self,
        filter: &GrantFilter,
        page: Option<Page>,
    ) -> Result<(Vec<ClientGrant>, u64)>;
    async fn delete_grant(&self, id: &str, audit: &AuditEvent) -> Result<()>;

    // ---- server keys ----

    /// A server key sealed under the master key (e.g. the JWT signing key), by name.
    async fn get_server_key(&self, name: &str) -> Result<Option<SealedSecret>>;
    /// Stores a server key unless one of that name exists; returns the stored one, so that
    /// two instances starting at once agree on a single key.
    async fn put_server_key_if_absent(
        &self,
        name: &str,
        key: &SealedSecret,
    ) -> Result<SealedSecret>;

    // ---- audit ----

    /// Records an event on its own, e.g. a failed attempt whose change was rolled back.
    async fn record_audit(&self, event: &AuditEvent) -> Result<()>;
    /// Records several events durably in one transaction (group commit): all of them or none.
    async fn record_audits(&self, events: &[AuditEvent]) -> Result<()>;
    /// Events newest first, filtered.
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEvent>>;
    /// Events with `seq > after_seq`, oldest first, at most `limit` (1 to
    /// [`snapshot::MAX_AUDIT_PAGE`]): the whole log, page by page, for copying it.
    async fn audit_after(&self, after_seq: i64, limit: u32) -> Result<Vec<StoredAuditEvent>>;

    // ---- copying a whole database (`hookhaven db migrate`) ----

    /// How many rows each table holds, read in one snapshot.
    async fn counts(&self) -> Result<StoreCounts>;
    /// True when no table holds a row.
    async fn is_empty(&self) -> Result<bool> {
        Ok(self.counts().await?.is_empty())
    }
    /// Every hook, secret (sealed, as stored), client (with its secret HMAC), grant and
    /// server key, read in one snapshot. The audit log is read with [`Store::audit_after`].
    async fn export_snapshot(&self) -> Result<Snapshot>;
    /// Writes `snapshot` and every event `audit` yields (keeping their `seq`) into this
    /// store, in one transaction: all of it or nothing. Refuses (`Internal`, changing
    /// nothing) unless the store is empty. Rows keep their order, timestamps and sealed
    /// values; later inserts continue after the highest imported `seq`.
    async fn import_snapshot(&self, snapshot: &Snapshot, audit: &mut dyn AuditSource)
        -> Result<()>;

    // ---- Hookhaven extensions: secret rename, client secret rotation ----

    /// Renames the secret `from` to `to` (which may equal `from`) and stores the value
    /// `reseal` makes from the stored one, in one transaction with `audit`.
    /// `SecretNotFound(from)` if there is no such secret; `SecretExists(to)` if another
    /// secret is already called `to`. Nothing changes on any error.
    async fn rename_secret(
        &self,
        hook: &HookId,
        from: &SecretName,
        to: &SecretName,
        reseal: Reseal<'_>,
        audit: &AuditEvent,
    ) -> Result<()>;
    /// Replaces a client's secret HMAC (D5). `ClientNotFound` if there is no such client.
    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret_hmac: &[u8],
        audit: &AuditEvent,
    ) -> Result<()>;

    // ---- Dashboard administrators and sessions ----

    /// `AdminExists` if the email is taken.
    async fn create_admin(&self, admin: &Admin, audit: &AuditEvent) -> Result<()>;
    async fn admin_by_email(&self, email: &str) -> Result<Option<Admin>>;
    /// Every administrator, in creation order.
    async fn list_admins(&self) -> Result<Vec<Admin>>;
    /// Deletes an administrator and their sessions. `AdminNotFound` if there is none.
    async fn delete_admin(&self, email: &str, audit: &AuditEvent) -> Result<()>;
    /// Stores a new session (its `email` is ignored), with the sign-in's audit event.
    /// `AdminNotFound` if its administrator does not exist.
    async fn create_admin_session(&self, session: &AdminSession, audit: &AuditEvent) -> Result<()>;
    async fn admin_session(&self, id_hash: &str) -> Result<Option<AdminSession>>;
    /// Records activity on a session at `at` (ms), which postpones its idle expiry. Never
    /// moves it back.
    async fn touch_admin_session(&self, id_hash: &str, at: i64) -> Result<()>;
    /// Ends a session; an unknown one is not an error. Writes `audit` when given.
    async fn delete_admin_session(&self, id_hash: &str, audit: Option<&AuditEvent>) -> Result<()>;
    /// Deletes sessions idle since before `idle_before` or created before
    /// `created_before` (ms). Returns how many.
    async fn delete_expired_admin_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> Result<u64>;

    // ---- master-key rotation (re-sealing values under a new master key) ----

    /// How many sealed values (hook secrets holding a value, and server keys) each master
    /// key id seals, by key id. Malformed envelopes count under `""`.
    async fn count_sealed_by_key(&self) -> Result<Vec<(String, u64)>>;
    /// Up to `limit` sealed values stored under the master key `key_id`: hook secrets in
    /// creation order, then server keys by name.
    async fn sealed_under_key(&self, key_id: &str, limit: u32) -> Result<Vec<SealedValue>>;
    /// Compare-and-swap, in one transaction with `audit`: each `(current, replacement)`
    /// stores `replacement` at `current.location` only if the stored value is still
    /// exactly `current.value` (a value changed or deleted meanwhile is left alone).
    /// Returns how many values were replaced. Timestamps are not touched: the value is
    /// the same, only sealed differently.
    async fn replace_sealed(
        &self,
        swaps: &[(SealedValue, SealedSecret)],
        audit: &AuditEvent,
    ) -> Result<u64>;

    /// Adds each `(key_id, seals)` delta to that master key's running count of values
    /// sealed under it (an atomic upsert: concurrent adders lose no increment), and returns
    /// the totals of every key, by key id. Empty `deltas` just reads the totals. The count
    /// keeps AES-GCM's random nonces far from a repeat (security row 5).
    async fn add_seal_counts(&self, deltas: &[(String, u64)]) -> Result<Vec<(String, u64)>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_dispatches_by_scheme_without_echoing_the_url() {
        let store = open("sqlite::memory:", PgOptions::default()).await.unwrap();
        store.ping().await.unwrap();
        let err = match open("mysql://root:hunter2@db/x", PgOptions::default()).await {
            Err(e) => e,
            Ok(_) => panic!("mysql is not a backend"),
        };
        assert!(
            matches!(&err, hookhaven_core::Error::Internal(d) if !d.contains("hunter2")),
            "{err:?}"
        );
    }
}
