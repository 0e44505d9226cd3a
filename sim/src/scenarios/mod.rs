//! The scenarios and the state they share.

pub mod microcode;
pub mod migrate;
pub mod plan;
pub mod plan_constraints;
pub mod pools;
pub mod upgrade;

use super::fleet::{baseline_of, Fleet};
use super::guest::{Ctx, Fault, Starter};
use super::spec::Spec;
use cpufleet_engine::CpuMap;
use cpufleet_io::CliResult;

/// The scenarios, in the order they run and print.
pub const SCENARIOS: [&str; 5] = ["pools", "migrate", "upgrade", "microcode", "plan"];

/// The simulation state shared by the scenarios.
pub struct Sim<'a> {
    pub map: &'a CpuMap,
    pub spec: &'a Spec,
    pub seed: u64,
    pub fleet: Fleet,
    pub starter: Starter,
    /// The context (pool baseline at the start) of each pool.
    pub pool_ctx: Vec<u32>,
}

impl<'a> Sim<'a> {
    /// Generates the fleet and the pool baselines.
    pub fn new(map: &'a CpuMap, spec: &'a Spec, seed: u64, fault: Option<Fault>) -> CliResult<Sim<'a>> {
        let fleet = Fleet::generate(&map.x86, spec, seed)?;
        let mut sim = Sim { map, spec, seed, fleet, starter: Starter::new(fault), pool_ctx: Vec::new() };
        let host_class = sim.fleet.host_class.clone();
        sim.pool_ctx = (0..sim.fleet.pools.len()).map(|p| sim.add_pool_ctx(p, &host_class)).collect();
        Ok(sim)
    }

    /// Computes pool `p`'s baseline over `host_class` and registers it as a context.
    pub fn add_pool_ctx(&mut self, p: usize, host_class: &[u32]) -> u32 {
        let ids = self.fleet.classes_in(self.fleet.pools[p].range(), host_class);
        let baseline = baseline_of(&self.map.x86, &self.fleet.classes, &ids, true).map_err(|e| e.to_string());
        self.starter.add_ctx(Ctx { pool: p, baseline })
    }
}
