//! The entry of the microcode scenario: microcode events that remove features from running hosts.

use super::section;
#[cfg(test)]
use crate::check::Invariant;
use crate::report::model::Section;
use crate::report::Report;
use crate::scenarios::entry::{Entry, Needs};

/// The microcode scenario's entry.
pub(crate) const ENTRY: Entry = Entry {
    scenario: crate::scenarios::Scenario::Microcode,
    needs: Needs { guests: true },
    sections,
    check: crate::scenarios::entry::no_checks,
    #[cfg(test)]
    checks: &[Invariant::Promotion, Invariant::Forbid, Invariant::Strict],
};

/// The MICROCODE section, when the scenario ran.
fn sections(r: &Report) -> Vec<Section<'_>> {
    r.microcode.iter().map(|e| section::microcode(e)).collect()
}
