//! Seal counts per master key on SQLite (security row 5): an upsert that adds, and the
//! totals read back in the same write transaction.

use hookhaven_core::Result;

use super::error::db_error;
use super::SqliteStore;

pub(super) async fn add(
    store: &SqliteStore,
    deltas: &[(String, u64)],
) -> Result<Vec<(String, u64)>> {
    let mut tx = store.write().await?;
    for (key_id, delta) in deltas.iter().filter(|(_, d)| *d > 0) {
        sqlx::query(
            "INSERT INTO key_seal_counts (key_id, seals) VALUES (?, ?) \
             ON CONFLICT (key_id) DO UPDATE SET seals = seals + excluded.seals",
        )
        .bind(key_id)
        .bind(to_i64(*delta))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
    }
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT key_id, seals FROM key_seal_counts ORDER BY key_id")
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    Ok(rows
        .into_iter()
        .map(|(id, n)| (id, n.max(0) as u64))
        .collect())
}

/// Counts never come near `i64::MAX`; saturating keeps a wild delta from wrapping negative.
fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
