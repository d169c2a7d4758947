//! The event loop's protocol timer: one CLOCK_MONOTONIC timerfd in the reactor.
//!
//! Why not `tokio::time::Sleep`: re-arming a tokio timer earlier than every other
//! pending one (a master's next advert, right after the last one fired) makes tokio
//! unpark its own driver, an eventfd write plus an extra `epoll_wait`, on every
//! advert. Re-arming a timerfd is one `timerfd_settime`, and its expiry arrives as
//! an ordinary readiness event alongside the sockets', so a packet and an expiry
//! that happened together are seen in the same reactor turn.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// A one-shot timer armed at an [`Instant`].
#[derive(Debug)]
pub struct DeadlineTimer {
    fd: AsyncFd<OwnedFd>,
    armed: Option<Instant>,
}

impl DeadlineTimer {
    /// Create a disarmed timer. Must be called inside a tokio runtime.
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain system call, no pointers; the result is checked below.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a descriptor timerfd_create just returned; nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: the AsyncFd owns `fd`, which therefore stays open and unchanged until
        // the AsyncFd is dropped.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|error| error.into_parts().1)?;
        Ok(DeadlineTimer { fd, armed: None })
    }

    /// The instant the timer is armed for, if it is armed and has not been reported expired.
    pub fn armed(&self) -> Option<Instant> {
        self.armed
    }

    /// Expire at `at` (at once if `at` is past), replacing any earlier setting.
    pub fn arm(&mut self, at: Instant) -> io::Result<()> {
        // Relative to now: std's Instant is CLOCK_MONOTONIC on Linux but does not expose
        // its timespec. A zero it_value would disarm the timer, hence at least 1 ns.
        let delay = at
            .saturating_duration_since(Instant::now())
            .max(Duration::from_nanos(1));
        let value = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: libc::time_t::try_from(delay.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(delay.subsec_nanos()),
            },
        };
        // SAFETY: `value` is a valid itimerspec for the duration of the call, and the old
        // value is not requested (null is allowed).
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &value, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        self.armed = Some(at);
        Ok(())
    }

    /// Ready once the armed instant has passed; the timer is then disarmed
    /// ([`Self::armed`] is `None`) until armed again.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut guard = ready!(self.fd.poll_read_ready(cx))?;
        // No read(): timerfd_settime in the next arm() resets the expiry count, and the
        // reactor is edge-triggered, so each later expiry is a new event.
        guard.clear_ready();
        self.armed = None;
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn expires_at_the_armed_instant_and_again_after_re_arming() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new().unwrap();
            for _ in 0..3 {
                let start = Instant::now();
                timer.arm(start + Duration::from_millis(20)).unwrap();
                std::future::poll_fn(|cx| timer.poll_expired(cx))
                    .await
                    .unwrap();
                assert!(start.elapsed() >= Duration::from_millis(20));
                assert_eq!(timer.armed(), None);
            }
        });
    }

    #[test]
    fn re_arming_earlier_replaces_the_later_setting() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new().unwrap();
            let start = Instant::now();
            timer.arm(start + Duration::from_secs(60)).unwrap();
            timer.arm(start + Duration::from_millis(10)).unwrap();
            let expired = tokio::time::timeout(
                Duration::from_secs(5),
                std::future::poll_fn(|cx| timer.poll_expired(cx)),
            )
            .await;
            assert!(matches!(expired, Ok(Ok(()))));
        });
    }

    #[test]
    fn a_past_instant_expires_at_once() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new().unwrap();
            timer.arm(Instant::now() - Duration::from_secs(1)).unwrap();
            let expired = tokio::time::timeout(
                Duration::from_secs(5),
                std::future::poll_fn(|cx| timer.poll_expired(cx)),
            )
            .await;
            assert!(matches!(expired, Ok(Ok(()))));
        });
    }
}
