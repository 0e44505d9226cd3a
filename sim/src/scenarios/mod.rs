//! The scenarios and the state they share.

pub(crate) mod blocker;
pub(crate) mod entry;
pub(crate) mod guests;
pub(crate) mod registry;

use super::error::{BaselineError, SimResult};
use super::fleet::{baseline_of, hv_baseline_of, Fleet};
use super::guest::{Ctx, Fault, Starter};
use super::ids::{CtxId, HostClassId, HostId, IdVec};
use super::spec::Spec;
use cpufleet_engine::CpuMap;
use serde::Serialize;

/// Declares the scenarios, one line each (`Variant = "name" in module,`, in the order they run
/// and print): each line is the scenario's whole registration. It gives
/// - `pub(crate) mod module;`, the scenario's folder `scenarios/module/`;
/// - the [`Scenario`] variant (a `closed_set!`: its command-line and report name, serde's the
///   same);
/// - its place in `for_each_scenario!(callback)`, which calls `callback!(module, …)` with every
///   scenario's module in that order: [`registry`] expands it into `ENTRIES`, each module's
///   `entry::ENTRY`.
///
/// This file names no entry, so no import circle hides here: the registry, above the entries,
/// uses them (its `graph-uses` line tells `cargo xtask graph`, which reads paths, not macro
/// expansions), and the entries and the report, below it, name only [`Scenario`].
macro_rules! scenarios {
    ($d:tt $( $(#[$($attr:tt)*])* $variant:ident = $name:literal in $module:ident, )+) => {
        $( pub(crate) mod $module; )+

        cpufleet_engine::closed_set! {
            /// A scenario of the simulator. The variants are in the order the scenarios run and
            /// print; the command-line value and the report's name of each are its name here
            /// (serde's match: `scenario_names_are_the_same_on_the_command_line_and_in_the_report`).
            #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
            pub enum Scenario: "scenario" {
                $( $(#[$($attr)*])* #[serde(rename = $name)] $variant = $name, )+
            }
        }

        /// `callback!(module, …)`: every scenario's module, in [`Scenario`] order.
        macro_rules! for_each_scenario {
            ($d callback:ident) => { $d callback! { $( $module ),+ } };
        }
        pub(crate) use for_each_scenario;
    };
}

scenarios! { $
    Pools = "pools" in pools,
    Migrate = "migrate" in migrate,
    Upgrade = "upgrade" in upgrade,
    Microcode = "microcode" in microcode,
    Plan = "plan" in plan,
    /// libvirt rolled from one version to the other host by host.
    LibvirtUpgrade = "libvirt-upgrade" in libvirt_upgrade,
}

impl Scenario {
    /// Every scenario, in the order they run and print ([`Scenario::ALL`] as a `Vec`).
    pub fn all() -> Vec<Scenario> {
        Scenario::ALL.to_vec()
    }
}

/// The simulation state shared by the scenarios.
pub struct Sim<'a> {
    pub map: &'a CpuMap,
    pub spec: &'a Spec,
    pub seed: u64,
    pub fleet: Fleet,
    pub starter: Starter,
    /// The context (pool baseline at the start) of each pool.
    pub pool_ctx: Vec<CtxId>,
}

impl<'a> Sim<'a> {
    /// Generates the fleet and the pool baselines.
    pub fn new(map: &'a CpuMap, spec: &'a Spec, seed: u64, fault: Option<Fault>) -> SimResult<Sim<'a>> {
        let fleet = Fleet::generate(&map.x86, spec, seed)?;
        Ok(Sim::with_fleet(map, spec, seed, fault, fleet))
    }

    /// The state over a given fleet (a real one), with its pool baselines.
    pub fn with_fleet(map: &'a CpuMap, spec: &'a Spec, seed: u64, fault: Option<Fault>, fleet: Fleet) -> Sim<'a> {
        let mut sim = Sim { map, spec, seed, fleet, starter: Starter::new(fault), pool_ctx: Vec::new() };
        let host_class = sim.fleet.host_class.clone();
        sim.pool_ctx = (0..sim.fleet.pools.len()).map(|p| sim.add_pool_ctx(p, &host_class)).collect();
        sim
    }

    /// Computes pool `p`'s baselines (hypervisor and raw) over `host_class` and registers them as
    /// a context.
    pub fn add_pool_ctx(&mut self, p: usize, host_class: &IdVec<HostId, HostClassId>) -> CtxId {
        let ids = self.fleet.classes_in(self.fleet.pools[p].range(), host_class);
        let raw_baseline = baseline_of(&self.map.x86, &self.fleet.classes, &ids, true).map_err(BaselineError::Cpu);
        let first = if self.starter.fault == Some(Fault::PoolFirstHost) { ids.len().min(1) } else { ids.len() };
        let baseline = hv_baseline_of(&self.map.x86, &self.fleet.classes, &ids[..first]);
        self.starter.add_ctx(Ctx { pool: p, baseline, raw_baseline })
    }
}

#[cfg(test)]
mod tests {
    use super::Scenario;

    #[test]
    fn scenario_names_are_the_same_on_the_command_line_and_in_the_report() {
        // Lower-case words joined by '-', each name once (a scenario added by its `scenarios!` line
        // needs nothing here).
        for (i, s) in Scenario::ALL.iter().enumerate() {
            let name = s.to_string();
            assert!(name.split('-').all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase())), "{name}");
            assert!(!Scenario::ALL[..i].iter().any(|o| o.to_string() == name), "{name} twice");
        }
        assert_eq!(Scenario::NAMES[0], "pools", "the pools run first: the report's frame");
        for s in Scenario::all() {
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
    }

    #[test]
    fn upgrade_order_names_are_the_same_on_the_command_line_and_in_the_report() {
        use super::libvirt_upgrade::Order;
        assert_eq!(Order::NAMES, ["pool", "generation", "random"]);
        for o in Order::ALL {
            assert_eq!(serde_json::to_string(&o).unwrap(), format!("\"{o}\""));
        }
    }
}
