//! Whole pairs of vrrpd nodes, simulated deterministically in virtual time (no root).
//!
//! - `random_scenarios`: 10,000 seeded scenarios (faults, then quiet) checking the
//!   properties of `sim::scenario`. A failure prints its seed and the command that
//!   replays it. A soak: `VRRPD_SIM_SCENARIOS=1000000 VRRPD_SIM_BASE_SEED=<any>
//!   cargo test --release --test simulation random_scenarios -- --nocapture`.
//! - `replay`: one seed (`VRRPD_SIM_SEED`), with its trace written as JSON lines to
//!   `VRRPD_SIM_TRACE` when set.
//! - `golden_*`: scripted scenarios whose every input and action is compared with a
//!   committed JSON-lines trace in `tests/golden/` (conformance, holo-style).

mod sim;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Instant;

use sim::scenario::{self, HostSpec, Protocol};
use sim::{TraceLine, World, ms};
use vrrpd::core::control::Command;
use vrrpd::core::state::State;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// One worker's steps, most steps in one scenario, and failures (seed, message).
type WorkerTotals = (u64, u64, Vec<(u64, String)>);

fn run_caught(seed: u64) -> Result<u64, String> {
    match std::panic::catch_unwind(|| scenario::run(seed)) {
        Ok(Ok(outcome)) => Ok(outcome.steps),
        Ok(Err(message)) => Err(message),
        Err(panic) => Err(format!(
            "property f: panicked: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|text| (*text).to_owned()))
                .unwrap_or_default()
        )),
    }
}

#[test]
fn random_scenarios() {
    let count = env_u64("VRRPD_SIM_SCENARIOS", 10_000);
    let base = env_u64("VRRPD_SIM_BASE_SEED", 0);
    let threads = std::thread::available_parallelism().map_or(2, usize::from) as u64;
    let started = Instant::now();
    // Panics are caught and reported with their seed: keep their default message quiet.
    std::panic::set_hook(Box::new(|_| {}));
    let results: Vec<WorkerTotals> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|worker| {
                scope.spawn(move || {
                    let mut steps = 0;
                    let mut most = 0;
                    let mut failures = Vec::new();
                    let mut seed = base + worker;
                    while seed < base + count {
                        match run_caught(seed) {
                            Ok(taken) => {
                                steps += taken;
                                most = most.max(taken);
                            }
                            Err(message) => failures.push((seed, message)),
                        }
                        seed += threads;
                    }
                    (steps, most, failures)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().unwrap_or_default())
            .collect()
    });
    let _ = std::panic::take_hook();
    let steps: u64 = results.iter().map(|(steps, _, _)| steps).sum();
    let most = results.iter().map(|(_, most, _)| *most).max().unwrap_or(0);
    let mut failures: Vec<(u64, String)> = results.into_iter().flat_map(|(_, _, f)| f).collect();
    failures.sort();
    println!(
        "{count} scenarios from seed {base}: {steps} steps (at most {most} in one; budget {}) in {:.1?}, {} failed",
        sim::MAX_STEPS,
        started.elapsed(),
        failures.len()
    );
    for (seed, message) in failures.iter().take(10) {
        println!("seed {seed} ({:?}): {message}", scenario::kind_for(*seed));
        println!(
            "  replay: VRRPD_SIM_SEED={seed} VRRPD_SIM_TRACE=/tmp/vrrpd-sim-{seed}.jsonl \
             cargo test --test simulation replay -- --nocapture"
        );
    }
    assert!(failures.is_empty(), "{} scenarios failed", failures.len());
}

/// Replays one seed (default: seed 0, so that the replay path itself stays tested).
#[test]
fn replay() {
    let seed = env_u64("VRRPD_SIM_SEED", 0);
    let result = run_caught(seed);
    println!("seed {seed} ({:?}): {result:?}", scenario::kind_for(seed));
    if let Ok(path) = std::env::var("VRRPD_SIM_TRACE") {
        // Run it again with the trace on (same seed, same events).
        let lines = scenario::traced(seed);
        let mut file = std::fs::File::create(&path).expect("trace file");
        for line in lines {
            writeln!(file, "{}", serde_json::to_string(&line).expect("json")).expect("write");
        }
        println!("trace written to {path}");
    }
    assert!(result.is_ok(), "seed {seed}: {result:?}");
}

// ---- Golden traces ------------------------------------------------------------------

fn golden_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.jsonl"))
}

/// Compare `lines` with the committed trace. `VRRPD_BLESS=1` rewrites it instead, and then
/// fails: a blessed trace must be reviewed and the test run again.
fn compare_with_golden(name: &str, lines: &[TraceLine]) {
    let path = golden_path(name);
    let rendered: Vec<String> = lines
        .iter()
        .map(|line| serde_json::to_string(line).expect("json"))
        .collect();
    if std::env::var_os("VRRPD_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("dir")).expect("golden dir");
        std::fs::write(&path, rendered.join("\n") + "\n").expect("write golden");
        panic!(
            "wrote {} ({} lines); review the diff and run again without VRRPD_BLESS",
            path.display(),
            rendered.len()
        );
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "{}: {error}; create it with VRRPD_BLESS=1 cargo test --test simulation {name}",
            path.display()
        )
    });
    let expected: Vec<&str> = expected.lines().collect();
    for (index, (want, got)) in expected.iter().zip(&rendered).enumerate() {
        assert_eq!(
            want,
            got,
            "{}:{}: the node's behaviour differs from the golden trace",
            path.display(),
            index + 1
        );
    }
    assert_eq!(
        expected.len(),
        rendered.len(),
        "{}: trace length differs",
        path.display()
    );
}

fn pair(protocol: Protocol, sync: bool, lb01: (u8, bool), lb02: (u8, bool)) -> World {
    let spec = |name: &str, octet, (priority, preempt): (u8, bool)| HostSpec {
        name: name.to_owned(),
        octet,
        priority,
        preempt,
        tracked: false,
        virtual_mac: false,
    };
    let lb01 = spec("lb01", 41, lb01);
    let lb02 = spec("lb02", 42, lb02);
    let mut world = World::new(
        1,
        vec![
            (
                "lb01",
                41,
                scenario::host_config(protocol, sync, &lb01, &[]),
            ),
            (
                "lb02",
                42,
                scenario::host_config(protocol, sync, &lb02, &[]),
            ),
        ],
    );
    world.trace = Some(Vec::new());
    world
}

fn traced(world: World) -> Vec<TraceLine> {
    world.trace.unwrap_or_default()
}

/// The user's pair: VRRPv2, PASS, VRID 50, priorities 150/100, 1 s. Election; a power cut
/// of lb01 (lb02 takes over at its Master_Down_Interval, 3.609 s); lb01 back (preempts).
#[test]
fn golden_users_pair_v2_pass() {
    let mut world = pair(Protocol::V2Pass1s, false, (150, true), (100, true));
    world.start(0);
    world.start(1);
    world.run_for(ms(6_000));
    world.power_off(0);
    world.run_for(ms(6_000));
    world.start(0);
    world.run_for(ms(6_000));
    compare_with_golden("users_pair_v2_pass", &traced(world));
}

/// lb02 alone becomes master; lb01 (higher, preempt on) joins and takes over.
#[test]
fn golden_preemption() {
    let mut world = pair(Protocol::V3Ms100, false, (150, true), (100, true));
    world.start(1);
    world.run_for(ms(1_000));
    world.start(0);
    world.run_for(ms(1_000));
    compare_with_golden("preemption", &traced(world));
}

/// The same, with preempt off on lb01: lb02 keeps the address.
#[test]
fn golden_nopreempt() {
    let mut world = pair(Protocol::V3Ms100, false, (150, false), (100, true));
    world.start(1);
    world.run_for(ms(1_000));
    world.start(0);
    world.run_for(ms(1_000));
    compare_with_golden("nopreempt", &traced(world));
}

/// Two instances in a sync group: lb01's eth1 goes down, both move to lb02, and back.
#[test]
fn golden_sync_group() {
    let mut world = pair(Protocol::V3Ms100, true, (150, true), (100, true));
    world.start(0);
    world.start(1);
    world.run_for(ms(1_000));
    world.set_link(0, 2, false);
    world.run_for(ms(1_000));
    world.set_link(0, 2, true);
    world.run_for(ms(1_000));
    compare_with_golden("sync_group", &traced(world));
}

/// A reload that restarts lb01's instance while it is master: it hands over to lb02
/// (make-before-break), restarts, and preempts back.
#[test]
fn golden_reload_hand_over() {
    let mut world = pair(Protocol::V3Ms100, false, (150, true), (100, true));
    world.start(0);
    world.start(1);
    world.run_for(ms(1_000));
    let mut config = world.hosts[0].config.clone();
    config.instances[0].garp_master_refresh_s = 30;
    world.reload(0, Some(config));
    world.run_for(ms(1_500));
    compare_with_golden("reload_hand_over", &traced(world));
}

/// `vrrpd demote` on lb01 hands over to lb02; lb01 restarts and stays demoted (the set is
/// persisted); `vrrpd promote` and lb01 preempts back.
#[test]
fn golden_demote_across_restart() {
    let mut world = pair(Protocol::V3Ms100, false, (150, true), (100, true));
    world.start(0);
    world.start(1);
    world.run_for(ms(1_000));
    world.control(0, Command::Demote { instance: None });
    world.run_for(ms(1_000));
    world.stop(0);
    world.run_for(ms(500));
    world.start(0);
    world.run_for(ms(1_000));
    world.control(0, Command::Promote { instance: None });
    world.run_for(ms(1_000));
    compare_with_golden("demote_across_restart", &traced(world));
}

/// Someone else removes the VIP from the master (a network manager reconfiguring eth0, an
/// `ip addr flush`): vrrpd puts it back at once and announces it, without a state change;
/// someone else adding it to the backup has it removed again.
#[test]
fn addresses_changed_by_someone_else_are_put_right() {
    let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 40));
    let mut world = pair(Protocol::V2Pass1s, false, (150, true), (100, true));
    world.start(0);
    world.start(1);
    world.run_for(ms(6_000));
    assert_eq!(world.holders(vip), BTreeSet::from([0]));
    let before = traced_len(&world);
    world.flush_addresses(0);
    assert!(world.holders(vip).is_empty());
    world.run_for(ms(1));
    assert_eq!(
        world.holders(vip),
        BTreeSet::from([0]),
        "put back within the step"
    );
    let lines = &world.trace.as_ref().expect("traced")[before..];
    let words = serde_json::to_string(lines).expect("trace serializes");
    assert!(
        words.contains("was removed from eth0 while MASTER"),
        "{words}"
    );
    assert!(words.contains(r#""garp":"192.0.2.40""#), "{words}");
    assert!(!words.contains("Entering"), "no state change: {words}");

    world.add_foreign_address(1, 1, vip);
    assert_eq!(world.holders(vip), BTreeSet::from([0, 1]));
    world.run_for(ms(1));
    assert_eq!(
        world.holders(vip),
        BTreeSet::from([0]),
        "removed from the backup"
    );
}

/// The master's interface deleted and created again (issue 11): the backup takes over
/// after Master_Down_Interval (nothing can be sent on a deleted link), and the master,
/// which kept running, locates the new interface and preempts back. The same with the
/// interface missing when vrrpd starts.
#[test]
fn an_interface_deleted_and_created_again_is_used_again() {
    let vip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 40));
    let mut world = pair(Protocol::V2Pass1s, false, (150, true), (100, true));
    world.start(0);
    world.start(1);
    world.run_for(ms(6_000));
    assert_eq!(world.holders(vip), BTreeSet::from([0]));
    world.delete_link(0, 1);
    assert!(world.holders(vip).is_empty(), "the kernel took the VIP");
    world.run_for(ms(4_000));
    assert_eq!(
        world.holders(vip),
        BTreeSet::from([1]),
        "the backup took over"
    );
    assert_eq!(
        world.hosts[0]
            .node
            .as_ref()
            .map(|node| node.instance_states()[0].state),
        Some(State::Fault)
    );
    world.recreate_link(0, 1);
    world.run_for(ms(4_000));
    assert_eq!(world.holders(vip), BTreeSet::from([0]), "preempted back");

    // Missing at start.
    world.kill(0);
    world.delete_link(0, 1);
    world.start(0);
    assert!(world.running(0), "started without its interface");
    world.run_for(ms(2_000));
    assert_eq!(
        world.hosts[0]
            .node
            .as_ref()
            .map(|node| node.instance_states()[0].state),
        Some(State::Fault)
    );
    world.recreate_link(0, 1);
    world.run_for(ms(4_000));
    assert_eq!(world.holders(vip), BTreeSet::from([0]));
}

fn traced_len(world: &World) -> usize {
    world.trace.as_ref().map_or(0, Vec::len)
}

/// A sync group held by one member's link, whose other member's tracker (weight 0) fails
/// meanwhile: once the link is up and the tracker healthy again, the group runs again.
/// Found by the soak: the tracker's recovery changed no state (the member stayed held),
/// so nothing re-checked the group, and both members stayed in FAULT for good.
#[test]
fn a_group_held_by_a_tracker_recovers_with_it() {
    let spec = HostSpec {
        name: "lb01".to_owned(),
        octet: 41,
        priority: 150,
        preempt: true,
        tracked: true,
        virtual_mac: false,
    };
    let config = scenario::host_config(Protocol::V3Ms100, true, &spec, &[]);
    let mut world = World::new(1, vec![("lb01", 41, config)]);
    world.start(0);
    world.report_tracker(0, 0, true);
    world.run_for(ms(1_000));
    let states = |world: &World| -> Vec<vrrpd::core::State> {
        let node = world.hosts[0].node.as_ref().expect("running");
        node.instance_states()
            .into_iter()
            .map(|view| view.state)
            .collect()
    };
    use vrrpd::core::State::{Fault, Master};
    assert_eq!(states(&world), vec![Master, Master]);
    world.set_link(0, 1, false);
    world.run_for(ms(100));
    for _ in 0..5 {
        world.report_tracker(0, 0, false);
    }
    world.run_for(ms(100));
    assert_eq!(states(&world), vec![Fault, Fault]);
    world.set_link(0, 1, true);
    world.run_for(ms(100));
    assert_eq!(
        states(&world),
        vec![Fault, Fault],
        "VI_2's tracker still holds"
    );
    for _ in 0..5 {
        world.report_tracker(0, 0, true);
    }
    world.run_for(ms(1_000));
    assert_eq!(states(&world), vec![Master, Master]);
}

/// Virtual routes and rules follow the VIP through an election, a SIGKILL of the master
/// (its routes stay behind with the process gone, as the kernel keeps them; the next start
/// removes them before anything else), its return (it preempts and takes them back) and a
/// graceful stop (handed over with the addresses).
#[test]
fn virtual_routes_and_rules_are_held_by_the_master_only() {
    let mut world = pair(Protocol::V3Ms100, false, (150, true), (100, true));
    for host in &mut world.hosts {
        let instance = &mut host.config.instances[0];
        instance.virtual_routes = serde_json::from_value(serde_json::json!([
            { "destination": "203.0.113.0/24", "gateway": "192.0.2.1", "table": 100 },
            { "destination": "198.51.100.128/25", "type": "blackhole" }
        ]))
        .expect("routes");
        instance.virtual_rules = serde_json::from_value(serde_json::json!([
            { "priority": 1000, "from": "192.0.2.40", "table": 100 }
        ]))
        .expect("rules");
    }
    let held = |world: &World, host: usize| {
        (
            world.hosts[host].routes.len(),
            world.hosts[host].rules.len(),
        )
    };
    let vip: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 40));
    world.start(0);
    world.start(1);
    world.run_for(ms(2_000));
    assert_eq!(world.holders(vip), BTreeSet::from([0]));
    assert_eq!((held(&world, 0), held(&world, 1)), ((2, 1), (0, 0)));
    // SIGKILL: lb02 takes over; lb01's routes stay behind with its addresses.
    world.kill(0);
    world.run_for(ms(2_000));
    assert_eq!((held(&world, 0), held(&world, 1)), ((2, 1), (2, 1)));
    // lb01 starts again: its leftovers go at once (before it could be master again).
    world.start(0);
    assert_eq!(held(&world, 0), (0, 0), "leftovers removed at start");
    world.run_for(ms(2_000));
    assert_eq!(world.holders(vip), BTreeSet::from([0]), "preempted back");
    assert_eq!((held(&world, 0), held(&world, 1)), ((2, 1), (0, 0)));
    // A graceful stop hands the routes over with the addresses.
    world.stop(0);
    world.run_for(ms(2_000));
    assert!(!world.running(0));
    assert_eq!((held(&world, 0), held(&world, 1)), ((0, 0), (2, 1)));
}
