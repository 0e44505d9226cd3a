//! Random CPU pools for the differential test (`tests/differential.rs`): the project's generator,
//! a catalog of realistic host CPUs and the pools and documents built from them.
//!
//! A catalog targets one libvirt version (the map it is built from). Its host CPUs are the map's
//! models with random extra features, plus the CPUID dumps of one or more conformance packs, each
//! decoded under its own pack's version: a libvirt 11.3.0 catalog holds both 9.0.0 decodes
//! (unversioned model names, which 11.3.0's map still has) and 11.3.0 decodes (`-vN` names), as a
//! fleet in the middle of an upgrade would report. The version also decides which parser
//! attributes the documents use: 11.3.0 reads `<topology clusters>` and `<maxphysaddr limit>`,
//! 9.0.0 ignores both, and a 9.0.0 catalog never writes them (its pools are the same as before
//! 11.3.0 support).
//!
//! Everything here is a pure function of the catalog, the seed and the pool index, so a failing
//! pool can be rebuilt from the numbers the failure message prints.

use cpufleet_engine::map::X86Map;
use cpufleet_engine::x86::{self, X86Data};
use cpufleet_engine::xml::{self, Limits};
use cpufleet_engine::{CpuMap, LibvirtVersion};
use std::fmt::Write as _;
use std::path::Path;

/// The project's one PRNG (`cpufleet_sim::Rng`, SplitMix64) with the draws the generators
/// here use: whole-number percentages and weights.
#[derive(Clone, Debug)]
pub struct Rng(cpufleet_sim::Rng);

/// The sub-seed domain of the differential pools (see `cpufleet_sim::rng::derive`).
const POOL_TAG: u64 = 0x6466_706c;

impl Rng {
    /// A generator seeded directly (`tests/hypervisor.rs`; the differential's pools use `for_pool`).
    #[allow(dead_code)]
    pub fn new(seed: u64) -> Rng {
        Rng(cpufleet_sim::Rng::new(seed))
    }

    /// The generator of pool `index` under `seed`: pools do not depend on each other, so any one
    /// pool can be rebuilt alone, whatever thread built it.
    pub fn for_pool(seed: u64, index: usize) -> Rng {
        Rng(cpufleet_sim::Rng::for_item(seed, POOL_TAG, index as u64))
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "below(0)");
        self.0.index(n)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        self.0.pick(items)
    }

    /// Picks an index by weight.
    pub fn weighted(&mut self, weights: &[usize]) -> usize {
        let total: usize = weights.iter().sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < w {
                return i;
            }
            x -= w;
        }
        unreachable!("weights sum to {total}")
    }

    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// One host `<cpu>` as `virsh capabilities` shows it.
#[derive(Clone, Debug)]
pub struct HostCpu {
    pub model: String,
    pub vendor: Option<String>,
    pub features: Vec<String>,
    pub signature: Option<(u32, u32, u32)>,
    pub microcode: Option<u32>,
    pub topology: Option<Topology>,
    /// `<counter name='tsc' frequency='…'/>` (hosts with an invariant TSC show it).
    pub tsc_hz: Option<u64>,
    pub phys_addr: Option<PhysAddr>,
    /// Whether this CPU carries no `<arch>` (deliberately wrong input).
    pub no_arch: bool,
    /// The libvirt version whose decode of a CPUID dump this CPU is (`None`: built from a map
    /// model).
    pub origin: Option<LibvirtVersion>,
}

impl HostCpu {
    fn new(model: String, vendor: Option<String>) -> HostCpu {
        HostCpu {
            model,
            vendor,
            features: Vec::new(),
            signature: None,
            microcode: None,
            topology: None,
            tsc_hz: None,
            phys_addr: None,
            no_arch: false,
            origin: None,
        }
    }
}

/// `<topology sockets [dies] [clusters] cores threads/>`.
#[derive(Clone, Copy, Debug)]
pub struct Topology {
    pub sockets: u32,
    pub dies: Option<u32>,
    /// Read by libvirt 11.3.0 only (its `virsh capabilities` prints `clusters='1'`).
    pub clusters: Option<u32>,
    pub cores: u32,
    pub threads: u32,
}

/// `<maxphysaddr mode='…' [bits='…'] [limit='…']/>`.
#[derive(Clone, Copy, Debug)]
pub struct PhysAddr {
    pub mode: &'static str,
    pub bits: Option<u32>,
    /// Read by libvirt 11.3.0 only: non-zero, and only with mode `passthrough`.
    pub limit: Option<u32>,
}

/// A map model as a host CPU ingredient.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    pub name: String,
    pub vendor: Option<String>,
}

/// What the pools are built from.
pub struct Catalog {
    /// The libvirt version the pools are for (the map's).
    pub version: LibvirtVersion,
    /// Host CPUs decoded from the packs' CPUID dumps: (dump file name, CPU); the CPU's `origin`
    /// names the pack.
    pub dumps: Vec<(String, HostCpu)>,
    /// Dumps that did not decode to a host CPU (pack version, file name, error).
    pub undecodable: Vec<(LibvirtVersion, String, String)>,
    pub models: Vec<ModelInfo>,
    /// Every feature of the map, in map order.
    pub features: Vec<String>,
    pub vendors: Vec<String>,
    /// Per map vendor: features that some model of another vendor has and no model of this
    /// vendor has (e.g. `svm` for Intel, `vmx` for AMD), derived from the map.
    pub conflicting: Vec<Vec<String>>,
    /// Features the map marks `migratable='no'` (what `--migratable` drops).
    pub non_migratable: Vec<String>,
}

impl Catalog {
    /// Builds the catalog for `map`'s version from the map and the CPUID dumps of `packs` (every
    /// `x86_64-cpuid-*.xml` of a pack's `cputestdata/` whose root is `<cpudata>`), each decoded
    /// as a host CPU under its pack's version with that version's embedded map. A pack's version
    /// must not be newer than `map`'s: its decodes must name models `map` knows.
    pub fn new(map: &CpuMap, packs: &[(LibvirtVersion, &Path)]) -> Catalog {
        let m: &X86Map = &map.x86;
        let features: Vec<String> = m.features.iter().map(|f| f.name.clone()).collect();
        let vendors: Vec<String> = m.vendors.iter().map(|v| v.name.clone()).collect();
        let models = m
            .models
            .iter()
            .map(|x| ModelInfo { name: x.name.clone(), vendor: x.vendor.map(|v| vendors[v].clone()) })
            .collect();
        let conflicting = (0..vendors.len())
            .map(|v| {
                let mut own = cpufleet_engine::FeatureSet::default();
                let mut other = cpufleet_engine::FeatureSet::default();
                for model in &m.models {
                    match model.vendor {
                        Some(w) if w == v => own.union_with(&model.features),
                        Some(_) => other.union_with(&model.features),
                        None => {}
                    }
                }
                other.difference(&own).iter().map(|id| m.feature_name(id).to_string()).collect()
            })
            .collect();
        let non_migratable = m.non_migratable.iter().map(|id| m.feature_name(id).to_string()).collect();
        let mut cat = Catalog {
            version: map.version(),
            dumps: Vec::new(),
            undecodable: Vec::new(),
            models,
            features,
            vendors,
            conflicting,
            non_migratable,
        };
        for &(version, pack) in packs {
            assert!(version <= cat.version, "libvirt {} cannot read libvirt {version}'s decodes", cat.version);
            let own;
            let decoder = if version == cat.version {
                map
            } else {
                own = CpuMap::embedded(version).unwrap_or_else(|e| panic!("libvirt {version}'s map: {e}"));
                &own
            };
            cat.load_dumps(decoder, &pack.join("cputestdata"));
        }
        cat
    }

    /// Decodes the dumps of `dir` under `map`'s version.
    fn load_dumps(&mut self, map: &CpuMap, dir: &Path) {
        let version = map.version();
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("x86_64-cpuid-") && n.ends_with(".xml"))
            .collect();
        names.sort();
        for name in names {
            let bytes = std::fs::read(dir.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            if !root_is_cpudata(&bytes) {
                continue;
            }
            let data = xml::parse_cpuid_data(&bytes, Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let data = X86Data::from_cpuid(&map.x86, &data);
            match x86::decode_host(&map.x86, &data) {
                Ok(cpu) => {
                    let model = cpu.model.clone().expect("decoded CPU has a model");
                    assert!(self.has_model(&model), "libvirt {version}'s decode {model} of {name} is not a model");
                    let mut host = HostCpu::new(model, cpu.vendor.clone());
                    host.features = cpu.features.iter().map(|f| f.name.clone()).collect();
                    host.signature = cpu.signature.map(|s| (s.family, s.model, s.stepping));
                    host.origin = Some(version);
                    self.dumps.push((name, host));
                }
                Err(e) => self.undecodable.push((version, name, e.to_string())),
            }
        }
    }

    fn vendor_index(&self, name: &str) -> Option<usize> {
        self.vendors.iter().position(|v| v == name)
    }

    fn has_model(&self, name: &str) -> bool {
        self.models.iter().any(|m| m.name == name)
    }

    /// Whether this version's CPU parser reads `<topology clusters>` and `<maxphysaddr limit>`
    /// (libvirt 11.3.0; 9.0.0 ignores both attributes).
    fn reads_clusters_and_limit(&self) -> bool {
        self.version.at_least_11_3()
    }
}

/// Whether the first element of an XML file is `<cpudata` (skipping the comment dumps start with).
fn root_is_cpudata(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let mut rest: &str = &text;
    loop {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix("<!--") {
            match r.find("-->") {
                Some(end) => rest = &r[end + 3..],
                None => return false,
            }
        } else if let Some(r) = rest.strip_prefix("<?") {
            match r.find("?>") {
                Some(end) => rest = &r[end + 2..],
                None => return false,
            }
        } else {
            return rest.starts_with("<cpudata");
        }
    }
}

/// How a pool was composed (printed with failures; also drives the statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// Copies of a few dump-derived hosts of one vendor, lightly varied: a real fleet.
    Fleet,
    /// Every CPU names the same model (the single-preferred-name path, `fallback='forbid'`).
    SameModel,
    /// Map models of one vendor (and vendor-less models) with random extra features.
    Synthetic,
    /// Anything: mixed vendors, vendor-less CPUs, stated vendors that differ from the model's.
    Chaos,
    /// No CPU states a vendor.
    VendorLess,
    /// A plausible pool with one deliberate input error.
    Faulty,
}

/// How the CPUs are written into the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Bare `<cpu>` elements, one after the other.
    Bare,
    /// One `<capabilities>` document per CPU, concatenated.
    Capabilities,
    /// Each CPU bare or in a capabilities document, at random.
    Mixed,
}

#[derive(Clone, Debug)]
pub struct Pool {
    pub flavor: Flavor,
    pub layout: Layout,
    pub cpus: Vec<HostCpu>,
    /// The document handed to both tools.
    pub text: String,
}

/// Builds pool `index` of the run with `seed`.
pub fn pool(cat: &Catalog, seed: u64, index: usize) -> Pool {
    let mut rng = Rng::for_pool(seed, index);
    let flavor = match rng.weighted(&[28, 14, 18, 22, 10, 8]) {
        0 if !cat.dumps.is_empty() => Flavor::Fleet,
        0 | 2 => Flavor::Synthetic,
        1 => Flavor::SameModel,
        3 => Flavor::Chaos,
        4 => Flavor::VendorLess,
        _ => Flavor::Faulty,
    };
    let n = match rng.weighted(&[6, 22, 36, 36]) {
        0 => 1,
        1 => rng.range(2, 4),
        2 => rng.range(5, 16),
        _ => rng.range(17, 60),
    };
    let mut cpus = match flavor {
        Flavor::Fleet => fleet(cat, &mut rng, n),
        Flavor::SameModel => same_model(cat, &mut rng, n),
        Flavor::Synthetic => synthetic(cat, &mut rng, n),
        Flavor::Chaos => (0..n).map(|_| chaos_cpu(cat, &mut rng)).collect(),
        Flavor::VendorLess => vendor_less(cat, &mut rng, n),
        Flavor::Faulty => {
            let mut cpus = if cat.dumps.is_empty() { synthetic(cat, &mut rng, n) } else { fleet(cat, &mut rng, n) };
            inject_fault(cat, &mut rng, &mut cpus);
            cpus
        }
    };
    // Modern fleets share an invariant TSC (and often xsaves): give `--migratable` work to do.
    if rng.chance(40) {
        for f in &cat.non_migratable {
            if rng.chance(70) {
                for cpu in &mut cpus {
                    add_features(cpu, vec![f.clone()]);
                }
            }
        }
    }
    for cpu in &mut cpus {
        decorate(cat, &mut rng, cpu);
    }
    let layout = match rng.weighted(&[45, 25, 30]) {
        0 => Layout::Bare,
        1 => Layout::Capabilities,
        _ => Layout::Mixed,
    };
    let text = render(&mut rng, &cpus, layout, index);
    Pool { flavor, layout, cpus, text }
}

/// A dump-derived host, optionally restricted to one vendor (`Some(None)` = vendor-less dumps).
fn dump_cpu(cat: &Catalog, rng: &mut Rng, vendor: Option<Option<&str>>) -> HostCpu {
    let fits: Vec<&HostCpu> =
        cat.dumps.iter().map(|(_, c)| c).filter(|c| vendor.is_none_or(|v| c.vendor.as_deref() == v)).collect();
    if fits.is_empty() {
        return cat.dumps[rng.below(cat.dumps.len())].1.clone();
    }
    (*rng.pick(&fits)).clone()
}

/// `count` features drawn from the whole map (duplicates skipped).
fn random_features(cat: &Catalog, rng: &mut Rng, count: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(count);
    for _ in 0..count {
        let f = rng.pick(&cat.features);
        if !out.contains(f) {
            out.push(f.clone());
        }
    }
    out
}

/// How many extra features a synthetic CPU gets: mostly few, sometimes many.
fn extra_count(rng: &mut Rng) -> usize {
    match rng.weighted(&[20, 40, 30, 10]) {
        0 => 0,
        1 => rng.range(1, 5),
        2 => rng.range(6, 30),
        _ => rng.range(31, 120),
    }
}

fn add_features(cpu: &mut HostCpu, extra: Vec<String>) {
    for f in extra {
        if !cpu.features.contains(&f) {
            cpu.features.push(f);
        }
    }
}

/// A map model with random extra features (occasionally ones that conflict with its vendor).
fn model_cpu(cat: &Catalog, rng: &mut Rng, model: &ModelInfo, vendor: Option<String>) -> HostCpu {
    let mut cpu = HostCpu::new(model.name.clone(), vendor);
    let k = extra_count(rng);
    add_features(&mut cpu, random_features(cat, rng, k));
    // Real hosts often have an invariant TSC (and xsaves): give `--migratable` work to do.
    for f in &cat.non_migratable {
        if rng.chance(35) {
            add_features(&mut cpu, vec![f.clone()]);
        }
    }
    if rng.chance(12) {
        if let Some(v) = model.vendor.as_deref().or(cpu.vendor.as_deref()).and_then(|v| cat.vendor_index(v)) {
            let pool = &cat.conflicting[v];
            if !pool.is_empty() {
                let k = rng.range(1, 3);
                let extra = (0..k).map(|_| rng.pick(pool).clone()).collect();
                add_features(&mut cpu, extra);
            }
        }
    }
    cpu
}

/// Light per-host variation of a fleet member: BIOS switches, microcode updates.
fn vary(cat: &Catalog, rng: &mut Rng, cpu: &mut HostCpu) {
    if rng.chance(20) && !cpu.features.is_empty() {
        for _ in 0..rng.range(1, 3) {
            if cpu.features.is_empty() {
                break;
            }
            let i = rng.below(cpu.features.len());
            cpu.features.remove(i);
        }
    }
    if rng.chance(10) {
        let k = rng.range(1, 3);
        add_features(cpu, random_features(cat, rng, k));
    }
    if rng.chance(4) {
        cpu.vendor = None;
    }
}

fn fleet(cat: &Catalog, rng: &mut Rng, n: usize) -> Vec<HostCpu> {
    // Pick the vendor through a random dump, so vendors are weighted by how many dumps they have.
    let vendor = cat.dumps[rng.below(cat.dumps.len())].1.vendor.clone();
    let templates: Vec<HostCpu> = (0..rng.range(1, 4)).map(|_| dump_cpu(cat, rng, Some(vendor.as_deref()))).collect();
    (0..n)
        .map(|_| {
            let mut cpu = rng.pick(&templates).clone();
            vary(cat, rng, &mut cpu);
            cpu
        })
        .collect()
}

fn same_model(cat: &Catalog, rng: &mut Rng, n: usize) -> Vec<HostCpu> {
    let from_dump = !cat.dumps.is_empty() && rng.chance(50);
    let (model, vendor) = if from_dump {
        let c = dump_cpu(cat, rng, None);
        let info = cat.models.iter().find(|m| m.name == c.model).cloned().expect("decoded models are checked");
        (info, c.vendor)
    } else {
        let m = rng.pick(&cat.models).clone();
        let v = m.vendor.clone().or_else(|| rng.chance(50).then(|| rng.pick(&cat.vendors).clone()));
        (m, v)
    };
    (0..n)
        .map(|_| {
            let v = if rng.chance(10) { None } else { vendor.clone() };
            model_cpu(cat, rng, &model, v)
        })
        .collect()
}

fn synthetic(cat: &Catalog, rng: &mut Rng, n: usize) -> Vec<HostCpu> {
    let vendor = rng.pick(&cat.vendors).clone();
    let fits: Vec<&ModelInfo> =
        cat.models.iter().filter(|m| m.vendor.is_none() || m.vendor.as_deref() == Some(vendor.as_str())).collect();
    let state_vendor = rng.chance(80);
    (0..n)
        .map(|_| {
            let m = (*rng.pick(&fits)).clone();
            let v = (state_vendor && !rng.chance(5)).then(|| vendor.clone());
            model_cpu(cat, rng, &m, v)
        })
        .collect()
}

fn chaos_cpu(cat: &Catalog, rng: &mut Rng) -> HostCpu {
    if !cat.dumps.is_empty() && rng.chance(40) {
        let mut c = dump_cpu(cat, rng, None);
        vary(cat, rng, &mut c);
        if rng.chance(8) {
            c.vendor = Some(rng.pick(&cat.vendors).clone());
        }
        return c;
    }
    let m = rng.pick(&cat.models).clone();
    let v = match rng.weighted(&[60, 25, 15]) {
        0 => m.vendor.clone().or_else(|| rng.chance(50).then(|| rng.pick(&cat.vendors).clone())),
        1 => None,
        // A stated vendor that may differ from the model's.
        _ => Some(rng.pick(&cat.vendors).clone()),
    };
    model_cpu(cat, rng, &m, v)
}

fn vendor_less(cat: &Catalog, rng: &mut Rng, n: usize) -> Vec<HostCpu> {
    let vendorless_models: Vec<&ModelInfo> = cat.models.iter().filter(|m| m.vendor.is_none()).collect();
    (0..n)
        .map(|_| {
            let mut c = match rng.weighted(&[35, 35, 30]) {
                0 if !cat.dumps.is_empty() => dump_cpu(cat, rng, None),
                0 | 1 => {
                    let m = (*rng.pick(&vendorless_models)).clone();
                    model_cpu(cat, rng, &m, None)
                }
                _ => {
                    let m = rng.pick(&cat.models).clone();
                    model_cpu(cat, rng, &m, None)
                }
            };
            c.vendor = None;
            c
        })
        .collect()
}

/// One input error libvirt rejects: an unknown model, feature or vendor, a feature listed
/// twice, a CPU without `<arch>`, a zero in `<topology>` (`clusters` included where the version
/// reads it), or, for libvirt 11.3.0, a bad `<maxphysaddr limit>`.
fn inject_fault(cat: &Catalog, rng: &mut Rng, cpus: &mut [HostCpu]) {
    let i = rng.below(cpus.len());
    let cpu = &mut cpus[i];
    let v11 = cat.reads_clusters_and_limit();
    match rng.below(if v11 { 7 } else { 6 }) {
        0 => {
            // A version suffix the map lacks (11.3.0's map has many `-vN` models).
            let mut name = format!("{}-v{}", cpu.model, rng.range(2, 9));
            if cat.has_model(&name) {
                name.push_str("-v0");
            }
            cpu.model = name;
        }
        1 => cpu.features.insert(rng.below(cpu.features.len() + 1), format!("x-{}", rng.range(1, 999))),
        2 => cpu.vendor = Some(rng.pick(&["Zhaoxin", "VIA", "intel", "GenuineIntel"]).to_string()),
        3 => {
            let f =
                if cpu.features.is_empty() { rng.pick(&cat.features).clone() } else { rng.pick(&cpu.features).clone() };
            cpu.features.push(f.clone());
            if cpu.features.iter().filter(|g| **g == f).count() < 2 {
                cpu.features.push(f);
            }
        }
        4 => cpu.no_arch = true,
        5 => {
            // sockets, dies, cores, threads, clusters.
            let mut t = [2, 1, 8, 2, 1];
            t[rng.below(if v11 { 5 } else { 4 })] = 0;
            cpu.topology = Some(Topology {
                sockets: t[0],
                dies: Some(t[1]),
                clusters: v11.then_some(t[4]),
                cores: t[2],
                threads: t[3],
            });
        }
        _ => {
            cpu.phys_addr = Some(if rng.chance(50) {
                PhysAddr { mode: "emulate", bits: Some(39), limit: Some(39) }
            } else {
                PhysAddr { mode: "passthrough", bits: None, limit: Some(0) }
            })
        }
    }
}

/// What `virsh capabilities` adds around the essentials: topology, microcode, TSC counter,
/// physical address bits, feature order. The attributes only libvirt 11.3.0 reads are drawn only
/// for an 11.3.0 catalog (a 9.0.0 catalog's random stream is unchanged by them).
fn decorate(cat: &Catalog, rng: &mut Rng, cpu: &mut HostCpu) {
    let v11 = cat.reads_clusters_and_limit();
    if cpu.topology.is_none() && rng.chance(60) {
        let sockets = *rng.pick(&[1, 1, 2, 2, 4]);
        let cores = *rng.pick(&[1, 2, 4, 6, 8, 12, 16, 24, 32, 64]);
        let threads = *rng.pick(&[1, 2, 2]);
        let dies = rng.chance(50).then_some(1);
        // 11.3.0's capabilities print `clusters='1'`; a few hosts report more.
        let clusters = (v11 && rng.chance(60)).then(|| *rng.pick(&[1, 1, 1, 2]));
        cpu.topology = Some(Topology { sockets, dies, clusters, cores, threads });
    }
    if cpu.signature.is_some() && rng.chance(50) {
        cpu.microcode = Some(rng.range(1, 0x2000) as u32);
    }
    if cpu.features.iter().any(|f| f == "invtsc") && rng.chance(40) {
        cpu.tsc_hz = Some(rng.range(1_000, 4_000) as u64 * 1_000_000);
    }
    if rng.chance(25) {
        let bits = *rng.pick(&[39, 43, 46, 48, 52]);
        let mut phys = PhysAddr { mode: "passthrough", bits: Some(bits), limit: None };
        if v11 {
            if rng.chance(30) {
                phys.mode = "emulate";
            } else if rng.chance(30) {
                phys.limit = Some(*rng.pick(&[39, 46, 48]));
            }
        }
        cpu.phys_addr = Some(phys);
    }
    if rng.chance(10) {
        rng.shuffle(&mut cpu.features);
    }
}

/// Writes the CPUs into one document the way `virsh capabilities` would (quotes as libvirt
/// writes them, occasionally double quotes and comments, which XML allows).
fn render(rng: &mut Rng, cpus: &[HostCpu], layout: Layout, index: usize) -> String {
    let mut out = String::new();
    let dq = rng.chance(10);
    let q = |s: &str| if dq { format!("\"{s}\"") } else { format!("'{s}'") };
    // ` name='value'` when there is a value.
    let optional =
        |name: &str, value: Option<u32>| value.map_or(String::new(), |v| format!(" {name}={}", q(&v.to_string())));
    for (i, cpu) in cpus.iter().enumerate() {
        if rng.chance(5) {
            let _ = writeln!(out, "<!-- host {i} of pool {index} -->");
        }
        let wrap = match layout {
            Layout::Bare => false,
            Layout::Capabilities => true,
            Layout::Mixed => rng.chance(50),
        };
        let ind = if wrap { "    " } else { "" };
        if wrap {
            out.push_str("<capabilities>\n\n  <host>\n");
            let _ = writeln!(out, "    <uuid>{:08x}-0000-4000-8000-{:012x}</uuid>", index, i);
        }
        let _ = writeln!(out, "{ind}<cpu>");
        if !cpu.no_arch {
            let _ = writeln!(out, "{ind}  <arch>x86_64</arch>");
        }
        let _ = writeln!(out, "{ind}  <model>{}</model>", cpu.model);
        if let Some(v) = &cpu.vendor {
            let _ = writeln!(out, "{ind}  <vendor>{v}</vendor>");
        }
        if let Some(m) = cpu.microcode {
            let _ = writeln!(out, "{ind}  <microcode version={}/>", q(&m.to_string()));
        }
        if let Some((f, m, s)) = cpu.signature {
            let _ = writeln!(
                out,
                "{ind}  <signature family={} model={} stepping={}/>",
                q(&f.to_string()),
                q(&m.to_string()),
                q(&s.to_string())
            );
        }
        if let Some(hz) = cpu.tsc_hz {
            let _ = writeln!(
                out,
                "{ind}  <counter name={} frequency={} scaling={}/>",
                q("tsc"),
                q(&hz.to_string()),
                q("no")
            );
        }
        if let Some(t) = cpu.topology {
            let _ = writeln!(
                out,
                "{ind}  <topology sockets={}{}{} cores={} threads={}/>",
                q(&t.sockets.to_string()),
                optional("dies", t.dies),
                optional("clusters", t.clusters),
                q(&t.cores.to_string()),
                q(&t.threads.to_string())
            );
        }
        if let Some(p) = cpu.phys_addr {
            let _ = writeln!(
                out,
                "{ind}  <maxphysaddr mode={}{}{}/>",
                q(p.mode),
                optional("bits", p.bits),
                optional("limit", p.limit)
            );
        }
        for f in &cpu.features {
            let _ = writeln!(out, "{ind}  <feature name={}/>", q(f));
        }
        if wrap {
            out.push_str("      <pages unit='KiB' size='4'/>\n      <pages unit='KiB' size='2048'/>\n");
        }
        let _ = writeln!(out, "{ind}</cpu>");
        if wrap {
            out.push_str(CAPS_TAIL);
        }
    }
    out
}

/// The rest of a `virsh capabilities` document after the host `<cpu>`: it holds more `<cpu>`
/// elements (the NUMA topology's) that are not CPU definitions, and a guest section.
const CAPS_TAIL: &str = "    <power_management>
      <suspend_mem/>
      <suspend_disk/>
    </power_management>
    <iommu support='no'/>
    <migration_features>
      <live/>
      <uri_transports>
        <uri_transport>tcp</uri_transport>
        <uri_transport>rdma</uri_transport>
      </uri_transports>
    </migration_features>
    <topology>
      <cells num='1'>
        <cell id='0'>
          <memory unit='KiB'>16281580</memory>
          <cpus num='2'>
            <cpu id='0' socket_id='0' die_id='0' core_id='0' siblings='0-1'/>
            <cpu id='1' socket_id='0' die_id='0' core_id='0' siblings='0-1'/>
          </cpus>
        </cell>
      </cells>
    </topology>
  </host>

  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <machine maxCpus='255'>pc-i440fx-7.2</machine>
      <domain type='qemu'/>
      <domain type='kvm'/>
    </arch>
    <features>
      <acpi default='on' toggle='yes'/>
      <cpuselection/>
      <deviceboot/>
    </features>
  </guest>

</capabilities>
";
