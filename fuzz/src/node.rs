//! The node itself (`core::node::Node`), driven by arbitrary inputs, with the simulator's
//! properties as the oracle.
//!
//! The input is a tape of choices for the simulator of `tests/sim` (included here, not
//! copied): every decision of a random scenario (its kind, protocol, priorities, faults
//! and their times, the garbage it injects, the losses and delays on the segment) reads
//! its bytes from the input instead of from a seed (`sim::Rng::from_tape`). The scenario
//! then runs exactly as `cargo test --test simulation` runs its seeds, and its properties
//! a-f (`tests/sim/scenario.rs`) must hold: one holder of each VIP once faults stop, the
//! right one, no gap in planned moves, bounded double holders, sync groups together, no
//! panic and bounded steps, actions and memory.

use super::sim::scenario;

pub fn run(data: &[u8]) {
    if let Err(message) = scenario::run_tape(data) {
        panic!("{message}");
    }
}
