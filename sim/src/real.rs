//! Real fleets: an operator's inventory (`cpufleet simulate --inventory DIR`) as a simulator
//! fleet.
//!
//! Each distinct host CPU of the inventory becomes one host class, exactly as read (the model
//! name and features of its file: libvirt's baseline and compare see the file's CPU, so the
//! simulator must too); hosts keep their file names. Generations are what the synthetic fleet's
//! profiles are: here each distinct host model name (with its vendor) is one pseudo-generation,
//! so the reports' generation columns show the models the hosts decode to. Scenarios that
//! need generation profiles (rolling upgrades, microcode events) do not apply to a real fleet;
//! the report says so.

use super::error::{SimError, SimResult};
use super::fleet::{host_class, Classes, Fleet, HostKey, PoolInfo};
use super::kvm_view::KvmView;
use super::profiles::{OddRules, Profile, Profiles};
use super::rng::Weighted;
use super::spec::{PoolSpec, Spec};
use cpufleet_engine::domain::DomainFeatures;
use cpufleet_engine::hypervisor::Hypervisor;
use cpufleet_engine::map::X86Map;
use cpufleet_engine::x86::model::make_signature;
use cpufleet_engine::{CpuDef, FeatureSet};
use cpufleet_inventory::Inventory;
use rayon::prelude::*;

/// A guest of the inventory: its name, its host and its CPU as written in its domain XML.
#[derive(Clone, Debug)]
pub struct RealGuest {
    pub name: String,
    /// Fleet host index of the host it runs on.
    pub host: usize,
    /// `None`: the domain has no `<cpu>` (the hypervisor's default CPU, which libvirt checks
    /// nowhere).
    pub cpu: Option<CpuDef>,
    /// The domain's settings that reach `-cpu` and the start checks.
    pub features: DomainFeatures,
}

/// A real fleet ready to simulate: the spec with the inventory's pools and pseudo-generations,
/// the fleet, the guests.
pub struct RealFleet {
    pub spec: Spec,
    pub fleet: Fleet,
    pub guests: Vec<RealGuest>,
}

/// The pseudo-generation of each distinct CPU (one per (vendor, model name)), and the profiles.
fn pseudo_profiles(map: &X86Map, cpus: &[(CpuDef, usize)]) -> SimResult<(Vec<u16>, Profiles)> {
    let mut list: Vec<Profile> = Vec::new();
    let mut of_cpu = Vec::with_capacity(cpus.len());
    for (cpu, vendor) in cpus {
        let name = cpu.model.clone().unwrap_or_else(|| "(no model)".into());
        let i = match list.iter().position(|p| p.name == name && p.vendor == *vendor) {
            Some(i) => i,
            None => {
                let s = cpu.signature.unwrap_or_default();
                list.push(Profile {
                    name,
                    vendor: *vendor,
                    vendor_name: map.vendors[*vendor].name.clone(),
                    year: 0,
                    example: String::new(),
                    model: cpu.model.as_deref().and_then(|m| map.model_index(m)).unwrap_or(0),
                    signature: (s.family, s.model, s.stepping),
                    signature_eax: make_signature(s.family, s.model, s.stepping),
                    base: FeatureSet::new(),
                    virt: FeatureSet::new(),
                    levels: Vec::new(),
                });
                list.len() - 1
            }
        };
        of_cpu.push(u16::try_from(i).map_err(|_| SimError::TooManyProfiles)?);
    }
    Ok((of_cpu, Profiles { list, odd: OddRules::default(), kvm: KvmView::embedded(map)? }))
}

/// The inventory as a fleet under `base`'s guest configurations, counts and plan settings.
pub fn from_inventory(map: &X86Map, base: &Spec, inv: &Inventory) -> SimResult<RealFleet> {
    let mut cpus = Vec::with_capacity(inv.cpus.len());
    for (i, cpu) in inv.cpus.iter().enumerate() {
        let vendor = cpu.vendor.as_deref().and_then(|v| map.vendor_index(v)).ok_or_else(|| {
            let host = inv.pools.iter().flat_map(|p| &p.hosts).find(|h| h.cpu.index() == i);
            SimError::Inventory(format!(
                "{}: the host CPU names no vendor libvirt knows ({}); the simulator needs each host's vendor",
                host.map_or_else(|| "?".into(), |h| h.path.display().to_string()),
                cpu.vendor.as_deref().unwrap_or("none")
            ))
        })?;
        cpus.push((cpu.clone(), vendor));
    }
    let (profile_of_cpu, profiles) = pseudo_profiles(map, &cpus)?;
    let mut classes = Classes::default();
    let mut keys = Vec::with_capacity(cpus.len());
    for (i, (cpu, vendor)) in cpus.into_iter().enumerate() {
        let profile = profile_of_cpu[i];
        let signature = profiles.list[profile as usize].signature_eax;
        // A domcapabilities host brings its own QEMU/KVM; others get the KVM view of their CPU.
        let hv = inv.hypervisors.get(i).cloned().flatten().map(|b| *b);
        let class = host_class(map, &profiles.kvm, cpu, hv, vendor, signature, profile, false)
            .map_err(|error| SimError::Undecodable { profile: profiles.list[profile as usize].name.clone(), error })?;
        // Level, flags and odd variant describe synthetic hosts only; a real host is its CPU.
        let key = HostKey { profile, level: 0, flags: 0, odd_remove: 0 };
        keys.push((key, classes.push(class)));
    }
    let mut pools = Vec::new();
    let mut specs = Vec::new();
    let (mut host_key, mut names, mut guests) = (Vec::new(), Vec::new(), Vec::new());
    for p in &inv.pools {
        let start = host_key.len();
        let mut gens: Vec<(usize, f64)> = Vec::new();
        for h in &p.hosts {
            host_key.push(h.cpu.0);
            names.push(h.name.clone());
            let g = profile_of_cpu[h.cpu.index()] as usize;
            match gens.iter_mut().find(|x| x.0 == g) {
                Some(x) => x.1 += 1.0,
                None => gens.push((g, 1.0)),
            }
        }
        for g in &p.guests {
            guests.push(RealGuest {
                name: g.name.clone(),
                host: start + g.host,
                cpu: g.cpu.clone(),
                features: g.features.clone(),
            });
        }
        let vendor = classes.get(keys[p.hosts[0].cpu.index()].1).vendor;
        let weights: Vec<f64> = gens.iter().map(|g| g.1).collect();
        let pick = Weighted::new(&weights).ok_or_else(|| SimError::BadWeights { pool: p.name.clone() })?;
        let len = p.hosts.len();
        pools.push(PoolInfo { name: p.name.clone(), start, len, vendor, gens: gens.clone(), pick });
        specs.push(PoolSpec { name: p.name.clone(), hosts: len as u64, generations: gens, vendor });
    }
    let fleet = Fleet::from_parts(pools, classes, keys, host_key.into(), names);
    let mut spec = base.clone();
    spec.label = "inventory".into();
    spec.pools = specs;
    spec.profiles = profiles;
    if !guests.is_empty() {
        spec.guests = 0;
    }
    Ok(RealFleet { spec, fleet, guests })
}

/// The inventory as one libvirt release reads it ([`Inventory::read_by_release`]), with that
/// release's map.
pub struct ReleaseRead {
    pub map: cpufleet_engine::CpuMap,
    pub inventory: Inventory,
}

/// A host of the inventory that a release of a multi-release scenario cannot read, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeftOut {
    /// `POOL/HOST`.
    pub host: String,
    pub release: cpufleet_engine::LibvirtVersion,
    /// The reader's message (file, position, problem).
    pub reason: String,
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (libvirt {} cannot read it: {})", self.host, self.release, self.reason)
    }
}

/// A real fleet under several releases: the inputs (maps and specs of the releases, ascending),
/// each release's fleet over the hosts every one of them reads, and the hosts left out.
pub(crate) struct MultiRelease {
    pub inputs: super::versions::Inputs,
    pub hosts: super::versions::RealHosts,
}

/// `primary` (the inventory as the run reads it) under each release of `involved` (read from
/// `reads`, which holds at least those): the hosts every involved release can read, with their
/// own release (the one their metadata names; None without metadata), aligned by (pool, host
/// name) so that every release's fleet has the same hosts in the same order with the same key
/// ids. A host one release cannot read is left out of every release's fleet and listed with the
/// reason (a data problem: its file names a model or feature that release does not know, or
/// it is not a document that release reads). None when no host is left; the hosts left out
/// either way, the first release that cannot read each, in inventory order.
pub(crate) fn multi_release(
    base: &Spec,
    primary: &Inventory,
    reads: &[ReleaseRead],
    involved: &[cpufleet_engine::LibvirtVersion],
) -> SimResult<(Option<MultiRelease>, Vec<LeftOut>)> {
    use std::collections::HashMap;
    let mut involved = involved.to_vec();
    involved.sort();
    involved.dedup();
    let reads: Vec<&ReleaseRead> = involved
        .iter()
        .map(|&v| reads.iter().find(|r| r.map.version() == v).expect("the inventory is read by every involved release"))
        .collect();
    // Per release: (pool, host) → why that release cannot use the host's CPU (None: it can).
    let found: Vec<HashMap<(&str, &str), Option<String>>> = reads
        .iter()
        .map(|r| {
            let inv = &r.inventory;
            let kvm = KvmView::embedded(&r.map.x86)?;
            let bad: Vec<Option<String>> = (0..inv.cpus.len())
                .into_par_iter()
                .map(|i| unresolved(&r.map.x86, &kvm, &inv.cpus[i], inv.hypervisors[i].as_deref()))
                .collect();
            Ok(inv
                .pools
                .iter()
                .flat_map(|p| {
                    let bad = &bad;
                    p.hosts.iter().map(move |h| {
                        let why = bad[h.cpu.index()].as_ref().map(|e| format!("{}: {e}", h.path.display()));
                        ((p.name.as_str(), h.name.as_str()), why)
                    })
                })
                .collect::<HashMap<_, _>>())
        })
        .collect::<SimResult<_>>()?;
    let mut left_out = Vec::new();
    let mut keep: HashMap<(&str, &str), ()> = HashMap::new();
    for p in &primary.pools {
        for h in &p.hosts {
            let key = (p.name.as_str(), h.name.as_str());
            let why = (0..reads.len()).find_map(|i| match found[i].get(&key) {
                Some(None) => None,
                Some(Some(why)) => Some((i, why.clone())),
                None => {
                    let own = [Some(&h.path), h.domcaps.as_ref()];
                    let skipped = reads[i].inventory.skipped.iter().find(|s| own.contains(&Some(&s.path)));
                    Some((i, skipped.map_or_else(|| "its file was not read".to_string(), |s| s.to_string())))
                }
            });
            match why {
                None => {
                    keep.insert(key, ());
                }
                Some((i, reason)) => {
                    left_out.push(LeftOut { host: format!("{}/{}", p.name, h.name), release: involved[i], reason })
                }
            }
        }
    }
    if keep.is_empty() {
        return Ok((None, left_out));
    }
    // Each release's inventory restricted to the kept hosts (pool order and host order are the
    // file names', the same in every read); guests are not part of these scenarios.
    let own_release: HashMap<(&str, &str), Option<cpufleet_engine::LibvirtVersion>> = primary
        .pools
        .iter()
        .flat_map(|p| p.hosts.iter().map(move |h| ((p.name.as_str(), h.name.as_str()), h.libvirt)))
        .collect();
    let mut fleets = Vec::new();
    let mut specs = Vec::new();
    let mut own = Vec::new();
    for (i, r) in reads.iter().enumerate() {
        let mut inv = r.inventory.clone();
        inv.skipped.clear();
        for p in &mut inv.pools {
            p.guests.clear();
            let name = p.name.clone();
            p.hosts.retain(|h| keep.contains_key(&(name.as_str(), h.name.as_str())));
        }
        inv.pools.retain(|p| !p.hosts.is_empty());
        // Only the kept hosts' CPUs (a left-out host's may not resolve under this release).
        let mut new_id: HashMap<u32, u32> = HashMap::new();
        let (mut cpus, mut hvs) = (Vec::new(), Vec::new());
        for h in inv.pools.iter_mut().flat_map(|p| p.hosts.iter_mut()) {
            let old = h.cpu.0;
            let id = *new_id.entry(old).or_insert_with(|| {
                cpus.push(r.inventory.cpus[old as usize].clone());
                hvs.push(r.inventory.hypervisors[old as usize].clone());
                cpus.len() as u32 - 1
            });
            h.cpu = cpufleet_inventory::CpuId(id);
        }
        (inv.cpus, inv.hypervisors) = (cpus, hvs);
        if i == 0 {
            own = inv
                .pools
                .iter()
                .flat_map(|p| p.hosts.iter().map(|h| (p.name.clone(), h.name.clone())))
                .map(|(p, h)| {
                    own_release
                        .get(&(p.as_str(), h.as_str()))
                        .copied()
                        .flatten()
                        .map(|v| involved.iter().position(|&w| w == v).expect("own releases are involved") as u8)
                })
                .collect();
        }
        let mut spec_base = base.clone();
        spec_base.pool_libvirt.clear();
        let real = from_inventory(&r.map.x86, &spec_base, &inv)?;
        let mut spec = real.spec;
        spec.label = base.label.clone();
        specs.push(spec);
        fleets.push(real.fleet);
    }
    let fleets = align(fleets);
    let maps = reads.iter().map(|r| r.map.clone()).collect();
    let inputs = super::versions::Inputs { maps, specs };
    Ok((Some(MultiRelease { inputs, hosts: super::versions::RealHosts { fleets, own } }), left_out))
}

/// Why `map`'s release cannot use a host CPU as read, None when it can: the vendor it names is
/// not in the map, or turning it into a host class fails, as [`from_inventory`] does it (a model
/// or feature name the map does not know, in the CPU or in its domcapabilities). libvirt's parser
/// accepts any name; the names are looked up when the CPU is used.
fn unresolved(map: &X86Map, kvm: &KvmView, cpu: &CpuDef, hv: Option<&Hypervisor>) -> Option<String> {
    let Some(vendor) = cpu.vendor.as_deref().and_then(|v| map.vendor_index(v)) else {
        return Some(format!(
            "the host CPU names no vendor libvirt knows ({})",
            cpu.vendor.as_deref().unwrap_or("none")
        ));
    };
    let s = cpu.signature.unwrap_or_default();
    let signature = make_signature(s.family, s.model, s.stepping);
    host_class(map, kvm, cpu.clone(), hv.cloned(), vendor, signature, 0, false).err().map(|e| e.to_string())
}

/// The same hosts read by several releases, with one key per distinct combination of their
/// CPUs under every release (a key id means the same host file in every fleet).
fn align(fleets: Vec<Fleet>) -> Vec<Fleet> {
    let n = fleets[0].n_hosts();
    let mut index: std::collections::HashMap<Vec<u32>, u32> = std::collections::HashMap::new();
    let mut combos: Vec<Vec<u32>> = Vec::new();
    let mut host_key = Vec::with_capacity(n);
    for h in 0..n {
        let combo: Vec<u32> = fleets.iter().map(|f| f.host_key[h]).collect();
        let k = *index.entry(combo.clone()).or_insert_with(|| {
            combos.push(combo);
            combos.len() as u32 - 1
        });
        host_key.push(k);
    }
    let host_key: std::sync::Arc<[u32]> = host_key.into();
    fleets
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let keys = combos.iter().map(|c| f.keys[c[i] as usize]).collect();
            let names = f.names.own().map(<[String]>::to_vec).unwrap_or_default();
            Fleet::from_parts(f.pools, f.classes, keys, host_key.clone(), names)
        })
        .collect()
}

/// At most this many hosts are named in a note on hosts left out (the count is complete).
const LEFT_OUT_NAMED: usize = 10;

/// "3 hosts: a (…), b (…)", at most [`LEFT_OUT_NAMED`] named.
pub(crate) fn left_out_list(l: &[LeftOut]) -> String {
    let mut s: Vec<String> = l.iter().take(LEFT_OUT_NAMED).map(|x| x.to_string()).collect();
    if l.len() > LEFT_OUT_NAMED {
        s.push(format!("and {} more", l.len() - LEFT_OUT_NAMED));
    }
    format!("{}: {}", crate::report::words::count(l.len() as u64, "host"), s.join("; "))
}

/// The releases' names, "9.0.0, 11.3.0".
pub(crate) fn release_list(v: &[cpufleet_engine::LibvirtVersion]) -> String {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
}
