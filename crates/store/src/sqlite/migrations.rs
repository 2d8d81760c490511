//! Runs the embedded migrations on SQLite.

use async_trait::async_trait;
use hookhaven_core::{now_ms, Result};
use sqlx::{Executor, SqliteConnection, SqlitePool};

use super::error::db_error;
use crate::migrate::{Migration, MigrationTarget};

/// The writer pool, seen as a migration target.
pub(super) struct SqliteMigrations<'a>(pub &'a SqlitePool);

#[async_trait]
impl MigrationTarget for SqliteMigrations<'_> {
    async fn prepare(&self) -> Result<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    INTEGER PRIMARY KEY,
                 name       TEXT,
                 applied_at INTEGER
             )",
        )
        .execute(self.0)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn applied_versions(&self) -> Result<Vec<i64>> {
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(self.0)
            .await
            .map_err(db_error)
    }

    async fn apply(&self, migration: &Migration) -> Result<bool> {
        // IMMEDIATE takes the write lock first, so two processes starting at once apply a
        // migration once: the second waits, then sees the row and backs off.
        let mut tx = self
            .0
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = ?")
                .bind(migration.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if done.is_some() {
            return Ok(false);
        }
        let conn: &mut SqliteConnection = &mut tx;
        conn.execute(sqlx::raw_sql(migration.sql))
            .await
            .map_err(db_error)?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
            .bind(migration.version)
            .bind(migration.name)
            .bind(now_ms())
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(true)
    }
}
