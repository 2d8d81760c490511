//! Parsing the database URL and opening the connection pools with hookhaven's fixed
//! SQLite settings.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use hookhaven_core::{Error, Result};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::error::db_error;

/// How long a statement waits for another process's lock before giving up with
/// `Unavailable`. In-process writers never wait here: they queue on the writer pool.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a request waits for a pooled connection (e.g. behind a queue of writers).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
const READER_CONNECTIONS: u32 = 4;

const EXPECTED: &str = "expected sqlite://path/to/file.db or sqlite::memory:";

/// Where the database lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Location {
    File(PathBuf),
    Memory,
}

/// Accepts `sqlite://<path>` (relative, or absolute as `sqlite:///abs/path.db`) and
/// `sqlite::memory:`. Connection settings are fixed here, so query parameters are refused
/// rather than silently overriding them. Messages name the problem but never echo the
/// URL: a mistyped PostgreSQL URL would carry a password.
pub(super) fn parse_url(url: &str) -> Result<Location> {
    let Some((scheme, rest)) = url.split_once(':') else {
        return Err(Error::internal(format!(
            "database URL has no scheme; {EXPECTED}"
        )));
    };
    if !scheme.eq_ignore_ascii_case("sqlite") {
        let printable = !scheme.is_empty()
            && scheme.len() <= 16
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        let named = if printable {
            format!(" `{scheme}`")
        } else {
            String::new()
        };
        return Err(Error::internal(format!(
            "unsupported database URL scheme{named} for the SQLite store; {EXPECTED}"
        )));
    }
    if rest == ":memory:" {
        return Ok(Location::Memory);
    }
    let Some(path) = rest.strip_prefix("//") else {
        return Err(Error::internal(format!(
            "malformed SQLite URL: the scheme must be followed by //; {EXPECTED}"
        )));
    };
    if path.contains(['?', '#']) {
        return Err(Error::internal(
            "SQLite URL must not carry query parameters or a fragment: hookhaven sets the \
             connection options itself",
        ));
    }
    if path.is_empty() || path.ends_with('/') {
        return Err(Error::internal(format!(
            "SQLite URL names no database file; {EXPECTED}"
        )));
    }
    Ok(Location::File(PathBuf::from(path)))
}

/// The two pools of a store. For a file, `writer` holds one connection and `reader`
/// several; in memory both are the same one-connection pool.
pub(super) struct Pools {
    pub writer: SqlitePool,
    pub reader: SqlitePool,
}

/// Settings every connection to a database file gets.
pub(super) fn file_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        // In WAL mode NORMAL already survives an application crash, but a commit can be
        // lost if the machine loses power before the next checkpoint. FULL syncs the WAL
        // on every commit, so a write acknowledged to a client survives power loss too;
        // the cost (one fsync per commit) is small at the write rate of an admin API.
        .synchronous(SqliteSynchronous::Full)
}

/// The settings every pool shares. sqlx pings a pooled connection before handing it out,
/// which detects a network connection that died while idle; an SQLite connection lives in
/// this process and cannot die that way, and each ping is a round trip to the connection's
/// thread (two context switches) on every database call, so it is off.
fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .test_before_acquire(false)
}

/// Opens the writer pool, which also creates the file and switches it to WAL.
pub(super) async fn open_writer(location: &Location) -> Result<SqlitePool> {
    match location {
        Location::File(path) => {
            create_private_file(path)?;
            let options = file_options(path)
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal);
            // One connection: writers inside this process queue for it instead of
            // racing for SQLite's write lock, so a lock upgrade never fails with
            // SQLITE_BUSY. Every write transaction runs here.
            pool_options()
                .max_connections(1)
                .connect_with(options)
                .await
                .map_err(|e| opening(path, e))
        }
        Location::Memory => {
            // Each `sqlite::memory:` gets its own named shared-cache database, which lives
            // as long as a connection to it is open. One connection that is never closed
            // keeps it alive and serialises everything; fine for tests and trials.
            let options = SqliteConnectOptions::from_str("sqlite::memory:")
                .map_err(db_error)?
                .foreign_keys(true)
                .busy_timeout(BUSY_TIMEOUT);
            pool_options()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .connect_with(options)
                .await
                .map_err(db_error)
        }
    }
}

/// Creates a missing database file readable by its owner only. SQLite gives the `-wal`
/// and `-shm` files the database file's permissions, so they stay private too: they hold
/// sealed secrets and client-secret HMACs.
fn create_private_file(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::Unavailable(format!(
            "cannot open SQLite database {}: creating the file failed: {e}",
            path.display()
        ))),
    }
}

/// Opens the reader pool once the writer has created and migrated the database.
pub(super) async fn open_pools(location: &Location, writer: SqlitePool) -> Result<Pools> {
    let reader = match location {
        Location::File(path) => {
            // Read-only connections: a read path cannot write by mistake, and WAL lets
            // them read while the writer commits.
            pool_options()
                .max_connections(READER_CONNECTIONS)
                .connect_with(file_options(path).read_only(true))
                .await
                .map_err(|e| opening(path, e))?
        }
        Location::Memory => writer.clone(),
    };
    Ok(Pools { writer, reader })
}

/// Names the file: the usual cause is a wrong path or missing permission.
fn opening(path: &Path, e: sqlx::Error) -> Error {
    match db_error(e) {
        Error::Unavailable(d) => Error::Unavailable(format!(
            "cannot open SQLite database {}: {d}",
            path.display()
        )),
        Error::Internal(d) => Error::Internal(format!(
            "cannot open SQLite database {}: {d}",
            path.display()
        )),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(url: &str) -> String {
        match parse_url(url) {
            Err(Error::Internal(d)) => d,
            other => panic!("{url}: expected Internal, got {other:?}"),
        }
    }

    #[test]
    fn accepts_file_and_memory_urls() {
        assert_eq!(
            parse_url("sqlite://data/hh.db").unwrap(),
            Location::File("data/hh.db".into())
        );
        assert_eq!(
            parse_url("sqlite:///var/lib/hh.db").unwrap(),
            Location::File("/var/lib/hh.db".into())
        );
        assert_eq!(parse_url("sqlite::memory:").unwrap(), Location::Memory);
    }

    #[test]
    fn rejects_other_schemes_without_echoing_the_url() {
        let d = problem("postgres://admin:hunter2@db/hookhaven");
        assert!(d.contains("`postgres`"), "{d}");
        assert!(!d.contains("hunter2"), "{d}");
        assert!(problem("hooks.db").contains("no scheme"));
    }

    #[test]
    fn rejects_malformed_sqlite_urls() {
        assert!(problem("sqlite:hooks.db").contains("//"));
        assert!(problem("sqlite://").contains("no database file"));
        assert!(problem("sqlite://data/").contains("no database file"));
        assert!(problem("sqlite://hooks.db?mode=ro").contains("query"));
    }
}
