//! Clients and client grants.

use std::sync::Arc;

use hookhaven_core::{Client, Error, Scope};

use super::helpers::*;
use crate::{GrantFilter, Store};

pub async fn clients_crud_and_pages(store: Arc<dyn Store>) {
    assert_eq!(store.count_clients().await, Ok(0));
    assert_eq!(store.list_clients(None).await, Ok((vec![], 0)));
    let clients: Vec<Client> = (0..5).map(|i| client(&format!("client{i}"))).collect();
    let first_grant = grant(
        "cgr_0",
        "client0",
        "https://hooks.example/api/v2/",
        &[Scope::ReadHooks],
    );
    for (i, c) in clients.iter().enumerate() {
        let grants = if i == 0 {
            vec![first_grant.clone()]
        } else {
            vec![]
        };
        let hmac = vec![i as u8; 32];
        store
            .create_client(c, &hmac, &grants, &event("client.create"))
            .await
            .unwrap();
    }

    assert_eq!(store.get_client("client3").await, Ok(clients[3].clone()));
    assert_eq!(store.get_client("nobody").await, Err(Error::ClientNotFound));
    let creds = store.client_credentials("client2").await.unwrap().unwrap();
    assert_eq!(
        (creds.client, creds.secret_hmac),
        (clients[2].clone(), vec![2u8; 32])
    );
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
    store
        .delete_client("client0", &event("client.delete"))
        .await
        .unwrap();
    assert_eq!(store.list_grants(&of_client0, None).await, Ok((vec![], 0)));
    assert_eq!(
        store.get_client("client0").await,
        Err(Error::ClientNotFound)
    );
    assert_eq!(
        store
            .delete_client("client0", &event("client.delete"))
            .await,
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
    let g1 = grant(
        "cgr_1",
        "alpha",
        api_a,
        &[Scope::UpdateHooks, Scope::ReadHooks],
    );
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
    assert_eq!(
        store.list_grants(&all, page(1, 2)).await,
        Ok((vec![g3.clone()], 3))
    );
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

    store
        .delete_grant("cgr_1", &event("grant.delete"))
        .await
        .unwrap();
    assert_eq!(
        store.delete_grant("cgr_1", &event("grant.delete")).await,
        Err(Error::GrantNotFound)
    );
    // With the old grant gone, the pair is free again.
    store
        .create_grant(&again, &event("grant.create"))
        .await
        .unwrap();
    assert_eq!(
        store.list_grants(&of_alpha, None).await,
        Ok((vec![g2, again], 2))
    );
    assert_eq!(audited(&*store, "grant.create").await.len(), 4);
    assert_eq!(audited(&*store, "grant.delete").await.len(), 1);
}
