//! A deterministic simulator: several vrrpd nodes (`vrrpd::core::node::Node`, the very
//! code the daemon runs) on simulated L2 segments, in virtual time, without root.
//!
//! The world plays the shell's part: it turns a node's actions into deliveries on the
//! segment (with per-link loss, delay and jitter, partitions and link state), keeps the
//! addresses each host's interfaces hold (they outlive a SIGKILL, as the kernel's do), and
//! feeds the node its inputs at virtual `now`s. Everything is driven by one seeded random
//! number generator, so a seed replays a scenario exactly.
#![allow(dead_code)] // each test uses a different subset

pub mod scenario;
pub mod trace;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vrrpd::config::Config;
use vrrpd::core::State;
use vrrpd::core::control::Command;
use vrrpd::core::node::{DemotedAtStart, LoadedConfig, Node, NodeAction, NodeInput, Placement};
use vrrpd::core::receive::ReceivedPacket;

pub use trace::TraceLine;

/// Virtual milliseconds, for readable scenario code.
pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// xorshift64*: small, fast, and the same sequence on every machine.
///
/// A fuzzer drives the same simulator through a tape ([`Rng::from_tape`]): each choice
/// reads its bytes from the fuzzer's input, so that a mutated byte changes one decision
/// (a fault, a time, a priority) rather than reshuffling everything after it. Once the
/// tape is used up the generator takes over.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
    tape: Vec<u8>,
    read: usize,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that nearby seeds give unrelated sequences.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng {
            state: (z ^ (z >> 31)) | 1,
            tape: Vec::new(),
            read: 0,
        }
    }
    /// Choices taken from `tape` first (the generator, seeded from its length, after).
    pub fn from_tape(tape: &[u8]) -> Self {
        Rng {
            tape: tape.to_vec(),
            ..Rng::new(tape.len() as u64)
        }
    }
    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in 0..n (n > 0). From the tape: as few bytes as `n` needs, big-endian.
    pub fn below(&mut self, n: u64) -> u64 {
        let n = n.max(1);
        if self.read < self.tape.len() {
            let wanted = (u64::BITS - (n - 1).leading_zeros()).div_ceil(8) as usize;
            let end = (self.read + wanted).min(self.tape.len());
            let value = self.tape[self.read..end]
                .iter()
                .fold(0u64, |value, byte| (value << 8) | u64::from(*byte));
            self.read = end;
            return value % n;
        }
        self.next_u64() % n
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    pub fn duration(&mut self, max: Duration) -> Duration {
        Duration::from_micros(self.below(max.as_micros() as u64 + 1))
    }
}

/// How packets from one host reach another on a segment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkQuality {
    pub loss_percent: u64,
    pub delay: Duration,
    pub jitter: Duration,
}

impl LinkQuality {
    /// What the quiet phase and planned-move scenarios use.
    pub const CLEAN: LinkQuality = LinkQuality {
        loss_percent: 0,
        delay: Duration::from_micros(200),
        jitter: Duration::ZERO,
    };
}

/// What a stalled loop finds waiting when it runs again, in arrival order: datagrams in
/// its VRRP sockets, address notices in its netlink socket.
#[derive(Clone, Debug)]
pub enum Waiting {
    Datagram(u32, Vec<u8>),
    AddressNotice {
        ifindex: u32,
        address: IpAddr,
        present: bool,
    },
}

/// One simulated machine: its interfaces' addresses outlive its vrrpd process.
pub struct Host {
    pub name: String,
    /// Its own address on every segment (segment s: 192.0.2.x, 198.51.100.x, ...).
    pub octet: u8,
    pub config: Config,
    pub node: Option<Node>,
    /// Addresses vrrpd added, per ifindex; they stay when the process is killed.
    pub addresses: BTreeMap<u32, BTreeSet<IpAddr>>,
    /// The demoted set vrrpd persisted (the state directory survives restarts).
    pub demoted_file: BTreeSet<String>,
    pub link_up: BTreeMap<u32, bool>,
    /// False while the interface is deleted (it then carries nothing, and comes back
    /// with the same index: the kernel reuses one given explicitly).
    pub link_present: BTreeMap<u32, bool>,
    /// The loop does nothing until then; what arrives meanwhile waits in its sockets.
    pub stalled_until: Option<Instant>,
    pub stalled_inbox: Vec<Waiting>,
    /// The tracker results this host's checks report, by tracker index.
    pub tracker_healthy: BTreeMap<usize, bool>,
    /// Virtual routes and rules vrrpd added (as `ip route`/`ip rule` would list them);
    /// like the addresses, they outlive the process.
    pub routes: BTreeSet<String>,
    pub rules: BTreeSet<String>,
    next_request: u64,
}

/// The segments: ifindex 1 is 192.0.2.0/24, ifindex 2 is 198.51.100.0/24.
pub fn host_address(ifindex: u32, octet: u8) -> Ipv4Addr {
    match ifindex {
        1 => Ipv4Addr::new(192, 0, 2, octet),
        _ => Ipv4Addr::new(198, 51, 100, octet),
    }
}

pub fn interface_name(ifindex: u32) -> &'static str {
    match ifindex {
        1 => "eth0",
        _ => "eth1",
    }
}

/// A virtual MAC's macvlan (`use_virtual_mac`) for VRID `v` on interface `i` has index
/// `VIRTUAL_MAC_BASE * v + i`: it sends on `i`'s segment and goes with `i`.
pub const VIRTUAL_MAC_BASE: u32 = 100;

fn virtual_mac_index(parent: u32, vrid: u8) -> u32 {
    VIRTUAL_MAC_BASE * u32::from(vrid) + parent
}

/// The interface whose segment `ifindex` sends on: itself, or a macvlan's parent.
pub fn segment_of(ifindex: u32) -> u32 {
    ifindex % VIRTUAL_MAC_BASE
}

pub fn ifindex_of(interface: &str) -> u32 {
    match interface {
        "eth0" => 1,
        _ => 2,
    }
}

#[derive(Debug)]
enum Event {
    /// A datagram (IPv4, header included) reaches `host` on `ifindex`.
    Deliver {
        host: usize,
        ifindex: u32,
        datagram: Vec<u8>,
    },
    /// The host's node may have a deadline due.
    Timer { host: usize },
    /// A stalled host's loop runs again.
    StallEnds { host: usize },
    /// The kernel's notification that an address came or went (RTM_NEWADDR/DELADDR), for
    /// vrrpd's own changes as for anyone else's.
    AddressNotice {
        host: usize,
        ifindex: u32,
        address: IpAddr,
        present: bool,
    },
}

/// Where the world records what happened, for the property checks.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    /// (at, vip, holders) each time the set of holders of a VIP changed.
    pub holder_changes: Vec<(Duration, IpAddr, BTreeSet<usize>)>,
    /// Violations of property e (sync groups), with when.
    pub sync_violations: Vec<(Duration, String)>,
}

pub struct World {
    pub start: Instant,
    pub now: Instant,
    pub rng: Rng,
    pub hosts: Vec<Host>,
    /// Link quality from host a to host b (both directions are separate entries).
    pub quality: BTreeMap<(usize, usize), LinkQuality>,
    /// Pairs that cannot hear each other (both directions).
    pub partitions: BTreeSet<(usize, usize)>,
    events: BinaryHeap<Reverse<(Instant, u64, usize)>>,
    event_bodies: BTreeMap<usize, Event>,
    next_event: usize,
    sequence: u64,
    pub observed: Observations,
    /// Sync groups, by member names, to check property e.
    pub sync_groups: Vec<Vec<String>>,
    /// When set, every step is written here (golden traces).
    pub trace: Option<Vec<TraceLine>>,
    /// Steps taken, to bound a scenario whatever happens.
    pub steps: u64,
    pub protocol: scenario::Protocol,
}

/// More than any scenario needs (the most seen in a million scenarios is under 500);
/// reaching it is itself a failure (property f).
pub const MAX_STEPS: u64 = 20_000;

/// More actions than one input can legitimately cause (a GARP burst for every VIP and a
/// reload's hand-overs are a few dozen); more is a node that sends without end (property f).
pub const MAX_ACTIONS_PER_INPUT: usize = 1_000;

/// More events than a scenario ever has queued at once; more is unbounded growth (property f).
pub const MAX_QUEUED_EVENTS: usize = 100_000;

impl World {
    pub fn new(seed: u64, configs: Vec<(&str, u8, Config)>) -> Self {
        let start = Instant::now();
        let hosts: Vec<Host> = configs
            .into_iter()
            .map(|(name, octet, config)| Host {
                name: name.to_owned(),
                octet,
                config,
                node: None,
                addresses: BTreeMap::new(),
                demoted_file: BTreeSet::new(),
                link_up: [(1, true), (2, true)].into_iter().collect(),
                link_present: [(1, true), (2, true)].into_iter().collect(),
                stalled_until: None,
                stalled_inbox: Vec::new(),
                tracker_healthy: BTreeMap::new(),
                routes: BTreeSet::new(),
                rules: BTreeSet::new(),
                next_request: 0,
            })
            .collect();
        let mut quality = BTreeMap::new();
        for a in 0..hosts.len() {
            for b in 0..hosts.len() {
                if a != b {
                    quality.insert((a, b), LinkQuality::CLEAN);
                }
            }
        }
        let sync_groups = hosts
            .first()
            .map(|host| {
                host.config
                    .sync_groups
                    .iter()
                    .map(|group| group.instances.clone())
                    .collect()
            })
            .unwrap_or_default();
        World {
            start,
            now: start,
            rng: Rng::new(seed),
            hosts,
            quality,
            partitions: BTreeSet::new(),
            events: BinaryHeap::new(),
            event_bodies: BTreeMap::new(),
            next_event: 0,
            sequence: 0,
            observed: Observations::default(),
            sync_groups,
            trace: None,
            steps: 0,
            protocol: scenario::Protocol::V2Pass1s,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn schedule(&mut self, at: Instant, event: Event) {
        let id = self.next_event;
        self.next_event += 1;
        self.sequence += 1;
        self.event_bodies.insert(id, event);
        self.events.push(Reverse((at, self.sequence, id)));
        assert!(
            self.events.len() < MAX_QUEUED_EVENTS,
            "property f: more than {MAX_QUEUED_EVENTS} events queued"
        );
    }

    fn placements(
        &mut self,
        host: usize,
        config: &Config,
    ) -> BTreeMap<String, Result<Placement, String>> {
        config
            .instances
            .iter()
            .map(|instance| (instance.name.clone(), self.placement(host, instance)))
            .collect()
    }

    /// Where `instance` runs on `host`, as the shell would find it (making its virtual
    /// MAC's macvlan, if it uses one).
    fn placement(
        &mut self,
        host: usize,
        instance: &vrrpd::config::InstanceConfig,
    ) -> Result<Placement, String> {
        let interface = instance.interface.as_str();
        let octet = self.hosts[host].octet;
        let ifindex = ifindex_of(interface);
        if !self.link_present(host, ifindex) {
            return Err(format!("interface {interface:?} does not exist"));
        }
        let virtual_mac = instance.use_virtual_mac.then(|| {
            let macvlan = virtual_mac_index(ifindex, instance.virtual_router_id);
            self.hosts[host].link_present.insert(macvlan, true);
            vrrpd::core::node::VirtualMacLink {
                ifindex: macvlan,
                name: format!("vrrp.{}", instance.virtual_router_id),
                mac: vrrpd::core::arp::virtual_router_mac(instance.virtual_router_id, false),
            }
        });
        Ok(Placement {
            ifindex,
            interface: interface.to_owned(),
            up: self.hosts[host]
                .link_up
                .get(&ifindex)
                .copied()
                .unwrap_or(true),
            mac: Some([0x02, 0, 0, 0, ifindex as u8, octet]),
            local_address: IpAddr::V4(host_address(ifindex, octet)),
            virtual_mac,
        })
    }

    pub fn link_present(&self, host: usize, ifindex: u32) -> bool {
        self.hosts[host]
            .link_present
            .get(&ifindex)
            .copied()
            .unwrap_or(true)
    }

    /// The interface is deleted (a NIC unplugged, a VLAN torn down): its addresses go
    /// (the kernel notifies each), then the link (RTM_DELLINK).
    pub fn delete_link(&mut self, host: usize, ifindex: u32) {
        if !self.link_present(host, ifindex) {
            return;
        }
        // Macvlans on it go first (the kernel unregisters upper devices first).
        if ifindex < VIRTUAL_MAC_BASE {
            let macvlans: Vec<u32> = self.hosts[host]
                .link_present
                .iter()
                .filter(|&(&index, &present)| {
                    present && index > VIRTUAL_MAC_BASE && segment_of(index) == ifindex
                })
                .map(|(&index, _)| index)
                .collect();
            for macvlan in macvlans {
                self.delete_link(host, macvlan);
            }
        }
        self.clear_addresses(host, ifindex);
        self.hosts[host].link_up.insert(ifindex, false);
        self.hosts[host].link_present.insert(ifindex, false);
        if self.running(host) {
            self.input(host, NodeInput::LinkGone { ifindex });
        }
    }

    /// The interface is created again, up (RTM_NEWLINK).
    pub fn recreate_link(&mut self, host: usize, ifindex: u32) {
        if self.link_present(host, ifindex) {
            return;
        }
        self.hosts[host].link_present.insert(ifindex, true);
        self.set_link(host, ifindex, true);
    }

    /// Start vrrpd on `host` (a fresh process: what it knows is what the host kept).
    pub fn start(&mut self, host: usize) {
        let config = self.hosts[host].config.clone();
        let placements = self.placements(host, &config);
        let demoted = DemotedAtStart::Instances(self.hosts[host].demoted_file.clone());
        let unix_ms = 1_800_000_000_000 + self.elapsed().as_millis() as u64;
        self.hosts[host].node = Some(Node::new(config, placements, demoted, self.now, unix_ms));
        self.hosts[host].stalled_until = None;
        self.hosts[host].stalled_inbox.clear();
        self.input(host, NodeInput::Start);
    }

    /// SIGKILL: the process is gone, its addresses stay on the interfaces.
    pub fn kill(&mut self, host: usize) {
        self.hosts[host].node = None;
        self.hosts[host].stalled_until = None;
        self.hosts[host].stalled_inbox.clear();
    }

    /// A power cut: the process and the interfaces' addresses are gone, nothing is sent.
    pub fn power_off(&mut self, host: usize) {
        self.kill(host);
        self.hosts[host].addresses.clear();
        self.hosts[host].routes.clear();
        self.hosts[host].rules.clear();
        self.note_holders();
    }

    pub fn running(&self, host: usize) -> bool {
        self.hosts[host].node.is_some()
    }

    /// SIGTERM: the node hands over and exits by itself (see `run_until`).
    pub fn stop(&mut self, host: usize) {
        if self.running(host) {
            self.input(host, NodeInput::Stop);
        }
    }

    pub fn set_link(&mut self, host: usize, ifindex: u32, up: bool) {
        if !self.link_present(host, ifindex) {
            return; // a deleted link cannot be set up or down
        }
        self.hosts[host].link_up.insert(ifindex, up);
        let mac = Some([0x02, 0, 0, 0, ifindex as u8, self.hosts[host].octet]);
        if self.running(host) {
            let name = interface_name(ifindex).to_owned();
            let input = NodeInput::Link {
                ifindex,
                name,
                up,
                mac,
                mtu: Some(1500),
            };
            self.input(host, input);
        }
    }

    /// Add or remove one address on a host's interface, as `ip addr` would: a change (and
    /// only a change) is notified to the host's vrrpd, after the current step.
    fn set_address(&mut self, host: usize, ifindex: u32, address: IpAddr, present: bool) {
        if present && !self.link_present(host, ifindex) {
            return; // ENODEV
        }
        let held = self.hosts[host].addresses.entry(ifindex).or_default();
        let changed = if present {
            held.insert(address)
        } else {
            held.remove(&address)
        };
        if changed {
            self.note_holders();
            let notice = Event::AddressNotice {
                host,
                ifindex,
                address,
                present,
            };
            self.schedule(self.now, notice);
        }
    }

    /// Every address on `host`'s interface `ifindex` goes (the interface is deleted).
    fn clear_addresses(&mut self, host: usize, ifindex: u32) {
        let held: Vec<IpAddr> = self.hosts[host]
            .addresses
            .get(&ifindex)
            .map(|held| held.iter().copied().collect())
            .unwrap_or_default();
        for address in held {
            self.set_address(host, ifindex, address, false);
        }
    }

    /// Someone else (a network manager, `ip addr flush`) removes every virtual address
    /// from the host's interfaces.
    pub fn flush_addresses(&mut self, host: usize) {
        let held: Vec<(u32, IpAddr)> = self.hosts[host]
            .addresses
            .iter()
            .flat_map(|(&ifindex, addresses)| addresses.iter().map(move |&a| (ifindex, a)))
            .collect();
        for (ifindex, address) in held {
            self.set_address(host, ifindex, address, false);
        }
    }

    /// Someone else adds a virtual address to the host's interface.
    pub fn add_foreign_address(&mut self, host: usize, ifindex: u32, address: IpAddr) {
        self.set_address(host, ifindex, address, true);
    }

    pub fn report_tracker(&mut self, host: usize, tracker: usize, healthy: bool) {
        self.hosts[host].tracker_healthy.insert(tracker, healthy);
        let Some(node) = &self.hosts[host].node else {
            return;
        };
        let generation = node.tracker_generation();
        let detail = if healthy {
            "HTTP 200"
        } else {
            "connection refused"
        }
        .to_owned();
        self.input(
            host,
            NodeInput::TrackerResult {
                tracker,
                generation,
                healthy,
                value: None,
                detail,
            },
        );
    }

    pub fn control(&mut self, host: usize, command: Command) {
        if !self.running(host) {
            return;
        }
        self.hosts[host].next_request += 1;
        let request = self.hosts[host].next_request;
        self.input(host, NodeInput::Control { request, command });
    }

    /// SIGHUP with `config` in the file (or a broken file when None).
    pub fn reload(&mut self, host: usize, config: Option<Config>) {
        if !self.running(host) {
            return;
        }
        let accepts = self.hosts[host]
            .node
            .as_ref()
            .is_some_and(|node| node.accepts_reload());
        if !accepts {
            return; // the signal would stay pending; the scenario moves on
        }
        self.input(host, NodeInput::ReloadRequested);
        let generation = self.hosts[host]
            .node
            .as_ref()
            .map_or(0, |node| node.reload_generation());
        let result = match config {
            Some(config) => {
                let placements = self.placements(host, &config);
                self.hosts[host].config = config.clone();
                Ok(LoadedConfig { config, placements })
            }
            None => Err("/etc/vrrpd/config.json: line 3: expected `,` or `}`".to_owned()),
        };
        self.input(host, NodeInput::ConfigLoaded { generation, result });
    }

    /// The host's loop does nothing for `length` (a stalled process, a VM paused).
    pub fn stall(&mut self, host: usize, length: Duration) {
        if !self.running(host) {
            return;
        }
        let until = self.now + length;
        self.hosts[host].stalled_until = Some(until);
        self.schedule(until, Event::StallEnds { host });
    }

    /// A stalled loop runs again now (the fault is over).
    pub fn end_stall(&mut self, host: usize) {
        if self.hosts[host].stalled_until.is_some() {
            self.hosts[host].stalled_until = Some(self.now);
            self.dispatch(Event::StallEnds { host });
        }
    }

    /// Garbage on the segment, from a spoofed source: it must change nothing.
    pub fn inject(&mut self, host: usize, ifindex: u32, datagram: Vec<u8>) {
        let at = self.now + ms(1);
        self.schedule(
            at,
            Event::Deliver {
                host,
                ifindex,
                datagram,
            },
        );
    }

    /// Feed one input to a running host's node and perform its actions.
    pub fn input(&mut self, host: usize, input: NodeInput<'_>) {
        let now = self.now;
        let summary = self.trace.as_ref().map(|_| trace::input_summary(&input));
        let Some(node) = self.hosts[host].node.as_mut() else {
            return;
        };
        node.handle(now, input);
        let mut actions = Vec::new();
        while let Some(action) = node.poll_action() {
            actions.push(action);
            assert!(
                actions.len() <= MAX_ACTIONS_PER_INPUT,
                "property f: one input caused more than {MAX_ACTIONS_PER_INPUT} actions"
            );
        }
        if let (Some(lines), Some(input)) = (self.trace.as_mut(), summary) {
            lines.push(TraceLine {
                at_ms: (now - self.start).as_millis() as u64,
                host: self.hosts[host].name.clone(),
                input,
                actions: actions.iter().filter_map(trace::action_summary).collect(),
            });
        }
        for action in actions {
            self.perform(host, action);
        }
        self.arm_timer(host);
        self.check_sync_groups(host);
    }

    fn arm_timer(&mut self, host: usize) {
        if let Some(deadline) = self.hosts[host]
            .node
            .as_ref()
            .and_then(|node| node.next_deadline())
        {
            self.schedule(deadline.max(self.now), Event::Timer { host });
        }
    }

    fn perform(&mut self, host: usize, action: NodeAction) {
        match action {
            NodeAction::SendAdvertisement {
                ifindex,
                source,
                destination,
                message,
                ..
            } => self.transmit(host, ifindex, source, destination, &message),
            NodeAction::AddAddresses {
                ifindex, addresses, ..
            } => {
                for (address, _) in addresses {
                    self.set_address(host, ifindex, address, true);
                }
            }
            NodeAction::RemoveAddresses {
                ifindex, addresses, ..
            } => {
                for (address, _) in addresses {
                    self.set_address(host, ifindex, address, false);
                }
            }
            NodeAction::AddRoutes { routes, .. } => {
                let held = &mut self.hosts[host].routes;
                held.extend(routes.iter().map(ToString::to_string));
            }
            NodeAction::RemoveRoutes { routes, .. } => {
                for route in routes {
                    self.hosts[host].routes.remove(&route.to_string());
                }
            }
            NodeAction::AddRules { rules, .. } => {
                let held = &mut self.hosts[host].rules;
                held.extend(rules.iter().map(ToString::to_string));
            }
            NodeAction::RemoveRules { rules, .. } => {
                for rule in rules {
                    self.hosts[host].rules.remove(&rule.to_string());
                }
            }
            NodeAction::PersistDemoted { request, names } => {
                self.hosts[host].demoted_file = names;
                self.input(
                    host,
                    NodeInput::Persisted {
                        request,
                        result: Ok(()),
                    },
                );
            }
            NodeAction::RestartTrackers { generation, .. } => {
                // The checks start over and report what they see now.
                let results: Vec<(usize, bool)> = self.hosts[host]
                    .tracker_healthy
                    .iter()
                    .map(|(tracker, healthy)| (*tracker, *healthy))
                    .collect();
                for (tracker, healthy) in results {
                    for _ in 0..3 {
                        self.input(
                            host,
                            NodeInput::TrackerResult {
                                tracker,
                                generation,
                                healthy,
                                value: None,
                                detail: "restarted".to_owned(),
                            },
                        );
                    }
                }
            }
            // The kernel takes the macvlan's addresses with it.
            NodeAction::DeleteVirtualMac { ifindex, .. } => {
                self.clear_addresses(host, ifindex);
                self.hosts[host].link_present.insert(ifindex, false);
            }
            NodeAction::Locate { instance, config } => {
                let result = self.placement(host, &config);
                self.input(host, NodeInput::Located { instance, result });
            }
            // The simulated hosts have one interface: an address on another is not
            // simulated (the node's unit tests and tests/netns_address_interfaces.rs are).
            NodeAction::LocateHome { interface, ipv6 } => self.input(
                host,
                NodeInput::HomeLocated {
                    interface,
                    ipv6,
                    result: Err("not simulated".to_owned()),
                },
            ),
            NodeAction::Exit => {
                // A stopped process: the node removed its addresses before exiting.
                self.hosts[host].node = None;
            }
            NodeAction::SendGratuitousArp { .. }
            | NodeAction::SendNeighbourAdvertisement { .. }
            | NodeAction::SetVirtualMacUp { .. }
            | NodeAction::Log { .. }
            | NodeAction::RunHooks { .. }
            | NodeAction::RunPriorityHook { .. }
            | NodeAction::Reply { .. }
            | NodeAction::LoadConfig { .. }
            | NodeAction::Status(_)
            | NodeAction::Ready(_)
            | NodeAction::Reloading
            | NodeAction::Stopping
            | NodeAction::CloseUnusedInterfaces { .. } => {}
        }
    }

    /// Put an advert on the segment: every other host hears a multicast one, a unicast one
    /// reaches its peer; each delivery obeys the link's quality and partitions.
    fn transmit(
        &mut self,
        from: usize,
        ifindex: u32,
        source: IpAddr,
        destination: IpAddr,
        message: &[u8],
    ) {
        // A virtual MAC's macvlan sends on its parent's segment, and only while that is up
        // (and the macvlan exists).
        if !self.link_present(from, ifindex) {
            return;
        }
        let ifindex = segment_of(ifindex);
        if !self.hosts[from]
            .link_up
            .get(&ifindex)
            .copied()
            .unwrap_or(true)
        {
            return;
        }
        let (IpAddr::V4(source), IpAddr::V4(destination)) = (source, destination) else {
            return; // the simulated segments are IPv4
        };
        let datagram = ipv4_datagram(source, destination, 255, message);
        for to in 0..self.hosts.len() {
            if to == from {
                continue;
            }
            let to_address = host_address(ifindex, self.hosts[to].octet);
            if !destination.is_multicast() && destination != to_address {
                continue;
            }
            if self.partitions.contains(&(from.min(to), from.max(to))) {
                continue;
            }
            let quality = self.quality[&(from, to)];
            if self.rng.chance(quality.loss_percent) {
                continue;
            }
            let jitter = self.rng.duration(quality.jitter);
            let at = self.now + quality.delay + jitter;
            self.schedule(
                at,
                Event::Deliver {
                    host: to,
                    ifindex,
                    datagram: datagram.clone(),
                },
            );
        }
    }

    /// Run events until `until` (virtual time).
    pub fn run_until(&mut self, until: Instant) {
        while let Some(Reverse((at, _, id))) = self.events.peek().copied() {
            if at > until {
                break;
            }
            self.events.pop();
            self.steps += 1;
            assert!(
                self.steps < MAX_STEPS,
                "property f: more than {MAX_STEPS} steps (a timer that does not move forward?)"
            );
            self.now = self.now.max(at);
            let Some(event) = self.event_bodies.remove(&id) else {
                continue;
            };
            self.dispatch(event);
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, length: Duration) {
        let until = self.now + length;
        self.run_until(until);
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Deliver {
                host,
                ifindex,
                datagram,
            } => {
                if !self.running(host)
                    || !self.hosts[host]
                        .link_up
                        .get(&ifindex)
                        .copied()
                        .unwrap_or(true)
                {
                    return;
                }
                if self.hosts[host].stalled_until.is_some() {
                    self.hosts[host]
                        .stalled_inbox
                        .push(Waiting::Datagram(ifindex, datagram));
                    return;
                }
                self.input(
                    host,
                    NodeInput::Datagram {
                        ifindex,
                        packet: ReceivedPacket::Ipv4(&datagram),
                    },
                );
            }
            Event::Timer { host } => {
                if self.hosts[host].stalled_until.is_some() {
                    return; // StallEnds fires what is due
                }
                let due = self.hosts[host]
                    .node
                    .as_ref()
                    .and_then(|node| node.next_deadline())
                    .is_some_and(|deadline| deadline <= self.now);
                if due {
                    self.input(host, NodeInput::Timeout);
                }
            }
            Event::AddressNotice {
                host,
                ifindex,
                address,
                present,
            } => {
                // A process that is not running hears nothing (it removes what it finds
                // when it starts); a stalled loop reads the notice when it runs again.
                if !self.running(host) {
                    return;
                }
                if self.hosts[host].stalled_until.is_some() {
                    let notice = Waiting::AddressNotice {
                        ifindex,
                        address,
                        present,
                    };
                    self.hosts[host].stalled_inbox.push(notice);
                    return;
                }
                let input = NodeInput::Address {
                    ifindex,
                    address,
                    present,
                };
                self.input(host, input);
            }
            Event::StallEnds { host } => {
                if self.hosts[host]
                    .stalled_until
                    .is_none_or(|until| until > self.now)
                {
                    return;
                }
                self.hosts[host].stalled_until = None;
                // Like the shell after a late wake-up: what the sockets hold first, then
                // the timers.
                let inbox = std::mem::take(&mut self.hosts[host].stalled_inbox);
                for waiting in inbox {
                    match waiting {
                        Waiting::Datagram(ifindex, datagram) => self.input(
                            host,
                            NodeInput::Datagram {
                                ifindex,
                                packet: ReceivedPacket::Ipv4(&datagram),
                            },
                        ),
                        Waiting::AddressNotice {
                            ifindex,
                            address,
                            present,
                        } => self.input(
                            host,
                            NodeInput::Address {
                                ifindex,
                                address,
                                present,
                            },
                        ),
                    }
                }
                self.input(host, NodeInput::Timeout);
            }
        }
    }

    /// Every VIP any host's config names.
    pub fn vips(&self) -> BTreeSet<IpAddr> {
        self.hosts
            .iter()
            .flat_map(|host| host.config.instances.iter())
            .flat_map(|instance| instance.addresses_with_prefix())
            .map(|(address, _)| address)
            .collect()
    }

    pub fn holders(&self, vip: IpAddr) -> BTreeSet<usize> {
        (0..self.hosts.len())
            .filter(|&host| {
                self.hosts[host]
                    .addresses
                    .values()
                    .any(|held| held.contains(&vip))
            })
            .collect()
    }

    fn note_holders(&mut self) {
        let at = self.elapsed();
        for vip in self.vips() {
            let holders = self.holders(vip);
            let changed = self
                .observed
                .holder_changes
                .iter()
                .rev()
                .find(|(_, address, _)| *address == vip)
                .is_none_or(|(_, _, before)| *before != holders);
            if changed {
                self.observed.holder_changes.push((at, vip, holders));
            }
        }
    }

    /// Property e: after every step, a host's sync-group members are master together or
    /// not at all. A member that is handing over is on its way out and a stopping node's
    /// members leave one by one, so neither counts.
    fn check_sync_groups(&mut self, host: usize) {
        let Some(node) = &self.hosts[host].node else {
            return;
        };
        if node.stopping() || self.sync_groups.is_empty() {
            return;
        }
        let states = node.instance_states();
        for group in &self.sync_groups {
            let members: Vec<_> = states
                .iter()
                .filter(|state| group.contains(&state.name))
                .collect();
            if members.iter().any(|member| member.handing_over) {
                continue;
            }
            let masters = members
                .iter()
                .filter(|member| member.state == State::Master)
                .count();
            if masters != 0 && masters != members.len() {
                let line = format!(
                    "{}: {}",
                    self.hosts[host].name,
                    members
                        .iter()
                        .map(|member| format!("{} {:?}", member.name, member.state))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let at = self.now - self.start;
                self.observed.sync_violations.push((at, line));
            }
        }
    }
}

/// A 20-byte IPv4 header (no options) with `ttl` and protocol 112, then `payload`.
pub fn ipv4_datagram(source: Ipv4Addr, destination: Ipv4Addr, ttl: u8, payload: &[u8]) -> Vec<u8> {
    let total = (20 + payload.len()) as u16;
    let mut datagram = vec![0x45, 0];
    datagram.extend_from_slice(&total.to_be_bytes());
    datagram.extend_from_slice(&[0, 0, 0, 0, ttl, 112, 0, 0]);
    datagram.extend_from_slice(&source.octets());
    datagram.extend_from_slice(&destination.octets());
    datagram.extend_from_slice(payload);
    datagram
}
