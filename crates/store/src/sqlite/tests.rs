//! The conformance suite on a temporary database file, and tests of what is particular to
//! SQLite: connection settings, migrations, durability, backups.

use std::path::Path;
use std::sync::Arc;

use hookhaven_core::{
    AuditEvent, Error, Hook, HookId, HookName, SealedSecret, SecretName, TriggerId,
};
use sqlx::{Row, SqlitePool};
use tempfile::TempDir;

use super::SqliteStore;
use crate::conformance::Harness;
use crate::Store;

fn url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

async fn temp_store() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&url(&dir.path().join("hookhaven.db")))
        .await
        .expect("open store");
    (store, dir)
}

async fn harness() -> Harness {
    let (store, dir) = temp_store().await;
    Harness::new(Arc::new(store), dir)
}

mod conformance_suite {
    use super::harness;

    crate::conformance_tests!(harness());
}

mod copy_suite {
    use super::harness;

    crate::conformance_copy_tests!(harness());
}

fn hook(name: &str, enabled: bool) -> Hook {
    Hook {
        id: HookId::generate(),
        name: HookName::parse(name).unwrap(),
        script: "module.exports = function () {};".into(),
        dependencies: Default::default(),
        trigger_id: TriggerId::CredentialsExchange,
        enabled,
    }
}

fn event() -> AuditEvent {
    AuditEvent::success("sqlite-test", "test", None)
}

/// Committed hook and secret writes; returns the hooks as stored (only the last is
/// enabled, since they share a trigger).
async fn write_some(store: &SqliteStore, n: usize) -> Vec<Hook> {
    let mut hooks = Vec::new();
    for i in 0..n {
        let h = hook(&format!("durable {i}"), i + 1 == n);
        store.create_hook(&h, &event()).await.unwrap();
        let secrets = [(
            SecretName::parse("KEY").unwrap(),
            Some(SealedSecret::from_envelope(format!("v1:k1:value{i}"))),
        )];
        store.add_secrets(&h.id, &secrets, &event()).await.unwrap();
        hooks.push(h);
    }
    hooks
}

async fn pragma(pool: &SqlitePool, name: &str) -> String {
    let row = sqlx::query(&format!("PRAGMA {name}"))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("pragma {name}: {e}"));
    row.try_get::<i64, _>(0)
        .map(|n| n.to_string())
        .or_else(|_| row.try_get::<String, _>(0))
        .unwrap_or_else(|e| panic!("pragma {name}: {e}"))
}

#[tokio::test]
async fn open_creates_the_file_with_durable_settings() {
    let (store, dir) = temp_store().await;
    assert!(dir.path().join("hookhaven.db").exists());
    for pool in [&store.writer, &store.reader] {
        assert_eq!(pragma(pool, "journal_mode").await, "wal");
        assert_eq!(pragma(pool, "synchronous").await, "2"); // FULL
        assert_eq!(pragma(pool, "foreign_keys").await, "1");
        assert_eq!(pragma(pool, "busy_timeout").await, "5000");
    }
    assert_eq!(store.writer.options().get_max_connections(), 1);
    let write_on_reader = sqlx::query("CREATE TABLE nope (x)")
        .execute(&store.reader)
        .await;
    assert!(write_on_reader.is_err(), "reader connections are read-only");
}

#[tokio::test]
async fn open_names_the_problem_with_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no such dir").join("x.db");
    let err = SqliteStore::open(&url(&missing)).await.unwrap_err();
    let detail = match &err {
        Error::Unavailable(d) | Error::Internal(d) => d,
        other => panic!("unexpected {other:?}"),
    };
    assert!(detail.contains("cannot open SQLite database"), "{detail}");
}

#[tokio::test]
async fn reopening_keeps_data_and_applies_migrations_once() {
    let (store, dir) = temp_store().await;
    let hooks = write_some(&store, 2).await;
    store.close().await;

    let store = SqliteStore::open(&url(&dir.path().join("hookhaven.db")))
        .await
        .unwrap();
    assert_eq!(store.get_hook(&hooks[1].id).await, Ok(hooks[1].clone()));
    let applied: Vec<(i64, String)> =
        sqlx::query_as("SELECT version, name FROM schema_migrations ORDER BY version")
            .fetch_all(&store.reader)
            .await
            .unwrap();
    let known: Vec<(i64, String)> = crate::migrate::SQLITE
        .iter()
        .map(|m| (m.version, m.name.to_string()))
        .collect();
    assert_eq!(applied, known);
}

#[tokio::test]
async fn refuses_a_database_from_a_newer_binary() {
    let (store, dir) = temp_store().await;
    sqlx::query(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)",
    )
    .execute(&store.writer)
    .await
    .unwrap();
    store.close().await;
    let err = SqliteStore::open(&url(&dir.path().join("hookhaven.db")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Internal(d) if d.contains("9999") && d.contains("newer")),
        "{err:?}"
    );
}

#[tokio::test]
async fn memory_stores_work_and_are_separate() {
    let a = SqliteStore::open("sqlite::memory:").await.unwrap();
    let b = SqliteStore::open("sqlite::memory:").await.unwrap();
    let h = hook("in memory", true);
    a.create_hook(&h, &event()).await.unwrap();
    assert_eq!(a.get_hook(&h.id).await, Ok(h.clone()));
    assert_eq!(b.get_hook(&h.id).await, Err(Error::HookNotFound));
    assert_eq!(pragma(&a.writer, "foreign_keys").await, "1");
}

#[tokio::test]
async fn the_database_itself_allows_one_enabled_hook_per_trigger() {
    let (store, _dir) = temp_store().await;
    let insert = "INSERT INTO hooks (id, name, script, dependencies, trigger_id, enabled, \
                  created_at, updated_at) VALUES (?, ?, '', '{}', 'credentials-exchange', 1, 0, 0)";
    sqlx::query(insert)
        .bind("A")
        .bind("a")
        .execute(&store.writer)
        .await
        .unwrap();
    let second = sqlx::query(insert)
        .bind("B")
        .bind("b")
        .execute(&store.writer)
        .await
        .unwrap_err();
    assert_eq!(
        super::error::unique_violation(&second),
        Some("hooks.trigger_id")
    );
}

#[tokio::test]
async fn foreign_keys_are_enforced() {
    let (store, _dir) = temp_store().await;
    let orphan = sqlx::query(
        "INSERT INTO hook_secrets (hook_id, name, created_at, updated_at) VALUES ('none', 'A', 0, 0)",
    )
    .execute(&store.writer)
    .await
    .unwrap_err();
    assert!(super::error::is_foreign_key_violation(&orphan));
}

#[tokio::test]
async fn closed_store_is_unavailable() {
    let (store, _dir) = temp_store().await;
    store.close().await;
    assert!(matches!(store.ping().await, Err(Error::Unavailable(_))));
    let h = hook("late", false);
    assert!(matches!(
        store.create_hook(&h, &event()).await,
        Err(Error::Unavailable(_))
    ));
}

#[tokio::test]
async fn writes_then_checkpoint_pass_integrity_check() {
    let (store, dir) = temp_store().await;
    let hooks = write_some(&store, 10).await;
    store.checkpoint().await.unwrap();
    let wal = dir.path().join("hookhaven.db-wal");
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);
    store.integrity_check().await.unwrap();
    store.close().await;

    let store = SqliteStore::open(&url(&dir.path().join("hookhaven.db")))
        .await
        .unwrap();
    store.integrity_check().await.unwrap();
    for h in &hooks {
        assert_eq!(store.get_hook(&h.id).await.as_ref(), Ok(h));
        assert_eq!(store.list_secrets(&h.id).await.unwrap().len(), 1);
    }
}

/// Copying the database and its WAL while the store runs, without a checkpoint, gives
/// what a `kill -9` leaves on disk: every committed write must be there.
#[tokio::test]
async fn committed_writes_survive_an_abrupt_stop() {
    let (store, dir) = temp_store().await;
    let hooks = write_some(&store, 10).await;
    let crashed = tempfile::tempdir().unwrap();
    for file in ["hookhaven.db", "hookhaven.db-wal"] {
        std::fs::copy(dir.path().join(file), crashed.path().join(file)).unwrap();
    }

    let recovered = SqliteStore::open(&url(&crashed.path().join("hookhaven.db")))
        .await
        .unwrap();
    recovered.integrity_check().await.unwrap();
    for h in &hooks {
        assert_eq!(recovered.get_hook(&h.id).await.as_ref(), Ok(h));
        assert_eq!(
            store.sealed_secrets(&h.id).await,
            recovered.sealed_secrets(&h.id).await
        );
    }
}

#[tokio::test]
async fn backup_is_a_consistent_copy() {
    let (store, dir) = temp_store().await;
    let hooks = write_some(&store, 3).await;
    let target = dir.path().join("backup.db");
    store.backup_to(&target).await.unwrap();
    // A backup never overwrites a file.
    assert!(store.backup_to(&target).await.is_err());

    let copy = SqliteStore::open(&url(&target)).await.unwrap();
    copy.integrity_check().await.unwrap();
    for h in &hooks {
        assert_eq!(copy.get_hook(&h.id).await.as_ref(), Ok(h));
        assert_eq!(
            store.sealed_secrets(&h.id).await,
            copy.sealed_secrets(&h.id).await
        );
    }
}

/// Once every connection has closed, SQLite removes the WAL file; a read-only connection
/// (e.g. after the pools idled out) must still open the database.
#[tokio::test]
async fn read_only_connections_open_without_a_wal_file() {
    let (store, dir) = temp_store().await;
    write_some(&store, 1).await;
    store.close().await;
    let path = dir.path().join("hookhaven.db");
    for leftover in ["hookhaven.db-wal", "hookhaven.db-shm"] {
        let file = dir.path().join(leftover);
        if let Ok(meta) = std::fs::metadata(&file) {
            if leftover.ends_with("wal") {
                assert_eq!(meta.len(), 0, "close() checkpoints the WAL");
            }
            std::fs::remove_file(file).unwrap();
        }
    }
    let reader = sqlx::sqlite::SqlitePoolOptions::new()
        .connect_with(super::connect::file_options(&path).read_only(true))
        .await
        .unwrap();
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hooks")
        .fetch_one(&reader)
        .await
        .unwrap();
    assert_eq!(n, 1);
}
