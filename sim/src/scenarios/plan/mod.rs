//! The plan scenario: an automatic equivalent of VMware's EVC. Group the hosts into at most k
//! migration domains, each with its own baseline CPU, so that guests keep as many features as
//! possible: maximise Σ over hosts of |baseline of the host's domain|, where a domain's baseline
//! is the intersection of its hosts' (migratable) feature sets.
//!
//! Algorithm. Hosts with the same CPU are one item (weight = host count), so the problem is over
//! the distinct CPUs, not the hosts. With n items:
//! - n ≤ k: every item its own domain (optimal: splitting never lowers an intersection);
//! - n ≤ 12: exact dynamic programming over subsets (best\[j\]\[mask\] = the best split of `mask` into
//!   at most j domains, O(k·3^n));
//! - otherwise: agglomerative merging (start with one domain per item, repeatedly merge the two
//!   domains whose merge loses the least, W_a|S_a| + W_b|S_b| − (W_a+W_b)|S_a∩S_b|, keeping each
//!   domain's best partner so a merge costs O(n)), then local search (move single items to the
//!   domain where they add most, until no move improves), run for every k.
//!
//! The result is compared with brute force over all partitions in the tests.

pub(crate) mod check;
pub(crate) mod constraints;
pub(crate) mod entry;
pub(crate) mod section;
pub(crate) mod solve;

pub(crate) use solve::{objective, solve_all, Grouping, Item, EXACT_MAX};

use super::super::fleet::{hv_baseline_of, vendor_neutral_baseline, Fleet, HostNames};
use super::super::spec::PlanOpts;
use super::pools::{class_counts, BaselineReport};
use super::Sim;
use crate::error::BaselineError;
use crate::ids::{HostClassId, HostId};
use constraints::{by_vendor, enforce_min_hosts, solve_by_vendor};
use cpufleet_engine::CpuDef;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct CurvePoint {
    pub k: usize,
    /// Domains actually used (≤ k).
    pub domains: usize,
    /// Σ over hosts of the features their domain's baseline keeps.
    pub retained: u64,
    pub mean_features_per_host: f64,
    /// Mean features per host gained over one fleet-wide baseline.
    pub gain_per_host: f64,
    pub gain_percent: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Domain {
    pub hosts: u64,
    pub vendors: Vec<String>,
    /// (generation, hosts)
    pub generations: Vec<(String, u64)>,
    /// (pool, hosts)
    pub pools: Vec<(String, u64)>,
    pub baseline: BaselineReport,
    /// Every host of the domain, by name, in fleet order.
    pub host_names: HostNames,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanReport {
    pub k: usize,
    /// Distinct CPUs the plan groups.
    pub items: usize,
    /// How the groupings were found; the JSON prints its sentence.
    #[serde(serialize_with = "method_name")]
    pub method: Method,
    pub fleet_wide_features: usize,
    /// Σ over hosts of their own CPU's features: what no grouping can beat.
    pub upper_bound: u64,
    pub curve: Vec<CurvePoint>,
    pub domains: Vec<Domain>,
    pub allow_cross_vendor: bool,
    pub keep_pools_whole: bool,
    pub min_domain_hosts: u64,
    /// Why the plan is not what was asked for (too few domains for the vendors, a vendor with
    /// fewer hosts than the minimum domain size), if it is not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// A domain's baseline CPU (or why there is none) and its host classes, for the checkers.
/// The plan scenario's field of the report (null when it did not run).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Part {
    pub plan: Option<PlanReport>,
}

/// A domain as its checker reads it: its baseline and its host classes.
pub(crate) type DomainCheck = (Result<CpuDef, BaselineError>, Vec<HostClassId>);

/// What the plan groups: items (distinct CPUs, or whole pools) and the item of every host.
struct Grouped {
    items: Vec<Item>,
    host_item: Vec<u32>,
}

/// One item per distinct (migratable feature set, vendor) in order of first appearance in the
/// fleet; with `pools_whole`, one item per pool (its hosts' intersection: a domain of whole
/// pools keeps exactly that).
fn group(fleet: &Fleet, pools_whole: bool) -> Grouped {
    let classes = &fleet.classes;
    if pools_whole {
        let items = fleet
            .pools
            .iter()
            .map(|p| {
                let ids = fleet.classes_in(p.range(), &fleet.host_class);
                let mut set = classes[ids[0]].qemu_mig;
                for &c in &ids[1..] {
                    set.intersect_with(&classes[c].qemu_mig);
                }
                Item { set, weight: p.len as u64, vendor: classes[ids[0]].vendor }
            })
            .collect();
        let host_item = (0..fleet.n_hosts()).map(|h| fleet.pool_of(h) as u32).collect();
        return Grouped { items, host_item };
    }
    let counts = class_counts(classes.len(), fleet.class_indices());
    let mut items: Vec<Item> = Vec::new();
    let mut item_of_class = vec![u32::MAX; classes.len()];
    for c in fleet.classes_in(0..fleet.n_hosts(), &fleet.host_class) {
        let (set, vendor) = (classes[c].qemu_mig, classes[c].vendor);
        let i = items.iter().position(|it| it.set == set && it.vendor == vendor).unwrap_or_else(|| {
            items.push(Item { set, weight: 0, vendor });
            items.len() - 1
        });
        items[i].weight += counts[c.index()];
        item_of_class[c.index()] = i as u32;
    }
    let host_item = fleet.class_indices().map(|c| item_of_class[c]).collect();
    Grouped { items, host_item }
}

/// The best grouping into at most k domains for every k in 1..=k_max under the constraints
/// (`None`: no vendor-pure grouping has that few domains).
fn solve(items: &[Item], opts: &PlanOpts) -> Vec<Option<Grouping>> {
    if opts.allow_cross_vendor {
        solve_all(items, opts.k).into_iter().map(Some).collect()
    } else {
        solve_by_vendor(items, opts.k)
    }
}

cpufleet_engine::closed_set! {
    /// How a plan's groupings were found (for the largest group solved together), named by the
    /// sentence the report prints.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Method: "plan method" {
        /// No more distinct CPUs than domains: each gets its own.
        OnePerCpu = "one domain per distinct CPU (optimal)",
        /// Few enough CPUs for the exact subset dynamic programme.
        Exact = "exact (subset dynamic programming)",
        /// Too many for the exact one: merging, then local search.
        Heuristic = "agglomerative merging + local search",
    }
}

/// Serializes a plan method by its name (the sentence).
fn method_name<S: serde::Serializer>(m: &Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(m.as_str())
}

/// How the groupings were found (for the largest group solved together).
fn method(items: &[Item], opts: &PlanOpts) -> Method {
    let n =
        if opts.allow_cross_vendor { items.len() } else { by_vendor(items).iter().map(Vec::len).max().unwrap_or(0) };
    if n <= opts.k {
        Method::OnePerCpu
    } else if n <= EXACT_MAX {
        Method::Exact
    } else {
        Method::Heuristic
    }
}

/// The curve of retained features over k (k with no admissible grouping left out); gains are
/// over one fleet-wide baseline.
fn curve(items: &[Item], groupings: &[Option<Grouping>]) -> Vec<CurvePoint> {
    let total: u64 = items.iter().map(|i| i.weight).sum::<u64>().max(1);
    let base = objective(items, &vec![0; items.len()]);
    groupings
        .iter()
        .enumerate()
        .filter_map(|(i, g)| g.as_ref().map(|g| (i, g)))
        .map(|(i, g)| CurvePoint {
            k: i + 1,
            domains: g.assign.iter().copied().max().map_or(0, |m| m + 1),
            retained: g.objective,
            mean_features_per_host: round2(g.objective as f64 / total as f64),
            gain_per_host: round2(g.objective.saturating_sub(base) as f64 / total as f64),
            gain_percent: if base == 0 {
                0.0
            } else {
                round2(100.0 * g.objective.saturating_sub(base) as f64 / base as f64)
            },
        })
        .collect()
}

/// One domain's members, gathered in one pass over the hosts.
#[derive(Default)]
struct Members {
    hosts: Vec<usize>,
    classes: Vec<HostClassId>,
    pools: Vec<(usize, u64)>,
    gens: Vec<(usize, u64)>,
}

fn bump<K: PartialEq>(v: &mut Vec<(K, u64)>, k: K) {
    match v.iter_mut().find(|x| x.0 == k) {
        Some(x) => x.1 += 1,
        None => v.push((k, 1)),
    }
}

/// The members of each of the `nd` domains of `assign`.
fn members(fleet: &Fleet, grouped: &Grouped, assign: &[usize], nd: usize) -> Vec<Members> {
    let mut out: Vec<Members> = (0..nd).map(|_| Members::default()).collect();
    let mut seen = vec![false; fleet.classes.len()];
    for h in 0..fleet.n_hosts() {
        let m = &mut out[assign[grouped.host_item[h] as usize]];
        m.hosts.push(h);
        let c = fleet.host_class[HostId::new(h)];
        if !seen[c.index()] {
            seen[c.index()] = true;
            m.classes.push(c);
        }
        bump(&mut m.pools, fleet.pool_of(h));
        bump(&mut m.gens, fleet.profile_of(h));
    }
    out
}

/// A domain's baseline, in the hypervisor view: `virsh hypervisor-cpu-baseline --migratable` of
/// its hosts' QEMU/KVM host models, or, for a domain that mixes vendors (only with
/// `--allow-cross-vendor`), the vendor-neutral CPU of the features their QEMU/KVM all offer.
fn domain_baseline(sim: &Sim, classes: &[HostClassId], vendors: &[usize]) -> Result<CpuDef, BaselineError> {
    let (map, all) = (&sim.map.x86, &sim.fleet.classes);
    if vendors.len() == 1 {
        let first = if sim.starter.fault == Some(crate::guest::Fault::PlanFirstHost) {
            classes.len().min(1)
        } else {
            classes.len()
        };
        return hv_baseline_of(map, all, &classes[..first]);
    }
    let mut common = all[classes[0]].qemu;
    for &c in classes {
        common.intersect_with(&all[c].qemu);
    }
    Ok(vendor_neutral_baseline(map, &common)?)
}

/// The domains of `assign`, largest first (ties in order of first appearance), with their checks.
fn describe(sim: &Sim, grouped: &Grouped, assign: &[usize]) -> (Vec<Domain>, Vec<DomainCheck>) {
    let (map, fleet, profiles) = (&sim.map.x86, &sim.fleet, &sim.spec.profiles);
    let nd = assign.iter().copied().max().map_or(0, |m| m + 1);
    let mut out: Vec<(Domain, DomainCheck)> = members(fleet, grouped, assign, nd)
        .into_iter()
        .filter(|m| !m.hosts.is_empty())
        .map(|mut m| {
            let mut vendors: Vec<usize> = m.classes.iter().map(|&c| fleet.classes[c].vendor).collect();
            vendors.sort_unstable();
            vendors.dedup();
            let baseline = domain_baseline(sim, &m.classes, &vendors);
            m.gens.sort_by_key(|&(g, _)| (profiles.list[g].year, g));
            let domain = Domain {
                hosts: m.hosts.len() as u64,
                vendors: vendors.iter().map(|&v| map.vendors[v].name.clone()).collect(),
                generations: m.gens.iter().map(|&(g, n)| (profiles.list[g].name.clone(), n)).collect(),
                pools: m.pools.iter().map(|&(p, n)| (fleet.pools[p].name.clone(), n)).collect(),
                baseline: BaselineReport::of(map, &baseline),
                host_names: fleet.names_of(m.hosts.iter().copied()),
            };
            (domain, (baseline, m.classes))
        })
        .collect();
    out.sort_by_key(|d| std::cmp::Reverse(d.0.hosts));
    out.into_iter().unzip()
}

/// The plan report, and each domain's baseline with its host classes.
pub(crate) fn run(sim: &Sim) -> (PlanReport, Vec<DomainCheck>) {
    let opts = sim.spec.plan;
    let grouped = group(&sim.fleet, opts.keep_pools_whole);
    let items = &grouped.items;
    let groupings = solve(items, &opts);
    let mut notes = Vec::new();
    let chosen = match &groupings[opts.k - 1] {
        Some(g) => Some(g.clone()),
        None => {
            let need = by_vendor(items).len();
            notes.push(format!(
                "{} domains cannot keep the fleet's vendors apart: give --plan-k {need} or --allow-cross-vendor",
                opts.k
            ));
            None
        }
    };
    let chosen = chosen.map(|g| {
        if opts.min_domain_hosts <= 1 {
            return g;
        }
        let (g, met) = enforce_min_hosts(items, &g, opts.min_domain_hosts, opts.allow_cross_vendor);
        if !met {
            notes.push(format!(
                "some domains have fewer than {} hosts: their vendor has no other domain to join",
                opts.min_domain_hosts
            ));
        }
        g
    });
    let (domains, checks) = chosen.map_or((Vec::new(), Vec::new()), |g| describe(sim, &grouped, &g.assign));
    let mut all = items.first().map(|i| i.set).unwrap_or_default();
    for i in items {
        all.intersect_with(&i.set);
    }
    let report = PlanReport {
        k: opts.k,
        items: items.len(),
        method: method(items, &opts),
        fleet_wide_features: all.count(),
        upper_bound: items.iter().map(|i| i.weight * i.set.count() as u64).sum(),
        curve: curve(items, &groupings),
        domains,
        allow_cross_vendor: opts.allow_cross_vendor,
        keep_pools_whole: opts.keep_pools_whole,
        min_domain_hosts: opts.min_domain_hosts,
        notes,
    };
    (report, checks)
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}
