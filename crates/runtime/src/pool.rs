//! The worker pool: OS threads that each run one invocation at a time, a bounded queue,
//! and the watchdog's replacement of workers stuck in non-interruptible builtins.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::config::{NetworkPolicy, RuntimeConfig};
use crate::engine::{Worker, WorkerEnv};
use crate::prelude::Prelude;
use crate::types::{ErrorKind, HookError, Invocation, Outcome};

pub(crate) const QUEUED: u8 = 0;
pub(crate) const RUNNING: u8 = 1;
pub(crate) const DONE: u8 = 2;
pub(crate) const ABANDONED: u8 = 3;

/// Who owns a job: the queue, a worker, or nobody (the caller gave up on it).
pub(crate) struct JobState(AtomicU8);

impl JobState {
    pub(crate) fn new() -> JobState {
        JobState(AtomicU8::new(QUEUED))
    }

    pub(crate) fn transition(&self, from: u8, to: u8) -> bool {
        self.0
            .compare_exchange(from, to, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

pub(crate) struct Job {
    pub(crate) invocation: Invocation,
    pub(crate) state: Arc<JobState>,
    pub(crate) started: oneshot::Sender<()>,
    pub(crate) reply: oneshot::Sender<Outcome>,
}

pub(crate) struct Shared {
    pub(crate) config: Arc<RuntimeConfig>,
    pub(crate) policy: Arc<NetworkPolicy>,
    pub(crate) prelude: Arc<Prelude>,
    pub(crate) rx: Mutex<Receiver<Job>>,
    next_worker: AtomicUsize,
    pub(crate) queued: AtomicUsize,
    pub(crate) busy: AtomicUsize,
    pub(crate) abandoned_running: AtomicUsize,
    pub(crate) replaced: AtomicU64,
}

impl Shared {
    pub(crate) fn new(
        config: Arc<RuntimeConfig>,
        prelude: Arc<Prelude>,
        rx: Receiver<Job>,
    ) -> Shared {
        Shared {
            policy: Arc::new(config.network.clone()),
            config,
            prelude,
            rx: Mutex::new(rx),
            next_worker: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
            busy: AtomicUsize::new(0),
            abandoned_running: AtomicUsize::new(0),
            replaced: AtomicU64::new(0),
        }
    }
}

pub(crate) type Sender = SyncSender<Job>;

/// Starts one worker thread.
pub(crate) fn spawn_worker(shared: &Arc<Shared>) {
    let n = shared.next_worker.fetch_add(1, Ordering::SeqCst);
    let stack = shared
        .config
        .stack_limit_bytes
        .saturating_mul(2)
        .saturating_add(8 * 1024 * 1024);
    let shared = shared.clone();
    std::thread::Builder::new()
        .name(format!("hookhaven-hook-{n}"))
        .stack_size(stack)
        .spawn(move || worker_main(shared))
        .expect("spawning a hook worker thread");
}

fn worker_main(shared: Arc<Shared>) {
    let tokio = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("hook worker could not start its I/O runtime: {e}");
            return;
        }
    };
    let env = WorkerEnv {
        config: shared.config.clone(),
        policy: shared.policy.clone(),
        prelude: shared.prelude.clone(),
        http: crate::net::build_client(&shared.policy),
        tokio,
    };
    let mut worker = Worker::new();
    loop {
        // Get the next context ready before waiting, so a request that finds this worker
        // idle does not pay for it. A failure here is reported by the invocation itself.
        let _ = worker.warm(&env);
        let job = {
            let rx = shared.rx.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return, // the runtime was dropped
            }
        };
        shared.queued.fetch_sub(1, Ordering::SeqCst);
        if !job.state.transition(QUEUED, RUNNING) {
            continue; // the caller stopped waiting while it was queued
        }
        let _ = job.started.send(());
        shared.busy.fetch_add(1, Ordering::SeqCst);
        let trigger = job.invocation.trigger;
        let outcome = catch_unwind(AssertUnwindSafe(|| worker.execute(&env, job.invocation)));
        shared.busy.fetch_sub(1, Ordering::SeqCst);
        let abandoned = !job.state.transition(RUNNING, DONE);
        match outcome {
            Ok(outcome) => {
                let _ = job.reply.send(outcome);
                worker.clean();
            }
            Err(_) => {
                tracing::error!(
                    trigger = trigger.as_str(),
                    "hook worker panicked; replacing it"
                );
                let _ = job.reply.send(Outcome {
                    result: Err(HookError::new(
                        ErrorKind::Internal,
                        "The hook runtime failed unexpectedly",
                    )),
                    logs: Vec::new(),
                    logs_truncated: false,
                    duration: Duration::ZERO,
                });
                if !abandoned {
                    spawn_worker(&shared);
                    shared.replaced.fetch_add(1, Ordering::SeqCst);
                }
                if abandoned {
                    shared.abandoned_running.fetch_sub(1, Ordering::SeqCst);
                }
                return;
            }
        }
        if abandoned {
            // The watchdog already started a replacement; this thread's job is over.
            shared.abandoned_running.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(
                trigger = trigger.as_str(),
                "abandoned hook worker finished late and exits"
            );
            return;
        }
    }
}
