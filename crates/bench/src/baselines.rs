//! The baselines the server is compared with, measured in this process on the same machine:
//! raw SQLite durable commits, and RS256 signing.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use hookhaven_crypto::{sign_access_token, AccessClaims, SigningKey};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};
use tokio::sync::{mpsc, oneshot};

use crate::load::Window;
use crate::stats::{cpu_delta, micros, CpuProbe, Errors, Measured};

/// The server's own schema, so the baseline writes the same table with the same indexes,
/// constraints and triggers.
const SCHEMA: &str = include_str!("../../store/migrations/sqlite/0001_init.sql");

const HOOK_ID: &str = "01JBENCHH00KS00000000000AA";
const ACTOR: &str = "benchbenchbenchbenchbenchbench00";

/// Single-page commits that fill the WAL past its auto-checkpoint size (1000 pages).
const WAL_PRIME_COMMITS: u64 = 1200;

const UPDATE_SQL: &str = "UPDATE hook_secrets SET value = ?, key_id = ?, updated_at = ? \
                          WHERE hook_id = ? AND name = ?";
const REQUIRE_HOOK_SQL: &str = "SELECT 1 FROM hooks WHERE id = ?";
const AUDIT_SQL: &str = "INSERT INTO audit_log (at, actor, action, hook_id, target, \
                         secret_names, outcome, detail, request_id) \
                         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";

/// What one durable commit contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteShape {
    /// The PATCH's UPDATE of one secret row, alone, as a single-statement transaction.
    Update,
    /// Everything the server's PATCH transaction does: `BEGIN IMMEDIATE`, check the hook
    /// exists, the UPDATE, the audit INSERT, `COMMIT`.
    PatchTransaction,
}

impl WriteShape {
    pub fn label(self) -> &'static str {
        match self {
            WriteShape::Update => "UPDATE only",
            WriteShape::PatchTransaction => "PATCH transaction",
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The server's connection settings (crates/store/src/sqlite/connect.rs): WAL,
/// `synchronous=FULL`, foreign keys on, a busy timeout.
fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
}

/// A sealed value of the size the server stores for `{"K":"v-00000000"}`.
fn envelope(n: u64) -> String {
    format!("v1:bench-key:{n:048}")
}

/// The three statements of the server's PATCH transaction, run inside a transaction the
/// caller opened.
async fn patch_statements(conn: &mut SqliteConnection, n: u64) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let found: Option<i64> = sqlx::query_scalar(REQUIRE_HOOK_SQL)
        .bind(HOOK_ID)
        .fetch_optional(&mut *conn)
        .await?;
    if found.is_none() {
        return Err(sqlx::Error::RowNotFound);
    }
    update(conn, n, now).await?;
    sqlx::query(AUDIT_SQL)
        .bind(now)
        .bind(ACTOR)
        .bind("secrets.update")
        .bind(HOOK_ID)
        .bind(None::<String>)
        .bind(r#"["K"]"#)
        .bind("success")
        .bind(None::<String>)
        .bind(format!("01JBENCHREQ{n:015}"))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn update(conn: &mut SqliteConnection, n: u64, now: i64) -> Result<(), sqlx::Error> {
    let done = sqlx::query(UPDATE_SQL)
        .bind(envelope(n))
        .bind("bench-key")
        .bind(now)
        .bind(HOOK_ID)
        .bind("K")
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() != 1 {
        return Err(sqlx::Error::RowNotFound);
    }
    Ok(())
}

/// One durable write of `shape`, committed on its own.
async fn write_once(
    conn: &mut SqliteConnection,
    shape: WriteShape,
    n: u64,
) -> Result<(), sqlx::Error> {
    match shape {
        WriteShape::Update => update(conn, n, now_ms()).await,
        WriteShape::PatchTransaction => {
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            patch_statements(&mut tx, n).await?;
            tx.commit().await
        }
    }
}

/// How the writes reach the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One task, one plain connection, one write after another.
    OneConnection,
    /// `tasks` tasks sharing a one-connection pool, as the server's writers do; each write
    /// is its own transaction.
    SharedWriter { tasks: usize },
    /// `tasks` tasks handing their writes to one writer task, which commits whatever has
    /// queued up (at most `tasks`) as one transaction, each write in its own savepoint,
    /// and answers each only after that COMMIT. Not what the server does: it shows what
    /// batching the fsync would buy.
    GroupCommit { tasks: usize },
}

impl Mode {
    fn describe(self) -> String {
        match self {
            Mode::OneConnection => "1 connection".to_string(),
            Mode::SharedWriter { tasks } => format!("{tasks} tasks sharing 1 writer"),
            Mode::GroupCommit { tasks } => format!("{tasks} tasks, group commit"),
        }
    }

    fn file_tag(self) -> String {
        match self {
            Mode::OneConnection => "1".to_string(),
            Mode::SharedWriter { tasks } => format!("shared-{tasks}"),
            Mode::GroupCommit { tasks } => format!("group-{tasks}"),
        }
    }
}

/// A fresh database with the server's schema, one hook and its secret `K`, its WAL
/// already in steady state, and `synchronous=FULL` checked.
async fn prepare_database(path: &Path) -> anyhow::Result<SqliteConnection> {
    let mut conn = SqliteConnection::connect_with(&options(path))
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    sqlx::raw_sql(SCHEMA)
        .execute(&mut conn)
        .await
        .context("creating the schema")?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO hooks (id, name, script, dependencies, trigger_id, enabled, created_at, \
         updated_at) VALUES (?, 'bench', 'module.exports=function(){}', '{}', \
         'credentials-exchange', 1, ?, ?)",
    )
    .bind(HOOK_ID)
    .bind(now)
    .bind(now)
    .execute(&mut conn)
    .await?;
    sqlx::query(
        "INSERT INTO hook_secrets (hook_id, name, value, key_id, created_at, updated_at) \
         VALUES (?, 'K', ?, 'bench-key', ?, ?)",
    )
    .bind(HOOK_ID)
    .bind(envelope(0))
    .bind(now)
    .bind(now)
    .execute(&mut conn)
    .await?;
    // Bring the WAL to its steady state before timing anything: until the first
    // checkpoint the WAL file grows with every commit, and an fsync that also has to
    // persist a new file size costs several times more. The server's database is past
    // that point by the end of its PATCH warm-up (each PATCH writes ~5 pages); a baseline
    // writing one page per commit would otherwise spend seconds of its window there.
    sqlx::query("PRAGMA synchronous = OFF")
        .execute(&mut conn)
        .await?;
    for n in 0..WAL_PRIME_COMMITS {
        update(&mut conn, n, now).await?;
    }
    sqlx::query("PRAGMA synchronous = FULL")
        .execute(&mut conn)
        .await?;
    let (mode, sync): (String, i64) =
        sqlx::query_as("SELECT * FROM pragma_journal_mode, pragma_synchronous")
            .fetch_one(&mut conn)
            .await?;
    if mode != "wal" || sync != 2 {
        bail!("baseline database is journal_mode={mode}, synchronous={sync}; expected wal, 2");
    }
    Ok(conn)
}

type Job = (u64, oneshot::Sender<Result<(), String>>);

/// The group-commit writer: takes what has queued, commits it as one transaction.
async fn group_writer(
    mut conn: SqliteConnection,
    mut jobs: mpsc::Receiver<Job>,
    max_batch: usize,
) -> Result<SqliteConnection, sqlx::Error> {
    let mut batch: Vec<Job> = Vec::with_capacity(max_batch);
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < max_batch {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut outcomes = Vec::with_capacity(batch.len());
        for (n, _) in &batch {
            sqlx::query("SAVEPOINT w").execute(&mut *tx).await?;
            match patch_statements(&mut tx, *n).await {
                Ok(()) => outcomes.push(Ok(())),
                Err(e) => {
                    sqlx::query("ROLLBACK TO w").execute(&mut *tx).await?;
                    outcomes.push(Err(e.to_string()));
                }
            }
            sqlx::query("RELEASE w").execute(&mut *tx).await?;
        }
        tx.commit().await?;
        for ((_, reply), outcome) in batch.drain(..).zip(outcomes) {
            let _ = reply.send(outcome);
        }
    }
    Ok(conn)
}

pub fn sqlite_label(shape: WriteShape, mode: Mode) -> String {
    match mode {
        Mode::GroupCommit { .. } => format!(
            "SQLite writes (not commits): {}, {}",
            shape.label(),
            mode.describe()
        ),
        _ => format!("SQLite commits: {}, {}", shape.label(), mode.describe()),
    }
}

pub fn rs256_label(threads: usize) -> String {
    format!("RS256 signing (sign_access_token), {threads} threads")
}

/// Durable writes per second on a fresh database file in `dir`.
pub async fn sqlite(
    dir: &Path,
    shape: WriteShape,
    mode: Mode,
    window: Window,
) -> anyhow::Result<Measured> {
    if matches!(mode, Mode::GroupCommit { .. }) && shape != WriteShape::PatchTransaction {
        bail!("group commit is only measured for the PATCH transaction");
    }
    let path = dir.join(format!(
        "baseline-{}-{}.db",
        match shape {
            WriteShape::Update => "update",
            WriteShape::PatchTransaction => "patch-tx",
        },
        mode.file_tag()
    ));
    let mut conn = prepare_database(&path).await?;

    let start = Instant::now();
    let measure_from = start + window.warmup;
    let measure_to = measure_from + window.measure;
    let in_window = move |done: Instant| done >= measure_from && done < measure_to;
    let probe = CpuProbe::new();

    let mut handles = Vec::new();
    // Whatever holds a connection until the end: closing the last connection to the file
    // would checkpoint and delete the primed WAL.
    let mut pool = None;
    let mut idle = None;
    let mut writer = None;
    match mode {
        Mode::OneConnection => {
            handles.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = 0;
                while Instant::now() < measure_to {
                    n += 1;
                    let sent = Instant::now();
                    write_once(&mut conn, shape, n).await?;
                    let done = Instant::now();
                    if in_window(done) {
                        latencies.push(micros(done - sent));
                    }
                }
                conn.close().await?;
                Ok::<_, anyhow::Error>(latencies)
            }));
        }
        Mode::SharedWriter { tasks } => {
            let shared = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options(&path))
                .await?;
            idle = Some(conn);
            for i in 0..tasks {
                let shared = shared.clone();
                handles.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut n = (i as u64) << 40;
                    while Instant::now() < measure_to {
                        n += 1;
                        let sent = Instant::now();
                        let mut conn = shared.acquire().await?;
                        write_once(&mut conn, shape, n).await?;
                        drop(conn);
                        let done = Instant::now();
                        if in_window(done) {
                            latencies.push(micros(done - sent));
                        }
                    }
                    Ok::<_, anyhow::Error>(latencies)
                }));
            }
            pool = Some(shared);
        }
        Mode::GroupCommit { tasks } => {
            let (queue, jobs) = mpsc::channel::<Job>(tasks.max(1));
            writer = Some(tokio::spawn(group_writer(conn, jobs, tasks.max(1))));
            for i in 0..tasks {
                let queue = queue.clone();
                handles.push(tokio::spawn(async move {
                    let mut latencies = Vec::new();
                    let mut n = (i as u64) << 40;
                    while Instant::now() < measure_to {
                        n += 1;
                        let sent = Instant::now();
                        let (reply, answer) = oneshot::channel();
                        queue
                            .send((n, reply))
                            .await
                            .map_err(|_| anyhow!("the group-commit writer stopped"))?;
                        answer
                            .await
                            .map_err(|_| anyhow!("the group-commit writer stopped"))?
                            .map_err(|e| anyhow!("a grouped write failed: {e}"))?;
                        let done = Instant::now();
                        if in_window(done) {
                            latencies.push(micros(done - sent));
                        }
                    }
                    Ok::<_, anyhow::Error>(latencies)
                }));
            }
        }
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let before = probe.snapshot(None);
    tokio::time::sleep_until(measure_to.into()).await;
    let after = probe.snapshot(None);
    let mut latencies = Vec::new();
    for handle in handles {
        latencies.extend(handle.await?.context("baseline write failed")?);
    }
    if let Some(shared) = pool {
        shared.close().await;
    }
    if let Some(conn) = idle {
        conn.close().await?;
    }
    if let Some(writer) = writer {
        // Every sender is gone, so the writer has returned.
        writer.await??.close().await?;
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.clone().into_os_string();
        name.push(suffix);
        let _ = std::fs::remove_file(name);
    }
    Ok(Measured::new(
        sqlite_label(shape, mode),
        window.measure,
        latencies,
        Errors::default(),
        cpu_delta(before, after),
    ))
}

/// RS256 signatures per second: `threads` OS threads each signing the claims of a token
/// with the server's signing code, for the warm-up and then the measured window.
pub fn rs256(threads: usize, window: Window, claims: AccessClaims) -> Measured {
    let key = Arc::new(SigningKey::generate());
    let claims = Arc::new(claims);
    let probe = CpuProbe::new();
    let start = Instant::now();
    let measure_from = start + window.warmup;
    let measure_to = measure_from + window.measure;
    let (latencies, cpu) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let key = Arc::clone(&key);
                let claims = Arc::clone(&claims);
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut bytes = 0usize;
                    while Instant::now() < measure_to {
                        let sent = Instant::now();
                        let token = sign_access_token(&key, &claims);
                        let done = Instant::now();
                        bytes += token.len();
                        if done >= measure_from && done < measure_to {
                            latencies.push(micros(done - sent));
                        }
                    }
                    std::hint::black_box(bytes);
                    latencies
                })
            })
            .collect();
        std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
        let before = probe.snapshot(None);
        std::thread::sleep(measure_to.saturating_duration_since(Instant::now()));
        let after = probe.snapshot(None);
        let latencies: Vec<u32> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("a signing thread panicked"))
            .collect();
        (latencies, cpu_delta(before, after))
    });
    Measured::new(
        rs256_label(threads),
        window.measure,
        latencies,
        Errors::default(),
        cpu,
    )
}

/// The claims the server puts in a client-credentials token for this client.
pub fn token_claims(domain: &str, client_id: &str, audience: &str, scope: &str) -> AccessClaims {
    let now = now_ms() / 1000;
    AccessClaims {
        iss: format!("https://{domain}/"),
        sub: format!("{client_id}@clients"),
        aud: vec![audience.to_string()],
        iat: now,
        exp: now + 86_400,
        scope: scope.to_string(),
        azp: client_id.to_string(),
        gty: "client-credentials".to_string(),
    }
}
