//! A hook with its sealed secrets in one statement (one snapshot, one round trip): what the
//! token endpoint, the trigger endpoint and the Runner read before every run.

use hookhaven_core::{HookId, Result, TriggerId};
use sqlx::PgConnection;

use super::error::db_error;
use super::hooks::{to_hook, HookRow, COLUMNS};
use crate::RunnableHook;

/// The secrets as a JSON array of `[name, value-or-null]` pairs, in creation order.
fn select(filter: &str) -> String {
    format!(
        "SELECT {COLUMNS}, (SELECT COALESCE(json_agg(json_build_array(name, value) ORDER BY seq), \
         '[]'::json)::text FROM hook_secrets WHERE hook_id = hooks.id) FROM hooks WHERE {filter}"
    )
}

type Row = (String, String, String, String, String, bool, String);

fn to_runnable(row: Row) -> Result<RunnableHook> {
    let (id, name, script, dependencies, trigger_id, enabled, secrets) = row;
    let hook: HookRow = (id, name, script, dependencies, trigger_id, enabled);
    RunnableHook::from_secrets_json(to_hook(hook)?, &secrets)
}

/// The hook matching `filter`, whose one parameter is `key`.
async fn fetch(conn: &mut PgConnection, filter: &str, key: &str) -> Result<Option<RunnableHook>> {
    sqlx::query_as::<_, Row>(&select(filter))
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?
        .map(to_runnable)
        .transpose()
}

pub(super) async fn by_id(conn: &mut PgConnection, id: &HookId) -> Result<Option<RunnableHook>> {
    fetch(conn, "id = $1", id.as_str()).await
}

pub(super) async fn enabled(
    conn: &mut PgConnection,
    trigger: TriggerId,
) -> Result<Option<RunnableHook>> {
    fetch(conn, "trigger_id = $1 AND enabled", trigger.as_str()).await
}
