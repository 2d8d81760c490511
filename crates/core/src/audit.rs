//! Audit events: who changed what, when, and how it ended. Secret *names* only, never values.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Success,
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// Milliseconds since the epoch.
    pub at: i64,
    /// The acting `client_id`, or `cli` for local commands.
    pub actor: String,
    /// What was done, e.g. `hook.create`, `secrets.update`, `client.delete`.
    pub action: String,
    pub hook_id: Option<String>,
    /// Another target than a hook: a client id or grant id.
    pub target: Option<String>,
    pub secret_names: Vec<String>,
    pub outcome: Outcome,
    /// On failure, the error code or a short reason; never a value.
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

impl AuditEvent {
    pub fn success(actor: &str, action: &str, request_id: Option<&str>) -> AuditEvent {
        AuditEvent {
            at: crate::now_ms(),
            actor: actor.to_string(),
            action: action.to_string(),
            hook_id: None,
            target: None,
            secret_names: Vec::new(),
            outcome: Outcome::Success,
            detail: None,
            request_id: request_id.map(str::to_string),
        }
    }

    pub fn hook(mut self, hook_id: &str) -> AuditEvent {
        self.hook_id = Some(hook_id.to_string());
        self
    }

    pub fn target(mut self, target: &str) -> AuditEvent {
        self.target = Some(target.to_string());
        self
    }

    pub fn secrets<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> AuditEvent {
        self.secret_names = names.into_iter().map(str::to_string).collect();
        self
    }

    /// The same event, recorded as failed with a reason.
    pub fn failed(mut self, detail: &str) -> AuditEvent {
        self.outcome = Outcome::Failure;
        self.detail = Some(detail.to_string());
        self
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub hook_id: Option<String>,
    pub actor: Option<String>,
    /// Newest first; return events with a sequence number below this.
    pub before_seq: Option<i64>,
    pub limit: u32,
}
