//! The CPU map (`cpu_map/`): vendors, features and models per architecture, loaded once from
//! in-memory file contents and passed by reference (`cpuMapLoad`, `x86VendorParse`,
//! `x86FeatureParse`, `x86ModelParse`, `ppc64ModelParse`).
//!
//! The types live here; `read.rs` is the loader (each version's loader rules), `write.rs` the
//! writer of the embedded form (`format_arch`).

use crate::cpuid::{CpuidData, CpuidKey, Regs};
use crate::features::{FeatureId, FeatureSet};
use crate::version::LibvirtVersion;
use std::collections::HashMap;

mod read;
mod write;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X86Vendor {
    pub name: String,
    /// The 12-character CPUID vendor string.
    pub string: String,
    /// Leaf 0 registers: EBX = bytes 0-3, EDX = 4-7, ECX = 8-11 (little-endian), EAX = 0.
    pub regs: Regs,
}

impl X86Vendor {
    pub fn data(&self) -> CpuidData {
        CpuidData::single(CpuidKey::Cpuid { leaf: 0, subleaf: 0 }, self.regs)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X86Feature {
    pub name: String,
    pub migratable: bool,
    /// The items as declared (`<cpuid>` / `<msr>` children).
    pub items: Vec<(CpuidKey, Regs)>,
}

impl X86Feature {
    pub fn data(&self) -> CpuidData {
        let mut d = CpuidData::new();
        for (k, r) in &self.items {
            d.add_item(*k, *r);
        }
        d
    }
}

/// A model signature: family, model, and optionally the steppings it covers (bit n = stepping n).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct X86Signature {
    pub family: u32,
    pub model: u32,
    pub steppings: Option<u16>,
}

impl X86Signature {
    /// Lowest stepping of the set, or 0.
    pub fn first_stepping(&self) -> u32 {
        self.steppings.map_or(0, |s| if s == 0 { 0 } else { s.trailing_zeros() })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X86Model {
    pub name: String,
    pub vendor: Option<usize>,
    pub signatures: Vec<X86Signature>,
    pub decode_host: bool,
    pub decode_guest: bool,
    /// The model's data as a feature set.
    pub features: FeatureSet,
    /// `removed='yes'` features, in order.
    pub removed: Vec<FeatureId>,
    /// libvirt 11.3.0: `added='yes'` features, in order (`x86ModelParseFeatures`). They are not
    /// part of `features`; only the live update with `check='full'` reads them. Always empty
    /// under 9.0.0, which does not know the attribute.
    pub added: Vec<FeatureId>,
    /// libvirt 11.3.0: the model has `<check partial='compat'/>` (`x86ModelParseCheck`). Read only
    /// by the QEMU driver's `virCPUGetCheckMode`; no operation of the CPU driver reads it.
    pub compat_check: bool,
    /// libvirt 11.3.0: for a version copy (a model whose only content is an ancestor, such as
    /// `Haswell-v1`), its ancestor; libvirt calls the ancestor an alias of the copy.
    pub copy_of: Option<usize>,
    /// libvirt 11.3.0: the version copy whose ancestor this model is
    /// (`virCPUx86GetCanonicalModel`: `Haswell` → `Haswell-v1`).
    pub canonical: Option<usize>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct X86Map {
    /// The libvirt version whose loader read this map and whose rules operations on it follow.
    version: LibvirtVersion,
    pub vendors: Vec<X86Vendor>,
    pub features: Vec<X86Feature>,
    pub models: Vec<X86Model>,
    feature_ids: HashMap<String, FeatureId>,
    model_ids: HashMap<String, usize>,
    /// Features marked `migratable='no'`.
    pub non_migratable: FeatureSet,
    /// Every feature's bits, per CPUID key, for fast CPUID-data-to-feature-set conversion.
    by_key: Vec<(CpuidKey, Vec<(FeatureId, Regs)>)>,
}

impl X86Map {
    fn new(version: LibvirtVersion) -> X86Map {
        X86Map {
            version,
            vendors: Vec::new(),
            features: Vec::new(),
            models: Vec::new(),
            feature_ids: HashMap::new(),
            model_ids: HashMap::new(),
            non_migratable: FeatureSet::new(),
            by_key: Vec::new(),
        }
    }
    /// The libvirt version whose rules operations on this map follow.
    pub fn version(&self) -> LibvirtVersion {
        self.version
    }
    pub fn feature_id(&self, name: &str) -> Option<FeatureId> {
        self.feature_ids.get(name).copied()
    }
    pub fn feature(&self, id: FeatureId) -> &X86Feature {
        &self.features[id.index()]
    }
    pub fn feature_name(&self, id: FeatureId) -> &str {
        &self.features[id.index()].name
    }
    pub fn model_index(&self, name: &str) -> Option<usize> {
        self.model_ids.get(name).copied()
    }
    pub fn model(&self, name: &str) -> Option<&X86Model> {
        self.model_index(name).map(|i| &self.models[i])
    }
    pub fn vendor_index(&self, name: &str) -> Option<usize> {
        self.vendors.iter().position(|v| v.name == name)
    }
    pub fn vendor(&self, name: &str) -> Option<&X86Vendor> {
        self.vendors.iter().find(|v| v.name == name)
    }
    /// Every feature of the map.
    pub fn all_features(&self) -> FeatureSet {
        FeatureSet::all(self.features.len())
    }

    /// The CPUID data of a feature set.
    pub fn to_cpuid(&self, set: &FeatureSet) -> CpuidData {
        let mut d = CpuidData::new();
        for id in set.iter() {
            for (k, r) in &self.feature(id).items {
                d.add_item(*k, *r);
            }
        }
        d
    }

    /// The features whose bits are all present in `data` (`x86DataToCPUFeatures` membership).
    pub fn from_cpuid(&self, data: &CpuidData) -> FeatureSet {
        let mut set = FeatureSet::new();
        for (key, feats) in &self.by_key {
            let Some(have) = data.get(*key) else { continue };
            for (id, regs) in feats {
                if have.iter().zip(regs.iter()).all(|(h, r)| h & r == *r) {
                    set.insert(*id);
                }
            }
        }
        // A feature with items under several keys needs all of them.
        set.iter()
            .filter(|&id| self.feature(id).items.len() > 1)
            .filter(|&id| !data.contains(&self.feature(id).data()))
            .collect::<Vec<_>>()
            .into_iter()
            .for_each(|id| set.remove(id));
        set
    }

    /// `set` without every feature that shares a CPUID or MSR bit with feature `r`
    /// (`x86DataSubtract` of `r`'s data, seen through the feature sets).
    fn without_bits_of(&self, set: &FeatureSet, r: FeatureId) -> FeatureSet {
        let bits = &self.feature(r).items;
        set.iter()
            .filter(|&g| {
                !self.feature(g).items.iter().any(|(k, regs)| {
                    bits.iter().any(|(rk, rr)| rk == k && regs.iter().zip(rr.iter()).any(|(a, b)| a & b != 0))
                })
            })
            .collect()
    }

    fn index(&mut self) {
        let mut by_key: Vec<(CpuidKey, Vec<(FeatureId, Regs)>)> = Vec::new();
        for (i, f) in self.features.iter().enumerate() {
            for (k, r) in &f.items {
                if r.iter().all(|&v| v == 0) {
                    continue;
                }
                match by_key.iter_mut().find(|(key, _)| key == k) {
                    Some((_, v)) => v.push((FeatureId(i as u16), *r)),
                    None => by_key.push((*k, vec![(FeatureId(i as u16), *r)])),
                }
            }
        }
        self.by_key = by_key;
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ppc64Pvr {
    pub value: u32,
    pub mask: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ppc64Model {
    pub name: String,
    pub vendor: Option<usize>,
    pub pvrs: Vec<Ppc64Pvr>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ppc64Map {
    pub vendors: Vec<String>,
    pub models: Vec<Ppc64Model>,
}

impl Ppc64Map {
    pub fn model(&self, name: &str) -> Option<&Ppc64Model> {
        self.models.iter().find(|m| m.name == name)
    }
    pub fn vendor_name(&self, idx: Option<usize>) -> Option<&str> {
        idx.map(|i| self.vendors[i].as_str())
    }
    /// `ppc64ModelFindPVR`: the first model with an entry matching `pvr`.
    pub fn model_by_pvr(&self, pvr: u32) -> Option<&Ppc64Model> {
        self.models.iter().find(|m| m.pvrs.iter().any(|p| pvr & p.mask == p.value))
    }
}

/// The whole CPU map, with the libvirt version whose loader read it and whose rules every
/// operation on it follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuMap {
    pub x86: X86Map,
    pub ppc64: Ppc64Map,
}

/// The embedded documents of `version`: `[(path, text); 2]`, x86 then ppc64, with the paths
/// they have in the repository.
pub fn embedded_documents(version: LibvirtVersion) -> [(String, &'static str); 2] {
    // The release table's row embeds them (`releases!`, `engine/src/version.rs`).
    let [x86, ppc64] = version.release().cpu_map;
    [
        (format!("data/cpu_map/{}/x86.xml", embedded_dir(version)), x86),
        (format!("data/cpu_map/{}/ppc64.xml", embedded_dir(version)), ppc64),
    ]
}

/// The folder of `version`'s embedded map under `data/cpu_map/`.
pub fn embedded_dir(version: LibvirtVersion) -> String {
    format!("libvirt-{version}")
}
