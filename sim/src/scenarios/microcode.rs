//! The microcode scenario: a microcode event removes features on a share of the hosts that have
//! them (as the 2021 TSX removal did on Skylake–Cascade Lake hosts). Per guest configuration: the
//! running guests whose host no longer provides their CPU, that can no longer migrate (within their
//! pool, anywhere), that cannot restart, or that would restart with fewer features.

use super::super::error::SimResult;
use super::super::fleet::{ClassReq, NO};
use super::super::guest::{ClassMask, Compat};
use super::super::rng::{tag, Rng};
use super::migrate::Guest;
use super::pools::class_counts;
use super::Sim;
use rayon::prelude::*;
use serde::Serialize;

/// Per event: the class each affected class becomes (NO = not affected).
pub struct EventClasses {
    pub map: Vec<Vec<u32>>,
}

/// Interns the post-event CPUs (before the compatibility cache is built).
pub fn prepare(sim: &mut Sim) -> SimResult<EventClasses> {
    let mut out = Vec::new();
    for e in &sim.spec.events {
        let n = sim.fleet.classes.len();
        let mut reqs = Vec::new();
        let mut which = Vec::new();
        for c in 0..n {
            let cl = sim.fleet.classes.get(c as u32);
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
        let mut m = vec![NO; n];
        for (c, id) in which.into_iter().zip(ids) {
            m[c] = id;
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

/// Whether a guest of class `g` on a host of class `own` has another compatible host among
/// `counts`/`mask`.
fn mobile(compat: &Compat, g: u32, own: u32, counts: &[u64], mask: &ClassMask) -> bool {
    let row = compat.row(g);
    if counts[own as usize] > 1 && compat.allows(g, own) {
        return true;
    }
    let mut m = mask.clone();
    m.clear(own);
    m.meets(row)
}

pub fn run(sim: &mut Sim, ev: &EventClasses, guests: &[Guest], compat: &Compat) -> Vec<EventReport> {
    let mut reports = Vec::new();
    let started: Vec<&Guest> = guests.iter().filter(|g| g.class != NO).collect();
    let n_pools = sim.fleet.pools.len();
    for (ei, e) in sim.spec.events.iter().enumerate() {
        let emap = &ev.map[ei];
        let seed = sim.seed;
        let before = sim.fleet.host_class.clone();
        let after: Vec<u32> = before
            .par_iter()
            .enumerate()
            .map(|(h, &c)| {
                let to = emap.get(c as usize).copied().unwrap_or(NO);
                if to != NO && Rng::for_item(seed, tag::MICROCODE ^ ((ei as u64) << 48), h as u64).chance(e.share) {
                    to
                } else {
                    c
                }
            })
            .collect();
        let n_classes = sim.fleet.classes.len();
        let masks = |hc: &[u32]| {
            let counts = class_counts(n_classes, hc);
            let mut pool_counts: Vec<Vec<u64>> = Vec::with_capacity(n_pools);
            let mut pool_masks = Vec::with_capacity(n_pools);
            for p in &sim.fleet.pools {
                let pc = class_counts(n_classes, &hc[p.range()]);
                let mut m = ClassMask::new(n_classes);
                for (c, &n) in pc.iter().enumerate() {
                    if n > 0 {
                        m.set(c as u32);
                    }
                }
                pool_counts.push(pc);
                pool_masks.push(m);
            }
            let mut fm = ClassMask::new(n_classes);
            for (c, &n) in counts.iter().enumerate() {
                if n > 0 {
                    fm.set(c as u32);
                }
            }
            (counts, fm, pool_counts, pool_masks)
        };
        let (cb, fmb, pcb, pmb) = masks(&before);
        let (ca, fma, pca, pma) = masks(&after);
        let hosts_affected = before.iter().zip(&after).filter(|(a, b)| a != b).count() as u64;
        // Pool baselines after the event.
        let mut changed = Vec::new();
        for p in 0..n_pools {
            let id = sim.add_pool_ctx(p, &after);
            let old = sim.starter.ctxs[sim.pool_ctx[p] as usize].baseline.as_ref().ok();
            if sim.starter.ctxs[id as usize].baseline.as_ref().ok() != old {
                changed.push(sim.fleet.pools[p].name.clone());
            }
        }
        // Restart = the guest's definition (as written at its start) on its host after the event.
        let keys: Vec<(u16, u32, u32)> =
            started.iter().map(|g| (g.template, sim.pool_ctx[g.pool as usize], after[g.host as usize])).collect();
        let ids = sim.starter.ensure(&sim.map.x86, &sim.spec.templates, &sim.fleet.classes, &keys);
        let mut rows: Vec<EventRow> = sim
            .spec
            .templates
            .iter()
            .map(|t| EventRow { configuration: t.name.clone(), ..Default::default() })
            .collect();
        for (g, id) in started.iter().zip(ids) {
            let r = &mut rows[g.template as usize];
            let h = g.host as usize;
            let (ob, oa) = (before[h], after[h]);
            let p = g.pool as usize;
            r.guests += 1;
            r.on_affected_hosts += u64::from(ob != oa);
            r.cpu_not_backed += u64::from(!compat.allows(g.class, oa));
            let pool_before = mobile(compat, g.class, ob, &pcb[p], &pmb[p]);
            let pool_after = mobile(compat, g.class, oa, &pca[p], &pma[p]);
            r.lost_pool_mobility += u64::from(pool_before && !pool_after);
            let all_before = mobile(compat, g.class, ob, &cb, &fmb);
            let all_after = mobile(compat, g.class, oa, &ca, &fma);
            r.lost_all_mobility += u64::from(all_before && !all_after);
            match sim.starter.combos[id as usize].outcome {
                Err(_) => r.cannot_restart += 1,
                Ok(c) => {
                    let now = &sim.starter.classes[g.class as usize].sets.enabled;
                    let fresh = &sim.starter.classes[c as usize].sets.enabled;
                    r.restart_loses_features += u64::from(!now.difference(fresh).is_empty());
                }
            }
        }
        let mut total = EventRow { configuration: "all".into(), ..Default::default() };
        for r in &rows {
            total.guests += r.guests;
            total.on_affected_hosts += r.on_affected_hosts;
            total.cpu_not_backed += r.cpu_not_backed;
            total.lost_pool_mobility += r.lost_pool_mobility;
            total.lost_all_mobility += r.lost_all_mobility;
            total.cannot_restart += r.cannot_restart;
            total.restart_loses_features += r.restart_loses_features;
        }
        reports.push(EventReport {
            name: e.name.clone(),
            removes: e.remove.iter().map(|id| sim.map.x86.feature_name(id).to_string()).collect(),
            share: e.share,
            hosts_affected,
            pools_baseline_changed: changed,
            rows,
            total,
        });
    }
    reports
}
