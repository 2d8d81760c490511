//! SQL for the `audit_log` table. Rows carry secret names, never values.

use hookhaven_core::{AuditEvent, AuditFilter, Error, Outcome, Result};
use sqlx::{PgConnection, QueryBuilder};

use super::error::{bad_json, db_error};
use crate::StoredAuditEvent;

/// Rows returned when the filter asks for none in particular, and the most ever returned.
/// The same as the SQLite store's.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1000;

type AuditRow = (
    i64,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
);

/// The event's secret names as the JSON array the `secret_names` column holds.
pub(super) fn names_json(event: &AuditEvent) -> Result<String> {
    serde_json::to_string(&event.secret_names)
        .map_err(|_| Error::internal("audit secret names could not be encoded as JSON"))
}

pub(super) async fn insert(conn: &mut PgConnection, event: &AuditEvent) -> Result<()> {
    let names = names_json(event)?;
    sqlx::query(
        "INSERT INTO audit_log (at, actor, action, hook_id, target, secret_names, outcome, \
         detail, request_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(event.at)
    .bind(&event.actor)
    .bind(&event.action)
    .bind(&event.hook_id)
    .bind(&event.target)
    .bind(names)
    .bind(event.outcome.as_str())
    .bind(&event.detail)
    .bind(&event.request_id)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(super) fn effective_limit(requested: u32) -> u32 {
    match requested {
        0 => DEFAULT_LIMIT,
        n => n.min(MAX_LIMIT),
    }
}

fn to_stored(row: AuditRow) -> Result<StoredAuditEvent> {
    let (seq, at, actor, action, hook_id, target, names, outcome, detail, request_id) = row;
    let outcome = match outcome.as_str() {
        "success" => Outcome::Success,
        "failure" => Outcome::Failure,
        _ => return Err(Error::internal("stored audit event has an unknown outcome")),
    };
    Ok(StoredAuditEvent {
        seq,
        event: AuditEvent {
            at,
            actor,
            action,
            hook_id,
            target,
            secret_names: serde_json::from_str(&names)
                .map_err(|e| bad_json("audit secret names", &e))?,
            outcome,
            detail,
            request_id,
        },
    })
}

/// Newest first. The query is built per filter so PostgreSQL can use the (hook_id, seq)
/// and (actor, seq) indexes.
pub(super) async fn list(
    conn: &mut PgConnection,
    filter: &AuditFilter,
) -> Result<Vec<StoredAuditEvent>> {
    let mut query = QueryBuilder::new(
        "SELECT seq, at, actor, action, hook_id, target, secret_names, outcome, detail, \
         request_id FROM audit_log WHERE TRUE",
    );
    if let Some(hook_id) = &filter.hook_id {
        query.push(" AND hook_id = ").push_bind(hook_id.as_str());
    }
    if let Some(actor) = &filter.actor {
        query.push(" AND actor = ").push_bind(actor.as_str());
    }
    if let Some(before) = filter.before_seq {
        query.push(" AND seq < ").push_bind(before);
    }
    query
        .push(" ORDER BY seq DESC LIMIT ")
        .push_bind(i64::from(effective_limit(filter.limit)));
    let rows: Vec<AuditRow> = query
        .build_query_as()
        .fetch_all(conn)
        .await
        .map_err(db_error)?;
    rows.into_iter().map(to_stored).collect()
}

/// Events after `after_seq`, oldest first: the log page by page, for copying it.
pub(super) async fn after(
    conn: &mut PgConnection,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<StoredAuditEvent>> {
    let rows: Vec<AuditRow> = sqlx::query_as(
        "SELECT seq, at, actor, action, hook_id, target, secret_names, outcome, detail, \
         request_id FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind(after_seq)
    .bind(crate::snapshot::audit_page_limit(limit))
    .fetch_all(conn)
    .await
    .map_err(db_error)?;
    rows.into_iter().map(to_stored).collect()
}

/// Inserts events keeping their `seq`, many rows per statement (an import).
pub(super) async fn insert_with_seq(
    conn: &mut PgConnection,
    events: &[StoredAuditEvent],
) -> Result<()> {
    for batch in events.chunks(crate::snapshot::AUDIT_INSERT_BATCH) {
        let mut names = Vec::with_capacity(batch.len());
        for stored in batch {
            names.push(
                serde_json::to_string(&stored.event.secret_names).map_err(|_| {
                    Error::internal("audit secret names could not be encoded as JSON")
                })?,
            );
        }
        let mut query = QueryBuilder::new(
            "INSERT INTO audit_log (seq, at, actor, action, hook_id, target, secret_names, \
             outcome, detail, request_id) ",
        );
        query.push_values(batch.iter().zip(names), |mut row, (stored, names)| {
            let e = &stored.event;
            row.push_bind(stored.seq)
                .push_bind(e.at)
                .push_bind(e.actor.as_str())
                .push_bind(e.action.as_str())
                .push_bind(e.hook_id.as_deref())
                .push_bind(e.target.as_deref())
                .push_bind(names)
                .push_bind(e.outcome.as_str())
                .push_bind(e.detail.as_deref())
                .push_bind(e.request_id.as_deref());
        });
        query.build().execute(&mut *conn).await.map_err(db_error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_defaults_to_100_and_caps_at_1000() {
        assert_eq!(effective_limit(0), 100);
        assert_eq!(effective_limit(7), 7);
        assert_eq!(effective_limit(1000), 1000);
        assert_eq!(effective_limit(u32::MAX), 1000);
    }
}
