//! `x86ModelFromCPU`, CPUID-data views and signatures.

use crate::cpu::{CpuDef, Policy};
use crate::cpuid::{CpuidData, CpuidKey, EAX};
use crate::error::CpuError;
use crate::features::FeatureSet;
use crate::map::{X86Map, X86Model};

/// Which features `model_from_cpu` collects: every policy (ALL, i.e. libvirt's `-1`) or one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sel {
    All,
    Only(Policy),
}

/// A CPU's data as a feature set plus the map model it started from (`virCPUx86Model`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelData {
    pub features: FeatureSet,
    /// Index of the map model copied (vendor, signatures and removed list come from it).
    pub model: Option<usize>,
}

impl ModelData {
    pub fn map_model<'m>(&self, map: &'m X86Map) -> Option<&'m X86Model> {
        self.model.map(|i| &map.models[i])
    }
}

/// `x86ModelFromCPU(cpu, map, policy)`.
pub fn model_from_cpu(map: &X86Map, cpu: &CpuDef, sel: Sel) -> Result<ModelData, CpuError> {
    let takes_model = matches!(sel, Sel::All | Sel::Only(Policy::Require));
    let mut out = ModelData { features: FeatureSet::new(), model: None };
    if cpu.is_host() && !takes_model {
        return Ok(out);
    }
    if let (Some(name), true) = (&cpu.model, takes_model) {
        let idx = map.model_index(name).ok_or_else(|| CpuError::UnknownModel(name.clone()))?;
        out.features = map.models[idx].features;
        out.model = Some(idx);
    }
    for f in &cpu.features {
        let p = f.effective_policy();
        let skip = match sel {
            Sel::All => p == Policy::Optional,
            Sel::Only(want) => p != want,
        };
        if skip {
            continue;
        }
        let id = map.feature_id(&f.name).ok_or_else(|| CpuError::UnknownFeature(f.name.clone()))?;
        match (sel, p) {
            (Sel::All, Policy::Disable | Policy::Forbid) => out.features.remove(id),
            _ => out.features.insert(id),
        }
    }
    Ok(out)
}

/// Host CPUID data reduced to what the CPU operations use: features, vendor, signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct X86Data {
    pub features: FeatureSet,
    /// Index of the map vendor whose leaf-0 bits are present.
    pub vendor: Option<usize>,
    /// Leaf 1 EAX masked with `0x0fff3fff` (0 if absent).
    pub signature: u32,
}

impl X86Data {
    /// From raw CPUID data (`x86DataToVendor`, `x86DataToSignature`, feature membership).
    pub fn from_cpuid(map: &X86Map, data: &CpuidData) -> X86Data {
        let vendor = map.vendors.iter().position(|v| data.contains(&v.data()));
        let signature = data.get(CpuidKey::Cpuid { leaf: 1, subleaf: 0 }).map_or(0, |r| r[EAX]) & 0x0fff_3fff;
        X86Data { features: map.from_cpuid(data), vendor, signature }
    }
}

/// Decomposes a signature (leaf 1 EAX) into family, model, stepping (`x86DataToSignatureFull`).
pub fn decode_signature(eax: u32) -> (u32, u32, u32) {
    let family = ((eax >> 20) & 0xff) + ((eax >> 8) & 0xf);
    let model = (((eax >> 16) & 0xf) << 4) + ((eax >> 4) & 0xf);
    (family, model, eax & 0xf)
}

/// `x86MakeSignature`.
pub fn make_signature(family: u32, model: u32, stepping: u32) -> u32 {
    let mut sig = 0u32;
    if family > 0xf {
        sig |= ((family - 0xf) & 0xff) << 20;
        sig |= 0xf << 8;
    } else {
        sig |= (family & 0xf) << 8;
    }
    sig |= ((model >> 4) & 0xf) << 16;
    sig |= (model & 0xf) << 4;
    sig | (stepping & 0xf)
}

/// `x86ModelHasSignature`: same family and model, stepping in the set (or no set).
pub fn model_has_signature(model: &X86Model, signature: u32) -> bool {
    model.signatures.iter().any(|s| {
        make_signature(s.family, s.model, 0) == (signature & !0xf)
            && s.steppings.is_none_or(|st| st & (1 << (signature & 0xf)) != 0)
    })
}

/// The text libvirt's signature test prints (pack README 3.7).
pub fn signature_text(eax: u32) -> String {
    let (family, model, stepping) = decode_signature(eax);
    let sig = make_signature(family, model, stepping);
    format!(
        "{sig:06x}\n{:<10}{family:>3} (0x{family:02x})\n{:<10}{model:>3} (0x{model:02x})\n{:<10}{stepping:>3} (0x{stepping:02x})\n",
        "family:", "model:", "stepping:"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn signature_roundtrip() {
        assert_eq!(decode_signature(0x000906ea), (6, 158, 10));
        assert_eq!(make_signature(6, 158, 10), 0x0906ea);
        assert_eq!(make_signature(23, 1, 2), 0x800f12);
        assert_eq!(
            signature_text(0x000906ea),
            "0906ea\nfamily:     6 (0x06)\nmodel:    158 (0x9e)\nstepping:  10 (0x0a)\n"
        );
    }
}
