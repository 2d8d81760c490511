//! The HTTP load generator: `connections` tasks, each with its own keep-alive connection,
//! sending one request after another (closed loop) for a warm-up and then a measured
//! window. A request counts if it completes inside the window. The requests go out through
//! [`http1`], a client lean enough not to take the server's CPU.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::http1;
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
    /// `host:port` of the server.
    authority: String,
    /// One per fixture hook; connection `i` uses hook `i % len` (the first one only for
    /// `PatchOneHook`).
    secrets_paths: Vec<String>,
    run_path: String,
    authorization: String,
    token_form: String,
}

/// One request, ready for [`http1::Connection::send`].
struct Prepared<'a> {
    method: &'static str,
    path: &'a str,
    headers: [&'a str; 2],
    header_count: usize,
    body: Vec<u8>,
}

const JSON: &str = "Content-Type: application/json";
const FORM: &str = "Content-Type: application/x-www-form-urlencoded";

impl Requests {
    /// `hook_ids` must not be empty; the Runner uses the first.
    pub fn new(
        base: &str,
        hook_ids: &[String],
        access_token: &str,
        token_form: String,
    ) -> anyhow::Result<Requests> {
        Ok(Requests {
            authority: http1::authority(base)?,
            secrets_paths: hook_ids
                .iter()
                .map(|id| format!("/api/v2/hooks/{id}/secrets"))
                .collect(),
            run_path: format!("/api/v2/hooks/{}/run", hook_ids[0]),
            authorization: format!("Authorization: Bearer {access_token}"),
            token_form,
        })
    }

    fn build(&self, target: Target, task: usize, n: u64) -> Prepared<'_> {
        let secrets_path = match target {
            Target::PatchOneHook => &self.secrets_paths[0],
            _ => &self.secrets_paths[task % self.secrets_paths.len()],
        };
        let auth = self.authorization.as_str();
        let (method, path, headers, header_count, body) = match target {
            Target::Healthz => ("GET", "/healthz", ["", ""], 0, Vec::new()),
            Target::GetSecrets => ("GET", secrets_path.as_str(), [auth, ""], 1, Vec::new()),
            Target::PatchSecrets | Target::PatchOneHook => (
                "PATCH",
                secrets_path.as_str(),
                [auth, JSON],
                2,
                // A new value each time, as a real rotation would send.
                format!(r#"{{"K":"v-{n:08}"}}"#).into_bytes(),
            ),
            Target::Runner => ("POST", self.run_path.as_str(), [auth, ""], 1, Vec::new()),
            Target::Token => (
                "POST",
                "/oauth/token",
                [FORM, ""],
                1,
                self.token_form.as_bytes().to_vec(),
            ),
        };
        Prepared {
            method,
            path,
            headers,
            header_count,
            body,
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
    let start = Instant::now();
    let measure_from = start + window.warmup;
    let measure_to = measure_from + window.measure;
    let mut tasks = Vec::with_capacity(connections);
    for i in 0..connections {
        let requests = Arc::clone(&requests);
        // Every task keeps exactly one connection alive.
        let mut connection = http1::Connection::new(requests.authority.clone());
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
                let request = requests.build(target, i, n);
                let answer = connection
                    .send(
                        request.method,
                        request.path,
                        &request.headers[..request.header_count],
                        &request.body,
                    )
                    .await;
                let ok = match answer {
                    Ok(response) if (200..300).contains(&response.status) => true,
                    Ok(response) => {
                        errors.status(response.status, response.body);
                        false
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
