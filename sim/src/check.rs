//! The invariant checkers' shared machinery, over the reference model of `cpufleet-reference`
//! (`view`): the invariants, the check report and its accumulator, the sample, the reference
//! model's view of a host. Each scenario's checkers are in its folder (`scenarios/NAME/check.rs`);
//! [`crate::scenarios::registry::check`] runs the single-release ones.
//!
//! The checkers are separate from the generators: they re-derive what must hold from the original
//! guest definitions and host CPUs with a deliberately simple model over sets of feature *names*
//! (`BTreeSet<String>`), written from libvirt's specification and sharing no code with the bitset
//! fast path, and compare it with what the simulation did (engine results and fast-path verdicts).
//! Checks run on a deterministic sample of every kind of event, or on all of them (`--check-all`).

use super::fleet::HostClass;
use super::rng::{derive, tag};
use super::scenarios::Sim;
use cpufleet_engine::map::X86Map;
use cpufleet_reference::qemu::NaiveKvm;
use cpufleet_reference::view::{naive_host, NaiveHost};
use serde::Serialize;
use std::collections::BTreeMap;

/// Checks per kind when sampling.
pub(crate) const SAMPLE: usize = 2000;
/// Details kept per invariant (the count is always exact).
pub(crate) const KEEP_PER_INVARIANT: usize = 20;

/// An invariant the checkers verify. Serialised (and displayed) as its sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    CpuStable,
    Promotion,
    Pool,
    Forbid,
    Strict,
    Fast,
    Plan,
    VersionCompare,
    VersionNames,
}

impl Invariant {
    /// Every invariant (`every_fault_is_caught_by_the_checker_of_its_invariant` holds that each has
    /// a fault proving its checker; the match in [`Invariant::sentence`] keeps the list whole:
    /// `all_lists_every_invariant`).
    #[cfg(test)]
    pub(crate) const ALL: [Invariant; 9] = [
        Invariant::CpuStable,
        Invariant::Promotion,
        Invariant::Pool,
        Invariant::Forbid,
        Invariant::Strict,
        Invariant::Fast,
        Invariant::Plan,
        Invariant::VersionCompare,
        Invariant::VersionNames,
    ];

    /// The sentence that states it.
    pub fn sentence(self) -> &'static str {
        match self {
            Invariant::CpuStable => "guest CPU never changes across live migrations",
            Invariant::Promotion => "promoted optional features stay require",
            Invariant::Pool => {
                "every pool host runs the pool baseline, which starts and migrates everywhere in its pool"
            }
            Invariant::Forbid => "a forbid feature is never present on the guest's host",
            Invariant::Strict => "match='strict' guests only run on hosts with no extra features",
            Invariant::Fast => "the fast path agrees with the naive reference model",
            Invariant::Plan => "every host of a migration domain runs the domain baseline",
            Invariant::VersionCompare => {
                "a migration accepted across libvirt versions is one the destination version's compare accepts"
            }
            Invariant::VersionNames => "no accepted guest uses a model or feature name unknown to its host's version",
        }
    }
}

impl Serialize for Invariant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.sentence())
    }
}

impl std::fmt::Display for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.sentence())
    }
}

/// The names, space-separated.
pub(crate) fn join(s: impl IntoIterator<Item = String>) -> String {
    let v: Vec<String> = s.into_iter().collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(" ")
    }
}

/// One violated invariant.
#[derive(Clone, Debug, Serialize)]
pub struct Violation {
    pub invariant: Invariant,
    pub detail: String,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    /// Individual checks made.
    pub checks: u64,
    /// Whether every event was checked (`--check-all`) or a sample.
    pub all: bool,
    pub starts_checked: u64,
    pub migrations_checked: u64,
    pub pairs_checked: u64,
    pub violation_count: u64,
    pub violations: Vec<Violation>,
    /// Accepted cross-version migrations checked (libvirt-upgrade scenario; absent otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_version_checked: Option<u64>,
}

/// The checks one checker made and the violations it found, merged across checkers.
pub(crate) struct Acc {
    pub(crate) checks: u64,
    pub(crate) found: Vec<Violation>,
}

impl Acc {
    pub(crate) fn new() -> Acc {
        Acc { checks: 0, found: Vec::new() }
    }
    pub(crate) fn check(&mut self, ok: bool, invariant: Invariant, detail: impl FnOnce() -> String) {
        self.checks += 1;
        if !ok {
            self.found.push(Violation { invariant, detail: detail() });
        }
    }
    pub(crate) fn merge(mut self, o: Acc) -> Acc {
        self.checks += o.checks;
        self.found.extend(o.found);
        self
    }
}

/// A deterministic sample of `0..n` (all of it when `all` or n ≤ SAMPLE), in order.
pub(crate) fn sample(n: usize, seed: u64, family: u64, all: bool) -> Vec<usize> {
    if all || n <= SAMPLE {
        return (0..n).collect();
    }
    let mut keyed: Vec<(u64, usize)> =
        (0..n).map(|i| (derive(seed, tag::CHECK_SAMPLE ^ family, i as u64), i)).collect();
    keyed.select_nth_unstable(SAMPLE);
    let mut out: Vec<usize> = keyed[..SAMPLE].iter().map(|k| k.1).collect();
    out.sort_unstable();
    out
}

/// A host's label in a violation: its profile, model and whether it is odd.
pub(crate) fn host_label(sim: &Sim, h: &HostClass) -> String {
    format!(
        "{} host ({}{})",
        sim.spec.profiles.list[h.profile as usize].name,
        h.cpu.model.as_deref().unwrap_or("?"),
        if h.odd { ", odd" } else { "" }
    )
}

/// The reference model's view of a host's QEMU/KVM: REPORTED, MIGRATABLE and FULL (qemu-driver
/// spec §1.2), taken from the host's hypervisor.
pub(crate) fn naive_kvm(map: &X86Map, h: &HostClass) -> Option<NaiveKvm> {
    let reported = h.hv.reported.as_ref()?;
    Some(NaiveKvm::new(map, reported, h.hv.start_check_host()?.clone()))
}

/// A host as the reference compare sees it: its host-model CPU as a host CPU (what a guest is
/// offered), or its MIGRATABLE CPU (what `optional` features resolve against).
pub(crate) fn offered(map: &X86Map, h: &HostClass) -> NaiveHost {
    naive_host(map, &h.hv_host)
}

/// The first [`KEEP_PER_INVARIANT`] violations of each invariant, in the order found.
pub(crate) fn keep_per_invariant(found: Vec<Violation>) -> Vec<Violation> {
    let mut kept: BTreeMap<Invariant, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for v in found {
        let n = kept.entry(v.invariant).or_insert(0);
        if *n < KEEP_PER_INVARIANT {
            *n += 1;
            out.push(v);
        }
    }
    out
}

/// Adds the checks of `other` (another scenario's state) to `report`.
pub(crate) fn merge(report: &mut CheckReport, other: &CheckReport) {
    report.checks += other.checks;
    report.violation_count += other.violation_count;
    if let Some(n) = other.cross_version_checked {
        report.cross_version_checked = Some(report.cross_version_checked.unwrap_or(0) + n);
    }
    let mut all = std::mem::take(&mut report.violations);
    all.extend(other.violations.iter().cloned());
    report.violations = keep_per_invariant(all);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_invariant() {
        // Exhaustive: a new invariant does not compile here until it is listed in `ALL`.
        let position = |i: Invariant| match i {
            Invariant::CpuStable => 0,
            Invariant::Promotion => 1,
            Invariant::Pool => 2,
            Invariant::Forbid => 3,
            Invariant::Strict => 4,
            Invariant::Fast => 5,
            Invariant::Plan => 6,
            Invariant::VersionCompare => 7,
            Invariant::VersionNames => 8,
        };
        for (n, i) in Invariant::ALL.into_iter().enumerate() {
            assert_eq!(position(i), n);
        }
    }

    #[test]
    fn keep_per_invariant_keeps_the_first_ones_of_each_invariant_in_order() {
        let v = |invariant, i: usize| Violation { invariant, detail: i.to_string() };
        let found: Vec<Violation> = (0..KEEP_PER_INVARIANT + 5)
            .flat_map(|i| [v(Invariant::Fast, i), v(Invariant::Pool, i)])
            .chain([v(Invariant::Plan, 0)])
            .collect();
        let kept = keep_per_invariant(found);
        assert_eq!(kept.len(), 2 * KEEP_PER_INVARIANT + 1);
        let of = |inv| kept.iter().filter(|k| k.invariant == inv).map(|k| k.detail.clone()).collect::<Vec<_>>();
        let first: Vec<String> = (0..KEEP_PER_INVARIANT).map(|i| i.to_string()).collect();
        assert_eq!(of(Invariant::Fast), first);
        assert_eq!(of(Invariant::Pool), first);
        assert_eq!(kept[0].invariant, Invariant::Fast);
        assert_eq!(kept[1].invariant, Invariant::Pool);
        assert_eq!(kept.last().unwrap().invariant, Invariant::Plan);
    }
}
