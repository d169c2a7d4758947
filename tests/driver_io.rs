//! The driver's raw I/O against a real kernel (needs root): two network
//! namespaces joined by a veth pair on 192.0.2.0/24 (RFC 5737 documentation
//! addresses), each side with an interface named `vr0`.
//!
//! These tests use no protocol core: packets are crafted by hand, so they check
//! the sockets, netlink and AF_PACKET code on their own.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use vrrpd::driver::garp::{
    BROADCAST_MAC, ETHERTYPE_ARP, GarpSender, NeighbourAdvertiser, link_layer_address,
};
use vrrpd::driver::netlink::{
    ADDRESS_BATCH, AddressWriter, Change, KernelEvent, LinkWatcher, Netlink, NetlinkError,
};
use vrrpd::driver::socket::{
    OutgoingAdvert, RECEIVE_BUFFER_LEN, ReceiveBatch, VrrpSocketV4, VrrpSocketV6, send_buffer_full,
};

const INTERFACE: &str = "vr0";
const ADDRESS_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const ADDRESS_B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const VIRTUAL_ADDRESS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 40);
const TIMEOUT: Duration = Duration::from_secs(5);

/// These tests build network namespaces and need root; like `tests/common`, they fail
/// without it rather than pass untested (CI runs them as root).
fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test builds network namespaces and must run as root (CI does); \
         run `sudo -E cargo test --test driver_io`"
    );
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("run ip");
    assert!(status.success(), "ip {args:?} failed");
}

/// Two namespaces `<base>a` and `<base>b` linked by a veth pair; deleted on drop
/// (deleting a namespace destroys its end of the veth, and so the pair).
struct NamespacePair {
    a: String,
    b: String,
}

impl NamespacePair {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
        let base = format!("vrrpd-drv-{}-{tag}-{unique}", std::process::id());
        let pair = NamespacePair {
            a: format!("{base}a"),
            b: format!("{base}b"),
        };
        // Created before the namespaces so a failure below still cleans up.
        ip(&["netns", "add", &pair.a]);
        ip(&["netns", "add", &pair.b]);
        ip(&[
            "-n", &pair.a, "link", "add", INTERFACE, "type", "veth", "peer", "name", INTERFACE,
            "netns", &pair.b,
        ]);
        for (namespace, address) in [(&pair.a, ADDRESS_A), (&pair.b, ADDRESS_B)] {
            ip(&[
                "-n",
                namespace,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                INTERFACE,
            ]);
            ip(&["-n", namespace, "link", "set", "lo", "up"]);
            ip(&["-n", namespace, "link", "set", INTERFACE, "up"]);
        }
        pair
    }
}

impl Drop for NamespacePair {
    fn drop(&mut self) {
        for namespace in [&self.a, &self.b] {
            let _ = Command::new("ip")
                .args(["netns", "del", namespace])
                .status();
        }
    }
}

/// Run `work` on a new thread inside network namespace `name` with a
/// current-thread tokio runtime (setns affects only the calling thread, and
/// sockets belong to the namespace they were created in).
fn in_namespace<T: Send + 'static>(
    name: &str,
    work: impl FnOnce() -> T + Send + 'static,
) -> thread::JoinHandle<T> {
    let path = format!("/run/netns/{name}");
    thread::spawn(move || {
        let file = File::open(&path).expect("open namespace");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        work()
    })
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

fn link_index(namespace: &str) -> u32 {
    let output = Command::new("ip")
        .args(["-n", namespace, "-o", "link", "show", INTERFACE])
        .output()
        .expect("run ip");
    let text = String::from_utf8_lossy(&output.stdout);
    text.split(':')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .expect("interface index")
}

/// A VRRPv2 advertisement for VRID 50, priority 150, one address, auth PASS
/// "password" (RFC 3768 §5.1), with its checksum.
fn handmade_advertisement() -> Vec<u8> {
    let mut message = vec![0x21, 50, 150, 1, 1, 1, 0, 0];
    message.extend_from_slice(&VIRTUAL_ADDRESS.octets());
    message.extend_from_slice(b"password");
    let checksum = internet_checksum(&message);
    message[6..8].copy_from_slice(&checksum.to_be_bytes());
    message
}

fn internet_checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[test]
fn advertisement_crosses_the_link_with_ttl_255() {
    require_root();
    let pair = NamespacePair::new("adv");
    let index_a = link_index(&pair.a);
    let index_b = link_index(&pair.b);
    let (ready_tx, ready_rx) = mpsc::channel();
    let receiver = in_namespace(&pair.b, move || {
        block_on(async move {
            let socket = VrrpSocketV4::open(INTERFACE, index_b).expect("open socket in b");
            ready_tx.send(()).expect("signal ready");
            let mut buffer = vec![0u8; RECEIVE_BUFFER_LEN];
            let length = tokio::time::timeout(TIMEOUT, socket.recv(&mut buffer))
                .await
                .expect("an advertisement within the timeout")
                .expect("recv");
            buffer.truncate(length);
            buffer
        })
    });
    ready_rx.recv_timeout(TIMEOUT).expect("receiver ready");
    let message = handmade_advertisement();
    let sent = message.clone();
    let sender = in_namespace(&pair.a, move || {
        block_on(async move {
            let socket = VrrpSocketV4::open(INTERFACE, index_a).expect("open socket in a");
            socket.send(&sent).await.expect("send");
            // Multicast loop is off: our own advert must not come back to us.
            let mut buffer = vec![0u8; RECEIVE_BUFFER_LEN];
            tokio::time::timeout(Duration::from_millis(300), socket.recv(&mut buffer))
                .await
                .is_err()
        })
    });
    let datagram = receiver.join().expect("receiver thread");
    let no_echo = sender.join().expect("sender thread");
    assert!(no_echo, "the sender heard its own advertisement");

    // The raw socket hands over the IPv4 header (RFC 791): check it field by field.
    assert_eq!(datagram[0] >> 4, 4, "IPv4");
    let header_len = usize::from(datagram[0] & 0x0f) * 4;
    assert_eq!(datagram[8], 255, "TTL must be 255 (RFC 3768 §5.2.3)");
    assert_eq!(datagram[9], 112, "protocol VRRP");
    assert_eq!(
        &datagram[12..16],
        &ADDRESS_A.octets(),
        "source is a's primary address"
    );
    assert_eq!(
        &datagram[16..20],
        &[224, 0, 0, 18],
        "sent to the VRRP group"
    );
    assert_eq!(&datagram[header_len..], &message[..]);
}

#[test]
fn advertisement_leaves_from_the_configured_source_address() {
    require_root();
    let pair = NamespacePair::new("src");
    let index_a = link_index(&pair.a);
    let index_b = link_index(&pair.b);
    // A second (secondary) address on a: not what the kernel would pick by itself.
    let configured_source = Ipv4Addr::new(192, 0, 2, 51);
    ip(&[
        "-n",
        &pair.a,
        "addr",
        "add",
        "192.0.2.51/24",
        "dev",
        INTERFACE,
    ]);
    let (ready_tx, ready_rx) = mpsc::channel();
    let receiver = in_namespace(&pair.b, move || {
        block_on(async move {
            let socket = VrrpSocketV4::open(INTERFACE, index_b).expect("open socket in b");
            ready_tx.send(()).expect("signal ready");
            let mut buffer = vec![0u8; RECEIVE_BUFFER_LEN];
            let length = tokio::time::timeout(TIMEOUT, socket.recv(&mut buffer))
                .await
                .expect("an advertisement within the timeout")
                .expect("recv");
            buffer.truncate(length);
            buffer
        })
    });
    ready_rx.recv_timeout(TIMEOUT).expect("receiver ready");
    let message = handmade_advertisement();
    in_namespace(&pair.a, move || {
        block_on(async move {
            let socket = VrrpSocketV4::open(INTERFACE, index_a).expect("open socket in a");
            socket
                .send_from(&message, configured_source)
                .await
                .expect("send");
        })
    })
    .join()
    .expect("sender thread");
    let datagram = receiver.join().expect("receiver thread");
    assert_eq!(&datagram[12..16], &configured_source.octets());
    assert_eq!(datagram[8], 255);
}

#[test]
fn ipv6_advertisement_arrives_with_hop_limit_255_from_the_link_local_source() {
    require_root();
    let pair = NamespacePair::new("adv6");
    let index_a = link_index(&pair.a);
    let index_b = link_index(&pair.b);
    // nodad: usable at once, without waiting for duplicate address detection.
    let link_local_a: Ipv6Addr = "fe80::a".parse().unwrap();
    let link_local_b: Ipv6Addr = "fe80::b".parse().unwrap();
    ip(&[
        "-n",
        &pair.a,
        "addr",
        "add",
        "fe80::a/64",
        "dev",
        INTERFACE,
        "nodad",
    ]);
    ip(&[
        "-n",
        &pair.b,
        "addr",
        "add",
        "fe80::b/64",
        "dev",
        INTERFACE,
        "nodad",
    ]);
    let (ready_tx, ready_rx) = mpsc::channel();
    let receiver = in_namespace(&pair.b, move || {
        block_on(async move {
            let socket =
                VrrpSocketV6::open(INTERFACE, index_b, link_local_b).expect("open socket in b");
            ready_tx.send(()).expect("signal ready");
            let mut buffer = vec![0u8; RECEIVE_BUFFER_LEN];
            let received = tokio::time::timeout(TIMEOUT, socket.recv(&mut buffer))
                .await
                .expect("an advertisement within the timeout")
                .expect("recv");
            (received, buffer[..received.length].to_vec())
        })
    });
    ready_rx.recv_timeout(TIMEOUT).expect("receiver ready");
    // A VRRPv3 header for VRID 50 (RFC 5798 §5.1); the socket does not look inside.
    let message: Vec<u8> = vec![0x31, 50, 150, 1, 0, 100, 0, 0];
    let sent = message.clone();
    in_namespace(&pair.a, move || {
        block_on(async move {
            let socket =
                VrrpSocketV6::open(INTERFACE, index_a, link_local_a).expect("open socket in a");
            socket.send(&sent).await.expect("send");
        })
    })
    .join()
    .expect("sender thread");
    let (received, bytes) = receiver.join().expect("receiver thread");
    assert_eq!(
        received.hop_limit,
        Some(255),
        "hop limit must be 255 (RFC 5798 §5.1.1.3)"
    );
    assert_eq!(received.source, link_local_a);
    assert_eq!(bytes, message);
}

/// Unicast mode over IPv6: an advert sent to the peer's *global* address from our own
/// global address arrives (the socket is not bound to the link-local address, which
/// would filter it out), with hop limit 255, and the receiver learns the destination
/// (IPV6_PKTINFO) that the v3 checksum's pseudo-header covers (RFC 5798 §5.2.8). The
/// same socket still reports ff02::12 for a multicast advert.
#[test]
fn ipv6_unicast_advertisement_reaches_a_global_address_and_reports_its_destination() {
    require_root();
    let pair = NamespacePair::new("uni6");
    let index_a = link_index(&pair.a);
    let index_b = link_index(&pair.b);
    let link_local_a: Ipv6Addr = "fe80::a".parse().unwrap();
    let link_local_b: Ipv6Addr = "fe80::b".parse().unwrap();
    let global_a: Ipv6Addr = "2001:db8::a".parse().unwrap();
    let global_b: Ipv6Addr = "2001:db8::b".parse().unwrap();
    for (namespace, addresses) in [
        (&pair.a, ["fe80::a/64", "2001:db8::a/64"]),
        (&pair.b, ["fe80::b/64", "2001:db8::b/64"]),
    ] {
        for address in addresses {
            ip(&[
                "-n", namespace, "addr", "add", address, "dev", INTERFACE, "nodad",
            ]);
        }
    }
    let (ready_tx, ready_rx) = mpsc::channel();
    let receiver = in_namespace(&pair.b, move || {
        block_on(async move {
            let socket =
                VrrpSocketV6::open(INTERFACE, index_b, link_local_b).expect("open socket in b");
            ready_tx.send(()).expect("signal ready");
            let mut received = Vec::new();
            for _ in 0..2 {
                let mut buffer = vec![0u8; RECEIVE_BUFFER_LEN];
                let one = tokio::time::timeout(TIMEOUT, socket.recv(&mut buffer))
                    .await
                    .expect("an advertisement within the timeout")
                    .expect("recv");
                received.push((one, buffer[..one.length].to_vec()));
            }
            received
        })
    });
    ready_rx.recv_timeout(TIMEOUT).expect("receiver ready");
    let message: Vec<u8> = vec![0x31, 50, 150, 1, 0, 100, 0, 0];
    let sent = message.clone();
    in_namespace(&pair.a, move || {
        block_on(async move {
            let socket =
                VrrpSocketV6::open(INTERFACE, index_a, link_local_a).expect("open socket in a");
            socket
                .send_to(&sent, global_b, global_a)
                .await
                .expect("send to the peer's global address");
            socket.send(&sent).await.expect("send to ff02::12");
        })
    })
    .join()
    .expect("sender thread");
    let received = receiver.join().expect("receiver thread");
    let (unicast, bytes) = &received[0];
    assert_eq!(unicast.source, global_a, "sent from the given source");
    assert_eq!(unicast.destination, Some(global_b));
    assert_eq!(unicast.hop_limit, Some(255), "unicast hop limit 255");
    assert_eq!(bytes, &message);
    let (multicast, bytes) = &received[1];
    assert_eq!(multicast.source, link_local_a);
    assert_eq!(multicast.destination, Some("ff02::12".parse().unwrap()));
    assert_eq!(multicast.hop_limit, Some(255));
    assert_eq!(bytes, &message);
}

#[test]
fn netlink_adds_and_removes_virtual_addresses_idempotently() {
    require_root();
    let pair = NamespacePair::new("addr");
    let namespace = pair.a.clone();
    let worker = in_namespace(&pair.a, move || {
        block_on(async move {
            let netlink = Netlink::connect().expect("netlink");
            let mut writer = AddressWriter::open().expect("address writer");
            let link = netlink.link_by_name(INTERFACE).await.expect("link");
            assert!(link.up, "vr0 is up with its peer up");
            assert!(link.mac.is_some(), "a veth has a MAC");
            assert!(netlink.link_by_name("vr-nonexistent").await.is_err());
            let vip = IpAddr::V4(VIRTUAL_ADDRESS);

            let add = |writer: &mut AddressWriter, prefix_len| {
                let mut results = writer.add_addresses(link.index, &[(vip, prefix_len)]);
                assert_eq!(results.len(), 1);
                results.remove(0)
            };
            assert_eq!(add(&mut writer, 32).expect("add"), Change::Done);
            assert_eq!(
                add(&mut writer, 32).expect("re-add"),
                Change::AlreadyThatWay
            );
            let seen_by_ip = Command::new("ip")
                .args(["-n", &namespace, "-o", "addr", "show", "dev", INTERFACE])
                .output()
                .expect("ip");
            assert!(String::from_utf8_lossy(&seen_by_ip.stdout).contains("192.0.2.40/32"));

            // The VIP must not be mistaken for the source address.
            let primary = netlink
                .primary_address(link.index, false, &[vip])
                .await
                .expect("primary");
            assert_eq!(primary, Some(IpAddr::V4(ADDRESS_A)));

            assert_eq!(
                netlink
                    .remove_address(link.index, vip)
                    .await
                    .expect("remove"),
                Change::Done
            );
            assert_eq!(
                netlink
                    .remove_address(link.index, vip)
                    .await
                    .expect("re-remove"),
                Change::AlreadyThatWay
            );
            let addresses = netlink.addresses(link.index).await.expect("addresses");
            assert!(addresses.iter().all(|a| a.address != vip), "{addresses:?}");
            assert!(addresses.iter().any(|a| a.address == IpAddr::V4(ADDRESS_A)));

            // A leftover with another prefix length is removed too.
            assert_eq!(add(&mut writer, 24).expect("add /24"), Change::Done);
            assert_eq!(
                netlink
                    .remove_address(link.index, vip)
                    .await
                    .expect("remove /24"),
                Change::Done
            );
            let addresses = netlink.addresses(link.index).await.expect("addresses");
            assert!(addresses.iter().all(|a| a.address != vip), "{addresses:?}");
        })
    });
    worker.join().expect("netlink thread");
}

/// A takeover's addresses go up ADDRESS_BATCH per system call: each address gets its own
/// answer, in order and across batch boundaries. Those already present (refused with
/// EEXIST anywhere in a batch, its acknowledged last request included) are reported as
/// such, one the kernel refuses fails alone and with the kernel's reason, IPv6 ones skip
/// duplicate address detection, and an interface that is gone fails every address.
#[test]
fn address_writer_answers_each_address_of_a_batch_in_order() {
    require_root();
    let pair = NamespacePair::new("abat");
    let namespace = pair.a.clone();
    let worker = in_namespace(&pair.a, move || {
        block_on(async move {
            let netlink = Netlink::connect().expect("netlink");
            let mut writer = AddressWriter::open().expect("address writer");
            let link = netlink.link_by_name(INTERFACE).await.expect("link");
            let ip = |args: &[&str]| {
                let output = Command::new("ip")
                    .args(["-n", &namespace])
                    .args(args)
                    .output()
                    .expect("ip");
                assert!(output.status.success(), "ip {args:?}: {output:?}");
                String::from_utf8_lossy(&output.stdout).into_owned()
            };

            let count = 2 * ADDRESS_BATCH + 7;
            let address = |n: usize| IpAddr::V4(Ipv4Addr::new(198, 51, 100, n as u8 + 1));
            let present = [3, ADDRESS_BATCH - 1, ADDRESS_BATCH, count - 1];
            for &n in &present {
                ip(&[
                    "addr",
                    "add",
                    &format!("{}/32", address(n)),
                    "dev",
                    INTERFACE,
                ]);
            }
            let addresses: Vec<(IpAddr, u8)> = (0..count).map(|n| (address(n), 32)).collect();
            let results = writer.add_addresses(link.index, &addresses);
            assert_eq!(results.len(), count);
            for (n, result) in results.into_iter().enumerate() {
                let expected = if present.contains(&n) {
                    Change::AlreadyThatWay
                } else {
                    Change::Done
                };
                assert_eq!(result.expect("add"), expected, "address {n}");
            }
            let listed = ip(&["-o", "-4", "addr", "show", "dev", INTERFACE]);
            assert_eq!(listed.matches("198.51.100.").count(), count, "{listed}");

            // A prefix longer than the family's is refused (EINVAL): that address alone.
            let mixed = [
                (IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1)), 32),
                (IpAddr::V4(Ipv4Addr::new(203, 0, 113, 2)), 33),
                (IpAddr::V4(Ipv4Addr::new(203, 0, 113, 3)), 32),
            ];
            let results = writer.add_addresses(link.index, &mixed);
            assert_eq!(results[0].as_ref().expect("first"), &Change::Done);
            match &results[1] {
                Err(error @ NetlinkError::Kernel { source, .. }) => {
                    assert_eq!(source.raw_os_error(), Some(libc::EINVAL));
                    assert!(error.to_string().contains("203.0.113.2/33"), "{error}");
                }
                other => panic!("a /33 must be refused: {other:?}"),
            }
            assert_eq!(results[2].as_ref().expect("third"), &Change::Done);

            let ipv6 = [
                ("2001:db8::40".parse().expect("v6"), 128),
                ("2001:db8::41".parse().expect("v6"), 64),
            ];
            for result in writer.add_addresses(link.index, &ipv6) {
                assert_eq!(result.expect("add v6"), Change::Done);
            }
            let listed = ip(&["-o", "-6", "addr", "show", "dev", INTERFACE]);
            for (address, prefix_len) in ipv6 {
                let line = listed
                    .lines()
                    .find(|line| line.contains(&format!("{address}/{prefix_len}")))
                    .unwrap_or_else(|| panic!("{address} not added: {listed}"));
                assert!(
                    line.contains("nodad") && !line.contains("tentative"),
                    "{line}"
                );
            }

            let gone = link.index + 1000;
            let results = writer.add_addresses(gone, &mixed[..1]);
            match &results[..] {
                [Err(NetlinkError::Kernel { source, .. })] => {
                    assert_eq!(source.raw_os_error(), Some(libc::ENODEV), "{source}")
                }
                other => panic!("no such interface: {other:?}"),
            }
        })
    });
    worker.join().expect("netlink thread");
}

/// The first event saying link `index` is `up` (the kernel sends others too).
async fn wait_for_link(
    watcher: &mut LinkWatcher,
    index: u32,
    up: bool,
) -> vrrpd::driver::netlink::LinkInfo {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, watcher.next())
            .await
            .expect("link event within the timeout")
            .expect("watcher alive");
        if let vrrpd::driver::netlink::KernelEvent::Link(event) = event
            && event.index == index
            && event.up == up
        {
            return event;
        }
    }
}

#[test]
fn link_watcher_reports_down_and_up() {
    require_root();
    let pair = NamespacePair::new("link");
    let namespace = pair.a.clone();
    let index = link_index(&pair.a);
    let worker = in_namespace(&pair.a, move || {
        block_on(async move {
            let mut watcher = LinkWatcher::open().expect("watcher");
            ip(&["-n", &namespace, "link", "set", INTERFACE, "down"]);
            let down = wait_for_link(&mut watcher, index, false).await;
            assert_eq!(down.name, INTERFACE);
            ip(&["-n", &namespace, "link", "set", INTERFACE, "up"]);
            wait_for_link(&mut watcher, index, true).await;
        })
    });
    worker.join().expect("watcher thread");
}

/// Someone else's `ip addr add` / `ip addr del` reaches the watcher as address events
/// (RTNLGRP_IPV4_IFADDR), with the interface they happened on.
#[test]
fn link_watcher_reports_addresses_that_come_and_go() {
    require_root();
    let pair = NamespacePair::new("addr");
    let namespace = pair.a.clone();
    let index = link_index(&pair.a);
    let worker = in_namespace(&pair.a, move || {
        block_on(async move {
            let mut watcher = LinkWatcher::open().expect("watcher");
            let vip = IpAddr::V4(VIRTUAL_ADDRESS);
            let cidr = format!("{VIRTUAL_ADDRESS}/32");
            for (verb, present) in [("add", true), ("del", false)] {
                ip(&["-n", &namespace, "addr", verb, &cidr, "dev", INTERFACE]);
                let deadline = Instant::now() + TIMEOUT;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let event = tokio::time::timeout(left, watcher.next())
                        .await
                        .expect("address event within the timeout")
                        .expect("watcher alive");
                    if event
                        == (vrrpd::driver::netlink::KernelEvent::Address {
                            index,
                            address: vip,
                            present,
                        })
                    {
                        break;
                    }
                }
            }
        })
    });
    worker.join().expect("watcher thread");
}

/// Deleting the interface reaches the watcher as LinkGone with its index (the daemon
/// then waits for an interface of the same name, see core::node `on_link_gone`), and one
/// created again under the same name comes back as a Link event with a new index.
#[test]
fn link_watcher_reports_an_interface_deleted_and_created_again() {
    require_root();
    let pair = NamespacePair::new("gone");
    let namespace = pair.a.clone();
    let worker = in_namespace(&pair.a, move || {
        block_on(async move {
            let mut watcher = LinkWatcher::open().expect("watcher");
            let add = [
                "-n", &namespace, "link", "add", "vrrp-mv0", "link", INTERFACE,
            ];
            ip(&[add.as_slice(), &["type", "macvlan", "mode", "bridge"]].concat());
            let created = next_matching(&mut watcher, |event| match event {
                KernelEvent::Link(link) if link.name == "vrrp-mv0" => Some(link.index),
                _ => None,
            })
            .await;
            ip(&["-n", &namespace, "link", "del", "vrrp-mv0"]);
            next_matching(&mut watcher, |event| {
                (*event == KernelEvent::LinkGone { index: created }).then_some(())
            })
            .await;
            ip(&[add.as_slice(), &["type", "macvlan", "mode", "bridge"]].concat());
            let again = next_matching(&mut watcher, |event| match event {
                KernelEvent::Link(link) if link.name == "vrrp-mv0" => Some(link.index),
                _ => None,
            })
            .await;
            assert_ne!(again, created, "a recreated interface gets a new index");
        })
    });
    worker.join().expect("watcher thread");
}

/// Notifications the loop does not read in time overflow the socket (ENOBUFS): the
/// watcher says so (Overrun), so that the daemon re-reads every link and address.
#[test]
fn link_watcher_reports_an_overrun_when_notifications_are_lost() {
    require_root();
    let pair = NamespacePair::new("nobufs");
    let namespace = pair.a.clone();
    let worker = in_namespace(&pair.a, move || {
        block_on(async move {
            let mut watcher = LinkWatcher::open_with_receive_buffer(Some(4096)).expect("watcher");
            // Nothing reads the socket while `ip` runs (this thread's runtime is not
            // polled): 300 notifications cannot fit in a few kilobytes.
            let batch: String = (1..=300)
                .map(|n| format!("addr add 198.51.100.{}/32 dev {INTERFACE}\n", n % 250 + 1))
                .collect::<String>()
                + &(1..=50)
                    .map(|n| format!("addr del 198.51.100.{n}/32 dev {INTERFACE}\n"))
                    .collect::<String>();
            let mut child = Command::new("ip")
                .args(["-n", &namespace, "-force", "-batch", "-"])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("run ip -batch");
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(batch.as_bytes())
                .expect("write the batch");
            child.wait().expect("ip -batch");
            next_matching(&mut watcher, |event| {
                (*event == KernelEvent::Overrun).then_some(())
            })
            .await;
        })
    });
    worker.join().expect("watcher thread");
}

/// The first event for which `wanted` says Some, within TIMEOUT.
async fn next_matching<T>(
    watcher: &mut LinkWatcher,
    wanted: impl Fn(&KernelEvent) -> Option<T>,
) -> T {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let event = tokio::time::timeout(left, watcher.next())
            .await
            .expect("the event within the timeout")
            .expect("watcher alive");
        if let Some(found) = wanted(&event) {
            return found;
        }
    }
}

#[test]
fn gratuitous_arp_frame_reaches_the_peer() {
    require_root();
    let pair = NamespacePair::new("garp");
    let index_a = link_index(&pair.a);
    let index_b = link_index(&pair.b);
    let mac_a = {
        let worker = in_namespace(&pair.a, move || {
            block_on(async move {
                Netlink::connect()
                    .expect("netlink")
                    .link_by_name(INTERFACE)
                    .await
                    .expect("link")
                    .mac
            })
        });
        worker.join().expect("mac thread").expect("veth has a MAC")
    };
    // RFC 5227 §3 ARP announcement: broadcast request, sender = target = the VIP.
    let mut frame = Vec::with_capacity(42);
    frame.extend_from_slice(&BROADCAST_MAC);
    frame.extend_from_slice(&mac_a);
    frame.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    frame.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    frame.extend_from_slice(&mac_a);
    frame.extend_from_slice(&VIRTUAL_ADDRESS.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&VIRTUAL_ADDRESS.octets());

    let (ready_tx, ready_rx) = mpsc::channel();
    let receiver = in_namespace(&pair.b, move || {
        use socket2::{Domain, Protocol, Socket, Type};
        let protocol = i32::from(ETHERTYPE_ARP.to_be());
        let socket = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(protocol)))
            .expect("packet socket");
        socket
            .bind(&link_layer_address(index_b, ETHERTYPE_ARP, [0; 6]).expect("address"))
            .expect("bind");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        ready_tx.send(()).expect("ready");
        let deadline = Instant::now() + TIMEOUT;
        let mut buffer = [std::mem::MaybeUninit::<u8>::uninit(); 1500];
        while Instant::now() < deadline {
            if let Ok(length) = socket.recv(&mut buffer) {
                // SAFETY (test): recv initialised the first `length` bytes.
                let bytes: Vec<u8> = buffer[..length]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect();
                // Other ARP traffic may pass; ours announces the VIP.
                if bytes.len() >= 42 && bytes[28..32] == VIRTUAL_ADDRESS.octets() {
                    return Some(bytes);
                }
            }
        }
        None
    });
    ready_rx.recv_timeout(TIMEOUT).expect("receiver ready");
    let sent = frame.clone();
    in_namespace(&pair.a, move || {
        GarpSender::open(index_a)
            .expect("garp socket")
            .send_frame(&sent)
            .expect("send")
    })
    .join()
    .expect("sender thread");
    let received = receiver
        .join()
        .expect("receiver thread")
        .expect("the frame arrived");
    assert_eq!(&received[..42], &frame[..]);
}

#[test]
fn neighbour_advertisement_reaches_the_peer_with_hop_limit_255() {
    require_root();
    let pair = NamespacePair::new("na");
    let index_a = link_index(&pair.a);
    ip(&[
        "-n",
        &pair.a,
        "addr",
        "add",
        "fe80::a/64",
        "dev",
        INTERFACE,
        "nodad",
    ]);
    ip(&[
        "-n",
        &pair.b,
        "addr",
        "add",
        "fe80::b/64",
        "dev",
        INTERFACE,
        "nodad",
    ]);
    // An NA for 2001:db8::40 (RFC 4861 §4.4), checksum left to the kernel.
    let target: Ipv6Addr = "2001:db8::40".parse().unwrap();
    let mut message = vec![136, 0, 0, 0, 0xa0, 0, 0, 0];
    message.extend_from_slice(&target.octets());
    message.extend_from_slice(&[2, 1, 2, 0, 0, 0, 0, 0xa]);

    let (ready_tx, ready_rx) = mpsc::channel();
    let receiver = in_namespace(&pair.b, move || {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket =
            Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6)).expect("icmpv6 socket");
        socket
            .bind_device(Some(INTERFACE.as_bytes()))
            .expect("bind device");
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::Ipv6RecvHopLimit, &true)
            .expect("hop limit");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        ready_tx.send(()).expect("ready");
        let deadline = Instant::now() + TIMEOUT;
        while Instant::now() < deadline {
            let mut buffer = [0u8; 1500];
            let mut control = nix::cmsg_space!(libc::c_int);
            let mut iov = [std::io::IoSliceMut::new(&mut buffer)];
            let Ok(received) = nix::sys::socket::recvmsg::<nix::sys::socket::SockaddrIn6>(
                std::os::fd::AsRawFd::as_raw_fd(&socket),
                &mut iov,
                Some(&mut control),
                nix::sys::socket::MsgFlags::empty(),
            ) else {
                continue;
            };
            let hop_limit = received
                .cmsgs()
                .expect("cmsgs")
                .find_map(|cmsg| match cmsg {
                    nix::sys::socket::ControlMessageOwned::Ipv6HopLimit(limit) => Some(limit),
                    _ => None,
                });
            let length = received.bytes;
            let source = received.address.map(|address| address.ip());
            // Other ICMPv6 (router solicitations, MLD) may pass; ours is the NA for the target.
            if length >= 24 && buffer[0] == 136 && buffer[8..24] == target.octets() {
                return Some((buffer[..length].to_vec(), hop_limit, source));
            }
        }
        None
    });
    ready_rx.recv_timeout(TIMEOUT).expect("receiver ready");
    let sent = message.clone();
    in_namespace(&pair.a, move || {
        NeighbourAdvertiser::open(INTERFACE, index_a)
            .expect("na socket")
            .send_message(&sent, "fe80::a".parse().unwrap())
            .expect("send")
    })
    .join()
    .expect("sender thread");
    let (received, hop_limit, source) = receiver
        .join()
        .expect("receiver thread")
        .expect("the NA arrived");
    assert_eq!(
        source,
        Some("fe80::a".parse().unwrap()),
        "the NA comes from the source the message names (IPV6_PKTINFO)"
    );
    assert_eq!(
        hop_limit,
        Some(255),
        "ND requires hop limit 255 (RFC 4861 §7.1.2)"
    );
    assert_eq!(
        received[4..],
        message[4..],
        "flags, target and option as sent"
    );
    assert_ne!(
        &received[2..4],
        &[0, 0],
        "the kernel filled in the checksum"
    );
}

#[test]
fn queued_advertisement_is_read_without_waiting() {
    require_root();
    let pair = NamespacePair::new("try");
    let index_a = link_index(&pair.a);
    let index_b = link_index(&pair.b);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (sent_tx, sent_rx) = mpsc::channel::<()>();
    let receiver = in_namespace(&pair.b, move || {
        block_on(async move {
            let socket = VrrpSocketV4::open(INTERFACE, index_b).expect("open socket in b");
            let mut buffer = vec![0u8; RECEIVE_BUFFER_LEN];
            let empty = socket.try_recv(&mut buffer).map_err(|error| error.kind());
            ready_tx.send(()).expect("signal ready");
            sent_rx.recv_timeout(TIMEOUT).expect("sender done");
            // Delivery over the veth is asynchronous: poll (bounded) without blocking.
            let deadline = Instant::now() + TIMEOUT;
            let length = loop {
                match socket.try_recv(&mut buffer) {
                    Ok(length) => break length,
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                        assert!(Instant::now() < deadline, "nothing queued");
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(error) => panic!("try_recv: {error}"),
                }
            };
            (empty, length)
        })
    });
    ready_rx.recv_timeout(TIMEOUT).expect("receiver ready");
    let message = handmade_advertisement();
    let expected_length = 20 + message.len();
    in_namespace(&pair.a, move || {
        block_on(async move {
            let socket = VrrpSocketV4::open(INTERFACE, index_a).expect("open socket in a");
            socket.send(&message).await.expect("send");
        })
    })
    .join()
    .expect("sender thread");
    sent_tx.send(()).expect("tell the receiver");
    let (empty, length) = receiver.join().expect("receiver thread");
    assert_eq!(
        empty,
        Err(std::io::ErrorKind::WouldBlock),
        "nothing queued before the send"
    );
    assert_eq!(length, expected_length);
}

/// Adverts sent in a row (priorities 101..=105, so that their order shows).
const BATCHED: u8 = 5;

fn advertisement_with_priority(priority: u8) -> Vec<u8> {
    let mut message = handmade_advertisement();
    message[2] = priority;
    message[6..8].copy_from_slice(&[0, 0]);
    let checksum = internet_checksum(&message);
    message[6..8].copy_from_slice(&checksum.to_be_bytes());
    message
}

#[test]
fn queued_advertisements_are_read_in_one_batch_in_arrival_order() {
    require_root();
    let pair = NamespacePair::new("batch");
    let index_a = link_index(&pair.a);
    let index_b = link_index(&pair.b);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (sent_tx, sent_rx) = mpsc::channel::<()>();
    let receiver = in_namespace(&pair.b, move || {
        block_on(async move {
            let socket = VrrpSocketV4::open(INTERFACE, index_b).expect("open socket in b");
            let mut batch = ReceiveBatch::new();
            ready_tx.send(()).expect("signal ready");
            sent_rx.recv_timeout(TIMEOUT).expect("sender done");
            // Delivery over the veth is asynchronous: give the last one time to arrive.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let count = tokio::time::timeout(
                TIMEOUT,
                std::future::poll_fn(|cx| socket.poll_recv_batch(cx, &mut batch)),
            )
            .await
            .expect("adverts within the timeout")
            .expect("recvmmsg");
            let datagrams: Vec<Vec<u8>> = batch
                .entries()
                .map(|entry| batch.bytes(&entry).to_vec())
                .collect();
            let after = socket
                .try_recv_batch(&mut batch)
                .map_err(|error| error.kind());
            (count, datagrams, after)
        })
    });
    ready_rx.recv_timeout(TIMEOUT).expect("receiver ready");
    in_namespace(&pair.a, move || {
        block_on(async move {
            let socket = VrrpSocketV4::open(INTERFACE, index_a).expect("open socket in a");
            for priority in 101..=100 + BATCHED {
                socket
                    .send(&advertisement_with_priority(priority))
                    .await
                    .expect("send");
            }
        })
    })
    .join()
    .expect("sender thread");
    sent_tx.send(()).expect("tell the receiver");
    let (count, datagrams, after) = receiver.join().expect("receiver thread");
    assert_eq!(
        count,
        usize::from(BATCHED),
        "one read takes every queued advert"
    );
    assert_eq!(datagrams.len(), usize::from(BATCHED));
    for (datagram, priority) in datagrams.iter().zip(101..=100 + BATCHED) {
        let header_len = usize::from(datagram[0] & 0x0f) * 4;
        assert_eq!(datagram[8], 255, "TTL");
        assert_eq!(&datagram[12..16], &ADDRESS_A.octets(), "source");
        assert_eq!(
            &datagram[header_len..],
            &advertisement_with_priority(priority)[..],
            "the advert as sent, in order"
        );
    }
    assert_eq!(
        after,
        Err(std::io::ErrorKind::WouldBlock),
        "nothing left after the batch"
    );
}

#[test]
fn ipv6_batch_carries_each_source_and_hop_limit() {
    require_root();
    let pair = NamespacePair::new("batch6");
    let index_a = link_index(&pair.a);
    let index_b = link_index(&pair.b);
    let link_local_a: Ipv6Addr = "fe80::a".parse().unwrap();
    let link_local_b: Ipv6Addr = "fe80::b".parse().unwrap();
    for (namespace, address) in [(&pair.a, "fe80::a/64"), (&pair.b, "fe80::b/64")] {
        ip(&[
            "-n", namespace, "addr", "add", address, "dev", INTERFACE, "nodad",
        ]);
    }
    let (ready_tx, ready_rx) = mpsc::channel();
    let (sent_tx, sent_rx) = mpsc::channel::<()>();
    let receiver = in_namespace(&pair.b, move || {
        block_on(async move {
            let socket =
                VrrpSocketV6::open(INTERFACE, index_b, link_local_b).expect("open socket in b");
            let mut batch = ReceiveBatch::new();
            ready_tx.send(()).expect("signal ready");
            sent_rx.recv_timeout(TIMEOUT).expect("sender done");
            tokio::time::sleep(Duration::from_millis(200)).await;
            let count = tokio::time::timeout(
                TIMEOUT,
                std::future::poll_fn(|cx| socket.poll_recv_batch(cx, &mut batch)),
            )
            .await
            .expect("adverts within the timeout")
            .expect("recvmmsg");
            let received: Vec<_> = batch
                .entries()
                .map(|entry| (entry, batch.bytes(&entry).to_vec()))
                .collect();
            (count, received)
        })
    });
    ready_rx.recv_timeout(TIMEOUT).expect("receiver ready");
    in_namespace(&pair.a, move || {
        block_on(async move {
            let socket =
                VrrpSocketV6::open(INTERFACE, index_a, link_local_a).expect("open socket in a");
            for priority in 101..=100 + BATCHED {
                // A VRRPv3 header (RFC 5798 §5.1); the socket does not look inside.
                socket
                    .send(&[0x31, 50, priority, 0, 0, 100, 0, 0])
                    .await
                    .expect("send");
            }
        })
    })
    .join()
    .expect("sender thread");
    sent_tx.send(()).expect("tell the receiver");
    let (count, received) = receiver.join().expect("receiver thread");
    assert_eq!(count, usize::from(BATCHED));
    assert_eq!(received.len(), usize::from(BATCHED));
    for ((entry, message), priority) in received.iter().zip(101..=100 + BATCHED) {
        assert_eq!(entry.source, Some(link_local_a));
        assert_eq!(entry.hop_limit, Some(255), "IPV6_HOPLIMIT of each datagram");
        assert_eq!(message[..], [0x31, 50, priority, 0, 0, 100, 0, 0]);
    }
}

/// A master's adverts that fall due together go out with one sendmmsg: each arrives, in
/// order, with its own source (IP_PKTINFO) and destination (the group, or a unicast peer)
/// and TTL 255, as the single sends do.
#[test]
fn a_batch_of_adverts_arrives_whole_each_with_its_source_and_destination() {
    require_root();
    let pair = NamespacePair::new("sendbatch");
    let index_a = link_index(&pair.a);
    let index_b = link_index(&pair.b);
    let second_source = Ipv4Addr::new(192, 0, 2, 51);
    ip(&[
        "-n",
        &pair.a,
        "addr",
        "add",
        "192.0.2.51/24",
        "dev",
        INTERFACE,
    ]);
    let (ready_tx, ready_rx) = mpsc::channel();
    let receiver = in_namespace(&pair.b, move || {
        block_on(async move {
            let socket = VrrpSocketV4::open(INTERFACE, index_b).expect("open socket in b");
            ready_tx.send(()).expect("signal ready");
            let mut datagrams = Vec::new();
            for _ in 0..3 {
                let mut buffer = vec![0u8; RECEIVE_BUFFER_LEN];
                let length = tokio::time::timeout(TIMEOUT, socket.recv(&mut buffer))
                    .await
                    .expect("an advertisement within the timeout")
                    .expect("recv");
                buffer.truncate(length);
                datagrams.push(buffer);
            }
            datagrams
        })
    });
    ready_rx.recv_timeout(TIMEOUT).expect("receiver ready");
    let messages: Vec<Vec<u8>> = [150, 151, 152]
        .into_iter()
        .map(advertisement_with_priority)
        .collect();
    let sent = messages.clone();
    let failures = in_namespace(&pair.a, move || {
        block_on(async move {
            let socket = VrrpSocketV4::open(INTERFACE, index_a).expect("open socket in a");
            let group = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
            let peer = IpAddr::V4(ADDRESS_B);
            let own = IpAddr::V4(ADDRESS_A);
            let batch = [
                OutgoingAdvert {
                    message: &sent[0],
                    destination: group,
                    source: own,
                },
                OutgoingAdvert {
                    message: &sent[1],
                    destination: group,
                    source: IpAddr::V4(second_source),
                },
                OutgoingAdvert {
                    message: &sent[2],
                    destination: peer,
                    source: own,
                },
            ];
            socket
                .send_batch(&batch)
                .await
                .into_iter()
                .map(|(position, error)| format!("{position}: {error}"))
                .collect::<Vec<_>>()
        })
    })
    .join()
    .expect("sender thread");
    assert!(failures.is_empty(), "{failures:?}");
    let datagrams = receiver.join().expect("receiver thread");
    let sources: Vec<[u8; 4]> = datagrams
        .iter()
        .map(|datagram| datagram[12..16].try_into().unwrap())
        .collect();
    let destinations: Vec<[u8; 4]> = datagrams
        .iter()
        .map(|datagram| datagram[16..20].try_into().unwrap())
        .collect();
    let own = ADDRESS_A.octets();
    assert_eq!(sources, [own, second_source.octets(), own]);
    assert_eq!(
        destinations,
        [[224, 0, 0, 18], [224, 0, 0, 18], ADDRESS_B.octets()]
    );
    for (datagram, message) in datagrams.iter().zip(&messages) {
        assert_eq!(datagram[8], 255, "TTL");
        assert_eq!(
            &datagram[20..],
            &message[..],
            "the payload as sent, in order"
        );
    }
}

/// The same over IPv6: a batch to ff02::12 and to the peer's link-local address, both
/// from our link-local address (IPV6_PKTINFO), hop limit 255.
#[test]
fn an_ipv6_batch_of_adverts_arrives_whole_with_hop_limit_255() {
    require_root();
    let pair = NamespacePair::new("sendbatch6");
    let index_a = link_index(&pair.a);
    let index_b = link_index(&pair.b);
    let link_local_a: Ipv6Addr = "fe80::a".parse().unwrap();
    let link_local_b: Ipv6Addr = "fe80::b".parse().unwrap();
    for (namespace, address) in [(&pair.a, "fe80::a/64"), (&pair.b, "fe80::b/64")] {
        ip(&[
            "-n", namespace, "addr", "add", address, "dev", INTERFACE, "nodad",
        ]);
    }
    let (ready_tx, ready_rx) = mpsc::channel();
    let receiver = in_namespace(&pair.b, move || {
        block_on(async move {
            let socket =
                VrrpSocketV6::open(INTERFACE, index_b, link_local_b).expect("open socket in b");
            ready_tx.send(()).expect("signal ready");
            let mut received = Vec::new();
            for _ in 0..2 {
                let mut buffer = vec![0u8; RECEIVE_BUFFER_LEN];
                let datagram = tokio::time::timeout(TIMEOUT, socket.recv(&mut buffer))
                    .await
                    .expect("an advertisement within the timeout")
                    .expect("recv");
                received.push((datagram, buffer[..datagram.length].to_vec()));
            }
            received
        })
    });
    ready_rx.recv_timeout(TIMEOUT).expect("receiver ready");
    let messages: Vec<Vec<u8>> = vec![
        vec![0x31, 50, 150, 1, 0, 100, 0, 0],
        vec![0x31, 51, 150, 1, 0, 100, 0, 0],
    ];
    let sent = messages.clone();
    let failures = in_namespace(&pair.a, move || {
        block_on(async move {
            let socket =
                VrrpSocketV6::open(INTERFACE, index_a, link_local_a).expect("open socket in a");
            let batch = [
                OutgoingAdvert {
                    message: &sent[0],
                    destination: IpAddr::V6("ff02::12".parse().unwrap()),
                    source: IpAddr::V6(link_local_a),
                },
                OutgoingAdvert {
                    message: &sent[1],
                    destination: IpAddr::V6(link_local_b),
                    source: IpAddr::V6(link_local_a),
                },
            ];
            socket.send_batch(&batch).await.len()
        })
    })
    .join()
    .expect("sender thread");
    assert_eq!(failures, 0);
    let received = receiver.join().expect("receiver thread");
    let destinations: Vec<Option<Ipv6Addr>> = received
        .iter()
        .map(|(datagram, _)| datagram.destination)
        .collect();
    assert_eq!(
        destinations,
        [Some("ff02::12".parse().unwrap()), Some(link_local_b)]
    );
    for ((datagram, bytes), message) in received.iter().zip(&messages) {
        assert_eq!(datagram.hop_limit, Some(255));
        assert_eq!(datagram.source, link_local_a);
        assert_eq!(bytes, message);
    }
}

/// The protocol loop sends each advert with `try_send`, which must never wait: with the
/// socket's send buffer full it fails at once with an error `send_buffer_full` knows
/// (ENOBUFS from a raw socket: the loop then takes the send that waits and retries), and
/// once the queue drains it sends again.
#[test]
fn try_send_reports_a_full_send_buffer_at_once_and_sends_again_once_it_drains() {
    require_root();
    let pair = NamespacePair::new("full");
    let index_a = link_index(&pair.a);
    let tc = |args: &[&str]| {
        let status = Command::new("tc").args(args).status().expect("run tc");
        assert!(status.success(), "tc {args:?} failed");
    };
    // 8 bit/s: nothing leaves a's interface, so every advert stays charged to the socket.
    tc(&[
        "-n", &pair.a, "qdisc", "add", "dev", INTERFACE, "root", "tbf", "rate", "8bit", "burst",
        "1600", "limit", "1000000",
    ]);
    let socket = in_namespace(&pair.a, move || {
        VrrpSocketV4::open(INTERFACE, index_a).expect("open socket in a")
    })
    .join()
    .expect("opening thread");
    // The smallest buffer the kernel allows, so that it fills within a few adverts.
    let small: libc::c_int = 1;
    // SAFETY: SO_SNDBUF reads one int from a valid pointer of the length given.
    let set = unsafe {
        libc::setsockopt(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&small as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(set, 0, "SO_SNDBUF");
    let message = handmade_advertisement();
    let advert = OutgoingAdvert {
        message: &message,
        destination: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
        source: IpAddr::V4(ADDRESS_A),
    };
    let started = Instant::now();
    let mut sent = 0;
    let full = loop {
        match socket.try_send(&advert) {
            Ok(()) => sent += 1,
            Err(error) => break error,
        }
        assert!(sent < 10_000, "the send buffer never filled");
    };
    assert!(
        send_buffer_full(&full),
        "{full} after {sent} adverts is not a full buffer"
    );
    assert!(sent >= 1, "the first advert fits an empty buffer");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "try_send waited: {:?} for {sent} adverts",
        started.elapsed()
    );
    // Deleting the qdisc drops what it held, which gives the buffer back.
    tc(&["-n", &pair.a, "qdisc", "del", "dev", INTERFACE, "root"]);
    socket
        .try_send(&advert)
        .expect("a send once the queue drained");
}
