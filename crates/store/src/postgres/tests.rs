//! The conformance suite on a throw-away schema, and tests of what is particular to
//! PostgreSQL: the migration lock, connection retries, an unreachable server, pool and
//! timeout settings, invariants across instances.
//!
//! The server is `HOOKHAVEN_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`). Each test creates its own schema `t_<ulid>`
//! and drops it at the end. When the server cannot be reached the tests print `SKIPPED: …`
//! and pass, unless `CI=true`, where they fail.

use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookhaven_core::{
    AuditEvent, Error, Hook, HookId, HookName, SealedSecret, SecretName, TriggerId,
    MAX_SECRETS_PER_HOOK,
};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::{ConnectRetry, PgOptions, PgStore};
use crate::conformance::Harness;
use crate::Store;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn server_url() -> String {
    std::env::var("HOOKHAVEN_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string())
}

/// A connection to the test server, or `None` (after printing why) when it cannot be
/// reached outside CI. In CI an unreachable server fails the test.
async fn admin() -> Option<PgConnection> {
    let url = server_url();
    let attempt = tokio::time::timeout(Duration::from_secs(10), PgConnection::connect(&url)).await;
    let problem = match attempt {
        Ok(Ok(conn)) => return Some(conn),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer within 10 s".to_string(),
    };
    let server = PgConnectOptions::from_str(&url)
        .map(|o| super::connect::describe(&o))
        .unwrap_or_else(|_| "(unparsable HOOKHAVEN_TEST_POSTGRES_URL)".into());
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("PostgreSQL at {server} is unreachable and CI=true: {problem}");
    }
    eprintln!("SKIPPED: PostgreSQL at {server} is unreachable: {problem}");
    None
}

/// `url` with `search_path` set to `schema` through the `options` parameter.
fn with_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// `url` pointing at `host_port` instead of its own server.
fn with_host_port(url: &str, host_port: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("URL has a scheme");
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
    format!("{scheme}://{}{host_port}{tail}", user.unwrap_or_default())
}

/// A schema of its own for one test, dropped with everything in it at the end.
struct TestSchema {
    name: String,
}

impl TestSchema {
    async fn create() -> Option<TestSchema> {
        let mut conn = admin().await?;
        let name = format!("t_{}", hookhaven_core::new_ulid().to_lowercase());
        conn.execute(format!("CREATE SCHEMA \"{name}\"").as_str())
            .await
            .expect("create test schema");
        conn.close().await.ok();
        Some(TestSchema { name })
    }

    fn url(&self) -> String {
        with_schema(&server_url(), &self.name)
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        // Drop may run inside a runtime, so the cleanup gets a thread and runtime of its own.
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async move {
                let mut conn = PgConnection::connect(&server_url())
                    .await
                    .map_err(|e| e.to_string())?;
                conn.execute(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE").as_str())
                    .await
                    .map_err(|e| e.to_string())?;
                conn.close().await.map_err(|e| e.to_string())
            })
        });
        match cleanup.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("dropping test schema {} failed: {e}", self.name),
            Err(_) => eprintln!("dropping test schema {} panicked", self.name),
        }
    }
}

fn test_options() -> PgOptions {
    PgOptions {
        max_connections: 8,
        ..PgOptions::default()
    }
}

async fn temp_store(options: PgOptions) -> Option<(PgStore, TestSchema)> {
    let schema = TestSchema::create().await?;
    let store = PgStore::open(&schema.url(), options)
        .await
        .expect("open store");
    Some((store, schema))
}

async fn harness() -> Option<Harness> {
    let (store, schema) = temp_store(test_options()).await?;
    Some(Harness::new(Arc::new(store), schema))
}

mod conformance_suite {
    use super::harness;

    crate::conformance_tests!(harness());
}

mod copy_suite {
    use super::harness;

    crate::conformance_copy_tests!(harness());
}

/// A SQLite store in a temporary directory, for copies between the backends.
async fn sqlite_harness() -> Option<Harness> {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("hookhaven.db").display());
    let store = crate::SqliteStore::open(&url).await.expect("open SQLite");
    Some(Harness::new(Arc::new(store), dir))
}

/// `hookhaven db migrate`'s usual direction, and back.
mod copy_sqlite_to_postgres {
    use super::{harness, sqlite_harness};

    crate::conformance_copy_tests!(@pairs sqlite_harness(), harness();
        a_snapshot_copies_everything,
        import_refuses_a_store_that_is_not_empty,
        a_failed_import_leaves_the_target_empty,
    );
}

mod copy_postgres_to_sqlite {
    use super::{harness, sqlite_harness};

    crate::conformance_copy_tests!(@pairs harness(), sqlite_harness();
        a_snapshot_copies_everything,
        a_failed_import_leaves_the_target_empty,
    );
}

fn hook(name: &str, trigger: TriggerId, enabled: bool) -> Hook {
    Hook {
        id: HookId::generate(),
        name: HookName::parse(name).unwrap(),
        script: "module.exports = function () {};".into(),
        dependencies: Default::default(),
        trigger_id: trigger,
        enabled,
    }
}

fn event() -> AuditEvent {
    AuditEvent::success("pg-test", "test", None)
}

/// A port nothing listens on.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A TCP relay in front of the test server that can be cut off and brought back on the
/// same port, standing in for a database that goes down and comes back.
struct Relay {
    port: u16,
    target: SocketAddr,
    task: Option<JoinHandle<()>>,
}

impl Relay {
    fn target() -> SocketAddr {
        let options = PgConnectOptions::from_str(&server_url()).expect("test URL parses");
        let host = match options.get_host() {
            "localhost" => "127.0.0.1",
            other => other,
        };
        format!("{host}:{}", options.get_port())
            .parse()
            .expect("the test server is named by an IP address")
    }

    fn new(port: u16) -> Relay {
        Relay {
            port,
            target: Relay::target(),
            task: None,
        }
    }

    async fn up(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind relay");
        self.port = listener.local_addr().unwrap().port();
        let target = self.target;
        self.task = Some(tokio::spawn(async move {
            // Dropping the set when this task is aborted cuts every relayed connection.
            let mut links = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                links.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }

    async fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    fn url(&self, schema: &TestSchema) -> String {
        with_host_port(&schema.url(), &format!("127.0.0.1:{}", self.port))
    }
}

#[test]
fn urls_are_rewritten_for_tests() {
    assert_eq!(
        with_schema("postgres://u@h/db", "t_1"),
        "postgres://u@h/db?options=-c%20search_path%3Dt_1"
    );
    assert_eq!(
        with_schema("postgres://u@h/db?sslmode=disable", "t_1"),
        "postgres://u@h/db?sslmode=disable&options=-c%20search_path%3Dt_1"
    );
    assert_eq!(
        with_host_port("postgres://u:p@h:5432/db?x=1", "127.0.0.1:9"),
        "postgres://u:p@127.0.0.1:9/db?x=1"
    );
    assert_eq!(
        with_host_port("postgres://h/db", "127.0.0.1:9"),
        "postgres://127.0.0.1:9/db"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_starts_apply_migrations_once() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    const INSTANCES: usize = 6;
    let url = schema.url();
    let starts: Vec<_> = (0..INSTANCES)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let options = PgOptions {
                    max_connections: 2,
                    ..PgOptions::default()
                };
                PgStore::open_counting(&url, options).await
            })
        })
        .collect();
    let mut stores = Vec::new();
    let mut applied = 0;
    for start in starts {
        let (store, n) = start.await.expect("task").expect("every instance starts");
        applied += n;
        stores.push(store);
    }
    assert_eq!(
        applied,
        super::migrations::MIGRATIONS.len(),
        "each migration was applied exactly once"
    );
    let recorded: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, name FROM schema_migrations ORDER BY version")
            .fetch_all(&stores[0].pool)
            .await
            .unwrap();
    let known: Vec<(i64, String)> = super::migrations::MIGRATIONS
        .iter()
        .map(|m| (m.version, m.name.to_string()))
        .collect();
    assert_eq!(recorded, known);
    // Every instance works on the one schema.
    for (i, store) in stores.iter().enumerate() {
        let h = hook(
            &format!("instance {i}"),
            TriggerId::CredentialsExchange,
            false,
        );
        store.create_hook(&h, &event()).await.unwrap();
        assert_eq!(stores[0].get_hook(&h.id).await, Ok(h));
    }
    for store in &stores {
        store.close().await;
    }
}

#[tokio::test]
async fn reopening_keeps_data_and_applies_nothing() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let (store, applied) = PgStore::open_counting(&schema.url(), test_options())
        .await
        .unwrap();
    assert_eq!(applied, super::migrations::MIGRATIONS.len());
    let h = hook("durable", TriggerId::CredentialsExchange, true);
    store.create_hook(&h, &event()).await.unwrap();
    store.close().await;

    let (store, applied) = PgStore::open_counting(&schema.url(), test_options())
        .await
        .unwrap();
    assert_eq!(applied, 0);
    assert_eq!(store.get_hook(&h.id).await, Ok(h));
    store.close().await;
}

#[tokio::test]
async fn refuses_a_database_from_a_newer_binary() {
    let Some((store, schema)) = temp_store(test_options()).await else {
        return;
    };
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)",
    )
    .execute(&store.pool)
    .await
    .unwrap();
    store.close().await;
    let err = PgStore::open(&schema.url(), test_options())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Internal(d) if d.contains("9999") && d.contains("newer")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_missing_schema_is_named_not_created_elsewhere() {
    let Some(conn) = admin().await else {
        return;
    };
    conn.close().await.ok();
    let url = with_schema(&server_url(), "t_does_not_exist_hookhaven");
    let err = PgStore::open(&url, test_options()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Internal(d) if d.contains("search_path")),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unreachable_server_fails_fast_without_retries() {
    let port = closed_port().await;
    let url = format!("postgres://hookhaven:hunter2@127.0.0.1:{port}/hookhaven");
    let options = PgOptions {
        connect_retry: ConnectRetry {
            retries: 0,
            backoff: Duration::from_secs(5),
        },
        ..PgOptions::default()
    };
    let started = Instant::now();
    let err = PgStore::open(&url, options).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3), "{err:?}");
    let Error::Unavailable(detail) = &err else {
        panic!("expected Unavailable, got {err:?}")
    };
    assert!(
        detail.contains(&format!(
            "cannot connect to PostgreSQL at 127.0.0.1:{port}/hookhaven as hookhaven after 1 attempt:"
        )),
        "{detail}"
    );
    assert!(!detail.contains("hunter2"), "{detail}");
}

#[tokio::test]
async fn an_unreachable_server_is_retried_with_backoff() {
    let port = closed_port().await;
    let url = format!("postgres://hookhaven@127.0.0.1:{port}/hookhaven");
    let options = PgOptions {
        connect_retry: ConnectRetry {
            retries: 2,
            backoff: Duration::from_millis(100),
        },
        ..PgOptions::default()
    };
    let started = Instant::now();
    let err = PgStore::open(&url, options).await.unwrap_err();
    // Waits of 100 ms, then 200 ms.
    assert!(started.elapsed() >= Duration::from_millis(300), "{err:?}");
    assert!(
        matches!(&err, Error::Unavailable(d) if d.contains("after 3 attempts")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_waits_for_a_server_that_comes_up() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let mut relay = Relay::new(closed_port().await);
    let url = relay.url(&schema);
    let options = PgOptions {
        connect_retry: ConnectRetry {
            retries: 20,
            backoff: Duration::from_millis(50),
        },
        ..test_options()
    };
    let opening = tokio::spawn(async move { PgStore::open(&url, options).await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(!opening.is_finished(), "still waiting for the server");
    relay.up().await;
    let store = opening.await.unwrap().expect("opens once the server is up");
    store.ping().await.unwrap();
    store.close().await;
    relay.down().await;
}

#[tokio::test]
async fn a_wrong_database_is_reported_at_once() {
    let Some(conn) = admin().await else {
        return;
    };
    conn.close().await.ok();
    let base = server_url();
    let (without_query, _) = base.split_once('?').unwrap_or((&base, ""));
    let (server, _) = without_query.rsplit_once('/').unwrap();
    let url = format!("{server}/hookhaven_missing_{}", hookhaven_core::new_ulid());
    let options = PgOptions {
        connect_retry: ConnectRetry {
            retries: 5,
            backoff: Duration::from_secs(1),
        },
        ..test_options()
    };
    let started = Instant::now();
    let err = PgStore::open(&url, options).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "not retried");
    assert!(
        matches!(&err, Error::Internal(d) if d.contains("does not exist")),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_is_unavailable_while_the_database_is_down() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let mut relay = Relay::new(0);
    relay.up().await;
    let options = PgOptions {
        acquire_timeout: Duration::from_secs(1),
        ..test_options()
    };
    let store = PgStore::open(&relay.url(&schema), options).await.unwrap();
    store.ping().await.unwrap();

    relay.down().await;
    let started = Instant::now();
    let down = store.ping().await;
    assert!(matches!(down, Err(Error::Unavailable(_))), "{down:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
    let h = hook("while down", TriggerId::CredentialsExchange, false);
    assert!(matches!(
        store.create_hook(&h, &event()).await,
        Err(Error::Unavailable(_))
    ));

    relay.up().await;
    let mut back = store.ping().await;
    for _ in 0..20 {
        if back.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        back = store.ping().await;
    }
    back.expect("ready again once the database is back");
    store.create_hook(&h, &event()).await.unwrap();
    store.close().await;
    relay.down().await;
}

/// PATCH secrets is one statement (a form for one secret, another for several). When
/// something is missing it writes nothing, and the transaction it falls back to names what
/// is missing; a successful PATCH writes exactly one audit row.
#[tokio::test]
async fn one_statement_patches_write_all_or_nothing() {
    let Some((store, _schema)) = temp_store(test_options()).await else {
        return;
    };
    let name = |n: &str| SecretName::parse(n).unwrap();
    let sealed = |v: &str| Some(SealedSecret::from_envelope(format!("v1:k1:{v}")));
    let update = |action: &str| AuditEvent::success("pg-test", action, None);
    let h = hook("one statement", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event()).await.unwrap();
    let start = [(name("A"), sealed("a")), (name("B"), None)];
    store.add_secrets(&h.id, &start, &event()).await.unwrap();

    for changes in [
        vec![(name("NOPE"), sealed("x"))],
        vec![(name("NOPE"), None)],
        vec![(name("A"), sealed("x")), (name("NOPE"), sealed("y"))],
    ] {
        assert_eq!(
            store
                .update_secrets(&h.id, &changes, &update("failed"))
                .await,
            Err(Error::SecretNotFound("NOPE".into())),
            "{changes:?}"
        );
    }
    let missing = HookId::generate();
    for changes in [vec![(name("A"), sealed("x"))], vec![]] {
        assert_eq!(
            store
                .update_secrets(&missing, &changes, &update("failed"))
                .await,
            Err(Error::HookNotFound)
        );
    }
    assert_eq!(store.sealed_secrets(&h.id).await.unwrap(), start);

    // One secret; one secret kept (D1); several, keeping one.
    store
        .update_secrets(&h.id, &[(name("A"), sealed("a2"))], &update("one"))
        .await
        .unwrap();
    store
        .update_secrets(&h.id, &[(name("A"), None)], &update("keep"))
        .await
        .unwrap();
    store
        .update_secrets(
            &h.id,
            &[(name("B"), sealed("b3")), (name("A"), None)],
            &update("several"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.sealed_secrets(&h.id).await.unwrap(),
        [(name("A"), sealed("a2")), (name("B"), sealed("b3"))]
    );
    let audit = store
        .list_audit(&hookhaven_core::AuditFilter::default())
        .await
        .unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.event.action.as_str()).collect();
    // Newest first; the failed attempts left nothing.
    assert_eq!(actions, ["several", "keep", "one", "test", "test"]);
    store.close().await;
}

/// Connections cut while the pool was quiet are found dead (sqlx pings a connection
/// before handing it out) and replaced: no call fails once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_cut_while_idle_are_replaced_before_use() {
    let Some(schema) = TestSchema::create().await else {
        return;
    };
    let mut relay = Relay::new(0);
    relay.up().await;
    let store = PgStore::open(&relay.url(&schema), test_options())
        .await
        .unwrap();
    // Several pooled connections, idle afterwards.
    let (a, b, c) = tokio::join!(
        store.count_clients(),
        store.count_clients(),
        store.count_clients()
    );
    assert_eq!((a, b, c), (Ok(0), Ok(0), Ok(0)));

    // Cut every connection, and come back on the same port.
    relay.down().await;
    relay.up().await;
    let (a, b, c) = tokio::join!(
        store.count_clients(),
        store.count_clients(),
        store.count_clients()
    );
    assert_eq!((a, b, c), (Ok(0), Ok(0), Ok(0)));
    store.close().await;
    relay.down().await;
}

#[tokio::test]
async fn pool_size_and_statement_timeout_are_applied() {
    let options = PgOptions {
        max_connections: 3,
        statement_timeout: Some(Duration::from_millis(300)),
        ..test_options()
    };
    let Some((store, _schema)) = temp_store(options).await else {
        return;
    };
    assert_eq!(store.pool.options().get_max_connections(), 3);
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(timeout, "300ms");
    let slow = sqlx::query("SELECT pg_sleep(2)")
        .execute(&store.pool)
        .await
        .unwrap_err();
    let mapped = super::error::db_error(slow);
    assert!(
        matches!(&mapped, Error::Unavailable(d) if d.contains("57014")),
        "{mapped:?}"
    );
    store.close().await;
}

#[tokio::test]
async fn the_database_itself_allows_one_enabled_hook_per_trigger() {
    let Some((store, _schema)) = temp_store(test_options()).await else {
        return;
    };
    let insert = "INSERT INTO hooks (id, name, script, dependencies, trigger_id, enabled, \
                  created_at, updated_at) VALUES ($1, $2, '', '{}', 'credentials-exchange', \
                  TRUE, 0, 0)";
    sqlx::query(insert)
        .bind("A")
        .bind("a")
        .execute(&store.pool)
        .await
        .unwrap();
    let second = sqlx::query(insert)
        .bind("B")
        .bind("b")
        .execute(&store.pool)
        .await
        .unwrap_err();
    assert_eq!(
        super::error::unique_violation(&second),
        Some(super::hooks::ONE_ENABLED_INDEX)
    );
    let orphan = sqlx::query(
        "INSERT INTO hook_secrets (hook_id, name, created_at, updated_at) \
         VALUES ('none', 'A', 0, 0)",
    )
    .execute(&store.pool)
    .await
    .unwrap_err();
    assert_eq!(
        super::error::foreign_key_violation(&orphan),
        Some("hook_secrets_hook_id_fkey")
    );
    store.close().await;
}

#[tokio::test]
async fn error_details_never_hold_stored_values() {
    let Some((store, _schema)) = temp_store(test_options()).await else {
        return;
    };
    // PostgreSQL text cannot hold NUL; its message for that can quote the input.
    let mut h = hook("nul script", TriggerId::CredentialsExchange, false);
    h.script = "canary-5150\0".into();
    let err = store.create_hook(&h, &event()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Internal(d) if !d.contains("canary")),
        "{err:?}"
    );
    // A failed write leaves no audit row behind.
    let audit = store
        .list_audit(&hookhaven_core::AuditFilter::default())
        .await
        .unwrap();
    assert!(audit.is_empty(), "{audit:?}");

    let ok = hook("taken", TriggerId::CredentialsExchange, false);
    store.create_hook(&ok, &event()).await.unwrap();
    let secret = [(
        SecretName::parse("TOKEN").unwrap(),
        Some(SealedSecret::from_envelope("v1:k1:canary-value".into())),
    )];
    store.add_secrets(&ok.id, &secret, &event()).await.unwrap();
    let again = store.add_secrets(&ok.id, &secret, &event()).await;
    assert_eq!(again, Err(Error::SecretExists("TOKEN".into())));
    store.close().await;
}

/// Two instances (two pools) on one database: D4 and D2 hold across them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invariants_hold_across_instances() {
    let Some((first, schema)) = temp_store(test_options()).await else {
        return;
    };
    let second = PgStore::open(&schema.url(), test_options()).await.unwrap();
    let stores: [Arc<dyn Store>; 2] = [Arc::new(first.clone()), Arc::new(second.clone())];

    let h = hook("shared", TriggerId::CredentialsExchange, false);
    first.create_hook(&h, &event()).await.unwrap();
    let adds: Vec<_> = (0..40)
        .map(|i| {
            let (store, id) = (stores[i % 2].clone(), h.id.clone());
            tokio::spawn(async move {
                let secret = [(SecretName::parse(&format!("S{i}")).unwrap(), None)];
                store.add_secrets(&id, &secret, &event()).await
            })
        })
        .collect();
    let mut added = 0;
    for add in adds {
        match add.await.unwrap() {
            Ok(()) => added += 1,
            Err(e) => assert_eq!(e, Error::TooManySecrets),
        }
    }
    assert_eq!(added, MAX_SECRETS_PER_HOOK);
    assert_eq!(
        second.list_secrets(&h.id).await.unwrap().len(),
        MAX_SECRETS_PER_HOOK
    );

    let creates: Vec<_> = (0..20)
        .map(|i| {
            let store = stores[i % 2].clone();
            tokio::spawn(async move {
                let h = hook(&format!("enabled {i}"), TriggerId::SendPhoneMessage, true);
                store.create_hook(&h, &event()).await
            })
        })
        .collect();
    let mut disabled = 0;
    for create in creates {
        if create.await.unwrap().unwrap().is_some() {
            disabled += 1;
        }
    }
    assert_eq!(disabled, 19);
    let filter = hookhaven_core::HookFilter {
        enabled: Some(true),
        trigger_id: Some(TriggerId::SendPhoneMessage),
    };
    assert_eq!(first.list_hooks(&filter, None).await.unwrap().1, 1);
    first.close().await;
    second.close().await;
}

/// A hook enabled by someone who does not take the trigger lock (here: plain SQL) makes
/// the store's insert lose the race for the D2 index; the store runs its transaction again
/// and disables that hook instead of answering 409 or 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_race_for_the_enabled_slot_is_retried() {
    let Some((store, schema)) = temp_store(test_options()).await else {
        return;
    };
    let mut outsider = PgConnection::connect(&schema.url()).await.unwrap();
    let mut tx = outsider.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO hooks (id, name, script, dependencies, trigger_id, enabled, created_at, \
         updated_at) VALUES ('00OUTSIDER', 'outsider', '', '{}', 'credentials-exchange', TRUE, \
         0, 0)",
    )
    .execute(&mut *tx)
    .await
    .unwrap();

    let mine = hook("mine", TriggerId::CredentialsExchange, true);
    let creating = {
        let (store, mine) = (store.clone(), mine.clone());
        tokio::spawn(async move { store.create_hook(&mine, &event()).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !creating.is_finished(),
        "waits on the uncommitted enabled hook"
    );
    tx.commit().await.unwrap();
    outsider.close().await.ok();

    let disabled = creating.await.unwrap().expect("retried, not refused");
    assert_eq!(disabled, Some(HookId::from_stored("00OUTSIDER".into())));
    let filter = hookhaven_core::HookFilter {
        enabled: Some(true),
        trigger_id: Some(TriggerId::CredentialsExchange),
    };
    let (enabled, _) = store.list_hooks(&filter, None).await.unwrap();
    assert_eq!(enabled, [mine]);
    // The lost attempt left no audit row.
    let audit = store
        .list_audit(&hookhaven_core::AuditFilter::default())
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);
    store.close().await;
}

/// Single-secret PATCHes that arrive together share one statement (group commit), yet each
/// succeeds or fails on its own: every acknowledged change is stored with exactly one audit
/// row, and a request naming a missing secret or hook fails as it would alone, taking
/// nobody else's change with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_patches_succeed_and_fail_one_by_one() {
    let Some((store, schema)) = temp_store(test_options()).await else {
        return;
    };
    let store = Arc::new(store);
    let name = |n: &str| SecretName::parse(n).unwrap();
    let sealed = |v: &str| Some(SealedSecret::from_envelope(format!("v1:k1:{v}")));
    let mut hooks = Vec::new();
    for i in 0..12 {
        let h = hook(
            &format!("batched {i}"),
            TriggerId::CredentialsExchange,
            false,
        );
        store.create_hook(&h, &event()).await.unwrap();
        store
            .add_secrets(&h.id, &[(name("A"), sealed("start"))], &event())
            .await
            .unwrap();
        hooks.push(h.id);
    }

    // Hold every hook's lock, so that the requests queue up behind the first batches.
    let mut blocker = PgConnection::connect(&schema.url()).await.unwrap();
    blocker.execute("BEGIN").await.unwrap();
    blocker
        .execute("SELECT id FROM hooks FOR UPDATE")
        .await
        .unwrap();

    let mut requests = JoinSet::new();
    let patch = |hook: HookId, secret: &str, value: Option<SealedSecret>| {
        let store = Arc::clone(&store);
        let secret = name(secret);
        async move {
            let event = AuditEvent::success("pg-test", "secrets.update", None)
                .hook(hook.as_str())
                .secrets([secret.as_str()]);
            let outcome = store
                .update_secrets(&hook, &[(secret, value.clone())], &event)
                .await;
            (hook, value, outcome)
        }
    };
    for round in 0..2 {
        for (i, h) in hooks.iter().enumerate() {
            requests.spawn(patch(h.clone(), "A", sealed(&format!("{i}-{round}"))));
        }
    }
    requests.spawn(patch(hooks[3].clone(), "NOPE", sealed("x")));
    requests.spawn(patch(HookId::generate(), "A", sealed("x")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.execute("ROLLBACK").await.unwrap();

    let mut written = std::collections::HashMap::<HookId, Vec<Option<SealedSecret>>>::new();
    let mut failures = Vec::new();
    while let Some(done) = requests.join_next().await {
        let (hook, value, outcome) = done.unwrap();
        match outcome {
            Ok(()) => written.entry(hook).or_default().push(value),
            Err(e) => failures.push(e),
        }
    }
    failures.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        failures,
        [Error::HookNotFound, Error::SecretNotFound("NOPE".into())]
    );
    for h in &hooks {
        let acknowledged = &written[h];
        assert_eq!(acknowledged.len(), 2);
        let stored = store.sealed_secrets(h).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert!(acknowledged.contains(&stored[0].1), "{stored:?}");
    }

    // One audit row per acknowledged change, none for the failures, and fewer
    // transactions than rows: the changes were written in batches.
    let (rows, transactions): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT xmin::text) FROM audit_log \
         WHERE action = 'secrets.update'",
    )
    .fetch_one(&mut blocker)
    .await
    .unwrap();
    assert_eq!(rows, 24);
    assert!(
        transactions < rows,
        "{transactions} transactions for {rows} rows"
    );
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT secret_names FROM audit_log WHERE action = 'secrets.update'",
    )
    .fetch_all(&mut blocker)
    .await
    .unwrap();
    assert_eq!(names, [r#"["A"]"#]);
    store.close().await;
}
