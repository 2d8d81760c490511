//! Copying a whole database (`hookhaven db migrate`): counts, the audit log in pages,
//! export and import. The copy tests take two fresh stores, a source and a target, which
//! may be of different backends.

use std::sync::Arc;

use async_trait::async_trait;
use hookhaven_core::{AuditEvent, AuditFilter, Error, HookFilter, Result, Scope, TriggerId};

use super::helpers::*;
use crate::snapshot::AuditSource;
use crate::{Admin, Snapshot, Store, StoreAuditPages, StoreCounts, StoredAuditEvent};

/// Defines one `#[tokio::test]` per copy test: the single-store ones on a fresh store from
/// `$harness`, the copy ones from a fresh `$source` to a fresh `$target` (each an
/// expression as in [`conformance_tests!`](crate::conformance_tests)).
#[macro_export]
macro_rules! conformance_copy_tests {
    ($harness:expr) => {
        $crate::conformance_copy_tests!($harness, $harness, $harness);
    };
    ($harness:expr, $source:expr, $target:expr) => {
        $crate::conformance_tests!(@each $harness;
            counts_follow_every_table,
            audit_after_pages_oldest_first,
        );
        $crate::conformance_copy_tests!(@pairs $source, $target;
            a_snapshot_copies_everything,
            import_refuses_a_store_that_is_not_empty,
            a_failed_import_leaves_the_target_empty,
        );
    };
    (@pairs $source:expr, $target:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let source: Option<$crate::conformance::Harness> = $source.await.into();
                let target: Option<$crate::conformance::Harness> = $target.await.into();
                let (Some(source), Some(target)) = (source, target) else {
                    return;
                };
                $crate::conformance::$name(source.store.clone(), target.store.clone()).await;
            }
        )*
    };
}

/// Hooks (one enabled), secrets with and without values, clients with grants, server keys
/// and audit events (more than one page of them, failures too).
async fn seed(store: &dyn Store) {
    let enabled = hook("copy enabled", TriggerId::CredentialsExchange, true);
    let disabled = hook("copy disabled", TriggerId::CredentialsExchange, false);
    let other = hook("copy other", TriggerId::PreUserRegistration, true);
    for h in [&enabled, &disabled, &other] {
        store.create_hook(h, &event("hook.create")).await.unwrap();
    }
    store
        .add_secrets(
            &enabled.id,
            &[
                (name("ZETA"), Some(sealed("k1", "zeta"))),
                (name("ALPHA"), Some(sealed("k2", "alpha"))),
                (name("EMPTY"), None),
            ],
            &event("secrets.create"),
        )
        .await
        .unwrap();
    store
        .add_secrets(
            &other.id,
            &[(name("ONLY"), Some(sealed("k1", "only")))],
            &event("secrets.create"),
        )
        .await
        .unwrap();
    store
        .update_secrets(
            &enabled.id,
            &[(name("ZETA"), Some(sealed("k1", "zeta-2")))],
            &event("secrets.update"),
        )
        .await
        .unwrap();
    for (i, id) in ["copy-b", "copy-a", "copy-c"].into_iter().enumerate() {
        let grants = if i == 2 {
            vec![]
        } else {
            vec![grant(
                &format!("cgr_{id}"),
                id,
                "https://copy.example/api/v2/",
                &[Scope::ReadHooks, Scope::UpdateHooks],
            )]
        };
        store
            .create_client(
                &client(id),
                format!("hmac-{id}").as_bytes(),
                &grants,
                &event("client.create"),
            )
            .await
            .unwrap();
    }
    store
        .create_grant(
            &grant("cgr_extra", "copy-c", "https://other.example/", &[]),
            &event("grant.create"),
        )
        .await
        .unwrap();
    store
        .put_server_key_if_absent("jwt-signing-key", &sealed("k1", "jwt"))
        .await
        .unwrap();
    store
        .put_server_key_if_absent("client-secret-hmac-key", &sealed("k2", "hmac"))
        .await
        .unwrap();
    for (id, email) in [
        ("adm_2", "second@example.com"),
        ("adm_1", "first@example.com"),
    ] {
        let admin = Admin {
            id: id.to_string(),
            email: email.to_string(),
            password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash-of-{id}"),
            created_at: 1_700_000_000_000,
        };
        store
            .create_admin(&admin, &event("admin.create"))
            .await
            .unwrap();
    }
    for i in 0..25 {
        let mut e = AuditEvent::success("copy-a", "hook.run", Some(&format!("req-{i}")))
            .hook(enabled.id.as_str())
            .secrets(["ZETA", "ALPHA"]);
        e.at = 1_700_000_000_000 + i;
        if i % 7 == 3 {
            e = e.failed("TooManySecrets").target("somewhere");
        }
        store.record_audit(&e).await.unwrap();
    }
}

/// The whole audit log, oldest first, read in pages of `page`.
async fn audit_log(store: &dyn Store, page: u32) -> Vec<StoredAuditEvent> {
    let mut pages = StoreAuditPages::new(store, page);
    let mut all = Vec::new();
    loop {
        let next = pages.next_page().await.expect("audit page");
        if next.is_empty() {
            return all;
        }
        all.extend(next);
    }
}

pub async fn counts_follow_every_table(store: Arc<dyn Store>) {
    assert_eq!(store.counts().await, Ok(StoreCounts::default()));
    assert_eq!(store.is_empty().await, Ok(true));
    seed(&*store).await;
    let counts = store.counts().await.unwrap();
    assert_eq!(
        counts,
        StoreCounts {
            hooks: 3,
            secrets: 4,
            clients: 3,
            grants: 3,
            server_keys: 2,
            admins: 2,
            // 3 hooks, 2 secret adds, 1 update, 3 clients, 1 grant, 2 admins, 25 events.
            audit_events: 37,
        }
    );
    assert!(!counts.is_empty());
    assert_eq!(store.is_empty().await, Ok(false));
    assert!(
        counts.describe().contains("secrets 4"),
        "{}",
        counts.describe()
    );

    // Any one row makes a store non-empty, even one the API never lists.
    let (other, _) = store
        .list_hooks(&HookFilter::default(), None)
        .await
        .unwrap();
    for h in other {
        store
            .delete_hook(&h.id, &event("hook.delete"))
            .await
            .unwrap();
    }
    let after = store.counts().await.unwrap();
    assert_eq!((after.hooks, after.secrets), (0, 0));
    assert_eq!(after.audit_events, 40);
}

pub async fn audit_after_pages_oldest_first(store: Arc<dyn Store>) {
    assert_eq!(store.audit_after(0, 10).await, Ok(vec![]));
    seed(&*store).await;
    let newest_first = store
        .list_audit(&AuditFilter {
            limit: 1000,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let mut expected = newest_first;
    expected.reverse();
    for page in [1, 7, 1000, 0, u32::MAX] {
        assert_eq!(audit_log(&*store, page).await, expected, "page size {page}");
    }
    let first = &expected[0];
    let rest = store.audit_after(first.seq, 3).await.unwrap();
    assert_eq!(rest, expected[1..4]);
    let last = expected.last().unwrap();
    assert_eq!(store.audit_after(last.seq, 10).await, Ok(vec![]));
}

pub async fn a_snapshot_copies_everything(source: Arc<dyn Store>, target: Arc<dyn Store>) {
    seed(&*source).await;
    let snapshot = source.export_snapshot().await.unwrap();
    assert_eq!(snapshot.hooks.len(), 3);
    assert_eq!(snapshot.secrets.len(), 4);
    assert!(
        snapshot.secrets.iter().any(|s| s.value.is_none()),
        "a secret without a value is copied as one"
    );
    assert_eq!(
        snapshot
            .clients
            .iter()
            .map(|c| c.client.client_id.as_str())
            .collect::<Vec<_>>(),
        ["copy-b", "copy-a", "copy-c"],
        "clients in creation order"
    );
    assert_eq!(
        snapshot.clients[1].secret_hmac,
        b"hmac-copy-a".to_vec(),
        "the HMAC as stored"
    );
    assert_eq!(snapshot.server_keys.len(), 2);
    assert_eq!(
        snapshot
            .admins
            .iter()
            .map(|a| a.id.as_str())
            .collect::<Vec<_>>(),
        ["adm_2", "adm_1"],
        "administrators in creation order"
    );

    // A small page size: the log crosses several pages inside the one transaction.
    target
        .import_snapshot(&snapshot, &mut StoreAuditPages::new(&*source, 4))
        .await
        .unwrap();

    assert_eq!(target.export_snapshot().await.unwrap(), snapshot);
    assert_eq!(target.counts().await, source.counts().await);
    let source_log = audit_log(&*source, 1000).await;
    assert_eq!(
        audit_log(&*target, 1000).await,
        source_log,
        "seq and order kept"
    );

    // What the API reads is the same on both.
    for store in [&source, &target] {
        let (hooks, _) = store
            .list_hooks(&HookFilter::default(), None)
            .await
            .unwrap();
        assert_eq!(
            hooks,
            snapshot
                .hooks
                .iter()
                .map(|r| r.hook.clone())
                .collect::<Vec<_>>()
        );
    }
    let enabled_id = snapshot
        .hooks
        .iter()
        .find(|r| r.hook.name.as_str() == "copy enabled");
    let enabled_id = enabled_id.unwrap().hook.id.clone();
    assert_eq!(
        target.list_secrets(&enabled_id).await,
        source.list_secrets(&enabled_id).await,
        "secrets in creation order"
    );
    assert_eq!(
        value_of(&*target, &enabled_id, "ZETA").await,
        Some(sealed("k1", "zeta-2")),
        "the envelope is copied byte for byte"
    );
    assert_eq!(
        target.client_credentials("copy-a").await,
        source.client_credentials("copy-a").await
    );
    assert_eq!(
        target.list_grants(&Default::default(), None).await,
        source.list_grants(&Default::default(), None).await
    );
    assert_eq!(
        target.get_server_key("jwt-signing-key").await,
        Ok(Some(sealed("k1", "jwt")))
    );
    assert_eq!(
        target.admin_by_email("first@example.com").await,
        source.admin_by_email("first@example.com").await
    );
    let mut key_ids = target.key_ids_in_use().await.unwrap();
    key_ids.sort();
    assert_eq!(key_ids, ["k1", "k2"]);
    assert_eq!(
        enabled_on(&*target, TriggerId::CredentialsExchange).await,
        Some(enabled_id.clone())
    );

    // The target goes on where the source stopped: new rows come after the copied ones.
    target
        .add_secrets(
            &enabled_id,
            &[(name("NEWER"), Some(sealed("k1", "newer")))],
            &event("secrets.create"),
        )
        .await
        .unwrap();
    assert_eq!(
        names(&*target, &enabled_id).await,
        ["ZETA", "ALPHA", "EMPTY", "NEWER"]
    );
    target
        .create_client(
            &client("copy-d"),
            b"hmac-copy-d",
            &[],
            &event("client.create"),
        )
        .await
        .unwrap();
    let (clients, _) = target.list_clients(None).await.unwrap();
    assert_eq!(clients.last().unwrap().client_id, "copy-d");
    let newest = target
        .list_audit(&AuditFilter {
            limit: 1,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert!(
        newest[0].seq > source_log.last().unwrap().seq,
        "a new event gets a seq after the imported ones"
    );
    assert_eq!(newest[0].event.action, "client.create");
    // The D2 slot is still guarded on the copy.
    let rival = hook("copy rival", TriggerId::CredentialsExchange, true);
    target
        .create_hook(&rival, &event("hook.create"))
        .await
        .unwrap();
    assert_eq!(
        enabled_on(&*target, TriggerId::CredentialsExchange).await,
        Some(rival.id)
    );
}

pub async fn import_refuses_a_store_that_is_not_empty(
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
) {
    seed(&*source).await;
    let snapshot = source.export_snapshot().await.unwrap();
    // One audit row is enough to refuse: it is someone's history.
    target
        .record_audit(&AuditEvent::success("bootstrap", "client.create", None))
        .await
        .unwrap();
    let before = target.counts().await.unwrap();
    let err = target
        .import_snapshot(&snapshot, &mut StoreAuditPages::new(&*source, 100))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Internal(d) if d.contains("not empty")),
        "{err:?}"
    );
    assert_eq!(target.counts().await, Ok(before));

    // A server key alone counts too (an instance that started once on the target).
    let fresh = target.counts().await.unwrap();
    assert!(!fresh.is_empty());
    let snapshot = Snapshot::default();
    assert!(target
        .import_snapshot(&snapshot, &mut StoreAuditPages::new(&*source, 100))
        .await
        .is_err());
}

/// An audit source that fails after its first page, like a source that goes away.
struct FailingAudit {
    pages: Vec<Vec<StoredAuditEvent>>,
}

#[async_trait]
impl AuditSource for FailingAudit {
    async fn next_page(&mut self) -> Result<Vec<StoredAuditEvent>> {
        match self.pages.pop() {
            Some(page) => Ok(page),
            None => Err(Error::Unavailable("the source went away".into())),
        }
    }
}

pub async fn a_failed_import_leaves_the_target_empty(
    source: Arc<dyn Store>,
    target: Arc<dyn Store>,
) {
    seed(&*source).await;
    let snapshot = source.export_snapshot().await.unwrap();

    // The audit log breaks off after every table was written: nothing stays.
    let first_page = source.audit_after(0, 5).await.unwrap();
    let mut failing = FailingAudit {
        pages: vec![first_page],
    };
    let err = target
        .import_snapshot(&snapshot, &mut failing)
        .await
        .unwrap_err();
    assert_eq!(err, Error::Unavailable("the source went away".into()));
    assert_eq!(target.counts().await, Ok(StoreCounts::default()));

    // A row the target refuses (a grant of a client that is not in the snapshot).
    let mut broken = snapshot.clone();
    broken.clients.remove(0);
    assert!(target
        .import_snapshot(&broken, &mut StoreAuditPages::new(&*source, 100))
        .await
        .is_err());
    assert_eq!(target.counts().await, Ok(StoreCounts::default()));

    // Events out of order are refused rather than renumbered.
    let mut log = audit_log(&*source, 1000).await;
    log.swap(0, 1);
    let mut shuffled = FailingAudit {
        pages: vec![vec![], log],
    };
    let err = target
        .import_snapshot(&snapshot, &mut shuffled)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Internal(d) if d.contains("order")),
        "{err:?}"
    );
    assert_eq!(target.counts().await, Ok(StoreCounts::default()));

    // And after all that, the real import still works.
    target
        .import_snapshot(&snapshot, &mut StoreAuditPages::new(&*source, 100))
        .await
        .unwrap();
    assert_eq!(target.counts().await, source.counts().await);
    assert_eq!(target.export_snapshot().await, Ok(snapshot));
}
