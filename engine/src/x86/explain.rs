//! Explaining a baseline: which input CPUs limit it, and what each input loses under it.
//!
//! Not a libvirt function: libvirt answers `cpu-baseline` without saying why. The explanation is
//! computed with libvirt's own baseline ([`BaselineAcc`], `virCPUx86Baseline`) run again without
//! some of the inputs, so every "without them" answer is exactly what `virsh cpu-baseline` would
//! print for the remaining CPUs.
//!
//! Inputs are the *distinct* baseline inputs of a pool in first-occurrence order, each with the
//! number of CPUs it stands for (folding distinct inputs in that order gives the same result as
//! folding every CPU: intersection is idempotent, the vendor is adopted from the first CPU that
//! has one, and the preferred model names act as a set). Removal candidates are each distinct
//! input alone, and every group of distinct inputs that share a model name (three hosts decoded
//! as `kvm64` with different extra features force `kvm64` only together).

use super::baseline::{BaselineAcc, BaselineInput};
use super::model::{model_from_cpu, Sel};
use crate::cpu::CpuDef;
use crate::error::CpuError;
use crate::features::FeatureSet;
use crate::map::X86Map;
use std::collections::HashMap;

/// One distinct input CPU of a pool and how many CPUs of the pool it stands for.
#[derive(Clone, Debug)]
pub struct DistinctInput {
    pub input: BaselineInput,
    pub count: usize,
}

/// A set of inputs whose removal would change the baseline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Indices into the distinct inputs, ascending.
    pub inputs: Vec<usize>,
    /// CPUs of the pool these stand for (the sum of their counts).
    pub cpus: usize,
    /// The baseline of the remaining CPUs.
    pub without: CpuDef,
    /// Features the baseline of the remaining CPUs provides that the baseline does not.
    pub gained: FeatureSet,
    /// Features the baseline provides that the one without them does not (rare: a different
    /// model choice can drop a non-migratable feature).
    pub lost: FeatureSet,
}

/// Why a baseline is what it is.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// Every feature the baseline provides (its model's plus its required features).
    pub provides: FeatureSet,
    /// The limiting input sets, most features gained first (then fewest CPUs, then input order).
    pub limits: Vec<Limit>,
    /// Per distinct input: the features it has that the baseline does not offer (with
    /// `migratable`, non-migratable features are not counted as lost: no baseline offers them).
    pub lost: Vec<FeatureSet>,
}

/// The features a CPU definition provides: its model's features plus required ones, minus
/// disabled and forbidden ones (`x86ModelFromCPU(cpu, ALL)`).
pub fn provided(map: &X86Map, cpu: &CpuDef) -> Result<FeatureSet, CpuError> {
    Ok(model_from_cpu(map, cpu, Sel::All)?.features)
}

/// The baseline accumulator over the distinct inputs not in `skip` (None when every input is
/// skipped).
fn fold_without(
    map: &X86Map,
    inputs: &[DistinctInput],
    skip: &dyn Fn(usize) -> bool,
) -> Result<Option<BaselineAcc>, CpuError> {
    let mut acc: Option<BaselineAcc> = None;
    for (i, d) in inputs.iter().enumerate() {
        if skip(i) {
            continue;
        }
        match acc.as_mut() {
            None => acc = Some(BaselineAcc::new(&d.input)?),
            Some(a) => a.add(map, &d.input)?,
        }
    }
    Ok(acc)
}

/// Explains `baseline`, the result of `virCPUx86Baseline` over `inputs` (distinct, in
/// first-occurrence order) with `migratable`. Fails only when the baseline itself fails.
pub fn explain(map: &X86Map, inputs: &[DistinctInput], migratable: bool) -> Result<Explanation, CpuError> {
    let none = FeatureSet::new();
    let unoffered = if migratable { &map.non_migratable } else { &none };
    explain_with(map, inputs, &|acc: &BaselineAcc| acc.finish(map, migratable), unoffered)
}

/// [`explain`] for a baseline that `finish` names from the accumulator of its inputs (a
/// hypervisor's, `Hypervisor::baseline_finish`: the guests' view); `unoffered` are the features
/// no such baseline offers (not counted as lost).
pub fn explain_with(
    map: &X86Map,
    inputs: &[DistinctInput],
    finish: &dyn Fn(&BaselineAcc) -> Result<CpuDef, CpuError>,
    unoffered: &FeatureSet,
) -> Result<Explanation, CpuError> {
    let full = fold_without(map, inputs, &|_| false)?.ok_or(CpuError::NoCpus)?;
    let result = finish(&full)?;
    let provides = provided(map, &result)?;
    let mut limits = Vec::new();
    for group in candidates(inputs, &full) {
        let rest = match fold_without(map, inputs, &|i| group.binary_search(&i).is_ok()) {
            Ok(Some(acc)) => acc,
            // Removing everything, or a removal after which the rest fails (cannot happen for a
            // baseline that succeeded, but an explanation never turns into an error).
            Ok(None) | Err(_) => continue,
        };
        if rest.same_state(&full) {
            continue;
        }
        let Ok(without) = finish(&rest) else { continue };
        let Ok(has) = provided(map, &without) else { continue };
        let (gained, lost) = (has.difference(&provides), provides.difference(&has));
        if gained.is_empty() && lost.is_empty() && without.model == result.model {
            continue;
        }
        let cpus = group.iter().map(|&i| inputs[i].count).sum();
        limits.push(Limit { inputs: group, cpus, without, gained, lost });
    }
    limits.sort_by(|a, b| {
        b.gained.count().cmp(&a.gained.count()).then(a.cpus.cmp(&b.cpus)).then_with(|| a.inputs.cmp(&b.inputs))
    });
    let offered = provides.union(unoffered);
    let lost = inputs.iter().map(|d| d.input.features.difference(&offered)).collect();
    Ok(Explanation { provides, limits, lost })
}

/// The removal candidates whose removal can change the accumulator: a single input that is the
/// only one lacking some feature the others share, the only one with its model name, or one that
/// decides the vendor; and every model-name group of two or more inputs. Exact filter: any
/// other single removal leaves the intersection, the set of model names and the vendor state as
/// they are, and so the result (`BaselineAcc::finish` reads nothing else).
fn candidates(inputs: &[DistinctInput], full: &BaselineAcc) -> Vec<Vec<usize>> {
    let n = inputs.len();
    // suffix[i] = intersection of inputs[i..].
    let mut suffix = vec![FeatureSet::new(); n + 1];
    if n > 0 {
        suffix[n - 1] = inputs[n - 1].input.features;
        for i in (0..n - 1).rev() {
            suffix[i] = inputs[i].input.features.intersection(&suffix[i + 1]);
        }
    }
    let vendor_decided = inputs.iter().position(|d| d.input.vendor.is_some() || d.input.model_vendor.is_some());
    // The inputs of each model name, in input order (names in first-occurrence order): one
    // pass, so that a pool of many distinct CPUs stays linear.
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, d) in inputs.iter().enumerate() {
        let g = *by_name.entry(d.input.model_name.as_str()).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    let mut out = Vec::new();
    let mut prefix: Option<FeatureSet> = None;
    for (i, d) in inputs.iter().enumerate() {
        let rest = match (prefix, i + 1 < n) {
            (Some(p), true) => p.intersection(&suffix[i + 1]),
            (Some(p), false) => p,
            (None, true) => suffix[i + 1],
            (None, false) => FeatureSet::new(),
        };
        let same_name = groups[by_name[d.input.model_name.as_str()]].len();
        let vendor = d.input.vendor.is_none() || vendor_decided.is_none_or(|v| i <= v);
        if &rest != full.features() || same_name == 1 || vendor {
            out.push(vec![i]);
        }
        prefix = Some(prefix.map_or(d.input.features, |p| p.intersection(&d.input.features)));
    }
    // Model-name groups of two or more, in name order (as before: sorted names).
    let mut named: Vec<(&str, Vec<usize>)> =
        by_name.into_iter().map(|(name, g)| (name, std::mem::take(&mut groups[g]))).collect();
    named.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.extend(named.into_iter().map(|(_, g)| g).filter(|g| g.len() >= 2));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::map::CpuMap;
    use crate::version::LibvirtVersion;
    use crate::x86::baseline;
    use crate::{CpuType, Feature, Policy};

    fn host(map: &X86Map, model: &str, extra: &[&str], drop: &[&str]) -> CpuDef {
        let mut cpu = CpuDef::new(CpuType::Host);
        cpu.model = Some(model.into());
        cpu.vendor = Some("Intel".into());
        let idx = map.model_index(model).unwrap();
        let mut names: Vec<String> = map.models[idx].features.iter().map(|f| map.feature_name(f).to_string()).collect();
        names.retain(|n| !drop.contains(&n.as_str()));
        names.extend(extra.iter().map(|s| s.to_string()));
        // A host CPU lists its extra features beyond the model; listing all of them is the
        // same CPU to baseline (x86ModelFromCPU adds them to the model's).
        cpu.model = Some(model.into());
        cpu.features = names.into_iter().map(|n| Feature { name: n, policy: Some(Policy::Require) }).collect();
        cpu
    }

    fn distinct(map: &X86Map, cpus: &[CpuDef]) -> Vec<DistinctInput> {
        let mut out: Vec<DistinctInput> = Vec::new();
        for (i, c) in cpus.iter().enumerate() {
            let input = BaselineInput::from_cpu(map, c, i).unwrap();
            match out.iter_mut().find(|d| d.input == input) {
                Some(d) => d.count += 1,
                None => out.push(DistinctInput { input, count: 1 }),
            }
        }
        out
    }

    #[test]
    fn one_old_host_limits_a_pool_and_its_removal_is_the_baseline_of_the_rest() {
        let map = CpuMap::embedded(LibvirtVersion::V11_3_0).unwrap();
        let x = &map.x86;
        let mut cpus = vec![host(x, "Skylake-Client", &[], &[]); 5];
        cpus.push(host(x, "Haswell", &[], &[]));
        let ex = explain(x, &distinct(x, &cpus), false).unwrap();
        let full = baseline(x, &cpus, false).unwrap();
        assert_eq!(ex.provides, provided(x, &full).unwrap());
        let first = &ex.limits[0];
        assert_eq!((first.inputs.clone(), first.cpus), (vec![1], 1), "the Haswell host limits the pool");
        assert_eq!(first.without, baseline(x, &cpus[..5], false).unwrap(), "without it: the rest's own baseline");
        assert!(!first.gained.is_empty() && first.lost.is_empty());
        // The Skylake hosts lose what Haswell lacks; Haswell loses nothing.
        assert!(!ex.lost[0].is_empty());
        assert!(ex.lost[1].is_empty());
    }

    #[test]
    fn identical_hosts_limit_nothing_and_every_single_removal_is_checked_exactly() {
        let map = CpuMap::embedded(LibvirtVersion::V9_0_0).unwrap();
        let x = &map.x86;
        let cpus = vec![host(x, "Broadwell", &[], &[]); 4];
        let ex = explain(x, &distinct(x, &cpus), false).unwrap();
        assert!(ex.limits.is_empty());
        assert!(ex.lost.iter().all(FeatureSet::is_empty));
        // Brute force on a mixed pool: every candidate the filter drops changes nothing.
        let mut pool = vec![host(x, "Broadwell", &[], &[]), host(x, "Broadwell", &[], &["rtm"])];
        pool.push(host(x, "Skylake-Client", &[], &[]));
        pool.push(host(x, "Broadwell", &["pdpe1gb"], &[]));
        let inputs = distinct(x, &pool);
        let ex = explain(x, &inputs, false).unwrap();
        let full = baseline(x, &pool, false).unwrap();
        for i in 0..pool.len() {
            let rest: Vec<CpuDef> = pool.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, c)| c.clone()).collect();
            let without = baseline(x, &rest, false).unwrap();
            let listed = ex.limits.iter().any(|l| l.inputs == vec![i]);
            let changes = without.model != full.model || provided(x, &without).unwrap() != provided(x, &full).unwrap();
            assert_eq!(listed, changes, "input {i}: listed {listed}, changes {changes}");
        }
    }
}
