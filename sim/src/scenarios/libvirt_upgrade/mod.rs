//! The libvirt-upgrade scenario (issue 13): libvirt is rolled from one version to another host
//! by host while guests keep starting and moving. The fleet starts on `--upgrade-from` (default
//! 9.0.0) and moves to `--upgrade-to` (default 11.3.0; any two supported releases, either way;
//! `--reverse` swaps them, a downgrade); over T steps a growing share of the hosts runs the other
//! version.
//! At each step the guest population starts and migrates as in the migrate scenario (the same
//! draws, [`crate::scenarios::migrate::place_guests`], [`crate::scenarios::migrate::next_destination`]), each start under its host's
//! version and each migration read and compared by the destination's version
//! ([`crate::versions`]). The report counts migrations per direction and configuration with the
//! reasons, the stranded guests, the configurations that stay fully mobile, and a
//! recommendation per configuration.

pub(crate) mod check;
pub(crate) mod entry;
pub(crate) mod mixed;
pub(crate) mod model;
pub(crate) mod rollout;
pub(crate) mod section;
pub(crate) mod verify;

pub(crate) use mixed::mixed;
pub use model::*;
pub(crate) use rollout::run;
pub(crate) use verify::verify;

/// The libvirt-upgrade scenario's field of the report (absent from the JSON when it did not run).
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Part {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub libvirt_upgrade: Option<LibvirtUpgradeReport>,
}

#[cfg(test)]
mod tests {
    use super::rollout::{run_with, RolloutRun};
    use super::*;
    use crate::progress::Silent;
    use crate::spec;
    use crate::spec::{ModelRef, Template};
    use crate::versions::Inputs;
    use cpufleet_engine::CpuMap;
    use cpufleet_engine::{CpuMatch, CpuMode, LibvirtVersion};

    fn inputs(hosts: u64) -> Inputs {
        let map = CpuMap::embedded(LibvirtVersion::V9_0_0).unwrap();
        let mut s = spec::load(&map.x86, None, 1 << 20).unwrap();
        s.scale_hosts(hosts).unwrap();
        (s.guests, s.migrations) = (300, 3000);
        Inputs::new(&map, &s).unwrap()
    }

    /// "Upgrade pool X first, all its hosts in one step", as the re-simulation applies it: the
    /// pool is wholly on the new version from step 1, the other hosts follow in order.
    #[test]
    fn a_pool_moved_first_is_wholly_new_at_step_1() {
        let inp = inputs(400);
        // 40 steps: 10 hosts move per step, fewer than the moved pool has.
        let rollout = Rollout { steps: 40, ..Rollout::default() };
        let quiet = Silent;
        let mut v = inp.versions(1, None, 0).unwrap();
        let plain = run_with(&mut v, &rollout, None, 300, &quiet);
        let mut v = inp.versions(1, None, 0).unwrap();
        let pools = &v.views[0].fleet.pools;
        let big = (0..pools.len()).max_by_key(|&p| pools[p].len).unwrap();
        let pool_len = pools[big].len as u64;
        assert!(pool_len > 10, "{pool_len}");
        let moved = run_with(&mut v, &rollout, Some(big), 300, &quiet);
        let new_at = |r: &RolloutRun, step: usize| r.report.timeline[step].hosts_new;
        assert_eq!((new_at(&plain, 1), new_at(&plain, 40)), (10, 400));
        assert_eq!((new_at(&moved, 1), new_at(&moved, 2), new_at(&moved, 40)), (pool_len, pool_len.max(20), 400));
    }

    /// A recommendation is re-simulated and its outcome recorded on a small fleet; the change is
    /// what the text says, in the one pool it names. Under the QEMU host model the default
    /// configurations cross versions by name, so the configuration here is one that breaks by
    /// name on a rollback: a custom CPU of `Skylake-Server-v4`, a model 11.3.0 knows and 9.0.0
    /// does not.
    #[test]
    fn recommendations_are_verified_by_re_simulating() {
        let map = CpuMap::embedded(LibvirtVersion::V11_3_0).unwrap();
        let mut s = spec::load(&map.x86, None, 1 << 20).unwrap();
        s.scale_hosts(2000).unwrap();
        (s.guests, s.migrations) = (300, 3000);
        s.templates = vec![Template {
            name: "named-v4".into(),
            weight: 1.0,
            mode: CpuMode::Custom,
            model: Some(ModelRef::Named("Skylake-Server-v4".into())),
            match_: CpuMatch::Exact,
            features: Vec::new(),
            pinned_in: None,
        }];
        let inp = Inputs::new(&map, &s).unwrap();
        let rollout = Rollout { from: LibvirtVersion::V11_3_0, to: LibvirtVersion::V9_0_0, ..Rollout::default() };
        let mut v = inp.versions(1, None, 1).unwrap();
        let mut run = run(&mut v, &rollout, 300, &Silent);
        drop(v);
        let c = &run.report.configurations[0];
        assert!(!c.fully_mobile);
        let example = c.example.clone().expect("a refusal by name");
        assert!(example.contains("Skylake-Server-v4"), "{example}");
        let Some(Change::Pin { pool, model }) = run.changes[0].clone() else {
            panic!("a pinning recommendation: {:?}", run.changes[0])
        };
        assert!(inp.maps.iter().all(|m| m.x86.model(&model).is_some()), "{model} known to both versions");
        let rec = c.recommendation.clone().unwrap();
        assert!(rec.contains(&format!("pin `{model}`")) && rec.contains(&inp.specs[0].pools[pool].name), "{rec}");
        let total_before = c.version_refusals;
        verify(&inp, None, &mut run, &rollout, 1, None).unwrap();
        let got = run.report.configurations[0].verified.clone().expect("verified");
        assert_eq!(got.pool_before, run.pool_refusals[0][pool]);
        assert!(got.pool_before > 0 && got.pool_before < total_before, "{got:?} of {total_before}");
        assert_eq!(got.pool_after, 0, "a model both versions know is never refused by name: {got:?}");
        // The pin is local to its pool: the other pools' guests keep their CPU and are still
        // refused by name (not exactly as often: a pinned guest that now starts on a host where
        // it did not shifts the migration chains of the guests after it).
        assert!(got.version_refusals_after > 0 && got.version_refusals_after < total_before, "{got:?}");
        assert!(!got.survives, "the other pools still refuse by name: {got:?}");
        let pinned = inp.specs[0].templates[0].clone();
        assert!(pinned.pinned_in.is_none(), "verify re-simulates a copy; the inputs stay unpinned");
    }
}
