//! cpufleet-sim: the fleet simulator behind `cpufleet simulate` and `cpufleet fleet gen`.
//!
//! One seed in: every random stream is derived from it (per host, guest, migration chain, upgrade
//! step, microcode event) before any parallel fan-out, and parallel work runs over indexed
//! iterators, so the JSON report is byte-identical whatever the thread count.

pub mod check;
pub mod error;
pub mod fleet;
pub mod guest;
pub mod html;
pub mod kvm_view;
pub mod profiles;
pub mod progress;
pub mod real;
pub mod report;
pub mod reproduce;
pub mod rng;
pub mod scenarios;
pub mod spec;
pub mod swarm;
pub mod versions;

use cpufleet_engine::CpuMap;
pub use error::{SimError, SimResult};
use guest::Compat;
pub use guest::Fault;
use progress::{Observer, Progress};
use report::{ConfigRow, FleetBaselines, Migrations, Report};
pub use scenarios::Scenario;
use scenarios::{microcode, migrate, plan, pools, upgrade, Sim};

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
    run(sim, &[], Vec::new(), config, progress)
}

/// Runs the selected scenarios over a real fleet (an inventory). Rolling upgrades and microcode
/// events replace or patch hosts of known generations, which a real fleet does not describe:
/// those two are left out and the report says so. With the inventory's guests, the guests
/// section replaces synthetic guest configurations.
pub fn simulate_real(map: &CpuMap, real: real::RealFleet, config: &Config) -> SimResult<Report> {
    let progress = config.progress;
    progress.phase("fleet", 0);
    let mut notes = Vec::new();
    let mut config_real =
        Config { scenarios: config.scenarios.clone(), reproduce: config.reproduce.clone(), ..*config };
    for s in [Scenario::Upgrade, Scenario::Microcode, Scenario::LibvirtUpgrade] {
        if config_real.scenarios.contains(&s) {
            config_real.scenarios.retain(|&x| x != s);
            notes.push(format!(
                "the {s} scenario needs generation profiles (hosts replaced by newer generations, microcode levels, \
                 hosts decoded again by another libvirt); a real inventory has none, so it did not run"
            ));
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
    // An inventory's hosts say nothing of their libvirt: every host runs the run's version.
    spec.pool_libvirt.clear();
    let sim = Sim::with_fleet(map, &spec, config.seed, config.fault, fleet);
    run(sim, &guests, notes, &config_real, progress)
}

/// The scenarios over a prepared simulation.
fn run(
    mut sim: Sim,
    real_guests: &[real::RealGuest],
    notes: Vec<String>,
    config: &Config,
    progress: &Progress,
) -> SimResult<Report> {
    let (map, spec) = (sim.map, sim.spec);
    let selected = config.scenarios.clone();
    let has = |s: Scenario| selected.contains(&s);
    // Hosts on several libvirt versions: the migrate scenario runs across versions instead.
    let mixed = has(Scenario::Migrate) && spec.is_mixed(map.version());
    let mut notes = notes;
    if mixed {
        notes.push(MIXED_NOTE.to_string());
    }
    let up_plan = if has(Scenario::Upgrade) { Some(upgrade::prepare(&mut sim)?) } else { None };
    let events = if has(Scenario::Microcode) { Some(microcode::prepare(&mut sim)?) } else { None };
    let need_guests = has(Scenario::Migrate) || has(Scenario::Upgrade) || has(Scenario::Microcode);
    progress.phase("guests", 0);
    let guests = if need_guests { migrate::start_guests(&mut sim, spec.guests) } else { Vec::new() };
    let mut compat = Compat::build(&sim.starter.classes, &sim.fleet.classes);
    progress.phase("pools", 0);
    let pools_report = pools::run(&sim);
    let mig =
        (has(Scenario::Migrate) && !mixed).then(|| migrate::run(&sim, &guests, &compat, spec.migrations, &progress));
    let real_report =
        (has(Scenario::Migrate) && !real_guests.is_empty()).then(|| scenarios::guests::run(&sim, real_guests));
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
    let rollout =
        if has(Scenario::LibvirtUpgrade) { Some(libvirt_upgrade(map, spec, config, &progress)?) } else { None };
    let mixed_fleet = if mixed { Some(mixed_fleet(map, spec, config)?) } else { None };
    progress.phase("check", 0);
    let mut checks = check::run(&sim, mig.as_ref(), &domains, config.check_all);
    for c in mixed_fleet.iter().map(|m| &m.1).chain(rollout.iter().map(|r| &r.1)) {
        check::merge(&mut checks, c);
    }
    progress.finish();

    let mut configurations = config_rows(&sim, &guests);
    let (migrations, blockers) = match &mig {
        Some(m) => migrate_summary(&sim, &guests, m, &mut configurations),
        None => (Migrations::default(), Vec::new()),
    };
    let mut gens: Vec<usize> = (0..sim.fleet.n_hosts()).map(|h| sim.fleet.profile_of(h)).collect();
    gens.sort_unstable();
    gens.dedup();
    let reproduce = config.reproduce.clone();
    let data_problems = data_problems(&pools_report.pools, real_report.as_ref());
    let host_cpus = sim.fleet.classes_in(0..sim.fleet.n_hosts(), &sim.fleet.host_class).len();
    Ok(Report {
        libvirt: map.version().as_str(),
        seed: config.seed,
        spec: spec.label.clone(),
        scenarios: selected.clone(),
        hosts: sim.fleet.n_hosts() as u64,
        pool_count: sim.fleet.pools.len(),
        generations: gens.len(),
        host_cpus,
        guests: guests.len() as u64,
        guests_started: guests.iter().filter(|g| g.class != fleet::NO).count() as u64,
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
    let first = versions::index(map.version());
    let mut v = inputs.versions(config.seed, config.fault, first)?;
    let run = scenarios::libvirt_upgrade::mixed(&mut v, first, spec.guests);
    let mut checks = check::CheckReport::default();
    check::check_versions(&v, &run.accepted, config.seed, config.check_all, &mut checks);
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
    let first = config.rollout.indices().0;
    let mut v = inputs.versions(config.seed, config.fault, first)?;
    let mut run = scenarios::libvirt_upgrade::run(&mut v, &config.rollout, spec.guests, progress);
    let mut checks = check::CheckReport::default();
    check::check_versions(&v, &run.accepted, config.seed, config.check_all, &mut checks);
    drop(v);
    progress.phase("libvirt-upgrade: re-simulating the recommendations", 0);
    scenarios::libvirt_upgrade::verify(&inputs, &mut run, &config.rollout, config.seed, config.fault)?;
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
        if g.class != fleet::NO {
            c.started += 1;
        } else {
            c.start_failures += 1;
            if let Err(f) = &sim.starter.combos[g.combo as usize].outcome {
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
        requested: if guests.iter().any(|g| g.class != fleet::NO) { sim.spec.migrations } else { 0 },
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
