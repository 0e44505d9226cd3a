//! Guest CPUs: building a guest's CPU definition from its configuration, starting it on a host
//! with the real engine (`update` against the host's migratable copy, which promotes `optional`
//! features to `require` or `disable`, then `compare`), and the bitset fast path every migration
//! check uses afterwards.
//!
//! Starting depends only on (configuration, pool context, host class), so each distinct triple is
//! started once (a "combo") and the started CPUs are interned into guest classes.

use super::error::{BaselineError, GuestError};
use super::fleet::{Classes, HostClass};
use super::ids::{ComboId, CtxId, GuestClassId, HostClassId, IdVec};
use super::spec::{ModelRef, Template};
use cpufleet_engine::cpu::CpuCheck;
use cpufleet_engine::domain::DomainFeatures;
use cpufleet_engine::hypervisor::{ErrorCode, LibvirtError, StartKind};
use cpufleet_engine::map::X86Map;
use cpufleet_engine::x86::{self, PolicySets, Sel, Verdict};
use cpufleet_engine::{CpuDef, CpuMatch, CpuMode, CpuType, Feature, FeatureSet, Policy};
use rayon::prelude::*;
use std::collections::HashMap;

cpufleet_engine::closed_set! {
    /// Test-only faults (`--inject-fault`), to prove the checkers catch real bugs.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Fault: "fault" {
        /// Leave `optional` features unresolved when a guest starts (skip the promotion of update).
        BreakPromotion = "break-promotion",
        /// Accept every cross-version migration (skip the destination version's reading and compare).
        IgnoreVersion = "ignore-version",
        /// Start guests against the raw host CPU (`virsh capabilities`) instead of the host's
        /// QEMU/KVM (update against the raw migratable copy, compare with the raw CPU, no live check).
        RawHostStart = "raw-host-start",
        /// Baseline each pool over its first host class only (the pool baseline rule: every
        /// host of the pool runs it).
        PoolFirstHost = "pool-first-host",
        /// Let the fast path pass over `policy='forbid'` (a guest may migrate onto a host
        /// with a feature it forbids).
        IgnoreForbid = "ignore-forbid",
        /// Baseline each migration domain of the plan over its first host class only (the plan
        /// rule: every host of a domain runs its baseline).
        PlanFirstHost = "plan-first-host",
        /// A destination of another libvirt version takes a guest CPU that names a model or
        /// feature its map does not know (skips the name rule; compares nothing else).
        AcceptUnknownNames = "accept-unknown-names",
        /// Start a `match='strict'` guest as if it were `exact` (a strict guest accepted on a
        /// host with features it does not list), the started CPU still `strict`.
        AcceptStrictExtra = "accept-strict-extra",
        /// Let the fast path skip the features a started CPU requires beyond its model (a guest
        /// may migrate onto a host whose QEMU/KVM lacks one; the reference's live check keeps them).
        FastSkipRequired = "fast-skip-required",
    }
}

/// What a pool-dependent configuration resolves against: the pool's baseline at some moment.
#[derive(Clone, Debug)]
pub struct Ctx {
    pub pool: usize,
    /// The pool baseline guests are configured with: `virsh hypervisor-cpu-baseline
    /// --migratable` of the hosts' QEMU/KVM host models (so a KVM guest can start with it), or
    /// why there is none.
    pub baseline: Result<CpuDef, BaselineError>,
    /// `virsh cpu-baseline --migratable` of the hosts' raw CPUs (`virsh capabilities`), for the
    /// report.
    pub raw_baseline: Result<CpuDef, BaselineError>,
}

/// Builds the guest CPU definition of configuration `t` (in the context of a pool, for a guest
/// about to start on `host`).
pub(crate) fn build_def(t: &Template, ctx: Option<&Ctx>, host: &HostClass) -> Result<CpuDef, GuestError> {
    if let (Some((pool, pinned)), Some(c)) = (&t.pinned_in, ctx) {
        if c.pool == *pool {
            return build_def(pinned, ctx, host);
        }
    }
    let mut cpu = CpuDef::new(CpuType::Guest);
    cpu.mode = t.mode;
    match t.mode {
        CpuMode::HostPassthrough | CpuMode::Maximum => return Ok(cpu),
        CpuMode::HostModel => {}
        CpuMode::Custom => {
            let base = || -> Result<&CpuDef, GuestError> {
                let ctx = ctx.ok_or(GuestError::NoPoolContext)?;
                ctx.baseline.as_ref().map_err(|e| GuestError::NoPoolBaseline(e.clone()))
            };
            match t.model.as_ref().ok_or(GuestError::NoModel)? {
                ModelRef::PoolBaseline => {
                    cpu = base()?.clone();
                    cpu.cpu_type = CpuType::Guest;
                    cpu.mode = CpuMode::Custom;
                }
                ModelRef::PoolModel => cpu.model = base()?.model.clone(),
                ModelRef::HostCpu => {
                    // The host CPU as `virsh capabilities` shows it, pasted into a custom CPU.
                    let h = &host.cpu;
                    cpu.model = h.model.clone();
                    cpu.vendor = h.vendor.clone();
                    cpu.features =
                        h.features.iter().map(|f| Feature::new(f.name.clone(), Some(Policy::Require))).collect();
                }
                ModelRef::Named(m) => cpu.model = Some(m.clone()),
            }
            cpu.match_ = t.match_;
        }
    }
    for (name, policy) in &t.features {
        cpu.set_feature(name, Some(*policy));
    }
    Ok(cpu)
}

/// Why a migration (or a start) is refused, as the fast path sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Blocker {
    /// The guest CPU names a vendor the host does not have.
    Vendor,
    /// host-passthrough onto a host whose CPU is not identical.
    Passthrough,
    Forbidden(FeatureSet),
    Missing(FeatureSet),
    /// `match='strict'` and the host has features the CPU does not list.
    Extra(FeatureSet),
}

/// A started guest CPU reduced to bitsets: the engine's [`PolicySets`] (what `x86::compare`
/// computes from) plus what only the simulator knows about it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GuestSets {
    /// The vendor the CPU requires, as a map index (host classes carry theirs the same way).
    pub vendor: Option<usize>,
    /// host-passthrough: the identity of the host CPU it started on.
    pub passthrough: Option<u32>,
    /// The CPU resolved against the map (empty for host-passthrough, which never uses them).
    pub policy: PolicySets,
    /// What the guest sees (ModelFromCPU ALL; the host's features for host-passthrough).
    pub enabled: FeatureSet,
}

impl GuestSets {
    /// From a started custom guest CPU.
    pub fn of_custom(map: &X86Map, def: &CpuDef) -> Result<GuestSets, GuestError> {
        let policy = PolicySets::of_cpu(map, def)?;
        let enabled = x86::model_from_cpu(map, def, Sel::All)?.features;
        let vendor = match &def.vendor {
            None => None,
            Some(v) => Some(map.vendor_index(v).ok_or_else(|| GuestError::UnknownVendor(v.clone()))?),
        };
        Ok(GuestSets { vendor, passthrough: None, policy, enabled })
    }

    /// A host-passthrough guest started on `host`.
    pub fn of_passthrough(host: &HostClass) -> GuestSets {
        GuestSets {
            vendor: Some(host.vendor),
            passthrough: Some(host.identity),
            policy: PolicySets::default(),
            enabled: host.qemu_mig,
        }
    }

    /// Whether a migration destination `host` takes this started CPU, on bitsets: the
    /// passthrough identity, the vendor, then what [`incoming`] checks (qemu-driver spec §4.5):
    /// no forbidden feature named by the host's FULL, every feature the CPU enables
    /// ([`Self::enabled`], `ModelFromCPU(ALL)`: the `check='full'` live check of §4.4) enabled by
    /// its QEMU/KVM (identical when it enables nothing the CPU does not list, else superset).
    /// `check='full'` runs no compare, so neither `match='strict'` nor x86Compute's required set
    /// (which keeps a model feature the CPU forbids, and so needs it) is checked there.
    #[inline]
    pub fn verdict(&self, host: &HostClass) -> Verdict {
        if let Some(id) = self.passthrough {
            return if host.identity == id { Verdict::Identical } else { Verdict::Incompatible };
        }
        if self.vendor.is_some_and(|v| v != host.vendor) {
            return Verdict::Incompatible;
        }
        if self.policy.forbid().intersects(&host.full_named) || !self.enabled.is_subset(&host.qemu) {
            Verdict::Incompatible
        } else if host.qemu.is_subset(self.policy.listed()) {
            Verdict::Identical
        } else {
            Verdict::Superset
        }
    }

    #[inline]
    pub fn allows(&self, host: &HostClass) -> bool {
        self.verdict(host).is_compatible()
    }

    /// Why `host` is refused (None when it is not), as [`Self::verdict`] decides it.
    pub fn blocker(&self, host: &HostClass) -> Option<Blocker> {
        if let Some(id) = self.passthrough {
            return (host.identity != id).then_some(Blocker::Passthrough);
        }
        if self.vendor.is_some_and(|v| v != host.vendor) {
            return Some(Blocker::Vendor);
        }
        let forbidden = self.policy.forbid().intersection(&host.full_named);
        if !forbidden.is_empty() {
            return Some(Blocker::Forbidden(forbidden));
        }
        let missing = self.enabled.difference(&host.qemu);
        (!missing.is_empty()).then_some(Blocker::Missing(missing))
    }
}

/// A distinct started guest CPU.
#[derive(Clone, Debug)]
pub struct GuestClass {
    pub def: CpuDef,
    pub sets: GuestSets,
}

/// Why a guest could not start on a host. `reason` is the text the report tallies and prints
/// (libvirt's own error text where libvirt refused).
#[derive(Clone, Debug)]
pub struct StartFail {
    pub reason: String,
    /// Set when the host is known by domcapabilities alone and the reason's text rests on what
    /// only QEMU's capabilities cache has (e.g. the order of QEMU's blockers), saying what.
    pub needs_cache: Option<String>,
    /// Boxed: a blocker holds feature sets, and most results are successes.
    pub blocker: Option<Box<Blocker>>,
}

impl From<GuestError> for StartFail {
    /// A start that failed before or after libvirt's checks (no blocker): the error as text.
    fn from(e: GuestError) -> StartFail {
        StartFail { reason: e.to_string(), blocker: None, needs_cache: None }
    }
}

/// One started (configuration, context, host class) triple.
#[derive(Clone, Debug)]
pub struct Combo {
    pub template: u16,
    /// Context id (None for configurations that do not depend on the pool).
    pub(crate) ctx: Option<CtxId>,
    pub host_class: HostClassId,
    /// The guest class, or why it could not start.
    pub outcome: Result<GuestClassId, StartFail>,
}

/// Starts guests, caching every distinct start.
pub struct Starter {
    pub ctxs: IdVec<CtxId, Ctx>,
    pub combos: IdVec<ComboId, Combo>,
    pub classes: IdVec<GuestClassId, GuestClass>,
    combo_index: HashMap<(u16, Option<CtxId>, HostClassId), ComboId>,
    /// Keyed by the started CPU itself and its sets (two definitions with equal sets stay
    /// distinct, so each class's `def` is exactly what its starts produced; host-passthrough CPUs
    /// differ by the host they started on).
    class_index: HashMap<(CpuDef, GuestSets), GuestClassId>,
    pub fault: Option<Fault>,
}

/// Starts the CPU of configuration `t` on `host` (libvirt's start: update against the host's
/// migratable CPU, then the host must run the result).
pub(crate) fn start_on(
    map: &X86Map,
    t: &Template,
    ctx: Option<&Ctx>,
    host: &HostClass,
    fault: Option<Fault>,
) -> Result<CpuDef, StartFail> {
    let orig = build_def(t, ctx, host)?;
    start_def(map, orig, &DomainFeatures::default(), host, fault)
}

/// Starts the guest CPU `orig` on `host`: the QEMU driver's start path (a real guest's CPU, or a
/// configuration's built by `build_def`) against the host's QEMU/KVM (`HostClass::hv`,
/// `Hypervisor::start`: defaults, forbidden features and `check='partial'` against FULL, update
/// against MIGRATABLE, the QEMU filters), then QEMU's vCPU: what KVM cannot enable is corrected
/// to `disable` (`virCPUUpdateLive`, qemu-driver spec §4.4) and the CPU becomes `check='full'`.
pub fn start_def(
    map: &X86Map,
    orig: CpuDef,
    domain: &DomainFeatures,
    host: &HostClass,
    fault: Option<Fault>,
) -> Result<CpuDef, StartFail> {
    if fault == Some(Fault::RawHostStart) {
        return raw_start(map, orig, host);
    }
    let strict_as_exact = fault == Some(Fault::AcceptStrictExtra) && orig.match_ == CpuMatch::Strict;
    let exact;
    let asked = if strict_as_exact {
        exact = CpuDef { match_: CpuMatch::Exact, ..orig.clone() };
        &exact
    } else {
        &orig
    };
    let started = host.hv.start(map, asked, domain, StartKind::Fresh).map_err(|e| hv_fail(map, asked, host, e))?;
    let mut g = started.cpu;
    if strict_as_exact {
        g.match_ = CpuMatch::Strict;
    }
    if fault == Some(Fault::BreakPromotion) {
        for f in &orig.features {
            if f.policy == Some(Policy::Optional) {
                g.set_feature(&f.name, Some(Policy::Optional));
            }
        }
    }
    live_update(map, &mut g, host)?;
    Ok(g)
}

/// What a migration destination `host` makes of a guest's live CPU `live` (qemu-driver spec
/// §4.5): the start path as an incoming domain (`check='full'`: forbidden features against FULL,
/// no compare; removed features kept as `require`), then the `check='full'` live check of what
/// QEMU/KVM enables there. Err: why the migration fails.
pub(crate) fn incoming(map: &X86Map, live: &CpuDef, host: &HostClass) -> Result<CpuDef, GuestError> {
    // The simulator's vendor rule (as libvirt's compare at a fresh start): a CPU that names a
    // vendor goes only to hosts of that vendor.
    if let Some(v) = &live.vendor {
        if map.vendor_index(v) != Some(host.vendor) {
            return Err(GuestError::VendorMismatch(v.clone()));
        }
    }
    // The simulator's migrations carry the CPU only: its guests' domain settings are the defaults.
    let domain = DomainFeatures::default();
    let mut g = host.hv.start(map, live, &domain, StartKind::Incoming)?.cpu;
    live_update(map, &mut g, host)?;
    Ok(g)
}

/// A started CPU as a migration destination's `virCPUUpdate` leaves it (qemu-driver spec §4.5
/// step 4): the model's removed features it does not name appended, as `require` under 11.3.0
/// (keeping the source's guest ABI: a 9.0.0 Skylake guest keeps `mpx`), as `disable` under 9.0.0.
/// Unchanged when the map cannot read it (the caller reports the unknown name).
pub(crate) fn as_incoming(map: &X86Map, live: &CpuDef) -> CpuDef {
    let mut cpu = live.clone();
    match x86::update_with(map, &mut cpu, None, Policy::Require) {
        Ok(()) => cpu,
        Err(_) => live.clone(),
    }
}

/// `virCPUUpdateLive` after QEMU started `g` on `host` (§4.4), for custom CPUs: QEMU enables what
/// the CPU asks for and KVM can give ([`HostClass::qemu`]); with `check='full'` anything else is
/// an error, otherwise it is corrected to `disable`. Then `check='full'`.
fn live_update(map: &X86Map, g: &mut CpuDef, host: &HostClass) -> Result<(), GuestError> {
    if g.mode != CpuMode::Custom {
        return Ok(());
    }
    let asked = x86::model_from_cpu(map, g, Sel::All)?.features;
    let (enabled, disabled) = (asked.intersection(&host.qemu), asked.difference(&host.qemu));
    x86::update_live(map, g, &enabled, &disabled)?;
    g.check = Some(CpuCheck::Full);
    Ok(())
}

/// A start the QEMU driver refused, with the blocker the compare with FULL names when the refusal
/// is about the CPUs.
fn hv_fail(map: &X86Map, orig: &CpuDef, host: &HostClass, e: LibvirtError) -> StartFail {
    let blocker = match (e.code, host.hv.start_check_host()) {
        (ErrorCode::CpuIncompatible, Some(full)) => blocker_of(&x86::compare(map, full, orig).reason),
        _ => None,
    };
    let needs_cache = e.needs_cache.as_ref().map(|n| n.to_string());
    StartFail { reason: e.to_string(), blocker: blocker.map(Box::new), needs_cache }
}

fn blocker_of(reason: &x86::Reason) -> Option<Blocker> {
    match reason {
        x86::Reason::Vendor { .. } => Some(Blocker::Vendor),
        x86::Reason::Forbidden(s) => Some(Blocker::Forbidden(*s)),
        x86::Reason::Missing(s) => Some(Blocker::Missing(*s)),
        x86::Reason::Extra(s) => Some(Blocker::Extra(*s)),
        _ => None,
    }
}

/// The fault `raw-host-start`: libvirt's CPU rules against the raw host CPU (update against its
/// migratable copy, compare with it), as if the host's QEMU/KVM offered it unchanged.
fn raw_start(map: &X86Map, orig: CpuDef, host: &HostClass) -> Result<CpuDef, StartFail> {
    if matches!(orig.mode, CpuMode::HostPassthrough | CpuMode::Maximum) {
        return Ok(orig);
    }
    let mut g = orig;
    x86::update(map, &mut g, Some(&host.cpu_mig)).map_err(|e| StartFail {
        reason: e.to_string(),
        blocker: None,
        needs_cache: None,
    })?;
    let cmp = x86::compare(map, &host.cpu, &g);
    if !cmp.verdict.is_compatible() {
        return Err(StartFail {
            reason: cmp.explain(map),
            blocker: blocker_of(&cmp.reason).map(Box::new),
            needs_cache: None,
        });
    }
    Ok(g)
}

impl Starter {
    pub fn new(fault: Option<Fault>) -> Starter {
        Starter {
            ctxs: IdVec::new(),
            combos: IdVec::new(),
            classes: IdVec::new(),
            combo_index: HashMap::new(),
            class_index: HashMap::new(),
            fault,
        }
    }

    pub fn add_ctx(&mut self, ctx: Ctx) -> CtxId {
        self.ctxs.push(ctx)
    }

    pub(crate) fn ctx(&self, id: Option<CtxId>) -> Option<&Ctx> {
        id.map(|id| &self.ctxs[id])
    }

    /// The combo ids of `keys` = (configuration, context, host class); new ones are started in
    /// parallel and interned in order.
    pub fn ensure(
        &mut self,
        map: &X86Map,
        templates: &[Template],
        hosts: &Classes,
        keys: &[(u16, CtxId, HostClassId)],
    ) -> Vec<ComboId> {
        let mut ids = Vec::with_capacity(keys.len());
        let mut pending: Vec<(u16, Option<CtxId>, HostClassId)> = Vec::new();
        for &(t, ctx, hc) in keys {
            let ctx = templates[t as usize].uses_pool().then_some(ctx);
            let next = ComboId::new(self.combos.len() + pending.len());
            let id = *self.combo_index.entry((t, ctx, hc)).or_insert_with(|| {
                pending.push((t, ctx, hc));
                next
            });
            ids.push(id);
        }
        let fault = self.fault;
        let ctxs = &self.ctxs;
        let started: Vec<Result<(CpuDef, GuestSets), StartFail>> = pending
            .par_iter()
            .map(|&(t, ctx, hc)| {
                let host = &hosts[hc];
                let ctx = ctx.map(|c| &ctxs[c]);
                let def = start_on(map, &templates[t as usize], ctx, host, fault)?;
                let sets = if def.mode == CpuMode::HostPassthrough {
                    GuestSets::of_passthrough(host)
                } else if matches!(fault, Some(Fault::IgnoreForbid | Fault::FastSkipRequired)) {
                    let dropped = if fault == Some(Fault::IgnoreForbid) { Policy::Forbid } else { Policy::Require };
                    let mut d = def.clone();
                    d.features.retain(|f| f.policy != Some(dropped));
                    GuestSets::of_custom(map, &d)?
                } else {
                    GuestSets::of_custom(map, &def)?
                };
                Ok((def, sets))
            })
            .collect();
        for (&(t, ctx, hc), s) in pending.iter().zip(started) {
            let outcome = s.map(|(def, sets)| {
                *self
                    .class_index
                    .entry((def.clone(), sets.clone()))
                    .or_insert_with(|| self.classes.push(GuestClass { def, sets }))
            });
            self.combos.push(Combo { template: t, ctx, host_class: hc, outcome });
        }
        ids
    }
}

/// Compatibility cache: one bit per (guest class, host class). Rows and bits are at the ids'
/// slots (index + 1: row 0 and bit 0 of every row unused), so a lookup takes the stored ids as
/// they are: the migration loop's inner step, where subtracting 1 from each id cost a fifth of
/// the lookup (`benches` `simulate/check/…/cached compat bit`).
pub struct Compat {
    row_words: usize,
    bits: Vec<u64>,
    n_rows: usize,
}

impl Compat {
    /// Rows for every guest class of `classes` over every host class.
    pub fn build(classes: &IdVec<GuestClassId, GuestClass>, hosts: &Classes) -> Compat {
        let mut c = Compat::empty(hosts.len());
        c.extend(classes, hosts);
        c
    }

    /// No rows yet, over `n_hosts` host classes (the unused row 0 only).
    fn empty(n_hosts: usize) -> Compat {
        let row_words = (n_hosts + 1).div_ceil(64);
        Compat { row_words, bits: vec![0; row_words], n_rows: 0 }
    }

    /// Adds rows for guest classes that have none yet.
    pub fn extend(&mut self, classes: &IdVec<GuestClassId, GuestClass>, hosts: &Classes) {
        self.extend_with(classes.len(), hosts, |g, h| classes[g].sets.allows(h));
    }

    /// Adds rows `self.n_rows..n`: row `g` allows host class `h` when `allows(g, h)`.
    pub fn extend_with(&mut self, n: usize, hosts: &Classes, allows: impl Fn(GuestClassId, &HostClass) -> bool + Sync) {
        assert!(hosts.len() < self.row_words * 64, "host classes were added after the cache was built");
        let rw = self.row_words;
        let new_rows: Vec<u64> = (self.n_rows..n)
            .into_par_iter()
            .flat_map_iter(|g| {
                let mut row = vec![0u64; rw];
                let g = GuestClassId::new(g);
                for (h, class) in hosts.iter_enumerated() {
                    if allows(g, class) {
                        set_slot(&mut row, h);
                    }
                }
                row
            })
            .collect();
        self.bits.extend(new_rows);
        self.n_rows = n;
    }

    /// Guest class `g`'s row, as a [`ClassMask`] reads it (bit `h.slot()` set when host class `h`
    /// takes the class).
    #[inline]
    pub(crate) fn row(&self, g: GuestClassId) -> &[u64] {
        &self.bits[g.slot() * self.row_words..(g.slot() + 1) * self.row_words]
    }

    /// Whether host class `h` takes guest class `g`.
    #[inline]
    pub fn allows(&self, g: GuestClassId, h: HostClassId) -> bool {
        let h = h.slot();
        self.bits[g.slot() * self.row_words + h / 64] >> (h % 64) & 1 != 0
    }

    /// A cache over `n_hosts` host classes whose guest class `g` is taken by the host classes of
    /// `rows[g]` (tests).
    #[cfg(test)]
    pub(crate) fn of_rows(n_hosts: usize, rows: &[&[usize]]) -> Compat {
        let mut c = Compat::empty(n_hosts);
        for r in rows {
            let mut row = vec![0u64; c.row_words];
            for &h in r.iter() {
                set_slot(&mut row, HostClassId::new(h));
            }
            c.bits.extend(row);
        }
        c.n_rows = rows.len();
        c
    }
}

/// Sets host class `c`'s bit in `words`, a bitset at the classes' slots (a [`Compat`] row, a
/// [`ClassMask`]).
fn set_slot(words: &mut [u64], c: HostClassId) {
    let i = c.slot();
    words[i / 64] |= 1 << (i % 64);
}

/// A bitset over host classes, at their slots (as the rows of [`Compat`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClassMask {
    pub words: Vec<u64>,
}

impl ClassMask {
    /// No class of `n`.
    pub(crate) fn new(n: usize) -> ClassMask {
        ClassMask { words: vec![0; (n + 1).div_ceil(64)] }
    }
    /// The classes whose count is not zero.
    pub(crate) fn present(counts: &[u64]) -> ClassMask {
        let mut m = ClassMask::new(counts.len());
        for (c, &n) in counts.iter().enumerate() {
            if n > 0 {
                m.set(HostClassId::new(c));
            }
        }
        m
    }
    pub(crate) fn set(&mut self, c: HostClassId) {
        set_slot(&mut self.words, c);
    }
    pub(crate) fn clear(&mut self, c: HostClassId) {
        let i = c.slot();
        self.words[i / 64] &= !(1 << (i % 64));
    }
    /// Whether `row & self` has any bit.
    pub(crate) fn meets(&self, row: &[u64]) -> bool {
        self.words.iter().zip(row).any(|(a, b)| a & b != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set_of(words: [u64; 4]) -> FeatureSet {
        FeatureSet::from_words(&words)
    }

    /// A host whose QEMU/KVM enables `qemu` and whose FULL names `full`.
    fn host_with(qemu: FeatureSet, full: FeatureSet) -> HostClass {
        let map = cpufleet_engine::CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
        let hv =
            cpufleet_engine::hypervisor::Hypervisor::kvm_with_host_model(&map.x86, CpuDef::new(CpuType::Guest), None)
                .unwrap();
        HostClass {
            vendor: 0,
            signature: 0,
            profile: 0,
            odd: false,
            model: 0,
            features: qemu,
            mig: qemu,
            cpu: CpuDef::new(CpuType::Host),
            cpu_mig: CpuDef::new(CpuType::Host),
            identity: 0,
            hv,
            hv_host: CpuDef::new(CpuType::Host),
            qemu,
            qemu_mig: qemu,
            full_named: full,
        }
    }

    /// A configuration pinned in one pool (the libvirt-upgrade re-simulation) builds the pinned
    /// CPU for that pool's guests and its own CPU everywhere else.
    #[test]
    fn a_pin_applies_only_in_its_pool() {
        use crate::spec::{ModelRef, Template};
        use cpufleet_engine::CpuMatch;
        let plain = Template {
            name: "t".into(),
            weight: 1.0,
            mode: CpuMode::Custom,
            model: Some(ModelRef::Named("Skylake-Server-v4".into())),
            match_: CpuMatch::Minimum,
            features: vec![("pcid".into(), Policy::Require)],
            pinned_in: None,
        };
        let to = Template { model: Some(ModelRef::Named("Skylake-Server".into())), ..plain.clone() };
        let t = Template { pinned_in: Some((2, Box::new(to))), ..plain.clone() };
        assert!(t.uses_pool() && !plain.uses_pool());
        let host = host_with(FeatureSet::new(), FeatureSet::new());
        let ctx = |pool| Ctx {
            pool,
            baseline: Err(crate::error::BaselineError::NoHosts),
            raw_baseline: Err(crate::error::BaselineError::NoHosts),
        };
        let model = |c: Option<&Ctx>| build_def(&t, c, &host).unwrap().model;
        assert_eq!(model(Some(&ctx(2))).as_deref(), Some("Skylake-Server"));
        for other in [Some(&ctx(0)), Some(&ctx(3)), None] {
            assert_eq!(build_def(&t, other, &host).unwrap(), build_def(&plain, other, &host).unwrap());
        }
    }

    // Few distinct bits so that subsets and overlaps happen often.
    fn small_set() -> impl Strategy<Value = FeatureSet> {
        (0u64..64, 0u64..16).prop_map(|(a, b)| set_of([a, b << 60, 0, 0]))
    }

    proptest! {
        /// The fast path is the destination's check (qemu-driver spec §4.5): no compare, the
        /// forbidden features against FULL's names, then the `check='full'` live check that
        /// QEMU enables all the CPU enables (x86Compute without `match='strict'` where nothing
        /// forbidden is part of the required set, as `enabled` is then that set plus the forced
        /// features); verdict and blocker alike.
        #[test]
        fn fast_verdict_and_blocker_are_the_destination_checks(
            h in small_set(), f in small_set(), r in small_set(), o in small_set(),
            d in small_set(), x in small_set(), strict in any::<bool>()
        ) {
            let policy = PolicySets::new(f, r, o, d, x, strict);
            // ModelFromCPU(ALL): the model's and required features and the forced ones, less the
            // disabled and forbidden ones.
            let enabled = r.union(&f).difference(&d).difference(&x);
            let listed = *policy.listed();
            let g = GuestSets { vendor: None, passthrough: None, policy, enabled };
            let host = host_with(h, h);
            let (forbidden, missing) = (x.intersection(&h), enabled.difference(&h));
            let expected = if !forbidden.is_empty() || !missing.is_empty() {
                Verdict::Incompatible
            } else if h.is_subset(&listed) {
                Verdict::Identical
            } else {
                Verdict::Superset
            };
            prop_assert_eq!(g.verdict(&host), expected);
            let blocker = if !forbidden.is_empty() {
                Some(Blocker::Forbidden(forbidden))
            } else {
                (!missing.is_empty()).then_some(Blocker::Missing(missing))
            };
            prop_assert_eq!(g.blocker(&host), blocker);
            // Where the CPU forbids or leaves optional nothing it would otherwise require and
            // forces nothing, that is x86Compute without `match='strict'`.
            if !x.intersects(&r) && !o.intersects(&r) && f.is_empty() {
                let engine = PolicySets::new(f, r, o, d, x, false).compare(&h);
                prop_assert_eq!(g.verdict(&host), engine.verdict);
            }
        }

        /// Forbidden features are looked up in FULL's names, enabled ones in what QEMU enables;
        /// a required (model) feature the CPU also forbids is not enabled, so not needed.
        #[test]
        fn forbid_checks_full_and_enabled_checks_qemu(
            q in small_set(), full in small_set(), r in small_set(), x in small_set()
        ) {
            let none = FeatureSet::new();
            let policy = PolicySets::new(none, r, none, none, x, false);
            let enabled = r.difference(&x);
            let g = GuestSets { vendor: None, passthrough: None, policy, enabled };
            let ok = !x.intersects(&full) && enabled.is_subset(&q);
            prop_assert_eq!(g.allows(&host_with(q, full)), ok);
        }
    }
}
