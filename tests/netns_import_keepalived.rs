//! Differential test against keepalived itself (root: network namespaces; keepalived must be
//! installed — `.ci/run` installs it). Fails, never skips, when either is missing.

use std::path::{Path, PathBuf};
use vrrpd::config::{CheckConfig, VrrpVersion};
use vrrpd::import_keepalived::run;

fn conf(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keepalived-confs")
        .join(name)
}

// ---------------------------------------------------------------------------------------
// Differential test: what keepalived itself parsed from each fixture (`keepalived -d`
// dumps its parsed configuration at startup) against what the importer produced.

/// A network namespace with a veth pair eth0/eth1 (192.0.2.41/24 on eth0), deleted on drop.
struct Namespace(String);

impl Namespace {
    fn new(tag: &str) -> Namespace {
        let name = format!("vrrpd-imp-{}-{tag}", std::process::id());
        let ns = Namespace(name.clone());
        let ip = |args: &[&str]| {
            let status = std::process::Command::new("ip")
                .args(args)
                .status()
                .unwrap();
            assert!(status.success(), "ip {args:?}");
        };
        ip(&["netns", "add", &name]);
        ip(&[
            "-n", &name, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
        ]);
        ip(&["-n", &name, "link", "set", "eth0", "up"]);
        ip(&["-n", &name, "link", "set", "eth1", "up"]);
        ip(&["-n", &name, "addr", "add", "192.0.2.41/24", "dev", "eth0"]);
        ns
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "delete", &self.0])
            .status();
    }
}

/// keepalived's view of one instance, from its dump.
#[derive(Debug, Default, PartialEq)]
struct Dumped {
    version: u8,
    interface: String,
    virtual_router_id: u8,
    priority: u8,
    advert_interval_ms: u32,
    preempt: bool,
    preempt_delay_s: u32,
    password: Option<String>,
    addresses: Vec<(std::net::IpAddr, u8)>,
    garp_repeat_delay_s: u32,
    garp_burst_count: u32,
    garp_master_refresh_s: u32,
    source_address: Option<std::net::IpAddr>,
    unicast_peers: Vec<std::net::IpAddr>,
    sync_group: Option<String>,
    /// ("interface" | "script" | "file", name, weight), in keepalived's dump order.
    tracked: Vec<(String, String, i32)>,
    /// ("Backup" | "Master" | "Fault" | "Stop" | "Generic", argv), in that order.
    notify: Vec<(String, Vec<String>)>,
}

/// A `vrrp_script` as keepalived's dump shows it: argv, interval, timeout (ms; keepalived
/// shows 0 for "the interval"), rise, fall.
type DumpedScript = (Vec<String>, u32, u32, u32, u32);

/// The instances, the global GARP interval (ms) and the vrrp_scripts of one dump.
type KeepalivedDump = (Vec<(String, Dumped)>, u32, Vec<(String, DumpedScript)>);

/// `'a' 'b c'` (keepalived's quoting of argv in its dump) → ["a", "b c"].
fn dumped_argv(text: &str) -> Vec<String> {
    text.split('\'')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, word)| word.to_owned())
        .collect()
}

/// keepalived resolves a program to its real path (e.g. /bin/true → /usr/bin/true).
fn resolved(mut argv: Vec<String>) -> Vec<String> {
    if let Some(program) = argv.first_mut()
        && let Ok(real) = std::fs::canonicalize(program.as_str())
    {
        *program = real.display().to_string();
    }
    argv
}

/// Runs keepalived on `conf` for eight seconds in a fresh namespace and parses its dump.
fn keepalived_dump(tag: &str, conf: &Path) -> KeepalivedDump {
    let ns = Namespace::new(tag);
    // Named after this process, like every other lab name: two test runs at once (two
    // worktrees sharing a target directory) must not share keepalived's pid files.
    let run_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("import_keepalived")
        .join(format!("ka-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&run_dir).unwrap();
    let pid = |name: &str| run_dir.join(name).display().to_string();
    let output = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "timeout",
            // Long enough for keepalived to finish printing its dump on a loaded machine.
            "8",
            "keepalived",
            "-n",
            "-l",
            "-d",
            "--vrrp",
            "-f",
        ])
        .arg(conf)
        .args([
            "-p",
            &pid("k.pid"),
            "-r",
            &pid("v.pid"),
            "-c",
            &pid("c.pid"),
        ])
        .output()
        .unwrap();
    drop(ns);
    let _ = std::fs::remove_dir_all(&run_dir);
    let log = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    // Lines look like "Thu Nov 26 15:29:30 2026:    Priority = 150".
    let lines: Vec<&str> = log
        .lines()
        .map(|l| l.split_once(": ").map_or(l, |(_, rest)| rest))
        .collect();
    let value = |line: &str, key: &str| line.trim().strip_prefix(key).map(|v| v.trim().to_owned());
    let mut garp_interval_ms = None;
    let mut instances: Vec<(String, Dumped)> = Vec::new();
    let mut in_addresses = false;
    let mut in_peers = false;
    let mut in_tracked: Option<&str> = None;
    let mut scripts: Vec<(String, DumpedScript)> = Vec::new();
    let mut in_script = false;
    let seconds_ms = |v: &str| -> u32 { v.trim_end_matches(" sec").parse::<u32>().unwrap() * 1000 };
    for line in &lines {
        if let Some(name) = value(line, "VRRP Script =") {
            scripts.push((name, DumpedScript::default()));
            in_script = true;
            continue;
        }
        if line.starts_with("------<") || value(line, "VRRP Instance =").is_some() {
            in_script = false;
        }
        if in_script && let Some((_, script)) = scripts.last_mut() {
            if let Some(v) = value(line, "Command =") {
                script.0 = dumped_argv(&v);
            } else if let Some(v) = value(line, "Interval =") {
                script.1 = seconds_ms(&v);
            } else if let Some(v) = value(line, "Timeout =") {
                script.2 = seconds_ms(&v);
            } else if let Some(v) = value(line, "Rise =") {
                script.3 = v.parse().unwrap();
            } else if let Some(v) = value(line, "Fall =") {
                script.4 = v.parse().unwrap();
            }
            continue;
        }
        if let Some(v) = value(line, "Gratuitous ARP interval =") {
            let seconds: f64 = v.parse().unwrap();
            garp_interval_ms.get_or_insert((seconds * 1000.0).round() as u32);
        }
        if let Some(name) = value(line, "VRRP Instance =") {
            instances.push((
                name,
                Dumped {
                    preempt: true,
                    ..Dumped::default()
                },
            ));
            in_addresses = false;
            in_peers = false;
            continue;
        }
        let Some((_, d)) = instances.last_mut() else {
            continue;
        };
        // "   Tracked scripts :" then one "     NAME weight W" line per entry (files:
        // "     NAME, weight W").
        if let Some(kind) = in_tracked {
            if line.starts_with("     ") && !line.trim().is_empty() {
                let words: Vec<&str> = line.split_whitespace().collect();
                d.tracked.push((
                    kind.to_owned(),
                    words[0].trim_end_matches(',').to_owned(),
                    words[2].parse().unwrap(),
                ));
                continue;
            }
            in_tracked = None;
        }
        match line.trim() {
            "Tracked interfaces :" => in_tracked = Some("interface"),
            "Tracked scripts :" => in_tracked = Some("script"),
            "Tracked files :" => in_tracked = Some("file"),
            _ => {}
        }
        if let Some((which, rest)) = line.trim().split_once(" state transition script = ") {
            let argv = rest.rsplit_once(", uid:gid").map_or(rest, |(argv, _)| argv);
            d.notify.push((which.to_owned(), dumped_argv(argv)));
            continue;
        }
        // "   Unicast Peer :" then one "     ADDRESS min_ttl 0 max_ttl 255" line per peer.
        if in_peers {
            if line.starts_with("     ") && !line.trim().is_empty() {
                let text = line.split_whitespace().next().unwrap();
                d.unicast_peers.push(text.parse().unwrap());
                continue;
            }
            in_peers = false;
        }
        if in_addresses {
            if line.starts_with("     ") && !line.trim().is_empty() {
                let text = line.split_whitespace().next().unwrap();
                d.addresses
                    .push(vrrpd::config::VirtualAddress::new(text).parse().unwrap());
                continue;
            }
            in_addresses = false;
        }
        if let Some(v) = value(line, "VRRP Version =") {
            d.version = v.parse().unwrap();
        } else if let Some(v) = value(line, "Interface =") {
            d.interface = v;
        } else if let Some(v) = value(line, "Virtual Router ID =") {
            d.virtual_router_id = v.parse().unwrap();
        } else if let Some(v) = value(line, "Priority =") {
            d.priority = v.parse().unwrap();
        } else if let Some(v) = value(line, "Advert interval =") {
            d.advert_interval_ms = match v.split_once(' ') {
                Some((n, "sec")) => n.parse::<u32>().unwrap() * 1000,
                Some((n, "milli-sec")) => n.parse().unwrap(),
                _ => panic!("advert interval {v:?}"),
            };
        } else if let Some(v) = value(line, "Preempt =") {
            d.preempt = v == "enabled";
        } else if let Some(v) = value(line, "Preempt delay =") {
            d.preempt_delay_s = v.trim_end_matches(" secs").parse::<f64>().unwrap().ceil() as u32;
        } else if let Some(v) = value(line, "Password =") {
            d.password = Some(v);
        } else if value(line, "Virtual IP (").is_some() {
            in_addresses = true;
        } else if line.trim() == "Unicast Peer :" {
            in_peers = true;
        } else if let Some(v) = value(line, "Sync group =") {
            d.sync_group = Some(v);
        } else if let Some(v) = value(line, "Gratuitous ARP delay =") {
            d.garp_repeat_delay_s = v.parse().unwrap();
        } else if let Some(v) = value(line, "Gratuitous ARP repeat =") {
            d.garp_burst_count = v.parse().unwrap();
        } else if let Some(v) = value(line, "Gratuitous ARP refresh =") {
            d.garp_master_refresh_s = v.parse().unwrap();
        } else if let Some(v) = value(line, "Using src_ip =")
            && let Some(address) = v.strip_suffix(" (from configuration)")
        {
            d.source_address = Some(address.parse().unwrap());
        }
    }
    assert!(
        !instances.is_empty(),
        "no instance in keepalived's dump of {}:\n{log}",
        conf.display()
    );
    (instances, garp_interval_ms.unwrap_or(0), scripts)
}

fn as_dumped(config: &vrrpd::config::Config, instance: &vrrpd::config::InstanceConfig) -> Dumped {
    Dumped {
        version: if instance.version == VrrpVersion::V2 {
            2
        } else {
            3
        },
        interface: instance.interface.clone(),
        virtual_router_id: instance.virtual_router_id,
        priority: instance.priority,
        advert_interval_ms: instance.advert_interval_ms,
        preempt: instance.preempt,
        preempt_delay_s: instance.preempt_delay_s,
        password: match &instance.authentication {
            vrrpd::config::AuthenticationConfig::Pass { password } => Some(password.clone()),
            _ => None,
        },
        addresses: instance
            .virtual_addresses
            .iter()
            .map(|a| a.parse().unwrap())
            .collect(),
        garp_repeat_delay_s: instance.garp_repeat_delay_s,
        garp_burst_count: instance.garp_burst_count,
        garp_master_refresh_s: instance.garp_master_refresh_s,
        // keepalived keeps mcast_src_ip and unicast_src_ip in one setting.
        source_address: instance.configured_source(),
        unicast_peers: instance.unicast_peers.clone(),
        sync_group: config
            .sync_groups
            .iter()
            .find(|group| group.instances.contains(&instance.name))
            .map(|group| group.name.clone()),
        tracked: {
            // keepalived's dump lists interfaces, then scripts, then files.
            let mut tracked: Vec<(String, String, i32)> = instance
                .track
                .iter()
                .map(|track| {
                    let tracker = config
                        .trackers
                        .iter()
                        .find(|t| t.name == track.tracker)
                        .unwrap();
                    let (kind, name) = match &tracker.check {
                        CheckConfig::Interface { interface } => ("interface", interface.clone()),
                        CheckConfig::File { .. } => {
                            ("file", tracker.name.trim_start_matches("file-").to_owned())
                        }
                        _ => ("script", tracker.name.clone()),
                    };
                    (kind.to_owned(), name, track.weight)
                })
                .collect();
            let rank = |kind: &str| {
                ["interface", "script", "file"]
                    .iter()
                    .position(|k| *k == kind)
            };
            tracked.sort_by_key(|(kind, _, _)| rank(kind));
            tracked
        },
        notify: instance
            .notify
            .iter()
            .flat_map(|notify| {
                // keepalived's dump order.
                [
                    ("Backup", &notify.backup),
                    ("Master", &notify.master),
                    ("Fault", &notify.fault),
                    ("Stop", &notify.stop),
                    ("Generic", &notify.generic),
                ]
                .into_iter()
                .filter_map(|(which, argv)| {
                    argv.as_ref()
                        .map(|argv| (which.to_owned(), resolved(argv.clone())))
                })
            })
            .collect(),
    }
}

/// The imported exec trackers as keepalived's dump shows its vrrp_scripts.
fn as_dumped_scripts(config: &vrrpd::config::Config) -> Vec<(String, DumpedScript)> {
    config
        .trackers
        .iter()
        .filter_map(|tracker| match &tracker.check {
            CheckConfig::Exec { command, .. } => Some((
                tracker.name.clone(),
                (
                    resolved(command.clone()),
                    tracker.interval_ms,
                    tracker.timeout_ms,
                    tracker.rise,
                    tracker.fall,
                ),
            )),
            _ => None,
        })
        .collect()
}

#[test]
fn fixtures_import_as_keepalived_itself_parses_them() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (ip netns); run it as root, as CI does"
    );
    assert!(
        std::process::Command::new("keepalived")
            .arg("--version")
            .output()
            .is_ok(),
        "keepalived is not installed (apt-get install keepalived; .ci/run does)"
    );
    // The user's files use 192.168.0.40: run keepalived on copies with a documentation address.
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("import_keepalived")
        .join("oracle");
    std::fs::create_dir_all(&scratch).unwrap();
    let mut cases = Vec::new();
    for name in ["lb01.conf", "lb02.conf", "lb01-oneline-auth.conf"] {
        let text = std::fs::read_to_string(conf(name))
            .unwrap()
            .replace("192.168.0.40", "192.0.2.40");
        let copy = scratch.join(name);
        std::fs::write(&copy, text).unwrap();
        cases.push(copy);
    }
    cases.extend(
        [
            "styles.conf",
            "quirks.conf",
            "include/main.conf",
            "garp-and-source.conf",
            "unicast-sync.conf",
            "tracking-oracle.conf",
            "tracking-fixups.conf",
        ]
        .map(conf),
    );
    // keepalived needs a few seconds per file to print its dump; run the files side by side.
    let dumps: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(index, path)| scope.spawn(move || keepalived_dump(&index.to_string(), path)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("keepalived dump thread"))
            .collect()
    });
    for (path, (dumped, garp_interval_ms, mut scripts)) in cases.iter().zip(dumps) {
        let out = run(path, false).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let imported: Vec<(String, Dumped)> = out
            .config
            .instances
            .iter()
            .map(|i| (i.name.clone(), as_dumped(&out.config, i)))
            .collect();
        assert_eq!(imported, dumped, "{}", path.display());
        // keepalived shows "Timeout = 0 sec" for a script without `timeout`: the interval.
        for (_, script) in &mut scripts {
            if script.2 == 0 {
                script.2 = script.1;
            }
        }
        scripts.sort();
        let mut imported_scripts = as_dumped_scripts(&out.config);
        imported_scripts.sort();
        assert_eq!(imported_scripts, scripts, "{}", path.display());
        for instance in &out.config.instances {
            assert_eq!(
                instance.garp_burst_interval_ms,
                garp_interval_ms,
                "{}",
                path.display()
            );
        }
    }
}
