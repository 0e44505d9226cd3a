//! The registry of the scenarios: every scenario's entry, in [`Scenario`] order (the order they
//! run and print), from the one line per scenario of `scenarios!` in `scenarios/mod.rs`.
// graph-uses: scenarios/*/entry.rs (the expansion of `for_each_scenario!` names each one)

use super::entry::{Across, Checked, Entry, Prepare, Run, Source, Stages};
use super::migrate::{start_guests, Guest, MigrateRun};
use super::pools::DataProblem;
use super::{Scenario, Sim};
use crate::check::{keep_per_invariant, Acc, CheckReport};
use crate::config::Config;
use crate::error::SimResult;
use crate::guest::Compat;
use crate::real::RealGuest;
use crate::report::{ConfigRow, Parts, Report};

/// `[pools::entry::ENTRY, …]`, given the scenarios' modules.
macro_rules! entries {
    ($( $module:ident ),+) => { [$( super::$module::entry::ENTRY ),+] };
}

/// Every scenario's entry, in [`Scenario::ALL`] order (`entries_are_in_scenario_order` checks
/// that each module's entry is its own scenario's).
pub(crate) const ENTRIES: [Entry; Scenario::ALL.len()] = super::for_each_scenario!(entries);

/// The entry of `s`.
pub(crate) fn entry(s: Scenario) -> &'static Entry {
    ENTRIES.iter().find(|e| e.scenario == s).expect("every scenario is registered")
}

/// `pre`, the scenario's stages prepared when it is selected (or runs always); a scenario whose
/// `prepare` declines leaves `selected`.
fn prepare_one<S: Stages>(e: &Entry, p: &mut Prepare, selected: &mut Vec<Scenario>) -> SimResult<Option<S::Prepared>> {
    if !(e.needs.always || selected.contains(&e.scenario)) {
        return Ok(None);
    }
    let pre = S::prepare(p)?;
    if pre.is_none() {
        selected.retain(|&s| s != e.scenario);
    }
    Ok(pre)
}

/// The scenario's `run` where it was prepared: its part into `part`, its state and carry out.
fn run_one<S: Stages>(r: &mut Run, pre: Option<S::Prepared>, part: &mut S::Part) -> SimResult<Slots<S>> {
    let Some(pre) = pre else { return Ok((None, None)) };
    let ran = S::run(r, pre)?;
    *part = ran.part;
    Ok((ran.state, Some(ran.carry)))
}

/// A scenario's run state and carry, each None where it did not run.
type Slots<S> = (Option<<S as Stages>::State>, Option<<S as Stages>::Carry>);

/// The stages of every scenario, one struct of per-scenario slots each, from the scenarios'
/// modules (`for_each_scenario!`).
macro_rules! stages {
    ($( $module:ident ),+) => {
        /// What each scenario prepared (None: it does not run).
        struct Prepared { $( $module: Option<<super::$module::entry::Hooks as Stages>::Prepared>, )+ }
        /// Each scenario's run state, for its checker.
        struct States { $( $module: Option<<super::$module::entry::Hooks as Stages>::State>, )+ }
        /// What each scenario that ran carries to its work across releases.
        struct Carried { $( $module: Option<<super::$module::entry::Hooks as Stages>::Carry>, )+ }

        fn prepare_all(p: &mut Prepare, selected: &mut Vec<Scenario>) -> SimResult<Prepared> {
            Ok(Prepared {
                $( $module: prepare_one::<super::$module::entry::Hooks>(&super::$module::entry::ENTRY, p, selected)?, )+
            })
        }

        fn run_all(r: &mut Run, pre: Prepared) -> SimResult<(Parts, States, Carried)> {
            let mut parts = Parts::default();
            $( let $module = run_one::<super::$module::entry::Hooks>(r, pre.$module, &mut parts.$module)?; )+
            Ok((parts, States { $( $module: $module.0, )+ }, Carried { $( $module: $module.1, )+ }))
        }

        fn check_all(c: &Checked, states: &States) -> CheckReport {
            checks(c.check_all, |report| {
                let acc = Acc::new();
                $( let acc = acc.merge(<super::$module::entry::Hooks as Stages>::check(c, states.$module.as_ref(), report)); )+
                acc
            })
        }

        fn across_all(a: &Across, carried: Carried, parts: &mut Parts, checks: &mut CheckReport) -> SimResult<()> {
            $( if let Some(c) = carried.$module {
                <super::$module::entry::Hooks as Stages>::across(a, c, &mut parts.$module, checks)?;
            } )+
            Ok(())
        }

        fn data_problems(parts: &Parts) -> Vec<DataProblem> {
            let mut out = Vec::new();
            $( <super::$module::entry::Hooks as Stages>::data_problems(&parts.$module, &mut out); )+
            out
        }
    };
}
super::for_each_scenario!(stages);

/// A check report from `run`'s checkers (what they checked and found; the violations kept per
/// invariant).
fn checks(check_all: bool, run: impl FnOnce(&mut CheckReport) -> Acc) -> CheckReport {
    let mut report = CheckReport { all: check_all, ..Default::default() };
    let acc = run(&mut report);
    report.checks = acc.checks;
    report.violation_count = acc.found.len() as u64;
    report.violations = keep_per_invariant(acc.found);
    report
}

/// The single-release checks of a run of the migrate scenario (the pools' checker, then the
/// starts' and the migrations'), for the benchmarks that time that phase; the pipeline (`run`) checks every
/// scenario.
pub fn check(sim: &Sim, migrate: Option<&MigrateRun>, check_all: bool) -> CheckReport {
    use super::{migrate, pools};
    let c = Checked { sim, check_all };
    checks(check_all, |report| {
        <pools::entry::Hooks as Stages>::check(&c, None, report)
            .merge(<migrate::entry::Hooks as Stages>::check(&c, migrate, report))
    })
}

/// Runs the selected scenarios over a prepared simulation, each through its stages in
/// [`Scenario`] order, and builds the report: every `prepare`, the guest starts (when a selected
/// scenario needs them), every `run`, every checker, then (the single-release state dropped)
/// every `across`.
pub(crate) fn run(
    mut sim: Sim,
    source: Source,
    real_guests: &[RealGuest],
    mut notes: Vec<String>,
    config: &Config,
) -> SimResult<Report> {
    let progress = config.progress;
    let (map, spec) = (sim.map, sim.spec);
    let mut selected = config.scenarios.clone();
    let prepared = prepare_all(&mut Prepare { sim: &mut sim, config, source, notes: &mut notes }, &mut selected)?;
    let need_guests = selected.iter().any(|&s| entry(s).needs.guests);
    progress.phase("guests", 0);
    let guests = if need_guests { start_guests(&mut sim, spec.guests) } else { Vec::new() };
    let compat = Compat::build(&sim.starter.classes, &sim.fleet.classes);
    let configurations = config_rows(&sim, &guests);
    let mut r = Run { sim, guests, compat, real_guests, configurations, config };
    let (mut parts, states, carried) = run_all(&mut r, prepared)?;
    progress.phase("check", 0);
    let mut checks = check_all(&Checked { sim: &r.sim, check_all: config.check_all }, &states);
    let sim = &r.sim;
    // Generations in use: over the distinct keys, not the hosts.
    let mut gens: Vec<usize> = sim.fleet.keys_in_use().map(|k| k.profile as usize).collect();
    gens.sort_unstable();
    gens.dedup();
    let host_cpus = sim.fleet.classes_in(0..sim.fleet.n_hosts(), &sim.fleet.host_class).len();
    let (hosts, pool_count) = (sim.fleet.n_hosts() as u64, sim.fleet.pools.len());
    let (n_guests, guests_started) =
        (r.guests.len() as u64, r.guests.iter().filter(|g| g.class.is_some()).count() as u64);
    let configurations = std::mem::take(&mut r.configurations);
    // The scenarios across releases build every release's view of the fleet: this one is done.
    drop((r, states));
    across_all(&Across { map, spec, config }, carried, &mut parts, &mut checks)?;
    progress.finish();

    let reproduce = config.reproduce.clone();
    Ok(Report {
        libvirt: map.version().as_str(),
        seed: config.seed,
        spec: spec.label.clone(),
        scenarios: selected,
        hosts,
        pool_count,
        generations: gens.len(),
        host_cpus,
        guests: n_guests,
        guests_started,
        configurations,
        data_problems: data_problems(&parts),
        parts,
        notes,
        inventory: None,
        invariant_violations: Report::violations(&checks, &reproduce),
        checks,
        reproduce,
    })
}

/// Per configuration: its guests, how many started, and the most frequent reason for a failure
/// (the migrate scenario adds its migrations).
fn config_rows(sim: &Sim, guests: &[Guest]) -> Vec<ConfigRow> {
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

#[cfg(test)]
mod tests {
    use super::{entry, ENTRIES};
    use crate::scenarios::Scenario;
    use cpufleet_engine::{CpuMap, LibvirtVersion};

    #[test]
    fn entries_are_in_scenario_order() {
        let order: Vec<Scenario> = ENTRIES.iter().map(|e| e.scenario).collect();
        assert_eq!(order, Scenario::ALL);
        for s in Scenario::ALL {
            assert_eq!(entry(s).scenario, s);
        }
    }

    /// Each registered scenario, run alone on a small fleet, gives its own report section (and
    /// its section only: the pools' HTML part aside, no other entry's), its checks run, and it
    /// names at least one invariant; the README's "What each scenario answers" lists it.
    #[test]
    fn every_scenario_has_a_section_a_check_and_a_readme_entry() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let answers = readme.split("**What each scenario answers:**").nth(1).expect("the README's scenario list");
        let map = CpuMap::embedded(LibvirtVersion::V9_0_0).unwrap();
        let mut spec = crate::spec::load(&map.x86, None, 1 << 20).unwrap();
        spec.scale_hosts(300).unwrap();
        (spec.guests, spec.migrations) = (200, 2000);
        for e in &ENTRIES {
            let s = e.scenario;
            assert!(!e.checks.is_empty(), "{s}: no invariant guards it");
            assert!(
                answers.lines().any(|l| l.trim_start().split_once(". ").is_some_and(|(n, rest)| {
                    n.chars().all(|c| c.is_ascii_digit()) && rest.starts_with(&format!("**{s}**:"))
                })),
                "{s}: no entry `N. **{s}**: …` in the README's \"What each scenario answers\""
            );
            let config = crate::Config {
                seed: 1,
                scenarios: vec![s],
                check_all: false,
                fault: None,
                reproduce: String::new(),
                progress: &crate::progress::Silent,
                rollout: Default::default(),
            };
            let report = crate::simulate(&map, &spec, &config).unwrap();
            assert!(report.checks.checks > 0, "{s}: no check ran");
            for other in &ENTRIES {
                let sections = (other.sections)(&report);
                let text_parts = sections.iter().flat_map(|x| &x.items).filter(|i| i.show.text()).count();
                if other.scenario == s {
                    assert!(text_parts > 0, "{s}: no section in the text report");
                } else {
                    assert_eq!(text_parts, 0, "{s} alone: {}'s section is in the text report", other.scenario);
                }
            }
        }
    }
}
