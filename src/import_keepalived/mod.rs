//! `vrrpd import-keepalived`: keepalived.conf → vrrpd JSON (see docs/migrating-from-keepalived.md).
//!
//! The importer reproduces what keepalived 2.2 *does* with a file, not what the file seems
//! to say: the two nodes of a pair are migrated one at a time, so the vrrpd node must put
//! on the wire exactly what its keepalived peer expects. Where keepalived silently
//! changes a value (an `auth_pass` cut to 8 bytes, a VRRPv2 `advert_int` rounded to whole
//! seconds, `nopreempt` cleared by `state MASTER`, a one-line `authentication` block whose
//! password keepalived never reads), the importer does the same and says so.
//!
//! Every keyword is either mapped to a vrrpd key, reported as having no effect on VRRP
//! (a [`Severity::Note`]), or reported as unsupported with its FILE:LINE
//! ([`Severity::Unsupported`]): nothing is dropped silently.

mod glob;
mod ordered;
mod routing;
mod syntax;
mod tracking;

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::config::{
    self, AuthenticationConfig, Config, InstanceConfig, SyncGroupConfig, V3Checksum,
    VirtualAddress, VrrpVersion,
};
use ordered::Ordered;
use syntax::{Loc, Statement, Word};

pub use syntax::{MAX_BLOCK_DEPTH, MAX_INCLUDE_DEPTH};

/// A successful import.
#[derive(Clone, Debug)]
pub struct ImportOutput {
    /// Pretty vrrpd JSON (ends with a newline), validated by [`config::load_str`].
    pub json: String,
    /// The same configuration as loaded back from `json`.
    pub config: Config,
    /// Notes, warnings and (with `allow_partial`) the unsupported keywords, in file order:
    /// print each on stderr with `{}`.
    pub warnings: Vec<Diagnostic>,
}

/// How much a diagnostic matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The keyword has no effect on VRRP (e.g. `router_id`), or is informational (`state`).
    Note,
    /// Imported, but keepalived's behaviour differs from what the file seems to say.
    Warning,
    /// vrrpd cannot do this (yet): the import fails unless `allow_partial`.
    Unsupported,
    /// The file is wrong (keepalived would reject or misread it): the import always fails.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Unsupported => "unsupported",
            Severity::Error => "error",
        })
    }
}

/// One finding about one keyword, at FILE:LINE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub keyword: String,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: `{}`: {}",
            self.file.display(),
            self.line,
            self.severity,
            self.keyword,
            self.message
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Unbalanced braces, an unterminated quote, an include cycle, ...
    #[error("syntax error at {location}: {message}")]
    Syntax { location: String, message: String },
    #[error(
        "{} error(s) in the keepalived configuration:\n{}",
        count(diagnostics, Severity::Error),
        render(diagnostics)
    )]
    Invalid { diagnostics: Vec<Diagnostic> },
    #[error(
        "{} keyword(s) are not supported by vrrpd \
         (--allow-partial prints the supported subset anyway):\n{}",
        count(diagnostics, Severity::Unsupported),
        render(diagnostics)
    )]
    Unsupported { diagnostics: Vec<Diagnostic> },
    #[error("{}: no vrrp_instance found: nothing to import", path.display())]
    NoInstances { path: PathBuf },
    /// The converted configuration fails vrrpd's own validation (a bug in the importer,
    /// or a value keepalived accepts and vrrpd does not).
    #[error("the imported configuration does not pass vrrpd's validation: {0}")]
    Validation(#[from] config::ConfigError),
    #[error("cannot serialize the imported configuration: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl ImportError {
    /// The findings behind an `Invalid` or `Unsupported` error (empty otherwise).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ImportError::Invalid { diagnostics } | ImportError::Unsupported { diagnostics } => {
                diagnostics
            }
            _ => &[],
        }
    }
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

fn count(diagnostics: &[Diagnostic], severity: Severity) -> usize {
    diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .count()
}

impl From<syntax::SyntaxError> for ImportError {
    fn from(e: syntax::SyntaxError) -> Self {
        match e {
            syntax::SyntaxError::Read { path, source } => ImportError::Read { path, source },
            syntax::SyntaxError::At { loc, message } => ImportError::Syntax {
                location: loc.to_string(),
                message,
            },
        }
    }
}

/// Converts the keepalived configuration at `path` (and the files it includes).
///
/// Fails on syntax errors and invalid values, and — unless `allow_partial` — when any
/// keyword is unsupported. With `allow_partial`, the unsupported keywords are left out,
/// reported in [`ImportOutput::warnings`], and the rest is converted.
pub fn run(path: &Path, allow_partial: bool) -> Result<ImportOutput, ImportError> {
    let mut lex_notes = Vec::new();
    let tokens = syntax::read_tokens(path, &mut lex_notes)?;
    let tree = syntax::parse(&tokens)?;

    let mut importer = Importer::default();
    for note in lex_notes {
        importer.push(&note.loc, &note.keyword, Severity::Warning, note.message);
    }
    let (instances, sync_groups) = importer.convert(&tree);
    let trackers = std::mem::take(&mut importer.defs.trackers);
    let mut diagnostics = importer.diagnostics;
    diagnostics.sort_by_key(|(seq, _)| *seq);
    let diagnostics: Vec<Diagnostic> = diagnostics.into_iter().map(|(_, d)| d).collect();
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        return Err(ImportError::Invalid { diagnostics });
    }
    if instances.is_empty() {
        return Err(ImportError::NoInstances {
            path: path.to_path_buf(),
        });
    }
    if !allow_partial
        && diagnostics
            .iter()
            .any(|d| d.severity == Severity::Unsupported)
    {
        return Err(ImportError::Unsupported { diagnostics });
    }
    let json = render_json(instances, trackers, sync_groups)?;
    let config = config::load_str(&json, &format!("{} (imported)", path.display()))?;
    Ok(ImportOutput {
        json,
        config,
        warnings: diagnostics,
    })
}

/// Keys always emitted: the required ones; `version`, because keepalived's default (2)
/// differs from vrrpd's (3); and `advert_interval_ms`, because both peers must agree on it
/// (VRRPv2 drops adverts with another interval) and an operator should see it spelled out.
const ALWAYS_EMITTED: [&str; 7] = [
    "name",
    "interface",
    "virtual_router_id",
    "version",
    "priority",
    "advert_interval_ms",
    "virtual_addresses",
];

/// Serializes through the `Config` types, then drops the keys that equal vrrpd's defaults
/// (except those in [`ALWAYS_EMITTED`]), keeping the struct's key order.
fn render_json(
    instances: Vec<InstanceConfig>,
    trackers: Vec<config::TrackerConfig>,
    sync_groups: Vec<SyncGroupConfig>,
) -> Result<String, ImportError> {
    let config = Config {
        schema: Some(config::SCHEMA_ID.to_owned()),
        instances,
        trackers,
        sync_groups,
        ..Config::default()
    };
    let defaults = instance_defaults();
    let mut document: Ordered = serde_json::from_str(&serde_json::to_string(&config)?)?;
    if let Ordered::Object(top) = &mut document {
        for (key, value) in top.iter_mut() {
            if key != "instances" {
                continue;
            }
            let Ordered::Array(instances) = value else {
                continue;
            };
            for instance in instances.iter_mut() {
                let Ordered::Object(fields) = instance else {
                    continue;
                };
                fields.retain(|(key, value)| {
                    ALWAYS_EMITTED.contains(&key.as_str())
                        || defaults.as_ref().and_then(|d| d.get(key)) != Some(&value.to_value())
                });
            }
        }
    }
    let mut json = serde_json::to_string_pretty(&document)?;
    json.push('\n');
    Ok(json)
}

/// vrrpd's default for each optional instance key, taken from the serde defaults of
/// `InstanceConfig` itself (so it follows the config module). `None` if the minimal
/// instance no longer deserializes, in which case nothing is omitted.
fn instance_defaults() -> Option<serde_json::Map<String, serde_json::Value>> {
    let minimal = serde_json::json!({
        "name": "x", "interface": "x", "virtual_router_id": 1, "priority": 1, "virtual_addresses": []
    });
    let instance: InstanceConfig = serde_json::from_value(minimal).ok()?;
    match serde_json::to_value(instance).ok()? {
        serde_json::Value::Object(map) => Some(map),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Keyword tables. keepalived.conf(5) of keepalived 2.2.7 is the reference for the names.

/// global_defs keywords that do not change what vrrpd would put on the wire or when.
const GLOBAL_NO_EFFECT: &[(&str, &str)] = &[
    (
        "vrrp_check_unicast_src",
        "vrrpd always accepts unicast adverts only from the instance's unicast_peers",
    ),
    (
        "router_id",
        "identifies the host in keepalived's emails and logs",
    ),
    ("notification_email", "email alerts are not part of vrrpd"),
    (
        "notification_email_from",
        "email alerts are not part of vrrpd",
    ),
    ("smtp_server", "email alerts are not part of vrrpd"),
    ("smtp_connect_timeout", "email alerts are not part of vrrpd"),
    ("smtp_helo_name", "email alerts are not part of vrrpd"),
    ("smtp_alert", "email alerts are not part of vrrpd"),
    ("smtp_alert_vrrp", "email alerts are not part of vrrpd"),
    ("smtp_alert_checker", "email alerts are not part of vrrpd"),
    ("no_email_faults", "email alerts are not part of vrrpd"),
    (
        "enable_script_security",
        "vrrpd does not check who owns a script's path; it runs checks and hooks as configured",
    ),
    (
        "startup_script",
        "vrrpd runs no scripts; use ExecStartPre= in its systemd unit",
    ),
    ("startup_script_timeout", "vrrpd runs no scripts"),
    (
        "shutdown_script",
        "vrrpd runs no scripts; use ExecStopPost= in its systemd unit",
    ),
    ("shutdown_script_timeout", "vrrpd runs no scripts"),
    (
        "checker_log_all_failures",
        "LVS health checkers are not part of vrrpd",
    ),
    ("lvs_flush", "LVS is not part of vrrpd"),
    ("lvs_flush_on_stop", "LVS is not part of vrrpd"),
    ("lvs_timeouts", "LVS is not part of vrrpd"),
    ("lvs_sync_daemon", "LVS is not part of vrrpd"),
    ("lvs_notify_fifo", "LVS is not part of vrrpd"),
    ("lvs_notify_fifo_script", "LVS is not part of vrrpd"),
    ("lvs_netlink_cmd_rcv_bufs", "LVS is not part of vrrpd"),
    ("lvs_netlink_cmd_rcv_bufs_force", "LVS is not part of vrrpd"),
    ("lvs_netlink_monitor_rcv_bufs", "LVS is not part of vrrpd"),
    (
        "lvs_netlink_monitor_rcv_bufs_force",
        "LVS is not part of vrrpd",
    ),
    ("net_namespace_ipvs", "LVS is not part of vrrpd"),
    ("nftables_ipvs", "LVS is not part of vrrpd"),
    ("nftables_ipvs_priority", "LVS is not part of vrrpd"),
    ("nftables_ipvs_start_fwmark", "LVS is not part of vrrpd"),
    ("rs_init_notifies", "LVS is not part of vrrpd"),
    ("no_checker_emails", "LVS is not part of vrrpd"),
    ("checker_process_name", "names keepalived's processes"),
    ("bfd_process_name", "names keepalived's processes"),
    ("vrrp_process_name", "names keepalived's processes"),
    ("process_names", "names keepalived's processes"),
    ("checker_priority", "tunes keepalived's checker process"),
    ("checker_no_swap", "tunes keepalived's checker process"),
    ("checker_rt_priority", "tunes keepalived's checker process"),
    (
        "checker_rlimit_rttime",
        "tunes keepalived's checker process",
    ),
    ("checker_cpu_affinity", "tunes keepalived's checker process"),
    ("bfd_priority", "tunes keepalived's BFD process"),
    ("bfd_no_swap", "tunes keepalived's BFD process"),
    ("bfd_rt_priority", "tunes keepalived's BFD process"),
    ("bfd_rlimit_rttime", "tunes keepalived's BFD process"),
    ("bfd_cpu_affinity", "tunes keepalived's BFD process"),
    (
        "vrrp_priority",
        "process scheduling: set Nice=/CPUSchedulingPolicy= in vrrpd's systemd unit instead",
    ),
    (
        "vrrp_no_swap",
        "process memory locking: keepalived-specific",
    ),
    (
        "vrrp_rt_priority",
        "process scheduling: set CPUSchedulingPolicy= in vrrpd's systemd unit instead",
    ),
    (
        "vrrp_rlimit_rttime",
        "process scheduling limit: keepalived-specific",
    ),
    (
        "vrrp_cpu_affinity",
        "process CPU affinity: set CPUAffinity= in vrrpd's systemd unit instead",
    ),
    (
        "max_auto_priority",
        "process scheduling: keepalived-specific",
    ),
    (
        "min_auto_priority_delay",
        "process scheduling: keepalived-specific",
    ),
    ("enable_snmp_vrrp", "SNMP is not part of vrrpd"),
    ("enable_snmp_checker", "SNMP is not part of vrrpd"),
    ("enable_snmp_rfc", "SNMP is not part of vrrpd"),
    ("enable_snmp_rfcv2", "SNMP is not part of vrrpd"),
    ("enable_snmp_rfcv3", "SNMP is not part of vrrpd"),
    ("enable_traps", "SNMP is not part of vrrpd"),
    ("snmp_socket", "SNMP is not part of vrrpd"),
    ("enable_dbus", "D-Bus is not part of vrrpd"),
    ("dbus_service_name", "D-Bus is not part of vrrpd"),
    ("umask", "file-creation mask of keepalived's process"),
    ("use_pid_dir", "keepalived's pid files"),
    ("instance", "names keepalived's pid files"),
    ("config_save_dir", "keepalived's reload handling"),
    ("tmp_config_directory", "keepalived's reload handling"),
    ("reload_check_config", "keepalived's reload handling"),
    ("reload_time_file", "keepalived's reload handling"),
    ("reload_repeat", "keepalived's reload handling"),
    ("reload_file", "keepalived's reload handling"),
    (
        "include_check",
        "keepalived's include checks; the importer reads every include it can",
    ),
    ("data_use_instance", "keepalived's dump file names"),
    ("child_wait_time", "keepalived's child processes"),
    ("random_seed", "keepalived's internal random numbers"),
    (
        "vrrp_netlink_cmd_rcv_bufs",
        "keepalived's netlink buffer sizes",
    ),
    (
        "vrrp_netlink_cmd_rcv_bufs_force",
        "keepalived's netlink buffer sizes",
    ),
    (
        "vrrp_netlink_monitor_rcv_bufs",
        "keepalived's netlink buffer sizes",
    ),
    (
        "vrrp_netlink_monitor_rcv_bufs_force",
        "keepalived's netlink buffer sizes",
    ),
    (
        "process_monitor_rcv_bufs",
        "keepalived's netlink buffer sizes",
    ),
    (
        "process_monitor_rcv_bufs_force",
        "keepalived's netlink buffer sizes",
    ),
    ("vrrp_rx_bufs_policy", "keepalived's receive buffer sizes"),
    (
        "vrrp_rx_bufs_multiplier",
        "keepalived's receive buffer sizes",
    ),
    ("log_unknown_vrids", "logging only"),
    ("linkbeat_use_polling", "how keepalived detects link state"),
    (
        "vmac_prefix",
        "only used with use_vmac, which is reported where it is used",
    ),
    (
        "vmac_addr_prefix",
        "only used with use_vmac, which is reported where it is used",
    ),
    (
        "namespace_with_ipsets",
        "only used with vrrp_ipsets, which is reported where it is used",
    ),
    (
        "default_interface",
        "only used by instances without `interface`, which vrrpd requires anyway",
    ),
];

/// global_defs keywords that change VRRP behaviour in a way vrrpd cannot reproduce (yet).
const GLOBAL_UNSUPPORTED: &[(&str, &str)] = &[
    (
        "vrrp_mcast_group4",
        "vrrpd always uses 224.0.0.18 (RFC 3768 §5.2.2)",
    ),
    (
        "vrrp_mcast_group6",
        "vrrpd always uses ff02::12 (RFC 5798 §5.1.2.2)",
    ),
    (
        "vrrp_strict",
        "keepalived's strict mode changes many behaviours",
    ),
    ("vrrp_iptables", "vrrpd manages no firewall rules"),
    ("vrrp_ipsets", "vrrpd manages no firewall rules"),
    ("nftables", "vrrpd manages no firewall rules"),
    ("nftables_priority", "vrrpd manages no firewall rules"),
    ("nftables_counters", "vrrpd manages no firewall rules"),
    ("nftables_ifindex", "vrrpd manages no firewall rules"),
    (
        "vrrp_skip_check_adv_addr",
        "vrrpd always checks the addresses in adverts",
    ),
    ("vrrp_lower_prio_no_advert", "no setting for this"),
    ("vrrp_higher_prio_send_advert", "no setting for this"),
    (
        "vrrp_garp_lower_prio_delay",
        "no setting for gratuitous ARPs after a lower-priority advert",
    ),
    (
        "vrrp_garp_lower_prio_repeat",
        "no setting for gratuitous ARPs after a lower-priority advert",
    ),
    (
        "vrrp_vmac_garp_intvl",
        "gratuitous ARPs on other interfaces are not supported",
    ),
    (
        "vrrp_garp_extra_if",
        "gratuitous ARPs on other interfaces are not supported",
    ),
    (
        "vrrp_gna_interval",
        "no setting for the interval between unsolicited neighbour advertisements",
    ),
    (
        "vrrp_down_timer_adverts",
        "vrrpd uses the RFC's 3 advert intervals",
    ),
    ("vrrp_startup_delay", "no startup delay setting"),
    (
        "vrrp_notify_fifo",
        "vrrpd has no notify FIFO; it logs state changes",
    ),
    (
        "vrrp_notify_fifo_script",
        "vrrpd has no notify FIFO; it logs state changes",
    ),
    (
        "notify_fifo",
        "vrrpd has no notify FIFO; it logs state changes",
    ),
    (
        "notify_fifo_script",
        "vrrpd has no notify FIFO; it logs state changes",
    ),
    ("vrrp_notify_priority_changes", "vrrpd has no notify FIFO"),
    (
        "fifo_write_vrrp_states_on_reload",
        "vrrpd has no notify FIFO",
    ),
    ("disable_local_igmp", "vrrpd does not change IGMP sysctls"),
    (
        "net_namespace",
        "vrrpd runs in the namespace it is started in: use `ip netns exec` or NetworkNamespacePath=",
    ),
    (
        "dynamic_interfaces",
        "vrrpd needs the instance's interface to exist",
    ),
];

/// Top-level blocks that have no effect on their own.
const TOP_NO_EFFECT: &[(&str, &str)] = &[
    (
        "bfd_instance",
        "a BFD session; it acts only through `track_bfd` in a vrrp_instance, reported there",
    ),
    (
        "virtual_server",
        "LVS load balancing is not part of vrrpd (keep running keepalived's checker, or use another load balancer)",
    ),
    (
        "virtual_server_group",
        "LVS load balancing is not part of vrrpd",
    ),
];

const TOP_UNSUPPORTED: &[(&str, &str)] = &[
    (
        "static_ipaddress",
        "vrrpd does not configure static addresses: configure them in the system's network configuration",
    ),
    (
        "static_routes",
        "vrrpd does not configure static routes: configure them in the system's network configuration",
    ),
    (
        "static_rules",
        "vrrpd does not configure routing rules: configure them in the system's network configuration",
    ),
    ("linkbeat_interfaces", "vrrpd has no link-beat polling"),
    (
        "garp_group",
        "per-interface gratuitous ARP intervals are not supported",
    ),
];

/// vrrp_instance keywords with no effect in vrrpd.
const INSTANCE_NO_EFFECT: &[(&str, &str)] = &[
    (
        "check_unicast_src",
        "vrrpd always accepts unicast adverts only from the instance's unicast_peers",
    ),
    (
        "accept",
        "vrrpd always accepts traffic to the virtual addresses it holds (keepalived's default)",
    ),
    ("smtp_alert", "email alerts are not part of vrrpd"),
    ("debug", "keepalived never implemented it"),
    (
        "native_ipv6",
        "deprecated in keepalived: the address family of the virtual addresses decides",
    ),
];

/// vrrp_instance keywords vrrpd does not support (yet).
const INSTANCE_UNSUPPORTED: &[(&str, &str)] = &[
    (
        "unicast_fault_no_peer",
        "vrrpd has no FAULT state for a unicast instance without peers",
    ),
    (
        "old_unicast_checksum",
        "vrrpd computes the VRRPv3 checksum with each peer's address as destination (RFC 5798 §5.2.8)",
    ),
    ("track_bfd", "vrrpd does not track BFD sessions"),
    ("track_src_ip", "vrrpd does not track the source address"),
    (
        "dont_track_primary",
        "vrrpd always tracks the instance's interface",
    ),
    (
        "use_vmac_addr",
        "vrrpd creates a virtual MAC interface for the instance's own interface only (use_virtual_mac)",
    ),
    (
        "vmac_xmit_base",
        "with use_virtual_mac vrrpd always sends from the virtual MAC, as RFC 5798 §7.3 says",
    ),
    ("use_ipvlan", "vrrpd does not create ipvlan interfaces"),
    ("vrf", "vrrpd does not bind to a VRF"),
    (
        "mcast_dst_ip",
        "vrrpd always uses the RFC's multicast group",
    ),
    (
        "promote_secondaries",
        "vrrpd does not change the promote_secondaries sysctl",
    ),
    (
        "no_accept",
        "vrrpd always accepts traffic to the virtual addresses it holds",
    ),
    (
        "down_timer_adverts",
        "vrrpd uses the RFC's 3 advert intervals",
    ),
    ("lower_prio_no_advert", "no setting for this"),
    ("higher_prio_send_advert", "no setting for this"),
    (
        "garp_lower_prio_delay",
        "no setting for gratuitous ARPs after a lower-priority advert",
    ),
    (
        "garp_lower_prio_repeat",
        "no setting for gratuitous ARPs after a lower-priority advert",
    ),
    (
        "vmac_garp_intvl",
        "gratuitous ARPs on other interfaces are not supported",
    ),
    (
        "garp_extra_if",
        "gratuitous ARPs on other interfaces are not supported",
    ),
    (
        "strict_mode",
        "keepalived's strict mode changes many behaviours",
    ),
    (
        "skip_check_adv_addr",
        "vrrpd always checks the addresses in adverts",
    ),
    ("kernel_rx_buf_size", "no setting for this"),
    (
        "notify_deleted",
        "vrrpd has no DELETED notification; `notify.stop` runs when an instance is removed",
    ),
    (
        "notify_master_rx_lower_pri",
        "vrrpd runs no hook for this; it logs lower-priority adverts",
    ),
];

/// The most addresses one advertisement lists (its address count is 8 bits).
const MAX_ADVERTISED_ADDRESSES: usize = 255;

fn lookup(table: &[(&str, &'static str)], keyword: &str) -> Option<&'static str> {
    table
        .iter()
        .find(|(k, _)| *k == keyword)
        .map(|&(_, why)| why)
}

// ---------------------------------------------------------------------------------------

/// keepalived's global GARP and version settings (any global_defs block, last one wins,
/// and they apply to every instance wherever the block is in the file).
#[derive(Default)]
struct Globals {
    version: Option<VrrpVersion>,
    garp: Garp,
}

#[derive(Clone, Copy, Default)]
struct Garp {
    master_refresh_s: Option<u32>,
    repeat_delay_s: Option<u32>,
    burst_count: Option<u32>,
    burst_interval_ms: Option<u32>,
}

impl Garp {
    /// Instance settings over global ones.
    fn or(self, global: Garp) -> Garp {
        Garp {
            master_refresh_s: self.master_refresh_s.or(global.master_refresh_s),
            repeat_delay_s: self.repeat_delay_s.or(global.repeat_delay_s),
            burst_count: self.burst_count.or(global.burst_count),
            burst_interval_ms: self.burst_interval_ms.or(global.burst_interval_ms),
        }
    }
}

/// Everything read from one vrrp_instance block, before keepalived's defaults and fix-ups.
#[derive(Default)]
struct Draft {
    name: String,
    header: Option<Loc>,
    state: Option<(bool, Loc)>, // (is MASTER, where)
    interface: Option<String>,
    virtual_router_id: Option<u8>,
    priority: Option<u8>,
    advert_us: Option<(u64, Word)>,
    version: Option<VrrpVersion>,
    authentication: Option<AuthDraft>,
    addresses: Vec<(VirtualAddress, Option<Word>)>, // with its `dev` value, if any
    /// `virtual_ipaddress_excluded`, in the same form.
    excluded: Vec<(VirtualAddress, Option<Word>)>,
    nopreempt: Option<Loc>,
    preempt_delay: Option<(u32, Loc)>,
    mcast_src: Option<IpAddr>,
    unicast_src: Option<(IpAddr, Loc)>,
    unicast_peers: Vec<IpAddr>,
    /// `use_vmac [[name] NAME]`: the interface name, if one was given.
    use_vmac: Option<Option<String>>,
    /// `unicast_ttl 255`: where it was given (any other value is unsupported).
    unicast_ttl_255: Option<Loc>,
    garp: Garp,
    tracks: Vec<tracking::TrackDraft>,
    notify: tracking::NotifyDraft,
    /// `virtual_routes` and `virtual_rules` lines, read once the family is known.
    routing: routing::RoutingDraft,
}

struct AuthDraft {
    loc: Loc,
    kind: Option<Word>,
    password: Option<Word>,
}

#[derive(Default)]
struct Importer {
    /// With the reading-order position of their line, to list them in file order.
    diagnostics: Vec<(usize, Diagnostic)>,
    /// vrrp_script and tracked-file definitions, and the trackers built from them.
    defs: tracking::Definitions,
    /// Rules without a preference so far, IPv4 and IPv6 (keepalived numbers them).
    rules_without_priority: [u32; 2],
}

impl Importer {
    fn push(&mut self, loc: &Loc, keyword: &str, severity: Severity, message: impl Into<String>) {
        self.diagnostics.push((
            loc.seq,
            Diagnostic {
                file: loc.file.to_path_buf(),
                line: loc.line,
                keyword: keyword.to_owned(),
                severity,
                message: message.into(),
            },
        ));
    }

    fn report(&mut self, statement: &Statement, severity: Severity, message: impl Into<String>) {
        self.push(&statement.keyword.loc, statement.name(), severity, message);
    }

    /// The statement's single value; extra words are reported (keepalived ignores them).
    fn one_arg<'s>(&mut self, statement: &'s Statement) -> Option<&'s Word> {
        self.no_block(statement);
        let Some(first) = statement.args.first() else {
            self.report(statement, Severity::Error, "needs a value");
            return None;
        };
        self.extra_args(statement, 1);
        Some(first)
    }

    /// Reports words after the first `used` arguments, which keepalived does not read.
    fn extra_args(&mut self, statement: &Statement, used: usize) {
        if statement.args.len() > used {
            let ignored: Vec<&str> = statement.args[used..]
                .iter()
                .map(|w| w.text.as_str())
                .collect();
            self.report(
                statement,
                Severity::Warning,
                format!(
                    "keepalived ignores the rest of this line ({:?}); so does the importer. \
                     Put each keyword on its own line if you meant them as settings",
                    ignored.join(" ")
                ),
            );
        }
    }

    /// Reports a `{` after a keyword that takes none (keepalived: "Unexpected '{'").
    fn no_block(&mut self, statement: &Statement) {
        if statement.block.is_some() {
            self.report(
                statement,
                Severity::Error,
                "does not take a `{ ... }` block; keepalived would ignore the `{` and misread the \
                 lines after it. Is a `}` or a line break missing?",
            );
        }
    }

    fn block<'s>(&mut self, statement: &'s Statement) -> &'s [Statement] {
        match &statement.block {
            Some(block) => block,
            None => {
                self.report(statement, Severity::Error, "needs a `{ ... }` block");
                &[]
            }
        }
    }

    fn flag(&mut self, statement: &Statement) {
        self.no_block(statement);
        self.extra_args(statement, 0);
    }

    fn note_or_unsupported(&mut self, statement: &Statement, severity: Severity, why: &str) {
        let message = match severity {
            Severity::Note => format!("no effect on VRRP, not imported: {why}"),
            _ => why.to_owned(),
        };
        self.report(statement, severity, message);
    }

    fn convert(&mut self, tree: &[Statement]) -> (Vec<InstanceConfig>, Vec<SyncGroupConfig>) {
        self.collect_definitions(tree);
        let mut globals = Globals::default();
        for statement in tree.iter().filter(|s| s.name() == "global_defs") {
            self.extra_args(statement, 0);
            for item in self.block(statement) {
                self.global(item, &mut globals);
            }
        }
        // keepalived ignores a sync group member that names no vrrp_instance ("specified in
        // sync group ... doesn't exist - ignoring"); the importer does the same, with a warning.
        let defined: Vec<&str> = tree
            .iter()
            .filter(|statement| statement.name() == "vrrp_instance")
            .filter_map(|statement| statement.args.first().map(|word| word.text.as_str()))
            .collect();
        let mut imported = Vec::new();
        let mut sync_groups = Vec::new();
        for statement in tree {
            let name = statement.name();
            if matches!(
                name,
                "global_defs"
                    | "vrrp_script"
                    | "vrrp_track_file"
                    | "track_file"
                    | "vrrp_track_process"
            ) {
                // Read by collect_definitions.
                continue;
            } else if name == "vrrp_instance" {
                if let Some(instance) = self.instance(statement, &globals) {
                    imported.push(instance);
                }
            } else if name == "vrrp_sync_group" {
                if let Some(group) = self.sync_group(statement, &defined) {
                    sync_groups.push((group, statement));
                }
            } else if let Some(why) = lookup(TOP_NO_EFFECT, name) {
                self.note_or_unsupported(statement, Severity::Note, why);
            } else if let Some(why) = lookup(TOP_UNSUPPORTED, name) {
                self.note_or_unsupported(statement, Severity::Unsupported, why);
            } else {
                self.unknown(statement, "at the top level");
            }
        }
        self.report_unused_scripts();
        let sync_groups = sync_groups
            .into_iter()
            .filter_map(|(group, statement)| self.without_unimported(group, statement, &imported))
            .collect();
        (imported, sync_groups)
    }

    /// A sync group without the members whose vrrp_instance was not imported (its own
    /// findings say why, and a strict import fails on them anyway); fewer than 2 left and
    /// the group is left out, as in [`Importer::sync_group`].
    fn without_unimported(
        &mut self,
        mut group: SyncGroupConfig,
        statement: &Statement,
        imported: &[InstanceConfig],
    ) -> Option<SyncGroupConfig> {
        let (kept, dropped): (Vec<String>, Vec<String>) = group
            .instances
            .into_iter()
            .partition(|member| imported.iter().any(|instance| instance.name == *member));
        for member in &dropped {
            self.report(
                statement,
                Severity::Warning,
                format!(
                    "vrrp_instance {member} was not imported, so the group is imported without it"
                ),
            );
        }
        if kept.len() < 2 {
            if !dropped.is_empty() {
                self.report(
                    statement,
                    Severity::Warning,
                    "fewer than 2 of its instances were imported; the group is not imported",
                );
            }
            return None;
        }
        group.instances = kept;
        Some(group)
    }

    fn unknown(&mut self, statement: &Statement, place: &str) {
        let name = statement.name();
        let message = if name.starts_with('$') || name.starts_with('@') || name.starts_with('~') {
            "keepalived parameters, conditional lines and sequences are not evaluated by the importer: \
             expand them (e.g. with `keepalived -d`'s dump) and import the result"
                .to_owned()
        } else {
            format!(
                "unknown keyword {place}: the importer cannot tell what it does, so it is reported rather than dropped"
            )
        };
        self.report(statement, Severity::Unsupported, message);
    }

    fn global(&mut self, statement: &Statement, globals: &mut Globals) {
        let name = statement.name();
        match name {
            "vrrp_version" => {
                if let Some(v) = self.one_arg(statement).and_then(|w| self.version(w)) {
                    globals.version = Some(v);
                }
            }
            "vrrp_garp_master_refresh" => {
                globals.garp.master_refresh_s = self
                    .one_arg(statement)
                    .and_then(|w| self.whole_seconds(statement.name(), w));
            }
            "vrrp_garp_master_delay" => {
                globals.garp.repeat_delay_s = self
                    .one_arg(statement)
                    .and_then(|w| self.whole_seconds(statement.name(), w));
            }
            "vrrp_garp_master_repeat" => {
                globals.garp.burst_count = self
                    .one_arg(statement)
                    .and_then(|w| self.count(statement.name(), w));
            }
            "vrrp_garp_interval" => {
                globals.garp.burst_interval_ms = self
                    .one_arg(statement)
                    .and_then(|w| self.milliseconds(statement.name(), w));
            }
            "vrrp_garp_master_refresh_repeat" => self.refresh_repeat(statement),
            "script_user" => self.script_user(statement),
            "vrrp_min_garp" => {
                self.no_block(statement);
                if self.boolean(statement) {
                    // keepalived.conf(5): one GARP at a time, no second burst.
                    globals.garp.burst_count = Some(1);
                    globals.garp.repeat_delay_s = Some(0);
                }
            }
            _ => {
                if let Some(why) = lookup(GLOBAL_NO_EFFECT, name) {
                    self.note_or_unsupported(statement, Severity::Note, why);
                } else if let Some(why) = lookup(GLOBAL_UNSUPPORTED, name) {
                    self.note_or_unsupported(statement, Severity::Unsupported, why);
                } else {
                    self.unknown(statement, "in global_defs");
                }
            }
        }
    }

    /// `vrrp_garp_master_refresh_repeat` / `garp_master_refresh_repeat`: vrrpd sends one
    /// GARP per refresh, which is keepalived's default of 1.
    fn refresh_repeat(&mut self, statement: &Statement) {
        if let Some(n) = self
            .one_arg(statement)
            .and_then(|w| self.count(statement.name(), w))
            && n != 1
        {
            self.report(
                statement,
                Severity::Unsupported,
                format!("vrrpd sends one gratuitous ARP per refresh, not {n}"),
            );
        }
    }

    /// A bare keyword, or one followed by on|off|true|false|yes|no (keepalived's <BOOL>).
    fn boolean(&mut self, statement: &Statement) -> bool {
        let Some(word) = statement.args.first() else {
            return true;
        };
        self.extra_args(statement, 1);
        match word.text.to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" => true,
            "off" | "false" | "no" => false,
            _ => {
                self.push(
                    &word.loc,
                    statement.name(),
                    Severity::Error,
                    format!("{:?} is not one of on|off|true|false|yes|no", word.text),
                );
                false
            }
        }
    }

    fn version(&mut self, word: &Word) -> Option<VrrpVersion> {
        match word.text.as_str() {
            "2" => Some(VrrpVersion::V2),
            "3" => Some(VrrpVersion::V3),
            other => {
                self.push(
                    &word.loc,
                    "version",
                    Severity::Error,
                    format!("{other:?} is not a VRRP version (2 or 3)"),
                );
                None
            }
        }
    }

    fn integer<T: std::str::FromStr>(
        &mut self,
        keyword: &str,
        word: &Word,
        what: &str,
    ) -> Option<T> {
        match word.text.parse::<T>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.push(
                    &word.loc,
                    keyword,
                    Severity::Error,
                    format!("expected {what}, not {:?}", word.text),
                );
                None
            }
        }
    }

    fn count(&mut self, keyword: &str, word: &Word) -> Option<u32> {
        self.integer(keyword, word, "a whole number")
    }

    fn whole_seconds(&mut self, keyword: &str, word: &Word) -> Option<u32> {
        self.integer(keyword, word, "a whole number of seconds")
    }

    /// A keepalived <TIMER> (seconds, fractional allowed) in milliseconds, rounded.
    fn milliseconds(&mut self, keyword: &str, word: &Word) -> Option<u32> {
        let us = self.microseconds(keyword, word)?;
        let ms = us.div_ceil(1000);
        if ms * 1000 != us {
            self.push(
                &word.loc,
                keyword,
                Severity::Warning,
                format!(
                    "{} s rounded up to {ms} ms, the resolution of vrrpd's setting",
                    word.text
                ),
            );
        }
        u32::try_from(ms).ok().or_else(|| {
            self.push(&word.loc, keyword, Severity::Error, "too large");
            None
        })
    }

    /// A keepalived <TIMER>: decimal seconds with microsecond resolution.
    fn microseconds(&mut self, keyword: &str, word: &Word) -> Option<u64> {
        let parsed = parse_seconds_us(&word.text);
        if parsed.is_none() {
            self.push(
                &word.loc,
                keyword,
                Severity::Error,
                format!(
                    "expected a time in seconds, such as 1 or 0.5, not {:?}",
                    word.text
                ),
            );
        }
        parsed
    }

    fn instance(&mut self, statement: &Statement, globals: &Globals) -> Option<InstanceConfig> {
        let mut draft = Draft {
            header: Some(statement.keyword.loc.clone()),
            ..Draft::default()
        };
        match statement.args.first() {
            Some(name) => draft.name = name.text.clone(),
            None => self.report(statement, Severity::Error, "needs a name"),
        }
        self.extra_args(statement, 1);
        for item in self.block(statement) {
            self.instance_keyword(item, &mut draft);
        }
        self.finish(draft, globals)
    }

    fn instance_keyword(&mut self, statement: &Statement, draft: &mut Draft) {
        let name = statement.name();
        match name {
            "state" => {
                if let Some(word) = self.one_arg(statement) {
                    match word.text.as_str() {
                        "MASTER" => draft.state = Some((true, statement.keyword.loc.clone())),
                        "BACKUP" => draft.state = Some((false, statement.keyword.loc.clone())),
                        other => self.report(
                            statement,
                            Severity::Error,
                            format!("{other:?} is not MASTER or BACKUP"),
                        ),
                    }
                }
            }
            "interface" => draft.interface = self.one_arg(statement).map(|w| w.text.clone()),
            "virtual_router_id" => {
                if let Some(word) = self.one_arg(statement) {
                    draft.virtual_router_id = self.in_range(word, 1, 255, "virtual_router_id");
                }
            }
            "priority" => {
                if let Some(word) = self.one_arg(statement) {
                    draft.priority = self.in_range(word, 1, 255, "priority");
                }
            }
            "advert_int" => {
                if let Some(word) = self.one_arg(statement) {
                    draft.advert_us = self
                        .microseconds(statement.name(), word)
                        .map(|us| (us, word.clone()));
                }
            }
            "version" => {
                if let Some(v) = self.one_arg(statement).and_then(|w| self.version(w)) {
                    draft.version = Some(v);
                }
            }
            "authentication" => {
                self.extra_args(statement, 0);
                let mut auth = AuthDraft {
                    loc: statement.keyword.loc.clone(),
                    kind: None,
                    password: None,
                };
                for item in self.block(statement) {
                    match item.name() {
                        "auth_type" => auth.kind = self.one_arg(item).cloned(),
                        "auth_pass" => auth.password = self.one_arg(item).cloned(),
                        _ => self.unknown(item, "in authentication"),
                    }
                }
                draft.authentication = Some(auth);
            }
            "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
                let excluded = name == "virtual_ipaddress_excluded";
                self.extra_args(statement, 0);
                for item in self.block(statement) {
                    if let Some(address) = self.virtual_address(item) {
                        // keepalived adds an address listed twice once (its own
                        // doc/samples/keepalived.conf.vrrp does this); vrrpd's config
                        // refuses duplicates, so the importer keeps the first.
                        let ip = address.0.parse().ok().map(|(ip, _)| ip);
                        let first = draft
                            .addresses
                            .iter()
                            .chain(&draft.excluded)
                            .find(|(seen, _)| seen.parse().ok().map(|(ip, _)| ip) == ip);
                        if let Some((first, _)) = first {
                            let message = format!(
                                "{} is listed twice (first as {}): keepalived adds it once; \
                                 so does the importer",
                                address.0.address, first.address
                            );
                            self.report(item, Severity::Warning, message);
                            continue;
                        }
                        if excluded {
                            draft.excluded.push(address);
                        } else {
                            draft.addresses.push(address);
                        }
                    }
                }
            }
            "nopreempt" => {
                self.flag(statement);
                draft.nopreempt = Some(statement.keyword.loc.clone());
            }
            "use_vmac" => {
                self.no_block(statement);
                draft.use_vmac = Some(self.use_vmac(statement));
            }
            "preempt" => {
                // keepalived's default, kept "for backwards compatibility": preempt stays on.
                self.flag(statement);
            }
            "preempt_delay" => {
                let Some(word) = self.one_arg(statement) else {
                    return;
                };
                let Some(us) = self.microseconds(statement.name(), word) else {
                    return;
                };
                // keepalived.conf(5): "Range: 0 (default) to 1000".
                let seconds = us.div_ceil(1_000_000);
                if seconds > 1000 {
                    self.report(
                        statement,
                        Severity::Error,
                        "keepalived accepts 0 to 1000 seconds",
                    );
                    return;
                }
                if seconds * 1_000_000 != us {
                    self.report(
                        statement,
                        Severity::Unsupported,
                        format!(
                            "vrrpd's preempt_delay_s is whole seconds: {} s would become {seconds} s",
                            word.text
                        ),
                    );
                }
                draft.preempt_delay = Some((seconds as u32, statement.keyword.loc.clone()));
            }
            "mcast_src_ip" => {
                if let Some(word) = self.one_arg(statement) {
                    draft.mcast_src = self.address(statement.name(), word);
                }
            }
            "unicast_src_ip" => {
                if let Some(word) = self.one_arg(statement) {
                    draft.unicast_src = self
                        .address(statement.name(), word)
                        .map(|a| (a, statement.keyword.loc.clone()));
                }
            }
            "unicast_peer" => {
                self.extra_args(statement, 0);
                for peer in self.block(statement) {
                    if peer.block.is_some() {
                        self.no_block(peer);
                        continue;
                    }
                    if !peer.args.is_empty() {
                        // keepalived 2.1+: `ADDRESS min_ttl N max_ttl N` per peer.
                        self.report(
                            peer,
                            Severity::Unsupported,
                            "per-peer min_ttl/max_ttl are not supported: vrrpd accepts only TTL 255, i.e. peers on the same link",
                        );
                    }
                    if let Some(address) = self.address("unicast_peer", &peer.keyword) {
                        if draft.unicast_peers.contains(&address) {
                            self.report(peer, Severity::Warning, "listed twice; imported once");
                        } else {
                            draft.unicast_peers.push(address);
                        }
                    }
                }
            }
            "unicast_ttl" => {
                if let Some(word) = self.one_arg(statement) {
                    if word.text == "255" {
                        draft.unicast_ttl_255 = Some(statement.keyword.loc.clone());
                        self.report(
                            statement,
                            Severity::Note,
                            "vrrpd always sends unicast adverts with TTL / hop limit 255: not imported",
                        );
                    } else {
                        self.report(
                            statement,
                            Severity::Unsupported,
                            "vrrpd sends unicast adverts with TTL 255 and accepts only TTL 255 (peers on the same link)",
                        );
                    }
                }
            }
            "garp_master_refresh" => {
                draft.garp.master_refresh_s = self
                    .one_arg(statement)
                    .and_then(|w| self.whole_seconds(statement.name(), w));
            }
            "garp_master_delay" => {
                draft.garp.repeat_delay_s = self
                    .one_arg(statement)
                    .and_then(|w| self.whole_seconds(statement.name(), w));
            }
            "garp_master_repeat" => {
                draft.garp.burst_count = self
                    .one_arg(statement)
                    .and_then(|w| self.count(statement.name(), w));
            }
            "garp_master_refresh_repeat" => self.refresh_repeat(statement),
            "track_interface" | "track_script" | "track_file" | "track_process" => {
                self.instance_tracking(statement, &mut draft.tracks);
            }
            "notify" | "notify_master" | "notify_backup" | "notify_fault" | "notify_stop" => {
                self.instance_notify(statement, &mut draft.notify);
            }
            "notify_priority_changes" => {
                self.instance_notify_priority_changes(statement, &mut draft.notify);
            }
            "virtual_routes" | "virtual_rules" => {
                self.instance_routing(statement, &mut draft.routing);
            }
            _ => {
                if let Some(why) = lookup(INSTANCE_NO_EFFECT, name) {
                    self.note_or_unsupported(statement, Severity::Note, why);
                } else if let Some(why) = lookup(INSTANCE_UNSUPPORTED, name) {
                    self.note_or_unsupported(statement, Severity::Unsupported, why);
                } else {
                    self.unknown(statement, "in vrrp_instance");
                }
            }
        }
    }

    fn in_range(&mut self, word: &Word, lo: u8, hi: u8, what: &str) -> Option<u8> {
        match word.text.parse::<u8>() {
            Ok(v) if (lo..=hi).contains(&v) => Some(v),
            _ => {
                self.push(
                    &word.loc,
                    what,
                    Severity::Error,
                    format!("{:?} is not in {lo}..={hi}", word.text),
                );
                None
            }
        }
    }

    fn address(&mut self, keyword: &str, word: &Word) -> Option<IpAddr> {
        match word.text.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.push(
                    &word.loc,
                    keyword,
                    Severity::Error,
                    format!("{:?} is not an IP address", word.text),
                );
                None
            }
        }
    }

    /// One line of virtual_ipaddress: `<IPADDR>[/<MASK>] [dev X] [label X] [scope X] ...`.
    fn virtual_address(&mut self, statement: &Statement) -> Option<(VirtualAddress, Option<Word>)> {
        self.no_block(statement);
        let address = VirtualAddress::new(statement.keyword.text.clone());
        if let Err(why) = address.parse() {
            self.report(
                statement,
                Severity::Error,
                format!("not a virtual address: {why}"),
            );
            return None;
        }
        let mut address = address;
        let mut dev = None;
        let mut args = statement.args.iter();
        while let Some(option) = args.next() {
            let takes_value = matches!(
                option.text.as_str(),
                "dev" | "label" | "scope" | "brd" | "broadcast" | "peer" | "preferred_lft"
            );
            let value = if takes_value {
                match args.next() {
                    Some(v) => Some(v),
                    None => {
                        self.push(&option.loc, &option.text, Severity::Error, "needs a value");
                        return None;
                    }
                }
            } else {
                None
            };
            match (option.text.as_str(), value) {
                ("dev", Some(v)) => dev = Some(v.clone()),
                ("label", Some(v)) => self.push(
                    &option.loc,
                    "label",
                    Severity::Note,
                    format!("ignored: {:?} only names the address for ifconfig; vrrpd adds it without a label", v.text),
                ),
                ("scope", Some(v)) if v.text == "global" => {} // what vrrpd uses anyway
                // keepalived tracks the interface of an address on another one (FAULT
                // while it is down) unless `no_track`; on the instance's own interface
                // it changes nothing, since that one is always followed.
                ("no_track", None) => address.track = false,
                (other, _) => self.push(
                    &option.loc,
                    other,
                    Severity::Unsupported,
                    format!("virtual_ipaddress option `{other}` is not supported: vrrpd adds {} with default attributes", address.address),
                ),
            }
        }
        Some((address, dev))
    }

    /// `use_vmac [[name] NAME] [MAC] [netlink_notify_msg] [group GROUP]`: the interface
    /// name if one is given. A MAC other than the RFC's is unsupported: keepalived then
    /// uses that MAC, vrrpd always the RFC's.
    fn use_vmac(&mut self, statement: &Statement) -> Option<String> {
        let mut name = None;
        let mut args = statement.args.iter().peekable();
        while let Some(word) = args.next() {
            match word.text.as_str() {
                "name" => name = args.next().map(|word| word.text.clone()),
                "netlink_notify_msg" => {}
                "group" => {
                    args.next();
                    self.push(
                        &word.loc,
                        "group",
                        Severity::Note,
                        "ignored: vrrpd creates the virtual MAC interface in the default link group",
                    );
                }
                text if text.contains(':') => self.push(
                    &word.loc,
                    "use_vmac",
                    Severity::Unsupported,
                    format!(
                        "a MAC address of your own ({text}): vrrpd always uses the RFC's \
                         virtual MAC, 00:00:5e:00:01:VRID (IPv6: 00:00:5e:00:02:VRID)"
                    ),
                ),
                text if name.is_none() => name = Some(text.to_owned()),
                _ => self.report(statement, Severity::Error, "too many arguments"),
            }
        }
        name
    }

    /// Applies keepalived's defaults and fix-ups (in the order keepalived's
    /// vrrp_complete_instance does), and builds the vrrpd instance.
    fn finish(&mut self, draft: Draft, globals: &Globals) -> Option<InstanceConfig> {
        let header = draft.header.clone()?;
        let name = draft.name;
        let Some(interface) = draft.interface else {
            self.push(
                &header,
                "vrrp_instance",
                Severity::Error,
                format!("{name}: no `interface`: vrrpd needs the interface to send adverts on"),
            );
            return None;
        };
        let Some(virtual_router_id) = draft.virtual_router_id else {
            self.push(
                &header,
                "vrrp_instance",
                Severity::Error,
                format!("{name}: no `virtual_router_id`"),
            );
            return None;
        };

        // keepalived: IPv6 instances always use version 3; otherwise the instance's
        // `version`, else global `vrrp_version`, else 2.
        let has_ipv6 = draft
            .addresses
            .iter()
            .any(|(a, _)| matches!(a.parse(), Ok((IpAddr::V6(_), _))));
        let version = match (draft.version.or(globals.version), has_ipv6) {
            (Some(VrrpVersion::V2), true) => {
                self.push(
                    &header,
                    "version",
                    Severity::Error,
                    format!(
                        "{name}: VRRPv2 has no IPv6; keepalived runs IPv6 instances as version 3"
                    ),
                );
                return None;
            }
            (Some(v), _) => v,
            (None, true) => VrrpVersion::V3,
            (None, false) => VrrpVersion::V2,
        };

        let is_master = draft.state.as_ref().is_some_and(|(m, _)| *m);
        // keepalived: no `priority` → 255 with state MASTER, else 100.
        let priority = draft.priority.unwrap_or(if is_master { 255 } else { 100 });
        if let Some((master, loc)) = &draft.state {
            let detail = match (*master, draft.priority) {
                (true, None) => {
                    " keepalived gives a MASTER without `priority` the priority 255 (address \
                     owner), so priority 255 is imported."
                }
                (true, Some(_)) => {
                    " Below priority 255, keepalived's `state MASTER` also waits for the \
                     election; it only makes keepalived ignore nopreempt and preempt_delay."
                }
                (false, _) => "",
            };
            self.push(
                loc,
                "state",
                Severity::Note,
                format!(
                    "informational: vrrpd has no initial state: every instance starts as backup and the \
                     highest priority on the link becomes master (RFC 3768 §6.4.1).{detail}"
                ),
            );
        }

        // Advert interval: keepalived rounds v2 to whole seconds (half up, at least 1),
        // v3 to centiseconds, the unit of its Max Adver Int field (RFC 5798 §5.2.7).
        let advert_interval_ms = match &draft.advert_us {
            None => 1000,
            Some((us, word)) => {
                let (unit, name_of_unit) = match version {
                    VrrpVersion::V2 => (1_000_000, "whole seconds"),
                    VrrpVersion::V3 => (10_000, "units of 10 ms"),
                };
                let rounded = ((us + unit / 2) / unit).max(1) * unit;
                if rounded != *us {
                    self.push(
                        &word.loc,
                        "advert_int",
                        Severity::Warning,
                        format!(
                            "keepalived rounds advert_int {} to {name_of_unit} under VRRPv{}: {} ms is what its peer sends, and what is imported",
                            word.text,
                            if version == VrrpVersion::V2 { 2 } else { 3 },
                            rounded / 1000
                        ),
                    );
                }
                u32::try_from(rounded / 1000).unwrap_or(u32::MAX)
            }
        };

        let authentication = self.authentication(draft.authentication, version);

        let mut virtual_addresses = Vec::new();
        let mut excluded_addresses = Vec::new();
        let listed = draft.addresses.len();
        for (position, (address, dev)) in draft
            .addresses
            .into_iter()
            .chain(draft.excluded)
            .enumerate()
        {
            // `dev IFACE` naming another interface: the address lives there (and the
            // instance follows that interface unless `no_track`, as in keepalived).
            let mut address = address;
            if let Some(dev) = dev
                && dev.text != interface
            {
                address.interface = Some(dev.text.clone());
            }
            if position < listed {
                virtual_addresses.push(address);
            } else {
                excluded_addresses.push(address);
            }
        }
        // An advert lists at most 255 addresses (its count is 8 bits, RFC 3768 §5.3.5);
        // keepalived holds the others without advertising them, which is what vrrpd's
        // excluded_addresses are.
        if virtual_addresses.len() > MAX_ADVERTISED_ADDRESSES {
            let extra: Vec<VirtualAddress> = virtual_addresses
                .drain(MAX_ADVERTISED_ADDRESSES..)
                .collect();
            self.push(
                &header,
                "virtual_ipaddress",
                Severity::Note,
                format!(
                    "{name}: {} virtual addresses, and an advert lists at most 255: the other {} \
                     ({} to {}) become excluded_addresses, held the same way but not advertised",
                    MAX_ADVERTISED_ADDRESSES + extra.len(),
                    extra.len(),
                    extra[0].address,
                    extra[extra.len() - 1].address
                ),
            );
            excluded_addresses.splice(0..0, extra);
        }
        if virtual_addresses.is_empty() {
            self.push(
                &header,
                "virtual_ipaddress",
                Severity::Error,
                format!("{name}: no virtual address to import"),
            );
            return None;
        }

        // keepalived clears nopreempt and preempt_delay on an instance that starts as MASTER
        // ("nopreempt will not work with initial state MASTER - clearing"), and nopreempt on
        // an address owner (priority 255).
        let mut preempt = true;
        if let Some(loc) = &draft.nopreempt {
            if is_master || priority == 255 {
                let why = if priority == 255 {
                    "priority 255 (\"nopreempt is incompatible with priority 255\")"
                } else {
                    "`state MASTER` (\"nopreempt will not work with initial state MASTER\")"
                };
                self.push(loc, "nopreempt", Severity::Warning, format!("keepalived ignores nopreempt with {why}; preempt stays on, as in keepalived"));
            } else {
                preempt = false;
            }
        }
        let mut preempt_delay_s = 0;
        if let Some((seconds, loc)) = draft.preempt_delay {
            if is_master {
                self.push(&loc, "preempt_delay", Severity::Warning, "keepalived ignores preempt_delay with `state MASTER`; not imported, as in keepalived");
            } else {
                preempt_delay_s = seconds;
            }
        }

        // keepalived uses mcast_src_ip and unicast_src_ip alike as the adverts' source
        // address (the last one written wins); in unicast mode it is `unicast_source`.
        let mut source_address = draft.mcast_src;
        let mut unicast_source = None;
        if has_ipv6 && !draft.unicast_peers.is_empty() && draft.unicast_ttl_255.is_none() {
            // keepalived 2.2 sets TTL 255 on IPv4 unicast adverts itself, but leaves IPv6
            // ones at the kernel's default hop limit unless `unicast_ttl` is given, and
            // does not check it in unicast mode; vrrpd does (RFC 9568 §7.1).
            if let Some(loc) = draft.header.clone() {
                self.push(&loc, "unicast_peer", Severity::Warning, format!(
                    "{name}: keepalived sends IPv6 unicast adverts with the kernel's default hop limit (usually 64) unless `unicast_ttl 255` is set, and vrrpd drops adverts whose hop limit is not 255 (RFC 9568 §7.1): while a peer still runs keepalived, add `unicast_ttl 255` to its instance"
                ));
            }
        }
        if !draft.unicast_peers.is_empty() {
            unicast_source = draft
                .unicast_src
                .map(|(address, _)| address)
                .or(draft.mcast_src);
            source_address = None;
        } else if let Some((address, loc)) = draft.unicast_src {
            self.push(&loc, "unicast_src_ip", Severity::Note, "without unicast_peer, keepalived uses multicast and takes this as the adverts' source address (\"A unicast keyword has been specified without any unicast peers. Defaulting to multicast\"): imported as source_address");
            source_address = source_address.or(Some(address));
        }

        let garp = draft.garp.or(globals.garp);
        // keepalived's defaults, which are also vrrpd's: 5 GARPs, a second burst after 5 s,
        // no pause within a burst, no periodic refresh.
        let garp_burst_count = garp.burst_count.unwrap_or(5);
        let garp_repeat_delay_s = garp.repeat_delay_s.unwrap_or(5);
        let garp_burst_interval_ms = garp.burst_interval_ms.unwrap_or(0);
        let garp_master_refresh_s = garp.master_refresh_s.unwrap_or(0);
        let (track, notify) =
            self.finish_tracking(&name, priority, &interface, draft.tracks, draft.notify);
        let (virtual_routes, virtual_rules) = self.finish_routing(&name, has_ipv6, draft.routing);

        Some(InstanceConfig {
            name,
            interface,
            virtual_router_id,
            version,
            priority,
            advert_interval_ms,
            authentication,
            virtual_addresses,
            excluded_addresses,
            preempt,
            preempt_delay_s,
            // keepalived 2.2 sends the RFC 5798 checksum (with the pseudo-header).
            v3_checksum: V3Checksum::WithPseudoHeader,
            source_address,
            garp_burst_count,
            garp_burst_interval_ms,
            garp_repeat_delay_s,
            garp_master_refresh_s,
            unicast_peers: draft.unicast_peers,
            unicast_source,
            // keepalived has no make-before-break; vrrpd's default (on) is what the
            // migration is for: planned stops lose no packet.
            make_before_break: true,
            track,
            notify,
            use_virtual_mac: draft.use_vmac.is_some(),
            virtual_mac_interface: draft.use_vmac.flatten(),
            virtual_routes,
            virtual_rules,
        })
    }

    /// `vrrp_sync_group NAME { group { VI_1 VI_2 } ... }` → a `sync_groups` entry. Its
    /// notify and track keywords are reported unsupported; a member that names no
    /// vrrp_instance is left out with a warning, and a group of one instance (which
    /// keepalived only warns about) is left out with a warning.
    fn sync_group(&mut self, statement: &Statement, defined: &[&str]) -> Option<SyncGroupConfig> {
        let Some(name) = statement.args.first() else {
            self.report(statement, Severity::Error, "needs a group name");
            return None;
        };
        self.extra_args(statement, 1);
        let mut members: Vec<String> = Vec::new();
        for item in self.block(statement) {
            match item.name() {
                "group" => {
                    self.extra_args(item, 0);
                    for member in self.block(item) {
                        self.flag(member);
                        if !defined.contains(&member.keyword.text.as_str()) {
                            self.report(
                                member,
                                Severity::Warning,
                                "no vrrp_instance has this name; left out of the group (keepalived ignores it too)",
                            );
                        } else if members.contains(&member.keyword.text) {
                            self.report(member, Severity::Warning, "listed twice; imported once");
                        } else {
                            members.push(member.keyword.text.clone());
                        }
                    }
                }
                "smtp_alert" => self.note_or_unsupported(
                    item,
                    Severity::Note,
                    "email alerts are not part of vrrpd",
                ),
                keyword if keyword.starts_with("notify") => self.note_or_unsupported(
                    item,
                    Severity::Unsupported,
                    "vrrpd runs notify scripts per instance, not per sync group: set each member's `notify`",
                ),
                "sync_group_tracking_weight" => {
                    // Read by collect_definitions: the members keep their weighted trackers.
                    self.flag(item);
                    self.report(item, Severity::Note, "honoured: the members' weighted track_* entries are imported with their weights");
                }
                keyword if keyword.starts_with("track") || keyword == "global_tracking" => self.note_or_unsupported(
                    item,
                    Severity::Unsupported,
                    "not converted: vrrpd has no trackers on a sync group; add the tracker to each member's `track` (with weight 0, a member's FAULT holds the whole group)",
                ),
                _ => self.unknown(item, "in vrrp_sync_group"),
            }
        }
        if members.len() < 2 {
            self.report(
                statement,
                Severity::Warning,
                "a sync group needs at least 2 instances (keepalived only warns); not imported",
            );
            return None;
        }
        Some(SyncGroupConfig {
            name: name.text.clone(),
            instances: members,
        })
    }

    /// What keepalived puts in the adverts' authentication fields.
    fn authentication(
        &mut self,
        auth: Option<AuthDraft>,
        version: VrrpVersion,
    ) -> AuthenticationConfig {
        let Some(auth) = auth else {
            return AuthenticationConfig::None;
        };
        if version == VrrpVersion::V3 {
            // RFC 5798 removed authentication; keepalived: "VRRP version 3 does not support
            // authentication. Ignoring."
            self.push(
                &auth.loc,
                "authentication",
                Severity::Warning,
                "keepalived ignores authentication under VRRPv3 (RFC 5798 has none); not imported",
            );
            return AuthenticationConfig::None;
        }
        let Some(kind) = auth.kind else {
            self.push(
                &auth.loc,
                "authentication",
                Severity::Warning,
                "no auth_type: keepalived sends no authentication; not imported",
            );
            return AuthenticationConfig::None;
        };
        match kind.text.as_str() {
            "PASS" => {}
            "AH" => {
                self.push(
                    &kind.loc,
                    "auth_type",
                    Severity::Unsupported,
                    "IPsec AH authentication is not supported (RFC 3768 §5.3.6 removed it)",
                );
                return AuthenticationConfig::None;
            }
            other => {
                self.push(
                    &kind.loc,
                    "auth_type",
                    Severity::Error,
                    format!("{other:?} is not PASS or AH"),
                );
                return AuthenticationConfig::None;
            }
        }
        let Some(password) = auth.password else {
            self.push(
                &kind.loc,
                "auth_type",
                Severity::Warning,
                "no auth_pass reached keepalived: it logs \"Authentication specified but no password given. Ignoring\" \
                 and sends adverts with no authentication, so none is imported. (keepalived reads one keyword per \
                 line: an `auth_pass` on the auth_type line is ignored.) If the peer really uses a password, put \
                 auth_pass on its own line on both nodes",
            );
            return AuthenticationConfig::None;
        };
        // RFC 3768 §5.3.10: the Authentication Data field is 8 octets; keepalived cuts
        // longer passwords ("Truncating auth_pass to 8 characters").
        let bytes = password.text.as_bytes();
        let text = if bytes.len() > 8 {
            let Ok(prefix) = std::str::from_utf8(&bytes[..8]) else {
                self.push(&password.loc, "auth_pass", Severity::Error, "longer than 8 bytes, and its first 8 bytes end inside a character: vrrpd's password must be text");
                return AuthenticationConfig::None;
            };
            self.push(
                &password.loc,
                "auth_pass",
                Severity::Warning,
                format!(
                    "{} bytes long: keepalived silently uses only the first 8, {prefix:?}, on the wire, so that is \
                     what its peer sends and what is imported",
                    bytes.len()
                ),
            );
            prefix.to_owned()
        } else {
            password.text.clone()
        };
        AuthenticationConfig::Pass { password: text }
    }
}

/// Parses keepalived's <TIMER>: decimal seconds ("1", "0.5", ".25", "2.") to microseconds.
/// Digits beyond microseconds are dropped, as keepalived's resolution is microseconds.
fn parse_seconds_us(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    if !whole
        .bytes()
        .chain(fraction.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut micros = 0u64;
    for (i, digit) in fraction.bytes().take(6).enumerate() {
        micros += u64::from(digit - b'0') * 10u64.pow(5 - i as u32);
    }
    whole.checked_mul(1_000_000)?.checked_add(micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_values_parse_to_microseconds() {
        assert_eq!(parse_seconds_us("1"), Some(1_000_000));
        assert_eq!(parse_seconds_us("0.01"), Some(10_000));
        assert_eq!(parse_seconds_us(".25"), Some(250_000));
        assert_eq!(parse_seconds_us("2."), Some(2_000_000));
        assert_eq!(parse_seconds_us("0.0000019"), Some(1));
        assert_eq!(parse_seconds_us("-1"), None);
        assert_eq!(parse_seconds_us("1e3"), None);
        assert_eq!(parse_seconds_us("."), None);
        assert_eq!(parse_seconds_us(""), None);
    }
}
