//! The hook runtime: Auth0-compatible Hooks run in a sandboxed JavaScript engine
//! (QuickJS-ng through `rquickjs`) embedded in the binary.
//!
//! # Using it
//!
//! ```no_run
//! # async fn demo() {
//! use hookhaven_core::{SecretValue, TriggerId};
//! use hookhaven_runtime::{HookRuntime, Invocation, RuntimeConfig, TriggerResult};
//!
//! // One runtime for the process; clones share the worker pool.
//! let runtime = HookRuntime::new(RuntimeConfig::default());
//!
//! // At save time: compile, reject with the error's line and column, show the warnings.
//! let script = r#"module.exports = function (client, scope, audience, context, cb) {
//!     cb(null, { scope: scope, 'https://example.com/plan': context.webtask.secrets.PLAN });
//! };"#;
//! let compiled = match runtime.compile(script) {
//!     Ok(c) => c,
//!     Err(e) => panic!("invalid_body: {e}"), // "SyntaxError: … (line 3, column 5)"
//! };
//! for w in compiled.warnings() { println!("warning: {w}"); }
//!
//! // At run time (inside /oauth/token): never blocks the async worker.
//! let payload = hookhaven_runtime::sample_payload(TriggerId::CredentialsExchange);
//! let secret = SecretValue::new("gold".into()).unwrap();
//! let outcome = runtime
//!     .invoke(
//!         Invocation::new(TriggerId::CredentialsExchange, compiled.clone(), payload)
//!             .with_secrets(vec![("PLAN".into(), Some(secret))]),
//!     )
//!     .await;
//! match outcome.result {
//!     Ok(TriggerResult::CredentialsExchange { scope, claims }) => { /* add to the token */ }
//!     Ok(_) => unreachable!(),
//!     Err(e) => { /* e.status, e.oauth_body() */ }
//! }
//! # }
//! ```
//!
//! * [`HookRuntime::compile`] parses a script into bytecode ([`Compiled`]) or returns a
//!   [`CompileError`] with `line` and `column` in the saved script. Its warnings list
//!   `require`s of modules Hookhaven does not provide (the save still succeeds). It runs on
//!   the calling thread: about 0.1 ms for a typical hook, 10 ms per 100 kB of script (release
//!   build), so call it through `tokio::task::spawn_blocking` from async code if scripts may
//!   be large.
//! * [`HookRuntime::invoke`] queues an [`Invocation`] for the worker pool and awaits its
//!   [`Outcome`]: a [`TriggerResult`] already filtered the way Auth0 applied it, or a
//!   [`HookError`] whose `status` and `code` are what Auth0 answered; plus the captured
//!   console output (redacted, capped) and the duration.
//! * [`HookRuntime::spawn_background`] runs the post-* triggers off the request path and logs
//!   their failures (with `tracing`, never with secret values).
//! * [`sample_payload`] gives the Runner's sample body per trigger.
//!
//! # The contract (see also `docs/hooks.md`)
//!
//! Both script forms are accepted: `module.exports = function (...) {...}` (a CommonJS body,
//! `require`, `module` and `exports` in scope) and a bare `function (...) {...}`. The callback
//! resolves on the **first** `cb(err, result)`; later calls are ignored. A throw, a returned
//! promise that rejects, or an exception in a timer counts as `cb(err)`. A hook that has
//! nothing left to do (no timers, no requests in flight) without having called `cb` fails at
//! once with [`ErrorKind::NoCallback`].
//!
//! `context.webtask` holds `secrets` (that hook's decrypted secrets and nothing else; a
//! secret without a value is `undefined`), `meta`, `headers`, `query`, `body` (the payload),
//! plus the deprecated `params` and `data` and a `storage` stub that fails.
//!
//! | trigger | arguments | result | error classes |
//! |---|---|---|---|
//! | credentials-exchange | `(client, scope, audience, context, cb)` | `scope` + namespaced claims | `InvalidScopeError`/`InvalidRequestError` → 400, `ServerError`/`Error` → 500 |
//! | pre-user-registration | `(user, context, cb)` | `user.user_metadata`, `user.app_metadata` | `PreUserRegistrationError(logMessage, userMessage)` → 400 |
//! | post-user-registration, post-change-password | `(user, context, cb)` | ignored (background) | any → logged |
//! | send-phone-message | `(recipient, text, context, cb)` | any JSON | any → 500 |
//!
//! # Isolation and limits
//!
//! Every invocation gets a fresh QuickJS context on one of [`RuntimeConfig::workers`]
//! threads, so nothing from one call (globals, prototypes, secrets) reaches the next. Each
//! worker keeps its QuickJS runtime warm and prepares the next context while idle; the
//! runtime is replaced after any invocation that tripped a limit or failed inside the
//! engine, and every 1,000 invocations. Limits ([`RuntimeConfig`]): wall-clock deadline (20 s), CPU
//! deadline through the interrupt handler (5 s), heap (64 MiB), stack (1 MiB), console
//! output (16 KiB), pending timers, and a watchdog: a worker stuck past the deadline in a
//! builtin that ignores the interrupt handler is abandoned, the caller gets
//! [`ErrorKind::Timeout`], and a new worker takes its place (the stuck thread exits when the
//! builtin returns).
//!
//! There is no filesystem, process, `std`/`os` module or raw socket. Outbound HTTP goes only
//! through `fetch` (and the `request`, `axios` and `node-fetch` shims over it), which Rust
//! performs under [`NetworkPolicy`]: host allow-list, HTTPS only unless http is allowed for
//! the host, private/loopback/link-local/metadata addresses refused after DNS with the
//! connection pinned to the checked address, every redirect hop re-checked, timeouts capped
//! by the hook's remaining time, and caps on subrequests and body sizes. Hosts, status and
//! timing are logged (`tracing` target `hookhaven_runtime::fetch`); bodies and headers never.
//!
//! Secret values exist on the Rust side only inside [`SecretValue`](hookhaven_core::SecretValue).
//! Every non-empty secret value of the hook is replaced by `[REDACTED]` in the captured
//! console output and in error messages and stacks before they leave this crate. The hook's
//! *result* is not redacted: putting a secret into a claim is the hook author's choice.

mod adapter;
mod alloc;
mod compile;
mod config;
mod engine;
mod host;
mod net;
mod pool;
mod prelude;
mod redact;
mod types;

use std::sync::atomic::Ordering;
use std::sync::mpsc::TrySendError;
use std::sync::Arc;
use std::time::Instant;

use rquickjs::{Context, Runtime};
use tokio::sync::oneshot;

pub use adapter::{is_background, is_namespaced_claim, sample_payload};
pub use compile::{CompileError, CompileWarning, Compiled, SUPPORTED_MODULES};
pub use config::{NetworkPolicy, RuntimeConfig};
pub use types::{
    ErrorKind, HookError, HookScript, Invocation, Outcome, TriggerResult, TIMEOUT_MESSAGE,
};

/// The worker pool and its configuration. Cheap to clone; clones share the pool. The
/// workers stop when the last clone is dropped.
#[derive(Clone)]
pub struct HookRuntime {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<pool::Shared>,
    tx: pool::Sender,
}

/// A snapshot of the pool, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Configured number of workers (abandoned workers are replaced, so this stays).
    pub workers: usize,
    /// Workers running an invocation now.
    pub busy: usize,
    /// Invocations waiting for a worker.
    pub queued: usize,
    /// Abandoned workers still stuck in a builtin.
    pub abandoned_running: usize,
    /// Workers replaced so far (watchdog or panic).
    pub replaced: u64,
}

impl std::fmt::Debug for HookRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HookRuntime")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl HookRuntime {
    /// Starts the worker threads. Panics only if the OS refuses to start a thread.
    pub fn new(config: RuntimeConfig) -> HookRuntime {
        let mut config = config;
        config.workers = config.workers.max(1);
        config.max_queue = config.max_queue.max(1);
        let prelude = prelude::Prelude::compile();
        let (tx, rx) = std::sync::mpsc::sync_channel(config.max_queue);
        let shared = Arc::new(pool::Shared::new(Arc::new(config), Arc::new(prelude), rx));
        for _ in 0..shared.config.workers {
            pool::spawn_worker(&shared);
        }
        HookRuntime {
            inner: Arc::new(Inner { shared, tx }),
        }
    }

    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.shared.config
    }

    pub fn stats(&self) -> RuntimeStats {
        let s = &self.inner.shared;
        RuntimeStats {
            workers: s.config.workers,
            busy: s.busy.load(Ordering::SeqCst),
            queued: s.queued.load(Ordering::SeqCst),
            abandoned_running: s.abandoned_running.load(Ordering::SeqCst),
            replaced: s.replaced.load(Ordering::SeqCst),
        }
    }

    /// Compiles a hook script (both accepted forms) to bytecode. Call it when a hook is
    /// created or its script changes: an error means the script must be rejected
    /// (`invalid_body`, quoting the error, which carries line and column); warnings are
    /// returned with the success.
    pub fn compile(&self, script: &str) -> Result<Compiled, CompileError> {
        let limit = self.inner.shared.config.max_script_bytes;
        if script.len() > limit {
            return Err(CompileError {
                line: 0,
                column: 0,
                message: format!(
                    "The script is {} bytes; the limit is {limit} bytes",
                    script.len()
                ),
            });
        }
        let forms = with_scratch_context(self.inner.shared.config.memory_limit_bytes, |ctx| {
            compile::compile_forms(ctx, script)
        })??;
        Ok(Compiled {
            inner: Arc::new(compile::CompiledInner {
                forms,
                warnings: compile::require_warnings(script),
            }),
        })
    }

    /// Runs a hook on the worker pool. The future only waits (it never blocks the thread);
    /// dropping it abandons the result, not the execution.
    pub async fn invoke(&self, invocation: Invocation) -> Outcome {
        let begun = Instant::now();
        let shared = &self.inner.shared;
        if let Err(message) = adapter::check_payload(invocation.trigger, &invocation.payload) {
            return failed(HookError::new(ErrorKind::InvalidPayload, message), begun);
        }
        let state = Arc::new(pool::JobState::new());
        let (started_tx, mut started_rx) = oneshot::channel();
        let (reply_tx, mut reply_rx) = oneshot::channel();
        let job = pool::Job {
            invocation,
            state: state.clone(),
            started: started_tx,
            reply: reply_tx,
        };
        shared.queued.fetch_add(1, Ordering::SeqCst);
        match self.inner.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                shared.queued.fetch_sub(1, Ordering::SeqCst);
                return failed(
                    HookError::new(ErrorKind::Busy, "The hook runtime is busy; try again later"),
                    begun,
                );
            }
            Err(TrySendError::Disconnected(_)) => {
                shared.queued.fetch_sub(1, Ordering::SeqCst);
                return failed(
                    HookError::new(ErrorKind::Internal, "The hook runtime has stopped"),
                    begun,
                );
            }
        }
        match tokio::time::timeout(shared.config.queue_timeout, &mut started_rx).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                return failed(
                    HookError::new(ErrorKind::Internal, "The hook runtime has stopped"),
                    begun,
                )
            }
            Err(_) => {
                if state.transition(pool::QUEUED, pool::ABANDONED) {
                    return failed(
                        HookError::new(
                            ErrorKind::Busy,
                            "The hook runtime is busy; no worker became free in time",
                        ),
                        begun,
                    );
                }
                // A worker took it just now.
                let _ = started_rx.await;
            }
        }
        let limit = shared.config.wall_deadline + shared.config.watchdog_grace;
        match tokio::time::timeout(limit, &mut reply_rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => failed(
                HookError::new(ErrorKind::Internal, "The hook runtime failed unexpectedly"),
                begun,
            ),
            Err(_) => {
                if state.transition(pool::RUNNING, pool::ABANDONED) {
                    shared.abandoned_running.fetch_add(1, Ordering::SeqCst);
                    shared.replaced.fetch_add(1, Ordering::SeqCst);
                    pool::spawn_worker(shared);
                    tracing::warn!(
                        "hook worker stuck past its deadline (non-interruptible builtin); \
                         abandoned and replaced"
                    );
                    failed(HookError::new(ErrorKind::Timeout, TIMEOUT_MESSAGE), begun)
                } else {
                    reply_rx.await.unwrap_or_else(|_| {
                        failed(
                            HookError::new(
                                ErrorKind::Internal,
                                "The hook runtime failed unexpectedly",
                            ),
                            begun,
                        )
                    })
                }
            }
        }
    }

    /// Runs a background trigger (post-user-registration, post-change-password) on the
    /// current tokio runtime without the caller waiting: failures are logged with
    /// `tracing` (kind, status and the redacted message). The handle yields the outcome for
    /// callers that want it (tests, the runner).
    pub fn spawn_background(&self, invocation: Invocation) -> tokio::task::JoinHandle<Outcome> {
        let runtime = self.clone();
        tokio::spawn(async move {
            let trigger = invocation.trigger;
            let outcome = runtime.invoke(invocation).await;
            if let Err(e) = &outcome.result {
                tracing::warn!(
                    trigger = trigger.as_str(),
                    kind = ?e.kind,
                    status = e.status,
                    "background hook failed: {}",
                    e.message
                );
            }
            outcome
        })
    }
}

fn failed(error: HookError, begun: Instant) -> Outcome {
    Outcome {
        result: Err(error),
        logs: Vec::new(),
        logs_truncated: false,
        duration: begun.elapsed(),
    }
}

/// A throwaway engine on the calling thread, for compiling.
pub(crate) fn with_scratch_context<R>(
    memory_limit: usize,
    f: impl FnOnce(&rquickjs::Ctx<'_>) -> R,
) -> Result<R, CompileError> {
    let engine_error = |e: rquickjs::Error| CompileError {
        line: 0,
        column: 0,
        message: format!("The script could not be compiled: {e}"),
    };
    let rt = Runtime::new().map_err(engine_error)?;
    rt.set_memory_limit(memory_limit);
    rt.set_max_stack_size(256 * 1024);
    let ctx = Context::full(&rt).map_err(engine_error)?;
    Ok(ctx.with(|ctx| f(&ctx)))
}
