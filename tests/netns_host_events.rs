//! What the host does to vrrpd's interface while it runs (root, network namespaces):
//! an interface missing at start, renamed, given a new MAC, and kernel notifications lost
//! to a netlink overrun (ENOBUFS). The deletion and re-creation of the master's
//! interface is in `netns_failover.rs`, where keepalived runs the same test.
//! docs/configuration.md ("When the interface changes") says what each does.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use nix::sys::signal::Signal;
use vrrpd::lab::{Host, LabProcess, wait_until};

/// Scheduling and polling slack on a busy 2-core machine.
const MARGIN: Duration = Duration::from_millis(1000);
const POLL: Duration = Duration::from_millis(5);
const VARIANT: Variant = Variant::v3("hev", Duration::from_millis(100));

fn start(host: &Host, priority: u8) -> LabProcess {
    let config = VARIANT.config(
        priority,
        serde_json::json!({ "instance": { "garp_repeat_delay_s": 0 } }),
    );
    host.start_vrrpd(&vrrpd_binary(), &config)
        .expect("starting vrrpd in the lab")
}

/// Waits (bounded) until `process`'s log has a line containing `text`.
fn wait_for_log(process: &LabProcess, text: &str, timeout: Duration) -> bool {
    wait_until(timeout, Duration::from_millis(10), || {
        process.log().contains(text)
    })
    .is_some()
}

/// The pair elected: lb01 master, lb02 backup (having heard lb01).
fn elected(net: &PairLab) -> (LabProcess, LabProcess) {
    let lb01 = start(&net.lb01, HIGH_PRIORITY);
    let lb02 = start(&net.lb02, LOW_PRIORITY);
    let limit = Duration::from_secs(2) + VARIANT.master_down_interval(LOW_PRIORITY) + MARGIN;
    let elected = wait_until(limit, POLL, || {
        net.lb01.has_address(vip()) && !net.lb02.has_address(vip())
    });
    assert!(
        elected.is_some(),
        "no election within {}:\n{}\n{}",
        secs(limit),
        lb01.log(),
        lb02.log()
    );
    std::thread::sleep(VARIANT.advert * 3);
    (lb01, lb02)
}

/// The interface does not exist when vrrpd starts (a VLAN or bond created later in boot,
/// a NIC plugged in later): vrrpd starts, keeps the instance in FAULT and does not exit,
/// and once the interface appears it serves the VIP.
#[test]
fn an_interface_missing_at_start_is_waited_for_in_fault() {
    let net = PairLab::new("hev-missing");
    net.lb01.delete_interface().expect("delete lb01's eth0");
    let mut lb01 = start(&net.lb01, HIGH_PRIORITY);
    assert!(
        wait_for_log(&lb01, "FAULT until it can", Duration::from_secs(5)),
        "vrrpd did not say it waits for eth0:\n{}",
        lb01.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        lb01.is_running(),
        "vrrpd exited without its interface:\n{}",
        lb01.log()
    );
    let created = Instant::now();
    net.lb01.recreate_interface().expect("create lb01's eth0");
    // Located, then Backup, then Master after Master_Down_Interval: nobody else is there.
    let bound = VARIANT.master_down_interval(HIGH_PRIORITY) + MARGIN;
    let held = wait_until(bound, POLL, || net.lb01.has_address(vip()));
    assert!(
        held.is_some(),
        "lb01 did not take the VIP within {} of its eth0 appearing:\n{}",
        secs(bound),
        lb01.log()
    );
    eprintln!("master {} after eth0 appeared", secs(created.elapsed()));
    assert!(lb01.is_running());
}

/// A renamed interface: the config names the interface, so the instance leaves the
/// renamed link (removing the VIP from it, so that the backup alone holds it) and waits
/// in FAULT for an interface of its configured name, which may be the same one renamed
/// back.
#[test]
fn a_renamed_interface_is_left_until_one_of_the_configured_name_is_back() {
    let net = PairLab::new("hev-rename");
    let (mut lb01, mut lb02) = elected(&net);
    net.lb01
        .rename_interface("eth0", "lan0")
        .expect("rename lb01's eth0");
    let bound = VARIANT.master_down_interval(LOW_PRIORITY) + MARGIN;
    let moved = wait_until(bound, POLL, || {
        net.lb02.has_address(vip()) && !net.lb01.has_address(vip())
    });
    assert!(
        moved.is_some(),
        "after the rename lb02 should hold the VIP alone (lb01 {}, lb02 {}):\n{}",
        net.lb01.has_address(vip()),
        net.lb02.has_address(vip()),
        lb01.log()
    );
    assert!(wait_for_log(
        &lb01,
        "renamed to lan0",
        Duration::from_secs(2)
    ));
    net.lb01
        .rename_interface("lan0", "eth0")
        .expect("rename it back");
    let bound = VARIANT.master_down_interval(HIGH_PRIORITY) + MARGIN;
    let back = wait_until(bound, POLL, || {
        net.lb01.has_address(vip()) && !net.lb02.has_address(vip())
    });
    assert!(
        back.is_some(),
        "lb01 did not preempt back after eth0 got its name back:\n{}",
        lb01.log()
    );
    assert!(lb01.is_running() && lb02.is_running());
}

/// A new MAC on the master's interface while it stays up (a bond's active slave
/// changed, an operator's `ip link set address`): the hosts' caches hold the old one for
/// the VIP, so the master announces it again at once (gratuitous ARP) and the client's
/// entry follows.
#[test]
fn a_new_mac_on_the_master_is_announced_to_the_client() {
    let net = PairLab::new("hev-mac");
    let (mut lb01, mut lb02) = elected(&net);
    // The client learns the VIP's MAC (it updates only an entry it already has).
    assert_client_reaches(&net.client, vip(), &net.lb01, Duration::from_secs(2));
    let new_mac = "02:00:00:00:40:01";
    net.lb01.set_mac(new_mac).expect("set lb01's MAC");
    let changed = Instant::now();
    // Well before any periodic refresh (60 s) or a second burst (off here).
    let followed = wait_until(Duration::from_millis(500), POLL, || {
        neighbour_is(&net.client, vip(), new_mac)
    });
    assert!(
        followed.is_some(),
        "the client's entry for the VIP is {:?}, not the new MAC {new_mac}:\n{}",
        net.client.neighbour_mac(vip()),
        lb01.log()
    );
    eprintln!(
        "client's entry on the new MAC {} after the change",
        secs(changed.elapsed())
    );
    assert!(net.lb01.has_address(vip()) && !net.lb02.has_address(vip()));
    assert!(lb01.is_running() && lb02.is_running());
}

/// Notifications lost to an overrun of vrrpd's netlink socket: vrrpd is stopped
/// (SIGSTOP, as a stalled loop would be) while thousands of address changes overflow its
/// socket, and the removal of the VIP comes after them, so its notification is lost.
/// On SIGCONT vrrpd sees the overrun (ENOBUFS), re-reads every link and address, and
/// puts the VIP back.
#[test]
fn a_netlink_overrun_is_followed_by_a_full_resync() {
    let net = PairLab::new("hev-nobufs");
    let mut lb01 = start(&net.lb01, HIGH_PRIORITY);
    let limit = Duration::from_secs(2) + VARIANT.master_down_interval(HIGH_PRIORITY) + MARGIN;
    assert!(
        wait_until(limit, POLL, || net.lb01.has_address(vip())).is_some(),
        "lb01 did not become master:\n{}",
        lb01.log()
    );
    lb01.signal(Signal::SIGSTOP).expect("SIGSTOP");
    let batch: String = (0..2000)
        .map(|n| {
            let verb = if n % 2 == 0 { "add" } else { "del" };
            format!("addr {verb} 198.51.100.{}/32 dev eth0\n", (n / 2) % 250 + 1)
        })
        .collect::<String>()
        + &format!("addr del {VIP}/32 dev eth0\n");
    let mut child = Command::new("ip")
        .args(["-n", net.lb01.netns(), "-force", "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run ip -batch");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(batch.as_bytes())
        .expect("write the batch");
    let status = child.wait().expect("ip -batch");
    assert!(status.success(), "ip -batch: {status}");
    assert!(!net.lb01.has_address(vip()), "the VIP was not removed");
    let resumed = Instant::now();
    lb01.signal(Signal::SIGCONT).expect("SIGCONT");
    let back = wait_until(MARGIN, POLL, || net.lb01.has_address(vip()));
    assert!(
        back.is_some(),
        "the VIP did not come back after the overrun:\n{}",
        lb01.log()
    );
    eprintln!("VIP back {} after SIGCONT", secs(resumed.elapsed()));
    assert!(
        wait_for_log(&lb01, "notifications overflowed", Duration::from_secs(2)),
        "no overrun was reported, so this test did not test the resync:\n{}",
        lb01.log()
    );
    assert!(lb01.is_running());
}

/// `excluded_addresses` are held with the VIP and move with it, but are not in the
/// adverts (a capture on the client reads every advert's address list), and a foreign
/// removal of one is repaired like a VIP's.
#[test]
fn excluded_addresses_move_with_the_vip_but_stay_out_of_the_adverts() {
    let _timing = timing_guard(false);
    let net = PairLab::new("hexcl");
    let excluded: std::net::IpAddr = "198.51.100.7".parse().unwrap();
    let start_with_excluded = |host: &Host, priority: u8| {
        let config = VARIANT.config(
            priority,
            serde_json::json!({ "instance": { "excluded_addresses": ["198.51.100.7/24"] } }),
        );
        host.start_vrrpd(&vrrpd_binary(), &config)
            .expect("starting vrrpd in the lab")
    };
    let capture_file = net.client.lab_dir().join("client-vrrp.pcap");
    let path = capture_file.to_string_lossy().into_owned();
    let mut capture = net
        .client
        .spawn(
            "tshark",
            &["-n", "-i", "eth0", "-f", "ip proto 112", "-w", &path],
        )
        .expect("starting tshark");
    assert!(
        wait_until(Duration::from_secs(15), Duration::from_millis(20), || {
            capture.log().contains("Capturing on")
        })
        .is_some(),
        "tshark did not start: {}",
        capture.log()
    );
    let mut lb01 = start_with_excluded(&net.lb01, HIGH_PRIORITY);
    let lb02 = start_with_excluded(&net.lb02, LOW_PRIORITY);
    let limit = Duration::from_secs(2) + VARIANT.master_down_interval(LOW_PRIORITY) + MARGIN;
    let both_on = |host: &Host| host.has_address(vip()) && host.has_address(excluded);
    let neither_on = |host: &Host| !host.has_address(vip()) && !host.has_address(excluded);
    assert!(
        wait_until(limit, POLL, || both_on(&net.lb01) && neither_on(&net.lb02)).is_some(),
        "lb01 must hold the VIP and the excluded address, lb02 neither:\n{}\n{}",
        lb01.log(),
        lb02.log()
    );
    // Someone removes the excluded address from the master: it is put back.
    net.lb01
        .run("ip", &["addr", "del", "198.51.100.7/24", "dev", "eth0"])
        .unwrap();
    assert!(
        wait_until(VARIANT.advert + MARGIN, POLL, || net
            .lb01
            .has_address(excluded))
        .is_some(),
        "the excluded address was not put back:\n{}",
        lb01.log()
    );
    // The master stops: both addresses move to lb02.
    lb01.terminate(Duration::from_secs(10)).unwrap();
    assert!(
        wait_until(limit, POLL, || both_on(&net.lb02) && neither_on(&net.lb01)).is_some(),
        "lb02 must hold both after lb01 stopped:\n{}",
        lb02.log()
    );
    std::thread::sleep(VARIANT.advert * 3);
    capture.signal(Signal::SIGINT).expect("stopping tshark");
    let _ = capture.wait_timeout(Duration::from_secs(10));
    let output = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(&capture_file)
        .args([
            "-T",
            "fields",
            "-e",
            "ip.src",
            "-e",
            "vrrp.addr_count",
            "-e",
            "vrrp.ip_addr",
        ])
        .output()
        .expect("tshark -r");
    let text = String::from_utf8_lossy(&output.stdout);
    let adverts: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    // Adverts from both nodes (lb01 as master, lb02 after the takeover), each listing
    // the VIP alone.
    for sender in ["192.0.2.41", "192.0.2.42"] {
        assert!(
            adverts.iter().any(|line| line.starts_with(sender)),
            "no advert from {sender}: {text}"
        );
    }
    for line in &adverts {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            fields[1..],
            ["1", VIP],
            "an advert lists more than the VIP: {line}"
        );
    }
}
