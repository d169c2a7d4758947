//! What the protocol thread sleeps on: one epoll set holding the VRRP sockets and a wake-up
//! eventfd, with the node's next deadline as the wait's timeout.
//!
//! Why not the tokio reactor (as before): at 10 ms adverts the cost of a daemon is the
//! cost of its wake-ups, and a general-purpose runtime's turn (its I/O, time, signal and
//! process drivers, a `select!` polling every source) was most of vrrpd's user time per
//! advert (docs/BENCHMARKS.md). Here a master's advert costs one `epoll_pwait2` that times
//! out and one `sendmsg`, as the floor's costs a timer read and a send; a backup's costs
//! one `epoll_pwait2` and one `recvmmsg`. The deadline is the wait's own timeout, so a
//! deadline that moves (every advert moves a backup's) costs no system call at all.
//!
//! Everything else (netlink, signals, the control socket, checks, hooks) stays on tokio,
//! on a thread of its own, and reaches this loop through the eventfd (driver::runtime).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::driver::interfaces::Interfaces;
use crate::driver::socket::{ReceiveBatch, VrrpSocketV4, VrrpSocketV6};
use crate::driver::sys;

/// Events taken per wait: a wake-up and one per socket; more than that are left for the
/// next wait (level-triggered, so nothing is lost).
const EVENTS_PER_WAIT: usize = 64;
/// The token of the wake-up eventfd; sockets count up from 1.
const WAKE_TOKEN: u64 = 0;

/// The eventfd another thread writes to wake the protocol thread.
#[derive(Debug)]
pub struct Wake {
    fd: OwnedFd,
}

impl Wake {
    fn new() -> io::Result<Self> {
        // SAFETY: plain system call; the result is checked.
        let raw = sys::check(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `raw` was just returned by eventfd and nothing else owns it.
        Ok(Wake {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        })
    }

    /// Make the protocol thread's next (or current) wait return. Never blocks: the
    /// counter only saturates after 2^64 - 2 unread wake-ups.
    pub fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a valid u64 to an eventfd we own.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    fn clear(&self) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a valid u64 from a non-blocking eventfd we own.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    }
}

/// A VRRP socket the poller watches.
#[derive(Debug, Clone)]
pub enum WatchedSocket {
    V4(Arc<VrrpSocketV4>),
    V6(Arc<VrrpSocketV6>),
}

impl WatchedSocket {
    fn raw_fd(&self) -> RawFd {
        match self {
            WatchedSocket::V4(socket) => socket.as_raw_fd(),
            WatchedSocket::V6(socket) => socket.as_raw_fd(),
        }
    }

    /// Read what is queued, up to a batch, without waiting (see
    /// [`VrrpSocketV4::try_recv_batch`]).
    pub fn try_recv_batch(&self, batch: &mut ReceiveBatch) -> io::Result<usize> {
        match self {
            WatchedSocket::V4(socket) => socket.try_recv_batch(batch),
            WatchedSocket::V6(socket) => socket.try_recv_batch(batch),
        }
    }

    pub fn ifindex(&self) -> u32 {
        match self {
            WatchedSocket::V4(socket) => socket.ifindex(),
            WatchedSocket::V6(socket) => socket.ifindex(),
        }
    }

    pub fn ipv6(&self) -> bool {
        matches!(self, WatchedSocket::V6(_))
    }

    /// The interface's name, for logs.
    pub fn interface(&self) -> &str {
        match self {
            WatchedSocket::V4(socket) => socket.interface(),
            WatchedSocket::V6(socket) => socket.interface(),
        }
    }

    /// The receiving sockets of `interfaces`, IPv4 then IPv6 per interface.
    pub fn receiving(interfaces: &Interfaces) -> impl Iterator<Item = WatchedSocket> + '_ {
        interfaces
            .values()
            .filter(|interface| interface.receives)
            .flat_map(|interface| {
                let v4 = interface.socket_v4.clone().map(WatchedSocket::V4);
                let v6 = interface.socket_v6.clone().map(WatchedSocket::V6);
                [v4, v6].into_iter().flatten()
            })
    }
}

#[derive(Debug)]
struct Watched {
    token: u64,
    socket: WatchedSocket,
    seen: bool,
}

/// What one wait found ready.
#[derive(Debug, Default)]
pub struct Ready {
    /// The eventfd was written: the other thread has something for the loop.
    pub woken: bool,
    /// Sockets with datagrams queued, by token (see [`Poller::socket`]).
    pub sockets: Vec<u64>,
}

/// The protocol thread's epoll sets and their wake-up.
#[derive(Debug)]
pub struct Poller {
    /// The wake-up and every receiving VRRP socket.
    all: OwnedFd,
    /// The wake-up alone: waited on while the sockets are left to queue (a coalescing
    /// window, a pause after a receive error), since the sockets are level-triggered.
    wake_only: OwnedFd,
    wake: Arc<Wake>,
    watched: Vec<Watched>,
    next_token: u64,
    events: Vec<libc::epoll_event>,
    /// epoll_pwait2 (Linux 5.11) works here; without it, epoll_wait's whole milliseconds,
    /// rounded up.
    precise: bool,
}

impl Poller {
    pub fn new() -> io::Result<Self> {
        let wake = Arc::new(Wake::new()?);
        let all = epoll_create()?;
        let wake_only = epoll_create()?;
        for set in [&all, &wake_only] {
            epoll_control(set, libc::EPOLL_CTL_ADD, wake.fd.as_raw_fd(), WAKE_TOKEN)?;
        }
        Ok(Poller {
            all,
            wake_only,
            wake,
            watched: Vec::new(),
            next_token: WAKE_TOKEN + 1,
            events: vec![libc::epoll_event { events: 0, u64: 0 }; EVENTS_PER_WAIT],
            precise: true,
        })
    }

    /// How late a wait that timed out may return by construction: nothing with
    /// epoll_pwait2 (nanoseconds), up to a millisecond with epoll_wait's whole milliseconds,
    /// rounded up. A wake-up later than that, and more, means the thread was held up.
    pub fn rounding(&self) -> Duration {
        if self.precise {
            Duration::ZERO
        } else {
            Duration::from_millis(1)
        }
    }

    /// The handle other threads wake this loop with.
    pub fn waker(&self) -> Arc<Wake> {
        Arc::clone(&self.wake)
    }

    /// Watch exactly the receiving sockets of `interfaces` (instances come and go with
    /// reloads, sockets with interfaces). Cheap when nothing changed: no allocation, no
    /// reference count touched, a pointer comparison per socket. A watched socket is
    /// kept open by its Arc here until it is unwatched, so a descriptor number is never
    /// watched for two sockets.
    // Only after work that waited on I/O: kept out of the protocol loop's hot code.
    #[inline(never)]
    pub fn follow(&mut self, interfaces: &Interfaces) -> io::Result<()> {
        for watched in &mut self.watched {
            watched.seen = false;
        }
        for interface in interfaces.values().filter(|interface| interface.receives) {
            if let Some(socket) = &interface.socket_v4 {
                self.see(
                    |watched| matches!(watched, WatchedSocket::V4(it) if Arc::ptr_eq(it, socket)),
                    || WatchedSocket::V4(Arc::clone(socket)),
                )?;
            }
            if let Some(socket) = &interface.socket_v6 {
                self.see(
                    |watched| matches!(watched, WatchedSocket::V6(it) if Arc::ptr_eq(it, socket)),
                    || WatchedSocket::V6(Arc::clone(socket)),
                )?;
            }
        }
        let all = &self.all;
        self.watched.retain(|watched| {
            if !watched.seen {
                // Fails only if the descriptor is already gone, which unwatches it too.
                let _ = epoll_control(all, libc::EPOLL_CTL_DEL, watched.socket.raw_fd(), 0);
            }
            watched.seen
        });
        Ok(())
    }

    /// Mark the socket `is_it` finds as still watched, or watch the one `make` gives.
    fn see(
        &mut self,
        is_it: impl Fn(&WatchedSocket) -> bool,
        make: impl FnOnce() -> WatchedSocket,
    ) -> io::Result<()> {
        if let Some(watched) = self
            .watched
            .iter_mut()
            .find(|watched| is_it(&watched.socket))
        {
            watched.seen = true;
            return Ok(());
        }
        let socket = make();
        let token = self.next_token;
        self.next_token += 1;
        epoll_control(&self.all, libc::EPOLL_CTL_ADD, socket.raw_fd(), token)?;
        self.watched.push(Watched {
            token,
            socket,
            seen: true,
        });
        Ok(())
    }

    /// The socket a token of [`Ready::sockets`] stands for (still watched until the next
    /// [`Self::follow`]).
    pub fn socket(&self, token: u64) -> Option<&WatchedSocket> {
        self.watched
            .iter()
            .find(|watched| watched.token == token)
            .map(|watched| &watched.socket)
    }

    /// Sleep until `wake_at`, a wake-up, or (when `receiving`) a datagram. `ready` is
    /// cleared and filled. An interrupted wait returns with nothing ready.
    #[unsafe(link_section = ".text.hot.vrrpd")]
    pub fn wait(&mut self, wake_at: Instant, receiving: bool, ready: &mut Ready) -> io::Result<()> {
        ready.woken = false;
        ready.sockets.clear();
        let set = if receiving {
            self.all.as_raw_fd()
        } else {
            self.wake_only.as_raw_fd()
        };
        let timeout = wake_at.saturating_duration_since(Instant::now());
        let count = match self.wait_on(set, timeout) {
            Ok(count) => count,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(error) => return Err(error),
        };
        for event in &self.events[..count] {
            let token = event.u64;
            if token == WAKE_TOKEN {
                ready.woken = true;
            } else {
                ready.sockets.push(token);
            }
        }
        if ready.woken {
            self.wake.clear();
        }
        Ok(())
    }

    fn wait_on(&mut self, set: RawFd, timeout: Duration) -> io::Result<usize> {
        let capacity = self.events.len() as libc::c_int;
        if self.precise {
            let timespec = libc::timespec {
                tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
            };
            // SAFETY: `events` has `capacity` writable entries and `timespec` is valid for
            // the call; no signal mask is passed (null, size 0).
            let count = unsafe {
                libc::syscall(
                    libc::SYS_epoll_pwait2,
                    set,
                    self.events.as_mut_ptr(),
                    capacity,
                    &timespec as *const libc::timespec,
                    std::ptr::null::<libc::sigset_t>(),
                    0usize,
                )
            };
            if count >= 0 {
                return Ok(count as usize);
            }
            let error = io::Error::last_os_error();
            // ENOSYS: a kernel before 5.11. EPERM: a seccomp filter that predates the call
            // (systemd's @io-event has it since v248; the unit's SystemCallErrorNumber=EPERM
            // turns a denied call into that error).
            if !matches!(error.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
                return Err(error);
            }
            tracing::warn!(
                "epoll_pwait2 is not available ({error}); waiting with epoll_wait instead, so \
                 timers fire up to 1 ms late"
            );
            self.precise = false;
        }
        // Whole milliseconds, rounded up: never early.
        let millis = timeout.as_nanos().div_ceil(1_000_000);
        let millis = libc::c_int::try_from(millis).unwrap_or(libc::c_int::MAX);
        // SAFETY: as above.
        let count = sys::check(unsafe {
            libc::epoll_wait(set, self.events.as_mut_ptr(), capacity, millis)
        })?;
        Ok(count as usize)
    }
}

fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: plain system call; the result is checked.
    let raw = sys::check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: `raw` was just returned by epoll_create1 and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// Add (level-triggered, readable) or remove `fd` in `set`.
fn epoll_control(set: &OwnedFd, operation: libc::c_int, fd: RawFd, token: u64) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: token,
    };
    // SAFETY: `event` is valid for the call (the kernel ignores it for EPOLL_CTL_DEL).
    sys::check(unsafe { libc::epoll_ctl(set.as_raw_fd(), operation, fd, &mut event) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wait with nothing to wake it returns at its deadline, not before; a wake-up from
    /// another thread ends it early and is reported once.
    #[test]
    fn a_wait_ends_at_its_deadline_or_when_woken() {
        let mut poller = Poller::new().unwrap();
        waits_end_at_their_deadline_or_when_woken(&mut poller);
    }

    /// The same with epoll_wait, as where epoll_pwait2 is refused (a kernel before 5.11,
    /// or a seccomp list without it): whole milliseconds, never early, and the loop is
    /// told that it may wake up to a millisecond late.
    #[test]
    fn the_epoll_wait_fallback_ends_at_its_deadline_or_when_woken_too() {
        let mut poller = Poller::new().unwrap();
        assert_eq!(
            poller.rounding(),
            Duration::ZERO,
            "precise until a wait is refused"
        );
        poller.precise = false;
        assert_eq!(poller.rounding(), Duration::from_millis(1));
        waits_end_at_their_deadline_or_when_woken(&mut poller);
        // A deadline a fraction of a millisecond away is not rounded down to a busy 0.
        let start = Instant::now();
        let mut ready = Ready::default();
        poller
            .wait(start + Duration::from_micros(300), true, &mut ready)
            .unwrap();
        assert!(start.elapsed() >= Duration::from_micros(300));
    }

    fn waits_end_at_their_deadline_or_when_woken(poller: &mut Poller) {
        let mut ready = Ready::default();
        let start = Instant::now();
        poller
            .wait(start + Duration::from_millis(30), true, &mut ready)
            .unwrap();
        assert!(start.elapsed() >= Duration::from_millis(30));
        assert!(!ready.woken && ready.sockets.is_empty());

        let waker = poller.waker();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            waker.wake();
        });
        let start = Instant::now();
        poller
            .wait(start + Duration::from_secs(10), false, &mut ready)
            .unwrap();
        thread.join().unwrap();
        assert!(ready.woken);
        assert!(start.elapsed() < Duration::from_secs(5));
        // Cleared: the next wait sleeps until its deadline again.
        poller
            .wait(Instant::now() + Duration::from_millis(10), true, &mut ready)
            .unwrap();
        assert!(!ready.woken);
    }
}
