//! Addresses on another interface than the instance's (`virtual_addresses` entries with an
//! `interface`, keepalived's `ADDR dev IFACE`): VRRP runs on the `eth0` segment, the
//! public address lives on `eth1`, a second segment where the client is and where no
//! advert ever goes. The address moves with a failover, follows `eth1`'s state (a tracked
//! interface: FAULT while it is down, as keepalived tracks it) and is put back when
//! someone removes it. IPv4 and IPv6. Needs root.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::*;
use vrrpd::lab::{Host, LabProcess, Prober, wait_until};

const POLL: Duration = Duration::from_millis(5);
/// Fast adverts keep the suite short; the bounds below are the protocol's at this interval.
const ADVERT: Duration = Duration::from_millis(100);
const PUBLIC_VIP_V4: &str = "198.51.100.7";
const PUBLIC_VIP_V6: &str = "2001:db8:1::7";

struct Family {
    tag: &'static str,
    /// Addresses of lb01, lb02 and the public client on eth1.
    eth1: [&'static str; 3],
    /// The instance's addresses: its own first, then the one on eth1.
    own_vip: &'static str,
    public_vip: &'static str,
    public_prefix: u8,
}

const IPV4: Family = Family {
    tag: "v4",
    eth1: ["198.51.100.41/24", "198.51.100.42/24", "198.51.100.10/24"],
    own_vip: VIP,
    public_vip: PUBLIC_VIP_V4,
    public_prefix: 24,
};

const IPV6: Family = Family {
    tag: "v6",
    eth1: [
        "2001:db8:1::41/64",
        "2001:db8:1::42/64",
        "2001:db8:1::10/64",
    ],
    // RFC 5798 §5.2.9: the first IPv6 address is the link-local one, on eth0.
    own_vip: "fe80::40",
    public_vip: PUBLIC_VIP_V6,
    public_prefix: 64,
};

impl Family {
    fn public(&self) -> IpAddr {
        self.public_vip.parse().unwrap()
    }

    fn config(&self, priority: u8, track: bool, advert: Duration) -> String {
        let mut on_eth1 = serde_json::json!({
            "address": format!("{}/{}", self.public_vip, self.public_prefix),
            "interface": "eth1"
        });
        if !track {
            on_eth1["track"] = serde_json::json!(false);
        }
        serde_json::json!({
            "instances": [{
                "name": "VI_1",
                "interface": "eth0",
                "virtual_router_id": 50,
                "version": 3,
                "priority": priority,
                "advert_interval_ms": advert.as_millis() as u64,
                "virtual_addresses": [self.own_vip, on_eth1]
            }]
        })
        .to_string()
    }
}

/// The pair lab plus the public segment: lb01/lb02 on `eth1` and a client there only.
struct TwoSegments {
    pair: PairLab,
    public_client: Host,
}

fn two_segments(family: &Family, tag: &str) -> TwoSegments {
    let mut pair = PairLab::new(tag);
    let [lb01, lb02, client] = family.eth1;
    pair.lab
        .add_link(&pair.lb01.clone(), "eth1", &[lb01])
        .expect("lb01 eth1");
    pair.lab
        .add_link(&pair.lb02.clone(), "eth1", &[lb02])
        .expect("lb02 eth1");
    let public_client = pair.lab.add_host("pub", &[]).expect("adding pub");
    // The public client sits on the eth1 segment only: its eth0 stays unplugged.
    public_client.link_down().expect("unplugging pub's eth0");
    pair.lab
        .add_link(&public_client, "eth1", &[client])
        .expect("pub eth1");
    TwoSegments {
        pair,
        public_client,
    }
}

/// The flags `ip -j addr` shows for `address` on `interface` ("tentative", "nodad", ...).
fn address_flags(host: &Host, interface: &str, address: IpAddr) -> Vec<String> {
    let output = host
        .run("ip", &["-j", "addr", "show", "dev", interface])
        .unwrap();
    let links: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let text = address.to_string();
    for link in links.as_array().into_iter().flatten() {
        for info in link["addr_info"].as_array().into_iter().flatten() {
            if info["local"].as_str() == Some(text.as_str()) {
                let keys = info.as_object().unwrap().keys();
                // iproute2's JSON gives each flag as a key set to true.
                return keys
                    .filter(|key| info[key.as_str()] == serde_json::Value::Bool(true))
                    .cloned()
                    .collect();
            }
        }
    }
    panic!("{address} is not on {}'s {interface}", host.name());
}

fn on_eth1(host: &Host, address: IpAddr) -> bool {
    host.interface_addresses("eth1")
        .is_ok_and(|addresses| addresses.contains(&address))
}

fn on_eth0(host: &Host, address: IpAddr) -> bool {
    host.interface_addresses("eth0")
        .is_ok_and(|addresses| addresses.contains(&address))
}

/// The public client reaches `address` on `holder`'s eth1: its neighbour entry carries
/// holder's eth1 MAC (the gratuitous ARP / NA went out on eth1, from eth1's MAC) and 20
/// pings are answered.
fn assert_public_client_reaches(net: &TwoSegments, address: IpAddr, holder: &Host) {
    let mac = holder.interface_mac("eth1").unwrap();
    let probe = Prober::start(
        &net.public_client,
        address,
        Duration::from_millis(10),
        Duration::from_secs(10),
    )
    .unwrap();
    let moved = wait_until(Duration::from_secs(3), POLL, || {
        net.public_client
            .neighbour_mac_on(address, "eth1")
            .ok()
            .flatten()
            .as_deref()
            == Some(mac.as_str())
    });
    let answered = probe.wait_for_replies(20, Duration::from_secs(5));
    let report = probe.finish().unwrap();
    assert!(
        moved.is_some(),
        "the public client's entry for {address} is {:?}, not {}'s eth1 MAC {mac}",
        net.public_client.neighbour_mac_on(address, "eth1"),
        holder.name()
    );
    assert!(
        answered,
        "the public client cannot reach {address} on {}: {report}",
        holder.name()
    );
}

fn start(
    net: &TwoSegments,
    family: &Family,
    track: bool,
    advert: Duration,
) -> (LabProcess, LabProcess) {
    let (lb01, lb02) = (&net.pair.lb01, &net.pair.lb02);
    let first = lb01
        .start_vrrpd(
            &vrrpd_binary(),
            &family.config(HIGH_PRIORITY, track, advert),
        )
        .unwrap();
    let second = lb02
        .start_vrrpd(&vrrpd_binary(), &family.config(LOW_PRIORITY, track, advert))
        .unwrap();
    let public = family.public();
    let elected = wait_until(Duration::from_secs(10), POLL, || {
        on_eth1(lb01, public) && !lb02.has_address(public)
    });
    assert!(
        elected.is_some(),
        "lb01 never held {public} on eth1 alone\n{}",
        net.pair.lab.log_tails(30)
    );
    (first, second)
}

fn the_address_lives_on_the_other_interface_and_moves_with_a_failover(family: &Family) {
    let _timing = timing_guard(false);
    let net = two_segments(family, &format!("aif{}", family.tag));
    let (lb01, lb02) = (&net.pair.lb01, &net.pair.lb02);
    let (_first, _second) = start(&net, family, true, ADVERT);
    let public = family.public();
    let own: IpAddr = family.own_vip.parse().unwrap();
    // eth1 does duplicate address detection (the lab turns it off on eth0 only): an IPv6
    // virtual address must still be usable at once, not "tentative" for a second.
    if public.is_ipv6() {
        let flags = address_flags(lb01, "eth1", public);
        assert!(
            !flags
                .iter()
                .any(|flag| flag == "tentative" || flag == "dadfailed"),
            "{public} on lb01's eth1: {flags:?}"
        );
    }
    // Where each address lives: the public one on eth1 only, the instance's own on eth0.
    assert!(!on_eth0(lb01, public), "{public} is on lb01's eth0 too");
    assert!(on_eth0(lb01, own), "{own} is not on lb01's eth0");
    assert!(!on_eth1(lb01, own), "{own} is on lb01's eth1");
    assert_public_client_reaches(&net, public, lb01);

    // lb01 dies without a word: lb02 takes over after its Master_Down_Interval, and puts
    // the public address on its own eth1.
    lb01.power_off().unwrap();
    let off = Instant::now();
    let bound = silence_takeover_bound(ADVERT, LOW_PRIORITY);
    wait_until(Duration::from_secs(5), POLL, || on_eth1(lb02, public)).unwrap_or_else(|| {
        panic!(
            "lb02 never put {public} on eth1\n{}",
            net.pair.lab.log_tails(30)
        )
    });
    let took = off.elapsed();
    assert!(
        took < bound,
        "lb02 took {} to hold {public} (bound {})",
        secs(took),
        secs(bound)
    );
    assert!(!on_eth0(lb02, public), "{public} is on lb02's eth0 too");
    assert_public_client_reaches(&net, public, lb02);
}

#[test]
fn ipv4_the_address_lives_on_the_other_interface_and_moves_with_a_failover() {
    the_address_lives_on_the_other_interface_and_moves_with_a_failover(&IPV4);
}

#[test]
fn ipv6_the_address_lives_on_the_other_interface_and_moves_with_a_failover() {
    the_address_lives_on_the_other_interface_and_moves_with_a_failover(&IPV6);
}

/// keepalived tracks the interface of such an address: while lb01's eth1 is down lb01 is
/// in FAULT (it resigns with priority 0 first, its eth0 still works) and lb02 holds both
/// addresses; when it comes back lb01 preempts again. At 1 s adverts, where a Skew_Time
/// bound (0.61 s plus the absorber) tells a resignation from a silent master (2.61 s at
/// the earliest).
fn a_tracked_interface_down_hands_everything_over(family: &Family) {
    const ADVERT: Duration = Duration::from_secs(1);
    let _timing = timing_guard(false);
    let net = two_segments(family, &format!("atr{}", family.tag));
    let (lb01, lb02) = (&net.pair.lb01, &net.pair.lb02);
    let (first, _second) = start(&net, family, true, ADVERT);
    let public = family.public();
    let own: IpAddr = family.own_vip.parse().unwrap();

    let cut = Instant::now();
    net.pair.lab.set_link(lb01, "eth1", false).unwrap();
    // A priority-0 advert: lb02 takes over after its Skew_Time, not Master_Down_Interval.
    let bound = skew_takeover_bound(ADVERT, LOW_PRIORITY);
    assert!(bound < earliest_takeover_ignoring_priority_zero(ADVERT, LOW_PRIORITY));
    wait_until(Duration::from_secs(8), POLL, || {
        on_eth1(lb02, public) && on_eth0(lb02, own) && !lb01.has_address(own)
    })
    .unwrap_or_else(|| {
        panic!(
            "lb02 did not take both addresses over\n{}",
            net.pair.lab.log_tails(30)
        )
    });
    let took = cut.elapsed();
    assert!(
        took < bound,
        "the hand-over took {} (bound {})",
        secs(took),
        secs(bound)
    );
    assert!(
        first.log().contains("tracker interface-eth1 failed"),
        "lb01's log does not say why it left\n{}",
        first.log()
    );
    assert_public_client_reaches(&net, public, lb02);

    net.pair.lab.set_link(lb01, "eth1", true).unwrap();
    // Back: lb01 leaves FAULT as a backup, hears lb02's lower priority and preempts after
    // its own Master_Down_Interval.
    wait_until(Duration::from_secs(8), POLL, || {
        on_eth1(lb01, public) && !lb02.has_address(public)
    })
    .unwrap_or_else(|| {
        panic!(
            "lb01 did not take {public} back\n{}",
            net.pair.lab.log_tails(30)
        )
    });
    assert_public_client_reaches(&net, public, lb01);
}

#[test]
fn ipv4_a_tracked_interface_down_hands_everything_over() {
    a_tracked_interface_down_hands_everything_over(&IPV4);
}

#[test]
fn ipv6_a_tracked_interface_down_hands_everything_over() {
    a_tracked_interface_down_hands_everything_over(&IPV6);
}

/// `"track": false` (keepalived `no_track`): eth1 going down leaves lb01 master.
#[test]
fn an_untracked_interface_down_changes_no_role() {
    let _timing = timing_guard(false);
    let net = two_segments(&IPV4, "auntr");
    let (lb01, lb02) = (&net.pair.lb01, &net.pair.lb02);
    let (_first, _second) = start(&net, &IPV4, false, ADVERT);
    net.pair.lab.set_link(lb01, "eth1", false).unwrap();
    // Long enough for a hand-over (Skew_Time) and a silent takeover
    // (Master_Down_Interval) to have happened, were either going to.
    std::thread::sleep(master_down_interval(ADVERT, LOW_PRIORITY) * 2);
    assert!(lb01.has_address(vip()), "lb01 let go of {VIP}");
    assert!(!lb02.has_address(vip()), "lb02 took {VIP}");
}

/// Someone (a network manager, an operator's `ip addr del`) removes the public address
/// from the master's eth1: vrrpd puts it back there and announces it again.
#[test]
fn an_address_removed_from_the_other_interface_is_put_back() {
    let _timing = timing_guard(false);
    let net = two_segments(&IPV4, "aput");
    let lb01 = &net.pair.lb01;
    let (first, _second) = start(&net, &IPV4, true, ADVERT);
    let public = IPV4.public();
    lb01.run(
        "ip",
        &["addr", "del", &format!("{PUBLIC_VIP_V4}/24"), "dev", "eth1"],
    )
    .unwrap();
    let removed = Instant::now();
    // Liveness, not a protocol bound: the kernel's notification and one netlink request.
    wait_until(Duration::from_secs(2), Duration::from_millis(1), || {
        on_eth1(lb01, public)
    })
    .unwrap_or_else(|| panic!("{public} was not put back\n{}", first.log()));
    eprintln!("put back after {}", secs(removed.elapsed()));
    assert!(!on_eth0(lb01, public), "{public} was put back on eth0");
    assert!(
        first.log().contains("198.51.100.7") && first.log().contains("eth1"),
        "lb01's log does not name the address and the interface\n{}",
        first.log()
    );
    assert_public_client_reaches(&net, public, lb01);
}
