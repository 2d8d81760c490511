//! Hooks: CRUD, unique names, listing, and one enabled hook per trigger (D2).

use std::collections::BTreeMap;
use std::sync::Arc;

use hookhaven_core::{Error, Hook, HookFilter, HookId, HookName, HookPatch, TriggerId};

use super::helpers::*;
use crate::Store;

pub async fn hooks_crud(store: Arc<dyn Store>) {
    let mut h = hook("crud hook", TriggerId::CredentialsExchange, false);
    assert_eq!(store.create_hook(&h, &event("hook.create")).await, Ok(None));
    assert_eq!(store.get_hook(&h.id).await.as_ref(), Ok(&h));

    let patch = HookPatch {
        name: Some(HookName::parse("crud hook renamed").unwrap()),
        script: Some("module.exports = function () {};".into()),
        dependencies: Some(BTreeMap::from([("axios".into(), "1.6.0".into())])),
        enabled: None,
    };
    let (updated, disabled) = store
        .update_hook(&h.id, &patch, &event("hook.update"))
        .await
        .unwrap();
    h.name = patch.name.clone().unwrap();
    h.script = patch.script.clone().unwrap();
    h.dependencies = patch.dependencies.clone().unwrap();
    assert_eq!((&updated, disabled), (&h, None));
    assert_eq!(store.get_hook(&h.id).await.as_ref(), Ok(&h));

    let enable = HookPatch {
        enabled: Some(true),
        ..HookPatch::default()
    };
    let (updated, _) = store
        .update_hook(&h.id, &enable, &event("hook.update"))
        .await
        .unwrap();
    assert!(updated.enabled);
    assert_eq!(store.get_hook(&h.id).await.unwrap(), updated);

    let missing = HookId::generate();
    assert_eq!(store.get_hook(&missing).await, Err(Error::HookNotFound));
    assert_eq!(
        store
            .update_hook(&missing, &enable, &event("hook.update"))
            .await,
        Err(Error::HookNotFound)
    );

    let delete = event("hook.delete").hook(h.id.as_str());
    store.delete_hook(&h.id, &delete).await.unwrap();
    assert_eq!(store.get_hook(&h.id).await, Err(Error::HookNotFound));
    assert_eq!(
        store.delete_hook(&h.id, &event("hook.delete")).await,
        Err(Error::HookNotFound)
    );

    assert_eq!(audited(&*store, "hook.create").await.len(), 1);
    assert_eq!(audited(&*store, "hook.update").await.len(), 2);
    // The event is stored as given.
    assert_eq!(audited(&*store, "hook.delete").await, [delete]);
}

pub async fn hook_names_are_unique(store: Arc<dyn Store>) {
    let a = hook("same name", TriggerId::CredentialsExchange, false);
    store.create_hook(&a, &event("hook.create")).await.unwrap();
    let b = hook("same name", TriggerId::SendPhoneMessage, false);
    assert_eq!(
        store.create_hook(&b, &event("hook.create")).await,
        Err(Error::HookNameTaken)
    );
    assert_eq!(store.get_hook(&b.id).await, Err(Error::HookNotFound));

    let c = hook("other name", TriggerId::SendPhoneMessage, false);
    store.create_hook(&c, &event("hook.create")).await.unwrap();
    let rename = HookPatch {
        name: Some(a.name.clone()),
        script: Some("changed".into()),
        ..HookPatch::default()
    };
    assert_eq!(
        store
            .update_hook(&c.id, &rename, &event("hook.update"))
            .await,
        Err(Error::HookNameTaken)
    );
    assert_eq!(store.get_hook(&c.id).await, Ok(c.clone()));
    // Renaming a hook to its own name is no clash.
    let same = HookPatch {
        name: Some(c.name.clone()),
        ..HookPatch::default()
    };
    store
        .update_hook(&c.id, &same, &event("hook.update"))
        .await
        .unwrap();

    assert_eq!(audited(&*store, "hook.create").await.len(), 2);
    assert_eq!(audited(&*store, "hook.update").await.len(), 1);
}

pub async fn hooks_list_in_creation_order_with_pages(store: Arc<dyn Store>) {
    let all = HookFilter::default();
    assert_eq!(store.list_hooks(&all, None).await, Ok((vec![], 0)));
    assert_eq!(store.list_hooks(&all, page(0, 10)).await, Ok((vec![], 0)));

    let mut created = Vec::new();
    for i in 0..7 {
        let trigger = if i % 2 == 0 {
            TriggerId::CredentialsExchange
        } else {
            TriggerId::PreUserRegistration
        };
        let h = hook(&format!("list {i}"), trigger, i == 2 || i == 5);
        store.create_hook(&h, &event("hook.create")).await.unwrap();
        created.push(h);
    }

    let (hooks, total) = store.list_hooks(&all, None).await.unwrap();
    assert_eq!((&hooks, total), (&created, 7));

    let mut paged = Vec::new();
    for (n, expected_len) in [(0, 3), (1, 3), (2, 1), (3, 0), (100, 0)] {
        let (hooks, total) = store.list_hooks(&all, page(n, 3)).await.unwrap();
        assert_eq!((hooks.len(), total), (expected_len, 7), "page {n}");
        paged.extend(hooks);
    }
    assert_eq!(paged, created);
    assert_eq!(store.list_hooks(&all, page(0, 0)).await, Ok((vec![], 7)));

    let ce = HookFilter {
        trigger_id: Some(TriggerId::CredentialsExchange),
        ..HookFilter::default()
    };
    let (hooks, total) = store.list_hooks(&ce, None).await.unwrap();
    let expected: Vec<Hook> = [0, 2, 4, 6].iter().map(|&i| created[i].clone()).collect();
    assert_eq!((hooks, total), (expected, 4));
    let (hooks, total) = store.list_hooks(&ce, page(1, 3)).await.unwrap();
    assert_eq!((ids(&hooks), total), (vec![created[6].id.clone()], 4));

    let enabled = HookFilter {
        enabled: Some(true),
        ..HookFilter::default()
    };
    let (hooks, total) = store.list_hooks(&enabled, None).await.unwrap();
    assert_eq!(
        (ids(&hooks), total),
        (vec![created[2].id.clone(), created[5].id.clone()], 2)
    );
    let disabled = HookFilter {
        enabled: Some(false),
        ..HookFilter::default()
    };
    assert_eq!(store.list_hooks(&disabled, page(0, 1)).await.unwrap().1, 5);
    let both = HookFilter {
        enabled: Some(true),
        trigger_id: Some(TriggerId::PreUserRegistration),
    };
    let (hooks, total) = store.list_hooks(&both, None).await.unwrap();
    assert_eq!((ids(&hooks), total), (vec![created[5].id.clone()], 1));
}

pub async fn enabling_a_hook_disables_the_other_on_its_trigger(store: Arc<dyn Store>) {
    let ce = TriggerId::CredentialsExchange;
    let a = hook("d2 a", ce, true);
    let b = hook("d2 b", ce, true);
    let c = hook("d2 c", TriggerId::PreUserRegistration, true);
    assert_eq!(store.create_hook(&a, &event("hook.create")).await, Ok(None));
    assert_eq!(
        store.create_hook(&b, &event("hook.create")).await,
        Ok(Some(a.id.clone()))
    );
    assert!(!store.get_hook(&a.id).await.unwrap().enabled);
    // Another trigger is not affected.
    assert_eq!(store.create_hook(&c, &event("hook.create")).await, Ok(None));
    assert_eq!(enabled_on(&*store, ce).await, Some(b.id.clone()));

    let enable = HookPatch {
        enabled: Some(true),
        ..HookPatch::default()
    };
    let (a2, disabled) = store
        .update_hook(&a.id, &enable, &event("hook.update"))
        .await
        .unwrap();
    assert!(a2.enabled);
    assert_eq!(disabled, Some(b.id.clone()));
    assert!(!store.get_hook(&b.id).await.unwrap().enabled);
    // Enabling the enabled hook again disables nothing.
    let (_, disabled) = store
        .update_hook(&a.id, &enable, &event("hook.update"))
        .await
        .unwrap();
    assert_eq!(disabled, None);
    // A disabled hook, created or patched, leaves the enabled one alone.
    let d = hook("d2 d", ce, false);
    assert_eq!(store.create_hook(&d, &event("hook.create")).await, Ok(None));
    let script_only = HookPatch {
        script: Some("x".into()),
        ..HookPatch::default()
    };
    let (_, disabled) = store
        .update_hook(&d.id, &script_only, &event("hook.update"))
        .await
        .unwrap();
    assert_eq!(disabled, None);
    assert_eq!(enabled_on(&*store, ce).await, Some(a.id.clone()));
    assert_eq!(enabled_on(&*store, c.trigger_id).await, Some(c.id.clone()));

    let disable = HookPatch {
        enabled: Some(false),
        ..HookPatch::default()
    };
    let (_, disabled) = store
        .update_hook(&a.id, &disable, &event("hook.update"))
        .await
        .unwrap();
    assert_eq!(disabled, None);
    assert_eq!(enabled_on(&*store, ce).await, None);
}

pub async fn failed_enable_keeps_the_previous_hook_enabled(store: Arc<dyn Store>) {
    let ce = TriggerId::CredentialsExchange;
    let a = hook("keep a", ce, true);
    let b = hook("keep b", ce, false);
    store.create_hook(&a, &event("hook.create")).await.unwrap();
    store.create_hook(&b, &event("hook.create")).await.unwrap();

    // The insert fails after the disable ran: both must roll back.
    let clash = hook("keep b", ce, true);
    assert_eq!(
        store.create_hook(&clash, &event("hook.create")).await,
        Err(Error::HookNameTaken)
    );
    assert_eq!(enabled_on(&*store, ce).await, Some(a.id.clone()));

    let rename_and_enable = HookPatch {
        name: Some(a.name.clone()),
        enabled: Some(true),
        ..HookPatch::default()
    };
    assert_eq!(
        store
            .update_hook(&b.id, &rename_and_enable, &event("hook.update"))
            .await,
        Err(Error::HookNameTaken)
    );
    assert_eq!(enabled_on(&*store, ce).await, Some(a.id.clone()));
    assert_eq!(store.get_hook(&b.id).await, Ok(b));
    assert_eq!(audited(&*store, "hook.create").await.len(), 2);
    assert!(audited(&*store, "hook.update").await.is_empty());
}
