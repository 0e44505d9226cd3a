//! The entry of the libvirt-upgrade scenario: libvirt rolled host by host from one release to another.

use super::section;
#[cfg(test)]
use crate::check::Invariant;
use crate::report::model::Section;
use crate::report::Report;
use crate::scenarios::entry::{Entry, Needs};

/// The libvirt-upgrade scenario's entry.
pub(crate) const ENTRY: Entry = Entry {
    scenario: crate::scenarios::Scenario::LibvirtUpgrade,
    needs: Needs { guests: false },
    sections,
    check: crate::scenarios::entry::no_checks,
    #[cfg(test)]
    checks: &[Invariant::VersionCompare, Invariant::VersionNames],
};

/// The LIBVIRT UPGRADE section, when the scenario ran.
fn sections(r: &Report) -> Vec<Section<'_>> {
    r.libvirt_upgrade.iter().map(section::libvirt_upgrade).collect()
}
