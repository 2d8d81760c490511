//! Audit records of refused requests: failed token requests, and 401/403 answers on the
//! Management API. They are rate-limited so that a flood of bad requests cannot fill the
//! disk: at most [`PER_KEY_PER_MINUTE`] events a minute for one (action, IP address), and
//! at most [`GLOBAL_PER_MINUTE`] a minute in all. What is held back is counted, and the
//! count is written as one `audit.suppressed` event when the minute is over (on the next
//! refused request). Nothing secret is recorded: no token, no client secret, no header.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use hookhaven_core::AuditEvent;

use crate::state::AppState;

/// Events one (action, IP address) may write per minute.
pub const PER_KEY_PER_MINUTE: u32 = 20;
/// Events all refused requests together may write per minute.
pub const GLOBAL_PER_MINUTE: u32 = 300;
const WINDOW: Duration = Duration::from_secs(60);
/// Past this many keys, finished windows are dropped, so a flood from many addresses
/// cannot grow memory without bound.
const PRUNE_AT: usize = 10_000;

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    recorded: u32,
}

struct Limiter {
    keys: HashMap<String, Window>,
    global: Window,
    /// Events held back since the last `audit.suppressed` record.
    suppressed: u64,
}

/// What [`Limiter::admit`] decided.
struct Admission {
    record: bool,
    /// Events held back in a minute that is now over; to be written as one summary.
    flush_suppressed: u64,
}

impl Limiter {
    fn admit(&mut self, key: &str, now: Instant) -> Admission {
        let mut flush_suppressed = 0;
        if now.duration_since(self.global.started) >= WINDOW {
            self.global = Window {
                started: now,
                recorded: 0,
            };
            flush_suppressed = std::mem::take(&mut self.suppressed);
        }
        if self.keys.len() >= PRUNE_AT && !self.keys.contains_key(key) {
            self.keys
                .retain(|_, w| now.duration_since(w.started) < WINDOW);
        }
        let window = self.keys.entry(key.to_string()).or_insert(Window {
            started: now,
            recorded: 0,
        });
        if now.duration_since(window.started) >= WINDOW {
            *window = Window {
                started: now,
                recorded: 0,
            };
        }
        let record =
            window.recorded < PER_KEY_PER_MINUTE && self.global.recorded < GLOBAL_PER_MINUTE;
        if record {
            window.recorded += 1;
            self.global.recorded += 1;
        } else {
            self.suppressed += 1;
        }
        Admission {
            record,
            flush_suppressed,
        }
    }
}

static LIMITER: LazyLock<Mutex<Limiter>> = LazyLock::new(|| {
    Mutex::new(Limiter {
        keys: HashMap::new(),
        global: Window {
            started: Instant::now(),
            recorded: 0,
        },
        suppressed: 0,
    })
});

/// A refused request, as the audit log records it.
pub struct Refusal<'a> {
    /// `token.failed`, `api.unauthorized` or `api.forbidden`.
    pub action: &'static str,
    /// The client id the request named or its token carried; `anonymous` when none.
    pub actor: Option<&'a str>,
    pub ip: &'a str,
    /// `METHOD /path` of the request (no query string).
    pub target: String,
    /// Why it was refused: an error code and Auth0's text, never a credential.
    pub reason: String,
    pub request_id: Option<&'a str>,
}

/// Records `refusal` unless its limit is spent; never fails the request it describes.
pub fn record(state: &AppState, refusal: Refusal<'_>) {
    let admission = LIMITER.lock().unwrap_or_else(|e| e.into_inner()).admit(
        &format!("{}|{}", refusal.action, refusal.ip),
        Instant::now(),
    );
    let mut events = Vec::new();
    if admission.flush_suppressed > 0 {
        events.push(
            AuditEvent::success("server", "audit.suppressed", None).failed(&format!(
                "{} refused-request events were not recorded in the last minute (rate limit)",
                admission.flush_suppressed
            )),
        );
    }
    if admission.record {
        // Client ids are chosen by the caller on the token endpoint: keep them short and
        // printable so that the log cannot be used to smuggle text.
        let actor: String = refusal
            .actor
            .filter(|a| !a.is_empty())
            .unwrap_or("anonymous")
            .chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect();
        let reason: String = refusal.reason.chars().take(300).collect();
        events.push(
            AuditEvent::success(&actor, refusal.action, refusal.request_id)
                .target(&refusal.target)
                .failed(&format!("ip={}; {reason}", refusal.ip)),
        );
    }
    if events.is_empty() {
        return;
    }
    let store = state.store.clone();
    tokio::spawn(async move {
        for event in events {
            if let Err(e) = store.record_audit(&event).await {
                tracing::warn!(error = %e, action = %event.action, "could not record a refused request in the audit log");
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(now: Instant) -> Limiter {
        Limiter {
            keys: HashMap::new(),
            global: Window {
                started: now,
                recorded: 0,
            },
            suppressed: 0,
        }
    }

    #[test]
    fn a_flood_from_one_address_is_capped_and_counted() {
        let now = Instant::now();
        let mut l = limiter(now);
        let recorded = (0..1000)
            .filter(|_| l.admit("token.failed|10.0.0.1", now).record)
            .count();
        assert_eq!(recorded, PER_KEY_PER_MINUTE as usize);
        assert_eq!(l.suppressed, 1000 - u64::from(PER_KEY_PER_MINUTE));
        // Another address still gets through.
        assert!(l.admit("token.failed|10.0.0.2", now).record);
        // A minute later the count is handed over once and the key may record again.
        let later = now + WINDOW;
        let a = l.admit("token.failed|10.0.0.1", later);
        assert!(a.record);
        assert_eq!(a.flush_suppressed, 1000 - u64::from(PER_KEY_PER_MINUTE));
        assert_eq!(l.admit("token.failed|10.0.0.1", later).flush_suppressed, 0);
    }

    #[test]
    fn many_addresses_share_a_global_cap() {
        let now = Instant::now();
        let mut l = limiter(now);
        let recorded = (0..5000)
            .filter(|i| {
                l.admit(
                    &format!("api.unauthorized|10.0.{}.{}", i / 256, i % 256),
                    now,
                )
                .record
            })
            .count();
        assert_eq!(recorded, GLOBAL_PER_MINUTE as usize);
    }
}
