//! The control socket protocol: one JSON request per line, one JSON answer per line
//! (`driver::control`, messages in `core::control`), answered by the node.
//!
//! The input is what a client writes on the socket. It is cut into lines as the server's
//! reader does (`\n`, a trailing `\r` dropped; a line that is not UTF-8 ends the
//! connection), and each line goes through the server's pure part
//! (`driver::control::parse_request_line`, `response_line`) and, when it is a command,
//! to a running node.
//!
//! What must hold, beyond "no panic":
//! - a command that parses serializes (as `vrrpd status`/`demote`/`promote` send it) to
//!   one line that parses back to the same command;
//! - a refused line gets `ok: false` with the reason (too long, or serde's words), as one
//!   line;
//! - every command the node receives is answered exactly once, under its request id, once
//!   the hold it asks for is persisted; a demote or promote of an instance the node does
//!   not run is refused and names it; `status` answers with a report;
//! - every answer is one line (`\n` only at its end) that the client reads back as the
//!   same answer.
//!
//! The same bytes are also read as an answer (the client's side, `driver::control::request`):
//! an answer the client accepts serializes back to itself.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use vrrpd::config::Config;
use vrrpd::core::control::{Command, Response};
use vrrpd::core::node::{Node, NodeAction, NodeInput, Placement};
use vrrpd::driver::control::{MAX_REQUEST_LEN, parse_request_line, response_line};

/// Three instances, two of them a sync group (a hold applies to the whole group).
const CONFIG: &str = r#"{
  "instances": [
    { "name": "VI_1", "interface": "eth0", "virtual_router_id": 50, "version": 2,
      "priority": 150, "advert_interval_ms": 1000,
      "authentication": { "type": "pass", "password": "password" },
      "virtual_addresses": ["192.0.2.40"] },
    { "name": "VI_2", "interface": "eth1", "virtual_router_id": 51, "version": 3,
      "priority": 255, "advert_interval_ms": 100, "virtual_addresses": ["198.51.100.40"] },
    { "name": "VI_3", "interface": "eth0", "virtual_router_id": 52, "version": 3,
      "priority": 100, "advert_interval_ms": 100, "virtual_addresses": ["192.0.2.50"] }
  ],
  "sync_groups": [{ "name": "G", "instances": ["VI_1", "VI_2"] }]
}"#;

static LOADED: LazyLock<Config> =
    LazyLock::new(|| vrrpd::config::load_str(CONFIG, "control fuzz").expect("a valid config"));

/// At most this many lines of one input reach the node (a client's connection is cut
/// after 16 × the longest line anyway).
const MAX_LINES: usize = 64;

pub fn run(data: &[u8]) {
    check_client_side(data);

    let start = Instant::now();
    let mut node = start_node(start);
    let mut next_request = 0;
    for (index, raw) in data
        .split(|byte| *byte == b'\n')
        .take(MAX_LINES)
        .enumerate()
    {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(line) = std::str::from_utf8(raw) else {
            return; // the server's reader fails: the connection is closed, nothing answered
        };
        let now = start + Duration::from_millis(10 * index as u64);
        match parse_request_line(line) {
            Ok(command) => {
                let sent = serde_json::to_string(&command).expect("a command serializes");
                assert!(!sent.contains('\n'), "a request of more than one line");
                assert_eq!(
                    parse_request_line(&sent).as_ref(),
                    Ok(&command),
                    "{sent} does not parse back"
                );
                next_request += 1;
                let response = ask(&mut node, now, next_request, command.clone());
                check_answer(&command, &response);
                assert_line_round_trip(&response);
            }
            Err(refusal) => {
                if line.len() > MAX_REQUEST_LEN {
                    assert_eq!(refusal, "request too long");
                } else {
                    assert!(refusal.starts_with("bad request: "), "{refusal}");
                }
                let answer = Response::error(refusal);
                assert!(!answer.ok);
                assert_line_round_trip(&answer);
            }
        }
    }
}

fn start_node(now: Instant) -> Node {
    let config = LOADED.clone();
    let placements: BTreeMap<String, Placement> = config
        .instances
        .iter()
        .map(|instance| {
            let ifindex = if instance.interface == "eth0" { 1 } else { 2 };
            let local_address = if ifindex == 1 {
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, 41))
            } else {
                IpAddr::V4(Ipv4Addr::new(198, 51, 100, 41))
            };
            let placement = Placement {
                ifindex,
                interface: instance.interface.clone(),
                up: true,
                mac: Some([0x02, 0, 0, 0, ifindex as u8, 41]),
                local_address,
                virtual_mac: None,
            };
            (instance.name.clone(), placement)
        })
        .collect();
    super::started_node(config, placements, now).0
}

/// Hand `command` to the node as the shell does, persisting what it asks to keep, and
/// return its one answer.
fn ask(node: &mut Node, now: Instant, request: u64, command: Command) -> Response {
    node.handle(now, NodeInput::Control { request, command });
    let mut answers = Vec::new();
    let mut persisted = Vec::new();
    let mut rounds = 0;
    loop {
        while let Some(action) = node.poll_action() {
            match action {
                NodeAction::Reply {
                    request: id,
                    response,
                } => answers.push((id, response)),
                NodeAction::PersistDemoted { request: id, .. } => persisted.push(id),
                _ => {}
            }
        }
        let Some(id) = persisted.pop() else { break };
        assert_eq!(id, request, "a hold persisted for another request");
        node.handle(
            now,
            NodeInput::Persisted {
                request: id,
                result: Ok(()),
            },
        );
        rounds += 1;
        assert!(rounds < 4, "the node keeps asking to persist");
    }
    assert_eq!(
        answers.len(),
        1,
        "request {request} answered {} times: {answers:?}",
        answers.len()
    );
    let (id, response) = answers.remove(0);
    assert_eq!(id, request, "answered under another request id");
    response
}

fn check_answer(command: &Command, response: &Response) {
    let runs = |name: &str| {
        LOADED
            .instances
            .iter()
            .any(|instance| instance.name == name)
    };
    match command {
        Command::Status => {
            assert!(response.ok, "status refused: {response:?}");
            let report = response.status.as_ref().expect("status without a report");
            assert_eq!(report.instances.len(), LOADED.instances.len());
        }
        Command::Demote { instance } | Command::Promote { instance } => match instance {
            Some(name) if !runs(name) => {
                assert!(
                    !response.ok,
                    "a hold on {name:?}, which the node does not run"
                );
                let error = response.error.as_deref().unwrap_or_default();
                assert!(
                    error.contains(&format!("{name:?}")),
                    "the refusal does not name {name:?}: {error}"
                );
            }
            _ => assert!(response.ok, "{command:?} refused: {response:?}"),
        },
    }
}

/// The answer as sent is one line, and the client reads back the same answer.
fn assert_line_round_trip(response: &Response) {
    let line = response_line(response);
    assert_eq!(
        line.find('\n'),
        Some(line.len() - 1),
        "not one line: {line:?}"
    );
    let read: Response = serde_json::from_str(&line).expect("the client cannot read the answer");
    assert_eq!(&read, response);
}

/// The client reads one answer line (`driver::control::request`): whatever it accepts
/// serializes back to an answer it reads the same.
fn check_client_side(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let line = text.split('\n').next().unwrap_or_default();
    if let Ok(response) = serde_json::from_str::<Response>(line) {
        assert_line_round_trip(&response);
    }
}
