//! SQL for the `hook_secrets` table. Values arrive sealed; this module never sees
//! plaintext. Callers lock or check the hook first (see `hooks::lock`, `hooks::require`).

use hookhaven_core::{Error, HookId, Result, SealedSecret, SecretName};
use sqlx::PgConnection;

use super::error::{db_error, foreign_key_violation, unique_violation};
use crate::SecretEntry;

/// The hook's secrets in creation order, with whether each holds a value.
pub(super) async fn entries(conn: &mut PgConnection, hook: &HookId) -> Result<Vec<SecretEntry>> {
    let rows: Vec<(String, bool)> = sqlx::query_as(
        "SELECT name, value IS NOT NULL FROM hook_secrets WHERE hook_id = $1 ORDER BY seq",
    )
    .bind(hook.as_str())
    .fetch_all(conn)
    .await
    .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(name, is_set)| SecretEntry {
            name: SecretName::from_stored(name),
            is_set,
        })
        .collect())
}

/// The hook's secrets in creation order, with their sealed values.
pub(super) async fn sealed(
    conn: &mut PgConnection,
    hook: &HookId,
) -> Result<Vec<(SecretName, Option<SealedSecret>)>> {
    let rows: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT name, value FROM hook_secrets WHERE hook_id = $1 ORDER BY seq")
            .bind(hook.as_str())
            .fetch_all(conn)
            .await
            .map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(name, value)| {
            (
                SecretName::from_stored(name),
                value.map(SealedSecret::from_envelope),
            )
        })
        .collect())
}

/// Adds one secret; `SecretExists` if the hook already has one of that name.
pub(super) async fn insert(
    conn: &mut PgConnection,
    hook: &HookId,
    name: &SecretName,
    value: Option<&SealedSecret>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO hook_secrets (hook_id, name, value, key_id, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(hook.as_str())
    .bind(name.as_str())
    .bind(value.map(SealedSecret::envelope))
    .bind(value.map(SealedSecret::key_id))
    .bind(now)
    .execute(conn)
    .await
    .map_err(|e| {
        if unique_violation(&e) == Some("hook_secrets_hook_id_name_key") {
            Error::SecretExists(name.as_str().to_string())
        } else if foreign_key_violation(&e) == Some("hook_secrets_hook_id_fkey") {
            // Only if the hook lock was skipped; callers take it first.
            Error::HookNotFound
        } else {
            db_error(e)
        }
    })?;
    Ok(())
}

pub(super) async fn count(conn: &mut PgConnection, hook: &HookId) -> Result<usize> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hook_secrets WHERE hook_id = $1")
        .bind(hook.as_str())
        .fetch_one(conn)
        .await
        .map_err(db_error)?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Replaces a secret's value. False if the hook has no secret of that name.
pub(super) async fn set_value(
    conn: &mut PgConnection,
    hook: &HookId,
    name: &SecretName,
    value: &SealedSecret,
    now: i64,
) -> Result<bool> {
    let done = sqlx::query(
        "UPDATE hook_secrets SET value = $1, key_id = $2, updated_at = $3 \
         WHERE hook_id = $4 AND name = $5",
    )
    .bind(value.envelope())
    .bind(value.key_id())
    .bind(now)
    .bind(hook.as_str())
    .bind(name.as_str())
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn exists(
    conn: &mut PgConnection,
    hook: &HookId,
    name: &SecretName,
) -> Result<bool> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT 1 FROM hook_secrets WHERE hook_id = $1 AND name = $2")
            .bind(hook.as_str())
            .bind(name.as_str())
            .fetch_optional(conn)
            .await
            .map_err(db_error)?;
    Ok(found.is_some())
}

/// Deletes one secret if it exists; deleting an unknown name is not an error.
pub(super) async fn delete(
    conn: &mut PgConnection,
    hook: &HookId,
    name: &SecretName,
) -> Result<()> {
    sqlx::query("DELETE FROM hook_secrets WHERE hook_id = $1 AND name = $2")
        .bind(hook.as_str())
        .bind(name.as_str())
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

/// The distinct key ids that stored values are sealed under.
pub(super) async fn key_ids(conn: &mut PgConnection) -> Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT DISTINCT key_id FROM hook_secrets WHERE value IS NOT NULL AND key_id IS NOT NULL",
    )
    .fetch_all(conn)
    .await
    .map_err(db_error)
}

/// The sealed value of one secret: `None` if there is no such secret, `Some(None)` if it
/// holds no value.
pub(super) async fn value(
    conn: &mut PgConnection,
    hook: &HookId,
    name: &SecretName,
) -> Result<Option<Option<SealedSecret>>> {
    let row: Option<(Option<String>,)> =
        sqlx::query_as("SELECT value FROM hook_secrets WHERE hook_id = $1 AND name = $2")
            .bind(hook.as_str())
            .bind(name.as_str())
            .fetch_optional(conn)
            .await
            .map_err(db_error)?;
    Ok(row.map(|(v,)| v.map(SealedSecret::from_envelope)))
}

/// Gives the secret `from` the name `to` and the value `value`, keeping its place in the
/// listing order. `SecretExists` if another secret is called `to`.
pub(super) async fn rename(
    conn: &mut PgConnection,
    hook: &HookId,
    from: &SecretName,
    to: &SecretName,
    value: Option<&SealedSecret>,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE hook_secrets SET name = $1, value = $2, key_id = $3, updated_at = $4 \
         WHERE hook_id = $5 AND name = $6",
    )
    .bind(to.as_str())
    .bind(value.map(SealedSecret::envelope))
    .bind(value.map(SealedSecret::key_id))
    .bind(now)
    .bind(hook.as_str())
    .bind(from.as_str())
    .execute(conn)
    .await
    .map_err(|e| {
        if unique_violation(&e) == Some("hook_secrets_hook_id_name_key") {
            Error::SecretExists(to.as_str().to_string())
        } else {
            db_error(e)
        }
    })?;
    Ok(())
}
