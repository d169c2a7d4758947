//! The control protocol's messages: what an operator (`vrrpd status`, `demote`,
//! `promote`) or the metrics endpoint asks the node, and what it answers. Plain data,
//! serialized as one JSON line each way by `driver::control`; the node answers them.

use serde::{Deserialize, Serialize};

use super::status::StatusReport;

/// A request, as sent on the socket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    /// Every instance's and tracker's state and counters.
    Status,
    /// Hand mastership to a peer (make-before-break) and stay backup until `Promote`;
    /// every instance when `instance` is absent. Kept in the state directory.
    Demote {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
    /// Undo `Demote`; every instance when `instance` is absent.
    Promote {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instance: Option<String>,
    },
}

/// What a demote or promote did to one instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldChange {
    pub instance: String,
    /// In words, e.g. "MASTER: handing over (priority 0 sent, keeps the addresses until
    /// the peer's advert)".
    pub message: String,
    /// A make-before-break hand-over started: the client may wait for it to end.
    pub handing_over: bool,
}

/// An answer, as sent on the socket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What `demote`/`promote` did, one entry per instance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<HoldChange>,
}

impl Response {
    pub fn error(message: impl Into<String>) -> Self {
        Response {
            ok: false,
            status: None,
            error: Some(message.into()),
            changes: Vec::new(),
        }
    }
    pub fn status(report: StatusReport) -> Self {
        Response {
            ok: true,
            status: Some(report),
            error: None,
            changes: Vec::new(),
        }
    }
    pub fn changes(changes: Vec<HoldChange>) -> Self {
        Response {
            ok: true,
            status: None,
            error: None,
            changes,
        }
    }
}
