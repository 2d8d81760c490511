//! SQL for the `hooks` table.

use hookhaven_core::{Error, Hook, HookFilter, HookId, HookName, Page, Result, TriggerId};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::error::{bad_json, db_error, unique_violation};
use super::paging;

pub(super) const COLUMNS: &str = "id, name, script, dependencies, trigger_id, enabled";
pub(super) type HookRow = (String, String, String, String, String, i64);

pub(super) fn to_hook(
    (id, name, script, dependencies, trigger_id, enabled): HookRow,
) -> Result<Hook> {
    Ok(Hook {
        id: HookId::from_stored(id),
        name: HookName::from_stored(name),
        script,
        dependencies: serde_json::from_str(&dependencies)
            .map_err(|e| bad_json("hook dependencies", &e))?,
        trigger_id: TriggerId::parse(&trigger_id)
            .ok_or_else(|| Error::internal("stored hook has an unknown trigger_id"))?,
        enabled: enabled != 0,
    })
}

fn dependencies_json(hook: &Hook) -> Result<String> {
    serde_json::to_string(&hook.dependencies)
        .map_err(|_| Error::internal("hook dependencies could not be encoded as JSON"))
}

/// A name clash is the caller's error; any other failure is ours.
fn write_error(e: sqlx::Error) -> Error {
    if unique_violation(&e) == Some("hooks.name") {
        Error::HookNameTaken
    } else {
        db_error(e)
    }
}

pub(super) async fn insert(conn: &mut SqliteConnection, hook: &Hook, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO hooks (id, name, script, dependencies, trigger_id, enabled, created_at, \
         updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(hook.id.as_str())
    .bind(hook.name.as_str())
    .bind(&hook.script)
    .bind(dependencies_json(hook)?)
    .bind(hook.trigger_id.as_str())
    .bind(hook.enabled)
    .bind(now)
    .bind(now)
    .execute(conn)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// Writes every mutable field of `hook` over the stored row.
pub(super) async fn update(conn: &mut SqliteConnection, hook: &Hook, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE hooks SET name = ?, script = ?, dependencies = ?, enabled = ?, updated_at = ? \
         WHERE id = ?",
    )
    .bind(hook.name.as_str())
    .bind(&hook.script)
    .bind(dependencies_json(hook)?)
    .bind(hook.enabled)
    .bind(now)
    .bind(hook.id.as_str())
    .execute(conn)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// D2: disables whichever hook other than `keep` is enabled on `trigger`, returning its id.
/// Run before enabling `keep` in the same transaction.
pub(super) async fn disable_others(
    conn: &mut SqliteConnection,
    trigger: TriggerId,
    keep: &HookId,
    now: i64,
) -> Result<Option<HookId>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "UPDATE hooks SET enabled = 0, updated_at = ? \
         WHERE trigger_id = ? AND enabled = 1 AND id <> ? RETURNING id",
    )
    .bind(now)
    .bind(trigger.as_str())
    .bind(keep.as_str())
    .fetch_all(conn)
    .await
    .map_err(db_error)?;
    // The partial unique index allows at most one.
    Ok(ids.into_iter().next().map(HookId::from_stored))
}

pub(super) async fn get(conn: &mut SqliteConnection, id: &HookId) -> Result<Option<Hook>> {
    let row: Option<HookRow> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM hooks WHERE id = ?"))
        .bind(id.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    row.map(to_hook).transpose()
}

/// `HookNotFound` unless the hook exists. Secret methods call it inside their
/// transaction so that the answer holds for the rest of it.
pub(super) async fn require(conn: &mut SqliteConnection, id: &HookId) -> Result<()> {
    let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM hooks WHERE id = ?")
        .bind(id.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    found.map(|_| ()).ok_or(Error::HookNotFound)
}

/// Deletes a hook; its secrets go with it (`ON DELETE CASCADE`). False if there was none.
pub(super) async fn delete(conn: &mut SqliteConnection, id: &HookId) -> Result<bool> {
    let done = sqlx::query("DELETE FROM hooks WHERE id = ?")
        .bind(id.as_str())
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}

fn push_filter(query: &mut QueryBuilder<'_, Sqlite>, filter: &HookFilter) {
    query.push(" WHERE 1 = 1");
    if let Some(enabled) = filter.enabled {
        query.push(" AND enabled = ").push_bind(i64::from(enabled));
    }
    if let Some(trigger) = filter.trigger_id {
        query.push(" AND trigger_id = ").push_bind(trigger.as_str());
    }
}

/// One page in id order (ids are monotonic ULIDs, so this is creation order) and the
/// number of all matches. Run inside one read transaction so both agree.
pub(super) async fn list(
    conn: &mut SqliteConnection,
    filter: &HookFilter,
    page: Option<Page>,
) -> Result<(Vec<Hook>, u64)> {
    let mut count = QueryBuilder::new("SELECT COUNT(*) FROM hooks");
    push_filter(&mut count, filter);
    let total: i64 = count
        .build_query_scalar()
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;

    let (limit, offset) = paging::limit_offset(page);
    let mut select = QueryBuilder::new(format!("SELECT {COLUMNS} FROM hooks"));
    push_filter(&mut select, filter);
    select
        .push(" ORDER BY id LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows: Vec<HookRow> = select
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    let hooks = rows.into_iter().map(to_hook).collect::<Result<_>>()?;
    Ok((hooks, paging::total(total)))
}
