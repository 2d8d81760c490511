//! SQL for the `hooks` table.

use hookhaven_core::{Error, Hook, HookFilter, HookId, HookName, Page, Result, TriggerId};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::error::{bad_json, db_error, unique_violation, CONFLICT};
use super::paging;

pub(super) const COLUMNS: &str = "id, name, script, dependencies, trigger_id, enabled";
pub(super) type HookRow = (String, String, String, String, String, bool);

/// The partial unique index behind D2.
pub(super) const ONE_ENABLED_INDEX: &str = "hooks_one_enabled_per_trigger";

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
        enabled,
    })
}

fn dependencies_json(hook: &Hook) -> Result<String> {
    serde_json::to_string(&hook.dependencies)
        .map_err(|_| Error::internal("hook dependencies could not be encoded as JSON"))
}

/// A name clash is the caller's error. A clash on the D2 index means another transaction
/// enabled a hook on the trigger without the trigger lock (e.g. by hand): a conflict, so
/// the store runs the transaction again. Any other failure is ours.
fn write_error(e: sqlx::Error) -> Error {
    match unique_violation(&e) {
        Some("hooks_name_key") => Error::HookNameTaken,
        Some(ONE_ENABLED_INDEX) => Error::Unavailable(format!(
            "{CONFLICT}: another hook was enabled on the same trigger at the same time"
        )),
        _ => db_error(e),
    }
}

/// Serialises the transactions that enable a hook on `trigger` until this transaction
/// ends. Lock order: this lock first, then hook rows, so that two enablers never wait on
/// each other's rows. The key includes the schema, so separate installations sharing a
/// database do not wait on each other.
pub(super) async fn lock_trigger(conn: &mut PgConnection, trigger: TriggerId) -> Result<()> {
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended(\
         'hookhaven:' || coalesce(current_schema(), '') || ':trigger:' || $1, 0))",
    )
    .bind(trigger.as_str())
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(super) async fn insert(conn: &mut PgConnection, hook: &Hook, now: i64) -> Result<()> {
    sqlx::query(
        "INSERT INTO hooks (id, name, script, dependencies, trigger_id, enabled, created_at, \
         updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(hook.id.as_str())
    .bind(hook.name.as_str())
    .bind(&hook.script)
    .bind(dependencies_json(hook)?)
    .bind(hook.trigger_id.as_str())
    .bind(hook.enabled)
    .bind(now)
    .execute(conn)
    .await
    .map_err(write_error)?;
    Ok(())
}

/// Writes every mutable field of `hook` over the stored row.
pub(super) async fn update(conn: &mut PgConnection, hook: &Hook, now: i64) -> Result<()> {
    sqlx::query(
        "UPDATE hooks SET name = $1, script = $2, dependencies = $3, enabled = $4, \
         updated_at = $5 WHERE id = $6",
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
/// Run under [`lock_trigger`], before enabling `keep`, in the same transaction.
pub(super) async fn disable_others(
    conn: &mut PgConnection,
    trigger: TriggerId,
    keep: &HookId,
    now: i64,
) -> Result<Option<HookId>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "UPDATE hooks SET enabled = FALSE, updated_at = $1 \
         WHERE trigger_id = $2 AND enabled AND id <> $3 RETURNING id",
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

pub(super) async fn get(conn: &mut PgConnection, id: &HookId) -> Result<Option<Hook>> {
    let row: Option<HookRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM hooks WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(conn)
            .await
            .map_err(db_error)?;
    row.map(to_hook).transpose()
}

/// Reads a hook and locks its row until the transaction ends.
pub(super) async fn get_for_update(conn: &mut PgConnection, id: &HookId) -> Result<Option<Hook>> {
    let row: Option<HookRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM hooks WHERE id = $1 FOR UPDATE"
    ))
    .bind(id.as_str())
    .fetch_optional(conn)
    .await
    .map_err(db_error)?;
    row.map(to_hook).transpose()
}

/// The trigger of a hook, without a lock (a hook's trigger never changes).
pub(super) async fn trigger_of(conn: &mut PgConnection, id: &HookId) -> Result<Option<TriggerId>> {
    let trigger: Option<String> = sqlx::query_scalar("SELECT trigger_id FROM hooks WHERE id = $1")
        .bind(id.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    trigger
        .map(|t| {
            TriggerId::parse(&t)
                .ok_or_else(|| Error::internal("stored hook has an unknown trigger_id"))
        })
        .transpose()
}

/// `HookNotFound` unless the hook exists; otherwise locks its row until the transaction
/// ends. Every secret write takes this lock first, so writes to one hook's secrets run one
/// at a time across all connections and instances (D4 counts a settled total).
pub(super) async fn lock(conn: &mut PgConnection, id: &HookId) -> Result<()> {
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM hooks WHERE id = $1 FOR UPDATE")
        .bind(id.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    found.map(|_| ()).ok_or(Error::HookNotFound)
}

/// Deletes a hook; its secrets go with it (`ON DELETE CASCADE`). False if there was none.
pub(super) async fn delete(conn: &mut PgConnection, id: &HookId) -> Result<bool> {
    let done = sqlx::query("DELETE FROM hooks WHERE id = $1")
        .bind(id.as_str())
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}

fn push_filter(query: &mut QueryBuilder<'_, Postgres>, filter: &HookFilter) {
    query.push(" WHERE TRUE");
    if let Some(enabled) = filter.enabled {
        query.push(" AND enabled = ").push_bind(enabled);
    }
    if let Some(trigger) = filter.trigger_id {
        query.push(" AND trigger_id = ").push_bind(trigger.as_str());
    }
}

/// One page in id order (ids are monotonic ULIDs and the column sorts bytewise, so this is
/// creation order) and the number of all matches. Run inside one snapshot so both agree.
pub(super) async fn list(
    conn: &mut PgConnection,
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
