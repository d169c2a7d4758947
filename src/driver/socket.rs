//! Raw IP-protocol-112 sockets, one per interface and address family.
//!
//! RFC 3768 §5.2 / RFC 5798 §5.1: adverts go to 224.0.0.18 (ff02::12) with
//! TTL (hop limit) 255, and receivers drop anything else (§7.1), which proves
//! the sender is on the link. So the sockets send with TTL 255 and the
//! receive side reports the TTL / hop limit it saw; the caller checks it.
//!
//! The sockets are bound to their device (SO_BINDTODEVICE) so that two
//! interfaces on the same LAN never see each other's traffic, and multicast
//! loopback is off so we never hear our own adverts.

use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::OnceLock;
use std::task::{Context, Poll, ready};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use crate::core::packet::{IP_PROTOCOL_VRRP, MULTICAST_V4, MULTICAST_V6, REQUIRED_TTL};

/// Largest datagram we read. VRRP adverts are small (at most 255 addresses);
/// anything longer than an Ethernet MTU is not a valid advert anyway, and the
/// kernel truncates it into the buffer, which the decoder then rejects.
pub const RECEIVE_BUFFER_LEN: usize = 2048;

/// A raw IPv4 VRRP socket on one interface.
#[derive(Debug)]
pub struct VrrpSocketV4 {
    fd: SocketFd,
    interface: String,
    ifindex: u32,
}

/// A raw socket that the daemon's protocol loop polls itself (driver::runtime), and that
/// is registered with tokio's reactor only when something awaits a datagram on it (the
/// async `recv`/`poll_recv` below, which the tests use). Registered always, every
/// datagram would also wake the thread that drives the reactor.
#[derive(Debug)]
struct SocketFd {
    /// Dropped before `socket`, so deregistered before the descriptor closes.
    readiness: OnceLock<AsyncFd<RawFd>>,
    socket: Socket,
}

impl SocketFd {
    fn new(socket: Socket) -> Self {
        SocketFd {
            readiness: OnceLock::new(),
            socket,
        }
    }

    fn get_ref(&self) -> &Socket {
        &self.socket
    }

    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Send one advert from its own source (see [`send_one`]), all of it or an error.
    async fn send_advert(&self, ifindex: u32, advert: &OutgoingAdvert<'_>) -> io::Result<()> {
        let sent = send_without_readiness(|| send_one(self.as_raw_fd(), ifindex, advert)).await?;
        check_sent(sent, advert.message.len())
    }

    /// [`Self::send_advert`] in one attempt, without waiting; a full buffer is an error
    /// that [`send_buffer_full`] recognises.
    fn try_send_advert(&self, ifindex: u32, advert: &OutgoingAdvert<'_>) -> io::Result<()> {
        let sent = send_one(self.as_raw_fd(), ifindex, advert)?;
        check_sent(sent, advert.message.len())
    }

    /// The reactor registration, made on first use (inside a tokio runtime), for reading
    /// only: the reactor is edge-triggered, and with write interest every sent advert
    /// would wake it once more when the kernel releases its buffer (see
    /// [`send_without_readiness`]).
    fn readiness(&self) -> io::Result<&AsyncFd<RawFd>> {
        if let Some(registered) = self.readiness.get() {
            return Ok(registered);
        }
        // SAFETY: `socket` owns the descriptor, and the registration is a field declared
        // before it, so dropped (deregistered) before the descriptor closes.
        let registered = unsafe {
            AsyncFd::register_with_interest(self.socket.as_raw_fd(), tokio::io::Interest::READABLE)
        }
        .map_err(|error| error.into_parts().1)?;
        // Only this thread can have raced here (the socket is not Sync across an await of
        // the same call); a lost race keeps the first registration.
        let _ = self.readiness.set(registered);
        self.readiness
            .get()
            .ok_or_else(|| io::Error::other("socket readiness registration lost"))
    }

    async fn readable(&self) -> io::Result<tokio::io::unix::AsyncFdReadyGuard<'_, RawFd>> {
        self.readiness()?.readable().await
    }

    fn poll_read_ready<'a>(
        &'a self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<tokio::io::unix::AsyncFdReadyGuard<'a, RawFd>>> {
        match self.readiness() {
            Ok(registered) => registered.poll_read_ready(cx),
            Err(error) => Poll::Ready(Err(error)),
        }
    }
}

impl AsRawFd for VrrpSocketV4 {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsRawFd for VrrpSocketV6 {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl VrrpSocketV4 {
    /// Open the socket on `interface` (index `ifindex`) and join 224.0.0.18 there.
    ///
    /// Must be called inside a tokio runtime (it registers with the reactor).
    pub fn open(interface: &str, ifindex: u32) -> io::Result<Self> {
        Self::open_joining(interface, ifindex, true)
    }

    /// A socket that only sends, on a virtual MAC's macvlan: it joins no group, so the
    /// kernel delivers it nothing (adverts are received on the parent; see
    /// `core::node::virtual_mac`), and an advert sent from it carries the virtual MAC.
    pub fn open_sender(interface: &str, ifindex: u32) -> io::Result<Self> {
        Self::open_joining(interface, ifindex, false)
    }

    fn open_joining(interface: &str, ifindex: u32, join: bool) -> io::Result<Self> {
        let socket = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(i32::from(IP_PROTOCOL_VRRP))),
        )?;
        step(
            "SO_BINDTODEVICE",
            socket.bind_device(Some(interface.as_bytes())),
        )?;
        // Without this, Linux hands a raw socket every multicast group joined by
        // any socket on the host; we only want our own membership.
        step("IP_MULTICAST_ALL", socket.set_multicast_all_v4(false))?;
        if join {
            step(
                "joining 224.0.0.18",
                socket.join_multicast_v4_n(&MULTICAST_V4, &InterfaceIndexOrAddress::Index(ifindex)),
            )?;
        }
        step(
            "IP_MULTICAST_IF",
            set_multicast_interface_v4(&socket, ifindex),
        )?;
        step(
            "IP_MULTICAST_TTL",
            socket.set_multicast_ttl_v4(u32::from(REQUIRED_TTL)),
        )?;
        // Unicast TTL too: a peer configured for unicast VRRP checks it the same way.
        step("IP_TTL", socket.set_ttl_v4(u32::from(REQUIRED_TTL)))?;
        step("IP_MULTICAST_LOOP", socket.set_multicast_loop_v4(false))?;
        socket.set_nonblocking(true)?;
        Ok(VrrpSocketV4 {
            fd: SocketFd::new(socket),
            interface: interface.to_owned(),
            ifindex,
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Send one advert (from its own source) now, in one attempt. A full buffer is an
    /// error that [`send_buffer_full`] recognises, for the caller to retry with
    /// [`Self::send_to`], which waits.
    pub fn try_send(&self, advert: &OutgoingAdvert<'_>) -> io::Result<()> {
        self.fd.try_send_advert(self.ifindex, advert)
    }

    /// Receive one datagram, IPv4 header included (a raw IPv4 socket always
    /// delivers it). Returns its length in `buffer`.
    pub async fn recv(&self, buffer: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|_| self.fd.get_ref().read(buffer)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Receive one datagram if one is queued, without waiting
    /// ([`io::ErrorKind::WouldBlock`] otherwise).
    pub fn try_recv(&self, buffer: &mut [u8]) -> io::Result<usize> {
        self.fd.get_ref().read(buffer)
    }

    /// [`Self::recv`] as a poll function, so the event loop can wait on every
    /// socket from its own future (no task and channel hop per datagram).
    pub fn poll_recv(&self, cx: &mut Context<'_>, buffer: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            match guard.try_io(|_| self.fd.get_ref().read(buffer)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    /// Send one VRRP message (the IP payload) to 224.0.0.18; the kernel adds
    /// the IP header with TTL 255 and the interface's primary address as source.
    pub async fn send(&self, message: &[u8]) -> io::Result<()> {
        self.send_to(message, MULTICAST_V4, None).await
    }

    /// Send one VRRP message to 224.0.0.18 from `source`: the address the v3
    /// pseudo-header checksum was computed with (RFC 5798 §5.2.8) and the one
    /// peers compare priorities against must be the one on the wire, even when
    /// it is not the interface's primary address (config `source_address`).
    pub async fn send_from(&self, message: &[u8], source: Ipv4Addr) -> io::Result<()> {
        self.send_to(message, MULTICAST_V4, Some(source)).await
    }

    /// Send one VRRP message to `destination` (the group, or a unicast peer),
    /// from `source` when given (IP_PKTINFO's ipi_spec_dst sets a raw socket's
    /// source address per message, see ip(7)).
    pub async fn send_to(
        &self,
        message: &[u8],
        destination: Ipv4Addr,
        source: Option<Ipv4Addr>,
    ) -> io::Result<()> {
        let Some(source) = source else {
            use nix::sys::socket::{MsgFlags, SockaddrIn, sendmsg};
            // No source: no control message, so nix's sendmsg allocates nothing.
            let address = SockaddrIn::from(SocketAddrV4::new(destination, 0));
            let iov = [io::IoSlice::new(message)];
            let sent = send_without_readiness(|| {
                sendmsg(
                    self.fd.as_raw_fd(),
                    &iov,
                    &[],
                    MsgFlags::empty(),
                    Some(&address),
                )
                .map_err(io::Error::from)
            })
            .await?;
            return check_sent(sent, message.len());
        };
        let advert = OutgoingAdvert {
            message,
            destination: destination.into(),
            source: source.into(),
        };
        self.fd.send_advert(self.ifindex, &advert).await
    }
}

/// IP_MULTICAST_IF by interface index (`struct ip_mreqn`), so the outgoing
/// interface is right even before the interface has an IPv4 address
/// (socket2 only offers the by-address form).
fn set_multicast_interface_v4(socket: &Socket, ifindex: u32) -> io::Result<()> {
    let ifindex = i32::try_from(ifindex)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index out of range"))?;
    let request = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex,
    };
    // SAFETY: `request` is a valid, initialised `ip_mreqn` that outlives the
    // call, and the length passed is exactly its size, as IP_MULTICAST_IF expects.
    crate::driver::sys::check(unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&request as *const libc::ip_mreqn).cast(),
            size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Whether a send failed only because the socket's send buffer is full, which a later
/// try can get past. A raw socket reports that as ENOBUFS, not EAGAIN: IPv4 and IPv6
/// build a raw datagram with `sock_wmalloc`, which fails when the buffer is full, rather
/// than with `sock_alloc_send_skb`, which would wait or say EAGAIN (IPv4 measured by
/// `tests/driver_io.rs`). A queue discipline's drop is not reported at all without
/// IP_RECVERR, so ENOBUFS from these sockets means the buffer.
pub fn send_buffer_full(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::WouldBlock || error.raw_os_error() == Some(libc::ENOBUFS)
}

/// Tries before a send that keeps finding the socket's buffer full gives up.
const SEND_ATTEMPTS: usize = 20;
/// Pause between those tries (so at most ~100 ms in all, a tenth of a v2 interval).
const SEND_RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(5);

/// Send on a socket registered for reading only: a full send buffer (EAGAIN, only
/// under a flood on the link) is waited out with short pauses, bounded, and then
/// reported like any other send error.
async fn send_without_readiness(mut send: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    for _ in 1..SEND_ATTEMPTS {
        match send() {
            Err(error) if send_buffer_full(&error) => {
                tokio::time::sleep(SEND_RETRY_PAUSE).await;
            }
            result => return result,
        }
    }
    send()
}

/// Name the step that failed: "Invalid argument" alone does not tell an
/// operator which of a dozen socket options the kernel refused.
fn step<T>(what: &str, result: io::Result<T>) -> io::Result<T> {
    result.map_err(|error| io::Error::new(error.kind(), format!("{what}: {error}")))
}

fn check_sent(sent: usize, expected: usize) -> io::Result<()> {
    if sent == expected {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("sent {sent} of {expected} bytes of a VRRP advertisement"),
        ))
    }
}

/// One datagram from a raw IPv6 socket: the kernel strips the IPv6 header, so
/// the source, destination and hop limit come from the socket address and the
/// IPV6_PKTINFO / IPV6_HOPLIMIT control messages (RFC 3542 §6.1, §6.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceivedV6 {
    pub source: Ipv6Addr,
    /// The datagram's destination: ff02::12, or one of our own addresses when a
    /// unicast peer sent it. None if the kernel did not attach IPV6_PKTINFO.
    pub destination: Option<Ipv6Addr>,
    /// None if the kernel did not attach the control message (it always
    /// should once IPV6_RECVHOPLIMIT is on); treat as a bad hop limit.
    pub hop_limit: Option<u8>,
    pub length: usize,
}

/// A raw IPv6 VRRP socket on one interface (RFC 5798 §5.1.2).
#[derive(Debug)]
pub struct VrrpSocketV6 {
    fd: SocketFd,
    interface: String,
    ifindex: u32,
    /// The source of [`Self::send`] (the interface's link-local address, RFC 5798
    /// §5.1.2.1); [`Self::send_to`] names its own.
    default_source: Ipv6Addr,
}

impl VrrpSocketV6 {
    /// Open the socket on `interface` and join ff02::12 there; [`Self::send`] sends
    /// from `default_source` (RFC 5798 §5.1.2.1: the source is the link-local address).
    ///
    /// The socket is not bound to an address: a bound raw IPv6 socket only receives
    /// datagrams to that address (and to its groups), and in unicast mode a peer sends
    /// to whichever of our addresses it lists, link-local or global, while instances
    /// that share the socket send from their own sources. Each send names its source
    /// with IPV6_PKTINFO instead.
    pub fn open(interface: &str, ifindex: u32, default_source: Ipv6Addr) -> io::Result<Self> {
        Self::open_joining(interface, ifindex, default_source, true)
    }

    /// A socket that only sends, on a virtual MAC's macvlan (see [`VrrpSocketV4::open_sender`]).
    pub fn open_sender(
        interface: &str,
        ifindex: u32,
        default_source: Ipv6Addr,
    ) -> io::Result<Self> {
        Self::open_joining(interface, ifindex, default_source, false)
    }

    fn open_joining(
        interface: &str,
        ifindex: u32,
        default_source: Ipv6Addr,
        join: bool,
    ) -> io::Result<Self> {
        let socket = Socket::new(
            Domain::IPV6,
            Type::RAW,
            Some(Protocol::from(i32::from(IP_PROTOCOL_VRRP))),
        )?;
        step(
            "SO_BINDTODEVICE",
            socket.bind_device(Some(interface.as_bytes())),
        )?;
        step("IPV6_MULTICAST_ALL", socket.set_multicast_all_v6(false))?;
        if join {
            step(
                "joining ff02::12",
                socket.join_multicast_v6(&MULTICAST_V6, ifindex),
            )?;
        }
        step("IPV6_MULTICAST_IF", socket.set_multicast_if_v6(ifindex))?;
        step(
            "IPV6_MULTICAST_HOPS",
            socket.set_multicast_hops_v6(u32::from(REQUIRED_TTL)),
        )?;
        step(
            "IPV6_UNICAST_HOPS",
            socket.set_unicast_hops_v6(u32::from(REQUIRED_TTL)),
        )?;
        step("IPV6_MULTICAST_LOOP", socket.set_multicast_loop_v6(false))?;
        step(
            "IPV6_RECVHOPLIMIT",
            nix::sys::socket::setsockopt(
                &socket,
                nix::sys::socket::sockopt::Ipv6RecvHopLimit,
                &true,
            )
            .map_err(io::Error::from),
        )?;
        // The destination of each datagram: the v3 checksum's pseudo-header covers it
        // (RFC 5798 §5.2.8), and a unicast advert is addressed to us, not to ff02::12.
        step(
            "IPV6_RECVPKTINFO",
            nix::sys::socket::setsockopt(
                &socket,
                nix::sys::socket::sockopt::Ipv6RecvPacketInfo,
                &true,
            )
            .map_err(io::Error::from),
        )?;
        socket.set_nonblocking(true)?;
        Ok(VrrpSocketV6 {
            fd: SocketFd::new(socket),
            interface: interface.to_owned(),
            ifindex,
            default_source,
        })
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Send one advert (from its own source) now, in one attempt. A full buffer is an
    /// error that [`send_buffer_full`] recognises, for the caller to retry with
    /// [`Self::send_to`], which waits.
    pub fn try_send(&self, advert: &OutgoingAdvert<'_>) -> io::Result<()> {
        self.fd.try_send_advert(self.ifindex, advert)
    }

    /// Receive one VRRP message (no IP header) with its source and hop limit.
    pub async fn recv(&self, buffer: &mut [u8]) -> io::Result<ReceivedV6> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|_| receive_with_hop_limit(self.fd.get_ref(), buffer)) {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }

    /// Receive one message if one is queued, without waiting
    /// ([`io::ErrorKind::WouldBlock`] otherwise).
    pub fn try_recv(&self, buffer: &mut [u8]) -> io::Result<ReceivedV6> {
        receive_with_hop_limit(self.fd.get_ref(), buffer)
    }

    /// [`Self::recv`] as a poll function (see [`VrrpSocketV4::poll_recv`]).
    pub fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        buffer: &mut [u8],
    ) -> Poll<io::Result<ReceivedV6>> {
        loop {
            let mut guard = ready!(self.fd.poll_read_ready(cx))?;
            match guard.try_io(|_| receive_with_hop_limit(self.fd.get_ref(), buffer)) {
                Ok(result) => return Poll::Ready(result),
                Err(_would_block) => continue,
            }
        }
    }

    /// Send one VRRP message to ff02::12 from the source given at open.
    pub async fn send(&self, message: &[u8]) -> io::Result<()> {
        self.send_to(message, MULTICAST_V6, self.default_source)
            .await
    }

    /// Send one VRRP message to `destination` (ff02::12, or a unicast peer) from
    /// `source`, which the v3 checksum was computed with (RFC 5798 §5.2.8) and which
    /// must be an address of this interface. IPV6_PKTINFO sets both the source and the
    /// outgoing interface per message (RFC 3542 §6.1); a link-local peer is reached on
    /// this interface (its scope). The hop limit is 255 either way (the socket's
    /// IPV6_MULTICAST_HOPS and IPV6_UNICAST_HOPS).
    pub async fn send_to(
        &self,
        message: &[u8],
        destination: Ipv6Addr,
        source: Ipv6Addr,
    ) -> io::Result<()> {
        let advert = OutgoingAdvert {
            message,
            destination: destination.into(),
            source: source.into(),
        };
        self.fd.send_advert(self.ifindex, &advert).await
    }
}

fn receive_with_hop_limit(socket: &Socket, buffer: &mut [u8]) -> io::Result<ReceivedV6> {
    use nix::sys::socket::{ControlMessageOwned, MsgFlags, SockaddrIn6, recvmsg};
    let mut control = nix::cmsg_space!(libc::c_int, libc::in6_pktinfo);
    let mut iov = [io::IoSliceMut::new(buffer)];
    let message = recvmsg::<SockaddrIn6>(
        socket.as_raw_fd(),
        &mut iov,
        Some(&mut control),
        MsgFlags::empty(),
    )
    .map_err(io::Error::from)?;
    let mut hop_limit = None;
    let mut destination = None;
    for cmsg in message.cmsgs().map_err(io::Error::from)? {
        match cmsg {
            ControlMessageOwned::Ipv6HopLimit(limit) => hop_limit = u8::try_from(limit).ok(),
            ControlMessageOwned::Ipv6PacketInfo(info) => {
                destination = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            }
            _ => {}
        }
    }
    let source = message.address.map(|address| address.ip()).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "datagram without a source address",
        )
    })?;
    Ok(ReceivedV6 {
        source,
        destination,
        hop_limit,
        length: message.bytes,
    })
}

/// Datagrams read per system call, and per wake-up of the loop for one socket.
///
/// One `recvmmsg` takes every advert that queued since the last wake-up (with two
/// hundred instances the master's adverts for one period arrive close together), instead
/// of a `read` each plus one more that returns EAGAIN. The bound keeps a flood from
/// holding the loop: a batch is decoded in well under a millisecond (tens of
/// microseconds per advert), small against the shortest advert interval (10 ms, RFC 5798
/// §5.2.7) and a Master_Down_Timer's skew, and the loop looks at its timer between
/// batches (one batch per socket per wake-up, see driver::runtime). The rest waits in
/// the socket's buffer.
pub const RECEIVE_BATCH: usize = 64;

/// Room for the IPV6_HOPLIMIT and IPV6_PKTINFO control messages (CMSG_SPACE(sizeof(int))
/// is 24 bytes and CMSG_SPACE(sizeof(in6_pktinfo)) 40 on 64-bit Linux), as u64s for the
/// alignment `cmsghdr` needs.
const CONTROL_WORDS: usize = 8;

/// One datagram of a [`ReceiveBatch`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchEntry {
    slot: usize,
    /// Bytes received (the kernel truncates anything longer than the slot).
    pub length: usize,
    /// IPv6 only (a raw IPv4 datagram carries its header).
    pub source: Option<Ipv6Addr>,
    /// IPv6 only; None when the kernel attached no IPV6_HOPLIMIT (treat as bad).
    pub hop_limit: Option<u8>,
    /// IPv6 only: ff02::12, or one of our addresses when a unicast peer sent it (the v3
    /// checksum's pseudo-header covers it); None without IPV6_PKTINFO.
    pub destination: Option<Ipv6Addr>,
}

/// Buffers for reading up to [`RECEIVE_BATCH`] datagrams with one `recvmmsg`, allocated
/// once and reused: receiving allocates nothing per advert.
pub struct ReceiveBatch {
    buffers: Box<[u8]>,
    /// The headers and what they point to besides the buffers, in one heap block (see
    /// [`BatchStorage`]).
    storage: Box<BatchStorage>,
    /// Headers the kernel may have written to last time (their lengths need resetting).
    used: usize,
    /// The datagrams of the last read: the entries of the first `kept` slots.
    kept: usize,
}

/// One heap block for everything of a batch but its buffers. A backup's wake-up touches
/// the first slot of each array; kept together, that is two pages and a few cache lines
/// (where five separate blocks and an array on the loop's stack were five pages or
/// more), and on this VM each page a wake-up touches again after the other processes ran
/// can cost a TLB miss (see benches/advert_footprint.sh).
struct BatchStorage {
    /// Contiguous: `recvmmsg` takes an array of them.
    headers: [libc::mmsghdr; RECEIVE_BATCH],
    slots: [SlotParts; RECEIVE_BATCH],
}

/// What one header points to besides its buffer, and the entry the loop reads.
struct SlotParts {
    iovec: libc::iovec,
    name: libc::sockaddr_in6,
    control: [u64; CONTROL_WORDS],
    entry: BatchEntry,
}

impl std::fmt::Debug for ReceiveBatch {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ReceiveBatch")
            .field("received", &self.entries().count())
            .finish_non_exhaustive()
    }
}

impl Default for ReceiveBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl ReceiveBatch {
    pub fn new() -> Self {
        // Zeroed allocations: pages the kernel never writes into stay untouched (and out
        // of the resident set) until a burst needs them.
        let mut buffers = vec![0u8; RECEIVE_BATCH * RECEIVE_BUFFER_LEN].into_boxed_slice();
        // Allocated zeroed in place (Box::new_zeroed needs Rust 1.92): built on the stack
        // and moved, the 15 KiB would widen the frame of whoever makes the batch.
        let layout = std::alloc::Layout::new::<BatchStorage>();
        // SAFETY: the layout is not zero-sized.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<BatchStorage>();
        if raw.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        for (slot, buffer) in buffers.chunks_exact_mut(RECEIVE_BUFFER_LEN).enumerate() {
            // SAFETY: `raw` points at the block just allocated, zeroed: every field but
            // the entries (which hold Options) is plain old data, valid as all zeroes,
            // and each entry is written here before the block is read as initialized.
            // The headers point into the same block, which a Box never moves.
            unsafe {
                let parts = &raw mut (*raw).slots[slot];
                (&raw mut (*parts).entry).write(BatchEntry::default());
                (&raw mut (*parts).iovec).write(libc::iovec {
                    iov_base: buffer.as_mut_ptr().cast(),
                    iov_len: buffer.len(),
                });
                let header = &raw mut (*raw).headers[slot].msg_hdr;
                (*header).msg_name = (&raw mut (*parts).name).cast();
                (*header).msg_iov = &raw mut (*parts).iovec;
                (*header).msg_iovlen = 1;
                (*header).msg_control = (&raw mut (*parts).control).cast();
            }
        }
        // SAFETY: every field is initialized (see above), and the block was allocated
        // by the global allocator with BatchStorage's layout, as a Box frees it.
        let storage = unsafe { Box::from_raw(raw) };
        let mut batch = ReceiveBatch {
            buffers,
            storage,
            used: RECEIVE_BATCH,
            kept: 0,
        };
        batch.reset_headers();
        batch
    }

    /// Give the headers the kernel filled their full buffer lengths back.
    fn reset_headers(&mut self) {
        for header in self.storage.headers.iter_mut().take(self.used) {
            header.msg_hdr.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            header.msg_hdr.msg_controllen = size_of::<[u64; CONTROL_WORDS]>() as _;
            header.msg_hdr.msg_flags = 0;
            header.msg_len = 0;
        }
        self.used = 0;
    }

    /// Read what `fd` has queued, up to [`RECEIVE_BATCH`], without waiting
    /// ([`io::ErrorKind::WouldBlock`] when nothing is). Returns how many datagrams the
    /// kernel handed over: fewer than the batch means the queue was empty.
    #[unsafe(link_section = ".text.hot.vrrpd")]
    fn fill(&mut self, fd: std::os::fd::RawFd, ipv6: bool) -> io::Result<usize> {
        self.reset_headers();
        self.kept = 0;
        // SAFETY: every header points at live, writable storage of the lengths it gives
        // (see `new` and `reset_headers`); the batch is borrowed mutably for the call.
        let received = unsafe {
            libc::recvmmsg(
                fd,
                self.storage.headers.as_mut_ptr(),
                RECEIVE_BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        let Ok(received) = usize::try_from(received) else {
            // The kernel may have written to the first header before failing.
            self.used = RECEIVE_BATCH;
            return Err(io::Error::last_os_error());
        };
        // The headers it filled, and the one it may have begun on (an error after the
        // first datagram ends the batch there, and is reported by the next call).
        self.used = (received + 1).min(RECEIVE_BATCH);
        let storage = &mut *self.storage;
        for slot in 0..received.min(RECEIVE_BATCH) {
            let header = &storage.headers[slot];
            let length = usize::try_from(header.msg_len).unwrap_or(0);
            let entry = if ipv6 {
                // A raw IPv6 socket always reports the source; without it the advert
                // cannot be checked, so it is dropped.
                let Some(source) = source_v6(header, &storage.slots[slot].name) else {
                    continue;
                };
                let (hop_limit, destination) = control_messages(header);
                BatchEntry {
                    slot,
                    length,
                    source: Some(source),
                    hop_limit,
                    destination,
                }
            } else {
                BatchEntry {
                    slot,
                    length,
                    source: None,
                    hop_limit: None,
                    destination: None,
                }
            };
            // Kept in arrival order in the first slots (an entry names its own buffer).
            storage.slots[self.kept].entry = entry;
            self.kept += 1;
        }
        Ok(received)
    }

    /// The datagrams of the last read, in arrival order.
    pub fn entries(&self) -> impl Iterator<Item = BatchEntry> + '_ {
        self.storage.slots[..self.kept]
            .iter()
            .map(|parts| parts.entry)
    }

    /// The bytes of one datagram of the last read.
    pub fn bytes(&self, entry: &BatchEntry) -> &[u8] {
        let start = entry.slot * RECEIVE_BUFFER_LEN;
        let length = entry.length.min(RECEIVE_BUFFER_LEN);
        self.buffers.get(start..start + length).unwrap_or(&[])
    }

    /// Read into the batch from a socket whose readiness `guard` reports.
    fn fill_ready<T>(
        &mut self,
        mut guard: tokio::io::unix::AsyncFdReadyGuard<'_, T>,
        ipv6: bool,
    ) -> Option<io::Result<usize>>
    where
        T: AsRawFd,
    {
        match self.fill(guard.get_inner().as_raw_fd(), ipv6) {
            Ok(received) => {
                // A short batch means recvmmsg met an empty queue, as a read returning
                // EAGAIN would: the reactor is edge-triggered, and a datagram arriving
                // after this raises a new event. Saying so now saves that extra read.
                if received < RECEIVE_BATCH {
                    guard.clear_ready();
                }
                Some(Ok(received))
            }
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                guard.clear_ready();
                None
            }
            Err(error) => Some(Err(error)),
        }
    }
}

/// The source of an IPv6 datagram, from the address recvmmsg filled in.
fn source_v6(header: &libc::mmsghdr, name: &libc::sockaddr_in6) -> Option<Ipv6Addr> {
    let complete = usize::try_from(header.msg_hdr.msg_namelen)
        .is_ok_and(|length| length >= size_of::<libc::sockaddr_in6>());
    (complete && libc::c_int::from(name.sin6_family) == libc::AF_INET6)
        .then(|| Ipv6Addr::from(name.sin6_addr.s6_addr))
}

/// The IPV6_HOPLIMIT and IPV6_PKTINFO control messages of one received datagram (RFC 3542
/// §6.3, §6.1): its hop limit and its destination.
fn control_messages(header: &libc::mmsghdr) -> (Option<u8>, Option<Ipv6Addr>) {
    let mut found = None;
    let mut destination = None;
    // SAFETY: the kernel filled `msg_control` up to `msg_controllen`; the CMSG macros
    // stay within that, and the data is read unaligned.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&header.msg_hdr);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::IPPROTO_IPV6 && (*cmsg).cmsg_type == libc::IPV6_HOPLIMIT
            {
                let limit = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::c_int>());
                found = u8::try_from(limit).ok();
            } else if (*cmsg).cmsg_level == libc::IPPROTO_IPV6
                && (*cmsg).cmsg_type == libc::IPV6_PKTINFO
            {
                let info =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<libc::in6_pktinfo>());
                destination = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
            }
            cmsg = libc::CMSG_NXTHDR(&header.msg_hdr, cmsg);
        }
    }
    (found, destination)
}

impl VrrpSocketV4 {
    /// Wait for datagrams and read all that are queued, up to [`RECEIVE_BATCH`], into
    /// `batch` (IPv4 headers included). Returns how many the kernel handed over.
    pub fn poll_recv_batch(
        &self,
        cx: &mut Context<'_>,
        batch: &mut ReceiveBatch,
    ) -> Poll<io::Result<usize>> {
        loop {
            let guard = ready!(self.fd.poll_read_ready(cx))?;
            if let Some(result) = batch.fill_ready(guard, false) {
                return Poll::Ready(result);
            }
        }
    }

    /// Read what is queued, up to [`RECEIVE_BATCH`], without waiting
    /// ([`io::ErrorKind::WouldBlock`] when nothing is).
    pub fn try_recv_batch(&self, batch: &mut ReceiveBatch) -> io::Result<usize> {
        batch.fill(self.fd.as_raw_fd(), false)
    }
}

impl VrrpSocketV6 {
    /// [`VrrpSocketV4::poll_recv_batch`] for IPv6: each entry has its source and hop limit.
    pub fn poll_recv_batch(
        &self,
        cx: &mut Context<'_>,
        batch: &mut ReceiveBatch,
    ) -> Poll<io::Result<usize>> {
        loop {
            let guard = ready!(self.fd.poll_read_ready(cx))?;
            if let Some(result) = batch.fill_ready(guard, true) {
                return Poll::Ready(result);
            }
        }
    }

    /// [`VrrpSocketV4::try_recv_batch`] for IPv6.
    pub fn try_recv_batch(&self, batch: &mut ReceiveBatch) -> io::Result<usize> {
        batch.fill(self.fd.as_raw_fd(), true)
    }
}

/// One advert of a batch (see [`VrrpSocketV4::send_batch`]): its bytes, where it goes
/// (the group, or a unicast peer) and the source its checksum was computed with.
#[derive(Clone, Copy, Debug)]
pub struct OutgoingAdvert<'a> {
    pub message: &'a [u8],
    pub destination: std::net::IpAddr,
    pub source: std::net::IpAddr,
}

/// Adverts sent per `sendmmsg`: a master's instances that fall due together (two hundred
/// at most per interface and family in any config we know of) go out in a few calls.
pub const SEND_BATCH: usize = 64;

/// Control-message room per advert: CMSG_SPACE(sizeof(in6_pktinfo)) is 40 bytes, and an
/// IPv4 in_pktinfo's 32 fit too; u64s for the alignment `cmsghdr` needs.
const SEND_CONTROL_WORDS: usize = 5;

/// Send one advert on raw socket `fd` (interface `ifindex`) with `sendmsg(2)`, its
/// destination and source as [`send_batch`] gives them, all on the stack: nothing is
/// allocated per advert (nix's `sendmsg` allocates its control buffer on every call).
#[unsafe(link_section = ".text.hot.vrrpd")]
fn send_one(fd: RawFd, ifindex: u32, advert: &OutgoingAdvert<'_>) -> io::Result<usize> {
    // SAFETY: sockaddr_in6 is a plain C struct for which all zeroes is a valid value.
    let mut name: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    let mut control = [0u64; SEND_CONTROL_WORDS];
    let (name_length, control_length) =
        fill_destination_and_source(&mut name, &mut control, ifindex, advert);
    let mut iovec = libc::iovec {
        iov_base: advert.message.as_ptr() as *mut libc::c_void,
        iov_len: advert.message.len(),
    };
    // SAFETY: as above, then every pointer field is set below.
    let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
    header.msg_name = (&mut name as *mut libc::sockaddr_in6).cast();
    header.msg_namelen = name_length;
    header.msg_iov = &mut iovec;
    header.msg_iovlen = 1;
    header.msg_control = control.as_mut_ptr().cast();
    header.msg_controllen = control_length;
    // SAFETY: `header` points into `name`, `iovec`, `control` and the advert's bytes, all
    // alive and unmoved for the duration of the call.
    let sent = unsafe { libc::sendmsg(fd, &header, libc::MSG_DONTWAIT) };
    usize::try_from(sent).map_err(|_| io::Error::last_os_error())
}

/// Send `adverts` on raw socket `fd` (interface `ifindex`) with `sendmmsg(2)`, each with
/// its own destination and source (IP_PKTINFO / IPV6_PKTINFO, as the single sends), at
/// most [`SEND_BATCH`] per call. An advert the kernel refuses is skipped (its error is
/// returned with its position) and the rest are still sent; a full send buffer is waited
/// out like [`send_without_readiness`].
async fn send_batch(
    fd: std::os::fd::RawFd,
    ifindex: u32,
    adverts: &[OutgoingAdvert<'_>],
) -> Vec<(usize, io::Error)> {
    let mut failures = Vec::new();
    for (chunk_index, chunk) in adverts.chunks(SEND_BATCH).enumerate() {
        let base = chunk_index * SEND_BATCH;
        let count = chunk.len();
        // SAFETY (all zeroed values below): these are plain C structs; all zeroes is a
        // valid value for each, and every pointer field is set before use.
        let mut names: Vec<libc::sockaddr_in6> = vec![unsafe { std::mem::zeroed() }; count];
        let mut controls = vec![[0u64; SEND_CONTROL_WORDS]; count];
        let mut iovecs: Vec<libc::iovec> = chunk
            .iter()
            .map(|advert| libc::iovec {
                iov_base: advert.message.as_ptr() as *mut libc::c_void,
                iov_len: advert.message.len(),
            })
            .collect();
        let mut headers: Vec<libc::mmsghdr> = vec![unsafe { std::mem::zeroed() }; count];
        for (position, advert) in chunk.iter().enumerate() {
            let (name_length, control_length) = fill_destination_and_source(
                &mut names[position],
                &mut controls[position],
                ifindex,
                advert,
            );
            let header = &mut headers[position].msg_hdr;
            header.msg_name = (&mut names[position] as *mut libc::sockaddr_in6).cast();
            header.msg_namelen = name_length;
            header.msg_iov = &mut iovecs[position];
            header.msg_iovlen = 1;
            header.msg_control = controls[position].as_mut_ptr().cast();
            header.msg_controllen = control_length;
        }
        let mut sent = 0;
        let mut attempts = 0;
        while sent < count {
            // SAFETY: `headers[sent..]` are initialised mmsghdrs whose pointers go into
            // `names`, `controls`, `iovecs` and the adverts' bytes, all alive and unmoved
            // for the duration of the call; the count passed is the slice's length.
            let rc = unsafe {
                libc::sendmmsg(
                    fd,
                    headers[sent..].as_mut_ptr(),
                    (count - sent) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if rc >= 0 {
                sent += rc as usize;
                continue;
            }
            let error = io::Error::last_os_error();
            if send_buffer_full(&error) && attempts + 1 < SEND_ATTEMPTS {
                attempts += 1;
                tokio::time::sleep(SEND_RETRY_PAUSE).await;
                continue;
            }
            // The advert at `sent` could not go: report it and carry on with the rest.
            failures.push((base + sent, error));
            sent += 1;
            attempts = 0;
        }
    }
    failures
}

/// The destination (`msg_name`) and the IP_PKTINFO / IPV6_PKTINFO control message naming
/// the source of one advert; returns their lengths.
fn fill_destination_and_source(
    name: &mut libc::sockaddr_in6,
    control: &mut [u64; SEND_CONTROL_WORDS],
    ifindex: u32,
    advert: &OutgoingAdvert<'_>,
) -> (libc::socklen_t, usize) {
    use std::net::IpAddr;
    let buffer: *mut u8 = control.as_mut_ptr().cast();
    match (advert.destination, advert.source) {
        (IpAddr::V6(destination), IpAddr::V6(source)) => {
            name.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            name.sin6_addr.s6_addr = destination.octets();
            name.sin6_scope_id = ifindex;
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: source.octets(),
                },
                ipi6_ifindex: ifindex,
            };
            // SAFETY: `buffer` has room for CMSG_SPACE(sizeof(in6_pktinfo)) bytes (40 of
            // the 40 available), is u64-aligned as cmsghdr needs, and the header and data
            // are written within it.
            let length = unsafe {
                write_control(
                    buffer,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_PKTINFO,
                    (&info as *const libc::in6_pktinfo).cast(),
                    size_of::<libc::in6_pktinfo>(),
                )
            };
            (size_of::<libc::sockaddr_in6>() as libc::socklen_t, length)
        }
        (destination, source) => {
            let (IpAddr::V4(destination), IpAddr::V4(source)) = (destination, source) else {
                // Mixed families never come from the node; send to nowhere rather than
                // panic (the kernel refuses it and the error is logged).
                return (0, 0);
            };
            // SAFETY: sockaddr_in fits in the sockaddr_in6 storage, which is at least as
            // aligned.
            let name4: &mut libc::sockaddr_in =
                unsafe { &mut *(name as *mut libc::sockaddr_in6).cast::<libc::sockaddr_in>() };
            name4.sin_family = libc::AF_INET as libc::sa_family_t;
            name4.sin_addr.s_addr = u32::from(destination).to_be();
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(source).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            // SAFETY: as above, CMSG_SPACE(sizeof(in_pktinfo)) is 32 of the 40 bytes.
            let length = unsafe {
                write_control(
                    buffer,
                    libc::IPPROTO_IP,
                    libc::IP_PKTINFO,
                    (&info as *const libc::in_pktinfo).cast(),
                    size_of::<libc::in_pktinfo>(),
                )
            };
            (size_of::<libc::sockaddr_in>() as libc::socklen_t, length)
        }
    }
}

/// Write one control message (header and `length` bytes of data) at `buffer`; returns
/// its CMSG_SPACE.
///
/// # Safety
/// `buffer` must be aligned for `cmsghdr` and have CMSG_SPACE(`length`) writable bytes;
/// `data` must point to `length` readable bytes.
unsafe fn write_control(
    buffer: *mut u8,
    level: libc::c_int,
    kind: libc::c_int,
    data: *const u8,
    length: usize,
) -> usize {
    let length32 = length as libc::c_uint;
    // SAFETY: guaranteed by the caller (see above); CMSG_LEN/CMSG_SPACE are arithmetic.
    unsafe {
        let header = buffer.cast::<libc::cmsghdr>();
        (*header).cmsg_level = level;
        (*header).cmsg_type = kind;
        (*header).cmsg_len = libc::CMSG_LEN(length32) as _;
        let payload = libc::CMSG_DATA(header);
        std::ptr::copy_nonoverlapping(data, payload, length);
        libc::CMSG_SPACE(length32) as usize
    }
}

impl VrrpSocketV4 {
    /// Send several adverts with `sendmmsg(2)`: a master's instances that fall due
    /// together, one system call instead of one each. Errors come back with the position
    /// of the advert they concern.
    pub async fn send_batch(&self, adverts: &[OutgoingAdvert<'_>]) -> Vec<(usize, io::Error)> {
        send_batch(self.fd.as_raw_fd(), self.ifindex, adverts).await
    }
}

impl VrrpSocketV6 {
    /// See [`VrrpSocketV4::send_batch`].
    pub async fn send_batch(&self, adverts: &[OutgoingAdvert<'_>]) -> Vec<(usize, io::Error)> {
        send_batch(self.fd.as_raw_fd(), self.ifindex, adverts).await
    }
}
