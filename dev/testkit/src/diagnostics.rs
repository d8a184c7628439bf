//! What a test that timed out saw, so a red run names its cause instead of "timed out".
//!
//! Tests register what they run (their namespaces, their operator processes) for as long as it
//! lives; when a wait gives up, [`report`] gathers for each of them the pipelines' status and
//! conditions, `kubectl get pods -o wide`, `describe` of the pods, recent events, every container's
//! log tail (and the previous container's, for a crash loop), the operator's log tail, its
//! `/metrics` reconcile counters and a stack of every thread of its process (`eu-stack`, else gdb).
//! The report is printed and kept under `target/e2e-diagnostics/` for CI's log.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::platform;

/// Something a test runs whose state explains a timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    Namespace(String),
    Process {
        name: String,
        pid: u32,
        log: PathBuf,
        metrics_port: Option<u16>,
    },
}

static SUBJECTS: Mutex<Vec<(u64, Subject)>> = Mutex::new(Vec::new());

/// Keeps a subject in every report until dropped.
#[derive(Debug)]
pub struct Registration(u64);

impl Drop for Registration {
    fn drop(&mut self) {
        subjects().retain(|(id, _)| *id != self.0);
    }
}

fn subjects() -> std::sync::MutexGuard<'static, Vec<(u64, Subject)>> {
    SUBJECTS.lock().unwrap_or_else(|p| p.into_inner())
}

fn register(subject: Subject) -> Registration {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    subjects().push((id, subject));
    Registration(id)
}

/// Reports will show this namespace's pipelines, pods, events and container logs.
pub fn watch_namespace(namespace: &str) -> Registration {
    register(Subject::Namespace(namespace.to_string()))
}

/// Reports will show this process's log tail, its `/metrics` reconcile counters (when it serves
/// them on `metrics_port`) and its threads' stacks.
pub fn watch_process(name: &str, pid: u32, log: &Path, metrics_port: Option<u16>) -> Registration {
    register(Subject::Process {
        name: name.to_string(),
        pid,
        log: log.to_path_buf(),
        metrics_port,
    })
}

/// Gathers the report for a wait on `what` that gave up after `waited` (its last observation
/// `last_seen`), writes it under `target/e2e-diagnostics/` and returns its text.
pub fn report(what: &str, waited: Duration, last_seen: &str) -> String {
    let mut text =
        format!("timed out after {waited:?} waiting for {what}\nlast seen: {last_seen}\n");
    let current: Vec<Subject> = subjects().iter().map(|(_, s)| s.clone()).collect();
    if current.is_empty() {
        text.push_str("(no namespace or process registered for diagnostics)\n");
    }
    for subject in &current {
        match subject {
            Subject::Namespace(ns) => namespace_section(&mut text, ns),
            Subject::Process {
                name,
                pid,
                log,
                metrics_port,
            } => process_section(&mut text, name, *pid, log, *metrics_port),
        }
    }
    let path = keep(what, &text);
    text.push_str(&format!("\n(kept in {})\n", path.display()));
    text
}

fn namespace_section(text: &mut String, ns: &str) {
    text.push_str(&format!("\n======== namespace {ns}\n"));
    let kubectl_runs: [(&str, Vec<&str>); 4] = [
        (
            "pipelines (status and conditions)",
            vec!["get", "tweetpipelines", "-o", "yaml"],
        ),
        ("pods", vec!["get", "pods", "-o", "wide"]),
        (
            "workloads",
            vec!["get", "statefulsets,deployments,replicasets", "-o", "wide"],
        ),
        ("events", vec!["get", "events", "--sort-by=.lastTimestamp"]),
    ];
    for (title, args) in kubectl_runs {
        section(text, title, &kubectl(ns, &args));
    }
    section(text, "describe pods", &kubectl(ns, &["describe", "pods"]));
    let pods = kubectl(
        ns,
        &["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"],
    );
    for pod in pods.split_whitespace().filter(|p| !p.starts_with('(')) {
        section(
            text,
            &format!("logs {pod} (tail)"),
            &kubectl(ns, &["logs", pod, "--all-containers", "--tail=60"]),
        );
        section(
            text,
            &format!("logs {pod} previous container (tail)"),
            &kubectl(
                ns,
                &["logs", pod, "--all-containers", "--previous", "--tail=40"],
            ),
        );
    }
}

fn process_section(text: &mut String, name: &str, pid: u32, log: &Path, metrics_port: Option<u16>) {
    text.push_str(&format!("\n======== process {name} (pid {pid})\n"));
    section(
        text,
        &format!("log {} (tail)", log.display()),
        &tail(log, 120),
    );
    if let Some(port) = metrics_port {
        let counters = metrics(port)
            .map(|body| {
                body.lines()
                    .filter(|l| l.contains("reconcile") || l.contains("leader"))
                    .filter(|l| !l.contains("_bucket{"))
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_else(|e| format!("(no answer from 127.0.0.1:{port}/metrics: {e})"));
        section(text, "metrics (reconcile counters)", &counters);
    }
    section(text, "stack of every thread", &stack(pid));
}

fn section(text: &mut String, title: &str, body: &str) {
    text.push_str(&format!("\n---- {title}\n{}\n", body.trim_end()));
}

/// Runs a command for at most 30 s; its output, or why there is none.
fn run(program: &str, args: &[&str]) -> String {
    let child = Command::new("timeout")
        .arg("30")
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output();
    match child {
        Ok(out) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            let err = String::from_utf8_lossy(&out.stderr);
            if !err.trim().is_empty() {
                text.push_str(&format!("[stderr] {}", err.trim_end()));
            }
            if !out.status.success() {
                text.push_str(&format!("\n({program} exited with {})", out.status));
            }
            text
        }
        Err(e) => format!("({program} could not run: {e})"),
    }
}

fn kubectl(namespace: &str, args: &[&str]) -> String {
    let p = platform();
    let kubeconfig = p.kubeconfig.display().to_string();
    let program = p
        .vars
        .get("TWEETPIPE_BIN_PATH")
        .and_then(|path| {
            path.split(':')
                .map(|dir| Path::new(dir).join("kubectl"))
                .find(|candidate| candidate.is_file())
        })
        .map(|path| path.display().to_string())
        .unwrap_or_else(|| "kubectl".to_string());
    let mut full = vec![
        "--kubeconfig",
        &kubeconfig,
        "--request-timeout=10s",
        "-n",
        namespace,
    ];
    full.extend_from_slice(args);
    run(&program, &full)
}

fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

fn metrics(port: u16) -> std::io::Result<String> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(3))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    Ok(body)
}

/// Every thread's stack: elfutils' `eu-stack`, or gdb where it is missing.
fn stack(pid: u32) -> String {
    let pid = pid.to_string();
    let eu = run("eu-stack", &["-p", &pid]);
    if !eu.starts_with("(eu-stack could not run") {
        return eu;
    }
    run(
        "gdb",
        &["-batch", "-nx", "-p", &pid, "-ex", "thread apply all bt"],
    )
}

/// The workspace's `target/e2e-diagnostics/` (found at run time from the test's directory).
fn diagnostics_dir() -> PathBuf {
    let start = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let root = start
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .unwrap_or(&start)
        .to_path_buf();
    root.join("target").join("e2e-diagnostics")
}

fn keep(what: &str, text: &str) -> PathBuf {
    let dir = diagnostics_dir();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let slug: String = what
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(80)
        .collect();
    let path = dir.join(format!("{stamp}-{slug}.txt"));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, text)) {
        eprintln!("cannot keep the diagnostics in {}: {e}", path.display());
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_last_as_long_as_their_guard() {
        let ns = watch_namespace("diagnostics-unit-a");
        let process = watch_process("op", 1, Path::new("/nonexistent.log"), None);
        let registered = |s: &Subject| subjects().iter().any(|(_, x)| x == s);
        assert!(registered(&Subject::Namespace("diagnostics-unit-a".into())));
        drop(ns);
        assert!(!registered(&Subject::Namespace(
            "diagnostics-unit-a".into()
        )));
        drop(process);
        assert!(
            !subjects()
                .iter()
                .any(|(_, s)| matches!(s, Subject::Process { name, .. } if name == "op"))
        );
    }

    #[test]
    fn a_process_section_names_what_it_could_not_read() {
        let mut text = String::new();
        process_section(
            &mut text,
            "op",
            u32::MAX,
            Path::new("/nonexistent.log"),
            Some(1),
        );
        assert!(text.contains("cannot read /nonexistent.log"), "{text}");
        assert!(
            text.contains("no answer from 127.0.0.1:1/metrics"),
            "{text}"
        );
        assert!(text.contains("stack of every thread"), "{text}");
    }
}
