//! Starting the release `hookhaven` binary on a fresh data dir and preparing what the load
//! phases need: a token, a hook and one secret.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

/// Far above anything two cores can serve, so the limiter never refuses a request.
pub const RATE_LIMIT_BURST: u32 = 1_000_000_000;
pub const RATE_LIMIT_PER_SECOND: f64 = 1_000_000_000.0;

const START_TIMEOUT: Duration = Duration::from_secs(120);

pub struct Server {
    child: Child,
    pub base: String,
    pub domain: String,
    pub data_dir: PathBuf,
    pub log_file: PathBuf,
}

impl Server {
    /// Spawns `bin serve` (with `extra` arguments, e.g. `--database-url`) on a free loopback
    /// port and waits until it answers `/healthz`.
    pub async fn start(
        bin: &Path,
        work: &Path,
        log_level: &str,
        extra: &[String],
    ) -> anyhow::Result<Server> {
        let port = free_port()?;
        let domain = format!("127.0.0.1:{port}");
        let data_dir = work.join("data");
        let log_file = work.join("server.log");
        let log = std::fs::File::create(&log_file)
            .with_context(|| format!("creating {}", log_file.display()))?;
        let mut child = Command::new(bin)
            .arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .args(["--listen", &domain, "--domain", &domain])
            .args(["--rate-limit-burst", &RATE_LIMIT_BURST.to_string()])
            .args([
                "--rate-limit-per-second",
                &RATE_LIMIT_PER_SECOND.to_string(),
            ])
            .args(extra)
            .env("RUST_LOG", log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;

        // Read stdout on a thread for the whole run: a full pipe would stall the server.
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("hookhaven listening on ") {
                    let _ = tx.send(line);
                }
            }
        });
        let mut server = Server {
            child,
            base: format!("http://{domain}"),
            domain,
            data_dir,
            log_file,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(line) = rx.try_recv() {
                if !line.contains(&server.domain) {
                    bail!("server announced {line:?}, expected {}", server.domain);
                }
                break;
            }
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "the server exited during start-up ({status}); its log:\n{}",
                    server.log_tail()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "the server did not start within {START_TIMEOUT:?}; its log:\n{}",
                    server.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let client = reqwest::Client::new();
        loop {
            let ok = client
                .get(format!("{}/healthz", server.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!("the server never answered /healthz");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// What the load phases send.
pub struct Fixture {
    pub client_id: String,
    /// The form body of a client-credentials token request.
    pub token_form: String,
    pub access_token: String,
    /// The scope string of the issued token, so the signing baseline signs the same claims.
    pub scope: String,
    pub audience: String,
    /// The first hook: the hook phases change and run it.
    pub hook_id: String,
    /// Every hook, each with its secret `K`; `hook_ids[0] == hook_id`.
    pub hook_ids: Vec<String>,
}

/// Reads the admin credentials, fetches a token, creates `hooks` hooks (at least one),
/// each with its secret `K`.
pub async fn prepare(server: &Server, hooks: usize) -> anyhow::Result<Fixture> {
    let path = server.data_dir.join("admin-credentials.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let creds: Value = serde_json::from_str(&text).context("parsing the admin credentials")?;
    let field = |name: &str| {
        creds[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("admin credentials have no {name}"))
    };
    let client_id = field("client_id")?;
    let client_secret = field("client_secret")?;
    let audience = format!("https://{}/api/v2/", server.domain);

    let client = reqwest::Client::new();
    let token_url = format!("{}/oauth/token", server.base);
    let request = client
        .post(&token_url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &client_secret),
            ("audience", &audience),
        ])
        .build()?;
    let token_form = request
        .body()
        .and_then(|b| b.as_bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .ok_or_else(|| anyhow!("the token form has no body"))?;
    let token: Value = expect(client.execute(request).await?, 200, "POST /oauth/token").await?;
    let access_token = token["access_token"]
        .as_str()
        .ok_or_else(|| anyhow!("token response has no access_token: {token}"))?
        .to_string();
    let scope = token["scope"].as_str().unwrap_or_default().to_string();

    let mut hook_ids = Vec::with_capacity(hooks.max(1));
    for n in 0..hooks.max(1) {
        let hook: Value = expect(
            client
                .post(format!("{}/api/v2/hooks", server.base))
                .bearer_auth(&access_token)
                .json(&serde_json::json!({
                    "name": if n == 0 { "bench".to_string() } else { format!("bench-{n}") },
                    "script": "module.exports=function(){}",
                    "triggerId": "credentials-exchange",
                    // Disabled: the token phase measures issuing a token, not running a hook.
                    "enabled": false,
                }))
                .send()
                .await?,
            201,
            "POST /api/v2/hooks",
        )
        .await?;
        let hook_id = hook["id"]
            .as_str()
            .ok_or_else(|| anyhow!("hook response has no id: {hook}"))?
            .to_string();
        expect(
            client
                .post(format!("{}/api/v2/hooks/{hook_id}/secrets", server.base))
                .bearer_auth(&access_token)
                .json(&serde_json::json!({ "K": "v" }))
                .send()
                .await?,
            201,
            "POST /api/v2/hooks/{id}/secrets",
        )
        .await?;
        hook_ids.push(hook_id);
    }
    Ok(Fixture {
        client_id,
        token_form,
        access_token,
        scope,
        audience,
        hook_id: hook_ids[0].clone(),
        hook_ids,
    })
}

async fn expect(response: reqwest::Response, status: u16, what: &str) -> anyhow::Result<Value> {
    let got = response.status().as_u16();
    let body = response.bytes().await?;
    if got != status {
        bail!(
            "{what} answered {got}, expected {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    serde_json::from_slice(&body).with_context(|| format!("{what} did not answer JSON"))
}
