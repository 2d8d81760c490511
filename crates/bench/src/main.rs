//! `hookhaven-bench`: loads a real `hookhaven` server over loopback and compares it with
//! baselines measured in the same run on the same machine. See docs/benchmarks.md.

mod baselines;
mod hooks;
mod http1;
mod load;
mod postgres;
mod server;
mod stats;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

use baselines::{Mode, WriteShape};
use load::{Requests, Target, Window};
use postgres::{PgWrite, Rows};
use stats::{Measured, Sampler};

#[derive(Parser, Debug)]
#[command(
    name = "hookhaven-bench",
    about = "Benchmark a hookhaven server on SQLite (or PostgreSQL) against same-machine baselines"
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
    /// How many times to measure a phase again when other processes took more than 10% of
    /// a core during it; the least disturbed attempt is kept.
    #[arg(long, default_value_t = 2)]
    retries: usize,
    /// Measure the server only (no SQLite or RS256 baselines, so no target table): for
    /// comparing two server builds quickly.
    #[arg(long)]
    server_only: bool,
    /// Skip the hook phases (Runner, credentials-exchange overhead, Node vm peer).
    #[arg(long)]
    skip_hooks: bool,
    /// Run on PostgreSQL instead of SQLite: create a fresh database on the server this URL
    /// points at (log in to any database there, e.g.
    /// postgres://postgres@127.0.0.1:5432/test), run the server on it, measure the raw
    /// commit baselines in it, and drop it at the end.
    #[arg(long, value_name = "URL")]
    postgres: Option<String>,
    /// PostgreSQL mode: the server's --database-pool-size.
    #[arg(long, default_value_t = 10)]
    database_pool_size: u32,
    /// How many hooks (each with a secret `K`) the GET and PATCH phases spread over:
    /// connection i uses hook i mod N [default: 1 on SQLite, --connections on PostgreSQL].
    #[arg(long)]
    hooks: Option<usize>,
}

/// A ratio of two rows of the results.
struct RatioTarget {
    what: String,
    numerator: usize,
    denominator: usize,
    /// `None`: printed for information.
    target: Option<f64>,
    /// Both sides are CPU-bound, so their per-CPU-second ratio is worth showing.
    cpu_bound: bool,
}

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
    let args = Args::parse();
    // On Ctrl-C or SIGTERM the run is dropped, which stops the server and removes the work
    // dir.
    let outcome = tokio::select! {
        outcome = run(args) => outcome,
        signal = stop_signal() => Err(anyhow::anyhow!("stopped by {signal}")),
    };
    match outcome {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::from(2),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                Ok(()) = tokio::signal::ctrl_c() => "Ctrl-C",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    "Ctrl-C"
}

/// Returns whether the run was free of request errors. In PostgreSQL mode the run's
/// database is dropped at the end, whatever happened.
async fn run(args: Args) -> anyhow::Result<bool> {
    let mut database = match &args.postgres {
        Some(url) => Some(postgres::Database::create(url).await?),
        None => None,
    };
    let outcome = run_on(&args, database.as_ref()).await;
    if let Some(db) = database.as_mut() {
        match db.drop_now().await {
            Ok(()) => println!("dropped database {}", db.name),
            Err(e) => eprintln!("could not drop database {}: {e:#}", db.name),
        }
    }
    outcome
}

async fn run_on(args: &Args, database: Option<&postgres::Database>) -> anyhow::Result<bool> {
    let window = Window {
        warmup: seconds(args.warmup, "warmup")?,
        measure: seconds(args.duration, "duration")?,
    };
    if window.measure.is_zero()
        || args.connections == 0
        || args.signing_threads == 0
        || args.database_pool_size == 0
        || args.hooks == Some(0)
    {
        bail!(
            "--duration, --connections, --signing-threads, --database-pool-size and --hooks \
             must be positive"
        );
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
    let hook_count = args.hooks.unwrap_or(if database.is_some() {
        args.connections
    } else {
        1
    });
    let pool = args.database_pool_size as usize;

    println!("hookhaven-bench");
    println!("  command:     {command_line}");
    println!("  nproc:       {cores}");
    println!("  server:      {}", server_bin.display());
    println!("  work dir:    {}", work.path().display());
    // The PostgreSQL processes' CPU is sampled over a connection of this process.
    let mut pg_processes = None;
    let mut server_args = Vec::new();
    match database {
        None => println!("  database:    SQLite in the work dir"),
        Some(db) => {
            let mut conn = db.connect().await?;
            let settings = postgres::settings(&mut conn).await?;
            println!(
                "  database:    PostgreSQL, fresh database {} (dropped at the end); server \
                 pool {pool} connections",
                db.name
            );
            println!(
                "  PostgreSQL:  {}",
                settings
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let setting = |name: &str| settings.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            if setting("fsync").is_some_and(|v| v != "on")
                || setting("synchronous_commit").is_some_and(|v| v != "on")
            {
                println!(
                    "  !!! fsync or synchronous_commit is not on: commits are not durable and \
                     the baselines do not measure durable commits"
                );
            }
            match postgres::PgProcesses::new(db).await {
                Ok(p) => pg_processes = Some(Arc::new(p)),
                Err(e) => println!("  !!! PostgreSQL's CPU is not measured: {e:#}"),
            }
            server_args = vec![
                "--database-url".to_string(),
                db.url.clone(),
                "--database-pool-size".to_string(),
                pool.to_string(),
            ];
        }
    }
    println!(
        "  load:        {} connections (one keep-alive connection per task), closed loop, \
         {:.1} s warm-up + {:.1} s measured per phase; GET and PATCH spread over {hook_count} \
         hook(s)",
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
         with the server{}; the /healthz baseline is measured the same way",
        if database.is_some() {
            " and PostgreSQL"
        } else {
            ""
        }
    );
    println!("  server log:  RUST_LOG={}", args.server_log);
    println!();

    let mut server =
        server::Server::start(&server_bin, work.path(), &args.server_log, &server_args).await?;
    let fixture = server::prepare(&server, hook_count).await?;
    println!(
        "server up at {} (pid {}); {} hook(s) with secret K, the first {}",
        server.base,
        server.pid(),
        fixture.hook_ids.len(),
        fixture.hook_id
    );
    println!();
    let sampler = Sampler::new(Some(server.pid()), pg_processes.clone());

    let requests = Arc::new(Requests::new(
        &server.base,
        &fixture.hook_ids,
        &fixture.access_token,
        fixture.token_form.clone(),
    )?);
    let mut results: Vec<Measured> = Vec::new();
    let mut phases = vec![
        Target::Healthz,
        Target::GetSecrets,
        Target::PatchSecrets,
        Target::Token,
    ];
    if database.is_some() && fixture.hook_ids.len() > 1 {
        phases.push(Target::PatchOneHook);
    }
    let mut index = std::collections::HashMap::new();
    for target in phases {
        println!("phase: {}", target.label());
        let measured = least_contended(args.retries, || {
            load::run(
                Arc::clone(&requests),
                target,
                args.connections,
                window,
                &sampler,
            )
        })
        .await?;
        index.insert(target, results.len());
        results.push(measured);
    }
    let (healthz, get_secrets, patch, token) = (
        index[&Target::Healthz],
        index[&Target::GetSecrets],
        index[&Target::PatchSecrets],
        index[&Target::Token],
    );
    let hook_results = if args.skip_hooks {
        None
    } else {
        Some(
            hooks::measure(
                &server,
                &fixture,
                hooks::HookLoad {
                    requests: &requests,
                    connections: args.connections,
                    window,
                    sampler: &sampler,
                    work: work.path(),
                    node_processes: cores,
                },
            )
            .await?,
        )
    };
    server.stop();
    println!();
    if args.server_only {
        let gets = results[get_secrets].rate() / results[healthz].rate();
        println!(
            "--server-only: no baselines; GET secrets / GET /healthz = {:.1}%",
            gets * 100.0
        );
        if let Some(hook_results) = &hook_results {
            hooks::report(hook_results, cores);
        }
        return Ok(report_errors(&results, &server, args.keep));
    }
    println!("server stopped; baselines follow (nothing else of ours running)");

    // PostgreSQL mode: the rows whose CPU per request the capacity model uses.
    let mut capacity: Option<Vec<(&str, usize)>> = None;
    let mut targets = vec![RatioTarget {
        what: "GET secrets / GET /healthz".into(),
        numerator: get_secrets,
        denominator: healthz,
        target: Some(0.50),
        cpu_bound: true,
    }];
    match database {
        None => {
            let tasks = args.connections;
            let mut update_1 = 0;
            let mut tx_1 = 0;
            for (shape, mode) in [
                (WriteShape::Update, Mode::OneConnection),
                (WriteShape::Update, Mode::SharedWriter { tasks }),
                (WriteShape::PatchTransaction, Mode::OneConnection),
                (WriteShape::PatchTransaction, Mode::SharedWriter { tasks }),
                (WriteShape::PatchTransaction, Mode::GroupCommit { tasks }),
            ] {
                println!("baseline: {}", baselines::sqlite_label(shape, mode));
                let measured = least_contended(args.retries, || {
                    baselines::sqlite(work.path(), shape, mode, window)
                })
                .await?;
                match (shape, mode) {
                    (WriteShape::Update, Mode::OneConnection) => update_1 = results.len(),
                    (WriteShape::PatchTransaction, Mode::OneConnection) => tx_1 = results.len(),
                    _ => {}
                }
                results.push(measured);
            }
            targets.push(RatioTarget {
                what: "PATCH secrets / SQLite commits (UPDATE only, 1 connection)".into(),
                numerator: patch,
                denominator: update_1,
                target: Some(0.60),
                cpu_bound: false,
            });
            targets.push(RatioTarget {
                what: "(information) PATCH secrets / SQLite commits (PATCH transaction, 1 \
                       connection)"
                    .into(),
                numerator: patch,
                denominator: tx_1,
                target: None,
                cpu_bound: false,
            });
        }
        Some(db) => {
            let baseline_sampler = Sampler::new(None, pg_processes.clone());
            let connections = args.connections;
            let hooks = &fixture.hook_ids;
            let mut pg_index = std::collections::HashMap::new();
            let mut runs = vec![
                (PgWrite::Update, connections, Rows::Spread),
                (PgWrite::Update, pool, Rows::Spread),
                (PgWrite::PatchStatement, pool, Rows::Spread),
                (PgWrite::PatchTransaction, pool, Rows::Spread),
            ];
            if index.contains_key(&Target::PatchOneHook) {
                runs.push((PgWrite::Update, connections, Rows::OneRow));
            }
            for (write, conns, rows) in runs {
                println!(
                    "baseline: {}",
                    postgres::label(write, conns, rows, hooks.len())
                );
                let measured = least_contended(args.retries, || {
                    postgres::baseline(db, &baseline_sampler, write, rows, hooks, conns, window)
                })
                .await?;
                pg_index.insert((write, conns, rows), results.len());
                results.push(measured);
            }
            // The server funnels its HTTP connections into its pool, so the database sees
            // at most `pool` PATCH transactions at a time: the target's baseline commits at
            // that concurrency. The same at the load's concurrency is shown too.
            targets.push(RatioTarget {
                what: format!(
                    "PATCH secrets / PostgreSQL commits (UPDATE only, {pool} connections = the \
                     server's pool)"
                ),
                numerator: patch,
                denominator: pg_index[&(PgWrite::Update, pool, Rows::Spread)],
                target: Some(0.60),
                cpu_bound: false,
            });
            targets.push(RatioTarget {
                what: format!(
                    "(information) PATCH secrets / PostgreSQL commits (UPDATE only, \
                     {connections} connections)"
                ),
                numerator: patch,
                denominator: pg_index[&(PgWrite::Update, connections, Rows::Spread)],
                target: None,
                cpu_bound: false,
            });
            targets.push(RatioTarget {
                what: format!(
                    "(information) PATCH secrets / PostgreSQL commits (the server's PATCH \
                     statement, {pool} connections)"
                ),
                numerator: patch,
                denominator: pg_index[&(PgWrite::PatchStatement, pool, Rows::Spread)],
                target: None,
                cpu_bound: false,
            });
            capacity = Some(vec![
                ("read: GET …/secrets", get_secrets),
                ("write: PATCH …/secrets", patch),
                ("token: POST /oauth/token", token),
                (
                    "raw 1-row commit (pool's concurrency)",
                    pg_index[&(PgWrite::Update, pool, Rows::Spread)],
                ),
                (
                    "the server's PATCH statement alone",
                    pg_index[&(PgWrite::PatchStatement, pool, Rows::Spread)],
                ),
            ]);
            if let Some(&one_hook) = index.get(&Target::PatchOneHook) {
                targets.push(RatioTarget {
                    what: format!(
                        "(information) PATCH secrets, all on one hook / PostgreSQL commits \
                         (UPDATE only, {connections} connections, all on one row)"
                    ),
                    numerator: one_hook,
                    denominator: pg_index[&(PgWrite::Update, connections, Rows::OneRow)],
                    target: None,
                    cpu_bound: false,
                });
            }
        }
    }

    let claims = baselines::token_claims(
        &server.domain,
        &fixture.client_id,
        &fixture.audience,
        &fixture.scope,
    );
    let threads = args.signing_threads;
    println!("baseline: {}", baselines::rs256_label(threads));
    let measured = least_contended(args.retries, || {
        let claims = claims.clone();
        async move {
            Ok(
                tokio::task::spawn_blocking(move || baselines::rs256(threads, window, claims))
                    .await?,
            )
        }
    })
    .await?;
    targets.push(RatioTarget {
        what: "POST /oauth/token / RS256 signing (2 threads)".into(),
        numerator: token,
        denominator: results.len(),
        target: Some(0.60),
        cpu_bound: true,
    });
    results.push(measured);

    // The server's endpoints first, then the baselines starting with /healthz.
    let mut order: Vec<usize> = [get_secrets, patch]
        .into_iter()
        .chain(index.get(&Target::PatchOneHook).copied())
        .chain([token, healthz])
        .collect();
    let rest: Vec<usize> = (0..results.len()).filter(|i| !order.contains(i)).collect();
    order.extend(rest);
    report(
        &results,
        &order,
        &targets,
        database.is_some(),
        &command_line,
        cores,
    );
    if let Some(rows) = &capacity {
        report_capacity(&results, rows);
    }
    if let Some(hook_results) = &hook_results {
        hooks::report(hook_results, cores);
    }
    Ok(report_errors(&results, &server, args.keep))
}

/// Runs `measure`, again up to `retries` times while other processes competed for the
/// CPU, and keeps the attempt they disturbed least. Prints every attempt.
async fn least_contended<F, Fut>(retries: usize, mut measure: F) -> anyhow::Result<Measured>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Measured>>,
{
    let mut best: Option<Measured> = None;
    for attempt in 0..=retries {
        let measured = measure().await?;
        println!("      {}", measured.summary());
        let other = |m: &Measured| m.cpu.other_secs.unwrap_or(0.0);
        let contended = measured.contended();
        if best.as_ref().is_none_or(|b| other(&measured) < other(b)) {
            best = Some(measured);
        }
        if !contended {
            break;
        }
        if attempt < retries {
            println!("      (measuring again: other processes took CPU)");
        }
    }
    Ok(best.expect("measured at least once"))
}

/// PostgreSQL mode: what one request costs each side, and what that makes per core.
fn report_capacity(results: &[Measured], rows: &[(&str, usize)]) {
    let per_op = |secs: Option<f64>, m: &Measured| {
        secs.filter(|_| m.count > 0)
            .map(|s| s * 1e6 / m.count as f64)
    };
    let show = |us: Option<f64>| us.map_or("-".to_string(), |us| format!("{us:.0}"));
    let per_core = |us: Option<f64>| {
        us.filter(|us| *us > 0.0)
            .map_or("-".to_string(), |us| format!("{:.0}", 1e6 / us))
    };
    println!();
    println!("== CPU per request, for the capacity model (docs/deployment.md) ==");
    println!();
    println!(
        "| request | hookhaven CPU us | -> per hookhaven core /s | PostgreSQL CPU us | -> per PostgreSQL core /s |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (what, i) in rows {
        let m = &results[*i];
        let server = per_op(m.cpu.server_secs, m);
        let db = per_op(m.cpu.db_secs, m);
        println!(
            "| {what} | {} | {} | {} | {} |",
            show(server),
            per_core(server),
            show(db),
            per_core(db)
        );
    }
}

/// Says loudly if any request failed; returns whether none did.
fn report_errors(results: &[Measured], server: &server::Server, keep: bool) -> bool {
    let errors: u64 = results.iter().map(|m| m.errors.total()).sum();
    if errors > 0 {
        println!();
        println!("!!! THIS RUN HAD {errors} FAILED REQUESTS: its numbers are not valid. !!!");
        for m in results.iter().filter(|m| m.errors.total() > 0) {
            println!("!!!   {}: {}", m.name, m.errors.describe());
        }
        println!("!!! server log: {}", server.log_file.display());
        if !keep {
            println!("!!! (rerun with --keep to keep it)");
        }
    }
    errors == 0
}

fn report(
    results: &[Measured],
    order: &[usize],
    targets: &[RatioTarget],
    postgres: bool,
    command_line: &str,
    cores: usize,
) {
    let pct = |v: Option<f64>, m: &Measured| {
        v.map_or("-".to_string(), |secs| {
            format!("{:.0}%", 100.0 * secs / m.window.as_secs_f64())
        })
    };
    let per_op = |v: Option<f64>, m: &Measured| {
        v.filter(|_| m.count > 0).map_or("-".to_string(), |secs| {
            format!("{:.0}", secs * 1e6 / m.count as f64)
        })
    };
    println!();
    println!("== results (nproc {cores}) ==");
    println!();
    if postgres {
        println!(
            "| measurement | per second | p50 ms | p99 ms | errors | server CPU us/op | PostgreSQL CPU us/op | bench CPU us/op | other processes' CPU |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    } else {
        println!(
            "| measurement | per second | p50 ms | p99 ms | errors | server CPU us/op | other processes' CPU |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
    }
    for m in order.iter().map(|&i| &results[i]) {
        let db = if postgres {
            format!(
                " {} | {} |",
                per_op(m.cpu.db_secs, m),
                per_op(m.cpu.bench_secs, m)
            )
        } else {
            String::new()
        };
        println!(
            "| {} | {:.0} | {:.2} | {:.2} | {} | {} |{db} {} |",
            m.name,
            m.rate(),
            m.percentile_ms(50.0),
            m.percentile_ms(99.0),
            m.errors.total(),
            per_op(m.cpu.server_secs, m),
            pct(m.cpu.other_secs, m),
        );
    }
    println!();
    println!("== targets ==");
    println!();
    println!("| ratio | value | target | result | per CPU-second instead |");
    println!("|---|---:|---:|---|---:|");
    for t in targets {
        let (num, den) = (&results[t.numerator], &results[t.denominator]);
        let ratio = num.rate() / den.rate();
        let (target, verdict) = match t.target {
            Some(target) => (
                format!(">= {:.0}%", target * 100.0),
                if ratio >= target { "PASS" } else { "MISS" },
            ),
            None => (String::new(), ""),
        };
        let normalised = match (t.cpu_bound, num.per_cpu_second(), den.per_cpu_second()) {
            (true, Some(n), Some(d)) => format!("{:.1}%", 100.0 * n / d),
            _ => "-".to_string(),
        };
        println!(
            "| {} | {:.1}% | {target} | {verdict} | {normalised} |",
            t.what,
            ratio * 100.0,
        );
    }
    let contended: Vec<&str> = results
        .iter()
        .filter(|m| m.contended())
        .map(|m| m.name.as_str())
        .collect();
    if !contended.is_empty() {
        println!();
        println!(
            "!!! other processes used more than {:.0}% of a core during: {}",
            stats::OTHER_CPU_WARN * 100.0,
            contended.join("; ")
        );
        println!("!!! those numbers are suspect; rerun on a quiet machine");
    }
    println!();
    println!("command: {command_line}");
    println!("nproc:   {cores}");
}
