//! Shared support for the fuzz targets: the embedded CPU maps and their host scanners, built once
//! per process, and the structured input of `baseline_laws` (small numbers that index into the
//! real map; the engine's own types derive `Arbitrary` through its `arbitrary` feature).

use arbitrary::Arbitrary;
use cpufleet_engine::scan::HostScanner;
use cpufleet_engine::{CpuMap, CpuType, Policy};
use cpufleet_reference::laws::{x86_cpu, BaselinePool};
use std::sync::OnceLock;

/// The embedded map of every supported libvirt version, oldest first (loaded once: the targets
/// run millions of inputs). Every map-dependent target runs each input under each of them.
pub fn maps() -> &'static [CpuMap] {
    static MAPS: OnceLock<Vec<CpuMap>> = OnceLock::new();
    MAPS.get_or_init(|| {
        cpufleet_engine::LibvirtVersion::ALL
            .into_iter()
            .map(|v| CpuMap::embedded(v).expect("the embedded CPU map loads"))
            .collect()
    })
}

/// A host scanner for each of [`maps`], in the same order.
pub fn scanners() -> &'static [HostScanner<'static>] {
    static SCANNERS: OnceLock<Vec<HostScanner<'static>>> = OnceLock::new();
    SCANNERS.get_or_init(|| maps().iter().map(|m| HostScanner::new(&m.x86)).collect())
}

/// Most CPUs in one pool (the laws run several baselines per input).
pub const MAX_POOL: usize = 8;

/// A pool of x86 CPUs described by small numbers that index into the real map.
#[derive(Arbitrary, Debug, Clone)]
pub struct PoolSpec {
    /// When set, models are drawn from one vendor's models plus the vendorless ones (so most
    /// pools are vendor-consistent, the case where every law applies).
    pub family: Option<u8>,
    pub cpus: Vec<CpuSpec>,
    pub order: Vec<u8>,
    pub split: u8,
    pub migratable: bool,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct CpuSpec {
    pub model: u8,
    pub guest: bool,
    pub vendor: VendorSpec,
    /// (feature index into the map, policy); host CPUs ignore the policy.
    pub features: Vec<(u16, Policy)>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum VendorSpec {
    /// The model's own vendor (none for vendorless models).
    Model,
    None,
    /// A map vendor, possibly not the model's.
    Map(u8),
    /// A name the map does not know.
    Unknown,
}

impl PoolSpec {
    /// The CPUs this spec names, in the map `map`.
    pub fn to_pool(&self, map: &CpuMap) -> BaselinePool {
        let x = &map.x86;
        let family = self.family.map(|f| f as usize % x.vendors.len());
        let models: Vec<usize> = (0..x.models.len())
            .filter(|&i| family.is_none() || x.models[i].vendor.is_none() || x.models[i].vendor == family)
            .collect();
        let cpus = self
            .cpus
            .iter()
            .take(MAX_POOL)
            .map(|c| {
                let m = &x.models[models[c.model as usize % models.len()]];
                let vendor = match c.vendor {
                    VendorSpec::Model => m.vendor.map(|v| x.vendors[v].name.as_str()),
                    VendorSpec::None => None,
                    VendorSpec::Map(v) => Some(x.vendors[v as usize % x.vendors.len()].name.as_str()),
                    VendorSpec::Unknown => Some("Cyrix"),
                };
                let ty = if c.guest { CpuType::Guest } else { CpuType::Host };
                let feats = c.features.iter().map(|(f, p)| {
                    let id = cpufleet_engine::FeatureId((*f as usize % x.features.len()) as u16);
                    (x.feature_name(id).to_string(), *p)
                });
                x86_cpu(ty, &m.name, vendor, feats)
            })
            .collect();
        BaselinePool {
            cpus,
            order: self.order.iter().map(|&i| i as usize).collect(),
            split: self.split as usize,
            migratable: self.migratable,
        }
    }
}
