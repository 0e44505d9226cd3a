//! Invariant checkers, over the reference model of `cpufleet-reference` (`view`).
//!
//! The checkers are separate from the generators: they re-derive what must hold from the original
//! guest definitions and host CPUs with a deliberately simple model over sets of feature *names*
//! (`BTreeSet<String>`), written from libvirt's specification and sharing no code with the bitset
//! fast path, and compare it with what the simulation did (engine results and fast-path verdicts).
//! Checks run on a deterministic sample of every kind of event, or on all of them (`--check-all`).

use super::fleet::HostClass;
use super::guest::{build_def, incoming, GuestSets};
use super::rng::{derive, tag};
use super::scenarios::migrate::MigrateRun;
use super::scenarios::pools::started_baseline;
use super::scenarios::Sim;
use super::spec::{ModelRef, Template};
use crate::versions::Versions;
use cpufleet_engine::map::X86Map;
use cpufleet_engine::x86::Verdict;
use cpufleet_engine::{CpuMatch, CpuMode, Policy};
use cpufleet_reference::names::model_names;
use cpufleet_reference::qemu::{self, Arrival, NaiveKvm};
use cpufleet_reference::view::{
    naive_compare, naive_cpu, naive_host, naive_visible, same_cpu, strict_extra, with, NaiveCpu, NaiveHost,
};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Checks per kind when sampling.
pub(crate) const SAMPLE: usize = 2000;
/// Details kept per invariant (the count is always exact).
pub(crate) const KEEP_PER_INVARIANT: usize = 20;

/// An invariant the checkers verify. Serialised (and displayed) as its sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    CpuStable,
    Promotion,
    Pool,
    Forbid,
    Strict,
    Fast,
    Plan,
    VersionCompare,
    VersionNames,
}

impl Invariant {
    /// The sentence that states it.
    pub fn sentence(self) -> &'static str {
        match self {
            Invariant::CpuStable => "guest CPU never changes across live migrations",
            Invariant::Promotion => "promoted optional features stay require",
            Invariant::Pool => {
                "every pool host runs the pool baseline, which starts and migrates everywhere in its pool"
            }
            Invariant::Forbid => "a forbid feature is never present on the guest's host",
            Invariant::Strict => "match='strict' guests only run on hosts with no extra features",
            Invariant::Fast => "the fast path agrees with the naive reference model",
            Invariant::Plan => "every host of a migration domain runs the domain baseline",
            Invariant::VersionCompare => {
                "a migration accepted across libvirt versions is one the destination version's compare accepts"
            }
            Invariant::VersionNames => "no accepted guest uses a model or feature name unknown to its host's version",
        }
    }
}

impl Serialize for Invariant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.sentence())
    }
}

impl std::fmt::Display for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.sentence())
    }
}

fn join(s: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = s.into_iter().collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(" ")
    }
}

/// One violated invariant.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    pub invariant: Invariant,
    pub detail: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    /// Individual checks made.
    pub checks: u64,
    /// Whether every event was checked (`--check-all`) or a sample.
    pub all: bool,
    pub starts_checked: u64,
    pub migrations_checked: u64,
    pub pairs_checked: u64,
    pub violation_count: u64,
    pub violations: Vec<Violation>,
    /// Accepted cross-version migrations checked (libvirt-upgrade scenario; absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_version_checked: Option<u64>,
}

struct Acc {
    checks: u64,
    found: Vec<Violation>,
}

impl Acc {
    fn new() -> Acc {
        Acc { checks: 0, found: Vec::new() }
    }
    fn check(&mut self, ok: bool, invariant: Invariant, detail: impl FnOnce() -> String) {
        self.checks += 1;
        if !ok {
            self.found.push(Violation { invariant, detail: detail() });
        }
    }
    fn merge(mut self, o: Acc) -> Acc {
        self.checks += o.checks;
        self.found.extend(o.found);
        self
    }
}

/// A deterministic sample of `0..n` (all of it when `all` or n ≤ SAMPLE), in order.
pub(crate) fn sample(n: usize, seed: u64, family: u64, all: bool) -> Vec<usize> {
    if all || n <= SAMPLE {
        return (0..n).collect();
    }
    let mut keyed: Vec<(u64, usize)> =
        (0..n).map(|i| (derive(seed, tag::CHECK_SAMPLE ^ family, i as u64), i)).collect();
    keyed.select_nth_unstable(SAMPLE);
    let mut out: Vec<usize> = keyed[..SAMPLE].iter().map(|k| k.1).collect();
    out.sort_unstable();
    out
}

fn host_label(sim: &Sim, h: &HostClass) -> String {
    format!(
        "{} host ({}{})",
        sim.spec.profiles.list[h.profile as usize].name,
        h.cpu.model.as_deref().unwrap_or("?"),
        if h.odd { ", odd" } else { "" }
    )
}

/// The reference model's view of a host's QEMU/KVM: REPORTED, MIGRATABLE and FULL (qemu-driver
/// spec §1.2), taken from the host's hypervisor.
fn naive_kvm(map: &X86Map, h: &HostClass) -> Option<NaiveKvm> {
    let reported = h.hv.reported.as_ref()?;
    Some(NaiveKvm::new(map, reported, h.hv.start_check_host()?.clone()))
}

/// A host as the reference compare sees it: its host-model CPU as a host CPU (what a guest is
/// offered), or its MIGRATABLE CPU (what `optional` features resolve against).
fn offered(map: &X86Map, h: &HostClass) -> NaiveHost {
    naive_host(map, &h.hv_host)
}

/// Runs every checker. `migrate` is None when the migrate scenario did not run.
pub fn run(
    sim: &Sim,
    migrate: Option<&MigrateRun>,
    domains: &[super::scenarios::plan::DomainCheck],
    check_all: bool,
) -> CheckReport {
    let mut report = CheckReport { all: check_all, ..Default::default() };
    let mut acc = check_pools(sim);
    let start_ids = sample(sim.starter.combos.len(), sim.seed, 1, check_all);
    report.starts_checked = start_ids.len() as u64;
    acc = acc.merge(start_ids.par_iter().map(|&ci| check_start(sim, ci)).reduce(Acc::new, Acc::merge));
    if let Some(m) = migrate {
        acc = acc.merge(check_migrations(sim, m, check_all, &mut report));
    }
    acc = acc.merge(check_plan(sim, domains));
    report.checks = acc.checks;
    report.violation_count = acc.found.len() as u64;
    report.violations = keep_per_invariant(acc.found);
    report
}

/// The first [`KEEP_PER_INVARIANT`] violations of each invariant, in the order found.
fn keep_per_invariant(found: Vec<Violation>) -> Vec<Violation> {
    let mut kept: BTreeMap<Invariant, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for v in found {
        let n = kept.entry(v.invariant).or_insert(0);
        if *n < KEEP_PER_INVARIANT {
            *n += 1;
            out.push(v);
        }
    }
    out
}

/// 1. Pools: every host class of a pool runs the baseline (engine and reference model); the
///    baseline guest starts on and migrates to every host class of its pool; and each pool's
///    baseline starts as a guest CPU.
fn check_pools(sim: &Sim) -> Acc {
    let fleet = &sim.fleet;
    let baseline_tmpl = Template {
        name: "pool-baseline (check)".into(),
        weight: 1.0,
        mode: CpuMode::Custom,
        model: Some(ModelRef::PoolBaseline),
        match_: CpuMatch::Exact,
        features: Vec::new(),
        pinned_in: None,
    };
    let mut acc = (0..fleet.pools.len())
        .into_par_iter()
        .map(|pi| check_pool(sim, pi, &baseline_tmpl))
        .reduce(Acc::new, Acc::merge);
    // Also check the started baseline of each pool against the reference update.
    for pi in 0..fleet.pools.len() {
        if let Ok(base) = &sim.starter.ctxs[sim.pool_ctx[pi] as usize].baseline {
            acc.check(started_baseline(&sim.map.x86, base).is_some(), Invariant::Pool, || {
                format!("pool {}: its baseline does not start as a guest CPU", fleet.pools[pi].name)
            });
        }
    }
    acc
}

/// Pool `pi`: its hosts run its baseline, on which `baseline_tmpl` starts and migrates.
fn check_pool(sim: &Sim, pi: usize, baseline_tmpl: &Template) -> Acc {
    let (map, fleet) = (&sim.map.x86, &sim.fleet);
    let mut a = Acc::new();
    let p = &fleet.pools[pi];
    let ctx = &sim.starter.ctxs[sim.pool_ctx[pi] as usize];
    let Ok(base) = &ctx.baseline else {
        // Hosts of several vendors in one pool (an inventory's folder) have no common CPU in
        // libvirt: a fact of the data, reported as the pool's problem, not a cpufleet failure.
        if super::scenarios::pools::pool_problem(sim, pi).is_some() {
            return a;
        }
        a.check(false, Invariant::Pool, || {
            format!("pool {}: no baseline: {}", p.name, ctx.baseline.as_ref().unwrap_err())
        });
        return a;
    };
    let nb = naive_cpu(base);
    let ids = fleet.classes_in(p.range(), &fleet.host_class);
    let started: Vec<Option<GuestSets>> = ids
        .iter()
        .map(|&c| {
            let h = fleet.classes.get(c);
            super::guest::start_on(map, baseline_tmpl, Some(ctx), h, None)
                .ok()
                .and_then(|d| GuestSets::of_custom(map, &d).ok())
        })
        .collect();
    for (i, &c) in ids.iter().enumerate() {
        let h = fleet.classes.get(c);
        // `virsh hypervisor-cpu-compare` on the host, and the reference compare with the CPU
        // its QEMU/KVM offers.
        let v = h.hv.compare(sim.map, base, false).map_or(Verdict::Incompatible, |c| c.verdict);
        let naive = naive_compare(map, &offered(map, h), &nb);
        a.check(v.is_compatible() && naive.is_compatible(), Invariant::Pool, || {
            format!(
                "pool {}: {} is {} / reference {} to the pool baseline",
                p.name,
                host_label(sim, h),
                v.as_str(),
                naive.as_str()
            )
        });
        let Some(sets) = &started[i] else {
            a.check(false, Invariant::Pool, || {
                format!("pool {}: the baseline guest cannot start on {}", p.name, host_label(sim, h))
            });
            continue;
        };
        for &d in &ids {
            let dh = fleet.classes.get(d);
            a.check(sets.allows(dh), Invariant::Pool, || {
                format!(
                    "pool {}: the baseline guest started on {} cannot migrate to {}",
                    p.name,
                    host_label(sim, h),
                    host_label(sim, dh)
                )
            });
        }
    }
    a
}

/// 2. Starts: the start of combo `ci` (configuration, pool, host) against the reference update.
fn check_start(sim: &Sim, ci: usize) -> Acc {
    let (map, fleet, combos) = (&sim.map.x86, &sim.fleet, &sim.starter.combos);
    let mut a = Acc::new();
    let combo = &combos[ci];
    let t = &sim.spec.templates[combo.template as usize];
    let host = fleet.classes.get(combo.host_class);
    let Ok(orig) = build_def(t, sim.starter.ctx(combo.ctx), host) else { return a };
    let Some(kvm) = naive_kvm(map, host) else { return a };
    // The QEMU driver resolves `optional` features against MIGRATABLE and checks against FULL.
    let (nh, nf) = (naive_host(map, &kvm.migratable), naive_host(map, &kvm.full));
    let no = naive_cpu(&orig);
    let reference = qemu::start(map, &no, &kvm, Arrival::Fresh);
    let what = || format!("guest '{}' started on {}", t.name, host_label(sim, host));
    match (&combo.outcome, reference) {
        (Ok(_), Err(e)) => {
            // A strict guest running on a host with features it does not list is the strict
            // rule broken, whatever else the reference says.
            let extra = match no.match_ == CpuMatch::Strict && qemu::partial_compares_with_full(map, &no) {
                true => strict_extra(map, &no, &nf),
                false => Vec::new(),
            };
            if extra.is_empty() {
                a.check(false, Invariant::Fast, || {
                    format!("{}: started, but the reference model refuses it ({e})", what())
                })
            } else {
                a.check(false, Invariant::Strict, || format!("{}: host has unlisted {}", what(), join(extra)))
            }
        }
        (Ok(gc), Ok(expected)) => {
            let g = &sim.starter.classes[*gc as usize];
            let got = naive_cpu(&g.def);
            check_promotion(&mut a, &no, &nh, &got, &what);
            a.check(got == expected, Invariant::Fast, || {
                format!(
                    "{}: the started CPU differs from the reference start: {}",
                    what(),
                    update_diff(&got, &expected)
                )
            });
            let vis_ref = naive_visible(map, &expected, &nh);
            let vis_got = naive_visible(map, &got, &nh);
            a.check(vis_ref == vis_got, Invariant::CpuStable, || {
                format!(
                    "{}: the guest sees different features than its definition gives: missing {} extra {}",
                    what(),
                    join(vis_ref.difference(&vis_got).cloned()),
                    join(vis_got.difference(&vis_ref).cloned())
                )
            });
            let forbidden: Vec<String> = with(&no, Policy::Forbid).into_iter().filter(|n| nf.all.contains(n)).collect();
            a.check(forbidden.is_empty(), Invariant::Forbid, || {
                format!("{}: host has forbidden {}", what(), forbidden.join(" "))
            });
            // libvirt compares the CPU as defined (before the QEMU filter drops `osxsave` and
            // the like from the started one) with FULL, where its partial check compares at
            // all (11.3.0 checks a model without compat check by QEMU's blockers, strict unread).
            if no.match_ == CpuMatch::Strict && qemu::partial_compares_with_full(map, &no) {
                let extra = strict_extra(map, &no, &nf);
                a.check(extra.is_empty(), Invariant::Strict, || {
                    format!("{}: host has unlisted {}", what(), join(extra))
                });
            }
            if orig.mode != CpuMode::HostPassthrough {
                let fast = g.sets.allows(host);
                let naive = qemu::start(map, &got, &kvm, Arrival::Incoming).is_ok();
                a.check(fast == naive, Invariant::Fast, || {
                    format!("{}: fast path says {fast}, reference model {naive} for its own host", what())
                });
            }
        }
        (Err(fail), reference) => {
            if fail.blocker.is_some() {
                a.check(reference.is_err(), Invariant::Fast, || {
                    format!("{}: refused ({}), but the reference model lets it start", what(), fail.reason)
                });
            }
        }
    }
    a
}

/// Promotion: every optional feature of `orig` became require (the host `nh` has it) or disable
/// in the started CPU `got`.
fn check_promotion(a: &mut Acc, orig: &NaiveCpu, nh: &NaiveHost, got: &NaiveCpu, what: &dyn Fn() -> String) {
    for (name, p) in &orig.features {
        if *p != Policy::Optional {
            continue;
        }
        let want = if nh.all.contains(name) { Policy::Require } else { Policy::Disable };
        let have = got.features.get(name).copied();
        a.check(have == Some(want), Invariant::Promotion, || {
            format!(
                "{}: optional feature '{name}' is {} after start, expected {}",
                what(),
                have.map_or("absent".to_string(), |p| p.to_string()),
                want
            )
        });
    }
}

/// How the started CPU `got` differs from the reference update `expected`: features with another
/// policy (`name=policy` as expected), extra features (`+name=policy`), and the mode, match, model
/// and vendor of both when any of those differ.
fn update_diff(got: &NaiveCpu, expected: &NaiveCpu) -> String {
    let diff: Vec<String> = expected
        .features
        .iter()
        .filter(|(n, p)| got.features.get(*n) != Some(p))
        .map(|(n, p)| format!("{n}={p}"))
        .chain(
            got.features.iter().filter(|(n, _)| !expected.features.contains_key(*n)).map(|(n, p)| format!("+{n}={p}")),
        )
        .collect();
    let mut d = diff.join(" ");
    if got.model != expected.model
        || got.vendor != expected.vendor
        || got.mode != expected.mode
        || got.match_ != expected.match_
    {
        d.push_str(&format!(
            " (engine: {} {} {} {}; reference: {} {} {} {})",
            got.mode,
            got.match_,
            got.model.as_deref().unwrap_or("-"),
            got.vendor.as_deref().unwrap_or("-"),
            expected.mode,
            expected.match_,
            expected.model.as_deref().unwrap_or("-"),
            expected.vendor.as_deref().unwrap_or("-")
        ));
    }
    d
}

/// 3. Migrations: accepted (guest start, destination) pairs and refused (guest, destination)
///    pairs, sampled; then the fast path against the engine and the reference model on
///    (guest class, host class) pairs.
fn check_migrations(sim: &Sim, m: &MigrateRun, check_all: bool, report: &mut CheckReport) -> Acc {
    let combos = &sim.starter.combos;
    let accepted = m.accepted.pairs();
    let ids = sample(accepted.len(), sim.seed, 2, check_all);
    report.migrations_checked = ids.len() as u64;
    let acc = ids.par_iter().map(|&i| check_migration(sim, accepted[i])).reduce(Acc::new, Acc::merge);
    let mut pairs: Vec<(u32, u32)> = m.refused.pairs();
    pairs.extend(accepted.iter().filter_map(|&(ci, dc)| combos[ci as usize].outcome.as_ref().ok().map(|&g| (g, dc))));
    pairs.sort_unstable();
    pairs.dedup();
    let ids = sample(pairs.len(), sim.seed, 3, check_all);
    report.pairs_checked = ids.len() as u64;
    acc.merge(ids.par_iter().map(|&i| check_pair(sim, pairs[i])).reduce(Acc::new, Acc::merge))
}

/// One accepted migration: the guest started by combo `ci`, moved to host class `dc`.
fn check_migration(sim: &Sim, (ci, dc): (u32, u32)) -> Acc {
    let (map, fleet, combos) = (&sim.map.x86, &sim.fleet, &sim.starter.combos);
    let mut a = Acc::new();
    let combo = &combos[ci as usize];
    let t = &sim.spec.templates[combo.template as usize];
    let src_host = fleet.classes.get(combo.host_class);
    let (Ok(gc), Ok(orig)) = (&combo.outcome, build_def(t, sim.starter.ctx(combo.ctx), src_host)) else {
        a.check(false, Invariant::Fast, || "a guest that never started was migrated".to_string());
        return a;
    };
    let g = &sim.starter.classes[*gc as usize];
    let (src, dst) = (fleet.classes.get(combo.host_class), fleet.classes.get(dc));
    let (Some(ks), Some(kd)) = (naive_kvm(map, src), naive_kvm(map, dst)) else { return a };
    let (ns, nd) = (naive_host(map, &ks.migratable), naive_host(map, &kd.migratable));
    let no = naive_cpu(&orig);
    let got = naive_cpu(&g.def);
    let what =
        || format!("guest '{}' started on {}, migrated to {}", t.name, host_label(sim, src), host_label(sim, dst));
    let started = qemu::start(map, &no, &ks, Arrival::Fresh).unwrap_or_else(|_| no.clone());
    let at_start = naive_visible(map, &started, &ns);
    let at_dest = naive_visible(map, &got, &nd);
    a.check(at_start == at_dest, Invariant::CpuStable, || {
        format!(
            "{}: features disappeared: {}; appeared: {}",
            what(),
            join(at_start.difference(&at_dest).cloned()),
            join(at_dest.difference(&at_start).cloned())
        )
    });
    if orig.mode == CpuMode::HostPassthrough {
        a.check(same_cpu(&ns, &nd), Invariant::Fast, || format!("{}: host-passthrough onto a different CPU", what()));
    } else {
        // The destination: the start path as an incoming domain, then its check='full' live check.
        let naive = qemu::start(map, &got, &kd, Arrival::Incoming);
        a.check(naive.is_ok(), Invariant::Fast, || {
            format!("{}: allowed by the fast path, refused by the reference model ({})", what(), naive.unwrap_err())
        });
    }
    let nd_full = naive_host(map, &kd.full);
    let forbidden: Vec<String> = with(&no, Policy::Forbid).into_iter().filter(|n| nd_full.all.contains(n)).collect();
    a.check(forbidden.is_empty(), Invariant::Forbid, || {
        format!("{}: host has forbidden {}", what(), forbidden.join(" "))
    });
    // `match='strict'` is checked where the guest starts: the destination runs no compare (§4.5).
    a
}

/// Guest class `gc` on host class `hc`: fast path, engine compare and reference model agree.
fn check_pair(sim: &Sim, (gc, hc): (u32, u32)) -> Acc {
    let (map, fleet) = (&sim.map.x86, &sim.fleet);
    let mut a = Acc::new();
    let g = &sim.starter.classes[gc as usize];
    let h = fleet.classes.get(hc);
    if g.def.mode == CpuMode::HostPassthrough {
        return a;
    }
    let Some(kvm) = naive_kvm(map, h) else { return a };
    let fast = g.sets.allows(h);
    let engine = incoming(map, &g.def, h);
    let naive = qemu::start(map, &naive_cpu(&g.def), &kvm, Arrival::Incoming);
    a.check(fast == engine.is_ok() && engine.is_ok() == naive.is_ok(), Invariant::Fast, || {
        format!(
            "{} CPU arriving on {}: fast path {fast}, engine {}, reference {}",
            g.def.model.as_deref().unwrap_or("?"),
            host_label(sim, h),
            engine.as_ref().map_or_else(|e| e.clone(), |_| "accepts".into()),
            naive.as_ref().map_or_else(|e| e.clone(), |_| "accepts".into()),
        )
    });
    a
}

/// 4. Plan: every host class of a domain runs the domain's baseline.
fn check_plan(sim: &Sim, domains: &[super::scenarios::plan::DomainCheck]) -> Acc {
    let (map, fleet) = (&sim.map.x86, &sim.fleet);
    let mut acc = Acc::new();
    for (d, (base, classes)) in domains.iter().enumerate() {
        match base {
            Err(e) => acc.check(false, Invariant::Plan, || format!("domain {}: no baseline: {e}", d + 1)),
            Ok(b) => {
                let sets = started_baseline(map, b);
                for &c in classes {
                    let h = fleet.classes.get(c);
                    let ok = sets.as_ref().is_some_and(|s| s.allows(h));
                    let naive = naive_compare(map, &offered(map, h), &naive_cpu(b));
                    acc.check(ok && naive.is_compatible(), Invariant::Plan, || {
                        format!(
                            "domain {}: {} cannot run the domain baseline {}",
                            d + 1,
                            host_label(sim, h),
                            b.model.as_deref().unwrap_or("?")
                        )
                    });
                }
            }
        }
    }

    acc
}

/// 5. Cross-version migrations (libvirt-upgrade): each accepted (guest version, guest class,
///    destination version, destination host class) pair, sampled, against the destination
///    version's engine compare and the reference model under the destination's map; the
///    guest's names must all be known to that map; and what the guest sees there must be what
///    it saw where it started, but for the features the two maps put in its model differently
///    (11.3.0 took `mpx` out of the Skylake and Cascade Lake models).
pub(crate) fn check_versions(
    v: &Versions,
    accepted: &[(usize, u32, usize, u32)],
    seed: u64,
    check_all: bool,
    report: &mut CheckReport,
) {
    let ids = sample(accepted.len(), seed, 4, check_all);
    report.cross_version_checked = Some(ids.len() as u64);
    let acc = ids.par_iter().map(|&i| check_cross(v, accepted[i])).reduce(Acc::new, Acc::merge);
    report.checks += acc.checks;
    report.violation_count += acc.found.len() as u64;
    report.violations = acc.found;
}

/// Adds the checks of `other` (another scenario's state) to `report`.
pub(crate) fn merge(report: &mut CheckReport, other: &CheckReport) {
    report.checks += other.checks;
    report.violation_count += other.violation_count;
    if let Some(n) = other.cross_version_checked {
        report.cross_version_checked = Some(report.cross_version_checked.unwrap_or(0) + n);
    }
    let mut all = std::mem::take(&mut report.violations);
    all.extend(other.violations.iter().cloned());
    report.violations = keep_per_invariant(all);
}

fn check_cross(v: &Versions, (g, gc, d, hc): (usize, u32, usize, u32)) -> Acc {
    let mut a = Acc::new();
    let (gv, dv) = (&v.views[g], &v.views[d]);
    let (gm, dm) = (&gv.map.x86, &dv.map.x86);
    let def = &gv.starter.classes[gc as usize].def;
    let host = dv.fleet.classes.get(hc);
    if def.mode == CpuMode::HostPassthrough {
        return a;
    }
    let what = || {
        format!(
            "{} guest CPU started under libvirt {}, accepted by a {} host under libvirt {}",
            def.model.as_deref().unwrap_or("?"),
            gv.map.version(),
            dv.spec.profiles.list[host.profile as usize].name,
            dv.map.version()
        )
    };
    let unknown: Vec<&str> = def
        .model
        .iter()
        .filter(|m| dm.model(m).is_none())
        .chain(def.features.iter().map(|f| &f.name).filter(|n| dm.feature_id(n).is_none()))
        .map(|s| s.as_str())
        .collect();
    a.check(unknown.is_empty(), Invariant::VersionNames, || {
        format!("{}: unknown there: {}", what(), unknown.join(" "))
    });
    // The destination's QEMU driver: the start path as an incoming domain, then its live check.
    let engine = incoming(dm, def, host);
    let naive = naive_kvm(dm, host).map(|k| qemu::start(dm, &naive_cpu(def), &k, Arrival::Incoming));
    let naive_ok = naive.as_ref().is_some_and(|r| r.is_ok());
    a.check(engine.is_ok() && naive_ok, Invariant::VersionCompare, || {
        let e = engine.as_ref().map_or_else(|e| e.clone(), |_| "accepts".into());
        let n = match &naive {
            Some(Err(e)) => e.clone(),
            Some(Ok(_)) => "accepts".into(),
            None => "has no host model".into(),
        };
        format!("{}: the destination's QEMU driver says {e}, the reference model {n}", what())
    });
    if unknown.is_empty() {
        let got = naive_cpu(def);
        let none = NaiveHost { vendor: None, model: None, explicit: Vec::new(), all: Default::default() };
        let (at_start, at_dest) = (naive_visible(gm, &got, &none), naive_visible(dm, &got, &none));
        let model = |m: &X86Map| def.model.as_deref().and_then(|n| model_names(m, n)).unwrap_or_default();
        let redefined: BTreeSet<String> = model(gm).symmetric_difference(&model(dm)).cloned().collect();
        let changed: Vec<String> =
            at_start.symmetric_difference(&at_dest).filter(|n| !redefined.contains(*n)).cloned().collect();
        a.check(changed.is_empty(), Invariant::CpuStable, || {
            format!("{}: features changed: {}", what(), changed.join(" "))
        });
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(features: &[(&str, Policy)]) -> NaiveCpu {
        NaiveCpu {
            mode: CpuMode::Custom,
            match_: CpuMatch::Exact,
            model: Some("Haswell".into()),
            vendor: None,
            features: features.iter().map(|&(n, p)| (n.to_string(), p)).collect(),
        }
    }

    #[test]
    fn update_diff_names_changed_and_extra_features_then_differing_headers() {
        let expected = cpu(&[("vmx", Policy::Require), ("aes", Policy::Disable)]);
        let got = cpu(&[("vmx", Policy::Optional), ("aes", Policy::Disable), ("pdpe1gb", Policy::Require)]);
        assert_eq!(update_diff(&got, &expected), "vmx=require +pdpe1gb=require");
        let mut other = got.clone();
        other.model = Some("Skylake-Client".into());
        assert_eq!(
            update_diff(&other, &expected),
            "vmx=require +pdpe1gb=require (engine: custom exact Skylake-Client -; reference: custom exact Haswell -)"
        );
        assert_eq!(update_diff(&expected, &expected), "");
    }

    #[test]
    fn keep_per_invariant_keeps_the_first_ones_of_each_invariant_in_order() {
        let v = |invariant, i: usize| Violation { invariant, detail: i.to_string() };
        let found: Vec<Violation> = (0..KEEP_PER_INVARIANT + 5)
            .flat_map(|i| [v(Invariant::Fast, i), v(Invariant::Pool, i)])
            .chain([v(Invariant::Plan, 0)])
            .collect();
        let kept = keep_per_invariant(found);
        assert_eq!(kept.len(), 2 * KEEP_PER_INVARIANT + 1);
        let of = |inv| kept.iter().filter(|k| k.invariant == inv).map(|k| k.detail.clone()).collect::<Vec<_>>();
        let first: Vec<String> = (0..KEEP_PER_INVARIANT).map(|i| i.to_string()).collect();
        assert_eq!(of(Invariant::Fast), first);
        assert_eq!(of(Invariant::Pool), first);
        assert_eq!(kept[0].invariant, Invariant::Fast);
        assert_eq!(kept[1].invariant, Invariant::Pool);
        assert_eq!(kept.last().unwrap().invariant, Invariant::Plan);
    }
}
