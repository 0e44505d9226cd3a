//! The registry of the scenarios: every scenario's entry, in [`Scenario`] order (the order they
//! run and print), from the one line per scenario of `scenarios!` in `scenarios/mod.rs`.
// graph-uses: scenarios/*/entry.rs (the expansion of `for_each_scenario!` names each one)

use super::entry::{Checked, Entry};
use super::migrate::MigrateRun;
use super::plan::DomainCheck;
use super::{Scenario, Sim};
use crate::check::{keep_per_invariant, Acc, CheckReport};

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

/// Runs every scenario's single-release checkers (each entry's `check`), in [`Scenario`] order: the
/// pools', the starts' and (when the migrate scenario ran, `migrate`) the migrations', then the
/// plan's (`domains`; none when it did not run). The cross-version checks run with their
/// scenarios.
pub fn check(sim: &Sim, migrate: Option<&MigrateRun>, domains: &[DomainCheck], check_all: bool) -> CheckReport {
    let mut report = CheckReport { all: check_all, ..Default::default() };
    let checked = Checked { sim, migrate, domains, check_all };
    let acc = ENTRIES.iter().fold(Acc::new(), |acc, e| acc.merge((e.check)(&checked, &mut report)));
    report.checks = acc.checks;
    report.violation_count = acc.found.len() as u64;
    report.violations = keep_per_invariant(acc.found);
    report
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
