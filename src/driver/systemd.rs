//! systemd's notify protocol (sd_notify(3)): READY, STATUS, WATCHDOG, RELOADING, STOPPING.
//! API CONTRACT (used by the event loop): keep names and signatures; add freely.

use std::time::Duration;

/// Talks to $NOTIFY_SOCKET; every call is a no-op when it is unset.
#[derive(Debug, Default)]
pub struct Notifier {}

impl Notifier {
    /// Read NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID from the environment.
    pub fn from_env() -> Self {
        todo!("systemd helper implements")
    }
    /// How often to send WATCHDOG=1 (half of WATCHDOG_USEC), if the watchdog is on for us.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        todo!("systemd helper implements")
    }
    /// READY=1 plus STATUS=.
    pub fn ready(&self, status: &str) {
        let _ = status;
        todo!("systemd helper implements")
    }
    pub fn status(&self, status: &str) {
        let _ = status;
        todo!("systemd helper implements")
    }
    pub fn watchdog(&self) {
        todo!("systemd helper implements")
    }
    /// RELOADING=1 with MONOTONIC_USEC= (required by Type=notify-reload, harmless otherwise).
    pub fn reloading(&self) {
        todo!("systemd helper implements")
    }
    pub fn stopping(&self) {
        todo!("systemd helper implements")
    }
}
