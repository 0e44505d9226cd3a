//! The entry of the upgrade scenario: each pool's oldest generation replaced over T steps.

use super::section;
#[cfg(test)]
use crate::check::Invariant;
use crate::report::model::Section;
use crate::report::Report;
use crate::scenarios::entry::{Entry, Needs};

/// The upgrade scenario's entry.
pub(crate) const ENTRY: Entry = Entry {
    scenario: crate::scenarios::Scenario::Upgrade,
    needs: Needs { guests: true },
    sections,
    check: crate::scenarios::entry::no_checks,
    #[cfg(test)]
    checks: &[Invariant::Promotion, Invariant::Forbid, Invariant::Strict],
};

/// The UPGRADE section, when the scenario ran.
fn sections(r: &Report) -> Vec<Section<'_>> {
    r.upgrade.iter().map(section::upgrade).collect()
}
