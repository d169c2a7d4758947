//! Shared pieces of the network-namespace tests (root only).
#![allow(dead_code)] // each test binary uses a different subset

use std::net::IpAddr;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use vrrpd::lab::{Host, Lab};

pub const VIP: &str = "192.0.2.40";
pub const LB01_ADDRESS: &str = "192.0.2.41/24";
pub const LB02_ADDRESS: &str = "192.0.2.42/24";
pub const CLIENT_ADDRESS: &str = "192.0.2.10/24";
pub const HIGH_PRIORITY: u8 = 150;
pub const LOW_PRIORITY: u8 = 100;

pub fn vip() -> IpAddr {
    VIP.parse().unwrap()
}

/// These tests need root and say so: CI runs as root, so a silent skip would
/// hide a broken setup.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test builds network namespaces and must run as root (CI does); \
         run `sudo -E cargo test --test <name>`"
    );
}

/// Timing-sensitive tests (10 ms adverts) take this exclusively; others
/// share it. Tests of one binary run on parallel threads, and a 36 ms
/// Master_Down_Interval does not survive a neighbour test forking dozens of
/// `ip` processes on a 2-core machine.
static TIMING: RwLock<()> = RwLock::new(());

pub enum TimingGuard {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

pub fn timing_guard(exclusive: bool) -> TimingGuard {
    if exclusive {
        TimingGuard::Exclusive(TIMING.write().unwrap_or_else(|p| p.into_inner()))
    } else {
        TimingGuard::Shared(TIMING.read().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A lab with lb01, lb02 and a client on one segment.
pub struct PairLab {
    pub lab: Lab,
    pub lb01: Host,
    pub lb02: Host,
    pub client: Host,
}

impl PairLab {
    pub fn new(tag: &str) -> PairLab {
        require_root();
        let mut lab = Lab::new(tag).expect("creating the lab (root, iproute2)");
        let lb01 = lab.add_host("lb01", &[LB01_ADDRESS]).expect("adding lb01");
        let lb02 = lab.add_host("lb02", &[LB02_ADDRESS]).expect("adding lb02");
        let client = lab
            .add_host("client", &[CLIENT_ADDRESS])
            .expect("adding client");
        PairLab {
            lab,
            lb01,
            lb02,
            client,
        }
    }
}

/// Polls both hosts every `every` for `duration`; returns (samples, moments
/// both held `ip`, moments neither held it). Each sample reads both hosts
/// back to back (a few hundred microseconds apart).
pub fn sample_holders(
    a: &Host,
    b: &Host,
    ip: IpAddr,
    duration: Duration,
    every: Duration,
) -> (u32, u32, u32) {
    let end = Instant::now() + duration;
    let (mut samples, mut both, mut neither) = (0, 0, 0);
    while Instant::now() < end {
        let in_a = a.has_address(ip);
        let in_b = b.has_address(ip);
        samples += 1;
        if in_a && in_b {
            both += 1;
        }
        if !in_a && !in_b {
            neither += 1;
        }
        std::thread::sleep(every);
    }
    (samples, both, neither)
}

/// Seconds with millisecond precision, for messages.
pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// keepalived's equivalent of a vrrpd instance (VI_1, VRID 50, VIP 192.0.2.40
/// on eth0). PASS authentication exists only in VRRPv2.
pub fn keepalived_config(
    router_id: &str,
    priority: u8,
    version: u8,
    advert: Duration,
    pass_auth: bool,
    preempt: bool,
) -> String {
    let authentication = if pass_auth {
        "    authentication {\n        auth_type PASS\n        auth_pass password\n    }\n"
    } else {
        ""
    };
    let nopreempt = if preempt { "" } else { "    nopreempt\n" };
    let advert_int = advert.as_secs_f64();
    format!(
        "global_defs {{\n    router_id {router_id}\n    vrrp_garp_master_refresh 60\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    version {version}\n\
         \x20   virtual_router_id 50\n    priority {priority}\n    advert_int {advert_int}\n\
         {authentication}{nopreempt}    virtual_ipaddress {{\n        {VIP}\n    }}\n}}\n"
    )
}
