//! The entry of the pools scenario: what CPU each pool and the fleet can give its guests.

use super::section;
#[cfg(test)]
use crate::check::Invariant;
use crate::report::model::Section;
use crate::report::Report;
use crate::scenarios::entry::{Entry, Needs};
use crate::scenarios::Scenario;

/// The pools scenario's entry.
pub(crate) const ENTRY: Entry = Entry {
    scenario: crate::scenarios::Scenario::Pools,
    needs: Needs { guests: false },
    sections,
    check: super::check::check,
    #[cfg(test)]
    checks: &[Invariant::Pool],
};

/// The POOLS section (always in the HTML page; in the text only when the scenario ran).
fn sections(r: &Report) -> Vec<Section<'_>> {
    let pools = section::pools(r);
    vec![if r.has(Scenario::Pools) { pools } else { pools.html_only() }]
}
