//! The HTTP load generator: `connections` tasks, each with its own keep-alive connection,
//! sending one request after another (closed loop) for a warm-up and then a measured
//! window. A request counts if it completes inside the window.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};

use crate::stats::{cpu_delta, micros, CpuProbe, Errors, Measured, Sampler};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Healthz,
    GetSecrets,
    PatchSecrets,
    /// `PATCH` from every connection to the first hook only: the writes queue on that
    /// hook's lock (PostgreSQL mode, for information).
    PatchOneHook,
    Token,
    /// `POST /api/v2/hooks/{id}/run` with an empty body: the saved (trivial) script on the
    /// trigger's sample payload.
    Runner,
}

impl Target {
    pub fn label(self) -> &'static str {
        match self {
            Target::Healthz => "GET /healthz",
            Target::GetSecrets => "GET /api/v2/hooks/{id}/secrets",
            Target::PatchSecrets => "PATCH /api/v2/hooks/{id}/secrets (1 key)",
            Target::PatchOneHook => "PATCH /api/v2/hooks/{id}/secrets (1 key), all on one hook",
            Target::Token => "POST /oauth/token",
            Target::Runner => "POST /api/v2/hooks/{id}/run (trivial hook)",
        }
    }
}

/// Everything a request needs, built once.
pub struct Requests {
    healthz_url: String,
    /// One per fixture hook; connection `i` uses hook `i % len` (the first one only for
    /// `PatchOneHook`).
    secrets_urls: Vec<String>,
    run_url: String,
    token_url: String,
    bearer: HeaderValue,
    token_form: String,
}

impl Requests {
    /// `hook_ids` must not be empty; the Runner uses the first.
    pub fn new(
        base: &str,
        hook_ids: &[String],
        access_token: &str,
        token_form: String,
    ) -> Requests {
        Requests {
            healthz_url: format!("{base}/healthz"),
            secrets_urls: hook_ids
                .iter()
                .map(|id| format!("{base}/api/v2/hooks/{id}/secrets"))
                .collect(),
            run_url: format!("{base}/api/v2/hooks/{}/run", hook_ids[0]),
            token_url: format!("{base}/oauth/token"),
            bearer: HeaderValue::from_str(&format!("Bearer {access_token}"))
                .expect("a JWT is a valid header value"),
            token_form,
        }
    }

    fn build(
        &self,
        client: &reqwest::Client,
        target: Target,
        task: usize,
        n: u64,
    ) -> reqwest::RequestBuilder {
        let secrets_url = match target {
            Target::PatchOneHook => &self.secrets_urls[0],
            _ => &self.secrets_urls[task % self.secrets_urls.len()],
        };
        match target {
            Target::Healthz => client.get(&self.healthz_url),
            Target::GetSecrets => client
                .get(secrets_url)
                .header(AUTHORIZATION, self.bearer.clone()),
            Target::PatchSecrets | Target::PatchOneHook => client
                .patch(secrets_url)
                .header(AUTHORIZATION, self.bearer.clone())
                .header(CONTENT_TYPE, "application/json")
                // A new value each time, as a real rotation would send.
                .body(format!(r#"{{"K":"v-{n:08}"}}"#)),
            Target::Runner => client
                .post(&self.run_url)
                .header(AUTHORIZATION, self.bearer.clone()),
            Target::Token => client
                .post(&self.token_url)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(self.token_form.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub warmup: Duration,
    pub measure: Duration,
}

struct TaskResult {
    latencies_us: Vec<u32>,
    errors: Errors,
}

/// Runs one phase against the server; `sampler` names the server process (and
/// PostgreSQL's, in PostgreSQL mode) whose CPU the phase reports.
pub async fn run(
    requests: Arc<Requests>,
    target: Target,
    connections: usize,
    window: Window,
    sampler: &Sampler,
) -> anyhow::Result<Measured> {
    // Every task gets its own client, so each keeps exactly one connection alive.
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(
            reqwest::Client::builder()
                .http1_only()
                .pool_max_idle_per_host(1)
                .tcp_nodelay(true)
                .timeout(Duration::from_secs(60))
                .build()?,
        );
    }
    let start = Instant::now();
    let measure_from = start + window.warmup;
    let measure_to = measure_from + window.measure;
    let mut tasks = Vec::with_capacity(connections);
    for (i, client) in clients.into_iter().enumerate() {
        let requests = Arc::clone(&requests);
        tasks.push(tokio::spawn(async move {
            let mut latencies_us = Vec::with_capacity(65_536);
            let mut errors = Errors::default();
            let mut n = (i as u64) << 40;
            loop {
                let sent = Instant::now();
                if sent >= measure_to {
                    break;
                }
                n += 1;
                let ok = match requests.build(&client, target, i, n).send().await {
                    Ok(response) => {
                        let status = response.status();
                        // Read the whole body so the connection is reused.
                        match response.bytes().await {
                            Ok(_) if status.is_success() => true,
                            Ok(body) => {
                                errors.status(status.as_u16(), &body);
                                false
                            }
                            Err(e) => {
                                errors.transport(&e);
                                false
                            }
                        }
                    }
                    Err(e) => {
                        errors.transport(&e);
                        false
                    }
                };
                let done = Instant::now();
                if ok && done >= measure_from && done < measure_to {
                    latencies_us.push(micros(done - sent));
                }
            }
            TaskResult {
                latencies_us,
                errors,
            }
        }));
    }

    let probe = CpuProbe::new();
    tokio::time::sleep_until(measure_from.into()).await;
    let before = sampler.snapshot(&probe).await;
    tokio::time::sleep_until(measure_to.into()).await;
    let after = sampler.snapshot(&probe).await;

    let mut latencies_us = Vec::new();
    let mut errors = Errors::default();
    for task in tasks {
        let result = task.await?;
        latencies_us.extend(result.latencies_us);
        errors.merge(result.errors);
    }
    Ok(Measured::new(
        target.label(),
        window.measure,
        latencies_us,
        errors,
        cpu_delta(before, after),
    ))
}
