//! Guest starts and the migrate scenario: guests with a mix of CPU configurations start on random
//! hosts of their pool and are live-migrated at random within and across pools; every migration
//! is checked against the started guest CPU.

pub(crate) mod check;
pub(crate) mod entry;
pub(crate) mod section;

use super::super::guest::{Blocker, Compat};
use super::super::progress::Progress;
use super::super::rng::{tag, Rng, Weighted};
use super::Sim;
use crate::ids::{ComboId, CtxId, GuestClassId, HostClassId, HostId};
use cpufleet_engine::FeatureSet;
use rayon::prelude::*;
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};

/// How many random hosts of its pool a guest tries before it counts as unplaceable.
pub(crate) const START_TRIES: usize = 8;

/// The migrate scenario's fields of the report: the migrations and their blockers under the run's
/// release, or MIXED FLEET across releases; an inventory's guests (GUESTS).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Part {
    pub migrations: Migrations,
    pub blockers: Vec<BlockerRow>,
    /// The migrate scenario across versions, when the spec puts hosts on several libvirt
    /// versions (it replaces `migrations`, `blockers` and the per-configuration migrations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mixed_fleet: Option<crate::scenarios::libvirt_upgrade::model::MixedFleetReport>,
    /// The inventory's guests, where each can and cannot move (simulate --inventory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inventory_guests: Option<crate::scenarios::guests::GuestsReport>,
}

/// The migrate scenario's totals.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Migrations {
    /// Migrations asked for (`--migrations`); a draw onto the guest's own host in a pool with no
    /// other host is skipped, so `attempted` can be lower.
    pub requested: u64,
    pub attempted: u64,
    pub succeeded: u64,
    pub refused: u64,
    pub cross_pool_attempted: u64,
    pub cross_pool_succeeded: u64,
    /// host-passthrough moves refused because the destination CPU is not identical: a naive
    /// scheduler (libvirt does not compare CPUs for host-passthrough) would have made them.
    pub passthrough_unsafe_naive: u64,
    /// … of which onto a host lacking features the guest already uses.
    pub passthrough_unsafe_losing_features: u64,
}


/// One guest of the population.
#[derive(Clone, Copy, Debug)]
pub struct Guest {
    pub template: u16,
    /// Home pool.
    pub pool: u32,
    /// The host it started on (None when it could not start).
    pub(crate) host: Option<HostId>,
    /// The (configuration, pool context, host class) start it got, or the last one it tried.
    pub(crate) combo: Option<ComboId>,
    /// Its guest class (None when it could not start).
    pub(crate) class: Option<GuestClassId>,
}

impl Guest {
    /// Its guest class, an id of the starter's classes (None when it could not start).
    pub fn class_id(&self) -> Option<GuestClassId> {
        self.class
    }
}

/// Draws the guests and starts each on the first of its random candidate hosts that can run it.
pub fn start_guests(sim: &mut Sim, n: u64) -> Vec<Guest> {
    let mut guests = draw_guests(sim, n);
    let seed = sim.seed;
    let pools = sim.fleet.pools.clone();
    place_guests(&mut guests, seed, &pools, |todo| {
        let keys: Vec<(u16, CtxId, HostClassId)> = todo
            .iter()
            .map(|&(g, h)| (g.template, sim.pool_ctx[g.pool as usize], sim.fleet.host_class[HostId::new(h as usize)]))
            .collect();
        let ids = sim.starter.ensure(&sim.map.x86, &sim.spec.templates, &sim.fleet.classes, &keys);
        ids.into_iter().map(|id| combo_start(&sim.starter, id)).collect()
    });
    guests
}

/// Combo `id`'s typed ids: the start and the guest class it started (None when it could not).
pub(crate) fn combo_start(starter: &super::super::guest::Starter, id: ComboId) -> (ComboId, Option<GuestClassId>) {
    (id, starter.combos[id].outcome.as_ref().ok().copied())
}

/// The guest population: each guest's configuration and home pool (not started yet).
pub(crate) fn draw_guests(sim: &Sim, n: u64) -> Vec<Guest> {
    let seed = sim.seed;
    let sizes: Vec<f64> = sim.fleet.pools.iter().map(|p| p.len as f64).collect();
    let pool_pick = Weighted::new(&sizes).expect("pools have hosts");
    let weights: Vec<f64> = sim.spec.templates.iter().map(|t| t.weight).collect();
    let tmpl_pick = Weighted::new(&weights).expect("validated weights");
    (0..n)
        .into_par_iter()
        .map(|i| {
            let mut rng = Rng::for_item(seed, tag::GUEST, i);
            let p = pool_pick.pick(&mut rng);
            let t = tmpl_pick.pick(&mut rng) as u16;
            Guest { template: t, pool: p as u32, host: None, combo: None, class: None }
        })
        .collect()
}

/// Starts every guest not started yet on the first of its [`START_TRIES`] random candidate hosts
/// (from its own stream) that can run it. `start` gets (guest, candidate host) pairs and answers,
/// for each, the start (combo) it got and the guest class (None when the host cannot run it).
pub(crate) fn place_guests(
    guests: &mut [Guest],
    seed: u64,
    pools: &[super::super::fleet::PoolInfo],
    mut start: impl FnMut(&[(Guest, u32)]) -> Vec<(ComboId, Option<GuestClassId>)>,
) {
    // Guest i's candidate hosts come from their own stream, drawn again in each round rather than
    // stored (START_TRIES × 4 bytes per guest).
    let candidate = |i: u64, pool: &super::super::fleet::PoolInfo, round: usize| -> u32 {
        let mut rng = Rng::for_item(seed, tag::GUEST_HOST, i);
        let mut h = 0;
        for _ in 0..=round {
            h = pool.start + rng.below(pool.len as u64) as usize;
        }
        h as u32
    };
    for round in 0..START_TRIES {
        let todo: Vec<usize> = (0..guests.len()).filter(|&g| guests[g].class.is_none()).collect();
        if todo.is_empty() {
            break;
        }
        let pairs: Vec<(Guest, u32)> = todo
            .par_iter()
            .map(|&g| (guests[g], candidate(g as u64, &pools[guests[g].pool as usize], round)))
            .collect();
        for (&g, ((_, h), (combo, class))) in todo.iter().zip(pairs.iter().zip(start(&pairs))) {
            guests[g].combo = Some(combo);
            if class.is_some() {
                guests[g].class = class;
                guests[g].host = Some(HostId::new(*h as usize));
            }
        }
    }
}

/// The next destination of a migration chain now on `cur_host` in `cur_pool`: a random pool
/// (share `cross` of the moves, drawn by `pool_pick`) or its own, then a random other host of
/// it; None when that pool has no other host (the move is skipped).
#[inline]
pub(crate) fn next_destination(
    rng: &mut Rng,
    pools: &[super::super::fleet::PoolInfo],
    pool_pick: &Weighted,
    cross: f64,
    cur_host: usize,
    cur_pool: usize,
) -> Option<(usize, usize)> {
    let dest_pool = if cross > 0.0 && rng.chance(cross) { pool_pick.pick(rng) } else { cur_pool };
    let p = &pools[dest_pool];
    let mut dest = p.start + rng.below(p.len as u64) as usize;
    if dest == cur_host {
        if p.len == 1 {
            return None;
        }
        dest = p.start + (dest - p.start + 1) % p.len;
    }
    Some((dest, dest_pool))
}

/// How many migrations the chain of the `rank`-th started guest makes, of `migrations` spread
/// over `started` guests.
#[inline]
pub(crate) fn chain_length(migrations: u64, started: u64, rank: usize) -> u64 {
    let (per, extra) = (migrations / started, migrations % started);
    per + u64::from((rank as u64) < extra)
}

/// A concurrent bitset matrix (rows × host classes): set bits are OR-ed, so the result does not
/// depend on the order threads set them in.
pub struct PairBits {
    row_words: usize,
    words: Vec<AtomicU64>,
}

impl PairBits {
    pub fn new(rows: usize, cols: usize) -> PairBits {
        let row_words = cols.div_ceil(64).max(1);
        PairBits { row_words, words: (0..rows * row_words).map(|_| AtomicU64::new(0)).collect() }
    }
    #[inline]
    pub fn set(&self, row: u32, col: u32) {
        let w = &self.words[row as usize * self.row_words + col as usize / 64];
        let bit = 1u64 << (col % 64);
        if w.load(Ordering::Relaxed) & bit == 0 {
            w.fetch_or(bit, Ordering::Relaxed);
        }
    }
    /// Every set (row, col), row-major.
    pub fn pairs(&self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for (i, w) in self.words.iter().enumerate() {
            let mut v = w.load(Ordering::Relaxed);
            while v != 0 {
                let b = v.trailing_zeros() as usize;
                v &= v - 1;
                out.push(((i / self.row_words) as u32, ((i % self.row_words) * 64 + b) as u32));
            }
        }
        out
    }
}

/// Counters of one migration chunk; merged by addition (order-independent).
#[derive(Clone, Debug, Default)]
pub struct MigStats {
    pub attempted: u64,
    pub succeeded: u64,
    pub refused: u64,
    pub cross_pool_attempted: u64,
    pub cross_pool_succeeded: u64,
    /// Per configuration: attempted, succeeded.
    pub per_template: Vec<(u64, u64)>,
    /// Per feature: refusals it caused as missing / forbidden / extra (strict).
    pub missing: Vec<u64>,
    pub forbidden: Vec<u64>,
    pub extra: Vec<u64>,
    pub vendor: u64,
    pub passthrough_refused: u64,
    /// host-passthrough moves a naive scheduler (one that does not compare CPUs) would make.
    pub unsafe_naive: u64,
    /// … of which onto a host lacking features the guest sees (the guest would crash or misbehave).
    pub unsafe_naive_losing: u64,
}

impl MigStats {
    fn new(n_templates: usize, n_features: usize) -> MigStats {
        MigStats {
            per_template: vec![(0, 0); n_templates],
            missing: vec![0; n_features],
            forbidden: vec![0; n_features],
            extra: vec![0; n_features],
            ..Default::default()
        }
    }

    fn merge(mut self, o: MigStats) -> MigStats {
        self.attempted += o.attempted;
        self.succeeded += o.succeeded;
        self.refused += o.refused;
        self.cross_pool_attempted += o.cross_pool_attempted;
        self.cross_pool_succeeded += o.cross_pool_succeeded;
        for (a, b) in self.per_template.iter_mut().zip(&o.per_template) {
            a.0 += b.0;
            a.1 += b.1;
        }
        for (a, b) in
            [(&mut self.missing, &o.missing), (&mut self.forbidden, &o.forbidden), (&mut self.extra, &o.extra)]
        {
            for (x, y) in a.iter_mut().zip(b) {
                *x += y;
            }
        }
        self.vendor += o.vendor;
        self.passthrough_refused += o.passthrough_refused;
        self.unsafe_naive += o.unsafe_naive;
        self.unsafe_naive_losing += o.unsafe_naive_losing;
        self
    }

    fn count(slot: &mut [u64], set: &FeatureSet) {
        for id in set.iter() {
            slot[id.index()] += 1;
        }
    }
}

/// What the migrate scenario leaves for the checkers.
pub struct MigrateRun {
    pub stats: MigStats,
    /// (combo, destination host class) of every accepted migration.
    pub accepted: PairBits,
    /// (guest class, destination host class) of every refused migration.
    pub refused: PairBits,
}

/// Runs the migrations: guest g's chain depends only on (seed, g), so chains run in parallel.
pub fn run(sim: &Sim, guests: &[Guest], compat: &Compat, migrations: u64, progress: &Progress) -> MigrateRun {
    let fleet = &sim.fleet;
    let seed = sim.seed;
    let n_features = sim.map.x86.features.len();
    let n_templates = sim.spec.templates.len();
    let started: Vec<usize> = (0..guests.len()).filter(|&g| guests[g].class.is_some()).collect();
    let accepted = PairBits::new(sim.starter.combos.len(), fleet.classes.len());
    let refused = PairBits::new(sim.starter.classes.len(), fleet.classes.len());
    if started.is_empty() {
        return MigrateRun { stats: MigStats::new(n_templates, n_features), accepted, refused };
    }
    let s = started.len() as u64;
    let sizes: Vec<f64> = fleet.pools.iter().map(|p| p.len as f64).collect();
    let pool_pick = Weighted::new(&sizes).expect("pools have hosts");
    let cross = sim.spec.variation.cross_pool;
    let host_class = &fleet.host_class;
    let classes = &fleet.classes;
    let gclasses = &sim.starter.classes;
    progress.phase("migrate", migrations);
    let stats = started
        .par_iter()
        .enumerate()
        .fold(
            || MigStats::new(n_templates, n_features),
            |mut st, (rank, &g)| {
                let guest = guests[g];
                let n = chain_length(migrations, s, rank);
                let mut rng = Rng::for_item(seed, tag::MIGRATION, g as u64);
                let (mut cur_host, mut cur_pool) = (guest.host.expect("started").index(), guest.pool as usize);
                let gc = guest.class.expect("started");
                let combo = guest.combo.expect("started").raw();
                let sets = &gclasses[gc].sets;
                let t = guest.template as usize;
                for _ in 0..n {
                    let Some((dest, dest_pool)) =
                        next_destination(&mut rng, &fleet.pools, &pool_pick, cross, cur_host, cur_pool)
                    else {
                        continue;
                    };
                    let hc = host_class[HostId::new(dest)];
                    let cross_pool = dest_pool != cur_pool;
                    st.attempted += 1;
                    st.per_template[t].0 += 1;
                    st.cross_pool_attempted += u64::from(cross_pool);
                    if compat.allows(gc, hc) {
                        st.succeeded += 1;
                        st.per_template[t].1 += 1;
                        st.cross_pool_succeeded += u64::from(cross_pool);
                        accepted.set(combo, hc.raw());
                        cur_host = dest;
                        cur_pool = dest_pool;
                    } else {
                        st.refused += 1;
                        refused.set(gc.raw(), hc.raw());
                        let host = &classes[hc];
                        match sets.blocker(host) {
                            Some(Blocker::Passthrough) => {
                                st.passthrough_refused += 1;
                                st.unsafe_naive += 1;
                                if !sets.enabled.is_subset(&host.mig) {
                                    st.unsafe_naive_losing += 1;
                                }
                            }
                            Some(Blocker::Vendor) => st.vendor += 1,
                            Some(Blocker::Missing(s)) => MigStats::count(&mut st.missing, &s),
                            Some(Blocker::Forbidden(s)) => MigStats::count(&mut st.forbidden, &s),
                            Some(Blocker::Extra(s)) => MigStats::count(&mut st.extra, &s),
                            None => debug_assert!(false, "the compat cache refused a host the fast path allows"),
                        }
                    }
                }
                progress.add(n);
                st
            },
        )
        .reduce(|| MigStats::new(n_templates, n_features), MigStats::merge);
    MigrateRun { stats, accepted, refused }
}

pub use super::blocker::BlockerKind;

/// One row of the blocker histogram.
#[derive(Clone, Debug)]
pub struct BlockerRow {
    /// The feature; None for the blockers that concern the whole CPU (vendor, host-passthrough).
    pub feature: Option<String>,
    pub kind: BlockerKind,
    pub refusals: u64,
    /// For a feature blocker, the fleet's hosts it concerns (lacking the feature for `missing`,
    /// having it for `forbidden` and `extra`): how many, and the first of them by name.
    pub hosts: Option<(u64, Vec<String>)>,
}

impl BlockerRow {
    /// The feature, or for a whole-CPU blocker the label the reports (and the JSON) print.
    pub fn label(&self) -> &str {
        match (&self.feature, self.kind) {
            (Some(f), _) => f,
            (None, BlockerKind::Vendor) => "(vendor)",
            (None, BlockerKind::HostPassthrough) => "(CPU not identical)",
            // blocker_rows always names the feature of a feature blocker.
            (None, BlockerKind::Missing | BlockerKind::Forbidden | BlockerKind::Extra) => "(no feature)",
        }
    }
}

/// The JSON keeps its shape: `feature` is always a string (the label of a whole-CPU blocker).
impl Serialize for BlockerRow {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("BlockerRow", 5)?;
        st.serialize_field("feature", self.label())?;
        st.serialize_field("kind", &self.kind)?;
        st.serialize_field("refusals", &self.refusals)?;
        match &self.hosts {
            Some((n, names)) => {
                st.serialize_field("hosts", n)?;
                st.serialize_field("host_names", names)?;
            }
            None => {
                st.skip_field("hosts")?;
                st.skip_field("host_names")?;
            }
        }
        st.end()
    }
}

/// The blocker histogram, most frequent first.
pub(crate) fn blocker_rows(sim: &Sim, st: &MigStats) -> Vec<BlockerRow> {
    let map = &sim.map.x86;
    let mut rows = Vec::new();
    let per_feature =
        [(BlockerKind::Missing, &st.missing), (BlockerKind::Forbidden, &st.forbidden), (BlockerKind::Extra, &st.extra)];
    let class_hosts = super::guests::ClassHosts::of(sim);
    for (kind, v) in per_feature {
        for (i, &n) in v.iter().enumerate() {
            if n > 0 {
                let id = cpufleet_engine::FeatureId(i as u16);
                let classes = &sim.fleet.classes;
                let has = |c: HostClassId| classes[c].features.contains(id);
                let hosts = class_hosts.select(sim, |c| has(c) != (kind == BlockerKind::Missing));
                let feature = Some(map.features[i].name.clone());
                rows.push(BlockerRow { feature, kind, refusals: n, hosts: Some(hosts) });
            }
        }
    }
    if st.vendor > 0 {
        rows.push(BlockerRow { feature: None, kind: BlockerKind::Vendor, refusals: st.vendor, hosts: None });
    }
    if st.passthrough_refused > 0 {
        let refusals = st.passthrough_refused;
        rows.push(BlockerRow { feature: None, kind: BlockerKind::HostPassthrough, refusals, hosts: None });
    }
    // Ties sort by the printed label and kind name, as they always have (the JSON order).
    rows.sort_by(|a, b| {
        b.refusals.cmp(&a.refusals).then_with(|| a.label().cmp(b.label())).then(a.kind.as_str().cmp(b.kind.as_str()))
    });
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocker_rows_serialise_whole_cpu_blockers_by_their_label() {
        let row = |feature: Option<&str>, kind| BlockerRow {
            feature: feature.map(String::from),
            kind,
            refusals: 3,
            hosts: None,
        };
        let json = |r: BlockerRow| serde_json::to_string(&r).unwrap();
        assert_eq!(
            json(row(None, BlockerKind::HostPassthrough)),
            r#"{"feature":"(CPU not identical)","kind":"host-passthrough","refusals":3}"#
        );
        assert_eq!(json(row(None, BlockerKind::Vendor)), r#"{"feature":"(vendor)","kind":"vendor","refusals":3}"#);
        assert_eq!(
            json(row(Some("avx2"), BlockerKind::Missing)),
            r#"{"feature":"avx2","kind":"missing","refusals":3}"#
        );
    }
}
