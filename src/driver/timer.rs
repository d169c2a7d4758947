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

/// A one-shot timer for a deadline that may move, re-armed lazily.
///
/// A backup's deadline is its Master_Down_Timer, which every advert from the master
/// pushes later (RFC 3768 §6.4.2, RFC 9568 §6.4.2); with two hundred instances that is a
/// `timerfd_settime` per received advert if the kernel timer follows every move. So it
/// does not: when the deadline moves later, the kernel timer is left where it is as long
/// as it fires at least halfway from now to the new deadline. If it fires early anyway
/// (the master fell silent), [`Self::poll_expired`] re-arms it to the deadline that holds
/// by then and reports nothing; the expiry is never reported before the deadline, so the
/// node never acts early. The halfway rule re-arms a backup of one instance on every
/// second advert and never wakes it early while adverts come (the kernel timer stays more
/// than one interval ahead); letting the kernel timer always fire first would save one
/// more `timerfd_settime` per Master_Down_Interval at the price of a wake-up, which costs
/// more. A deadline that moves earlier (a master's next advert after one was sent)
/// re-arms the kernel timer at once, as before.
#[derive(Debug)]
pub struct DeadlineTimer {
    fd: AsyncFd<OwnedFd>,
    /// When the caller wants to be told; None when unset or already reported.
    deadline: Option<Instant>,
    /// What the kernel timer was last set to and has not been seen to expire: at or
    /// before `deadline` whenever both are set.
    kernel: Option<Instant>,
    /// `timerfd_settime` calls made, for the tests.
    kernel_sets: u64,
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
        Ok(DeadlineTimer {
            fd,
            deadline: None,
            kernel: None,
            kernel_sets: 0,
        })
    }

    /// The deadline the timer will report, if set and not reported yet.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Report expiry at `at` (at once if `at` is past), replacing any earlier setting.
    ///
    /// Touches the kernel timer only when it would otherwise fire after `at`, or before
    /// halfway from now to `at`, or is not running: a later deadline that passes these
    /// is caught up with when the kernel timer fires.
    pub fn set(&mut self, at: Instant) -> io::Result<()> {
        self.deadline = Some(at);
        if let Some(kernel) = self.kernel
            && kernel <= at
        {
            let now = Instant::now();
            if kernel.saturating_duration_since(now) >= at.saturating_duration_since(now) / 2 {
                return Ok(());
            }
        }
        self.set_kernel(at)
    }

    fn set_kernel(&mut self, at: Instant) -> io::Result<()> {
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
        self.kernel_sets += 1;
        if rc != 0 {
            self.kernel = None;
            return Err(io::Error::last_os_error());
        }
        self.kernel = Some(at);
        Ok(())
    }

    /// Ready once the deadline has passed; the timer is then unset
    /// ([`Self::deadline`] is `None`) until set again. An early kernel expiry (the
    /// deadline moved later meanwhile) re-arms the kernel timer and stays pending.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            // No read(): timerfd_settime in the next set_kernel() resets the expiry
            // count, and the reactor is edge-triggered, so each later expiry is a new
            // event (and the next poll_read_ready registers the waker for it).
            guard.clear_ready();
            self.kernel = None;
            match self.deadline {
                // Fired before the deadline: it moved later since the kernel timer was
                // set. Nothing is due; follow the deadline and keep waiting.
                Some(at) if at > Instant::now() => self.set_kernel(at)?,
                Some(_) => {
                    self.deadline = None;
                    return Poll::Ready(Ok(()));
                }
                // A stale expiry after the deadline was reported: nothing is wanted.
                None => {}
            }
        }
    }

    /// `timerfd_settime` calls made so far.
    #[cfg(test)]
    fn kernel_sets(&self) -> u64 {
        self.kernel_sets
    }

    /// How long until the kernel timer fires, None when it is not running.
    #[cfg(test)]
    fn kernel_remaining(&self) -> Option<Duration> {
        let mut value = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
        };
        // SAFETY: `value` is a valid, writable itimerspec for the duration of the call.
        let rc = unsafe { libc::timerfd_gettime(self.fd.as_raw_fd(), &mut value) };
        assert_eq!(rc, 0, "timerfd_gettime: {}", io::Error::last_os_error());
        let remaining = Duration::new(
            u64::try_from(value.it_value.tv_sec).unwrap(),
            u32::try_from(value.it_value.tv_nsec).unwrap(),
        );
        (!remaining.is_zero()).then_some(remaining)
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
                timer.set(start + Duration::from_millis(20)).unwrap();
                std::future::poll_fn(|cx| timer.poll_expired(cx))
                    .await
                    .unwrap();
                assert!(start.elapsed() >= Duration::from_millis(20));
                assert_eq!(timer.deadline(), None);
            }
        });
    }

    #[test]
    fn an_earlier_deadline_replaces_the_later_setting() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new().unwrap();
            let start = Instant::now();
            timer.set(start + Duration::from_secs(60)).unwrap();
            timer.set(start + Duration::from_millis(10)).unwrap();
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
            timer.set(Instant::now() - Duration::from_secs(1)).unwrap();
            let expired = tokio::time::timeout(
                Duration::from_secs(5),
                std::future::poll_fn(|cx| timer.poll_expired(cx)),
            )
            .await;
            assert!(matches!(expired, Ok(Ok(()))));
        });
    }

    /// Wait for the expiry, at most `bound`.
    async fn expiry(timer: &mut DeadlineTimer, bound: Duration) -> bool {
        matches!(
            tokio::time::timeout(bound, std::future::poll_fn(|cx| timer.poll_expired(cx))).await,
            Ok(Ok(()))
        )
    }

    #[test]
    fn a_later_deadline_leaves_the_kernel_timer_alone_and_an_earlier_one_re_arms_it() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new().unwrap();
            let start = Instant::now();
            timer.set(start + Duration::from_secs(60)).unwrap();
            assert_eq!(timer.kernel_sets(), 1);
            // A backup hearing adverts: its Master_Down deadline only moves later.
            for advert in 1..=100u64 {
                timer
                    .set(start + Duration::from_secs(60) + Duration::from_millis(advert))
                    .unwrap();
            }
            assert_eq!(
                timer.kernel_sets(),
                1,
                "a later deadline made a system call"
            );
            assert!(timer.kernel_remaining().unwrap() <= Duration::from_secs(60));
            assert_eq!(
                timer.deadline(),
                Some(start + Duration::from_secs(60) + Duration::from_millis(100))
            );
            // The same deadline again: nothing to do either.
            timer.set(timer.deadline().unwrap()).unwrap();
            assert_eq!(timer.kernel_sets(), 1);
            // Earlier than the kernel timer: it must be re-armed, or it would fire late.
            timer.set(start + Duration::from_secs(10)).unwrap();
            assert_eq!(timer.kernel_sets(), 2);
            assert!(timer.kernel_remaining().unwrap() <= Duration::from_secs(10));
        });
    }

    #[test]
    fn a_deadline_moved_more_than_twice_as_far_re_arms_at_once() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new().unwrap();
            let start = Instant::now();
            timer.set(start + Duration::from_secs(10)).unwrap();
            // The kernel timer would fire before halfway to the new deadline: an early
            // wake-up costs more than re-arming now.
            timer.set(start + Duration::from_secs(60)).unwrap();
            assert_eq!(timer.kernel_sets(), 2);
            assert!(timer.kernel_remaining().unwrap() > Duration::from_secs(50));
            // An expired kernel timer (not yet seen by poll_expired) is re-armed too.
            timer.set(Instant::now()).unwrap();
            std::thread::sleep(Duration::from_millis(5));
            timer.set(Instant::now() + Duration::from_secs(5)).unwrap();
            assert_eq!(timer.kernel_sets(), 4);
            assert!(timer.kernel_remaining().unwrap() > Duration::from_secs(4));
        });
    }

    #[test]
    fn a_deadline_moved_later_is_reported_at_the_new_deadline_not_before() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new().unwrap();
            let start = Instant::now();
            // Not twice as far: left to the early expiry.
            let first = start + Duration::from_millis(100);
            let moved = start + Duration::from_millis(150);
            timer.set(first).unwrap();
            timer.set(moved).unwrap();
            assert_eq!(timer.kernel_sets(), 1);
            assert!(expiry(&mut timer, Duration::from_secs(5)).await);
            let reported = Instant::now();
            // Never early: the kernel timer fired at `first`, which was not reported.
            assert!(reported >= moved, "reported {:?} early", moved - reported);
            // One re-arm, made by that early expiry, to the deadline then in force.
            assert_eq!(timer.kernel_sets(), 2);
            assert_eq!(timer.deadline(), None);
            // On time within the timer's resolution: a timerfd is an hrtimer (its slack
            // is 50 µs); the bound is loose only because the test machine may be loaded.
            assert!(
                reported - moved < Duration::from_millis(500),
                "reported {:?} late",
                reported - moved
            );
        });
    }

    #[test]
    fn an_early_expiry_is_not_reported_while_the_deadline_is_ahead() {
        runtime().block_on(async {
            let mut timer = DeadlineTimer::new().unwrap();
            let start = Instant::now();
            timer.set(start + Duration::from_secs(1)).unwrap();
            timer.set(start + Duration::from_millis(1900)).unwrap();
            assert_eq!(timer.kernel_sets(), 1);
            // The kernel timer fires at 1 s; the deadline is at 1.9 s.
            assert!(!expiry(&mut timer, Duration::from_millis(1400)).await);
            assert_eq!(timer.kernel_sets(), 2, "the early expiry did not re-arm");
            let remaining = timer.kernel_remaining().unwrap();
            assert!(remaining <= Duration::from_millis(900), "{remaining:?}");
            assert_eq!(timer.deadline(), Some(start + Duration::from_millis(1900)));
        });
    }
}
