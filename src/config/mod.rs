//! The JSON configuration: Rust types (the source of the published schema),
//! loading, schema validation and cross-field rules.
//!
//! API CONTRACT (shared by the driver, the importer and the NixOS module): keep
//! these field names and JSON keys; add fields, docs and validation freely.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Stable `$id` of the published schema.
pub const SCHEMA_ID: &str = "https://vrrpd.dev/schema/vrrpd.schema.json";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Editors use this to find the schema; ignored by vrrpd.
    #[serde(rename = "$schema", default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub instances: Vec<InstanceConfig>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum VrrpVersion {
    #[serde(rename = "2")]
    V2,
    #[serde(rename = "3")]
    V3,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthenticationConfig {
    None,
    /// keepalived `auth_type PASS`; at most 8 bytes.
    Pass { password: String },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum V3Checksum {
    /// RFC 5798: IPv4 pseudo-header included (keepalived's and FRR's default).
    WithPseudoHeader,
    /// RFC 9568: message only (keepalived `v3_checksum_as_v2`).
    MessageOnly,
}

/// An address with an optional prefix length, e.g. "192.0.2.10" or "192.0.2.10/24".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct VirtualAddress(pub String);

impl VirtualAddress {
    /// Address and prefix length (/32 or /128 when none is given).
    pub fn parse(&self) -> Result<(IpAddr, u8), String> {
        let (addr, prefix) = match self.0.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (self.0.as_str(), None),
        };
        let ip: IpAddr = addr.parse().map_err(|e| format!("{addr:?} is not an IP address: {e}"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(format!("prefix length {p:?} must be 0..={max}")),
            },
        };
        Ok((ip, prefix))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstanceConfig {
    pub name: String,
    pub interface: String,
    pub virtual_router_id: u8,
    #[serde(default = "default_version")]
    pub version: VrrpVersion,
    pub priority: u8,
    #[serde(default = "default_advert_interval_ms")]
    pub advert_interval_ms: u32,
    #[serde(default = "default_authentication")]
    pub authentication: AuthenticationConfig,
    pub virtual_addresses: Vec<VirtualAddress>,
    #[serde(default = "default_true")]
    pub preempt: bool,
    #[serde(default)]
    pub preempt_delay_s: u32,
    #[serde(default = "default_v3_checksum")]
    pub v3_checksum: V3Checksum,
    /// Source address of adverts; default: the interface's primary address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_address: Option<IpAddr>,
    #[serde(default = "default_garp_burst_count")]
    pub garp_burst_count: u32,
    #[serde(default)]
    pub garp_burst_interval_ms: u32,
    #[serde(default = "default_garp_repeat_delay_s")]
    pub garp_repeat_delay_s: u32,
    #[serde(default)]
    pub garp_master_refresh_s: u32,
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

/// A config error: the JSON pointer of the offending value and a plain message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    pub pointer: String,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path} is not valid JSON: {source}")]
    Json { path: String, source: serde_json::Error },
    #[error("{path} has {} problem(s):\n{}", problems.len(), problems.iter().map(|p| format!("  {}: {}", if p.pointer.is_empty() { "/" } else { &p.pointer }, p.message)).collect::<Vec<_>>().join("\n"))]
    Invalid { path: String, problems: Vec<ConfigProblem> },
}

/// The published schema, generated from the types.
pub fn schema() -> serde_json::Value {
    todo!("config helper implements")
}

/// Parse, validate against the schema, deserialize, check cross-field rules.
/// `origin` names the source in messages (a path, or "<demo>").
pub fn load_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
    let _ = (text, origin);
    todo!("config helper implements")
}

pub fn load_file(path: &std::path::Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
    load_str(&text, &path.display().to_string())
}

impl InstanceConfig {
    /// The core's parameters for this instance. `local_address` is the
    /// interface's primary address of the instance's family (or `source_address`).
    pub fn to_params(&self, local_address: IpAddr) -> crate::core::InstanceParams {
        let _ = local_address;
        todo!("config helper implements")
    }
    /// The virtual addresses with their prefix lengths (validated at load).
    pub fn addresses_with_prefix(&self) -> Vec<(IpAddr, u8)> {
        todo!("config helper implements")
    }
}
