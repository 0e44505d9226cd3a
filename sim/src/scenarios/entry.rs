//! What a scenario is to the rest of the simulator: its [`Entry`] (name, needs, report sections,
//! checks). Each scenario's folder defines its entry (`scenarios/NAME/entry.rs`); the registry
//! ([`super::registry`]) lists them.

#[cfg(test)]
use crate::check::Invariant;
use crate::report::model::Section;
use crate::report::Report;
use crate::scenarios::Scenario;

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
    /// The invariants its checks guard (its `check.rs` checks them; the registry's tests hold that
    /// each scenario has some).
    #[cfg(test)]
    pub checks: &'static [Invariant],
}
