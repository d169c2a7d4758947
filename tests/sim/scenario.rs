//! Seeded random scenarios and the properties checked after them.
//!
//! A scenario is a fault phase (random faults at random times) followed by a quiet phase
//! (every fault healed: lossless links, no partition, links up, every process running,
//! trackers healthy). Properties (issue 10 §4):
//! - a) from `quiet + Master_Down_Interval + 2 × Advertisement_Interval` on, exactly one
//!   host holds each VIP;
//! - b) that host's instance is MASTER with the highest advertised priority among the
//!   backups that preempt (or a backup without preempt, or a demoted one, left it there);
//! - c) in planned-move scenarios (lossless, only stop/restart, demote/promote, reload
//!   hand-over, failback), once a VIP is held it is never held by nobody;
//! - d) while hosts can hear each other (the quiet phase, and planned-move scenarios),
//!   two holders never coexist longer than one Advertisement_Interval plus two link
//!   delays: the lower master hears the higher one's next advert and steps down
//!   (RFC 3768 §6.4.3), and a planned move's overlap is one delivery;
//! - e) a host's sync-group members are MASTER together or not at all (checked by the
//!   world after every step);
//! - f) no panic, the step budget holds, and a node's memory stays bounded.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;
use std::time::Duration;

use vrrpd::config::Config;
use vrrpd::core::control::Command;
use vrrpd::core::{State, Version, master_down_interval};

use super::{LinkQuality, Rng, World, host_address, ipv4_datagram, ms};

/// The protocols the scenarios run: the user's keepalived-compatible pair, and VRRPv3 at
/// 100 ms and 1 s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    V2Pass1s,
    V3Ms100,
    V3Ms1000,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Two hosts, one instance, random faults.
    Pair,
    /// Three hosts, one instance.
    Trio,
    /// Two hosts, two instances (eth0 and eth1) in a sync group.
    SyncPair,
    /// Two hosts in unicast mode (VRRPv2, keepalived `unicast_peer`).
    UnicastPair,
    /// Two hosts, a lossless segment, planned moves only (property c).
    Planned,
}

fn base_config(protocol: Protocol, sync: bool) -> Config {
    static CONFIGS: OnceLock<Vec<Config>> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| {
        let mut configs = Vec::new();
        for (version, interval, auth) in [
            (2, 1000, r#""authentication": { "type": "pass", "password": "password" },"#),
            (3, 100, ""),
            (3, 1000, ""),
        ] {
            for sync in [false, true] {
                // VI_1 loses priority when the tracker fails; VI_2 (sync groups only)
                // goes to FAULT, which must hold its whole group (property e).
                let instance = |name: &str, interface: &str, vrid: u8, vip: &str, weight: i32| {
                    format!(
                        r#"{{ "name": "{name}", "interface": "{interface}", "virtual_router_id": {vrid},
                          "version": {version}, "priority": 100, "advert_interval_ms": {interval}, {auth}
                          "virtual_addresses": ["{vip}"], "garp_master_refresh_s": 60,
                          "track": [{{ "tracker": "caddy", "weight": {weight} }}] }}"#
                    )
                };
                let mut instances = vec![instance("VI_1", "eth0", 50, "192.0.2.40", -60)];
                let mut groups = String::new();
                if sync {
                    instances.push(instance("VI_2", "eth1", 51, "198.51.100.40", 0));
                    groups = r#", "sync_groups": [{ "name": "G", "instances": ["VI_1", "VI_2"] }]"#
                        .to_owned();
                }
                let text = format!(
                    r#"{{ "trackers": [{{ "name": "caddy", "check": {{ "type": "tcp", "address": "127.0.0.1:443" }},
                           "rise": 2, "fall": 3 }}],
                         "instances": [{}]{groups} }}"#,
                    instances.join(",")
                );
                configs.push(vrrpd::config::load_str(&text, "simulation").expect("valid config"));
            }
        }
        configs
    });
    let index = match protocol {
        Protocol::V2Pass1s => 0,
        Protocol::V3Ms100 => 2,
        Protocol::V3Ms1000 => 4,
    } + usize::from(sync);
    configs[index].clone()
}

/// One host's settings.
#[derive(Clone, Debug)]
pub struct HostSpec {
    pub name: String,
    pub octet: u8,
    pub priority: u8,
    pub preempt: bool,
    pub tracked: bool,
    /// `use_virtual_mac` on every instance.
    pub virtual_mac: bool,
}

pub fn host_config(protocol: Protocol, sync: bool, spec: &HostSpec, peers: &[u8]) -> Config {
    let mut config = base_config(protocol, sync);
    for instance in &mut config.instances {
        instance.priority = spec.priority;
        instance.preempt = spec.preempt;
        instance.use_virtual_mac = spec.virtual_mac;
        if !spec.tracked {
            instance.track = Vec::new();
        }
    }
    if !spec.tracked {
        config.trackers = Vec::new();
    }
    if !peers.is_empty() {
        for instance in &mut config.instances {
            instance.unicast_peers = peers
                .iter()
                .map(|octet| IpAddr::V4(host_address(1, *octet)))
                .collect();
            instance.unicast_source = Some(IpAddr::V4(host_address(1, spec.octet)));
        }
    }
    config
}

pub fn interval(protocol: Protocol) -> Duration {
    match protocol {
        Protocol::V2Pass1s | Protocol::V3Ms1000 => ms(1000),
        Protocol::V3Ms100 => ms(100),
    }
}

/// The longest Master_Down_Interval of any priority in use (RFC 3768/5798 §6.1).
pub fn longest_master_down(protocol: Protocol) -> Duration {
    let version = match protocol {
        Protocol::V2Pass1s => Version::V2,
        _ => Version::V3,
    };
    let interval_cs = (interval(protocol).as_millis() / 10) as u16;
    // A demoted instance advertises priority 1: the longest skew of all.
    master_down_interval(version, 1, interval_cs)
}

/// A scripted step at a virtual time.
#[derive(Clone, Debug)]
enum Step {
    Quality(usize, usize, LinkQuality),
    Partition(usize, usize),
    Heal(usize, usize),
    Link(usize, u32, bool),
    Kill(usize),
    Stop(usize),
    Start(usize),
    Tracker(usize, bool),
    ReloadPriority(usize, u8),
    ReloadRestart(usize),
    ReloadBroken(usize),
    Demote(usize),
    Promote(usize),
    Stall(usize, Duration),
    Garbage(usize),
    /// Someone else removes every virtual address from the host's interfaces.
    Flush(usize),
    /// Someone else adds the first VIP to the host's eth0.
    ForeignAdd(usize),
    /// The interface is deleted; later created again.
    DeleteLink(usize, u32),
    RecreateLink(usize, u32),
}

/// What went wrong, with the seed that shows it.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub message: String,
}

/// What a scenario did, for the totals.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    pub steps: u64,
}

pub fn kind_for(seed: u64) -> Kind {
    kind_of_roll(Rng::new(seed ^ 0x5eed).below(10))
}

/// The kind for a roll in 0..10: the weights of the random scenarios.
fn kind_of_roll(roll: u64) -> Kind {
    match roll {
        0..=2 => Kind::Pair,
        3 => Kind::Trio,
        4..=5 => Kind::SyncPair,
        6 => Kind::UnicastPair,
        _ => Kind::Planned,
    }
}

/// Build and run scenario `seed`; Err names the first property that failed.
pub fn run(seed: u64) -> Result<Outcome, String> {
    execute(seed, false).0
}

/// Scenario `seed` again, with every step traced.
pub fn traced(seed: u64) -> Vec<super::TraceLine> {
    execute(seed, true).1
}

/// A scenario whose every choice (kind, protocol, priorities, faults and their times, the
/// garbage's bytes, the world's losses) is read from `tape` ([`Rng::from_tape`]): what the
/// `node` fuzz target runs, with the same properties as the oracle.
pub fn run_tape(tape: &[u8]) -> Result<Outcome, String> {
    let mut rng = Rng::from_tape(tape);
    let kind = kind_of_roll(rng.below(10));
    let world_rng = Rng::from_tape(tape.get(tape.len() / 2..).unwrap_or_default());
    scenario(kind, rng, world_rng, false, &mut None)
}

fn execute(seed: u64, trace: bool) -> (Result<Outcome, String>, Vec<super::TraceLine>) {
    let mut world = None;
    let result = scenario(
        kind_for(seed),
        Rng::new(seed),
        Rng::new(seed),
        trace,
        &mut world,
    );
    let lines = world
        .and_then(|world: World| world.trace)
        .unwrap_or_default();
    (result, lines)
}

fn scenario(
    kind: Kind,
    mut rng: Rng,
    world_rng: Rng,
    trace: bool,
    slot: &mut Option<World>,
) -> Result<Outcome, String> {
    let protocol = match (kind, rng.below(3)) {
        (Kind::UnicastPair, _) | (_, 0) => Protocol::V2Pass1s,
        (_, 1) => Protocol::V3Ms100,
        _ => Protocol::V3Ms1000,
    };
    let count = if kind == Kind::Trio { 3 } else { 2 };
    let tracked = kind != Kind::Planned && rng.chance(40);
    // The RFC's virtual MAC on some pairs: the same protocol, the addresses on a macvlan.
    let virtual_mac = matches!(kind, Kind::Pair | Kind::Planned) && rng.chance(30);
    let specs: Vec<HostSpec> = (0..count)
        .map(|index| HostSpec {
            name: format!("lb0{}", index + 1),
            octet: 41 + index as u8,
            priority: *rng.pick(&[100, 100, 150, 150, 200, 254, 1]),
            preempt: rng.chance(80),
            tracked,
            virtual_mac,
        })
        .collect();
    let sync = kind == Kind::SyncPair;
    let configs = specs
        .iter()
        .map(|spec| {
            let peers: Vec<u8> = if kind == Kind::UnicastPair {
                specs
                    .iter()
                    .filter(|other| other.octet != spec.octet)
                    .map(|other| other.octet)
                    .collect()
            } else {
                Vec::new()
            };
            (
                spec.name.as_str(),
                spec.octet,
                host_config(protocol, sync, spec, &peers),
            )
        })
        .collect();
    let world = slot.insert(World::new(0, configs));
    world.rng = world_rng;
    world.protocol = protocol;
    if trace {
        world.trace = Some(Vec::new());
    }
    let advert = interval(protocol);
    let master_down = longest_master_down(protocol);
    let clean = LinkQuality {
        loss_percent: 0,
        delay: ms(1),
        jitter: if kind == Kind::Planned {
            ms(1)
        } else {
            Duration::ZERO
        },
    };
    let max_delay = clean.delay + clean.jitter;
    for quality in world.quality.values_mut() {
        *quality = clean;
    }
    if tracked {
        for host in 0..count {
            world.hosts[host].tracker_healthy.insert(0, true);
        }
    }
    for host in 0..count {
        world.start(host);
    }

    // The script: random faults (or planned moves), each with its end.
    let fault_phase = advert * 30;
    let mut script: Vec<(Duration, Step)> = Vec::new();
    if kind == Kind::Planned {
        let mut at = master_down * 3;
        while at + master_down * 4 < fault_phase + master_down * 8 {
            let host = rng.below(count as u64) as usize;
            match rng.below(5) {
                0 => {
                    script.push((at, Step::Stop(host)));
                    script.push((at + master_down * 2, Step::Start(host)));
                }
                1 => script.push((at, Step::Demote(host))),
                2 => script.push((at, Step::Promote(host))),
                3 => {
                    let priority = *rng.pick(&[50, 100, 150, 200, 250]);
                    script.push((at, Step::ReloadPriority(host, priority)));
                }
                _ => script.push((at, Step::ReloadRestart(host))),
            }
            at += master_down * 4;
        }
    } else {
        let faults = 1 + rng.below(8);
        for _ in 0..faults {
            let start = master_down * 2 + rng.duration(fault_phase);
            let end = (start + rng.duration(master_down * 5)).min(fault_phase + master_down * 2);
            let host = rng.below(count as u64) as usize;
            let other = (host + 1 + rng.below(count as u64 - 1) as usize) % count;
            match rng.below(15) {
                0 => {
                    let lossy = LinkQuality {
                        loss_percent: 10 + rng.below(60),
                        ..clean
                    };
                    script.push((start, Step::Quality(host, other, lossy)));
                    script.push((end, Step::Quality(host, other, clean)));
                }
                1 => {
                    let slow = LinkQuality {
                        loss_percent: 0,
                        delay: rng.duration(advert / 2),
                        jitter: rng.duration(advert / 2),
                    };
                    script.push((start, Step::Quality(host, other, slow)));
                    script.push((end, Step::Quality(host, other, clean)));
                }
                2 => {
                    script.push((start, Step::Partition(host, other)));
                    script.push((end, Step::Heal(host, other)));
                }
                3 => {
                    let ifindex = if sync { 1 + rng.below(2) as u32 } else { 1 };
                    script.push((start, Step::Link(host, ifindex, false)));
                    script.push((end, Step::Link(host, ifindex, true)));
                }
                4 => {
                    script.push((start, Step::Kill(host)));
                    script.push((end, Step::Start(host)));
                }
                5 => {
                    script.push((start, Step::Stop(host)));
                    script.push((end, Step::Start(host)));
                }
                6 if tracked => {
                    script.push((start, Step::Tracker(host, false)));
                    script.push((end, Step::Tracker(host, true)));
                }
                7 => {
                    let priority = *rng.pick(&[50, 100, 150, 200, 250]);
                    script.push((start, Step::ReloadPriority(host, priority)));
                }
                8 => script.push((start, Step::ReloadBroken(host))),
                9 => {
                    script.push((start, Step::Demote(host)));
                    if rng.chance(70) {
                        script.push((end, Step::Promote(host)));
                    }
                }
                10 => script.push((start, Step::Stall(host, rng.duration(master_down * 3)))),
                11 => script.push((start, Step::Flush(host))),
                12 => script.push((start, Step::ForeignAdd(host))),
                13 => {
                    let ifindex = if sync { 1 + rng.below(2) as u32 } else { 1 };
                    script.push((start, Step::DeleteLink(host, ifindex)));
                    script.push((end, Step::RecreateLink(host, ifindex)));
                }
                _ => {
                    for offset in 0..1 + rng.below(20) {
                        script.push((start + ms(offset), Step::Garbage(host)));
                    }
                }
            }
        }
    }
    script.sort_by_key(|(at, _)| *at);

    // Run the script. A restart waits until the old process has exited, as systemd's
    // restart waits for the stop (a hand-over is bounded by MAX_HAND_OVER_WAIT).
    let mut index = 0;
    while index < script.len() {
        let (at, step) = script[index].clone();
        index += 1;
        world.run_until(world.start + at);
        if let Step::Start(host) = step
            && world.running(host)
        {
            if world.hosts[host]
                .node
                .as_ref()
                .is_some_and(|node| node.stopping())
            {
                let later = at + ms(100);
                let position = script.partition_point(|(when, _)| *when <= later);
                script.insert(position.max(index), (later, Step::Start(host)));
            }
            continue;
        }
        apply(world, &mut rng, step);
    }

    // Faults stop: heal everything, restart what is down.
    for quality in world.quality.values_mut() {
        *quality = clean;
    }
    world.partitions.clear();
    let mut waited = Duration::ZERO;
    while (0..count).any(|host| {
        world.hosts[host]
            .node
            .as_ref()
            .is_some_and(|node| node.stopping())
    }) {
        world.run_for(ms(100));
        waited += ms(100);
        if waited > ms(20_000) {
            return Err("property f: a stopping node never exited".to_owned());
        }
    }
    for host in 0..count {
        world.end_stall(host);
        for ifindex in [1, 2] {
            world.recreate_link(host, ifindex);
            if !world.hosts[host].link_up[&ifindex] {
                world.set_link(host, ifindex, true);
            }
        }
        if !world.running(host) {
            world.start(host);
        }
        if tracked {
            for _ in 0..3 {
                world.report_tracker(host, 0, true);
            }
        }
    }
    let quiet = world.elapsed();
    let converged = quiet + master_down + advert * 2;
    let end = converged + master_down * 2 + advert * 10;
    world.run_until(world.start + end);

    check(world, kind, quiet, converged, advert, max_delay)?;
    Ok(Outcome { steps: world.steps })
}

fn apply(world: &mut World, rng: &mut Rng, step: Step) {
    match step {
        Step::Quality(a, b, quality) => {
            world.quality.insert((a, b), quality);
            world.quality.insert((b, a), quality);
        }
        Step::Partition(a, b) => {
            world.partitions.insert((a.min(b), a.max(b)));
        }
        Step::Heal(a, b) => {
            world.partitions.remove(&(a.min(b), a.max(b)));
        }
        Step::Link(host, ifindex, up) => world.set_link(host, ifindex, up),
        Step::Kill(host) => world.kill(host),
        Step::Stop(host) => world.stop(host),
        Step::Start(host) => world.start(host),
        Step::Tracker(host, healthy) => {
            for _ in 0..3 {
                world.report_tracker(host, 0, healthy);
            }
        }
        Step::ReloadPriority(host, priority) => {
            let mut config = world.hosts[host].config.clone();
            for instance in &mut config.instances {
                instance.priority = priority;
            }
            world.reload(host, Some(config));
        }
        Step::ReloadRestart(host) => {
            // A field that restarts the instance (make-before-break hand-over).
            let mut config = world.hosts[host].config.clone();
            for instance in &mut config.instances {
                instance.garp_master_refresh_s = if instance.garp_master_refresh_s == 60 {
                    30
                } else {
                    60
                };
            }
            world.reload(host, Some(config));
        }
        Step::ReloadBroken(host) => world.reload(host, None),
        Step::Demote(host) => world.control(host, Command::Demote { instance: None }),
        Step::Promote(host) => world.control(host, Command::Promote { instance: None }),
        Step::Stall(host, length) => world.stall(host, length),
        Step::Garbage(host) => {
            let datagram = garbage(world, rng);
            world.inject(host, 1, datagram);
        }
        Step::Flush(host) => world.flush_addresses(host),
        Step::DeleteLink(host, ifindex) => world.delete_link(host, ifindex),
        Step::RecreateLink(host, ifindex) => world.recreate_link(host, ifindex),
        Step::ForeignAdd(host) => {
            world.add_foreign_address(host, 1, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 40)))
        }
    }
}

/// Random bytes, a mutated real advert, or a real advert with a wrong TTL, from a
/// spoofed source.
///
/// A well-formed advert carries the scenario's own interval: from a VRRPv3 backup's point
/// of view a stranger is a router like any other, and one advertising 40.95 s would
/// rightly stretch its Master_Down_Interval to two minutes (RFC 5798 §6.4.2).
fn garbage(world: &World, rng: &mut Rng) -> Vec<u8> {
    let interval_cs = (interval(world.protocol).as_millis() / 10) as u16;
    let odd_interval = *rng.pick(&[0, 1, 4095]);
    let source = Ipv4Addr::new(203, 0, 113, rng.below(256) as u8);
    let advert = vrrpd::core::packet::Advertisement {
        version: if rng.chance(50) {
            Version::V2
        } else {
            Version::V3
        },
        virtual_router_id: *rng.pick(&[50, 51, 52]),
        priority: rng.below(256) as u8,
        interval_cs,
        addresses: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 40))],
        authentication: vrrpd::core::packet::Authentication::simple_password(b"password"),
    };
    let message = vrrpd::core::packet::encode(
        &advert,
        IpAddr::V4(source),
        IpAddr::V4(vrrpd::core::packet::MULTICAST_V4),
        vrrpd::core::ChecksumMode::WithPseudoHeader,
    );
    match rng.below(5) {
        0 => (0..rng.below(90)).map(|_| rng.below(256) as u8).collect(),
        // A correct checksum over a header that lies: the address count, the length.
        4 => {
            let mut lying = message.clone();
            lying[3] = rng.below(256) as u8;
            lying.truncate(rng.below(lying.len() as u64 + 1) as usize);
            if lying.len() >= 8 {
                lying[6] = 0;
                lying[7] = 0;
                let checksum = vrrpd::core::packet::internet_checksum(&lying, None);
                lying[6..8].copy_from_slice(&checksum.to_be_bytes());
            }
            ipv4_datagram(source, vrrpd::core::packet::MULTICAST_V4, 255, &lying)
        }
        1 => {
            // A flipped bit in the IP header keeps the VRRP checksum valid: such an advert
            // is well-formed, so an odd interval only goes with a VRID nobody runs.
            let odd = vrrpd::core::packet::encode(
                &vrrpd::core::packet::Advertisement {
                    interval_cs: odd_interval,
                    virtual_router_id: 52,
                    ..advert.clone()
                },
                IpAddr::V4(source),
                IpAddr::V4(vrrpd::core::packet::MULTICAST_V4),
                vrrpd::core::ChecksumMode::WithPseudoHeader,
            );
            let mutated = if rng.chance(50) { &odd } else { &message };
            let mut datagram =
                ipv4_datagram(source, vrrpd::core::packet::MULTICAST_V4, 255, mutated);
            let at = rng.below(datagram.len() as u64) as usize;
            datagram[at] ^= 1 << rng.below(8);
            datagram
        }
        2 => ipv4_datagram(source, vrrpd::core::packet::MULTICAST_V4, 64, &message),
        // Well-formed, from a stranger: a priority it may well win with.
        _ => ipv4_datagram(source, vrrpd::core::packet::MULTICAST_V4, 255, &message),
    }
}

/// The properties, over what the world observed.
fn check(
    world: &World,
    kind: Kind,
    quiet: Duration,
    converged: Duration,
    advert: Duration,
    max_delay: Duration,
) -> Result<(), String> {
    let end = world.elapsed();
    let observed = &world.observed;
    // Well-formed adverts from strangers (garbage) may legitimately win an election
    // during the fault phase; after it nobody sends them, so the properties stand.
    for vip in world.vips() {
        let history: Vec<&(Duration, IpAddr, BTreeSet<usize>)> = observed
            .holder_changes
            .iter()
            .filter(|(_, address, _)| *address == vip)
            .collect();
        let holders_at = |at: Duration| -> BTreeSet<usize> {
            history
                .iter()
                .rev()
                .find(|(when, _, _)| *when <= at)
                .map(|(_, _, holders)| holders.clone())
                .unwrap_or_default()
        };
        // d) two holders that hear each other: at most one advert interval plus two
        // deliveries (the lower master hears the higher one's next advert).
        let audible_from = if kind == Kind::Planned {
            Duration::ZERO
        } else {
            quiet
        };
        let bound = advert + max_delay * 2 + ms(1);
        let mut since: Option<Duration> = None;
        for (when, _, holders) in
            history
                .iter()
                .chain(std::iter::once(&&(end, vip, BTreeSet::new())))
        {
            match (holders.len() >= 2, since) {
                (true, None) => since = Some(*when),
                (false, Some(start)) => {
                    let counted_from = start.max(audible_from);
                    if *when > counted_from && *when - counted_from > bound {
                        return Err(format!(
                            "property d: {vip} had two holders from {start:?} to {when:?} \
                             (audible from {audible_from:?}, bound {bound:?})"
                        ));
                    }
                    since = None;
                }
                _ => {}
            }
        }
        // a) exactly one holder from `converged` to the end.
        let mut bad = vec![(converged, holders_at(converged))];
        bad.extend(
            history
                .iter()
                .filter(|(when, _, _)| *when > converged)
                .map(|(when, _, holders)| (*when, holders.clone())),
        );
        if let Some((when, holders)) = bad.iter().find(|(_, holders)| holders.len() != 1) {
            return Err(format!(
                "property a: {vip} held by {holders:?} at {when:?} (quiet from {quiet:?}, \
                 converged by {converged:?})"
            ));
        }
        // b) the holder is master and no preempting backup outranks it.
        let holder = *holders_at(end).iter().next().unwrap_or(&usize::MAX);
        let view = |host: usize| {
            world.hosts[host].node.as_ref().and_then(|node| {
                node.instance_states().into_iter().find(|instance| {
                    world.hosts[host].config.instances.iter().any(|config| {
                        config.name == instance.name
                            && config
                                .addresses_with_prefix()
                                .iter()
                                .any(|(address, _)| *address == vip)
                    })
                })
            })
        };
        let Some(master) = view(holder) else {
            return Err(format!(
                "property b: {vip}'s holder {holder} runs no instance for it"
            ));
        };
        if master.state != State::Master {
            return Err(format!(
                "property b: {vip}'s holder {} is {:?}, not MASTER",
                world.hosts[holder].name, master.state
            ));
        }
        for other in (0..world.hosts.len()).filter(|&host| host != holder) {
            let Some(backup) = view(other) else {
                return Err(format!(
                    "property b: {} runs no instance",
                    world.hosts[other].name
                ));
            };
            if backup.preempt
                && backup.state == State::Backup
                && backup.advertised_priority > master.advertised_priority
            {
                return Err(format!(
                    "property b: {} (priority {}, preempt) stays BACKUP under {} (priority {})",
                    world.hosts[other].name,
                    backup.advertised_priority,
                    world.hosts[holder].name,
                    master.advertised_priority
                ));
            }
        }
        // c) planned moves never leave the VIP unheld once it was held.
        if kind == Kind::Planned
            && let Some(first) = history
                .iter()
                .position(|(_, _, holders)| !holders.is_empty())
            && let Some((when, _, _)) = history[first..]
                .iter()
                .find(|(_, _, holders)| holders.is_empty())
        {
            return Err(format!(
                "property c: {vip} held by nobody at {when:?} during planned moves"
            ));
        }
    }
    // e) sync groups, as checked after every step.
    if let Some((when, line)) = observed.sync_violations.first() {
        return Err(format!("property e: at {when:?}, {line}"));
    }
    // f) bounded memory.
    for host in &world.hosts {
        if let Some(node) = &host.node {
            let size = format!("{node:?}").len();
            if size > 512 * 1024 {
                return Err(format!(
                    "property f: {}'s node grew to {size} bytes of state",
                    host.name
                ));
            }
        }
    }
    Ok(())
}
