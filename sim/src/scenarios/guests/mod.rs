//! Real guests (an inventory's `virsh dumpxml` files): each started on its own host as libvirt
//! starts it, then compared with every other host of the fleet, as a live migration's destination
//! compares it (`virCPUCompare` of the started CPU against the destination's host CPU). The
//! report says, per guest, how many hosts of each pool accept it and, per blocking feature, which
//! hosts lack (or have, for a forbidden feature) it.

pub(crate) mod section;

use super::super::fleet::HostClass;
use super::super::guest::{start_def, Blocker, Fault, GuestSets, StartFail};
use super::super::real::RealGuest;
use super::blocker::BlockerKind;
use super::Sim;
use crate::ids::{HostClassId, HostId, IdVec};
use crate::versions::{Incoming, Refusal, Versions};
use cpufleet_engine::domain::DomainFeatures;
use cpufleet_engine::map::X86Map;
use cpufleet_engine::{CpuDef, CpuMode, CpuType};
use rayon::prelude::*;
use serde::Serialize;

/// At most this many host names per blocker (the count is always complete).
pub(crate) const NAMES_PER_BLOCKER: usize = 20;

/// Where a guest can go within one pool.
#[derive(Clone, Debug, Serialize)]
pub struct GuestPool {
    pub pool: String,
    /// Hosts of the pool (its own host excepted) that accept the guest.
    pub accept: u64,
    pub refuse: u64,
}

/// One reason hosts refuse a guest: a feature (missing, forbidden, extra) or the whole CPU.
#[derive(Clone, Debug, Serialize)]
pub struct GuestBlocker {
    pub kind: BlockerKind,
    pub feature: Option<String>,
    /// Hosts refusing the guest for this reason (a host can refuse for several).
    pub hosts: u64,
    /// The first of them by fleet order, at most [`NAMES_PER_BLOCKER`].
    pub host_names: Vec<String>,
}

/// One real guest.
#[derive(Clone, Debug, Serialize)]
pub struct GuestRow {
    pub name: String,
    pub pool: String,
    pub host: String,
    /// The guest CPU as its domain XML gives it (mode, model, match, feature count).
    pub cpu: String,
    /// Why the guest could not start on its own host under these rules, if it could not.
    pub start_error: Option<String>,
    /// Set when the host is known by its domcapabilities alone and `start_error`'s text rests
    /// on what only QEMU's capabilities cache has (the order of QEMU's blockers): what.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_error_needs_cache: Option<String>,
    /// What to do when it cannot start on its own host (a problem of the inventory's data).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_action: Option<String>,
    /// Other hosts that accept it / refuse it (0 and 0 when it cannot start).
    pub accept: u64,
    pub refuse: u64,
    pub pools: Vec<GuestPool>,
    pub blockers: Vec<GuestBlocker>,
    /// On an inventory whose hosts run several releases: the guest started on its own host under
    /// that host's release, and each other host's answer under that host's release (None
    /// otherwise, or when its host is left out of MIXED FLEET).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_release: Option<OwnRelease>,
}

/// A guest under its own host's release, compared by every other host's release
/// ([`own_release`]).
#[derive(Clone, Debug, Serialize)]
pub struct OwnRelease {
    /// Its host's release.
    pub libvirt: &'static str,
    /// Why it cannot start on its host under that release, if it cannot.
    pub start_error: Option<String>,
    /// Per release the other hosts run: how many accept it and refuse it, and why.
    pub destinations: Vec<ReleaseDestinations>,
}

/// The other hosts on one release, as destinations of a guest ([`OwnRelease`]).
#[derive(Clone, Debug, Serialize)]
pub struct ReleaseDestinations {
    pub libvirt: &'static str,
    pub accept: u64,
    pub refuse: u64,
    /// Refusals per reason (hosts), in [`Refusal::ALL`] order.
    pub reasons: Vec<crate::scenarios::libvirt_upgrade::ReasonCount>,
    /// A name this release does not know, as libvirt says it, when that is a reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
}

/// The guest (its `<cpu>` and domain settings) started on fleet host `home` of `v` under that
/// host's release (`ver[home]`, a view index), and each other host's answer under its own
/// release (`ver`): the same release compares as [`start_guest`]'s sets do; another release
/// reads the started CPU as an incoming migration ([`Incoming`]); host-passthrough moves only to
/// the same hardware.
pub(crate) fn own_release(
    v: &Versions,
    ver: &[u8],
    home: usize,
    cpu: Option<&CpuDef>,
    features: &DomainFeatures,
) -> OwnRelease {
    let r = ver[home] as usize;
    let view = &v.views[r];
    let home_class = view.fleet.class_of(home);
    let libvirt = v.releases[r].as_str();
    let mut counts: Vec<([u64; 2], [u64; 7], Option<String>)> = vec![([0; 2], [0; 7], None); v.views.len()];
    let started = match cpu {
        None => start_def(&view.map.x86, CpuDef::new(CpuType::Guest), features, home_class, view.starter.fault)
            .map(|_| None),
        Some(def) => start_def(&view.map.x86, def.clone(), features, home_class, view.starter.fault).map(Some),
    };
    let started = match started {
        Ok(s) => s,
        Err(e) => return OwnRelease { libvirt, start_error: Some(e.reason), destinations: Vec::new() },
    };
    let passthrough = cpu.is_some_and(|d| matches!(d.mode, CpuMode::HostPassthrough | CpuMode::Maximum));
    let own_sets = match (&started, passthrough) {
        (Some(_), true) => Some(GuestSets::of_passthrough(home_class)),
        (Some(g), false) => match GuestSets::of_custom(&view.map.x86, g) {
            Ok(s) => Some(s),
            Err(e) => return OwnRelease { libvirt, start_error: Some(e.to_string()), destinations: Vec::new() },
        },
        (None, _) => None,
    };
    // One answer per (release, host class), cached.
    let mut cache: Vec<std::collections::HashMap<HostClassId, Option<Refusal>>> =
        vec![Default::default(); v.views.len()];
    let incoming: Vec<Option<Incoming>> = (0..v.views.len())
        .map(|d| match (&started, passthrough) {
            (Some(g), false) if d != r => Some(Incoming::read(&v.views[d].map.x86, g)),
            _ => None,
        })
        .collect();
    for (h, &dv) in ver.iter().enumerate() {
        if h == home {
            continue;
        }
        let d = dv as usize;
        let dest = &v.views[d].fleet;
        let hc = dest.host_class[HostId::new(h)];
        let why = *cache[d].entry(hc).or_insert_with(|| {
            let host = &dest.classes[hc];
            match (&own_sets, &incoming[d]) {
                (None, _) => None,
                (Some(sets), _) if d == r => sets.blocker(host).map(|b| Refusal::of_blocker(&b)),
                (Some(_), Some(inc)) => inc.refusal(host),
                // host-passthrough onto another release: only the same hardware.
                (Some(_), None) => {
                    let same = dest.class_of(home).identity == host.identity;
                    (!same).then_some(Refusal::HostPassthrough)
                }
            }
        });
        let c = &mut counts[d];
        match why {
            None => c.0[0] += 1,
            Some(reason) => {
                c.0[1] += 1;
                c.1[reason as usize] += 1;
                if reason.is_unknown_name() && c.2.is_none() {
                    if let Some(Err(u)) = incoming[d].as_ref().map(|i| &i.read) {
                        c.2 = Some(u.message(v.releases[d]));
                    }
                }
            }
        }
    }
    let destinations = counts
        .into_iter()
        .enumerate()
        .filter(|(_, c)| c.0[0] + c.0[1] > 0)
        .map(|(d, (n, reasons, unknown))| ReleaseDestinations {
            libvirt: v.releases[d].as_str(),
            accept: n[0],
            refuse: n[1],
            reasons: Refusal::ALL
                .iter()
                .zip(reasons)
                .filter(|(_, n)| *n > 0)
                .map(|(&reason, refusals)| crate::scenarios::libvirt_upgrade::ReasonCount { reason, refusals })
                .collect(),
            unknown,
        })
        .collect();
    OwnRelease { libvirt, start_error: None, destinations }
}

/// The guests section of the report.
#[derive(Clone, Debug, Serialize)]
pub struct GuestsReport {
    pub guests: u64,
    /// Guests every other host accepts.
    pub mobile_everywhere: u64,
    /// Guests every other host of their own pool accepts.
    pub mobile_in_pool: u64,
    /// Guests no other host accepts (or that cannot start).
    pub stranded: u64,
    pub rows: Vec<GuestRow>,
}

/// "custom Skylake-Server-IBRS match=exact, 12 features".
fn describe(cpu: Option<&CpuDef>) -> String {
    let Some(c) = cpu else { return "no <cpu> (the hypervisor's default CPU; libvirt checks none)".into() };
    let mut s = c.mode.as_str().to_string();
    if let Some(m) = &c.model {
        s.push_str(&format!(" {m}"));
    }
    if c.mode == CpuMode::Custom {
        s.push_str(&format!(" match={}", c.match_));
    }
    if !c.features.is_empty() {
        s.push_str(&format!(", {}", crate::report::words::count(c.features.len() as u64, "feature")));
    }
    s
}

/// The guest as started on `home`, reduced to bitsets; None for a guest without a CPU (every
/// host accepts it, once its domain settings pass the start path's checks).
fn started(sim: &Sim, g: &RealGuest, home: &HostClass) -> Result<Option<GuestSets>, StartFail> {
    start_guest(&sim.map.x86, g.cpu.as_ref(), &g.features, home, sim.starter.fault)
}

/// A guest (its `<cpu>`, `None` for a domain without one, and its domain settings) started on
/// `home` as libvirt's QEMU driver starts it, reduced to the bitsets every destination is
/// compared with (`GuestSets::blocker`); `None` for a guest without a CPU. The one rule for
/// "where can this VM go" (`simulate --inventory` and `compare --inventory`).
pub fn start_guest(
    map: &X86Map,
    cpu: Option<&CpuDef>,
    features: &DomainFeatures,
    home: &HostClass,
    fault: Option<Fault>,
) -> Result<Option<GuestSets>, StartFail> {
    let Some(def) = cpu else {
        let default = CpuDef::new(CpuType::Guest);
        start_def(map, default, features, home, fault)?;
        return Ok(None);
    };
    // host-passthrough and maximum go through the start path too (their features are checked).
    let g = start_def(map, def.clone(), features, home, fault)?;
    if matches!(def.mode, CpuMode::HostPassthrough | CpuMode::Maximum) {
        return Ok(Some(GuestSets::of_passthrough(home)));
    }
    Ok(Some(GuestSets::of_custom(map, &g).map_err(StartFail::from)?))
}

/// What the operator does about a guest that cannot start on its own host, by what blocks it.
fn start_action(sim: &Sim, b: Option<&Blocker>) -> String {
    // At most 8 names: the reason beside it lists them all.
    let names = |s: &cpufleet_engine::FeatureSet| {
        let all: Vec<&str> = s.iter().map(|id| sim.map.x86.feature_name(id)).collect();
        match all.len() {
            n if n > 8 => format!("{} and {} more", all[..8].join(", "), n - 8),
            _ => all.join(", "),
        }
    };
    match b {
        Some(Blocker::Missing(s)) => format!(
            "its <cpu> requires {} that its host does not offer guests: drop them or make them optional, \
             or move the guest to a host that offers them",
            names(s)
        ),
        Some(Blocker::Forbidden(s)) => {
            format!("its host offers {}, which its <cpu> forbids: change the policy or move the guest", names(s))
        }
        Some(Blocker::Extra(s)) => format!(
            "match='strict' refuses the host's extra features {}: use match='exact' or a host without them",
            names(s)
        ),
        Some(Blocker::Vendor) => "its <cpu> names another vendor's CPU: give it a model of its host's vendor".into(),
        Some(Blocker::Passthrough) | None => {
            "fix its <cpu> (the reason says what libvirt refuses), or move it to a host that can start it".into()
        }
    }
}

/// The (kind, feature) entries of a blocker.
pub fn entries(map: &X86Map, b: &Blocker) -> Vec<(BlockerKind, Option<String>)> {
    let name = |s: &cpufleet_engine::FeatureSet, kind| {
        s.iter().map(|id| (kind, Some(map.feature_name(id).to_string()))).collect::<Vec<_>>()
    };
    match b {
        Blocker::Vendor => vec![(BlockerKind::Vendor, None)],
        Blocker::Passthrough => vec![(BlockerKind::HostPassthrough, None)],
        Blocker::Missing(s) => name(s, BlockerKind::Missing),
        Blocker::Forbidden(s) => name(s, BlockerKind::Forbidden),
        Blocker::Extra(s) => name(s, BlockerKind::Extra),
    }
}

/// Per host class: its host count per pool, and its first hosts in fleet order (enough to name
/// [`NAMES_PER_BLOCKER`] of them with any one host left out). Computed once for all guests.
pub(crate) struct ClassHosts {
    per_pool: IdVec<HostClassId, Vec<(usize, u64)>>,
    first: IdVec<HostClassId, Vec<usize>>,
}

impl ClassHosts {
    pub(crate) fn of(sim: &Sim) -> ClassHosts {
        let fleet = &sim.fleet;
        let n = fleet.classes.len();
        let mut per_pool: IdVec<HostClassId, Vec<(usize, u64)>> = vec![Vec::new(); n].into();
        let mut first: IdVec<HostClassId, Vec<usize>> = vec![Vec::new(); n].into();
        for (pi, p) in fleet.pools.iter().enumerate() {
            for h in p.range() {
                let c = fleet.host_class[HostId::new(h)];
                let v: &mut Vec<(usize, u64)> = &mut per_pool[c];
                match v.last_mut() {
                    Some((q, k)) if *q == pi => *k += 1,
                    _ => v.push((pi, 1)),
                }
                if first[c].len() <= NAMES_PER_BLOCKER {
                    first[c].push(h);
                }
            }
        }
        ClassHosts { per_pool, first }
    }

    /// How many hosts have a class `pick` selects, and the first [`NAMES_PER_BLOCKER`] of them
    /// by name, in fleet order.
    pub(crate) fn select(&self, sim: &Sim, pick: impl Fn(HostClassId) -> bool) -> (u64, Vec<String>) {
        let (mut n, mut first) = (0, Vec::new());
        for (c, pools) in self.per_pool.iter_enumerated() {
            if pick(c) {
                n += pools.iter().map(|p| p.1).sum::<u64>();
                first.extend(&self.first[c]);
            }
        }
        first.sort_unstable();
        (n, first.into_iter().take(NAMES_PER_BLOCKER).map(|h| sim.fleet.host_name(h)).collect())
    }
}

fn row(sim: &Sim, hosts: &ClassHosts, g: &RealGuest) -> GuestRow {
    let fleet = &sim.fleet;
    let home_class = fleet.host_class[HostId::new(g.host)];
    let home_pool = fleet.pool_of(g.host);
    let mut r = GuestRow {
        name: g.name.clone(),
        pool: fleet.pools[home_pool].name.clone(),
        host: fleet.host_name(g.host),
        cpu: describe(g.cpu.as_ref()),
        start_error: None,
        start_error_needs_cache: None,
        start_action: None,
        accept: 0,
        refuse: 0,
        pools: fleet.pools.iter().map(|p| GuestPool { pool: p.name.clone(), accept: 0, refuse: 0 }).collect(),
        blockers: Vec::new(),
        own_release: None,
    };
    let sets = match started(sim, g, &fleet.classes[home_class]) {
        Ok(s) => s,
        Err(e) => {
            r.start_action = Some(start_action(sim, e.blocker.as_deref()));
            r.start_error = Some(e.reason);
            r.start_error_needs_cache = e.needs_cache;
            r.pools.clear();
            return r;
        }
    };
    let mut names: Vec<Vec<usize>> = Vec::new();
    // One compare per distinct host CPU; the guest's own host is not a destination.
    for (c, class) in fleet.classes.iter_enumerated() {
        let why = sets.as_ref().and_then(|s| s.blocker(class)).map_or_else(Vec::new, |b| entries(&sim.map.x86, &b));
        let mut n_class = 0;
        for &(p, n) in &hosts.per_pool[c] {
            let n = n - u64::from(c == home_class && p == home_pool);
            let slot = &mut r.pools[p];
            if why.is_empty() {
                slot.accept += n;
            } else {
                slot.refuse += n;
            }
            n_class += n;
        }
        if why.is_empty() {
            r.accept += n_class;
            continue;
        }
        r.refuse += n_class;
        let first: Vec<usize> = hosts.first[c].iter().copied().filter(|&h| h != g.host).collect();
        for (kind, feature) in why {
            let i = r.blockers.iter().position(|b| b.kind == kind && b.feature == feature).unwrap_or_else(|| {
                r.blockers.push(GuestBlocker { kind, feature, hosts: 0, host_names: Vec::new() });
                names.push(Vec::new());
                r.blockers.len() - 1
            });
            r.blockers[i].hosts += n_class;
            names[i].extend(&first);
        }
    }
    for (b, mut hs) in r.blockers.iter_mut().zip(names) {
        hs.sort_unstable();
        b.host_names = hs.into_iter().take(NAMES_PER_BLOCKER).map(|h| fleet.host_name(h)).collect();
    }
    r.blockers.sort_by(|a, b| b.hosts.cmp(&a.hosts).then_with(|| a.feature.cmp(&b.feature)));
    r
}

/// Every real guest's row, in inventory order.
pub(crate) fn run(sim: &Sim, guests: &[RealGuest]) -> GuestsReport {
    let hosts = ClassHosts::of(sim);
    let rows: Vec<GuestRow> = guests.par_iter().map(|g| row(sim, &hosts, g)).collect();
    let count = |f: &dyn Fn(&GuestRow) -> bool| rows.iter().filter(|r| f(r)).count() as u64;
    GuestsReport {
        guests: rows.len() as u64,
        mobile_everywhere: count(&|r| r.start_error.is_none() && r.refuse == 0),
        mobile_in_pool: count(&|r| {
            r.start_error.is_none() && r.pools.iter().all(|p| p.pool != r.pool || p.refuse == 0)
        }),
        stranded: count(&|r| r.start_error.is_some() || r.accept == 0),
        rows,
    }
}
