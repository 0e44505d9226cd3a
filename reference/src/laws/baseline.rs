//! The `baseline_laws` target: the baseline laws of `engine/tests/laws.rs` on one pool.

use super::{check, violation, LawViolation};
use crate::baseline::intersection;
use crate::names::{all, minus, model_names, non_migratable, provided, Names};
use crate::vendor::vendor_consistent;
use cpufleet_engine::cpu::{CpuDef, CpuMode, CpuType, Fallback, Policy};
use cpufleet_engine::map::{CpuMap, X86Map};
use cpufleet_engine::x86;
use cpufleet_engine::CpuError;
use std::collections::BTreeSet;

/// The input of the `baseline_laws` target: a pool of x86 CPUs (host or guest type, any vendor
/// situation), a permutation of it, a split point and the migratable flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaselinePool {
    /// The CPUs, in baseline order.
    pub cpus: Vec<CpuDef>,
    /// A permutation of `0..cpus.len()` (entries out of range or repeated are ignored and the
    /// missing indices appended, so any vector is accepted).
    pub order: Vec<usize>,
    /// The pool is partitioned into `cpus[..split]` and `cpus[split..]` (clamped).
    pub split: usize,
    /// `virsh cpu-baseline --migratable`.
    pub migratable: bool,
}

/// What every step of [`baseline_laws`] shares.
struct Ctx<'a> {
    x: &'a X86Map,
    cpus: &'a [CpuDef],
    mig: bool,
    /// The map's non-migratable features.
    nm: Names,
    consistent: bool,
    /// The intersection of the inputs' ALL sets.
    base: Names,
    whole: Result<CpuDef, CpuError>,
}

impl Ctx<'_> {
    fn provided(&self, r: &CpuDef) -> Result<Names, LawViolation> {
        provided(self.x, r).map_err(|e| violation("baseline result is a valid CPU", e))
    }

    fn minus_nm(&self, s: &Names) -> Names {
        minus(s, &self.nm)
    }
}

fn permute(cpus: &[CpuDef], order: &[usize]) -> Vec<CpuDef> {
    let mut used = vec![false; cpus.len()];
    let mut out = Vec::with_capacity(cpus.len());
    for &i in order {
        if i < cpus.len() && !used[i] {
            used[i] = true;
            out.push(cpus[i].clone());
        }
    }
    out.extend(cpus.iter().zip(used).filter(|(_, u)| !u).map(|(c, _)| c.clone()));
    out
}

/// The baseline laws on one pool. `base` is the intersection of the inputs' ALL name sets (the
/// reference model), `NM` the map's non-migratable features. Pools with a CPU without a model
/// or with unknown names are skipped. Checked:
/// - feature set: without `migratable`, the result provides exactly `base`; with it, exactly
///   `base − NM` outside NM, and inside NM exactly what its chosen model lists (the decode drops
///   every NM feature entry, `require` and `disable` alike);
/// - every input compares identical or superset against the result (with `migratable`: exactly
///   when the input has the NM features the result's model lists);
/// - order independence (vendor-consistent pools): same success, same features, same vendor;
/// - monotonicity: dropping the last CPU never removes a feature, nor turns success into failure;
/// - associativity in effect: the baseline of the baselines of `cpus[..split]` and
///   `cpus[split..]` provides the same features as the baseline of the whole, and (when every
///   CPU states the same vendor, consistently) succeeds exactly when the whole does;
/// - idempotence: the baseline of three copies of the first CPU provides exactly its features.
pub fn baseline_laws(map: &CpuMap, pool: &BaselinePool) -> Result<(), LawViolation> {
    let x = &map.x86;
    let cpus = &pool.cpus;
    if cpus.is_empty() || cpus.iter().any(|c| c.model.is_none() || all(x, c).is_err()) {
        return Ok(());
    }
    let ctx = Ctx {
        x,
        cpus,
        mig: pool.migratable,
        nm: non_migratable(x),
        consistent: vendor_consistent(x, cpus),
        base: intersection(x, cpus).unwrap_or_default(),
        whole: x86::baseline(x, cpus, pool.migratable),
    };
    if ctx.consistent {
        check(ctx.whole.is_ok() != ctx.base.is_empty(), "baseline fails only on an empty intersection", || {
            format!("{:?} with base {:?}", ctx.whole, ctx.base)
        })?;
    }
    if let Ok(r) = &ctx.whole {
        result_laws(&ctx, r)?;
    }
    order_laws(&ctx, &pool.order)?;
    monotonicity_laws(&ctx)?;
    associativity_laws(&ctx, pool.split)?;
    idempotence_laws(x, &cpus[0])
}

/// The result's features and that every input runs it.
fn result_laws(ctx: &Ctx, r: &CpuDef) -> Result<(), LawViolation> {
    let got = ctx.provided(r)?;
    let model_nm: Names = r
        .model
        .as_deref()
        .and_then(|m| model_names(ctx.x, m))
        .unwrap_or_default()
        .intersection(&ctx.nm)
        .cloned()
        .collect();
    let base = &ctx.base;
    if ctx.mig {
        check(ctx.minus_nm(&got) == ctx.minus_nm(base), "baseline provides the intersection (migratable)", || {
            format!("got {got:?}\nbase {base:?}")
        })?;
        let got_nm: Names = got.intersection(&ctx.nm).cloned().collect();
        check(got_nm == model_nm, "migratable baseline keeps exactly its model's NM features", || {
            format!("got {got_nm:?}, model {model_nm:?}")
        })?;
    } else {
        check(got == *base, "baseline provides the intersection", || format!("got {got:?}\nbase {base:?}"))?;
    }
    for (i, c) in ctx.cpus.iter().enumerate() {
        let v = x86::compare(ctx.x, c, r).verdict;
        let h = all(ctx.x, c).unwrap_or_default();
        let expect = !ctx.mig || model_nm.is_subset(&h);
        check(v.is_compatible() == expect, "every input runs the baseline", || {
            format!("input {i} gives {v:?}, expected compatible={expect}")
        })?;
    }
    Ok(())
}

/// Order independence.
fn order_laws(ctx: &Ctx, order: &[usize]) -> Result<(), LawViolation> {
    let permuted = permute(ctx.cpus, order);
    let other = x86::baseline(ctx.x, &permuted, ctx.mig);
    let whole = &ctx.whole;
    if ctx.consistent {
        check(other.is_ok() == whole.is_ok(), "baseline is order-independent (success)", || {
            format!("{whole:?}\nvs permuted {other:?}")
        })?;
    }
    if let (Ok(a), Ok(b)) = (whole, &other) {
        let (fa, fb) = (ctx.provided(a)?, ctx.provided(b)?);
        check(ctx.minus_nm(&fa) == ctx.minus_nm(&fb), "baseline is order-independent (features)", || {
            format!("{fa:?}\nvs permuted {fb:?}")
        })?;
        check(!ctx.consistent || a.vendor == b.vendor, "baseline is order-independent (vendor)", || {
            format!("{:?} vs {:?}", a.vendor, b.vendor)
        })?;
    }
    Ok(())
}

/// Monotonicity: dropping the last CPU.
fn monotonicity_laws(ctx: &Ctx) -> Result<(), LawViolation> {
    let cpus = ctx.cpus;
    if cpus.len() < 2 {
        return Ok(());
    }
    let fewer = x86::baseline(ctx.x, &cpus[..cpus.len() - 1], ctx.mig);
    if ctx.consistent && fewer.is_err() {
        check(ctx.whole.is_err(), "adding a CPU never turns failure into success", || format!("{:?}", ctx.whole))?;
    }
    if let (Ok(small), Ok(big)) = (&fewer, &ctx.whole) {
        let (fs, fb) = (ctx.minus_nm(&ctx.provided(small)?), ctx.minus_nm(&ctx.provided(big)?));
        check(fb.is_subset(&fs), "adding a CPU never adds a feature", || format!("{fb:?}\nnot within {fs:?}"))?;
    }
    Ok(())
}

/// Associativity in effect (not migratable: the NM rule is not associative).
fn associativity_laws(ctx: &Ctx, split: usize) -> Result<(), LawViolation> {
    let (x, cpus) = (ctx.x, ctx.cpus);
    let k = split.clamp(1, cpus.len());
    if k >= cpus.len() {
        return Ok(());
    }
    let flat = x86::baseline(x, cpus, false);
    let parts = (x86::baseline(x, &cpus[..k], false), x86::baseline(x, &cpus[k..], false));
    let outer = match &parts {
        (Ok(a), Ok(b)) => Some(x86::baseline(x, &[a.clone(), b.clone()], false)),
        _ => None,
    };
    if let (Ok(w), Some(Ok(o))) = (&flat, &outer) {
        let (fw, fo) = (ctx.provided(w)?, ctx.provided(o)?);
        check(fw == fo, "baseline of baselines == baseline (features)", || format!("{fw:?}\nvs {fo:?}"))?;
    }
    let stated = cpus.iter().map(|c| c.vendor.as_deref()).collect::<BTreeSet<_>>();
    if ctx.consistent && stated.len() == 1 && !stated.contains(&None) {
        let nested_ok = matches!(outer, Some(Ok(_)));
        check(flat.is_ok() == nested_ok, "baseline of baselines == baseline (success)", || {
            format!("whole {flat:?}\nparts {parts:?}\nouter {outer:?}")
        })?;
    }
    Ok(())
}

/// Idempotence: the baseline of three copies of `c0`.
fn idempotence_laws(x: &X86Map, c0: &CpuDef) -> Result<(), LawViolation> {
    if !vendor_consistent(x, std::slice::from_ref(c0)) {
        return Ok(());
    }
    let copies = [c0.clone(), c0.clone(), c0.clone()];
    let own = all(x, c0).unwrap_or_default();
    let r = match x86::baseline(x, &copies, false) {
        Ok(r) => r,
        Err(e) => return check(own.is_empty(), "baseline of copies fails only without features", || e.to_string()),
    };
    let got = provided(x, &r).map_err(|e| violation("baseline result is a valid CPU", e))?;
    check(got == own, "baseline of copies keeps every feature", || format!("{got:?}\nvs {own:?}"))?;
    let decodable = x.model(c0.model.as_deref().unwrap_or("")).is_some_and(|m| m.decode_guest);
    check((r.model == c0.model) == decodable, "baseline of copies keeps its model", || {
        format!("{:?} for {:?}", r.model, c0.model)
    })?;
    let forbid = r.fallback == Fallback::Forbid;
    check(forbid == decodable, "fallback forbid iff the single input model is kept", || format!("{:?}", r.fallback))
}

/// Builds a CPU for the fuzz and test generators: model `model` of the x86 map, host or guest,
/// with `features` (map feature names and policies; host CPUs drop the policy).
pub fn x86_cpu(
    cpu_type: CpuType,
    model: &str,
    vendor: Option<&str>,
    features: impl IntoIterator<Item = (String, Policy)>,
) -> CpuDef {
    let mut cpu = CpuDef::new(cpu_type);
    cpu.model = Some(model.to_string());
    cpu.vendor = vendor.map(str::to_string);
    if cpu_type == CpuType::Host {
        cpu.arch = Some("x86_64".into());
    } else {
        cpu.mode = CpuMode::Custom;
    }
    for (name, p) in features {
        let policy = if cpu_type == CpuType::Host { None } else { Some(p) };
        cpu.set_feature(&name, policy);
    }
    cpu
}
