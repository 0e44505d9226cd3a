//! cpufleet-sim: the fleet simulator behind `cpufleet simulate` and `cpufleet fleet gen`.
//!
//! One seed in: every random stream is derived from it (per host, guest, migration chain, upgrade
//! step, microcode event) before any parallel fan-out, and parallel work runs over indexed
//! iterators, so the JSON report is byte-identical whatever the thread count.

mod check;
mod config;
mod error;
mod fleet;
mod guest;
mod html;
mod ids;
mod kvm_view;
mod profiles;
mod progress;
mod real;
mod report;
mod reproduce;
mod rng;
mod scenarios;
mod spec;
mod swarm;
mod versions;

use cpufleet_engine::CpuMap;
use scenarios::entry::Source as FleetSource;
use scenarios::registry;

// The front door: everything the crate's users (the CLI, the benches, the tests of other crates)
// reach is named here; the modules behind it are private.

// Running a simulation: the spec, the run's configuration, the report and its renderings.
pub use config::{Config, InventoryReleases};
pub use error::{SimError, SimResult, Source};
pub use guest::Fault;
pub use html::render as render_html;
pub use progress::{Observer, Silent};
pub use report::text::wrap_prose;
pub use report::{count, text as report_text, write_json as write_report_json, InventoryInfo, Report};
pub use reproduce::Reproduce;
pub use scenarios::libvirt_upgrade::entry::rollout_releases;
pub use scenarios::libvirt_upgrade::{Order, Rollout};
pub use scenarios::migrate::entry::mixed_releases;
pub use scenarios::Scenario;
pub use spec::{load as load_spec, Spec, PLAN_K_MAX};
pub use swarm::run as run_swarm;

// Real fleets (an inventory) and the views of the host CPUs the simulator builds.
pub use fleet::{host_model, Fleet};
pub use kvm_view::KvmView;
pub use real::{from_inventory, ReleaseRead};

// One guest at a time (`cpufleet whereto`): starting it, and where it may go.
pub use guest::start_def;
pub use scenarios::guests::{entries as blocker_entries, start_guest};
pub use scenarios::migrate::BlockerKind;
pub use versions::{Incoming, Refusal};

// The seeded random streams, for tests and benches that generate input.
pub use rng::{Rng, Weighted};

/// The phases of a run one at a time, for the benchmarks that time them
/// (`benches/benches/simulate.rs`, `benches/examples/phases.rs`), with the typed ids their tables
/// take; [`simulate`] runs them all.
pub mod phases {
    pub use crate::guest::Compat;
    pub use crate::ids::{GuestClassId, HostClassId, HostId, IdVec};
    pub use crate::scenarios::migrate::{run as migrate, start_guests};
    pub use crate::scenarios::pools::run as pools;
    pub use crate::scenarios::registry::check;
    pub use crate::scenarios::Sim;
}
use phases::Sim;

/// Runs the selected scenarios over the fleet `spec` generates and builds the report.
pub fn simulate(map: &CpuMap, spec: &spec::Spec, config: &Config) -> SimResult<Report> {
    let progress = config.progress;
    progress.phase("fleet", 0);
    let sim = Sim::new(map, spec, config.seed, config.fault)?;
    registry::run(sim, FleetSource::Spec, &[], Vec::new(), config)
}

/// Runs the selected scenarios over a real fleet (an inventory). Rolling upgrades and microcode
/// events replace or patch hosts of known generations, which a real fleet does not describe:
/// those two are left out and the report says so. With the inventory's guests, the guests
/// section replaces synthetic guest configurations.
pub fn simulate_real(map: &CpuMap, real: real::RealFleet, config: &Config) -> SimResult<Report> {
    simulate_inventory(map, real, None, config)
}

/// [`simulate_real`] with the inventory read by each release (`releases`): hosts run the
/// release their metadata names (`HOST.meta.toml`; without it the run's), so that when they run
/// several the migrate scenario runs across releases (MIXED FLEET), and the libvirt-upgrade
/// scenario runs from the hosts' own releases (without metadata: the rollout's first) to the
/// rollout's target. Each of the two keeps the hosts every release it involves can read; the
/// others are named in a note with the reason (a data problem). Without `releases` neither
/// runs, and the report says so.
pub fn simulate_inventory(
    map: &CpuMap,
    real: real::RealFleet,
    releases: Option<&InventoryReleases>,
    config: &Config,
) -> SimResult<Report> {
    config.progress.phase("fleet", 0);
    let mut notes = Vec::new();
    let mut config_real =
        Config { scenarios: config.scenarios.clone(), reproduce: config.reproduce.clone(), ..*config };
    for s in config.scenarios.iter().copied().filter(|&s| registry::entry(s).needs.profiles) {
        config_real.scenarios.retain(|&x| x != s);
        notes.push(format!(
            "the {s} scenario needs generation profiles (hosts replaced by newer generations, microcode levels); \
             a real inventory has none, so it did not run"
        ));
    }
    if !real.guests.is_empty() {
        notes.push(format!(
            "{} from the inventory, each started on its own host and compared with every other host (GUESTS); \
             no synthetic guests",
            report::count(real.guests.len() as u64, "guest")
        ));
    }
    let real::RealFleet { mut spec, fleet, guests } = real;
    // The spec's pool `libvirt` keys are for generated pools; an inventory's hosts run their own
    // release (MIXED FLEET, libvirt-upgrade) or the run's.
    spec.pool_libvirt.clear();
    let sim = Sim::with_fleet(map, &spec, config.seed, config.fault, fleet);
    registry::run(sim, FleetSource::Inventory(releases), &guests, notes, &config_real)
}
