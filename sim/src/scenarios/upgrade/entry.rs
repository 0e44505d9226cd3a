//! The entry of the upgrade scenario: each pool's oldest generation replaced over T steps.

use super::section;
#[cfg(test)]
use crate::check::Invariant;
use crate::report::model::Section;
use crate::report::Report;
use crate::error::SimResult;
use crate::scenarios::entry::{Entry, Needs, Prepare, Run, Ran, Stages};

/// The upgrade scenario's entry.
pub(crate) const ENTRY: Entry = Entry {
    scenario: crate::scenarios::Scenario::Upgrade,
    needs: Needs { guests: true, profiles: true, always: false },
    sections,
    #[cfg(test)]
    checks: &[Invariant::Promotion, Invariant::Forbid, Invariant::Strict],
};

/// The UPGRADE section, when the scenario ran.
fn sections(r: &Report) -> Vec<Section<'_>> {
    r.parts.upgrade.upgrade.iter().map(section::upgrade).collect()
}

/// The upgrade scenario's stages: the replacement hosts drawn before the guests start, then the
/// steps (their checks run with each step's starts and migrations).
pub(crate) struct Hooks;

impl Stages for Hooks {
    type Part = super::Part;
    type Prepared = super::UpgradePlan;
    type State = ();
    type Carry = ();
    fn prepare(p: &mut Prepare) -> SimResult<Option<super::UpgradePlan>> {
        super::prepare(p.sim).map(Some)
    }
    fn run(r: &mut Run, plan: super::UpgradePlan) -> SimResult<Ran<Self>> {
        let up = super::run(&mut r.sim, &plan, &r.guests, &mut r.compat, r.config.progress);
        Ok(Ran { part: super::Part { upgrade: Some(up) }, state: None, carry: () })
    }
}
