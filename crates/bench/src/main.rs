//! `hookhaven-bench`: loads a real `hookhaven` server over loopback and compares it with
//! baselines measured in the same run on the same machine. See docs/benchmarks.md.

mod baselines;
mod load;
mod server;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

use baselines::WriteShape;
use load::{Requests, Target, Window};
use stats::Measured;

#[derive(Parser, Debug)]
#[command(
    name = "hookhaven-bench",
    about = "Benchmark a hookhaven server on SQLite against same-machine baselines"
)]
struct Args {
    /// The server binary [default: `hookhaven` next to this binary, else
    /// <workspace>/target/release/hookhaven].
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Concurrent connections, one per client task.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds of warm-up before each measured window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Seconds measured in each phase.
    #[arg(long, default_value_t = 8.0)]
    duration: f64,
    /// Threads for the RS256 signing baseline.
    #[arg(long, default_value_t = 2)]
    signing_threads: usize,
    /// Where to create the temporary data dir and baseline databases [default: the system
    /// temp dir]. Put it on the disk you want to measure: fsync speed depends on it.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// RUST_LOG for the server. `info` (its default) logs one line per request.
    #[arg(long, default_value = "info")]
    server_log: String,
    /// Keep the temporary directory (server log, data dir) after the run.
    #[arg(long)]
    keep: bool,
}

/// A ratio the issue sets as a target.
struct RatioTarget {
    what: &'static str,
    numerator: usize,
    denominator: usize,
    target: f64,
}

const TARGETS: [RatioTarget; 3] = [
    RatioTarget {
        what: "GET secrets / GET /healthz",
        numerator: 1,
        denominator: 0,
        target: 0.50,
    },
    RatioTarget {
        what: "PATCH secrets / SQLite commits (UPDATE only, 1 conn)",
        numerator: 2,
        denominator: 4,
        target: 0.60,
    },
    RatioTarget {
        what: "POST /oauth/token / RS256 signing (2 threads)",
        numerator: 3,
        denominator: 8,
        target: 0.60,
    },
];

fn default_server_bin() -> PathBuf {
    let name = format!("hookhaven{}", std::env::consts::EXE_SUFFIX);
    if let Some(sibling) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|p| p.is_file())
    {
        return sibling;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/release")
        .join(name)
}

fn seconds(s: f64, flag: &str) -> anyhow::Result<Duration> {
    if !(s.is_finite() && s >= 0.0) {
        bail!("--{flag} must be a non-negative number of seconds");
    }
    Ok(Duration::from_secs_f64(s))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run(Args::parse()).await {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Returns whether the run was free of request errors.
async fn run(args: Args) -> anyhow::Result<bool> {
    let window = Window {
        warmup: seconds(args.warmup, "warmup")?,
        measure: seconds(args.duration, "duration")?,
    };
    if window.measure.is_zero() || args.connections == 0 || args.signing_threads == 0 {
        bail!("--duration, --connections and --signing-threads must be positive");
    }
    let command_line = std::env::args().collect::<Vec<_>>().join(" ");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let server_bin = args.server_bin.clone().unwrap_or_else(default_server_bin);
    if !server_bin.is_file() {
        bail!(
            "no server binary at {}; build it with `cargo build --release -p hookhaven` or pass --server-bin",
            server_bin.display()
        );
    }
    let mut work = match &args.work_dir {
        Some(dir) => tempfile::Builder::new()
            .prefix("hookhaven-bench-")
            .tempdir_in(dir),
        None => tempfile::Builder::new()
            .prefix("hookhaven-bench-")
            .tempdir(),
    }
    .context("creating the temporary directory")?;
    if args.keep {
        work.disable_cleanup(true);
    }

    println!("hookhaven-bench");
    println!("  command:     {command_line}");
    println!("  nproc:       {cores}");
    println!("  server:      {}", server_bin.display());
    println!("  work dir:    {}", work.path().display());
    println!(
        "  load:        {} connections (one keep-alive connection per task), closed loop, \
         {:.1} s warm-up + {:.1} s measured per phase",
        args.connections,
        window.warmup.as_secs_f64(),
        window.measure.as_secs_f64()
    );
    println!(
        "  rate limit:  server started with --rate-limit-burst {} --rate-limit-per-second {} \
         so the limiter never caps the run",
        server::RATE_LIMIT_BURST,
        server::RATE_LIMIT_PER_SECOND
    );
    println!(
        "  note:        the load generator runs in this process and shares the {cores} cores \
         with the server; the /healthz baseline is measured the same way"
    );
    println!("  server log:  RUST_LOG={}", args.server_log);
    println!();

    let mut server = server::Server::start(&server_bin, work.path(), &args.server_log).await?;
    let fixture = server::prepare(&server).await?;
    println!(
        "server up at {} (pid {}); hook {} with secret K",
        server.base,
        server.pid(),
        fixture.hook_id
    );
    println!();

    let requests = Arc::new(Requests::new(
        &server.base,
        &fixture.hook_id,
        &fixture.access_token,
        fixture.token_form.clone(),
    ));
    // Index order is what TARGETS refers to.
    let mut results: Vec<Measured> = Vec::new();
    for target in [
        Target::Healthz,
        Target::GetSecrets,
        Target::PatchSecrets,
        Target::Token,
    ] {
        println!("phase: {}", target.label());
        let measured = load::run(
            Arc::clone(&requests),
            target,
            args.connections,
            window,
            server.pid(),
        )
        .await?;
        println!("      {}", measured.summary());
        results.push(measured);
    }
    server.stop();
    println!();
    println!("server stopped; baselines follow (nothing else running)");

    for (shape, tasks) in [
        (WriteShape::Update, 1),
        (WriteShape::Update, args.connections),
        (WriteShape::PatchTransaction, 1),
        (WriteShape::PatchTransaction, args.connections),
    ] {
        let measured = baselines::sqlite(work.path(), shape, tasks, window).await?;
        println!("baseline: {}", measured.name);
        println!("      {}", measured.summary());
        results.push(measured);
    }

    let claims = baselines::token_claims(
        &server.domain,
        &fixture.client_id,
        &fixture.audience,
        &fixture.scope,
    );
    let threads = args.signing_threads;
    let measured =
        tokio::task::spawn_blocking(move || baselines::rs256(threads, window, claims)).await?;
    println!("baseline: {}", measured.name);
    println!("      {}", measured.summary());
    results.push(measured);

    report(&results, &command_line, cores);
    let errors: u64 = results.iter().map(|m| m.errors.total()).sum();
    if errors > 0 {
        println!();
        println!("!!! THIS RUN HAD {errors} FAILED REQUESTS: its numbers are not valid. !!!");
        for m in results.iter().filter(|m| m.errors.total() > 0) {
            println!("!!!   {}: {}", m.name, m.errors.describe());
        }
        println!("!!! server log: {}", server.log_file.display());
        if !args.keep {
            println!("!!! (rerun with --keep to keep it)");
        }
    }
    Ok(errors == 0)
}

fn report(results: &[Measured], command_line: &str, cores: usize) {
    println!();
    println!("== results (nproc {cores}) ==");
    println!(
        "{:<62} {:>10} {:>9} {:>9} {:>7}",
        "measurement", "per sec", "p50 ms", "p99 ms", "errors"
    );
    let order = [1, 2, 3, 0, 4, 5, 6, 7, 8];
    for (row, &i) in order.iter().enumerate() {
        if row == 3 {
            println!("{:-<62}", "baselines ");
        }
        let m = &results[i];
        let name = if i == 0 { "GET /healthz" } else { &m.name };
        println!(
            "{:<62} {:>10.0} {:>9.2} {:>9.2} {:>7}",
            name,
            m.rate(),
            m.percentile_ms(50.0),
            m.percentile_ms(99.0),
            m.errors.total()
        );
    }
    println!();
    println!("== targets ==");
    println!("{:<54} {:>7} {:>8}  result", "ratio", "value", "target");
    for t in &TARGETS {
        let ratio = results[t.numerator].rate() / results[t.denominator].rate();
        let verdict = if ratio >= t.target { "PASS" } else { "MISS" };
        println!(
            "{:<54} {:>6.1}% {:>7.0}%  {verdict}",
            t.what,
            ratio * 100.0,
            t.target * 100.0
        );
    }
    let info = results[2].rate() / results[6].rate();
    println!(
        "{:<54} {:>6.1}%  (information: vs the PATCH's whole transaction, 1 conn)",
        "PATCH secrets / SQLite commits (full tx, 1 conn)",
        info * 100.0
    );
    println!();
    println!("command: {command_line}");
    println!("nproc:   {cores}");
}
