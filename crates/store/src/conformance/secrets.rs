//! Hook secrets: CRUD, uniqueness, all-or-nothing writes (D6), the 20-secret limit (D4)
//! and the key ids in use.

use std::sync::Arc;

use hookhaven_core::{
    AuditFilter, Error, HookId, SealedSecret, SecretName, TriggerId, MAX_SECRETS_PER_HOOK,
};

use super::helpers::*;
use crate::Store;

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
        .add_secrets(
            &h.id,
            &[(name("ZED"), Some(sealed("k1", "z")))],
            &event("secrets.create"),
        )
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
    assert_eq!(
        value_of(&*store, &h.id, "API_KEY").await,
        Some(sealed("k2", "a2"))
    );
    assert_eq!(
        value_of(&*store, &h.id, "db url").await,
        Some(sealed("k1", "c"))
    );
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
        .delete_secrets(
            &h.id,
            &[name("API_KEY"), name("NOPE")],
            &event("secrets.delete"),
        )
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
    assert_eq!(
        names(&*store, &h.id).await,
        ["UNSET", "db url", "ZED", "API_KEY"]
    );

    assert_eq!(audited(&*store, "secrets.create").await.len(), 3);
    assert_eq!(audited(&*store, "secrets.update").await.len(), 3);
    assert_eq!(audited(&*store, "secrets.delete").await.len(), 3);
}

pub async fn secret_methods_need_the_hook(store: Arc<dyn Store>) {
    let missing = HookId::generate();
    let one = [(name("A"), Some(sealed("k1", "a")))];
    assert_eq!(store.list_secrets(&missing).await, Err(Error::HookNotFound));
    assert_eq!(
        store.sealed_secrets(&missing).await,
        Err(Error::HookNotFound)
    );
    assert_eq!(
        store
            .add_secrets(&missing, &one, &event("secrets.create"))
            .await,
        Err(Error::HookNotFound)
    );
    assert_eq!(
        store
            .update_secrets(&missing, &one, &event("secrets.update"))
            .await,
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
        store
            .delete_secrets(&missing, &[], &event("secrets.delete"))
            .await,
        Err(Error::HookNotFound)
    );
    let filter = AuditFilter::default();
    assert!(store.list_audit(&filter).await.unwrap().is_empty());
}

pub async fn deleting_a_hook_deletes_its_secrets(store: Arc<dyn Store>) {
    let h = hook("cascade", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    store
        .add_secrets(
            &h.id,
            &[(name("A"), Some(sealed("gone", "a")))],
            &event("secrets.create"),
        )
        .await
        .unwrap();
    assert_eq!(store.key_ids_in_use().await.unwrap(), ["gone"]);
    store
        .delete_hook(&h.id, &event("hook.delete"))
        .await
        .unwrap();
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
    store
        .add_secrets(&a.id, &s, &event("secrets.create"))
        .await
        .unwrap();
    // Another hook may use the name.
    store
        .add_secrets(&b.id, &s, &event("secrets.create"))
        .await
        .unwrap();
    assert_eq!(
        store.add_secrets(&a.id, &s, &event("secrets.create")).await,
        Err(Error::SecretExists("SAME".into()))
    );
    // The same name twice in one request is a clash too.
    let twice = [(name("TWICE"), None), (name("TWICE"), None)];
    assert_eq!(
        store
            .add_secrets(&a.id, &twice, &event("secrets.create"))
            .await,
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
        .add_secrets(
            &h.id,
            &[(name("A"), Some(sealed("k1", "a")))],
            &event("secrets.create"),
        )
        .await
        .unwrap();

    let batch = [
        (name("B"), Some(sealed("k1", "b"))),
        (name("A"), Some(sealed("k1", "a-new"))),
        (name("C"), Some(sealed("k1", "c"))),
    ];
    assert_eq!(
        store
            .add_secrets(&h.id, &batch, &event("secrets.create"))
            .await,
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
    store
        .add_secrets(&h.id, &start, &event("secrets.create"))
        .await
        .unwrap();

    let batch = [
        (name("A"), Some(sealed("k2", "a-new"))),
        (name("MISSING"), Some(sealed("k2", "m"))),
        (name("B"), Some(sealed("k2", "b-new"))),
    ];
    assert_eq!(
        store
            .update_secrets(&h.id, &batch, &event("secrets.update"))
            .await,
        Err(Error::SecretNotFound("MISSING".into()))
    );
    // `None` must exist too.
    let keep_missing = [
        (name("A"), Some(sealed("k2", "a-new"))),
        (name("GONE"), None),
    ];
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
            .map(|i| {
                (
                    name(&format!("{prefix}{i}")),
                    Some(sealed("k1", &i.to_string())),
                )
            })
            .collect()
    };
    let full = hook("limit full", TriggerId::CredentialsExchange, false);
    store
        .create_hook(&full, &event("hook.create"))
        .await
        .unwrap();
    store
        .add_secrets(
            &full.id,
            &batch("S", MAX_SECRETS_PER_HOOK),
            &event("secrets.create"),
        )
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
    store
        .create_hook(&over, &event("hook.create"))
        .await
        .unwrap();
    assert_eq!(
        store
            .add_secrets(
                &over.id,
                &batch("S", MAX_SECRETS_PER_HOOK + 1),
                &event("secrets.create")
            )
            .await,
        Err(Error::TooManySecrets)
    );
    assert!(names(&*store, &over.id).await.is_empty());

    let near = hook("limit near", TriggerId::CredentialsExchange, false);
    store
        .create_hook(&near, &event("hook.create"))
        .await
        .unwrap();
    store
        .add_secrets(
            &near.id,
            &batch("S", MAX_SECRETS_PER_HOOK - 1),
            &event("secrets.create"),
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .add_secrets(&near.id, &batch("X", 2), &event("secrets.create"))
            .await,
        Err(Error::TooManySecrets)
    );
    assert_eq!(
        names(&*store, &near.id).await.len(),
        MAX_SECRETS_PER_HOOK - 1
    );
    // Secrets without a value count as well.
    store
        .add_secrets(&near.id, &[(name("UNSET"), None)], &event("secrets.create"))
        .await
        .unwrap();
    assert_eq!(
        store
            .add_secrets(
                &near.id,
                &[(name("ONE MORE"), None)],
                &event("secrets.create")
            )
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
    store
        .add_secrets(&h.id, &secrets, &event("secrets.create"))
        .await
        .unwrap();
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
    store
        .update_secrets(&h.id, &rewrap, &event("secrets.update"))
        .await
        .unwrap();
    assert_eq!(store.key_ids_in_use().await.unwrap(), ["k2", "k3"]);
}
