//! SQL for the `hook_secrets` table. Values arrive sealed; this module never sees
//! plaintext. Writers lock the hook first (see `hooks::lock`); the reads and the one-statement
//! update check or lock it themselves.

use hookhaven_core::{AuditEvent, Error, HookId, Result, SealedSecret, SecretName};
use sqlx::error::ErrorKind;
use sqlx::postgres::PgDatabaseError;
use sqlx::PgConnection;

use super::audit;
use super::error::{db_error, foreign_key_violation, unique_violation};
use crate::SecretEntry;

/// The hook's secrets in creation order, with whether each holds a value; `None` if
/// there is no such hook. One statement, so one snapshot and one round trip: a hook with no
/// secrets comes back as one row with no name.
pub(super) async fn entries(
    conn: &mut PgConnection,
    hook: &HookId,
) -> Result<Option<Vec<SecretEntry>>> {
    let rows: Vec<(Option<String>, bool)> = sqlx::query_as(
        "SELECT s.name, s.value IS NOT NULL FROM hooks h \
         LEFT JOIN hook_secrets s ON s.hook_id = h.id WHERE h.id = $1 ORDER BY s.seq",
    )
    .bind(hook.as_str())
    .fetch_all(conn)
    .await
    .map_err(db_error)?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .filter_map(|(name, is_set)| {
                Some(SecretEntry {
                    name: SecretName::from_stored(name?),
                    is_set,
                })
            })
            .collect(),
    ))
}

/// The hook's secrets in creation order, with their sealed values; `None` if there is no
/// such hook. One statement, as [`entries`].
pub(super) async fn sealed(
    conn: &mut PgConnection,
    hook: &HookId,
) -> Result<Option<Vec<(SecretName, Option<SealedSecret>)>>> {
    let rows: Vec<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT s.name, s.value FROM hooks h \
         LEFT JOIN hook_secrets s ON s.hook_id = h.id WHERE h.id = $1 ORDER BY s.seq",
    )
    .bind(hook.as_str())
    .fetch_all(conn)
    .await
    .map_err(db_error)?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        rows.into_iter()
            .filter_map(|(name, value)| {
                Some((
                    SecretName::from_stored(name?),
                    value.map(SealedSecret::from_envelope),
                ))
            })
            .collect(),
    ))
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

/// A PATCH of a hook's secrets as one statement, in its own implicit transaction: lock the
/// hook's row (as every secret write does first), set each secret's new value (`None`
/// keeps the value, D1, but the secret must exist), and insert the audit row. One round
/// trip instead of five (`BEGIN`, lock, `UPDATE`, audit `INSERT`, `COMMIT`).
///
/// - No such hook: no row to lock, nothing updated, no audit row (0 rows inserted).
/// - A named secret missing: the audit row's `outcome` is NULL, and the NOT NULL
///   violation aborts the whole statement, so nothing is changed and nothing recorded.
///   A change is never written without its audit row, nor the other way round.
/// - The audit row is produced from the locked hook row and the finished update (`FROM
///   hook, counted`), so its `seq` is drawn under the hook lock: for the writes to one
///   hook, audit order is commit order, as in the transactional form.
///
/// The `UPDATE` sees the rows as they are once the hook lock is held (a row that a
/// concurrent writer renamed or deleted meanwhile is skipped), but not secrets created
/// meanwhile. So "not done" means "something was missing, or a concurrent change got in
/// the way": the caller then runs the transactional form, which names what is missing.
///
/// This is the form for one secret, the usual PATCH. Its parameters are scalars, so the
/// plan PostgreSQL caches for the prepared statement (index lookups by primary and unique
/// key) is the one it would make for any values, and it is not planned again on each
/// call. [`UPDATE_SECRETS_SQL`] takes arrays for several secrets; PostgreSQL may plan it
/// afresh on every call (it did in `hookhaven-bench`: about 0.15 ms of its CPU per PATCH).
pub const UPDATE_ONE_SECRET_SQL: &str = "\
WITH hook AS (SELECT id FROM hooks WHERE id = $1 FOR UPDATE), \
changed AS (\
UPDATE hook_secrets s SET value = COALESCE($4, s.value), \
key_id = CASE WHEN $4 IS NULL THEN s.key_id ELSE $5 END, \
updated_at = CASE WHEN $4 IS NULL THEN s.updated_at ELSE $2 END \
WHERE s.hook_id = (SELECT id FROM hook) AND s.name = $3 \
RETURNING 1), \
counted AS (SELECT count(*) AS n FROM changed) \
INSERT INTO audit_log (at, actor, action, hook_id, target, secret_names, outcome, detail, \
request_id) \
SELECT $6, $7, $8, $9, $10, $11, CASE WHEN counted.n = 1 THEN $12 END, $13, $14 \
FROM hook, counted";

/// [`UPDATE_ONE_SECRET_SQL`] for any number of secrets: `$3`, `$4` and `$5` are arrays of
/// names, sealed values (NULL: keep) and key ids.
const UPDATE_SECRETS_SQL: &str = "\
WITH hook AS (SELECT id FROM hooks WHERE id = $1 FOR UPDATE), \
changed AS (\
UPDATE hook_secrets s SET value = COALESCE(c.value, s.value), \
key_id = CASE WHEN c.value IS NULL THEN s.key_id ELSE c.key_id END, \
updated_at = CASE WHEN c.value IS NULL THEN s.updated_at ELSE $2 END \
FROM unnest($3::text[], $4::text[], $5::text[]) AS c (name, value, key_id) \
WHERE s.hook_id = (SELECT id FROM hook) AND s.name = c.name \
RETURNING 1), \
counted AS (SELECT count(*) AS n FROM changed) \
INSERT INTO audit_log (at, actor, action, hook_id, target, secret_names, outcome, detail, \
request_id) \
SELECT $6, $7, $8, $9, $10, $11, \
CASE WHEN counted.n = cardinality($3::text[]) THEN $12 END, $13, $14 \
FROM hook, counted";

/// Runs [`UPDATE_ONE_SECRET_SQL`] or [`UPDATE_SECRETS_SQL`]. `Ok(true)`: the change and its
/// audit row are committed. `Ok(false)`: nothing was written (see the statement's comment).
pub(super) async fn update_in_one_statement(
    conn: &mut PgConnection,
    hook: &HookId,
    changes: &[(SecretName, Option<SealedSecret>)],
    event: &AuditEvent,
    now: i64,
) -> Result<bool> {
    let query = match changes {
        [(name, value)] => sqlx::query(UPDATE_ONE_SECRET_SQL)
            .bind(hook.as_str())
            .bind(now)
            .bind(name.as_str())
            .bind(value.as_ref().map(SealedSecret::envelope))
            .bind(value.as_ref().map(SealedSecret::key_id)),
        _ => sqlx::query(UPDATE_SECRETS_SQL)
            .bind(hook.as_str())
            .bind(now)
            .bind(changes.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>())
            .bind(
                changes
                    .iter()
                    .map(|(_, v)| v.as_ref().map(SealedSecret::envelope))
                    .collect::<Vec<_>>(),
            )
            .bind(
                changes
                    .iter()
                    .map(|(_, v)| v.as_ref().map(SealedSecret::key_id))
                    .collect::<Vec<_>>(),
            ),
    };
    let outcome = query
        .bind(event.at)
        .bind(&event.actor)
        .bind(&event.action)
        .bind(&event.hook_id)
        .bind(&event.target)
        .bind(audit::names_json(event)?)
        .bind(event.outcome.as_str())
        .bind(&event.detail)
        .bind(&event.request_id)
        .execute(conn)
        .await;
    match outcome {
        // Zero rows: no such hook.
        Ok(done) => Ok(done.rows_affected() == 1),
        Err(e) if is_incomplete(&e) => Ok(false),
        Err(e) => Err(db_error(e)),
    }
}

/// The NOT NULL violation on `audit_log.outcome` that [`UPDATE_SECRETS_SQL`] raises when
/// something is missing. No other write leaves `outcome` NULL.
pub(super) fn is_incomplete(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    db.kind() == ErrorKind::NotNullViolation
        && db.table() == Some("audit_log")
        && db
            .try_downcast_ref::<PgDatabaseError>()
            .and_then(PgDatabaseError::column)
            == Some("outcome")
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
