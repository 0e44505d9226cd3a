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
use cpufleet_engine::map::X86Map;
use cpufleet_engine::x86::model::make_signature;
use cpufleet_engine::{CpuDef, FeatureSet};
use cpufleet_inventory::Inventory;

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
    let fleet = Fleet::from_parts(pools, classes, keys, host_key, names);
    let mut spec = base.clone();
    spec.label = "inventory".into();
    spec.pools = specs;
    spec.profiles = profiles;
    if !guests.is_empty() {
        spec.guests = 0;
    }
    Ok(RealFleet { spec, fleet, guests })
}
