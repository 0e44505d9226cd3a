//! The cross-version checks (libvirt-upgrade and MIXED FLEET): accepted migrations across
//! releases against the destination release's engine and the reference model.

use crate::check::{naive_kvm, sample, Acc, CheckReport, Invariant};
use crate::guest::incoming;
use crate::ids::{GuestClassId, HostClassId};
use crate::versions::Versions;
use cpufleet_engine::map::X86Map;
use cpufleet_engine::CpuMode;
use cpufleet_reference::names::model_names;
use cpufleet_reference::qemu::{self, Arrival};
use cpufleet_reference::view::{naive_cpu, naive_visible, NaiveHost};
use rayon::prelude::*;
use std::collections::BTreeSet;

/// 5. Cross-version migrations (libvirt-upgrade): each accepted (guest version, guest class,
///    destination version, destination host class) pair, sampled, against the destination
///    version's engine compare and the reference model under the destination's map; the
///    guest's names must all be known to that map; and what the guest sees there must be what
///    it saw where it started, but for the features the two maps put in its model differently
///    (11.3.0 took `mpx` out of the Skylake and Cascade Lake models).
pub(crate) fn check_versions(
    v: &Versions,
    accepted: &[(usize, u32, usize, u32)],
    seed: u64,
    check_all: bool,
    report: &mut CheckReport,
) {
    let ids = sample(accepted.len(), seed, 4, check_all);
    report.cross_version_checked = Some(ids.len() as u64);
    let acc = ids.par_iter().map(|&i| check_cross(v, accepted[i])).reduce(Acc::new, Acc::merge);
    report.checks += acc.checks;
    report.violation_count += acc.found.len() as u64;
    report.violations = acc.found;
}

fn check_cross(v: &Versions, (g, gc, d, hc): (usize, u32, usize, u32)) -> Acc {
    let mut a = Acc::new();
    let (gv, dv) = (&v.views[g], &v.views[d]);
    let (gm, dm) = (&gv.map.x86, &dv.map.x86);
    // The accepted pairs' bitsets hold raw indices.
    let def = &gv.starter.classes[GuestClassId::new(gc as usize)].def;
    let host = &dv.fleet.classes[HostClassId::new(hc as usize)];
    if def.mode == CpuMode::HostPassthrough {
        return a;
    }
    let what = || {
        format!(
            "{} guest CPU started under libvirt {}, accepted by a {} host under libvirt {}",
            def.model.as_deref().unwrap_or("?"),
            gv.map.version(),
            dv.spec.profiles.list[host.profile as usize].name,
            dv.map.version()
        )
    };
    let unknown: Vec<&str> = def
        .model
        .iter()
        .filter(|m| dm.model(m).is_none())
        .chain(def.features.iter().map(|f| &f.name).filter(|n| dm.feature_id(n).is_none()))
        .map(|s| s.as_str())
        .collect();
    a.check(unknown.is_empty(), Invariant::VersionNames, || {
        format!("{}: unknown there: {}", what(), unknown.join(" "))
    });
    // The destination's QEMU driver: the start path as an incoming domain, then its live check.
    let engine = incoming(dm, def, host);
    let naive = naive_kvm(dm, host).map(|k| qemu::start(dm, &naive_cpu(def), &k, Arrival::Incoming));
    let naive_ok = naive.as_ref().is_some_and(|r| r.is_ok());
    a.check(engine.is_ok() && naive_ok, Invariant::VersionCompare, || {
        let e = engine.as_ref().map_or_else(|e| e.to_string(), |_| "accepts".into());
        let n = match &naive {
            Some(Err(e)) => e.clone(),
            Some(Ok(_)) => "accepts".into(),
            None => "has no host model".into(),
        };
        format!("{}: the destination's QEMU driver says {e}, the reference model {n}", what())
    });
    if unknown.is_empty() {
        let got = naive_cpu(def);
        let none = NaiveHost { vendor: None, model: None, explicit: Vec::new(), all: Default::default() };
        let (at_start, at_dest) = (naive_visible(gm, &got, &none), naive_visible(dm, &got, &none));
        let model = |m: &X86Map| def.model.as_deref().and_then(|n| model_names(m, n)).unwrap_or_default();
        let redefined: BTreeSet<String> = model(gm).symmetric_difference(&model(dm)).cloned().collect();
        let changed: Vec<String> =
            at_start.symmetric_difference(&at_dest).filter(|n| !redefined.contains(*n)).cloned().collect();
        a.check(changed.is_empty(), Invariant::CpuStable, || {
            format!("{}: features changed: {}", what(), changed.join(" "))
        });
    }
    a
}
