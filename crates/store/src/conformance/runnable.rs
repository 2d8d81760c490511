//! Reading a hook to run it, and recording audit events in a batch.

use std::sync::Arc;

use hookhaven_core::{AuditEvent, AuditFilter, Error, HookId, TriggerId};

use super::helpers::{event, hook, name, sealed};
use crate::{RunnableHook, Store};

pub async fn runnable_hooks_come_with_their_sealed_secrets(store: Arc<dyn Store>) {
    let cce = TriggerId::CredentialsExchange;
    let on = hook("on", cce, true);
    let off = hook("off", cce, false);
    let bare = hook("bare", TriggerId::PreUserRegistration, true);
    for h in [&on, &off, &bare] {
        store.create_hook(h, &event("hook.create")).await.unwrap();
    }
    let secrets = vec![
        (name("B"), Some(sealed("k1", "b"))),
        (name("A"), None),
        (name("C"), Some(sealed("k2", "c"))),
    ];
    store
        .add_secrets(&on.id, &secrets, &event("secrets.add"))
        .await
        .unwrap();
    store
        .add_secrets(
            &off.id,
            &[(name("X"), Some(sealed("k1", "x")))],
            &event("secrets.add"),
        )
        .await
        .unwrap();

    // Creation order, placeholders as None, nothing from another hook.
    let expected = RunnableHook {
        hook: on.clone(),
        secrets: secrets.clone(),
    };
    assert_eq!(store.runnable_hook(&on.id).await.unwrap(), expected);
    assert_eq!(
        store.enabled_runnable_hook(cce).await.unwrap(),
        Some(expected)
    );
    // What the two separate reads say, too.
    assert_eq!(store.sealed_secrets(&on.id).await.unwrap(), secrets);

    let bare_run = store.runnable_hook(&bare.id).await.unwrap();
    assert_eq!(bare_run.hook, bare);
    assert!(bare_run.secrets.is_empty());

    assert!(matches!(
        store.runnable_hook(&HookId::generate()).await,
        Err(Error::HookNotFound)
    ));
    assert_eq!(
        store
            .enabled_runnable_hook(TriggerId::SendPhoneMessage)
            .await
            .unwrap(),
        None
    );

    // Disabled: no enabled hook on the trigger any more.
    store
        .delete_hook(&on.id, &event("hook.delete"))
        .await
        .unwrap();
    assert_eq!(store.enabled_runnable_hook(cce).await.unwrap(), None);
    assert!(matches!(
        store.runnable_hook(&on.id).await,
        Err(Error::HookNotFound)
    ));
}

pub async fn audit_events_are_recorded_in_batches(store: Arc<dyn Store>) {
    let batch: Vec<AuditEvent> = (0..5)
        .map(|i| AuditEvent::success("batcher", "hook.run", Some(&format!("req-{i}"))).hook("H1"))
        .collect();
    store.record_audits(&batch).await.unwrap();
    store.record_audits(&[]).await.unwrap();
    let rows = store
        .list_audit(&AuditFilter {
            actor: Some("batcher".into()),
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    let mut request_ids: Vec<String> = rows
        .iter()
        .filter_map(|r| r.event.request_id.clone())
        .collect();
    request_ids.sort();
    assert_eq!(
        request_ids,
        (0..5).map(|i| format!("req-{i}")).collect::<Vec<_>>()
    );
    // In the order given: sequence numbers rise with the batch's order.
    let mut by_seq = rows.clone();
    by_seq.sort_by_key(|r| r.seq);
    let ordered: Vec<_> = by_seq
        .iter()
        .filter_map(|r| r.event.request_id.clone())
        .collect();
    assert_eq!(
        ordered,
        (0..5).map(|i| format!("req-{i}")).collect::<Vec<_>>()
    );
}
