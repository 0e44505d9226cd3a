//! `virCPUx86Update` (optional-to-require promotion, host-model), `virCPUx86Translate`,
//! `virCPUx86ExpandFeatures`, `virCPUx86UpdateLive`, `virCPUx86CopyMigratable`, has_feature.

use super::decode::{decode_into, DecodeOpts};
use super::model::{make_signature, model_from_cpu, Sel, X86Data};
use crate::cpu::{CpuCheck, CpuDef, CpuMatch, CpuMode, CpuType, Fallback, Feature, Policy};
use crate::error::CpuError;
use crate::features::FeatureSet;
use crate::map::X86Map;
use crate::version::LibvirtVersion;
use crate::xml::ModelListEntry;

/// `virCPUx86CopyMigratable`: the host without `migratable='no'` features.
pub fn copy_migratable(map: &X86Map, cpu: &CpuDef) -> CpuDef {
    let mut out = cpu.clone();
    out.features.retain(|f| map.feature_id(&f.name).is_none_or(|id| !map.non_migratable.contains(id)));
    out
}

/// `virCPUUpdate` + `virCPUx86Update`: what happens to a guest CPU when it starts on `host`.
/// Each `optional` feature becomes `require` (host has it) or `disable` (host lacks it); host-model
/// and `match='minimum'` become a custom CPU copied from the host; removed features become
/// `disable` (a fresh start: what `virsh`, the test suite and the QEMU driver's define path do).
pub fn update(map: &X86Map, guest: &mut CpuDef, host: Option<&CpuDef>) -> Result<(), CpuError> {
    update_with(map, guest, host, Policy::Disable)
}

/// [`update`] with the policy given to the guest model's removed features. libvirt 11.3.0's
/// `virCPUUpdate(arch, guest, host, removedPolicy)` appends them with `removed_policy` (the QEMU
/// driver passes `require` when it reconnects to or migrates a running domain); libvirt 9.0.0
/// always appends them as `disable`, so the argument is ignored under 9.0.0.
pub fn update_with(
    map: &X86Map,
    guest: &mut CpuDef,
    host: Option<&CpuDef>,
    removed_policy: Policy,
) -> Result<(), CpuError> {
    let removed_policy = if map.version().at_least_11_3() { removed_policy } else { Policy::Disable };
    let relative = match guest.mode {
        CpuMode::HostPassthrough | CpuMode::Maximum => return Ok(()),
        CpuMode::HostModel => true,
        CpuMode::Custom => {
            guest.match_ == CpuMatch::Minimum || guest.features.iter().any(|f| f.policy == Some(Policy::Optional))
        }
    };
    if relative {
        let host = host.ok_or_else(|| CpuError::Invalid("unknown host CPU model".into()))?;
        let host_data = model_from_cpu(map, host, Sel::All)?.features;
        for f in guest.features.iter_mut() {
            if f.policy == Some(Policy::Optional) {
                // `x86FeatureInData`: a pseudo-feature is known but never in a model's data.
                let supported = match map.feature_id(&f.name) {
                    Some(id) => host_data.contains(id),
                    None if is_kvm_feature(map, &f.name) => false,
                    None => return Err(CpuError::UnknownFeature(f.name.clone())),
                };
                f.policy = Some(if supported { Policy::Require } else { Policy::Disable });
            }
        }
        if guest.mode == CpuMode::HostModel || guest.match_ == CpuMatch::Minimum {
            update_host_model(guest, host);
        }
    }
    add_removed(map, guest, removed_policy)
}

/// Appends the guest model's removed features with `policy` unless a feature of that name is
/// listed (`virCPUx86AddRemovedFeatures`; requires a known model).
fn add_removed(map: &X86Map, guest: &mut CpuDef, policy: Policy) -> Result<(), CpuError> {
    let name = guest.model.as_deref().ok_or(CpuError::NoModel("guest CPU"))?;
    let model = map.model(name).ok_or_else(|| CpuError::UnknownModel(name.to_string()))?;
    for &id in &model.removed {
        guest.add_feature_if_missing(map.feature_name(id), Some(policy));
    }
    Ok(())
}

/// `x86UpdateHostModel`.
fn update_host_model(guest: &mut CpuDef, host: &CpuDef) {
    let mut features: Vec<Feature> =
        host.features.iter().map(|f| Feature::new(f.name.clone(), Some(f.policy.unwrap_or(Policy::Require)))).collect();
    let vendor_id = guest.vendor_id.clone().or_else(|| host.vendor_id.clone());
    for f in &guest.features {
        match features.iter_mut().find(|g| g.name == f.name) {
            Some(g) => g.policy = f.policy,
            None => features.push(f.clone()),
        }
    }
    if guest.mode != CpuMode::Custom {
        guest.vendor = host.vendor.clone();
        guest.vendor_id = vendor_id;
    }
    guest.model = host.model.clone();
    guest.features = features;
    guest.mode = CpuMode::Custom;
    guest.match_ = CpuMatch::Exact;
}

/// `virCPUTranslate` + `virCPUx86Translate`: maps a guest CPU onto a hypervisor's model list.
pub fn translate(map: &X86Map, cpu: &mut CpuDef, models: Option<&[ModelListEntry]>) -> Result<(), CpuError> {
    if matches!(cpu.mode, CpuMode::HostModel | CpuMode::HostPassthrough | CpuMode::Maximum) {
        return Ok(());
    }
    let Some(list) = models else { return Ok(()) };
    if let Some(m) = &cpu.model {
        if list.iter().any(|e| e.name == *m) {
            return Ok(());
        }
    }
    if cpu.fallback != Fallback::Allow {
        return Err(CpuError::Unsupported(format!(
            "CPU model {} is not supported by hypervisor",
            cpu.model.as_deref().unwrap_or("(none)")
        )));
    }
    let md = model_from_cpu(map, cpu, Sel::All)?;
    let mut data = X86Data { features: md.features, vendor: None, signature: 0 };
    if let Some(m) = md.map_model(map) {
        data.vendor = m.vendor;
        if let Some(s) = m.signatures.first() {
            data.signature = make_signature(s.family, s.model, s.first_stepping());
        }
    }
    let mut translated = cpu.clone();
    translated.model = None;
    translated.vendor = None;
    translated.vendor_id = None;
    translated.features.clear();
    decode_into(map, &mut translated, &data, DecodeOpts { models: Some(list), preferred: &[], migratable: false })?;
    for f in &cpu.features {
        translated.set_feature(&f.name, f.policy);
    }
    cpu.model = translated.model;
    cpu.features = translated.features;
    Ok(())
}

/// `virCPUExpandFeatures` + `virCPUx86ExpandFeatures`: the full feature list, sorted by name.
pub fn expand_features(map: &X86Map, cpu: &mut CpuDef) -> Result<(), CpuError> {
    let name = cpu.model.as_deref().ok_or(CpuError::NoModel("CPU to expand"))?;
    let model = map.model(name).ok_or_else(|| CpuError::UnknownModel(name.to_string()))?;
    let host = cpu.cpu_type == CpuType::Host;
    let policy = if host { None } else { Some(Policy::Require) };
    let mut expanded = CpuDef {
        features: model.features.iter().map(|id| Feature::new(map.feature_name(id), policy)).collect(),
        ..cpu.clone()
    };
    for f in &cpu.features {
        if !host && !matches!(f.policy, Some(Policy::Require) | Some(Policy::Disable)) {
            continue;
        }
        expanded.set_feature(&f.name, f.policy);
    }
    if !host {
        for &id in &model.removed {
            expanded.add_feature_if_missing(map.feature_name(id), Some(Policy::Disable));
        }
    }
    expanded.features.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    cpu.features = expanded.features;
    Ok(())
}

/// `virCPUx86UpdateLive`: applies what the hypervisor actually enabled and disabled. With
/// `check='full'` the differences are an error instead.
pub fn update_live(
    map: &X86Map,
    cpu: &mut CpuDef,
    enabled: &FeatureSet,
    disabled: &FeatureSet,
) -> Result<(), CpuError> {
    let v11 = map.version().at_least_11_3();
    let check_full = cpu.check == Some(CpuCheck::Full);
    let passthrough = matches!(cpu.mode, CpuMode::HostPassthrough | CpuMode::Maximum);
    let md = model_from_cpu(map, cpu, Sel::All)?;
    let explicitly_disabled = model_from_cpu(map, cpu, Sel::Only(Policy::Disable))?.features;
    let added: &[crate::FeatureId] = md.map_model(map).map_or(&[], |m| &m.added);
    let mut disabled = *disabled;
    let (mut extra, mut missing) = (Vec::new(), Vec::new());
    for id in map.all_features().iter() {
        let (expected, explicit) = if md.features.contains(id) {
            (Some(Policy::Require), true)
        } else if explicitly_disabled.contains(id) {
            (Some(Policy::Disable), true)
        } else if !passthrough {
            (Some(Policy::Disable), false)
        } else {
            (None, false)
        };
        let name = map.feature_name(id);
        // libvirt 11.3.0: a feature both enabled and disabled is an error (9.0.0 goes on).
        if v11 && enabled.contains(id) && disabled.contains(id) {
            return Err(CpuError::Invalid(format!(
                "hypervisor provided conflicting CPU data: feature '{name}' is both enabled and disabled at the same time"
            )));
        }
        // libvirt 11.3.0: with check='full', a feature the CPU does not name explicitly and its
        // map model lists as added is not reported (9.0.0 has no added features).
        let ignore = v11 && !explicit && added.contains(&id);
        let full = check_full && !ignore;
        if expected == Some(Policy::Disable) && enabled.contains(id) {
            if full {
                extra.push(name);
            } else {
                cpu.set_feature(name, Some(Policy::Require));
            }
        }
        if disabled.contains(id) || (expected == Some(Policy::Require) && !enabled.contains(id)) {
            if full {
                missing.push(name);
            } else {
                cpu.set_feature(name, Some(Policy::Disable));
                disabled.remove(id);
            }
        }
    }
    if let Some(m) = md.map_model(map) {
        for &id in &m.removed {
            cpu.add_feature_if_missing(map.feature_name(id), Some(Policy::Disable));
        }
    }
    let spec = "guest CPU doesn't match specification";
    match (extra.is_empty(), missing.is_empty()) {
        (true, true) => Ok(()),
        (false, true) => Err(CpuError::Invalid(format!("{spec}: extra features: {}", extra.join(",")))),
        (true, false) => Err(CpuError::Invalid(format!("{spec}: missing features: {}", missing.join(",")))),
        (false, false) => Err(CpuError::Invalid(format!(
            "{spec}: extra features: {}, missing features: {}",
            extra.join(","),
            missing.join(",")
        ))),
    }
}

/// libvirt's built-in KVM / Hyper-V pseudo-features (`x86_kvm_features`), in libvirt 11.3.0's
/// order, each with the first supported release that has it: names a feature check accepts
/// although the map does not define them. Their CPUID leaves (0x40000001..0x4000000a) are never
/// part of a CPU built from a model, so a check on them answers "no". libvirt 9.0.0 has 15
/// (`hv-spinlocks` is defined in its header but not listed); 11.3.0 adds `hv-xmm_input`,
/// `hv-emsr_bitmap`, `hv-tlbflush-direct` and `hv-tlbflush-ext`.
pub const KVM_FEATURES: &[(&str, LibvirtVersion)] = &[
    ("kvm_pv_unhalt", LibvirtVersion::V9_0_0),
    ("hv-runtime", LibvirtVersion::V9_0_0),
    ("hv-synic", LibvirtVersion::V9_0_0),
    ("hv-stimer", LibvirtVersion::V9_0_0),
    ("hv-xmm_input", LibvirtVersion::V11_3_0),
    ("hv-relaxed", LibvirtVersion::V9_0_0),
    ("hv-vapic", LibvirtVersion::V9_0_0),
    ("hv-vpindex", LibvirtVersion::V9_0_0),
    ("hv-reset", LibvirtVersion::V9_0_0),
    ("hv-frequencies", LibvirtVersion::V9_0_0),
    ("hv-reenlightenment", LibvirtVersion::V9_0_0),
    ("hv-tlbflush", LibvirtVersion::V9_0_0),
    ("hv-avic", LibvirtVersion::V9_0_0),
    ("hv-ipi", LibvirtVersion::V9_0_0),
    ("hv-evmcs", LibvirtVersion::V9_0_0),
    ("hv-stimer-direct", LibvirtVersion::V9_0_0),
    ("hv-emsr_bitmap", LibvirtVersion::V11_3_0),
    ("hv-tlbflush-direct", LibvirtVersion::V11_3_0),
    ("hv-tlbflush-ext", LibvirtVersion::V11_3_0),
];

/// Whether `name` is a pseudo-feature of the map's libvirt version.
pub fn is_kvm_feature(map: &X86Map, name: &str) -> bool {
    KVM_FEATURES.iter().any(|&(n, since)| n == name && since <= map.version())
}

/// `virCPUx86CheckFeature` / `virCPUx86DataCheckFeature` on a CPU: both the CPU's full data
/// (model + features, ALL) and its required part must agree; returns the answer of the former.
pub fn has_feature(map: &X86Map, cpu: &CpuDef, name: &str) -> Result<(bool, bool), CpuError> {
    let id = match map.feature_id(name) {
        Some(id) => Some(id),
        None if is_kvm_feature(map, name) => None,
        None => return Err(CpuError::UnknownFeature(name.to_string())),
    };
    let all = model_from_cpu(map, cpu, Sel::All)?.features;
    if cpu.model.is_none() {
        return Err(CpuError::NoModel("CPU to encode"));
    }
    let required = model_from_cpu(map, cpu, Sel::Only(Policy::Require))?.features;
    Ok(match id {
        Some(id) => (all.contains(id), required.contains(id)),
        None => (false, false),
    })
}
