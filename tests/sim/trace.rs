//! A scenario's trace as JSON lines: per step, the host, the input and the actions the
//! node returned, in words a reader can check against the RFCs (adverts are decoded).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use vrrpd::core::node::{NodeAction, NodeInput};
use vrrpd::core::packet::{self, Authentication};
use vrrpd::core::receive::ReceivedPacket;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceLine {
    pub at_ms: u64,
    pub host: String,
    pub input: Value,
    pub actions: Vec<Value>,
}

fn advert_words(message: &[u8], source: IpAddr, destination: IpAddr) -> Value {
    match packet::decode(message, source, destination) {
        Ok(advert) => {
            let auth = match &advert.authentication {
                Authentication::None => "none".to_owned(),
                Authentication::SimplePassword(data) => {
                    format!(
                        "pass:{}",
                        String::from_utf8_lossy(data).trim_end_matches('\0')
                    )
                }
                Authentication::Other { auth_type, .. } => format!("type {auth_type}"),
            };
            json!({
                "version": match advert.version { packet::Version::V2 => 2, packet::Version::V3 => 3 },
                "vrid": advert.virtual_router_id,
                "priority": advert.priority,
                "interval_cs": advert.interval_cs,
                "addresses": advert.addresses,
                "auth": auth,
            })
        }
        Err(reason) => json!({ "undecodable": reason.label() }),
    }
}

pub fn input_summary(input: &NodeInput<'_>) -> Value {
    match input {
        NodeInput::Start => json!("start"),
        NodeInput::Datagram { ifindex, packet } => match packet {
            ReceivedPacket::Ipv4(datagram) => match vrrpd::core::ip::parse_ipv4(datagram) {
                Ok(parsed) => json!({ "datagram": {
                    "ifindex": ifindex,
                    "from": parsed.source,
                    "ttl": parsed.ttl,
                    "advert": advert_words(
                        parsed.payload,
                        IpAddr::V4(parsed.source),
                        IpAddr::V4(parsed.destination),
                    ),
                }}),
                Err(reason) => json!({ "datagram": { "ifindex": ifindex, "bad": reason.label() } }),
            },
            ReceivedPacket::Ipv6 { source, .. } => {
                json!({ "datagram": { "ifindex": ifindex, "from": source } })
            }
        },
        NodeInput::Timeout => json!("timeout"),
        NodeInput::Link { ifindex, up, .. } => json!({ "link": { "ifindex": ifindex, "up": up } }),
        NodeInput::LinkGone { ifindex } => json!({ "link_gone": { "ifindex": ifindex } }),
        NodeInput::Located { instance, result } => match result {
            Ok(placement) => {
                json!({ "located": { "instance": instance, "ifindex": placement.ifindex } })
            }
            Err(error) => json!({ "not_located": { "instance": instance, "error": error } }),
        },
        NodeInput::HomeLocated {
            interface, result, ..
        } => json!({ "home_located": { "interface": interface, "found": result.is_ok() } }),
        NodeInput::Resync { links, .. } => json!({ "resync": links.len() }),
        NodeInput::Address {
            ifindex,
            address,
            present,
        } => json!({ "address": { "ifindex": ifindex, "address": address, "present": present } }),
        NodeInput::Route { route, present } => json!({ "route": {
            "table": route.table,
            "destination": format!("{}/{}", route.destination, route.prefix_len),
            "metric": route.metric,
            "present": present,
        }}),
        NodeInput::Rule { rule, present } => {
            json!({ "rule": { "rule": rule.to_string(), "present": present } })
        }
        NodeInput::RoutingResync { routes, rules } => {
            json!({ "routing_resync": { "routes": routes.len(), "rules": rules.len() } })
        }
        NodeInput::TrackerResult {
            tracker, healthy, ..
        } => json!({ "tracker_result": { "tracker": tracker, "healthy": healthy } }),
        NodeInput::TrackerSetupFailed { tracker, error, .. } => {
            json!({ "tracker_setup_failed": { "tracker": tracker, "error": error } })
        }
        NodeInput::Control { command, .. } => json!({ "control": command }),
        NodeInput::Persisted { result, .. } => json!({ "persisted": result.is_ok() }),
        NodeInput::ReloadRequested => json!("reload_requested"),
        NodeInput::ConfigLoaded { result, .. } => match result {
            Ok(loaded) => json!({ "config_loaded": loaded.config.instances.iter()
                .map(|instance| format!("{} priority {}", instance.name, instance.priority))
                .collect::<Vec<_>>() }),
            Err(error) => json!({ "config_rejected": error }),
        },
        NodeInput::Stop => json!("stop"),
        NodeInput::StopNow => json!("stop_now"),
    }
}

/// None for what only the shell's plumbing cares about (socket clean-up, config loads).
pub fn action_summary(action: &NodeAction) -> Option<Value> {
    Some(match action {
        NodeAction::SendAdvertisement {
            source,
            destination,
            message,
            ..
        } => json!({ "send_advert": {
            "to": destination,
            "advert": advert_words(message, *source, *destination),
        }}),
        NodeAction::AddAddresses { addresses, .. } => json!({ "add_addresses": addresses
            .iter().map(|(address, prefix)| format!("{address}/{prefix}")).collect::<Vec<_>>() }),
        NodeAction::RemoveAddresses {
            addresses,
            leftover,
            ..
        } => {
            let key = if *leftover {
                "remove_leftover_addresses"
            } else {
                "remove_addresses"
            };
            json!({ key: addresses.iter().map(|(address, _)| address.to_string()).collect::<Vec<_>>() })
        }
        NodeAction::AddRoutes { routes, .. } => json!({ "add_routes": routes
            .iter().map(ToString::to_string).collect::<Vec<_>>() }),
        NodeAction::RemoveRoutes {
            routes, leftover, ..
        } => {
            let key = if *leftover {
                "remove_leftover_routes"
            } else {
                "remove_routes"
            };
            json!({ key: routes.iter().map(ToString::to_string).collect::<Vec<_>>() })
        }
        NodeAction::AddRules { rules, .. } => json!({ "add_rules": rules
            .iter().map(ToString::to_string).collect::<Vec<_>>() }),
        NodeAction::RemoveRules {
            rules, leftover, ..
        } => {
            let key = if *leftover {
                "remove_leftover_rules"
            } else {
                "remove_rules"
            };
            json!({ key: rules.iter().map(ToString::to_string).collect::<Vec<_>>() })
        }
        NodeAction::SendGratuitousArp { address, .. } => json!({ "garp": address }),
        NodeAction::SendNeighbourAdvertisement { address, .. } => {
            json!({ "neighbour_advertisement": address })
        }
        NodeAction::Log { level, line } => json!({ "log": format!("{level:?}: {line}") }),
        NodeAction::RunHooks {
            instance, state, ..
        } => json!({ "hooks": format!("{instance} {state}") }),
        NodeAction::RunPriorityHook {
            instance,
            old_priority,
            new_priority,
            ..
        } => json!({ "priority_hook": format!("{instance} {old_priority} -> {new_priority}") }),
        NodeAction::PersistDemoted { names, .. } => json!({ "persist_demoted": names }),
        NodeAction::Reply { response, .. } => {
            json!({ "reply": { "ok": response.ok, "changes": response.changes.len() } })
        }
        NodeAction::RestartTrackers { trackers, .. } => json!({ "restart_trackers": trackers
            .iter().map(|tracker| tracker.name.clone()).collect::<Vec<_>>() }),
        NodeAction::Status(status) => json!({ "status": status }),
        NodeAction::Ready(status) => json!({ "ready": status }),
        NodeAction::Reloading => json!("reloading"),
        NodeAction::Stopping => json!("stopping"),
        NodeAction::Exit => json!("exit"),
        NodeAction::Locate { instance, .. } => json!({ "locate": instance }),
        NodeAction::LocateHome { interface, .. } => json!({ "locate_home": interface }),
        NodeAction::SetVirtualMacUp { up, .. } => json!({ "virtual_mac_up": up }),
        NodeAction::DeleteVirtualMac { name, .. } => json!({ "delete_virtual_mac": name }),
        NodeAction::LoadConfig { .. } | NodeAction::CloseUnusedInterfaces { .. } => return None,
    })
}
