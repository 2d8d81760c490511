//! The values that go into and come out of an invocation.

use std::time::Duration;

use hookhaven_core::secret::SecretValue;
use hookhaven_core::TriggerId;
use serde_json::{Map, Value};

use crate::compile::Compiled;

/// The hook's code: source text (compiled on the worker for every call) or the result of
/// [`HookRuntime::compile`](crate::HookRuntime::compile), which skips parsing. Cache the
/// `Compiled` value (it is cheap to clone) keyed by hook id and script.
#[derive(Debug, Clone)]
pub enum HookScript {
    Source(String),
    Compiled(Compiled),
}

impl From<String> for HookScript {
    fn from(s: String) -> Self {
        HookScript::Source(s)
    }
}

impl From<&str> for HookScript {
    fn from(s: &str) -> Self {
        HookScript::Source(s.to_string())
    }
}

impl From<Compiled> for HookScript {
    fn from(c: Compiled) -> Self {
        HookScript::Compiled(c)
    }
}

/// One call of a hook.
///
/// `payload` is the JSON body Auth0 POSTed to the webtask for this trigger (see
/// [`sample_payload`](crate::sample_payload) and `docs/hooks.md`); the trigger adapter
/// checks it like Auth0's compiler did and spreads it into the positional arguments.
/// `secrets`, `meta`, `headers` and `query` become `context.webtask.secrets`, `.meta`,
/// `.headers` and `.query`; `context.webtask.body` is the payload.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub trigger: TriggerId,
    pub script: HookScript,
    /// That hook's secrets, and nothing else. `None` is a secret stored without a value:
    /// the hook sees the key with the value `undefined`.
    pub secrets: Vec<(String, Option<SecretValue>)>,
    pub payload: Value,
    pub meta: Map<String, Value>,
    pub headers: Map<String, Value>,
    pub query: Map<String, Value>,
}

impl Invocation {
    /// An invocation with no secrets and empty `meta`, `headers` and `query`.
    pub fn new(trigger: TriggerId, script: impl Into<HookScript>, payload: Value) -> Self {
        Invocation {
            trigger,
            script: script.into(),
            secrets: Vec::new(),
            payload,
            meta: Map::new(),
            headers: Map::new(),
            query: Map::new(),
        }
    }

    pub fn with_secrets(mut self, secrets: Vec<(String, Option<SecretValue>)>) -> Self {
        self.secrets = secrets;
        self
    }

    pub fn with_meta(mut self, meta: Map<String, Value>) -> Self {
        self.meta = meta;
        self
    }

    pub fn with_headers(mut self, headers: Map<String, Value>) -> Self {
        self.headers = headers;
        self
    }

    pub fn with_query(mut self, query: Map<String, Value>) -> Self {
        self.query = query;
        self
    }
}

/// What an invocation produced. `logs` is the captured console output: every secret value of
/// the hook replaced by `[REDACTED]`, capped at `max_log_bytes` (then `logs_truncated`).
#[derive(Debug, Clone)]
pub struct Outcome {
    pub result: Result<TriggerResult, HookError>,
    pub logs: Vec<String>,
    pub logs_truncated: bool,
    /// Time from the start of execution on a worker to its end (queueing excluded).
    pub duration: Duration,
}

/// The successful result of a hook, already filtered the way Auth0 applied it.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerResult {
    /// `credentials-exchange`. `scope` is `None` when the hook's result had no `scope`
    /// (Auth0: the token then carries no scopes beyond what the hook adds, i.e. none).
    /// `claims` holds only namespaced claims: keys that are `http`/`https` URLs whose host is
    /// not auth0.com, webtask.io, webtask.run or a subdomain of them. Everything else the
    /// hook returned is dropped.
    CredentialsExchange {
        scope: Option<Vec<String>>,
        claims: Map<String, Value>,
    },
    /// `pre-user-registration`: only `user.user_metadata` and `user.app_metadata` of the
    /// result, each `None` when absent or not an object. Keys were checked (no leading `$`,
    /// no `.`).
    PreUserRegistration {
        user_metadata: Option<Map<String, Value>>,
        app_metadata: Option<Map<String, Value>>,
    },
    /// `post-user-registration` and `post-change-password`: the result is ignored.
    Background,
    /// `send-phone-message`: whatever the hook passed to `cb` (JSON; `null` for none).
    SendPhoneMessage(Value),
}

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// `cb(new InvalidScopeError(m))` (credentials-exchange). 400 `invalid_scope`.
    InvalidScope,
    /// `cb(new InvalidRequestError(m))` (credentials-exchange). 400 `invalid_request`.
    InvalidRequest,
    /// `cb(new ServerError(m))`, `cb(new Error(m))`, `cb('text')`, a throw, or a rejected
    /// promise. 500 `server_error`.
    Server,
    /// `cb(new PreUserRegistrationError(logMessage, userMessage))`: the signup is denied.
    /// `HookError::message` is the log message (for tenant logs); `user_message` is for the
    /// end user. 400 `extensibility_error`.
    PreUserRegistration { user_message: Option<String> },
    /// The payload failed the trigger's input checks (Auth0's compiler messages). 400
    /// `invalid_request`. The hook did not run.
    InvalidPayload,
    /// The hook's result could not be used (not serialisable, bad metadata keys, bad
    /// `scope`). 500 `server_error`.
    InvalidResult,
    /// The hook ran to the end without calling `cb` and has nothing pending. 500.
    NoCallback,
    /// Wall-clock deadline exceeded (also when the watchdog gave up on a stuck worker). 500.
    Timeout,
    /// CPU deadline exceeded. 500.
    CpuTimeLimit,
    /// Memory limit exceeded. 500.
    MemoryLimit,
    /// Stack limit exceeded (unbounded recursion). 500.
    StackOverflow,
    /// The script does not compile or does not export a function. 500.
    Compile,
    /// No worker became free in time, or the queue is full. 503 `temporarily_unavailable`.
    Busy,
    /// A bug or an engine failure. 500.
    Internal,
}

/// A failed invocation. Every secret value of the hook has been replaced by `[REDACTED]` in
/// `message`, `user_message` and `stack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookError {
    pub kind: ErrorKind,
    /// The HTTP status Auth0 answered with for this error.
    pub status: u16,
    /// OAuth-style error code: `invalid_scope`, `invalid_request`, `server_error`,
    /// `extensibility_error` or `temporarily_unavailable`.
    pub code: &'static str,
    /// For hook errors, the error's `message`; otherwise a description of what happened.
    pub message: String,
    /// The JavaScript error's `name` (`InvalidScopeError`, `TypeError`, …), when the hook
    /// produced the error.
    pub name: Option<String>,
    /// The JavaScript stack, when there is one (lines refer to the hook script).
    pub stack: Option<String>,
}

impl HookError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> HookError {
        let (status, code) = match &kind {
            ErrorKind::InvalidScope => (400, "invalid_scope"),
            ErrorKind::InvalidRequest | ErrorKind::InvalidPayload => (400, "invalid_request"),
            ErrorKind::PreUserRegistration { .. } => (400, "extensibility_error"),
            ErrorKind::Busy => (503, "temporarily_unavailable"),
            _ => (500, "server_error"),
        };
        HookError {
            kind,
            status,
            code,
            message: message.into(),
            name: None,
            stack: None,
        }
    }

    /// The user-facing message of a denied pre-user-registration.
    pub fn user_message(&self) -> Option<&str> {
        match &self.kind {
            ErrorKind::PreUserRegistration { user_message } => user_message.as_deref(),
            _ => None,
        }
    }

    /// `{"error": code, "error_description": message}`, the body `/oauth/token` answers with
    /// when a credentials-exchange hook fails.
    pub fn oauth_body(&self) -> Value {
        serde_json::json!({ "error": self.code, "error_description": self.message })
    }
}

impl std::fmt::Display for HookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.message)
    }
}

impl std::error::Error for HookError {}

/// The message of every wall-clock timeout, as Webtask worded it.
pub const TIMEOUT_MESSAGE: &str = "Request to Webtask exceeded allowed execution time";
