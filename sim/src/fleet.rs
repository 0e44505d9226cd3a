//! Fleet generation: every host drawn from its pool's generation mix and the host variation of
//! the spec, then interned into distinct host CPU classes.
//!
//! A host is first drawn as a tiny [`HostKey`] (generation, microcode level, BIOS toggles, odd
//! variant); real fleets repeat a few configurations thousands of times, so keys are deduplicated
//! and each distinct key becomes a feature set, which is interned again into a [`HostClass`]
//! (vendor, signature, features) and decoded once by the engine's host decoder, exactly as libvirt
//! would report it in `virsh capabilities`. Per host the fleet stores only a class id (4 bytes).

use super::error::{BaselineError, SimError, SimResult};
use super::ids::{HostClassId, HostId, IdVec};
use super::kvm_view::KvmView;
use super::profiles::Profiles;
use super::rng::{tag, Rng, Weighted};
use super::spec::{Spec, Variation};
use cpufleet_engine::hypervisor::Hypervisor;
use cpufleet_engine::map::X86Map;
use cpufleet_engine::x86::{self, BaselineAcc, BaselineInput, X86Data};
use cpufleet_engine::{CpuDef, CpuError, FeatureSet, Policy};
use rayon::prelude::*;
use std::collections::HashMap;
use std::sync::Arc;

/// Bits of [`HostKey::flags`].
pub(crate) const VIRT_OFF: u8 = 1;
pub(crate) const HT_OFF: u8 = 2;
pub(crate) const NESTED: u8 = 4;

/// One host as drawn: a few bytes that determine its CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostKey {
    pub profile: u16,
    /// Microcode level (0 = as shipped).
    pub level: u8,
    pub flags: u8,
    /// 1 + index into the odd `remove` list, or 0.
    pub odd_remove: u8,
}

impl HostKey {
    pub fn is_odd(&self) -> bool {
        self.flags & NESTED != 0 || self.odd_remove != 0
    }
}

/// Draws host `host_idx` of a pool (or a replacement host of a forced profile).
pub(crate) fn draw_key(
    rng: &mut Rng,
    profiles: &Profiles,
    var: &Variation,
    gens: &[(usize, f64)],
    pick: &Weighted,
    forced: Option<usize>,
) -> HostKey {
    let profile = match forced {
        Some(p) => p,
        None => gens[pick.pick(rng)].0,
    };
    let p = &profiles.list[profile];
    let n_levels = p.levels.len() as u64;
    let level = if n_levels == 0 || rng.chance(var.microcode_latest) { n_levels } else { rng.below(n_levels) };
    let mut flags = 0;
    if rng.chance(var.virt_off) {
        flags |= VIRT_OFF;
    }
    if rng.chance(var.ht_off) {
        flags |= HT_OFF;
    }
    let mut odd_remove = 0u8;
    if rng.chance(var.odd) {
        let n = profiles.odd.remove.len() as u64;
        if n == 0 || rng.chance(0.25) {
            flags |= NESTED;
        } else {
            odd_remove = 1 + rng.below(n.min(254)) as u8;
        }
    }
    HostKey { profile: profile as u16, level: level as u8, flags, odd_remove }
}

/// The features of a host key.
pub(crate) fn key_features(map: &X86Map, profiles: &Profiles, key: &HostKey) -> FeatureSet {
    let p = &profiles.list[key.profile as usize];
    let mut f = p.features_at(key.level as usize);
    if key.flags & VIRT_OFF != 0 {
        f.subtract(&p.virt);
    }
    if key.flags & HT_OFF != 0 {
        if let Some(ht) = map.feature_id("ht") {
            f.remove(ht);
        }
    }
    if key.flags & NESTED != 0 {
        f.union_with(&profiles.odd.nested_add);
        f.subtract(&profiles.odd.nested_remove);
    }
    if key.odd_remove != 0 {
        f.remove(profiles.odd.remove[key.odd_remove as usize - 1]);
    }
    f
}

/// What to intern for host key `k`.
fn class_req(map: &X86Map, profiles: &Profiles, k: &HostKey) -> ClassReq {
    let p = &profiles.list[k.profile as usize];
    ClassReq {
        vendor: p.vendor,
        signature: p.signature_eax,
        features: key_features(map, profiles, k),
        profile: k.profile,
        odd: k.is_odd(),
    }
}

/// A distinct host CPU.
#[derive(Clone, Debug)]
pub struct HostClass {
    pub vendor: usize,
    /// Leaf 1 EAX.
    pub signature: u32,
    /// The generation (profile) of the first host seen with this CPU.
    pub profile: u16,
    pub odd: bool,
    /// The decoded map model.
    pub model: usize,
    /// Every feature (model plus extras), as libvirt sees the host: what started guests are
    /// compared against (libvirt's start and migration checks use the full host CPU).
    pub features: FeatureSet,
    /// The features of the migratable copy (without listed non-migratable features): what
    /// host-model guests and `optional` features are resolved against, and what pool
    /// baselines see.
    pub mig: FeatureSet,
    /// The host CPU as `virsh capabilities` shows it.
    pub cpu: CpuDef,
    /// Its migratable copy (`virCPUCopyMigratable`).
    pub cpu_mig: CpuDef,
    /// Id of (vendor, model, features): equal ids = identical CPUs (host-passthrough safety).
    pub identity: u32,
    /// The host's QEMU/KVM as libvirt's QEMU driver sees it (qemu-driver spec §1): REPORTED,
    /// the host-model CPU `virsh domcapabilities` would show (the raw CPU through the KVM view
    /// of [`crate::kvm_view`], decoded as a guest CPU, §5.1), and FULL (from the raw CPU, §1.3).
    /// Guests start against it (`Hypervisor::start`).
    pub hv: Hypervisor,
    /// REPORTED as a host CPU (what an inventory takes from a domcapabilities file): the input
    /// of the hypervisor view's compare in the reference model.
    pub hv_host: CpuDef,
    /// What QEMU/KVM can enable for a guest on this host (REPORTED's features, `invtsc`
    /// included): what a migration destination's `check='full'` live check needs (§4.5).
    pub qemu: FeatureSet,
    /// The same without non-migratable features (MIGRATABLE, §1.3): what a host-passthrough
    /// guest sees.
    pub qemu_mig: FeatureSet,
    /// FULL's named features with a policy other than `disable`: the forbidden-feature check of
    /// the start path and of a migration destination (§4.3, by name).
    pub full_named: FeatureSet,
}

/// A request to intern a host CPU.
#[derive(Clone, Copy, Debug)]
pub struct ClassReq {
    pub vendor: usize,
    pub signature: u32,
    pub features: FeatureSet,
    pub profile: u16,
    pub odd: bool,
}

/// The distinct host CPUs, interned.
#[derive(Clone, Default)]
pub struct Classes {
    pub list: Vec<HostClass>,
    index: HashMap<(usize, u32, FeatureSet), HostClassId>,
    identities: HashMap<(usize, usize, FeatureSet), u32>,
}

impl Classes {
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn get(&self, id: HostClassId) -> &HostClass {
        &self[id]
    }

    /// Every class with its id, in id order.
    pub fn iter_enumerated(&self) -> impl ExactSizeIterator<Item = (HostClassId, &HostClass)> + '_ {
        self.list.iter().enumerate().map(|(i, c)| (HostClassId::new(i), c))
    }

    /// Interns `reqs` (in order) and decodes the new CPUs in parallel; returns their ids.
    pub fn intern(&mut self, map: &X86Map, profiles: &Profiles, reqs: &[ClassReq]) -> SimResult<Vec<HostClassId>> {
        let mut ids = Vec::with_capacity(reqs.len());
        let mut pending: Vec<ClassReq> = Vec::new();
        for r in reqs {
            let next = HostClassId::new(self.list.len() + pending.len());
            let id = *self.index.entry((r.vendor, r.signature, r.features)).or_insert_with(|| {
                pending.push(*r);
                next
            });
            ids.push(id);
        }
        let decoded: Vec<Result<HostClass, (u16, CpuError)>> =
            pending.par_iter().map(|r| decode_class(map, &profiles.kvm, r).map_err(|e| (r.profile, e))).collect();
        for d in decoded {
            let mut class = d.map_err(|(profile, error)| SimError::Undecodable {
                profile: profiles.list[profile as usize].name.clone(),
                error,
            })?;
            let n = self.identities.len() as u32;
            class.identity = *self.identities.entry((class.vendor, class.model, class.features)).or_insert(n);
            self.list.push(class);
        }
        Ok(ids)
    }
}

/// Decodes one host CPU the way libvirt reports a host (`x86Decode` with a host stub).
fn decode_class(map: &X86Map, kvm: &KvmView, r: &ClassReq) -> Result<HostClass, CpuError> {
    let data = X86Data { features: r.features, vendor: Some(r.vendor), signature: r.signature };
    let cpu = x86::decode_host(map, &data)?;
    host_class(map, kvm, cpu, None, r.vendor, r.signature, r.profile, r.odd)
}

/// REPORTED of a host whose raw CPU has `raw` (qemu-driver spec §5.1): the KVM view's features
/// decoded as a guest CPU with the host's vendor and signature, `fallback='forbid'`, no arch (a
/// domcapabilities host-model has none).
pub fn host_model(
    map: &X86Map,
    kvm: &KvmView,
    raw: &FeatureSet,
    vendor: usize,
    signature: u32,
) -> Result<CpuDef, CpuError> {
    let data = X86Data { features: kvm.apply(vendor, raw), vendor: Some(vendor), signature };
    let mut cpu = x86::decode_guest(map, &data)?;
    cpu.arch = None;
    Ok(cpu)
}

/// The class of a host CPU as libvirt reports it (decoded, or read from a real host's file).
/// `hv`: the host's own QEMU/KVM when known (an inventory's domcapabilities file), else KVM
/// with the host model derived from `cpu` through the KVM view ([`host_model`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn host_class(
    map: &X86Map,
    kvm: &KvmView,
    cpu: CpuDef,
    hv: Option<Hypervisor>,
    vendor: usize,
    signature: u32,
    profile: u16,
    odd: bool,
) -> Result<HostClass, CpuError> {
    let md = x86::model_from_cpu(map, &cpu, x86::Sel::All)?;
    let cpu_mig = x86::copy_migratable(map, &cpu);
    let mig = x86::model_from_cpu(map, &cpu_mig, x86::Sel::All)?.features;
    let hv = match hv {
        Some(hv) => hv,
        None => kvm.hypervisor(map, host_model(map, kvm, &md.features, vendor, signature)?, &cpu)?,
    };
    let all = |c: &CpuDef| x86::model_from_cpu(map, c, x86::Sel::All).map(|m| m.features);
    let qemu = match &hv.reported {
        Some(r) => all(r)?,
        None => FeatureSet::new(),
    };
    let qemu_mig = hv.migratable_cpu(map).map(|m| all(&m)).transpose()?.unwrap_or(qemu);
    let hv_host = x86::decode_host(map, &X86Data { features: qemu, vendor: Some(vendor), signature })?;
    let full_named = hv
        .start_check_host()
        .map(|f| {
            f.features
                .iter()
                .filter(|f| f.effective_policy() != Policy::Disable)
                .filter_map(|f| map.feature_id(&f.name))
                .collect()
        })
        .unwrap_or_default();
    Ok(HostClass {
        hv,
        hv_host,
        qemu,
        qemu_mig,
        full_named,
        vendor,
        signature,
        profile,
        odd,
        model: md.model.unwrap_or(0),
        features: md.features,
        mig,
        cpu,
        cpu_mig,
        // Set when the class joins a `Classes` table (`intern` or `push`).
        identity: 0,
    })
}

impl std::ops::Index<HostClassId> for Classes {
    type Output = HostClass;
    fn index(&self, id: HostClassId) -> &HostClass {
        &self.list[id.index()]
    }
}

impl Classes {
    /// Adds a class as it is (a real host's CPU: no interning by features, since two files
    /// with the same features but different model names are different inputs to libvirt);
    /// returns its id.
    pub fn push(&mut self, mut class: HostClass) -> HostClassId {
        let n = self.identities.len() as u32;
        class.identity = *self.identities.entry((class.vendor, class.model, class.features)).or_insert(n);
        self.list.push(class);
        HostClassId::new(self.list.len() - 1)
    }
}

/// A pool of the generated fleet: hosts `start..start + len`.
#[derive(Clone, Debug)]
pub struct PoolInfo {
    pub name: String,
    pub start: usize,
    pub len: usize,
    pub vendor: usize,
    pub gens: Vec<(usize, f64)>,
    pub pick: Weighted,
}

impl PoolInfo {
    pub fn range(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.len
    }
}

/// The generated fleet.
#[derive(Clone)]
pub struct Fleet {
    pub pools: Vec<PoolInfo>,
    /// Class id per host.
    pub host_class: IdVec<HostId, HostClassId>,
    /// Key id per host.
    /// Shared by every release's view of the same hosts (the hardware does not change).
    pub host_key: Arc<[u32]>,
    /// Distinct keys and their class.
    pub keys: Vec<(HostKey, HostClassId)>,
    key_index: HashMap<HostKey, u32>,
    pub classes: Classes,
    /// How hosts are named (see [`Fleet::host_name`]), shared with the reports' host lists.
    pub names: Arc<NameTable>,
}

/// How a fleet's hosts are named: their own names when they have them (an inventory), else host
/// `i` of pool `p` is `p-i`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NameTable {
    /// (pool name, first host) in host order.
    pools: Vec<(String, usize)>,
    own: Option<Vec<String>>,
}

impl NameTable {
    fn new(pools: &[PoolInfo], own: Option<Vec<String>>) -> Arc<NameTable> {
        Arc::new(NameTable { pools: pools.iter().map(|p| (p.name.clone(), p.start)).collect(), own })
    }

    /// The hosts' own names, when they have them (an inventory).
    pub fn own(&self) -> Option<&[String]> {
        self.own.as_deref()
    }

    /// The name of fleet host `h`.
    pub fn name(&self, h: usize) -> String {
        match &self.own {
            Some(names) => names[h].clone(),
            None => {
                let p = &self.pools[self.pools.partition_point(|p| p.1 <= h) - 1];
                format!("{}-{}", p.0, h - p.1)
            }
        }
    }
}

/// Hosts of a fleet listed by name in a report, held as host indices (a range or a list) and
/// named only when read or serialised, so a report over a million hosts does not hold a million
/// strings. Serialises as the list of names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostNames {
    table: Arc<NameTable>,
    hosts: HostIds,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostIds {
    Range(std::ops::Range<u32>),
    List(Vec<u32>),
}

impl HostNames {
    /// The number of hosts.
    pub fn len(&self) -> usize {
        match &self.hosts {
            HostIds::Range(r) => r.len(),
            HostIds::List(l) => l.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The names, in order.
    pub fn iter(&self) -> impl Iterator<Item = String> + '_ {
        let ids: Box<dyn Iterator<Item = u32> + '_> = match &self.hosts {
            HostIds::Range(r) => Box::new(r.clone()),
            HostIds::List(l) => Box::new(l.iter().copied()),
        };
        ids.map(|h| self.table.name(h as usize))
    }

    /// The first `n` names.
    pub fn first(&self, n: usize) -> Vec<String> {
        self.iter().take(n).collect()
    }
}

impl serde::Serialize for HostNames {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl Fleet {
    pub fn n_hosts(&self) -> usize {
        self.host_class.len()
    }

    /// The CPU class of host `h`.
    pub fn class_of(&self, h: usize) -> &HostClass {
        &self.classes[self.host_class[HostId::new(h)]]
    }

    /// The index in `classes.list` of host `h`'s class (for tables built per class outside the
    /// crate).
    pub fn class_index(&self, h: usize) -> usize {
        self.host_class[HostId::new(h)].index()
    }

    /// The index in `classes.list` of each host's class, in host order (for tables built per
    /// class outside the crate).
    pub fn class_indices(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.host_class.iter().map(|c| c.index())
    }

    /// The pool of host `h`.
    pub fn pool_of(&self, h: usize) -> usize {
        self.pools.partition_point(|p| p.start + p.len <= h)
    }

    /// The name of host `h`: its own (an inventory's file name), or `<pool>-<index in pool>`.
    pub fn host_name(&self, h: usize) -> String {
        self.names.name(h)
    }

    /// Hosts `range` by name (see `HostNames`).
    pub fn names_of_range(&self, range: std::ops::Range<usize>) -> HostNames {
        HostNames { table: self.names.clone(), hosts: HostIds::Range(range.start as u32..range.end as u32) }
    }

    /// These hosts by name, in this order (see `HostNames`).
    pub fn names_of(&self, hosts: impl IntoIterator<Item = usize>) -> HostNames {
        HostNames { table: self.names.clone(), hosts: HostIds::List(hosts.into_iter().map(|h| h as u32).collect()) }
    }

    /// The vendors (map indices) of pool `pi`'s hosts with their host counts, in first-appearance
    /// order: one entry for a generated pool; an inventory's pool folder may hold several.
    pub fn pool_vendors(&self, pi: usize) -> Vec<(usize, u64)> {
        let mut out: Vec<(usize, u64)> = Vec::new();
        for h in self.pools[pi].range() {
            let v = self.class_of(h).vendor;
            match out.iter_mut().find(|x| x.0 == v) {
                Some(x) => x.1 += 1,
                None => out.push((v, 1)),
            }
        }
        out
    }

    /// The generation (profile) of host `h`.
    /// The distinct keys some host has, in key order.
    pub fn keys_in_use(&self) -> impl Iterator<Item = &HostKey> + '_ {
        let mut used = vec![false; self.keys.len()];
        for &k in self.host_key.iter() {
            used[k as usize] = true;
        }
        self.keys.iter().zip(used).filter(|(_, u)| *u).map(|(k, _)| &k.0)
    }

    pub fn profile_of(&self, h: usize) -> usize {
        self.keys[self.host_key[h] as usize].0.profile as usize
    }

    /// Interns host keys (new ones are turned into classes); returns their key ids.
    pub fn intern_keys(&mut self, map: &X86Map, profiles: &Profiles, keys: &[HostKey]) -> SimResult<Vec<u32>> {
        let mut ids = Vec::with_capacity(keys.len());
        let mut new_keys: Vec<HostKey> = Vec::new();
        for k in keys {
            let next = (self.keys.len() + new_keys.len()) as u32;
            let id = *self.key_index.entry(*k).or_insert_with(|| {
                new_keys.push(*k);
                next
            });
            ids.push(id);
        }
        let reqs: Vec<ClassReq> = new_keys.iter().map(|k| class_req(map, profiles, k)).collect();
        let class_ids = self.classes.intern(map, profiles, &reqs)?;
        self.keys.extend(new_keys.into_iter().zip(class_ids));
        Ok(ids)
    }

    /// A fleet of given hosts: `pools` (name, vendor, host count) in host order, each host's
    /// class and key, the distinct keys with their classes, and the hosts' own names.
    pub fn from_parts(
        pools: Vec<PoolInfo>,
        classes: Classes,
        keys: Vec<(HostKey, HostClassId)>,
        host_key: Arc<[u32]>,
        host_names: Vec<String>,
    ) -> Fleet {
        // Real hosts share keys (a key is a generation; the class is the CPU), so the index
        // keeps each key's first id; it only serves synthetic hosts drawn later.
        let mut key_index = HashMap::new();
        for (i, k) in keys.iter().enumerate() {
            key_index.entry(k.0).or_insert(i as u32);
        }
        let host_class = host_key.iter().map(|&k| keys[k as usize].1).collect();
        let names = NameTable::new(&pools, Some(host_names));
        Fleet { pools, host_class, host_key, keys, key_index, classes, names }
    }

    /// Generates the fleet of `spec` from `seed`.
    pub fn generate(map: &X86Map, spec: &Spec, seed: u64) -> SimResult<Fleet> {
        let mut pools = Vec::with_capacity(spec.pools.len());
        let mut start = 0usize;
        for p in &spec.pools {
            let weights: Vec<f64> = p.generations.iter().map(|g| g.1).collect();
            let pick = Weighted::new(&weights).ok_or_else(|| SimError::BadWeights { pool: p.name.clone() })?;
            pools.push(PoolInfo {
                name: p.name.clone(),
                start,
                len: p.hosts as usize,
                vendor: p.vendor,
                gens: p.generations.clone(),
                pick,
            });
            start += p.hosts as usize;
        }
        let n = start;
        let profiles = &spec.profiles;
        let var = &spec.variation;
        // Draw every host in parallel: host h's stream depends on (seed, h) only.
        let drawn: Vec<HostKey> = pools
            .par_iter()
            .flat_map_iter(|p| {
                p.range().map(move |h| {
                    let mut rng = Rng::for_item(seed, tag::HOST, h as u64);
                    draw_key(&mut rng, profiles, var, &p.gens, &p.pick, None)
                })
            })
            .collect();
        debug_assert_eq!(drawn.len(), n);
        let names = NameTable::new(&pools, None);
        let mut fleet = Fleet {
            pools,
            host_class: IdVec::new(),
            host_key: Arc::new([]),
            keys: Vec::new(),
            key_index: HashMap::new(),
            classes: Classes::default(),
            names,
        };
        fleet.host_key = fleet.intern_keys(map, profiles, &drawn)?.into();
        drop(drawn);
        let keys = &fleet.keys;
        fleet.host_class = fleet.host_key.par_iter().map(|&k| keys[k as usize].1).collect::<Vec<_>>().into();
        Ok(fleet)
    }

    /// The same hosts (the same keys, so the same hardware) seen by another libvirt version:
    /// every key's features are taken again from `to` (the profiles resolved for `map`, see
    /// [`crate::spec::Spec::for_map`]) and the distinct CPUs decoded under `map`'s rules. An odd
    /// host's hidden feature is kept by name (each map lists `[odd] remove` in its own feature
    /// order); one `map` does not know is a bit it cannot see anyway.
    pub fn reinterpret(&self, from_map: &X86Map, from: &Profiles, map: &X86Map, to: &Profiles) -> SimResult<Fleet> {
        let keys: Vec<HostKey> = self
            .keys
            .iter()
            .map(|(k, _)| {
                let mut k = *k;
                if k.odd_remove != 0 {
                    let name = from_map.feature_name(from.odd.remove[k.odd_remove as usize - 1]);
                    let at = map.feature_id(name).and_then(|id| to.odd.remove.iter().position(|&r| r == id));
                    k.odd_remove = at.map_or(0, |i| i as u8 + 1);
                }
                k
            })
            .collect();
        let mut fleet = Fleet {
            pools: self.pools.clone(),
            host_class: IdVec::new(),
            host_key: Arc::new([]),
            keys: Vec::new(),
            key_index: HashMap::new(),
            classes: Classes::default(),
            names: self.names.clone(),
        };
        // Key ids stay those of `self` (two keys that become equal keep their own ids).
        let class_of =
            fleet.classes.intern(map, to, &keys.iter().map(|k| class_req(map, to, k)).collect::<Vec<_>>())?;
        fleet.keys = keys.into_iter().zip(class_of).collect();
        for (i, (k, _)) in fleet.keys.iter().enumerate() {
            fleet.key_index.entry(*k).or_insert(i as u32);
        }
        fleet.host_key = self.host_key.clone();
        let keys = &fleet.keys;
        fleet.host_class = fleet.host_key.par_iter().map(|&k| keys[k as usize].1).collect::<Vec<_>>().into();
        Ok(fleet)
    }

    /// The distinct classes of a host range, in order of first appearance.
    pub fn classes_in(
        &self,
        range: std::ops::Range<usize>,
        host_class: &IdVec<HostId, HostClassId>,
    ) -> Vec<HostClassId> {
        let mut seen = vec![false; self.classes.len()];
        let mut out = Vec::new();
        for &c in host_class.slice(range) {
            if !seen[c.index()] {
                seen[c.index()] = true;
                out.push(c);
            }
        }
        out
    }
}

/// `virCPUBaseline` over host CPUs given as distinct classes in order of first appearance (the
/// result equals the baseline over every host: the intersection, the vendor rule and the list of
/// distinct model names do not depend on repetitions).
pub(crate) fn baseline_of(
    map: &X86Map,
    classes: &Classes,
    ids: &[HostClassId],
    migratable: bool,
) -> Result<CpuDef, CpuError> {
    let first_id = *ids.first().ok_or(CpuError::NoCpus)?;
    let first = BaselineInput::from_cpu(map, &classes.get(first_id).cpu, 0)?;
    let mut acc = BaselineAcc::new(&first)?;
    for (i, &c) in ids.iter().enumerate().skip(1) {
        acc.add(map, &BaselineInput::from_cpu(map, &classes.get(c).cpu, i)?)?;
    }
    acc.finish(map, migratable)
}

/// `virConnectBaselineHypervisorCPU` with `--migratable` (`virsh hypervisor-cpu-baseline`) over
/// the host-model CPUs of distinct classes `ids`, asked of the first host's QEMU/KVM (every
/// simulated host runs the same QEMU): the baseline a KVM guest can start with on every one of
/// them. Over distinct classes it equals the baseline over every host, as for [`baseline_of`].
pub(crate) fn hv_baseline_of(map: &X86Map, classes: &Classes, ids: &[HostClassId]) -> Result<CpuDef, BaselineError> {
    let first = classes.get(*ids.first().ok_or(BaselineError::NoHosts)?);
    let cpus: Vec<CpuDef> = ids.iter().filter_map(|&c| classes.get(c).hv.reported.clone()).collect();
    Ok(first.hv.baseline(map, &cpus, false, true)?)
}

/// The guest CPU every host of `sets` can run when vendors differ (libvirt refuses to baseline
/// across vendors): the common features, migratable, named by the guest decoder with no vendor.
pub(crate) fn vendor_neutral_baseline(map: &X86Map, common: &FeatureSet) -> Result<CpuDef, CpuError> {
    let mut cpu = CpuDef::new(cpufleet_engine::CpuType::Guest);
    let mut set = *common;
    set.subtract(&map.non_migratable);
    if set.is_empty() {
        return Err(CpuError::IncompatibleCpus("no common features".into()));
    }
    let data = X86Data { features: set, vendor: None, signature: 0 };
    x86::decode_into(map, &mut cpu, &data, x86::DecodeOpts { models: None, preferred: &[], migratable: true })?;
    Ok(cpu)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cpufleet_engine::CpuMap;

    fn small_spec(map: &CpuMap) -> Spec {
        let mut s = super::super::spec::load(&map.x86, None, 1 << 20).unwrap();
        s.scale_hosts(2000).unwrap();
        s
    }

    #[test]
    fn generation_is_deterministic_and_interned() {
        let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
        let spec = small_spec(&map);
        let a = Fleet::generate(&map.x86, &spec, 5).unwrap();
        let b = Fleet::generate(&map.x86, &spec, 5).unwrap();
        let c = Fleet::generate(&map.x86, &spec, 6).unwrap();
        assert_eq!(a.n_hosts(), 2000);
        assert_eq!(a.host_class, b.host_class);
        assert_ne!(a.host_class, c.host_class);
        // Far fewer classes than hosts, and every class decodes to a model of its vendor.
        assert!(a.classes.len() < 400, "{}", a.classes.len());
        for cl in &a.classes.list {
            assert!(map.x86.models[cl.model].vendor.is_none_or(|v| v == cl.vendor));
            assert!(cl.mig.is_subset(&cl.features));
            assert_eq!(cl.cpu.model.as_deref(), Some(map.x86.models[cl.model].name.as_str()));
        }
    }

    #[test]
    fn hosts_get_the_features_of_their_generation_and_variation() {
        let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
        let spec = small_spec(&map);
        let f = Fleet::generate(&map.x86, &spec, 1).unwrap();
        let vmx = map.x86.feature_id("vmx").unwrap();
        let svm = map.x86.feature_id("svm").unwrap();
        let mut virt_off = 0;
        for h in 0..f.n_hosts() {
            let key = f.keys[f.host_key[h] as usize].0;
            let cl = f.classes.get(f.host_class[HostId::new(h)]);
            let p = &spec.profiles.list[key.profile as usize];
            assert_eq!(cl.vendor, p.vendor);
            let has_virt = cl.features.contains(vmx) || cl.features.contains(svm);
            assert_eq!(has_virt, key.flags & VIRT_OFF == 0, "host {h}");
            virt_off += usize::from(!has_virt);
            assert!(spec.pools[f.pool_of(h)].generations.iter().any(|g| g.0 == key.profile as usize));
        }
        assert!(virt_off > 0 && virt_off < 100, "{virt_off}");
    }

    #[test]
    fn pool_baseline_over_classes_equals_baseline_over_every_host() {
        let map = CpuMap::embedded(cpufleet_engine::LibvirtVersion::V9_0_0).unwrap();
        let spec = small_spec(&map);
        let f = Fleet::generate(&map.x86, &spec, 3).unwrap();
        for p in f.pools.iter().take(6) {
            let ids = f.classes_in(p.range(), &f.host_class);
            let fast = baseline_of(&map.x86, &f.classes, &ids, true).unwrap();
            let cpus: Vec<CpuDef> =
                p.range().map(|h| f.classes.get(f.host_class[HostId::new(h)]).cpu.clone()).collect();
            let slow = x86::baseline(&map.x86, &cpus, true).unwrap();
            assert_eq!(fast, slow, "pool {}", p.name);
        }
    }
}
