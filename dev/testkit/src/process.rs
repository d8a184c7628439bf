//! Child processes (the workers' binaries) with their output in a log file.

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A child process that is killed when the test ends, whatever happens.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    /// Sends the named signal (`TERM`, `KILL`, ...) to the child.
    pub fn signal(&self, name: &str) {
        signal(self.0.id(), name);
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawns `command` with stdout and stderr appended to `log` and no stdin.
pub fn spawn_logged(mut command: Command, log: &Path) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("log {}: {e}", log.display()));
    let err = out.try_clone().unwrap_or_else(|e| panic!("log: {e}"));
    command
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {:?}: {e}", command.get_program()))
}

/// Sends the named signal to process `pid`; panics unless `kill` succeeds.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .unwrap_or_else(|e| panic!("kill -{name}: {e}"));
    assert!(status.success(), "kill -{name} {pid} failed: {status}");
}
