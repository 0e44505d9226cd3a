//! The rollout: hosts moved to the other release step by step, guests started and migrated at
//! each step, tallied per direction, reason and configuration, with the recommendations.

use super::model::*;
use crate::ids::{ComboId, CtxId, HostClassId, HostId};
use crate::progress::Progress;
use crate::rng::{derive, tag, Rng, Weighted};
use crate::scenarios::migrate::{self, chain_length, next_destination, Guest, PairBits};
use crate::spec::{ModelRef, Template};
use crate::versions::{Refusal, Versions};
use cpufleet_engine::{CpuMatch, CpuMode};
use rayon::prelude::*;

/// What the checkers get: accepted cross-version migrations as (guest version, guest class,
/// destination version, destination host class), deduplicated, in order.
pub(crate) struct RolloutRun {
    pub report: LibvirtUpgradeReport,
    pub accepted: Vec<(usize, u32, usize, u32)>,
    /// Per configuration, the recommended change (None when it survives).
    pub changes: Vec<Option<Change>>,
    /// Per configuration and home pool: version refusals over the rollout.
    pub pool_refusals: Vec<Vec<u64>>,
}

/// Per configuration over every step: refusals per reason, version refusals per home pool.
struct Totals {
    reasons: Vec<[u64; 7]>,
    pools: Vec<Vec<u64>>,
    /// Per configuration and pool: its guests stranded at step 0, and the most at any step.
    stranded_base: Vec<Vec<u64>>,
    stranded_max: Vec<Vec<u64>>,
}

impl Totals {
    /// Per pool: how many more of configuration `t`'s guests were stranded at the worst step
    /// than before the rollout.
    fn stranded_growth(&self, t: usize) -> Vec<u64> {
        self.stranded_max[t].iter().zip(&self.stranded_base[t]).map(|(m, b)| m.saturating_sub(*b)).collect()
    }
}

fn order_pools(v: &Versions) -> usize {
    v.views[0].fleet.pools.len()
}

/// The host order of the rollout (first = upgraded first).
fn host_order(v: &Versions, order: Order, seed: u64) -> Vec<u32> {
    let fleet = &v.views[0].fleet;
    let n = fleet.n_hosts() as u32;
    let mut hosts: Vec<u32> = (0..n).collect();
    match order {
        Order::Pool => {}
        Order::Generation => {
            let profiles = &v.views[0].spec.profiles.list;
            hosts.sort_by_key(|&h| {
                let p = fleet.profile_of(h as usize);
                (profiles[p].year, p, h)
            });
        }
        Order::Random => hosts.sort_by_key(|&h| (derive(seed, tag::LIBVIRT_ORDER, h as u64), h)),
    }
    hosts
}

/// Per-migration-chain counters, merged by addition.
#[derive(Clone, Default)]
struct Acc {
    dirs: [[u64; 2]; 3],
    reasons: [[u64; 7]; 3],
    per_t: Vec<ConfigStep>,
    reasons_t: Vec<[u64; 7]>,
    /// Per configuration and home pool: version refusals.
    pools_t: Vec<Vec<u64>>,
    /// Per (guest version, destination version) pair, at `gv * versions + dv`, and guest class:
    /// refusals for an unknown name.
    unknown: Vec<Vec<u64>>,
}

impl Acc {
    fn new(n_t: usize, n_pools: usize, classes: &[usize]) -> Acc {
        Acc {
            per_t: vec![ConfigStep::default(); n_t],
            reasons_t: vec![[0; 7]; n_t],
            pools_t: vec![vec![0; n_pools]; n_t],
            unknown: classes.iter().flat_map(|&n| classes.iter().map(move |_| vec![0; n])).collect(),
            ..Default::default()
        }
    }
    fn merge(mut self, o: Acc) -> Acc {
        for d in 0..3 {
            for k in 0..2 {
                self.dirs[d][k] += o.dirs[d][k];
            }
            for r in 0..7 {
                self.reasons[d][r] += o.reasons[d][r];
            }
        }
        for (a, b) in self.per_t.iter_mut().zip(&o.per_t) {
            for d in 0..3 {
                a.attempted[d] += b.attempted[d];
                a.refused[d] += b.refused[d];
            }
            a.version_refusals += b.version_refusals;
        }
        for (a, b) in self.reasons_t.iter_mut().zip(&o.reasons_t) {
            for r in 0..7 {
                a[r] += b[r];
            }
        }
        for (a, b) in self.unknown.iter_mut().zip(&o.unknown).chain(self.pools_t.iter_mut().zip(&o.pools_t)) {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self
    }
}

fn reason_counts(counts: &[u64; 7]) -> Vec<ReasonCount> {
    Refusal::ALL
        .iter()
        .zip(counts)
        .filter(|(_, &n)| n > 0)
        .map(|(&reason, &refusals)| ReasonCount { reason, refusals })
        .collect()
}

/// Starts the guests on the fleet as it is (`ver[h]`: the version index of host h); a guest's
/// `combo` and `class` are ids of its host's version.
fn start_step(v: &mut Versions, guests: &mut [Guest], ver: &[u8]) {
    for g in guests.iter_mut() {
        (g.host, g.combo, g.class) = (None, None, None);
    }
    let seed = v.views[0].seed;
    let pools = v.views[0].fleet.pools.clone();
    migrate::place_guests(guests, seed, &pools, |todo| {
        let mut out = vec![(ComboId::new(0), None); todo.len()];
        for (vi, view) in v.views.iter_mut().enumerate() {
            let idx: Vec<usize> = (0..todo.len()).filter(|&i| ver[todo[i].1 as usize] as usize == vi).collect();
            let keys: Vec<(u16, CtxId, HostClassId)> = idx
                .iter()
                .map(|&i| {
                    let (g, h) = todo[i];
                    (g.template, view.pool_ctx[g.pool as usize], view.fleet.host_class[HostId::new(h as usize)])
                })
                .collect();
            let ids = view.starter.ensure(&view.map.x86, &view.spec.templates, &view.fleet.classes, &keys);
            for (&i, id) in idx.iter().zip(ids) {
                out[i] = migrate::combo_start(&view.starter, id);
            }
        }
        out
    });
    v.refresh();
}

/// The migrations of one step: every started guest's chain, in parallel.
fn migrate_step(
    v: &Versions,
    guests: &[Guest],
    ver: &[u8],
    step: u32,
    (old, new): (usize, usize),
    accepted: &[Vec<PairBits>],
) -> Acc {
    let sim = &v.views[0];
    let fleet = &sim.fleet;
    let n_t = sim.spec.templates.len();
    let classes: Vec<usize> = v.views.iter().map(|w| w.starter.classes.len()).collect();
    let started: Vec<usize> = (0..guests.len()).filter(|&g| guests[g].class.is_some()).collect();
    let n_pools = fleet.pools.len();
    if started.is_empty() {
        return Acc::new(n_t, n_pools, &classes);
    }
    let sizes: Vec<f64> = fleet.pools.iter().map(|p| p.len as f64).collect();
    let pool_pick = Weighted::new(&sizes).expect("pools have hosts");
    let cross = sim.spec.variation.cross_pool;
    let step_seed = derive(sim.seed, tag::LIBVIRT_STEP, step as u64);
    let migrations = sim.spec.migrations;
    started
        .par_iter()
        .enumerate()
        .fold(
            || Acc::new(n_t, n_pools, &classes),
            |mut a, (rank, &g)| {
                let guest = guests[g];
                let (t, gc) = (guest.template as usize, guest.class.expect("started"));
                let host = guest.host.expect("started").index();
                let gv = ver[host] as usize;
                let mut rng = Rng::for_item(step_seed, tag::MIGRATION, g as u64);
                let (mut cur_host, mut cur_pool) = (host, guest.pool as usize);
                for _ in 0..chain_length(migrations, started.len() as u64, rank) {
                    let Some((dest, dest_pool)) =
                        next_destination(&mut rng, &fleet.pools, &pool_pick, cross, cur_host, cur_pool)
                    else {
                        continue;
                    };
                    let (sv, dv) = (ver[cur_host] as usize, ver[dest] as usize);
                    let dir = direction(sv, dv, old, new);
                    let hc = v.views[dv].fleet.host_class[HostId::new(dest)];
                    a.dirs[dir][0] += 1;
                    a.per_t[t].attempted[dir] += 1;
                    if v.compat[gv][dv].allows(gc, hc) {
                        if gv != dv {
                            accepted[gv][dv].set(gc.raw(), hc.raw());
                        }
                        cur_host = dest;
                        cur_pool = dest_pool;
                        continue;
                    }
                    a.dirs[dir][1] += 1;
                    a.per_t[t].refused[dir] += 1;
                    let r = v.refusal(gv, gc, dv, hc).unwrap_or(Refusal::Missing) as usize;
                    a.reasons[dir][r] += 1;
                    a.reasons_t[t][r] += 1;
                    if gv != dv && v.compat[gv][gv].allows(gc, v.views[gv].fleet.host_class[HostId::new(dest)]) {
                        a.per_t[t].version_refusals += 1;
                        a.pools_t[t][guest.pool as usize] += 1;
                        if Refusal::ALL[r].is_unknown_name() {
                            a.unknown[gv * classes.len() + dv][gc.index()] += 1;
                        }
                    }
                }
                a
            },
        )
        .reduce(|| Acc::new(n_t, n_pools, &classes), Acc::merge)
}

/// Guests of each configuration with no other host of their pool, of either version, that
/// accepts them (a cold restart is the only way off their host).
/// `per_pool[t][p]` gets the count of configuration `t`'s stranded guests of pool `p`.
fn stranded(v: &Versions, guests: &[Guest], ver: &[u8], per_t: &mut [ConfigStep], per_pool: &mut [Vec<u64>]) -> u64 {
    let fleet = &v.views[0].fleet;
    let nv = v.views.len();
    // Hosts per (pool, version, host class of that version).
    let counts: Vec<Vec<std::collections::BTreeMap<HostClassId, u64>>> = fleet
        .pools
        .par_iter()
        .map(|p| {
            let mut c = vec![std::collections::BTreeMap::new(); nv];
            for h in p.range() {
                let vi = ver[h] as usize;
                *c[vi].entry(v.views[vi].fleet.host_class[HostId::new(h)]).or_insert(0) += 1;
            }
            c
        })
        .collect();
    let flags: Vec<bool> = guests
        .par_iter()
        .map(|g| {
            let (Some(gclass), Some(host)) = (g.class, g.host) else {
                return false;
            };
            let gv = ver[host.index()] as usize;
            let own = v.views[gv].fleet.host_class[host];
            !(0..nv).any(|d| {
                counts[g.pool as usize][d].iter().any(|(&hc, &n)| {
                    let others = if d == gv && hc == own { n - 1 } else { n };
                    others > 0 && v.compat[gv][d].allows(gclass, hc)
                })
            })
        })
        .collect();
    for (g, &s) in guests.iter().zip(&flags) {
        per_t[g.template as usize].stranded += u64::from(s);
        per_pool[g.template as usize][g.pool as usize] += u64::from(s);
    }
    flags.iter().filter(|&&s| s).count() as u64
}

/// What the steps add up to: the timeline, the accepted cross-version pairs, and the totals
/// per configuration the recommendations read.
pub(super) struct Tally {
    pub(super) timeline: Vec<RolloutStep>,
    /// Per configuration, at the first step: guests drawn, and the start failures by reason.
    starts: Vec<(u64, Vec<(String, u64)>)>,
    pub(super) accepted: std::collections::BTreeSet<(usize, u32, usize, u32)>,
    unknown: Vec<Vec<u64>>,
    totals: Totals,
}

impl Tally {
    pub(super) fn new(v: &Versions) -> Tally {
        let n_t = v.views[0].spec.templates.len();
        Tally {
            timeline: Vec::new(),
            starts: vec![(0, Vec::new()); n_t],
            accepted: std::collections::BTreeSet::new(),
            unknown: Vec::new(),
            totals: Totals {
                reasons: vec![[0; 7]; n_t],
                pools: vec![vec![0; order_pools(v)]; n_t],
                stranded_base: vec![vec![0; order_pools(v)]; n_t],
                stranded_max: vec![vec![0; order_pools(v)]; n_t],
            },
        }
    }

    /// One step on the fleet as `ver` says (`ver[h]`: the version index host h runs): the
    /// guests start, then migrate; `new` is the version the directions call new.
    pub(super) fn step(
        &mut self,
        v: &mut Versions,
        guests: &mut [Guest],
        ver: &[u8],
        step: u32,
        (old, new): (usize, usize),
    ) {
        start_step(v, guests, ver);
        if self.timeline.is_empty() {
            self.starts = start_failures(v, guests, self.starts.len());
        }
        let accepted: Vec<Vec<PairBits>> = v
            .views
            .iter()
            .map(|g| v.views.iter().map(|d| PairBits::new(g.starter.classes.len(), d.fleet.classes.len())).collect())
            .collect();
        let acc = migrate_step(v, guests, ver, step, (old, new), &accepted);
        for (g, row) in accepted.iter().enumerate() {
            for (d, bits) in row.iter().enumerate() {
                self.accepted.extend(bits.pairs().into_iter().map(|(gc, hc)| (g, gc, d, hc)));
            }
        }
        for (t, reasons) in self.totals.reasons.iter_mut().enumerate() {
            for (x, y) in reasons.iter_mut().zip(&acc.reasons_t[t]) {
                *x += y;
            }
            for (x, y) in self.totals.pools[t].iter_mut().zip(&acc.pools_t[t]) {
                *x += y;
            }
        }
        self.unknown.resize(acc.unknown.len(), Vec::new());
        for (a, b) in self.unknown.iter_mut().zip(&acc.unknown) {
            a.resize(b.len().max(a.len()), 0);
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        let mut stranded = vec![vec![0; order_pools(v)]; self.totals.pools.len()];
        self.timeline.push(step_report(v, guests, ver, step, new, acc, &mut stranded));
        if self.timeline.len() == 1 {
            self.totals.stranded_base = stranded.clone();
        }
        for (m, s) in self.totals.stranded_max.iter_mut().zip(&stranded) {
            for (x, y) in m.iter_mut().zip(s) {
                *x = (*x).max(*y);
            }
        }
    }
}

/// Per configuration: its guests, and why those that did not start failed (reason, guests),
/// most frequent first. A failed guest's last try is a start of its version's view: the view
/// whose start of that id is of its configuration and failed.
fn start_failures(v: &Versions, guests: &[Guest], n_t: usize) -> Vec<(u64, Vec<(String, u64)>)> {
    let mut out: Vec<(u64, std::collections::BTreeMap<String, u64>)> = vec![(0, Default::default()); n_t];
    for g in guests {
        let t = g.template as usize;
        out[t].0 += 1;
        let (None, Some(combo)) = (g.class, g.combo) else {
            continue;
        };
        let reason = v.views.iter().find_map(|view| {
            let c = view.starter.combos.get(combo)?;
            (c.template == g.template).then_some(())?;
            c.outcome.as_ref().err().map(|e| e.reason.clone())
        });
        if let Some(r) = reason {
            *out[t].1.entry(r).or_default() += 1;
        }
    }
    out.into_iter()
        .map(|(n, reasons)| {
            let mut r: Vec<(String, u64)> = reasons.into_iter().collect();
            r.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            (n, r)
        })
        .collect()
}

/// Runs the rollout. `v` holds every version's state; the fleet starts on `old` (except the
/// hosts the spec puts on a version of their own, a pool's `libvirt` key) and the hosts not yet
/// on the other version move to it in `host_order`.
pub(crate) fn run(v: &mut Versions, rollout: &Rollout, n_guests: u64, progress: &Progress) -> RolloutRun {
    run_with(v, rollout, None, n_guests, progress)
}

/// [`run`], with pool `first_pool` (when given) moved first, all its hosts at step 1.
pub(super) fn run_with(
    v: &mut Versions,
    rollout: &Rollout,
    first_pool: Option<usize>,
    n_guests: u64,
    progress: &Progress,
) -> RolloutRun {
    let (old, new) = rollout.view_indices(v);
    let steps = rollout.steps.max(1);
    let seed = v.views[0].seed;
    let start = v.start_versions(old);
    let mut order: Vec<u32> =
        host_order(v, rollout.order, seed).into_iter().filter(|&h| start[h as usize] as usize != new).collect();
    let mut at_step_1 = 0;
    if let Some(p) = first_pool {
        let pool = v.views[0].fleet.pools[p].range();
        let in_pool = |h: &u32| pool.contains(&(*h as usize));
        at_step_1 = order.iter().filter(|h| in_pool(h)).count();
        let (mut front, back): (Vec<u32>, Vec<u32>) = order.into_iter().partition(in_pool);
        front.extend(back);
        order = front;
    }
    let mut guests = migrate::draw_guests(&v.views[0], n_guests);
    let mut tally = Tally::new(v);
    for step in 0..=steps {
        progress.phase("libvirt-upgrade", 0);
        let mut k = (order.len() as u64 * step as u64 / steps as u64) as usize;
        if step > 0 {
            k = k.max(at_step_1);
        }
        let mut ver = start.clone();
        for &h in &order[..k] {
            ver[h as usize] = new as u8;
        }
        tally.step(v, &mut guests, &ver, step, (old, new));
    }
    let (configurations, changes) = config_reports(v, &tally, old);
    let report = LibvirtUpgradeReport {
        from: v.releases[old].as_str(),
        to: v.releases[new].as_str(),
        steps,
        order: rollout.order,
        reverse: rollout.reverse(),
        timeline: tally.timeline,
        configurations,
    };
    RolloutRun { report, accepted: tally.accepted.into_iter().collect(), changes, pool_refusals: tally.totals.pools }
}

fn step_report(
    v: &Versions,
    guests: &[Guest],
    ver: &[u8],
    step: u32,
    new: usize,
    acc: Acc,
    stranded_pools: &mut [Vec<u64>],
) -> RolloutStep {
    let mut per_t = acc.per_t;
    for g in guests.iter().filter(|g| g.class.is_some()) {
        per_t[g.template as usize].started += 1;
    }
    let stranded = stranded(v, guests, ver, &mut per_t, stranded_pools);
    let directions = (0..3)
        .map(|d| DirCount {
            attempted: acc.dirs[d][0],
            refused: acc.dirs[d][1],
            reasons: reason_counts(&acc.reasons[d]),
        })
        .collect();
    RolloutStep {
        step,
        hosts_new: ver.iter().filter(|&&x| x as usize == new).count() as u64,
        guests_started: guests.iter().filter(|g| g.class.is_some()).count() as u64,
        directions,
        stranded,
        per_configuration: per_t,
    }
}

/// Per configuration over the rollout: mobility, reasons, the most frequent unknown name, and
/// the recommendation.
pub(super) fn config_reports(v: &Versions, tally: &Tally, old: usize) -> (Vec<RolloutConfig>, Vec<Option<Change>>) {
    let (timeline, unknown, totals) = (&tally.timeline, &tally.unknown, &tally.totals);
    let templates = &v.views[0].spec.templates;
    let mut top: Vec<Option<(u64, String)>> = vec![None; templates.len()];
    let n = v.views.len();
    for (pair, counts) in unknown.iter().enumerate() {
        let (gv, d) = (pair / n, pair % n);
        let view = &v.views[gv];
        for combo in &view.starter.combos {
            let Ok(gc) = combo.outcome else { continue };
            let n = counts.get(gc.index()).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            if let Err(u) = &v.incoming[gv][d][gc].read {
                let t = combo.template as usize;
                let msg = u.message(v.releases[d]);
                if top[t].as_ref().is_none_or(|(m, _)| n > *m) {
                    top[t] = Some((n, msg));
                }
            }
        }
    }
    templates
        .iter()
        .enumerate()
        .map(|(t, tm)| {
            let version_refusals: u64 = timeline.iter().map(|s| s.per_configuration[t].version_refusals).sum();
            let base_stranded = timeline.first().map_or(0, |s| s.per_configuration[t].stranded);
            let max_stranded = timeline.iter().map(|s| s.per_configuration[t].stranded).max().unwrap_or(0);
            let (guests, failures) = &tally.starts[t];
            let started = timeline.first().map_or(0, |s| s.per_configuration[t].started);
            // None of its guests starts: nothing survives or fails a rollout; fix it first.
            let fix_first = (*guests > 0 && started == 0).then(|| match failures.first() {
                Some((reason, n)) => format!("none of its {guests} guests starts ({n} of them: {reason})"),
                None => format!("none of its {guests} guests starts"),
            });
            let fully_mobile = fix_first.is_none() && version_refusals == 0 && max_stranded <= base_stranded;
            let example = top[t].as_ref().map(|(_, m)| m.clone());
            let (recommendation, change) = (!fully_mobile && fix_first.is_none())
                .then(|| recommend(v, old, tm, top[t].is_some(), &totals.pools[t], &totals.stranded_growth(t)))
                .unzip();
            let config = RolloutConfig {
                name: tm.name.clone(),
                cpu: tm.describe(),
                fully_mobile,
                version_refusals,
                max_stranded,
                reasons: reason_counts(&totals.reasons[t]),
                example,
                guests: *guests,
                started,
                fix_first,
                recommendation,
                verified: None,
            };
            (config, change)
        })
        .unzip()
}

/// The smallest change for configuration `t`, in the pool whose guests of it are refused most
/// for a version reason: when a name the other version does not know is the reason, pin that
/// pool's baseline model under the old version (what its guest definitions were written
/// against), if both versions know it (with `match='exact'` where the configuration's is
/// `minimum`, which libvirt replaces by the host's model at start); otherwise upgrade that pool
/// first, whole, in one step. A configuration with no version refusals that is not fully
/// mobile has more guests stranded at some step than before the rollout: the pool where that
/// grows most moves first.
fn recommend(
    v: &Versions,
    old: usize,
    tm: &Template,
    unknown: bool,
    per_pool: &[u64],
    stranded_growth: &[u64],
) -> (String, Change) {
    let view = &v.views[old];
    let by_refusals = per_pool.iter().any(|&n| n > 0);
    let weight = if by_refusals { per_pool } else { stranded_growth };
    let p = (0..weight.len()).max_by_key(|&p| (weight[p], std::cmp::Reverse(p))).unwrap_or(0);
    let pool = &view.fleet.pools[p].name;
    let model = view
        .starter
        .ctxs
        .get(view.pool_ctx[p])
        .and_then(|c| c.baseline.as_ref().ok())
        .and_then(|b| b.model.clone());
    match model.filter(|m| unknown && v.views.iter().all(|w| w.map.x86.model(m).is_some())) {
        Some(m) => (
            format!(
                "in pool {pool}: pin `{m}`{} (its baseline model under libvirt {}), a model both versions know",
                if tm.match_ == CpuMatch::Minimum { " with match='exact'" } else { "" },
                view.map.version()
            ),
            Change::Pin { pool: p, model: m },
        ),
        None if by_refusals => {
            (format!("upgrade pool {pool} first, all its hosts in one step"), Change::UpgradeFirst { pool: p })
        }
        None => (
            format!(
                "upgrade pool {pool} first, all its hosts in one step (no version refusals, but up to {} more of \
                 its guests there have no other host of the pool to move to than before the rollout)",
                stranded_growth[p]
            ),
            Change::UpgradeFirst { pool: p },
        ),
    }
}

/// `t` with its CPU pinned to `model` in pool `pool` (its guests elsewhere unchanged): a custom
/// CPU of that model, the features and match of a custom configuration kept (host-model and
/// host-passthrough have none), except `minimum`, which becomes `exact` (see [`recommend`]).
pub(super) fn pinned(t: &Template, pool: usize, model: &str) -> Template {
    let custom = t.mode == CpuMode::Custom;
    let cpu = Template {
        mode: CpuMode::Custom,
        model: Some(ModelRef::Named(model.to_string())),
        match_: if custom && t.match_ != CpuMatch::Minimum { t.match_ } else { CpuMatch::Exact },
        features: if custom { t.features.clone() } else { Vec::new() },
        pinned_in: None,
        ..t.clone()
    };
    Template { pinned_in: Some((pool, Box::new(cpu))), ..t.clone() }
}
