//! cpufleet-sim: the fleet simulator behind `cpufleet simulate` and `cpufleet fleet gen`.
//!
//! One seed in: every random stream is derived from it (per host, guest, migration chain, upgrade
//! step, microcode event) before any parallel fan-out, and parallel work runs over indexed
//! iterators, so the JSON report is byte-identical whatever the thread count.

mod check;
mod error;
mod fleet;
mod guest;
mod html;
pub mod ids;
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
use progress::Progress;
use report::{ConfigRow, FleetBaselines, Migrations};
use scenarios::{microcode, migrate, plan, pools, upgrade};

// The front door: everything the crate's users (the CLI, the benches, the tests of other crates)
// reach is named here; the modules behind it are private.

// Running a simulation: the spec, the run's configuration, the report and its renderings.
pub use error::{SimError, SimResult, Source};
pub use guest::Fault;
pub use html::render as render_html;
pub use progress::{Observer, Silent};
pub use report::text::wrap_prose;
pub use report::{count, text as report_text, write_json as write_report_json, InventoryInfo, Report};
pub use reproduce::Reproduce;
pub use scenarios::libvirt_upgrade::{Order, Rollout};
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
/// (`benches/benches/simulate.rs`, `benches/examples/phases.rs`); [`simulate`] runs them all.
pub mod phases {
    pub use crate::guest::Compat;
    pub use crate::scenarios::migrate::{run as migrate, start_guests};
    pub use crate::scenarios::pools::run as pools;
    pub use crate::scenarios::registry::check;
    pub use crate::scenarios::Sim;
}
use phases::{Compat, Sim};

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
    /// Told the run's progress ([`progress::Silent`]: nobody).
    pub progress: &'a dyn Observer,
    /// The libvirt-upgrade scenario's rollout (`--upgrade-steps`, `--upgrade-order`, `--upgrade-from`, `--upgrade-to`, `--reverse`).
    pub rollout: scenarios::libvirt_upgrade::Rollout,
}

/// Runs the selected scenarios over the fleet `spec` generates and builds the report.
pub fn simulate(map: &CpuMap, spec: &spec::Spec, config: &Config) -> SimResult<Report> {
    let progress = config.progress;
    progress.phase("fleet", 0);
    let sim = Sim::new(map, spec, config.seed, config.fault)?;
    run(sim, &[], Vec::new(), config, progress, &RealMulti::default())
}

/// Runs the selected scenarios over a real fleet (an inventory). Rolling upgrades and microcode
/// events replace or patch hosts of known generations, which a real fleet does not describe:
/// those two are left out and the report says so. With the inventory's guests, the guests
/// section replaces synthetic guest configurations.
pub fn simulate_real(map: &CpuMap, real: real::RealFleet, config: &Config) -> SimResult<Report> {
    simulate_inventory(map, real, None, config)
}

/// An inventory as the run reads it and as each release reads it: what the multi-release
/// scenarios (MIXED FLEET, libvirt-upgrade) of [`simulate_inventory`] run on.
pub struct InventoryReleases<'a> {
    /// The spec before the inventory replaced its pools (its guest configurations and counts).
    pub base: &'a spec::Spec,
    /// The inventory as the run reads it (with the run's map).
    pub primary: &'a cpufleet_inventory::Inventory,
    /// The inventory read by each release the scenarios may involve
    /// ([`cpufleet_inventory::Inventory::read_by_release`]).
    pub reads: &'a [real::ReleaseRead],
}

/// The releases MIXED FLEET involves on inventory `inv` under the run's release `run` (the
/// releases its hosts run, hosts without metadata on `run`, and `run`, whose pool baselines the
/// guests use), when its hosts run several; None when they run one.
pub fn mixed_releases(
    inv: &cpufleet_inventory::Inventory,
    run: cpufleet_engine::LibvirtVersion,
) -> Option<Vec<cpufleet_engine::LibvirtVersion>> {
    let mut v: Vec<_> = inv.pools.iter().flat_map(|p| &p.hosts).map(|h| h.libvirt.unwrap_or(run)).collect();
    v.sort();
    v.dedup();
    (v.len() > 1).then(|| {
        v.push(run);
        v.sort();
        v.dedup();
        v
    })
}

/// The releases libvirt-upgrade involves on inventory `inv`: the rollout's two and the ones its
/// hosts start on (their metadata's; without metadata the rollout's first).
pub fn rollout_releases(
    inv: &cpufleet_inventory::Inventory,
    rollout: &scenarios::libvirt_upgrade::Rollout,
) -> Vec<cpufleet_engine::LibvirtVersion> {
    let mut v: Vec<_> = inv.pools.iter().flat_map(|p| &p.hosts).map(|h| h.libvirt.unwrap_or(rollout.from)).collect();
    v.extend([rollout.from, rollout.to]);
    v.sort();
    v.dedup();
    v
}

/// At most this many hosts are named in a note on hosts left out (the count is complete).
const LEFT_OUT_NAMED: usize = 10;

/// "3 hosts: a (…), b (…)", at most [`LEFT_OUT_NAMED`] named.
fn left_out_list(l: &[real::LeftOut]) -> String {
    let mut s: Vec<String> = l.iter().take(LEFT_OUT_NAMED).map(|x| x.to_string()).collect();
    if l.len() > LEFT_OUT_NAMED {
        s.push(format!("and {} more", l.len() - LEFT_OUT_NAMED));
    }
    format!("{}: {}", report::count(l.len() as u64, "host"), s.join("; "))
}

/// The releases' names, "9.0.0, 11.3.0".
fn release_list(v: &[cpufleet_engine::LibvirtVersion]) -> String {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}

/// The multi-release state of a real fleet, per scenario.
#[derive(Default)]
struct RealMulti {
    /// MIXED FLEET: the fleet under the releases the hosts run, and the run's view index.
    mixed: Option<(real::MultiRelease, usize)>,
    /// libvirt-upgrade: the fleet under the rollout's releases and the hosts' own.
    rollout: Option<real::MultiRelease>,
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
    let progress = config.progress;
    progress.phase("fleet", 0);
    let mut notes = Vec::new();
    let mut config_real =
        Config { scenarios: config.scenarios.clone(), reproduce: config.reproduce.clone(), ..*config };
    for s in [Scenario::Upgrade, Scenario::Microcode] {
        if config_real.scenarios.contains(&s) {
            config_real.scenarios.retain(|&x| x != s);
            notes.push(format!(
                "the {s} scenario needs generation profiles (hosts replaced by newer generations, microcode levels); \
                 a real inventory has none, so it did not run"
            ));
        }
    }
    let mut multi = RealMulti::default();
    let has = |s: Scenario| config_real.scenarios.contains(&s);
    match releases {
        None if has(Scenario::LibvirtUpgrade) => {
            config_real.scenarios.retain(|&x| x != Scenario::LibvirtUpgrade);
            notes.push(
                "the libvirt-upgrade scenario needs the inventory read by each release of the rollout, which this \
                 caller did not give; it did not run"
                    .into(),
            );
        }
        None => {}
        Some(r) => {
            let own: Vec<Option<cpufleet_engine::LibvirtVersion>> =
                r.primary.pools.iter().flat_map(|p| p.hosts.iter().map(|h| h.libvirt)).collect();
            if let Some(involved) = mixed_releases(r.primary, map.version()).filter(|_| has(Scenario::Migrate)) {
                let (m, left) = real::multi_release(r.base, r.primary, r.reads, &involved)?;
                match m {
                    Some(m) => {
                        if !left.is_empty() {
                            notes.push(format!(
                                "MIXED FLEET leaves out the hosts that one of the releases the fleet runs ({}) cannot \
                                 read: {}",
                                release_list(&involved),
                                left_out_list(&left)
                            ));
                        }
                        let first = m.inputs.maps.iter().position(|x| x.version() == map.version()).expect("involved");
                        multi.mixed = Some((m, first));
                    }
                    None => notes.push(format!(
                        "the migrate scenario did not run across releases: no host can be read by every release the \
                         fleet runs ({}): {}; it ran under libvirt {} alone",
                        release_list(&involved),
                        left_out_list(&left),
                        map.version()
                    )),
                }
            }
            if has(Scenario::LibvirtUpgrade) {
                let ro = config.rollout;
                let involved = rollout_releases(r.primary, &ro);
                let (m, left) = real::multi_release(r.base, r.primary, r.reads, &involved)?;
                let on_own = own.iter().any(|o| o.is_some_and(|v| v != ro.from));
                if on_own {
                    notes.push(format!(
                        "libvirt-upgrade: each host starts on the release its metadata names (hosts without \
                         metadata on {}, --upgrade-from) and moves to {}",
                        ro.from, ro.to
                    ));
                }
                match m {
                    Some(m) => {
                        if !left.is_empty() {
                            notes.push(format!(
                                "libvirt-upgrade leaves out the hosts that a release of the rollout ({}) cannot \
                                 read: {}",
                                release_list(&involved),
                                left_out_list(&left)
                            ));
                        }
                        multi.rollout = Some(m);
                    }
                    None => {
                        config_real.scenarios.retain(|&x| x != Scenario::LibvirtUpgrade);
                        notes.push(format!(
                            "the libvirt-upgrade scenario did not run: no host of the inventory can be read by every \
                             release of the rollout ({}): {}",
                            release_list(&involved),
                            left_out_list(&left)
                        ));
                    }
                }
            }
        }
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
    run(sim, &guests, notes, &config_real, progress, &multi)
}

/// The scenarios over a prepared simulation.
fn run(
    mut sim: Sim,
    real_guests: &[real::RealGuest],
    notes: Vec<String>,
    config: &Config,
    progress: &Progress,
    multi: &RealMulti,
) -> SimResult<Report> {
    let (map, spec) = (sim.map, sim.spec);
    let selected = config.scenarios.clone();
    let has = |s: Scenario| selected.contains(&s);
    // Hosts on several libvirt versions: the migrate scenario runs across versions instead.
    let mixed = has(Scenario::Migrate) && (spec.is_mixed(map.version()) || multi.mixed.is_some());
    let mut notes = notes;
    if mixed {
        notes.push(if multi.mixed.is_some() { real_mixed_note(map) } else { MIXED_NOTE.to_string() });
    }
    let up_plan = if has(Scenario::Upgrade) { Some(upgrade::prepare(&mut sim)?) } else { None };
    let events = if has(Scenario::Microcode) { Some(microcode::prepare(&mut sim)?) } else { None };
    let need_guests = selected.iter().any(|&s| scenarios::registry::entry(s).needs.guests);
    progress.phase("guests", 0);
    let guests = if need_guests { migrate::start_guests(&mut sim, spec.guests) } else { Vec::new() };
    let mut compat = Compat::build(&sim.starter.classes, &sim.fleet.classes);
    progress.phase("pools", 0);
    let pools_report = pools::run(&sim);
    let mig =
        (has(Scenario::Migrate) && !mixed).then(|| migrate::run(&sim, &guests, &compat, spec.migrations, &progress));
    let mut real_report =
        (has(Scenario::Migrate) && !real_guests.is_empty()).then(|| scenarios::guests::run(&sim, real_guests));
    if let (Some(r), Some((m, first))) = (real_report.as_mut(), &multi.mixed) {
        own_releases(&sim, real_guests, r, m, *first, config)?;
    }
    let up = up_plan.map(|p| upgrade::run(&mut sim, &p, &guests, &mut compat, &progress));
    progress.phase("microcode", 0);
    let mc = events.map(|e| microcode::run(&mut sim, &e, &guests, &compat));
    progress.phase("plan", 0);
    let (plan_report, domains) = if has(Scenario::Plan) {
        let (r, d) = plan::run(&sim);
        (Some(r), d)
    } else {
        (None, Vec::new())
    };
    progress.phase("check", 0);
    let mut checks = scenarios::registry::check(&sim, mig.as_ref(), &domains, config.check_all);
    let mut configurations = config_rows(&sim, &guests);
    let (migrations, blockers) = match &mig {
        Some(m) => migrate_summary(&sim, &guests, m, &mut configurations),
        None => (Migrations::default(), Vec::new()),
    };
    // Generations in use: over the distinct keys, not the hosts.
    let mut gens: Vec<usize> = sim.fleet.keys_in_use().map(|k| k.profile as usize).collect();
    gens.sort_unstable();
    gens.dedup();
    let host_cpus = sim.fleet.classes_in(0..sim.fleet.n_hosts(), &sim.fleet.host_class).len();
    let (hosts, pool_count) = (sim.fleet.n_hosts() as u64, sim.fleet.pools.len());
    let (n_guests, guests_started) = (guests.len() as u64, guests.iter().filter(|g| g.class.is_some()).count() as u64);
    // The scenarios across releases build every release's view of the fleet: this one is done.
    drop((sim, guests, compat, mig, domains));
    let rollout = match (&multi.rollout, has(Scenario::LibvirtUpgrade)) {
        (_, false) => None,
        (Some(m), true) => Some(rollout_on(&m.inputs, Some(&m.hosts), config, &progress)?),
        (None, true) => Some(libvirt_upgrade(map, spec, config, &progress)?),
    };
    let mixed_fleet = match (&multi.mixed, mixed) {
        (_, false) => None,
        (Some((m, first)), true) => Some(mixed_on(&m.inputs, Some(&m.hosts), *first, config)?),
        (None, true) => Some(mixed_fleet(map, spec, config)?),
    };
    for c in mixed_fleet.iter().map(|m| &m.1).chain(rollout.iter().map(|r| &r.1)) {
        check::merge(&mut checks, c);
    }
    progress.finish();

    let reproduce = config.reproduce.clone();
    let data_problems = data_problems(&pools_report.pools, real_report.as_ref());
    Ok(Report {
        libvirt: map.version().as_str(),
        seed: config.seed,
        spec: spec.label.clone(),
        scenarios: selected.clone(),
        hosts,
        pool_count,
        generations: gens.len(),
        host_cpus,
        guests: n_guests,
        guests_started,
        migrations,
        configurations,
        blockers,
        pools: pools_report.pools,
        fleet_baselines: FleetBaselines {
            by_vendor: pools_report.fleet_by_vendor,
            all_vendors: pools_report.fleet_all_vendors,
        },
        compatibility_matrix: pools_report.matrix,
        upgrade: up,
        microcode: mc,
        plan: plan_report,
        inventory_guests: real_report,
        notes,
        data_problems,
        inventory: None,
        libvirt_upgrade: rollout.map(|r| r.0),
        mixed_fleet: mixed_fleet.map(|r| r.0),
        invariant_violations: Report::violations(&checks, &reproduce),
        checks,
        reproduce,
    })
}

/// On an inventory whose hosts run several releases: each inventory guest also started on its
/// own host under that host's release, and answered by every other host under its own
/// ([`scenarios::guests::own_release`]); guests whose host is left out of MIXED FLEET keep
/// `own_release` unset.
fn own_releases(
    sim: &Sim,
    guests: &[real::RealGuest],
    report: &mut scenarios::guests::GuestsReport,
    m: &real::MultiRelease,
    first: usize,
    config: &Config,
) -> SimResult<()> {
    let v = m.inputs.real_versions(&m.hosts, config.seed, config.fault, first)?;
    let ver = v.start_versions(first);
    let f = &v.views[0].fleet;
    let index: std::collections::HashMap<(String, String), usize> =
        (0..f.n_hosts()).map(|h| ((f.pools[f.pool_of(h)].name.clone(), f.host_name(h)), h)).collect();
    let rows: Vec<Option<scenarios::guests::OwnRelease>> = {
        use rayon::prelude::*;
        guests
            .par_iter()
            .map(|g| {
                let key = (sim.fleet.pools[sim.fleet.pool_of(g.host)].name.clone(), sim.fleet.host_name(g.host));
                index.get(&key).map(|&h| scenarios::guests::own_release(&v, &ver, h, g.cpu.as_ref(), &g.features))
            })
            .collect()
    };
    for (row, own) in report.rows.iter_mut().zip(rows) {
        row.own_release = own;
    }
    Ok(())
}

/// The fleet's data problems: the pools' (mixed vendors) and the inventory guests that cannot
/// start on their own host, in report order.
fn data_problems(
    pools: &[scenarios::pools::PoolReport],
    guests: Option<&scenarios::guests::GuestsReport>,
) -> Vec<scenarios::pools::DataProblem> {
    let mut out: Vec<_> = pools.iter().filter_map(|p| p.problem.clone()).collect();
    for r in guests.map_or(&[][..], |g| &g.rows[..]) {
        if let (Some(e), Some(action)) = (&r.start_error, &r.start_action) {
            out.push(scenarios::pools::DataProblem {
                subject: format!("guest {}/{}/{}", r.pool, r.host, r.name),
                problem: format!("cannot start on its own host: {e}"),
                action: action.clone(),
            });
        }
    }
    out
}

const MIXED_NOTE: &str = "the spec puts hosts on several libvirt versions: the migrate scenario ran across versions \
    (MIXED FLEET: each guest started under its host's version, each migration read and compared by the destination's \
    version); pool baselines, the pool-dependent guest CPUs and the other scenarios follow the run's --libvirt version";

/// The migrate scenario on a fleet whose spec puts hosts on several libvirt versions, on its own
/// state (every version's view of the same fleet, pool baselines under the run's version), and
/// its checks.
fn mixed_fleet(
    map: &CpuMap,
    spec: &spec::Spec,
    config: &Config,
) -> SimResult<(scenarios::libvirt_upgrade::MixedFleetReport, check::CheckReport)> {
    let inputs = versions::Inputs::new(map, spec)?;
    mixed_on(&inputs, None, versions::index(map.version()), config)
}

/// The note of a real fleet whose hosts run several releases.
fn real_mixed_note(map: &CpuMap) -> String {
    format!(
        "the inventory's hosts run several libvirt releases (each the one its HOST.meta.toml names; without one \
         libvirt {v}): the migrate scenario ran across releases (MIXED FLEET: each guest of the spec's \
         configurations started under its host's release, each migration read and compared by the destination's \
         release; the inventory's guests each also started on its own host under that host's release, GUESTS' \
         own_release in JSON); pool baselines, the pool-dependent guest CPUs, GUESTS' other columns and the other \
         scenarios follow libvirt {v}",
        v = map.version()
    )
}

/// The mixed-fleet migrations over `inputs` (a synthetic fleet generated from them, or the real
/// fleet `real`), with the pool baselines of view `first`, and their checks.
fn mixed_on(
    inputs: &versions::Inputs,
    real: Option<&versions::RealHosts>,
    first: usize,
    config: &Config,
) -> SimResult<(scenarios::libvirt_upgrade::MixedFleetReport, check::CheckReport)> {
    let mut v = inputs.build(real, config.seed, config.fault, first)?;
    let guests = inputs.specs[first].guests;
    let run = scenarios::libvirt_upgrade::mixed(&mut v, first, guests);
    let mut checks = check::CheckReport::default();
    scenarios::libvirt_upgrade::check::check_versions(&v, &run.accepted, config.seed, config.check_all, &mut checks);
    Ok((run.report, checks))
}

/// The libvirt-upgrade scenario on its own state (every version's view of the same fleet), and
/// its checks.
fn libvirt_upgrade(
    map: &CpuMap,
    spec: &spec::Spec,
    config: &Config,
    progress: &Progress,
) -> SimResult<(scenarios::libvirt_upgrade::LibvirtUpgradeReport, check::CheckReport)> {
    let inputs = versions::Inputs::new(map, spec)?;
    rollout_on(&inputs, None, config, progress)
}

/// The libvirt-upgrade scenario over `inputs` (a synthetic fleet generated from them, or the
/// real fleet `real`), and its checks.
fn rollout_on(
    inputs: &versions::Inputs,
    real: Option<&versions::RealHosts>,
    config: &Config,
    progress: &Progress,
) -> SimResult<(scenarios::libvirt_upgrade::LibvirtUpgradeReport, check::CheckReport)> {
    let first = inputs.maps.iter().position(|m| m.version() == config.rollout.from).expect("the rollout's releases");
    let mut v = inputs.build(real, config.seed, config.fault, first)?;
    let guests = inputs.specs[first].guests;
    let mut run = scenarios::libvirt_upgrade::run(&mut v, &config.rollout, guests, progress);
    let mut checks = check::CheckReport::default();
    scenarios::libvirt_upgrade::check::check_versions(&v, &run.accepted, config.seed, config.check_all, &mut checks);
    drop(v);
    progress.phase("libvirt-upgrade: re-simulating the recommendations", 0);
    scenarios::libvirt_upgrade::verify(inputs, real, &mut run, &config.rollout, config.seed, config.fault)?;
    Ok((run.report, checks))
}

/// Per configuration: its guests, how many started, and the most frequent reason for a failure.
fn config_rows(sim: &Sim, guests: &[migrate::Guest]) -> Vec<ConfigRow> {
    let templates = &sim.spec.templates;
    let mut configurations: Vec<ConfigRow> = templates
        .iter()
        .map(|t| ConfigRow {
            name: t.name.clone(),
            cpu: t.describe(),
            guests: 0,
            started: 0,
            start_failures: 0,
            top_start_failure: None,
            migrations_attempted: 0,
            migrations_succeeded: 0,
        })
        .collect();
    let mut reasons: Vec<std::collections::BTreeMap<String, u64>> = vec![Default::default(); templates.len()];
    for g in guests {
        let c = &mut configurations[g.template as usize];
        c.guests += 1;
        if g.class.is_some() {
            c.started += 1;
        } else {
            c.start_failures += 1;
            if let Some(Err(f)) = g.combo.map(|c| &sim.starter.combos[c].outcome) {
                *reasons[g.template as usize].entry(f.reason.clone()).or_insert(0) += 1;
            }
        }
    }
    for (c, r) in configurations.iter_mut().zip(&reasons) {
        c.top_start_failure = r.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(k, _)| k.clone());
    }
    configurations
}

/// The migrate scenario's totals and blocker rows; adds the per-configuration counts to `rows`.
fn migrate_summary(
    sim: &Sim,
    guests: &[migrate::Guest],
    m: &migrate::MigrateRun,
    rows: &mut [ConfigRow],
) -> (Migrations, Vec<migrate::BlockerRow>) {
    let s = &m.stats;
    let migrations = Migrations {
        requested: if guests.iter().any(|g| g.class.is_some()) { sim.spec.migrations } else { 0 },
        attempted: s.attempted,
        succeeded: s.succeeded,
        refused: s.refused,
        cross_pool_attempted: s.cross_pool_attempted,
        cross_pool_succeeded: s.cross_pool_succeeded,
        passthrough_unsafe_naive: s.unsafe_naive,
        passthrough_unsafe_losing_features: s.unsafe_naive_losing,
    };
    for (c, &(a, ok)) in rows.iter_mut().zip(&s.per_template) {
        c.migrations_attempted = a;
        c.migrations_succeeded = ok;
    }
    (migrations, migrate::blocker_rows(sim, s))
}
