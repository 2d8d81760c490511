//! The SQLite backend: the default, zero-configuration store.
//!
//! A file database is opened in WAL mode with two pools: one writer connection, through
//! which every write transaction runs in turn, and a few read-only connections that read
//! concurrently with it. Each submodule holds the SQL of one table; `store` composes them
//! into the transactions of the [`Store`](crate::Store) trait.

mod admins;
mod audit;
mod clients;
mod connect;
mod error;
mod grants;
mod hooks;
mod migrations;
mod paging;
mod rotation;
mod runnable;
mod seal_counts;
mod secrets;
mod server_keys;
mod snapshot;
mod store;
#[cfg(test)]
mod tests;

use std::path::Path;

use hookhaven_core::{Error, Result};
use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqlitePool, Transaction};

use crate::migrate;
use error::db_error;

/// A [`Store`](crate::Store) on an SQLite database. Cloning is cheap and shares the pools.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens `sqlite://path/to/file.db` (created if missing) or `sqlite::memory:`, and
    /// brings its schema up to date. Refuses a database whose schema is newer than this
    /// binary.
    pub async fn open(url: &str) -> Result<SqliteStore> {
        let location = connect::parse_url(url)?;
        let writer = connect::open_writer(&location).await?;
        migrate::run(&migrations::SqliteMigrations(&writer), migrate::SQLITE).await?;
        let pools = connect::open_pools(&location, writer).await?;
        Ok(SqliteStore {
            writer: pools.writer,
            reader: pools.reader,
        })
    }

    /// Begins a write transaction on the writer connection. `IMMEDIATE` takes SQLite's
    /// write lock up front: another process (a CLI command, a second instance) then makes
    /// this wait for up to the busy timeout, instead of failing the transaction halfway
    /// when a deferred read lock cannot be upgraded.
    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(db_error)
    }

    /// Begins a read transaction, so that reads of several statements (a page and its
    /// total, a hook and its secrets) see one snapshot.
    async fn read(&self) -> Result<Transaction<'static, Sqlite>> {
        self.reader.begin().await.map_err(db_error)
    }

    /// A reader connection for a single statement, which is its own snapshot.
    async fn reader(&self) -> Result<PoolConnection<Sqlite>> {
        self.reader.acquire().await.map_err(db_error)
    }

    /// Writes a consistent copy of the live database to `path` (which must not exist)
    /// without stopping writers, then syncs it to disk.
    pub async fn backup_to(&self, path: &Path) -> Result<()> {
        let target = path
            .to_str()
            .ok_or_else(|| Error::internal("backup path is not valid UTF-8"))?;
        sqlx::query("VACUUM INTO ?")
            .bind(target)
            .execute(&mut *self.reader().await?)
            .await
            .map_err(db_error)?;
        // VACUUM INTO does not promise the copy is on disk; a backup should be.
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::internal(format!("opening the backup to sync it: {e}")))?;
        file.sync_all()
            .await
            .map_err(|e| Error::internal(format!("syncing the backup: {e}")))
    }

    /// Copies the WAL into the database file and truncates it, e.g. before copying files
    /// or scanning them. `Unavailable` if readers kept it from finishing.
    pub async fn checkpoint(&self) -> Result<()> {
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.writer)
            .await
            .map_err(db_error)?;
        if busy != 0 {
            return Err(Error::Unavailable(
                "WAL checkpoint could not finish: the database is busy".into(),
            ));
        }
        Ok(())
    }

    /// Runs `PRAGMA integrity_check`; `Internal` listing the problems if it is not `ok`.
    pub async fn integrity_check(&self) -> Result<()> {
        let report: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&mut *self.reader().await?)
            .await
            .map_err(db_error)?;
        if report != ["ok"] {
            return Err(Error::internal(format!(
                "database integrity check failed: {}",
                report.join("; ")
            )));
        }
        Ok(())
    }

    /// Checkpoints the WAL into the database file, then closes both pools. SQLite would
    /// checkpoint when the last connection closes, but which one is last is up to the
    /// pools' threads, and a read-only connection cannot; doing it here leaves every
    /// commit in the database file itself.
    pub async fn close(&self) {
        if let Err(e) = self.checkpoint().await {
            // Nothing is lost: the next open replays the WAL.
            tracing::warn!(error = %e, "final WAL checkpoint failed");
        }
        self.reader.close().await;
        self.writer.close().await;
    }
}
