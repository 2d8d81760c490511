//! What the Dashboard adds: administrators and their sessions, the atomic secret rename
//! and client secret rotation.

use std::sync::Arc;
use std::sync::Mutex;

use hookhaven_core::{Error, SealedSecret, TriggerId};

use super::helpers::*;
use crate::{Admin, AdminSession, Store};

fn admin(id: &str, email: &str) -> Admin {
    Admin {
        id: id.to_string(),
        email: email.to_string(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash-of-{id}"),
        created_at: 1_700_000_000_000,
    }
}

fn session(id_hash: &str, admin_id: &str, at: i64) -> AdminSession {
    AdminSession {
        id_hash: id_hash.to_string(),
        admin_id: admin_id.to_string(),
        email: String::new(),
        csrf_token: format!("csrf-{id_hash}"),
        created_at: at,
        last_seen_at: at,
    }
}

pub async fn admins_crud_and_unique_emails(store: Arc<dyn Store>) {
    assert_eq!(store.list_admins().await, Ok(vec![]));
    let a = admin("adm_a", "a@example.com");
    let b = admin("adm_b", "b@example.com");
    store
        .create_admin(&a, &event("admin.create"))
        .await
        .unwrap();
    store
        .create_admin(&b, &event("admin.create"))
        .await
        .unwrap();
    let dup = admin("adm_c", "a@example.com");
    assert_eq!(
        store.create_admin(&dup, &event("admin.create")).await,
        Err(Error::AdminExists)
    );
    assert_eq!(store.list_admins().await, Ok(vec![a.clone(), b.clone()]));
    assert_eq!(store.admin_by_email("a@example.com").await, Ok(Some(a)));
    assert_eq!(store.admin_by_email("nobody@example.com").await, Ok(None));
    store
        .delete_admin("b@example.com", &event("admin.delete"))
        .await
        .unwrap();
    assert_eq!(
        store
            .delete_admin("b@example.com", &event("admin.delete"))
            .await,
        Err(Error::AdminNotFound)
    );
    assert_eq!(store.list_admins().await.unwrap().len(), 1);
    assert_eq!(audited(&*store, "admin.create").await.len(), 2);
    assert_eq!(audited(&*store, "admin.delete").await.len(), 1);
}

pub async fn admin_sessions_expire_and_go_with_their_admin(store: Arc<dyn Store>) {
    let a = admin("adm_a", "a@example.com");
    store
        .create_admin(&a, &event("admin.create"))
        .await
        .unwrap();
    let s1 = session("h1", "adm_a", 1_000);
    let s2 = session("h2", "adm_a", 5_000);
    store
        .create_admin_session(&s1, &event("admin.login"))
        .await
        .unwrap();
    store
        .create_admin_session(&s2, &event("admin.login"))
        .await
        .unwrap();
    assert_eq!(
        store
            .create_admin_session(&session("h3", "adm_nobody", 1), &event("admin.login"))
            .await,
        Err(Error::AdminNotFound)
    );
    let read = store.admin_session("h1").await.unwrap().expect("session");
    assert_eq!(
        (
            read.admin_id.as_str(),
            read.email.as_str(),
            read.csrf_token.as_str()
        ),
        ("adm_a", "a@example.com", "csrf-h1")
    );
    assert_eq!(store.admin_session("unknown").await, Ok(None));

    // Touching moves last_seen forward, never back.
    store.touch_admin_session("h1", 3_000).await.unwrap();
    store.touch_admin_session("h1", 2_000).await.unwrap();
    let read = store.admin_session("h1").await.unwrap().unwrap();
    assert_eq!((read.created_at, read.last_seen_at), (1_000, 3_000));

    // Idle since before 4000: h1 (last seen 3000) goes, h2 (5000) stays.
    assert_eq!(store.delete_expired_admin_sessions(4_000, 0).await, Ok(1));
    assert_eq!(store.admin_session("h1").await, Ok(None));
    assert!(store.admin_session("h2").await.unwrap().is_some());
    // Created before 6000: h2 goes however recently it was used.
    store.touch_admin_session("h2", 9_000).await.unwrap();
    assert_eq!(store.delete_expired_admin_sessions(0, 6_000).await, Ok(1));
    assert_eq!(store.admin_session("h2").await, Ok(None));

    // Logout deletes one session; deleting an admin deletes the rest.
    for h in ["h4", "h5"] {
        store
            .create_admin_session(&session(h, "adm_a", 10_000), &event("admin.login"))
            .await
            .unwrap();
    }
    store
        .delete_admin_session("h4", Some(&event("admin.logout")))
        .await
        .unwrap();
    store.delete_admin_session("h4", None).await.unwrap();
    assert_eq!(store.admin_session("h4").await, Ok(None));
    store
        .delete_admin("a@example.com", &event("admin.delete"))
        .await
        .unwrap();
    assert_eq!(store.admin_session("h5").await, Ok(None));
    assert_eq!(audited(&*store, "admin.login").await.len(), 4);
    assert_eq!(audited(&*store, "admin.logout").await.len(), 1);
}

pub async fn renaming_a_secret_is_atomic(store: Arc<dyn Store>) {
    let h = hook("rename", TriggerId::CredentialsExchange, false);
    store.create_hook(&h, &event("hook.create")).await.unwrap();
    store
        .add_secrets(
            &h.id,
            &[
                (name("A"), Some(sealed("k1", "a"))),
                (name("B"), Some(sealed("k1", "b"))),
                (name("UNSET"), None),
            ],
            &event("secrets.create"),
        )
        .await
        .unwrap();

    // The reseal function sees the stored value and its result is stored under the new
    // name, in the old one's place in the listing.
    let seen: Mutex<Vec<Option<SealedSecret>>> = Mutex::new(Vec::new());
    let reseal = |current: Option<&SealedSecret>| {
        seen.lock().unwrap().push(current.cloned());
        Ok(Some(sealed("k1", "a-renamed")))
    };
    store
        .rename_secret(
            &h.id,
            &name("A"),
            &name("A2"),
            &reseal,
            &event("secret.rename"),
        )
        .await
        .unwrap();
    assert_eq!(seen.lock().unwrap().last(), Some(&Some(sealed("k1", "a"))));
    assert_eq!(names(&*store, &h.id).await, ["A2", "B", "UNSET"]);
    assert_eq!(
        value_of(&*store, &h.id, "A2").await,
        Some(sealed("k1", "a-renamed"))
    );

    // Renaming onto an existing name fails and changes nothing.
    let to_b = |_: Option<&SealedSecret>| Ok(Some(sealed("k1", "never")));
    assert_eq!(
        store
            .rename_secret(
                &h.id,
                &name("A2"),
                &name("B"),
                &to_b,
                &event("secret.rename")
            )
            .await,
        Err(Error::SecretExists("B".into()))
    );
    assert_eq!(names(&*store, &h.id).await, ["A2", "B", "UNSET"]);
    assert_eq!(
        value_of(&*store, &h.id, "A2").await,
        Some(sealed("k1", "a-renamed"))
    );
    assert_eq!(value_of(&*store, &h.id, "B").await, Some(sealed("k1", "b")));

    // Unknown secret, unknown hook.
    assert_eq!(
        store
            .rename_secret(
                &h.id,
                &name("NOPE"),
                &name("X"),
                &to_b,
                &event("secret.rename")
            )
            .await,
        Err(Error::SecretNotFound("NOPE".into()))
    );
    let other = hook("absent", TriggerId::CredentialsExchange, false);
    assert_eq!(
        store
            .rename_secret(
                &other.id,
                &name("A2"),
                &name("X"),
                &to_b,
                &event("secret.rename")
            )
            .await,
        Err(Error::HookNotFound)
    );

    // A failing reseal rolls everything back.
    let failing = |_: Option<&SealedSecret>| Err(Error::internal("cannot open"));
    assert_eq!(
        store
            .rename_secret(
                &h.id,
                &name("B"),
                &name("B2"),
                &failing,
                &event("secret.rename")
            )
            .await,
        Err(Error::internal("cannot open"))
    );
    assert_eq!(names(&*store, &h.id).await, ["A2", "B", "UNSET"]);

    // The same name: a value change only. An unset secret passes None to reseal.
    let keep = |current: Option<&SealedSecret>| Ok(current.cloned());
    store
        .rename_secret(
            &h.id,
            &name("UNSET"),
            &name("UNSET2"),
            &keep,
            &event("secret.rename"),
        )
        .await
        .unwrap();
    assert_eq!(value_of(&*store, &h.id, "UNSET2").await, None);
    let set_b = |_: Option<&SealedSecret>| Ok(Some(sealed("k2", "b2")));
    store
        .rename_secret(
            &h.id,
            &name("B"),
            &name("B"),
            &set_b,
            &event("secret.rename"),
        )
        .await
        .unwrap();
    assert_eq!(
        value_of(&*store, &h.id, "B").await,
        Some(sealed("k2", "b2"))
    );
    assert_eq!(store.key_ids_in_use().await.unwrap(), ["k1", "k2"]);
    assert_eq!(audited(&*store, "secret.rename").await.len(), 3);
}

pub async fn client_secrets_rotate(store: Arc<dyn Store>) {
    let c = client("rotating");
    store
        .create_client(&c, &[1u8; 32], &[], &event("client.create"))
        .await
        .unwrap();
    store
        .rotate_client_secret("rotating", &[2u8; 32], &event("client.rotate_secret"))
        .await
        .unwrap();
    let creds = store.client_credentials("rotating").await.unwrap().unwrap();
    assert_eq!((creds.client, creds.secret_hmac), (c, vec![2u8; 32]));
    assert_eq!(
        store
            .rotate_client_secret("nobody", &[3u8; 32], &event("client.rotate_secret"))
            .await,
        Err(Error::ClientNotFound)
    );
    assert_eq!(audited(&*store, "client.rotate_secret").await.len(), 1);
}
