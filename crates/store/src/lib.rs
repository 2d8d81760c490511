//! Storage for Hookhaven. The [`Store`] trait is the only way domain code reaches the
//! database; SQL lives in the backend modules. Every mutating method is one transaction
//! that also writes its audit event, so a change and its audit record commit together or
//! not at all (D6). Plaintext secret values never reach this crate: it stores sealed
//! envelopes made by the crypto crate.

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod migrate;
pub mod postgres;
pub mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use hookhaven_core::{
    AuditEvent, AuditFilter, Client, ClientGrant, Hook, HookFilter, HookId, HookPatch, Page,
    Result, SealedSecret, SecretName,
};

pub use postgres::{ConnectRetry, PgOptions, PgStore};
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
    /// Events newest first, filtered.
    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEvent>>;
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
