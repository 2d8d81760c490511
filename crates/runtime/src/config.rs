//! Runtime limits and the outbound network policy.

use std::time::Duration;

/// Limits and settings for the whole hook runtime. Build it with [`RuntimeConfig::default`]
/// and change the fields you need.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Worker threads, each running one invocation at a time. Default: the number of CPUs.
    pub workers: usize,
    /// Invocations that may wait for a free worker. When the queue is full, `invoke`
    /// answers at once with [`ErrorKind::Busy`](crate::ErrorKind::Busy) (HTTP 503).
    pub max_queue: usize,
    /// How long an invocation may wait in the queue before it fails with `Busy`.
    pub queue_timeout: Duration,
    /// Wall-clock deadline of one invocation, from the moment a worker starts it.
    /// Auth0's webtasks had 20 s; so does the default.
    pub wall_deadline: Duration,
    /// CPU deadline: CPU time the worker thread spends on the invocation (waiting for
    /// timers or outbound HTTP, and other threads, do not count). Enforced by QuickJS's
    /// interrupt handler. Default 5 s.
    pub cpu_deadline: Duration,
    /// Extra time the watchdog grants past `wall_deadline` before it gives up on a worker
    /// stuck in a builtin that does not poll the interrupt handler (for example
    /// `new Array(1e9) + ''`). The caller then gets a timeout and the worker is replaced.
    pub watchdog_grace: Duration,
    /// For the background triggers (post-user-registration, post-change-password): how long
    /// pending timers and outbound requests may still run after the hook called `cb`
    /// (always within `wall_deadline`). Auth0's examples call `cb()` before their HTTP
    /// request finishes.
    pub background_grace: Duration,
    /// Heap limit of one invocation (QuickJS `set_memory_limit`). Default 64 MiB.
    pub memory_limit_bytes: usize,
    /// JavaScript stack limit of one invocation. Default 1 MiB.
    pub stack_limit_bytes: usize,
    /// Cap on the captured console output of one invocation, after redaction.
    pub max_log_bytes: usize,
    /// Largest script `compile` accepts.
    pub max_script_bytes: usize,
    /// Timers (`setTimeout`, `setInterval`, `setImmediate`) one invocation may have pending.
    pub max_timers: usize,
    /// Outbound HTTP policy for `fetch` and the `request`/`axios`/`node-fetch` shims.
    pub network: NetworkPolicy,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            max_queue: 256,
            queue_timeout: Duration::from_secs(10),
            wall_deadline: Duration::from_secs(20),
            cpu_deadline: Duration::from_secs(5),
            watchdog_grace: Duration::from_secs(2),
            background_grace: Duration::from_secs(2),
            memory_limit_bytes: 64 * 1024 * 1024,
            stack_limit_bytes: 1024 * 1024,
            max_log_bytes: 16 * 1024,
            max_script_bytes: 512 * 1024,
            max_timers: 1000,
            network: NetworkPolicy::default(),
        }
    }
}

/// Which hosts a hook may reach, and how much it may fetch.
///
/// Host patterns are matched case-insensitively against the URL's host (never its port):
/// `api.example.com` matches exactly, `*.example.com` matches any subdomain (not
/// `example.com` itself), and `*` matches every host. IPv6 literals are written without
/// brackets (`::1`).
///
/// The default policy allows **no** host: outbound HTTP must be enabled explicitly.
#[derive(Debug, Clone)]
pub struct NetworkPolicy {
    /// Hosts reachable over HTTPS.
    pub allowed_hosts: Vec<String>,
    /// Hosts (also needed in `allowed_hosts`) that may additionally be reached over plain
    /// `http://`. Everything else is HTTPS only.
    pub http_allowed_hosts: Vec<String>,
    /// Hosts exempt from the private-address block, for local development and tests (for
    /// example `127.0.0.1`). They are matched against the URL's host as written (a name or an
    /// IP literal), never against resolved addresses: exempting `127.0.0.1` does not make
    /// `localhost` reachable. Without an entry here, a host whose address is
    /// loopback, private (RFC 1918, CGNAT, unique-local), link-local (including the cloud
    /// metadata address 169.254.169.254), multicast, unspecified or reserved is refused,
    /// after DNS resolution, on every redirect hop.
    pub allow_private_hosts: Vec<String>,
    /// Outbound requests one invocation may make. Every redirect hop counts.
    pub max_subrequests: u32,
    /// Outbound requests one invocation may have in flight at once.
    pub max_concurrent_requests: usize,
    /// Largest response body a hook may receive; a larger one fails the request.
    pub max_response_bytes: usize,
    /// Largest request body a hook may send.
    pub max_request_bytes: usize,
    /// Timeout of one request (all its redirect hops), further capped by the hook's
    /// remaining wall-clock time.
    pub request_timeout: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Redirects followed per request (`redirect: 'follow'`).
    pub max_redirects: u32,
    /// `User-Agent` sent when the hook sets none.
    pub user_agent: String,
}

impl Default for NetworkPolicy {
    fn default() -> Self {
        NetworkPolicy {
            allowed_hosts: Vec::new(),
            http_allowed_hosts: Vec::new(),
            allow_private_hosts: Vec::new(),
            max_subrequests: 10,
            max_concurrent_requests: 6,
            max_response_bytes: 1024 * 1024,
            max_request_bytes: 256 * 1024,
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_redirects: 3,
            user_agent: concat!("Hookhaven-Hooks/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// Whether `host` (already lower-case, IPv6 without brackets) matches one of `patterns`.
pub(crate) fn host_matches(patterns: &[String], host: &str) -> bool {
    patterns.iter().any(|p| {
        let p = p.trim().trim_start_matches('[').trim_end_matches(']');
        let p = p.to_ascii_lowercase();
        if p == "*" {
            return true;
        }
        if let Some(suffix) = p.strip_prefix("*.") {
            return host.len() > suffix.len() + 1
                && host.ends_with(suffix)
                && host.as_bytes()[host.len() - suffix.len() - 1] == b'.';
        }
        p == host
    })
}

#[cfg(test)]
mod tests {
    use super::host_matches;

    #[test]
    fn host_patterns() {
        let p = vec![
            "api.example.com".to_string(),
            "*.hooks.test".to_string(),
            "[::1]".to_string(),
        ];
        assert!(host_matches(&p, "api.example.com"));
        assert!(!host_matches(&p, "example.com"));
        assert!(!host_matches(&p, "evilapi.example.com"));
        assert!(host_matches(&p, "a.hooks.test"));
        assert!(host_matches(&p, "a.b.hooks.test"));
        assert!(!host_matches(&p, "hooks.test"));
        assert!(!host_matches(&p, "xhooks.test"));
        assert!(host_matches(&p, "::1"));
        assert!(host_matches(&["*".to_string()], "anything.example"));
    }
}
