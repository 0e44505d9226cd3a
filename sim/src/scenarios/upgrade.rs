//! The upgrade scenario: in every pool the oldest generation is replaced by the newest of the
//! pool's vendor over T steps. Guests on a host being replaced are live-migrated away (own pool
//! first, then anywhere); a guest with no compatible destination is stranded and must be cold
//! restarted on the new hardware. At each step: the pool baselines, the guests stranded, the
//! guests that can no longer migrate anywhere, and the guests that would gain features on restart.

use super::super::error::SimResult;
use super::super::fleet::{draw_key, HostKey, NO};
use super::super::guest::{ClassMask, Compat};
use super::super::progress::Progress;
use super::super::rng::{tag, Rng};
use super::migrate::Guest;
use super::pools::class_counts;
use super::Sim;
use cpufleet_engine::x86::{self, Sel};
use rayon::prelude::*;
use serde::Serialize;

/// One pool's replacement: its oldest generation's hosts, in replacement order, with the class
/// of the new host that takes each one's place.
pub struct PoolUpgrade {
    pub pool: usize,
    pub old: usize,
    pub new: usize,
    pub hosts: Vec<u32>,
    pub new_class: Vec<u32>,
}

pub struct UpgradePlan {
    pub pools: Vec<PoolUpgrade>,
}

/// Draws the replacement hosts (before the compatibility cache is built: their classes must
/// exist by then).
pub fn prepare(sim: &mut Sim) -> SimResult<UpgradePlan> {
    let spec = sim.spec;
    let profiles = &spec.profiles;
    let mut plans: Vec<(usize, usize, usize, Vec<u32>)> = Vec::new();
    for (pi, p) in sim.fleet.pools.iter().enumerate() {
        let Some(new) = spec.upgrade.replace.get(p.vendor).copied().flatten() else { continue };
        let old = p
            .range()
            .map(|h| sim.fleet.profile_of(h))
            .min_by_key(|&g| (profiles.list[g].year, g))
            .expect("pools have hosts");
        if old == new || profiles.list[old].year >= profiles.list[new].year {
            continue;
        }
        let mut hosts: Vec<u32> = p.range().filter(|&h| sim.fleet.profile_of(h) == old).map(|h| h as u32).collect();
        let mut rng = Rng::for_item(sim.seed, tag::UPGRADE_ORDER, pi as u64);
        for i in (1..hosts.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            hosts.swap(i, j);
        }
        plans.push((pi, old, new, hosts));
    }
    let seed = sim.seed;
    let mut keys: Vec<HostKey> = Vec::new();
    for (pi, _, new, hosts) in &plans {
        let p = &sim.fleet.pools[*pi];
        keys.extend(hosts.iter().map(|&h| {
            let mut rng = Rng::for_item(seed, tag::UPGRADE_HOST, h as u64);
            draw_key(&mut rng, profiles, &spec.variation, &p.gens, &p.pick, Some(*new))
        }));
    }
    let key_ids = sim.fleet.intern_keys(&sim.map.x86, profiles, &keys)?;
    let mut it = key_ids.into_iter();
    let pools = plans
        .into_iter()
        .map(|(pool, old, new, hosts)| {
            let new_class =
                hosts.iter().map(|_| sim.fleet.keys[it.next().expect("one key per host") as usize].1).collect();
            PoolUpgrade { pool, old, new, hosts, new_class }
        })
        .collect();
    Ok(UpgradePlan { pools })
}

#[derive(Clone, Debug, Serialize)]
pub struct Replacement {
    pub pool: String,
    pub old: String,
    pub new: String,
    pub hosts: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct PoolStep {
    pub pool: String,
    pub model: Option<String>,
    pub features: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub step: u32,
    /// Hosts replaced so far.
    pub replaced: u64,
    /// Host-weighted mean feature count of the pool baselines.
    pub mean_baseline_features: f64,
    pub pools: Vec<PoolStep>,
    /// Guests moved off hosts replaced at this step.
    pub evacuated: u64,
    /// Guests on replaced hosts that could not live-migrate anywhere (cold restart needed).
    pub stranded: u64,
    /// Stranded guests that could not even be restarted on the new hardware.
    pub lost: u64,
    /// Running guests with no compatible destination host left anywhere in the fleet.
    pub immobile: u64,
    /// Running guests whose CPU would gain features if restarted now.
    pub gain_on_restart: u64,
    /// Mean features gained by those guests.
    pub mean_gain: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct UpgradeReport {
    pub steps: u32,
    pub replacements: Vec<Replacement>,
    pub timeline: Vec<Step>,
}

/// Per-guest state during the upgrade.
#[derive(Clone, Copy)]
struct GState {
    host: u32,
    class: u32,
    lost: bool,
}

pub fn run(
    sim: &mut Sim,
    plan: &UpgradePlan,
    guests: &[Guest],
    compat: &mut Compat,
    progress: &Progress,
) -> UpgradeReport {
    let steps = sim.spec.upgrade.steps;
    let n_pools = sim.fleet.pools.len();
    let mut host_class = sim.fleet.host_class.clone();
    let swap_step = swap_steps(plan, host_class.len(), steps);
    let mut gs: Vec<GState> =
        guests.iter().filter(|g| g.class != NO).map(|g| GState { host: g.host, class: g.class, lost: false }).collect();
    let started: Vec<&Guest> = guests.iter().filter(|g| g.class != NO).collect();
    let mut timeline = Vec::new();
    let mut ctx_now: Vec<u32> = sim.pool_ctx.clone();
    let mut replaced = 0u64;
    progress.phase("upgrade", steps as u64 + 1);
    for t in 0..=steps {
        let mut swapped_now = 0u64;
        if t > 0 {
            for pu in &plan.pools {
                for (&h, &c) in pu.hosts.iter().zip(&pu.new_class) {
                    if swap_step[h as usize] == t {
                        host_class[h as usize] = c;
                        swapped_now += 1;
                    }
                }
            }
            replaced += swapped_now;
            // Pool baselines of this step (a new context only where the baseline changed).
            for pu in &plan.pools {
                let p = pu.pool;
                let id = sim.add_pool_ctx(p, &host_class);
                let prev = &sim.starter.ctxs[ctx_now[p] as usize].baseline;
                if sim.starter.ctxs[id as usize].baseline.as_ref().ok() != prev.as_ref().ok() {
                    ctx_now[p] = id;
                }
            }
        }
        let n_classes = sim.fleet.classes.len();
        let counts = class_counts(n_classes, &host_class);
        let mut fleet_mask = ClassMask::new(n_classes);
        let mut pool_masks: Vec<ClassMask> = vec![ClassMask::new(n_classes); n_pools];
        for (pi, p) in sim.fleet.pools.iter().enumerate() {
            for h in p.range() {
                pool_masks[pi].set(host_class[h]);
            }
        }
        for (c, &n) in counts.iter().enumerate() {
            if n > 0 {
                fleet_mask.set(c as u32);
            }
        }
        // Evacuate the guests of the hosts replaced at this step.
        let fleet = &sim.fleet;
        let seed = sim.seed;
        let hc = &host_class;
        let evac: Vec<(usize, Option<u32>)> = if t == 0 {
            Vec::new()
        } else {
            let compat_ref = &*compat;
            gs.par_iter()
                .enumerate()
                .filter(|(_, g)| !g.lost && swap_step[g.host as usize] == t)
                .map(|(i, g)| {
                    let row = compat_ref.row(g.class);
                    let mut rng = Rng::for_item(seed, tag::UPGRADE_STEP, ((t as u64) << 40) | i as u64);
                    let home = fleet.pool_of(g.host as usize);
                    let mut order: Vec<usize> = vec![home];
                    let start = rng.below(n_pools as u64) as usize;
                    order.extend((0..n_pools).map(|k| (start + k) % n_pools).filter(|&p| p != home));
                    for p in order {
                        if !pool_masks[p].meets(row) {
                            continue;
                        }
                        let pool = &fleet.pools[p];
                        let off = rng.below(pool.len as u64) as usize;
                        for k in 0..pool.len {
                            let h = pool.start + (off + k) % pool.len;
                            if h != g.host as usize && compat_ref.allows(g.class, hc[h]) {
                                return (i, Some(h as u32));
                            }
                        }
                    }
                    (i, None)
                })
                .collect()
        };
        let (mut evacuated, mut stranded, mut lost) = (0u64, 0u64, 0u64);
        let mut restarts: Vec<usize> = Vec::new();
        for (i, dest) in evac {
            match dest {
                Some(h) => {
                    evacuated += 1;
                    gs[i].host = h;
                }
                None => {
                    stranded += 1;
                    restarts.push(i);
                }
            }
        }
        // Stranded guests are cold restarted from their definition on the new host in their place.
        if !restarts.is_empty() {
            let keys: Vec<(u16, u32, u32)> = restarts
                .iter()
                .map(|&i| {
                    let g = started[i];
                    (g.template, ctx_now[g.pool as usize], host_class[gs[i].host as usize])
                })
                .collect();
            let ids = sim.starter.ensure(&sim.map.x86, &sim.spec.templates, &sim.fleet.classes, &keys);
            for (&i, id) in restarts.iter().zip(ids) {
                match sim.starter.combos[id as usize].outcome {
                    Ok(c) => gs[i].class = c,
                    Err(_) => {
                        gs[i].lost = true;
                        lost += 1;
                    }
                }
            }
            compat.extend(&sim.starter.classes, &sim.fleet.classes);
        }
        // What would each guest get if restarted now, on its current host?
        let keys: Vec<(u16, u32, u32)> = gs
            .iter()
            .zip(&started)
            .filter(|(g, _)| !g.lost)
            .map(|(g, s)| (s.template, ctx_now[s.pool as usize], host_class[g.host as usize]))
            .collect();
        let ids = sim.starter.ensure(&sim.map.x86, &sim.spec.templates, &sim.fleet.classes, &keys);
        compat.extend(&sim.starter.classes, &sim.fleet.classes);
        let (mut immobile, mut gain, mut gained) = (0u64, 0u64, 0u64);
        let mut ids = ids.into_iter();
        for g in gs.iter().filter(|g| !g.lost) {
            let own = host_class[g.host as usize];
            let row = compat.row(g.class);
            let mut mask = fleet_mask.clone();
            if counts[own as usize] <= 1 {
                mask.clear(own);
            }
            immobile += u64::from(!mask.meets(row));
            let id = ids.next().expect("one key per guest");
            if let Ok(c) = sim.starter.combos[id as usize].outcome {
                let now = &sim.starter.classes[g.class as usize].sets.enabled;
                let fresh = &sim.starter.classes[c as usize].sets.enabled;
                let more = fresh.difference(now).count() as u64;
                if more > 0 {
                    gain += 1;
                    gained += more;
                }
            }
        }
        let (pools, mean_baseline_features) = pool_steps(sim, &ctx_now);
        timeline.push(Step {
            step: t,
            replaced,
            mean_baseline_features,
            pools,
            evacuated,
            stranded,
            lost,
            immobile,
            gain_on_restart: gain,
            mean_gain: if gain == 0 { 0.0 } else { round2(gained as f64 / gain as f64) },
        });
        progress.add(1);
    }
    let profiles = &sim.spec.profiles;
    let replacements = plan
        .pools
        .iter()
        .map(|pu| Replacement {
            pool: sim.fleet.pools[pu.pool].name.clone(),
            old: profiles.list[pu.old].name.clone(),
            new: profiles.list[pu.new].name.clone(),
            hosts: pu.hosts.len() as u64,
        })
        .collect();
    UpgradeReport { steps, replacements, timeline }
}

/// The step (1..=steps) at which each host is replaced, 0 for hosts never replaced: host i of a
/// pool's n goes at the first step t with i < ceil(n t / steps), so each step replaces an equal share.
fn swap_steps(plan: &UpgradePlan, n_hosts: usize, steps: u32) -> Vec<u32> {
    let mut swap_step = vec![0u32; n_hosts];
    for pu in &plan.pools {
        let n = pu.hosts.len() as u64;
        for (i, &h) in pu.hosts.iter().enumerate() {
            swap_step[h as usize] =
                (1..=steps).find(|&t| (i as u64) < (n * t as u64).div_ceil(steps as u64)).unwrap_or(steps);
        }
    }
    swap_step
}

/// Each pool's baseline (context `ctx_now`) at this step, and the host-weighted mean feature
/// count of the baselines.
fn pool_steps(sim: &Sim, ctx_now: &[u32]) -> (Vec<PoolStep>, f64) {
    let map = &sim.map.x86;
    let mut pools = Vec::new();
    let (mut wsum, mut hsum) = (0f64, 0f64);
    for (pi, p) in sim.fleet.pools.iter().enumerate() {
        let b = sim.starter.ctxs[ctx_now[pi] as usize].baseline.as_ref().ok();
        let features = b.and_then(|b| x86::model_from_cpu(map, b, Sel::All).ok()).map_or(0, |m| m.features.count());
        wsum += features as f64 * p.len as f64;
        hsum += p.len as f64;
        pools.push(PoolStep { pool: p.name.clone(), model: b.and_then(|b| b.model.clone()), features });
    }
    (pools, round2(wsum / hsum.max(1.0)))
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_steps_replace_an_equal_share_of_each_pool_per_step() {
        let pool = |hosts: Vec<u32>| PoolUpgrade { pool: 0, old: 0, new: 1, new_class: vec![0; hosts.len()], hosts };
        let plan = UpgradePlan { pools: vec![pool(vec![4, 0, 2, 6]), pool(vec![1])] };
        let s = swap_steps(&plan, 8, 2);
        // Pool 1: hosts 4 and 0 at step 1, 2 and 6 at step 2; pool 2's single host at step 1.
        assert_eq!(s, vec![1, 1, 2, 0, 1, 0, 2, 0]);
        // One step replaces everything at once.
        assert!(swap_steps(&plan, 8, 1).iter().enumerate().all(|(h, &t)| t == u32::from([0, 1, 2, 4, 6].contains(&h))));
    }
}
