//! `virCPUx86Baseline` on names (pack README 4.4), up to the naming of the result.

use crate::names::{all, Names};
use crate::vendor::model_vendor;
use cpufleet_engine::map::X86Map;
use cpufleet_engine::CpuDef;

/// What the baseline decides before naming the result: the feature set, the vendor the result
/// carries, and the distinct input model names. (`Err` from [`baseline`]: libvirt fails.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Baseline {
    /// The intersection of the inputs' ALL sets.
    pub features: Names,
    /// The working vendor (steps 2 and 4), used to filter decode candidates.
    pub working_vendor: Option<String>,
    /// The vendor written in the result (step 8): the working vendor when every CPU states one.
    pub vendor: Option<String>,
    /// The distinct input model names, first occurrence first.
    pub names: Vec<String>,
}

/// The intersection of the CPUs' `x86ModelFromCPU(ALL)` sets (empty for no CPU). Err: a CPU
/// with unknown names.
pub fn intersection(map: &X86Map, cpus: &[CpuDef]) -> Result<Names, String> {
    let mut sets = cpus.iter().map(|c| all(map, c));
    let Some(first) = sets.next() else { return Ok(Names::new()) };
    sets.try_fold(first?, |acc, s| Ok(acc.intersection(&s?).cloned().collect()))
}

/// The vendor a later input brings (step 4): its stated vendor, which must agree with its
/// model's, else its model's vendor. Err: the stated and model vendors differ.
fn candidate_vendor(map: &X86Map, cpu: &CpuDef) -> Result<Option<String>, String> {
    let mv = model_vendor(map, cpu);
    match &cpu.vendor {
        Some(v) if mv.is_some_and(|m| m != v) => Err(format!("vendor {v} differs from its model's {mv:?}")),
        Some(v) => Ok(Some(v.clone())),
        None => Ok(mv.map(str::to_string)),
    }
}

/// Steps 1-8: every CPU needs a model; the first CPU's stated vendor (if any) must be a map
/// vendor and starts the working vendor; every later CPU's vendor (`candidate_vendor`) must be
/// a map vendor equal to the working one (or becomes it); the result's vendor is written only
/// when every CPU states one; an empty intersection fails.
pub fn baseline(map: &X86Map, cpus: &[CpuDef]) -> Result<Baseline, String> {
    if cpus.is_empty() || cpus.iter().any(|c| c.model.is_none()) {
        return Err("no CPUs or a CPU without model".into());
    }
    all(map, &cpus[0])?;
    let mut working = match &cpus[0].vendor {
        None => None,
        Some(v) if map.vendor(v).is_some() => Some(v.clone()),
        Some(v) => return Err(format!("unknown vendor {v}")),
    };
    let mut names: Vec<String> = Vec::new();
    for cpu in cpus {
        let name = cpu.model.clone().unwrap_or_default();
        if !names.contains(&name) {
            names.push(name);
        }
    }
    for cpu in &cpus[1..] {
        all(map, cpu)?;
        match (candidate_vendor(map, cpu)?, &working) {
            (None, _) => {}
            (Some(c), None) if map.vendor(&c).is_none() => return Err(format!("unknown vendor {c}")),
            (Some(c), None) => working = Some(c),
            (Some(c), Some(w)) if *w != c => return Err(format!("vendors do not match: {w} vs {c}")),
            (Some(_), Some(_)) => {}
        }
    }
    let features = intersection(map, cpus)?;
    if features.is_empty() {
        return Err("no common features".into());
    }
    let output_vendor = cpus.iter().all(|c| c.vendor.is_some());
    let vendor = if output_vendor { working.clone() } else { None };
    Ok(Baseline { features, working_vendor: working, vendor, names })
}
