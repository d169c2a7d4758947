//! systemd's notify protocol (sd_notify(3)): READY, STATUS, WATCHDOG, RELOADING, STOPPING.
//!
//! # Why not `sd_notify::notify`
//!
//! The sd-notify crate formats the messages well (we reuse its [`NotifyState`] and its
//! CLOCK_MONOTONIC reader), but its `notify()` re-reads `$NOTIFY_SOCKET` from the process
//! environment on every call and hands the value to `UnixDatagram::connect`, which treats
//! `@name` as a file called "@name" instead of an abstract socket. That makes it wrong for
//! abstract sockets (sd_notify(3) allows them, and some managers use them) and untestable
//! without mutating the environment, which is `unsafe` in edition 2024 and racy between test
//! threads. So the socket address is parsed once, up front, and the datagram is sent here with
//! `send_to_addr` on a non-blocking unbound socket: a few lines of std, no extra dependency.

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io;
use std::os::linux::net::SocketAddrExt as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sd_notify::NotifyState;

/// The environment variable naming the manager's notification socket (sd_notify(3)).
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";
/// Watchdog timeout in microseconds, set when the unit has `WatchdogSec=` (sd_watchdog_enabled(3)).
pub const WATCHDOG_USEC: &str = "WATCHDOG_USEC";
/// The PID the watchdog is meant for; a child that inherited the variables must not feed it.
pub const WATCHDOG_PID: &str = "WATCHDOG_PID";

/// Why a notification could not be delivered. The fire-and-forget methods of [`Notifier`] log
/// these; [`Notifier::send`] returns them.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot create a unix datagram socket: {0}")]
    Socket(#[source] io::Error),
    #[error("cannot send to NOTIFY_SOCKET {target}: {source}")]
    Send {
        target: String,
        #[source]
        source: io::Error,
    },
    #[error("NOTIFY_SOCKET {target} accepted only {sent} of {len} bytes")]
    Truncated {
        target: String,
        sent: usize,
        len: usize,
    },
}

/// Where notifications go, parsed from a `$NOTIFY_SOCKET` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifySocket {
    /// An absolute filesystem path (`/run/systemd/notify`).
    Path(std::path::PathBuf),
    /// A Linux abstract socket name, given as `@name` (the `@` stands for the leading NUL byte).
    Abstract(Vec<u8>),
}

impl NotifySocket {
    /// Parse a `$NOTIFY_SOCKET` value as sd_notify(3) does: `/…` is a path, `@…` is abstract.
    /// Anything else (relative paths, `vsock:` addresses, empty) is not supported and yields
    /// `None`: there is nowhere we could send to.
    pub fn parse(value: &OsStr) -> Option<Self> {
        let bytes = value.as_bytes();
        match bytes.first() {
            Some(b'/') => Some(Self::Path(Path::new(value).to_path_buf())),
            Some(b'@') if bytes.len() > 1 => Some(Self::Abstract(bytes[1..].to_vec())),
            _ => None,
        }
    }

    fn socket_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Self::Path(path) => SocketAddr::from_pathname(path),
            Self::Abstract(name) => SocketAddr::from_abstract_name(name),
        }
    }
}

impl std::fmt::Display for NotifySocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => write!(f, "{}", path.display()),
            Self::Abstract(name) => write!(f, "@{}", String::from_utf8_lossy(name)),
        }
    }
}

/// Talks to $NOTIFY_SOCKET; every call is a no-op when it is unset.
///
/// Sending never blocks (the socket is non-blocking: if the manager's queue is full the
/// message is dropped, which beats stalling the protocol loop and missing adverts) and never
/// panics. The first failure is logged at WARN; later ones at DEBUG, so a missing or dead
/// socket cannot flood the journal once per watchdog tick.
#[derive(Debug, Default)]
pub struct Notifier {
    target: Option<NotifySocket>,
    watchdog_interval: Option<Duration>,
    failure_logged: AtomicBool,
}

impl Notifier {
    /// Read NOTIFY_SOCKET / WATCHDOG_USEC / WATCHDOG_PID from the environment.
    pub fn from_env() -> Self {
        Self::from_lookup(std::process::id(), |name| std::env::var_os(name))
    }

    /// Like [`Notifier::from_env`], with the variables supplied by `lookup` and `our_pid` standing
    /// in for [`std::process::id`]; lets tests cover the whole parse without touching the
    /// process environment.
    pub fn from_lookup(our_pid: u32, lookup: impl Fn(&str) -> Option<OsString>) -> Self {
        let target = match lookup(NOTIFY_SOCKET) {
            None => None,
            Some(value) => {
                let parsed = NotifySocket::parse(&value);
                if parsed.is_none() {
                    tracing::warn!(
                        value = %value.to_string_lossy(),
                        "NOTIFY_SOCKET is neither an absolute path nor an @abstract name; \
                         systemd notifications are disabled"
                    );
                }
                parsed
            }
        };
        let usec = lookup(WATCHDOG_USEC);
        let pid = lookup(WATCHDOG_PID);
        let watchdog_interval = parse_watchdog_interval(
            usec.as_deref().and_then(OsStr::to_str),
            pid.as_deref().and_then(OsStr::to_str),
            our_pid,
        );
        Self {
            target,
            watchdog_interval,
            failure_logged: AtomicBool::new(false),
        }
    }

    /// A notifier aimed at `notify_socket` (same syntax as `$NOTIFY_SOCKET`: `/path` or
    /// `@abstract`) with the watchdog timeout `watchdog_usec`, assumed to be meant for this
    /// process. For tests and embedding; reads nothing from the environment.
    pub fn with_socket(notify_socket: impl AsRef<OsStr>, watchdog_usec: Option<u64>) -> Self {
        let usec = watchdog_usec.map(|usec| usec.to_string());
        Self::from_lookup(std::process::id(), |name| match name {
            NOTIFY_SOCKET => Some(notify_socket.as_ref().to_os_string()),
            WATCHDOG_USEC => usec.clone().map(OsString::from),
            _ => None,
        })
    }

    /// Whether notifications go anywhere (a usable `$NOTIFY_SOCKET` was given).
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// The socket notifications are sent to, if any.
    pub fn target(&self) -> Option<&NotifySocket> {
        self.target.as_ref()
    }

    /// How often to send WATCHDOG=1 (half of WATCHDOG_USEC), if the watchdog is on for us.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog_interval
    }

    /// READY=1 plus STATUS=.
    pub fn ready(&self, status: &str) {
        let status = one_line(status);
        self.notify(&[NotifyState::Ready, NotifyState::Status(&status)]);
    }

    /// STATUS=: the one-line summary shown by `systemctl status` (see [`status_line`]).
    pub fn status(&self, status: &str) {
        let status = one_line(status);
        self.notify(&[NotifyState::Status(&status)]);
    }

    /// WATCHDOG=1: the protocol loop is alive; send every [`Notifier::watchdog_interval`].
    pub fn watchdog(&self) {
        self.notify(&[NotifyState::Watchdog]);
    }

    /// RELOADING=1 with MONOTONIC_USEC= (required by Type=notify-reload, harmless otherwise).
    pub fn reloading(&self) {
        if self.target.is_none() {
            return;
        }
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.notify(&[NotifyState::Reloading, now]),
            Err(error) => {
                // Only Type=notify-reload insists on the timestamp; our unit is Type=notify,
                // so telling the manager about the reload without it is still worthwhile.
                tracing::warn!(%error, "cannot read CLOCK_MONOTONIC for MONOTONIC_USEC");
                self.notify(&[NotifyState::Reloading]);
            }
        }
    }

    /// STOPPING=1: shutdown has begun (priority-0 adverts and address removal follow).
    pub fn stopping(&self) {
        self.notify(&[NotifyState::Stopping]);
    }

    /// Send one raw notification datagram (newline-separated `KEY=value` assignments) and report
    /// the outcome. `Ok(())` without sending when notifications are disabled.
    pub fn send(&self, message: &str) -> Result<(), NotifyError> {
        let Some(target) = &self.target else {
            return Ok(());
        };
        let describe = || target.to_string();
        let address = target.socket_addr().map_err(|source| NotifyError::Send {
            target: describe(),
            source,
        })?;
        // A fresh socket per message, as libsystemd does: messages are rare (every few seconds
        // at most), and no descriptor lingers to leak into child processes.
        let socket = UnixDatagram::unbound().map_err(NotifyError::Socket)?;
        socket.set_nonblocking(true).map_err(NotifyError::Socket)?;
        let sent = socket
            .send_to_addr(message.as_bytes(), &address)
            .map_err(|source| NotifyError::Send {
                target: describe(),
                source,
            })?;
        if sent != message.len() {
            return Err(NotifyError::Truncated {
                target: describe(),
                sent,
                len: message.len(),
            });
        }
        Ok(())
    }

    fn notify(&self, states: &[NotifyState<'_>]) {
        if self.target.is_none() {
            return;
        }
        let message = format_message(states);
        if let Err(error) = self.send(&message) {
            if self.failure_logged.swap(true, Ordering::Relaxed) {
                tracing::debug!(%error, "systemd notification failed");
            } else {
                tracing::warn!(
                    %error,
                    "systemd notification failed (further failures are logged at debug level)"
                );
            }
        }
    }
}

/// Join assignments into one datagram, one per line, as sd_notify(3) specifies.
fn format_message(states: &[NotifyState<'_>]) -> String {
    let mut message = String::new();
    for (index, state) in states.iter().enumerate() {
        if index > 0 {
            message.push('\n');
        }
        let _ = write!(message, "{state}");
    }
    message
}

/// A STATUS= value must stay on one line: a newline would start a new assignment and let the
/// text (which may contain instance names from the config) inject e.g. `READY=1`.
fn one_line(status: &str) -> std::borrow::Cow<'_, str> {
    if status.contains(['\n', '\r']) {
        std::borrow::Cow::Owned(status.replace(['\n', '\r'], " "))
    } else {
        std::borrow::Cow::Borrowed(status)
    }
}

/// The WATCHDOG=1 period for the given `WATCHDOG_USEC` / `WATCHDOG_PID` values: half the
/// timeout, as sd_watchdog_enabled(3) recommends, so one late tick does not kill us.
///
/// `None` when the timeout is absent, zero or not a number, or when `WATCHDOG_PID` names
/// another process (we inherited the variables from a parent that owns the watchdog).
/// A `WATCHDOG_PID` that is not a number is treated as naming someone else.
pub fn parse_watchdog_interval(
    watchdog_usec: Option<&str>,
    watchdog_pid: Option<&str>,
    our_pid: u32,
) -> Option<Duration> {
    let usec = watchdog_usec?
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|&usec| usec > 0)?;
    let meant_for_us =
        watchdog_pid.is_none_or(|pid| pid.trim().parse::<u32>().ok() == Some(our_pid));
    meant_for_us.then(|| Duration::from_micros(usec) / 2)
}

/// The STATUS= text for a set of instances: `"VI_1: MASTER prio 150; VI_2: BACKUP prio 100"`,
/// in the order given. An empty set gives `"no VRRP instances"`.
pub fn status_line<N: AsRef<str>, S: AsRef<str>>(instances: &[(N, S, u8)]) -> String {
    if instances.is_empty() {
        return "no VRRP instances".to_owned();
    }
    let mut line = String::new();
    for (index, (name, state, priority)) in instances.iter().enumerate() {
        if index > 0 {
            line.push_str("; ");
        }
        let _ = write!(
            line,
            "{}: {} prio {}",
            name.as_ref(),
            state.as_ref(),
            priority
        );
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_newline_separated_without_trailing_newline() {
        assert_eq!(
            format_message(&[NotifyState::Ready, NotifyState::Status("up")]),
            "READY=1\nSTATUS=up"
        );
    }

    #[test]
    fn status_newlines_are_flattened() {
        assert_eq!(one_line("a\nREADY=1\r\nb"), "a READY=1  b");
        assert!(matches!(
            one_line("plain"),
            std::borrow::Cow::Borrowed("plain")
        ));
    }

    #[test]
    fn notify_socket_syntax() {
        assert_eq!(
            NotifySocket::parse(OsStr::new("/run/systemd/notify")),
            Some(NotifySocket::Path("/run/systemd/notify".into()))
        );
        assert_eq!(
            NotifySocket::parse(OsStr::new("@sd-notify")),
            Some(NotifySocket::Abstract(b"sd-notify".to_vec()))
        );
        for unsupported in ["", "@", "relative/path", "vsock:2:1234"] {
            assert_eq!(
                NotifySocket::parse(OsStr::new(unsupported)),
                None,
                "{unsupported:?}"
            );
        }
    }
}
