//! The pools scenario: the baseline of every pool and of the whole fleet; per pool the chosen
//! model, its feature count, the features each generation loses under it, and the x86-64 ABI
//! level the baseline still satisfies.

pub(crate) mod check;
pub(crate) mod entry;
pub(crate) mod section;

use super::super::error::BaselineError;
use super::super::fleet::{baseline_of, vendor_neutral_baseline, Fleet, HostNames, PoolInfo};
use super::super::guest::{ClassMask, Compat, GuestSets};
use super::super::ids::{GuestClassId, HostClassId, HostId, IdVec};
use super::Sim;
use cpufleet_engine::map::X86Map;
use cpufleet_engine::x86::explain::{explain_with, DistinctInput};
use cpufleet_engine::x86::{self, BaselineAcc, BaselineInput, Sel};
use cpufleet_engine::{CpuDef, FeatureId, FeatureSet};
use serde::Serialize;

pub(crate) use cpufleet_engine::x86::{abi_level, AbiLevel};

/// A baseline CPU as the report shows it.
#[derive(Clone, Debug, Default, Serialize)]
pub struct BaselineReport {
    pub model: Option<String>,
    pub vendor: Option<String>,
    /// Features of the baseline CPU (model plus extras, migratable).
    pub features: usize,
    /// The x86-64 ABI level the baseline's features satisfy; `None` when there is no baseline,
    /// which the JSON prints as `"-"` (see [`abi_or_dash`]).
    #[serde(serialize_with = "abi_or_dash")]
    pub abi_level: Option<AbiLevel>,
    /// The guest CPU XML (what `virsh cpu-baseline --migratable` prints).
    pub cpu_xml: String,
    /// Why there is no baseline (then the other fields are empty).
    pub error: Option<String>,
}

/// Serializes an ABI level by its name, and no level as `"-"` (what the report has always
/// printed for a pool with no baseline).
fn abi_or_dash<S: serde::Serializer>(level: &Option<AbiLevel>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(abi_or_dash_str(*level))
}

/// An ABI level's name, or `"-"` for none (the text and HTML reports print the same).
pub(crate) fn abi_or_dash_str(level: Option<AbiLevel>) -> &'static str {
    level.map_or("-", AbiLevel::as_str)
}

impl BaselineReport {
    pub fn of(map: &X86Map, cpu: &Result<CpuDef, BaselineError>) -> BaselineReport {
        match cpu {
            Ok(c) => {
                let set = x86::model_from_cpu(map, c, Sel::All).map(|m| m.features).unwrap_or_default();
                BaselineReport {
                    model: c.model.clone(),
                    vendor: c.vendor.clone(),
                    features: set.count(),
                    abi_level: Some(abi_level(map, &set)),
                    cpu_xml: cpufleet_engine::xml::format_cpu(c),
                    error: None,
                }
            }
            Err(e) => BaselineReport {
                model: None,
                vendor: None,
                features: 0,
                abi_level: None,
                cpu_xml: String::new(),
                error: Some(e.to_string()),
            },
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct GenerationRow {
    pub generation: String,
    pub year: u32,
    pub hosts: u64,
    /// Features most hosts of this generation offer guests (their QEMU/KVM host model, in this
    /// pool) that the pool's hypervisor baseline drops.
    pub lost: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PoolReport {
    pub name: String,
    pub hosts: u64,
    pub vendor: String,
    /// Distinct host CPUs in the pool.
    pub host_cpus: usize,
    /// The hypervisor view: `virsh hypervisor-cpu-baseline --migratable` of the hosts' QEMU/KVM
    /// host models, what the pool-baseline guests are configured with.
    pub baseline: BaselineReport,
    /// The raw view: `virsh cpu-baseline --migratable` of the hosts' CPUs (`virsh capabilities`).
    pub raw_baseline: BaselineReport,
    pub generations: Vec<GenerationRow>,
    /// The few hosts that hold the pool's baseline down (`cpufleet baseline --explain`).
    pub outliers: Vec<Outlier>,
    /// Every host of the pool, by name, in fleet order.
    pub host_names: HostNames,
    /// Why the pool has no baseline when that is a fact of the fleet's data (hosts of several
    /// vendors in one pool folder), with what to do about it; never a cpufleet failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<DataProblem>,
}

/// A problem of the fleet's data (not of cpufleet): what it is about, why, and the action.
#[derive(Clone, Debug, Serialize)]
pub struct DataProblem {
    /// `pool NAME` or `guest POOL/HOST/NAME`.
    pub subject: String,
    pub problem: String,
    pub action: String,
}

/// Pool `pi`'s data problem: its hosts are of several vendors, so libvirt has no common CPU for
/// them (`virCPUBaseline` refuses mixed vendors). `None` when the pool has a baseline.
pub(crate) fn pool_problem(sim: &Sim, pi: usize) -> Option<DataProblem> {
    let ctx = &sim.starter.ctxs[sim.pool_ctx[pi]];
    ctx.baseline.as_ref().err()?;
    let vendors = sim.fleet.pool_vendors(pi);
    if vendors.len() < 2 {
        return None;
    }
    let map = &sim.map.x86;
    let list: Vec<String> = vendors
        .iter()
        .map(|&(v, n)| format!("{} ({})", map.vendors[v].name, crate::report::words::count(n, "host")))
        .collect();
    Some(DataProblem {
        subject: format!("pool {}", sim.fleet.pools[pi].name),
        problem: format!("mixes {} hosts: libvirt has no common CPU for them", list.join(" and ")),
        action: "split it into one pool per vendor".into(),
    })
}

/// Hosts whose removal would change a pool's guest baseline, and what the pool's guests would
/// get without them: the hypervisor view (`virsh hypervisor-cpu-baseline --migratable` of the
/// hosts' QEMU/KVM host models, what pool-baseline guests are configured with), so features
/// KVM never gives a guest are never counted as a gain.
#[derive(Clone, Debug, Serialize)]
pub struct Outlier {
    pub hosts: u64,
    pub host_names: HostNames,
    /// The guest baseline model of the pool without them.
    pub without_model: Option<String>,
    /// Features the guest baseline without them provides in all (model plus extras).
    pub without_features: usize,
    /// Features guests would gain without them (the guest baseline without them provides them,
    /// the pool's does not).
    pub gained: Vec<String>,
    /// Features guests would lose (rare: another model can drop one).
    pub lost: Vec<String>,
}

/// At most this many outlier groups per pool.
pub(crate) const MAX_OUTLIERS: usize = 3;

/// The minorities (at most half the pool) whose removal changes the pool's guest baseline
/// (`hv_baseline_of`: the hosts' QEMU/KVM host models, baselined by the QEMU driver), most
/// features gained first: the engine's explanation (`x86::explain::explain_with`, finished by
/// the first host's `Hypervisor::baseline_finish`, as `hv_baseline_of` is) over the pool's
/// distinct host CPUs (`ids`, in first-appearance order).
pub(crate) fn outliers(map: &X86Map, fleet: &Fleet, range: std::ops::Range<usize>, ids: &[HostClassId]) -> Vec<Outlier> {
    let Some(&first) = ids.first() else { return Vec::new() };
    let hv = &fleet.classes[first].hv;
    // The classes with a host model (`hv_baseline_of` skips the others), as explain inputs.
    let with_model: Vec<HostClassId> =
        ids.iter().copied().filter(|&c| fleet.classes[c].hv.reported.is_some()).collect();
    // The explain input of each host class (usize::MAX: none).
    let mut slot = vec![usize::MAX; fleet.classes.len()];
    for (i, &c) in with_model.iter().enumerate() {
        slot[c.index()] = i;
    }
    let slot_of = |h: usize| slot[fleet.host_class[HostId::new(h)].index()];
    let mut count = vec![0usize; with_model.len()];
    for h in range.clone() {
        if let Some(n) = count.get_mut(slot_of(h)) {
            *n += 1;
        }
    }
    let inputs: Result<Vec<DistinctInput>, _> = with_model
        .iter()
        .zip(&count)
        .enumerate()
        .map(|(i, (&c, &count))| {
            let cpu = fleet.classes[c].hv.reported.as_ref().expect("filtered");
            BaselineInput::from_cpu(map, cpu, i).map(|input| DistinctInput { input, count })
        })
        .collect();
    let finish = |acc: &BaselineAcc| hv.baseline_finish(map, acc, true);
    let Ok(ex) = inputs.and_then(|inputs| explain_with(map, &inputs, &finish, &map.non_migratable)) else {
        return Vec::new();
    };
    let names = |set: &FeatureSet| set.iter().map(|id| map.feature_name(id).to_string()).collect();
    ex.limits
        .iter()
        .filter(|l| l.cpus * 2 <= range.len())
        .take(MAX_OUTLIERS)
        .map(|l| Outlier {
            hosts: l.cpus as u64,
            host_names: fleet.names_of(range.clone().filter(|&h| l.inputs.binary_search(&slot_of(h)).is_ok())),
            without_model: l.without.model.clone(),
            without_features: x86::model_from_cpu(map, &l.without, Sel::All).map_or(0, |m| m.features.count()),
            gained: names(&l.gained),
            lost: names(&l.lost),
        })
        .collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct VendorBaseline {
    pub vendor: String,
    pub hosts: u64,
    pub baseline: BaselineReport,
}

/// Where each pool's baseline guest can run: share of each generation's hosts (fleet-wide).
#[derive(Clone, Debug, Default, Serialize)]
pub struct CompatMatrix {
    pub generations: Vec<String>,
    /// Per pool (in pool order): per generation, the share (0..1) of that generation's hosts
    /// that can run the pool's baseline guest CPU; null where the pool has no baseline.
    pub share: Vec<Vec<Option<f64>>>,
    /// Per pool and generation where no host runs the baseline guest CPU (share 0): why, the
    /// refusal most of that generation's hosts give (null elsewhere).
    pub why_none: Vec<Vec<Option<String>>>,
}

/// The pools scenario's fields of the report (it runs always: the HTML page shows them whichever
/// scenarios ran).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Part {
    pub pools: Vec<PoolReport>,
    pub fleet_baselines: FleetBaselines,
    pub compatibility_matrix: CompatMatrix,
}

/// The fleet's baselines: per vendor, and across vendors.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FleetBaselines {
    pub by_vendor: Vec<VendorBaseline>,
    pub all_vendors: BaselineReport,
}

impl From<PoolsReport> for Part {
    fn from(r: PoolsReport) -> Part {
        Part {
            pools: r.pools,
            fleet_baselines: FleetBaselines { by_vendor: r.fleet_by_vendor, all_vendors: r.fleet_all_vendors },
            compatibility_matrix: r.matrix,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct PoolsReport {
    pub pools: Vec<PoolReport>,
    pub fleet_by_vendor: Vec<VendorBaseline>,
    /// Across vendors (libvirt refuses to baseline mixed vendors: the common features, named by
    /// the guest decoder without a vendor).
    pub fleet_all_vendors: BaselineReport,
    pub matrix: CompatMatrix,
}

/// How many times each table index `0..n_classes` occurs in `of` (the hosts of each class, of
/// each key).
pub(crate) fn class_counts(n_classes: usize, of: impl IntoIterator<Item = usize>) -> Vec<u64> {
    let mut counts = vec![0u64; n_classes];
    for c in of {
        counts[c] += 1;
    }
    counts
}

/// Which host classes a set of hosts has, and how many hosts of each.
pub(crate) struct Presence {
    pub counts: Vec<u64>,
    pub mask: ClassMask,
}

impl Presence {
    pub(crate) fn of(n_classes: usize, host_class: &[HostClassId]) -> Presence {
        let counts = class_counts(n_classes, host_class.iter().map(|c| c.index()));
        let mask = ClassMask::present(&counts);
        Presence { counts, mask }
    }

    /// Whether a guest of class `g` on a host of class `own` has another compatible host
    /// among these hosts (another host of its own class counts when it is compatible).
    pub(crate) fn has_destination(&self, compat: &Compat, g: GuestClassId, own: HostClassId) -> bool {
        if self.counts[own.index()] > 1 && compat.allows(g, own) {
            return true;
        }
        let mut m = self.mask.clone();
        m.clear(own);
        m.meets(compat.row(g))
    }
}

/// The classes of the whole fleet and of each pool, for a class per host `host_class`.
pub(crate) struct FleetPresence {
    pub fleet: Presence,
    pub pools: Vec<Presence>,
}

impl FleetPresence {
    pub(crate) fn of(n_classes: usize, pools: &[PoolInfo], host_class: &IdVec<HostId, HostClassId>) -> FleetPresence {
        FleetPresence {
            fleet: Presence::of(n_classes, host_class.as_slice()),
            pools: pools.iter().map(|p| Presence::of(n_classes, host_class.slice(p.range()))).collect(),
        }
    }
}

pub fn run(sim: &Sim) -> PoolsReport {
    let map = &sim.map.x86;
    let fleet = &sim.fleet;
    let profiles = &sim.spec.profiles;
    let isa = map.models.iter().fold(FeatureSet::new(), |acc, m| acc.union(&m.features));
    let mut pools = Vec::new();
    for (pi, p) in fleet.pools.iter().enumerate() {
        let ids = fleet.classes_in(p.range(), &fleet.host_class);
        let ctx = &sim.starter.ctxs[sim.pool_ctx[pi]];
        let baseline = &ctx.baseline;
        let problem = pool_problem(sim, pi);
        let bset = baseline
            .as_ref()
            .ok()
            .and_then(|c| x86::model_from_cpu(map, c, Sel::All).ok())
            .map(|m| m.features)
            .unwrap_or_default();
        // Feature counts per generation over the pool's hosts, counted once per distinct host key
        // (a key fixes the host's generation and its class) times the key's host count.
        let mut gens: Vec<(usize, u64, Vec<u64>)> = Vec::new();
        let per_key = class_counts(fleet.keys.len(), fleet.host_key[p.range()].iter().map(|&k| k as usize));
        for (k, &n) in per_key.iter().enumerate().filter(|&(_, &n)| n > 0) {
            let (key, class) = &fleet.keys[k];
            let g = key.profile as usize;
            let idx = match gens.iter().position(|x| x.0 == g) {
                Some(i) => i,
                None => {
                    gens.push((g, 0, vec![0; map.features.len()]));
                    gens.len() - 1
                }
            };
            gens[idx].1 += n;
            for id in fleet.classes.get(*class).qemu_mig.iter() {
                gens[idx].2[id.index()] += n;
            }
        }
        gens.sort_by_key(|g| (profiles.list[g.0].year, g.0));
        let generations = gens
            .iter()
            .map(|(g, n, counts)| {
                let mut lost: Vec<FeatureId> = counts
                    .iter()
                    .enumerate()
                    .map(|(i, &c)| (FeatureId(i as u16), c))
                    .filter(|&(id, c)| baseline.is_ok() && c * 2 > *n && !bset.contains(id))
                    .map(|(id, _)| id)
                    .collect();
                // Instruction-set features (those some map model has) first: they matter to guests.
                lost.sort_by_key(|id| (!isa.contains(*id), *id));
                GenerationRow {
                    generation: profiles.list[*g].name.clone(),
                    year: profiles.list[*g].year,
                    hosts: *n,
                    lost: lost.iter().map(|&id| map.feature_name(id).to_string()).collect(),
                }
            })
            .collect();
        pools.push(PoolReport {
            name: p.name.clone(),
            hosts: p.len as u64,
            vendor: map.vendors[p.vendor].name.clone(),
            host_cpus: ids.len(),
            baseline: BaselineReport::of(map, baseline),
            raw_baseline: BaselineReport::of(map, &ctx.raw_baseline),
            generations,
            outliers: outliers(map, fleet, p.range(), &ids),
            host_names: fleet.names_of_range(p.range()),
            problem,
        });
    }
    // Fleet-wide, per vendor (libvirt's baseline) and across vendors.
    let all_ids = fleet.classes_in(0..fleet.n_hosts(), &fleet.host_class);
    let counts = class_counts(fleet.classes.len(), fleet.class_indices());
    let mut fleet_by_vendor = Vec::new();
    for (v, vendor) in map.vendors.iter().enumerate() {
        let ids: Vec<HostClassId> = all_ids.iter().copied().filter(|&c| fleet.classes[c].vendor == v).collect();
        if ids.is_empty() {
            continue;
        }
        let b = baseline_of(map, &fleet.classes, &ids, true).map_err(BaselineError::Cpu);
        fleet_by_vendor.push(VendorBaseline {
            vendor: vendor.name.clone(),
            hosts: ids.iter().map(|&c| counts[c.index()]).sum(),
            baseline: BaselineReport::of(map, &b),
        });
    }
    let mut common = fleet.classes[all_ids[0]].features;
    for &c in &all_ids {
        common.intersect_with(&fleet.classes[c].features);
    }
    let fleet_all_vendors = BaselineReport::of(map, &vendor_neutral_baseline(map, &common).map_err(BaselineError::Cpu));
    let matrix = compat_matrix(sim, &counts);
    PoolsReport { pools, fleet_by_vendor, fleet_all_vendors, matrix }
}

/// The guest CPU of a pool baseline once started (no optional features: update only adds the
/// model's removed features as `disable`).
pub(crate) fn started_baseline(map: &X86Map, baseline: &CpuDef) -> Option<GuestSets> {
    let mut g = baseline.clone();
    x86::update(map, &mut g, None).ok()?;
    GuestSets::of_custom(map, &g).ok()
}

fn compat_matrix(sim: &Sim, counts: &[u64]) -> CompatMatrix {
    let map = &sim.map.x86;
    let fleet = &sim.fleet;
    let profiles = &sim.spec.profiles;
    // Generations present in the fleet, oldest first.
    let mut gens: Vec<usize> = Vec::new();
    for (c, cl) in fleet.classes.list.iter().enumerate() {
        if counts[c] > 0 && !gens.contains(&(cl.profile as usize)) {
            gens.push(cl.profile as usize);
        }
    }
    gens.sort_by_key(|&g| (profiles.list[g].year, g));
    type Rows<T> = Vec<Vec<Option<T>>>;
    let (share, why_none): (Rows<f64>, Rows<String>) = (0..fleet.pools.len())
        .map(|pi| {
            let base = sim.starter.ctxs[sim.pool_ctx[pi]].baseline.as_ref().ok();
            let sets = base.and_then(|b| started_baseline(map, b));
            gens.iter()
                .map(|&g| {
                    let Some(sets) = sets.as_ref() else { return (None, None) };
                    let (mut ok, mut all) = (0u64, 0u64);
                    // Refusals by reason, weighted by hosts.
                    let mut why: Vec<(String, u64)> = Vec::new();
                    for (c, cl) in fleet.classes.list.iter().enumerate() {
                        if cl.profile as usize == g && counts[c] > 0 {
                            all += counts[c];
                            match sets.blocker(cl) {
                                None => ok += counts[c],
                                Some(b) => {
                                    let text = blocker_text(map, &b);
                                    match why.iter_mut().find(|(t, _)| *t == text) {
                                        Some(w) => w.1 += counts[c],
                                        None => why.push((text, counts[c])),
                                    }
                                }
                            }
                        }
                    }
                    let share = if all == 0 { 0.0 } else { ok as f64 / all as f64 };
                    let reason = (ok == 0 && all > 0).then(|| {
                        let (text, n) = why.iter().max_by_key(|w| w.1).cloned().unwrap_or_default();
                        format!("{text} ({n} of its {all} hosts)")
                    });
                    (Some(share), reason)
                })
                .unzip()
        })
        .unzip();
    CompatMatrix { generations: gens.iter().map(|&g| profiles.list[g].name.clone()).collect(), share, why_none }
}

/// A refusal of a guest CPU by a host, in words.
fn blocker_text(map: &X86Map, b: &super::super::guest::Blocker) -> String {
    use super::super::guest::Blocker;
    let names = |s: &FeatureSet| {
        let v: Vec<&str> = s.iter().map(|id| map.feature_name(id)).collect();
        let more = v.len().saturating_sub(8);
        let mut t = v.into_iter().take(8).collect::<Vec<_>>().join(" ");
        if more > 0 {
            t.push_str(&format!(" … {more} more"));
        }
        t
    };
    match b {
        Blocker::Vendor => "another CPU vendor".into(),
        Blocker::Passthrough => "host-passthrough onto another host CPU".into(),
        Blocker::Missing(s) => format!("the hosts lack {}", names(s)),
        Blocker::Forbidden(s) => format!("the hosts have forbidden {}", names(s)),
        Blocker::Extra(s) => format!("strict match, the hosts have extra {}", names(s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpufleet_engine::x86::ABI_LEVELS;
    use cpufleet_engine::CpuMap;

    #[test]
    fn presence_counts_classes_and_has_destination_needs_another_compatible_host() {
        let (g, h) = (GuestClassId::new, HostClassId::new);
        let host_class = [h(0), h(0), h(1), h(2)];
        let p = Presence::of(4, &host_class);
        assert_eq!(p.counts, vec![2, 1, 1, 0]);
        assert_eq!(p.mask, ClassMask::present(&[1, 1, 1, 0]));
        // Guest class g runs on the host classes of row g.
        let compat = Compat::of_rows(4, &[&[0], &[1], &[1, 2], &[3]]);
        assert!(p.has_destination(&compat, g(0), h(0)), "the other host of its own class");
        assert!(!p.has_destination(&compat, g(1), h(1)), "its own host is the only one of class 1");
        assert!(p.has_destination(&compat, g(2), h(1)), "the host of class 2");
        assert!(!p.has_destination(&compat, g(3), h(0)), "no host of class 3");
    }

    /// Every outlier claim is the guests' (hypervisor) baseline of the pool's other hosts, run
    /// again from scratch (`hv_baseline_of`), and no gain is a feature only the raw host CPUs
    /// have (one KVM never gives a guest).
    #[test]
    fn outliers_are_the_guest_baseline_of_the_other_hosts_and_gain_only_what_guests_get() {
        use crate::fleet::hv_baseline_of;
        for v in [cpufleet_engine::LibvirtVersion::V9_0_0, cpufleet_engine::LibvirtVersion::V11_3_0] {
            let map = CpuMap::embedded(v).unwrap();
            let x = &map.x86;
            let mut spec = crate::spec::load(x, None, 1 << 20).unwrap();
            spec.scale_hosts(3000).unwrap();
            let sim = Sim::new(&map, &spec, 7, None).unwrap();
            let report = run(&sim);
            let f = &sim.fleet;
            let provided = |c: &CpuDef| x86::model_from_cpu(x, c, Sel::All).unwrap().features;
            let mut checked = 0;
            for (pi, (pool, r)) in f.pools.iter().zip(&report.pools).enumerate() {
                let now = sim.starter.ctxs[sim.pool_ctx[pi]].baseline.as_ref().unwrap();
                assert_eq!(r.baseline.model, now.model);
                for o in &r.outliers {
                    let out: std::collections::HashSet<String> = o.host_names.iter().collect();
                    assert_eq!(out.len() as u64, o.hosts);
                    let rest: Vec<usize> = pool.range().filter(|&h| !out.contains(&f.host_name(h))).collect();
                    assert_eq!(rest.len() as u64 + o.hosts, pool.len as u64);
                    let classes: IdVec<HostId, HostClassId> =
                        rest.iter().map(|&h| f.host_class[HostId::new(h)]).collect();
                    let ids = f.classes_in(0..classes.len(), &classes);
                    let without = hv_baseline_of(x, &f.classes, &ids).unwrap();
                    assert_eq!(o.without_model, without.model, "pool {}", pool.name);
                    let gained: Vec<String> = provided(&without)
                        .difference(&provided(now))
                        .iter()
                        .map(|id| x.feature_name(id).to_string())
                        .collect();
                    assert_eq!(o.gained, gained, "pool {}", pool.name);
                    assert_eq!(o.without_features, provided(&without).count());
                    // What guests get: each remaining host's QEMU/KVM host model has every gain.
                    for &c in &ids {
                        let offered = provided(f.classes.get(c).hv.reported.as_ref().unwrap());
                        for g in &o.gained {
                            assert!(offered.contains(x.feature_id(g).unwrap()), "{g}: host-only, pool {}", pool.name);
                        }
                    }
                    checked += 1;
                }
            }
            assert!(checked >= 3, "{checked} outliers checked under {v}");
        }
    }

    #[test]
    fn abi_levels_of_real_models() {
        let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
        let x = &map.x86;
        let level = |m: &str| abi_level(x, &x.model(m).unwrap().features);
        assert_eq!(level("qemu64"), AbiLevel::V1);
        assert_eq!(level("Nehalem"), AbiLevel::V2);
        // libvirt's Haswell models lack f16c and abm (LZCNT); real Haswell hosts list them as extras.
        assert_eq!(level("Haswell-noTSX"), AbiLevel::V2);
        let mut hsw = x.model("Haswell-noTSX").unwrap().features;
        hsw.insert(x.feature_id("f16c").unwrap());
        hsw.insert(x.feature_id("abm").unwrap());
        assert_eq!(abi_level(x, &hsw), AbiLevel::V3);
        assert_eq!(level("Skylake-Server"), AbiLevel::V4);
        assert_eq!(level("EPYC-Milan"), AbiLevel::V3);
        assert_eq!(level("486"), AbiLevel::Below);
        // Every name of the level lists exists in the map.
        for (_, feats) in ABI_LEVELS {
            for f in feats {
                assert!(x.feature_id(f).is_some(), "{f}");
            }
        }
    }
}
