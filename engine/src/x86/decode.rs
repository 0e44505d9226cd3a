//! `x86Decode`, `x86DataToCPU`, `x86DecodeUseCandidate`: CPU data to a named model plus features.

use super::model::{decode_signature, model_has_signature, X86Data};
use crate::cpu::{CpuDef, CpuType, Fallback, Feature, Policy, Signature};
use crate::error::CpuError;
use crate::features::{FeatureId, FeatureSet};
use crate::map::{X86Map, X86Model};
use crate::xml::ModelListEntry;

/// Options of one decode.
#[derive(Clone, Copy, Default)]
pub struct DecodeOpts<'a> {
    /// The hypervisor's model list (`virDomainCapsCPUModels`), if any.
    pub models: Option<&'a [ModelListEntry]>,
    /// Preferred model names (baseline's input models). Empty counts as none.
    pub preferred: &'a [String],
    /// Drop non-migratable features from the result.
    pub migratable: bool,
}

/// A decoded candidate, as bitsets (the feature list is built for the chosen one only): the
/// data's features beyond the model (`require`), the model's features the data lacks
/// (`disable`), and for guests the model's removed features not already listed (`disable`).
struct Candidate {
    model: usize,
    extra: FeatureSet,
    missing: FeatureSet,
    removed: Vec<FeatureId>,
}

impl Candidate {
    /// The number of `disable` entries of the list.
    fn disabled(&self) -> usize {
        self.missing.count() + self.removed.len()
    }

    /// The feature list `x86DataToCPU` builds: extra features, then missing ones, then removed
    /// ones, each in map order; host CPUs carry no policy.
    fn features(&self, map: &X86Map, cpu_type: CpuType) -> Vec<Feature> {
        let (req, dis) = match cpu_type {
            CpuType::Host => (None, None),
            CpuType::Guest => (Some(Policy::Require), Some(Policy::Disable)),
        };
        let mut out = Vec::with_capacity(self.extra.count() + self.disabled());
        out.extend(self.extra.iter().map(|id| Feature::new(map.feature_name(id), req)));
        out.extend(self.missing.iter().map(|id| Feature::new(map.feature_name(id), dis)));
        out.extend(self.removed.iter().map(|&id| Feature::new(map.feature_name(id), dis)));
        out
    }
}

/// `x86DataFilterTSX`: broken TSX on some Haswell/Broadwell steppings.
fn filter_tsx(map: &X86Map, data: &mut X86Data) {
    let intel = data.vendor.is_some_and(|v| map.vendors[v].name == "Intel");
    if !intel {
        return;
    }
    let (family, model, stepping) = decode_signature(data.signature);
    if family == 6 && ((model == 63 && stepping < 4) || matches!(model, 60 | 69 | 70)) {
        for name in ["hle", "rtm"] {
            if let Some(id) = map.feature_id(name) {
                data.features.remove(id);
            }
        }
    }
}

/// `x86DataToCPU`: the candidate CPU for one model.
fn data_to_candidate(
    map: &X86Map,
    data: &FeatureSet,
    idx: usize,
    entry: Option<&ModelListEntry>,
    cpu_type: CpuType,
) -> Candidate {
    let model = &map.models[idx];
    let extra = data.difference(&model.features);
    let mut missing = model.features.difference(data);
    // The hypervisor's blockers are disabled too, unless the data has them beyond the model:
    // libvirt tests each blocker against the extras, after the two subtractions (so a blocker
    // that is a model feature the data has is disabled all the same).
    if let Some(e) = entry {
        for b in &e.blockers {
            if let Some(id) = map.feature_id(b) {
                if !extra.contains(id) {
                    missing.insert(id);
                }
            }
        }
    }
    let mut removed = Vec::new();
    if cpu_type == CpuType::Guest {
        for &id in &model.removed {
            if !extra.contains(id) && !missing.contains(id) && !removed.contains(&id) {
                removed.push(id);
            }
        }
    }
    Candidate { model: idx, extra, missing, removed }
}

/// `virCPUx86CompareCandidateFeatureList` score, reproducing libvirt's loop over the list
/// (`required` entries first, then `disabled` ones): the bound shrinks by one at each disabled
/// entry visited, so only the first ceil(disabled / 2) of them are counted, with penalties 2,
/// 3, 4, ...
fn score(cand: &Candidate, cpu_type: CpuType) -> (usize, usize) {
    let required = cand.extra.count();
    let disabled = cand.disabled();
    if cpu_type == CpuType::Host {
        return (required + disabled, 0);
    }
    let visited = disabled.div_ceil(2);
    let dis = 2 * visited + visited * visited.saturating_sub(1) / 2;
    (required + disabled - visited + dis, dis)
}

/// `x86DecodeUseCandidate`: 0 keep current, 1 take, 2 take and stop.
fn use_candidate(
    map: &X86Map,
    current: Option<&Candidate>,
    cand: &Candidate,
    cpu_type: CpuType,
    signature: u32,
    preferred: &[String],
) -> u8 {
    let model: &X86Model = &map.models[cand.model];
    if (cpu_type == CpuType::Host && !model.decode_host) || (cpu_type == CpuType::Guest && !model.decode_guest) {
        return 0;
    }
    if cpu_type == CpuType::Host && cand.disabled() > 0 {
        return 0;
    }
    let is_preferred = preferred.contains(&model.name);
    if is_preferred && preferred.len() == 1 {
        return 2;
    }
    let Some(cur) = current else { return 1 };
    if signature != 0 {
        let cur_sig = model_has_signature(&map.models[cur.model], signature);
        let cand_sig = model_has_signature(model, signature);
        if cur_sig && !cand_sig {
            return 0;
        }
        if !cur_sig && cand_sig {
            return 1;
        }
    }
    let (score_cur, dis_cur) = score(cur, cpu_type);
    let (score_cand, dis_cand) = score(cand, cpu_type);
    if score_cand < score_cur || (score_cand == score_cur && dis_cand < dis_cur) || (is_preferred && dis_cand < dis_cur)
    {
        return 1;
    }
    0
}

/// `x86Decode`: fills `cpu` (a stub: type, mode, fallback set) with vendor, model, features and
/// signature decoded from `data`.
pub fn decode_into(map: &X86Map, cpu: &mut CpuDef, data: &X86Data, opts: DecodeOpts) -> Result<(), CpuError> {
    let mut data = *data;
    filter_tsx(map, &mut data);
    let preferred: &[String] = opts.preferred;
    let single_preferred = if preferred.len() == 1 { Some(preferred[0].as_str()) } else { None };
    let mut best: Option<Candidate> = None;
    for idx in (0..map.models.len()).rev() {
        let model = &map.models[idx];
        let mut entry = None;
        if let Some(list) = opts.models {
            match list.iter().find(|e| e.name == model.name) {
                Some(e) => entry = Some(e),
                None => {
                    if single_preferred == Some(model.name.as_str()) && cpu.fallback != Fallback::Allow {
                        return Err(CpuError::Unsupported(format!(
                            "CPU model {} is not supported by hypervisor",
                            model.name
                        )));
                    }
                    continue;
                }
            }
        }
        if let (Some(dv), Some(mv)) = (data.vendor, model.vendor) {
            if dv != mv {
                continue;
            }
        }
        let cand = data_to_candidate(map, &data.features, idx, entry, cpu.cpu_type);
        match use_candidate(map, best.as_ref(), &cand, cpu.cpu_type, data.signature, preferred) {
            0 => {}
            1 => best = Some(cand),
            _ => {
                best = Some(cand);
                break;
            }
        }
    }
    let best = best.ok_or(CpuError::NoCandidate)?;
    let mut features = best.features(map, cpu.cpu_type);
    if opts.migratable {
        features.retain(|f| map.feature_id(&f.name).is_none_or(|id| !map.non_migratable.contains(id)));
    }
    if let Some(v) = data.vendor {
        cpu.vendor = Some(map.vendors[v].name.clone());
    }
    cpu.model = Some(map.models[best.model].name.clone());
    cpu.features = features;
    let (family, model, stepping) = decode_signature(data.signature);
    cpu.signature = if data.signature != 0 { Some(Signature { family, model, stepping }) } else { None };
    Ok(())
}

/// Decodes CPUID data to a host CPU (`cpuid_host`): type host, mode custom, arch x86_64.
pub fn decode_host(map: &X86Map, data: &X86Data) -> Result<CpuDef, CpuError> {
    let mut cpu = CpuDef::new(CpuType::Host);
    cpu.arch = Some("x86_64".into());
    decode_into(map, &mut cpu, data, DecodeOpts::default())?;
    Ok(cpu)
}

/// Decodes CPUID data to a guest CPU (`cpuid_guest`): match exact, fallback forbid.
pub fn decode_guest(map: &X86Map, data: &X86Data) -> Result<CpuDef, CpuError> {
    let mut cpu = CpuDef::new(CpuType::Guest);
    cpu.arch = Some("x86_64".into());
    cpu.fallback = Fallback::Forbid;
    decode_into(map, &mut cpu, data, DecodeOpts::default())?;
    Ok(cpu)
}
