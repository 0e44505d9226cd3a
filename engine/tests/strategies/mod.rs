//! Shared by the property tests: generators of realistic CPUs drawn from the real (embedded) map,
//! and the reference model of libvirt's x86 operations on sets of feature *names*
//! (`cpufleet-reference`, written from the pack README sections 4.1, 4.2, 4.4, 4.5, not from the
//! engine's code) bound to the binary's map.
#![allow(dead_code)]

use cpufleet_engine::cpu::{
    CacheDef, CacheMode, CpuCheck, MaxPhysAddr, MaxPhysAddrMode, Signature, Topology, TscCounter,
};
use cpufleet_engine::xml::read::KNOWN_ARCHES;
use cpufleet_engine::{CpuDef, CpuMap, CpuMatch, CpuMode, CpuType, CpuidData, CpuidKey, Fallback, Feature, Policy};
use proptest::collection::{btree_map, btree_set, vec};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config as ProptestConfig, FileFailurePersistence};
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// The embedded map of the test binary's libvirt version (`LIBVIRT` at its root), loaded once.
pub fn map() -> &'static CpuMap {
    static MAP: OnceLock<CpuMap> = OnceLock::new();
    MAP.get_or_init(|| CpuMap::embedded(crate::LIBVIRT).expect("embedded map loads"))
}

fn env_u32(key: &str, default: u32) -> u32 {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// 256 cases per law unless `PROPTEST_CASES` says otherwise; shrinking bounded to 10 s
/// (`PROPTEST_MAX_SHRINK_TIME`, ms) and `PROPTEST_MAX_SHRINK_ITERS` (default 4096) so that a
/// failing run in CI stays bounded. Failures are persisted in `regressions` (a file under
/// `engine/proptest-regressions/`, committed) and replayed first on every run.
pub fn config(regressions: &'static str) -> ProptestConfig {
    ProptestConfig {
        cases: env_u32("PROPTEST_CASES", 256),
        max_shrink_time: env_u32("PROPTEST_MAX_SHRINK_TIME", 10_000),
        max_shrink_iters: env_u32("PROPTEST_MAX_SHRINK_ITERS", 4096),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(regressions))),
        ..ProptestConfig::default()
    }
}

pub const POLICIES: [Policy; 5] = [Policy::Force, Policy::Require, Policy::Optional, Policy::Disable, Policy::Forbid];

// ---------------------------------------------------------------------------------------------
// Realistic x86 CPUs from the map.

/// How a generated CPU states its vendor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VendorMode {
    /// The model's vendor (none for vendorless models such as qemu64).
    Consistent,
    Absent,
    /// Some map vendor, usually not the model's (an edge: libvirt rejects it in baselines).
    Other(usize),
}

pub fn vendor_mode() -> impl Strategy<Value = VendorMode> {
    prop_oneof![
        6 => Just(VendorMode::Consistent),
        3 => Just(VendorMode::Absent),
        1 => (0..3usize).prop_map(VendorMode::Other),
    ]
}

fn vendor_name(model: usize, mode: VendorMode) -> Option<String> {
    let x = &map().x86;
    match mode {
        VendorMode::Consistent => x.models[model].vendor.map(|v| x.vendors[v].name.clone()),
        VendorMode::Absent => None,
        VendorMode::Other(v) => Some(x.vendors[v % x.vendors.len()].name.clone()),
    }
}

/// Indices of the models of a vendor family: 0..3 = that map vendor's models plus the vendorless
/// ones; anything else = every model.
pub fn family_models(family: usize) -> Vec<usize> {
    let x = &map().x86;
    (0..x.models.len())
        .filter(|&i| family >= x.vendors.len() || x.models[i].vendor.is_none_or(|v| v == family))
        .collect()
}

fn n_features() -> usize {
    map().x86.features.len()
}

pub fn feature_name(id: usize) -> String {
    map().x86.features[id].name.clone()
}

/// Topologies with the edges (1 and u32::MAX) reachable.
pub fn topology() -> impl Strategy<Value = Topology> {
    let count = prop_oneof![4 => 1u32..=64, 1 => Just(u32::MAX), 1 => any::<u32>().prop_map(|v| v.max(1))];
    // libvirt 11.3.0 reads `clusters` (default 1); 9.0.0's CPUs have none.
    let v11 = crate::LIBVIRT.at_least_11_3();
    (count.clone(), count.clone(), count.clone(), count.clone(), count).prop_map(
        move |(sockets, dies, clusters, cores, threads)| Topology {
            sockets,
            dies,
            clusters: v11.then_some(clusters),
            cores,
            threads,
        },
    )
}

/// A host CPU (type host, arch x86_64) of model `model`: the model plus random extra features
/// (host CPUs list features beyond their model), a vendor per `VendorMode`, maybe a topology.
pub fn x86_host_of(models: Vec<usize>) -> impl Strategy<Value = CpuDef> {
    (select(models), btree_set(0..n_features(), 0..16), vendor_mode(), proptest::option::weighted(0.3, topology()))
        .prop_map(|(model, extra, vm, topo)| {
            let x = &map().x86;
            let mut cpu = CpuDef::new(CpuType::Host);
            cpu.arch = Some("x86_64".into());
            cpu.model = Some(x.models[model].name.clone());
            cpu.vendor = vendor_name(model, vm);
            cpu.topology = topo;
            cpu.features = extra.into_iter().map(|id| Feature::new(feature_name(id), None)).collect();
            cpu
        })
}

/// Any host CPU of any model.
pub fn x86_host() -> impl Strategy<Value = CpuDef> {
    x86_host_of(family_models(usize::MAX))
}

/// A baseline input: mostly a host CPU; sometimes (an edge libvirt accepts, as in its
/// `cpuid_baseline` cases) a guest-type CPU that disables some of its model's features.
pub fn x86_input_of(models: Vec<usize>) -> impl Strategy<Value = CpuDef> {
    let disabled = vec(any::<proptest::sample::Index>(), 1..4);
    prop_oneof![
        7 => x86_host_of(models.clone()),
        1 => (x86_host_of(models), disabled).prop_map(|(host, disabled)| {
            let x = &map().x86;
            let mut g = host;
            g.cpu_type = CpuType::Guest;
            g.arch = None;
            for f in &mut g.features {
                f.policy = Some(Policy::Require);
            }
            let own: Vec<_> = x.model(g.model.as_deref().unwrap()).unwrap().features.iter().collect();
            for i in disabled.iter().filter(|_| !own.is_empty()) {
                let name = x.feature_name(*i.get(&own)).to_string();
                g.set_feature(&name, Some(Policy::Disable));
            }
            g
        }),
    ]
}

/// A pool of baseline inputs: mostly of one vendor family (consistent vendors), sometimes
/// mixed.
pub fn x86_pool(min: usize, max: usize) -> impl Strategy<Value = Vec<CpuDef>> {
    prop_oneof![4 => 0..3usize, 1 => Just(usize::MAX)]
        .prop_flat_map(move |family| vec(x86_input_of(family_models(family)), min..=max))
}

/// A pool where every CPU states its model's vendor when it states one and all effective
/// vendors agree (see `vendor_consistent`): the pools on which the baseline laws hold whatever
/// the order.
pub fn x86_consistent_pool(min: usize, max: usize) -> impl Strategy<Value = Vec<CpuDef>> {
    x86_pool(min, max).prop_filter("vendor-consistent pool", |p| vendor_consistent(p))
}

/// Guest feature lists: map features with random policies, names unique.
pub fn guest_features(max: usize) -> impl Strategy<Value = Vec<Feature>> {
    btree_map(0..n_features(), select(POLICIES.to_vec()), 0..=max)
        .prop_map(|m| m.into_iter().map(|(id, p)| Feature::new(feature_name(id), Some(p))).collect())
}

/// A custom-mode guest CPU of a map model with random feature policies and `match_`.
pub fn x86_custom_guest(matches: Vec<CpuMatch>) -> impl Strategy<Value = CpuDef> {
    (0..map().x86.models.len(), guest_features(12), select(matches), vendor_mode(), any::<bool>()).prop_map(
        |(model, features, m, vm, forbid)| {
            let mut cpu = CpuDef::new(CpuType::Guest);
            cpu.model = Some(map().x86.models[model].name.clone());
            cpu.match_ = m;
            cpu.features = features;
            // Guests rarely state a vendor: about one in ten states its model's.
            cpu.vendor =
                if matches!(vm, VendorMode::Other(_)) { vendor_name(model, VendorMode::Consistent) } else { None };
            cpu.fallback = if forbid { Fallback::Forbid } else { Fallback::Allow };
            cpu
        },
    )
}

/// Any guest CPU: every mode, match and policy.
pub fn x86_guest() -> impl Strategy<Value = CpuDef> {
    let modes = prop_oneof![
        6 => Just(CpuMode::Custom),
        2 => Just(CpuMode::HostModel),
        1 => Just(CpuMode::HostPassthrough),
        1 => Just(CpuMode::Maximum),
    ];
    (modes, x86_custom_guest(vec![CpuMatch::Exact, CpuMatch::Strict, CpuMatch::Minimum])).prop_map(|(mode, mut cpu)| {
        cpu.mode = mode;
        if mode != CpuMode::Custom {
            cpu.match_ = CpuMatch::Exact;
        }
        cpu
    })
}

/// Whether a pool is vendor-consistent ([`cpufleet_reference::vendor_consistent`] on this
/// binary's map).
pub fn vendor_consistent(cpus: &[CpuDef]) -> bool {
    cpufleet_reference::vendor_consistent(&map().x86, cpus)
}

/// The vendor of a CPU's map model.
pub fn model_vendor(cpu: &CpuDef) -> Option<String> {
    cpufleet_reference::model_vendor(&map().x86, cpu).map(str::to_string)
}

// ---------------------------------------------------------------------------------------------
// Canonical CPUs for the XML round trip: everything the format can express, with hostile text
// (quotes, ampersands, angle brackets, non-ASCII), but only in the forms the writer keeps.

/// Text for names: map names, plain identifiers, printable ASCII with XML metacharacters, and
/// non-ASCII.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => (0..n_features()).prop_map(feature_name),
        2 => "[A-Za-z0-9_.+-]{1,12}",
        2 => "[ -~]{1,10}",
        1 => "\\PC{1,6}",
    ]
}

fn unique_names(max: usize) -> impl Strategy<Value = Vec<String>> {
    vec(text(), 0..=max).prop_map(|names| {
        let mut seen = BTreeSet::new();
        names.into_iter().filter(|n| seen.insert(n.clone())).collect()
    })
}

fn cache() -> impl Strategy<Value = CacheDef> {
    (proptest::option::of(1u32..=3), select(CacheMode::ALL.to_vec())).prop_map(|(level, mode)| CacheDef { level, mode })
}

fn maxphysaddr() -> impl Strategy<Value = MaxPhysAddr> {
    (select(MaxPhysAddrMode::ALL.to_vec()), proptest::option::of(any::<u32>())).prop_map(|(mode, bits)| MaxPhysAddr {
        mode,
        bits,
        limit: None,
    })
}

/// A host CPU in canonical form (what reading then writing keeps).
pub fn canonical_host() -> impl Strategy<Value = CpuDef> {
    (
        (select(KNOWN_ARCHES.to_vec()), text(), proptest::option::of(text()), proptest::option::of(any::<u32>())),
        (
            proptest::option::of((1..=u32::MAX, any::<u32>(), any::<u32>())),
            proptest::option::of((any::<u64>(), proptest::option::of(any::<bool>()))),
            proptest::option::of(topology()),
            proptest::option::of(cache()),
            proptest::option::of(maxphysaddr()),
        ),
        unique_names(12),
    )
        .prop_map(|((arch, model, vendor, microcode), (sig, tsc, topology, cache, maxphys), names)| {
            let mut cpu = CpuDef::new(CpuType::Host);
            cpu.arch = Some(arch.to_string());
            cpu.model = Some(model);
            cpu.vendor = vendor;
            cpu.microcode = microcode;
            cpu.signature = sig.map(|(family, model, stepping)| Signature { family, model, stepping });
            cpu.tsc = tsc.map(|(frequency, scaling)| TscCounter { frequency, scaling });
            cpu.topology = topology;
            cpu.cache = cache;
            cpu.maxphysaddr = maxphys;
            cpu.features = names.into_iter().map(|n| Feature::new(n, None)).collect();
            cpu
        })
}

/// A guest CPU in canonical form: no model/vendor in passthrough and maximum mode (not written),
/// `match` only in custom mode, fallback only with a model, features only with a model in
/// custom mode, a vendor only with a model, `vendor_id` 12 characters without a comma.
pub fn canonical_guest() -> impl Strategy<Value = CpuDef> {
    let modes = select(CpuMode::ALL.to_vec());
    let checks = proptest::option::of(select(vec![CpuCheck::None, CpuCheck::Partial, CpuCheck::Full]));
    (
        (modes, select(CpuMatch::ALL.to_vec()), checks, proptest::option::of(any::<bool>())),
        (proptest::option::of(text()), proptest::option::of(text()), proptest::option::of("[A-Za-z0-9 &<>'\"]{12}")),
        (
            any::<bool>(),
            proptest::option::of(topology()),
            proptest::option::of(cache()),
            proptest::option::of(maxphysaddr()),
        ),
        (unique_names(10), vec(select(POLICIES.to_vec()), 10)),
    )
        .prop_map(
            |(
                (mode, m, check, migratable),
                (model, vendor, vendor_id),
                (forbid, topology, cache, maxphys),
                (names, pols),
            )| {
                let mut cpu = CpuDef::new(CpuType::Guest);
                cpu.mode = mode;
                cpu.check = check;
                cpu.topology = topology;
                cpu.cache = cache;
                cpu.maxphysaddr = maxphys;
                let passthrough = matches!(mode, CpuMode::HostPassthrough | CpuMode::Maximum);
                if passthrough {
                    cpu.migratable = migratable;
                } else {
                    cpu.model = model;
                    cpu.vendor = vendor.filter(|_| cpu.model.is_some());
                    cpu.vendor_id = vendor_id;
                    if cpu.model.is_some() && forbid {
                        cpu.fallback = Fallback::Forbid;
                    }
                }
                if mode == CpuMode::Custom && cpu.model.is_some() {
                    cpu.match_ = m;
                }
                if mode != CpuMode::Custom || cpu.model.is_some() {
                    cpu.features = names.into_iter().zip(pols).map(|(n, p)| Feature::new(n, Some(p))).collect();
                }
                cpu
            },
        )
}

/// CPUID data: realistic leaves and arbitrary ones, MSRs (EAX and EDX only), all-zero items too
/// (which every operation ignores).
pub fn cpuid_data() -> impl Strategy<Value = CpuidData> {
    let leaf = prop_oneof![
        3 => select(vec![0u32, 1, 6, 7, 0xd, 0x14, 0x19, 0x8000_0001, 0x8000_0007, 0x8000_0008, 0x8000_0021]),
        1 => any::<u32>(),
    ];
    let key = prop_oneof![
        4 => (leaf, prop_oneof![3 => 0u32..3, 1 => any::<u32>()]).prop_map(|(leaf, subleaf)| CpuidKey::Cpuid { leaf, subleaf }),
        1 => any::<u32>().prop_map(|index| CpuidKey::Msr { index }),
    ];
    btree_map(key, any::<[u32; 4]>(), 0..24).prop_map(|items| {
        let mut d = CpuidData::new();
        for (k, mut r) in items {
            if matches!(k, CpuidKey::Msr { .. }) {
                r[1] = 0;
                r[2] = 0;
            }
            d.add_item(k, r);
        }
        d
    })
}

// ---------------------------------------------------------------------------------------------
// The reference model (`cpufleet-reference`), bound to this binary's map.

#[allow(unused_imports)] // not every law binary uses all of them
pub use cpufleet_reference::{minus, Names, Pick};

/// The feature names of a map model.
pub fn model_names(model: &str) -> Option<Names> {
    cpufleet_reference::model_names(&map().x86, model)
}

/// The reference model's operations on this binary's map.
pub mod naive {
    use super::map;
    use cpufleet_engine::x86::Verdict;
    use cpufleet_engine::CpuDef;
    use cpufleet_reference::{Names, Pick};

    pub use cpufleet_reference::Baseline;

    /// `x86ModelFromCPU(cpu, pick)`.
    pub fn from_cpu(cpu: &CpuDef, pick: Pick) -> Result<Names, String> {
        cpufleet_reference::from_cpu(&map().x86, cpu, pick)
    }

    /// `x86ModelFromCPU(cpu, ALL)` of a generated CPU (map names only).
    pub fn all(cpu: &CpuDef) -> Names {
        cpufleet_reference::all(&map().x86, cpu).expect("generated CPUs use map names")
    }

    /// `virCPUx86Compare(host, cpu)`.
    pub fn compare(host: &CpuDef, cpu: &CpuDef) -> Verdict {
        cpufleet_reference::compare(&map().x86, host, cpu)
    }

    /// What the baseline decides before naming the result. Err = libvirt fails.
    pub fn baseline(cpus: &[CpuDef]) -> Result<Baseline, String> {
        cpufleet_reference::baseline(&map().x86, cpus)
    }

    /// `virCPUx86Update` on a guest CPU. Err = libvirt fails.
    pub fn update(guest: &CpuDef, host: &CpuDef) -> Result<CpuDef, String> {
        cpufleet_reference::update(&map().x86, guest, host)
    }
}

/// The names a CPU provides according to the engine (`model_from_cpu(ALL)`), for comparing
/// engine results with the reference model.
pub fn engine_all(cpu: &CpuDef) -> Names {
    cpufleet_reference::provided(&map().x86, cpu).expect("known names")
}

/// The map's non-migratable feature names.
pub fn non_migratable() -> Names {
    cpufleet_reference::non_migratable(&map().x86)
}
