//! The baselines the server is compared with, measured in this process on the same machine:
//! raw SQLite durable commits, and RS256 signing.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use hookhaven_crypto::{sign_access_token, AccessClaims, SigningKey};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, SqliteConnection};

use crate::load::Window;
use crate::stats::{cpu_delta, micros, CpuProbe, CpuUse, Errors, Measured};

/// The server's own schema, so the baseline writes the same table with the same indexes,
/// constraints and triggers.
const SCHEMA: &str = include_str!("../../store/migrations/sqlite/0001_init.sql");

const HOOK_ID: &str = "01JBENCHH00KS00000000000AA";
const ACTOR: &str = "benchbenchbenchbenchbenchbench00";

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
            WriteShape::PatchTransaction => "PATCH's full transaction",
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

async fn write_once(
    conn: &mut SqliteConnection,
    shape: WriteShape,
    n: u64,
) -> Result<(), sqlx::Error> {
    let value = envelope(n);
    let now = now_ms();
    let update = |value: &str| {
        sqlx::query(UPDATE_SQL)
            .bind(value.to_string())
            .bind("bench-key")
            .bind(now)
            .bind(HOOK_ID)
            .bind("K")
    };
    match shape {
        WriteShape::Update => {
            let done = update(&value).execute(&mut *conn).await?;
            if done.rows_affected() != 1 {
                return Err(sqlx::Error::RowNotFound);
            }
        }
        WriteShape::PatchTransaction => {
            let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
            let found: Option<i64> = sqlx::query_scalar(REQUIRE_HOOK_SQL)
                .bind(HOOK_ID)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(sqlx::Error::RowNotFound);
            }
            let done = update(&value).execute(&mut *tx).await?;
            if done.rows_affected() != 1 {
                return Err(sqlx::Error::RowNotFound);
            }
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
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Durable commits per second on a fresh database file in `dir`, from `tasks` concurrent
/// tasks. One task uses one plain connection; several share a one-connection pool, as the
/// server's writers do.
pub async fn sqlite(
    dir: &Path,
    shape: WriteShape,
    tasks: usize,
    window: Window,
) -> anyhow::Result<Measured> {
    let path = dir.join(format!(
        "baseline-{}-{tasks}.db",
        match shape {
            WriteShape::Update => "update",
            WriteShape::PatchTransaction => "patch-tx",
        }
    ));
    let mut setup = SqliteConnection::connect_with(&options(&path))
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    sqlx::raw_sql(SCHEMA)
        .execute(&mut setup)
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
    .execute(&mut setup)
    .await?;
    sqlx::query(
        "INSERT INTO hook_secrets (hook_id, name, value, key_id, created_at, updated_at) \
         VALUES (?, 'K', ?, 'bench-key', ?, ?)",
    )
    .bind(HOOK_ID)
    .bind(envelope(0))
    .bind(now)
    .bind(now)
    .execute(&mut setup)
    .await?;
    let (mode, sync): (String, i64) =
        sqlx::query_as("SELECT * FROM pragma_journal_mode, pragma_synchronous")
            .fetch_one(&mut setup)
            .await?;
    if mode != "wal" || sync != 2 {
        bail!("baseline database is journal_mode={mode}, synchronous={sync}; expected wal, 2");
    }

    let start = Instant::now();
    let measure_from = start + window.warmup;
    let measure_to = measure_from + window.measure;
    let probe = CpuProbe::new();
    let own = std::process::id();

    let mut handles = Vec::new();
    if tasks <= 1 {
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = 0;
            while Instant::now() < measure_to {
                n += 1;
                let sent = Instant::now();
                write_once(&mut setup, shape, n).await?;
                let done = Instant::now();
                if done >= measure_from && done < measure_to {
                    latencies.push(micros(done - sent));
                }
            }
            setup.close().await?;
            Ok::<_, sqlx::Error>(latencies)
        }));
    } else {
        setup.close().await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options(&path))
            .await?;
        for i in 0..tasks {
            let pool = pool.clone();
            handles.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut n = (i as u64) << 40;
                while Instant::now() < measure_to {
                    n += 1;
                    let sent = Instant::now();
                    let mut conn = pool.acquire().await?;
                    write_once(&mut conn, shape, n).await?;
                    drop(conn);
                    let done = Instant::now();
                    if done >= measure_from && done < measure_to {
                        latencies.push(micros(done - sent));
                    }
                }
                Ok::<_, sqlx::Error>(latencies)
            }));
        }
    }
    tokio::time::sleep_until(measure_from.into()).await;
    let before = probe.read(own);
    tokio::time::sleep_until(measure_to.into()).await;
    let after = probe.read(own);
    let mut latencies = Vec::new();
    for handle in handles {
        latencies.extend(handle.await?.context("baseline write failed")?);
    }
    let _ = std::fs::remove_file(&path);
    let cpu = cpu_delta((None, before), (None, after));
    Ok(Measured::new(
        format!(
            "SQLite durable commits, {}, {tasks} {}",
            shape.label(),
            if tasks == 1 {
                "connection"
            } else {
                "tasks on 1 writer"
            }
        ),
        window.measure,
        latencies,
        Errors::default(),
        cpu,
    ))
}

/// RS256 signatures per second: `threads` OS threads each signing the claims of a token
/// with the server's signing code, for the warm-up and then the measured window.
pub fn rs256(threads: usize, window: Window, claims: AccessClaims) -> Measured {
    let key = Arc::new(SigningKey::generate());
    let claims = Arc::new(claims);
    let probe = CpuProbe::new();
    let own = std::process::id();
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
        let before = probe.read(own);
        std::thread::sleep(measure_to.saturating_duration_since(Instant::now()));
        let after = probe.read(own);
        let latencies: Vec<u32> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("a signing thread panicked"))
            .collect();
        (latencies, cpu_delta((None, before), (None, after)))
    });
    Measured::new(
        format!("RS256 signatures (sign_access_token), {threads} threads"),
        window.measure,
        latencies,
        Errors::default(),
        CpuUse {
            server_secs: None,
            ..cpu
        },
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
