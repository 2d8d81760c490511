//! Hook measurements (the hook runtime issue): Runner throughput for a trivial hook, the
//! latency a credentials-exchange hook adds to `/oauth/token` against the same endpoint
//! with no hook enabled, and, as a peer, the same trivial hook run in Node.js `vm` with a
//! fresh context per call — all in one run on this machine.
//!
//! The Runner and the Node peer are measured in alternating windows, and the target is the
//! median of the per-round ratios: on a shared 2-core machine the speed available to one
//! phase drifts by tens of percent over a minute, and alternating makes the drift cancel.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use serde_json::{json, Value};

use crate::load::{self, Requests, Target, Window};
use crate::server::{Fixture, Server};
use crate::stats::{CpuUse, Errors, Measured, Sampler};

/// The trivial credentials-exchange hook every measurement runs.
pub const TRIVIAL_HOOK: &str =
    "module.exports = function (client, scope, audience, context, cb) { cb(null, { scope: scope }); };";

/// How many Runner / Node windows are alternated.
const PEER_ROUNDS: usize = 3;

pub struct HookResults {
    /// One Runner measurement per round.
    pub runner: Vec<Measured>,
    pub token_without_hook: Measured,
    pub token_with_hook: Measured,
    /// The Node peer in each round (empty when Node could not run).
    pub node_vm: Vec<Measured>,
    /// For information: the like-for-like Node peer (behind Node's HTTP server, loaded like
    /// the Runner) in each round (empty when Node could not run).
    pub node_http: Vec<Measured>,
}

impl HookResults {
    /// Runner rate / Node rate in each round where both were measured.
    fn ratios(&self) -> Vec<f64> {
        ratios(&self.runner, &self.node_vm)
    }
}

/// `a` rate / `b` rate in each round where both were measured.
fn ratios(a: &[Measured], b: &[Measured]) -> Vec<f64> {
    a.iter().zip(b).map(|(a, b)| a.rate() / b.rate()).collect()
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied()
}

async fn patch_hook(server: &Server, fixture: &Fixture, body: Value) -> anyhow::Result<()> {
    let response = reqwest::Client::new()
        .patch(format!("{}/api/v2/hooks/{}", server.base, fixture.hook_id))
        .bearer_auth(&fixture.access_token)
        .json(&body)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!(
            "PATCH hook: {} {}",
            response.status(),
            response.text().await?
        );
    }
    Ok(())
}

/// Where and how the hook phases run.
pub struct HookLoad<'a> {
    pub requests: &'a Arc<Requests>,
    pub connections: usize,
    pub window: Window,
    pub sampler: &'a Sampler,
    /// Where the Node peer's script is written.
    pub work: &'a Path,
    /// Node processes for the peer (one per core, like the runtime's workers).
    pub node_processes: usize,
}

/// Runs the hook phases against a running server: the Runner alternating with the Node
/// peer (the server idles during the peer's windows), then the token comparison over one
/// connection (under 64 concurrent connections the p50 is queueing, not the hook's cost).
pub async fn measure(
    server: &Server,
    fixture: &Fixture,
    load: HookLoad<'_>,
) -> anyhow::Result<HookResults> {
    let HookLoad {
        requests,
        connections,
        window,
        sampler,
        work,
        node_processes,
    } = load;
    patch_hook(
        server,
        fixture,
        json!({ "script": TRIVIAL_HOOK, "enabled": false }),
    )
    .await?;
    let mut runner = Vec::new();
    let mut node_vm = Vec::new();
    let mut node_http = Vec::new();
    let mut node_ok = true;
    for round in 1..=PEER_ROUNDS {
        println!(
            "phase: {} ({connections} connections), round {round} of {PEER_ROUNDS}",
            Target::Runner.label()
        );
        let mut measured = load::run(
            Arc::clone(requests),
            Target::Runner,
            connections,
            window,
            sampler,
        )
        .await?;
        measured.name = format!("{}, round {round}", measured.name);
        println!("      {}", measured.summary());
        runner.push(measured);
        if node_ok {
            println!("peer: Node.js vm, fresh context per call ({node_processes} processes), round {round} of {PEER_ROUNDS}");
            match node_vm_peer(work, window, node_processes) {
                Ok(mut node) => {
                    node.name = format!("{}, round {round}", node.name);
                    println!("      {}", node.summary());
                    node_vm.push(node);
                }
                Err(e) => {
                    println!("      not measured: {e:#}");
                    node_ok = false;
                }
            }
        }
        if node_ok {
            println!("peer (information): Node.js http + vm, fresh context per request ({node_processes} processes, {connections} connections), round {round} of {PEER_ROUNDS}");
            let peer = NodeHttpPeer {
                work,
                processes: node_processes,
                fixture,
                connections,
                window,
            };
            match peer.measure().await {
                Ok(mut node) => {
                    node.name = format!("{}, round {round}", node.name);
                    println!("      {}", node.summary());
                    node_http.push(node);
                }
                Err(e) => println!("      not measured: {e:#}"),
            }
        }
    }
    println!("phase: POST /oauth/token, no hook enabled (1 connection)");
    let token_without_hook =
        load::run(Arc::clone(requests), Target::Token, 1, window, sampler).await?;
    println!("      {}", token_without_hook.summary());
    patch_hook(server, fixture, json!({ "enabled": true })).await?;
    println!("phase: POST /oauth/token, trivial credentials-exchange hook enabled (1 connection)");
    let mut token_with_hook =
        load::run(Arc::clone(requests), Target::Token, 1, window, sampler).await?;
    token_with_hook.name = "POST /oauth/token + credentials-exchange hook".into();
    println!("      {}", token_with_hook.summary());
    patch_hook(server, fixture, json!({ "enabled": false })).await?;
    Ok(HookResults {
        runner,
        token_without_hook,
        token_with_hook,
        node_vm,
        node_http,
    })
}

/// JavaScript for both Node peers: `runHook()` runs [`TRIVIAL_HOOK`] (compiled once with
/// `vm.Script`) in a fresh `vm` context on the Runner's sample payload and returns its
/// result.
fn node_run_hook() -> anyhow::Result<String> {
    Ok(format!(
        r#"const vm = require('vm');
const compiled = new vm.Script('(function () {{ var module = {{ exports: {{}} }}; ' + {source} + '; return module.exports; }})()');
const payload = {{ audience: 'https://example/api/v2/', client: {{ id: 'c', name: 'n', tenant: 't', metadata: {{}} }}, scope: ['read:connections'] }};
function runHook() {{
  const hook = compiled.runInContext(vm.createContext({{}}));
  let result;
  hook(payload.client, payload.scope, payload.audience, {{ webtask: {{ secrets: {{}} }} }}, (err, res) => {{ result = res; }});
  return result;
}}"#,
        source = serde_json::to_string(TRIVIAL_HOOK)?
    ))
}

/// The Node.js peer: the same hook, compiled with `vm.Script` and run in a fresh context
/// per call (`vm.createContext` each time), one call after another for `window`, on each
/// of `processes` Node processes (one per core, like the runtime's workers).
fn node_vm_peer(work: &Path, window: Window, processes: usize) -> anyhow::Result<Measured> {
    let script = work.join("node-vm-peer.js");
    std::fs::write(
        &script,
        format!(
            r#"{run_hook}
function once() {{
  if (!runHook()) throw new Error('no result');
}}
const warmupMs = Number(process.argv[2]), measureMs = Number(process.argv[3]);
const start = Date.now();
while (Date.now() - start < warmupMs) once();
const lat = [];
const end = Date.now() + measureMs;
while (Date.now() < end) {{ const t = process.hrtime.bigint(); once(); lat.push(Number((process.hrtime.bigint() - t) / 1000n)); }}
process.stdout.write(JSON.stringify(lat));
"#,
            run_hook = node_run_hook()?
        ),
    )?;
    let children: Vec<_> = (0..processes.max(1))
        .map(|_| {
            Command::new("node")
                .arg(&script)
                .arg(window.warmup.as_millis().to_string())
                .arg(window.measure.as_millis().to_string())
                .output()
        })
        .collect::<Result<_, _>>()
        .context("running node (is Node.js installed?)")?;
    let mut latencies = Vec::new();
    for out in children {
        if !out.status.success() {
            bail!("node failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let lat: Vec<u32> =
            serde_json::from_slice(&out.stdout).map_err(|e| anyhow!("node output: {e}"))?;
        latencies.extend(lat);
    }
    Ok(Measured::new(
        "Node.js vm, fresh context per call (in-process)",
        window.measure,
        latencies,
        Errors::default(),
        CpuUse::default(),
    ))
}

/// For information, a like-for-like peer: the same hook in Node.js `vm`, a fresh context
/// per request, behind Node's own HTTP server (`cluster`, one process per core), answering
/// what the Runner answers (`{result, logs, duration_ms}`), loaded by the same load
/// generator over the same number of connections. The target compares the Runner with
/// Node's in-process rate (`node_vm_peer`), which pays for no HTTP at all.
struct NodeHttpPeer<'a> {
    work: &'a Path,
    processes: usize,
    fixture: &'a Fixture,
    connections: usize,
    window: Window,
}

impl NodeHttpPeer<'_> {
    async fn measure(&self) -> anyhow::Result<Measured> {
        let script = self.work.join("node-http-peer.js");
        std::fs::write(
            &script,
            format!(
                r#"const cluster = require('cluster'), http = require('http');
{run_hook}
const port = Number(process.argv[2]), workers = Number(process.argv[3]);
if (cluster.isPrimary) {{
  let up = 0;
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('listening', () => {{ if (++up === workers) console.log('ready'); }});
  process.on('SIGTERM', () => {{ for (const id in cluster.workers) cluster.workers[id].kill(); process.exit(0); }});
}} else {{
  process.on('disconnect', () => process.exit(0));
  http.createServer((req, res) => {{
    req.on('data', () => {{}});
    req.on('end', () => {{
      const started = process.hrtime.bigint();
      const result = runHook();
      const body = JSON.stringify({{ result, logs: [], duration_ms: Number(process.hrtime.bigint() - started) / 1e6 }});
      res.writeHead(200, {{ 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }});
      res.end(body);
    }});
  }}).listen(port, '127.0.0.1');
}}
"#,
                run_hook = node_run_hook()?
            ),
        )?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut node = Command::new("node")
            .arg(&script)
            .arg(port.to_string())
            .arg(self.processes.max(1).to_string())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("running node (is Node.js installed?)")?;
        // Killing the primary closes its workers' IPC channel, and they exit on that.
        let stdout = node.stdout.take().context("node's stdout")?;
        let node = KillOnDrop(node);
        let mut ready = String::new();
        // Blocking, once, before any load: the line comes within a second.
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut ready)?;
        if ready.trim() != "ready" {
            bail!("the Node HTTP peer did not start: {ready:?}");
        }
        let requests = Arc::new(Requests::new(
            &format!("http://127.0.0.1:{port}"),
            &self.fixture.hook_ids,
            &self.fixture.access_token,
            self.fixture.token_form.clone(),
        )?);
        // Node's processes are not the server: their CPU shows as "other processes".
        let measured = load::run(
            requests,
            Target::Runner,
            self.connections,
            self.window,
            &Sampler::new(None, None),
        )
        .await;
        drop(node);
        let mut measured = measured?;
        measured.name = "Node.js http + vm, fresh context per request (information)".into();
        Ok(measured)
    }
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Prints the hook table and the two targets; returns whether both were met.
pub fn report(results: &HookResults, processes: usize) -> bool {
    let ms = |m: &Measured, p: f64| m.percentile_ms(p);
    println!();
    println!("== hooks ==");
    println!();
    println!("| measurement | per second | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|");
    let rows = results
        .runner
        .iter()
        .chain(&results.node_vm)
        .chain(&results.node_http)
        .chain([&results.token_without_hook, &results.token_with_hook]);
    for m in rows {
        println!(
            "| {} | {:.0} | {:.3} | {:.3} | {} |",
            m.name,
            m.rate(),
            ms(m, 50.0),
            ms(m, 99.0),
            m.errors.total()
        );
    }
    let overhead = ms(&results.token_with_hook, 50.0) - ms(&results.token_without_hook, 50.0);
    let overhead_ok = overhead <= 0.5;
    println!();
    println!(
        "credentials-exchange hook overhead at p50 on /oauth/token (1 connection): {overhead:.3} ms (target <= 0.5 ms) {}",
        if overhead_ok { "PASS" } else { "MISS" }
    );
    let mut all = overhead_ok;
    let ratios = results.ratios();
    match median(ratios.clone()) {
        Some(ratio) => {
            let ok = ratio >= 1.0;
            let rounds: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            println!(
                "runner throughput / Node vm fresh-context rate ({processes} node processes), median of {} alternating rounds: {ratio:.2} (rounds: {}) (target >= 1) {}",
                ratios.len(),
                rounds.join(", "),
                if ok { "PASS" } else { "MISS" }
            );
            all &= ok;
        }
        None => println!("Node vm peer: not measured (node unavailable)"),
    }
    let like_for_like = self::ratios(&results.runner, &results.node_http);
    if let Some(ratio) = median(like_for_like.clone()) {
        let rounds: Vec<String> = like_for_like.iter().map(|r| format!("{r:.2}")).collect();
        println!(
            "(information) runner throughput / Node http + vm, fresh context per request, same load: median {ratio:.2} (rounds: {})",
            rounds.join(", ")
        );
    }
    all
}
