//! The microcode scenario: a microcode event removes features on a share of the hosts that have
//! them (as the 2021 TSX removal did on Skylake–Cascade Lake hosts). Per guest configuration: the
//! running guests whose host no longer provides their CPU, that can no longer migrate (within their
//! pool, anywhere), that cannot restart, or that would restart with fewer features.

pub(crate) mod entry;
pub(crate) mod section;

use super::super::error::SimResult;
use super::super::fleet::ClassReq;
use super::super::guest::Compat;
use super::super::rng::{tag, Rng};
use super::migrate::Guest;
use super::pools::FleetPresence;
use super::Sim;
use crate::ids::{CtxId, HostClassId, HostId, IdVec};
use rayon::prelude::*;
use serde::Serialize;

/// Per event: the class each affected class becomes (None = not affected).
pub(crate) struct EventClasses {
    pub map: Vec<Vec<Option<HostClassId>>>,
}

/// The microcode scenario's field of the report (null when it did not run).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Part {
    pub microcode: Option<Vec<EventReport>>,
}

/// Interns the post-event CPUs (before the compatibility cache is built).
pub(crate) fn prepare(sim: &mut Sim) -> SimResult<EventClasses> {
    let mut out = Vec::new();
    for e in &sim.spec.events {
        let n = sim.fleet.classes.len();
        let mut reqs = Vec::new();
        let mut which = Vec::new();
        for (c, cl) in sim.fleet.classes.iter_enumerated() {
            let eligible = e.generations.as_ref().is_none_or(|g| g.contains(&(cl.profile as usize)));
            if eligible && cl.features.intersects(&e.remove) {
                reqs.push(ClassReq {
                    vendor: cl.vendor,
                    signature: cl.signature,
                    features: cl.features.difference(&e.remove),
                    profile: cl.profile,
                    odd: cl.odd,
                });
                which.push(c);
            }
        }
        let ids = sim.fleet.classes.intern(&sim.map.x86, &sim.spec.profiles, &reqs)?;
        let mut m = vec![None; n];
        for (c, id) in which.into_iter().zip(ids) {
            m[c.index()] = Some(id);
        }
        out.push(m);
    }
    Ok(EventClasses { map: out })
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct EventRow {
    pub configuration: String,
    pub guests: u64,
    /// Running on a host the event changed.
    pub on_affected_hosts: u64,
    /// Their host no longer provides every feature of their CPU.
    pub cpu_not_backed: u64,
    /// Could migrate within their pool before, cannot after.
    pub lost_pool_mobility: u64,
    /// Could migrate somewhere before, cannot migrate anywhere after.
    pub lost_all_mobility: u64,
    /// Their definition no longer starts on their host.
    pub cannot_restart: u64,
    /// Restart works but the guest gets fewer features.
    pub restart_loses_features: u64,
}

impl EventRow {
    /// The row `all`: every column summed over `rows`.
    fn total(rows: &[EventRow]) -> EventRow {
        let mut total = EventRow { configuration: "all".into(), ..Default::default() };
        for r in rows {
            total.guests += r.guests;
            total.on_affected_hosts += r.on_affected_hosts;
            total.cpu_not_backed += r.cpu_not_backed;
            total.lost_pool_mobility += r.lost_pool_mobility;
            total.lost_all_mobility += r.lost_all_mobility;
            total.cannot_restart += r.cannot_restart;
            total.restart_loses_features += r.restart_loses_features;
        }
        total
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct EventReport {
    pub name: String,
    pub removes: Vec<String>,
    pub share: f64,
    pub hosts_affected: u64,
    /// Pools whose baseline shrinks.
    pub pools_baseline_changed: Vec<String>,
    pub rows: Vec<EventRow>,
    pub total: EventRow,
}

pub(crate) fn run(sim: &mut Sim, ev: &EventClasses, guests: &[Guest], compat: &Compat) -> Vec<EventReport> {
    let started: Vec<&Guest> = guests.iter().filter(|g| g.class.is_some()).collect();
    let mut reports = Vec::new();
    for (ei, e) in sim.spec.events.iter().enumerate() {
        let before = sim.fleet.host_class.clone();
        let after = classes_after(sim.seed, ei, e.share, &ev.map[ei], &before);
        let hosts_affected = before.iter().zip(&after).filter(|(a, b)| a != b).count() as u64;
        let pools_baseline_changed = changed_pools(sim, &after);
        let rows = guest_rows(sim, compat, &started, &before, &after);
        let total = EventRow::total(&rows);
        reports.push(EventReport {
            name: e.name.clone(),
            removes: e.remove.iter().map(|id| sim.map.x86.feature_name(id).to_string()).collect(),
            share: e.share,
            hosts_affected,
            pools_baseline_changed,
            rows,
            total,
        });
    }
    reports
}

/// The class of every host after event `ei`: a host of an affected class (`emap` not None) takes
/// the event with probability `share`, drawn per host from the seed.
fn classes_after(
    seed: u64,
    ei: usize,
    share: f64,
    emap: &[Option<HostClassId>],
    before: &IdVec<HostId, HostClassId>,
) -> IdVec<HostId, HostClassId> {
    let after: Vec<HostClassId> = before
        .as_slice()
        .par_iter()
        .enumerate()
        .map(|(h, &c)| {
            let to = emap.get(c.index()).copied().flatten();
            to.filter(|_| Rng::for_item(seed, tag::MICROCODE ^ ((ei as u64) << 48), h as u64).chance(share))
                .unwrap_or(c)
        })
        .collect();
    after.into()
}

/// The pools whose baseline changes when the hosts have the classes `after`.
fn changed_pools(sim: &mut Sim, after: &IdVec<HostId, HostClassId>) -> Vec<String> {
    let mut changed = Vec::new();
    for p in 0..sim.fleet.pools.len() {
        let id = sim.add_pool_ctx(p, after);
        let old = sim.starter.ctxs[sim.pool_ctx[p]].baseline.as_ref().ok();
        if sim.starter.ctxs[id].baseline.as_ref().ok() != old {
            changed.push(sim.fleet.pools[p].name.clone());
        }
    }
    changed
}

/// One row per guest configuration: what the event does to the started guests of each.
fn guest_rows(
    sim: &mut Sim,
    compat: &Compat,
    started: &[&Guest],
    before: &IdVec<HostId, HostClassId>,
    after: &IdVec<HostId, HostClassId>,
) -> Vec<EventRow> {
    let n_classes = sim.fleet.classes.len();
    let pb = FleetPresence::of(n_classes, &sim.fleet.pools, before);
    let pa = FleetPresence::of(n_classes, &sim.fleet.pools, after);
    // Restart = the guest's definition (as written at its start) on its host after the event.
    let keys: Vec<(u16, CtxId, HostClassId)> =
        started.iter().map(|g| (g.template, sim.pool_ctx[g.pool as usize], after[g.host.expect("started")])).collect();
    let ids = sim.starter.ensure(&sim.map.x86, &sim.spec.templates, &sim.fleet.classes, &keys);
    let mut rows: Vec<EventRow> =
        sim.spec.templates.iter().map(|t| EventRow { configuration: t.name.clone(), ..Default::default() }).collect();
    for (g, id) in started.iter().zip(ids) {
        let r = &mut rows[g.template as usize];
        let (h, gclass) = (g.host.expect("started"), g.class.expect("started"));
        let (ob, oa) = (before[h], after[h]);
        let p = g.pool as usize;
        r.guests += 1;
        r.on_affected_hosts += u64::from(ob != oa);
        r.cpu_not_backed += u64::from(!compat.allows(gclass, oa));
        let pool_before = pb.pools[p].has_destination(compat, gclass, ob);
        let pool_after = pa.pools[p].has_destination(compat, gclass, oa);
        r.lost_pool_mobility += u64::from(pool_before && !pool_after);
        let all_before = pb.fleet.has_destination(compat, gclass, ob);
        let all_after = pa.fleet.has_destination(compat, gclass, oa);
        r.lost_all_mobility += u64::from(all_before && !all_after);
        match sim.starter.combos[id].outcome {
            Err(_) => r.cannot_restart += 1,
            Ok(c) => {
                let now = &sim.starter.classes[gclass].sets.enabled;
                let fresh = &sim.starter.classes[c].sets.enabled;
                r.restart_loses_features += u64::from(!now.difference(fresh).is_empty());
            }
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_after_changes_only_affected_classes_and_follows_the_share() {
        let c = HostClassId::new;
        let emap = [None, Some(c(5)), None];
        let before: IdVec<HostId, HostClassId> = (0..300).map(|h| c(h % 3)).collect();
        assert_eq!(classes_after(7, 0, 0.0, &emap, &before), before);
        let all = classes_after(7, 0, 1.0, &emap, &before);
        assert!(all.iter().zip(&before).all(|(&a, &b)| a == if b == c(1) { c(5) } else { b }));
        let half = classes_after(7, 0, 0.5, &emap, &before);
        let changed = half.iter().zip(&before).filter(|(a, b)| a != b).count();
        assert!((20..80).contains(&changed), "{changed} of 100 affected hosts changed");
        assert!(half.iter().zip(&before).all(|(&a, &b)| a == b || (b == c(1) && a == c(5))));
        // Each event draws its own hosts.
        assert_ne!(half, classes_after(7, 1, 0.5, &emap, &before));
    }

    #[test]
    fn the_total_row_sums_every_column() {
        let row = |n: u64| EventRow {
            configuration: format!("t{n}"),
            guests: n,
            on_affected_hosts: 2 * n,
            cpu_not_backed: 3 * n,
            lost_pool_mobility: 4 * n,
            lost_all_mobility: 5 * n,
            cannot_restart: 6 * n,
            restart_loses_features: 7 * n,
        };
        let total = EventRow::total(&[row(1), row(10)]);
        let mut want = row(11);
        want.configuration = "all".into();
        assert_eq!(format!("{total:?}"), format!("{want:?}"));
    }
}
