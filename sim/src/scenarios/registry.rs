//! The registry of the scenarios: one line per scenario, in [`Scenario`] order (the order they run
//! and print). Adding a scenario is its folder (`scenarios/NAME/`, with its `entry.rs`), its
//! variant and `pub mod` line in `scenarios/mod.rs`, and its line here.

use super::entry::Entry;
use super::Scenario;

/// Every scenario's entry, in [`Scenario::ALL`] order (the array's length is the set's: a
/// missing line does not compile; `entries_are_in_scenario_order` checks the order).
pub const ENTRIES: [Entry; Scenario::ALL.len()] = [
    super::pools::entry::ENTRY,
    super::migrate::entry::ENTRY,
    super::upgrade::entry::ENTRY,
    super::microcode::entry::ENTRY,
    super::plan::entry::ENTRY,
    super::libvirt_upgrade::entry::ENTRY,
];

/// The entry of `s`.
pub fn entry(s: Scenario) -> &'static Entry {
    ENTRIES.iter().find(|e| e.scenario == s).expect("every scenario is registered")
}
