//! The figures, printed and appended as a markdown table to `target/bench/operator.md`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

/// Bench parameters (environment variables).
#[derive(Debug, Clone)]
pub struct Params {
    pub active: usize,
    pub suspended: usize,
    pub rest: Duration,
    pub settle: Duration,
    pub converge_timeout: Duration,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Params {
    pub fn from_env() -> Self {
        Params {
            active: env_number("ACTIVE", 100) as usize,
            suspended: env_number("SUSPENDED", 1000) as usize,
            rest: Duration::from_secs(env_number("REST_SECONDS", 120)),
            settle: Duration::from_secs(env_number("SETTLE_SECONDS", 10)),
            converge_timeout: Duration::from_secs(env_number("CONVERGE_TIMEOUT_SECONDS", 900)),
        }
    }

    pub fn pipelines(&self) -> usize {
        self.active + self.suspended
    }
}

/// One reconcile phase over a window: p50, p99 and the seconds spent in it in all.
#[derive(Debug, Default)]
pub struct PhaseSummary {
    pub phase: String,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub total_seconds: f64,
}

/// Everything measured.
#[derive(Debug, Default)]
pub struct Results {
    pub active_created: Duration,
    pub active_converged: Duration,
    pub active_converged_p50: Duration,
    pub suspended_created: Duration,
    pub suspended_converged: Duration,
    pub window: Duration,
    pub reconciles: f64,
    pub reconciles_per_pipeline_minute: f64,
    pub status_writes_active_per_minute: f64,
    pub status_writes_suspended_per_minute: f64,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub phases: Vec<PhaseSummary>,
    /// Reconciles and phases from the active pipelines' creation until they converged.
    pub converge_reconciles: f64,
    pub converge_phases: Vec<PhaseSummary>,
    pub errors: Vec<(String, f64)>,
    pub rss_idle_kib: u64,
    pub rss_kib: u64,
    pub hwm_kib: u64,
    pub mysql_connections_last: i64,
    pub mysql_connections_max: i64,
    pub checkpoints_written: u64,
    pub checkpoints_failed: u64,
    pub active_deleted: Duration,
    pub left_after_delete: String,
}

fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

fn millis(s: Option<f64>) -> String {
    s.map_or("n/a (no reconcile)".into(), |s| {
        format!("{:.0} ms", s * 1000.0)
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// Reconciles per suspended pipeline per minute: the window's reconciles less the active
/// pipelines' (one per status write of theirs).
fn suspended_rate(p: &Params, r: &Results) -> f64 {
    let minutes = r.window.as_secs_f64().max(1.0) / 60.0;
    let active = r.status_writes_active_per_minute * p.active as f64 * minutes;
    ((r.reconciles - active).max(0.0)) / p.suspended.max(1) as f64 / minutes
}

/// `(metric, value, target)` rows.
fn rows(p: &Params, r: &Results) -> Vec<(String, String, String)> {
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    let errors = if r.errors.is_empty() {
        "0".to_string()
    } else {
        r.errors
            .iter()
            .map(|(reason, n)| format!("{reason}: {n:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let phases = |phases: &[PhaseSummary]| {
        phases
            .iter()
            .map(|p| {
                format!(
                    "{} {} / {} ({:.1} s)",
                    p.phase,
                    millis(p.p50),
                    millis(p.p99),
                    p.total_seconds
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        (
            format!("{} active converged (all but pod readiness)", p.active),
            format!(
                "{} (p50 {}; creation took {})",
                seconds(r.active_converged),
                seconds(r.active_converged_p50),
                seconds(r.active_created)
            ),
            format!(
                "< 15 s: {}",
                verdict(r.active_converged < Duration::from_secs(15))
            ),
        ),
        (
            format!(
                "while the {} active converged: reconciles; phase p50 / p99 (seconds in all)",
                p.active
            ),
            format!(
                "{:.0} reconciles; {}",
                r.converge_reconciles,
                phases(&r.converge_phases)
            ),
            String::new(),
        ),
        (
            format!("{} suspended converged", p.suspended),
            format!(
                "{} after their creation began (creation took {})",
                seconds(r.suspended_converged),
                seconds(r.suspended_created)
            ),
            String::new(),
        ),
        (
            "reconciles per pipeline per minute at rest".into(),
            format!(
                "{:.2} ({:.0} reconciles, {} pipelines, {})",
                r.reconciles_per_pipeline_minute,
                r.reconciles,
                p.pipelines(),
                seconds(r.window)
            ),
            format!("<= 2: {}", verdict(r.reconciles_per_pipeline_minute <= 2.0)),
        ),
        (
            "of which: per active / per suspended pipeline per minute".into(),
            format!(
                "active >= {:.2} (its status writes: each of its reconciles sees a newer checkpoint), suspended <= {:.2} (the rest)",
                r.status_writes_active_per_minute,
                suspended_rate(p, r)
            ),
            format!(
                "<= 2 each: {}",
                verdict(r.status_writes_active_per_minute <= 2.0 && suspended_rate(p, r) <= 2.0)
            ),
        ),
        (
            "status writes per pipeline per minute at rest (watch)".into(),
            format!(
                "active {:.2}, suspended {:.2}",
                r.status_writes_active_per_minute, r.status_writes_suspended_per_minute
            ),
            String::new(),
        ),
        (
            "reconcile p50 / p99 at rest".into(),
            format!("{} / {}", millis(r.p50), millis(r.p99)),
            format!("p99 < 300 ms: {}", verdict(r.p99.is_some_and(|s| s < 0.3))),
        ),
        (
            "phase p50 / p99 (seconds in all) at rest".into(),
            phases(&r.phases),
            String::new(),
        ),
        ("reconcile errors at rest".into(), errors, String::new()),
        (
            format!("operator RSS with {} pipelines", p.pipelines()),
            format!(
                "VmRSS {}, VmHWM {} (idle at start {})",
                mib(r.rss_kib),
                mib(r.hwm_kib),
                mib(r.rss_idle_kib)
            ),
            format!(
                "< 64 MiB: {}",
                verdict(r.rss_kib < 64 * 1024 && r.hwm_kib < 64 * 1024)
            ),
        ),
        (
            "MySQL connections held by the operator (own admin user)".into(),
            format!(
                "{} at the end of the window, at most {} sampled every 5 s",
                r.mysql_connections_last, r.mysql_connections_max
            ),
            String::new(),
        ),
        (
            "checkpoint records written (1/s per active pipeline)".into(),
            format!(
                "{} ({} failed)",
                r.checkpoints_written, r.checkpoints_failed
            ),
            String::new(),
        ),
        (
            format!(
                "{} active deleted (topics, databases, accounts dropped)",
                p.active
            ),
            format!(
                "{}; left behind: {}",
                seconds(r.active_deleted),
                r.left_after_delete
            ),
            String::new(),
        ),
    ]
}

pub fn print(p: &Params, r: &Results) {
    println!();
    for (metric, value, target) in rows(p, r) {
        if target.is_empty() {
            println!("{metric}: {value}");
        } else {
            println!("{metric}: {value}   [target {target}]");
        }
    }
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let free = std::process::Command::new("free")
        .arg("-g")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim_end().to_string())
        .unwrap_or_else(|e| format!("free -g failed: {e}"));
    format!("nproc {cores}\n\n```\n{free}\n```\n")
}

/// Appends the run to `path` (created with its directory when missing).
pub fn append_markdown(
    path: &Path,
    p: &Params,
    r: &Results,
    operator: &str,
) -> std::io::Result<()> {
    let mut text = String::new();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let _ = writeln!(text, "\n## Operator benchmark, {date}\n");
    let _ = writeln!(
        text,
        "Parameters: ACTIVE={} SUSPENDED={} REST_SECONDS={} SETTLE_SECONDS={}; operator `{operator}`, production defaults.\n",
        p.active,
        p.suspended,
        p.rest.as_secs(),
        p.settle.as_secs()
    );
    let _ = writeln!(text, "Machine: {}", machine());
    let _ = writeln!(text, "| Metric | Value | Target |\n|---|---|---|");
    for (metric, value, target) in rows(p, r) {
        let _ = writeln!(text, "| {metric} | {value} | {target} |");
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(text.as_bytes())
}
