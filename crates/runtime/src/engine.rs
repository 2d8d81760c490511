//! One invocation on a worker thread: a fresh QuickJS runtime and context, the host
//! functions, the hook, and the event loop that drives timers, outbound requests and promise
//! jobs until the callback fires, the hook runs out of work, or a limit trips.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rquickjs::function::Opt;
use rquickjs::{qjs, Context, Ctx, Exception, Function, Object, Runtime, TypedArray, Value};
use serde_json::Value as Json;
use tokio::sync::mpsc;

use crate::adapter;
use crate::compile::{self, Forms};
use crate::config::{NetworkPolicy, RuntimeConfig};
use crate::net::{self, FetchBudget, FetchRequest, FetchResponse, RedirectMode};
use crate::redact::{LogBuffer, Redactor};
use crate::types::{
    ErrorKind, HookError, HookScript, Invocation, Outcome, TriggerResult, TIMEOUT_MESSAGE,
};

/// What a worker thread owns across invocations.
pub(crate) struct WorkerEnv {
    pub(crate) config: Arc<RuntimeConfig>,
    pub(crate) policy: Arc<NetworkPolicy>,
    pub(crate) prelude: Arc<Vec<u8>>,
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
/// count), and which one tripped.
struct Guard {
    epoch: Instant,
    wall_end_ns: u64,
    cpu_start_ns: u64,
    cpu_limit_ns: u64,
    tripped: AtomicU8,
}

impl Guard {
    fn new(epoch: Instant, wall: Duration, cpu: Duration) -> Guard {
        Guard {
            epoch,
            wall_end_ns: wall.as_nanos() as u64,
            cpu_start_ns: thread_cpu_ns(),
            cpu_limit_ns: cpu.as_nanos() as u64,
            tripped: AtomicU8::new(TRIP_NONE),
        }
    }

    /// The interrupt handler: `true` stops the running script with an uncatchable error.
    fn check(&self) -> bool {
        if self.tripped.load(Ordering::Relaxed) != TRIP_NONE {
            return true;
        }
        if self.epoch.elapsed().as_nanos() as u64 >= self.wall_end_ns {
            self.tripped.store(TRIP_WALL, Ordering::Relaxed);
            return true;
        }
        if thread_cpu_ns().saturating_sub(self.cpu_start_ns) >= self.cpu_limit_ns {
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

type FetchMsg = (u32, Result<FetchResponse, String>);

/// Mutable state of one invocation, shared by the host functions and the event loop. Never
/// borrowed across a call into JavaScript.
struct InvState {
    logs: LogBuffer,
    redactor: Arc<Redactor>,
    settled: Option<Result<String, String>>,
    timers: BTreeMap<(Instant, u64), u32>,
    timer_keys: HashMap<u32, (Instant, u64)>,
    timer_seq: u64,
    fetches: HashMap<u32, tokio::task::JoinHandle<()>>,
    next_fetch: u32,
}

enum LoopEnd {
    Settled,
    NoCallback,
    Tripped,
    Fatal(ExceptionInfo),
}

/// Runs one invocation to its end. Never panics on hook behaviour.
pub(crate) fn execute(env: &WorkerEnv, inv: Invocation) -> Outcome {
    let started = Instant::now();
    let state = Rc::new(RefCell::new(InvState {
        logs: LogBuffer::new(env.config.max_log_bytes),
        redactor: Arc::new(Redactor::new(&inv.secrets)),
        settled: None,
        timers: BTreeMap::new(),
        timer_keys: HashMap::new(),
        timer_seq: 0,
        fetches: HashMap::new(),
        next_fetch: 1,
    }));
    let result = run(env, &inv, &state, started);
    let mut st = state.borrow_mut();
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
    Outcome {
        result,
        logs: std::mem::take(&mut st.logs.lines),
        logs_truncated: st.logs.truncated,
        duration: started.elapsed(),
    }
}

fn internal(message: impl Into<String>) -> HookError {
    HookError::new(ErrorKind::Internal, message)
}

fn run(
    env: &WorkerEnv,
    inv: &Invocation,
    state: &Rc<RefCell<InvState>>,
    started: Instant,
) -> Result<TriggerResult, HookError> {
    let config = &env.config;
    let deadline = started + config.wall_deadline;
    let guard = Arc::new(Guard::new(
        started,
        config.wall_deadline,
        config.cpu_deadline,
    ));

    let (rt, out_of_memory) = new_runtime(config.memory_limit_bytes)
        .map_err(|e| internal(format!("creating the engine: {e}")))?;
    rt.set_max_stack_size(config.stack_limit_bytes);
    {
        let guard = guard.clone();
        rt.set_interrupt_handler(Some(Box::new(move || guard.check())));
    }
    let context = Context::full(&rt).map_err(|e| internal(format!("creating the context: {e}")))?;
    let (fetch_tx, mut fetch_rx) = mpsc::unbounded_channel::<FetchMsg>();
    let budget = Arc::new(FetchBudget::new(
        &env.policy,
        state.borrow().redactor.clone(),
    ));
    let trigger = inv.trigger;
    let background = adapter::is_background(trigger);

    let end = context.with(|ctx| -> Result<LoopEnd, HookError> {
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

        let host = match build_host(&ctx, env, state, deadline, fetch_tx.clone(), budget.clone()) {
            Ok(h) => h,
            Err(e) => return Ok(engine_failure(&ctx, e)),
        };
        // SAFETY: the prelude bytecode was produced by `compile_script` at start-up.
        let setup = match unsafe { compile::run_bytecode(&ctx, &env.prelude) } {
            Ok(v) => v,
            Err(e) => return Ok(engine_failure(&ctx, e)),
        };
        let Some(setup) = setup.into_function() else {
            return Err(internal("the prelude did not evaluate to a function"));
        };
        let api: Object = match setup.call((host, trigger.as_str())) {
            Ok(api) => api,
            Err(e) => return Ok(engine_failure(&ctx, e)),
        };
        let get_fn = |name: &str| -> Result<Function, HookError> {
            api.get::<_, Function>(name)
                .map_err(|_| internal(format!("the prelude has no {name}")))
        };
        let (run_fn, load_module, fire_timer, fetch_done, fail_fn) = (
            get_fn("run")?,
            get_fn("loadModule")?,
            get_fn("fireTimer")?,
            get_fn("fetchDone")?,
            get_fn("fail")?,
        );

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
            &guard,
            &fire_timer,
            &fetch_done,
            &mut fetch_rx,
            deadline,
            background,
        ))
    });

    let end = end?;
    let result = outcome_of(end, state, &guard, trigger, config);
    // QuickJS reports running out of memory as an ordinary (sometimes `null`) exception;
    // the allocator knows for sure.
    match result {
        Err(e)
            if out_of_memory.load(Ordering::Relaxed)
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

/// A runtime whose heap is capped at `limit` bytes, and a flag raised when the cap refused
/// an allocation.
#[cfg(target_os = "linux")]
fn new_runtime(limit: usize) -> rquickjs::Result<(Runtime, Arc<AtomicBool>)> {
    let flag = Arc::new(AtomicBool::new(false));
    let rt = Runtime::new_with_alloc(CappedAllocator {
        limit,
        used: 0,
        out_of_memory: flag.clone(),
    })?;
    Ok((rt, flag))
}

#[cfg(not(target_os = "linux"))]
fn new_runtime(limit: usize) -> rquickjs::Result<(Runtime, Arc<AtomicBool>)> {
    let rt = Runtime::new()?;
    rt.set_memory_limit(limit);
    Ok((rt, Arc::new(AtomicBool::new(false))))
}

/// The C allocator, counting live bytes and refusing past the limit.
#[cfg(target_os = "linux")]
struct CappedAllocator {
    limit: usize,
    used: usize,
    out_of_memory: Arc<AtomicBool>,
}

#[cfg(target_os = "linux")]
impl CappedAllocator {
    fn refuse(&self) -> *mut u8 {
        self.out_of_memory.store(true, Ordering::Relaxed);
        std::ptr::null_mut()
    }

    fn fits(&self, extra: usize) -> bool {
        self.used
            .checked_add(extra)
            .is_some_and(|n| n <= self.limit)
    }
}

// SAFETY: every pointer comes from the C allocator (`malloc`/`calloc`/`realloc`), which
// aligns to at least 16 bytes, and `usable_size` asks that allocator.
#[cfg(target_os = "linux")]
unsafe impl rquickjs::allocator::Allocator for CappedAllocator {
    fn alloc(&mut self, size: usize) -> *mut u8 {
        if !self.fits(size) {
            return self.refuse();
        }
        // SAFETY: plain C allocation.
        let ptr = unsafe { libc::malloc(size.max(1)) }.cast::<u8>();
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by malloc.
            self.used += unsafe { libc::malloc_usable_size(ptr.cast()) };
        }
        ptr
    }

    fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(total) = count.checked_mul(size) else {
            return self.refuse();
        };
        if !self.fits(total) {
            return self.refuse();
        }
        // SAFETY: plain C allocation.
        let ptr = unsafe { libc::calloc(count.max(1), size.max(1)) }.cast::<u8>();
        if !ptr.is_null() {
            // SAFETY: `ptr` was just returned by calloc.
            self.used += unsafe { libc::malloc_usable_size(ptr.cast()) };
        }
        ptr
    }

    unsafe fn dealloc(&mut self, ptr: *mut u8) {
        if ptr.is_null() {
            return;
        }
        // SAFETY: the caller passes a pointer from this allocator.
        unsafe {
            self.used = self
                .used
                .saturating_sub(libc::malloc_usable_size(ptr.cast()));
            libc::free(ptr.cast());
        }
    }

    unsafe fn realloc(&mut self, ptr: *mut u8, new_size: usize) -> *mut u8 {
        if ptr.is_null() {
            return self.alloc(new_size);
        }
        // SAFETY: the caller passes a pointer from this allocator.
        let old = unsafe { libc::malloc_usable_size(ptr.cast()) };
        if new_size > old && !self.fits(new_size - old) {
            return self.refuse();
        }
        // SAFETY: as above; on failure the old block stays valid and counted.
        let new = unsafe { libc::realloc(ptr.cast(), new_size.max(1)) }.cast::<u8>();
        if !new.is_null() {
            // SAFETY: `new` was just returned by realloc.
            self.used =
                self.used.saturating_sub(old) + unsafe { libc::malloc_usable_size(new.cast()) };
        }
        new
    }

    unsafe fn usable_size(ptr: *mut u8) -> usize {
        // SAFETY: the caller passes a pointer from this allocator.
        unsafe { libc::malloc_usable_size(ptr.cast()) }
    }
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

/// The native functions the prelude builds on. Hook code never sees this object.
fn build_host<'js>(
    ctx: &Ctx<'js>,
    env: &WorkerEnv,
    state: &Rc<RefCell<InvState>>,
    deadline: Instant,
    fetch_tx: mpsc::UnboundedSender<FetchMsg>,
    budget: Arc<FetchBudget>,
) -> rquickjs::Result<Object<'js>> {
    let host = Object::new(ctx.clone())?;

    {
        let state = state.clone();
        host.set(
            "log",
            Function::new(ctx.clone(), move |_level: String, text: String| {
                let mut st = state.borrow_mut();
                let line = st.redactor.redact(&text);
                st.logs.push(line);
            })?,
        )?;
    }
    {
        let state = state.clone();
        host.set(
            "settle",
            Function::new(ctx.clone(), move |is_error: bool, json: String| {
                let mut st = state.borrow_mut();
                if st.settled.is_none() {
                    st.settled = Some(if is_error { Err(json) } else { Ok(json) });
                }
            })?,
        )?;
    }
    {
        let state = state.clone();
        let max_timers = env.config.max_timers;
        host.set(
            "timerSet",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>, id: u32, delay_ms: f64| -> rquickjs::Result<()> {
                    let mut st = state.borrow_mut();
                    if let Some(old) = st.timer_keys.remove(&id) {
                        st.timers.remove(&old);
                    }
                    if st.timer_keys.len() >= max_timers {
                        return Err(Exception::throw_range(
                            &ctx,
                            &format!("Too many pending timers (limit {max_timers})"),
                        ));
                    }
                    let delay = if delay_ms.is_finite() && delay_ms > 0.0 {
                        Duration::from_secs_f64(delay_ms.min(2_147_483_647.0) / 1000.0)
                    } else {
                        Duration::ZERO
                    };
                    st.timer_seq += 1;
                    let key = (Instant::now() + delay, st.timer_seq);
                    st.timers.insert(key, id);
                    st.timer_keys.insert(id, key);
                    Ok(())
                },
            )?,
        )?;
    }
    {
        let state = state.clone();
        host.set(
            "timerClear",
            Function::new(ctx.clone(), move |id: u32| {
                let mut st = state.borrow_mut();
                if let Some(key) = st.timer_keys.remove(&id) {
                    st.timers.remove(&key);
                }
            })?,
        )?;
    }
    {
        let state = state.clone();
        let handle = env.tokio.handle().clone();
        let client = env.http.clone();
        let policy = env.policy.clone();
        host.set(
            "fetchStart",
            Function::new(
                ctx.clone(),
                move |ctx: Ctx<'js>,
                      url: String,
                      method: String,
                      headers: String,
                      body: Opt<Value<'js>>,
                      redirect: String,
                      timeout_ms: Opt<f64>|
                      -> rquickjs::Result<u32> {
                    let headers: Vec<(String, String)> = serde_json::from_str(&headers)
                        .map_err(|_| Exception::throw_type(&ctx, "invalid request headers"))?;
                    let body = match body.0 {
                        Some(v) if !v.is_undefined() && !v.is_null() => Some(bytes_of(&ctx, v)?),
                        _ => None,
                    };
                    let redirect = match redirect.as_str() {
                        "manual" => RedirectMode::Manual,
                        "error" => RedirectMode::Error,
                        _ => RedirectMode::Follow,
                    };
                    let timeout = timeout_ms
                        .0
                        .filter(|t| t.is_finite() && *t > 0.0)
                        .map(|t| Duration::from_secs_f64(t.min(86_400_000.0) / 1000.0));
                    let request = FetchRequest {
                        url,
                        method,
                        headers,
                        body,
                        redirect,
                        timeout,
                    };
                    let mut st = state.borrow_mut();
                    let id = st.next_fetch;
                    st.next_fetch += 1;
                    let future = net::fetch(
                        client.clone(),
                        policy.clone(),
                        budget.clone(),
                        request,
                        deadline,
                    );
                    let tx = fetch_tx.clone();
                    let task = handle.spawn(async move {
                        let result = future.await;
                        let _ = tx.send((id, result));
                    });
                    st.fetches.insert(id, task);
                    Ok(id)
                },
            )?,
        )?;
    }
    {
        let state = state.clone();
        host.set(
            "fetchAbort",
            Function::new(ctx.clone(), move |id: u32| {
                if let Some(task) = state.borrow_mut().fetches.remove(&id) {
                    task.abort();
                }
            })?,
        )?;
    }
    host.set(
        "utf8Encode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: String| {
            TypedArray::<u8>::new(ctx, s.into_bytes())
        })?,
    )?;
    host.set(
        "utf8Decode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, v: Value<'js>, fatal: Opt<bool>| -> rquickjs::Result<String> {
                let bytes = bytes_of(&ctx, v)?;
                match String::from_utf8(bytes) {
                    Ok(s) => Ok(s),
                    Err(e) if fatal.0 == Some(true) => {
                        drop(e);
                        Err(Exception::throw_type(
                            &ctx,
                            "The encoded data was not valid for encoding utf-8",
                        ))
                    }
                    Err(e) => Ok(String::from_utf8_lossy(e.as_bytes()).into_owned()),
                }
            },
        )?,
    )?;
    host.set(
        "b64Encode",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, v: Value<'js>, url: Opt<bool>| -> rquickjs::Result<String> {
                let bytes = bytes_of(&ctx, v)?;
                Ok(if url.0 == Some(true) {
                    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
                } else {
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                })
            },
        )?,
    )?;
    host.set(
        "b64Decode",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, s: String| {
            TypedArray::<u8>::new(ctx, decode_base64_lenient(&s))
        })?,
    )?;
    host.set(
        "hash",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             alg: String,
             data: Value<'js>|
             -> rquickjs::Result<TypedArray<'js, u8>> {
                let bytes = bytes_of(&ctx, data)?;
                let out = digest(&alg, &bytes)
                    .ok_or_else(|| Exception::throw_message(&ctx, "Digest method not supported"))?;
                TypedArray::<u8>::new(ctx, out)
            },
        )?,
    )?;
    host.set(
        "hmac",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             alg: String,
             key: Value<'js>,
             data: Value<'js>|
             -> rquickjs::Result<TypedArray<'js, u8>> {
                let key = bytes_of(&ctx, key)?;
                let data = bytes_of(&ctx, data)?;
                let out = hmac_digest(&alg, &key, &data).ok_or_else(|| {
                    Exception::throw_message(&ctx, &format!("Invalid digest: {alg}"))
                })?;
                TypedArray::<u8>::new(ctx, out)
            },
        )?,
    )?;
    host.set(
        "randomBytes",
        Function::new(ctx.clone(), |ctx: Ctx<'js>, n: u32| {
            use rand::RngCore;
            let mut buf = vec![0u8; n.min(1 << 20) as usize];
            rand::thread_rng().fill_bytes(&mut buf);
            TypedArray::<u8>::new(ctx, buf)
        })?,
    )?;
    host.set(
        "urlParse",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>, input: String, base: Opt<Value<'js>>| -> rquickjs::Result<Value<'js>> {
                let base = base
                    .0
                    .and_then(|b| b.as_string().and_then(|s| s.to_string().ok()));
                let parsed = match base {
                    Some(b) => url::Url::parse(&b).and_then(|b| b.join(&input)),
                    None => url::Url::parse(&input),
                };
                match parsed {
                    Ok(u) => url_record(&ctx, &u),
                    Err(_) => Ok(Value::new_null(ctx)),
                }
            },
        )?,
    )?;
    host.set(
        "urlSet",
        Function::new(
            ctx.clone(),
            |ctx: Ctx<'js>,
             href: String,
             prop: String,
             value: String|
             -> rquickjs::Result<Value<'js>> {
                use url::quirks;
                let Ok(mut u) = url::Url::parse(&href) else {
                    return Ok(Value::new_null(ctx));
                };
                let _ = match prop.as_str() {
                    "protocol" => quirks::set_protocol(&mut u, &value),
                    "username" => quirks::set_username(&mut u, &value),
                    "password" => quirks::set_password(&mut u, &value),
                    "host" => quirks::set_host(&mut u, &value),
                    "hostname" => quirks::set_hostname(&mut u, &value),
                    "port" => quirks::set_port(&mut u, &value),
                    "pathname" => {
                        quirks::set_pathname(&mut u, &value);
                        Ok(())
                    }
                    "search" => {
                        quirks::set_search(&mut u, &value);
                        Ok(())
                    }
                    "hash" => {
                        quirks::set_hash(&mut u, &value);
                        Ok(())
                    }
                    _ => Err(()),
                };
                url_record(&ctx, &u)
            },
        )?,
    )?;
    host.set(
        "formParse",
        Function::new(ctx.clone(), |s: String| -> Vec<Vec<String>> {
            url::form_urlencoded::parse(s.as_bytes())
                .map(|(k, v)| vec![k.into_owned(), v.into_owned()])
                .collect()
        })?,
    )?;
    host.set(
        "formSerialize",
        Function::new(ctx.clone(), |pairs: Vec<Vec<String>>| -> String {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            for p in &pairs {
                if let [k, v] = p.as_slice() {
                    ser.append_pair(k, v);
                }
            }
            ser.finish()
        })?,
    )?;
    Ok(host)
}

/// The bytes of a `Uint8Array` (or subclass such as `Buffer`), copied out.
fn bytes_of<'js>(ctx: &Ctx<'js>, v: Value<'js>) -> rquickjs::Result<Vec<u8>> {
    let arr = TypedArray::<u8>::from_value(v)
        .map_err(|_| Exception::throw_type(ctx, "expected a Uint8Array"))?;
    // SAFETY: the slice is copied before any JavaScript runs again.
    let bytes = unsafe { arr.as_bytes() }.map(<[u8]>::to_vec);
    Ok(bytes.unwrap_or_default())
}

fn url_record<'js>(ctx: &Ctx<'js>, u: &url::Url) -> rquickjs::Result<Value<'js>> {
    use url::quirks;
    let o = Object::new(ctx.clone())?;
    o.set("href", quirks::href(u))?;
    o.set("origin", quirks::origin(u))?;
    o.set("protocol", quirks::protocol(u))?;
    o.set("username", quirks::username(u))?;
    o.set("password", quirks::password(u))?;
    o.set("host", quirks::host(u))?;
    o.set("hostname", quirks::hostname(u))?;
    o.set("port", quirks::port(u))?;
    o.set("pathname", quirks::pathname(u))?;
    o.set("search", quirks::search(u))?;
    o.set("hash", quirks::hash(u))?;
    Ok(o.into_value())
}

/// Node's lenient base64 decoding: both alphabets, padding optional, other characters skipped.
fn decode_base64_lenient(s: &str) -> Vec<u8> {
    let mut clean: Vec<u8> = s
        .bytes()
        .filter_map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' => Some(b),
            b'-' => Some(b'+'),
            b'_' => Some(b'/'),
            _ => None,
        })
        .collect();
    if clean.len() % 4 == 1 {
        clean.pop();
    }
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    engine.decode(&clean).unwrap_or_default()
}

fn digest(alg: &str, data: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    Some(match alg {
        "md5" => md5::Md5::digest(data).to_vec(),
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha224" => sha2::Sha224::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha384" => sha2::Sha384::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        _ => return None,
    })
}

fn hmac_digest(alg: &str, key: &[u8], data: &[u8]) -> Option<Vec<u8>> {
    fn run<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
        let mut mac = <M as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }
    Some(match alg {
        "md5" => run::<Hmac<md5::Md5>>(key, data),
        "sha1" => run::<Hmac<sha1::Sha1>>(key, data),
        "sha224" => run::<Hmac<sha2::Sha224>>(key, data),
        "sha256" => run::<Hmac<sha2::Sha256>>(key, data),
        "sha384" => run::<Hmac<sha2::Sha384>>(key, data),
        "sha512" => run::<Hmac<sha2::Sha512>>(key, data),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_base64() {
        assert_eq!(decode_base64_lenient("aGVsbG8="), b"hello");
        assert_eq!(decode_base64_lenient("aGVsbG8"), b"hello");
        assert_eq!(decode_base64_lenient("aGVs\nbG8="), b"hello");
        assert_eq!(decode_base64_lenient("-_8"), vec![0xfb, 0xff]);
    }

    #[test]
    fn digests() {
        let hex = |v: Vec<u8>| v.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(
            hex(digest("sha256", b"abc").unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(digest("md5", b"").unwrap()),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert_eq!(
            hex(hmac_digest(
                "sha256",
                b"key",
                b"The quick brown fox jumps over the lazy dog"
            )
            .unwrap()),
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert!(digest("sha3", b"").is_none());
    }
}
