//! Swarm testing (`cpufleet simulate --swarm N`): one simulation per seed S, S+1, …, S+N−1, each
//! over its own variant of the spec drawn from that seed, with every check on.
//!
//! A fixed spec exercises the same mix of hosts and guests on every run; bugs that need an
//! unusual mix (no odd hosts at all, only strict guests, half the hosts without virtualisation,
//! pools of one generation) stay hidden. Swarm testing (Groce et al., "Swarm Testing", ISSTA
//! 2012; TigerBeetle's VOPR does the same) draws the *configuration* from the seed as well: each
//! variant keeps the spec's pools, profiles and scenarios, and draws
//! - the host variation probabilities (BIOS toggles, microcode level, odd hosts, cross-pool moves),
//! - which guest configurations are used, and their weights (at least one stays on),
//! - which generations each pool mixes, and their weights (at least one stays per pool),
//!
//! - which pools mix libvirt releases (a pool's `libvirt` and `libvirt_share`, as the MIXED FLEET
//!   scenario reads them: some hosts of the pool on another release of [`LibvirtVersion::ALL`]),
//!
//! and each member also draws ([`Draws`]) the run's libvirt release (any of
//! [`LibvirtVersion::ALL`], unless the caller fixes it), which of the configured scenarios run
//! (at least one), and the libvirt-upgrade rollout: its two releases (either way round), its
//! order and its number of steps. Everything is drawn at a size small enough to check
//! everything (`check_all`). A member depends on its seed, the base spec and the configured
//! scenarios only, so `cpufleet simulate --swarm 1 --seed M` (with the same other flags)
//! reproduces member M exactly.

use super::rng::{tag, Rng};
use super::scenarios::libvirt_upgrade::{Order, Rollout};
use super::scenarios::Scenario;
use super::spec::{PoolLibvirt, Spec};
use cpufleet_engine::{CpuMap, LibvirtVersion};

/// Hosts, guests and migrations of one swarm member: small enough to check every event.
pub(crate) const MEMBER_HOSTS: u64 = 400;
pub(crate) const MEMBER_GUESTS: u64 = 300;
pub(crate) const MEMBER_MIGRATIONS: u64 = 3_000;

/// Features a member's configurations may forbid: each is on some generations of the default
/// fleet and not on others, and named by every release's map.
const FORBID: [&str; 6] = ["avx512f", "hle", "rtm", "pku", "avx2", "mpx"];

/// The seeds of `n` members starting at `seed` (wrapping at u64::MAX).
pub(crate) fn member_seeds(seed: u64, n: u32) -> impl Iterator<Item = u64> {
    (0..n as u64).map(move |i| seed.wrapping_add(i))
}

/// A weight in (0, 1], or 0 with probability `off` (never all zero: see `keep_one`).
fn weight(rng: &mut Rng, off: f64) -> f64 {
    if rng.chance(off) {
        0.0
    } else {
        0.05 + 0.95 * rng.unit()
    }
}

/// Turns one weight back on if the draw switched all of them off.
fn keep_one(rng: &mut Rng, weights: &mut [f64]) {
    if !weights.is_empty() && weights.iter().all(|&w| w == 0.0) {
        let i = rng.index(weights.len());
        weights[i] = 1.0;
    }
}

/// The spec variant of swarm member `seed`: `base` with drawn variation, guest mix and
/// generation mixes, scaled to the member size. Pools keep their names, vendors and order.
pub(crate) fn variant(base: &Spec, seed: u64) -> Spec {
    let mut spec = base.clone();
    let mut rng = Rng::for_item(seed, tag::SWARM, 0);
    let v = &mut spec.variation;
    // Each probability is 0 a quarter of the time (the feature off), else drawn up to a bound
    // beyond which a fleet stops being plausible.
    let mut draw = |max: f64| if rng.chance(0.25) { 0.0 } else { max * rng.unit() };
    v.virt_off = draw(0.5);
    v.ht_off = draw(0.5);
    v.microcode_latest = draw(1.0);
    v.odd = draw(0.3);
    v.cross_pool = draw(1.0);
    let mut weights: Vec<f64> = spec.templates.iter().map(|_| weight(&mut rng, 0.5)).collect();
    keep_one(&mut rng, &mut weights);
    for (t, w) in spec.templates.iter_mut().zip(weights) {
        t.weight = w;
    }
    for p in &mut spec.pools {
        let mut w: Vec<f64> = p.generations.iter().map(|_| weight(&mut rng, 0.4)).collect();
        keep_one(&mut rng, &mut w);
        // Pool generation weights are > 0 only (the spec's rule): drop the ones switched off.
        p.generations = p.generations.iter().zip(w).filter(|(_, w)| *w > 0.0).map(|(g, w)| (g.0, w)).collect();
    }
    // Mixed-version pools in half the members (a mixed fleet runs MIXED FLEET in place of the
    // single-release migrate section and its checks), on a stream of their own (the draws
    // above stay as they were).
    let mut rng = Rng::for_item(seed, tag::SWARM, 2);
    let mixed = rng.chance(0.5);
    spec.pool_libvirt = spec
        .pools
        .iter()
        .map(|_| {
            (rng.chance(0.4) && mixed)
                .then(|| PoolLibvirt { version: *rng.pick(&LibvirtVersion::ALL), share: 0.1 + 0.9 * rng.unit() })
        })
        .collect();
    // A feature some hosts have and others lack, forbidden by some custom configurations (of
    // every match, `minimum` included): the spec's own forbid (`hypervisor`) no bare-metal host
    // has, so without this draw the forbid rule never meets a host it refuses.
    let mut rng = Rng::for_item(seed, tag::SWARM, 3);
    for t in spec.templates.iter_mut().filter(|t| t.mode == cpufleet_engine::CpuMode::Custom) {
        if rng.chance(0.5) {
            let f = *rng.pick(&FORBID);
            if !t.features.iter().any(|(n, _)| n == f) {
                t.features.push((f.to_string(), cpufleet_engine::Policy::Forbid));
            }
        }
    }
    spec.guests = MEMBER_GUESTS;
    spec.migrations = MEMBER_MIGRATIONS;
    // A pool needs at least one host; the base spec has at most MEMBER_HOSTS pools in practice,
    // and scaling to fewer hosts than pools is refused, so keep one host per pool at least.
    let hosts = MEMBER_HOSTS.max(spec.pools.len() as u64);
    spec.scale_hosts(hosts).expect("at least one host per pool, within the limit");
    spec
}

/// What a member runs beyond its spec variant, drawn from its seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Draws {
    /// The run's libvirt release (the hosts of a pool not mixed run it).
    pub libvirt: LibvirtVersion,
    /// The scenarios that run: a subset of the configured ones, never empty.
    pub scenarios: Vec<Scenario>,
    /// The libvirt-upgrade rollout: two different releases, an order, 1 to 8 steps.
    pub rollout: Rollout,
}

/// The draws of member `seed` among the `configured` scenarios; `libvirt` fixes the run's
/// release (the caller's `--libvirt` or `--cpu-map`), else it is drawn. Every value is drawn
/// whether or not it is fixed, so fixing one changes no other.
pub(crate) fn draws(seed: u64, configured: &[Scenario], libvirt: Option<LibvirtVersion>) -> Draws {
    let mut rng = Rng::for_item(seed, tag::SWARM, 1);
    let all = LibvirtVersion::ALL;
    let drawn = *rng.pick(&all);
    let mut keep: Vec<bool> = configured.iter().map(|_| rng.chance(0.6)).collect();
    if !keep.is_empty() && !keep.contains(&true) {
        let i = rng.index(keep.len());
        keep[i] = true;
    }
    let scenarios = configured.iter().zip(&keep).filter(|(_, &k)| k).map(|(s, _)| *s).collect();
    let from = rng.index(all.len());
    let to = (from + 1 + rng.index(all.len() - 1)) % all.len();
    let order = *rng.pick(&Order::ALL);
    let steps = 1 + rng.below(8) as u32;
    Draws {
        libvirt: libvirt.unwrap_or(drawn),
        scenarios,
        rollout: Rollout { steps, order, from: all[from], to: all[to] },
    }
}

/// One swarm member's outcome: what the swarm's line and JSON say of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Its seed.
    pub seed: u64,
    /// Hosts and guests of its variant.
    pub hosts: u64,
    /// Guests of its variant.
    pub guests: u64,
    /// Checks run and violations found.
    pub checks: u64,
    /// Violations found (0: the member passed).
    pub violations: u64,
    /// The command that reruns it.
    pub reproduce: String,
    /// What it drew beyond its spec.
    pub draws: Draws,
    /// Pools of its variant with hosts on another release than the run's.
    pub mixed_pools: u64,
}

/// The swarm: members `seed`, `seed`+1, … (`n` of them), each simulated over its own
/// `variant` of `base` (read with `map`) with the configuration `config` gives for its seed
/// (every check on, its reproduce line), its scenarios and rollout replaced by its `draws`
/// among `config`'s scenarios, under its drawn release (its embedded map, `base` resolved again
/// for it) unless `fixed` (every member on `map`'s). `each` sees every member and its report as
/// it finishes (the command line prints it then); its error stops the swarm. Returns the
/// members in seed order.
pub fn run<'a, E: From<crate::SimError>>(
    map: &CpuMap,
    base: &Spec,
    seed: u64,
    n: u32,
    fixed: bool,
    config: impl Fn(u64) -> crate::Config<'a>,
    mut each: impl FnMut(&Member, &crate::report::Report) -> Result<(), E>,
) -> Result<Vec<Member>, E> {
    // The base spec and map of each release a member may draw, made once.
    let mut releases: Vec<(CpuMap, Spec)> = Vec::new();
    let fixed_release = fixed.then(|| map.version());
    for v in LibvirtVersion::ALL {
        if v == map.version() {
            releases.push((map.clone(), base.clone()));
        } else if !fixed {
            let m = CpuMap::embedded(v).map_err(|e| crate::SimError::EmbeddedMap(e.to_string()))?;
            let spec = base.for_map(&map.x86, &m.x86)?;
            releases.push((m, spec));
        }
    }
    let mut members = Vec::with_capacity(n as usize);
    for seed in member_seeds(seed, n) {
        let mut config = config(seed);
        let draws = draws(seed, &config.scenarios, fixed_release);
        let (map, base) = releases.iter().find(|r| r.0.version() == draws.libvirt).expect("every release is made");
        let spec = variant(base, seed);
        config.scenarios = draws.scenarios.clone();
        config.rollout = draws.rollout;
        let report = crate::simulate(map, &spec, &config)?;
        let mixed_pools =
            spec.pool_libvirt.iter().flatten().filter(|l| l.version != draws.libvirt && l.share > 0.0).count() as u64;
        let member = Member {
            seed,
            hosts: report.hosts,
            guests: report.guests,
            checks: report.checks.checks,
            violations: report.checks.violation_count,
            reproduce: config.reproduce.clone(),
            draws,
            mixed_pools,
        };
        each(&member, &report)?;
        members.push(member);
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Spec {
        let map = cpufleet_engine::CpuMap::embedded(cpufleet_engine::LibvirtVersion::V11_3_0).unwrap();
        crate::spec::load(&map.x86, None, u64::MAX).unwrap()
    }

    /// The default spec with `forbid = ["hle"]` on its `match='minimum'` configuration (helper
    /// A's finding): the started CPU copies the host model, where a model listing `hle` now has
    /// it forbidden. x86Compute counts such a model feature as required, but a migration
    /// destination (and the own-host check) runs no compare, only the `check='full'` live
    /// check of what the CPU enables, so the fast path must accept the guest's own host. Failed
    /// with 2 Fast violations (Skylake-Server-v3 hosts) while the fast path used x86Compute's
    /// required set.
    #[test]
    fn a_minimum_guest_forbidding_a_model_feature_passes_the_fast_path_checks() {
        let map = cpufleet_engine::CpuMap::embedded(cpufleet_engine::LibvirtVersion::V11_3_0).unwrap();
        let mut spec = base();
        let t = spec.templates.iter_mut().find(|t| t.name == "named-minimum").expect("the default spec has it");
        assert_eq!(t.match_, cpufleet_engine::CpuMatch::Minimum);
        t.features.push(("hle".to_string(), cpufleet_engine::Policy::Forbid));
        spec.scale_hosts(400).unwrap();
        spec.guests = 300;
        spec.migrations = 3000;
        let config = crate::Config {
            seed: 1,
            scenarios: vec![crate::Scenario::Pools, crate::Scenario::Migrate],
            check_all: true,
            fault: None,
            reproduce: "minimum forbid".into(),
            progress: &crate::progress::Silent,
            rollout: Default::default(),
        };
        let report = crate::simulate(&map, &spec, &config).unwrap();
        assert!(report.checks.checks > 1000, "{} checks", report.checks.checks);
        assert_eq!(report.checks.violation_count, 0, "{:?}", report.checks);
    }

    #[test]
    fn the_runner_reports_each_member_in_seed_order_and_a_fault_fails_them() {
        let map = cpufleet_engine::CpuMap::embedded(cpufleet_engine::LibvirtVersion::V11_3_0).unwrap();
        let base = base();
        let config = |fault| {
            move |seed| crate::Config {
                seed,
                scenarios: vec![crate::Scenario::Pools, crate::Scenario::Migrate],
                check_all: true,
                fault,
                reproduce: format!("member {seed}"),
                progress: &crate::progress::Silent,
                rollout: Default::default(),
            }
        };
        let mut seen = Vec::new();
        let members = run(&map, &base, u64::MAX, 2, false, config(None), |m, r| -> crate::SimResult<()> {
            assert_eq!((m.checks, m.violations), (r.checks.checks, r.checks.violation_count));
            seen.push(m.seed);
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [u64::MAX, 0]);
        assert_eq!(
            members.iter().map(|m| m.reproduce.as_str()).collect::<Vec<_>>(),
            ["member 18446744073709551615", "member 0"]
        );
        assert!(members.iter().all(|m| m.violations == 0 && m.checks > 0 && m.hosts > 0), "{members:?}");
        let faulty =
            run(&map, &base, 1, 1, false, config(Some(crate::Fault::RawHostStart)), |_, _| -> crate::SimResult<()> {
                Ok(())
            });
        assert!(faulty.unwrap()[0].violations > 0, "the raw-host-start fault must be caught");
    }

    /// Each fault against the invariant whose rule it breaks: a swarm of 16 members from seed 1
    /// (every draw on) with the fault finds violations of that invariant, named by it; without
    /// a fault the same members find none. Every fault is in the table (a new one without an
    /// invariant fails). Promotion, Pool, Forbid, Plan, VersionCompare, VersionNames, Strict
    /// and Fast each have their own fault (the new ones, Strict and Fast, checked to be what
    /// most violations name); CpuStable is caught with the start path's fault
    /// (`raw-host-start`), which also breaks Fast.
    #[test]
    fn every_fault_is_caught_by_the_checker_of_its_invariant() {
        use crate::check::Invariant;
        use crate::Fault;
        use std::collections::BTreeMap;
        let map = cpufleet_engine::CpuMap::embedded(cpufleet_engine::LibvirtVersion::V11_3_0).unwrap();
        // The default spec's only strict configuration pastes its own host's CPU, which never
        // meets a host with features it does not list: add a strict named model that does.
        let mut strict = base();
        let mut t =
            strict.templates.iter().find(|t| t.name == "compat-westmere").expect("the default spec has it").clone();
        t.name = "westmere-strict".into();
        t.match_ = cpufleet_engine::CpuMatch::Strict;
        strict.templates.push(t);
        let base = base();
        let found = |fault: Option<Fault>, base: &Spec| {
            let mut seen: Vec<Invariant> = Vec::new();
            let config = move |seed| crate::Config {
                seed,
                scenarios: crate::Scenario::all(),
                check_all: true,
                fault,
                reproduce: String::new(),
                progress: &crate::progress::Silent,
                rollout: Default::default(),
            };
            let members = run(&map, base, 1, 16, false, config, |_, r| -> crate::SimResult<()> {
                seen.extend(r.invariant_violations.iter().map(|v| v.invariant));
                Ok(())
            })
            .unwrap();
            (members.iter().map(|m| m.violations).sum::<u64>(), seen)
        };
        assert_eq!(found(None, &base), (0, Vec::new()), "no fault: no violation");
        assert_eq!(found(None, &strict), (0, Vec::new()), "no fault: no violation with a strict named model");
        let table = [
            (Fault::BreakPromotion, Invariant::Promotion, false),
            (Fault::PoolFirstHost, Invariant::Pool, false),
            (Fault::IgnoreForbid, Invariant::Forbid, false),
            (Fault::PlanFirstHost, Invariant::Plan, false),
            (Fault::IgnoreVersion, Invariant::VersionCompare, false),
            (Fault::AcceptUnknownNames, Invariant::VersionNames, false),
            (Fault::RawHostStart, Invariant::CpuStable, false),
            (Fault::RawHostStart, Invariant::Fast, false),
            (Fault::AcceptStrictExtra, Invariant::Strict, true),
            (Fault::FastSkipRequired, Invariant::Fast, true),
        ];
        // Every fault proves some invariant's checker, and every invariant has a fault.
        for f in Fault::ALL {
            assert!(table.iter().any(|(t, _, _)| *t == f), "{f} has no invariant in this table");
        }
        for i in Invariant::ALL {
            assert!(table.iter().any(|(_, t, _)| *t == i), "{i}: no fault proves its checker");
        }
        for (fault, invariant, own) in table {
            let (n, seen) = found(Some(fault), if fault == Fault::AcceptStrictExtra { &strict } else { &base });
            let mut by: BTreeMap<Invariant, usize> = BTreeMap::new();
            for i in &seen {
                *by.entry(*i).or_default() += 1;
            }
            assert!(
                n > 0 && by.contains_key(&invariant),
                "{fault}: {invariant} not caught ({n} violations, kept {by:?})"
            );
            // A fault of its own: its invariant holds the most of the violations kept (each
            // invariant keeps at most the same number).
            if own {
                let most = by.values().copied().max().unwrap_or(0);
                assert_eq!(by[&invariant], most, "{fault}: mostly other invariants ({n} violations, kept {by:?})");
            }
        }
    }

    #[test]
    fn a_members_draws_depend_on_its_seed_and_the_configured_scenarios_only() {
        let all = crate::Scenario::all();
        assert_eq!(draws(7, &all, None), draws(7, &all, None));
        let ds: Vec<Draws> = (0..200).map(|s| draws(s, &all, None)).collect();
        for d in &ds {
            assert!(!d.scenarios.is_empty() && d.scenarios.iter().all(|s| all.contains(s)), "{d:?}");
            assert_ne!(d.rollout.from, d.rollout.to);
            assert!((1..=8).contains(&d.rollout.steps));
        }
        // Every release, order and a downgrade are drawn; fixing the release changes nothing else.
        for v in LibvirtVersion::ALL {
            assert!(ds.iter().any(|d| d.libvirt == v) && ds.iter().any(|d| d.rollout.from == v));
        }
        for o in Order::ALL {
            assert!(ds.iter().any(|d| d.rollout.order == o));
        }
        assert!(ds.iter().any(|d| d.rollout.reverse()) && ds.iter().any(|d| !d.rollout.reverse()));
        assert!(ds.iter().any(|d| d.scenarios.len() < all.len()));
        let fixed = draws(7, &all, Some(LibvirtVersion::V9_0_0));
        assert_eq!(
            (fixed.libvirt, &fixed.scenarios, fixed.rollout),
            (LibvirtVersion::V9_0_0, &ds[7].scenarios, ds[7].rollout)
        );
        // Some variants mix releases in their pools, some do not.
        let base = base();
        let mixed = |s| variant(&base, s).pool_libvirt.iter().flatten().count();
        assert!((0..50).any(|s| mixed(s) > 0) && (0..50).any(|s| mixed(s) == 0));
    }

    #[test]
    fn one_member_reruns_exactly_as_in_the_swarm() {
        let map = cpufleet_engine::CpuMap::embedded(cpufleet_engine::LibvirtVersion::V11_3_0).unwrap();
        let base = base();
        let config = |seed| crate::Config {
            seed,
            scenarios: crate::Scenario::all(),
            check_all: true,
            fault: None,
            reproduce: format!("member {seed}"),
            progress: &crate::progress::Silent,
            rollout: Default::default(),
        };
        let mut reports = Vec::new();
        let swarm = run(&map, &base, 10, 4, false, config, |_, r| -> crate::SimResult<()> {
            reports.push(serde_json::to_string(r).unwrap());
            Ok(())
        })
        .unwrap();
        let mut again = String::new();
        let one = run(&map, &base, 13, 1, false, config, |_, r| -> crate::SimResult<()> {
            again = serde_json::to_string(r).unwrap();
            Ok(())
        })
        .unwrap();
        assert_eq!(one[0], swarm[3]);
        assert_eq!(again, reports[3], "the member's report, byte for byte");
    }

    #[test]
    fn a_variant_depends_on_its_seed_only_and_keeps_the_spec_valid() {
        let base = base();
        let (a, b, c) = (variant(&base, 7), variant(&base, 7), variant(&base, 8));
        assert_eq!(format!("{:?}", a.variation), format!("{:?}", b.variation));
        assert_ne!(format!("{:?}", a.variation), format!("{:?}", c.variation));
        for s in 0..200 {
            let v = variant(&base, s);
            assert!(v.templates.iter().any(|t| t.weight > 0.0), "seed {s}: no guest configuration on");
            assert!(v.pools.iter().all(|p| !p.generations.is_empty() && p.generations.iter().all(|g| g.1 > 0.0)));
            assert_eq!(v.pools.len(), base.pools.len());
            assert_eq!(v.total_hosts(), MEMBER_HOSTS.max(base.pools.len() as u64));
        }
    }

    #[test]
    fn variants_switch_things_off_and_on() {
        let base = base();
        let variants: Vec<Spec> = (0..100).map(|s| variant(&base, s)).collect();
        assert!(variants.iter().any(|v| v.variation.odd == 0.0) && variants.iter().any(|v| v.variation.odd > 0.0));
        assert!(
            variants.iter().any(|v| v.templates.iter().filter(|t| t.weight > 0.0).count() == 1)
                || variants.iter().any(|v| v.templates.iter().any(|t| t.weight == 0.0))
        );
        assert!(variants.iter().any(|v| v.pools.iter().any(|p| p.generations.len() < 2)));
    }
}
