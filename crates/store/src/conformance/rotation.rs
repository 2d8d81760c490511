//! Master-key rotation: counting values per key id, finding them in batches and
//! re-sealing them with compare-and-swap.

use std::sync::Arc;

use hookhaven_core::{AuditFilter, TriggerId};

use super::helpers::{event, hook, name, sealed};
use crate::{SealedLocation, SealedValue, Store};

pub async fn sealed_values_are_counted_found_and_swapped(store: Arc<dyn Store>) {
    assert_eq!(store.count_sealed_by_key().await, Ok(vec![]));
    assert_eq!(store.sealed_under_key("k1", 10).await, Ok(vec![]));
    let h = hook("rotation", TriggerId::CredentialsExchange, false);
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
        .put_server_key_if_absent("jwt-signing", &sealed("k1", "jwt"))
        .await
        .unwrap();
    assert_eq!(
        store.count_sealed_by_key().await.unwrap(),
        [("k1".to_string(), 3), ("k2".to_string(), 1)]
    );

    // Batches: hook secrets in creation order first, then server keys.
    let first = store.sealed_under_key("k1", 2).await.unwrap();
    let secret_at = |n: &str| SealedLocation::HookSecret {
        hook: h.id.clone(),
        name: name(n),
    };
    assert_eq!(
        first,
        [
            SealedValue {
                location: secret_at("A"),
                value: sealed("k1", "a"),
            },
            SealedValue {
                location: secret_at("C"),
                value: sealed("k1", "c"),
            },
        ]
    );
    let all = store.sealed_under_key("k1", 10).await.unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        all[2],
        SealedValue {
            location: SealedLocation::ServerKey {
                name: "jwt-signing".into()
            },
            value: sealed("k1", "jwt"),
        }
    );

    // A value changed since it was read is not swapped; the others are, in one go.
    store
        .update_secrets(
            &h.id,
            &[(name("C"), Some(sealed("k1", "c-new")))],
            &event("secrets.update"),
        )
        .await
        .unwrap();
    let swaps: Vec<_> = all
        .iter()
        .map(|v| {
            let tag = format!(
                "{}-rewrapped",
                v.value.envelope().rsplit('-').next().unwrap()
            );
            (v.clone(), sealed("k9", &tag))
        })
        .collect();
    let replaced = store
        .replace_sealed(&swaps, &event("keys.rewrap"))
        .await
        .unwrap();
    assert_eq!(replaced, 2);
    assert_eq!(
        store.count_sealed_by_key().await.unwrap(),
        [
            ("k1".to_string(), 1),
            ("k2".to_string(), 1),
            ("k9".to_string(), 2)
        ]
    );
    let stored = store.sealed_secrets(&h.id).await.unwrap();
    assert_eq!(stored[0].1.as_ref().unwrap().key_id(), "k9");
    assert_eq!(stored[2].1, Some(sealed("k1", "c-new")));
    assert_eq!(
        store
            .get_server_key("jwt-signing")
            .await
            .unwrap()
            .unwrap()
            .key_id(),
        "k9"
    );
    assert_eq!(store.key_ids_in_use().await.unwrap(), ["k1", "k2", "k9"]);
    assert_eq!(store.sealed_under_key("k1", 10).await.unwrap().len(), 1);

    // A deleted secret is not brought back.
    let left = store.sealed_under_key("k1", 10).await.unwrap();
    store
        .delete_secrets(&h.id, &[name("C")], &event("secrets.delete"))
        .await
        .unwrap();
    let replaced = store
        .replace_sealed(
            &[(left[0].clone(), sealed("k9", "c"))],
            &event("keys.rewrap"),
        )
        .await
        .unwrap();
    assert_eq!(replaced, 0);
    assert_eq!(store.sealed_under_key("k1", 10).await.unwrap(), vec![]);
    assert_eq!(
        super::helpers::names(store.as_ref(), &h.id).await,
        ["A", "B", "UNSET"]
    );

    // Each swap batch is audited.
    let audited = store
        .list_audit(&AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        audited
            .iter()
            .filter(|e| e.event.action == "keys.rewrap")
            .count(),
        2
    );
}
