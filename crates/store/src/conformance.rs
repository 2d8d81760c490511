//! The storage conformance suite (security-tests row 13, with rows 12 and D2/D4/D6 under
//! concurrency). Every backend must pass the same functions: each takes a fresh, empty
//! store and panics on a violation. [`conformance_tests!`](crate::conformance_tests)
//! turns them into `#[tokio::test]`s for one backend.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hookhaven_core::{
    AuditEvent, AuditFilter, Client, ClientGrant, Error, Hook, HookFilter, HookId, HookName,
    HookPatch, Outcome, Page, Scope, SealedSecret, SecretName, TriggerId, MAX_SECRETS_PER_HOOK,
};

use crate::{GrantFilter, SecretEntry, Store};

/// A fresh store, plus whatever must live as long as it (a temporary directory, a
/// throw-away schema).
pub struct Harness {
    pub store: Arc<dyn Store>,
    _guard: Box<dyn Any + Send + Sync>,
}

impl Harness {
    pub fn new(store: Arc<dyn Store>, guard: impl Any + Send + Sync) -> Harness {
        Harness {
            store,
            _guard: Box::new(guard),
        }
    }
}

/// Defines one `#[tokio::test]` per conformance function, each on a fresh store from
/// `$harness` (an expression evaluating to a future of [`Harness`]).
#[macro_export]
macro_rules! conformance_tests {
    ($harness:expr) => {
        $crate::conformance_tests!(@each $harness;
            hooks_crud,
            hook_names_are_unique,
            hooks_list_in_creation_order_with_pages,
            enabling_a_hook_disables_the_other_on_its_trigger,
            failed_enable_keeps_the_previous_hook_enabled,
            secrets_crud,
            secret_methods_need_the_hook,
            deleting_a_hook_deletes_its_secrets,
            secret_names_are_unique_per_hook,
            failed_multi_key_add_changes_nothing,
            failed_multi_key_update_changes_nothing,
            at_most_twenty_secrets,
            key_ids_in_use_lists_sealing_keys,
            clients_crud_and_pages,
            client_with_conflicting_grants_is_not_created,
            grants_crud_uniqueness_and_pages,
            server_keys_are_put_once,
            audit_log_filters_and_limits,
            concurrent_adds_never_exceed_twenty,
            concurrent_adds_of_one_name_create_it_once,
            concurrent_enables_leave_one_hook_enabled,
            concurrent_secret_writes_match_a_serial_order,
        );
    };
    (@each $harness:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let harness: $crate::conformance::Harness = $harness.await;
                $crate::conformance::$name(harness.store.clone()).await;
            }
        )*
    };
}

// ---- helpers ----

const ACTOR: &str = "conformance";

fn event(action: &str) -> AuditEvent {
    AuditEvent::success(ACTOR, action, Some("req-conformance"))
}

fn hook(name: &str, trigger: TriggerId, enabled: bool) -> Hook {
    Hook {
        id: HookId::generate(),
        name: HookName::parse(name).expect("valid hook name"),
        script: format!("module.exports = function (client, scope, audience, context, cb) {{ cb(null, {{}}); }}; // {name}"),
        dependencies: BTreeMap::from([("lodash".to_string(), "4.17.21".to_string())]),
        trigger_id: trigger,
        enabled,
    }
}

fn name(s: &str) -> SecretName {
    SecretName::parse(s).expect("valid secret name")
}

fn sealed(key_id: &str, tag: &str) -> SealedSecret {
    SealedSecret::from_envelope(format!("v1:{key_id}:sealed-{tag}"))
}

fn entry(s: &str, is_set: bool) -> SecretEntry {
    SecretEntry {
        name: name(s),
        is_set,
    }
}

fn page(page: u32, per_page: u32) -> Option<Page> {
    Some(Page { page, per_page })
}

fn ids(hooks: &[Hook]) -> Vec<HookId> {
    hooks.iter().map(|h| h.id.clone()).collect()
}

async fn names(store: &dyn Store, hook: &HookId) -> Vec<String> {
    let entries = store.list_secrets(hook).await.expect("list secrets");
    entries
        .into_iter()
        .map(|e| e.name.as_str().to_string())
        .collect()
}

async fn value_of(store: &dyn Store, hook: &HookId, secret: &str) -> Option<SealedSecret> {
    let all = store.sealed_secrets(hook).await.expect("sealed secrets");
    all.into_iter()
        .find(|(n, _)| n.as_str() == secret)
        .unwrap_or_else(|| panic!("secret {secret} missing"))
        .1
}

/// The successful audit rows of one action, oldest first.
async fn audited(store: &dyn Store, action: &str) -> Vec<AuditEvent> {
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

async fn enabled_on(store: &dyn Store, trigger: TriggerId) -> Vec<Hook> {
    let filter = HookFilter {
        enabled: Some(true),
        trigger_id: Some(trigger),
    };
    let (hooks, total) = store.list_hooks(&filter, None).await.expect("list hooks");
    assert_eq!(total as usize, hooks.len());
    hooks
}

fn client(id: &str) -> Client {
    Client {
        client_id: id.to_string(),
        name: format!("client {id}"),
        description: format!("the {id} client"),
        created_at: 1_700_000_000_000,
    }
}

fn grant(id: &str, client_id: &str, audience: &str, scope: &[Scope]) -> ClientGrant {
    ClientGrant {
        id: id.to_string(),
        client_id: client_id.to_string(),
        audience: audience.to_string(),
        scope: scope.to_vec(),
    }
}

// ---- hooks ----

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
        store.update_hook(&missing, &enable, &event("hook.update")).await,
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
        store.update_hook(&c.id, &rename, &event("hook.update")).await,
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
    assert_eq!(
        store.list_hooks(&all, page(0, 0)).await,
        Ok((vec![], 7))
    );

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
    assert_eq!(ids(&enabled_on(&*store, ce).await), [b.id.clone()]);

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
    assert_eq!(ids(&enabled_on(&*store, ce).await), [a.id.clone()]);
    assert_eq!(ids(&enabled_on(&*store, c.trigger_id).await), [c.id.clone()]);

    let disable = HookPatch {
        enabled: Some(false),
        ..HookPatch::default()
    };
    let (_, disabled) = store
        .update_hook(&a.id, &disable, &event("hook.update"))
        .await
        .unwrap();
    assert_eq!(disabled, None);
    assert!(enabled_on(&*store, ce).await.is_empty());
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
    assert_eq!(ids(&enabled_on(&*store, ce).await), [a.id.clone()]);

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
    assert_eq!(ids(&enabled_on(&*store, ce).await), [a.id.clone()]);
    assert_eq!(store.get_hook(&b.id).await, Ok(b));
    assert_eq!(audited(&*store, "hook.create").await.len(), 2);
    assert!(audited(&*store, "hook.update").await.is_empty());
}

// ---- secrets ----

pub async fn secrets_crud(store: Arc<dyn Store>) {
    let h = hook("secrets crud", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    assert_eq!(store.list_secrets(&h.id).await, Ok(vec![]));

    let first = vec![
        (name("API_KEY"), Some(sealed("k1", "a"))),
        (name("UNSET"), None),
        (name("db url"), Some(sealed("k1", "c"))),
    ];
    store
        .add_secrets(&h.id, &first, &event("secrets.create"))
        .await
        .unwrap();
    store
        .add_secrets(&h.id, &[(name("ZED"), Some(sealed("k1", "z")))], &event("secrets.create"))
        .await
        .unwrap();
    assert_eq!(
        store.list_secrets(&h.id).await.unwrap(),
        [
            entry("API_KEY", true),
            entry("UNSET", false),
            entry("db url", true),
            entry("ZED", true)
        ]
    );
    let sealed_now = store.sealed_secrets(&h.id).await.unwrap();
    assert_eq!(sealed_now[..3], first[..]);

    // New value for one, `None` (keep) for another, and a value for the unset one.
    let changes = vec![
        (name("API_KEY"), Some(sealed("k2", "a2"))),
        (name("db url"), None),
    ];
    store
        .update_secrets(&h.id, &changes, &event("secrets.update"))
        .await
        .unwrap();
    assert_eq!(value_of(&*store, &h.id, "API_KEY").await, Some(sealed("k2", "a2")));
    assert_eq!(value_of(&*store, &h.id, "db url").await, Some(sealed("k1", "c")));
    store
        .update_secrets(&h.id, &[(name("UNSET"), None)], &event("secrets.update"))
        .await
        .unwrap();
    assert_eq!(value_of(&*store, &h.id, "UNSET").await, None);
    store
        .update_secrets(
            &h.id,
            &[(name("UNSET"), Some(sealed("k2", "u")))],
            &event("secrets.update"),
        )
        .await
        .unwrap();
    assert!(store.list_secrets(&h.id).await.unwrap()[1].is_set);

    // Delete is idempotent: unknown names are ignored.
    store
        .delete_secrets(&h.id, &[name("API_KEY"), name("NOPE")], &event("secrets.delete"))
        .await
        .unwrap();
    store
        .delete_secrets(&h.id, &[name("API_KEY")], &event("secrets.delete"))
        .await
        .unwrap();
    store
        .delete_secrets(&h.id, &[], &event("secrets.delete"))
        .await
        .unwrap();
    assert_eq!(names(&*store, &h.id).await, ["UNSET", "db url", "ZED"]);
    // A re-added secret is the newest.
    store
        .add_secrets(&h.id, &[(name("API_KEY"), None)], &event("secrets.create"))
        .await
        .unwrap();
    assert_eq!(names(&*store, &h.id).await, ["UNSET", "db url", "ZED", "API_KEY"]);

    assert_eq!(audited(&*store, "secrets.create").await.len(), 3);
    assert_eq!(audited(&*store, "secrets.update").await.len(), 3);
    assert_eq!(audited(&*store, "secrets.delete").await.len(), 3);
}

pub async fn secret_methods_need_the_hook(store: Arc<dyn Store>) {
    let missing = HookId::generate();
    let one = [(name("A"), Some(sealed("k1", "a")))];
    assert_eq!(store.list_secrets(&missing).await, Err(Error::HookNotFound));
    assert_eq!(store.sealed_secrets(&missing).await, Err(Error::HookNotFound));
    assert_eq!(
        store.add_secrets(&missing, &one, &event("secrets.create")).await,
        Err(Error::HookNotFound)
    );
    assert_eq!(
        store.update_secrets(&missing, &one, &event("secrets.update")).await,
        Err(Error::HookNotFound)
    );
    assert_eq!(
        store
            .delete_secrets(&missing, &[name("A")], &event("secrets.delete"))
            .await,
        Err(Error::HookNotFound)
    );
    // Also with nothing to do: the hook is checked first.
    assert_eq!(
        store.delete_secrets(&missing, &[], &event("secrets.delete")).await,
        Err(Error::HookNotFound)
    );
    let filter = AuditFilter::default();
    assert!(store.list_audit(&filter).await.unwrap().is_empty());
}

pub async fn deleting_a_hook_deletes_its_secrets(store: Arc<dyn Store>) {
    let h = hook("cascade", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    store
        .add_secrets(&h.id, &[(name("A"), Some(sealed("gone", "a")))], &event("secrets.create"))
        .await
        .unwrap();
    assert_eq!(store.key_ids_in_use().await.unwrap(), ["gone"]);
    store.delete_hook(&h.id, &event("hook.delete")).await.unwrap();
    assert_eq!(store.list_secrets(&h.id).await, Err(Error::HookNotFound));
    assert!(store.key_ids_in_use().await.unwrap().is_empty());

    // A new hook under the same id starts with no secrets.
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    assert_eq!(store.list_secrets(&h.id).await, Ok(vec![]));
}

pub async fn secret_names_are_unique_per_hook(store: Arc<dyn Store>) {
    let a = hook("unique a", TriggerId::CredentialsExchange, false);
    let b = hook("unique b", TriggerId::CredentialsExchange, false);
    store.create_hook(&a, &event("hook.create")).await.unwrap();
    store.create_hook(&b, &event("hook.create")).await.unwrap();
    let s = [(name("SAME"), Some(sealed("k1", "1")))];
    store.add_secrets(&a.id, &s, &event("secrets.create")).await.unwrap();
    // Another hook may use the name.
    store.add_secrets(&b.id, &s, &event("secrets.create")).await.unwrap();
    assert_eq!(
        store.add_secrets(&a.id, &s, &event("secrets.create")).await,
        Err(Error::SecretExists("SAME".into()))
    );
    // The same name twice in one request is a clash too.
    let twice = [(name("TWICE"), None), (name("TWICE"), None)];
    assert_eq!(
        store.add_secrets(&a.id, &twice, &event("secrets.create")).await,
        Err(Error::SecretExists("TWICE".into()))
    );
    assert_eq!(names(&*store, &a.id).await, ["SAME"]);
    // Names are case-sensitive.
    store
        .add_secrets(&a.id, &[(name("same"), None)], &event("secrets.create"))
        .await
        .unwrap();
    assert_eq!(names(&*store, &a.id).await, ["SAME", "same"]);
}

pub async fn failed_multi_key_add_changes_nothing(store: Arc<dyn Store>) {
    let h = hook("rollback add", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    store
        .add_secrets(&h.id, &[(name("A"), Some(sealed("k1", "a")))], &event("secrets.create"))
        .await
        .unwrap();

    let batch = [
        (name("B"), Some(sealed("k1", "b"))),
        (name("A"), Some(sealed("k1", "a-new"))),
        (name("C"), Some(sealed("k1", "c"))),
    ];
    assert_eq!(
        store.add_secrets(&h.id, &batch, &event("secrets.create")).await,
        Err(Error::SecretExists("A".into()))
    );
    assert_eq!(names(&*store, &h.id).await, ["A"]);
    assert_eq!(value_of(&*store, &h.id, "A").await, Some(sealed("k1", "a")));
    // Only the first add left a success row.
    assert_eq!(audited(&*store, "secrets.create").await.len(), 1);
}

pub async fn failed_multi_key_update_changes_nothing(store: Arc<dyn Store>) {
    let h = hook("rollback update", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    let start = [
        (name("A"), Some(sealed("k1", "a"))),
        (name("B"), Some(sealed("k1", "b"))),
    ];
    store.add_secrets(&h.id, &start, &event("secrets.create")).await.unwrap();

    let batch = [
        (name("A"), Some(sealed("k2", "a-new"))),
        (name("MISSING"), Some(sealed("k2", "m"))),
        (name("B"), Some(sealed("k2", "b-new"))),
    ];
    assert_eq!(
        store.update_secrets(&h.id, &batch, &event("secrets.update")).await,
        Err(Error::SecretNotFound("MISSING".into()))
    );
    // `None` must exist too.
    let keep_missing = [(name("A"), Some(sealed("k2", "a-new"))), (name("GONE"), None)];
    assert_eq!(
        store
            .update_secrets(&h.id, &keep_missing, &event("secrets.update"))
            .await,
        Err(Error::SecretNotFound("GONE".into()))
    );
    assert_eq!(store.sealed_secrets(&h.id).await.unwrap(), start);
    assert_eq!(names(&*store, &h.id).await, ["A", "B"]);
    assert!(audited(&*store, "secrets.update").await.is_empty());
}

pub async fn at_most_twenty_secrets(store: Arc<dyn Store>) {
    let batch = |prefix: &str, n: usize| -> Vec<(SecretName, Option<SealedSecret>)> {
        (0..n)
            .map(|i| (name(&format!("{prefix}{i}")), Some(sealed("k1", &i.to_string()))))
            .collect()
    };
    let full = hook("limit full", TriggerId::CredentialsExchange, false);
    store.create_hook(&full, &event("hook.create")).await.unwrap();
    store
        .add_secrets(&full.id, &batch("S", MAX_SECRETS_PER_HOOK), &event("secrets.create"))
        .await
        .unwrap();
    assert_eq!(
        store
            .add_secrets(&full.id, &batch("X", 1), &event("secrets.create"))
            .await,
        Err(Error::TooManySecrets)
    );
    assert_eq!(names(&*store, &full.id).await.len(), MAX_SECRETS_PER_HOOK);
    // A full hook can still update, and make room by deleting.
    store
        .update_secrets(&full.id, &batch("S", 3), &event("secrets.update"))
        .await
        .unwrap();
    store
        .delete_secrets(&full.id, &[name("S0")], &event("secrets.delete"))
        .await
        .unwrap();
    store
        .add_secrets(&full.id, &batch("X", 1), &event("secrets.create"))
        .await
        .unwrap();

    let over = hook("limit over", TriggerId::CredentialsExchange, false);
    store.create_hook(&over, &event("hook.create")).await.unwrap();
    assert_eq!(
        store
            .add_secrets(&over.id, &batch("S", MAX_SECRETS_PER_HOOK + 1), &event("secrets.create"))
            .await,
        Err(Error::TooManySecrets)
    );
    assert!(names(&*store, &over.id).await.is_empty());

    let near = hook("limit near", TriggerId::CredentialsExchange, false);
    store.create_hook(&near, &event("hook.create")).await.unwrap();
    store
        .add_secrets(&near.id, &batch("S", MAX_SECRETS_PER_HOOK - 1), &event("secrets.create"))
        .await
        .unwrap();
    assert_eq!(
        store
            .add_secrets(&near.id, &batch("X", 2), &event("secrets.create"))
            .await,
        Err(Error::TooManySecrets)
    );
    assert_eq!(names(&*store, &near.id).await.len(), MAX_SECRETS_PER_HOOK - 1);
    // Secrets without a value count as well.
    store
        .add_secrets(&near.id, &[(name("UNSET"), None)], &event("secrets.create"))
        .await
        .unwrap();
    assert_eq!(
        store
            .add_secrets(&near.id, &[(name("ONE MORE"), None)], &event("secrets.create"))
            .await,
        Err(Error::TooManySecrets)
    );
    assert_eq!(audited(&*store, "secrets.create").await.len(), 4);
}

pub async fn key_ids_in_use_lists_sealing_keys(store: Arc<dyn Store>) {
    assert_eq!(store.key_ids_in_use().await, Ok(vec![]));
    let h = hook("keys", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    let secrets = [
        (name("A"), Some(sealed("k1", "a"))),
        (name("B"), Some(sealed("k2", "b"))),
        (name("C"), Some(sealed("k1", "c"))),
        (name("UNSET"), None),
    ];
    store.add_secrets(&h.id, &secrets, &event("secrets.create")).await.unwrap();
    store
        .put_server_key_if_absent("jwt-signing", &sealed("k3", "jwt"))
        .await
        .unwrap();
    assert_eq!(store.key_ids_in_use().await.unwrap(), ["k1", "k2", "k3"]);

    // After rewrapping every k1 value under k2, k1 is no longer in use.
    let rewrap = [
        (name("A"), Some(sealed("k2", "a"))),
        (name("C"), Some(sealed("k2", "c"))),
    ];
    store.update_secrets(&h.id, &rewrap, &event("secrets.update")).await.unwrap();
    assert_eq!(store.key_ids_in_use().await.unwrap(), ["k2", "k3"]);
}

// ---- clients and grants ----

pub async fn clients_crud_and_pages(store: Arc<dyn Store>) {
    assert_eq!(store.count_clients().await, Ok(0));
    assert_eq!(store.list_clients(None).await, Ok((vec![], 0)));
    let clients: Vec<Client> = (0..5).map(|i| client(&format!("client{i}"))).collect();
    let first_grant = grant("cgr_0", "client0", "https://hooks.example/api/v2/", &[Scope::ReadHooks]);
    for (i, c) in clients.iter().enumerate() {
        let grants = if i == 0 { vec![first_grant.clone()] } else { vec![] };
        let hmac = vec![i as u8; 32];
        store
            .create_client(c, &hmac, &grants, &event("client.create"))
            .await
            .unwrap();
    }

    assert_eq!(store.get_client("client3").await, Ok(clients[3].clone()));
    assert_eq!(store.get_client("nobody").await, Err(Error::ClientNotFound));
    let creds = store.client_credentials("client2").await.unwrap().unwrap();
    assert_eq!((creds.client, creds.secret_hmac), (clients[2].clone(), vec![2u8; 32]));
    assert_eq!(store.client_credentials("nobody").await, Ok(None));

    assert_eq!(store.list_clients(None).await, Ok((clients.clone(), 5)));
    let mut paged = Vec::new();
    for (n, expected_len) in [(0, 2), (1, 2), (2, 1), (3, 0)] {
        let (page_clients, total) = store.list_clients(page(n, 2)).await.unwrap();
        assert_eq!((page_clients.len(), total), (expected_len, 5), "page {n}");
        paged.extend(page_clients);
    }
    assert_eq!(paged, clients);
    assert_eq!(store.count_clients().await, Ok(5));

    let of_client0 = GrantFilter {
        client_id: Some("client0".into()),
        ..GrantFilter::default()
    };
    assert_eq!(
        store.list_grants(&of_client0, None).await,
        Ok((vec![first_grant], 1))
    );
    store.delete_client("client0", &event("client.delete")).await.unwrap();
    assert_eq!(store.list_grants(&of_client0, None).await, Ok((vec![], 0)));
    assert_eq!(store.get_client("client0").await, Err(Error::ClientNotFound));
    assert_eq!(
        store.delete_client("client0", &event("client.delete")).await,
        Err(Error::ClientNotFound)
    );
    assert_eq!(store.count_clients().await, Ok(4));
    assert_eq!(audited(&*store, "client.create").await.len(), 5);
    assert_eq!(audited(&*store, "client.delete").await.len(), 1);
}

pub async fn client_with_conflicting_grants_is_not_created(store: Arc<dyn Store>) {
    let c = client("dup");
    let grants = [
        grant("cgr_1", "dup", "https://a.example/", &[Scope::ReadHooks]),
        grant("cgr_2", "dup", "https://a.example/", &[Scope::UpdateHooks]),
    ];
    assert_eq!(
        store
            .create_client(&c, b"hmac", &grants, &event("client.create"))
            .await,
        Err(Error::GrantExists)
    );
    assert_eq!(store.get_client("dup").await, Err(Error::ClientNotFound));
    assert_eq!(store.count_clients().await, Ok(0));
    assert_eq!(
        store.list_grants(&GrantFilter::default(), None).await,
        Ok((vec![], 0))
    );
    assert!(audited(&*store, "client.create").await.is_empty());
}

pub async fn grants_crud_uniqueness_and_pages(store: Arc<dyn Store>) {
    for id in ["alpha", "beta"] {
        store
            .create_client(&client(id), b"hmac", &[], &event("client.create"))
            .await
            .unwrap();
    }
    let api_a = "https://a.example/api/v2/";
    let api_b = "https://b.example/";
    let g1 = grant("cgr_1", "alpha", api_a, &[Scope::UpdateHooks, Scope::ReadHooks]);
    let g2 = grant("cgr_2", "alpha", api_b, &[]);
    let g3 = grant("cgr_3", "beta", api_a, &hookhaven_core::ALL_SCOPES);
    for g in [&g1, &g2, &g3] {
        store.create_grant(g, &event("grant.create")).await.unwrap();
    }
    let again = grant("cgr_4", "alpha", api_a, &[Scope::ReadHooks]);
    assert_eq!(
        store.create_grant(&again, &event("grant.create")).await,
        Err(Error::GrantExists)
    );
    let orphan = grant("cgr_5", "nobody", api_a, &[Scope::ReadHooks]);
    assert_eq!(
        store.create_grant(&orphan, &event("grant.create")).await,
        Err(Error::ClientNotFound)
    );

    let all = GrantFilter::default();
    assert_eq!(
        store.list_grants(&all, None).await,
        Ok((vec![g1.clone(), g2.clone(), g3.clone()], 3))
    );
    assert_eq!(store.list_grants(&all, page(1, 2)).await, Ok((vec![g3.clone()], 3)));
    assert_eq!(store.list_grants(&all, page(2, 2)).await, Ok((vec![], 3)));
    let of_alpha = GrantFilter {
        client_id: Some("alpha".into()),
        ..GrantFilter::default()
    };
    assert_eq!(
        store.list_grants(&of_alpha, page(0, 1)).await,
        Ok((vec![g1.clone()], 2))
    );
    let on_a = GrantFilter {
        audience: Some(api_a.into()),
        ..GrantFilter::default()
    };
    assert_eq!(
        store.list_grants(&on_a, None).await,
        Ok((vec![g1.clone(), g3.clone()], 2))
    );
    let both = GrantFilter {
        client_id: Some("beta".into()),
        audience: Some(api_b.into()),
    };
    assert_eq!(store.list_grants(&both, None).await, Ok((vec![], 0)));

    store.delete_grant("cgr_1", &event("grant.delete")).await.unwrap();
    assert_eq!(
        store.delete_grant("cgr_1", &event("grant.delete")).await,
        Err(Error::GrantNotFound)
    );
    // With the old grant gone, the pair is free again.
    store.create_grant(&again, &event("grant.create")).await.unwrap();
    assert_eq!(
        store.list_grants(&of_alpha, None).await,
        Ok((vec![g2, again], 2))
    );
    assert_eq!(audited(&*store, "grant.create").await.len(), 4);
    assert_eq!(audited(&*store, "grant.delete").await.len(), 1);
}

// ---- server keys and audit ----

pub async fn server_keys_are_put_once(store: Arc<dyn Store>) {
    assert_eq!(store.get_server_key("jwt").await, Ok(None));
    let first = sealed("k1", "first");
    let second = sealed("k1", "second");
    assert_eq!(store.put_server_key_if_absent("jwt", &first).await.as_ref(), Ok(&first));
    assert_eq!(store.put_server_key_if_absent("jwt", &second).await.as_ref(), Ok(&first));
    assert_eq!(store.get_server_key("jwt").await, Ok(Some(first)));
    assert_eq!(
        store.put_server_key_if_absent("hmac", &second).await.as_ref(),
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
    assert_eq!(all.iter().map(|r| r.event.clone()).collect::<Vec<_>>(), newest_first);

    let by_hook = list(AuditFilter {
        hook_id: Some("HOOK1".into()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(by_hook.len(), 3);
    assert!(by_hook.iter().all(|r| r.event.hook_id.as_deref() == Some("HOOK1")));
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

// ---- concurrency (security-tests row 12) ----

const WRITERS: usize = 50;

pub async fn concurrent_adds_never_exceed_twenty(store: Arc<dyn Store>) {
    let h = hook("race limit", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, id) = (store.clone(), h.id.clone());
            tokio::spawn(async move {
                let secret = [(name(&format!("S{i}")), Some(sealed("k1", &i.to_string())))];
                store.add_secrets(&id, &secret, &event("secrets.create")).await
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
    assert_eq!(audited(&*store, "secrets.create").await.len(), MAX_SECRETS_PER_HOOK);
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
    let enabled = ids(&enabled_on(&*store, trigger).await);
    assert_eq!(enabled.len(), 1);
    assert_eq!(disabled.len(), WRITERS - 1);
    assert!(!disabled.contains(&enabled[0]));
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
    let enabled = ids(&enabled_on(&*store, trigger).await);
    assert_eq!(enabled.len(), 1);
    // The last enable to commit is the one that stays enabled.
    let updates = audited(&*store, "hook.update").await;
    assert_eq!(updates.len(), WRITERS);
    assert_eq!(updates.last().unwrap().hook_id.as_deref(), Some(enabled[0].as_str()));
}

/// Half the writers PATCH one secret, half POST new ones: the result is the one some
/// serial order gives. The audit log is in commit order, so its last update names the
/// value that must be stored.
pub async fn concurrent_secret_writes_match_a_serial_order(store: Arc<dyn Store>) {
    let h = hook("race mixed", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    store
        .add_secrets(&h.id, &[(name("SHARED"), Some(sealed("k1", "start")))], &event("setup"))
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
    assert_eq!(value_of(&*store, &h.id, "SHARED").await, Some(sealed("k1", &last)));
}
