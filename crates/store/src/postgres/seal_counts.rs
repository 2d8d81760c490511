//! Seal counts per master key on PostgreSQL (security row 5): an upsert that adds, and
//! the totals read back in the same transaction. `INSERT … ON CONFLICT DO UPDATE` takes
//! the row lock, so concurrent adders never lose an increment.

use hookhaven_core::Result;

use super::error::db_error;
use super::PgStore;

pub(super) async fn add(store: &PgStore, deltas: &[(String, u64)]) -> Result<Vec<(String, u64)>> {
    let mut deltas: Vec<(&str, i64)> = deltas
        .iter()
        .filter(|(_, d)| *d > 0)
        .map(|(id, d)| (id.as_str(), i64::try_from(*d).unwrap_or(i64::MAX)))
        .collect();
    // One lock order for every adder, so two flushes naming the same keys cannot deadlock.
    deltas.sort_unstable();
    let mut tx = store.write().await?;
    for (key_id, delta) in deltas {
        sqlx::query(
            "INSERT INTO key_seal_counts (key_id, seals) VALUES ($1, $2) \
             ON CONFLICT (key_id) DO UPDATE SET seals = key_seal_counts.seals + EXCLUDED.seals",
        )
        .bind(key_id)
        .bind(delta)
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
