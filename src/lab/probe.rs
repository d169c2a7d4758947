//! A client-side probe: ICMP echo to an address every few milliseconds from a
//! lab host, recording when replies come back, to measure what a client of the
//! VIP sees during a failover.
//!
//! Native: a dedicated thread enters the host's network namespace (setns(2) is
//! per thread) and uses a raw ICMP socket (root; datagram ICMP sockets need
//! `net.ipv4.ping_group_range`, which is closed in a fresh namespace).

use std::fs::File;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sched::{CloneFlags, setns};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::{Host, LabError, LabResult, NETNS_RUN_DIR};
use crate::core::checksum::internet_checksum;

const ICMPV4_ECHO_REQUEST: u8 = 8;
const ICMPV4_ECHO_REPLY: u8 = 0;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;

/// How long the probe keeps listening for late replies after it stops sending.
const DRAIN: Duration = Duration::from_millis(100);

/// A running probe. Stop it with [`Prober::finish`] (or let it run out its
/// `max_duration` and call [`Prober::wait`]).
pub struct Prober {
    stop: Arc<AtomicBool>,
    /// Replies so far, readable while the probe runs.
    received: Arc<AtomicU64>,
    thread: Option<JoinHandle<LabResult<ProbeReport>>>,
}

/// What the probe saw.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    pub target: IpAddr,
    pub interval: Duration,
    /// When the first request was sent.
    pub started: Instant,
    /// When the last request was sent.
    pub stopped: Instant,
    /// Requests sent.
    pub sent: u64,
    /// Arrival time of the reply to each answered request, in arrival order
    /// (duplicates ignored).
    pub reply_times: Vec<Instant>,
    /// When each request was sent, in order. A long pause here means the probe
    /// itself was not scheduled (a loaded machine), not that the target was away.
    pub send_times: Vec<Instant>,
    /// Round-trip time of each answered request, in arrival order (like `reply_times`).
    pub round_trips: Vec<Duration>,
    /// Whether each request (in the order of `send_times`) got a reply.
    pub answered: Vec<bool>,
}

impl ProbeReport {
    /// Requests that got a reply.
    pub fn received(&self) -> u64 {
        self.reply_times.len() as u64
    }

    /// Requests without a reply.
    pub fn lost(&self) -> u64 {
        self.sent.saturating_sub(self.received())
    }

    /// The longest time between two consecutive replies: the outage a client
    /// saw, from the last reply before a gap to the first one after it. With
    /// no outage this is about one interval. `None` with fewer than two replies.
    pub fn longest_gap(&self) -> Option<Duration> {
        self.reply_times
            .windows(2)
            .map(|w| w[1].duration_since(w[0]))
            .max()
    }

    /// The longest round trip of an answered request: how long a packet the client
    /// sent was held up (e.g. queued while its neighbour entry was unresolved).
    pub fn longest_round_trip(&self) -> Option<Duration> {
        self.round_trips.iter().copied().max()
    }

    /// The longest time between two consecutive requests: the probe's own pauses.
    pub fn longest_send_gap(&self) -> Option<Duration> {
        self.send_times
            .windows(2)
            .map(|w| w[1].duration_since(w[0]))
            .max()
    }

    /// The longest gap together with when it started (the last reply before it).
    pub fn longest_gap_at(&self) -> Option<(Instant, Duration)> {
        self.reply_times
            .windows(2)
            .map(|w| (w[0], w[1].duration_since(w[0])))
            .max_by_key(|(_, gap)| *gap)
    }

    /// What the client saw during one event in a longer run: the longest time between two
    /// consecutive replies from the last reply before `from` up to `to` while the probe
    /// itself kept sending regularly (a gap during which the probe did not send, because the
    /// machine did not run it, says nothing about the VIP), and the requests sent in
    /// `[from, to - in_flight]` that got no reply (a later one may still be on its way).
    pub fn window(&self, from: Instant, to: Instant, in_flight: Duration) -> (Duration, u64) {
        let first = self
            .reply_times
            .iter()
            .rposition(|t| *t < from)
            .unwrap_or(0);
        let gap = self.reply_times[first..]
            .windows(2)
            .take_while(|pair| pair[0] <= to)
            .filter(|pair| self.sent_regularly_between(pair[0], pair[1]))
            .map(|pair| pair[1].duration_since(pair[0]))
            .max()
            .unwrap_or_default();
        let last_counted = to.checked_sub(in_flight).unwrap_or(to);
        let lost = self
            .send_times
            .iter()
            .zip(&self.answered)
            .filter(|(sent, answered)| **sent >= from && **sent <= last_counted && !**answered)
            .count() as u64;
        (gap, lost)
    }

    /// Whether the probe sent a request at least every two intervals from one interval
    /// before `from` until `to`.
    pub fn sent_regularly_between(&self, from: Instant, to: Instant) -> bool {
        let regular = 2 * self.interval;
        let sends: Vec<Instant> = self
            .send_times
            .iter()
            .copied()
            .filter(|sent| *sent + regular >= from && *sent <= to)
            .collect();
        sends
            .windows(2)
            .all(|pair| pair[1].duration_since(pair[0]) < regular)
    }

    /// Replies that arrived at or after `moment`.
    pub fn replies_since(&self, moment: Instant) -> usize {
        self.reply_times.iter().filter(|t| **t >= moment).count()
    }

    /// The first reply at or after `moment`.
    pub fn first_reply_since(&self, moment: Instant) -> Option<Instant> {
        self.reply_times.iter().copied().find(|t| *t >= moment)
    }

    /// The last reply before `moment`.
    pub fn last_reply_before(&self, moment: Instant) -> Option<Instant> {
        self.reply_times.iter().copied().rev().find(|t| *t < moment)
    }

    /// Time from the last reply to the end of sending: how long the target
    /// had been silent when the probe stopped (zero if the last request was
    /// answered).
    pub fn silence_at_end(&self) -> Duration {
        match self.reply_times.last() {
            Some(last) => self.stopped.saturating_duration_since(*last),
            None => self.stopped.saturating_duration_since(self.started),
        }
    }
}

impl std::fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests to {} every {:?}: {} replies, {} lost",
            self.sent,
            self.target,
            self.interval,
            self.received(),
            self.lost()
        )?;
        if let Some(gap) = self.longest_gap() {
            write!(
                f,
                ", longest gap between replies {:.3} s",
                gap.as_secs_f64()
            )?;
        }
        if let (Some(round_trip), Some(send_gap)) =
            (self.longest_round_trip(), self.longest_send_gap())
        {
            write!(
                f,
                " (longest round trip {:.3} s, longest pause between requests {:.3} s)",
                round_trip.as_secs_f64(),
                send_gap.as_secs_f64()
            )?;
        }
        Ok(())
    }
}

impl Prober {
    /// Starts pinging `target` from `from` every `interval` (at least 1 ms),
    /// for at most `max_duration`.
    pub fn start(
        from: &Host,
        target: IpAddr,
        interval: Duration,
        max_duration: Duration,
    ) -> LabResult<Prober> {
        let handle_path = Path::new(NETNS_RUN_DIR).join(from.netns());
        let handle = File::open(&handle_path)
            .map_err(|e| LabError::io(format!("opening {}", handle_path.display()), e))?;
        let interval = interval.max(Duration::from_millis(1));
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let received = Arc::new(AtomicU64::new(0));
        let thread_received = Arc::clone(&received);
        let netns = from.netns().to_string();
        // The socket is opened inside the thread (after setns), and errors up
        // to the first send are reported back before start() returns.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<LabResult<()>>();
        let thread = std::thread::Builder::new()
            .name(format!("probe-{target}"))
            .spawn(move || -> LabResult<ProbeReport> {
                run_as_realtime();
                let socket = match open_socket(&handle, &netns, target) {
                    Ok(socket) => {
                        let _ = ready_tx.send(Ok(()));
                        socket
                    }
                    Err(error) => {
                        let copy =
                            LabError::io("probe setup", std::io::Error::other(error.to_string()));
                        let _ = ready_tx.send(Err(copy));
                        return Err(error);
                    }
                };
                probe_loop(
                    &socket,
                    target,
                    interval,
                    max_duration,
                    &thread_stop,
                    &thread_received,
                )
            })
            .map_err(|e| LabError::io("starting the probe thread", e))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(Prober {
                stop,
                received,
                thread: Some(thread),
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => Err(LabError::io(
                "probe thread",
                std::io::Error::other("exited during setup"),
            )),
        }
    }

    /// Replies received so far (while the probe runs).
    pub fn received_so_far(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Waits until `count` more replies than now have arrived, at most `timeout`.
    /// Returns whether they did.
    pub fn wait_for_replies(&self, count: u64, timeout: Duration) -> bool {
        let target = self.received_so_far() + count;
        super::wait_until(timeout, Duration::from_millis(5), || {
            self.received_so_far() >= target
        })
        .is_some()
    }

    /// Stops sending now and returns the report.
    pub fn finish(mut self) -> LabResult<ProbeReport> {
        self.stop.store(true, Ordering::Relaxed);
        self.join()
    }

    /// Waits for the probe to run its full `max_duration`, then returns the report.
    pub fn wait(mut self) -> LabResult<ProbeReport> {
        self.join()
    }

    fn join(&mut self) -> LabResult<ProbeReport> {
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| {
                Err(LabError::io(
                    "probe thread",
                    std::io::Error::other("panicked"),
                ))
            }),
            None => Err(LabError::io(
                "probe",
                std::io::Error::other("already joined"),
            )),
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The measuring instrument must not stall on a busy machine (a stall looks like an
/// outage): the probe thread runs SCHED_FIFO at priority 10, as benches/failover.py's
/// prober does. It sleeps nearly all the time, so this costs the daemons under test nothing
/// measurable; without the privilege it runs at normal priority, and a pause of its own
/// still shows as one in the send times ([`ProbeReport::sent_regularly_between`]).
fn run_as_realtime() {
    let param = libc::sched_param { sched_priority: 10 };
    // SAFETY: sched_setscheduler only reads `param`; pid 0 is the calling thread.
    let result = unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
    if result != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "probe stays at normal priority");
    }
}

fn open_socket(handle: &File, netns: &str, target: IpAddr) -> LabResult<Socket> {
    setns(handle, CloneFlags::CLONE_NEWNET).map_err(|source| LabError::Sys {
        context: format!("entering network namespace {netns}"),
        source,
    })?;
    let (domain, protocol) = match target {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        // The kernel computes ICMPv6 checksums on raw ICMPv6 sockets itself.
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let socket = Socket::new(domain, Type::RAW, Some(protocol))
        .map_err(|e| LabError::io("opening a raw ICMP socket (needs root)", e))?;
    // Kernel receive timestamps on every reply (see receive_with_timestamp).
    nix::sys::socket::setsockopt(
        &socket,
        nix::sys::socket::sockopt::ReceiveTimestampns,
        &true,
    )
    .map_err(|source| LabError::Sys {
        context: "enabling receive timestamps on the probe socket".into(),
        source,
    })?;
    // Connecting a raw socket makes the kernel deliver only packets from the target.
    socket
        .connect(&SockAddr::from(SocketAddr::new(target, 0)))
        .map_err(|e| LabError::io(format!("connecting the probe socket to {target}"), e))?;
    Ok(socket)
}

fn probe_loop(
    socket: &Socket,
    target: IpAddr,
    interval: Duration,
    max_duration: Duration,
    stop: &AtomicBool,
    received: &AtomicU64,
) -> LabResult<ProbeReport> {
    static NEXT_IDENTIFIER: AtomicU16 = AtomicU16::new(0);
    let identifier = (std::process::id() as u16)
        .wrapping_mul(31)
        .wrapping_add(NEXT_IDENTIFIER.fetch_add(1, Ordering::Relaxed));
    let started = Instant::now();
    let deadline = started + max_duration;
    let mut next_send = started;
    let mut sent: u64 = 0;
    let mut answered: Vec<bool> = Vec::new();
    let mut reply_times = Vec::new();
    let mut send_times = Vec::new();
    let mut round_trips = Vec::new();
    let mut buffer = [0u8; 1500];
    let mut stopped = started;
    let mut sending = true;
    let mut drain_until = None;

    loop {
        let now = Instant::now();
        if sending && (stop.load(Ordering::Relaxed) || now >= deadline) {
            sending = false;
            drain_until = Some(now + DRAIN);
        }
        if let Some(until) = drain_until
            && now >= until
        {
            break;
        }
        if sending && now >= next_send {
            // The sequence number is 16 bits on the wire; reports only need it
            // to be unique within ~65k requests (10 minutes at 10 ms).
            let packet = echo_request(target, identifier, sent as u16);
            match socket.send(&packet) {
                Ok(_) => {}
                // No route / unreachable while the VIP moves counts as a lost request.
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(e) => tracing::debug!(error = %e, "probe send failed"),
            }
            sent += 1;
            answered.push(false);
            send_times.push(now);
            stopped = now;
            next_send += interval;
            if next_send < now {
                // Fell behind (the machine stalled): do not burst to catch up.
                next_send = now + interval;
            }
        }
        let wake = if sending {
            next_send
        } else {
            drain_until.unwrap_or(now)
        };
        let timeout = wake.saturating_duration_since(Instant::now());
        if !wait_readable(socket, timeout)? {
            continue;
        }
        match receive_with_timestamp(socket, &mut buffer) {
            Ok((length, arrived)) => {
                if let Some(sequence) = parse_echo_reply(target, &buffer[..length], identifier) {
                    // Map the 16-bit sequence back to the latest request with it.
                    let base = sent.saturating_sub(1) & !0xffff;
                    let mut index = base | u64::from(sequence);
                    if index >= sent {
                        index = index.wrapping_sub(0x1_0000);
                    }
                    if let Some(slot) = answered.get_mut(index as usize)
                        && !*slot
                    {
                        *slot = true;
                        reply_times.push(arrived);
                        if let Some(sent_at) = send_times.get(index as usize) {
                            round_trips.push(arrived.saturating_duration_since(*sent_at));
                        }
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            // ICMP errors reported on the connected socket (host unreachable while ARP fails).
            Err(e) => tracing::trace!(error = %e, "probe receive error"),
        }
    }
    Ok(ProbeReport {
        target,
        interval,
        started,
        stopped,
        sent,
        reply_times,
        send_times,
        round_trips,
        answered,
    })
}

/// Waits until `socket` is readable or `timeout` has passed; returns whether it is readable.
///
/// ppoll(2) sleeps on a high-resolution timer. A socket receive timeout (SO_RCVTIMEO) is
/// rounded up to scheduler ticks instead (10 ms at HZ=100), which made the probe send up to
/// a tick late and doubled the gaps it reported on a quiet path.
fn wait_readable(socket: &Socket, timeout: Duration) -> LabResult<bool> {
    use nix::poll::{PollFd, PollFlags, ppoll};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
    let timeout = nix::sys::time::TimeSpec::from_duration(timeout);
    match ppoll(&mut fds, Some(timeout), None) {
        Ok(ready) => Ok(ready > 0),
        Err(nix::errno::Errno::EINTR) => Ok(false),
        Err(source) => Err(LabError::Sys {
            context: "waiting for the probe socket".into(),
            source,
        }),
    }
}

/// Reads one datagram without blocking, with the moment the kernel received it
/// (SO_TIMESTAMPNS), mapped onto [`Instant`]: a probe thread that runs late must not turn
/// replies queued on its socket into a gap the client never had.
fn receive_with_timestamp(socket: &Socket, buffer: &mut [u8]) -> std::io::Result<(usize, Instant)> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg};
    use std::os::fd::AsRawFd;
    let mut control = nix::cmsg_space!(nix::sys::time::TimeSpec);
    let mut iov = [std::io::IoSliceMut::new(buffer)];
    let message = recvmsg::<SockaddrStorage>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::MSG_DONTWAIT,
    )
    .map_err(std::io::Error::from)?;
    let now = Instant::now();
    let mut arrived = now;
    for cmsg in message.cmsgs().into_iter().flatten() {
        if let ControlMessageOwned::ScmTimestampns(stamp) = cmsg {
            let kernel = std::time::UNIX_EPOCH
                + Duration::new(stamp.tv_sec().max(0) as u64, stamp.tv_nsec() as u32);
            // The age of the packet on the realtime clock, taken off the monotonic now.
            let age = std::time::SystemTime::now()
                .duration_since(kernel)
                .unwrap_or_default();
            arrived = now.checked_sub(age).unwrap_or(now);
        }
    }
    Ok((message.bytes, arrived))
}

fn echo_request(target: IpAddr, identifier: u16, sequence: u16) -> Vec<u8> {
    let kind = if target.is_ipv4() {
        ICMPV4_ECHO_REQUEST
    } else {
        ICMPV6_ECHO_REQUEST
    };
    let mut packet = vec![kind, 0, 0, 0];
    packet.extend_from_slice(&identifier.to_be_bytes());
    packet.extend_from_slice(&sequence.to_be_bytes());
    packet.extend_from_slice(b"vrrpd-lab-probe!");
    if target.is_ipv4() {
        let checksum = internet_checksum(&packet);
        packet[2..4].copy_from_slice(&checksum.to_be_bytes());
    }
    packet
}

/// The sequence number of an echo reply to us, or `None` for anything else.
/// IPv4 raw sockets deliver the IP header; IPv6 ones do not.
fn parse_echo_reply(target: IpAddr, packet: &[u8], identifier: u16) -> Option<u16> {
    let (icmp, reply_type) = match target {
        IpAddr::V4(_) => {
            let header_length = usize::from(*packet.first()? & 0x0f) * 4;
            (packet.get(header_length..)?, ICMPV4_ECHO_REPLY)
        }
        IpAddr::V6(_) => (packet, ICMPV6_ECHO_REPLY),
    };
    if icmp.len() < 8 || icmp[0] != reply_type || icmp[1] != 0 {
        return None;
    }
    if u16::from_be_bytes([icmp[4], icmp[5]]) != identifier {
        return None;
    }
    Some(u16::from_be_bytes([icmp[6], icmp[7]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_checksum_verifies_to_zero() {
        let packet = echo_request("192.0.2.40".parse().unwrap(), 0x1234, 7);
        assert_eq!(packet[0], ICMPV4_ECHO_REQUEST);
        assert_eq!(
            internet_checksum(&packet),
            0,
            "a packet including its checksum sums to 0"
        );
        assert_eq!(&packet[4..8], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn parse_echo_reply_skips_the_ipv4_header_and_checks_the_identifier() {
        let mut reply = vec![0x46u8; 24]; // IHL 6: a 24-byte header with options
        reply.extend_from_slice(&[ICMPV4_ECHO_REPLY, 0, 0, 0, 0xab, 0xcd, 0x01, 0x02]);
        let v4: IpAddr = "192.0.2.40".parse().unwrap();
        assert_eq!(parse_echo_reply(v4, &reply, 0xabcd), Some(0x0102));
        assert_eq!(
            parse_echo_reply(v4, &reply, 0xabce),
            None,
            "someone else's ping"
        );
        reply[24] = ICMPV4_ECHO_REQUEST;
        assert_eq!(
            parse_echo_reply(v4, &reply, 0xabcd),
            None,
            "a request is not a reply"
        );
        assert_eq!(
            parse_echo_reply(v4, &[0x45, 0, 0], 0xabcd),
            None,
            "truncated"
        );
    }

    #[test]
    fn report_measures_the_longest_gap_between_replies() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let report = ProbeReport {
            target: "192.0.2.40".parse().unwrap(),
            interval: ms(10),
            started: t0,
            stopped: t0 + ms(1000),
            sent: 100,
            reply_times: vec![t0, t0 + ms(10), t0 + ms(20), t0 + ms(620), t0 + ms(630)],
            send_times: vec![t0, t0 + ms(10), t0 + ms(20), t0 + ms(30), t0 + ms(100)],
            round_trips: vec![ms(1), ms(2), ms(1), ms(590), ms(1)],
            answered: vec![true, true, true, false, false],
        };
        assert_eq!(report.longest_round_trip(), Some(ms(590)));
        assert_eq!(report.longest_send_gap(), Some(ms(70)));
        assert_eq!(report.longest_gap(), Some(ms(600)));
        assert_eq!(report.longest_gap_at(), Some((t0 + ms(20), ms(600))));
        assert_eq!(report.lost(), 95);
        assert_eq!(report.replies_since(t0 + ms(100)), 2);
        assert_eq!(report.first_reply_since(t0 + ms(21)), Some(t0 + ms(620)));
        assert_eq!(report.last_reply_before(t0 + ms(600)), Some(t0 + ms(20)));
        assert_eq!(report.silence_at_end(), ms(370));
        // The probe sent nothing from 30 to 100 ms: a gap across that pause is its own.
        assert!(report.sent_regularly_between(t0, t0 + ms(25)));
        assert!(!report.sent_regularly_between(t0 + ms(25), t0 + ms(110)));
    }

    #[test]
    fn a_window_of_a_long_run_has_its_own_gap_and_losses() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        // A request every 10 ms from 0 to 300 ms, answered 1 ms later, except: those sent
        // at 50..=70 ms get no reply; the one sent at 200 ms comes back 35 ms late (and so
        // does the one at 210 ms, queued behind it).
        let send_times: Vec<Instant> = (0..=30).map(|i| t0 + ms(i * 10)).collect();
        let answered: Vec<bool> = (0..=30).map(|i| !(5..=7).contains(&i)).collect();
        let mut replies: Vec<Instant> = (0..=30u64)
            .filter(|i| !(5..=7).contains(i))
            .map(|i| match i {
                20 => t0 + ms(235),
                21 => t0 + ms(236),
                _ => t0 + ms(i * 10 + 1),
            })
            .collect();
        replies.sort();
        let report = ProbeReport {
            target: "192.0.2.40".parse().unwrap(),
            interval: ms(10),
            started: t0,
            stopped: t0 + ms(300),
            sent: 31,
            round_trips: vec![ms(1); replies.len()],
            reply_times: replies,
            send_times,
            answered,
        };
        // 0..100 ms: three lost, and the gap from the reply at 41 to the one at 81 ms.
        assert_eq!(report.window(t0, t0 + ms(100), ms(20)), (ms(40), 3));
        // 150..250 ms: nothing lost; the two late replies leave the client without one from
        // 191 ms (the request at 190) to 221 ms (the one at 220, which overtook them).
        assert_eq!(
            report.window(t0 + ms(150), t0 + ms(250), ms(20)),
            (ms(30), 0)
        );
        // 260..300 ms: quiet.
        assert_eq!(
            report.window(t0 + ms(260), t0 + ms(300), ms(20)),
            (ms(10), 0)
        );
        // Requests sent within `in_flight` of the window's end are not counted as lost:
        // of 50, 60 and 70 ms, a window ending at 75 ms counts only the one at 50.
        assert_eq!(report.window(t0 + ms(45), t0 + ms(75), ms(20)).1, 1);
    }
}
