//! The entry of the migrate scenario: guest starts and live migrations, and what blocks them.

use super::section;
#[cfg(test)]
use crate::check::Invariant;
use crate::report::model::Section;
use crate::report::Report;
use crate::scenarios::entry::{Entry, Needs};
use crate::scenarios::Scenario;

/// The migrate scenario's entry.
pub(crate) const ENTRY: Entry = Entry {
    scenario: crate::scenarios::Scenario::Migrate,
    needs: Needs { guests: true },
    sections,
    check: super::check::check,
    #[cfg(test)]
    checks: &[Invariant::CpuStable, Invariant::Promotion, Invariant::Forbid, Invariant::Strict, Invariant::Fast],
};

/// MIXED FLEET on a fleet of several versions, else MIGRATE; then GUESTS on an inventory.
fn sections(r: &Report) -> Vec<Section<'_>> {
    let mut out = Vec::new();
    // Inventory guests replace the synthetic ones: the synthetic section would be all zeros.
    if let Some(m) = &r.mixed_fleet {
        out.push(crate::scenarios::libvirt_upgrade::section::mixed_fleet(m));
    } else if r.has(Scenario::Migrate) && !(r.inventory_guests.is_some() && r.guests == 0) {
        out.push(section::migrate(r));
    }
    if let Some(g) = &r.inventory_guests {
        out.push(crate::scenarios::guests::section::guests(g));
    }
    out
}
