//! The entry of the pools scenario: what CPU each pool and the fleet can give its guests.

use super::section;
#[cfg(test)]
use crate::check::Invariant;
use crate::report::model::Section;
use crate::report::Report;
use crate::check::{Acc, CheckReport};
use crate::error::SimResult;
use crate::scenarios::entry::{Checked, Entry, Needs, Prepare, Run, Ran, Stages};
use crate::scenarios::pools::{DataProblem, Part};
use crate::scenarios::Scenario;

/// The pools scenario's entry.
pub(crate) const ENTRY: Entry = Entry {
    scenario: crate::scenarios::Scenario::Pools,
    needs: Needs { always: true, ..Needs::FLEET },
    sections,
    #[cfg(test)]
    checks: &[Invariant::Pool],
};

/// The POOLS section (always in the HTML page; in the text only when the scenario ran).
fn sections(r: &Report) -> Vec<Section<'_>> {
    let pools = section::pools(r);
    vec![if r.has(Scenario::Pools) { pools } else { pools.html_only() }]
}

/// The pools scenario's stages: the pool and fleet baselines (always, the report's frame), checked
/// by [`super::check::check_pools`].
pub(crate) struct Hooks;

impl Stages for Hooks {
    type Part = Part;
    type Prepared = ();
    type State = ();
    type Carry = ();
    fn prepare(_: &mut Prepare) -> SimResult<Option<()>> {
        Ok(Some(()))
    }
    fn run(r: &mut Run, (): ()) -> SimResult<Ran<Self>> {
        r.config.progress.phase("pools", 0);
        Ok(Ran { part: super::run(&r.sim).into(), state: None, carry: () })
    }
    fn check(c: &Checked, _: Option<&()>, _: &mut CheckReport) -> Acc {
        super::check::check_pools(c.sim)
    }
    /// A pool mixing vendors.
    fn data_problems(part: &Part, out: &mut Vec<DataProblem>) {
        out.extend(part.pools.iter().filter_map(|p| p.problem.clone()));
    }
}
