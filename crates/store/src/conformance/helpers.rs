//! Builders and checks shared by the conformance tests.

use std::collections::BTreeMap;

use hookhaven_core::{
    AuditEvent, AuditFilter, Client, ClientGrant, Hook, HookFilter, HookId, HookName, Outcome,
    Page, Scope, SealedSecret, SecretName, TriggerId,
};

use crate::{SecretEntry, Store};

pub(super) const ACTOR: &str = "conformance";

pub(super) fn event(action: &str) -> AuditEvent {
    AuditEvent::success(ACTOR, action, Some("req-conformance"))
}

pub(super) fn hook(name: &str, trigger: TriggerId, enabled: bool) -> Hook {
    Hook {
        id: HookId::generate(),
        name: HookName::parse(name).expect("valid hook name"),
        script: format!(
            "module.exports = (client, scope, audience, context, cb) => cb(null, {{}}); // {name}"
        ),
        dependencies: BTreeMap::from([("lodash".to_string(), "4.17.21".to_string())]),
        trigger_id: trigger,
        enabled,
    }
}

pub(super) fn name(s: &str) -> SecretName {
    SecretName::parse(s).expect("valid secret name")
}

pub(super) fn sealed(key_id: &str, tag: &str) -> SealedSecret {
    SealedSecret::from_envelope(format!("v1:{key_id}:sealed-{tag}"))
}

pub(super) fn entry(s: &str, is_set: bool) -> SecretEntry {
    SecretEntry {
        name: name(s),
        is_set,
    }
}

pub(super) fn page(page: u32, per_page: u32) -> Option<Page> {
    Some(Page { page, per_page })
}

pub(super) fn ids(hooks: &[Hook]) -> Vec<HookId> {
    hooks.iter().map(|h| h.id.clone()).collect()
}

pub(super) async fn names(store: &dyn Store, hook: &HookId) -> Vec<String> {
    let entries = store.list_secrets(hook).await.expect("list secrets");
    entries
        .into_iter()
        .map(|e| e.name.as_str().to_string())
        .collect()
}

pub(super) async fn value_of(
    store: &dyn Store,
    hook: &HookId,
    secret: &str,
) -> Option<SealedSecret> {
    let all = store.sealed_secrets(hook).await.expect("sealed secrets");
    all.into_iter()
        .find(|(n, _)| n.as_str() == secret)
        .unwrap_or_else(|| panic!("secret {secret} missing"))
        .1
}

/// The successful audit rows of one action, oldest first.
pub(super) async fn audited(store: &dyn Store, action: &str) -> Vec<AuditEvent> {
    let filter = AuditFilter {
        actor: Some(ACTOR.into()),
        limit: 1000,
        ..AuditFilter::default()
    };
    let mut rows = store.list_audit(&filter).await.expect("list audit");
    rows.reverse();
    rows.into_iter()
        .map(|r| r.event)
        .filter(|e| e.action == action && e.outcome == Outcome::Success)
        .collect()
}

/// The enabled hook on a trigger, checking that there is at most one (D2).
pub(super) async fn enabled_on(store: &dyn Store, trigger: TriggerId) -> Option<HookId> {
    let filter = HookFilter {
        enabled: Some(true),
        trigger_id: Some(trigger),
    };
    let (hooks, total) = store.list_hooks(&filter, None).await.expect("list hooks");
    assert_eq!(total as usize, hooks.len());
    assert!(
        hooks.len() <= 1,
        "{} enabled hooks on {trigger:?}",
        hooks.len()
    );
    hooks.into_iter().next().map(|h| h.id)
}

pub(super) fn client(id: &str) -> Client {
    Client {
        client_id: id.to_string(),
        name: format!("client {id}"),
        description: format!("the {id} client"),
        created_at: 1_700_000_000_000,
    }
}

pub(super) fn grant(id: &str, client_id: &str, audience: &str, scope: &[Scope]) -> ClientGrant {
    ClientGrant {
        id: id.to_string(),
        client_id: client_id.to_string(),
        audience: audience.to_string(),
        scope: scope.to_vec(),
    }
}
