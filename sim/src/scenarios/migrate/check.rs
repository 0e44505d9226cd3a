//! The migrate scenario's checks: guest starts, accepted migrations and (guest class, host class)
//! pairs against the reference model.

use crate::check::{host_label, join, naive_kvm, sample, Acc, CheckReport, Invariant};
use crate::guest::{build_def, incoming};
use crate::ids::{ComboId, GuestClassId, HostClassId};
use crate::scenarios::migrate::MigrateRun;
use crate::scenarios::Sim;
use cpufleet_engine::{CpuMatch, CpuMode, Policy};
use cpufleet_reference::qemu::{self, Arrival};
use cpufleet_reference::view::{
    naive_cpu, naive_host, naive_visible, same_cpu, strict_extra, with, NaiveCpu, NaiveHost,
};
use rayon::prelude::*;

/// 2. Starts: the start of combo `ci` (configuration, pool, host) against the reference update.
pub(crate) fn check_start(sim: &Sim, ci: usize) -> Acc {
    let (map, fleet, combos) = (&sim.map.x86, &sim.fleet, &sim.starter.combos);
    let mut a = Acc::new();
    let combo = &combos[ComboId::new(ci)];
    let t = &sim.spec.templates[combo.template as usize];
    let host = &fleet.classes[combo.host_class];
    let Ok(orig) = build_def(t, sim.starter.ctx(combo.ctx), host) else { return a };
    let Some(kvm) = naive_kvm(map, host) else { return a };
    // The QEMU driver resolves `optional` features against MIGRATABLE and checks against FULL.
    let (nh, nf) = (naive_host(map, &kvm.migratable), naive_host(map, &kvm.full));
    let no = naive_cpu(&orig);
    let reference = qemu::start(map, &no, &kvm, Arrival::Fresh);
    let what = || format!("guest '{}' started on {}", t.name, host_label(sim, host));
    // libvirt compares the CPU as defined (before the QEMU filter drops `osxsave` and the like
    // from the started one) with FULL, where its partial check compares at all (11.3.0 checks a
    // model without compat check by QEMU's blockers, strict unread): whatever started, and
    // whatever the reference model says of it.
    if combo.outcome.is_ok() && no.match_ == CpuMatch::Strict && qemu::partial_compares_with_full(map, &no) {
        let extra = strict_extra(map, &no, &nf);
        a.check(extra.is_empty(), Invariant::Strict, || format!("{}: host has unlisted {}", what(), join(extra)));
    }
    match (&combo.outcome, reference) {
        (Ok(_), Err(e)) => {
            a.check(false, Invariant::Fast, || format!("{}: started, but the reference model refuses it ({e})", what()))
        }
        (Ok(gc), Ok(expected)) => {
            let g = &sim.starter.classes[*gc];
            let got = naive_cpu(&g.def);
            check_promotion(&mut a, &no, &nh, &got, &what);
            a.check(got == expected, Invariant::Fast, || {
                format!(
                    "{}: the started CPU differs from the reference start: {}",
                    what(),
                    update_diff(&got, &expected)
                )
            });
            let vis_ref = naive_visible(map, &expected, &nh);
            let vis_got = naive_visible(map, &got, &nh);
            a.check(vis_ref == vis_got, Invariant::CpuStable, || {
                format!(
                    "{}: the guest sees different features than its definition gives: missing {} extra {}",
                    what(),
                    join(vis_ref.difference(&vis_got).cloned()),
                    join(vis_got.difference(&vis_ref).cloned())
                )
            });
            let forbidden: Vec<String> = with(&no, Policy::Forbid).into_iter().filter(|n| nf.all.contains(n)).collect();
            a.check(forbidden.is_empty(), Invariant::Forbid, || {
                format!("{}: host has forbidden {}", what(), forbidden.join(" "))
            });
            if orig.mode != CpuMode::HostPassthrough {
                let fast = g.sets.allows(host);
                let naive = qemu::start(map, &got, &kvm, Arrival::Incoming).is_ok();
                a.check(fast == naive, Invariant::Fast, || {
                    format!("{}: fast path says {fast}, reference model {naive} for its own host", what())
                });
            }
        }
        (Err(fail), reference) => {
            if fail.blocker.is_some() {
                a.check(reference.is_err(), Invariant::Fast, || {
                    format!("{}: refused ({}), but the reference model lets it start", what(), fail.reason)
                });
            }
        }
    }
    a
}

/// Promotion: every optional feature of `orig` became require (the host `nh` has it) or disable
/// in the started CPU `got`.
fn check_promotion(a: &mut Acc, orig: &NaiveCpu, nh: &NaiveHost, got: &NaiveCpu, what: &dyn Fn() -> String) {
    for (name, p) in &orig.features {
        if *p != Policy::Optional {
            continue;
        }
        let want = if nh.all.contains(name) { Policy::Require } else { Policy::Disable };
        let have = got.features.get(name).copied();
        a.check(have == Some(want), Invariant::Promotion, || {
            format!(
                "{}: optional feature '{name}' is {} after start, expected {}",
                what(),
                have.map_or("absent".to_string(), |p| p.to_string()),
                want
            )
        });
    }
}

/// How the started CPU `got` differs from the reference update `expected`: features with another
/// policy (`name=policy` as expected), extra features (`+name=policy`), and the mode, match, model
/// and vendor of both when any of those differ.
fn update_diff(got: &NaiveCpu, expected: &NaiveCpu) -> String {
    let diff: Vec<String> = expected
        .features
        .iter()
        .filter(|(n, p)| got.features.get(*n) != Some(p))
        .map(|(n, p)| format!("{n}={p}"))
        .chain(
            got.features.iter().filter(|(n, _)| !expected.features.contains_key(*n)).map(|(n, p)| format!("+{n}={p}")),
        )
        .collect();
    let mut d = diff.join(" ");
    if got.model != expected.model
        || got.vendor != expected.vendor
        || got.mode != expected.mode
        || got.match_ != expected.match_
    {
        d.push_str(&format!(
            " (engine: {} {} {} {}; reference: {} {} {} {})",
            got.mode,
            got.match_,
            got.model.as_deref().unwrap_or("-"),
            got.vendor.as_deref().unwrap_or("-"),
            expected.mode,
            expected.match_,
            expected.model.as_deref().unwrap_or("-"),
            expected.vendor.as_deref().unwrap_or("-")
        ));
    }
    d
}

/// 3. Migrations: accepted (guest start, destination) pairs and refused (guest, destination)
///    pairs, sampled; then the fast path against the engine and the reference model on
///    (guest class, host class) pairs.
pub(crate) fn check_migrations(sim: &Sim, m: &MigrateRun, check_all: bool, report: &mut CheckReport) -> Acc {
    let combos = &sim.starter.combos;
    let accepted: Vec<(ComboId, HostClassId)> = m
        .accepted
        .pairs()
        .into_iter()
        .map(|(c, h)| (ComboId::new(c as usize), HostClassId::new(h as usize)))
        .collect();
    let ids = sample(accepted.len(), sim.seed, 2, check_all);
    report.migrations_checked = ids.len() as u64;
    let acc = ids.par_iter().map(|&i| check_migration(sim, accepted[i])).reduce(Acc::new, Acc::merge);
    let mut pairs: Vec<(GuestClassId, HostClassId)> = m
        .refused
        .pairs()
        .into_iter()
        .map(|(g, h)| (GuestClassId::new(g as usize), HostClassId::new(h as usize)))
        .collect();
    pairs.extend(accepted.iter().filter_map(|&(ci, dc)| combos[ci].outcome.as_ref().ok().map(|&g| (g, dc))));
    pairs.sort_unstable();
    pairs.dedup();
    let ids = sample(pairs.len(), sim.seed, 3, check_all);
    report.pairs_checked = ids.len() as u64;
    acc.merge(ids.par_iter().map(|&i| check_pair(sim, pairs[i])).reduce(Acc::new, Acc::merge))
}

/// One accepted migration: the guest started by combo `ci`, moved to host class `dc`.
fn check_migration(sim: &Sim, (ci, dc): (ComboId, HostClassId)) -> Acc {
    let (map, fleet, combos) = (&sim.map.x86, &sim.fleet, &sim.starter.combos);
    let mut a = Acc::new();
    let combo = &combos[ci];
    let t = &sim.spec.templates[combo.template as usize];
    let src_host = &fleet.classes[combo.host_class];
    let (Ok(gc), Ok(orig)) = (&combo.outcome, build_def(t, sim.starter.ctx(combo.ctx), src_host)) else {
        a.check(false, Invariant::Fast, || "a guest that never started was migrated".to_string());
        return a;
    };
    let g = &sim.starter.classes[*gc];
    let (src, dst) = (&fleet.classes[combo.host_class], &fleet.classes[dc]);
    let (Some(ks), Some(kd)) = (naive_kvm(map, src), naive_kvm(map, dst)) else { return a };
    let (ns, nd) = (naive_host(map, &ks.migratable), naive_host(map, &kd.migratable));
    let no = naive_cpu(&orig);
    let got = naive_cpu(&g.def);
    let what =
        || format!("guest '{}' started on {}, migrated to {}", t.name, host_label(sim, src), host_label(sim, dst));
    let started = qemu::start(map, &no, &ks, Arrival::Fresh).unwrap_or_else(|_| no.clone());
    let at_start = naive_visible(map, &started, &ns);
    let at_dest = naive_visible(map, &got, &nd);
    a.check(at_start == at_dest, Invariant::CpuStable, || {
        format!(
            "{}: features disappeared: {}; appeared: {}",
            what(),
            join(at_start.difference(&at_dest).cloned()),
            join(at_dest.difference(&at_start).cloned())
        )
    });
    if orig.mode == CpuMode::HostPassthrough {
        a.check(same_cpu(&ns, &nd), Invariant::Fast, || format!("{}: host-passthrough onto a different CPU", what()));
    } else {
        // The destination: the start path as an incoming domain, then its check='full' live check.
        let naive = qemu::start(map, &got, &kd, Arrival::Incoming);
        a.check(naive.is_ok(), Invariant::Fast, || {
            format!("{}: allowed by the fast path, refused by the reference model ({})", what(), naive.unwrap_err())
        });
    }
    let nd_full = naive_host(map, &kd.full);
    let forbidden: Vec<String> = with(&no, Policy::Forbid).into_iter().filter(|n| nd_full.all.contains(n)).collect();
    a.check(forbidden.is_empty(), Invariant::Forbid, || {
        format!("{}: host has forbidden {}", what(), forbidden.join(" "))
    });
    // `match='strict'` is checked where the guest starts: the destination runs no compare (§4.5).
    a
}

/// Guest class `gc` on host class `hc`: fast path, engine compare and reference model agree.
fn check_pair(sim: &Sim, (gc, hc): (GuestClassId, HostClassId)) -> Acc {
    let (map, fleet) = (&sim.map.x86, &sim.fleet);
    let mut a = Acc::new();
    let g = &sim.starter.classes[gc];
    let h = &fleet.classes[hc];
    if g.def.mode == CpuMode::HostPassthrough {
        return a;
    }
    let Some(kvm) = naive_kvm(map, h) else { return a };
    let fast = g.sets.allows(h);
    let engine = incoming(map, &g.def, h);
    let naive = qemu::start(map, &naive_cpu(&g.def), &kvm, Arrival::Incoming);
    a.check(fast == engine.is_ok() && engine.is_ok() == naive.is_ok(), Invariant::Fast, || {
        format!(
            "{} CPU arriving on {}: fast path {fast}, engine {}, reference {}",
            g.def.model.as_deref().unwrap_or("?"),
            host_label(sim, h),
            engine.as_ref().map_or_else(|e| e.to_string(), |_| "accepts".into()),
            naive.as_ref().map_or_else(|e| e.clone(), |_| "accepts".into()),
        )
    });
    a
}

/// The migrate scenario's checker: the guest starts (sampled), then the migrations when it ran
/// (`migrate`).
pub(crate) fn check(sim: &Sim, migrate: Option<&MigrateRun>, check_all: bool, report: &mut CheckReport) -> Acc {
    let start_ids = sample(sim.starter.combos.len(), sim.seed, 1, check_all);
    report.starts_checked = start_ids.len() as u64;
    let acc = start_ids.par_iter().map(|&ci| check_start(sim, ci)).reduce(Acc::new, Acc::merge);
    match migrate {
        Some(m) => acc.merge(check_migrations(sim, m, check_all, report)),
        None => acc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(features: &[(&str, Policy)]) -> NaiveCpu {
        NaiveCpu {
            mode: CpuMode::Custom,
            match_: CpuMatch::Exact,
            model: Some("Haswell".into()),
            vendor: None,
            features: features.iter().map(|&(n, p)| (n.to_string(), p)).collect(),
        }
    }

    #[test]
    fn update_diff_names_changed_and_extra_features_then_differing_headers() {
        let expected = cpu(&[("vmx", Policy::Require), ("aes", Policy::Disable)]);
        let got = cpu(&[("vmx", Policy::Optional), ("aes", Policy::Disable), ("pdpe1gb", Policy::Require)]);
        assert_eq!(update_diff(&got, &expected), "vmx=require +pdpe1gb=require");
        let mut other = got.clone();
        other.model = Some("Skylake-Client".into());
        assert_eq!(
            update_diff(&other, &expected),
            "vmx=require +pdpe1gb=require (engine: custom exact Skylake-Client -; reference: custom exact Haswell -)"
        );
        assert_eq!(update_diff(&expected, &expected), "");
    }
}
