//! The entry of the plan scenario: migration domains, each with its own baseline (EVC).

use super::section;
#[cfg(test)]
use crate::check::Invariant;
use crate::report::model::Section;
use crate::report::Report;
use crate::scenarios::entry::{Entry, Needs};

/// The plan scenario's entry.
pub(crate) const ENTRY: Entry = Entry {
    scenario: crate::scenarios::Scenario::Plan,
    needs: Needs { guests: false },
    sections,
    check: super::check::check,
    #[cfg(test)]
    checks: &[Invariant::Plan],
};

/// The PLAN section, when the scenario ran.
fn sections(r: &Report) -> Vec<Section<'_>> {
    r.plan.iter().map(|p| section::plan(p, r.hosts)).collect()
}
