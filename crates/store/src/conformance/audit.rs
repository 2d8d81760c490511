//! Server keys and the audit log.

use std::sync::Arc;

use hookhaven_core::{AuditEvent, AuditFilter};

use super::helpers::*;
use crate::Store;

pub async fn server_keys_are_put_once(store: Arc<dyn Store>) {
    assert_eq!(store.get_server_key("jwt").await, Ok(None));
    let first = sealed("k1", "first");
    let second = sealed("k1", "second");
    assert_eq!(
        store.put_server_key_if_absent("jwt", &first).await.as_ref(),
        Ok(&first)
    );
    assert_eq!(
        store
            .put_server_key_if_absent("jwt", &second)
            .await
            .as_ref(),
        Ok(&first)
    );
    assert_eq!(store.get_server_key("jwt").await, Ok(Some(first)));
    assert_eq!(
        store
            .put_server_key_if_absent("hmac", &second)
            .await
            .as_ref(),
        Ok(&second)
    );
}

pub async fn audit_log_filters_and_limits(store: Arc<dyn Store>) {
    let events: Vec<AuditEvent> = (0..6)
        .map(|i| {
            let mut e = AuditEvent::success(
                if i % 2 == 0 { "alice" } else { "bob" },
                "secrets.update",
                Some(&format!("req-{i}")),
            );
            e.at = 1_700_000_000_000 + i;
            if i < 3 {
                e = e.hook("HOOK1").secrets(["A", "B"]);
            } else {
                e = e.target("client9");
            }
            if i == 5 {
                e = e.failed("SecretExists");
            }
            e
        })
        .collect();
    for e in &events {
        store.record_audit(e).await.unwrap();
    }

    let list = |filter: AuditFilter| {
        let store = store.clone();
        async move {
            let rows = store.list_audit(&filter).await.unwrap();
            let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
            assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first");
            rows
        }
    };
    let all = list(AuditFilter::default()).await;
    let newest_first: Vec<AuditEvent> = events.iter().rev().cloned().collect();
    assert_eq!(
        all.iter().map(|r| r.event.clone()).collect::<Vec<_>>(),
        newest_first
    );

    let by_hook = list(AuditFilter {
        hook_id: Some("HOOK1".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(by_hook.len(), 3);
    assert!(by_hook
        .iter()
        .all(|r| r.event.hook_id.as_deref() == Some("HOOK1")));
    let by_actor = list(AuditFilter {
        actor: Some("bob".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(by_actor.len(), 3);
    let both = list(AuditFilter {
        hook_id: Some("HOOK1".into()),
        actor: Some("alice".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(both.len(), 2);

    let newest_two = list(AuditFilter {
        limit: 2,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(newest_two, all[..2]);
    let older = list(AuditFilter {
        before_seq: Some(all[1].seq),
        limit: 2,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(older, all[2..4]);

    // limit 0 means the default of 100.
    for i in 0..100 {
        let mut e = AuditEvent::success("bulk", "hook.update", None);
        e.at = i;
        store.record_audit(&e).await.unwrap();
    }
    assert_eq!(list(AuditFilter::default()).await.len(), 100);
    let capped = list(AuditFilter {
        limit: 5000,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(capped.len(), 106);
}
