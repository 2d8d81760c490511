//! PostgreSQL mode (`--postgres URL`): a fresh database for the run, the CPU time of the
//! PostgreSQL processes that work for it, and the raw-commit baselines, measured on the
//! same server and on the same rows the server's PATCH writes.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tokio::sync::{Barrier, Mutex};

use crate::load::Window;
use crate::stats::{cpu_delta, micros, CpuProbe, Errors, Measured, Sampler};

/// The actor of the baseline's audit rows.
const ACTOR: &str = "benchbenchbenchbenchbenchbench00";

/// The PATCH's UPDATE of one secret, alone: the raw single-row commit.
const UPDATE_SQL: &str = "UPDATE hook_secrets SET value = $1, key_id = $2, updated_at = $3 \
                          WHERE hook_id = $4 AND name = $5";

/// What the server's PATCH transaction did before it became one statement (and still does
/// when the statement finds something missing): lock the hook, update, audit, commit.
const LOCK_HOOK_SQL: &str = "SELECT 1 FROM hooks WHERE id = $1 FOR UPDATE";
const AUDIT_SQL: &str = "INSERT INTO audit_log (at, actor, action, hook_id, target, \
                         secret_names, outcome, detail, request_id) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

/// The server's PATCH as it runs now: one statement that locks the hook, updates the
/// secret and writes the audit row, in its own implicit transaction (the store's own text).
const PATCH_STATEMENT_SQL: &str = hookhaven_store::postgres::UPDATE_ONE_SECRET_SQL;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A sealed value of the size the server stores for `{"K":"v-00000000"}`.
fn envelope(n: u64) -> String {
    format!("v1:bench-key:{n:048}")
}

/// `url` with its database replaced by `name` (the query string is kept).
pub fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!("--postgres must be a postgres:// URL");
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    Ok(format!("{scheme}://{authority}/{name}{query}"))
}

/// A database created for this run on the server `--postgres` points at, dropped at the
/// end (also when the run fails or is interrupted).
pub struct Database {
    admin_url: String,
    pub name: String,
    /// The URL of the new database, given to the server.
    pub url: String,
    dropped: bool,
}

impl Database {
    pub async fn create(admin_url: &str) -> anyhow::Result<Database> {
        let name = format!("hookhaven_bench_{}", std::process::id());
        let url = with_database(admin_url, &name)?;
        let mut admin = PgConnection::connect(admin_url)
            .await
            .context("connecting to the --postgres server")?;
        // A database of the same name can only be left over from a killed run with the
        // same pid.
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .with_context(|| format!("creating database {name}"))?;
        admin.close().await?;
        Ok(Database {
            admin_url: admin_url.to_string(),
            name,
            url,
            dropped: false,
        })
    }

    pub async fn connect(&self) -> anyhow::Result<PgConnection> {
        let options = PgConnectOptions::from_str(&self.url)?.application_name("hookhaven-bench");
        Ok(PgConnection::connect_with(&options).await?)
    }

    /// Drops the database, ending any session still connected to it.
    pub async fn drop_now(&mut self) -> anyhow::Result<()> {
        if !self.dropped {
            drop_database(&self.admin_url, &self.name).await?;
            self.dropped = true;
        }
        Ok(())
    }
}

async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = PgConnection::connect(admin_url).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(())
}

impl Drop for Database {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        // Drop runs inside the async runtime (or while it unwinds): use a thread with a
        // runtime of its own.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let done = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(drop_database(&admin_url, &name))
        })
        .join();
        if !matches!(done, Ok(Ok(()))) {
            eprintln!(
                "could not drop database {}; drop it by hand: DROP DATABASE {} WITH (FORCE)",
                self.name, self.name
            );
        }
    }
}

/// The PostgreSQL settings that decide what a commit costs, for the report.
pub async fn settings(conn: &mut PgConnection) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for name in [
        "server_version",
        "fsync",
        "synchronous_commit",
        "wal_sync_method",
        "commit_delay",
        "full_page_writes",
        "shared_buffers",
        "max_connections",
    ] {
        let value: String = sqlx::query_scalar(&format!("SHOW {name}"))
            .fetch_one(&mut *conn)
            .await?;
        out.push((name.to_string(), value));
    }
    Ok(out)
}

/// Samples the CPU time of the PostgreSQL processes that work for the benchmark's
/// database: its backends (the server's pool, the baseline's connections, autovacuum
/// workers), and the shared WAL writer, checkpointer, background writer and autovacuum
/// launcher. Other databases' backends on the same server count as "other processes".
pub struct PgProcesses {
    conn: Mutex<PgConnection>,
}

const PROCESSES_SQL: &str = "SELECT pid FROM pg_stat_activity \
     WHERE pid <> pg_backend_pid() AND (datname = current_database() \
     OR backend_type IN ('walwriter', 'checkpointer', 'background writer', \
     'autovacuum launcher'))";

impl PgProcesses {
    pub async fn new(db: &Database) -> anyhow::Result<PgProcesses> {
        let probe = PgProcesses {
            conn: Mutex::new(db.connect().await?),
        };
        probe.sample(&CpuProbe::new()).await?;
        Ok(probe)
    }

    /// CPU seconds by pid. Fails when the processes are not on this machine (a remote
    /// server, or one in another pid namespace).
    pub async fn sample(&self, probe: &CpuProbe) -> anyhow::Result<HashMap<u32, f64>> {
        let pids: Vec<i32> = sqlx::query_scalar(PROCESSES_SQL)
            .fetch_all(&mut *self.conn.lock().await)
            .await?;
        let local = |pid: u32| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.starts_with("postgres"))
        };
        let times: HashMap<u32, f64> = pids
            .iter()
            .filter_map(|&pid| u32::try_from(pid).ok())
            .filter(|&pid| local(pid))
            .filter_map(|pid| Some((pid, probe.cpu_secs(pid)?)))
            .collect();
        if times.is_empty() && !pids.is_empty() {
            bail!("PostgreSQL's processes are not visible in this machine's /proc");
        }
        Ok(times)
    }
}

/// What one baseline commit contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgWrite {
    /// The PATCH's `UPDATE` of one secret row in autocommit: the raw single-row commit.
    Update,
    /// `BEGIN`, lock the hook row, the `UPDATE`, the audit `INSERT`, `COMMIT`: five round
    /// trips, what the server's PATCH did before.
    PatchTransaction,
    /// The server's PATCH statement (lock, update and audit in one statement, autocommit).
    PatchStatement,
}

impl PgWrite {
    fn label(self) -> &'static str {
        match self {
            PgWrite::Update => "UPDATE only",
            PgWrite::PatchTransaction => "PATCH as a 5-round-trip transaction",
            PgWrite::PatchStatement => "PATCH as one statement (the server's SQL)",
        }
    }
}

/// Which rows the connections write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rows {
    /// Connection `i` writes the secret of hook `i % hooks`, as the PATCH phase does.
    Spread,
    /// Every connection writes the first hook's secret: the writes queue on its row lock.
    OneRow,
}

pub fn label(write: PgWrite, connections: usize, rows: Rows, hooks: usize) -> String {
    let rows = match rows {
        Rows::Spread if hooks >= connections => "one row each".to_string(),
        Rows::Spread => format!("spread over {hooks} rows"),
        Rows::OneRow => "all on one row".to_string(),
    };
    format!(
        "PostgreSQL commits: {}, {connections} connections, {rows}",
        write.label()
    )
}

async fn write_once(
    conn: &mut PgConnection,
    write: PgWrite,
    hook: &str,
    n: u64,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let request_id = format!("01JBENCHREQ{n:015}");
    match write {
        PgWrite::Update => {
            let done = bind_update(sqlx::query(UPDATE_SQL), n, now, hook)
                .execute(&mut *conn)
                .await?;
            if done.rows_affected() != 1 {
                return Err(sqlx::Error::RowNotFound);
            }
        }
        PgWrite::PatchTransaction => {
            let mut tx = conn.begin().await?;
            let found: Option<i32> = sqlx::query_scalar(LOCK_HOOK_SQL)
                .bind(hook)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(sqlx::Error::RowNotFound);
            }
            let done = bind_update(sqlx::query(UPDATE_SQL), n, now, hook)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() != 1 {
                return Err(sqlx::Error::RowNotFound);
            }
            bind_audit(sqlx::query(AUDIT_SQL), now, hook, &request_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        PgWrite::PatchStatement => {
            let patch = sqlx::query(PATCH_STATEMENT_SQL)
                .bind(hook)
                .bind(now)
                .bind("K")
                .bind(envelope(n))
                .bind("bench-key");
            bind_audit(patch, now, hook, &request_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// The parameters of `UPDATE_SQL`: write number `n`'s envelope into `hook`'s secret `K`.
fn bind_update<'q>(query: PgQuery<'q>, n: u64, now: i64, hook: &'q str) -> PgQuery<'q> {
    query
        .bind(envelope(n))
        .bind("bench-key")
        .bind(now)
        .bind(hook)
        .bind("K")
}

/// The audit row's parameters, as the server's PATCH writes them (after the statement's own).
fn bind_audit<'q>(query: PgQuery<'q>, now: i64, hook: &'q str, request_id: &'q str) -> PgQuery<'q> {
    query
        .bind(now)
        .bind(ACTOR)
        .bind("secrets.update")
        .bind(hook)
        .bind(None::<String>)
        .bind(r#"["K"]"#)
        .bind("success")
        .bind(None::<String>)
        .bind(request_id)
}

/// Durable commits per second: `connections` connections of their own (no pool), each
/// committing one write after another, on the rows the server's PATCH phase wrote.
pub async fn baseline(
    db: &Database,
    sampler: &Sampler,
    write: PgWrite,
    rows: Rows,
    hooks: &[String],
    connections: usize,
    window: Window,
) -> anyhow::Result<Measured> {
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(db.connect().await?);
    }
    let hooks: Arc<Vec<String>> = Arc::new(hooks.to_vec());
    let start_line = Arc::new(Barrier::new(connections + 1));
    // Each connection stays open until the window's end has been sampled: a backend that
    // exits first is gone from `pg_stat_activity`, and its CPU would count as another
    // process's.
    let (sampled_tx, sampled_rx) = tokio::sync::watch::channel(false);
    let mut handles = Vec::with_capacity(connections);
    // Set once every task holds its connection, so that connecting is not timed.
    let (times_tx, times_rx) = tokio::sync::watch::channel(None::<(Instant, Instant)>);
    for (i, mut conn) in conns.into_iter().enumerate() {
        let hooks = Arc::clone(&hooks);
        let start_line = Arc::clone(&start_line);
        let mut sampled = sampled_rx.clone();
        let mut times = times_rx.clone();
        handles.push(tokio::spawn(async move {
            start_line.wait().await;
            let (measure_from, measure_to) = times
                .wait_for(Option::is_some)
                .await?
                .expect("set before waiting");
            let hook = match rows {
                Rows::Spread => hooks[i % hooks.len()].clone(),
                Rows::OneRow => hooks[0].clone(),
            };
            let mut latencies = Vec::new();
            let mut n = (i as u64) << 40;
            while Instant::now() < measure_to {
                n += 1;
                let sent = Instant::now();
                write_once(&mut conn, write, &hook, n).await?;
                let done = Instant::now();
                if done >= measure_from && done < measure_to {
                    latencies.push(micros(done - sent));
                }
            }
            sampled.wait_for(|done| *done).await?;
            conn.close().await?;
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    start_line.wait().await;
    let measure_from = Instant::now() + window.warmup;
    let measure_to = measure_from + window.measure;
    times_tx.send_replace(Some((measure_from, measure_to)));
    let probe = CpuProbe::new();
    tokio::time::sleep_until(measure_from.into()).await;
    let before = sampler.snapshot(&probe).await;
    tokio::time::sleep_until(measure_to.into()).await;
    let after = sampler.snapshot(&probe).await;
    sampled_tx.send_replace(true);
    let mut latencies = Vec::new();
    for handle in handles {
        latencies.extend(handle.await?.context("baseline write failed")?);
    }
    Ok(Measured::new(
        label(write, connections, rows, hooks.len()),
        window.measure,
        latencies,
        Errors::default(),
        cpu_delta(before, after),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_and_keeps_the_rest() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "b").unwrap(),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/test?sslmode=disable", "b").unwrap(),
            "postgresql://u:p@h/b?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h:5433", "b").unwrap(),
            "postgres://h:5433/b"
        );
        assert_eq!(
            with_database("postgres://h?sslmode=disable", "b").unwrap(),
            "postgres://h/b?sslmode=disable"
        );
        assert!(with_database("h/test", "b").is_err());
    }
}
