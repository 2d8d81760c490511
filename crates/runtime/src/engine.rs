//! Invocations on a worker thread. Each worker keeps a warm QuickJS runtime and, while it
//! waits for work, gets the next fresh context ready (the prelude evaluated, the host
//! functions bound). An invocation takes that context, runs the hook and the event loop
//! that drives timers, outbound requests and promise jobs until the callback fires, the hook
//! runs out of work, or a limit trips. The context is thrown away after the reply is sent.
//!
//! Isolation is per context: globals, prototypes and secrets live in the context, so one
//! invocation cannot see the last one's. The runtime, which the contexts share, is replaced
//! whenever an invocation might have left something in it (a limit tripped, an engine
//! failure, promise jobs still queued) and after [`RECYCLE_AFTER`] invocations.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rquickjs::{qjs, Context, Ctx, Function, Object, Persistent, Runtime, TypedArray, Value};
use serde_json::Value as Json;
use tokio::sync::mpsc;

use crate::adapter;
use crate::alloc::new_runtime;
use crate::compile::{self, Forms};
use crate::config::{NetworkPolicy, RuntimeConfig};
use crate::host;
use crate::net::{FetchBudget, FetchResponse};
use crate::prelude::Prelude;
use crate::redact::{LogBuffer, Redactor};
use crate::types::{
    ErrorKind, HookError, HookScript, Invocation, Outcome, TriggerResult, TIMEOUT_MESSAGE,
};

/// Invocations one runtime serves before it is replaced, bounding whatever a long-lived
/// runtime accumulates (atoms, shapes, allocator fragmentation).
const RECYCLE_AFTER: u32 = 1000;

/// What a worker thread owns across invocations.
pub(crate) struct WorkerEnv {
    pub(crate) config: Arc<RuntimeConfig>,
    pub(crate) policy: Arc<NetworkPolicy>,
    pub(crate) prelude: Arc<Prelude>,
    pub(crate) tokio: tokio::runtime::Runtime,
    pub(crate) http: reqwest::Client,
}

/// A JavaScript exception, read defensively.
#[derive(Debug, Clone)]
pub(crate) struct ExceptionInfo {
    pub(crate) name: Option<String>,
    pub(crate) message: String,
    pub(crate) stack: Option<String>,
}

impl ExceptionInfo {
    pub(crate) fn plain(message: &str) -> ExceptionInfo {
        ExceptionInfo {
            name: None,
            message: message.to_string(),
            stack: None,
        }
    }

    pub(crate) fn from_value<'js>(_ctx: &Ctx<'js>, value: &Value<'js>) -> ExceptionInfo {
        if let Some(obj) = value.as_object() {
            let get = |k: &str| -> Option<String> {
                obj.get::<_, Value>(k)
                    .ok()
                    .and_then(|v| v.as_string().and_then(|s| s.to_string().ok()))
            };
            return ExceptionInfo {
                name: get("name"),
                message: get("message").unwrap_or_default(),
                stack: get("stack"),
            };
        }
        let message = if let Some(s) = value.as_string() {
            s.to_string().unwrap_or_default()
        } else if let Some(n) = value.as_number() {
            n.to_string()
        } else if let Some(b) = value.as_bool() {
            b.to_string()
        } else {
            value.type_name().to_string()
        };
        ExceptionInfo {
            name: None,
            message,
            stack: None,
        }
    }

    /// `Name: message`.
    pub(crate) fn display(&self) -> String {
        match &self.name {
            Some(n) if !n.is_empty() => format!("{n}: {}", self.message),
            _ => self.message.clone(),
        }
    }
}

/// An error the hook produced, as described by the prelude's `describeError`.
#[derive(Debug, Clone)]
pub(crate) struct JsError {
    pub(crate) name: Option<String>,
    pub(crate) message: String,
    pub(crate) stack: Option<String>,
    pub(crate) tag: Option<String>,
    pub(crate) user_message: Option<String>,
}

impl JsError {
    fn from_json(text: &str) -> JsError {
        let v: Json = serde_json::from_str(text).unwrap_or(Json::Null);
        let s = |k: &str| v.get(k).and_then(Json::as_str).map(str::to_string);
        JsError {
            name: s("name"),
            message: s("message").unwrap_or_default(),
            stack: s("stack"),
            tag: s("tag"),
            user_message: s("userMessage"),
        }
    }

    fn from_exception(info: ExceptionInfo) -> JsError {
        JsError {
            name: info.name,
            message: info.message,
            stack: info.stack,
            tag: None,
            user_message: None,
        }
    }
}

const TRIP_NONE: u8 = 0;
const TRIP_WALL: u8 = 1;
const TRIP_CPU: u8 = 2;

/// CPU time consumed by the calling thread, in nanoseconds.
#[cfg(unix)]
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_THREAD_CPUTIME_ID needs no other state.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

#[cfg(not(unix))]
fn thread_cpu_ns() -> u64 {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Shared with QuickJS's interrupt handler (which runs on the worker thread): the wall-clock
/// end, the CPU budget (the worker thread's CPU time, so waiting and other threads do not
/// count), and which one tripped. The runtime outlives invocations, so the guard is armed
/// for each one and disarmed between them (preparing a context is never interrupted).
struct Guard {
    base: Instant,
    armed: AtomicBool,
    wall_end_ns: AtomicU64,
    cpu_start_ns: AtomicU64,
    cpu_limit_ns: AtomicU64,
    tripped: AtomicU8,
}

impl Guard {
    fn new() -> Guard {
        Guard {
            base: Instant::now(),
            armed: AtomicBool::new(false),
            wall_end_ns: AtomicU64::new(0),
            cpu_start_ns: AtomicU64::new(0),
            cpu_limit_ns: AtomicU64::new(0),
            tripped: AtomicU8::new(TRIP_NONE),
        }
    }

    fn arm(&self, started: Instant, wall: Duration, cpu: Duration) {
        let wall_end = started.saturating_duration_since(self.base) + wall;
        self.wall_end_ns
            .store(wall_end.as_nanos() as u64, Ordering::Relaxed);
        self.cpu_start_ns.store(thread_cpu_ns(), Ordering::Relaxed);
        self.cpu_limit_ns
            .store(cpu.as_nanos() as u64, Ordering::Relaxed);
        self.tripped.store(TRIP_NONE, Ordering::Relaxed);
        self.armed.store(true, Ordering::Relaxed);
    }

    fn disarm(&self) {
        self.armed.store(false, Ordering::Relaxed);
    }

    /// The interrupt handler: `true` stops the running script with an uncatchable error.
    fn check(&self) -> bool {
        if !self.armed.load(Ordering::Relaxed) {
            return false;
        }
        if self.tripped.load(Ordering::Relaxed) != TRIP_NONE {
            return true;
        }
        if self.base.elapsed().as_nanos() as u64 >= self.wall_end_ns.load(Ordering::Relaxed) {
            self.tripped.store(TRIP_WALL, Ordering::Relaxed);
            return true;
        }
        let cpu_used = thread_cpu_ns().saturating_sub(self.cpu_start_ns.load(Ordering::Relaxed));
        if cpu_used >= self.cpu_limit_ns.load(Ordering::Relaxed) {
            self.tripped.store(TRIP_CPU, Ordering::Relaxed);
            return true;
        }
        false
    }

    fn tripped(&self) -> u8 {
        self.tripped.load(Ordering::Relaxed)
    }

    fn trip_wall(&self) {
        let _ = self.tripped.compare_exchange(
            TRIP_NONE,
            TRIP_WALL,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

pub(crate) type FetchMsg = (u32, Result<FetchResponse, String>);

/// Mutable state of one invocation, shared by the host functions and the event loop. Never
/// borrowed across a call into JavaScript.
pub(crate) struct InvState {
    pub(crate) logs: LogBuffer,
    pub(crate) redactor: Arc<Redactor>,
    pub(crate) settled: Option<Result<String, String>>,
    pub(crate) timers: BTreeMap<(Instant, u64), u32>,
    pub(crate) timer_keys: HashMap<u32, (Instant, u64)>,
    pub(crate) timer_seq: u64,
    pub(crate) fetches: HashMap<u32, tokio::task::JoinHandle<()>>,
    pub(crate) next_fetch: u32,
    /// The invocation's wall-clock end (outbound requests are capped by it).
    pub(crate) deadline: Instant,
    /// Set when the invocation starts: a context prepared in advance has no budget yet.
    pub(crate) budget: Option<Arc<FetchBudget>>,
    pub(crate) fetch_tx: mpsc::UnboundedSender<FetchMsg>,
}

enum LoopEnd {
    Settled,
    NoCallback,
    Tripped,
    Fatal(ExceptionInfo),
}

/// A worker's warm runtime.
struct Engine {
    rt: Runtime,
    out_of_memory: Arc<AtomicBool>,
    guard: Arc<Guard>,
    served: u32,
}

impl Engine {
    fn new(config: &RuntimeConfig) -> rquickjs::Result<Engine> {
        let (rt, out_of_memory) = new_runtime(config.memory_limit_bytes)?;
        rt.set_max_stack_size(config.stack_limit_bytes);
        let guard = Arc::new(Guard::new());
        {
            let guard = guard.clone();
            rt.set_interrupt_handler(Some(Box::new(move || guard.check())));
        }
        Ok(Engine {
            rt,
            out_of_memory,
            guard,
            served: 0,
        })
    }
}

/// A fresh context with the prelude evaluated, waiting for the one invocation it will serve.
/// Field order is drop order: the persistent handle must go before the context and runtime.
struct Prepared {
    api: Persistent<Object<'static>>,
    state: Rc<RefCell<InvState>>,
    fetch_rx: mpsc::UnboundedReceiver<FetchMsg>,
    context: Context,
}

impl Prepared {
    fn new(env: &WorkerEnv, engine: &Engine) -> rquickjs::Result<Prepared> {
        let context = Context::full(&engine.rt)?;
        let (fetch_tx, fetch_rx) = mpsc::unbounded_channel::<FetchMsg>();
        let state = Rc::new(RefCell::new(InvState {
            logs: LogBuffer::new(env.config.max_log_bytes),
            redactor: Arc::new(Redactor::new(&[])),
            settled: None,
            timers: BTreeMap::new(),
            timer_keys: HashMap::new(),
            timer_seq: 0,
            fetches: HashMap::new(),
            next_fetch: 1,
            deadline: Instant::now(),
            budget: None,
            fetch_tx,
        }));
        let api = context.with(|ctx| -> rquickjs::Result<_> {
            let host = host::build(&ctx, env, &state)?;
            // SAFETY: the prelude bytecode was produced by `compile_script` at start-up.
            let setup = unsafe { compile::run_bytecode(&ctx, &env.prelude.core) }?;
            let setup = Function::from_value(setup)?;
            let api: Object = setup.call((host,))?;
            Ok(Persistent::save(&ctx, api))
        })?;
        Ok(Prepared {
            api,
            state,
            fetch_rx,
            context,
        })
    }
}

/// One worker thread's engine: the warm runtime, the context prepared for the next
/// invocation, and the context of the last one, kept until the reply has been sent. Field
/// order is drop order: contexts before the runtime.
pub(crate) struct Worker {
    prepared: Option<Prepared>,
    used: Option<Prepared>,
    engine: Option<Engine>,
    /// The runtime must be replaced before it serves again.
    recycle: bool,
}

impl Worker {
    pub(crate) fn new() -> Worker {
        Worker {
            prepared: None,
            used: None,
            engine: None,
            recycle: false,
        }
    }

    /// Gets a context ready for the next invocation. Called while the worker is idle, so a
    /// request that finds it idle does not wait for this.
    pub(crate) fn warm(&mut self, env: &WorkerEnv) -> Result<(), HookError> {
        if self.prepared.is_some() {
            return Ok(());
        }
        if self.engine.is_none() {
            let engine = Engine::new(&env.config)
                .map_err(|e| internal(format!("creating the engine: {e}")))?;
            self.engine = Some(engine);
        }
        let Some(engine) = self.engine.as_ref() else {
            return Err(internal("the engine is missing"));
        };
        match Prepared::new(env, engine) {
            Ok(p) => {
                self.prepared = Some(p);
                Ok(())
            }
            Err(e) => {
                // Most likely the heap limit is too small for the prelude; start afresh.
                self.engine = None;
                Err(internal(format!("creating the context: {e}")))
            }
        }
    }

    /// Runs one invocation to its end. Never panics on hook behaviour.
    pub(crate) fn execute(&mut self, env: &WorkerEnv, inv: Invocation) -> Outcome {
        let started = Instant::now();
        let fail = |e: HookError| Outcome {
            result: Err(e),
            logs: Vec::new(),
            logs_truncated: false,
            duration: started.elapsed(),
        };
        if let Err(e) = self.warm(env) {
            return fail(e);
        }
        let (Some(prepared), Some(engine)) = (self.prepared.take(), self.engine.as_mut()) else {
            return fail(internal("the engine is missing"));
        };
        engine.served += 1;
        {
            let mut st = prepared.state.borrow_mut();
            st.redactor = Arc::new(Redactor::new(&inv.secrets));
            st.deadline = started + env.config.wall_deadline;
            st.budget = Some(Arc::new(FetchBudget::new(&env.policy, st.redactor.clone())));
        }
        engine.out_of_memory.store(false, Ordering::Relaxed);
        engine
            .guard
            .arm(started, env.config.wall_deadline, env.config.cpu_deadline);
        let mut prepared = prepared;
        let result = run(env, engine, &mut prepared, &inv, started);
        engine.guard.disarm();

        // Anything unusual may have left state in the runtime (or a half-finished job).
        self.recycle |= engine.guard.tripped() != TRIP_NONE
            || engine.out_of_memory.load(Ordering::Relaxed)
            || engine.served >= RECYCLE_AFTER
            || matches!(
                &result,
                Err(e) if matches!(e.kind, ErrorKind::Internal | ErrorKind::StackOverflow | ErrorKind::MemoryLimit)
            );

        let mut st = prepared.state.borrow_mut();
        if !st.fetches.is_empty() {
            for (_, handle) in st.fetches.drain() {
                handle.abort();
            }
            // Let the I/O runtime drop the cancelled requests (and close their connections) now.
            env.tokio.block_on(tokio::task::yield_now());
        }
        let result = result.map_err(|mut e| {
            e.message = st.redactor.redact(&e.message);
            if let ErrorKind::PreUserRegistration {
                user_message: Some(m),
            } = &mut e.kind
            {
                *m = st.redactor.redact(m);
            }
            e.stack = e.stack.as_deref().map(|s| st.redactor.redact(s));
            e
        });
        let outcome = Outcome {
            result,
            logs: std::mem::take(&mut st.logs.lines),
            logs_truncated: st.logs.truncated,
            duration: started.elapsed(),
        };
        drop(st);
        self.used = Some(prepared);
        outcome
    }

    /// Throws away the last invocation's context and, when needed, the runtime. Called after
    /// the reply has been sent: freeing a context is as costly as making one.
    pub(crate) fn clean(&mut self) {
        self.used = None;
        let Some(engine) = &self.engine else { return };
        if self.recycle || engine.rt.is_job_pending() {
            self.prepared = None;
            self.engine = None;
            self.recycle = false;
        } else {
            engine.rt.run_gc();
        }
    }
}

fn internal(message: impl Into<String>) -> HookError {
    HookError::new(ErrorKind::Internal, message)
}

fn run(
    env: &WorkerEnv,
    engine: &Engine,
    prepared: &mut Prepared,
    inv: &Invocation,
    started: Instant,
) -> Result<TriggerResult, HookError> {
    let config = &env.config;
    let deadline = started + config.wall_deadline;
    let guard = &engine.guard;
    let state = &prepared.state;
    let trigger = inv.trigger;
    let background = adapter::is_background(trigger);
    let fetch_rx = &mut prepared.fetch_rx;
    let end = prepared.context.with(|ctx| -> Result<LoopEnd, HookError> {
        // A JavaScript failure outside the hook's own error handling.
        let engine_failure = |ctx: &Ctx<'_>, e: rquickjs::Error| -> LoopEnd {
            if guard.tripped() != TRIP_NONE {
                return LoopEnd::Tripped;
            }
            match e {
                rquickjs::Error::Exception => {
                    LoopEnd::Fatal(ExceptionInfo::from_value(ctx, &ctx.catch()))
                }
                other => LoopEnd::Fatal(ExceptionInfo::plain(&other.to_string())),
            }
        };

        let api = match prepared.api.clone().restore(&ctx) {
            Ok(api) => api,
            Err(e) => return Ok(engine_failure(&ctx, e)),
        };
        let get_fn = |name: &str| -> Result<Function, HookError> {
            api.get::<_, Function>(name)
                .map_err(|_| internal(format!("the prelude has no {name}")))
        };
        let (begin, run_fn, load_module, fire_timer, fetch_done, fail_fn) = (
            get_fn("begin")?,
            get_fn("run")?,
            get_fn("loadModule")?,
            get_fn("fireTimer")?,
            get_fn("fetchDone")?,
            get_fn("fail")?,
        );

        if let Err(e) = begin.call::<_, ()>((trigger.as_str(),)) {
            return Ok(engine_failure(&ctx, e));
        }

        // The script.
        let owned_forms;
        let forms: &Forms = match &inv.script {
            HookScript::Compiled(c) => &c.inner.forms,
            HookScript::Source(source) => match compile::compile_forms(&ctx, source) {
                Ok(f) => {
                    owned_forms = f;
                    &owned_forms
                }
                Err(e) => {
                    if guard.tripped() != TRIP_NONE {
                        return Ok(LoopEnd::Tripped);
                    }
                    let mut err = HookError::new(
                        ErrorKind::Compile,
                        format!("Unable to compile the extensibility code as javascript: {e}"),
                    );
                    err.name = Some("SyntaxError".into());
                    return Err(err);
                }
            },
        };
        let is_settled = || state.borrow().settled.is_some();
        let mut hook_fn: Option<Function> = None;
        if let Some(bytecode) = &forms.module {
            // SAFETY: module bytecode comes from `compile_script` (via `compile`).
            let wrapper = match unsafe { compile::run_bytecode(&ctx, bytecode) } {
                Ok(w) => w,
                Err(e) => return Ok(engine_failure(&ctx, e)),
            };
            let exports: Value = match load_module.call((wrapper,)) {
                Ok(v) => v,
                Err(e) => return Ok(engine_failure(&ctx, e)),
            };
            hook_fn = exports.into_function();
        }
        if hook_fn.is_none() && !is_settled() {
            if let Some(bytecode) = &forms.expr {
                // SAFETY: as above.
                match unsafe { compile::run_bytecode(&ctx, bytecode) } {
                    Ok(v) => hook_fn = v.into_function(),
                    Err(rquickjs::Error::Exception) if guard.tripped() == TRIP_NONE => {
                        let exc = ctx.catch();
                        if let Err(e) = fail_fn.call::<_, ()>((exc,)) {
                            return Ok(engine_failure(&ctx, e));
                        }
                    }
                    Err(e) => return Ok(engine_failure(&ctx, e)),
                }
            }
        }
        if let Some(hook_fn) = hook_fn {
            let payload_text = serde_json::to_string(&inv.payload)
                .map_err(|e| internal(format!("serialising the payload: {e}")))?;
            let setup_args = (|| -> rquickjs::Result<_> {
                let payload = ctx.json_parse(payload_text)?;
                let secrets = Object::new(ctx.clone())?;
                for (name, value) in &inv.secrets {
                    match value {
                        Some(v) => secrets.set(name.as_str(), v.expose())?,
                        None => secrets.set(name.as_str(), Value::new_undefined(ctx.clone()))?,
                    }
                }
                let as_js = |m: &serde_json::Map<String, Json>| {
                    ctx.json_parse(serde_json::to_string(m).unwrap_or_else(|_| "{}".into()))
                };
                Ok((
                    hook_fn,
                    payload,
                    secrets,
                    as_js(&inv.meta)?,
                    as_js(&inv.headers)?,
                    as_js(&inv.query)?,
                ))
            })();
            let args = match setup_args {
                Ok(a) => a,
                Err(e) => return Ok(engine_failure(&ctx, e)),
            };
            if let Err(e) = run_fn.call::<_, ()>(args) {
                return Ok(engine_failure(&ctx, e));
            }
        } else if !is_settled() {
            let mut err = HookError::new(
                ErrorKind::Compile,
                "The hook script must export a function: module.exports = function (...) { ... }",
            );
            err.name = Some("TypeError".into());
            return Err(err);
        }

        Ok(event_loop(
            &ctx,
            env,
            state,
            guard,
            &fire_timer,
            &fetch_done,
            fetch_rx,
            deadline,
            background,
        ))
    });

    let end = end?;
    let result = outcome_of(end, state, guard, trigger, config);
    // QuickJS reports running out of memory as an ordinary (sometimes `null`) exception;
    // the allocator knows for sure.
    match result {
        Err(e)
            if engine.out_of_memory.load(Ordering::Relaxed)
                && !matches!(e.kind, ErrorKind::Timeout | ErrorKind::CpuTimeLimit) =>
        {
            let mut oom = finish_error(HookError::new(ErrorKind::MemoryLimit, ""), config);
            oom.name = Some("InternalError".into());
            oom.stack = e.stack;
            Err(oom)
        }
        other => other,
    }
}

fn outcome_of(
    end: LoopEnd,
    state: &Rc<RefCell<InvState>>,
    guard: &Guard,
    trigger: hookhaven_core::TriggerId,
    config: &RuntimeConfig,
) -> Result<TriggerResult, HookError> {
    let settled = state.borrow_mut().settled.take();
    if let Some(settlement) = settled {
        return match settlement {
            Ok(text) => {
                let value = if text.is_empty() {
                    None
                } else {
                    Some(serde_json::from_str(&text).map_err(|e| {
                        HookError::new(
                            ErrorKind::InvalidResult,
                            format!("The hook result is not valid JSON: {e}"),
                        )
                    })?)
                };
                adapter::map_result(trigger, value)
            }
            Err(text) => Err(finish_error(
                adapter::map_error(trigger, JsError::from_json(&text)),
                config,
            )),
        };
    }
    Err(match end {
        LoopEnd::Settled => internal("the hook settled without a result"),
        LoopEnd::NoCallback => HookError::new(
            ErrorKind::NoCallback,
            "The hook finished without calling the callback: call cb(error, result) exactly once",
        ),
        LoopEnd::Tripped => tripped_error(guard, config),
        LoopEnd::Fatal(info) => {
            let js = JsError::from_exception(info);
            match adapter::classify_engine_error(&js.message) {
                Some(_) => finish_error(adapter::map_error(trigger, js), config),
                None => {
                    let mut e = internal(format!(
                        "The hook runtime failed: {}",
                        ExceptionInfo {
                            name: js.name.clone(),
                            message: js.message.clone(),
                            stack: None
                        }
                        .display()
                    ));
                    e.stack = js.stack;
                    e
                }
            }
        }
    })
}

/// Gives limit errors a message that says which limit.
fn finish_error(mut e: HookError, config: &RuntimeConfig) -> HookError {
    match e.kind {
        ErrorKind::MemoryLimit => {
            e.message = format!(
                "The hook exceeded its memory limit of {} MiB",
                config.memory_limit_bytes / (1024 * 1024)
            );
        }
        ErrorKind::StackOverflow => {
            e.message = format!(
                "The hook exceeded its stack limit ({}): {}",
                config.stack_limit_bytes, e.message
            );
        }
        _ => {}
    }
    e
}

fn tripped_error(guard: &Guard, config: &RuntimeConfig) -> HookError {
    if guard.tripped() == TRIP_CPU {
        HookError::new(
            ErrorKind::CpuTimeLimit,
            format!(
                "The hook exceeded its CPU time limit of {} ms",
                config.cpu_deadline.as_millis()
            ),
        )
    } else {
        HookError::new(ErrorKind::Timeout, TIMEOUT_MESSAGE)
    }
}

enum Job {
    None,
    Ran,
    Threw(ExceptionInfo),
}

/// Runs one pending promise job, keeping its exception (rquickjs's helper drops it).
fn run_job(ctx: &Ctx<'_>) -> Job {
    let mut job_ctx = std::ptr::null_mut();
    // SAFETY: the runtime belongs to `ctx`, which is alive and locked by `Context::with`.
    let r = unsafe {
        qjs::JS_ExecutePendingJob(qjs::JS_GetRuntime(ctx.as_raw().as_ptr()), &mut job_ctx)
    };
    match r {
        0 => Job::None,
        r if r > 0 => Job::Ran,
        // One context per runtime: the job ran in `ctx`.
        _ => Job::Threw(ExceptionInfo::from_value(ctx, &ctx.catch())),
    }
}

#[allow(clippy::too_many_arguments)]
fn event_loop<'js>(
    ctx: &Ctx<'js>,
    env: &WorkerEnv,
    state: &Rc<RefCell<InvState>>,
    guard: &Guard,
    fire_timer: &Function<'js>,
    fetch_done: &Function<'js>,
    fetch_rx: &mut mpsc::UnboundedReceiver<FetchMsg>,
    deadline: Instant,
    background: bool,
) -> LoopEnd {
    let mut grace_end: Option<Instant> = None;
    let failure = |e: rquickjs::Error| -> LoopEnd {
        if guard.tripped() != TRIP_NONE {
            return LoopEnd::Tripped;
        }
        match e {
            rquickjs::Error::Exception => {
                LoopEnd::Fatal(ExceptionInfo::from_value(ctx, &ctx.catch()))
            }
            other => LoopEnd::Fatal(ExceptionInfo::plain(&other.to_string())),
        }
    };
    loop {
        loop {
            match run_job(ctx) {
                Job::None => break,
                Job::Ran => {}
                Job::Threw(info) => {
                    if guard.tripped() != TRIP_NONE {
                        return LoopEnd::Tripped;
                    }
                    if state.borrow().settled.is_none() {
                        return LoopEnd::Fatal(info);
                    }
                }
            }
            if guard.tripped() != TRIP_NONE {
                return LoopEnd::Tripped;
            }
        }
        let settled = state.borrow().settled.is_some();
        if settled {
            if !background {
                return LoopEnd::Settled;
            }
            let end = *grace_end.get_or_insert_with(|| {
                (Instant::now() + env.config.background_grace).min(deadline)
            });
            if Instant::now() >= end {
                return LoopEnd::Settled;
            }
        }
        let (next_timer, has_fetch) = {
            let st = state.borrow();
            (st.timers.keys().next().map(|k| k.0), !st.fetches.is_empty())
        };
        if next_timer.is_none() && !has_fetch {
            return if settled {
                LoopEnd::Settled
            } else {
                LoopEnd::NoCallback
            };
        }
        let mut wake = deadline;
        if let Some(t) = next_timer {
            wake = wake.min(t);
        }
        if let Some(g) = grace_end {
            wake = wake.min(g);
        }
        let first = if wake > Instant::now() {
            env.tokio.block_on(async {
                tokio::select! {
                    m = fetch_rx.recv() => m,
                    _ = tokio::time::sleep_until(wake.into()) => None,
                }
            })
        } else {
            fetch_rx.try_recv().ok()
        };
        if Instant::now() >= deadline {
            if settled {
                return LoopEnd::Settled;
            }
            guard.trip_wall();
            return LoopEnd::Tripped;
        }
        let mut messages: Vec<FetchMsg> = first.into_iter().collect();
        while let Ok(m) = fetch_rx.try_recv() {
            messages.push(m);
        }
        for (id, result) in messages {
            if state.borrow_mut().fetches.remove(&id).is_none() {
                continue; // aborted by the hook
            }
            if let Err(e) = deliver_fetch(ctx, fetch_done, id, result) {
                return failure(e);
            }
        }
        let now = Instant::now();
        loop {
            let due = {
                let mut st = state.borrow_mut();
                match st.timers.first_key_value() {
                    Some((key, _)) if key.0 <= now => {
                        let key = *key;
                        let id = st.timers.remove(&key).unwrap_or_default();
                        st.timer_keys.remove(&id);
                        Some(id)
                    }
                    _ => None,
                }
            };
            let Some(id) = due else { break };
            if let Err(e) = fire_timer.call::<_, ()>((id,)) {
                return failure(e);
            }
            if guard.tripped() != TRIP_NONE {
                return LoopEnd::Tripped;
            }
        }
    }
}

fn deliver_fetch<'js>(
    ctx: &Ctx<'js>,
    fetch_done: &Function<'js>,
    id: u32,
    result: Result<FetchResponse, String>,
) -> rquickjs::Result<()> {
    match result {
        Ok(resp) => {
            let meta = Object::new(ctx.clone())?;
            meta.set("status", resp.status)?;
            meta.set("statusText", resp.status_text)?;
            meta.set(
                "headers",
                serde_json::to_string(&resp.headers).unwrap_or_else(|_| "[]".into()),
            )?;
            meta.set("url", resp.url)?;
            meta.set("redirected", resp.redirected)?;
            let body = TypedArray::<u8>::new(ctx.clone(), resp.body)?;
            fetch_done.call((id, Value::new_undefined(ctx.clone()), meta, body))
        }
        Err(message) => fetch_done.call((id, message)),
    }
}
