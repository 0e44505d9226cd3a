//! The entry of the microcode scenario: microcode events that remove features from running hosts.

use super::section;
#[cfg(test)]
use crate::check::Invariant;
use crate::report::model::Section;
use crate::report::Report;
use crate::error::SimResult;
use crate::scenarios::entry::{Entry, Needs, Prepare, Run, Ran, Stages};

/// The microcode scenario's entry.
pub(crate) const ENTRY: Entry = Entry {
    scenario: crate::scenarios::Scenario::Microcode,
    needs: Needs { guests: true, profiles: true, always: false },
    sections,
    #[cfg(test)]
    checks: &[Invariant::Promotion, Invariant::Forbid, Invariant::Strict],
};

/// The MICROCODE section, when the scenario ran.
fn sections(r: &Report) -> Vec<Section<'_>> {
    r.parts.microcode.microcode.iter().map(|e| section::microcode(e)).collect()
}

/// The microcode scenario's stages: the post-event CPUs interned before the guests start, then
/// the events.
pub(crate) struct Hooks;

impl Stages for Hooks {
    type Part = super::Part;
    type Prepared = super::EventClasses;
    type State = ();
    type Carry = ();
    fn prepare(p: &mut Prepare) -> SimResult<Option<super::EventClasses>> {
        super::prepare(p.sim).map(Some)
    }
    fn run(r: &mut Run, events: super::EventClasses) -> SimResult<Ran<Self>> {
        r.config.progress.phase("microcode", 0);
        let mc = super::run(&mut r.sim, &events, &r.guests, &r.compat);
        Ok(Ran { part: super::Part { microcode: Some(mc) }, state: None, carry: () })
    }
}
