//! What a scenario is to the rest of the simulator: its [`Entry`] (name, needs, report sections,
//! the invariants it guards) and its [`Stages`] (prepare, run, check, across), each defined in its
//! folder (`scenarios/NAME/entry.rs`); the registry ([`super::registry`]) lists them and runs
//! them, in [`Scenario`] order.

#[cfg(test)]
use crate::check::Invariant;
use crate::check::{Acc, CheckReport};
use crate::config::{Config, InventoryReleases};
use crate::error::SimResult;
use crate::guest::Compat;
use crate::real::RealGuest;
use crate::report::model::Section;
use crate::report::{ConfigRow, Report};
use crate::scenarios::migrate::Guest;
use crate::scenarios::pools::DataProblem;
use crate::scenarios::{Scenario, Sim};
use crate::spec::Spec;
use cpufleet_engine::CpuMap;

/// Where the run's fleet comes from.
#[derive(Clone, Copy)]
pub(crate) enum Source<'r> {
    /// Generated from the spec.
    Spec,
    /// An inventory, with the inventory as each release reads it where the caller gave it.
    Inventory(Option<&'r InventoryReleases<'r>>),
}

/// What a scenario's `prepare` sees: the simulation before any guest starts, the run's inputs and
/// the report's notes (a scenario that does not run says why there).
pub(crate) struct Prepare<'r, 'a> {
    pub sim: &'r mut Sim<'a>,
    pub config: &'r Config<'r>,
    pub source: Source<'r>,
    pub notes: &'r mut Vec<String>,
}

/// What a scenario's `run` sees: the simulation with the spec's guests started (when a selected
/// scenario needs them), the inventory's guests, and the per-configuration rows of the report.
pub(crate) struct Run<'r, 'a> {
    pub sim: Sim<'a>,
    pub guests: Vec<Guest>,
    pub compat: Compat,
    pub real_guests: &'r [RealGuest],
    pub configurations: Vec<ConfigRow>,
    pub config: &'r Config<'r>,
}

/// What a scenario's `across` sees: the run's map, spec and inputs, after the single-release state
/// is dropped (a scenario across releases builds every release's view of the fleet itself).
pub(crate) struct Across<'r> {
    pub map: &'r CpuMap,
    pub spec: &'r Spec,
    pub config: &'r Config<'r>,
}

/// What the single-release checkers read of a run: the simulation after the scenarios ran, and
/// whether to check everything. Each scenario's checker also gets its own run state.
pub(crate) struct Checked<'r, 'a> {
    /// The simulation (fleet, guest starts) after the scenarios ran.
    pub sim: &'r Sim<'a>,
    /// `--check-all`: every event, not a sample.
    pub check_all: bool,
}

/// A scenario's stages, in the order the registry runs them over every scenario:
/// 1. `prepare`, before the guests start (for every selected scenario, and every `always` one);
/// 2. `run`, on the single-release state, giving its part of the report, the state its checker
///    reads and what it carries to `across`;
/// 3. `check`, its single-release checkers (for every scenario, whether it ran or not: the guest
///    starts are checked whichever scenario started them);
/// 4. `across`, after the single-release state is dropped, for the work across releases;
/// 5. `data_problems`, what its part says of the fleet's data.
pub(crate) trait Stages: Sized {
    /// Its fields of the report ([`crate::report::Parts`] flattens them into the report).
    type Part: Default;
    /// What `prepare` gives `run`.
    type Prepared;
    /// What its checker reads of its run (dropped before `across`).
    type State;
    /// What `run` gives `across`.
    type Carry;
    /// Prepares the scenario; `None`: it does not run (a note in `p.notes` says why).
    fn prepare(p: &mut Prepare) -> SimResult<Option<Self::Prepared>>;
    /// Runs the scenario on the single-release state.
    fn run(r: &mut Run, pre: Self::Prepared) -> SimResult<Ran<Self>>;
    /// Its single-release checkers (`state`: None when it did not run, or ran without one). By
    /// default none: a scenario whose checks run with its steps or across releases.
    fn check(_c: &Checked, _state: Option<&Self::State>, _report: &mut CheckReport) -> Acc {
        Acc::new()
    }
    /// Its work across releases, its checks merged into `checks`. By default none.
    fn across(_a: &Across, _carry: Self::Carry, _part: &mut Self::Part, _checks: &mut CheckReport) -> SimResult<()> {
        Ok(())
    }
    /// The fleet's data problems its part names, appended in report order.
    fn data_problems(_part: &Self::Part, _out: &mut Vec<DataProblem>) {}
}

/// What a scenario's `run` gives: its part of the report, the state its checker reads (None: it
/// ran without one) and what it carries to `across`.
pub(crate) struct Ran<S: Stages> {
    pub part: S::Part,
    pub state: Option<S::State>,
    pub carry: S::Carry,
}

/// What a scenario needs prepared before it runs beyond what every scenario has (the fleet, its
/// host profiles and the pool baselines under the run's release; a scenario across releases builds
/// every release's view of the fleet itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Needs {
    /// The spec's synthetic guests, started on their hosts.
    pub guests: bool,
    /// Generation profiles (hosts replaced by newer generations, microcode levels): it cannot run
    /// on a real inventory, which has none.
    pub profiles: bool,
    /// It runs whether selected or not (the report's frame: the HTML page always has the pools).
    pub always: bool,
}

impl Needs {
    /// Needs nothing beyond the fleet.
    pub(crate) const FLEET: Needs = Needs { guests: false, profiles: false, always: false };
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
    /// The invariants its checks guard (its `check.rs` checks them; the registry's tests hold that
    /// each scenario has some).
    #[cfg(test)]
    pub checks: &'static [Invariant],
}
