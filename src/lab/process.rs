//! Processes started inside a lab host: killed on drop, output in a log file.

use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{LabError, LabResult, LabShared};

/// How often waits poll the child.
const POLL: Duration = Duration::from_millis(5);

/// A process running in a lab host. Dropping it kills it (SIGKILL) and reaps it.
pub struct LabProcess {
    child: Child,
    label: String,
    log_path: PathBuf,
    shared: Arc<LabShared>,
    exit_status: Option<ExitStatus>,
}

impl std::fmt::Debug for LabProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabProcess")
            .field("label", &self.label)
            .field("pid", &self.child.id())
            .field("log", &self.log_path)
            .finish()
    }
}

impl LabProcess {
    pub(super) fn new(
        child: Child,
        label: String,
        log_path: PathBuf,
        shared: Arc<LabShared>,
    ) -> Self {
        LabProcess {
            child,
            label,
            log_path,
            shared,
            exit_status: None,
        }
    }

    /// The pid (the program's own: `ip netns exec` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `host:program`, for messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Where stdout and stderr go.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// The log so far (empty if unreadable).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends a signal (no-op once the process has been reaped).
    pub fn signal(&self, signal: Signal) -> LabResult<()> {
        if self.exit_status.is_some() {
            return Ok(());
        }
        kill(Pid::from_raw(self.child.id() as i32), signal).map_err(|source| LabError::Sys {
            context: format!("sending {signal} to {}", self.label),
            source,
        })
    }

    /// The exit status if the process has exited (reaps it).
    pub fn try_wait(&mut self) -> LabResult<Option<ExitStatus>> {
        if let Some(status) = self.exit_status {
            return Ok(Some(status));
        }
        let status = self
            .child
            .try_wait()
            .map_err(|e| LabError::io(format!("waiting for {}", self.label), e))?;
        if let Some(status) = status {
            self.reaped(status);
        }
        Ok(status)
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.try_wait(), Ok(None))
    }

    /// Waits at most `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> LabResult<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(POLL);
        }
    }

    /// Graceful stop: SIGTERM, then SIGKILL if it has not exited within
    /// `grace`. Returns the exit status and whether SIGKILL was needed.
    pub fn terminate(&mut self, grace: Duration) -> LabResult<(ExitStatus, bool)> {
        self.signal(Signal::SIGTERM)?;
        if let Some(status) = self.wait_timeout(grace)? {
            return Ok((status, false));
        }
        Ok((self.kill9()?, true))
    }

    /// SIGKILL (simulates the daemon dying) and reap.
    pub fn kill9(&mut self) -> LabResult<ExitStatus> {
        self.signal(Signal::SIGKILL)?;
        // SIGKILL cannot be caught; the wait is bounded only as a guard.
        self.wait_timeout(Duration::from_secs(10))?
            .ok_or_else(|| LabError::Timeout {
                what: format!("{} to die after SIGKILL", self.label),
                waited: Duration::from_secs(10),
            })
    }

    fn reaped(&mut self, status: ExitStatus) {
        self.exit_status = Some(status);
        let pid = self.child.id();
        self.shared.state().pids.retain(|p| *p != pid);
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        if self.exit_status.is_none() {
            let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
            if let Ok(status) = self.child.wait() {
                self.reaped(status);
            }
        }
    }
}
