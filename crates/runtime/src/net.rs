//! Outbound HTTP for hooks, mediated by Rust: allow-list, HTTPS only, private addresses
//! refused after DNS with the connection pinned to the checked address, redirects followed
//! by hand and re-checked, and budgets for count, size and time.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::sync::Semaphore;
use url::{Host, Url};

use crate::config::{host_matches, NetworkPolicy};
use crate::redact::Redactor;

/// A request as the hook made it.
pub(crate) struct FetchRequest {
    pub url: String,
    pub method: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub redirect: RedirectMode,
    /// The hook's own timeout (`timeout` option of axios, request and node-fetch).
    pub timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RedirectMode {
    Follow,
    Manual,
    Error,
}

pub(crate) struct FetchResponse {
    pub status: u16,
    pub status_text: String,
    pub headers: Vec<(String, String)>,
    pub url: String,
    pub redirected: bool,
    pub body: Vec<u8>,
}

/// Per-invocation budget shared by all its requests, and the redactor for what is logged
/// about them (a host name could be built from a secret).
pub(crate) struct FetchBudget {
    pub subrequests: AtomicU32,
    pub concurrency: Semaphore,
    pub redactor: Arc<Redactor>,
}

impl FetchBudget {
    pub(crate) fn new(policy: &NetworkPolicy, redactor: Arc<Redactor>) -> FetchBudget {
        FetchBudget {
            subrequests: AtomicU32::new(0),
            concurrency: Semaphore::new(policy.max_concurrent_requests.max(1)),
            redactor,
        }
    }
}

/// Raised by the resolver when every address of a host is refused.
#[derive(Debug)]
struct BlockedAddress {
    host: String,
    ip: IpAddr,
    reason: &'static str,
}

impl std::fmt::Display for BlockedAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "address {} of host '{}' is not allowed ({} address)",
            self.ip, self.host, self.reason
        )
    }
}

impl std::error::Error for BlockedAddress {}

/// Resolves with the system resolver, then keeps only addresses the policy allows. reqwest
/// connects to exactly the addresses returned here, so a second DNS answer cannot swap them.
struct GuardedResolver {
    policy: Arc<NetworkPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_ascii_lowercase();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut allowed = Vec::new();
            let mut first_blocked = None;
            for addr in found {
                match check_ip(&policy, &host, addr.ip()) {
                    Ok(()) => allowed.push(addr),
                    Err(b) => {
                        first_blocked.get_or_insert(b);
                    }
                }
            }
            if allowed.is_empty() {
                if let Some(b) = first_blocked {
                    return Err(Box::new(b) as Box<dyn std::error::Error + Send + Sync>);
                }
                return Err(format!("host '{host}' has no address").into());
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        }) as Pin<Box<dyn Future<Output = _> + Send>>
    }
}

/// The client of one worker: no proxy (the environment's proxy would resolve names itself),
/// no automatic redirects, no idle connections kept between invocations.
pub(crate) fn build_client(policy: &NetworkPolicy) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .pool_max_idle_per_host(0)
        .connect_timeout(policy.connect_timeout)
        .dns_resolver(Arc::new(GuardedResolver {
            policy: Arc::new(policy.clone()),
        }))
        .build()
        .expect("building the hook HTTP client")
}

fn check_ip(policy: &NetworkPolicy, host: &str, ip: IpAddr) -> Result<(), BlockedAddress> {
    let Some(reason) = blocked_reason(ip) else {
        return Ok(());
    };
    // Only the host as written in the URL (a name or an IP literal) is exempted: an
    // exempted address does not make every name that resolves to it reachable.
    if host_matches(&policy.allow_private_hosts, host) {
        return Ok(());
    }
    Err(BlockedAddress {
        host: host.to_string(),
        ip,
        reason,
    })
}

/// Why `ip` may not be reached, or `None` for a public unicast address.
pub(crate) fn blocked_reason(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => blocked_v4(v4),
        IpAddr::V6(v6) => blocked_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn blocked_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const TABLE: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "unspecified"),
        ([10, 0, 0, 0], 8, "private"),
        ([100, 64, 0, 0], 10, "shared (CGNAT)"),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local or metadata"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 0, 0, 0], 24, "reserved"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([192, 88, 99, 0], 24, "reserved"),
        ([192, 168, 0, 0], 16, "private"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    TABLE
        .iter()
        .find(|(net, prefix, _)| in_v4(ip, *net, *prefix))
        .map(|(_, _, reason)| *reason)
}

fn blocked_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.is_loopback() {
        return Some("loopback");
    }
    // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d): judge the IPv4 address.
    if s[0..5] == [0, 0, 0, 0, 0] && (s[5] == 0xffff || s[5] == 0) {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        if s[5] == 0xffff {
            return blocked_v4(v4);
        }
        return Some(blocked_v4(v4).unwrap_or("deprecated IPv4-compatible"));
    }
    // NAT64 well-known prefix 64:ff9b::/96 embeds an IPv4 address; 64:ff9b:1::/48 is local.
    if s[0] == 0x64 && s[1] == 0xff9b {
        if s[2..6] == [0, 0, 0, 0] {
            let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
            return blocked_v4(v4);
        }
        return Some("NAT64 local-use");
    }
    if s[0] == 0x2002 {
        // 6to4 embeds an IPv4 address in bits 16..48.
        let v4 = Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8);
        return blocked_v4(v4);
    }
    match s[0] {
        0x0100 if s[1..4] == [0, 0, 0] => Some("discard"),
        0x2001 if s[1] == 0 => Some("Teredo"),
        0x2001 if s[1] == 0x0db8 => Some("documentation"),
        0x2001 if (s[1] & 0xfff0) == 0x0010 => Some("ORCHID"),
        x if (x & 0xfe00) == 0xfc00 => Some("unique-local (private)"),
        x if (x & 0xffc0) == 0xfe80 => Some("link-local"),
        x if (x & 0xffc0) == 0xfec0 => Some("site-local"),
        x if (x & 0xff00) == 0xff00 => Some("multicast"),
        _ => None,
    }
}

/// The host as the policy sees it: lower-case, IPv6 without brackets.
fn policy_host(url: &Url) -> Option<String> {
    match url.host()? {
        Host::Domain(d) => Some(d.to_ascii_lowercase()),
        Host::Ipv4(ip) => Some(ip.to_string()),
        Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

/// Checks scheme, allow-list and (for IP literals) the address, before any connection.
fn check_url(policy: &NetworkPolicy, url: &Url) -> Result<String, String> {
    if url.scheme() != "https" && url.scheme() != "http" {
        return Err(format!(
            "the '{}' scheme is not allowed; only https (and http where configured)",
            url.scheme()
        ));
    }
    let host = policy_host(url).ok_or_else(|| "the URL has no host".to_string())?;
    match url.scheme() {
        "https" => {}
        "http" => {
            if !host_matches(&policy.http_allowed_hosts, &host) {
                return Err(format!(
                    "plain http is not allowed for host '{host}'; use https"
                ));
            }
        }
        other => {
            return Err(format!(
                "the '{other}' scheme is not allowed; only https (and http where configured)"
            ))
        }
    }
    if !host_matches(&policy.allowed_hosts, &host) {
        return Err(format!("host '{host}' is not on the outbound allow-list"));
    }
    let literal = match url.host() {
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    if let Some(ip) = literal {
        check_ip(policy, &host, ip).map_err(|b| b.to_string())?;
    }
    Ok(host)
}

/// Headers a hook may not set: they describe the connection, which Rust owns.
fn forbidden_header(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "host"
            | "connection"
            | "content-length"
            | "transfer-encoding"
            | "keep-alive"
            | "upgrade"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
    )
}

/// Performs one hook request (with its redirect hops). Errors are messages for the hook:
/// they never contain the URL's path, query, headers or body.
pub(crate) async fn fetch(
    client: reqwest::Client,
    policy: Arc<NetworkPolicy>,
    budget: Arc<FetchBudget>,
    req: FetchRequest,
    deadline: Instant,
) -> Result<FetchResponse, String> {
    let _permit = budget
        .concurrency
        .acquire()
        .await
        .map_err(|_| "the invocation has ended".to_string())?;
    let mut timeout = policy.request_timeout;
    if let Some(t) = req.timeout.filter(|t| !t.is_zero()) {
        timeout = timeout.min(t);
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    let request_deadline = Instant::now() + timeout.min(remaining);
    let timed_out_ms = timeout.min(remaining).as_millis();
    if let Some(body) = &req.body {
        if body.len() > policy.max_request_bytes {
            return Err(format!(
                "the request body exceeds {} bytes",
                policy.max_request_bytes
            ));
        }
    }
    match tokio::time::timeout_at(
        request_deadline.into(),
        fetch_hops(&client, &policy, &budget, req),
    )
    .await
    {
        Ok(r) => r,
        Err(_) => Err(format!("the request timed out after {timed_out_ms} ms")),
    }
}

async fn fetch_hops(
    client: &reqwest::Client,
    policy: &NetworkPolicy,
    budget: &FetchBudget,
    req: FetchRequest,
) -> Result<FetchResponse, String> {
    let mut url = Url::parse(&req.url).map_err(|e| format!("invalid URL: {e}"))?;
    let mut method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|_| format!("invalid method '{}'", req.method))?;
    let mut headers = req.headers;
    let mut body = req.body;
    let mut redirected = false;
    let mut hops = 0u32;
    loop {
        let redact = |text: &str| budget.redactor.redact(text);
        let host = check_url(policy, &url).inspect_err(|e| {
            tracing::warn!(
                target: "hookhaven_runtime::fetch",
                host = %redact(url.host_str().unwrap_or("")),
                "hook request refused: {}",
                redact(e)
            );
        })?;
        let used = budget.subrequests.fetch_add(1, Ordering::SeqCst);
        if used >= policy.max_subrequests {
            return Err(format!(
                "too many outbound requests (limit {} per invocation)",
                policy.max_subrequests
            ));
        }
        let mut builder = client.request(method.clone(), url.clone());
        let mut has_ua = false;
        for (name, value) in &headers {
            if forbidden_header(name) {
                continue;
            }
            has_ua |= name.eq_ignore_ascii_case("user-agent");
            builder = builder.header(name.as_str(), value.as_str());
        }
        if !has_ua {
            builder = builder.header("user-agent", policy.user_agent.as_str());
        }
        if let Some(b) = &body {
            builder = builder.body(b.clone());
        }
        let started = Instant::now();
        let resp = builder.send().await.map_err(|e| {
            let message = describe_error(&e, &host);
            tracing::warn!(
                target: "hookhaven_runtime::fetch",
                host = %redact(&host),
                method = %method,
                duration_ms = started.elapsed().as_millis() as u64,
                "hook request failed: {}",
                redact(&message)
            );
            message
        })?;
        let status = resp.status();
        tracing::info!(
            target: "hookhaven_runtime::fetch",
            host = %redact(&host),
            method = %method,
            status = status.as_u16(),
            duration_ms = started.elapsed().as_millis() as u64,
            "hook request"
        );
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if status.is_redirection() && req.redirect != RedirectMode::Manual {
            if let Some(location) = location {
                if req.redirect == RedirectMode::Error {
                    return Err("the response is a redirect and redirect is 'error'".into());
                }
                hops += 1;
                if hops > policy.max_redirects {
                    return Err(format!(
                        "too many redirects (limit {})",
                        policy.max_redirects
                    ));
                }
                let next = url
                    .join(&location)
                    .map_err(|_| "the redirect location is not a valid URL".to_string())?;
                let code = status.as_u16();
                if code == 303 && method != reqwest::Method::HEAD
                    || (code == 301 || code == 302) && method == reqwest::Method::POST
                {
                    method = reqwest::Method::GET;
                    body = None;
                    headers.retain(|(n, _)| {
                        !n.eq_ignore_ascii_case("content-type")
                            && !n.eq_ignore_ascii_case("content-encoding")
                    });
                }
                if next.origin() != url.origin() {
                    headers.retain(|(n, _)| {
                        !n.eq_ignore_ascii_case("authorization")
                            && !n.eq_ignore_ascii_case("cookie")
                    });
                }
                url = next;
                redirected = true;
                continue;
            }
        }
        let status_text = status.canonical_reason().unwrap_or("").to_string();
        let resp_headers: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        if let Some(len) = resp.content_length() {
            if len > policy.max_response_bytes as u64 {
                return Err(format!(
                    "the response body exceeds {} bytes",
                    policy.max_response_bytes
                ));
            }
        }
        let mut resp = resp;
        let mut data = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| describe_error(&e, &host))? {
            if data.len() + chunk.len() > policy.max_response_bytes {
                return Err(format!(
                    "the response body exceeds {} bytes",
                    policy.max_response_bytes
                ));
            }
            data.extend_from_slice(&chunk);
        }
        return Ok(FetchResponse {
            status: status.as_u16(),
            status_text,
            headers: resp_headers,
            url: url.to_string(),
            redirected,
            body: data,
        });
    }
}

/// A reqwest error as a message without the URL; a blocked address says so plainly.
fn describe_error(e: &reqwest::Error, host: &str) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(b) = err.downcast_ref::<BlockedAddress>() {
            return b.to_string();
        }
        source = err.source();
    }
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "failed reading the response"
    } else {
        "failed"
    };
    let mut detail = String::new();
    let mut source = std::error::Error::source(e);
    while let Some(err) = source {
        detail = err.to_string();
        source = err.source();
    }
    if detail.is_empty() {
        format!("request to '{host}' {kind}")
    } else {
        format!("request to '{host}' {kind}: {detail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_private_and_special_addresses() {
        for s in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
        ] {
            assert!(blocked_reason(ip(s)).is_some(), "{s} should be blocked");
        }
        for s in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(blocked_reason(ip(s)).is_none(), "{s} should be allowed");
        }
    }

    #[test]
    fn url_checks() {
        let policy = NetworkPolicy {
            allowed_hosts: vec![
                "api.example.com".into(),
                "127.0.0.1".into(),
                "10.0.0.1".into(),
            ],
            http_allowed_hosts: vec!["127.0.0.1".into()],
            allow_private_hosts: vec!["127.0.0.1".into()],
            ..NetworkPolicy::default()
        };
        let u = |s: &str| Url::parse(s).unwrap();
        assert!(check_url(&policy, &u("https://api.example.com/x")).is_ok());
        assert!(check_url(&policy, &u("https://API.EXAMPLE.COM:8443/x")).is_ok());
        assert!(check_url(&policy, &u("http://api.example.com/x"))
            .unwrap_err()
            .contains("plain http"));
        assert!(check_url(&policy, &u("https://other.example.com/"))
            .unwrap_err()
            .contains("allow-list"));
        assert!(check_url(&policy, &u("ftp://api.example.com/"))
            .unwrap_err()
            .contains("scheme"));
        assert!(check_url(&policy, &u("http://127.0.0.1:8080/")).is_ok());
        assert!(check_url(&policy, &u("https://10.0.0.1/"))
            .unwrap_err()
            .contains("private"));
        // The URL parser normalises odd IPv4 spellings before the check.
        assert!(check_url(&policy, &u("https://0x0a.0.0.1/"))
            .unwrap_err()
            .contains("private"));
    }
}
