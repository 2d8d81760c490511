//! The [`Store`] trait on PostgreSQL. Each mutating method is one transaction that makes
//! the change and inserts its audit row; an early return drops the transaction, which
//! rolls back both (D6). A transaction that lost a race to a concurrent one is run again
//! (see [`retrying`]).

use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use hookhaven_core::{
    now_ms, AuditEvent, AuditFilter, Client, ClientGrant, Error, Hook, HookFilter, HookId,
    HookPatch, Page, Result, SealedSecret, SecretName, TriggerId, MAX_SECRETS_PER_HOOK,
};
use sqlx::{Postgres, Transaction};

use super::error::{db_error, is_conflict};
use super::rotation;
use super::runnable;
use super::seal_counts;
use super::secret_batch::SecretBatcher;
use super::{
    admins, audit, clients, grants, hooks, secrets, server_keys, snapshot, PgStore, PING_TIMEOUT,
};
use crate::{
    Admin, AdminSession, AuditSource, ClientCredentials, GrantFilter, Reseal, RunnableHook,
    SecretEntry, Snapshot, Store, StoreCounts, StoredAuditEvent,
};

/// How many times a transaction runs before a conflict is reported as `Unavailable`.
const ATTEMPTS: u32 = 6;

async fn commit(tx: Transaction<'static, Postgres>) -> Result<()> {
    tx.commit().await.map_err(db_error)
}

/// Records the audit event and commits: the last step of every mutating method.
async fn audit_and_commit(
    mut tx: Transaction<'static, Postgres>,
    event: &AuditEvent,
) -> Result<()> {
    audit::insert(&mut tx, event).await?;
    commit(tx).await
}

/// A short pause before running a transaction again, growing with each attempt and
/// jittered so that the losers of one race do not meet again at once.
fn pause(attempt: u32) -> Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos() % 5))
        .unwrap_or(0);
    Duration::from_millis(u64::from(attempt) * 5 + jitter)
}

/// Runs `attempt` (one whole transaction) until it succeeds, fails for a reason of its
/// own, or has lost to concurrent transactions [`ATTEMPTS`] times. Only conflicts are
/// retried: their transaction was rolled back, so running it again is safe.
async fn retrying<T, F, Fut>(what: &str, mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut n = 1;
    loop {
        match attempt().await {
            Err(e) if is_conflict(&e) && n < ATTEMPTS => {
                tracing::debug!(operation = what, attempt = n, error = %e.detail(), "retrying after a conflict");
                tokio::time::sleep(pause(n)).await;
                n += 1;
            }
            outcome => return outcome,
        }
    }
}

fn apply_patch(hook: &mut Hook, patch: &HookPatch) {
    if let Some(name) = &patch.name {
        hook.name = name.clone();
    }
    if let Some(script) = &patch.script {
        hook.script = script.clone();
    }
    if let Some(dependencies) = &patch.dependencies {
        hook.dependencies = dependencies.clone();
    }
    if let Some(enabled) = patch.enabled {
        hook.enabled = enabled;
    }
}

impl PgStore {
    async fn create_hook_once(&self, hook: &Hook, audit: &AuditEvent) -> Result<Option<HookId>> {
        let now = now_ms();
        let mut tx = self.write().await?;
        let disabled = if hook.enabled {
            hooks::lock_trigger(&mut tx, hook.trigger_id).await?;
            hooks::disable_others(&mut tx, hook.trigger_id, &hook.id, now).await?
        } else {
            None
        };
        hooks::insert(&mut tx, hook, now).await?;
        audit_and_commit(tx, audit).await?;
        Ok(disabled)
    }

    async fn update_hook_once(
        &self,
        id: &HookId,
        patch: &HookPatch,
        audit: &AuditEvent,
    ) -> Result<(Hook, Option<HookId>)> {
        let now = now_ms();
        let mut tx = self.write().await?;
        let enabling = patch.enabled == Some(true);
        if enabling {
            // Lock order: the trigger first, then rows. A hook's trigger never changes, so
            // it can be read before the row is locked.
            let trigger = hooks::trigger_of(&mut tx, id)
                .await?
                .ok_or(Error::HookNotFound)?;
            hooks::lock_trigger(&mut tx, trigger).await?;
        }
        let mut hook = hooks::get_for_update(&mut tx, id)
            .await?
            .ok_or(Error::HookNotFound)?;
        apply_patch(&mut hook, patch);
        let disabled = if enabling {
            hooks::disable_others(&mut tx, hook.trigger_id, &hook.id, now).await?
        } else {
            None
        };
        hooks::update(&mut tx, &hook, now).await?;
        audit_and_commit(tx, audit).await?;
        Ok((hook, disabled))
    }

    async fn add_secrets_once(
        &self,
        hook: &HookId,
        new: &[(SecretName, Option<SealedSecret>)],
        audit: &AuditEvent,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.write().await?;
        hooks::lock(&mut tx, hook).await?;
        for (name, value) in new {
            secrets::insert(&mut tx, hook, name, value.as_ref(), now).await?;
        }
        // D4 counts the total after the write, under the hook lock.
        if secrets::count(&mut tx, hook).await? > MAX_SECRETS_PER_HOOK {
            return Err(Error::TooManySecrets);
        }
        audit_and_commit(tx, audit).await
    }

    async fn update_secrets_once(
        &self,
        hook: &HookId,
        changes: &[(SecretName, Option<SealedSecret>)],
        audit: &AuditEvent,
    ) -> Result<()> {
        let now = now_ms();
        let mut tx = self.write().await?;
        hooks::lock(&mut tx, hook).await?;
        for (name, value) in changes {
            let found = match value {
                Some(sealed) => secrets::set_value(&mut tx, hook, name, sealed, now).await?,
                // D1: no new value; the secret must still exist.
                None => secrets::exists(&mut tx, hook, name).await?,
            };
            if !found {
                return Err(Error::SecretNotFound(name.as_str().to_string()));
            }
        }
        audit_and_commit(tx, audit).await
    }

    async fn delete_secrets_once(
        &self,
        hook: &HookId,
        names: &[SecretName],
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        hooks::lock(&mut tx, hook).await?;
        for name in names {
            secrets::delete(&mut tx, hook, name).await?;
        }
        audit_and_commit(tx, audit).await
    }

    async fn create_client_once(
        &self,
        client: &Client,
        secret_hmac: &[u8],
        client_grants: &[ClientGrant],
        audit: &AuditEvent,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        clients::insert(&mut tx, client, secret_hmac).await?;
        for grant in client_grants {
            grants::insert(&mut tx, grant).await?;
        }
        audit_and_commit(tx, audit).await
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        let answer = tokio::time::timeout(PING_TIMEOUT, async {
            sqlx::query("SELECT 1")
                .execute(&mut *self.conn().await?)
                .await
                .map_err(db_error)
        })
        .await;
        match answer {
            Ok(done) => done.map(|_| ()),
            Err(_) => Err(Error::Unavailable(format!(
                "PostgreSQL did not answer within {} ms",
                PING_TIMEOUT.as_millis()
            ))),
        }
    }

    // ---- hooks ----

    async fn create_hook(&self, hook: &Hook, audit: &AuditEvent) -> Result<Option<HookId>> {
        retrying("create_hook", || self.create_hook_once(hook, audit)).await
    }

    async fn get_hook(&self, id: &HookId) -> Result<Hook> {
        hooks::get(&mut *self.conn().await?, id)
            .await?
            .ok_or(Error::HookNotFound)
    }

    async fn runnable_hook(&self, id: &HookId) -> Result<RunnableHook> {
        runnable::by_id(&mut *self.conn().await?, id)
            .await?
            .ok_or(Error::HookNotFound)
    }

    async fn enabled_runnable_hook(&self, trigger: TriggerId) -> Result<Option<RunnableHook>> {
        runnable::enabled(&mut *self.conn().await?, trigger).await
    }

    async fn list_hooks(
        &self,
        filter: &HookFilter,
        page: Option<Page>,
    ) -> Result<(Vec<Hook>, u64)> {
        let mut tx = self.read().await?;
        let listed = hooks::list(&mut tx, filter, page).await?;
        commit(tx).await?;
        Ok(listed)
    }

    async fn update_hook(
        &self,
        id: &HookId,
        patch: &HookPatch,
        audit: &AuditEvent,
    ) -> Result<(Hook, Option<HookId>)> {
        retrying("update_hook", || self.update_hook_once(id, patch, audit)).await
    }

    async fn delete_hook(&self, id: &HookId, audit: &AuditEvent) -> Result<()> {
        retrying("delete_hook", || async {
            let mut tx = self.write().await?;
            if !hooks::delete(&mut tx, id).await? {
                return Err(Error::HookNotFound);
            }
            audit_and_commit(tx, audit).await
        })
        .await
    }

    // ---- secrets ----

    async fn list_secrets(&self, hook: &HookId) -> Result<Vec<SecretEntry>> {
        // One statement reads the hook and its secrets in one snapshot.
        secrets::entries(&mut *self.conn().await?, hook)
            .await?
            .ok_or(Error::HookNotFound)
    }

    async fn sealed_secrets(
        &self,
        hook: &HookId,
    ) -> Result<Vec<(SecretName, Option<SealedSecret>)>> {
        secrets::sealed(&mut *self.conn().await?, hook)
            .await?
            .ok_or(Error::HookNotFound)
    }

    async fn add_secrets(
        &self,
        hook: &HookId,
        new: &[(SecretName, Option<SealedSecret>)],
        audit: &AuditEvent,
    ) -> Result<()> {
        retrying("add_secrets", || self.add_secrets_once(hook, new, audit)).await
    }

    async fn update_secrets(
        &self,
        hook: &HookId,
        changes: &[(SecretName, Option<SealedSecret>)],
        audit: &AuditEvent,
    ) -> Result<()> {
        retrying("update_secrets", || async {
            // One statement, one round trip (see `secrets::update_in_one_statement`); the
            // usual single-secret change shares its statement with concurrent ones (see
            // `secret_batch`).
            let done = match changes {
                [(name, value)] if SecretBatcher::accepts(hook, audit) => {
                    self.secret_writes
                        .update_one(hook, name, value.as_ref(), audit, now_ms())
                        .await?
                }
                _ => {
                    secrets::update_in_one_statement(
                        &mut *self.conn().await?,
                        hook,
                        changes,
                        audit,
                        now_ms(),
                    )
                    .await?
                }
            };
            if done {
                return Ok(());
            }
            // Something was missing (or moved meanwhile) and nothing was written: the
            // transaction finds out what, and reports it as before.
            self.update_secrets_once(hook, changes, audit).await
        })
        .await
    }

    async fn delete_secrets(
        &self,
        hook: &HookId,
        names: &[SecretName],
        audit: &AuditEvent,
    ) -> Result<()> {
        retrying("delete_secrets", || {
            self.delete_secrets_once(hook, names, audit)
        })
        .await
    }

    async fn key_ids_in_use(&self) -> Result<Vec<String>> {
        let mut tx = self.read().await?;
        let mut ids: BTreeSet<String> = secrets::key_ids(&mut tx).await?.into_iter().collect();
        for key in server_keys::envelopes(&mut tx).await? {
            ids.insert(key.key_id().to_string());
        }
        commit(tx).await?;
        // A malformed envelope names no key; it must not look like one in use.
        ids.remove("");
        Ok(ids.into_iter().collect())
    }

    // ---- clients and grants ----

    async fn create_client(
        &self,
        client: &Client,
        secret_hmac: &[u8],
        client_grants: &[ClientGrant],
        audit: &AuditEvent,
    ) -> Result<()> {
        retrying("create_client", || {
            self.create_client_once(client, secret_hmac, client_grants, audit)
        })
        .await
    }

    async fn client_credentials(&self, client_id: &str) -> Result<Option<ClientCredentials>> {
        clients::credentials(&mut *self.conn().await?, client_id).await
    }

    async fn get_client(&self, client_id: &str) -> Result<Client> {
        clients::get(&mut *self.conn().await?, client_id)
            .await?
            .ok_or(Error::ClientNotFound)
    }

    async fn list_clients(&self, page: Option<Page>) -> Result<(Vec<Client>, u64)> {
        let mut tx = self.read().await?;
        let listed = clients::list(&mut tx, page).await?;
        commit(tx).await?;
        Ok(listed)
    }

    async fn count_clients(&self) -> Result<u64> {
        clients::count(&mut *self.conn().await?).await
    }

    async fn delete_client(&self, client_id: &str, audit: &AuditEvent) -> Result<()> {
        retrying("delete_client", || async {
            let mut tx = self.write().await?;
            if !clients::delete(&mut tx, client_id).await? {
                return Err(Error::ClientNotFound);
            }
            audit_and_commit(tx, audit).await
        })
        .await
    }

    async fn create_grant(&self, grant: &ClientGrant, audit: &AuditEvent) -> Result<()> {
        retrying("create_grant", || async {
            let mut tx = self.write().await?;
            grants::insert(&mut tx, grant).await?;
            audit_and_commit(tx, audit).await
        })
        .await
    }

    async fn list_grants(
        &self,
        filter: &GrantFilter,
        page: Option<Page>,
    ) -> Result<(Vec<ClientGrant>, u64)> {
        let Some(page) = page else {
            // Unpaged, the total is the number of rows: one statement, no transaction.
            return grants::list_all(&mut *self.conn().await?, filter).await;
        };
        let mut tx = self.read().await?;
        let listed = grants::list(&mut tx, filter, page).await?;
        commit(tx).await?;
        Ok(listed)
    }

    async fn delete_grant(&self, id: &str, audit: &AuditEvent) -> Result<()> {
        retrying("delete_grant", || async {
            let mut tx = self.write().await?;
            if !grants::delete(&mut tx, id).await? {
                return Err(Error::GrantNotFound);
            }
            audit_and_commit(tx, audit).await
        })
        .await
    }

    // ---- server keys ----

    async fn get_server_key(&self, name: &str) -> Result<Option<SealedSecret>> {
        server_keys::get(&mut *self.conn().await?, name).await
    }

    async fn put_server_key_if_absent(
        &self,
        name: &str,
        key: &SealedSecret,
    ) -> Result<SealedSecret> {
        retrying("put_server_key_if_absent", || async {
            let mut tx = self.write().await?;
            let stored = server_keys::put_if_absent(&mut tx, name, key, now_ms()).await?;
            commit(tx).await?;
            Ok(stored)
        })
        .await
    }

    // ---- audit ----

    async fn record_audit(&self, event: &AuditEvent) -> Result<()> {
        let tx = self.write().await?;
        audit_and_commit(tx, event).await
    }

    async fn record_audits(&self, events: &[AuditEvent]) -> Result<()> {
        let mut tx = self.write().await?;
        for event in events {
            audit::insert(&mut tx, event).await?;
        }
        commit(tx).await
    }

    async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<StoredAuditEvent>> {
        audit::list(&mut *self.conn().await?, filter).await
    }

    async fn audit_after(&self, after_seq: i64, limit: u32) -> Result<Vec<StoredAuditEvent>> {
        audit::after(&mut *self.conn().await?, after_seq, limit).await
    }

    // ---- copying a whole database ----

    async fn counts(&self) -> Result<StoreCounts> {
        // One statement: one snapshot.
        snapshot::counts(&mut *self.conn().await?).await
    }

    async fn export_snapshot(&self) -> Result<Snapshot> {
        let mut tx = self.read().await?;
        let exported = snapshot::export(&mut tx).await?;
        commit(tx).await?;
        Ok(exported)
    }

    async fn import_snapshot(
        &self,
        data: &Snapshot,
        audit_source: &mut dyn AuditSource,
    ) -> Result<()> {
        // One transaction, not retried: the audit source cannot be read twice. An error
        // anywhere drops it, which rolls everything back.
        let mut tx = self.write().await?;
        snapshot::import(&mut tx, data, audit_source).await?;
        commit(tx).await
    }

    // ---- Hookhaven extensions: secret rename, client secret rotation ----

    async fn rename_secret(
        &self,
        hook: &HookId,
        from: &SecretName,
        to: &SecretName,
        reseal: Reseal<'_>,
        audit: &AuditEvent,
    ) -> Result<()> {
        retrying("rename_secret", || async {
            let now = now_ms();
            let mut tx = self.write().await?;
            // The hook lock orders this with every other write to the hook's secrets.
            hooks::lock(&mut tx, hook).await?;
            let current = secrets::value(&mut tx, hook, from)
                .await?
                .ok_or_else(|| Error::SecretNotFound(from.as_str().to_string()))?;
            if to != from && secrets::exists(&mut tx, hook, to).await? {
                return Err(Error::SecretExists(to.as_str().to_string()));
            }
            let value = reseal(current.as_ref())?;
            secrets::rename(&mut tx, hook, from, to, value.as_ref(), now).await?;
            audit_and_commit(tx, audit).await
        })
        .await
    }

    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret_hmac: &[u8],
        audit: &AuditEvent,
    ) -> Result<()> {
        retrying("rotate_client_secret", || async {
            let mut tx = self.write().await?;
            if !clients::set_secret_hmac(&mut tx, client_id, secret_hmac).await? {
                return Err(Error::ClientNotFound);
            }
            audit_and_commit(tx, audit).await
        })
        .await
    }

    // ---- Dashboard administrators and sessions ----

    async fn create_admin(&self, admin: &Admin, audit: &AuditEvent) -> Result<()> {
        retrying("create_admin", || async {
            let mut tx = self.write().await?;
            admins::insert(&mut tx, admin).await?;
            audit_and_commit(tx, audit).await
        })
        .await
    }

    async fn admin_by_email(&self, email: &str) -> Result<Option<Admin>> {
        admins::by_email(&mut *self.conn().await?, email).await
    }

    async fn list_admins(&self) -> Result<Vec<Admin>> {
        admins::list(&mut *self.conn().await?).await
    }

    async fn delete_admin(&self, email: &str, audit: &AuditEvent) -> Result<()> {
        retrying("delete_admin", || async {
            let mut tx = self.write().await?;
            if !admins::delete(&mut tx, email).await? {
                return Err(Error::AdminNotFound);
            }
            audit_and_commit(tx, audit).await
        })
        .await
    }

    async fn create_admin_session(&self, session: &AdminSession, audit: &AuditEvent) -> Result<()> {
        retrying("create_admin_session", || async {
            let mut tx = self.write().await?;
            admins::insert_session(&mut tx, session).await?;
            audit_and_commit(tx, audit).await
        })
        .await
    }

    async fn admin_session(&self, id_hash: &str) -> Result<Option<AdminSession>> {
        admins::session(&mut *self.conn().await?, id_hash).await
    }

    async fn touch_admin_session(&self, id_hash: &str, at: i64) -> Result<()> {
        admins::touch_session(&mut *self.conn().await?, id_hash, at).await
    }

    async fn delete_admin_session(&self, id_hash: &str, audit: Option<&AuditEvent>) -> Result<()> {
        retrying("delete_admin_session", || async {
            let mut tx = self.write().await?;
            admins::delete_session(&mut tx, id_hash).await?;
            match audit {
                Some(event) => audit_and_commit(tx, event).await,
                None => commit(tx).await,
            }
        })
        .await
    }

    async fn delete_expired_admin_sessions(
        &self,
        idle_before: i64,
        created_before: i64,
    ) -> Result<u64> {
        admins::delete_expired_sessions(&mut *self.conn().await?, idle_before, created_before).await
    }

    // ---- master-key rotation ----

    async fn count_sealed_by_key(&self) -> Result<Vec<(String, u64)>> {
        rotation::count_by_key(self).await
    }

    async fn sealed_under_key(&self, key_id: &str, limit: u32) -> Result<Vec<crate::SealedValue>> {
        rotation::under_key(self, key_id, limit).await
    }

    async fn replace_sealed(
        &self,
        swaps: &[(crate::SealedValue, SealedSecret)],
        audit: &AuditEvent,
    ) -> Result<u64> {
        retrying("replace_sealed", || rotation::replace(self, swaps, audit)).await
    }

    async fn add_seal_counts(&self, deltas: &[(String, u64)]) -> Result<Vec<(String, u64)>> {
        retrying("add_seal_counts", || seal_counts::add(self, deltas)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn conflicts_are_retried_a_few_times_then_reported() {
        let calls = AtomicU32::new(0);
        let outcome: Result<()> = retrying("test", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async {
                Err(Error::Unavailable(format!(
                    "{}: x",
                    super::super::error::CONFLICT
                )))
            }
        })
        .await;
        assert!(matches!(outcome, Err(Error::Unavailable(_))));
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);

        let calls = AtomicU32::new(0);
        let outcome = retrying("test", || {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    Err(Error::Unavailable(format!(
                        "{}: x",
                        super::super::error::CONFLICT
                    )))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(outcome, Ok(2));
    }

    #[tokio::test]
    async fn other_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let outcome: Result<()> = retrying("test", || {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(Error::HookNameTaken) }
        })
        .await;
        assert_eq!(outcome, Err(Error::HookNameTaken));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
