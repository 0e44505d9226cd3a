//! Hosts on two libvirt versions at once (issue 13): the same hardware seen by each version, guests
//! started under the version of their host, and live migration across versions as libvirt does it.
//!
//! **One state per version.** A host is a key (its hardware); each version has its own
//! [`Sim`]: the keys decoded under that version's map and rules into that version's host classes,
//! its own guest starts and its own compatibility cache. A host class is therefore a (key,
//! version) pair, kept in one table per version. Feature sets cannot be shared between versions
//! (each map numbers its features in its own order and 11.3.0 has 152 more), so one table per
//! version keeps every hot-path check a bitset test within one map, and the single-version
//! scenarios stay exactly as they were.
//!
//! **Migration across versions**, step by step, with the libvirt code each step follows:
//! 1. The source sends the guest CPU as it runs (`qemuMigrationCookieAddCPU`, which copies the
//!    domain's started `virCPUDef` through `qemuDomainMakeCPUMigratable`, and the migratable
//!    domain XML): names only, never bits. Here: the guest class's started [`CpuDef`], unchanged.
//! 2. The destination parses it (`virDomainDefParseString` → `virCPUDefParseXML`), which accepts
//!    any name: nothing is looked up in the map yet.
//! 3. Before starting the incoming QEMU, the destination compares it with its own host CPU
//!    (`qemuProcessUpdateGuestCPU` → `virCPUCompare` → `virCPUx86Compare` → `x86Compute`, with
//!    `failIncompatible`): first the vendor string, then the guest CPU resolved against *its* map
//!    (`x86ModelFromCPU`, which fails on a model `x86ModelFind` does not know, "Unknown CPU model",
//!    or a feature `x86FeatureFind` does not know, "unknown CPU feature", checked in the order
//!    force, require (model first), optional, disable, forbid), then the set comparison.
//!
//! Here step 3 is [`Incoming::read`], done once per (guest class, destination version), and
//! [`Incoming::refusal`] per (guest class, destination host class), cached as bits.
//! host-passthrough guests are not compared by libvirt; the simulator lets them move only to
//! identical hardware, which does not depend on the version.

use crate::error::{SimError, SimResult};
use crate::fleet::{HostClass, PoolInfo};
use crate::guest::{Blocker, Compat, Fault, GuestSets, Starter};
use crate::ids::{GuestClassId, HostClassId, IdVec};
use crate::rng::{derive, tag};
use crate::scenarios::Sim;
use crate::spec::Spec;
use cpufleet_engine::map::X86Map;
use cpufleet_engine::x86::{self, PolicySets, Sel};
use cpufleet_engine::{CpuDef, CpuError, CpuMap, CpuMode, LibvirtVersion};
use serde::Serialize;
use std::collections::HashMap;

/// The index of `v` in [`LibvirtVersion::ALL`] (the order of [`Versions::views`]).
pub(crate) fn index(v: LibvirtVersion) -> usize {
    LibvirtVersion::ALL.iter().position(|&w| w == v).expect("a supported version")
}

/// The version index each host runs: in a pool with `libvirt = V` and `libvirt_share = s` in the
/// spec, exactly `round(s × hosts)` of its hosts run V (those whose seeded draw is smallest, so
/// the choice depends on the seed and the host only, never on threads); every other host runs
/// `default`.
pub(crate) fn host_versions(spec: &Spec, pools: &[PoolInfo], seed: u64, default: usize) -> Vec<u8> {
    let mut ver = vec![default as u8; pools.iter().map(|p| p.start + p.len).max().unwrap_or(0)];
    for (p, l) in pools.iter().zip(&spec.pool_libvirt) {
        let Some(l) = l else { continue };
        let k = (l.share * p.len as f64).round() as usize;
        let mut hosts: Vec<usize> = p.range().collect();
        hosts.sort_by_key(|&h| (derive(seed, tag::LIBVIRT_HOST, h as u64), h));
        for &h in &hosts[..k.min(p.len)] {
            ver[h] = index(l.version) as u8;
        }
    }
    ver
}

cpufleet_engine::closed_set! {
    /// Why a destination refuses a guest CPU; its name is what the reports print (the JSON's
    /// histogram keys), in report order.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum Refusal: "refusal" {
        /// The CPU names a model the destination's map does not have.
        UnknownModel = "unknown model",
        /// The CPU names a feature the destination's map does not have.
        UnknownFeature = "unknown feature",
        /// The destination host lacks a feature the CPU requires (as its own version reads both).
        Missing = "missing feature",
        /// The destination host has a feature the CPU forbids.
        Forbidden = "forbidden feature",
        /// `match='strict'`: the destination host has features the CPU does not list.
        Extra = "extra feature (strict)",
        /// The CPU names another vendor than the destination host's.
        Vendor = "vendor",
        /// host-passthrough onto other hardware.
        HostPassthrough = "host-passthrough",
    }
}

impl Refusal {
    /// Whether the reason comes from the destination's map not knowing a name.
    pub fn is_unknown_name(self) -> bool {
        matches!(self, Refusal::UnknownModel | Refusal::UnknownFeature)
    }

    /// The reason of a fast-path blocker.
    pub fn of_blocker(b: &Blocker) -> Refusal {
        match b {
            Blocker::Vendor => Refusal::Vendor,
            Blocker::Passthrough => Refusal::HostPassthrough,
            Blocker::Forbidden(_) => Refusal::Forbidden,
            Blocker::Missing(_) => Refusal::Missing,
            Blocker::Extra(_) => Refusal::Extra,
        }
    }
}

/// A name the destination's map does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    /// [`Refusal::UnknownModel`] or [`Refusal::UnknownFeature`].
    pub kind: Refusal,
    pub name: String,
}

impl Unknown {
    /// "unknown CPU model Skylake-Server-v2 on libvirt 9.0.0".
    pub fn message(&self, v: LibvirtVersion) -> String {
        let what = if self.kind == Refusal::UnknownModel { "model" } else { "feature" };
        format!("unknown CPU {what} {} on libvirt {v}", self.name)
    }
}

/// A started guest CPU as a destination of another version reads it: the vendor it states, and
/// its sets resolved against the destination's map, or the first name that map does not know.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// The vendor as a destination map index (`usize::MAX` for a vendor the map does not have,
    /// which no host matches).
    pub vendor: Option<usize>,
    pub read: Result<GuestSets, Unknown>,
}

impl Incoming {
    /// `def` (a custom CPU, as started) read by a destination with map `map`: step 3 above, up to
    /// the set comparison.
    pub fn read(map: &X86Map, def: &CpuDef) -> Incoming {
        let def = &crate::guest::as_incoming(map, def);
        let vendor = def.vendor.as_ref().map(|v| map.vendor_index(v).unwrap_or(usize::MAX));
        let unknown = |e: CpuError| match e {
            CpuError::UnknownModel(name) => Unknown { kind: Refusal::UnknownModel, name },
            CpuError::UnknownFeature(name) => Unknown { kind: Refusal::UnknownFeature, name },
            other => Unknown { kind: Refusal::UnknownModel, name: other.to_string() },
        };
        let read = PolicySets::of_cpu(map, def).map_err(unknown).and_then(|policy| {
            // Names already resolved once, so this cannot fail on a name.
            let enabled = x86::model_from_cpu(map, def, Sel::All).map_err(unknown)?.features;
            Ok(GuestSets { vendor, passthrough: None, policy, enabled })
        });
        Incoming { vendor, read }
    }

    /// A host-passthrough guest: already expressed in the destination's terms.
    pub fn passthrough(sets: GuestSets) -> Incoming {
        Incoming { vendor: sets.vendor, read: Ok(sets) }
    }

    /// Why `host` (a destination host class of the reading version) refuses this CPU; None when
    /// it accepts it. The order is `virCPUx86Compare`'s: vendor, then names, then sets.
    pub fn refusal(&self, host: &HostClass) -> Option<Refusal> {
        match &self.read {
            Ok(sets) if sets.passthrough.is_some() => sets.blocker(host).map(|b| Refusal::of_blocker(&b)),
            _ if self.vendor.is_some_and(|v| v != host.vendor) => Some(Refusal::Vendor),
            Err(u) => Some(u.kind),
            Ok(sets) => sets.blocker(host).map(|b| Refusal::of_blocker(&b)),
        }
    }

    pub fn allows(&self, host: &HostClass) -> bool {
        match &self.read {
            Ok(sets) => sets.allows(host),
            Err(_) => false,
        }
    }
}

/// The fleet under several versions: `views[i]` is the state of version `releases[i]` (same
/// pools, same host keys), plus what crosses between them. A synthetic fleet has every supported
/// version (`releases` = [`LibvirtVersion::ALL`]); a real fleet the releases its scenario involves.
pub struct Versions<'a> {
    pub views: Vec<Sim<'a>>,
    /// The release of each view, ascending.
    pub releases: Vec<LibvirtVersion>,
    /// A real fleet's hosts: the view index of the release each host's metadata names (None:
    /// no metadata, the scenario's default). None for a synthetic fleet (the spec's pool
    /// `libvirt` keys decide, [`host_versions`]).
    pub own: Option<Vec<Option<u8>>>,
    /// `incoming[g][d]`: the guest classes of version g read by version d (empty for g = d).
    pub incoming: Vec<Vec<IdVec<GuestClassId, Incoming>>>,
    /// `compat[g][d]`: guest classes of version g × host classes of version d.
    pub compat: Vec<Vec<Compat>>,
    /// `identity[d]`: host CPU identity under version 0 → the same hardware's identity under d.
    identity: Vec<HashMap<u32, u32>>,
}

impl<'a> Versions<'a> {
    /// From one state per version (`views[i]` under `LibvirtVersion::ALL[i]`, the same keys).
    pub fn new(views: Vec<Sim<'a>>) -> Versions<'a> {
        let n = views.len();
        let mut identity = vec![HashMap::new(); n];
        for (d, view) in views.iter().enumerate() {
            for (k, &(_, class)) in views[0].fleet.keys.iter().enumerate() {
                let from = views[0].fleet.classes.get(class).identity;
                let to = view.fleet.classes.get(view.fleet.keys[k].1).identity;
                identity[d].entry(from).or_insert(to);
            }
        }
        let compat =
            (0..n).map(|_| views.iter().map(|v| Compat::build(&IdVec::new(), &v.fleet.classes)).collect()).collect();
        let releases = views.iter().map(|v| v.map.version()).collect();
        let mut versions =
            Versions { incoming: vec![vec![IdVec::new(); n]; n], compat, identity, views, releases, own: None };
        versions.refresh();
        versions
    }

    /// The view index of release `v`, if the fleet is simulated under it.
    pub fn index_of(&self, v: LibvirtVersion) -> Option<usize> {
        self.releases.iter().position(|&w| w == v)
    }

    /// The view index each host runs: a real fleet's own releases (hosts without metadata on
    /// `default`), or for a synthetic fleet the spec's ([`host_versions`]).
    pub fn start_versions(&self, default: usize) -> Vec<u8> {
        match &self.own {
            Some(own) => own.iter().map(|o| o.unwrap_or(default as u8)).collect(),
            None => host_versions(self.views[0].spec, &self.views[0].fleet.pools, self.views[0].seed, default),
        }
    }

    /// The hardware identity `id` of version `from` as version `to` names it.
    fn identity(&self, id: u32, from: usize, to: usize) -> u32 {
        if from == to {
            return id;
        }
        let id0 = if from == 0 {
            id
        } else {
            *self.identity[from].iter().find(|(_, &v)| v == id).map(|(k, _)| k).unwrap_or(&id)
        };
        self.identity[to].get(&id0).copied().unwrap_or(u32::MAX)
    }

    /// Reads the guest classes started since the last call under every other version, and
    /// extends the compatibility caches.
    pub fn refresh(&mut self) {
        let n = self.views.len();
        for g in 0..n {
            for d in 0..n {
                if g == d {
                    let v = &self.views[g];
                    self.compat[g][g].extend(&v.starter.classes, &v.fleet.classes);
                    continue;
                }
                let from = self.incoming[g][d].len();
                let read: Vec<Incoming> = self.views[g]
                    .starter
                    .classes
                    .iter()
                    .skip(from)
                    .map(|c| match (c.def.mode, c.sets.passthrough) {
                        (CpuMode::HostPassthrough, Some(id)) => Incoming::passthrough(GuestSets {
                            passthrough: Some(self.identity(id, g, d)),
                            ..c.sets.clone()
                        }),
                        _ => Incoming::read(&self.views[d].map.x86, &c.def),
                    })
                    .collect();
                self.incoming[g][d].extend(read);
                let (incoming, hosts) = (&self.incoming[g][d], &self.views[d].fleet.classes);
                let rows = incoming.len();
                // The injected fault: the destination skips reading and comparing.
                let ignore = self.views[d].starter.fault == Some(Fault::IgnoreVersion);
                // Or: it takes a CPU that names what its map does not know.
                let names = self.views[d].starter.fault == Some(Fault::AcceptUnknownNames);
                self.compat[g][d].extend_with(rows, hosts, |r, h| {
                    ignore || incoming[r].allows(h) || names && incoming[r].read.is_err()
                });
            }
        }
    }

    /// Why host class `hc` of version `d` refuses guest class `gc` of version `g` (None: it
    /// accepts it).
    pub fn refusal(&self, g: usize, gc: GuestClassId, d: usize, hc: HostClassId) -> Option<Refusal> {
        let host = &self.views[d].fleet.classes[hc];
        if g == d {
            self.views[g].starter.classes[gc].sets.blocker(host).map(|b| Refusal::of_blocker(&b))
        } else {
            self.incoming[g][d][gc].refusal(host)
        }
    }
}

/// What every version's state borrows: one map and one spec per supported version (the run's map
/// for its own version, the embedded map for the others; the spec resolved for each).
pub(crate) struct Inputs {
    pub maps: Vec<CpuMap>,
    pub specs: Vec<Spec>,
}

impl Inputs {
    /// The maps and specs of every version, from the run's `map` and `spec`.
    pub(crate) fn new(map: &CpuMap, spec: &Spec) -> SimResult<Inputs> {
        let maps = LibvirtVersion::ALL
            .into_iter()
            .map(|v| if v == map.version() { Ok(map.clone()) } else { CpuMap::embedded(v) })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SimError::EmbeddedMap(e.to_string()))?;
        let specs = maps
            .iter()
            .map(|m| if m.version() == map.version() { Ok(spec.clone()) } else { spec.for_map(&map.x86, &m.x86) })
            .collect::<SimResult<Vec<_>>>()?;
        Ok(Inputs { maps, specs })
    }

    /// Every version's state: the fleet is generated under version `first` (whose pool
    /// baselines are the contexts every version's pool-dependent guests start with: guest
    /// definitions are written once, before any host changes version), and the same hosts are
    /// decoded again under each other version.
    pub(crate) fn versions(&self, seed: u64, fault: Option<Fault>, first: usize) -> SimResult<Versions<'_>> {
        let base = Sim::new(&self.maps[first], &self.specs[first], seed, fault)?;
        let mut views: Vec<Option<Sim>> = (0..self.maps.len()).map(|_| None).collect();
        for (i, (map, spec)) in self.maps.iter().zip(&self.specs).enumerate() {
            if i == first {
                continue;
            }
            let fleet = base.fleet.reinterpret(&base.map.x86, &base.spec.profiles, &map.x86, &spec.profiles)?;
            let mut starter = Starter::new(fault);
            for c in &base.starter.ctxs {
                starter.add_ctx(c.clone());
            }
            views[i] = Some(Sim { map, spec, seed, fleet, starter, pool_ctx: base.pool_ctx.clone() });
        }
        views[first] = Some(base);
        Ok(Versions::new(views.into_iter().map(|v| v.expect("every version built")).collect()))
    }

    /// Every version's state over a real fleet read by each release (`real.fleets[i]` under
    /// `maps[i]`, the same host keys): the pool baselines of version `first` are every version's
    /// contexts, as in [`Inputs::versions`].
    pub(crate) fn real_versions(
        &self,
        real: &RealHosts,
        seed: u64,
        fault: Option<Fault>,
        first: usize,
    ) -> SimResult<Versions<'_>> {
        let base = Sim::with_fleet(&self.maps[first], &self.specs[first], seed, fault, real.fleets[first].clone());
        let mut views: Vec<Option<Sim>> = (0..self.maps.len()).map(|_| None).collect();
        for (i, (map, spec)) in self.maps.iter().zip(&self.specs).enumerate() {
            if i == first {
                continue;
            }
            let mut starter = Starter::new(fault);
            for c in &base.starter.ctxs {
                starter.add_ctx(c.clone());
            }
            let fleet = real.fleets[i].clone();
            views[i] = Some(Sim { map, spec, seed, fleet, starter, pool_ctx: base.pool_ctx.clone() });
        }
        views[first] = Some(base);
        let mut v = Versions::new(views.into_iter().map(|v| v.expect("every version built")).collect());
        v.own = Some(real.own.clone());
        Ok(v)
    }

    /// [`Inputs::versions`], or [`Inputs::real_versions`] over `real` when given.
    pub(crate) fn build(
        &self,
        real: Option<&RealHosts>,
        seed: u64,
        fault: Option<Fault>,
        first: usize,
    ) -> SimResult<Versions<'_>> {
        match real {
            Some(r) => self.real_versions(r, seed, fault, first),
            None => self.versions(seed, fault, first),
        }
    }
}

/// A real fleet as each release of [`Inputs`] reads it: one fleet per release, the hosts in the
/// same order with the same key ids (a key is one host file's CPU as read by every release).
#[derive(Clone)]
pub(crate) struct RealHosts {
    pub fleets: Vec<crate::fleet::Fleet>,
    /// Per host: the index of the release its metadata names, None without metadata.
    pub own: Vec<Option<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::start_on;
    use crate::spec::{self, ModelRef, Template};
    use cpufleet_engine::{CpuMatch, Policy};

    const V9: usize = 0;
    const V11: usize = 1;

    fn inputs(spec_text: Option<&str>, hosts: u64) -> Inputs {
        let map = CpuMap::embedded(LibvirtVersion::V11_3_0).unwrap();
        let mut s = match spec_text {
            None => spec::load(&map.x86, None, 1 << 20).unwrap(),
            Some(text) => {
                let path = std::env::temp_dir().join(format!("cpufleet-versions-{}.toml", std::process::id()));
                std::fs::write(&path, text).unwrap();
                let s = spec::load(&map.x86, Some(&path), 1 << 20).unwrap();
                std::fs::remove_file(&path).unwrap();
                s
            }
        };
        s.scale_hosts(hosts).unwrap();
        Inputs::new(&map, &s).unwrap()
    }

    fn template(mode: CpuMode, model: Option<&str>, features: &[(&str, Policy)]) -> Template {
        Template {
            name: "t".into(),
            weight: 1.0,
            mode,
            model: model.map(|m| ModelRef::Named(m.into())),
            match_: CpuMatch::Exact,
            features: features.iter().map(|&(n, p)| (n.to_string(), p)).collect(),
            pinned_in: None,
        }
    }

    /// The host classes, under 9.0.0 and under 11.3.0, of a host of generation `gen` without
    /// BIOS or odd variations that 9.0.0 decodes as `model9`.
    fn same_hardware<'v>(v: &'v Versions, gen: &str, model9: &str) -> (&'v HostClass, &'v HostClass) {
        let profile = v.views[V9].spec.profiles.index(gen).unwrap() as u16;
        let f = &v.views[V9].fleet;
        let key = f.keys.iter().position(|(k, c)| {
            k.profile == profile
                && k.flags == 0
                && !k.is_odd()
                && f.classes.get(*c).cpu.model.as_deref() == Some(model9)
        });
        let key = key.expect("a plain host of the generation");
        let class = |i: usize| v.views[i].fleet.classes.get(v.views[i].fleet.keys[key].1);
        (class(V9), class(V11))
    }

    #[test]
    fn the_same_hosts_are_decoded_by_each_version_with_its_own_names() {
        let inp = inputs(None, 2000);
        let v = inp.versions(7, None, V9).unwrap();
        assert_eq!(v.views[V9].fleet.host_key, v.views[V11].fleet.host_key);
        assert_eq!(v.views[V9].map.version(), LibvirtVersion::V9_0_0);
        let (h9, h11) = same_hardware(&v, "Skylake-SP", "Skylake-Server-IBRS");
        assert_eq!(h9.cpu.model.as_deref(), Some("Skylake-Server-IBRS"));
        assert_eq!(h11.cpu.model.as_deref(), Some("Skylake-Server-v2"));
        // Same hardware: the same feature names, in each map's own numbering.
        let names = |h: &HostClass, m: &X86Map| {
            h.features.iter().map(|id| m.feature_name(id).to_string()).collect::<std::collections::BTreeSet<_>>()
        };
        assert_eq!(names(h9, &v.views[V9].map.x86), names(h11, &v.views[V11].map.x86));
    }

    #[test]
    fn a_host_model_guest_moves_from_9_to_11_and_back() {
        let inp = inputs(None, 2000);
        let v = inp.versions(7, None, V9).unwrap();
        let (h9, h11) = same_hardware(&v, "Skylake-SP", "Skylake-Server-IBRS");
        let (m9, m11) = (&v.views[V9].map.x86, &v.views[V11].map.x86);
        let hm = template(CpuMode::HostModel, None, &[]);
        // Started on 9.0.0: Skylake-Server-IBRS plus features, every name known to 11.3.0,
        // and 11.3.0's QEMU driver on the same hardware takes it.
        let g9 = start_on(m9, &hm, None, h9, None).unwrap();
        assert_eq!(g9.model.as_deref(), Some("Skylake-Server-IBRS"));
        let read = Incoming::read(m11, &g9);
        assert!(read.read.is_ok());
        assert_eq!(read.refusal(h11), None);
        assert!(crate::guest::incoming(m11, &g9, h11).is_ok());
        // Started on 11.3.0: the host names a `-vN` model, but the QEMU driver's host model is a
        // guest decode, which never names one (qemu-driver spec §5.1), so 9.0.0 can read it.
        assert_eq!(h11.cpu.model.as_deref(), Some("Skylake-Server-v2"));
        let g11 = start_on(m11, &hm, None, h11, None).unwrap();
        assert!(!g11.model.as_deref().unwrap().contains("-v"), "{:?}", g11.model);
        assert!(Incoming::read(m9, &g11).read.is_ok());
    }

    #[test]
    fn a_named_model_both_versions_know_moves_both_ways() {
        let inp = inputs(None, 2000);
        let v = inp.versions(7, None, V9).unwrap();
        let (h9, h11) = same_hardware(&v, "Skylake-SP", "Skylake-Server-IBRS");
        let (m9, m11) = (&v.views[V9].map.x86, &v.views[V11].map.x86);
        // The model 9.0.0 names the host, which 11.3.0 also has (it names the host otherwise).
        let model = h9.cpu.model.clone().unwrap();
        assert!(m11.model(&model).is_some() && h11.cpu.model.as_deref() != Some(model.as_str()));
        let t = template(CpuMode::Custom, Some(&model), &[("vmx", Policy::Optional)]);
        let g9 = start_on(m9, &t, None, h9, None).unwrap();
        let g11 = start_on(m11, &t, None, h11, None).unwrap();
        assert_eq!(Incoming::read(m11, &g9).refusal(h11), None);
        assert_eq!(Incoming::read(m9, &g11).refusal(h9), None);
        // Each direction agrees with the destination's own engine compare.
        assert!(x86::compare(m9, &h9.cpu, &g11).verdict.is_compatible());
    }

    #[test]
    fn a_feature_only_11_3_knows_is_refused_by_9_0_by_name() {
        // Hosts whose hardware has flush-l1d: only 11.3.0 can see it, so its host-model guests
        // require it, and 9.0.0 cannot read them.
        let text = "[[pool]]\nname = \"p\"\nhosts = 10\ngenerations = { X = 1 }\n\
                    [[profile]]\nname = \"X\"\nvendor = \"Intel\"\nyear = 2019\nmodel = \"Skylake-Server-IBRS\"\n\
                    signature = { family = 6, model = 85, stepping = 4 }\nextra = [\"vmx\", \"flush-l1d\"]\n\
                    [variation]\nvirt_off = 0.0\nht_off = 0.0\nodd = 0.0\nmicrocode_latest = 1.0\n";
        let inp = inputs(Some(text), 10);
        let v = inp.versions(1, None, V9).unwrap();
        let (m9, m11) = (&v.views[V9].map.x86, &v.views[V11].map.x86);
        let (h9, h11) =
            (v.views[V9].fleet.classes.get(HostClassId::new(0)), v.views[V11].fleet.classes.get(HostClassId::new(0)));
        assert!(m9.feature_id("flush-l1d").is_none());
        assert!(h11.features.contains(m11.feature_id("flush-l1d").unwrap()));
        // A 9.0.0-named model, so that only the feature is unknown.
        let t = template(CpuMode::Custom, Some("Skylake-Server-IBRS"), &[("flush-l1d", Policy::Require)]);
        let g11 = start_on(m11, &t, None, h11, None).unwrap();
        let read = Incoming::read(m9, &g11);
        assert_eq!(
            read.read.as_ref().unwrap_err().message(LibvirtVersion::V9_0_0),
            "unknown CPU feature flush-l1d on libvirt 9.0.0"
        );
        assert_eq!(read.refusal(h9), Some(Refusal::UnknownFeature));
        // A vendor mismatch is decided before any name is looked up.
        let mut amd = h9.clone();
        amd.vendor = m9.vendor_index("AMD").unwrap();
        let mut g = g11.clone();
        g.vendor = Some("Intel".into());
        assert_eq!(Incoming::read(m9, &g).refusal(&amd), Some(Refusal::Vendor));
    }

    #[test]
    fn the_cross_version_cache_equals_reading_and_comparing_each_pair() {
        let inp = inputs(None, 2000);
        let mut v = inp.versions(3, None, V9).unwrap();
        for i in [V9, V11] {
            crate::scenarios::migrate::start_guests(&mut v.views[i], 300);
        }
        v.refresh();
        for (g, d) in [(V9, V11), (V11, V9)] {
            let (gv, dv) = (&v.views[g], &v.views[d]);
            for (gc, c) in gv.starter.classes.iter_enumerated() {
                if c.def.mode == CpuMode::HostPassthrough {
                    continue;
                }
                for (hc, h) in dv.fleet.classes.iter_enumerated() {
                    // The destination's QEMU driver (start path as incoming, then its live check).
                    let engine = crate::guest::incoming(&dv.map.x86, &c.def, h).is_ok();
                    let cached = v.compat[g][d].allows(gc, hc);
                    assert_eq!(cached, engine, "{:?} on {:?}", c.def.model, h.cpu.model);
                    assert_eq!(v.refusal(g, gc, d, hc).is_none(), cached);
                }
            }
        }
    }
}
