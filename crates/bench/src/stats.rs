//! What one measured phase produced: a count over a window, latencies, errors and the CPU
//! time the server and this process spent during the window.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::postgres::PgProcesses;

/// Errors seen during a phase (warm-up included): any non-2xx status or transport failure.
#[derive(Debug, Default, Clone)]
pub struct Errors {
    pub by_status: BTreeMap<u16, u64>,
    pub transport: u64,
    /// The first error seen, to show what went wrong.
    pub sample: Option<String>,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.by_status.values().sum::<u64>() + self.transport
    }

    pub fn merge(&mut self, other: Errors) {
        for (status, n) in other.by_status {
            *self.by_status.entry(status).or_default() += n;
        }
        self.transport += other.transport;
        if self.sample.is_none() {
            self.sample = other.sample;
        }
    }

    pub fn status(&mut self, status: u16, body: &[u8]) {
        *self.by_status.entry(status).or_default() += 1;
        if self.sample.is_none() {
            let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
            self.sample = Some(format!("HTTP {status}: {text}"));
        }
    }

    pub fn transport(&mut self, error: &dyn std::fmt::Display) {
        self.transport += 1;
        if self.sample.is_none() {
            self.sample = Some(format!("transport error: {error}"));
        }
    }

    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self
            .by_status
            .iter()
            .map(|(s, n)| format!("{n} x HTTP {s}"))
            .collect();
        if self.transport > 0 {
            parts.push(format!("{} x transport", self.transport));
        }
        parts.join(", ")
    }
}

/// What `/proc` says about one process at one moment: CPU seconds (user + system) and
/// context switches summed over its live threads.
#[derive(Debug, Clone, Copy)]
pub struct ProcTimes {
    pub cpu_secs: f64,
    pub switches: Option<u64>,
}

/// Clock ticks per second for `/proc/*/stat`. 100 on every Linux build that matters;
/// `getconf` confirms it when present.
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// A snapshot of the server, this process and the whole machine.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    server: Option<ProcTimes>,
    bench: Option<ProcTimes>,
    /// CPU seconds every process on the machine has used (from `/proc/stat`).
    machine_busy_secs: Option<f64>,
    /// CPU seconds of each PostgreSQL process that works for the benchmark's database, by
    /// pid (PostgreSQL mode only).
    db: Option<HashMap<u32, f64>>,
}

pub struct CpuProbe {
    ticks: f64,
}

impl CpuProbe {
    pub fn new() -> CpuProbe {
        CpuProbe {
            ticks: clock_ticks(),
        }
    }

    /// CPU seconds (user + system) `pid` has used so far; `None` where there is no procfs
    /// or the process is gone.
    pub fn cpu_secs(&self, pid: u32) -> Option<f64> {
        let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name is in parentheses and may contain spaces; fields follow it.
        let rest = &text[text.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // Field 3 of proc_pid_stat(5) is fields[0] here; utime (14) and stime (15) follow.
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / self.ticks)
    }

    /// `None` where there is no procfs (not Linux) or the process is gone.
    fn process(&self, pid: u32) -> Option<ProcTimes> {
        Some(ProcTimes {
            cpu_secs: self.cpu_secs(pid)?,
            switches: context_switches(pid),
        })
    }

    fn machine(&self) -> Option<f64> {
        let text = std::fs::read_to_string("/proc/stat").ok()?;
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let v: Vec<f64> = line
            .split_whitespace()
            .skip(1)
            .map(|f| f.parse().unwrap_or(0.0))
            .collect();
        // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
        let busy = v.iter().take(8).sum::<f64>() - v.get(3)? - v.get(4)?;
        Some(busy / self.ticks)
    }

    pub fn snapshot(&self, server_pid: Option<u32>) -> Snapshot {
        Snapshot {
            server: server_pid.and_then(|pid| self.process(pid)),
            bench: self.process(std::process::id()),
            machine_busy_secs: self.machine(),
            db: None,
        }
    }
}

/// What a phase samples at the start and the end of its window: the server process (if
/// any), this process, the machine, and PostgreSQL's processes (in PostgreSQL mode).
#[derive(Clone, Default)]
pub struct Sampler {
    pub server_pid: Option<u32>,
    pub db: Option<Arc<PgProcesses>>,
}

impl Sampler {
    pub fn new(server_pid: Option<u32>, db: Option<Arc<PgProcesses>>) -> Sampler {
        Sampler { server_pid, db }
    }

    pub async fn snapshot(&self, probe: &CpuProbe) -> Snapshot {
        let db = match &self.db {
            Some(db) => match db.sample(probe).await {
                Ok(times) => Some(times),
                Err(e) => {
                    eprintln!("      (could not sample PostgreSQL's processes: {e:#})");
                    None
                }
            },
            None => None,
        };
        Snapshot {
            db,
            ..probe.snapshot(self.server_pid)
        }
    }
}

/// Voluntary plus involuntary context switches of every live thread of `pid`.
fn context_switches(pid: u32) -> Option<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let Ok(status) = std::fs::read_to_string(task.ok()?.path().join("status")) else {
            continue; // the thread ended meanwhile
        };
        for line in status.lines() {
            if let Some(n) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += n.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Some(total)
}

/// What was spent during the measured window.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUse {
    pub server_secs: Option<f64>,
    pub server_switches: Option<u64>,
    pub bench_secs: Option<f64>,
    /// PostgreSQL's processes working for the benchmark's database (its backends, the WAL
    /// writer, checkpointer, background writer and autovacuum launcher).
    pub db_secs: Option<f64>,
    /// CPU seconds used by every other process on the machine: anything much above zero
    /// means something else competed for the cores and the numbers are suspect.
    pub other_secs: Option<f64>,
}

pub fn cpu_delta(before: Snapshot, after: Snapshot) -> CpuUse {
    let cpu = |a: Option<ProcTimes>, b: Option<ProcTimes>| Some(b?.cpu_secs - a?.cpu_secs);
    let server_secs = cpu(before.server, after.server);
    let bench_secs = cpu(before.bench, after.bench);
    // A process missing at the start began during the window: all its CPU is in it.
    let db_secs = match (&before.db, &after.db) {
        (Some(b), Some(a)) => Some(
            a.iter()
                .map(|(pid, secs)| (secs - b.get(pid).copied().unwrap_or(0.0)).max(0.0))
                .sum::<f64>(),
        ),
        _ => None,
    };
    let machine = after
        .machine_busy_secs
        .zip(before.machine_busy_secs)
        .map(|(a, b)| a - b);
    let other_secs = machine.map(|m| {
        (m - server_secs.unwrap_or(0.0) - bench_secs.unwrap_or(0.0) - db_secs.unwrap_or(0.0))
            .max(0.0)
    });
    CpuUse {
        server_secs,
        db_secs,
        server_switches: before
            .server
            .and_then(|b| Some(after.server?.switches?.saturating_sub(b.switches?))),
        bench_secs,
        other_secs,
    }
}

/// Other processes using more than this share of one core during a window get a warning.
pub const OTHER_CPU_WARN: f64 = 0.10;

/// One measured phase.
#[derive(Debug, Clone)]
pub struct Measured {
    pub name: String,
    /// Operations completed inside the measured window.
    pub count: u64,
    pub window: Duration,
    /// Latency of each counted operation in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    pub errors: Errors,
    pub cpu: CpuUse,
}

impl Measured {
    pub fn new(
        name: impl Into<String>,
        window: Duration,
        mut latencies_us: Vec<u32>,
        errors: Errors,
        cpu: CpuUse,
    ) -> Measured {
        latencies_us.sort_unstable();
        Measured {
            name: name.into(),
            count: latencies_us.len() as u64,
            window,
            latencies_us,
            errors,
            cpu,
        }
    }

    /// Whether other processes used a noticeable share of the CPU during the window.
    pub fn contended(&self) -> bool {
        self.cpu
            .other_secs
            .is_some_and(|o| o / self.window.as_secs_f64() > OTHER_CPU_WARN)
    }

    pub fn rate(&self) -> f64 {
        self.count as f64 / self.window.as_secs_f64()
    }

    /// Operations per CPU-second spent by the server, PostgreSQL (in PostgreSQL mode) and
    /// this process together. Unlike
    /// the rate, this barely moves when other processes take CPU away, so the ratio of two
    /// CPU-bound phases stays meaningful on a busy machine.
    pub fn per_cpu_second(&self) -> Option<f64> {
        let secs = self.cpu.server_secs.unwrap_or(0.0)
            + self.cpu.db_secs.unwrap_or(0.0)
            + self.cpu.bench_secs?;
        (secs > 0.0).then(|| self.count as f64 / secs)
    }

    /// Nearest-rank percentile in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * self.latencies_us.len() as f64).ceil() as usize;
        let index = rank.clamp(1, self.latencies_us.len()) - 1;
        f64::from(self.latencies_us[index]) / 1000.0
    }

    /// One line for the progress log.
    pub fn summary(&self) -> String {
        let mut line = format!(
            "{:>10.0}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} in {:.1} s)",
            self.rate(),
            self.percentile_ms(50.0),
            self.percentile_ms(99.0),
            self.count,
            self.window.as_secs_f64()
        );
        if self.count > 0 {
            let per = |secs: f64| secs * 1e6 / self.count as f64;
            let share = |secs: f64| 100.0 * secs / self.window.as_secs_f64();
            let mut parts = Vec::new();
            if let Some(s) = self.cpu.server_secs {
                parts.push(format!(
                    "server {:.0} us/op ({:.0}% of a core)",
                    per(s),
                    share(s)
                ));
            }
            if let Some(d) = self.cpu.db_secs {
                parts.push(format!(
                    "PostgreSQL {:.0} us/op ({:.0}% of a core)",
                    per(d),
                    share(d)
                ));
            }
            if let Some(n) = self.cpu.server_switches {
                parts.push(format!(
                    "server context switches {:.1}/op",
                    n as f64 / self.count as f64
                ));
            }
            if let Some(b) = self.cpu.bench_secs {
                parts.push(format!(
                    "bench process {:.0} us/op ({:.0}% of a core)",
                    per(b),
                    share(b)
                ));
            }
            if let Some(o) = self.cpu.other_secs {
                parts.push(format!("other processes {:.0}% of a core", share(o)));
            }
            if !parts.is_empty() {
                line.push_str(&format!("\n      CPU: {}", parts.join(", ")));
            }
            if self.contended() {
                line.push_str(
                    "\n      !!! other processes competed for the CPU during this window; \
                     its numbers are suspect",
                );
            }
        }
        if self.errors.total() > 0 {
            line.push_str(&format!(
                "\n      !!! {} ERRORS: {}",
                self.errors.total(),
                self.errors.describe()
            ));
            if let Some(sample) = &self.errors.sample {
                line.push_str(&format!("\n      !!! first: {sample}"));
            }
        }
        line
    }
}

/// Microseconds, saturating, for the latency vectors.
pub fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let m = Measured::new(
            "t",
            Duration::from_secs(1),
            (1..=100).rev().map(|v| v * 1000).collect(),
            Errors::default(),
            CpuUse::default(),
        );
        assert_eq!(m.count, 100);
        assert_eq!(m.percentile_ms(50.0), 50.0);
        assert_eq!(m.percentile_ms(99.0), 99.0);
        assert_eq!(m.percentile_ms(100.0), 100.0);
        assert_eq!(m.rate(), 100.0);
    }

    #[test]
    fn errors_merge_and_describe() {
        let mut a = Errors::default();
        a.status(500, b"boom");
        let mut b = Errors::default();
        b.status(500, b"again");
        b.status(429, b"");
        b.transport(&"reset");
        a.merge(b);
        assert_eq!(a.total(), 4);
        assert_eq!(a.describe(), "1 x HTTP 429, 2 x HTTP 500, 1 x transport");
        assert_eq!(a.sample.as_deref(), Some("HTTP 500: boom"));
    }
}
