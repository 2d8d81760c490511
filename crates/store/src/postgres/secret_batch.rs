//! Group commit for the usual PATCH of a hook's secrets (one secret): requests that arrive
//! while a batch is being written are written together by the next one, as one statement
//! in one implicit transaction ([`UPDATE_BATCH_SQL`]).
//!
//! Why: on PostgreSQL a single-row PATCH costs far more in per-statement work (a pool
//! check-out and check-in, each a round trip; parse, bind, execute; a commit and its WAL
//! flush) than in the rows it writes. Under load, writing the requests that queued
//! meanwhile in one statement divides that work between them; without load a batch holds
//! one request and nothing waits for a timer.
//!
//! What each request still gets, as with its own statement:
//! - **All or nothing, with its audit row**: a request's secret and audit row are written by
//!   the same statement, so they commit together; a batch is one transaction, so a failure
//!   leaves none of its requests written.
//! - **Durable before the answer**: a request is answered only after its batch committed.
//! - **Errors named as before**: when a batch does not write a request (its hook or secret is
//!   missing), the request is answered "not done" and its caller runs the transactional form,
//!   which finds out what is missing. A secret missing in one request aborts the whole
//!   statement (see [`UPDATE_BATCH_SQL`]), so every request of that batch takes that path.
//! - **Per-hook order**: a batch holds at most one request per hook, and locks its hooks in
//!   id order, so two batches (of two lanes or two instances) never deadlock on each other.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use hookhaven_core::{AuditEvent, Error, HookId, Result, SealedSecret, SecretName};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::audit;
use super::error::db_error;
use super::secrets::{is_incomplete, update_in_one_statement};

/// The most requests one statement writes. Bounds a statement's size and its locks.
const MAX_BATCH: usize = 64;

/// [`super::secrets::UPDATE_ONE_SECRET_SQL`] for a batch of requests on distinct hooks:
/// `$1`…`$14` are arrays with one element per request.
///
/// - `hook` locks the batch's existing hooks in id order.
/// - `changed` sets each request's secret (a NULL value keeps it, D1).
/// - The `INSERT` writes one audit row per request whose hook exists; its `outcome` is
///   NULL when the request's secret was missing, and that NOT NULL violation aborts the
///   whole statement: nothing of the batch is written.
/// - `RETURNING hook_id` names the requests written (hooks are distinct in a batch).
const UPDATE_BATCH_SQL: &str = "\
WITH req AS (SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], \
$5::text[], $6::int8[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], \
$12::text[], $13::text[], $14::text[]) \
AS r (hook_id, now, name, value, key_id, at, actor, action, audit_hook_id, target, \
secret_names, outcome, detail, request_id)), \
hook AS (SELECT id FROM hooks WHERE id IN (SELECT hook_id FROM req) ORDER BY id FOR UPDATE), \
changed AS (\
UPDATE hook_secrets s SET value = COALESCE(r.value, s.value), \
key_id = CASE WHEN r.value IS NULL THEN s.key_id ELSE r.key_id END, \
updated_at = CASE WHEN r.value IS NULL THEN s.updated_at ELSE r.now END \
FROM req r WHERE s.hook_id = r.hook_id AND s.hook_id IN (SELECT id FROM hook) \
AND s.name = r.name \
RETURNING s.hook_id) \
INSERT INTO audit_log (at, actor, action, hook_id, target, secret_names, outcome, detail, \
request_id) \
SELECT r.at, r.actor, r.action, r.audit_hook_id, r.target, r.secret_names, \
CASE WHEN EXISTS (SELECT 1 FROM changed c WHERE c.hook_id = r.hook_id) THEN r.outcome END, \
r.detail, r.request_id \
FROM req r JOIN hook h ON h.id = r.hook_id ORDER BY r.hook_id \
RETURNING hook_id";

/// One request: set `name` of `hook` to `value` (None: keep it, D1), recording `event`.
struct Job {
    hook: HookId,
    name: SecretName,
    value: Option<SealedSecret>,
    event: AuditEvent,
    now: i64,
    /// `Ok(true)`: written and committed; `Ok(false)`: nothing written, run the
    /// transactional form.
    reply: oneshot::Sender<Result<bool>>,
}

/// The queue in front of the lanes. Cloning shares it.
#[derive(Debug, Clone)]
pub(super) struct SecretBatcher {
    queue: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the sealed value, even though it is ciphertext.
        f.debug_struct("Job").field("hook", &self.hook).finish()
    }
}

impl SecretBatcher {
    /// Starts `lanes` tasks, each writing one batch at a time on a connection from `pool`
    /// (two lanes let one batch execute while the other waits for its commit). The tasks
    /// end when every clone of the batcher is gone.
    pub(super) fn start(pool: PgPool, lanes: usize) -> SecretBatcher {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..lanes.max(1) {
            tokio::spawn(lane(pool.clone(), Arc::clone(&receiver)));
        }
        SecretBatcher { queue }
    }

    /// Whether [`update_one`](Self::update_one) can write this change: its audit row names
    /// the same hook (the batch tells its requests apart by that column).
    pub(super) fn accepts(hook: &HookId, event: &AuditEvent) -> bool {
        event.hook_id.as_deref() == Some(hook.as_str())
    }

    /// Queues one secret change and waits for its batch. `Ok(false)`: nothing was written.
    pub(super) async fn update_one(
        &self,
        hook: &HookId,
        name: &SecretName,
        value: Option<&SealedSecret>,
        event: &AuditEvent,
        now: i64,
    ) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            hook: hook.clone(),
            name: name.clone(),
            value: value.cloned(),
            event: event.clone(),
            now,
            reply,
        };
        self.queue
            .send(job)
            .map_err(|_| Error::Unavailable("the database writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Unavailable("the database writer has stopped".into()))?
    }
}

/// The requests one statement writes: at most [`MAX_BATCH`], at most one per hook.
#[derive(Default)]
struct Batch {
    jobs: Vec<Job>,
    hooks: HashSet<HookId>,
}

impl Batch {
    /// Adds `job`, or hands it back when the batch is full or already has its hook.
    fn add(&mut self, job: Job) -> Option<Job> {
        if self.jobs.len() >= MAX_BATCH || !self.hooks.insert(job.hook.clone()) {
            return Some(job);
        }
        self.jobs.push(job);
        None
    }
}

/// Takes the next batch: the requests held back from the last one first, else waits for
/// one request; then adds whatever else is queued. A request for a hook already in the
/// batch is held back for the next one.
async fn next_batch(
    receiver: &Mutex<mpsc::UnboundedReceiver<Job>>,
    held: &mut VecDeque<Job>,
) -> Option<Vec<Job>> {
    let mut batch = Batch::default();
    let mut later = VecDeque::new();
    for job in held.drain(..) {
        later.extend(batch.add(job));
    }
    *held = later;
    let mut receiver = if batch.jobs.is_empty() {
        let mut receiver = receiver.lock().await;
        batch.add(receiver.recv().await?);
        receiver
    } else {
        // Work is in hand: never wait for the queue, which the other lane may hold while
        // it waits for new requests (and none come while their senders wait for these).
        match receiver.try_lock() {
            Ok(receiver) => receiver,
            Err(_) => return Some(batch.jobs),
        }
    };
    while batch.jobs.len() < MAX_BATCH {
        let Ok(job) = receiver.try_recv() else { break };
        held.extend(batch.add(job));
    }
    Some(batch.jobs)
}

async fn lane(pool: PgPool, receiver: Arc<Mutex<mpsc::UnboundedReceiver<Job>>>) {
    let mut held = VecDeque::new();
    while let Some(batch) = next_batch(&receiver, &mut held).await {
        let written = write(&pool, &batch).await;
        for job in batch {
            let answer = written
                .as_ref()
                .map(|hooks| hooks.contains(job.hook.as_str()))
                .map_err(Clone::clone);
            // The caller may have gone away (its request was cancelled); the write stands.
            let _ = job.reply.send(answer);
        }
    }
}

/// One array parameter of [`UPDATE_BATCH_SQL`]: `field` of every request.
fn column<'a, T>(batch: &'a [Job], field: impl Fn(&'a Job) -> T) -> Vec<T> {
    batch.iter().map(field).collect()
}

/// Writes a batch; the hooks whose request was written. A missing secret in any request
/// is `Ok` with no hooks: nothing was written, and each caller finds out why.
async fn write(pool: &PgPool, batch: &[Job]) -> Result<HashSet<String>> {
    let mut conn = pool.acquire().await.map_err(db_error)?;
    if let [job] = batch {
        // Alone (no load): the scalar statement, whose cached plan is cheaper than the
        // array form's.
        let change = [(job.name.clone(), job.value.clone())];
        let done =
            update_in_one_statement(&mut conn, &job.hook, &change, &job.event, job.now).await?;
        return Ok(HashSet::from_iter(
            done.then(|| job.hook.as_str().to_string()),
        ));
    }
    let names = batch
        .iter()
        .map(|j| audit::names_json(&j.event))
        .collect::<Result<Vec<_>>>()?;
    let written = sqlx::query_scalar::<_, String>(UPDATE_BATCH_SQL)
        .bind(column(batch, |j| j.hook.as_str()))
        .bind(column(batch, |j| j.now))
        .bind(column(batch, |j| j.name.as_str()))
        .bind(column(batch, |j| {
            j.value.as_ref().map(SealedSecret::envelope)
        }))
        .bind(column(batch, |j| {
            j.value.as_ref().map(SealedSecret::key_id)
        }))
        .bind(column(batch, |j| j.event.at))
        .bind(column(batch, |j| j.event.actor.as_str()))
        .bind(column(batch, |j| j.event.action.as_str()))
        .bind(column(batch, |j| j.event.hook_id.as_deref()))
        .bind(column(batch, |j| j.event.target.as_deref()))
        .bind(names)
        .bind(column(batch, |j| j.event.outcome.as_str()))
        .bind(column(batch, |j| j.event.detail.as_deref()))
        .bind(column(batch, |j| j.event.request_id.as_deref()))
        .fetch_all(&mut *conn)
        .await;
    match written {
        Ok(hooks) => Ok(hooks.into_iter().collect()),
        Err(e) if is_incomplete(&e) => Ok(HashSet::new()),
        Err(e) => Err(db_error(e)),
    }
}
