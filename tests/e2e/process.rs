//! Child processes that never outlive the test run.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process with its output in a log file, killed on drop, and watched by a tiny
/// `sh` watchdog that SIGKILLs it as soon as the test process disappears (even on SIGKILL
/// of the test process, when no destructor runs).
pub struct Supervised {
    name: String,
    child: Child,
    watchdog: Option<Child>,
    log: PathBuf,
}

/// Starts `cmd` with stdin closed and stdout+stderr appended to `log`.
pub fn spawn_supervised(name: &str, mut cmd: Command, log: &Path) -> Result<Supervised, String> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open log file {}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("cannot duplicate log file handle: {e}"))?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err));
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
    let watchdog = Command::new("sh")
        .arg("-c")
        .arg(
            r#"while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; kill -9 "$2" 2>/dev/null"#,
        )
        .arg("sso-e2e-watchdog")
        .arg(std::process::id().to_string())
        .arg(child.id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok();
    Ok(Supervised {
        name: name.to_string(),
        child,
        watchdog,
        log: log.to_path_buf(),
    })
}

impl Supervised {
    /// Process id of the child itself (not of a wrapper).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's exit status if it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Everything the child wrote so far.
    pub fn log_text(&self) -> String {
        std::fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Path of the log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last `n` lines of the log, for failure messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.stop_watchdog();
    }

    /// SIGTERM, wait up to `grace` for a clean exit, then SIGKILL. Returns whether it exited
    /// by itself.
    pub fn terminate(&mut self, grace: Duration) -> bool {
        if self.exited().is_some() {
            self.stop_watchdog();
            return true;
        }
        // std only sends SIGKILL, and `unsafe` (libc::kill) is forbidden crate-wide.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.exited().is_some() {
                self.stop_watchdog();
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "{} did not stop within {grace:?} of SIGTERM; killing it",
            self.name
        );
        self.kill();
        false
    }

    fn stop_watchdog(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `n` distinct ports on 127.0.0.1 that were free a moment ago.
pub fn free_ports(n: usize) -> Result<Vec<u16>, String> {
    // Hold every listener until all are bound, so the kernel hands out distinct ports.
    let mut listeners = Vec::with_capacity(n);
    for _ in 0..n {
        listeners.push(
            std::net::TcpListener::bind("127.0.0.1:0")
                .map_err(|e| format!("cannot bind a port: {e}"))?,
        );
    }
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(|e| format!("cannot read the bound port: {e}"))
        })
        .collect()
}
