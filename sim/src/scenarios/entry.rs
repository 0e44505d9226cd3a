//! What a scenario is to the rest of the simulator: its [`Entry`] (name, needs, report sections,
//! checks). Each scenario's folder defines its entry (`scenarios/NAME/entry.rs`); the registry
//! ([`super::registry`]) lists them.

#[cfg(test)]
use crate::check::Invariant;
use crate::check::{Acc, CheckReport};
use crate::report::model::Section;
use crate::report::Report;
use crate::scenarios::migrate::MigrateRun;
use crate::scenarios::plan::DomainCheck;
use crate::scenarios::{Scenario, Sim};

/// What the single-release checkers read of a run: the simulation, what the scenarios that ran
/// left for them, and whether to check everything.
pub(crate) struct Checked<'a, 'b> {
    /// The simulation (fleet, guest starts) after the scenarios ran.
    pub sim: &'a Sim<'b>,
    /// The migrate scenario's run (None when it did not run).
    pub migrate: Option<&'a MigrateRun>,
    /// The plan scenario's domains (none when it did not run).
    pub domains: &'a [DomainCheck],
    /// `--check-all`: every event, not a sample.
    pub check_all: bool,
}

/// A scenario's single-release checkers: what they checked and found, with the counts they keep
/// in the report.
pub(crate) type Checker = fn(&Checked, &mut CheckReport) -> Acc;

/// The checker of a scenario whose checks run with it (across releases) or that has none of its
/// own.
pub(crate) fn no_checks(_: &Checked, _: &mut CheckReport) -> Acc {
    Acc::new()
}

/// What a scenario needs prepared before it runs beyond what every scenario has (the fleet, its
/// host profiles and the pool baselines under the run's release; a scenario across releases builds
/// every release's view of the fleet itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Needs {
    /// The spec's synthetic guests, started on their hosts.
    pub guests: bool,
}

/// One scenario: its name, what it needs, its report sections and the invariants its checks
/// guard.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry {
    /// Its name (command line and report).
    pub scenario: Scenario,
    /// What it needs prepared.
    pub needs: Needs,
    /// Its sections of the report document, in order (none when it did not run; the HTML page
    /// always has the pools).
    pub sections: for<'a> fn(&'a Report) -> Vec<Section<'a>>,
    /// Its single-release checkers, which `registry::check` runs in [`Scenario`] order whichever
    /// scenarios ran (a checker finds nothing to check of a scenario that did not run).
    pub check: Checker,
    /// The invariants its checks guard (its `check.rs` checks them; the registry's tests hold that
    /// each scenario has some).
    #[cfg(test)]
    pub checks: &'static [Invariant],
}
