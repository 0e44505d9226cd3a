//! `x86Decode`, `x86DataToCPU`, `x86DecodeUseCandidate`: CPU data to a named model plus features.

use super::model::{decode_signature, model_has_signature, X86Data};
use crate::cpu::{CpuDef, CpuType, Fallback, Feature, Policy, Signature};
use crate::error::CpuError;
use crate::features::FeatureSet;
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

/// A decoded candidate: model index and its feature list.
struct Candidate {
    model: usize,
    features: Vec<Feature>,
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
    let mut model_data = model.features;
    if let Some(e) = entry {
        for b in &e.blockers {
            if let Some(id) = map.feature_id(b) {
                if !data.contains(id) {
                    model_data.insert(id);
                }
            }
        }
    }
    let extra = data.difference(&model_data);
    let missing = model_data.difference(data);
    let mut features: Vec<Feature> = Vec::with_capacity(extra.count() + missing.count() + model.removed.len());
    features.extend(extra.iter().map(|id| Feature::new(map.feature_name(id), Some(Policy::Require))));
    features.extend(missing.iter().map(|id| Feature::new(map.feature_name(id), Some(Policy::Disable))));
    if cpu_type == CpuType::Guest {
        for &id in &model.removed {
            let name = map.feature_name(id);
            if !features.iter().any(|f| f.name == name) {
                features.push(Feature::new(name, Some(Policy::Disable)));
            }
        }
    }
    Candidate { model: idx, features }
}

/// `virCPUx86CompareCandidateFeatureList` score, reproducing libvirt's loop literally (the
/// bound shrinks while it runs, so trailing disabled features may be skipped).
fn score(features: &[Feature], cpu_type: CpuType) -> (usize, usize) {
    if cpu_type == CpuType::Host {
        return (features.len(), 0);
    }
    let mut n = features.len();
    let mut dis = 0usize;
    let mut pen = 2usize;
    let mut i = 0;
    while i < n {
        if features[i].policy == Some(Policy::Disable) {
            n -= 1;
            dis += pen;
            pen += 1;
        }
        i += 1;
    }
    (n + dis, dis)
}

/// `x86DecodeUseCandidate`: 0 keep current, 1 take, 2 take and stop.
fn use_candidate(
    map: &X86Map,
    current: Option<&Candidate>,
    cand: &mut Candidate,
    cpu_type: CpuType,
    signature: u32,
    preferred: &[String],
) -> u8 {
    let model: &X86Model = &map.models[cand.model];
    if (cpu_type == CpuType::Host && !model.decode_host) || (cpu_type == CpuType::Guest && !model.decode_guest) {
        return 0;
    }
    if cpu_type == CpuType::Host {
        if cand.features.iter().any(|f| f.policy == Some(Policy::Disable)) {
            return 0;
        }
        for f in &mut cand.features {
            f.policy = None;
        }
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
    let (score_cur, dis_cur) = score(&cur.features, cpu_type);
    let (score_cand, dis_cand) = score(&cand.features, cpu_type);
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
        let mut cand = data_to_candidate(map, &data.features, idx, entry, cpu.cpu_type);
        match use_candidate(map, best.as_ref(), &mut cand, cpu.cpu_type, data.signature, preferred) {
            0 => {}
            1 => best = Some(cand),
            _ => {
                best = Some(cand);
                break;
            }
        }
    }
    let mut best = best.ok_or(CpuError::NoCandidate)?;
    if opts.migratable {
        best.features.retain(|f| map.feature_id(&f.name).is_none_or(|id| !map.non_migratable.contains(id)));
    }
    if let Some(v) = data.vendor {
        cpu.vendor = Some(map.vendors[v].name.clone());
    }
    cpu.model = Some(map.models[best.model].name.clone());
    cpu.features = best.features;
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
