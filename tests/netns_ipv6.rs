//! VRRPv3 over IPv6 in network namespaces (root): what vrrpd puts on the wire
//! (RFC 5798 §5.1.2: adverts to ff02::12 from the link-local address with hop
//! limit 255; §5.2.9: the first virtual address is link-local; §6.4.2 and RFC
//! 4861 §7.2.6: unsolicited neighbour advertisements on takeover and, with a
//! refresh interval, periodically), a client's `ping -6` through a failover,
//! and interop with keepalived 2.2 over IPv6 in both role assignments.

mod common;

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::{
    HIGH_PRIORITY, LOW_PRIORITY, StoppingThread, TimingGuard,
    earliest_takeover_ignoring_priority_zero, require_root, sample_holders, secs,
    silence_takeover_bound, skew_takeover_bound, timing_guard, vrrpd_binary,
};
use nix::sys::signal::Signal;
use vrrpd::lab::{Host, Lab, LabProcess, wait_until};

/// The link-local virtual address, first in the list (RFC 5798 §5.2.9).
const VIP_LINK_LOCAL: &str = "fe80::40";
/// The global virtual address clients use.
const VIP: &str = "2001:db8::40";
/// Advert interval of these tests (VRRPv3, centiseconds on the wire).
const ADVERT: Duration = Duration::from_millis(100);
/// The refresh interval set here, short enough to see two refreshes.
const REFRESH: Duration = Duration::from_secs(2);
const STARTUP_ALLOWANCE: Duration = Duration::from_millis(500);
const MARGIN: Duration = Duration::from_millis(500);
const POLL: Duration = Duration::from_millis(5);

fn vip() -> IpAddr {
    VIP.parse().unwrap()
}

fn vip_link_local() -> IpAddr {
    VIP_LINK_LOCAL.parse().unwrap()
}

/// RFC 5798 §6.1: Master_Down_Interval = 3 × Master_Adver_Interval + Skew_Time.
fn master_down_interval(priority: u8) -> Duration {
    common::master_down_interval(ADVERT, priority)
}

fn vrrpd_config(priority: u8) -> String {
    serde_json::json!({
        "instances": [{
            "name": "VI_6",
            "interface": "eth0",
            "virtual_router_id": 50,
            "version": 3,
            "priority": priority,
            "advert_interval_ms": ADVERT.as_millis() as u64,
            "virtual_addresses": [format!("{VIP_LINK_LOCAL}/64"), format!("{VIP}/64")],
            // One burst on takeover, then one every REFRESH: every later
            // burst on the wire is a refresh.
            "garp_repeat_delay_s": 0,
            "garp_master_refresh_s": REFRESH.as_secs()
        }]
    })
    .to_string()
}

fn keepalived_config(router_id: &str, priority: u8) -> String {
    format!(
        "global_defs {{
    router_id {router_id}
}}
vrrp_instance VI_6 {{
    state BACKUP
    interface eth0
    version 3
    virtual_router_id 50
    priority {priority}
    advert_int {advert}
    virtual_ipaddress {{
        {VIP_LINK_LOCAL}/64
        {VIP}/64
    }}
}}
",
        advert = ADVERT.as_secs_f64()
    )
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Daemon {
    Vrrpd,
    Keepalived,
}

fn start(host: &Host, daemon: Daemon, priority: u8) -> LabProcess {
    match daemon {
        Daemon::Vrrpd => host
            .start_vrrpd(&vrrpd_binary(), &vrrpd_config(priority))
            .expect("starting vrrpd"),
        Daemon::Keepalived => host
            .start_keepalived(&keepalived_config(host.name(), priority))
            .expect("starting keepalived"),
    }
}

/// lb01, lb02 and a client, each with an IPv4 and an IPv6 address.
struct V6Lab {
    lab: Lab,
    lb01: Host,
    lb02: Host,
    client: Host,
    _timing: TimingGuard,
}

impl V6Lab {
    fn new(tag: &str) -> V6Lab {
        let timing = timing_guard(false);
        require_root();
        let mut lab = Lab::new(tag).expect("creating the lab");
        let lb01 = lab
            .add_host("lb01", &["192.0.2.41/24", "2001:db8::41/64"])
            .unwrap();
        let lb02 = lab
            .add_host("lb02", &["192.0.2.42/24", "2001:db8::42/64"])
            .unwrap();
        let client = lab
            .add_host("client", &["192.0.2.10/24", "2001:db8::10/64"])
            .unwrap();
        V6Lab {
            lab,
            lb01,
            lb02,
            client,
            _timing: timing,
        }
    }

    /// Waits until `holder` alone has both virtual addresses.
    fn wait_sole_holder(&self, holder: &Host, limit: Duration, what: &str) -> Duration {
        let other = if holder.name() == "lb01" {
            &self.lb02
        } else {
            &self.lb01
        };
        let done = wait_until(limit, POLL, || {
            holder.has_address(vip())
                && holder.has_address(vip_link_local())
                && !other.has_address(vip())
                && !other.has_address(vip_link_local())
        });
        assert!(
            done.is_some(),
            "{what}: {} did not become the only holder of {VIP} and {VIP_LINK_LOCAL} within {}\n{}",
            holder.name(),
            secs(limit),
            self.lab.log_tails(25)
        );
        done.unwrap()
    }

    fn assert_steady_state(&self) {
        let (samples, both, neither) = sample_holders(
            &self.lb01,
            &self.lb02,
            vip(),
            Duration::from_millis(1500),
            Duration::from_millis(20),
        );
        assert!(samples >= 20, "{samples} samples");
        assert_eq!(
            (both, neither),
            (0, 0),
            "exactly one holder of {VIP} at each of {samples} samples\n{}",
            self.lab.log_tails(25)
        );
    }

    /// The client's pings reach the VIP on `holder` (its neighbour entry for
    /// the VIP carries `holder`'s MAC).
    fn assert_client_reaches_vip_on(&self, holder: &Host) {
        common::assert_client_reaches(&self.client, vip(), holder, Duration::from_secs(2));
    }
}

/// The kernel's link-local address of `host`'s eth0.
fn link_local_of(host: &Host) -> Ipv6Addr {
    host.addresses()
        .unwrap()
        .into_iter()
        .find_map(|address| match address {
            IpAddr::V6(v6) if v6.segments()[0] == 0xfe80 && IpAddr::V6(v6) != vip_link_local() => {
                Some(v6)
            }
            _ => None,
        })
        .expect("eth0 has a link-local address")
}

// ---------------------------------------------------------------------------
// Packet capture with tshark.

/// tshark capturing VRRP and neighbour advertisements on a host's eth0.
struct Capture {
    process: LabProcess,
    file: std::path::PathBuf,
}

impl Capture {
    fn start(host: &Host) -> Capture {
        let file = host.lab_dir().join(format!("{}-capture.pcap", host.name()));
        let path = file.to_string_lossy().into_owned();
        let process = host
            .spawn(
                "tshark",
                &[
                    "-i",
                    "eth0",
                    "-n",
                    "-q",
                    "-w",
                    &path,
                    "-f",
                    "ip6 proto 112 or (icmp6 and ip6[40] == 136)",
                ],
            )
            .expect("starting tshark");
        let ready = wait_until(Duration::from_secs(15), Duration::from_millis(20), || {
            process.log().contains("Capturing on")
        });
        assert!(ready.is_some(), "tshark did not start:\n{}", process.log());
        Capture { process, file }
    }

    /// Stops the capture and decodes it into one record per frame.
    fn finish(mut self) -> Vec<Frame> {
        self.process.signal(Signal::SIGINT).unwrap();
        let exited = self.process.wait_timeout(Duration::from_secs(10)).unwrap();
        assert!(exited.is_some(), "tshark did not stop");
        let fields = [
            "frame.time_epoch",
            "eth.src",
            "ipv6.src",
            "ipv6.dst",
            "ipv6.hlim",
            "vrrp.version",
            "vrrp.prio",
            "vrrp.ipv6_addr",
            "icmpv6.type",
            "icmpv6.nd.na.target_address",
            "icmpv6.nd.na.flag.o",
        ];
        let mut args = vec![
            "-r".to_string(),
            self.file.to_string_lossy().into_owned(),
            "-n".into(),
            "-T".into(),
            "fields".into(),
        ];
        for field in fields {
            args.push("-e".into());
            args.push(field.into());
        }
        args.extend(
            [
                "-E",
                "separator=|",
                "-E",
                "aggregator=;",
                "-E",
                "occurrence=a",
            ]
            .map(String::from),
        );
        let output = std::process::Command::new("tshark")
            .args(&args)
            .output()
            .expect("running tshark -r");
        assert!(
            output.status.success(),
            "tshark -r: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(Frame::parse)
            .collect()
    }
}

/// One captured frame (VRRP advert or neighbour advertisement).
#[derive(Debug, Clone)]
struct Frame {
    time: f64,
    eth_source: String,
    source: Ipv6Addr,
    destination: Ipv6Addr,
    hop_limit: u8,
    vrrp_version: Option<u8>,
    vrrp_priority: Option<u8>,
    vrrp_addresses: Vec<Ipv6Addr>,
    icmp_type: Option<u8>,
    na_target: Option<Ipv6Addr>,
    na_override: bool,
}

impl Frame {
    fn parse(line: &str) -> Frame {
        let f: Vec<&str> = line.split('|').collect();
        assert!(f.len() >= 11, "tshark line: {line}");
        let number = |s: &str| -> Option<u8> {
            s.split(';')
                .next()
                .filter(|v| !v.is_empty())
                .map(|v| v.parse().unwrap())
        };
        let address = |s: &str| -> Option<Ipv6Addr> {
            s.split(';')
                .next()
                .filter(|v| !v.is_empty())
                .map(|v| v.parse().unwrap())
        };
        Frame {
            time: f[0].parse().unwrap(),
            eth_source: f[1].to_ascii_lowercase(),
            source: address(f[2]).unwrap(),
            destination: address(f[3]).unwrap(),
            hop_limit: number(f[4]).unwrap(),
            vrrp_version: number(f[5]),
            vrrp_priority: number(f[6]),
            vrrp_addresses: f[7]
                .split(';')
                .filter(|v| !v.is_empty())
                .map(|v| v.parse().unwrap())
                .collect(),
            icmp_type: number(f[8]),
            na_target: address(f[9]),
            na_override: matches!(f[10], "1" | "True" | "true"),
        }
    }

    fn is_vrrp(&self) -> bool {
        self.vrrp_version.is_some()
    }

    fn is_na_for(&self, target: IpAddr) -> bool {
        self.icmp_type == Some(136) && self.na_target.map(IpAddr::V6) == Some(target)
    }
}

/// Groups NA frame times into bursts (frames less than 0.5 s apart).
fn bursts(times: &[f64]) -> Vec<f64> {
    let mut starts: Vec<f64> = Vec::new();
    let mut last = f64::NEG_INFINITY;
    for &t in times {
        if t - last > 0.5 {
            starts.push(t);
        }
        last = t;
    }
    starts
}

/// Parses `ping -D` reply lines ("[1700000000.123456] 64 bytes from …") into
/// reply times in seconds.
fn ping_reply_times(output: &str) -> Vec<f64> {
    output
        .lines()
        .filter(|line| line.contains("bytes from"))
        .filter_map(|line| line.strip_prefix('[')?.split(']').next()?.parse().ok())
        .collect()
}

// ---------------------------------------------------------------------------

/// A vrrpd pair over IPv6: the wire format of its adverts and unsolicited
/// NAs (takeover and refresh), checked in a capture on the client, and the
/// client's `ping -6` to the VIP across the master's cable cut.
#[test]
fn v6_vrrpd_pair_wire_format_neighbour_advertisements_and_ping6_through_failover() {
    let net = V6Lab::new("v6wire");
    let _lb01 = start(&net.lb01, Daemon::Vrrpd, HIGH_PRIORITY);
    let _lb02 = start(&net.lb02, Daemon::Vrrpd, LOW_PRIORITY);
    let limit = STARTUP_ALLOWANCE + master_down_interval(LOW_PRIORITY) + ADVERT * 2 + MARGIN;
    net.wait_sole_holder(&net.lb01, limit, "IPv6 election");
    let lb01_link_local = link_local_of(&net.lb01);
    let lb02_link_local = link_local_of(&net.lb02);
    let (lb01_mac, lb02_mac) = (net.lb01.mac().unwrap(), net.lb02.mac().unwrap());

    let capture = Capture::start(&net.client);
    let epoch = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let mut ping = net
        .client
        .spawn("ping", &["-6", "-n", "-D", "-i", "0.02", "-w", "30", VIP])
        .expect("starting ping -6");
    // Two refresh intervals of lb01 as master, then the cable cut.
    std::thread::sleep(REFRESH * 2 + Duration::from_millis(600));
    let cut_at = epoch();
    let cut = Instant::now();
    net.lb01.link_down().unwrap();
    // Counted from the end of the `ip link` command (the silence had certainly begun);
    // a backup with twice the RFC's Master_Down_Interval fails it (common).
    let cut_done = Instant::now();
    let bound = silence_takeover_bound(ADVERT, LOW_PRIORITY);
    let done = wait_until(bound + Duration::from_secs(2), POLL, || {
        net.lb02.has_address(vip())
    });
    let took = cut.elapsed();
    let took_since_cut_done = cut_done.elapsed();
    assert!(
        done.is_some(),
        "lb02 never took over\n{}",
        net.lab.log_tails(25)
    );
    eprintln!(
        "IPv6 takeover after the cable cut: {} ({} after the command returned; bound {})",
        secs(took),
        secs(took_since_cut_done),
        secs(bound)
    );
    assert!(
        took_since_cut_done <= bound,
        "takeover took {} after the cut command returned (bound Master_Down_Interval + the \
         absorber, {})",
        secs(took_since_cut_done),
        secs(bound)
    );
    assert!(
        took >= ADVERT * 2 * 95 / 100,
        "takeover after only {}",
        secs(took)
    );
    assert!(
        net.lb02.has_address(vip_link_local()),
        "lb02 holds the link-local VIP too"
    );
    std::thread::sleep(Duration::from_millis(1500));
    ping.signal(Signal::SIGINT).unwrap();
    ping.wait_timeout(Duration::from_secs(5)).unwrap();
    let frames = capture.finish();
    net.lb01.link_up().unwrap();

    // ping -6 survived the failover: replies before and after, the longest
    // silence bounded by Master_Down_Interval + margin.
    let ping_log = ping.log();
    let replies = ping_reply_times(&ping_log);
    assert!(
        replies.iter().filter(|t| **t < cut_at).count() >= 20,
        "ping -6 before the cut:\n{ping_log}"
    );
    assert!(
        replies
            .iter()
            .filter(|t| **t > cut_at + took.as_secs_f64())
            .count()
            >= 20,
        "ping -6 after the takeover:\n{ping_log}"
    );
    let gap = replies.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    eprintln!("ping -6: {} replies, longest gap {gap:.3} s", replies.len());
    assert!(
        gap <= (master_down_interval(LOW_PRIORITY) + MARGIN * 2).as_secs_f64(),
        "ping -6 saw a {gap:.3} s outage"
    );

    // Adverts: ff02::12, hop limit 255, from the sender's link-local address,
    // version 3, the link-local VIP first.
    let adverts: Vec<&Frame> = frames.iter().filter(|f| f.is_vrrp()).collect();
    assert!(adverts.len() >= 20, "{} adverts captured", adverts.len());
    for advert in &adverts {
        assert_eq!(
            advert.destination,
            "ff02::12".parse::<Ipv6Addr>().unwrap(),
            "{advert:?}"
        );
        assert_eq!(advert.hop_limit, 255, "{advert:?}");
        assert_eq!(advert.vrrp_version, Some(3), "{advert:?}");
        assert_eq!(
            advert.vrrp_addresses,
            vec![
                VIP_LINK_LOCAL.parse::<Ipv6Addr>().unwrap(),
                VIP.parse().unwrap()
            ],
            "the first virtual address is the link-local one: {advert:?}"
        );
        let (expected_source, priority) = if advert.eth_source == lb01_mac {
            (lb01_link_local, HIGH_PRIORITY)
        } else {
            (lb02_link_local, LOW_PRIORITY)
        };
        assert_eq!(
            advert.source, expected_source,
            "sent from the link-local address: {advert:?}"
        );
        assert_eq!(advert.vrrp_priority, Some(priority), "{advert:?}");
    }
    assert!(
        adverts
            .iter()
            .any(|a| a.eth_source == lb01_mac && a.time < cut_at),
        "lb01 advertised before the cut"
    );
    assert!(
        adverts
            .iter()
            .any(|a| a.eth_source == lb02_mac && a.time > cut_at),
        "lb02 advertised after the takeover"
    );

    // Unsolicited NAs (RFC 4861 §7.2.6) are the ones to the all-nodes group
    // ff02::1 (the kernel's solicited NAs go to the soliciting node); they
    // carry hop limit 255 and the override flag, for both virtual addresses.
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    let nas: Vec<&Frame> = frames
        .iter()
        .filter(|f| {
            f.icmp_type == Some(136)
                && f.destination == all_nodes
                && (f.eth_source == lb01_mac || f.eth_source == lb02_mac)
        })
        .collect();
    for na in &nas {
        assert_eq!(na.hop_limit, 255, "{na:?}");
        assert!(na.na_override, "override flag set: {na:?}");
        let sender_link_local = if na.eth_source == lb01_mac {
            lb01_link_local
        } else {
            lb02_link_local
        };
        assert_eq!(
            na.source, sender_link_local,
            "sent from the link-local address: {na:?}"
        );
    }
    // Refresh: lb01 (master before the cut, its takeover burst not captured)
    // sent bursts every REFRESH.
    for target in [vip(), vip_link_local()] {
        let lb01_times: Vec<f64> = nas
            .iter()
            .filter(|na| na.eth_source == lb01_mac && na.is_na_for(target) && na.time < cut_at)
            .map(|na| na.time)
            .collect();
        let refreshes = bursts(&lb01_times);
        assert!(
            refreshes.len() >= 2,
            "lb01 refreshed {target} twice in {} s: bursts at {refreshes:?}",
            (REFRESH * 2).as_secs()
        );
        for pair in refreshes.windows(2) {
            let spacing = pair[1] - pair[0];
            assert!(
                (spacing - REFRESH.as_secs_f64()).abs() < 0.3,
                "refresh bursts for {target} {spacing:.3} s apart, expected {} s",
                REFRESH.as_secs()
            );
        }
        // Takeover: lb02's burst right after it became master.
        let takeover_burst = nas
            .iter()
            .find(|na| na.eth_source == lb02_mac && na.is_na_for(target) && na.time > cut_at);
        let takeover_burst =
            takeover_burst.unwrap_or_else(|| panic!("lb02 sent no NA for {target} on takeover"));
        assert!(
            takeover_burst.time - cut_at <= bound.as_secs_f64() + 0.2,
            "lb02's NA for {target} came {:.3} s after the cut",
            takeover_burst.time - cut_at
        );
        assert_eq!(
            takeover_burst.source, lb02_link_local,
            "NA sent from lb02's link-local address"
        );
    }
    assert_eq!(
        net.client.neighbour_mac(vip()).unwrap(),
        Some(lb02_mac),
        "the client's neighbour entry for {VIP} follows the NA"
    );
}

/// keepalived and vrrpd over IPv6, `first` as master (priority 150) and
/// `second` as backup: election, steady state, graceful stop of the master,
/// preemption after its restart; the client reaches the VIP after each move.
fn v6_mixed_pair(first: Daemon, second: Daemon, tag: &str) {
    let net = V6Lab::new(tag);
    let mut lb01 = start(&net.lb01, first, HIGH_PRIORITY);
    let lb02 = start(&net.lb02, second, LOW_PRIORITY);
    let limit = STARTUP_ALLOWANCE + master_down_interval(LOW_PRIORITY) + ADVERT * 2 + MARGIN;
    net.wait_sole_holder(&net.lb01, limit, "IPv6 election");
    std::thread::sleep(ADVERT * 3);
    net.assert_steady_state();
    net.assert_client_reaches_vip_on(&net.lb01);
    let vrrpd_log = if first == Daemon::Vrrpd {
        lb01.log()
    } else {
        lb02.log()
    };
    assert!(
        !vrrpd_log.contains("ignored a VRRP packet"),
        "vrrpd accepts keepalived's IPv6 adverts:\n{vrrpd_log}"
    );

    let stopped = Instant::now();
    lb01.signal(Signal::SIGTERM).unwrap();
    // Skew_Time + 1.5 intervals (`common::takeover_absorber`); a backup that ignored the
    // priority-0 advert would need at least Master_Down_Interval − one interval.
    let bound = skew_takeover_bound(ADVERT, LOW_PRIORITY);
    assert!(bound < earliest_takeover_ignoring_priority_zero(ADVERT, LOW_PRIORITY));
    let taken = wait_until(
        bound + Duration::from_secs(2),
        Duration::from_millis(1),
        || net.lb02.has_address(vip()),
    );
    let took = stopped.elapsed();
    assert!(
        taken.is_some(),
        "{tag}: lb02 never took over after lb01's SIGTERM"
    );
    net.wait_sole_holder(
        &net.lb02,
        Duration::from_secs(2),
        "lb02 alone after the master's SIGTERM",
    );
    eprintln!(
        "{tag}: IPv6 handover after SIGTERM: {} (bound {})",
        secs(took),
        secs(bound)
    );
    assert!(
        took <= bound,
        "{tag}: handover took {} (bound {})",
        secs(took),
        secs(bound)
    );
    assert!(
        lb01.wait_timeout(Duration::from_secs(5)).unwrap().is_some(),
        "lb01 exited"
    );
    wait_until(Duration::from_secs(3), Duration::from_millis(10), || {
        net.lb01.pids().is_empty()
    });
    net.assert_client_reaches_vip_on(&net.lb02);

    let restarted = Instant::now();
    let lb01_again = start(&net.lb01, first, HIGH_PRIORITY);
    let bound = STARTUP_ALLOWANCE + master_down_interval(HIGH_PRIORITY) + MARGIN;
    net.wait_sole_holder(
        &net.lb01,
        bound + Duration::from_secs(2),
        "preemption after restart",
    );
    let took = restarted.elapsed();
    eprintln!(
        "{tag}: IPv6 preemption after restart: {} (bound {})",
        secs(took),
        secs(bound)
    );
    assert!(took <= bound, "{tag}: preemption took {}", secs(took));
    net.assert_steady_state();
    net.assert_client_reaches_vip_on(&net.lb01);
    // keepalived accepted vrrpd's IPv6 adverts throughout (it logs rejected
    // ones as "invalid …"), and vrrpd keepalived's.
    let (vrrpd_log, keepalived_log) = if first == Daemon::Vrrpd {
        (lb01.log() + &lb01_again.log(), lb02.log())
    } else {
        (lb02.log(), lb01.log() + &lb01_again.log())
    };
    assert!(
        !vrrpd_log.contains("ignored a VRRP packet"),
        "vrrpd dropped keepalived's adverts:\n{vrrpd_log}"
    );
    assert!(
        !keepalived_log.to_ascii_lowercase().contains("invalid"),
        "keepalived rejected vrrpd's adverts:\n{keepalived_log}"
    );
    drop(lb02);
}

#[test]
fn v6_keepalived_master_vrrpd_backup() {
    v6_mixed_pair(Daemon::Keepalived, Daemon::Vrrpd, "v6kmvb");
}

#[test]
fn v6_vrrpd_master_keepalived_backup() {
    v6_mixed_pair(Daemon::Vrrpd, Daemon::Keepalived, "v6vmkb");
}

#[test]
fn helpers_parse_ping_output_and_group_bursts() {
    let output = "PING 2001:db8::40(2001:db8::40) 56 data bytes\n\
                  [1700000000.100000] 64 bytes from 2001:db8::40: icmp_seq=1 ttl=64 time=0.05 ms\n\
                  [1700000000.120000] 64 bytes from 2001:db8::40: icmp_seq=2 ttl=64 time=0.05 ms\n\
                  --- 2001:db8::40 ping statistics ---\n";
    assert_eq!(
        ping_reply_times(output),
        vec![1_700_000_000.1, 1_700_000_000.12]
    );
    assert_eq!(
        bursts(&[1.0, 1.001, 1.002, 3.0, 3.01, 5.2]),
        vec![1.0, 3.0, 5.2]
    );
    let config: serde_json::Value = serde_json::from_str(&vrrpd_config(150)).unwrap();
    assert_eq!(
        config["instances"][0]["virtual_addresses"][0],
        "fe80::40/64"
    );
}

/// Sends crafted VRRPv3 IPv6 adverts (VRID 50, priority 200, both virtual
/// addresses) from `host`'s link-local address to ff02::12 every 100 ms with
/// the hop limit `hop_limit` holds, until the returned guard is stopped or dropped (when
/// the test fails).
fn send_crafted_v6_adverts(
    host: &Host,
    hop_limit: std::sync::Arc<std::sync::atomic::AtomicU32>,
) -> StoppingThread {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopped = std::sync::Arc::clone(&stop);
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    use std::net::SocketAddrV6;
    use std::sync::atomic::Ordering;
    use vrrpd::core::packet::{self, Advertisement, Authentication, ChecksumMode, Version};
    let source = link_local_of(host);
    let group: Ipv6Addr = "ff02::12".parse().unwrap();
    let (socket, ifindex) = host
        .in_netns(|| {
            let ifindex = nix::net::if_::if_nametoindex("eth0").unwrap();
            let socket =
                Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::from(112))).map_err(|e| {
                    vrrpd::lab::LabError::Io {
                        context: "raw IPv6 socket".into(),
                        source: e,
                    }
                })?;
            socket.set_multicast_if_v6(ifindex).unwrap();
            socket.set_multicast_loop_v6(false).unwrap();
            socket
                .bind(&SockAddr::from(SocketAddrV6::new(source, 0, 0, ifindex)))
                .unwrap();
            Ok((socket, ifindex))
        })
        .unwrap();
    let advert = Advertisement {
        version: Version::V3,
        virtual_router_id: 50,
        priority: 200,
        interval_cs: 10,
        addresses: vec![vip_link_local(), vip()],
        authentication: Authentication::None,
    };
    // IPv6 always carries the pseudo-header checksum (RFC 5798 §5.2.8).
    let bytes = packet::encode(
        &advert,
        IpAddr::V6(source),
        IpAddr::V6(group),
        ChecksumMode::WithPseudoHeader,
    );
    let thread = std::thread::spawn(move || {
        let destination = SockAddr::from(SocketAddrV6::new(group, 0, 0, ifindex));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stopped.load(Ordering::Relaxed) && Instant::now() < deadline {
            socket
                .set_multicast_hops_v6(hop_limit.load(Ordering::Relaxed))
                .unwrap();
            socket.send_to(&bytes, &destination).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    StoppingThread::new(stop, thread)
}

/// RFC 5798 §7.1: a receiver must drop adverts whose hop limit is not 255
/// (they may come from off the link). vrrpd (priority 100) stays backup while
/// a crafted priority-200 master advertises with hop limit 255, and takes
/// over, logging why, once the same adverts arrive with hop limit 254.
#[test]
fn v6_vrrpd_drops_adverts_with_a_hop_limit_other_than_255() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    let net = V6Lab::new("v6hop");
    let hop_limit = Arc::new(AtomicU32::new(255));
    // Stops (on drop) when an assertion below fails, before the lab goes away.
    let sender = send_crafted_v6_adverts(&net.lb01, Arc::clone(&hop_limit));
    std::thread::sleep(Duration::from_millis(200));
    let vrrpd = start(&net.lb02, Daemon::Vrrpd, LOW_PRIORITY);
    let watch = STARTUP_ALLOWANCE + master_down_interval(LOW_PRIORITY) * 4;
    let took = wait_until(watch, POLL, || net.lb02.has_address(vip()));
    assert!(
        took.is_none(),
        "vrrpd took the VIP while a priority-200 master advertised with hop limit 255:\n{}",
        vrrpd.log()
    );
    assert!(
        !vrrpd.log().contains("ignored a VRRP packet"),
        "{}",
        vrrpd.log()
    );

    hop_limit.store(254, Ordering::Relaxed);
    let changed = Instant::now();
    let took = wait_until(watch, POLL, || net.lb02.has_address(vip()));
    sender.stop();
    assert!(
        took.is_some(),
        "vrrpd obeyed adverts with hop limit 254:\n{}",
        vrrpd.log()
    );
    assert!(
        changed.elapsed() >= ADVERT * 2,
        "{}",
        secs(changed.elapsed())
    );
    let line = format!(
        "(VI_6) ignored a VRRP packet from {}: TTL/hop limit is not 255",
        link_local_of(&net.lb01)
    );
    assert!(
        vrrpd.log().contains(&line),
        "vrrpd logs `{line}`:\n{}",
        vrrpd.log()
    );
}
