//! Master-key rotation on SQLite: counting, finding and compare-and-swap re-sealing of
//! sealed values (hook secrets and server keys).

use std::collections::BTreeMap;

use hookhaven_core::{AuditEvent, HookId, Result, SealedSecret, SecretName};

use super::error::db_error;
use super::{audit, server_keys, SqliteStore};
use crate::{SealedLocation, SealedValue};

pub(super) async fn count_by_key(store: &SqliteStore) -> Result<Vec<(String, u64)>> {
    let mut tx = store.read().await?;
    let rows: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT key_id, COUNT(*) FROM hook_secrets WHERE value IS NOT NULL GROUP BY key_id",
    )
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for (id, n) in rows {
        *counts.entry(id.unwrap_or_default()).or_default() += n.max(0) as u64;
    }
    for key in server_keys::envelopes(&mut tx).await? {
        *counts.entry(key.key_id().to_string()).or_default() += 1;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(counts.into_iter().collect())
}

pub(super) async fn under_key(
    store: &SqliteStore,
    key_id: &str,
    limit: u32,
) -> Result<Vec<SealedValue>> {
    let mut tx = store.read().await?;
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT hook_id, name, value FROM hook_secrets \
         WHERE key_id = ? AND value IS NOT NULL ORDER BY seq LIMIT ?",
    )
    .bind(key_id)
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await
    .map_err(db_error)?;
    let mut found: Vec<SealedValue> = rows
        .into_iter()
        .map(|(hook, name, value)| SealedValue {
            location: SealedLocation::HookSecret {
                hook: HookId::from_stored(hook),
                name: SecretName::from_stored(name),
            },
            value: SealedSecret::from_envelope(value),
        })
        .collect();
    if found.len() < limit as usize {
        let keys: Vec<(String, String)> =
            sqlx::query_as("SELECT name, value FROM server_keys ORDER BY name")
                .fetch_all(&mut *tx)
                .await
                .map_err(db_error)?;
        for (name, value) in keys {
            let value = SealedSecret::from_envelope(value);
            if value.key_id() == key_id && found.len() < limit as usize {
                found.push(SealedValue {
                    location: SealedLocation::ServerKey { name },
                    value,
                });
            }
        }
    }
    tx.commit().await.map_err(db_error)?;
    Ok(found)
}

pub(super) async fn replace(
    store: &SqliteStore,
    swaps: &[(SealedValue, SealedSecret)],
    event: &AuditEvent,
) -> Result<u64> {
    let mut tx = store.write().await?;
    let mut replaced = 0;
    for (current, new) in swaps {
        let result = match &current.location {
            SealedLocation::HookSecret { hook, name } => sqlx::query(
                "UPDATE hook_secrets SET value = ?, key_id = ? \
                 WHERE hook_id = ? AND name = ? AND value = ?",
            )
            .bind(new.envelope())
            .bind(new.key_id())
            .bind(hook.as_str())
            .bind(name.as_str())
            .bind(current.value.envelope()),
            SealedLocation::ServerKey { name } => {
                sqlx::query("UPDATE server_keys SET value = ? WHERE name = ? AND value = ?")
                    .bind(new.envelope())
                    .bind(name.as_str())
                    .bind(current.value.envelope())
            }
        }
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        replaced += result.rows_affected();
    }
    audit::insert(&mut tx, event).await?;
    tx.commit().await.map_err(db_error)?;
    Ok(replaced)
}
