//! A hook with its sealed secrets in one statement (one snapshot, one round trip to the
//! connection's thread): what the token endpoint, the trigger endpoint and the Runner read
//! before every run.

use hookhaven_core::{HookId, Result, TriggerId};
use sqlx::SqliteConnection;

use super::error::db_error;
use super::hooks::{to_hook, HookRow, COLUMNS};
use crate::RunnableHook;

/// The secrets as a JSON array of `[name, value-or-null]` pairs, in creation order.
fn select(filter: &str) -> String {
    format!(
        "SELECT {COLUMNS}, (SELECT json_group_array(json_array(name, value) ORDER BY seq) \
         FROM hook_secrets WHERE hook_id = hooks.id) FROM hooks WHERE {filter}"
    )
}

type Row = (String, String, String, String, String, i64, String);

fn to_runnable(row: Row) -> Result<RunnableHook> {
    let (id, name, script, dependencies, trigger_id, enabled, secrets) = row;
    let hook: HookRow = (id, name, script, dependencies, trigger_id, enabled);
    RunnableHook::from_secrets_json(to_hook(hook)?, &secrets)
}

/// The hook matching `filter`, whose one parameter is `key`.
async fn fetch(
    conn: &mut SqliteConnection,
    filter: &str,
    key: &str,
) -> Result<Option<RunnableHook>> {
    sqlx::query_as::<_, Row>(&select(filter))
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?
        .map(to_runnable)
        .transpose()
}

pub(super) async fn by_id(
    conn: &mut SqliteConnection,
    id: &HookId,
) -> Result<Option<RunnableHook>> {
    fetch(conn, "id = ?", id.as_str()).await
}

pub(super) async fn enabled(
    conn: &mut SqliteConnection,
    trigger: TriggerId,
) -> Result<Option<RunnableHook>> {
    fetch(conn, "trigger_id = ? AND enabled = 1", trigger.as_str()).await
}
