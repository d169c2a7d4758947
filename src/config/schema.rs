//! Hand-written parts of the generated schema: what derive attributes cannot say.
//!
//! - Addresses: schemars renders `IpAddr` as `format: "ip"`, which no validator knows, so
//!   addresses get explicit `ipv4`/`ipv6` formats, and virtual addresses (which may carry a
//!   `/prefix`) get patterns built here.
//! - The advertisement interval range depends on the version: an `if`/`then`/`else`.
//! - The tag of the authentication enum gets a description.

use schemars::{Schema, json_schema};
use serde_json::{Value, json};

/// Instance names end up in logs and status output: no whitespace, no '/'.
pub(super) const INSTANCE_NAME_PATTERN: &str = r"^[^/\s]+$";

/// Linux `dev_valid_name()`: no '/', ':' or whitespace (length is checked separately,
/// in bytes, by the cross-field rules).
pub(super) const INTERFACE_NAME_PATTERN: &str = r"^[^/:\s]+$";

/// VRRPv2 advertises whole seconds in 8 bits (RFC 3768 §5.3.7).
pub(super) const V2_INTERVAL_MS: (u32, u32, u32) = (1000, 255_000, 1000);
/// VRRPv3 advertises centiseconds in 12 bits (RFC 5798 §5.2.7).
pub(super) const V3_INTERVAL_MS: (u32, u32, u32) = (10, 40_950, 10);

// Address patterns. Written with explicit character classes rather than \d so that they
// mean the same in ECMA-262 (editors) and Rust regex (vrrpd), where \d is Unicode-aware.
const IPV4_OCTET: &str = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
const IPV4_PREFIX: &str = "(?:3[0-2]|[12]?[0-9])";
const IPV6_PREFIX: &str = "(?:12[0-8]|1[01][0-9]|[1-9]?[0-9])";
const HEX_GROUP: &str = "[0-9A-Fa-f]{1,4}";

fn ipv4_regex() -> String {
    format!(r"{IPV4_OCTET}(?:\.{IPV4_OCTET}){{3}}")
}

/// An IPv6 address in any RFC 4291 §2.2 text form (no zone index): eight groups, or
/// fewer around one "::", optionally ending in a dotted IPv4 address worth two groups.
fn ipv6_regex() -> String {
    let h = HEX_GROUP;
    let v4 = ipv4_regex();
    // `count` groups, each followed by ':' (for the part left of "::").
    let left = |count: usize| match count {
        0 => String::new(),
        1 => h.to_owned(),
        n => format!("(?:{h}:){{{}}}{h}", n - 1),
    };
    // Up to `max` groups separated by ':' (for the part right of "::").
    let right = |max: usize| match max {
        0 => String::new(),
        1 => format!("(?:{h})?"),
        n => format!("(?:{h}(?::{h}){{0,{}}})?", n - 1),
    };
    let mut forms = vec![format!("(?:{h}:){{7}}{h}"), format!("(?:{h}:){{6}}{v4}")];
    // "::" stands for at least one group, so at most seven are written out.
    for before in 0..=7 {
        forms.push(format!("{}::{}", left(before), right(7 - before)));
    }
    // With a trailing IPv4 address (two groups): at most five hex groups written out.
    for before in 0..=5 {
        let middle = match 5 - before {
            0 => String::new(),
            max => format!("(?:{h}:){{0,{max}}}"),
        };
        forms.push(format!("{}::{middle}{v4}", left(before)));
    }
    format!("(?:{})", forms.join("|"))
}

/// Pattern of a virtual IPv4 address with an optional prefix length.
pub(super) fn ipv4_with_prefix_pattern() -> String {
    format!("^{}(?:/{IPV4_PREFIX})?$", ipv4_regex())
}

/// Pattern of a virtual IPv6 address with an optional prefix length.
pub(super) fn ipv6_with_prefix_pattern() -> String {
    format!("^{}(?:/{IPV6_PREFIX})?$", ipv6_regex())
}

pub(super) fn virtual_address_schema() -> Schema {
    let address_text = json!({
        "description": "An IPv4 or IPv6 address with an optional prefix length, e.g. \"192.0.2.40\" or \"192.0.2.40/24\". Without a prefix length the address is added as /32 (IPv4) or /128 (IPv6).",
        "type": "string",
        "anyOf": [
            { "description": "IPv4 address, optionally /0 to /32.", "pattern": ipv4_with_prefix_pattern() },
            { "description": "IPv6 address, optionally /0 to /128.", "pattern": ipv6_with_prefix_pattern() }
        ]
    });
    json_schema!({
        "description": "A virtual address on the instance's interface, as a string (\"192.0.2.40/24\"), or an object for one on another interface (keepalived: `ADDR dev IFACE [no_track]`).",
        "anyOf": [
            address_text.clone(),
            {
                "description": "An address held on another interface than the instance's: added, announced with gratuitous ARP/NA and watched there.",
                "type": "object",
                "additionalProperties": false,
                "required": ["address"],
                "properties": {
                    "address": address_text,
                    "interface": {
                        "description": "The interface the address lives on, e.g. \"eth1\"; default the instance's own. keepalived: `dev`.",
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 15,
                        "pattern": INTERFACE_NAME_PATTERN
                    },
                    "track": {
                        "description": "Whether the instance is in FAULT while that interface is down or missing (as keepalived tracks the interface of such an address). Default true. keepalived: `no_track` sets false.",
                        "type": "boolean",
                        "default": true
                    }
                }
            }
        ],
        "examples": ["192.0.2.40", "192.0.2.40/24", "fe80::40", "2001:db8::40/64", { "address": "198.51.100.7/24", "interface": "eth1" }]
    })
}

/// A route or rule prefix (`virtual_routes`, `virtual_rules`): an address with an optional
/// prefix length, or "default".
pub(super) fn route_prefix_schema() -> Schema {
    json_schema!({
        "description": "An IPv4 or IPv6 prefix, e.g. \"203.0.113.0/24\" or \"2001:db8:1::/48\" (without a prefix length a host route, /32 or /128), or \"default\" (0.0.0.0/0 or ::/0, of the instance's family).",
        "type": "string",
        "anyOf": [
            { "description": "IPv4 prefix, /0 to /32.", "pattern": ipv4_with_prefix_pattern() },
            { "description": "IPv6 prefix, /0 to /128.", "pattern": ipv6_with_prefix_pattern() },
            { "description": "The default route of the instance's family.", "const": "default" }
        ],
        "examples": ["203.0.113.0/24", "2001:db8:1::/48", "default"]
    })
}

/// An IPv4 or IPv6 address without prefix (`format: "ip"` is not a standard format).
pub(super) fn ip_address_schema(_: &mut schemars::SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "anyOf": [
            { "description": "IPv4 address.", "format": "ipv4" },
            { "description": "IPv6 address.", "format": "ipv6" }
        ]
    })
}

/// `unicast_peers`: a list of distinct IPv4/IPv6 addresses without prefix.
pub(super) fn unicast_peers_schema(generator: &mut schemars::SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": ip_address_schema(generator),
        "maxItems": 255,
        "examples": [["192.0.2.42"], ["2001:db8::42"]]
    })
}

/// Values accepted for the version: the integer (written as in keepalived's `vrrp_version`).
pub(super) fn version_values(version: &str) -> [Value; 1] {
    [version.parse::<u8>().map_or(Value::Null, Value::from)]
}

pub(super) fn version_schema() -> Schema {
    let mut values = version_values("2").to_vec();
    values.extend(version_values("3"));
    json_schema!({
        "description": "VRRP version: 2 (RFC 3768) or 3 (RFC 5798, RFC 9568).",
        "enum": values
    })
}

fn interval_rule(version: &str, (minimum, maximum, step): (u32, u32, u32)) -> Value {
    let unit = if step == 1000 {
        "whole seconds"
    } else {
        "steps of 10 ms"
    };
    json!({
        "properties": {
            "advert_interval_ms": {
                "description": format!("With VRRPv{version}: {minimum} to {maximum} ms in {unit}."),
                "minimum": minimum,
                "maximum": maximum,
                "multipleOf": step
            }
        }
    })
}

/// Doc comments are hard-wrapped; editors show descriptions as flowing text. Join the
/// lines of each paragraph, keep blank-line paragraph breaks.
pub(super) fn unwrap_descriptions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                match child {
                    Value::String(text) if key == "description" => *text = unwrap_lines(text),
                    _ => unwrap_descriptions(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_descriptions),
        _ => {}
    }
}

fn unwrap_lines(text: &str) -> String {
    text.split("\n\n")
        .map(|paragraph| {
            paragraph
                .lines()
                .map(str::trim)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n\n")
}

/// Transform for `InstanceConfig`: the rules that depend on `version`.
///
/// Two separate `if`/`then`s rather than one `if`/`then`/`else`, so that an invalid
/// version gets only its own error and not the other version's rules on top.
pub(super) fn add_interval_rules(schema: &mut Schema) {
    // "2" must be written; "3" is also the default, so an absent version selects it.
    let is_v2 = json!({
        "properties": {
            "version": { "description": "Applies when version is 2.", "enum": version_values("2") }
        },
        "required": ["version"]
    });
    let is_v3 = json!({
        "properties": {
            "version": { "description": "Applies when version is 3 or left out.", "enum": version_values("3") }
        }
    });
    let v3_rules = {
        let mut rules = interval_rule("3", V3_INTERVAL_MS);
        // RFC 5798 §9 removed authentication; say so in the schema too, so editors flag it.
        rules["properties"]["authentication"] = json!({
            "description": "With VRRPv3: no authentication.",
            "properties": {
                "type": { "description": "With VRRPv3 only \"none\".", "const": "none" }
            }
        });
        rules
    };
    schema.insert(
        "allOf".to_owned(),
        json!([
            { "if": is_v2, "then": interval_rule("2", V2_INTERVAL_MS) },
            { "if": is_v3, "then": v3_rules }
        ]),
    );
}

/// Transform for `AuthenticationConfig`: describe the `type` tag of each variant.
pub(super) fn describe_authentication_tag(schema: &mut Schema) {
    let Some(Value::Array(variants)) = schema.get_mut("oneOf") else {
        return;
    };
    for variant in variants {
        if let Some(tag) = variant
            .pointer_mut("/properties/type")
            .and_then(Value::as_object_mut)
        {
            let description = match tag.get("const").and_then(Value::as_str) {
                Some("none") => "\"none\": no authentication.",
                Some("pass") => "\"pass\": simple text password, given in \"password\".",
                _ => "Authentication type.",
            };
            tag.insert("description".to_owned(), Value::from(description));
        }
    }
}

/// The `type` tag of each check kind gets a description (schemars leaves tags bare).
pub(super) fn describe_check_tag(schema: &mut Schema) {
    let Some(Value::Array(variants)) = schema.get_mut("oneOf") else {
        return;
    };
    for variant in variants {
        if let Some(tag) = variant
            .pointer_mut("/properties/type")
            .and_then(Value::as_object_mut)
        {
            let description = match tag.get("const").and_then(Value::as_str) {
                Some("interface") => "\"interface\": follow a network interface's link state.",
                Some("tcp") => "\"tcp\": connect to an address and port.",
                Some("http") => "\"http\": HTTP/1.1 GET of an http:// or https:// URL.",
                Some("exec") => "\"exec\": run a program; exit status 0 is healthy.",
                Some("file") => "\"file\": read an integer from a file.",
                _ => "Kind of check.",
            };
            tag.insert("description".to_owned(), Value::from(description));
        }
    }
}
