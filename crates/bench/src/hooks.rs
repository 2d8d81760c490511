//! Hook measurements (the hook runtime issue): Runner throughput for a trivial hook, the
//! latency a credentials-exchange hook adds to `/oauth/token` against the same endpoint
//! with no hook enabled, and, as a peer, the same trivial hook run in Node.js `vm` with a
//! fresh context per call — all in one run on this machine.

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

pub struct HookResults {
    pub runner: Measured,
    pub token_without_hook: Measured,
    pub token_with_hook: Measured,
    pub node_vm: Option<Measured>,
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

/// Runs the hook phases against a running server. The token comparison uses one
/// connection: under 64 concurrent connections the p50 is queueing, not the hook's cost.
pub async fn measure(
    server: &Server,
    fixture: &Fixture,
    requests: &Arc<Requests>,
    connections: usize,
    window: Window,
    sampler: &Sampler,
) -> anyhow::Result<HookResults> {
    patch_hook(
        server,
        fixture,
        json!({ "script": TRIVIAL_HOOK, "enabled": false }),
    )
    .await?;
    println!(
        "phase: {} ({connections} connections)",
        Target::Runner.label()
    );
    let runner = load::run(
        Arc::clone(requests),
        Target::Runner,
        connections,
        window,
        sampler,
    )
    .await?;
    println!("      {}", runner.summary());
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
        node_vm: None,
    })
}

/// The Node.js peer: the same hook, compiled with `vm.Script` and run in a fresh context
/// per call (`vm.createContext` each time), one call after another for `window`, on each
/// of `processes` Node processes (one per core, like the runtime's workers).
pub fn node_vm(work: &Path, window: Window, processes: usize) -> anyhow::Result<Measured> {
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
    let mut rows = vec![
        &results.runner,
        &results.token_without_hook,
        &results.token_with_hook,
    ];
    if let Some(node) = &results.node_vm {
        rows.push(node);
    }
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
    match &results.node_vm {
        Some(node) => {
            let ratio = results.runner.rate() / node.rate();
            let ok = ratio >= 1.0;
            println!(
                "runner throughput / Node vm fresh-context rate ({processes} node processes): {:.0} / {:.0} = {:.2} (target >= 1) {}",
                results.runner.rate(),
                node.rate(),
                ratio,
                if ok { "PASS" } else { "MISS" }
            );
            all &= ok;
        }
        None => println!("Node vm peer: not measured (node unavailable)"),
    }
    all
}
