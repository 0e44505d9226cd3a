//! `x86ModelFromCPU` on sets of names (pack README 4.1).

use cpufleet_engine::map::X86Map;
use cpufleet_engine::x86::{self, Sel};
use cpufleet_engine::{CpuDef, CpuType, Policy};
use std::collections::BTreeSet;

/// A set of feature names.
pub type Names = BTreeSet<String>;

/// Which features [`from_cpu`] collects: one policy, or ALL (libvirt's `-1`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// The model's features, plus `force`/`require` features, minus `disable`/`forbid` ones.
    All,
    /// Only the features of this policy (and the model's, for `require`).
    Only(Policy),
}

/// The feature names of a map model (`None`: not a map model).
pub fn model_names(map: &X86Map, model: &str) -> Option<Names> {
    let m = map.model(model)?;
    Some(m.features.iter().map(|id| map.feature_name(id).to_string()).collect())
}

/// `x86ModelFromCPU(cpu, pick)`: a host CPU asked for any policy but `require` gives the empty
/// set; the model's features count for ALL and `require`; a feature without a policy counts as
/// `require`; features of other policies are skipped before their name is looked up. Err: an
/// unknown model, or an unknown name among the features collected.
pub fn from_cpu(map: &X86Map, cpu: &CpuDef, pick: Pick) -> Result<Names, String> {
    let takes_model = matches!(pick, Pick::All | Pick::Only(Policy::Require));
    if cpu.cpu_type == CpuType::Host && !takes_model {
        return Ok(Names::new());
    }
    let mut set = Names::new();
    if let (Some(m), true) = (&cpu.model, takes_model) {
        set = model_names(map, m).ok_or_else(|| format!("unknown model {m}"))?;
    }
    for f in &cpu.features {
        let p = f.effective_policy();
        let wanted = match pick {
            Pick::All => p != Policy::Optional,
            Pick::Only(q) => p == q,
        };
        if !wanted {
            continue;
        }
        if map.feature_id(&f.name).is_none() {
            return Err(format!("unknown feature {}", f.name));
        }
        match (pick, p) {
            (Pick::All, Policy::Disable | Policy::Forbid) => {
                set.remove(&f.name);
            }
            _ => {
                set.insert(f.name.clone());
            }
        }
    }
    Ok(set)
}

/// `x86ModelFromCPU(cpu, ALL)`: the features a CPU provides.
pub fn all(map: &X86Map, cpu: &CpuDef) -> Result<Names, String> {
    from_cpu(map, cpu, Pick::All)
}

/// The map's non-migratable feature names.
pub fn non_migratable(map: &X86Map) -> Names {
    map.non_migratable.iter().map(|id| map.feature_name(id).to_string()).collect()
}

/// The names a CPU provides according to the *engine* (`x86::model_from_cpu(ALL)`), to compare
/// engine results with the model.
pub fn provided(map: &X86Map, cpu: &CpuDef) -> Result<Names, String> {
    x86::model_from_cpu(map, cpu, Sel::All)
        .map(|m| m.features.iter().map(|id| map.feature_name(id).to_string()).collect())
        .map_err(|e| e.to_string())
}

/// `a − b`.
pub fn minus(a: &Names, b: &Names) -> Names {
    a.difference(b).cloned().collect()
}
