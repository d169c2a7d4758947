//! The checks behind vrrpd's fuzz targets (`fuzz_targets/*.rs`, run with cargo-fuzz; see
//! docs/RELIABILITY.md, "Fuzzing").
//!
//! Each module takes one fuzz input and panics when an invariant does not hold. They are
//! plain functions so that the main crate's `tests/fuzz_corpora.rs` can replay every
//! committed corpus input (seeds, and whatever a run found worth keeping) with the same
//! checks on a stable toolchain, without libFuzzer.

pub mod advert_decoder;
pub mod config_loader;
pub mod control_protocol;
pub mod keepalived_import;
pub mod node;
pub mod seeds;

/// The simulator of `tests/sim`, used by [`node`] as it is (the same files, not a copy).
#[path = "../../tests/sim/mod.rs"]
pub mod sim;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use vrrpd::config::Config;
use vrrpd::core::node::{DemotedAtStart, Node, NodeInput, Placement};

/// A node for `config`, started at `now` with nothing demoted, and how many actions the
/// start took (all of them taken).
pub fn started_node(
    config: Config,
    placements: BTreeMap<String, Placement>,
    now: Instant,
) -> (Node, usize) {
    let placements = placements
        .into_iter()
        .map(|(name, placement)| (name, Ok(placement)))
        .collect();
    let mut node = Node::new(
        config,
        placements,
        DemotedAtStart::Instances(BTreeSet::new()),
        now,
        1_800_000_000_000,
    );
    node.handle(now, NodeInput::Start);
    let mut actions = 0;
    while node.poll_action().is_some() {
        actions += 1;
    }
    (node, actions)
}
