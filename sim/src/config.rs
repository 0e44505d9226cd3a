//! What one run is given beyond the fleet: [`Config`] (seed, scenarios, checks, observer,
//! rollout) and, for an inventory, [`InventoryReleases`] (the inventory as each release reads it).

use crate::guest::Fault;
use crate::progress::Observer;
use crate::real::ReleaseRead;
use crate::scenarios::libvirt_upgrade::Rollout;
use crate::scenarios::Scenario;
use crate::spec::Spec;

/// What one run does beyond the spec: the seed, the scenarios, how much to check, who watches.
#[derive(Clone)]
pub struct Config<'a> {
    /// The seed every random choice derives from.
    pub seed: u64,
    /// The scenarios to run, in [`Scenario`] order.
    pub scenarios: Vec<Scenario>,
    /// Check every start, migration and compare pair against the reference model.
    pub check_all: bool,
    /// Test-only: a fault the invariant checkers must catch.
    pub fault: Option<Fault>,
    /// The command line that reproduces this run, printed with every violation.
    pub reproduce: String,
    /// Told the run's progress ([`crate::Silent`]: nobody).
    pub progress: &'a dyn Observer,
    /// The libvirt-upgrade scenario's rollout (`--upgrade-steps`, `--upgrade-order`, `--upgrade-from`, `--upgrade-to`, `--reverse`).
    pub rollout: Rollout,
}

/// An inventory as the run reads it and as each release reads it: what the multi-release
/// scenarios (MIXED FLEET, libvirt-upgrade) of [`crate::simulate_inventory`] run on.
pub struct InventoryReleases<'a> {
    /// The spec before the inventory replaced its pools (its guest configurations and counts).
    pub base: &'a Spec,
    /// The inventory as the run reads it (with the run's map).
    pub primary: &'a cpufleet_inventory::Inventory,
    /// The inventory read by each release the scenarios may involve
    /// ([`cpufleet_inventory::Inventory::read_by_release`]).
    pub reads: &'a [ReleaseRead],
}
