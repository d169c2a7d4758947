//! Sync groups (config `sync_groups`): a public and an internal virtual address, each on
//! its own network, move between the routers together. Each router has two links (the
//! lab's `eth0` segment and a second `eth1` segment); cutting the master's internal cable
//! must move *both* addresses to the backup, and plugging it back must bring both back.
//! The backup is vrrpd, or keepalived with the equivalent `vrrp_sync_group`. Needs root.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::*;
use vrrpd::lab::{Host, LabProcess, Prober, wait_until};

const VRRPD: &str = env!("CARGO_BIN_EXE_vrrpd");
const INTERNAL_VIP: &str = "198.51.100.40";
const POLL: Duration = Duration::from_millis(5);
/// The advert interval of both configs: keepalived's `advert_int 1`, vrrpd's default.
const SYNC_ADVERT: Duration = Duration::from_secs(1);

fn internal_vip() -> IpAddr {
    INTERNAL_VIP.parse().unwrap()
}

fn vrrpd_config(priority: u8) -> String {
    let instance = |name: &str, interface: &str, vrid: u8, vip: &str| {
        serde_json::json!({
            "name": name,
            "interface": interface,
            "virtual_router_id": vrid,
            "version": 2,
            "priority": priority,
            "authentication": { "type": "pass", "password": "password" },
            "virtual_addresses": [vip]
        })
    };
    serde_json::json!({
        "instances": [
            instance("VI_public", "eth0", 50, VIP),
            instance("VI_internal", "eth1", 51, INTERNAL_VIP)
        ],
        "sync_groups": [{ "name": "G_lb", "instances": ["VI_public", "VI_internal"] }]
    })
    .to_string()
}

fn keepalived_config(priority: u8) -> String {
    let instance = |name: &str, interface: &str, vrid: u8, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n    state BACKUP\n    interface {interface}\n    version 2\n\
             \x20   virtual_router_id {vrid}\n    priority {priority}\n    advert_int 1\n\
             \x20   authentication {{\n        auth_type PASS\n        auth_pass password\n    }}\n\
             \x20   virtual_ipaddress {{\n        {vip}\n    }}\n}}\n"
        )
    };
    format!(
        "global_defs {{\n    router_id lb02\n}}\n\
         vrrp_sync_group G_lb {{\n    group {{\n        VI_public\n        VI_internal\n    }}\n}}\n{}{}",
        instance("VI_public", "eth0", 50, VIP),
        instance("VI_internal", "eth1", 51, INTERNAL_VIP)
    )
}

/// The pair lab plus an internal segment: lb01/lb02 on `eth1` and an internal client.
struct TwoNetworks {
    pair: PairLab,
    inner: Host,
}

fn two_networks(tag: &str) -> TwoNetworks {
    let mut pair = PairLab::new(tag);
    pair.lab
        .add_link(&pair.lb01.clone(), "eth1", &["198.51.100.41/24"])
        .expect("lb01 eth1");
    pair.lab
        .add_link(&pair.lb02.clone(), "eth1", &["198.51.100.42/24"])
        .expect("lb02 eth1");
    let inner = pair.lab.add_host("inner", &[]).expect("adding inner");
    // The internal client sits on the eth1 segment only: its eth0 stays unplugged.
    inner.link_down().expect("unplugging inner's eth0");
    pair.lab
        .add_link(&inner, "eth1", &["198.51.100.10/24"])
        .expect("inner eth1");
    TwoNetworks { pair, inner }
}

fn holds_both(host: &Host) -> bool {
    host.has_address(vip()) && host.has_address(internal_vip())
}

fn holds_none(host: &Host) -> bool {
    !host.has_address(vip()) && !host.has_address(internal_vip())
}

fn assert_reaches(from: &Host, target: IpAddr, holder: &Host) {
    let probe = Prober::start(
        from,
        target,
        Duration::from_millis(10),
        Duration::from_secs(10),
    )
    .unwrap();
    let answered = probe.wait_for_replies(20, Duration::from_secs(5));
    let report = probe.finish().unwrap();
    assert!(
        answered,
        "{} cannot reach {target} on {}: {report}",
        from.name(),
        holder.name()
    );
}

fn start_lb02(net: &TwoNetworks, keepalived: bool) -> LabProcess {
    if keepalived {
        net.pair
            .lb02
            .start_keepalived(&keepalived_config(LOW_PRIORITY))
            .unwrap()
    } else {
        net.pair
            .lb02
            .start_vrrpd(&vrrpd_binary(), &vrrpd_config(LOW_PRIORITY))
            .unwrap()
    }
}

fn cutting_the_internal_link_moves_the_whole_group(tag: &str, lb02_keepalived: bool) {
    let _timing = timing_guard(false);
    let net = two_networks(tag);
    let (lb01, lb02) = (&net.pair.lb01, &net.pair.lb02);
    let mut vrrpd = lb01
        .start_vrrpd(&vrrpd_binary(), &vrrpd_config(HIGH_PRIORITY))
        .unwrap();
    let mut backup = start_lb02(&net, lb02_keepalived);

    let elected = wait_until(Duration::from_secs(10), POLL, || {
        holds_both(lb01) && holds_none(lb02)
    });
    assert!(
        elected.is_some(),
        "lb01 never held both addresses alone\n{}",
        net.pair.lab.log_tails(30)
    );
    assert_reaches(&net.pair.client, vip(), lb01);
    assert_reaches(&net.inner, internal_vip(), lb01);

    // Cut lb01's internal cable. VI_internal goes to FAULT; without the group VI_public
    // would stay master on lb01 (its own link is fine), splitting the traffic.
    let cut = Instant::now();
    net.pair.lab.set_link(lb01, "eth1", false).unwrap();
    // lb01 resigns VI_public with a priority-0 advert. A vrrpd backup takes VI_public
    // after Skew_Time (0.61 s) and its own group makes VI_internal follow at once. A
    // keepalived backup waits until every member of its group may become master
    // (`vrrp_sync_can_goto_master`), i.e. until VI_internal's Master_Down_Interval
    // (3.61 s) runs out, since lb01 no longer advertises it.
    // Counted from before the cut. The extra second absorbs the `ip link` command in the
    // other namespace, the group's follow-up move and the 2 ms polls; for vrrpd it stays
    // below 2.6 s, the earliest a backup ignoring the priority-0 advert could move
    // (asserted), so the vrrpd bound still tells Skew_Time from Master_Down_Interval.
    let absorber = Duration::from_secs(1);
    let bound = if lb02_keepalived {
        master_down_interval(SYNC_ADVERT, LOW_PRIORITY) + absorber
    } else {
        let bound = skew_time(SYNC_ADVERT, LOW_PRIORITY) + absorber;
        assert!(bound < earliest_takeover_ignoring_priority_zero(SYNC_ADVERT, LOW_PRIORITY));
        bound
    };
    wait_until(Duration::from_secs(8), POLL, || {
        holds_both(lb02) && holds_none(lb01)
    })
    .unwrap_or_else(|| {
        panic!(
            "lb02 did not end up with both addresses\n{}",
            net.pair.lab.log_tails(40)
        )
    });
    // From the cut itself, not from the end of the `ip` command.
    let moved = cut.elapsed();
    assert!(
        moved < bound,
        "both addresses took {} to move (bound {})",
        secs(moved),
        secs(bound)
    );
    assert!(
        vrrpd.log().contains(
            "(VI_public) sync group G_lb: VI_internal went from MASTER to FAULT; holding VI_public out of MASTER"
        ),
        "lb01's log does not say why VI_public left\n{}",
        vrrpd.log()
    );
    assert_reaches(&net.pair.client, vip(), lb02);
    assert_reaches(&net.inner, internal_vip(), lb02);
    // Held: VI_public stays out of MASTER although its link is up and it hears lb02's
    // lower priority (it would preempt otherwise).
    std::thread::sleep(Duration::from_secs(2));
    assert!(holds_none(lb01), "lb01 took an address back while held");

    // Plug it back: the group is released, both instances start as backups and preempt
    // lb02 (priority 150 over 100) after their Master_Down_Interval.
    net.pair.lab.set_link(lb01, "eth1", true).unwrap();
    let back = wait_until(Duration::from_secs(10), POLL, || {
        holds_both(lb01) && holds_none(lb02)
    });
    assert!(
        back.is_some(),
        "lb01 did not take both addresses back\n{}",
        net.pair.lab.log_tails(40)
    );
    assert!(vrrpd.log().contains("releasing VI_public"));
    assert_reaches(&net.pair.client, vip(), lb01);
    assert_reaches(&net.inner, internal_vip(), lb01);

    assert!(vrrpd.is_running() && backup.is_running());
    vrrpd.terminate(Duration::from_secs(5)).unwrap();
    backup.terminate(Duration::from_secs(5)).unwrap();
}

#[test]
fn cutting_the_internal_link_moves_both_addresses_vrrpd_pair() {
    cutting_the_internal_link_moves_the_whole_group("syncv", false);
}

#[test]
fn cutting_the_internal_link_moves_both_addresses_to_keepalived() {
    cutting_the_internal_link_moves_the_whole_group("synck", true);
}

/// A reload (SIGHUP) that adds the group applies it at once: with the internal link
/// already down, the public instance is held out of MASTER; a reload that removes the
/// group again releases it.
#[test]
fn reload_adds_and_removes_a_group() {
    let _timing = timing_guard(false);
    let net = two_networks("syncrl");
    let lb01 = &net.pair.lb01;
    let grouped = vrrpd_config(HIGH_PRIORITY);
    let mut ungrouped: serde_json::Value = serde_json::from_str(&grouped).unwrap();
    ungrouped.as_object_mut().unwrap().remove("sync_groups");
    let config = lb01.lab_dir().join("reload.json");
    std::fs::write(&config, ungrouped.to_string()).unwrap();
    let mut vrrpd = lb01
        .spawn_with_env(
            VRRPD,
            &["run", "--config", &config.to_string_lossy()],
            &[("RUST_LOG", "debug")],
        )
        .unwrap();
    // Alone on both segments: master of both after Master_Down_Interval.
    assert!(
        wait_until(Duration::from_secs(10), POLL, || holds_both(lb01)).is_some(),
        "lb01 did not become master of both\n{}",
        vrrpd.log()
    );
    // Without a group, losing the internal link leaves the public address where it is.
    net.pair.lab.set_link(lb01, "eth1", false).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), POLL, || !lb01
            .has_address(internal_vip()))
        .is_some()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(lb01.has_address(vip()), "no group yet, VI_public must stay");

    // Reload with the group: VI_internal is at fault, so VI_public is held.
    std::fs::write(&config, &grouped).unwrap();
    vrrpd.signal(nix::sys::signal::Signal::SIGHUP).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), POLL, || !lb01.has_address(vip())).is_some(),
        "the reloaded group did not hold VI_public\n{}",
        vrrpd.log()
    );
    assert!(
        vrrpd
            .log()
            .contains("sync group G_lb: reload; holding VI_public")
    );

    // Reload without it: VI_public is released and, alone, becomes master again.
    std::fs::write(&config, ungrouped.to_string()).unwrap();
    vrrpd.signal(nix::sys::signal::Signal::SIGHUP).unwrap();
    assert!(
        wait_until(Duration::from_secs(8), POLL, || lb01.has_address(vip())).is_some(),
        "VI_public was not released by the reload\n{}",
        vrrpd.log()
    );
    assert!(
        vrrpd
            .log()
            .contains("(VI_public) no longer in a sync group: released")
    );
    assert!(vrrpd.is_running());
    vrrpd.terminate(Duration::from_secs(5)).unwrap();
}
