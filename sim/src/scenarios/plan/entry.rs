//! The entry of the plan scenario: migration domains, each with its own baseline (EVC).

use super::section;
#[cfg(test)]
use crate::check::Invariant;
use crate::report::model::Section;
use crate::report::Report;
use crate::check::{Acc, CheckReport};
use crate::error::SimResult;
use crate::scenarios::entry::{Checked, Entry, Needs, Prepare, Run, Ran, Stages};

/// The plan scenario's entry.
pub(crate) const ENTRY: Entry = Entry {
    scenario: crate::scenarios::Scenario::Plan,
    needs: Needs::FLEET,
    sections,
    #[cfg(test)]
    checks: &[Invariant::Plan],
};

/// The PLAN section, when the scenario ran.
fn sections(r: &Report) -> Vec<Section<'_>> {
    r.parts.plan.plan.iter().map(|p| section::plan(p, r.hosts)).collect()
}

/// The plan scenario's stages: the domains, checked by [`super::check::check_plan`].
pub(crate) struct Hooks;

impl Stages for Hooks {
    type Part = super::Part;
    type Prepared = ();
    type State = Vec<super::DomainCheck>;
    type Carry = ();
    fn prepare(_: &mut Prepare) -> SimResult<Option<()>> {
        Ok(Some(()))
    }
    fn run(r: &mut Run, (): ()) -> SimResult<Ran<Self>> {
        r.config.progress.phase("plan", 0);
        let (plan, domains) = super::run(&r.sim);
        Ok(Ran { part: super::Part { plan: Some(plan) }, state: Some(domains), carry: () })
    }
    fn check(c: &Checked, domains: Option<&Vec<super::DomainCheck>>, _: &mut CheckReport) -> Acc {
        super::check::check_plan(c.sim, domains.map_or(&[][..], |d| &d[..]))
    }
}
