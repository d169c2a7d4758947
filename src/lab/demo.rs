//! `vrrpd demo`: the user's two-load-balancer setup, run for real in a lab on
//! this machine, with a failover measured from a client's point of view.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use super::{Host, Lab, LabError, LabProcess, Prober, require_iproute2, require_root, wait_until};

const VIP: &str = "192.0.2.40";
/// The user's keepalived setup: VRRPv2, 1 s.
const ADVERT_INTERVAL: Duration = Duration::from_secs(1);
/// The NixOS module's default once every node runs vrrpd: VRRPv3, 100 ms.
const FAST_ADVERT_INTERVAL: Duration = Duration::from_millis(100);
const MASTER_PRIORITY: u8 = 150;
const BACKUP_PRIORITY: u8 = 100;
const PROBE_INTERVAL: Duration = Duration::from_millis(10);

/// The same pair once both nodes run vrrpd: VRRPv3 at 100 ms (VRRPv3 has no
/// authentication), everything else unchanged.
fn fast_instance_config(priority: u8) -> String {
    let config = serde_json::json!({
        "instances": [{
            "name": "VI_1",
            "interface": "eth0",
            "virtual_router_id": 50,
            "version": 3,
            "priority": priority,
            "advert_interval_ms": FAST_ADVERT_INTERVAL.as_millis() as u64,
            "virtual_addresses": [VIP],
            "preempt": true,
            "garp_master_refresh_s": 60
        }]
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

/// The user's keepalived instance, as vrrpd JSON (VRRPv2, PASS "password",
/// VRID 50, advert 1 s, periodic GARP every 60 s), with lab addresses.
fn instance_config(priority: u8) -> String {
    let config = serde_json::json!({
        "instances": [{
            "name": "VI_1",
            "interface": "eth0",
            "virtual_router_id": 50,
            "version": 2,
            "priority": priority,
            "advert_interval_ms": ADVERT_INTERVAL.as_millis() as u64,
            "authentication": { "type": "pass", "password": "password" },
            "virtual_addresses": [VIP],
            "preempt": true,
            "garp_master_refresh_s": 60
        }]
    });
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

/// RFC 3768 §6.1: Skew_Time = (256 − Priority) / 256 s;
/// Master_Down_Interval = 3 × Advertisement_Interval + Skew_Time.
fn master_down_interval(priority: u8) -> Duration {
    master_down_interval_at(priority, ADVERT_INTERVAL)
}

fn skew_time(priority: u8) -> Duration {
    skew_time_at(priority, ADVERT_INTERVAL)
}

/// RFC 5798 §6.1 (VRRPv3): Skew_Time = ((256 − Priority) × Master_Adver_Interval) / 256;
/// at 1 s it is RFC 3768's.
fn master_down_interval_at(priority: u8, interval: Duration) -> Duration {
    interval * 3 + skew_time_at(priority, interval)
}

fn skew_time_at(priority: u8, interval: Duration) -> Duration {
    interval * (256 - u32::from(priority)) / 256
}

/// One power cut, seen from lb02 and from the client.
struct Outage {
    takeover: Duration,
    longest_gap: Option<Duration>,
    lost: u64,
    sent: u64,
}

/// Cuts lb01's power while the client pings the VIP, and measures how long
/// lb02 takes to hold it and how long the client waits for a reply.
#[allow(clippy::too_many_arguments)] // the lab's three hosts, two daemons, the VIP and the timer
fn power_cut(
    lab: &Lab,
    lb01: &Host,
    daemon01: &mut LabProcess,
    lb02: &Host,
    daemon02: &mut LabProcess,
    client: &Host,
    vip: IpAddr,
    interval: Duration,
) -> Result<Outage, DemoError> {
    let probe = Prober::start(client, vip, PROBE_INTERVAL, Duration::from_secs(60))?;
    std::thread::sleep(Duration::from_secs(1));
    let power_cut = Instant::now();
    lb01.power_off()?;
    let _ = daemon01.try_wait();
    wait_for(
        lab,
        &mut [(lb02, daemon02)],
        "lb02 taking over the VIP",
        master_down_interval_at(BACKUP_PRIORITY, interval) + Duration::from_secs(5),
        || lb02.has_address(vip),
    )?;
    let takeover = power_cut.elapsed();
    // Let the client's traffic settle on lb02 before reading the probe.
    let _ = wait_until(Duration::from_secs(3), Duration::from_millis(20), || {
        client
            .neighbour_mac(vip)
            .ok()
            .flatten()
            .is_some_and(|mac| lb02.mac().is_ok_and(|m| m == mac))
    });
    std::thread::sleep(Duration::from_millis(500));
    let report = probe.finish()?;
    Ok(Outage {
        takeover,
        longest_gap: report.longest_gap(),
        lost: report.lost(),
        sent: report.sent,
    })
}

fn step(text: &str) {
    println!("\n▸ {text}");
    let _ = std::io::stdout().flush();
}

fn detail(text: &str) {
    println!("    {text}");
    let _ = std::io::stdout().flush();
}

#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error("{0}")]
    Lab(#[from] LabError),
    #[error("{what} did not happen within {waited:?}.\n{logs}")]
    Stuck {
        what: String,
        waited: Duration,
        logs: String,
    },
    #[error("vrrpd on {host} exited early ({status}); its log:\n{log}")]
    DaemonExited {
        host: String,
        status: String,
        log: String,
    },
}

/// Waits until `done()` holds, failing early if a daemon exits.
fn wait_for(
    lab: &Lab,
    daemons: &mut [(&Host, &mut LabProcess)],
    what: &str,
    timeout: Duration,
    mut done: impl FnMut() -> bool,
) -> Result<Duration, DemoError> {
    let start = Instant::now();
    loop {
        if done() {
            return Ok(start.elapsed());
        }
        for (host, daemon) in daemons.iter_mut() {
            if let Ok(Some(status)) = daemon.try_wait() {
                return Err(DemoError::DaemonExited {
                    host: host.name().into(),
                    status: status.to_string(),
                    log: tail(&daemon.log(), 30),
                });
            }
        }
        if start.elapsed() >= timeout {
            return Err(DemoError::Stuck {
                what: what.into(),
                waited: timeout,
                logs: lab.log_tails(20),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn seconds(duration: Duration) -> String {
    format!("{:.2} s", duration.as_secs_f64())
}

/// Runs the demo with this executable as the daemon (`vrrpd demo`). Needs
/// root and iproute2; cleans up on success, failure and Ctrl-C.
pub fn run_demo() -> Result<(), Box<dyn std::error::Error>> {
    require_root()?;
    require_iproute2()?;
    run_demo_with(&std::env::current_exe()?)
}

/// The demo with another daemon binary that speaks `run --config FILE`.
pub fn run_demo_with(vrrpd: &Path) -> Result<(), Box<dyn std::error::Error>> {
    require_root()?;
    require_iproute2()?;
    let vip: IpAddr = VIP.parse()?;

    println!(
        "vrrpd demo — two load balancers share a virtual IP, in network namespaces on this machine."
    );
    println!();
    println!("    lb01    192.0.2.41  priority {MASTER_PRIORITY}  ──┐");
    println!("    lb02    192.0.2.42  priority {BACKUP_PRIORITY}  ──┼── bridge    VIP {VIP}");
    println!("    client  192.0.2.10                ──┘");
    println!();
    println!("    VRRPv2, VRID 50, PASS authentication, advert every 1 s, GARP refresh every 60 s");
    println!("    (your keepalived setup, with documentation addresses instead of 192.168.0.x).");

    let mut lab = Lab::new("demo")?;
    let result = demo_steps(&mut lab, vrrpd, vip);
    println!("\n▸ Cleaning up: stopping the daemons and deleting the namespaces.");
    drop(lab);
    match &result {
        Ok(()) => println!("    Done. Nothing was left behind."),
        Err(_) => println!("    Cleaned up after the failure above."),
    }
    result.map_err(Into::into)
}

fn demo_steps(lab: &mut Lab, vrrpd: &Path, vip: IpAddr) -> Result<(), DemoError> {
    let lb01 = lab.add_host("lb01", &["192.0.2.41/24"])?;
    let lb02 = lab.add_host("lb02", &["192.0.2.42/24"])?;
    let client = lab.add_host("client", &["192.0.2.10/24"])?;
    detail(&format!(
        "Daemon logs and configs: {} (removed at the end; set VRRPD_LAB_KEEP=1 to keep them).",
        lab.dir().display()
    ));

    step("Starting vrrpd on lb01 and lb02.");
    let mut daemon01 = lb01.start_vrrpd(vrrpd, &instance_config(MASTER_PRIORITY))?;
    let mut daemon02 = lb02.start_vrrpd(vrrpd, &instance_config(BACKUP_PRIORITY))?;
    let election_timeout = master_down_interval(BACKUP_PRIORITY) + Duration::from_secs(5);
    let elected = wait_for(
        lab,
        &mut [(&lb01, &mut daemon01), (&lb02, &mut daemon02)],
        "the election (lb01 holding the VIP, lb02 not)",
        election_timeout,
        || lb01.has_address(vip) && !lb02.has_address(vip),
    )?;
    detail(&format!(
        "lb01 holds {VIP} after {} (both start as backup and wait Master_Down_Interval; the higher priority's timer runs out first).",
        seconds(elected)
    ));
    detail("lb02 is backup: it does not hold the VIP.");

    step(
        "The client pings the VIP every 10 ms; now lb01 loses power (SIGKILL for vrrpd, cable cut).",
    );
    let slow = power_cut(
        lab,
        &lb01,
        &mut daemon01,
        &lb02,
        &mut daemon02,
        &client,
        vip,
        ADVERT_INTERVAL,
    )?;
    let takeover = slow.takeover;
    detail(&format!(
        "lb02 took over the VIP {} after the power cut.",
        seconds(takeover)
    ));
    match slow.longest_gap {
        Some(gap) => detail(&format!(
            "The client's longest wait for a reply: {} ({} of {} pings lost).",
            seconds(gap),
            slow.lost,
            slow.sent
        )),
        None => detail(&format!(
            "The client got {} replies out of {} pings.",
            slow.sent - slow.lost,
            slow.sent
        )),
    }
    let bound = master_down_interval(BACKUP_PRIORITY);
    detail(&format!(
        "Expected: lb02 declares lb01 dead Master_Down_Interval = 3 × 1 s + (256−{BACKUP_PRIORITY})/256 s = {:.3} s",
        bound.as_secs_f64()
    ));
    detail(&format!(
        "after the last advert it heard; adverts come every second, so {:.1}–{:.1} s after the failure.",
        (bound - ADVERT_INTERVAL).as_secs_f64(),
        bound.as_secs_f64()
    ));

    step("lb01 powers back on and vrrpd starts again.");
    lb01.power_on()?;
    let restart = Instant::now();
    let probe = Prober::start(&client, vip, PROBE_INTERVAL, Duration::from_secs(60))?;
    let mut daemon01 = lb01.start_vrrpd(vrrpd, &instance_config(MASTER_PRIORITY))?;
    wait_for(
        lab,
        &mut [(&lb01, &mut daemon01), (&lb02, &mut daemon02)],
        "lb01 preempting lb02",
        master_down_interval(MASTER_PRIORITY) + Duration::from_secs(5),
        || lb01.has_address(vip) && !lb02.has_address(vip),
    )?;
    let preempted = restart.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let report = probe.finish()?;
    detail(&format!(
        "lb01 has the higher priority and preempts: it holds the VIP again {} after starting, and lb02 released it.",
        seconds(preempted)
    ));
    if let Some(gap) = report.longest_gap() {
        detail(&format!(
            "The client's longest wait for a reply during the handover: {} ({} of {} pings lost).",
            seconds(gap),
            report.lost(),
            report.sent
        ));
    }

    step(
        "Graceful stop: SIGTERM to vrrpd on lb01 (it sends a priority-0 advert and keeps the VIP until lb02 has taken over: make-before-break).",
    );
    let probe = Prober::start(&client, vip, PROBE_INTERVAL, Duration::from_secs(60))?;
    probe.wait_for_replies(20, Duration::from_secs(3));
    let stop = Instant::now();
    daemon01.signal(nix::sys::signal::Signal::SIGTERM)?;
    wait_for(
        lab,
        &mut [(&lb02, &mut daemon02)],
        "lb02 taking over after lb01's graceful stop",
        skew_time(BACKUP_PRIORITY) + Duration::from_secs(5),
        || lb02.has_address(vip),
    )?;
    let handover = stop.elapsed();
    let status = match daemon01.wait_timeout(Duration::from_secs(5))? {
        Some(status) => status.to_string(),
        None => {
            daemon01.kill9()?;
            "did not exit within 5 s; killed".to_string()
        }
    };
    detail(&format!(
        "lb02 holds the VIP {} after the signal (expected: Skew_Time = {:.3} s); vrrpd on lb01: {status}.",
        seconds(handover),
        skew_time(BACKUP_PRIORITY).as_secs_f64()
    ));
    if lb01.has_address(vip) {
        detail("lb01 still holds the VIP after stopping: it should have removed it!");
    } else {
        detail("lb01 removed the VIP before exiting, once it had heard lb02's first advert.");
    }
    probe.wait_for_replies(20, Duration::from_secs(3));
    let report = probe.finish()?;
    if let Some(gap) = report.longest_gap() {
        detail(&format!(
            "The client's longest wait for a reply during the stop: {} ({} of {} pings lost).",
            seconds(gap),
            report.lost(),
            report.sent
        ));
    }
    daemon02.signal(nix::sys::signal::Signal::SIGTERM)?;
    if daemon02.wait_timeout(Duration::from_secs(10))?.is_none() {
        daemon02.kill9()?;
    }

    step(
        "The same power cut once both nodes run vrrpd: VRRPv3 at 100 ms (the NixOS module's default; VRRPv3 has no password).",
    );
    let mut daemon01 = lb01.start_vrrpd(vrrpd, &fast_instance_config(MASTER_PRIORITY))?;
    let mut daemon02 = lb02.start_vrrpd(vrrpd, &fast_instance_config(BACKUP_PRIORITY))?;
    wait_for(
        lab,
        &mut [(&lb01, &mut daemon01), (&lb02, &mut daemon02)],
        "the VRRPv3 election (lb01 holding the VIP, lb02 not)",
        master_down_interval_at(BACKUP_PRIORITY, FAST_ADVERT_INTERVAL) + Duration::from_secs(5),
        || lb01.has_address(vip) && !lb02.has_address(vip),
    )?;
    let fast = power_cut(
        lab,
        &lb01,
        &mut daemon01,
        &lb02,
        &mut daemon02,
        &client,
        vip,
        FAST_ADVERT_INTERVAL,
    )?;
    detail(&format!(
        "lb02 took over the VIP {} after the power cut.",
        seconds(fast.takeover)
    ));

    step("Both power cuts side by side (the client pings every 10 ms):");
    let gap = |outage: &Outage| {
        outage
            .longest_gap
            .map_or_else(|| "none".to_string(), seconds)
    };
    detail(&format!(
        "{:<28} {:>9} {:>15} {:>12} {:>10}",
        "", "takeover", "client waited", "pings lost", "expected"
    ));
    for (label, outage, interval) in [
        ("VRRPv2, 1 s (keepalived)", &slow, ADVERT_INTERVAL),
        ("VRRPv3, 100 ms (vrrpd)", &fast, FAST_ADVERT_INTERVAL),
    ] {
        detail(&format!(
            "{label:<28} {:>9} {:>15} {:>12} {:>10}",
            seconds(outage.takeover),
            gap(outage),
            format!("{} of {}", outage.lost, outage.sent),
            format!(
                "≤ {:.2} s",
                master_down_interval_at(BACKUP_PRIORITY, interval).as_secs_f64()
            ),
        ));
    }
    detail(
        "Expected: Master_Down_Interval = 3 × interval + (256−100)/256 × interval after the last advert heard.",
    );
    detail(
        "Once every node runs vrrpd, switch both to VRRPv3 at 100 ms: docs/migrating-from-keepalived.md, last step.",
    );
    drop(daemon01);
    drop(daemon02);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_bounds_follow_rfc_3768_timers() {
        // (256 − 100) / 256 s = 0.609375 s
        assert_eq!(skew_time(100), Duration::from_micros(609_375));
        assert_eq!(master_down_interval(100), Duration::from_micros(3_609_375));
        assert_eq!(
            master_down_interval(150),
            Duration::from_nanos(3_414_062_500)
        );
        // RFC 5798 at 100 ms: 300 ms + 156/256 × 100 ms = 360.9375 ms.
        assert_eq!(
            master_down_interval_at(100, FAST_ADVERT_INTERVAL),
            Duration::from_micros(360_937) + Duration::from_nanos(500)
        );
    }

    #[test]
    fn demo_fast_config_is_the_same_pair_at_vrrpv3_100_ms() {
        let slow: serde_json::Value = serde_json::from_str(&instance_config(100)).unwrap();
        let fast: serde_json::Value = serde_json::from_str(&fast_instance_config(100)).unwrap();
        let (slow, fast) = (&slow["instances"][0], &fast["instances"][0]);
        assert_eq!(fast["version"], 3);
        assert_eq!(fast["advert_interval_ms"], 100);
        assert!(fast.get("authentication").is_none());
        for same in [
            "virtual_router_id",
            "priority",
            "virtual_addresses",
            "interface",
        ] {
            assert_eq!(fast[same], slow[same], "{same}");
        }
    }

    #[test]
    fn demo_config_is_the_users_two_node_setup() {
        let value: serde_json::Value = serde_json::from_str(&instance_config(150)).unwrap();
        let instance = &value["instances"][0];
        assert_eq!(instance["version"], 2);
        assert_eq!(instance["virtual_router_id"], 50);
        assert_eq!(instance["priority"], 150);
        assert_eq!(instance["authentication"]["password"], "password");
        assert_eq!(instance["virtual_addresses"][0], VIP);
        assert_eq!(instance["garp_master_refresh_s"], 60);
    }
}
