//! The upgrade scenario: in every pool the oldest generation is replaced by the newest of the
//! pool's vendor over T steps. Guests on a host being replaced are live-migrated away (own pool
//! first, then anywhere); a guest with no compatible destination is stranded and must be cold
//! restarted on the new hardware. At each step: the pool baselines, the guests stranded, the
//! guests that can no longer migrate anywhere, and the guests that would gain features on restart.

pub(crate) mod entry;
pub(crate) mod section;

use super::super::error::SimResult;
use super::super::fleet::{draw_key, HostKey, PoolInfo};
use super::super::guest::Compat;
use super::super::progress::Progress;
use super::super::rng::{tag, Rng};
use super::migrate::Guest;
use super::pools::{FleetPresence, Presence};
use super::Sim;
use crate::ids::{CtxId, GuestClassId, HostClassId, HostId, IdVec};
use cpufleet_engine::x86::{self, Sel};
use rayon::prelude::*;
use serde::Serialize;

/// One pool's replacement: its oldest generation's hosts, in replacement order, with the class
/// of the new host that takes each one's place.
pub(crate) struct PoolUpgrade {
    pub pool: usize,
    pub old: usize,
    pub new: usize,
    pub hosts: Vec<u32>,
    pub new_class: Vec<HostClassId>,
}

pub(crate) struct UpgradePlan {
    pub pools: Vec<PoolUpgrade>,
}

/// Draws the replacement hosts (before the compatibility cache is built: their classes must
/// exist by then).
pub(crate) fn prepare(sim: &mut Sim) -> SimResult<UpgradePlan> {
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

/// The upgrade scenario's field of the report (null when it did not run).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Part {
    pub upgrade: Option<UpgradeReport>,
}

/// Per-guest state during the upgrade.
#[derive(Clone, Copy)]
struct GState {
    host: u32,
    class: GuestClassId,
    lost: bool,
}

pub(crate) fn run(
    sim: &mut Sim,
    plan: &UpgradePlan,
    guests: &[Guest],
    compat: &mut Compat,
    progress: &Progress,
) -> UpgradeReport {
    let steps = sim.spec.upgrade.steps;
    let mut up = Upgrade::new(sim, plan, guests, steps);
    let mut timeline = Vec::new();
    let mut replaced = 0u64;
    progress.phase("upgrade", steps as u64 + 1);
    for t in 0..=steps {
        if t > 0 {
            replaced += swap_hosts(plan, &up.swap_step, t, &mut up.host_class);
            refresh_pool_ctx(sim, plan, &up.host_class, &mut up.ctx_now);
        }
        timeline.push(up.step(sim, compat, t, replaced));
        progress.add(1);
    }
    UpgradeReport { steps, replacements: replacements(sim, plan), timeline }
}

/// Where the upgrade stands between steps.
struct Upgrade<'g> {
    /// The class of every host now.
    host_class: IdVec<HostId, HostClassId>,
    /// The context (pool baseline) of every pool now.
    ctx_now: Vec<CtxId>,
    /// The step at which each host is replaced (see [`swap_steps`]).
    swap_step: Vec<u32>,
    /// The started guests, and where each one is now.
    started: Vec<&'g Guest>,
    gs: Vec<GState>,
}

impl<'g> Upgrade<'g> {
    fn new(sim: &Sim, plan: &UpgradePlan, guests: &'g [Guest], steps: u32) -> Upgrade<'g> {
        let host_class = sim.fleet.host_class.clone();
        let swap_step = swap_steps(plan, host_class.len(), steps);
        let started: Vec<&Guest> = guests.iter().filter(|g| g.class.is_some()).collect();
        let gs = started
            .iter()
            .map(|g| GState {
                host: g.host.expect("started").raw(),
                class: g.class.expect("started"),
                lost: false,
            })
            .collect();
        Upgrade { host_class, ctx_now: sim.pool_ctx.clone(), swap_step, started, gs }
    }

    /// Step `t` (its hosts already swapped): evacuate the replaced hosts, cold restart the
    /// stranded guests, and measure the fleet.
    fn step(&mut self, sim: &mut Sim, compat: &mut Compat, t: u32, replaced: u64) -> Step {
        let presence = FleetPresence::of(sim.fleet.classes.len(), &sim.fleet.pools, &self.host_class);
        let evac = if t == 0 { Vec::new() } else { self.evacuation(sim, compat, &presence.pools, t) };
        let (evacuated, restarts) = tally_evacuation(&mut self.gs, evac);
        let lost = self.cold_restart(sim, compat, &restarts);
        let (immobile, gain, gained) = self.restart_outlook(sim, compat, &presence.fleet);
        let (pools, mean_baseline_features) = pool_steps(sim, &self.ctx_now);
        Step {
            step: t,
            replaced,
            mean_baseline_features,
            pools,
            evacuated,
            stranded: restarts.len() as u64,
            lost,
            immobile,
            gain_on_restart: gain,
            mean_gain: if gain == 0 { 0.0 } else { round2(gained as f64 / gain as f64) },
        }
    }

    /// Where each running guest on a host replaced at step `t` live-migrates: `None` when no
    /// host will take it (stranded).
    fn evacuation(&self, sim: &Sim, compat: &Compat, pools: &[Presence], t: u32) -> Vec<(usize, Option<u32>)> {
        let (fleet, seed) = (&sim.fleet, sim.seed);
        self.gs
            .par_iter()
            .enumerate()
            .filter(|(_, g)| !g.lost && self.swap_step[g.host as usize] == t)
            .map(|(i, g)| {
                let mut rng = Rng::for_item(seed, tag::UPGRADE_STEP, ((t as u64) << 40) | i as u64);
                let home = fleet.pool_of(g.host as usize);
                (i, destination(&fleet.pools, pools, compat, &self.host_class, home, g, &mut rng))
            })
            .collect()
    }

    /// Cold restarts the stranded guests `restarts` from their definition on the new host in
    /// their place; returns how many do not start there (lost).
    fn cold_restart(&mut self, sim: &mut Sim, compat: &mut Compat, restarts: &[usize]) -> u64 {
        if restarts.is_empty() {
            return 0;
        }
        let keys: Vec<(u16, CtxId, HostClassId)> = restarts
            .iter()
            .map(|&i| {
                let g = self.started[i];
                (g.template, self.ctx_now[g.pool as usize], self.host_class[HostId::new(self.gs[i].host as usize)])
            })
            .collect();
        let ids = sim.starter.ensure(&sim.map.x86, &sim.spec.templates, &sim.fleet.classes, &keys);
        let mut lost = 0;
        for (&i, id) in restarts.iter().zip(ids) {
            match sim.starter.combos[id].outcome {
                Ok(c) => self.gs[i].class = c,
                Err(_) => {
                    self.gs[i].lost = true;
                    lost += 1;
                }
            }
        }
        compat.extend(&sim.starter.classes, &sim.fleet.classes);
        lost
    }

    /// Over the running guests: how many have no compatible destination left in the fleet
    /// (immobile), how many would gain features if restarted now on their current host, and
    /// how many features those gain in all.
    fn restart_outlook(&self, sim: &mut Sim, compat: &mut Compat, fleet: &Presence) -> (u64, u64, u64) {
        let keys: Vec<(u16, CtxId, HostClassId)> = self
            .gs
            .iter()
            .zip(&self.started)
            .filter(|(g, _)| !g.lost)
            .map(|(g, s)| (s.template, self.ctx_now[s.pool as usize], self.host_class[HostId::new(g.host as usize)]))
            .collect();
        let ids = sim.starter.ensure(&sim.map.x86, &sim.spec.templates, &sim.fleet.classes, &keys);
        compat.extend(&sim.starter.classes, &sim.fleet.classes);
        let (mut immobile, mut gain, mut gained) = (0u64, 0u64, 0u64);
        for (g, id) in self.gs.iter().filter(|g| !g.lost).zip(ids) {
            immobile += u64::from(!fleet.has_destination(compat, g.class, self.host_class[HostId::new(g.host as usize)]));
            if let Ok(c) = sim.starter.combos[id].outcome {
                let now = &sim.starter.classes[g.class].sets.enabled;
                let fresh = &sim.starter.classes[c].sets.enabled;
                let more = fresh.difference(now).count() as u64;
                if more > 0 {
                    gain += 1;
                    gained += more;
                }
            }
        }
        (immobile, gain, gained)
    }
}

/// A live-migration destination for guest `g` leaving its host: a compatible host of its own
/// pool `home` first, then of the other pools in turn from a random one; within a pool from a
/// random host on. `None` when no host takes it.
fn destination(
    infos: &[PoolInfo],
    pools: &[Presence],
    compat: &Compat,
    host_class: &IdVec<HostId, HostClassId>,
    home: usize,
    g: &GState,
    rng: &mut Rng,
) -> Option<u32> {
    let n_pools = infos.len();
    let row = compat.row(g.class);
    let start = rng.below(n_pools as u64) as usize;
    let order = std::iter::once(home).chain((0..n_pools).map(|k| (start + k) % n_pools).filter(|&p| p != home));
    for p in order {
        if !pools[p].mask.meets(row) {
            continue;
        }
        let pool = &infos[p];
        let off = rng.below(pool.len as u64) as usize;
        for k in 0..pool.len {
            let h = pool.start + (off + k) % pool.len;
            if h != g.host as usize && compat.allows(g.class, host_class[HostId::new(h)]) {
                return Some(h as u32);
            }
        }
    }
    None
}

/// Applies an evacuation: each guest with a destination moves there. Returns how many moved,
/// and the guests left stranded, in order.
fn tally_evacuation(gs: &mut [GState], evac: Vec<(usize, Option<u32>)>) -> (u64, Vec<usize>) {
    let mut evacuated = 0u64;
    let mut stranded = Vec::new();
    for (i, dest) in evac {
        match dest {
            Some(h) => {
                evacuated += 1;
                gs[i].host = h;
            }
            None => stranded.push(i),
        }
    }
    (evacuated, stranded)
}

/// Puts the new hosts of step `t` in place of the old ones; returns how many were replaced.
fn swap_hosts(plan: &UpgradePlan, swap_step: &[u32], t: u32, host_class: &mut IdVec<HostId, HostClassId>) -> u64 {
    let mut swapped = 0u64;
    for pu in &plan.pools {
        for (&h, &c) in pu.hosts.iter().zip(&pu.new_class) {
            if swap_step[h as usize] == t {
                host_class[HostId::new(h as usize)] = c;
                swapped += 1;
            }
        }
    }
    swapped
}

/// The pool baselines after a swap: a pool gets a new context only where its baseline changed.
fn refresh_pool_ctx(sim: &mut Sim, plan: &UpgradePlan, host_class: &IdVec<HostId, HostClassId>, ctx_now: &mut [CtxId]) {
    for pu in &plan.pools {
        let p = pu.pool;
        let id = sim.add_pool_ctx(p, host_class);
        let prev = &sim.starter.ctxs[ctx_now[p]].baseline;
        if sim.starter.ctxs[id].baseline.as_ref().ok() != prev.as_ref().ok() {
            ctx_now[p] = id;
        }
    }
}

/// What replaces what in each upgraded pool, as the report names it.
fn replacements(sim: &Sim, plan: &UpgradePlan) -> Vec<Replacement> {
    let profiles = &sim.spec.profiles;
    plan.pools
        .iter()
        .map(|pu| Replacement {
            pool: sim.fleet.pools[pu.pool].name.clone(),
            old: profiles.list[pu.old].name.clone(),
            new: profiles.list[pu.new].name.clone(),
            hosts: pu.hosts.len() as u64,
        })
        .collect()
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
fn pool_steps(sim: &Sim, ctx_now: &[CtxId]) -> (Vec<PoolStep>, f64) {
    let map = &sim.map.x86;
    let mut pools = Vec::new();
    let (mut wsum, mut hsum) = (0f64, 0f64);
    for (pi, p) in sim.fleet.pools.iter().enumerate() {
        let b = sim.starter.ctxs[ctx_now[pi]].baseline.as_ref().ok();
        let features = b.and_then(|b| x86::model_from_cpu(map, b, Sel::All).ok()).map_or(0, |m| m.features.count());
        wsum += features as f64 * p.len as f64;
        hsum += p.len as f64;
        pools.push(PoolStep { pool: p.name.clone(), model: b.and_then(|b| b.model.clone()), features });
    }
    (pools, round2(wsum / hsum.max(1.0)))
}

pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_steps_replace_an_equal_share_of_each_pool_per_step() {
        let pool = |hosts: Vec<u32>| PoolUpgrade {
            pool: 0,
            old: 0,
            new: 1,
            new_class: vec![HostClassId::new(0); hosts.len()],
            hosts,
        };
        let plan = UpgradePlan { pools: vec![pool(vec![4, 0, 2, 6]), pool(vec![1])] };
        let s = swap_steps(&plan, 8, 2);
        // Pool 1: hosts 4 and 0 at step 1, 2 and 6 at step 2; pool 2's single host at step 1.
        assert_eq!(s, vec![1, 1, 2, 0, 1, 0, 2, 0]);
        // One step replaces everything at once.
        assert!(swap_steps(&plan, 8, 1).iter().enumerate().all(|(h, &t)| t == u32::from([0, 1, 2, 4, 6].contains(&h))));
    }

    fn guest(host: u32, class: usize) -> GState {
        GState { host, class: GuestClassId::new(class), lost: false }
    }

    /// Compatibility rows (at most 64 host classes): guest class `g` runs on the classes of `rows[g]`.
    fn compat(rows: &[&[usize]]) -> Compat {
        Compat::of_rows(63, rows)
    }

    fn pool(start: usize, len: usize) -> PoolInfo {
        let pick = crate::rng::Weighted::new(&[1.0]).expect("a positive weight");
        PoolInfo { name: format!("p{start}"), start, len, vendor: 0, gens: vec![(0, 1.0)], pick }
    }

    #[test]
    fn swap_hosts_puts_only_this_steps_new_classes_in_place() {
        let c = HostClassId::new;
        let pu = PoolUpgrade { pool: 0, old: 0, new: 1, hosts: vec![3, 1, 2], new_class: vec![c(9), c(8), c(7)] };
        let plan = UpgradePlan { pools: vec![pu] };
        let swap_step = swap_steps(&plan, 4, 2);
        let classes = |v: [usize; 4]| -> IdVec<HostId, HostClassId> { v.into_iter().map(c).collect() };
        let mut host_class = classes([0, 0, 0, 0]);
        assert_eq!(swap_hosts(&plan, &swap_step, 1, &mut host_class), 2);
        assert_eq!(host_class, classes([0, 8, 0, 9]));
        assert_eq!(swap_hosts(&plan, &swap_step, 2, &mut host_class), 1);
        assert_eq!(host_class, classes([0, 8, 7, 9]));
    }

    #[test]
    fn tally_evacuation_moves_the_guests_with_a_destination_and_strands_the_rest() {
        let mut gs = vec![guest(0, 0), guest(1, 0), guest(2, 0)];
        let (evacuated, stranded) = tally_evacuation(&mut gs, vec![(0, Some(7)), (2, None), (1, Some(5))]);
        assert_eq!((evacuated, stranded), (2, vec![2]));
        assert_eq!(gs.iter().map(|g| g.host).collect::<Vec<_>>(), vec![7, 5, 2]);
    }

    #[test]
    fn destination_prefers_the_home_pool_and_never_the_guests_own_host() {
        // Pool 0: hosts 0 and 1 (classes 0, 1); pool 1: hosts 2 and 3 (class 2).
        let infos = vec![pool(0, 2), pool(2, 2)];
        let host_class: IdVec<HostId, HostClassId> = [0, 1, 2, 2].into_iter().map(HostClassId::new).collect();
        let presence = FleetPresence::of(3, &infos, &host_class);
        // Guest class 0 runs on {0, 1, 2}, class 1 on {2}, class 2 on {0}.
        let compat = compat(&[&[0, 1, 2], &[2], &[0]]);
        for seed in 0..20 {
            let mut rng = Rng::new(seed);
            let dest =
                |g: GState, rng: &mut Rng| destination(&infos, &presence.pools, &compat, &host_class, 0, &g, rng);
            assert_eq!(dest(guest(0, 0), &mut rng), Some(1), "the other host of the home pool");
            assert!(matches!(dest(guest(0, 1), &mut rng), Some(2 | 3)), "only pool 1 has class 2");
            assert_eq!(dest(guest(0, 2), &mut rng), None, "class 0 is only the guest's own host");
        }
    }
}
