//! Seal counts per master key (security row 5): an upsert that adds, totals for every key,
//! and no increment lost between concurrent adders.

use std::sync::Arc;

use crate::Store;

fn totals(pairs: &[(&str, u64)]) -> Vec<(String, u64)> {
    pairs.iter().map(|(id, n)| (id.to_string(), *n)).collect()
}

pub async fn seal_counts_add_up_without_lost_increments(store: Arc<dyn Store>) {
    assert_eq!(store.add_seal_counts(&[]).await, Ok(vec![]));

    // First sight of a key inserts it; zero deltas change nothing.
    let got = store
        .add_seal_counts(&totals(&[("k1", 5), ("k0", 0)]))
        .await
        .unwrap();
    assert_eq!(got, totals(&[("k1", 5)]));

    // Later deltas accumulate; the answer covers every key, not only those named.
    let got = store
        .add_seal_counts(&totals(&[("k2", 1), ("k1", 7)]))
        .await
        .unwrap();
    assert_eq!(got, totals(&[("k1", 12), ("k2", 1)]));
    assert_eq!(
        store.add_seal_counts(&[]).await.unwrap(),
        totals(&[("k1", 12), ("k2", 1)])
    );

    // Counts past 2^32 are kept exactly (the limits sit near 2^31).
    let big = 1u64 << 33;
    let got = store
        .add_seal_counts(&totals(&[("k2", big)]))
        .await
        .unwrap();
    assert_eq!(got, totals(&[("k1", 12), ("k2", big + 1)]));

    // Concurrent adders, as several instances flushing at once: none is lost.
    const TASKS: u64 = 8;
    const ROUNDS: u64 = 10;
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for _ in 0..ROUNDS {
                    // Alternate the order the keys are named in.
                    let deltas = if t % 2 == 0 {
                        totals(&[("k1", 1), ("k3", 2)])
                    } else {
                        totals(&[("k3", 2), ("k1", 1)])
                    };
                    store.add_seal_counts(&deltas).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(
        store.add_seal_counts(&[]).await.unwrap(),
        totals(&[
            ("k1", 12 + TASKS * ROUNDS),
            ("k2", big + 1),
            ("k3", 2 * TASKS * ROUNDS)
        ])
    );
}
