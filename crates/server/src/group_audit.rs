//! Group commit for audit events recorded on their own, outside a change's transaction
//! (a Runner run is put on record before the code runs). Concurrent callers' events are
//! written together in one transaction, and each caller is answered once its own event is
//! durable: the same guarantee as one commit per event, at a fraction of the commits.
//!
//! The first caller to get the writer lock writes everything queued so far; callers that
//! queued meanwhile find their answer waiting when they get the lock.

use std::sync::{Arc, Mutex};

use hookhaven_core::{AuditEvent, Error};
use hookhaven_store::Store;
use tokio::sync::oneshot;

type Reply = oneshot::Sender<Result<(), Error>>;

pub struct GroupAudit {
    store: Arc<dyn Store>,
    queued: Mutex<Vec<(AuditEvent, Reply)>>,
    writer: tokio::sync::Mutex<()>,
}

impl GroupAudit {
    pub fn new(store: Arc<dyn Store>) -> GroupAudit {
        GroupAudit {
            store,
            queued: Mutex::new(Vec::new()),
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// Records `event` durably, together with whatever other callers are recording now.
    pub async fn record(&self, event: AuditEvent) -> Result<(), Error> {
        let (reply, mut answer) = oneshot::channel();
        self.lock_queue().push((event, reply));
        let _writer = self.writer.lock().await;
        match answer.try_recv() {
            Ok(result) => return result,
            Err(oneshot::error::TryRecvError::Empty) => {}
            // The writer that took this event was cancelled before it answered; whether the
            // event reached the disk is unknown, so the caller must not go on as if it had.
            Err(oneshot::error::TryRecvError::Closed) => {
                return Err(Error::Unavailable(
                    "the audit log could not confirm the record".into(),
                ))
            }
        }
        let batch = std::mem::take(&mut *self.lock_queue());
        // Written and answered in a task of its own, so that a caller that goes away (its
        // connection closed) cannot leave the others without an answer.
        let store = self.store.clone();
        let write = tokio::spawn(async move {
            let (events, replies): (Vec<AuditEvent>, Vec<Reply>) = batch.into_iter().unzip();
            let result = store.record_audits(&events).await;
            for reply in replies {
                let _ = reply.send(result.clone());
            }
        });
        let _ = write.await;
        answer.await.unwrap_or_else(|_| {
            Err(Error::Unavailable(
                "the audit log could not confirm the record".into(),
            ))
        })
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Vec<(AuditEvent, Reply)>> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookhaven_core::AuditFilter;
    use hookhaven_store::SqliteStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_concurrent_event_is_durable_when_its_caller_returns() {
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open("sqlite::memory:").await.unwrap());
        let group = Arc::new(GroupAudit::new(store.clone()));
        let callers: Vec<_> = (0..50)
            .map(|i| {
                let group = group.clone();
                tokio::spawn(async move {
                    let event = AuditEvent::success("runner", "hook.run", Some(&format!("r{i}")));
                    group.record(event).await
                })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap().unwrap();
        }
        let rows = store
            .list_audit(&AuditFilter {
                actor: Some("runner".into()),
                limit: 100,
                ..AuditFilter::default()
            })
            .await
            .unwrap();
        let mut ids: Vec<String> = rows
            .into_iter()
            .filter_map(|r| r.event.request_id)
            .collect();
        ids.sort();
        let mut expected: Vec<String> = (0..50).map(|i| format!("r{i}")).collect();
        expected.sort();
        assert_eq!(ids, expected);
    }
}
