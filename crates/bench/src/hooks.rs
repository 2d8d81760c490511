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
}

impl HookResults {
    /// Runner rate / Node rate in each round where both were measured.
    fn ratios(&self) -> Vec<f64> {
        self.runner
            .iter()
            .zip(&self.node_vm)
            .map(|(runner, node)| runner.rate() / node.rate())
            .collect()
    }
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
    })
}

/// The Node.js peer: the same hook, compiled with `vm.Script` and run in a fresh context
/// per call (`vm.createContext` each time), one call after another for `window`, on each
/// of `processes` Node processes (one per core, like the runtime's workers).
fn node_vm_peer(work: &Path, window: Window, processes: usize) -> anyhow::Result<Measured> {
    let script = work.join("node-vm-peer.js");
    std::fs::write(
        &script,
        format!(
            r#"const vm = require('vm');
const source = {source};
const compiled = new vm.Script('(function () {{ var module = {{ exports: {{}} }}; ' + source + '; return module.exports; }})()');
const payload = {{ audience: 'https://example/api/v2/', client: {{ id: 'c', name: 'n', tenant: 't', metadata: {{}} }}, scope: ['read:connections'] }};
function once() {{
  const context = vm.createContext({{}});
  const hook = compiled.runInContext(context);
  let result;
  hook(payload.client, payload.scope, payload.audience, {{ webtask: {{ secrets: {{}} }} }}, (err, res) => {{ result = res; }});
  if (!result) throw new Error('no result');
}}
const warmupMs = Number(process.argv[2]), measureMs = Number(process.argv[3]);
const start = Date.now();
while (Date.now() - start < warmupMs) once();
const lat = [];
const end = Date.now() + measureMs;
while (Date.now() < end) {{ const t = process.hrtime.bigint(); once(); lat.push(Number((process.hrtime.bigint() - t) / 1000n)); }}
process.stdout.write(JSON.stringify(lat));
"#,
            source = serde_json::to_string(TRIVIAL_HOOK)?
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
    all
}
