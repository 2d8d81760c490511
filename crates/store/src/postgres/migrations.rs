//! Runs the embedded migrations on PostgreSQL, on one connection that holds a session
//! advisory lock for the whole run: several instances starting at once take turns, and
//! each one after the first finds nothing left to apply.

use async_trait::async_trait;
use hookhaven_core::{now_ms, Error, Result};
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::Mutex;

use super::error::db_error;
use crate::migrate::{self, Migration, MigrationTarget};

/// The PostgreSQL schema history. Append only: a released migration never changes.
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../../migrations/postgres/0001_init.sql"),
    },
    // Dashboard administrators and sessions.
    Migration {
        version: 2,
        name: "dashboard",
        sql: include_str!("../../migrations/postgres/0002_dashboard.sql"),
    },
    // Seal counts per master key (security row 5).
    Migration {
        version: 3,
        name: "key_seal_counts",
        sql: include_str!("../../migrations/postgres/0003_key_seal_counts.sql"),
    },
];

/// The advisory lock key of the migration run, per schema: installations in separate
/// schemas of one database migrate independently.
const LOCK_KEY: &str =
    "hashtextextended('hookhaven:' || coalesce(current_schema(), '') || ':migrate', 0)";

/// Brings the schema that `conn`'s search_path selects up to date, then closes `conn`.
/// Returns how many migrations this call applied.
pub(super) async fn run(mut conn: PgConnection) -> Result<usize> {
    // Migrations, and waiting for another instance's, may take longer than a request may.
    // Notices such as "relation already exists, skipping" are not worth a log line.
    conn.execute("SET statement_timeout = 0; SET client_min_messages = warning")
        .await
        .map_err(db_error)?;
    let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()")
        .fetch_one(&mut conn)
        .await
        .map_err(db_error)?;
    if schema.is_none() {
        return Err(Error::internal(
            "no PostgreSQL schema to create the tables in: the search_path names no existing \
             schema; create the schema or fix the search_path",
        ));
    }
    lock(&mut conn).await?;
    let target = PgMigrations(Mutex::new(conn));
    let outcome = migrate::run(&target, MIGRATIONS).await;
    let mut conn = target.0.into_inner();
    // Closing the session would release the lock too; unlocking first lets the next
    // instance go on without waiting for the server to notice the closed socket.
    let unlocked = sqlx::query(&format!("SELECT pg_advisory_unlock({LOCK_KEY})"))
        .execute(&mut conn)
        .await;
    if let Err(e) = unlocked {
        tracing::warn!(error = %db_error(e), "releasing the migration lock failed");
    }
    if let Err(e) = conn.close().await {
        tracing::debug!(error = %db_error(e), "closing the migration connection failed");
    }
    outcome
}

/// Takes the migration lock, saying so when another instance holds it.
async fn lock(conn: &mut PgConnection) -> Result<()> {
    let got: bool = sqlx::query_scalar(&format!("SELECT pg_try_advisory_lock({LOCK_KEY})"))
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    if !got {
        tracing::info!("another instance is migrating the database; waiting for it");
        sqlx::query(&format!("SELECT pg_advisory_lock({LOCK_KEY})"))
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// The locked connection, seen as a migration target.
struct PgMigrations(Mutex<PgConnection>);

#[async_trait]
impl MigrationTarget for PgMigrations {
    async fn prepare(&self) -> Result<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    BIGINT PRIMARY KEY,
                 name       TEXT,
                 applied_at BIGINT
             )",
        )
        .execute(&mut *self.0.lock().await)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn applied_versions(&self) -> Result<Vec<i64>> {
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut *self.0.lock().await)
            .await
            .map_err(db_error)
    }

    async fn apply(&self, migration: &Migration) -> Result<bool> {
        let mut conn = self.0.lock().await;
        // PostgreSQL runs DDL in transactions: the schema change and its record commit
        // together or not at all.
        let mut tx = conn.begin().await.map_err(db_error)?;
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                .bind(migration.version)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if done.is_some() {
            return Ok(false);
        }
        let in_tx: &mut PgConnection = &mut tx;
        in_tx
            .execute(sqlx::raw_sql(migration.sql))
            .await
            .map_err(db_error)?;
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_list_is_valid() {
        let todo = migrate::pending(MIGRATIONS, &[]).unwrap();
        assert_eq!(todo.first().map(|m| m.version), Some(1));
    }
}
