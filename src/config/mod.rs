//! The JSON configuration: Rust types (the source of the published schema),
//! loading, schema validation and cross-field rules.
//!
//! Every load runs the same pipeline ([`load_value`]):
//! 1. parse the JSON text;
//! 2. validate it against the committed schema ([`SCHEMA_TEXT`], kept equal to
//!    [`schema()`] by the drift test; formats enforced) and turn every error into a
//!    [`ConfigProblem`] with the JSON pointer of the offending value and a plain message;
//! 3. deserialize into [`Config`];
//! 4. check the rules one schema cannot express (uniqueness across instances, address
//!    families, RFC 5798 §5.2.9 link-local first address, …), see `rules.rs`.
//!
//! All problems found are reported together in [`ConfigError::Invalid`].
//!
//! The daemon runs step 2 in a short-lived child process ([`isolated`]): the validator
//! and its regex engines are most of the binary's code and a good part of its start-up
//! heap, and a process that never runs that code never has it resident.
//!
//! The JSON keys are a published interface (the schema, the importer's output and the
//! NixOS module all write them): renaming one breaks every existing config.

mod health;
mod humanize;
pub mod isolated;
mod routing;
mod rules;
mod schema;

pub use health::{
    CheckConfig, DEFAULT_CONTROL_SOCKET, HttpTarget, NotifyConfig, TrackRef, TrackerConfig,
    parse_http_url, parse_socket_address,
};
pub use routing::{
    MAIN_TABLE, RoutePrefix, RouteType, RuleAction, VirtualRouteConfig, VirtualRuleConfig,
    network_of,
};

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::core::{Authentication, ChecksumMode, InstanceParams, Version, state::GarpParams};

/// Stable `$id` of the published schema.
pub const SCHEMA_ID: &str = "https://vrrpd.dev/schema/vrrpd.schema.json";

/// Where the committed copy of the schema lives, relative to the repository root.
pub const SCHEMA_PATH: &str = "schema/vrrpd.schema.json";

/// The committed schema ([`SCHEMA_PATH`]), which configs are validated against. Embedded
/// rather than generated from the types at run time, so that loading a config runs no
/// schemars code; `tests/schema_drift.rs` keeps it equal to [`schema_text`].
pub const SCHEMA_TEXT: &str = include_str!("../../schema/vrrpd.schema.json");

/// The vrrpd configuration file: a list of VRRP instances (virtual routers).
///
/// One instance is one virtual router on one interface for one address family, like a
/// keepalived `vrrp_instance` block.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "vrrpd configuration", extend("$id" = SCHEMA_ID))]
pub struct Config {
    /// URL or path of this schema, so that editors can validate and complete the file;
    /// ignored by vrrpd. Use "https://vrrpd.dev/schema/vrrpd.schema.json".
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The virtual routers to run, at least one. Each needs a unique `name` and a unique
    /// (`interface`, `virtual_router_id`, address family) combination.
    #[schemars(length(min = 1))]
    pub instances: Vec<InstanceConfig>,
    /// Health checks that instances can follow through their `track` entries. Default
    /// none. See docs/health-checks.md. keepalived: `vrrp_script` blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trackers: Vec<TrackerConfig>,
    /// Path of the unix control socket that `vrrpd status` connects to, created mode 0660
    /// (root and vrrpd's group only). Default "/run/vrrpd/control.sock".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 107))]
    pub control_socket: Option<String>,
    /// Directory where vrrpd keeps state that must survive a restart and a reboot: the
    /// operator hold of `vrrpd demote` (file `demoted`). Created mode 0750 if missing.
    /// Default "/var/lib/vrrpd" (systemd: StateDirectory=vrrpd).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub state_directory: Option<String>,
    /// Address and port to serve Prometheus metrics on at /metrics, e.g.
    /// "127.0.0.1:9650". Default: no metrics endpoint. Prefer a loopback address: the
    /// endpoint has no authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_listen: Option<String>,
    /// Groups of instances that are master together or not at all (keepalived
    /// `vrrp_sync_group`). Default: none. Each instance may belong to at most one group.
    /// See docs/configuration.md for the exact rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sync_groups: Vec<SyncGroupConfig>,
}

/// Where vrrpd keeps its state when the config names no `state_directory`.
pub const DEFAULT_STATE_DIRECTORY: &str = "/var/lib/vrrpd";

impl Config {
    /// The state directory in force.
    pub fn state_directory_path(&self) -> &str {
        self.state_directory
            .as_deref()
            .unwrap_or(DEFAULT_STATE_DIRECTORY)
    }
    /// The control socket path in force.
    pub fn control_socket_path(&self) -> &str {
        self.control_socket
            .as_deref()
            .unwrap_or(DEFAULT_CONTROL_SOCKET)
    }
}

/// A sync group: instances that move between MASTER and BACKUP together, e.g. a public
/// and an internal virtual address of one router (keepalived `vrrp_sync_group`).
///
/// When one member leaves MASTER for BACKUP, the others resign (priority-0 advert) and
/// become BACKUP; when one becomes MASTER, the others become MASTER; while one is in
/// FAULT of its own (its interface is down, or a tracker with weight 0 failed), the others are held in FAULT too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyncGroupConfig {
    /// Group name, used in logs; unique among the groups. No whitespace and no '/'.
    /// keepalived: the NAME of `vrrp_sync_group NAME`.
    #[schemars(length(min = 1, max = 64), regex(pattern = schema::INSTANCE_NAME_PATTERN))]
    pub name: String,
    /// The `name`s of the member instances, at least 2, each listed once. An instance
    /// belongs to at most one group. keepalived: `group { VI_1 VI_2 }`.
    #[schemars(length(min = 2, max = 255))]
    pub instances: Vec<String>,
}

/// VRRP protocol version.
///
/// Written as the integer 2 or 3, like keepalived's `vrrp_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VrrpVersion {
    /// VRRPv2, RFC 3768: IPv4 only, whole-second intervals, optional simple password.
    V2,
    /// VRRPv3, RFC 5798 / RFC 9568: IPv4 or IPv6, centisecond intervals, no authentication.
    V3,
}

impl VrrpVersion {
    /// The version as a string, for messages ("2" or "3"); the config writes the integer.
    pub fn as_str(self) -> &'static str {
        match self {
            VrrpVersion::V2 => "2",
            VrrpVersion::V3 => "3",
        }
    }
}

impl fmt::Display for VrrpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<VrrpVersion> for Version {
    fn from(version: VrrpVersion) -> Self {
        match version {
            VrrpVersion::V2 => Version::V2,
            VrrpVersion::V3 => Version::V3,
        }
    }
}

impl Serialize for VrrpVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(match self {
            VrrpVersion::V2 => 2,
            VrrpVersion::V3 => 3,
        })
    }
}

impl<'de> Deserialize<'de> for VrrpVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct VersionVisitor;
        impl serde::de::Visitor<'_> for VersionVisitor {
            type Value = VrrpVersion;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("the integer 2 or 3")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<VrrpVersion, E> {
                match v {
                    2 => Ok(VrrpVersion::V2),
                    3 => Ok(VrrpVersion::V3),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Unsigned(v), &self)),
                }
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<VrrpVersion, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
                }
            }
        }
        deserializer.deserialize_any(VersionVisitor)
    }
}

impl schemars::JsonSchema for VrrpVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "VrrpVersion".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schema::version_schema()
    }
}

/// Advertisement authentication (VRRPv2 only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[schemars(transform = schema::describe_authentication_tag)]
pub enum AuthenticationConfig {
    /// No authentication (auth type 0). The only choice for VRRPv3, which removed
    /// authentication (RFC 5798 §9).
    None,
    /// Simple text password (RFC 3768 auth type 1, keepalived `auth_type PASS`). It is sent
    /// in clear and only guards against misconfiguration, not attacks.
    Pass {
        /// The shared password, 1 to 8 bytes (UTF-8), the same on every router of the
        /// instance. keepalived silently cuts `auth_pass` to 8 characters; vrrpd refuses
        /// longer ones instead, so both sides surely agree. Sent zero-padded to 8 bytes.
        #[schemars(length(min = 1, max = 8))]
        password: String,
    },
}

/// Which checksum a VRRPv3 IPv4 advertisement is sent with. Both forms are accepted on
/// receipt; IPv6 always uses the pseudo-header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum V3Checksum {
    /// RFC 5798 §5.2.8: the IPv4 pseudo-header is included (keepalived's and FRR's default).
    WithPseudoHeader,
    /// RFC 9568 §5.2.8: over the VRRP message only, like v2 (keepalived `v3_checksum_as_v2`).
    MessageOnly,
}

impl From<V3Checksum> for ChecksumMode {
    fn from(checksum: V3Checksum) -> Self {
        match checksum {
            V3Checksum::WithPseudoHeader => ChecksumMode::WithPseudoHeader,
            V3Checksum::MessageOnly => ChecksumMode::MessageOnly,
        }
    }
}

/// A virtual address: an address with an optional prefix length ("192.0.2.10" or
/// "192.0.2.10/24"), held on the instance's interface; or, written as an object, held on
/// another interface (keepalived `virtual_ipaddress { ADDR dev IFACE }`).
///
/// In JSON a plain string when it lives on the instance's interface (the common case, and
/// every config written before per-address interfaces existed), else
/// `{"address": "198.51.100.7/24", "interface": "eth1", "track": true}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualAddress {
    /// "192.0.2.10" or "192.0.2.10/24" (checked by [`VirtualAddress::parse`]).
    pub address: String,
    /// The interface the address is added to, announced on and watched on; None: the
    /// instance's own interface (or its virtual MAC interface, `use_virtual_mac`).
    pub interface: Option<String>,
    /// With `interface`: whether that interface being down or missing puts the instance in
    /// FAULT, as keepalived tracks the interface of such an address unless `no_track`.
    pub track: bool,
}

/// How a [`VirtualAddress`] is written in JSON.
#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum VirtualAddressText {
    Plain(String),
    OnInterface(AddressOnInterface),
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressOnInterface {
    address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    interface: Option<String>,
    #[serde(default = "default_true", skip_serializing_if = "is_true")]
    track: bool,
}

fn is_true(value: &bool) -> bool {
    *value
}

impl Serialize for VirtualAddress {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.interface.is_none() && self.track {
            return serializer.serialize_str(&self.address);
        }
        AddressOnInterface {
            address: self.address.clone(),
            interface: self.interface.clone(),
            track: self.track,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for VirtualAddress {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match VirtualAddressText::deserialize(deserializer)? {
            VirtualAddressText::Plain(address) => VirtualAddress::new(address),
            VirtualAddressText::OnInterface(object) => VirtualAddress {
                address: object.address,
                interface: object.interface,
                track: object.track,
            },
        })
    }
}

impl VirtualAddress {
    /// An address on the instance's own interface.
    pub fn new(address: impl Into<String>) -> Self {
        VirtualAddress {
            address: address.into(),
            interface: None,
            track: true,
        }
    }

    /// An address on another interface, tracked.
    pub fn on_interface(address: impl Into<String>, interface: impl Into<String>) -> Self {
        VirtualAddress {
            address: address.into(),
            interface: Some(interface.into()),
            track: true,
        }
    }

    /// Address and prefix length (/32 or /128 when none is given).
    pub fn parse(&self) -> Result<(IpAddr, u8), String> {
        let (addr, prefix) = match self.address.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (self.address.as_str(), None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IPv4 or IPv6 address"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            // Only plain decimal digits: u8's parser would also take "+24".
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                match p.parse::<u8>() {
                    Ok(n) if n <= max => n,
                    _ => return Err(format!("prefix length /{p} must be 0 to {max}")),
                }
            }
            Some(p) => {
                return Err(format!(
                    "prefix length /{p} must be a number from 0 to {max}"
                ));
            }
        };
        Ok((ip, prefix))
    }

    /// The interface it lives on when that is not the instance's `interface` (naming the
    /// instance's own interface is the same as naming none).
    pub fn other_interface<'a>(&'a self, instance_interface: &str) -> Option<&'a str> {
        self.interface
            .as_deref()
            .filter(|interface| *interface != instance_interface)
    }
}

impl fmt::Display for VirtualAddress {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.interface {
            Some(interface) => write!(formatter, "{} dev {interface}", self.address),
            None => formatter.write_str(&self.address),
        }
    }
}

impl schemars::JsonSchema for VirtualAddress {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "VirtualAddress".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schema::virtual_address_schema()
    }
}

/// One virtual router (keepalived `vrrp_instance`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::add_interval_rules)]
pub struct InstanceConfig {
    /// Instance name, used in logs and status; unique in the file. No whitespace and no
    /// '/'. keepalived: the NAME of `vrrp_instance NAME`.
    #[schemars(length(min = 1, max = 64), regex(pattern = schema::INSTANCE_NAME_PATTERN))]
    pub name: String,
    /// Network interface the instance runs on and adds its addresses to, e.g. "eth0":
    /// 1 to 15 bytes, no '/', ':' or whitespace (Linux IFNAMSIZ and dev_valid_name).
    /// keepalived: `interface`.
    #[schemars(length(min = 1, max = 15), regex(pattern = schema::INTERFACE_NAME_PATTERN))]
    pub interface: String,
    /// Virtual Router Identifier (VRID), 1 to 255, the same on every router of this
    /// virtual router and unique per interface and address family. keepalived:
    /// `virtual_router_id`.
    #[schemars(range(min = 1, max = 255))]
    pub virtual_router_id: u8,
    /// VRRP version: 2 (RFC 3768, IPv4 only, supports `authentication`) or 3
    /// (RFC 5798/9568, IPv4 or IPv6). Default 3. keepalived: `version` (keepalived's own
    /// default is 2, so set it explicitly when replacing keepalived).
    #[serde(default = "default_version")]
    pub version: VrrpVersion,
    /// Priority, 1 to 255; the highest wins the election. 255 declares this router the
    /// owner of the virtual addresses (RFC 3768 §5.3.4): it becomes master at once on
    /// startup. keepalived: `priority`.
    #[schemars(range(min = 1, max = 255))]
    pub priority: u8,
    /// Interval between advertisements in milliseconds. Default 1000. VRRPv2 carries
    /// whole seconds: 1000 to 255000 in steps of 1000. VRRPv3 carries centiseconds: 10 to
    /// 40950 in steps of 10. keepalived: `advert_int` (in seconds, e.g. 1 or 0.1).
    #[serde(default = "default_advert_interval_ms")]
    #[schemars(range(min = 10, max = 255000))]
    pub advert_interval_ms: u32,
    /// Advertisement authentication, VRRPv2 only. Default {"type": "none"}. keepalived:
    /// `authentication { auth_type PASS; auth_pass ... }`.
    #[serde(default = "default_authentication")]
    pub authentication: AuthenticationConfig,
    /// The virtual addresses, at least one, all of one family, each with an optional
    /// prefix length ("192.0.2.40/24"; without one, /32 or /128). VRRPv2: IPv4 only.
    /// VRRPv3 IPv6: the first address must be link-local (RFC 5798 §5.2.9). An address
    /// that lives on another interface than the instance's is written as an object,
    /// {"address": "198.51.100.7/24", "interface": "eth1"}: it is added, announced and
    /// watched there, and the instance is in FAULT while that interface is down or
    /// missing unless "track" is false. keepalived: `virtual_ipaddress { ADDR [dev IFACE]
    /// [no_track] ... }`.
    #[schemars(length(min = 1, max = 255))]
    pub virtual_addresses: Vec<VirtualAddress>,
    /// Addresses held with the virtual addresses (added on becoming master, removed
    /// otherwise, announced with gratuitous ARP/NA) but not listed in advertisements,
    /// whose address count is 8 bits (RFC 3768 §5.3.5): for more than 255 addresses, or
    /// ones the peers need not compare. Same family and format as virtual_addresses
    /// (an object to put one on another interface), at most 4096. Default none.
    /// keepalived: `virtual_ipaddress_excluded { ... }`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 4096))]
    pub excluded_addresses: Vec<VirtualAddress>,
    /// Whether a higher-priority backup takes over from a lower-priority master
    /// (Preempt_Mode, RFC 3768 §6.1). Default true. keepalived: `nopreempt` sets false.
    #[serde(default = "default_true")]
    pub preempt: bool,
    /// Seconds to wait after startup before preempting a lower-priority master, 0 to
    /// 1000. Default 0 (no delay). keepalived: `preempt_delay`.
    #[serde(default)]
    #[schemars(range(max = 1000))]
    pub preempt_delay_s: u32,
    /// Checksum form of VRRPv3 IPv4 advertisements we send: "with_pseudo_header"
    /// (RFC 5798, what keepalived and FRR send) or "message_only" (RFC 9568). Both are
    /// accepted on receipt. Default "with_pseudo_header". Ignored for VRRPv2 and IPv6.
    /// keepalived: `v3_checksum_as_v2` selects "message_only".
    #[serde(default = "default_v3_checksum")]
    pub v3_checksum: V3Checksum,
    /// Source address of our advertisements, of the same family as the virtual addresses
    /// (IPv6: a link-local address). Default: the interface's primary address. It is also
    /// the tie-breaker between equal priorities. keepalived: `mcast_src_ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::ip_address_schema")]
    pub source_address: Option<IpAddr>,
    /// Gratuitous ARPs (IPv4) or unsolicited neighbour advertisements (IPv6) sent per
    /// virtual address in one burst on becoming master, 0 to 100. Default 5. keepalived:
    /// `garp_master_repeat` / `vrrp_garp_master_repeat`.
    #[serde(default = "default_garp_burst_count")]
    #[schemars(range(max = 100))]
    pub garp_burst_count: u32,
    /// Milliseconds between the frames of one burst, 0 to 10000. Default 0 (back to
    /// back). keepalived: `vrrp_garp_interval` (in seconds).
    #[serde(default)]
    #[schemars(range(max = 10000))]
    pub garp_burst_interval_ms: u32,
    /// Seconds after becoming master before a second burst, 0 to 3600; 0 = no second
    /// burst. Default 5. keepalived: `garp_master_delay` / `vrrp_garp_master_delay`.
    #[serde(default = "default_garp_repeat_delay_s")]
    #[schemars(range(max = 3600))]
    pub garp_repeat_delay_s: u32,
    /// While master, send a burst every this many seconds, 0 to 86400; 0 = never
    /// (keepalived's default). Refreshes switches' and neighbours' caches, e.g. after a
    /// split brain heals. keepalived: `garp_master_refresh` / `vrrp_garp_master_refresh`.
    #[serde(default)]
    #[schemars(range(max = 86400))]
    pub garp_master_refresh_s: u32,
    /// Trackers this instance follows, each with its weight (see the top-level
    /// `trackers`). Default none. keepalived: `track_script`, `track_interface`,
    /// `track_file`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub track: Vec<TrackRef>,
    /// Programs run on this instance's transitions. Default none. keepalived:
    /// `notify_master`, `notify_backup`, `notify_fault`, `notify_stop`, `notify`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify: Option<NotifyConfig>,
    /// Unicast mode: the addresses of the other routers of this virtual router, at most
    /// 255, each listed once, of the instance's family (IPv4, or IPv6: link-local or
    /// global, the address the peer sends from). When non-empty, advertisements are
    /// sent to each of them (TTL / hop limit 255) instead of to the multicast group
    /// 224.0.0.18 or ff02::12, and advertisements from any other address are dropped
    /// (counted as "not a configured unicast peer"). Default: empty = multicast. For
    /// networks that filter multicast. keepalived: `unicast_peer { ... }`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::unicast_peers_schema")]
    pub unicast_peers: Vec<IpAddr>,
    /// Unicast mode only: the source address of our advertisements, which must be an
    /// address of this router on the instance's interface (the peers list it in their
    /// `unicast_peers`); for IPv6 link-local or global. Default: `source_address` if
    /// set, else the interface's primary IPv4 address or, for IPv6, its link-local
    /// address (as keepalived). Needs `unicast_peers`; when `source_address` is set too,
    /// both must be equal. keepalived: `unicast_src_ip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::ip_address_schema")]
    pub unicast_source: Option<IpAddr>,
    /// Make-before-break on stop. Default true. When vrrpd stops (SIGTERM, `systemctl
    /// stop` or `restart`) as master, it still sends the priority-0 advertisement of
    /// RFC 3768/5798 §6.4.3 so that a backup takes over after its Skew_Time, but keeps the
    /// virtual addresses, and keeps answering for them, until it hears the new master's
    /// advertisement, or Master_Down_Interval (at most 10 s) passes with nobody taking
    /// over; only then does it remove them and exit. No packet is lost on a planned stop. false: remove
    /// the addresses at once, as the RFC and keepalived do (a gap of about Skew_Time).
    /// See docs/planned-maintenance.md. keepalived: no equivalent.
    #[serde(default = "default_true")]
    pub make_before_break: bool,
    /// Use the RFC's virtual MAC address (RFC 5798 §7.3, RFC 3768 §7.3):
    /// 00-00-5E-00-01-{VRID} for IPv4, 00-00-5E-00-02-{VRID} for IPv6. vrrpd creates a
    /// macvlan interface (mode bridge) with that MAC on `interface`, puts the virtual
    /// addresses there while master, and sends adverts and gratuitous ARP/NA from it; a
    /// failover then changes no client's or router's ARP/ND entry, only the switches'
    /// forwarding tables, which the new master's first frame updates. The macvlan is up
    /// only while master, is removed when vrrpd stops, and one left by a killed run is
    /// reused. vrrpd also sets arp_ignore 1 and arp_announce 2 on `interface`, so that
    /// only the macvlan answers ARP for the addresses (see docs/configuration.md).
    /// Default false. keepalived: `use_vmac`. FRR: always.
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_virtual_mac: bool,
    /// Name of the virtual MAC's macvlan interface (1 to 15 bytes). Default "vrrp.VRID"
    /// for IPv4 and "vrrp6.VRID" for IPv6 (keepalived's names). Only with
    /// `use_virtual_mac`. keepalived: the NAME of `use_vmac NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 15), regex(pattern = schema::INTERFACE_NAME_PATTERN))]
    pub virtual_mac_interface: Option<String>,
    /// Routes held exactly while the instance holds its addresses as master: added right
    /// after them, removed right before them (and put back if someone else deletes one),
    /// marked with routing protocol 112 (`ip route show proto 112`). Of the instance's
    /// family, at most 1024. Default none. See docs/configuration.md. keepalived:
    /// `virtual_routes { ... }`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub virtual_routes: Vec<VirtualRouteConfig>,
    /// Policy routing rules held like `virtual_routes`: added after them, removed before
    /// them, protocol 112 too. Of the instance's family, at most 1024. Default none.
    /// keepalived: `virtual_rules { ... }`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024))]
    pub virtual_rules: Vec<VirtualRuleConfig>,
}

fn is_false(value: &bool) -> bool {
    !*value
}

fn default_version() -> VrrpVersion {
    VrrpVersion::V3
}
fn default_advert_interval_ms() -> u32 {
    1000
}
fn default_authentication() -> AuthenticationConfig {
    AuthenticationConfig::None
}
fn default_true() -> bool {
    true
}
fn default_v3_checksum() -> V3Checksum {
    V3Checksum::WithPseudoHeader
}
fn default_garp_burst_count() -> u32 {
    5
}
fn default_garp_repeat_delay_s() -> u32 {
    5
}

/// One address an instance holds as master, parsed (see [`InstanceConfig::held_addresses`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldAddress {
    pub address: IpAddr,
    pub prefix_len: u8,
    /// Another interface than the instance's own (None: the instance's own).
    pub interface: Option<String>,
    /// Whether that interface's state decides FAULT (only meaningful with `interface`).
    pub track: bool,
}

/// A config error: the JSON pointer of the offending value and a plain message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// RFC 6901 JSON pointer into the document, e.g. "/instances/0/priority";
    /// "" is the whole document.
    pub pointer: String,
    /// What is wrong, in words an operator understands.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pointer = if self.pointer.is_empty() {
            "/"
        } else {
            &self.pointer
        };
        write!(f, "{pointer}: {}", self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("{path} has {}:\n{}", count_problems(problems.len()), list_problems(problems))]
    Invalid {
        path: String,
        problems: Vec<ConfigProblem>,
    },
    /// The schema check could not give an answer (see [`isolated`]): the config is
    /// treated as invalid rather than used unchecked.
    #[error("cannot validate {path}: {reason}")]
    Unchecked { path: String, reason: String },
}

fn count_problems(count: usize) -> String {
    if count == 1 {
        "1 problem".to_owned()
    } else {
        format!("{count} problems")
    }
}

fn list_problems(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// The problems of an invalid config; empty for read and syntax errors.
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            ConfigError::Invalid { problems, .. } => problems,
            _ => &[],
        }
    }
}

/// The published schema, generated from the types.
pub fn schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Config).to_value();
    schema::unwrap_descriptions(&mut schema);
    schema
}

/// The schema exactly as committed at [`SCHEMA_PATH`] and printed by `vrrpd schema`:
/// pretty JSON with a trailing newline.
pub fn schema_text() -> String {
    // A Value always serializes; the fallback only keeps this path free of panics.
    let mut text = serde_json::to_string_pretty(&schema()).unwrap_or_default();
    text.push('\n');
    text
}

/// Parse, validate against the schema, deserialize, check cross-field rules.
/// `origin` names the source in messages (a path, or "<demo>").
pub fn load_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    load_value(&parse_document(text, origin)?, origin)
}

/// The file's text; `read_to_string`'s errors (including "not UTF-8") as [`ConfigError::Read`].
pub fn read_file(path: &std::path::Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Load a file with every check run in this process (`vrrpd check`, the CLI). The daemon
/// uses [`isolated::load_file`], which gives the same answers.
pub fn load_file(path: &std::path::Path) -> Result<Config, ConfigError> {
    load_str(&read_file(path)?, &path.display().to_string())
}

/// Step 1: the JSON text as a document, or [`ConfigError::Json`].
pub fn parse_document(text: &str, origin: &str) -> Result<serde_json::Value, ConfigError> {
    serde_json::from_str(text).map_err(|source| ConfigError::Json {
        path: origin.to_owned(),
        source,
    })
}

/// Step 2 alone: every schema violation in `document`, in document order.
pub fn schema_problems(document: &serde_json::Value) -> Vec<ConfigProblem> {
    humanize::schema_problems(document)
}

/// Validate an already parsed document and deserialize it: the same checks as
/// [`load_str`]. Code that builds a [`Config`] (the importer, the demo) can check it with
/// `load_value(&serde_json::to_value(&config)?, origin)`.
pub fn load_value(value: &serde_json::Value, origin: &str) -> Result<Config, ConfigError> {
    load_checked_value(value, origin, schema_problems(value))
}

/// Steps 3 and 4 on a document whose schema check (step 2, [`schema_problems`]) was done
/// elsewhere, e.g. in a child process: `schema_problems` is what it found.
pub fn load_checked_value(
    value: &serde_json::Value,
    origin: &str,
    schema_problems: Vec<ConfigProblem>,
) -> Result<Config, ConfigError> {
    let mut problems = schema_problems;
    let config = Config::deserialize(value);

    // Cross-field rules run on every instance that deserializes, even when another one
    // does not, so that one load reports as much as possible.
    let parsed_separately: Vec<(usize, InstanceConfig)> = match &config {
        Ok(_) => Vec::new(),
        Err(_) => {
            // JSON Schema takes 100.0 for an integer and serde does not: name such numbers.
            add_unless_reported(&mut problems, humanize::non_integer_numbers(value));
            value
                .get("instances")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
                .filter_map(|(index, item)| {
                    InstanceConfig::deserialize(item)
                        .ok()
                        .map(|instance| (index, instance))
                })
                .collect()
        }
    };
    let instances: Vec<(usize, &InstanceConfig)> = match &config {
        Ok(config) => config.instances.iter().enumerate().collect(),
        Err(_) => parsed_separately
            .iter()
            .map(|(index, instance)| (*index, instance))
            .collect(),
    };
    add_unless_reported(&mut problems, rules::check(&instances));
    if let Ok(config) = &config {
        add_unless_reported(&mut problems, health::check(config));
    }
    let groups: Vec<SyncGroupConfig> = match &config {
        Ok(config) => config.sync_groups.clone(),
        Err(_) => value
            .get("sync_groups")
            .and_then(|groups| Vec::<SyncGroupConfig>::deserialize(groups).ok())
            .unwrap_or_default(),
    };
    // Membership can only be checked against the names of every instance in the document.
    let all_names: Option<Vec<&str>> = value
        .get("instances")
        .and_then(serde_json::Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.get("name").and_then(serde_json::Value::as_str))
                .collect()
        });
    add_unless_reported(
        &mut problems,
        rules::check_sync_groups(&groups, all_names.as_deref().unwrap_or_default()),
    );

    match config {
        Ok(config) if problems.is_empty() => Ok(config),
        Ok(_) => Err(invalid(origin, problems)),
        Err(error) => {
            // The checks above catch everything serde refuses that we know of; this is
            // the net for the rest.
            if problems.is_empty() {
                problems.push(ConfigProblem {
                    pointer: String::new(),
                    message: error.to_string(),
                });
            }
            Err(invalid(origin, problems))
        }
    }
}

/// Adds `more`, except where a value (itself or a part of it) already has a problem: the
/// first check to object speaks for it.
fn add_unless_reported(problems: &mut Vec<ConfigProblem>, more: Vec<ConfigProblem>) {
    for problem in more {
        let below = format!("{}/", problem.pointer);
        let reported = problems
            .iter()
            .any(|p| p.pointer == problem.pointer || p.pointer.starts_with(&below));
        if !reported {
            problems.push(problem);
        }
    }
}

/// Problems in document order: grouped by instance, then by key.
fn invalid(origin: &str, mut problems: Vec<ConfigProblem>) -> ConfigError {
    problems.sort_by(|a, b| pointer_order(&a.pointer).cmp(&pointer_order(&b.pointer)));
    ConfigError::Invalid {
        path: origin.to_owned(),
        problems,
    }
}

/// Sort key of a JSON pointer: array indexes compare as numbers ("/2" before "/10").
fn pointer_order(pointer: &str) -> Vec<(u64, &str)> {
    pointer
        .split('/')
        .map(|token| (token.parse::<u64>().unwrap_or(u64::MAX), token))
        .collect()
}

impl InstanceConfig {
    /// The core's parameters for this instance. `local_address` is the
    /// interface's primary address of the instance's family (or `source_address`).
    ///
    /// Expects a config that passed [`load_value`]: out-of-range values are clamped to
    /// what the wire can carry rather than panicking.
    pub fn to_params(&self, local_address: IpAddr) -> InstanceParams {
        let authentication = match (&self.version, &self.authentication) {
            (VrrpVersion::V2, AuthenticationConfig::Pass { password }) => {
                Authentication::SimplePassword(password_bytes(password))
            }
            // VRRPv3 has no authentication field (RFC 5798 §9); load rejects the combination.
            _ => Authentication::None,
        };
        InstanceParams {
            version: self.version.into(),
            virtual_router_id: self.virtual_router_id,
            priority: self.priority,
            advert_interval_cs: self.advert_interval_cs(),
            preempt: self.preempt,
            preempt_delay: Duration::from_secs(u64::from(self.preempt_delay_s)),
            authentication,
            addresses: self.advertised_addresses(),
            local_address,
            checksum_mode: self.v3_checksum.into(),
            garp: GarpParams {
                burst_count: self.garp_burst_count,
                burst_spacing: Duration::from_millis(u64::from(self.garp_burst_interval_ms)),
                second_burst_delay: seconds_or_off(self.garp_repeat_delay_s),
                master_refresh: seconds_or_off(self.garp_master_refresh_s),
            },
        }
    }

    /// Every address the instance holds as master (the virtual addresses, then the excluded
    /// ones), with the interface it lives on when that is not the instance's own. Entries
    /// that do not parse are left out (load rejects them).
    pub fn held_addresses(&self) -> Vec<HeldAddress> {
        self.virtual_addresses
            .iter()
            .chain(&self.excluded_addresses)
            .filter_map(|entry| {
                let (address, prefix_len) = entry.parse().ok()?;
                Some(HeldAddress {
                    address,
                    prefix_len,
                    interface: entry.other_interface(&self.interface).map(str::to_owned),
                    track: entry.track,
                })
            })
            .collect()
    }

    /// The interfaces other than its own that the instance holds addresses on, each once,
    /// with whether any address there is tracked.
    pub fn address_interfaces(&self) -> Vec<(String, bool)> {
        let mut interfaces: Vec<(String, bool)> = Vec::new();
        for held in self.held_addresses() {
            let Some(name) = held.interface else {
                continue;
            };
            match interfaces.iter_mut().find(|(known, _)| *known == name) {
                Some((_, track)) => *track |= held.track,
                None => interfaces.push((name, held.track)),
            }
        }
        interfaces
    }

    /// The advertisement interval in centiseconds, as the core counts it. v2 carries whole
    /// seconds (8 bits, RFC 3768 §5.3.7) and v3 centiseconds (12 bits, RFC 5798 §5.2.7).
    pub fn advert_interval_cs(&self) -> u16 {
        let cs = self.advert_interval_ms / 10;
        match self.version {
            VrrpVersion::V2 => (cs / 100).clamp(1, 255) as u16 * 100,
            VrrpVersion::V3 => cs.clamp(1, 4095) as u16,
        }
    }

    /// The virtual addresses with their prefix lengths (validated at load; an entry that
    /// does not parse is left out).
    /// Every address the instance holds as master: the virtual addresses, then the
    /// excluded ones.
    pub fn addresses_with_prefix(&self) -> Vec<(IpAddr, u8)> {
        self.virtual_addresses
            .iter()
            .chain(&self.excluded_addresses)
            .filter_map(|a| a.parse().ok())
            .collect()
    }

    /// The addresses its advertisements list (RFC 3768 §5.3.9, RFC 5798 §5.2.9): the
    /// virtual addresses only.
    pub fn advertised_addresses(&self) -> Vec<IpAddr> {
        self.virtual_addresses
            .iter()
            .filter_map(|a| a.parse().ok())
            .map(|(ip, _)| ip)
            .collect()
    }

    /// Unicast mode: adverts go to `unicast_peers` and are accepted only from them.
    pub fn is_unicast(&self) -> bool {
        !self.unicast_peers.is_empty()
    }

    /// The configured source of our advertisements, if any: `unicast_source` in unicast
    /// mode, else `source_address` (validation makes them agree when both are set).
    pub fn configured_source(&self) -> Option<IpAddr> {
        match self.unicast_source {
            Some(source) if self.is_unicast() => Some(source),
            _ => self.source_address,
        }
    }

    /// The virtual MAC's macvlan interface, with `use_virtual_mac`: the configured name,
    /// else keepalived's "vrrp.VRID" (IPv4) or "vrrp6.VRID" (IPv6).
    pub fn virtual_mac_name(&self) -> Option<String> {
        if !self.use_virtual_mac {
            return None;
        }
        Some(self.virtual_mac_interface.clone().unwrap_or_else(|| {
            let prefix = if self.is_ipv6() { "vrrp6" } else { "vrrp" };
            format!("{prefix}.{}", self.virtual_router_id)
        }))
    }

    /// The address family of the instance: that of its first virtual address.
    pub fn is_ipv6(&self) -> bool {
        self.addresses_with_prefix()
            .first()
            .is_some_and(|(ip, _)| ip.is_ipv6())
    }
}

/// RFC 3768 §5.3.10: the password is carried zero-padded in the 8-byte Authentication Data.
fn password_bytes(password: &str) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    for (slot, byte) in bytes.iter_mut().zip(password.bytes()) {
        *slot = byte;
    }
    bytes
}

fn seconds_or_off(seconds: u32) -> Option<Duration> {
    (seconds > 0).then(|| Duration::from_secs(u64::from(seconds)))
}

#[cfg(test)]
mod tests;
