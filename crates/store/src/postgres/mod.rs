//! The PostgreSQL backend, for several instances behind a load balancer.
//!
//! One pool of connections. Every mutating call is one READ COMMITTED transaction that
//! also inserts its audit row (D6); reads that take several statements run in one
//! REPEATABLE READ, READ ONLY snapshot. Invariants hold across connections and instances:
//!
//! - D4 (at most 20 secrets): every secret write first locks its hook's row
//!   (`SELECT … FOR UPDATE`), so writes to one hook's secrets run one at a time and count
//!   a settled total.
//! - D2 (one enabled hook per trigger): a transaction that enables a hook first takes a
//!   per-trigger advisory transaction lock, then disables the enabled hook and enables its
//!   own; a partial unique index refuses anything that slips past. Lock order is always
//!   trigger lock, then hook rows, so enablers cannot deadlock one another.
//! - A transaction that fails only because of a concurrent one (serialization failure,
//!   deadlock, a lost race for the D2 index) is rolled back and run again, a few times.
//!
//! Migrations run at start under a session advisory lock. Each submodule holds the SQL of
//! one table; `store` composes them into the transactions of the [`Store`](crate::Store)
//! trait.

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
mod secret_batch;
mod secrets;
mod server_keys;
mod snapshot;
mod store;
#[cfg(test)]
mod tests;

/// The one-secret PATCH statement, for `hookhaven-bench`'s baseline of the same write.
pub use secrets::UPDATE_ONE_SECRET_SQL;

use std::time::Duration;

use hookhaven_core::Result;
use sqlx::pool::PoolConnection;
use sqlx::{PgPool, Postgres, Transaction};

use error::db_error;

/// How the store reaches the server at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectRetry {
    /// Attempts after the first one fails because the server cannot be reached (0 = fail
    /// at once). A refused password or an unknown database is never retried.
    pub retries: u32,
    /// The wait before the first retry; it doubles after each one, up to 30 s.
    pub backoff: Duration,
}

impl Default for ConnectRetry {
    /// Ten retries starting at half a second: about two minutes for the database to come
    /// up, e.g. when both start together.
    fn default() -> ConnectRetry {
        ConnectRetry {
            retries: 10,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Settings of a [`PgStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// The most connections the pool opens. Default 10.
    pub max_connections: u32,
    /// PostgreSQL's `statement_timeout` on every pooled connection; `None` keeps the
    /// server's setting, and so does a URL that sets its own
    /// (`?options=-c%20statement_timeout%3D5s`). A statement cut short gives
    /// `Unavailable`. Default 30 s. Migrations at start run without it.
    pub statement_timeout: Option<Duration>,
    /// How long a call waits for a pooled connection, and one attempt to connect may take,
    /// before `Unavailable`. Default 10 s.
    pub acquire_timeout: Duration,
    /// Retries while the server cannot be reached at start.
    pub connect_retry: ConnectRetry,
}

impl Default for PgOptions {
    fn default() -> PgOptions {
        PgOptions {
            max_connections: 10,
            statement_timeout: Some(Duration::from_secs(30)),
            acquire_timeout: Duration::from_secs(10),
            connect_retry: ConnectRetry::default(),
        }
    }
}

/// How long [`ping`](crate::Store::ping) waits for an answer: a readiness probe must hear
/// "not ready" quickly while the database is down.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// A [`Store`](crate::Store) on a PostgreSQL database. Cloning is cheap and shares the pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// Group commit for single-secret PATCHes (see `secret_batch`).
    secret_writes: secret_batch::SecretBatcher,
}

impl PgStore {
    /// Connects to `postgres://…` or `postgresql://…` (waiting for the server as
    /// `options.connect_retry` allows), and brings the schema its `search_path` selects up
    /// to date. Refuses a database whose schema is newer than this binary.
    ///
    /// Errors: `Unavailable` when the server cannot be reached; `Internal` for a bad URL,
    /// a refused login, an unknown database or a failed migration. Messages never echo the
    /// URL, which may hold a password.
    pub async fn open(url: &str, options: PgOptions) -> Result<PgStore> {
        Ok(PgStore::open_counting(url, options).await?.0)
    }

    /// [`open`](Self::open), also returning how many migrations this call applied.
    async fn open_counting(url: &str, options: PgOptions) -> Result<(PgStore, usize)> {
        let connect = connect::parse_url(url, &options)?;
        let first = connect::first_connection(&connect, &options).await?;
        let applied = migrations::run(first).await.map_err(|e| match e {
            hookhaven_core::Error::Internal(d) => hookhaven_core::Error::Internal(format!(
                "migrating PostgreSQL database {}: {d}",
                connect::describe(&connect)
            )),
            other => other,
        })?;
        let pool = connect::pool(connect, &options);
        // Two lanes: one batch executes while the other waits for its commit. One when
        // the pool has a single connection, so that reads are not shut out.
        let lanes = if options.max_connections >= 2 { 2 } else { 1 };
        Ok((
            PgStore {
                secret_writes: secret_batch::SecretBatcher::start(pool.clone(), lanes),
                pool,
            },
            applied,
        ))
    }

    /// Begins a write transaction (READ COMMITTED; the methods take the locks they need).
    async fn write(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db_error)
    }

    /// Begins a read transaction, so that reads of several statements (a page and its
    /// total, a hook and its secrets) see one snapshot.
    async fn read(&self) -> Result<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .await
            .map_err(db_error)
    }

    /// A connection for a single statement, which is its own snapshot.
    async fn conn(&self) -> Result<PoolConnection<Postgres>> {
        self.pool.acquire().await.map_err(db_error)
    }

    /// Closes every connection; later calls fail with `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
