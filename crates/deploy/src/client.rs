//! A small Management API client: token, bounded concurrency, 429 `Retry-After` and
//! backoff, and errors that say what to fix. It never prints a token, a client secret or a
//! secret value.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::model::RemoteHook;
use crate::progress::Progress;

/// How to reach and authenticate to the server (the `AUTH0_*` settings).
#[derive(Clone, Default)]
pub struct Connection {
    /// `host[:port]` (https), or `https://host[:port]`, or `http://127.0.0.1[:port]` /
    /// `http://localhost[:port]`.
    pub domain: String,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub access_token: Option<String>,
    pub audience: Option<String>,
    /// Extra PEM certificates to trust (a self-signed server).
    pub ca_cert: Option<PathBuf>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Retries of a 429 (and of a 5xx or a connection failure on reads).
    pub max_retries: u32,
    /// Print one line per request to stderr.
    pub debug: bool,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("domain", &self.domain)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "access_token",
                &self.access_token.as_ref().map(|_| "<redacted>"),
            )
            .field("audience", &self.audience)
            .field("ca_cert", &self.ca_cert)
            .finish()
    }
}

/// Where the server is: `base` is `scheme://host[:port]`, `host` is `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub base: String,
    pub host: String,
}

/// Parses `AUTH0_DOMAIN`. A bare `host[:port]` means https, as in a0deploy. Plain http is
/// allowed only for 127.0.0.1, ::1 and localhost, so a token never crosses a network in clear.
pub fn parse_domain(domain: &str) -> anyhow::Result<Endpoint> {
    let domain = domain.trim().trim_end_matches('/');
    if domain.is_empty() {
        anyhow::bail!(
            "AUTH0_DOMAIN is not set (pass --domain or set AUTH0_DOMAIN, e.g. 127.0.0.1:8443)"
        );
    }
    let (scheme, host) = if let Some(rest) = domain.strip_prefix("https://") {
        ("https", rest)
    } else if let Some(rest) = domain.strip_prefix("http://") {
        ("http", rest)
    } else if domain.contains("://") {
        anyhow::bail!("AUTH0_DOMAIN {domain:?} has an unsupported scheme; use host[:port], https://… or http://127.0.0.1…");
    } else {
        ("https", domain)
    };
    if host.is_empty()
        || host.contains('/')
        || host.contains('?')
        || host.contains('#')
        || host.contains('@')
    {
        anyhow::bail!("AUTH0_DOMAIN {domain:?} must be host[:port], without a path");
    }
    if scheme == "http" {
        let name = if let Some(v6) = host.strip_prefix('[') {
            v6.split(']').next().unwrap_or("")
        } else {
            host.split(':').next().unwrap_or("")
        };
        if !matches!(name, "127.0.0.1" | "localhost" | "::1") {
            anyhow::bail!(
                "plain http is allowed only for 127.0.0.1 and localhost; use https for {host} (with --ca-cert for a self-signed certificate)"
            );
        }
    }
    Ok(Endpoint {
        base: format!("{scheme}://{host}"),
        host: host.to_string(),
    })
}

/// A failed Management API call, with Auth0's error fields.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub error: String,
    pub message: String,
    pub error_code: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} failed: {} {}",
            self.method, self.path, self.status, self.error
        )?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(code) = &self.error_code {
            write!(f, " ({code})")?;
        }
        match self.status {
            401 => write!(
                f,
                ". The server did not accept the token: check AUTH0_ACCESS_TOKEN (expired, or issued by another server?) or AUTH0_CLIENT_ID/AUTH0_CLIENT_SECRET"
            ),
            403 => write!(
                f,
                ". The token lacks a scope this needs: give the deploy client read:hooks, create:hooks, update:hooks and delete:hooks"
            ),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ApiError {}

#[derive(Debug, Default)]
pub struct Stats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
}

/// An authenticated client. Cheap to clone; clones share the concurrency limit.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    pub endpoint: Endpoint,
    token: Arc<String>,
    limit: Arc<Semaphore>,
    max_retries: u32,
    debug: bool,
    pub stats: Arc<Stats>,
}

impl Api {
    /// Builds the client and obtains a token (unless one was given).
    pub async fn connect(conn: &Connection) -> anyhow::Result<Api> {
        let endpoint = parse_domain(&conn.domain)?;
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("hookhaven-deploy/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &conn.ca_cert {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading the CA certificate {}", path.display()))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{} is not a PEM certificate bundle", path.display()))?;
            if certs.is_empty() {
                anyhow::bail!("{} holds no PEM certificate", path.display());
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder.build().context("building the HTTP client")?;
        let mut api = Api {
            http,
            endpoint,
            token: Arc::new(String::new()),
            limit: Arc::new(Semaphore::new(conn.concurrency.max(1))),
            max_retries: conn.max_retries,
            debug: conn.debug,
            stats: Arc::new(Stats::default()),
        };
        let token = match (&conn.access_token, &conn.client_id, &conn.client_secret) {
            (Some(token), _, _) if !token.is_empty() => token.clone(),
            (_, Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => {
                let audience = conn
                    .audience
                    .clone()
                    .unwrap_or_else(|| format!("https://{}/api/v2/", api.endpoint.host));
                api.client_credentials(id, secret, &audience).await?
            }
            _ => anyhow::bail!(
                "no credentials: set AUTH0_ACCESS_TOKEN, or AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET (or pass --access-token / --client-id and --client-secret)"
            ),
        };
        api.token = Arc::new(token);
        Ok(api)
    }

    async fn client_credentials(
        &self,
        id: &str,
        secret: &str,
        audience: &str,
    ) -> anyhow::Result<String> {
        let url = format!("{}/oauth/token", self.endpoint.base);
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("audience", audience),
        ];
        let mut attempt = 0;
        let response = loop {
            let sent = self.http.post(&url).form(&form).send().await;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            match sent {
                Ok(r)
                    if r.status() == StatusCode::TOO_MANY_REQUESTS
                        && attempt < self.max_retries =>
                {
                    let wait = retry_wait(r.headers(), attempt);
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(wait).await;
                }
                Ok(r) => break r,
                Err(e) if e.is_connect() && attempt < self.max_retries.min(3) => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => return Err(connect_error(&self.endpoint, e)),
            }
            attempt += 1;
        };
        let status = response.status();
        if self.debug {
            eprintln!("POST /oauth/token -> {}", status.as_u16());
        }
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let error = body["error"].as_str().unwrap_or("").to_string();
            let description = body["error_description"].as_str().unwrap_or("").to_string();
            let hint = match status.as_u16() {
                401 => "the server rejected AUTH0_CLIENT_ID/AUTH0_CLIENT_SECRET",
                403 => "the client may not get a token for this audience: it needs a client grant for the Management API (or set AUTH0_AUDIENCE)",
                _ => "the token request failed",
            };
            anyhow::bail!(
                "{hint}: POST /oauth/token returned {} {error} {description}",
                status.as_u16()
            );
        }
        body["access_token"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow::anyhow!("POST /oauth/token returned no access_token"))
    }

    /// The scopes in the token, when it is a JWT with a `scope` claim.
    pub fn token_scopes(&self) -> Option<HashSet<String>> {
        let payload = self.token.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        let claims: Value = serde_json::from_slice(&bytes).ok()?;
        Some(
            claims["scope"]
                .as_str()?
                .split_whitespace()
                .map(str::to_string)
                .collect(),
        )
    }

    /// One Management API call. Returns the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, anyhow::Error> {
        let _permit = self
            .limit
            .acquire()
            .await
            .context("the request limiter closed")?;
        let url = format!("{}{}", self.endpoint.base, path);
        let reads = method == Method::GET;
        let mut attempt: u32 = 0;
        loop {
            let started = Instant::now();
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(self.token.as_str());
            if let Some(body) = body {
                request = request.json(body);
            }
            let sent = request.send().await;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let response = match sent {
                Ok(r) => r,
                // Nothing reached the server: safe to try again, whatever the method.
                Err(e)
                    if (e.is_connect() || (reads && e.is_timeout()))
                        && attempt < self.max_retries.min(5) =>
                {
                    self.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(connect_error(&self.endpoint, e)),
            };
            let status = response.status();
            if self.debug {
                eprintln!(
                    "{method} {path} -> {} ({} ms)",
                    status.as_u16(),
                    started.elapsed().as_millis()
                );
            }
            let retry =
                status == StatusCode::TOO_MANY_REQUESTS || (reads && status.is_server_error());
            if retry && attempt < self.max_retries {
                let wait = retry_wait(response.headers(), attempt);
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            let text = response.text().await.unwrap_or_default();
            let value = if text.trim().is_empty() {
                Value::Null
            } else {
                serde_json::from_str(&text).unwrap_or(Value::Null)
            };
            if status.is_success() {
                return Ok(value);
            }
            return Err(ApiError {
                method: method.to_string(),
                path: path.to_string(),
                status: status.as_u16(),
                error: value["error"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string()),
                message: value["message"].as_str().unwrap_or("").to_string(),
                error_code: value["errorCode"].as_str().map(str::to_string),
            }
            .into());
        }
    }

    /// Every hook with its code and secret names: the list (paged, 100 at a time), then the
    /// secrets of each hook, `concurrency` requests at a time. The hook itself is fetched
    /// only when the list leaves out its script.
    pub async fn fetch_hooks(&self, progress: &Progress) -> anyhow::Result<Vec<RemoteHook>> {
        const PER_PAGE: u64 = 100;
        let first = self
            .call(Method::GET, &list_path(0, PER_PAGE), None)
            .await?;
        let (mut items, total) = match first {
            Value::Object(mut envelope) => {
                let items = match envelope.remove("hooks") {
                    Some(Value::Array(items)) => items,
                    _ => anyhow::bail!(
                        "GET /api/v2/hooks?include_totals=true returned no `hooks` list"
                    ),
                };
                let total = envelope
                    .get("total")
                    .and_then(Value::as_u64)
                    .unwrap_or(items.len() as u64);
                (items, total)
            }
            // A server that ignores include_totals answers with the whole list.
            Value::Array(items) => {
                let n = items.len() as u64;
                (items, n)
            }
            _ => anyhow::bail!("GET /api/v2/hooks returned neither a list nor an envelope"),
        };
        let pages = total.div_ceil(PER_PAGE);
        if pages > 1 && items.len() as u64 == PER_PAGE {
            let mut set = tokio::task::JoinSet::new();
            for page in 1..pages {
                let api = self.clone();
                set.spawn(async move {
                    let v = api
                        .call(Method::GET, &list_path(page, PER_PAGE), None)
                        .await;
                    (page, v)
                });
            }
            let mut rest = BTreeMap::new();
            while let Some(joined) = set.join_next().await {
                let (page, value) = joined.context("a list request panicked")?;
                let hooks = match value? {
                    Value::Object(mut o) => match o.remove("hooks") {
                        Some(Value::Array(a)) => a,
                        _ => Vec::new(),
                    },
                    _ => Vec::new(),
                };
                rest.insert(page, hooks);
            }
            for (_, hooks) in rest {
                items.extend(hooks);
            }
        }
        if items.len() as u64 != total {
            anyhow::bail!(
                "the server reported {total} hooks but listed {}; did hooks change during the run? Run it again",
                items.len()
            );
        }
        progress.phase("reading hooks", items.len());
        let mut set = tokio::task::JoinSet::new();
        for (index, item) in items.into_iter().enumerate() {
            let api = self.clone();
            set.spawn(async move {
                let id = item["id"].as_str().unwrap_or("").to_string();
                if id.is_empty() {
                    anyhow::bail!("GET /api/v2/hooks listed a hook without an id");
                }
                let hook = if item.get("script").is_some() {
                    item
                } else {
                    api.call(Method::GET, &format!("/api/v2/hooks/{id}"), None)
                        .await?
                };
                let secrets = api
                    .call(Method::GET, &format!("/api/v2/hooks/{id}/secrets"), None)
                    .await?;
                Ok((index, remote_hook(&hook, &secrets)?))
            });
        }
        let mut hooks = Vec::new();
        while let Some(joined) = set.join_next().await {
            let result: anyhow::Result<(usize, RemoteHook)> = joined.context("a read panicked")?;
            match result {
                Ok(pair) => hooks.push(pair),
                Err(e) => {
                    set.abort_all();
                    progress.finish();
                    return Err(e);
                }
            }
            progress.tick();
        }
        progress.finish();
        hooks.sort_by_key(|(i, _)| *i);
        Ok(hooks.into_iter().map(|(_, h)| h).collect())
    }
}

fn list_path(page: u64, per_page: u64) -> String {
    format!("/api/v2/hooks?page={page}&per_page={per_page}&include_totals=true")
}

fn remote_hook(hook: &Value, secrets: &Value) -> anyhow::Result<RemoteHook> {
    let text = |k: &str| hook[k].as_str().map(str::to_string);
    let id = text("id").unwrap_or_default();
    let dependencies = match &hook["dependencies"] {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                )
            })
            .collect(),
        _ => BTreeMap::new(),
    };
    let mut secret_names: Vec<String> = match secrets {
        Value::Object(m) => m.keys().cloned().collect(),
        Value::Null => Vec::new(),
        _ => anyhow::bail!("GET /api/v2/hooks/{id}/secrets did not return an object"),
    };
    secret_names.sort();
    Ok(RemoteHook {
        name: text("name").ok_or_else(|| anyhow::anyhow!("hook {id} has no name"))?,
        script: text("script").unwrap_or_default(),
        trigger_id: text("triggerId").unwrap_or_default(),
        enabled: hook["enabled"].as_bool().unwrap_or(false),
        dependencies,
        secret_names,
        id,
    })
}

/// How long to wait before retrying: `Retry-After` (seconds), else `x-ratelimit-reset`
/// (epoch seconds), else exponential backoff; at most a minute.
fn retry_wait(headers: &reqwest::header::HeaderMap, attempt: u32) -> Duration {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    let wait = if let Some(seconds) = header("retry-after") {
        Duration::from_secs(seconds)
    } else if let Some(reset) = header("x-ratelimit-reset") {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Duration::from_secs(reset.saturating_sub(now))
    } else {
        backoff(attempt)
    };
    // Never hammer: at least the backoff's first step, plus a little jitter.
    (wait.max(Duration::from_millis(100)) + jitter()).min(Duration::from_secs(60))
}

fn backoff(attempt: u32) -> Duration {
    let ms = 250u64.saturating_mul(1 << attempt.min(6));
    Duration::from_millis(ms.min(10_000)) + jitter()
}

fn jitter() -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_millis(u64::from(nanos % 100))
}

fn connect_error(endpoint: &Endpoint, e: reqwest::Error) -> anyhow::Error {
    // reqwest's Display can include the URL but never a header or a body.
    let mut text = format!("cannot reach {}: {e}", endpoint.base);
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    if text.contains("certificate") || text.contains("UnknownIssuer") {
        text.push_str(" (for a self-signed server pass --ca-cert <data>/tls/cert.pem)");
    }
    anyhow::anyhow!(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(
            parse_domain("127.0.0.1:8443").unwrap(),
            Endpoint {
                base: "https://127.0.0.1:8443".into(),
                host: "127.0.0.1:8443".into()
            }
        );
        assert_eq!(
            parse_domain("https://example.com/").unwrap().base,
            "https://example.com"
        );
        assert_eq!(
            parse_domain("http://localhost:8080").unwrap().base,
            "http://localhost:8080"
        );
        assert_eq!(
            parse_domain("http://[::1]:8080").unwrap().base,
            "http://[::1]:8080"
        );
        assert!(parse_domain("http://example.com").is_err());
        assert!(parse_domain("http://127.0.0.1.evil.com").is_err());
        assert!(parse_domain("https://example.com/api").is_err());
        assert!(parse_domain("").is_err());
    }

    #[test]
    fn retry_after_is_respected_and_capped() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        let w = retry_wait(&h, 0);
        assert!(
            w >= Duration::from_secs(2) && w < Duration::from_millis(2200),
            "{w:?}"
        );
        h.insert("retry-after", "3600".parse().unwrap());
        assert_eq!(retry_wait(&h, 0), Duration::from_secs(60));
        let none = reqwest::header::HeaderMap::new();
        assert!(retry_wait(&none, 3) >= Duration::from_secs(2));
    }

    #[test]
    fn connection_debug_hides_credentials() {
        let c = Connection {
            client_secret: Some("very-secret".into()),
            access_token: Some("tok.en.value".into()),
            ..Connection::default()
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("tok.en.value"));
    }

    #[test]
    fn api_errors_explain_401_and_403() {
        let e = ApiError {
            method: "GET".into(),
            path: "/api/v2/hooks".into(),
            status: 403,
            error: "Forbidden".into(),
            message: "Insufficient scope, expected any of: read:hooks".into(),
            error_code: Some("insufficient_scope".into()),
        };
        let text = e.to_string();
        assert!(
            text.contains("403 Forbidden") && text.contains("read:hooks, create:hooks"),
            "{text}"
        );
    }
}
