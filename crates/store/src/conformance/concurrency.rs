//! Many writers at once (security-tests row 12): the outcome must be one that some
//! serial order of the same calls gives.

use std::collections::BTreeSet;
use std::sync::Arc;

use hookhaven_core::{AuditEvent, Error, HookPatch, TriggerId, MAX_SECRETS_PER_HOOK};

use super::helpers::*;
use crate::Store;

const WRITERS: usize = 50;

pub async fn concurrent_adds_never_exceed_twenty(store: Arc<dyn Store>) {
    let h = hook("race limit", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, id) = (store.clone(), h.id.clone());
            tokio::spawn(async move {
                let secret = [(name(&format!("S{i}")), Some(sealed("k1", &i.to_string())))];
                store
                    .add_secrets(&id, &secret, &event("secrets.create"))
                    .await
            })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(()) => ok += 1,
            Err(e) => assert_eq!(e, Error::TooManySecrets),
        }
    }
    assert_eq!(ok, MAX_SECRETS_PER_HOOK);
    assert_eq!(names(&*store, &h.id).await.len(), MAX_SECRETS_PER_HOOK);
    assert_eq!(
        audited(&*store, "secrets.create").await.len(),
        MAX_SECRETS_PER_HOOK
    );
}

pub async fn concurrent_adds_of_one_name_create_it_once(store: Arc<dyn Store>) {
    let h = hook("race name", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, id) = (store.clone(), h.id.clone());
            tokio::spawn(async move {
                let secret = [(name("SAME"), Some(sealed("k1", &i.to_string())))];
                store
                    .add_secrets(&id, &secret, &event("secrets.create"))
                    .await
                    .map(|()| i)
            })
        })
        .collect();
    let mut winners = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Ok(i) => winners.push(i),
            Err(e) => assert_eq!(e, Error::SecretExists("SAME".into())),
        }
    }
    assert_eq!(winners.len(), 1);
    let stored = value_of(&*store, &h.id, "SAME").await;
    assert_eq!(stored, Some(sealed("k1", &winners[0].to_string())));
}

pub async fn concurrent_enables_leave_one_hook_enabled(store: Arc<dyn Store>) {
    let trigger = TriggerId::PostUserRegistration;
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let h = hook(&format!("race enable {i}"), trigger, true);
                let disabled = store.create_hook(&h, &event("hook.create")).await?;
                Ok::<_, Error>((h.id, disabled))
            })
        })
        .collect();
    let mut created = BTreeSet::new();
    let mut disabled = BTreeSet::new();
    for task in tasks {
        let (id, off) = task.await.expect("task").expect("create");
        created.insert(id);
        if let Some(off) = off {
            assert!(disabled.insert(off), "a hook was disabled twice");
        }
    }
    // Some serial order: each create but the first disabled the one before it.
    let enabled = enabled_on(&*store, trigger)
        .await
        .expect("one enabled hook");
    assert_eq!(disabled.len(), WRITERS - 1);
    assert!(!disabled.contains(&enabled));
    assert_eq!(disabled.len() + 1, created.len());

    // Now race updates that enable every hook.
    let enable = HookPatch {
        enabled: Some(true),
        ..HookPatch::default()
    };
    let tasks: Vec<_> = created
        .iter()
        .cloned()
        .map(|id| {
            let (store, enable) = (store.clone(), enable.clone());
            tokio::spawn(async move {
                let mut audit = event("hook.update");
                audit = audit.hook(id.as_str());
                store.update_hook(&id, &enable, &audit).await
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("update");
    }
    let enabled = enabled_on(&*store, trigger)
        .await
        .expect("one enabled hook");
    // The last enable to commit is the one that stays enabled.
    let updates = audited(&*store, "hook.update").await;
    assert_eq!(updates.len(), WRITERS);
    assert_eq!(
        updates.last().unwrap().hook_id.as_deref(),
        Some(enabled.as_str())
    );
}

/// Half the writers PATCH one secret, half POST new ones: the result is the one some
/// serial order gives. The audit log is in commit order, so its last update names the
/// value that must be stored.
pub async fn concurrent_secret_writes_match_a_serial_order(store: Arc<dyn Store>) {
    let h = hook("race mixed", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    store
        .add_secrets(
            &h.id,
            &[(name("SHARED"), Some(sealed("k1", "start")))],
            &event("setup"),
        )
        .await
        .unwrap();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, id) = (store.clone(), h.id.clone());
            tokio::spawn(async move {
                let request = format!("{i}");
                if i % 2 == 0 {
                    let change = [(name("SHARED"), Some(sealed("k1", &request)))];
                    let audit = AuditEvent::success(ACTOR, "secrets.update", Some(&request));
                    store.update_secrets(&id, &change, &audit).await
                } else {
                    let new = [(name(&format!("N{i}")), None)];
                    store.add_secrets(&id, &new, &event("secrets.create")).await
                }
            })
        })
        .collect();
    let mut added = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        let result = task.await.expect("task");
        if i % 2 == 0 {
            result.expect("every update succeeds");
        } else if let Err(e) = result {
            assert_eq!(e, Error::TooManySecrets);
        } else {
            added += 1;
        }
    }
    assert_eq!(added, MAX_SECRETS_PER_HOOK - 1);
    assert_eq!(names(&*store, &h.id).await.len(), MAX_SECRETS_PER_HOOK);
    let updates = audited(&*store, "secrets.update").await;
    assert_eq!(updates.len(), WRITERS / 2);
    let last = updates.last().unwrap().request_id.clone().unwrap();
    assert_eq!(
        value_of(&*store, &h.id, "SHARED").await,
        Some(sealed("k1", &last))
    );
}
