//! The seed corpora, `fuzz/corpus/<target>/seed-*`, made from the project's own material:
//! keepalived's captured adverts (`tests/data/keepalived-2.2.7.pcap`), the example configs
//! (`examples/`), the keepalived.conf files written for the importer's tests
//! (`tests/keepalived-confs/`) and for these seeds (`fuzz/seeds/keepalived/`), control
//! lines and simulator tapes.
//!
//! `tests/fuzz_corpora.rs` checks that the committed seeds are these (`VRRPD_BLESS=1`
//! writes them), and replays every corpus file through its target's checks.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use vrrpd::core::packet::{self, Authentication, MULTICAST_V4, Version};

use super::advert_decoder::{Lookup, Peers, Setup};
use super::sim::Rng;

/// The capture's reader, shared with `tests/keepalived_capture.rs`.
#[path = "../../tests/pcap/mod.rs"]
mod pcap;

/// One seed: its target, its file name (`seed-…`) and its bytes.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Every seed, from the repository at `root`.
pub fn all(root: &Path) -> Vec<Seed> {
    let mut seeds = Vec::new();
    seeds.extend(adverts());
    seeds.extend(configs(root));
    seeds.extend(keepalived_confs(root));
    seeds.extend(control_lines());
    seeds.extend(node_tapes());
    seeds
}

fn seed(target: &'static str, name: impl Into<String>, bytes: Vec<u8>) -> Seed {
    Seed {
        target,
        name: format!("seed-{}", name.into()),
        bytes,
    }
}

fn case(setup: &Setup, packet: &[u8]) -> Vec<u8> {
    let mut bytes = setup.to_bytes().to_vec();
    bytes.extend_from_slice(packet);
    bytes
}

/// Each kind of advert in the capture behind a setup that accepts it, and the same
/// packet again behind setups that each break one rule.
fn adverts() -> Vec<Seed> {
    let frames = pcap::frames(pcap::CAPTURE);
    let mut seeds = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for advert in pcap::vrrp_adverts(&frames) {
        let Ok(decoded) = packet::decode(advert.message, advert.source, advert.destination) else {
            continue;
        };
        let packet: Vec<u8> = if advert.source.is_ipv4() {
            [advert.ip_header, advert.message].concat()
        } else {
            advert.message.to_vec()
        };
        let family = if advert.source.is_ipv4() { "v4" } else { "v6" };
        let version = match decoded.version {
            Version::V2 => "v2",
            Version::V3 => "v3",
        };
        let stem = format!("keepalived-{version}-{family}-prio{}", decoded.priority);
        // The first advert of each kind (the others differ only in their source).
        if seen.contains(&stem) {
            continue;
        }
        seen.push(stem.clone());
        let accepting = Setup::accepting(&decoded, advert.source);
        seeds.push(seed("advert_decoder", &stem, case(&accepting, &packet)));
        let variants = [
            (
                "unknown-vrid",
                Setup {
                    lookup: Lookup::Nothing,
                    ..accepting.clone()
                },
            ),
            (
                "any-vrid-not-a-peer",
                Setup {
                    lookup: Lookup::Any,
                    peers: Peers::AStranger,
                    ..accepting.clone()
                },
            ),
            (
                "unicast-peer",
                Setup {
                    peers: Peers::Both,
                    ..accepting.clone()
                },
            ),
            (
                "other-family",
                Setup {
                    other_family: true,
                    ..accepting.clone()
                },
            ),
            (
                "other-version",
                Setup {
                    version: match decoded.version {
                        Version::V2 => Version::V3,
                        Version::V3 => Version::V2,
                    },
                    ..accepting.clone()
                },
            ),
            (
                "wrong-password",
                Setup {
                    authentication: Authentication::simple_password(b"passw0rd"),
                    ..accepting.clone()
                },
            ),
            (
                "other-interval",
                Setup {
                    advert_interval_cs: 300,
                    ..accepting.clone()
                },
            ),
            (
                "hop-limit-254",
                Setup {
                    hop_limit: Some(254),
                    ..accepting.clone()
                },
            ),
        ];
        for (what, setup) in variants {
            seeds.push(seed(
                "advert_decoder",
                format!("{stem}-{what}"),
                case(&setup, &packet),
            ));
        }
    }
    // The RFC 9568 form of the v3 IPv4 checksum (message only), which keepalived does not
    // send but FRR may.
    let v3 = packet::Advertisement {
        version: Version::V3,
        virtual_router_id: 50,
        priority: 150,
        interval_cs: 100,
        addresses: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, 40))],
        authentication: Authentication::None,
    };
    let source = Ipv4Addr::new(192, 0, 2, 42);
    let message = packet::encode(
        &v3,
        IpAddr::V4(source),
        IpAddr::V4(MULTICAST_V4),
        vrrpd::core::ChecksumMode::MessageOnly,
    );
    let datagram = super::sim::ipv4_datagram(source, MULTICAST_V4, 255, &message);
    seeds.push(seed(
        "advert_decoder",
        "v3-v4-message-only-checksum",
        case(&Setup::accepting(&v3, IpAddr::V4(source)), &datagram),
    ));
    seeds
}

/// The example configs, and each keepalived.conf of the tests as the importer renders it.
fn configs(root: &Path) -> Vec<Seed> {
    let mut seeds = Vec::new();
    for path in sorted_files(&root.join("examples"), "json") {
        let name = stem(&path);
        seeds.push(seed(
            "config_loader",
            format!("example-{name}"),
            read(&path),
        ));
    }
    for path in sorted_files(&root.join("tests/keepalived-confs"), "conf") {
        if let Ok(output) = vrrpd::import_keepalived::run(&path, true) {
            let name = stem(&path);
            seeds.push(seed(
                "config_loader",
                format!("imported-{name}"),
                output.json.into_bytes(),
            ));
        }
    }
    seeds
}

/// The importer tests' keepalived.conf files, and ours (`*.multi`: several files, see
/// `keepalived_import`).
fn keepalived_confs(root: &Path) -> Vec<Seed> {
    let mut seeds = Vec::new();
    for directory in ["tests/keepalived-confs", "fuzz/seeds/keepalived"] {
        for path in sorted_files(&root.join(directory), "conf") {
            seeds.push(seed("keepalived_import", stem(&path), read(&path)));
        }
    }
    for path in sorted_files(&root.join("fuzz/seeds/keepalived"), "multi") {
        seeds.push(seed("keepalived_import", stem(&path), read(&path)));
    }
    seeds
}

/// What `vrrpd status`, `demote` and `promote` send, and what a confused client might.
fn control_lines() -> Vec<Seed> {
    let lines: [(&str, &str); 12] = [
        ("status", "{\"command\":\"status\"}\n"),
        ("demote-all", "{\"command\":\"demote\"}\n"),
        (
            "demote-one",
            "{\"command\":\"demote\",\"instance\":\"VI_3\"}\n",
        ),
        (
            "demote-group-member",
            "{\"command\":\"demote\",\"instance\":\"VI_1\"}\n",
        ),
        ("promote-all", "{\"command\":\"promote\"}\n"),
        (
            "promote-one",
            "{\"command\":\"promote\",\"instance\":\"VI_2\"}\n",
        ),
        (
            "demote-unknown",
            "{\"command\":\"demote\",\"instance\":\"VI_9\"}\n",
        ),
        ("unknown-command", "{\"command\":\"reboot\"}\n"),
        ("not-json", "status please\n"),
        (
            "crlf-session",
            "{\"command\":\"status\"}\r\n{\"command\":\"demote\"}\r\n{\"command\":\"promote\"}\r\n",
        ),
        ("extra-field", "{\"command\":\"status\",\"verbose\":true}\n"),
        (
            "answer",
            "{\"ok\":false,\"error\":\"no instance named \\\"VI_9\\\" (instances: VI_1, VI_2, VI_3)\"}\n",
        ),
    ];
    lines
        .into_iter()
        .map(|(name, line)| seed("control_protocol", name, line.as_bytes().to_vec()))
        .collect()
}

/// One tape per scenario kind (the first byte rolls the kind, 0..10), its choices from
/// the simulator's own generator.
fn node_tapes() -> Vec<Seed> {
    (0u8..10)
        .map(|roll| {
            let mut rng = Rng::new(u64::from(roll));
            let mut tape = vec![roll];
            tape.extend((0..255).map(|_| rng.below(256) as u8));
            seed("node", format!("kind-roll-{roll}"), tape)
        })
        .collect()
}

fn sorted_files(directory: &Path, extension: &str) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(directory)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|e| e == extension) && path.is_file())
        .collect();
    files.sort();
    files
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}
